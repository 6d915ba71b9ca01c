/* factory_client: a device simulated on Linux. Internal interface between the program's
 * command files (handle/get/list... in main.c; options in options.c; the transports in
 * serve.c over the device library's FTCD listener; secure factory in sf.c). */
#ifndef KILN_FACTORY_CLIENT_H
#define KILN_FACTORY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "faults.h"
#include "kiln/device.h"

typedef struct fc_options {
    const char *storage;       /* --storage DIR: directory backend */
    const char *flash;         /* --flash FILE: raw-flash backend over a file */
    const char *factory_trust; /* --factory-trust FILE (secure factory) */
    uint64_t time;             /* --time EPOCH, 0 = device has no clock */
    int devices;               /* --devices N (transports), default 1 */
    int threads;               /* --threads T (tcp): serving processes, 0 = online CPUs */
    bool forever;              /* --forever */
    int verbose;               /* -v */
    fc_faults faults;          /* --faults SPEC (faults.c); all zero without it */
} fc_options;

/** Options of one command (which ones a command takes: FC_TAKES_*). */
typedef struct fc_args {
    const char *bind;    /* tcp --bind ADDR */
    const char *port;    /* tcp --port P, serial --port TTY */
    const char *baud;    /* serial --baud B */
    const char *input;   /* file --input IN */
    const char *output;  /* file --output OUT */
    const char *type;    /* get --type T */
    bool keep_storage;   /* transports: --keep-storage */
    uint32_t max_length; /* transports: --max-length BYTES (0 = default) */
} fc_args;

enum {
    FC_TAKES_TYPE = 1u << 0,
    FC_TAKES_BIND = 1u << 1,
    FC_TAKES_PORT = 1u << 2,
    FC_TAKES_BAUD = 1u << 3,
    FC_TAKES_FILES = 1u << 4,
    FC_TAKES_LINK = 1u << 5, /* --keep-storage, --max-length */
};

/** Parses argv[1..] with getopt_long: the global options (anywhere, also after the command)
 *  and those in `takes`. With stop_at_operand it stops at the first operand (the command);
 *  otherwise operands are gathered at the end. *first is the index of the first operand.
 *  Returns 0, 2 after printing what is wrong (with usage() for an unknown or misplaced option),
 *  or -1 when --help was printed. */
int fc_parse_options(int argc, char **argv, unsigned takes, bool stop_at_operand,
                     void (*usage)(void), fc_options *opt, fc_args *args, int *first);
/** Checks the options as a whole once everything is parsed; 0 or 2 after printing. */
int fc_check_options(const fc_options *opt);
/** A command's options: true to go on; false when the program should exit with *exit_code
 *  (an error was printed, or --help). */
bool fc_command_options(fc_options *opt, int argc, char **argv, unsigned takes, void (*usage)(void),
                        fc_args *args, int *first, int *exit_code);
/** The program's usage on stderr (the usage() of commands without their own). */
void fc_print_usage(void);
bool fc_parse_u32(const char *text, uint32_t max, uint32_t *out);
void fc_usage(FILE *f);

typedef struct fc_device fc_device;

/** Opens simulated device number index (0-based). With more than one device, device i uses
 *  storage DIR/dev-<i> (or FILE.<i> for flash). Returns NULL after printing an error. */
fc_device *fc_device_open(const fc_options *opt, int index);
kiln_device *fc_device_kiln(fc_device *d);
void fc_device_close(fc_device *d);
/** --faults power-cut (--flash only): can this device lose power; arm the cut at the
 *  after_ops-th flash program or erase from now (UINT64_MAX: disarm); did it happen. */
bool fc_device_can_cut_power(const fc_device *d);
void fc_device_cut_power(fc_device *d, uint64_t after_ops);
bool fc_device_power_lost(const fc_device *d);
/** Restarts a device whose power was cut: storage mounted again, FCC initialised; the
 *  kiln_device keeps its address. 0, or -1 after printing (then only fc_device_close). */
int fc_device_reboot(fc_device *d, const fc_options *opt, int index);

/** A subcommand: argv[0] is the subcommand name. Returns the process exit status. */
typedef int (*fc_command_fn)(fc_options *opt, int argc, char **argv);

/* Subcommands provided by other files; weak so the program links while they are absent. */
int fc_cmd_tcp(fc_options *opt, int argc, char **argv) __attribute__((weak));
int fc_cmd_serial(fc_options *opt, int argc, char **argv) __attribute__((weak));
int fc_cmd_file(fc_options *opt, int argc, char **argv) __attribute__((weak));
int fc_cmd_sf(fc_options *opt, int argc, char **argv) __attribute__((weak));

#endif
