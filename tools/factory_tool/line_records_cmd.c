/* factory_tool records: what the line did, from the records database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line_cli.h"
#include "tool_opt.h"

static const char records_usage[] =
    "usage: factory_tool [globals] records [--records-db FILE] COMMAND\n"
    "  list [--endpoint EP] [--state STATE]      one line per attempt\n"
    "  show ENDPOINT                             every attempt of one device (JSON)\n"
    "  export --format csv|json [--output FILE]  all attempts\n";

typedef struct records_args {
    const char *db, *endpoint, *state, *format, *output, *command, *target;
} records_args;

enum { OPT_DB = 256, OPT_ENDPOINT, OPT_STATE, OPT_FORMAT, OPT_OUTPUT };

static const struct option records_longopts[] = {
    {"records-db", required_argument, NULL, OPT_DB},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"state", required_argument, NULL, OPT_STATE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
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
    const char **slots[] = {&a->db, &a->endpoint, &a->state, &a->format, &a->output};
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
    return 0;
}

/* The output format of the command; returns 0 or the exit status of a usage error. */
static int command_format(const ft_globals *g, records_args *a, line_records_format *fmt)
{
    if (strcmp(a->command, "list") == 0) {
        *fmt = LINE_RECORDS_TABLE;
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
    } else {
        return usage(g, "the command must be list, show or export");
    }
    return 0;
}

static int print_rows(const ft_globals *g, line_records *rec, const records_args *a,
                      line_records_format fmt, const char *path)
{
    FILE *out = stdout;
    if (a->output != NULL && (out = fopen(a->output, "w")) == NULL) {
        return line_cli_error(g, FT_EXIT_FAILED, "cannot create %s", a->output);
    }
    int rows = line_records_print(rec, out, fmt, a->endpoint, a->state);
    if (out != stdout) {
        fclose(out);
    }
    if (rows < 0) {
        return line_cli_error(g, FT_EXIT_FAILED, "cannot read the records database %s", path);
    }
    if (strcmp(a->command, "show") == 0 && rows == 0) {
        return line_cli_error(g, FT_EXIT_FAILED, "no record of endpoint %s in %s", a->endpoint,
                              path);
    }
    return FT_EXIT_OK;
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
    rc = print_rows(g, rec, &a, fmt, path);
    line_records_close(rec);
    free(path);
    return rc;
}
