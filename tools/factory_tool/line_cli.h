/* factory_tool's line commands (inject, inject-batch, write, prepare-batch, verify-batch,
 * records, relay): what they share on the tool side, the printing and the opening of the
 * configurator and the records database. The work itself is kiln_line's (line_engine.h,
 * line_split.h, line_relay.h). */
#ifndef KILN_FT_LINE_CLI_H
#define KILN_FT_LINE_CLI_H

#include <signal.h>
#include <stdbool.h>

#include <jansson.h>

#include "fcu/fcu.h"
#include "ft.h"
#include "line_engine.h"
#include "line_records.h"

fcu *line_cli_open_fcu(const ft_globals *g);
/** Opens the records database (path given or the default in the home directory). Prints the
 *  error and returns NULL on failure. */
/* The records database when no --records-db is given: $KILN_RECORDS_URL, $KILN_RECORDS_DB,
 * fcu.yml's records-url, then <home>/kiln-records.db. */
char *line_cli_default_records(fcu *where);
line_records *line_cli_open_records(const ft_globals *g, fcu *f, const char *path, char **path_out);
/** Prints a usage or setup error in the seed's JSON shape (status 1000) and returns
 *  exit_status. */
int line_cli_error(const ft_globals *g, int exit_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** What a command's parser returns after --help: the usage went to stdout, the command ends
 *  with exit status 0 and does nothing. */
#define LINE_CLI_HELP (-1)
/** Prints usage (to stdout, for --help) and returns LINE_CLI_HELP. */
int line_cli_help(const char *usage);
/** A usage error: the usage on stderr, then the error in the seed's JSON shape; returns 2. */
int line_cli_usage(const ft_globals *g, const char *usage, const char *command, const char *what);
/** Same for getopt_long's '?' or ':'. */
int line_cli_bad_option(const ft_globals *g, const char *usage, int c, char **argv);

/** Stops e (may be NULL) on SIGINT/SIGTERM until line_cli_signals_off, and remembers the
 *  signal. */
void line_cli_signals_on(line_engine *e);
void line_cli_signals_off(void);
/** The signal caught since line_cli_signals_on (0: none), for a run that polls it. */
volatile sig_atomic_t *line_cli_signal_flag(void);
/** The command's exit status: 128 + the signal when one stopped it (SIGINT 130, SIGTERM 143),
 *  else 0 for a run that returned 0 and 1 otherwise. */
int line_cli_exit_status(int run_status);

/** One batch result line {"endpoint", "serial"[, "address"], "status", "message", "result"
 *  [, "deviceResponse"]}; the caller may add members (tries, ...) before line_cli_print_line,
 *  which prints it on stdout and frees it. Names that are not UTF-8 are shown escaped. */
/* Printable ASCII that JSON writes as it is (no quote, no backslash); NULL (null) too: texts a
 * device line may write directly instead of through jansson. */
bool line_cli_plain_json_text(const char *s);

json_t *line_cli_result_line(const line_device *d, bool with_address, int status,
                             const char *message, const char *result,
                             const fcu_device_response_status *response);
void line_cli_print_line(json_t *o, bool progress);

/** The station name: the option given, else this host's name (buf). */
const char *line_cli_station(const char *given, char *buf, size_t size);

#endif
