/* factory_tool prepare-batch and verify-batch: the seed's separable sub-steps for many devices
 * (the work is kiln_line's line_split.h); one JSON line per device and a summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "line_cli.h"
#include "line_files.h"
#include "line_split.h"
#include "tool_opt.h"

static const char prepare_batch_usage[] =
    "usage: factory_tool [globals] prepare-batch --devices FILE.csv --out DIR|FILE.tar\n"
    "         [--jobs N] [--reprovision] [--records-db FILE|URL] [--no-records] [--station NAME]\n"
    "  makes DIR/EP.cbor (and DIR/EP.ctx for a two-step mode) for every device of the list;\n"
    "  --out FILE.tar writes them as entries EP.cbor (EP.ctx) of one new ustar archive\n";
static const char verify_batch_usage[] =
    "usage: factory_tool [globals] verify-batch --devices FILE.csv --answers DIR [--bundles DIR]\n"
    "         [--reprovision] [--records-db FILE|URL] [--no-records] [--station NAME]\n"
    "  checks the answers write stored; with --bundles, a two-step answer becomes the\n"
    "  device's second bundle DIR/EP.cbor\n";

typedef struct split_options {
    const char *devices, *dir, *bundles, *records_db, *station;
    unsigned long jobs;
    bool reprovision, no_records;
} split_options;

enum {
    OPT_DEVICES = 256,
    OPT_DIR,
    OPT_BUNDLES,
    OPT_RECORDS_DB,
    OPT_STATION,
    OPT_JOBS,
    OPT_REPROVISION,
    OPT_NO_RECORDS
};

/* Returns 0, LINE_CLI_HELP, or the exit status of a usage error. */
static int parse(const ft_globals *g, int argc, char **argv, bool prepare, split_options *o)
{
    const struct option longopts[] = {
        {"devices", required_argument, NULL, OPT_DEVICES},
        {prepare ? "out" : "answers", required_argument, NULL, OPT_DIR},
        {prepare ? "jobs" : "bundles", required_argument, NULL, prepare ? OPT_JOBS : OPT_BUNDLES},
        {"records-db", required_argument, NULL, OPT_RECORDS_DB},
        {"station", required_argument, NULL, OPT_STATION},
        {"reprovision", no_argument, NULL, OPT_REPROVISION},
        {"no-records", no_argument, NULL, OPT_NO_RECORDS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = prepare ? prepare_batch_usage : verify_batch_usage;
    const char **slots[] = {&o->devices, &o->dir, &o->bundles, &o->records_db, &o->station};
    memset(o, 0, sizeof(*o));
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            return line_cli_help(usage);
        } else if (c == '?' || c == ':') {
            return line_cli_bad_option(g, usage, c, argv);
        } else if (c >= OPT_DEVICES && c <= OPT_STATION) {
            *slots[c - OPT_DEVICES] = optarg;
        } else if (c == OPT_JOBS && (!tool_opt_uint(optarg, 256, &o->jobs) || o->jobs == 0)) {
            return line_cli_usage(g, usage, argv[0], "--jobs needs a number 1..256");
        }
        o->reprovision |= c == OPT_REPROVISION;
        o->no_records |= c == OPT_NO_RECORDS;
    }
    if (optind < argc) {
        return line_cli_usage(g, usage, argv[0], "takes no positional argument");
    }
    if (o->devices == NULL || o->dir == NULL) {
        char what[100];
        snprintf(what, sizeof(what), "needs --devices FILE.csv and %s DIR",
                 prepare ? "--out" : "--answers");
        return line_cli_usage(g, usage, argv[0], what);
    }
    return 0;
}

static void print_result(void *user, const line_split_result *r)
{
    (void)user;
    line_cli_print_line(
        line_cli_result_line(r->dev, false, r->status, r->message, r->state, r->response), false);
}

/* prepare-batch: a committed batch's lines, collected here (only the writer thread reports) and
 * written whole with one write per batch, so a kill never leaves half a line. */
static char *batch_text;
static size_t batch_len, batch_cap;

/* Room for n more bytes in the batch; false when out of memory. */
static bool batch_room(size_t n)
{
    if (batch_len + n <= batch_cap) {
        return true;
    }
    size_t cap = (batch_len + n) * 2;
    char *grown = realloc(batch_text, cap);
    if (grown == NULL) {
        return false;
    }
    batch_text = grown;
    batch_cap = cap;
    return true;
}

/* Appends s (room made by the caller): copies, not sprintf (a fifth of the writer's cost per
 * device went to five sprintf calls). */
static void put_raw(const char *s)
{
    size_t n = strlen(s);
    memcpy(batch_text + batch_len, s, n);
    batch_len += n;
}

static void put_text(const char *key, const char *s, const char *after)
{
    put_raw("\"");
    put_raw(key);
    put_raw(s != NULL ? "\": \"" : "\": null");
    if (s != NULL) {
        put_raw(s);
        put_raw("\"");
    }
    put_raw(after);
}

/* "%d" of n. */
static void put_int(int n)
{
    char digits[16];
    size_t at = sizeof(digits);
    unsigned v = n < 0 ? 0u - (unsigned)n : (unsigned)n;
    do {
        digits[--at] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (n < 0) {
        digits[--at] = '-';
    }
    memcpy(batch_text + batch_len, digits + at, sizeof(digits) - at);
    batch_len += sizeof(digits) - at;
}

/* The line of a result whose texts need no escaping, written directly: byte for byte what
 * jansson's json_dumps(line_cli_result_line(...), JSON_PRESERVE_ORDER) writes (callgrind: a
 * third of the writer's cost per device went to building and dumping the JSON object). */
static bool put_plain_line(const line_split_result *r)
{
    const char *texts[] = {r->dev->endpoint, r->dev->serial, r->message, r->state};
    size_t need = 96;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (!line_cli_plain_json_text(texts[i])) {
            return false;
        }
        need += texts[i] != NULL ? strlen(texts[i]) : 0;
    }
    if (r->response != NULL || r->state == NULL || !batch_room(need)) {
        return false;
    }
    batch_text[batch_len++] = '{';
    put_text("endpoint", r->dev->endpoint, ", ");
    put_text("serial", r->dev->serial, ", ");
    put_raw("\"status\": ");
    put_int(r->status);
    put_raw(", ");
    put_text("message", r->message, ", ");
    put_text("result", r->state, "}\n");
    return true;
}

static void print_result_batched(void *user, const line_split_result *r)
{
    if (put_plain_line(r)) {
        return;
    }
    json_t *o = line_cli_result_line(r->dev, false, r->status, r->message, r->state, r->response);
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t n = text != NULL ? strlen(text) + 1 : 0;
    if (n > 0 && !batch_room(n)) {
        print_result(user, r); /* out of memory: this line on its own */
        free(text);
        return;
    }
    if (n > 0) {
        memcpy(batch_text + batch_len, text, n - 1);
        batch_text[batch_len + n - 1] = '\n';
        batch_len += n;
    }
    free(text);
}

static void flush_results(void *user)
{
    (void)user;
    fflush(stdout);
    if (batch_len > 0) {
        (void)line_file_write_all(fileno(stdout), (const uint8_t *)batch_text, batch_len);
        batch_len = 0;
    }
}

static void print_summary(const line_split *s, bool prepare)
{
    char second[64] = "";
    if (!prepare) {
        snprintf(second, sizeof(second), ", \"prepared\": %zu", s->second);
    }
    printf("{\"summary\": {\"devices\": %zu, \"succeeded\": %zu, \"failed\": %zu, \"skipped\": "
           "%zu%s, \"seconds\": %.6f}}\n",
           s->list->count, s->ok, s->failed, s->skipped, second, s->seconds);
    fflush(stdout);
}

static int split_command(const ft_globals *g, int argc, char **argv, bool prepare)
{
    split_options o;
    int rc = parse(g, argc, argv, prepare, &o);
    if (rc != 0) {
        return rc == LINE_CLI_HELP ? FT_EXIT_OK : rc;
    }
    line_device_list list;
    char why[600];
    if (line_devices_load(o.devices, 0, &list, why, sizeof(why)) != 0) {
        return line_cli_error(g, FT_EXIT_FAILED, "%s", why);
    }
    size_t out_len = strlen(o.dir);
    bool archive = prepare && out_len > 4 && strcmp(o.dir + out_len - 4, ".tar") == 0;
    /* An archive is new (O_EXCL): a resumed batch writes the rest into another one. */
    int archive_fd = archive ? open(o.dir, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
    if ((archive && archive_fd < 0) ||
        (prepare && !archive && mkdir(o.dir, 0700) != 0 && errno != EEXIST)) {
        line_devices_free(&list);
        return line_cli_error(g, FT_EXIT_FAILED, "cannot create %s: %s", o.dir, strerror(errno));
    }
    fcu *f = line_cli_open_fcu(g);
    line_records *rec = NULL;
    if (!o.no_records && (rec = line_cli_open_records(g, f, o.records_db, NULL)) == NULL) {
        fcu_close(f);
        if (archive_fd >= 0) {
            close(archive_fd);
        }
        line_devices_free(&list);
        return FT_EXIT_FAILED;
    }
    fcu_close(f);
    if (rec != NULL && prepare && line_records_set_bundles(rec, o.dir) != 0) {
        line_records_close(rec);
        if (archive_fd >= 0) {
            close(archive_fd);
        }
        line_devices_free(&list);
        return line_cli_error(g, FT_EXIT_FAILED, "cannot resolve %s: %s", o.dir, strerror(errno));
    }
    fcu_options fo = {.home_dir = g->home_dir, .config_file = g->config_file};
    char host[256];
    line_split s = {.fcu_options = &fo,
                    .list = &list,
                    .dir = o.dir,
                    .bundles = o.bundles,
                    .records = rec,
                    .station = line_cli_station(o.station, host, sizeof(host)),
                    .reprovision = o.reprovision,
                    .jobs = (unsigned)o.jobs,
                    .archive = archive,
                    .archive_fd = archive_fd,
                    .on_result = prepare ? print_result_batched : print_result,
                    .on_batch_end = flush_results,
                    .stop = line_cli_signal_flag()};
    line_cli_signals_on(NULL);
    rc = prepare ? line_prepare_batch(&s) : line_verify_batch(&s);
    line_cli_signals_off();
    if (archive_fd >= 0 && close(archive_fd) != 0 && rc == 0) {
        line_cli_error(g, FT_EXIT_FAILED, "cannot write %s: %s", o.dir, strerror(errno));
        rc = 1;
    }
    print_summary(&s, prepare);
    free(batch_text);
    batch_text = NULL;
    batch_len = batch_cap = 0;
    line_records_close(rec);
    line_devices_free(&list);
    return line_cli_exit_status(rc);
}

int ft_cmd_prepare_batch(const ft_globals *g, int argc, char **argv)
{
    return split_command(g, argc, argv, true);
}

int ft_cmd_verify_batch(const ft_globals *g, int argc, char **argv)
{
    return split_command(g, argc, argv, false);
}
