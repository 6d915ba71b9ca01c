/* The records on PostgreSQL: the SQLite file's schema (attempts, endpoint_claims PRIMARY KEY
 * endpoint, schema_version 3) on a libpq connection, for N stations on one database. Rows are
 * written on one connection (which the ledger joins, so an entry commits with its row); the
 * claims go over a second one, each claim one INSERT ... ON CONFLICT in its own transaction, so
 * a claim is never held back by a station's open batch transaction nor deadlocks with one. */
#include "line_records_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kiln_lazy.h"
#include "kiln_ledger_pg.h"
#include "line_text.h"

/* The SQLite file's timestamp text (2026-12-03T07:43:08.123Z). */
#define PG_NOW_FORMAT  "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
#define PG_NOW         "to_char(clock_timestamp() AT TIME ZONE 'UTC', " PG_NOW_FORMAT ")"
#define PG_SCHEMA_LOCK 0x6b696c6e726563LL /* "kilnrec": creating the tables */

struct lrpg {
    PGconn *conn, *claims;
    bool in_tx; /* conn has a transaction open (lrpg_exec BEGIN): a broken link loses it */
    char *url;
    char host[256];
};

static const char pg_schema[] =
    "CREATE TABLE IF NOT EXISTS attempts ("
    " id BIGSERIAL PRIMARY KEY, endpoint TEXT NOT NULL, serial TEXT NOT NULL, address TEXT,"
    " station TEXT, batch TEXT, host TEXT, pid BIGINT, cert_sha256 TEXT, cert_sha1 TEXT,"
    " bundle_sha256 TEXT, state TEXT NOT NULL, error_code INTEGER NOT NULL DEFAULT 0,"
    " error_text TEXT, device_status INTEGER, tries INTEGER NOT NULL DEFAULT 0,"
    " started_at TEXT NOT NULL, finished_at TEXT, issuer_ca TEXT);"
    /* version 1 -> 2: which CA issued each certificate (ca rotate) */
    "ALTER TABLE attempts ADD COLUMN IF NOT EXISTS issuer_ca TEXT;"
    "CREATE INDEX IF NOT EXISTS attempts_endpoint ON attempts(endpoint, state);"
    "CREATE INDEX IF NOT EXISTS attempts_state ON attempts(state);"
    /* The unique constraint of the line: one station per endpoint issues its certificate. */
    "CREATE TABLE IF NOT EXISTS endpoint_claims ("
    " endpoint TEXT PRIMARY KEY, station TEXT NOT NULL, host TEXT, pid BIGINT,"
    " claimed_at TEXT NOT NULL);"
    /* version 2 -> 3: where a claim's prepare-batch writes its bundles */
    "ALTER TABLE endpoint_claims ADD COLUMN IF NOT EXISTS bundles TEXT;"
    "ALTER TABLE endpoint_claims ADD COLUMN IF NOT EXISTS pid_ns TEXT;"
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "INSERT INTO schema_version(version) SELECT 3"
    " WHERE NOT EXISTS (SELECT 1 FROM schema_version);"
    "UPDATE schema_version SET version = 3 WHERE version < 3;";

bool lrpg_reconnect(PGconn *c, PGresult *failed)
{
    if ((failed != NULL && PQresultStatus(failed) != PGRES_FATAL_ERROR) ||
        PQstatus(c) != CONNECTION_BAD) {
        return false;
    }
    /* The link broke (a server restart, a failover) between transactions: the statement never
     * ran inside one, so it may be sent again on a new connection. Once, for up to ~10 s. */
    for (int i = 0; i < LRPG_RECONNECT_TRIES; i++) {
        PQreset(c);
        if (PQstatus(c) == CONNECTION_OK) {
            PQclear(PQexec(c, "SET client_min_messages TO warning"));
            return true;
        }
        usleep(LRPG_RECONNECT_WAIT_US);
    }
    return false;
}

static bool ok_result(PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    PQclear(res);
    return ok;
}

/* in_tx: the statement belongs to an open transaction. A link broken under one is never
 * reopened here: the statements before the break are lost with it, so this one and the rest
 * must fail until the transaction ends, not run on a new connection on their own. */
static PGresult *run(PGconn *c, bool in_tx, const char *sql, int n, const char *const *params)
{
    /* A connection found broken by an earlier statement (the ledger's) is reopened first. */
    if (!in_tx && PQstatus(c) == CONNECTION_BAD) {
        lrpg_reconnect(c, NULL);
    }
    bool idle = !in_tx && PQtransactionStatus(c) == PQTRANS_IDLE;
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (idle && lrpg_reconnect(c, res)) {
        PQclear(res);
        res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    }
    return res;
}

static bool tuples(PGresult *res)
{
    return PQresultStatus(res) == PGRES_TUPLES_OK;
}

/* True when the records schema is already at version 3. Its DDL is then skipped: ALTER TABLE
 * ... IF NOT EXISTS takes an ACCESS EXCLUSIVE lock even when the column exists, and queued
 * behind a running station's open rows transaction it blocks that station's claims connection,
 * which the rows transaction waits for: a deadlock across two connections that PostgreSQL
 * cannot see. */
static bool schema_current(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT to_regclass('schema_version') IS NOT NULL");
    bool has = tuples(r) && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!has) {
        return false;
    }
    r = PQexec(c, "SELECT COALESCE(max(version), 0) >= 3 FROM schema_version");
    bool current = tuples(r) && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return current;
}

/* A connection with the tables made (under an advisory lock: N stations start at once). */
static PGconn *connect_db(const char *url, bool schema, char *why, size_t why_size)
{
    PGconn *c = PQconnectdb(url);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password of the URL. */
        snprintf(why, why_size, "cannot connect to the PostgreSQL records database: %s",
                 c ? PQerrorMessage(c) : lazy_why(&lazy_libpq, "out of memory"));
        PQfinish(c);
        return NULL;
    }
    PQclear(PQexec(c, "SET client_min_messages TO warning"));
    if (kiln_ledger_pg_guard_session(c) != 0) {
        snprintf(why, why_size, "cannot set the PostgreSQL session's keepalives: %s",
                 PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    char lock[80];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%lld)", PG_SCHEMA_LOCK);
    if (schema && (!ok_result(PQexec(c, "BEGIN")) || !ok_result(PQexec(c, lock)) ||
                   (!schema_current(c) && !ok_result(PQexec(c, pg_schema))) ||
                   kiln_ledger_pg_schema(c) != KILN_LEDGER_OK || !ok_result(PQexec(c, "COMMIT")))) {
        snprintf(why, why_size, "cannot initialise the PostgreSQL records database: %s",
                 PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

lrpg *lrpg_open(const char *url, const char *host, char *why, size_t why_size)
{
    lrpg *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->url = strdup(url)) == NULL) {
        free(p);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    snprintf(p->host, sizeof(p->host), "%s", host);
    if ((p->conn = connect_db(url, true, why, why_size)) == NULL) {
        lrpg_close(p);
        return NULL;
    }
    return p;
}

void lrpg_close(lrpg *p)
{
    if (p == NULL) {
        return;
    }
    PQfinish(p->conn);
    PQfinish(p->claims);
    free(p->url);
    free(p);
}

PGconn *lrpg_conn(lrpg *p)
{
    return p->conn;
}

int lrpg_exec(lrpg *p, const char *sql)
{
    bool begin = strcmp(sql, "BEGIN") == 0;
    bool end = strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0;
    PGresult *res = run(p->conn, p->in_tx || end, sql, 0, NULL);
    /* COMMIT of a transaction a failed statement aborted answers "ROLLBACK", not an error. */
    bool rolled_back = strcmp(sql, "COMMIT") == 0 && PQresultStatus(res) == PGRES_COMMAND_OK &&
                       strcmp(PQcmdStatus(res), "COMMIT") != 0;
    int rc = ok_result(res) && !rolled_back ? 0 : -1;
    if (begin || end) {
        p->in_tx = begin && rc == 0;
    }
    return rc;
}

bool lrpg_in_transaction(const lrpg *p)
{
    return p->in_tx;
}

int lrpg_recover(lrpg *p)
{
    const char *params[] = {p->host};
    PGresult *sel =
        run(p->conn, p->in_tx, "SELECT id, pid FROM attempts WHERE state='started' AND host=$1", 1,
            params);
    if (!tuples(sel)) {
        PQclear(sel);
        return -1;
    }
    int changed = 0;
    for (int i = 0; i < PQntuples(sel); i++) {
        pid_t pid = (pid_t)strtol(PQgetvalue(sel, i, 1), NULL, 10);
        /* A live process (another station on this host) still owns its attempt. */
        if (pid > 0 && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)) {
            continue;
        }
        const char *id[] = {PQgetvalue(sel, i, 0)};
        PGresult *upd =
            run(p->conn, p->in_tx,
                "UPDATE attempts SET state='interrupted', error_code=1000,"
                " error_text='General error on factory tool: the process ended before the"
                " attempt finished; its certificate was never confirmed by the device',"
                " finished_at=" PG_NOW " WHERE id=$1 AND state='started'",
                1, id);
        if (PQresultStatus(upd) == PGRES_COMMAND_OK) {
            changed += atoi(PQcmdTuples(upd));
        }
        PQclear(upd);
    }
    PQclear(sel);
    return changed;
}

static const char *or_null(const char *s)
{
    return s != NULL && *s ? s : NULL;
}

int64_t lrpg_insert(lrpg *p, const line_attempt *a, const char *state, int error_code,
                    const char *error_text, int device_status, const char *issuer_ca)
{
    char pid[24], code[16], dev[16];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    snprintf(code, sizeof(code), "%d", error_code);
    snprintf(dev, sizeof(dev), "%d", device_status);
    const char *params[] = {a->endpoint,
                            a->serial ? a->serial : "",
                            or_null(a->address),
                            or_null(a->station),
                            or_null(a->batch),
                            p->host,
                            pid,
                            or_null(a->cert_sha256),
                            or_null(a->cert_sha1),
                            or_null(a->bundle_sha256),
                            state ? state : LINE_STATE_STARTED,
                            code,
                            or_null(error_text),
                            device_status >= 0 ? dev : NULL,
                            state ? "1" : NULL,
                            or_null(issuer_ca)};
    PGresult *res = run(p->conn, p->in_tx,
                        "INSERT INTO attempts(endpoint, serial, address, station, batch, host, pid,"
                        " cert_sha256, cert_sha1, bundle_sha256, state, error_code, error_text,"
                        " device_status, tries, started_at, finished_at, issuer_ca)"
                        " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,0," PG_NOW ","
                        " CASE WHEN $15::int IS NULL THEN NULL ELSE " PG_NOW " END, $16)"
                        " RETURNING id",
                        16, params);
    int64_t id = tuples(res) && PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return id;
}

static int row_of(PGresult *res, lrpg_row *row)
{
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? 0 : -1;
    if (rc == 0) {
        snprintf(row->endpoint, sizeof(row->endpoint), "%s", PQgetvalue(res, 0, 0));
        snprintf(row->serial, sizeof(row->serial), "%s", PQgetvalue(res, 0, 1));
        snprintf(row->station, sizeof(row->station), "%s", PQgetvalue(res, 0, 2));
        snprintf(row->cert_sha256, sizeof(row->cert_sha256), "%s", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return rc;
}

int lrpg_set_identity(lrpg *p, int64_t id, const char *cert_sha256, const char *cert_sha1,
                      const char *bundle_sha256, lrpg_row *row)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *params[] = {or_null(cert_sha256), or_null(cert_sha1), or_null(bundle_sha256), ids};
    return row_of(run(p->conn, p->in_tx,
                      "UPDATE attempts SET cert_sha256=$1, cert_sha1=$2, bundle_sha256=$3"
                      " WHERE id=$4 RETURNING endpoint, serial, COALESCE(station, ''),"
                      " COALESCE(cert_sha256, '')",
                      4, params),
                  row);
}

int lrpg_finish(lrpg *p, int64_t id, const char *state, int error_code, const char *error_text,
                int device_status, int tries, lrpg_row *row)
{
    char ids[24], code[16], dev[16], n[16];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    snprintf(code, sizeof(code), "%d", error_code);
    snprintf(dev, sizeof(dev), "%d", device_status);
    snprintf(n, sizeof(n), "%d", tries);
    const char *params[] = {state, code, or_null(error_text), device_status >= 0 ? dev : NULL,
                            n,     ids};
    return row_of(run(p->conn, p->in_tx,
                      "UPDATE attempts SET state=$1, error_code=$2, error_text=$3,"
                      " device_status=$4, tries=$5, finished_at=" PG_NOW " WHERE id=$6"
                      " RETURNING endpoint, serial, COALESCE(station, ''),"
                      " COALESCE(cert_sha256, '')",
                      6, params),
                  row);
}

static PGconn *claims_conn(lrpg *p)
{
    char why[300];
    if (p->claims == NULL) {
        p->claims = connect_db(p->url, false, why, sizeof(why));
    }
    return p->claims;
}

PGconn *lrpg_claims_conn(lrpg *p)
{
    return claims_conn(p);
}

/* One statement, its own transaction: inserted when the endpoint has no claim, taken over when
 * this station holds it (the resume rule), else the holder is read and reported. */
int lrpg_claim(lrpg *p, const char *endpoint, const char *station, const char *bundles,
               const char *pid_ns, char *holder, size_t holder_size)
{
    PGconn *c = claims_conn(p);
    if (c == NULL) {
        return -1;
    }
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    const char *params[] = {endpoint, station, p->host, pid, bundles, pid_ns};
    /* A claim released between the two statements is tried again. */
    for (int round = 0; round < 3; round++) {
        PGresult *res =
            run(c, false,
                "INSERT INTO endpoint_claims(endpoint, station, host, pid, claimed_at, bundles,"
                " pid_ns) VALUES($1, $2, $3, $4, " PG_NOW ", $5, $6) ON CONFLICT (endpoint) DO"
                " UPDATE SET host=excluded.host, pid=excluded.pid, claimed_at=excluded.claimed_at,"
                " bundles=excluded.bundles, pid_ns=excluded.pid_ns"
                " WHERE endpoint_claims.station=excluded.station RETURNING station",
                6, params);
        int got = tuples(res) ? PQntuples(res) : -1;
        PQclear(res);
        if (got != 0) {
            snprintf(holder, holder_size, "%s", got > 0 ? station : "");
            return got > 0 ? 0 : -1;
        }
        res = run(c, false, "SELECT station FROM endpoint_claims WHERE endpoint=$1", 1, params);
        got = tuples(res) ? PQntuples(res) : -1;
        if (got > 0) {
            snprintf(holder, holder_size, "%s", PQgetvalue(res, 0, 0));
        }
        PQclear(res);
        if (got != 0) {
            return got > 0 ? 1 : -1;
        }
    }
    return -1;
}

int lrpg_release(lrpg *p, const char *endpoint, const char *station)
{
    PGconn *c = claims_conn(p);
    const char *params[] = {endpoint, station};
    return c != NULL &&
                   ok_result(run(c, false,
                                 "DELETE FROM endpoint_claims WHERE endpoint=$1 AND station=$2", 2,
                                 params))
               ? 0
               : -1;
}

bool lrpg_provisioned(lrpg *p, const char *endpoint)
{
    const char *params[] = {endpoint};
    PGresult *res =
        run(p->conn, p->in_tx,
            "SELECT 1 FROM attempts WHERE endpoint=$1 AND state='success' LIMIT 1", 1, params);
    bool found = tuples(res) && PQntuples(res) > 0;
    PQclear(res);
    return found;
}

bool lrpg_latest_identity(lrpg *p, const char *endpoint, const char *state, char cert_sha256[65],
                          char cert_sha1[41], char bundle_sha256[65])
{
    const char *params[] = {endpoint, state};
    PGresult *res = run(p->conn, p->in_tx,
                        "SELECT COALESCE(cert_sha256, ''), COALESCE(cert_sha1, ''),"
                        " COALESCE(bundle_sha256, '') FROM attempts WHERE endpoint=$1"
                        " AND state=$2 ORDER BY id DESC LIMIT 1",
                        2, params);
    bool found = tuples(res) && PQntuples(res) > 0;
    if (found) {
        snprintf(cert_sha256, 65, "%s", PQgetvalue(res, 0, 0));
        snprintf(cert_sha1, 41, "%s", PQgetvalue(res, 0, 1));
        snprintf(bundle_sha256, 65, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return found;
}

static const char *value(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static void print_csv(FILE *out, PGresult *res)
{
    int cols = PQnfields(res);
    for (int c = 0; c < cols; c++) {
        fputs(c ? "," : "", out);
        line_records_csv_field(out, PQfname(res, c));
    }
    fputc('\n', out);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int c = 0; c < cols; c++) {
            fputs(c ? "," : "", out);
            line_records_csv_field(out, value(res, i, c));
        }
        fputc('\n', out);
    }
}

#define PG_INT8_OID 20
#define PG_INT4_OID 23

static void print_json(FILE *out, PGresult *res)
{
    json_t *array = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *obj = json_object();
        for (int c = 0; c < PQnfields(res); c++) {
            const char *v = value(res, i, c);
            Oid type = PQftype(res, c);
            json_t *j = v == NULL ? json_null()
                        : type == PG_INT8_OID || type == PG_INT4_OID
                            ? json_integer(strtoll(v, NULL, 10))
                            : line_json_text(v);
            json_object_set_new(obj, PQfname(res, c), j);
        }
        json_array_append_new(array, obj);
    }
    json_dumpf(array, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(array);
}

static void print_table(FILE *out, PGresult *res)
{
    line_records_table_header(out);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *fin = value(res, i, 17), *fp = value(res, i, 8);
        char endpoint[4 * 200 + 8];
        line_text_escape(PQgetvalue(res, i, 1), endpoint, sizeof(endpoint));
        fprintf(out, "%-6s %-28s %-12s %-5s %-24s %s\n", PQgetvalue(res, i, 0), endpoint,
                PQgetvalue(res, i, 11), PQgetvalue(res, i, 12), fin ? fin : "-", fp ? fp : "-");
    }
}

int lrpg_print(lrpg *p, FILE *out, line_records_format format, const char *endpoint,
               const char *state)
{
    const char *params[] = {or_null(endpoint), or_null(state)};
    PGresult *res =
        run(p->conn, p->in_tx,
            "SELECT id, endpoint, serial, address, station, batch, host, pid, cert_sha256,"
            " cert_sha1, bundle_sha256, state, error_code, error_text, device_status,"
            " tries, started_at, finished_at FROM attempts"
            " WHERE ($1::text IS NULL OR endpoint=$1) AND ($2::text IS NULL OR state=$2)"
            " ORDER BY id",
            2, params);
    if (!tuples(res)) {
        PQclear(res);
        return -1;
    }
    int rows = PQntuples(res);
    if (format == LINE_RECORDS_CSV) {
        print_csv(out, res);
    } else if (format == LINE_RECORDS_JSON) {
        print_json(out, res);
    } else {
        print_table(out, res);
    }
    PQclear(res);
    return rows;
}
