/* factory_service: the secure factory service.
 *
 *   factory_service init DIR [--listen ADDR:PORT] [--san "DNS:name,IP:addr"]
 *                            [--key-uri-prefix "pkcs11:token=...?module-path=...&pin-source=..."]
 *   factory_service add-station DIR NAME OUTFILE [--batch NAME] [--url URL] [--db URL]
 *   factory_service revoke-station DIR NAME [--db URL]
 *   factory_service set-quota DIR BATCH LIMIT [--db URL]
 *   factory_service audit DIR [--refusals] [--format csv|json | --json] [--db URL]
 *   factory_service stats DIR [--batch NAME] [--format text|json | --json] [--db URL]
 *   factory_service run DIR [--listen ADDR:PORT] [--db URL] [--threads N] [--log FILE]
 *                            [--replica NAME]
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kiln_version.h"
#include "ledger_cmd.h"
#include "sf_http.h"
#include "sf_metrics.h"
#include "sf_service.h"
#include "sf_store.h"
#include "tool_exit.h"
#include "tool_opt.h"

/* Each command's usage line, in the order of the full usage. */
static const char *const usage_lines[][2] = {
    {"init", "init DIR [--listen ADDR:PORT] [--san LIST] [--key-uri-prefix PKCS11-URI]"},
    {"add-station", "add-station DIR NAME OUTFILE [--batch NAME] [--url URL] [--db URL]"},
    {"revoke-station", "revoke-station DIR NAME [--db URL]"},
    {"set-quota", "set-quota DIR BATCH LIMIT [--db URL]"},
    {"audit", "audit DIR [--refusals] [--format csv|json | --json] [--db URL]"},
    {"stats", "stats DIR [--batch NAME] [--format text|json | --json] [--db URL]"},
    {"run", "run DIR [--listen ADDR:PORT] [--db URL] [--threads N] [--log FILE]\n"
            "        [--metrics-listen ADDR:PORT] [--replica NAME]"},
    {"ledger", "ledger verify|export|pubkey DIR [--format jsonl|cbor] [-o FILE] [--db URL]"},
};
#define NCOMMANDS (sizeof(usage_lines) / sizeof(usage_lines[0]))

/* The usage of one command (cmd), or of all (cmd NULL or unknown). */
static void usage(FILE *out, const char *cmd)
{
    bool one = false;
    for (size_t i = 0; cmd != NULL && i < NCOMMANDS; i++) {
        one |= strcmp(cmd, usage_lines[i][0]) == 0;
    }
    const char *lead = "usage:";
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (!one || strcmp(cmd, usage_lines[i][0]) == 0) {
            fprintf(out, "%-6s factory_service %s\n", lead, usage_lines[i][1]);
            lead = "";
        }
    }
    if (one && strcmp(cmd, "audit") == 0) {
        fputs("  the audit table of every attempt; --refusals: the refused requests instead\n"
              "  (at, station, batch, session_id, request, error_code, reason)\n",
              out);
    }
    if (!one) {
        fputs("       factory_service --version | --help | COMMAND --help\n"
              "exit status: 0 ok, 1 failed (the numbered error says why), 2 usage,\n"
              "130 (SIGINT) or 143 (SIGTERM): run stopped after closing its connections\n",
              out);
    }
}

/* A usage error: the command's usage, then the numbered error; exit status 2. */
static int usage_error(const char *cmd, const char *what)
{
    usage(stderr, cmd);
    fprintf(stderr, "factory_service: error %d: %s: %s\n", (int)SF_INVALID_ARGUMENT,
            sf_status_text(SF_INVALID_ARGUMENT), what);
    return TOOL_EXIT_USAGE;
}

static int fail(sf_status st, const char *what)
{
    fprintf(stderr, "factory_service: error %d: %s%s%s\n", (int)st, sf_status_text(st),
            what != NULL ? ": " : "", what != NULL ? what : "");
    return 1;
}

typedef struct options {
    const char *listen, *san, *batch, *url, *db, *format, *log, *key_uri_prefix;
    const char *metrics_listen, *replica;
    int threads;
    bool refusals, format_given;
    const char *positional[4];
    int npositional;
} options;

enum {
    OPT_LISTEN = 256,
    OPT_SAN,
    OPT_BATCH,
    OPT_URL,
    OPT_DB,
    OPT_FORMAT,
    OPT_LOG,
    OPT_KEY_URI_PREFIX,
    OPT_THREADS,
    OPT_JSON,
    OPT_REFUSALS,
    OPT_METRICS_LISTEN,
    OPT_REPLICA
};

/* argv[0] is the command; options and positional arguments in any order. Returns 0, 1 after
 * --help, or the exit status of a usage error (printed). */
static int parse(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"san", required_argument, NULL, OPT_SAN},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"url", required_argument, NULL, OPT_URL},
        {"db", required_argument, NULL, OPT_DB},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"log", required_argument, NULL, OPT_LOG},
        {"key-uri-prefix", required_argument, NULL, OPT_KEY_URI_PREFIX},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"json", no_argument, NULL, OPT_JSON},
        {"refusals", no_argument, NULL, OPT_REFUSALS},
        {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
        {"replica", required_argument, NULL, OPT_REPLICA},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->batch = "default";
    o->format = NULL;
    o->threads = 4;
    const char **slots[] = {&o->listen, &o->san,    &o->batch, &o->url,
                            &o->db,     &o->format, &o->log,   &o->key_uri_prefix};
    unsigned long threads = 0;
    char what[300];
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            return 1;
        }
        if (c == '?' || c == ':') {
            tool_opt_problem(c, argv, what, sizeof(what));
            return usage_error(argv[0], what);
        }
        if (c == OPT_THREADS) {
            if (!tool_opt_uint(optarg, 1024, &threads) || threads == 0) {
                return usage_error(argv[0], "--threads needs a number 1..1024");
            }
            o->threads = (int)threads;
        } else if (c == OPT_METRICS_LISTEN) {
            o->metrics_listen = optarg;
        } else if (c == OPT_REPLICA) {
            if (*optarg == '\0' || strlen(optarg) > 128) {
                return usage_error(argv[0], "--replica needs a name of 1..128 bytes");
            }
            o->replica = optarg;
        } else if (c == OPT_JSON || c == OPT_REFUSALS) {
            o->format = c == OPT_JSON ? "json" : o->format;
            o->refusals |= c == OPT_REFUSALS;
            o->format_given |= c == OPT_JSON;
        } else {
            *slots[c - OPT_LISTEN] = optarg;
            o->format_given |= c == OPT_FORMAT;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o->npositional >= 4) {
            return usage_error(argv[0], "too many arguments");
        }
        o->positional[o->npositional++] = argv[i];
    }
    return 0;
}

static int with_db(const options *o, sf_service **svc, sf_db **db)
{
    sf_status st = sf_service_open(o->positional[0], o->db, svc);
    if (st != SF_OK) {
        return fail(st, o->positional[0]);
    }
    *db = sf_service_db_acquire(*svc);
    if (*db == NULL) {
        sf_service_close(*svc);
        return fail(SF_DATABASE, NULL);
    }
    return 0;
}

static int run(const options *o)
{
    sf_service *svc = NULL;
    sf_status st = sf_service_open_as(o->positional[0], o->db, o->replica, &svc);
    if (st != SF_OK) {
        return fail(st, o->positional[0]);
    }
    FILE *log = stderr;
    if (o->log != NULL) {
        if (sf_service_open_log(o->log, &log) != SF_OK) {
            sf_service_close(svc);
            return fail(SF_CONFIG, o->log);
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sf_http *http = NULL;
    const char *listen = o->listen != NULL ? o->listen : svc->cfg.listen;
    st = sf_http_start(svc, listen, o->threads, log, &http);
    if (st != SF_OK) {
        if (log != stderr) {
            fclose(log);
        }
        sf_service_close(svc);
        return fail(st, listen);
    }
    if (o->metrics_listen != NULL &&
        sf_metrics_start(o->metrics_listen, KILN_VERSION_STRING) != 0) {
        sf_http_stop(http);
        sf_service_close(svc);
        return fail(SF_CONFIG, o->metrics_listen);
    }
    printf("factory_service: listening on port %d (factory ID 0x%08x, database %s)\n",
           sf_http_port(http), svc->cfg.factory_id,
           svc->db_url[0] && strncmp(svc->db_url, "postgres", 8) == 0 ? "postgresql" : "sqlite");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    sf_http_stop(http);
    sf_metrics_stop();
    sf_service_close(svc);
    if (log != stderr) {
        fclose(log);
    }
    return TOOL_EXIT_SIGNAL(sig);
}

static int cmd_init(const options *o)
{
    sf_status st = sf_service_init_dir_keys(o->positional[0], o->listen, o->san, o->key_uri_prefix);
    if (st != SF_OK) {
        return fail(st, o->positional[0]);
    }
    printf("factory_service: state folder %s ready; device firmware trust: %s/device-trust.pem\n",
           o->positional[0], o->positional[0]);
    return 0;
}

static int cmd_add_station(const options *o)
{
    sf_service *svc = NULL;
    sf_status st = sf_service_open(o->positional[0], o->db, &svc);
    if (st == SF_OK) {
        st = sf_service_add_station(svc, o->positional[1], o->batch, o->url, o->positional[2]);
    }
    sf_service_close(svc);
    if (st == SF_INVALID_ARGUMENT) {
        return fail(st, "a station with that name already exists");
    }
    if (st == SF_CONFIG && o->url == NULL) {
        return fail(st, "the service listens on every address: give the URL stations reach it "
                        "by with --url https://HOST:PORT");
    }
    if (st != SF_OK) {
        return fail(st, o->positional[1]);
    }
    printf("factory_service: station %s written to %s\n", o->positional[1], o->positional[2]);
    return 0;
}

static int db_revoke_station(const options *o, sf_db *db)
{
    sf_status st = sf_store_station_revoke(db, o->positional[1]);
    return st == SF_OK ? 0 : fail(st, o->positional[1]);
}

static int db_set_quota(const options *o, sf_db *db)
{
    sf_status st = sf_store_quota_set(db, o->positional[1], strtol(o->positional[2], NULL, 10));
    return st == SF_OK ? 0 : fail(st, NULL);
}

static int db_audit(const options *o, sf_db *db)
{
    const char *format = o->format != NULL ? o->format : "csv";
    sf_status st = o->refusals ? sf_store_refusals_export(db, format, stdout)
                               : sf_store_audit_export(db, format, stdout);
    return st == SF_OK ? 0 : fail(st, NULL);
}

static int db_stats(const options *o, sf_db *db)
{
    long certs = 0, used = 0, limit = 0;
    sf_status st = sf_store_count_certificates(db, &certs);
    sf_status quota = st == SF_OK ? sf_store_quota_get(db, o->batch, &used, &limit) : st;
    if (st != SF_OK || (quota != SF_OK && quota != SF_NOT_FOUND)) {
        return fail(st != SF_OK ? st : quota, NULL);
    }
    bool limited = quota == SF_OK;
    if (o->format != NULL && strcmp(o->format, "json") == 0) {
        printf("{\"certificates\": %ld, \"batch\": ", certs);
        json_t *batch = json_string(o->batch);
        json_dumpf(batch, stdout, JSON_ENCODE_ANY);
        json_decref(batch);
        if (limited) {
            printf(", \"quotaUsed\": %ld, \"quotaLimit\": %ld}\n", used, limit);
        } else {
            printf(", \"quotaUsed\": null, \"quotaLimit\": null}\n");
        }
        return 0;
    }
    printf("certificates %ld\n", certs);
    if (limited) {
        printf("quota %s %ld/%ld\n", o->batch, used, limit);
    } else {
        printf("quota %s unlimited\n", o->batch);
    }
    return 0;
}

/* Checks made before the database is opened; returns 0 or the exit status of a usage error. */
static int check_arguments(const char *cmd, const options *o)
{
    if (strcmp(cmd, "set-quota") == 0) {
        char *end = NULL;
        long limit = strtol(o->positional[2], &end, 10);
        if (*end != '\0' || limit < 0) {
            return usage_error(cmd, "LIMIT must be a non-negative number");
        }
    }
    bool audit = strcmp(cmd, "audit") == 0, stats = strcmp(cmd, "stats") == 0;
    if (o->format_given && !audit && !stats) {
        return usage_error(cmd, "--json and --format apply to audit and stats only");
    }
    if (o->refusals && !audit) {
        return usage_error(cmd, "--refusals applies to audit only");
    }
    const char *f = o->format != NULL ? o->format : audit ? "csv" : "text";
    if (audit && strcmp(f, "csv") != 0 && strcmp(f, "json") != 0) {
        return usage_error(cmd, "--format is csv or json");
    }
    if (stats && strcmp(f, "text") != 0 && strcmp(f, "json") != 0) {
        return usage_error(cmd, "--format is text or json");
    }
    return 0;
}

typedef struct command {
    const char *name;
    int positional;
    int (*fn)(const options *o);             /* commands that open what they need */
    int (*db_fn)(const options *o, sf_db *); /* commands on the database */
} command;

static const command commands[] = {
    {"init", 1, cmd_init, NULL},
    {"run", 1, run, NULL},
    {"add-station", 3, cmd_add_station, NULL},
    {"revoke-station", 2, NULL, db_revoke_station},
    {"set-quota", 3, NULL, db_set_quota},
    {"audit", 1, NULL, db_audit},
    {"stats", 1, NULL, db_stats},
};

static int run_command(const command *c, const options *o)
{
    int rc = check_arguments(c->name, o);
    if (rc != 0 || c->fn != NULL) {
        return rc != 0 ? rc : c->fn(o);
    }
    sf_service *svc = NULL;
    sf_db *db = NULL;
    if ((rc = with_db(o, &svc, &db)) != 0) {
        return rc;
    }
    rc = c->db_fn(o, db);
    sf_service_db_release(svc, db);
    sf_service_close(svc);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        tool_opt_version("factory_service");
        return TOOL_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? TOOL_EXIT_USAGE : TOOL_EXIT_OK;
    }
    if (strcmp(argv[1], "ledger") == 0) {
        return factory_service_ledger(argc - 1, argv + 1);
    }
    const command *c = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        c = strcmp(argv[1], commands[i].name) == 0 ? &commands[i] : c;
    }
    if (c == NULL) {
        char what[300];
        snprintf(what, sizeof(what), "unknown command %.200s", argv[1]);
        return usage_error(NULL, what);
    }
    options o;
    int parsed = parse(argc - 1, argv + 1, &o);
    if (parsed == 1) {
        usage(stdout, c->name);
        return TOOL_EXIT_OK;
    }
    if (parsed != 0) {
        return parsed;
    }
    if (o.npositional != c->positional) {
        return usage_error(c->name, o.npositional < c->positional ? "missing arguments"
                                                                  : "too many arguments");
    }
    return run_command(c, &o);
}
