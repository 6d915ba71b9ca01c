/* factory_tool records: what the line did, from the records database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line_engine.h"

static int usage(const ft_globals *g, const char *what)
{
    fprintf(stderr,
            "usage: factory_tool [globals] records [--records-db FILE] COMMAND\n"
            "  list [--endpoint EP] [--state STATE]      one line per attempt\n"
            "  show ENDPOINT                             every attempt of one device (JSON)\n"
            "  export --format csv|json [--output FILE]  all attempts\n");
    return lj_general_error(g, FT_EXIT_USAGE, "records: %s", what);
}

int ft_cmd_records(const ft_globals *g, int argc, char **argv)
{
    const char *db = NULL, *endpoint = NULL, *state = NULL, *format = NULL, *output = NULL;
    const char *command = NULL, *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (lj_option(argc, argv, &i, "--records-db", &db) ||
            lj_option(argc, argv, &i, "--endpoint", &endpoint) ||
            lj_option(argc, argv, &i, "--state", &state) ||
            lj_option(argc, argv, &i, "--format", &format) ||
            lj_option(argc, argv, &i, "--output", &output)) {
            continue;
        }
        if (argv[i][0] == '-') {
            return usage(g, "unknown option");
        }
        if (command == NULL) {
            command = argv[i];
        } else if (target == NULL) {
            target = argv[i];
        } else {
            return usage(g, "too many arguments");
        }
    }
    if (command == NULL) {
        command = "list";
    }
    line_records_format fmt;
    if (strcmp(command, "list") == 0) {
        fmt = LINE_RECORDS_TABLE;
    } else if (strcmp(command, "show") == 0) {
        if (target == NULL) {
            return usage(g, "show needs an endpoint name");
        }
        endpoint = target;
        fmt = LINE_RECORDS_JSON;
    } else if (strcmp(command, "export") == 0) {
        if (format == NULL || (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)) {
            return usage(g, "export needs --format csv or --format json");
        }
        fmt = strcmp(format, "csv") == 0 ? LINE_RECORDS_CSV : LINE_RECORDS_JSON;
    } else {
        return usage(g, "the command must be list, show or export");
    }
    fcu *f = db == NULL ? lj_open_fcu(g) : NULL;
    char *path = NULL;
    line_records *rec = lj_open_records(g, f, db, &path);
    fcu_close(f);
    if (rec == NULL) {
        return FT_EXIT_FAILED;
    }
    FILE *out = stdout;
    if (output != NULL) {
        out = fopen(output, "w");
        if (out == NULL) {
            line_records_close(rec);
            free(path);
            return lj_general_error(g, FT_EXIT_FAILED, "cannot create %s", output);
        }
    }
    int rows = line_records_print(rec, out, fmt, endpoint, state);
    if (out != stdout) {
        fclose(out);
    }
    line_records_close(rec);
    int rc = FT_EXIT_OK;
    if (rows < 0) {
        rc = lj_general_error(g, FT_EXIT_FAILED, "cannot read the records database %s", path);
    } else if (strcmp(command, "show") == 0 && rows == 0) {
        rc = lj_general_error(g, FT_EXIT_FAILED, "no record of endpoint %s in %s", endpoint, path);
    }
    free(path);
    return rc;
}
