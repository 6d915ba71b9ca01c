#include "ledger_tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "kiln_lazy.h"
#include "kiln_ledger.h"
#include "kiln_ledger_pg.h"
#include "tool_opt.h"

static const char ledger_usage[] =
    "usage: ledger verify [--records-db FILE|URL] [--pubkey PEM]  the live ledger\n"
    "       ledger verify FILE --pubkey PEM            an exported file, nothing else needed\n"
    "       ledger export [--records-db FILE|URL] --format jsonl|cbor [-o FILE]\n"
    "       (--db is --records-db; URL: postgresql://...)\n"
    "       ledger pubkey                              the ledger's public key (PEM)\n";

typedef struct ledger_args {
    const char *command, *file, *pubkey, *format, *output, *db;
} ledger_args;

enum { OPT_PUBKEY = 256, OPT_FORMAT, OPT_DB };

static int usage_error(const ledger_tool_place *p, const char *what)
{
    fprintf(stderr, "%s: ledger: %s\n%s", p->program, what, ledger_usage);
    return 2;
}

static int failure(const ledger_tool_place *p, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ledger: ", p->program);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

/* Returns -1 to go on, else the exit status. */
static int parse(const ledger_tool_place *p, int argc, char **argv, ledger_args *a)
{
    static const struct option longopts[] = {
        {"pubkey", required_argument, NULL, OPT_PUBKEY},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"db", required_argument, NULL, OPT_DB},
        {"records-db", required_argument, NULL, OPT_DB},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **slots[] = {
        [OPT_PUBKEY - 256] = &a->pubkey, [OPT_FORMAT - 256] = &a->format, [OPT_DB - 256] = &a->db};
    memset(a, 0, sizeof(*a));
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(ledger_usage, stdout);
            return 0;
        } else if (c == 'o') {
            a->output = optarg;
        } else if (c >= OPT_PUBKEY && c <= OPT_DB) {
            *slots[c - 256] = optarg;
        } else {
            char what[300];
            tool_opt_problem(c, argv, what, sizeof(what));
            return usage_error(p, what);
        }
    }
    a->command = optind < argc ? argv[optind++] : NULL;
    a->file = optind < argc ? argv[optind++] : NULL;
    if (a->command == NULL) {
        return usage_error(p, "which command: verify, export or pubkey?");
    }
    if (optind < argc) {
        return usage_error(p, "too many arguments");
    }
    return -1;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *in = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t cap = 0;
    *len = 0;
    if (in == NULL) {
        return NULL;
    }
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = realloc(data, cap);
            if (grown == NULL) {
                break;
            }
            data = grown;
        }
        size_t n = fread(data + *len, 1, cap - *len, in);
        *len += n;
        if (n == 0) {
            fclose(in);
            return data ? data : malloc(1);
        }
    }
    fclose(in);
    free(data);
    return NULL;
}

/* The public key: --pubkey PEM when given, else the public half of the ledger key. */
static int load_point(const ledger_tool_place *p, const char *pubkey,
                      uint8_t point[KILN_PKI_POINT_SIZE])
{
    if (pubkey == NULL && p->point != NULL) {
        memcpy(point, p->point, KILN_PKI_POINT_SIZE);
        return 0;
    }
    const char *path = pubkey ? pubkey : p->key_path;
    size_t len;
    uint8_t *data = read_all(path, &len);
    kiln_ledger_status st = data ? kiln_ledger_pubkey_parse(data, len, point) : KILN_LEDGER_KEY;
    if (data != NULL) {
        OPENSSL_cleanse(data, len); /* the ledger key file holds the private key */
    }
    free(data);
    return st == KILN_LEDGER_OK ? 0 : failure(p, "cannot read a P-256 public key from %s", path);
}

/* The database of the ledger: a SQLite file, or a PostgreSQL URL (one of the two is set). */
typedef struct ledger_db {
    sqlite3 *db;
    PGconn *pg;
} ledger_db;

static bool is_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

static int open_db(const ledger_tool_place *p, const char *path, ledger_db *d)
{
    memset(d, 0, sizeof(*d));
    if (is_url(path)) {
        d->pg = PQconnectdb(path);
        if (d->pg == NULL || PQstatus(d->pg) != CONNECTION_OK) {
            /* libpq's message, not the URL: it may hold a password */
            failure(p, "cannot connect to the PostgreSQL ledger database: %s",
                    d->pg ? PQerrorMessage(d->pg) : lazy_why(&lazy_libpq, "out of memory"));
            PQfinish(d->pg);
            d->pg = NULL;
            return 1;
        }
        return 0;
    }
    if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(d->db);
        d->db = NULL;
        return failure(p, "cannot open the ledger database %s", path);
    }
    sqlite3_busy_timeout(d->db, 10000);
    return 0;
}

static void close_db(ledger_db *d)
{
    sqlite3_close(d->db);
    PQfinish(d->pg);
}

static int print_verdict(const ledger_tool_place *p, const kiln_ledger_verdict *v)
{
    if (p->json) {
        /* chain: the chain of seq ("" the unnamed one, and when the ledger holds) */
        json_t *o = json_pack("{sisssIsssIsIsIsIss}", "status", (int)v->status, "verdict",
                              kiln_ledger_status_name(v->status), "seq", (json_int_t)v->seq,
                              "chain", v->chain, "entries", (json_int_t)v->entries, "checkpoints",
                              (json_int_t)v->checkpoints, "signed_seq", (json_int_t)v->signed_seq,
                              "chains", (json_int_t)v->chains, "detail", v->detail);
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(o);
    } else if (v->status == KILN_LEDGER_OK) {
        printf("ledger holds: %s\n", v->detail);
    } else {
        printf("ledger does not hold: %s: %s (%s)\n", kiln_ledger_status_name(v->status), v->detail,
               kiln_ledger_strerror(v->status));
    }
    return v->status == KILN_LEDGER_OK ? 0 : 1;
}

static int cmd_verify(const ledger_tool_place *p, const ledger_args *a)
{
    uint8_t point[KILN_PKI_POINT_SIZE];
    kiln_ledger_verdict v;
    if (a->file != NULL && a->pubkey == NULL) {
        return usage_error(p, "verify FILE needs --pubkey PEM");
    }
    if (load_point(p, a->pubkey, point) != 0) {
        return 1;
    }
    if (a->file != NULL) {
        size_t len;
        uint8_t *data = read_all(a->file, &len);
        if (data == NULL) {
            return failure(p, "cannot read %s", a->file);
        }
        kiln_ledger_verify_buffer(data, len, point, &v);
        free(data);
        return print_verdict(p, &v);
    }
    if (p->verify != NULL) {
        p->verify(p->ctx, point, &v);
        return print_verdict(p, &v);
    }
    ledger_db db;
    if (open_db(p, a->db ? a->db : p->db_path, &db) != 0) {
        return 1;
    }
    if (db.pg != NULL) {
        kiln_ledger_verify_pg(db.pg, point, &v);
    } else {
        kiln_ledger_verify_db(db.db, point, &v);
    }
    close_db(&db);
    return print_verdict(p, &v);
}

static int cmd_export(const ledger_tool_place *p, const ledger_args *a)
{
    kiln_ledger_format format;
    if (a->format == NULL || strcmp(a->format, "jsonl") == 0) {
        format = KILN_LEDGER_FORMAT_JSONL;
    } else if (strcmp(a->format, "cbor") == 0) {
        format = KILN_LEDGER_FORMAT_CBOR;
    } else {
        return usage_error(p, "--format is jsonl or cbor");
    }
    ledger_db db = {NULL, NULL};
    if (a->file != NULL) {
        return usage_error(p, "export takes no file (use -o FILE)");
    }
    if (p->export_to == NULL && open_db(p, a->db ? a->db : p->db_path, &db) != 0) {
        return 1;
    }
    FILE *out = a->output ? fopen(a->output, "wb") : stdout;
    kiln_ledger_status st = KILN_LEDGER_STORAGE;
    if (out != NULL && p->export_to != NULL) {
        st = (kiln_ledger_status)p->export_to(p->ctx, out, (int)format);
    } else if (out != NULL) {
        st = db.pg ? kiln_ledger_export_pg(db.pg, out, format)
                   : kiln_ledger_export_db(db.db, out, format);
    }
    close_db(&db);
    if (out != NULL && out != stdout && fclose(out) != 0) {
        st = KILN_LEDGER_STORAGE;
    }
    if (st != KILN_LEDGER_OK) {
        return failure(p, "export failed: %s", kiln_ledger_strerror(st));
    }
    return 0;
}

static int cmd_pubkey(const ledger_tool_place *p)
{
    uint8_t point[KILN_PKI_POINT_SIZE];
    if (load_point(p, NULL, point) != 0) {
        return 1;
    }
    char *pem = kiln_ledger_pubkey_pem(point);
    if (pem == NULL) {
        return failure(p, "%s", "out of memory");
    }
    fputs(pem, stdout);
    free(pem);
    return 0;
}

int ledger_tool_main(const ledger_tool_place *place, int argc, char **argv)
{
    ledger_args a;
    int rc = parse(place, argc, argv, &a);
    if (rc >= 0) {
        return rc;
    }
    if (strcmp(a.command, "verify") == 0) {
        return cmd_verify(place, &a);
    }
    if (strcmp(a.command, "export") == 0) {
        return cmd_export(place, &a);
    }
    if (strcmp(a.command, "pubkey") == 0 && a.file == NULL) {
        return cmd_pubkey(place);
    }
    return usage_error(place, "unknown ledger command");
}
