/* factory_client: a device simulated on Linux. Internal interface between the program's
 * command files (handle/get/list... in main.c; transports and secure factory in their own
 * files, linked in when present). */
#ifndef KILN_FACTORY_CLIENT_H
#define KILN_FACTORY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln/device.h"

typedef struct fc_options {
    const char *storage;       /* --storage DIR: directory backend */
    const char *flash;         /* --flash FILE: raw-flash backend over a file */
    const char *factory_trust; /* --factory-trust FILE (secure factory) */
    uint64_t time;             /* --time EPOCH, 0 = device has no clock */
    int devices;               /* --devices N (transports), default 1 */
    bool forever;              /* --forever */
    int verbose;               /* -v */
} fc_options;

typedef struct fc_device fc_device;

/** Opens simulated device number index (0-based). With more than one device, device i uses
 *  storage DIR/dev-<i> (or FILE.<i> for flash). Returns NULL after printing an error. */
fc_device *fc_device_open(const fc_options *opt, int index);
kiln_device *fc_device_kiln(fc_device *d);
void fc_device_close(fc_device *d);

/** A subcommand: argv[0] is the subcommand name. Returns the process exit status. */
typedef int (*fc_command_fn)(const fc_options *opt, int argc, char **argv);

/* Subcommands provided by other files; weak so the program links while they are absent. */
int fc_cmd_tcp(const fc_options *opt, int argc, char **argv) __attribute__((weak));
int fc_cmd_serial(const fc_options *opt, int argc, char **argv) __attribute__((weak));
int fc_cmd_file(const fc_options *opt, int argc, char **argv) __attribute__((weak));
int fc_cmd_sf(const fc_options *opt, int argc, char **argv) __attribute__((weak));

#endif
