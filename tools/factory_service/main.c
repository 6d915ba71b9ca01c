/* factory_service: the secure factory service.
 *
 *   factory_service init DIR [--listen ADDR:PORT] [--san "DNS:name,IP:addr"]
 *   factory_service add-station DIR NAME OUTFILE [--batch NAME] [--url URL] [--db URL]
 *   factory_service revoke-station DIR NAME [--db URL]
 *   factory_service set-quota DIR BATCH LIMIT [--db URL]
 *   factory_service audit DIR [--format csv|json] [--db URL]
 *   factory_service stats DIR [--batch NAME] [--db URL]
 *   factory_service run DIR [--listen ADDR:PORT] [--db URL] [--threads N] [--log FILE]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_http.h"
#include "sf_service.h"
#include "sf_store.h"

static void usage(FILE *out)
{
    fputs("usage: factory_service init DIR [--listen ADDR:PORT] [--san LIST]\n"
          "       factory_service add-station DIR NAME OUTFILE [--batch NAME] [--url URL] "
          "[--db URL]\n"
          "       factory_service revoke-station DIR NAME [--db URL]\n"
          "       factory_service set-quota DIR BATCH LIMIT [--db URL]\n"
          "       factory_service audit DIR [--format csv|json] [--db URL]\n"
          "       factory_service stats DIR [--batch NAME] [--db URL]\n"
          "       factory_service run DIR [--listen ADDR:PORT] [--db URL] [--threads N] "
          "[--log FILE]\n",
          out);
}

static int fail(sf_status st, const char *what)
{
    fprintf(stderr, "factory_service: error %d: %s%s%s\n", (int)st, sf_status_text(st),
            what != NULL ? ": " : "", what != NULL ? what : "");
    return 1;
}

typedef struct options {
    const char *listen, *san, *batch, *url, *db, *format, *log;
    int threads;
    const char *positional[4];
    int npositional;
} options;

static int parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof(*o));
    o->batch = "default";
    o->format = "csv";
    o->threads = 4;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--listen") == 0) {
            slot = &o->listen;
        } else if (strcmp(a, "--san") == 0) {
            slot = &o->san;
        } else if (strcmp(a, "--batch") == 0) {
            slot = &o->batch;
        } else if (strcmp(a, "--url") == 0) {
            slot = &o->url;
        } else if (strcmp(a, "--db") == 0) {
            slot = &o->db;
        } else if (strcmp(a, "--format") == 0) {
            slot = &o->format;
        } else if (strcmp(a, "--log") == 0) {
            slot = &o->log;
        } else if (strcmp(a, "--threads") == 0) {
            if (i + 1 >= argc) {
                return -1;
            }
            o->threads = atoi(argv[++i]);
            continue;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "factory_service: unknown option %s\n", a);
            return -1;
        } else {
            if (o->npositional >= 4) {
                return -1;
            }
            o->positional[o->npositional++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "factory_service: option %s needs a value\n", a);
            return -1;
        }
        *slot = argv[++i];
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
    sf_status st = sf_service_open(o->positional[0], o->db, &svc);
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
    printf("factory_service: listening on port %d (factory ID 0x%08x, database %s)\n",
           sf_http_port(http), svc->cfg.factory_id,
           svc->db_url[0] && strncmp(svc->db_url, "postgres", 8) == 0 ? "postgresql" : "sqlite");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    sf_http_stop(http);
    sf_service_close(svc);
    if (log != stderr) {
        fclose(log);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    options o;
    if (parse(argc - 2, argv + 2, &o) != 0 || o.npositional < 1) {
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "init") == 0 && o.npositional == 1) {
        sf_status st = sf_service_init_dir(o.positional[0], o.listen, o.san);
        if (st != SF_OK) {
            return fail(st, o.positional[0]);
        }
        printf("factory_service: state folder %s ready; device firmware trust: "
               "%s/device-trust.pem\n",
               o.positional[0], o.positional[0]);
        return 0;
    }
    if (strcmp(cmd, "run") == 0 && o.npositional == 1) {
        return run(&o);
    }
    if (strcmp(cmd, "add-station") == 0 && o.npositional == 3) {
        sf_service *svc = NULL;
        sf_status st = sf_service_open(o.positional[0], o.db, &svc);
        if (st == SF_OK) {
            st = sf_service_add_station(svc, o.positional[1], o.batch, o.url, o.positional[2]);
        }
        sf_service_close(svc);
        if (st == SF_INVALID_ARGUMENT) {
            return fail(st, "a station with that name already exists");
        }
        if (st != SF_OK) {
            return fail(st, o.positional[1]);
        }
        printf("factory_service: station %s written to %s\n", o.positional[1], o.positional[2]);
        return 0;
    }
    sf_service *svc = NULL;
    sf_db *db = NULL;
    int rc = 2;
    if (strcmp(cmd, "revoke-station") == 0 && o.npositional == 2) {
        if ((rc = with_db(&o, &svc, &db)) == 0) {
            sf_status st = sf_store_station_revoke(db, o.positional[1]);
            rc = st == SF_OK ? 0 : fail(st, o.positional[1]);
        }
    } else if (strcmp(cmd, "set-quota") == 0 && o.npositional == 3) {
        char *end = NULL;
        long limit = strtol(o.positional[2], &end, 10);
        if (*end != '\0' || limit < 0) {
            return fail(SF_INVALID_ARGUMENT, "LIMIT must be a non-negative number");
        }
        if ((rc = with_db(&o, &svc, &db)) == 0) {
            sf_status st = sf_store_quota_set(db, o.positional[1], limit);
            rc = st == SF_OK ? 0 : fail(st, NULL);
        }
    } else if (strcmp(cmd, "audit") == 0 && o.npositional == 1) {
        if (strcmp(o.format, "csv") != 0 && strcmp(o.format, "json") != 0) {
            return fail(SF_INVALID_ARGUMENT, "--format is csv or json");
        }
        if ((rc = with_db(&o, &svc, &db)) == 0) {
            sf_status st = sf_store_audit_export(db, o.format, stdout);
            rc = st == SF_OK ? 0 : fail(st, NULL);
        }
    } else if (strcmp(cmd, "stats") == 0 && o.npositional == 1) {
        if ((rc = with_db(&o, &svc, &db)) == 0) {
            long certs = 0, used = 0, limit = 0;
            sf_status st = sf_store_count_certificates(db, &certs);
            if (st == SF_OK) {
                printf("certificates %ld\n", certs);
                st = sf_store_quota_get(db, o.batch, &used, &limit);
                if (st == SF_OK) {
                    printf("quota %s %ld/%ld\n", o.batch, used, limit);
                } else if (st == SF_NOT_FOUND) {
                    printf("quota %s unlimited\n", o.batch);
                    st = SF_OK;
                }
            }
            rc = st == SF_OK ? 0 : fail(st, NULL);
        }
    } else {
        usage(stderr);
        return 2;
    }
    if (db != NULL) {
        sf_service_db_release(svc, db);
    }
    sf_service_close(svc);
    return rc;
}
