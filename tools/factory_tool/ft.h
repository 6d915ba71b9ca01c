/* factory_tool: internal interface between main.c (global options, command table) and the
 * command files. Each engineer's commands live in their own file in this directory and are
 * found through the weak declarations below: a command whose file is not in the build reports
 * that it is not available. */
#ifndef KILN_FACTORY_TOOL_H
#define KILN_FACTORY_TOOL_H

#include <jansson.h>

/** Global options, parsed by main.c before the command name. */
typedef struct ft_globals {
    const char *config_file; /* -c/--config-file: fcu.yml (NULL = <home>/config/fcu.yml) */
    int verbose;             /* -v, repeatable */
    const char *log_file;    /* --log-file */
    const char *home_dir;    /* --home-dir (else FCU_HOME_DIR, else the current directory) */
    int json;                /* --json: print the final result as one JSON object */
} ft_globals;

/** A command: argv[0] is the command name. Returns the process exit status. */
typedef int (*ft_command_fn)(const ft_globals *g, int argc, char **argv);

/* Exit statuses: the three programs' one set (tool_exit.h). */
#include "tool_exit.h"
#define FT_EXIT_OK     TOOL_EXIT_OK
#define FT_EXIT_FAILED TOOL_EXIT_FAILED
#define FT_EXIT_USAGE  TOOL_EXIT_USAGE

/* The original factory tool's own error codes (seed 000, "Error codes for the demo"). */
#define FT_ERR_GENERAL       1000
#define FT_ERR_COMMUNICATION 1001
#define FT_ERR_CHECKSUM      1002
#define FT_ERR_TOKEN_TIMEOUT 1003
#define FT_ERR_DEVICE_FAILED 1004
#define FT_ERR_SETUP         1005
#define FT_SUCCESS_MESSAGE   "Command executed successfully"

/* Commands of the configurator (fcu_cmds.c). */
int ft_cmd_setup(const ft_globals *g, int argc, char **argv);
int ft_cmd_status(const ft_globals *g, int argc, char **argv);
int ft_cmd_prepare(const ft_globals *g, int argc, char **argv);
int ft_cmd_verify(const ft_globals *g, int argc, char **argv);

/* Commands provided by other files; weak so the program links while they are absent. */
int ft_cmd_inject(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_inject_batch(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_prepare_batch(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_write(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_verify_batch(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_records(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_new_device(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_get_device_configuration(const ft_globals *g, int argc, char **argv)
    __attribute__((weak));
int ft_cmd_handle_device_response(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_report_error(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_relay(const ft_globals *g, int argc, char **argv) __attribute__((weak));
int ft_cmd_ca(const ft_globals *g, int argc, char **argv) __attribute__((weak));

/* ---- shared helpers (ft_output.c) ---- */

/** Writes a log line to --log-file (always) and to stderr when verbose >= level (1 = -v). */
void ft_log(const ft_globals *g, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Prints the command's final result and returns its exit status (0 only when status == 0).
 *  With --json: {"status": status, "message": message[, "deviceResponse": device_response]
 *  [, extra's members]} on stdout. Without: "message" on stdout for success, "error <status>:
 *  message" on stderr otherwise. device_response and extra may be NULL; both are consumed. */
int ft_print_result(const ft_globals *g, int status, const char *message, json_t *device_response,
                    json_t *extra);

struct fcu_device_response_status;
/** The seed's deviceResponse object: {"status", "message", "warnings": [...][, "errors"]}. */
json_t *ft_device_response_json(const struct fcu_device_response_status *s);

#endif
