/* factory_tool records: what the line did, from the records database. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line_claims.h"
#include "line_cli.h"
#include "line_errors.h"
#include "line_text.h"
#include "tool_opt.h"

static const char records_usage[] =
    "usage: factory_tool [globals] records [--records-db FILE|URL] COMMAND\n"
    "  list [--endpoint EP] [--state STATE] [--format table|csv|json]\n"
    "                                            one line per attempt (--json: JSON)\n"
    "  show ENDPOINT                             every attempt of one device (JSON)\n"
    "  export --format csv|json [--output FILE]  all attempts\n"
    "  release --station NAME [--endpoint EP]    give back a stopped station's claims of\n"
    "                                            endpoints no certificate went out for\n"
    "  STATE: started, success, failed, interrupted, written, prepared, skipped\n";

static const char *const record_states[] = {
    LINE_STATE_STARTED, LINE_STATE_SUCCESS,  LINE_STATE_FAILED,  LINE_STATE_INTERRUPTED,
    LINE_STATE_WRITTEN, LINE_STATE_PREPARED, LINE_STATE_SKIPPED,
};

static bool known_state(const char *state)
{
    for (size_t i = 0; i < sizeof(record_states) / sizeof(record_states[0]); i++) {
        if (strcmp(state, record_states[i]) == 0) {
            return true;
        }
    }
    return false;
}

typedef struct records_args {
    const char *db, *endpoint, *state, *format, *output, *station, *command, *target;
} records_args;

enum { OPT_DB = 256, OPT_ENDPOINT, OPT_STATE, OPT_FORMAT, OPT_OUTPUT, OPT_STATION };

static const struct option records_longopts[] = {
    {"records-db", required_argument, NULL, OPT_DB},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"state", required_argument, NULL, OPT_STATE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"station", required_argument, NULL, OPT_STATION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage(const ft_globals *g, const char *what)
{
    return line_cli_usage(g, records_usage, "records", what);
}

/* Returns 0, LINE_CLI_HELP, or the exit status of a usage error. */
static int parse(const ft_globals *g, int argc, char **argv, records_args *a)
{
    const char **slots[] = {&a->db, &a->endpoint, &a->state, &a->format, &a->output, &a->station};
    memset(a, 0, sizeof(*a));
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", records_longopts, NULL)) != -1) {
        if (c == 'h') {
            return line_cli_help(records_usage);
        }
        if (c == '?' || c == ':') {
            return line_cli_bad_option(g, records_usage, c, argv);
        }
        *slots[c - OPT_DB] = optarg;
    }
    if (argc - optind > 2) {
        return usage(g, "too many arguments");
    }
    a->command = optind < argc ? argv[optind] : "list";
    a->target = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (a->state != NULL && !known_state(a->state)) {
        char what[300];
        snprintf(what, sizeof(what),
                 "unknown state %.100s; the states are started, success, failed, interrupted, "
                 "written, prepared, skipped",
                 a->state);
        return usage(g, what);
    }
    return 0;
}

/* The output format of the command; returns 0 or the exit status of a usage error. */
static int command_format(const ft_globals *g, records_args *a, line_records_format *fmt)
{
    if (strcmp(a->command, "list") == 0) {
        const char *f = a->format != NULL ? a->format : g->json ? "json" : "table";
        if (strcmp(f, "table") != 0 && strcmp(f, "csv") != 0 && strcmp(f, "json") != 0) {
            return usage(g, "list --format is table, csv or json");
        }
        *fmt = strcmp(f, "table") == 0 ? LINE_RECORDS_TABLE
               : strcmp(f, "csv") == 0 ? LINE_RECORDS_CSV
                                       : LINE_RECORDS_JSON;
    } else if (strcmp(a->command, "show") == 0) {
        if (a->target == NULL) {
            return usage(g, "show needs an endpoint name");
        }
        a->endpoint = a->target;
        *fmt = LINE_RECORDS_JSON;
    } else if (strcmp(a->command, "export") == 0) {
        if (a->format == NULL ||
            (strcmp(a->format, "csv") != 0 && strcmp(a->format, "json") != 0)) {
            return usage(g, "export needs --format csv or --format json");
        }
        *fmt = strcmp(a->format, "csv") == 0 ? LINE_RECORDS_CSV : LINE_RECORDS_JSON;
    } else if (strcmp(a->command, "release") == 0) {
        if (a->station == NULL || !*a->station) {
            return usage(g, "release needs --station NAME (the station whose claims go back)");
        }
    } else {
        return usage(g, "the command must be list, show, export or release");
    }
    return 0;
}

static int print_rows(const ft_globals *g, line_records *rec, const records_args *a,
                      line_records_format fmt, const char *path)
{
    /* Into memory first: a show that finds nothing prints its error alone, not an empty "[]". */
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (mem == NULL) {
        return line_cli_error(g, FT_EXIT_FAILED, "out of memory");
    }
    int rows = line_records_print(rec, mem, fmt, a->endpoint, a->state);
    fclose(mem);
    int rc = FT_EXIT_OK;
    FILE *out = stdout;
    if (rows < 0) {
        rc = line_cli_error(g, FT_EXIT_FAILED, "cannot read the records database %s", path);
    } else if (strcmp(a->command, "show") == 0 && rows == 0) {
        rc = line_cli_error(g, FT_EXIT_FAILED,
                            "no attempts for endpoint %s in %s (records list shows the endpoints "
                            "it holds)",
                            a->endpoint, path);
    } else if (a->output != NULL && (out = fopen(a->output, "w")) == NULL) {
        rc = line_cli_error(g, FT_EXIT_FAILED, "cannot create %s", a->output);
    } else {
        bool written = fwrite(text, 1, size, out) == size;
        written = (out == stdout ? fflush(out) : fclose(out)) == 0 && written;
        if (!written) {
            rc = line_cli_error(g, FT_EXIT_FAILED, "cannot write %s",
                                a->output != NULL ? a->output : "the output");
        }
    }
    free(text);
    return rc;
}

typedef struct release_tally {
    unsigned released, kept;
    int first_code;
} release_tally;

/* One JSON line per claim looked at: released, or kept with the numbered error. */
static void print_release(void *user, const line_claim_report *rep)
{
    release_tally *t = user;
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", line_json_text(rep->endpoint));
    json_object_set_new(o, "station", line_json_text(rep->station));
    json_object_set_new(o, "host", line_json_text(rep->host));
    json_object_set_new(o, "pid", line_json_text(rep->pid));
    json_object_set_new(o, "claimedAt", line_json_text(rep->claimed_at));
    json_object_set_new(o, "status", json_integer(rep->code));
    json_object_set_new(o, "message", line_json_text(rep->message));
    json_object_set_new(o, "result", json_string(rep->code == 0 ? "released" : "kept"));
    line_cli_print_line(o, false);
    if (rep->code == 0) {
        t->released++;
    } else if (t->kept++ == 0) {
        t->first_code = rep->code;
    }
}

/* records release: exit 0 when every claim looked at went back, 1 when one was kept. */
static int release_claims(const ft_globals *g, line_records *rec, const records_args *a,
                          const char *path)
{
    release_tally t = {0, 0, 0};
    int n = line_claims_release(rec, a->station, a->endpoint, print_release, &t);
    char msg[700];
    if (n == -LINE_E_CLAIM_NOT_HELD) {
        line_error_format(msg, sizeof(msg), LINE_E_CLAIM_NOT_HELD, a->endpoint, a->station);
        ft_print_result(g, LINE_E_CLAIM_NOT_HELD, msg, NULL, NULL);
        return FT_EXIT_FAILED;
    }
    if (n < 0) {
        return line_cli_error(g, FT_EXIT_FAILED, "cannot release claims in the records database %s",
                              path);
    }
    snprintf(msg, sizeof(msg), "%u claim(s) of station %s released, %u kept", t.released,
             a->station, t.kept);
    ft_print_result(g, t.kept ? t.first_code : 0, msg, NULL, NULL);
    return t.kept ? FT_EXIT_FAILED : FT_EXIT_OK;
}

int ft_cmd_records(const ft_globals *g, int argc, char **argv)
{
    records_args a;
    line_records_format fmt = LINE_RECORDS_TABLE;
    int rc = parse(g, argc, argv, &a);
    if (rc == 0) {
        rc = command_format(g, &a, &fmt);
    }
    if (rc != 0) {
        return rc == LINE_CLI_HELP ? FT_EXIT_OK : rc;
    }
    fcu *f = a.db == NULL ? line_cli_open_fcu(g) : NULL;
    char *path = NULL;
    line_records *rec = line_cli_open_records(g, f, a.db, &path);
    fcu_close(f);
    if (rec == NULL) {
        return FT_EXIT_FAILED;
    }
    rc = strcmp(a.command, "release") == 0 ? release_claims(g, rec, &a, path)
                                           : print_rows(g, rec, &a, fmt, path);
    line_records_close(rec);
    free(path);
    return rc;
}
