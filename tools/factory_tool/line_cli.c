#include "line_cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_cmd.h"
#include "line_errors.h"
#include "line_text.h"
#include "tool_opt.h"

fcu *line_cli_open_fcu(const ft_globals *g)
{
    fcu_options opts = {.home_dir = g->home_dir, .config_file = g->config_file};
    return fcu_open(&opts);
}

int line_cli_error(const ft_globals *g, int exit_status, const char *fmt, ...)
{
    char detail[900], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    line_error_format(msg, sizeof(msg), LINE_E_GENERAL, detail, NULL);
    ft_globals forced = *g;
    forced.json = 1;
    ft_print_result(&forced, LINE_E_GENERAL, msg, NULL, NULL);
    return exit_status;
}

int line_cli_help(const char *usage)
{
    fputs(usage, stdout);
    return LINE_CLI_HELP;
}

int line_cli_usage(const ft_globals *g, const char *usage, const char *command, const char *what)
{
    fputs(usage, stderr);
    return line_cli_error(g, FT_EXIT_USAGE, "%s: %s", command, what);
}

int line_cli_bad_option(const ft_globals *g, const char *usage, int c, char **argv)
{
    char what[300];
    tool_opt_problem(c, argv, what, sizeof(what));
    return line_cli_usage(g, usage, argv[0], what);
}

char *line_cli_default_records(fcu *where)
{
    const char *url = getenv("KILN_RECORDS_URL"), *db = getenv("KILN_RECORDS_DB");
    const char *yml = (url == NULL || !*url) && (db == NULL || !*db) && where != NULL
                          ? fcu_records_url(where)
                          : NULL;
    return yml != NULL && *yml ? strdup(yml)
                               : line_records_default_path(where ? fcu_home_dir(where) : NULL);
}

line_records *line_cli_open_records(const ft_globals *g, fcu *f, const char *path, char **path_out)
{
    /* One rule for the default database of every command: in the configurator's home (--home-dir,
     * else $FCU_HOME_DIR, else the current directory), whether or not the command needs the
     * configurator itself (write did not, and wrote its rows into ./kiln-records.db). */
    fcu *home = f != NULL || path != NULL ? NULL : line_cli_open_fcu(g);
    fcu *where = f != NULL ? f : home;
    char *chosen = path ? strdup(path) : line_cli_default_records(where);
    fcu_close(home);
    char why[600];
    line_records *r = chosen ? line_records_open(chosen, why, sizeof(why)) : NULL;
    if (r == NULL) {
        line_cli_error(g, 1, "%s", chosen ? why : "out of memory");
        free(chosen);
        return NULL;
    }
    if (f != NULL && ft_ledger_attach(f, r) != 0) {
        line_records_close(r);
        line_cli_error(g, 1, "cannot keep the ledger in %s", chosen);
        free(chosen);
        return NULL;
    }
    if (path_out != NULL) {
        *path_out = chosen;
    } else {
        free(chosen);
    }
    return r;
}

static line_engine *signal_engine;
static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
    caught_signal = sig;
    if (signal_engine != NULL) {
        line_engine_stop(signal_engine);
    }
}

void line_cli_signals_on(line_engine *e)
{
    signal_engine = e;
    caught_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void line_cli_signals_off(void)
{
    signal_engine = NULL;
}

volatile sig_atomic_t *line_cli_signal_flag(void)
{
    return &caught_signal;
}

int line_cli_exit_status(int run_status)
{
    if (caught_signal != 0) {
        return TOOL_EXIT_SIGNAL(caught_signal);
    }
    return run_status == 0 ? FT_EXIT_OK : FT_EXIT_FAILED;
}

bool line_cli_plain_json_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\') {
            return false;
        }
    }
    return true;
}

json_t *line_cli_result_line(const line_device *d, bool with_address, int status,
                             const char *message, const char *result,
                             const fcu_device_response_status *response)
{
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", line_json_text(d->endpoint));
    json_object_set_new(o, "serial", line_json_text(d->serial));
    if (with_address) {
        json_object_set_new(o, "address", line_json_text(d->address));
    }
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "message", line_json_text(message));
    json_object_set_new(o, "result", json_string(result));
    if (response != NULL) {
        json_object_set_new(o, "deviceResponse", ft_device_response_json(response));
    }
    return o;
}

void line_cli_print_line(json_t *o, bool progress)
{
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    if (text != NULL) {
        if (progress) {
            fputs("\r\033[K", stderr);
        }
        printf("%s\n", text);
        fflush(stdout);
        free(text);
    }
    json_decref(o);
}

const char *line_cli_station(const char *given, char *buf, size_t size)
{
    if (given != NULL) {
        return given;
    }
    const char *env = getenv("KILN_STATION");
    if (env != NULL && *env) {
        return env;
    }
    buf[0] = '\0';
    gethostname(buf, size - 1);
    buf[size - 1] = '\0';
    return buf;
}
