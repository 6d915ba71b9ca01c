/* Secure factory service: PostgreSQL backend of sf_db (libpq, text parameters).
 * Statements with parameters are prepared once per connection: the service runs the same dozen
 * statements, and parsing and planning each one again was most of the server's work. */
#include "sf_db_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "kiln_ledger_pg.h"

#define STMT_CACHE 24

typedef struct prepared {
    char *sql;
    char name[16];
} prepared;

typedef struct pg_db {
    sf_db base;
    PGconn *conn;
    prepared cache[STMT_CACHE];
    int cache_used;
} pg_db;

/* The server-side name of sql's prepared statement, preparing it on first use; NULL on failure
 * (or when the cache is full: the caller then sends the statement unprepared). */
static const char *prepared_name(pg_db *db, const char *sql, int nparams)
{
    for (int i = 0; i < db->cache_used; i++) {
        if (strcmp(db->cache[i].sql, sql) == 0) {
            return db->cache[i].name;
        }
    }
    if (db->cache_used == STMT_CACHE) {
        return NULL;
    }
    prepared *p = &db->cache[db->cache_used];
    snprintf(p->name, sizeof(p->name), "kiln_%d", db->cache_used);
    size_t n = strlen(sql) + 1;
    p->sql = malloc(n);
    if (p->sql == NULL) {
        return NULL;
    }
    memcpy(p->sql, sql, n);
    PGresult *r = PQprepare(db->conn, p->name, sql, nparams, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        free(p->sql);
        p->sql = NULL;
        return NULL;
    }
    db->cache_used++;
    return p->name;
}

static void note_error(sf_db *base, const char *text)
{
    snprintf(base->last_error, sizeof(base->last_error), "%s", text != NULL ? text : "");
    size_t n = strlen(base->last_error);
    while (n > 0 && (base->last_error[n - 1] == '\n' || base->last_error[n - 1] == ' ')) {
        base->last_error[--n] = '\0';
    }
}

static sf_status pg_exec(sf_db *base, const char *sql, int nparams, const char *const *params,
                         sf_db_result *res, long *changes)
{
    pg_db *db = (pg_db *)base;
    /* A PREPARE that fails inside a transaction aborts it, but so would the statement itself. */
    const char *name = nparams > 0 ? prepared_name(db, sql, nparams) : NULL;
    PGresult *r = name != NULL ? PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0)
                               : PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
        note_error(base, PQresultErrorMessage(r));
        /* A restarted server or a cut network: this connection stays dead. */
        base->broken = PQstatus(db->conn) == CONNECTION_BAD;
        PQclear(r);
        return SF_DATABASE;
    }
    if (changes != NULL) {
        const char *n = PQcmdTuples(r);
        *changes = (n != NULL && n[0] != '\0') ? strtol(n, NULL, 10) : 0;
    }
    sf_status st = SF_OK;
    if (res != NULL && es == PGRES_TUPLES_OK) {
        res->rows = PQntuples(r);
        res->cols = PQnfields(r);
        if (res->rows > 0) {
            res->cells = calloc((size_t)res->rows * (size_t)res->cols, sizeof(char *));
            if (res->cells == NULL) {
                res->rows = 0;
                st = SF_INTERNAL;
            }
        }
        for (int i = 0; st == SF_OK && i < res->rows; i++) {
            for (int c = 0; c < res->cols; c++) {
                if (!PQgetisnull(r, i, c)) {
                    const char *v = PQgetvalue(r, i, c);
                    size_t n = strlen(v) + 1;
                    char *copy = malloc(n);
                    if (copy != NULL) {
                        memcpy(copy, v, n);
                    }
                    res->cells[i * res->cols + c] = copy;
                }
            }
        }
    }
    PQclear(r);
    return st;
}

static void pg_close(sf_db *base)
{
    pg_db *db = (pg_db *)base;
    for (int i = 0; i < db->cache_used; i++) {
        free(db->cache[i].sql);
    }
    PQfinish(db->conn);
    free(db);
}

static kiln_ledger_status pg_ledger_open(sf_db *base, const kiln_pki_signer *signer, unsigned every,
                                         const char *chain, kiln_ledger **out)
{
    PGconn *conn = ((pg_db *)base)->conn;
    return chain != NULL && *chain ? kiln_ledger_open_pg_chain(conn, signer, every, chain, out)
                                   : kiln_ledger_open_pg(conn, signer, every, out);
}

static kiln_ledger_status pg_ledger_verify(sf_db *base, const uint8_t point[KILN_PKI_POINT_SIZE],
                                           kiln_ledger_verdict *verdict)
{
    return kiln_ledger_verify_pg(((pg_db *)base)->conn, point, verdict);
}

static kiln_ledger_status pg_ledger_export(sf_db *base, FILE *out, kiln_ledger_format format)
{
    return kiln_ledger_export_pg(((pg_db *)base)->conn, out, format);
}

static const sf_db_ops pg_ops = {pg_exec,        pg_close,         "BEGIN",
                                 pg_ledger_open, pg_ledger_verify, pg_ledger_export};

sf_status sf_db_pg_open(const char *conninfo, sf_db **out)
{
    pg_db *db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return SF_INTERNAL;
    }
    db->base.ops = &pg_ops;
    db->base.postgres = 1;
    db->conn = PQconnectdb(conninfo);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        note_error(&db->base, PQerrorMessage(db->conn));
        fprintf(stderr, "factory_service: error %d: %s: %s\n", SF_DATABASE,
                sf_status_text(SF_DATABASE), db->base.last_error);
        pg_close(&db->base);
        return SF_DATABASE;
    }
    PGresult *r = PQexec(db->conn, "SET client_min_messages = warning");
    PQclear(r);
    if (kiln_ledger_pg_guard_session(db->conn) != 0) { /* a dead replica's row locks */
        note_error(&db->base, PQerrorMessage(db->conn));
        pg_close(&db->base);
        return SF_DATABASE;
    }
    *out = &db->base;
    return SF_OK;
}
