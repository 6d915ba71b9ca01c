/* factory_tool inject-batch and write: many devices from one process, listed in a CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln_lazy.h"
#include "line_cli.h"
#include "line_errors.h"
#include "line_files.h"
#include "kiln_version.h"
#include "line_metrics.h"
#include "tool_opt.h"

typedef struct batch_options {
    const char *devices, *records_db, *station, *bundles, *answers, *metrics_listen;
    unsigned long parallel, retries, timeout, metrics_linger;
    bool reprovision, no_records;
} batch_options;

static const char inject_batch_usage[] =
    "usage: factory_tool [globals] inject-batch --devices FILE.csv [--parallel N (16)]\n"
    "         [--retries N (3)] [-t SECONDS (30)] [--reprovision] [--records-db FILE|URL]\n"
    "         [--no-records] [--station NAME] [--metrics-listen ADDR:PORT]\n"
    "         [--metrics-linger SECONDS]\n"
    "  prepares, sends and verifies the bundle of every device of the list\n";
static const char write_usage[] =
    "usage: factory_tool [globals] write --devices FILE.csv --bundles DIR --answers DIR\n"
    "         [--parallel N (16)] [--retries N (3)] [-t SECONDS (30)] [--reprovision]\n"
    "         [--records-db FILE|URL] [--no-records] [--station NAME]\n"
    "         [--metrics-listen ADDR:PORT] [--metrics-linger SECONDS]\n"
    "  sends the bundles prepare-batch made (DIR/EP.cbor), stores the answers for verify-batch\n";

enum {
    OPT_DEVICES = 256,
    OPT_RECORDS_DB,
    OPT_STATION,
    OPT_BUNDLES,
    OPT_ANSWERS,
    OPT_PARALLEL,
    OPT_RETRIES,
    OPT_REPROVISION,
    OPT_NO_RECORDS,
    OPT_METRICS_LISTEN,
    OPT_METRICS_LINGER
};

static const struct option batch_longopts[] = {
    {"devices", required_argument, NULL, OPT_DEVICES},
    {"records-db", required_argument, NULL, OPT_RECORDS_DB},
    {"station", required_argument, NULL, OPT_STATION},
    {"bundles", required_argument, NULL, OPT_BUNDLES},
    {"answers", required_argument, NULL, OPT_ANSWERS},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"timeout", required_argument, NULL, 't'},
    {"reprovision", no_argument, NULL, OPT_REPROVISION},
    {"no-records", no_argument, NULL, OPT_NO_RECORDS},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"metrics-linger", required_argument, NULL, OPT_METRICS_LINGER},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into o; returns NULL, or what is wrong with its value. */
static const char *batch_option(int c, line_mode mode, batch_options *o)
{
    switch (c) {
    case OPT_DEVICES:
        o->devices = optarg;
        return NULL;
    case OPT_RECORDS_DB:
        o->records_db = optarg;
        return NULL;
    case OPT_STATION:
        o->station = optarg;
        return NULL;
    case OPT_REPROVISION:
        o->reprovision = true;
        return NULL;
    case OPT_NO_RECORDS:
        o->no_records = true;
        return NULL;
    case OPT_METRICS_LISTEN:
        o->metrics_listen = optarg;
        return NULL;
    case OPT_METRICS_LINGER:
        return tool_opt_uint(optarg, 86400, &o->metrics_linger)
                   ? NULL
                   : "--metrics-linger needs a number of seconds (0..86400)";
    case OPT_PARALLEL:
        return tool_opt_uint(optarg, 4096, &o->parallel) && o->parallel > 0
                   ? NULL
                   : "--parallel needs a number 1..4096";
    case OPT_RETRIES:
        return tool_opt_uint(optarg, 100, &o->retries) ? NULL : "--retries needs a number 0..100";
    case 't':
        return tool_opt_uint(optarg, 86400, &o->timeout) && o->timeout > 0
                   ? NULL
                   : "-t needs a number of seconds";
    case OPT_BUNDLES:
    case OPT_ANSWERS:
        if (mode != LINE_MODE_WRITE) {
            return "--bundles and --answers belong to write";
        }
        *(c == OPT_BUNDLES ? &o->bundles : &o->answers) = optarg;
        return NULL;
    }
    return "unknown option";
}

/* Returns 0, LINE_CLI_HELP, or the exit status after printing the problem. */
static int parse(const ft_globals *g, int argc, char **argv, line_mode mode, batch_options *o)
{
    const char *usage = mode == LINE_MODE_WRITE ? write_usage : inject_batch_usage;
    o->parallel = 16;
    o->retries = 3;
    o->timeout = 30;
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":t:h", batch_longopts, NULL)) != -1) {
        if (c == 'h') {
            return line_cli_help(usage);
        }
        if (c == '?' || c == ':') {
            return line_cli_bad_option(g, usage, c, argv);
        }
        const char *why = batch_option(c, mode, o);
        if (why != NULL) {
            return line_cli_usage(g, usage, argv[0], why);
        }
    }
    if (optind < argc) {
        return line_cli_usage(g, usage, argv[0], "takes no positional argument");
    }
    if (o->devices == NULL) {
        return line_cli_usage(g, usage, argv[0], "--devices FILE.csv is required");
    }
    if (mode == LINE_MODE_WRITE && (o->bundles == NULL || o->answers == NULL)) {
        return line_cli_usage(g, usage, argv[0], "--bundles DIR and --answers DIR are required");
    }
    return 0;
}

static void print_summary(const line_engine *e, const char *records_path)
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
    line_cli_print_line(root, false);
}

typedef struct batch_view {
    const ft_globals *g;
    bool progress;
    line_metrics *metrics;
    char *lines; /* the JSON lines of one records turn, written whole by on_turn */
    size_t len, cap;
} batch_view;

/* Room for n more bytes of lines; false when out of memory. */
static bool lines_room(batch_view *v, size_t n)
{
    if (v->len + n <= v->cap) {
        return true;
    }
    size_t cap = 2 * (v->len + n);
    char *grown = realloc(v->lines, cap);
    if (grown == NULL) {
        return false;
    }
    v->lines = grown;
    v->cap = cap;
    return true;
}

/* Keeps a device's line for the end of the turn; false when out of memory. */
static bool keep_line(batch_view *v, json_t *o)
{
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    size_t n = text != NULL ? strlen(text) + 1 : 0;
    if (text == NULL || !lines_room(v, n)) {
        free(text);
        return false;
    }
    memcpy(v->lines + v->len, text, n - 1);
    v->lines[v->len + n - 1] = '\n';
    v->len += n;
    free(text);
    json_decref(o);
    return true;
}

static void put_json_text(batch_view *v, const char *key, const char *s, const char *after)
{
    char *at = v->lines + v->len;
    v->len += (size_t)(s != NULL ? sprintf(at, "\"%s\": \"%s\"%s", key, s, after)
                                 : sprintf(at, "\"%s\": null%s", key, after));
}

/* The texts of a device's line, and the bytes they need (0 when one needs escaping). */
static size_t plain_line_size(const line_job *j, const char *message, const char *state)
{
    const fcu_device_response_status *r = j->has_response ? &j->response : NULL;
    const char *texts[] = {j->dev->endpoint, j->dev->serial, j->dev->address,
                           message,          state,          r ? r->message : NULL};
    size_t need = 256 + strlen(j->identity.cert_sha256);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (!line_cli_plain_json_text(texts[i])) {
            return 0;
        }
        need += texts[i] != NULL ? strlen(texts[i]) : 0;
    }
    for (size_t i = 0; r != NULL && i < r->warnings.count; i++) {
        if (r->warnings.items[i].message == NULL ||
            !line_cli_plain_json_text(r->warnings.items[i].message)) {
            return 0;
        }
        need += strlen(r->warnings.items[i].message) + 4;
    }
    return state == NULL || (r != NULL && r->errors.count > 0) ? 0 : need;
}

/* A device's line written directly when no text needs escaping: byte for byte what jansson's
 * json_dumps(JSON_PRESERVE_ORDER) writes of on_finished's object (callgrind: ~40k instructions
 * per device went to building, dumping and freeing it). false: build it with jansson. */
static bool put_plain_line(batch_view *v, const line_job *j, const char *message, const char *state)
{
    size_t need = plain_line_size(j, message, state);
    if (need == 0 || !lines_room(v, need)) {
        return false;
    }
    v->lines[v->len++] = '{';
    put_json_text(v, "endpoint", j->dev->endpoint, ", ");
    put_json_text(v, "serial", j->dev->serial, ", ");
    put_json_text(v, "address", j->dev->address, ", ");
    v->len += (size_t)sprintf(v->lines + v->len, "\"status\": %d, ", j->status);
    put_json_text(v, "message", message, ", ");
    put_json_text(v, "result", state, ", ");
    if (j->has_response) {
        const fcu_device_response_status *r = &j->response;
        v->len +=
            (size_t)sprintf(v->lines + v->len, "\"deviceResponse\": {\"status\": %d, ", r->status);
        put_json_text(v, "message", r->message, ", \"warnings\": [");
        for (size_t i = 0; i < r->warnings.count; i++) {
            v->len += (size_t)sprintf(v->lines + v->len, "%s\"%s\"", i ? ", " : "",
                                      r->warnings.items[i].message);
        }
        v->len += (size_t)sprintf(v->lines + v->len, "]}, ");
    }
    v->len += (size_t)sprintf(v->lines + v->len, "\"tries\": %d", j->tries);
    if (j->identity.cert_sha256[0]) {
        v->len += (size_t)sprintf(v->lines + v->len, ", ");
        put_json_text(v, "certSha256", j->identity.cert_sha256, "");
    }
    v->len += (size_t)sprintf(v->lines + v->len, "}\n");
    return true;
}

/* After a turn's reports: its lines in one write (a kill never leaves half a line). */
static void on_turn(void *user)
{
    batch_view *v = user;
    if (v->len > 0) {
        fflush(stdout);
        (void)line_file_write_all(STDOUT_FILENO, (const uint8_t *)v->lines, v->len);
        v->len = 0;
    }
}

static void print_progress(const line_engine *e)
{
    size_t done = e->succeeded + e->failed + e->skipped + e->interrupted;
    int width = 30, filled = e->njobs ? (int)(done * (size_t)width / e->njobs) : width;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu ok %zu failed %zu skipped %zu", filled,
            "##############################", width - filled, "", done, e->njobs, e->succeeded,
            e->failed, e->skipped);
    if (done == e->njobs) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

static void on_finished(void *user, line_engine *e, line_job *j)
{
    batch_view *v = user;
    line_metrics_finished(v->metrics, e, j);
    const char *message = j->message[0] ? j->message : FT_SUCCESS_MESSAGE;
    if (!v->progress && put_plain_line(v, j, message, line_job_state(j))) {
        return;
    }
    json_t *o = line_cli_result_line(j->dev, true, j->status, message, line_job_state(j),
                                     j->has_response ? &j->response : NULL);
    json_object_set_new(o, "tries", json_integer(j->tries));
    if (j->identity.cert_sha256[0]) {
        json_object_set_new(o, "certSha256", json_string(j->identity.cert_sha256));
    }
    if (v->progress) {
        line_cli_print_line(o, true);
        print_progress(e);
    } else if (!keep_line(v, o)) {
        on_turn(v); /* out of memory: the lines kept so far, then this one on its own */
        line_cli_print_line(o, false);
    }
}

static void on_log(void *user, const char *text)
{
    ft_log(((batch_view *)user)->g, 1, "%s", text);
}

/* The configurator (inject) and the records database (unless --no-records). */
static int open_parts(const ft_globals *g, const batch_options *o, line_mode mode, fcu **f,
                      line_records **rec, char **records_path)
{
    *f = mode == LINE_MODE_INJECT ? line_cli_open_fcu(g) : NULL;
    if (mode == LINE_MODE_INJECT && *f == NULL) {
        return line_cli_error(g, FT_EXIT_FAILED, "out of memory");
    }
    if (*f != NULL) {
        /* fcu.yml, the CA and the resources read and checked once per batch, as prepare-batch
         * does, not once per device. */
        fcu_set_batch_mode(*f, true);
    }
    if (o->no_records) {
        return 0;
    }
    *rec = line_cli_open_records(g, *f, o->records_db, records_path);
    if (*rec == NULL) {
        fcu_close(*f);
        return FT_EXIT_FAILED;
    }
    int recovered = line_records_recover(*rec);
    if (recovered > 0) {
        ft_log(g, 0, "%d attempt(s) of an earlier run were interrupted; they are redone",
               recovered);
    }
    return 0;
}

/* --metrics-listen: the admin listener (plain HTTP) for Prometheus and the dashboard. */
static int batch_metrics_start(const ft_globals *g, const batch_options *o, size_t devices,
                               batch_view *v)
{
    v->metrics = line_metrics_new(KILN_VERSION_STRING, devices);
    if (v->metrics == NULL || line_metrics_listen(v->metrics, o->metrics_listen) != 0) {
        line_metrics_free(v->metrics);
        v->metrics = NULL;
        const char *why = lazy_why(&lazy_libmicrohttpd, NULL);
        return line_cli_error(g, FT_EXIT_FAILED,
                              "cannot serve metrics on %s (ADDR:PORT, free port)%s%s",
                              o->metrics_listen, why ? ": " : "", why ? why : "");
    }
    ft_log(g, 1, "metrics on http://%s/metrics", o->metrics_listen);
    return 0;
}

/* --metrics-linger: the final numbers stay up for a last scrape, then the listener ends. */
static void batch_metrics_end(const batch_options *o, batch_view *v)
{
    if (v->metrics == NULL) {
        return;
    }
    for (unsigned long i = 0; i < o->metrics_linger; i++) {
        sleep(1);
    }
    line_metrics_free(v->metrics);
    v->metrics = NULL;
}

static int run_batch(const ft_globals *g, int argc, char **argv, line_mode mode)
{
    batch_options o;
    memset(&o, 0, sizeof(o));
    int rc = parse(g, argc, argv, mode, &o);
    if (rc != 0) {
        return rc == LINE_CLI_HELP ? FT_EXIT_OK : rc;
    }
    line_device_list list;
    char why[600];
    if (line_devices_load(o.devices, 1, &list, why, sizeof(why)) != 0) {
        return line_cli_error(g, FT_EXIT_FAILED, "%s", why);
    }
    if (mode == LINE_MODE_WRITE) {
        mkdir(o.answers, 0700);
    }
    fcu *f = NULL;
    line_records *rec = NULL;
    char *records_path = NULL;
    if ((rc = open_parts(g, &o, mode, &f, &rec, &records_path)) != 0) {
        line_devices_free(&list);
        return rc;
    }
    char host[256];
    batch_view view = {.g = g, .progress = isatty(STDERR_FILENO) && g->verbose == 0};
    if (o.metrics_listen != NULL && (rc = batch_metrics_start(g, &o, list.count, &view)) != 0) {
        line_records_close(rec);
        fcu_close(f);
        free(records_path);
        line_devices_free(&list);
        return rc;
    }
    line_engine e = {.mode = mode,
                     .fcu = f,
                     .records = rec,
                     .station = line_cli_station(o.station, host, sizeof(host)),
                     .bundles_dir = o.bundles,
                     .answers_dir = o.answers,
                     .parallel = (int)o.parallel,
                     .max_tries = (int)o.retries + 1,
                     .timeout = (double)o.timeout,
                     .backoff = 0.1,
                     .reprovision = o.reprovision,
                     .on_finished = on_finished,
                     .on_turn = on_turn,
                     .on_log = on_log,
                     .user = &view};
    line_cli_signals_on(&e);
    rc = line_engine_run(&e, list.items, list.count);
    line_cli_signals_off();
    on_turn(&view); /* nothing is left by the engine's last turn; kept in case */
    free(view.lines);
    print_summary(&e, records_path);
    batch_metrics_end(&o, &view);
    if (records_path != NULL) {
        ft_log(g, 0, "records: %s", records_path);
    }
    free(records_path);
    line_records_close(rec);
    fcu_close(f);
    line_devices_free(&list);
    return line_cli_exit_status(rc);
}

int ft_cmd_inject_batch(const ft_globals *g, int argc, char **argv)
{
    return run_batch(g, argc, argv, LINE_MODE_INJECT);
}

int ft_cmd_write(const ft_globals *g, int argc, char **argv)
{
    return run_batch(g, argc, argv, LINE_MODE_WRITE);
}
