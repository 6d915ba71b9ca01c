/* factory_tool inject-batch and write: many devices from one process, listed in a CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "line_engine.h"
#include "line_errors.h"

typedef struct batch_options {
    const char *devices, *records_db, *station, *bundles, *answers;
    unsigned parallel, retries, timeout;
    bool reprovision, no_records;
} batch_options;

static int parse(const ft_globals *g, int argc, char **argv, lj_mode mode, batch_options *o)
{
    o->parallel = 16;
    o->retries = 3;
    o->timeout = 30;
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        if (lj_option(argc, argv, &i, "--devices", &o->devices) ||
            lj_option(argc, argv, &i, "--records-db", &o->records_db) ||
            lj_option(argc, argv, &i, "--station", &o->station) ||
            (mode == LJ_WRITE && lj_option(argc, argv, &i, "--bundles", &o->bundles)) ||
            (mode == LJ_WRITE && lj_option(argc, argv, &i, "--answers", &o->answers))) {
            continue;
        }
        if (strcmp(argv[i], "--reprovision") == 0) {
            o->reprovision = true;
        } else if (strcmp(argv[i], "--no-records") == 0) {
            o->no_records = true;
        } else if (lj_option(argc, argv, &i, "--parallel", &value)) {
            if (!lj_parse_uint(value, 4096, &o->parallel) || o->parallel == 0) {
                return lj_general_error(g, FT_EXIT_USAGE, "--parallel needs a number 1..4096");
            }
        } else if (lj_option(argc, argv, &i, "--retries", &value)) {
            if (!lj_parse_uint(value, 100, &o->retries)) {
                return lj_general_error(g, FT_EXIT_USAGE, "--retries needs a number 0..100");
            }
        } else if (lj_option(argc, argv, &i, "-t", &value) ||
                   lj_option(argc, argv, &i, "--timeout", &value)) {
            if (!lj_parse_uint(value, 86400, &o->timeout) || o->timeout == 0) {
                return lj_general_error(g, FT_EXIT_USAGE, "-t needs a number of seconds");
            }
        } else {
            fprintf(stderr,
                    "usage: factory_tool [globals] %s --devices FILE.csv%s [--parallel N] "
                    "[--retries N] [-t SECONDS] [--reprovision] [--records-db FILE] "
                    "[--station NAME]\n",
                    argv[0], mode == LJ_WRITE ? " --bundles DIR --answers DIR" : "");
            return lj_general_error(g, FT_EXIT_USAGE, "%s: unknown option %s", argv[0], argv[i]);
        }
    }
    if (o->devices == NULL) {
        return lj_general_error(g, FT_EXIT_USAGE, "%s: --devices FILE.csv is required", argv[0]);
    }
    if (mode == LJ_WRITE && (o->bundles == NULL || o->answers == NULL)) {
        return lj_general_error(g, FT_EXIT_USAGE,
                                "write: --bundles DIR and --answers DIR are "
                                "required");
    }
    return 0;
}

static void print_summary(const lj_engine *e, const char *records_path)
{
    double seconds = line_now() - e->t_start;
    size_t done = e->succeeded + e->failed + e->skipped + e->interrupted;
    json_t *s = json_object();
    json_object_set_new(s, "devices", json_integer((json_int_t)e->njobs));
    json_object_set_new(s, "succeeded", json_integer((json_int_t)e->succeeded));
    json_object_set_new(s, "failed", json_integer((json_int_t)e->failed));
    json_object_set_new(s, "skipped", json_integer((json_int_t)e->skipped));
    json_object_set_new(s, "interrupted", json_integer((json_int_t)e->interrupted));
    json_object_set_new(s, "notStarted", json_integer((json_int_t)(e->njobs - done)));
    json_object_set_new(s, "seconds", json_real(seconds));
    json_object_set_new(s, "devicesPerSecond",
                        json_real(seconds > 0 ? (double)done / seconds : 0.0));
    json_object_set_new(s, "configuratorSeconds", json_real(e->t_configurator));
    json_object_set_new(s, "exchangeSeconds", json_real(e->t_exchange));
    json_object_set_new(s, "recordsSeconds", json_real(e->t_records));
    if (records_path != NULL) {
        json_object_set_new(s, "records", json_string(records_path));
    }
    json_t *root = json_object();
    json_object_set_new(root, "summary", s);
    char *text = json_dumps(root, JSON_PRESERVE_ORDER);
    if (text != NULL) {
        printf("%s\n", text);
        free(text);
    }
    fflush(stdout);
    json_decref(root);
}

static int run_batch(const ft_globals *g, int argc, char **argv, lj_mode mode)
{
    batch_options o;
    memset(&o, 0, sizeof(o));
    int rc = parse(g, argc, argv, mode, &o);
    if (rc != 0) {
        return rc;
    }
    line_device_list list;
    char why[600];
    if (line_devices_load(o.devices, 1, &list, why, sizeof(why)) != 0) {
        return lj_general_error(g, FT_EXIT_FAILED, "%s", why);
    }
    if (mode == LJ_WRITE) {
        mkdir(o.answers, 0700);
    }
    fcu *f = mode == LJ_INJECT ? lj_open_fcu(g) : NULL;
    if (mode == LJ_INJECT && f == NULL) {
        line_devices_free(&list);
        return lj_general_error(g, FT_EXIT_FAILED, "out of memory");
    }
    char *records_path = NULL;
    line_records *rec = NULL;
    if (!o.no_records) {
        rec = lj_open_records(g, f, o.records_db, &records_path);
        if (rec == NULL) {
            fcu_close(f);
            line_devices_free(&list);
            return FT_EXIT_FAILED;
        }
        int recovered = line_records_recover(rec);
        if (recovered > 0) {
            ft_log(g, 0, "%d attempt(s) of an earlier run were interrupted; they are redone",
                   recovered);
        }
    }
    lj_job *jobs = calloc(list.count, sizeof(*jobs));
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    lj_engine e;
    memset(&e, 0, sizeof(e));
    e.g = g;
    e.mode = mode;
    e.fcu = f;
    e.records = rec;
    e.station = o.station ? o.station : host;
    e.bundles_dir = o.bundles;
    e.answers_dir = o.answers;
    e.jobs = jobs;
    e.njobs = jobs ? list.count : 0;
    for (size_t i = 0; i < e.njobs; i++) {
        jobs[i].dev = &list.items[i];
    }
    e.parallel = (int)o.parallel;
    e.max_tries = (int)o.retries + 1;
    e.timeout = o.timeout;
    e.backoff = 0.1;
    e.reprovision = o.reprovision;
    e.progress = isatty(STDERR_FILENO) && g->verbose == 0;
    rc = jobs != NULL ? lj_engine_run(&e) : 1;
    print_summary(&e, records_path);
    if (records_path != NULL) {
        ft_log(g, 0, "records: %s", records_path);
    }
    free(jobs);
    free(records_path);
    line_records_close(rec);
    fcu_close(f);
    line_devices_free(&list);
    return rc == 0 ? FT_EXIT_OK : FT_EXIT_FAILED;
}

int ft_cmd_inject_batch(const ft_globals *g, int argc, char **argv)
{
    return run_batch(g, argc, argv, LJ_INJECT);
}

int ft_cmd_write(const ft_globals *g, int argc, char **argv)
{
    return run_batch(g, argc, argv, LJ_WRITE);
}
