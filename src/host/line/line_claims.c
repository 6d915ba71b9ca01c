/* The claims of a station that is gone (line_claims.h): one SQL text per question, written
 * with ?N parameters (SQLite) and sent to PostgreSQL with $N. */
#include "line_claims.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "line_errors.h"
#include "line_records_pg.h"

#define CLAIM_MAX_COLS 6
#define CLAIM_SQL_MAX  1024

/* A row of a query, as text (NULL for SQL NULL). */
typedef void (*row_fn)(void *user, const char *const *cols);

/* The SQLite text with ?N made $N for PostgreSQL. */
static void pg_text(const char *sql, char out[CLAIM_SQL_MAX])
{
    size_t i = 0;
    for (; sql[i] != '\0' && i + 1 < CLAIM_SQL_MAX; i++) {
        out[i] = sql[i] == '?' ? '$' : sql[i];
    }
    out[i] = '\0';
}

static int query_sqlite(sqlite3 *db, const char *sql, int n, const char *const *params,
                        row_fn on_row, void *user)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
    }
    int rows = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cols[CLAIM_MAX_COLS] = {NULL};
        for (int c = 0; c < sqlite3_column_count(st) && c < CLAIM_MAX_COLS; c++) {
            cols[c] = (const char *)sqlite3_column_text(st, c);
        }
        if (on_row != NULL) {
            on_row(user, cols);
        }
        rows++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return -1;
    }
    return on_row != NULL ? rows : sqlite3_changes(db);
}

static int query_pg(PGconn *c, const char *sql, int n, const char *const *params, row_fn on_row,
                    void *user)
{
    char text[CLAIM_SQL_MAX];
    pg_text(sql, text);
    if (PQstatus(c) == CONNECTION_BAD) {
        lrpg_reconnect(c, NULL);
    }
    bool idle = PQtransactionStatus(c) == PQTRANS_IDLE;
    PGresult *res = PQexecParams(c, text, n, NULL, params, NULL, NULL, 0);
    if (idle && lrpg_reconnect(c, res)) {
        PQclear(res);
        res = PQexecParams(c, text, n, NULL, params, NULL, NULL, 0);
    }
    ExecStatusType s = PQresultStatus(res);
    int rows = -1;
    if (s == PGRES_TUPLES_OK) {
        rows = PQntuples(res);
        for (int i = 0; on_row != NULL && i < rows; i++) {
            const char *cols[CLAIM_MAX_COLS] = {NULL};
            for (int col = 0; col < PQnfields(res) && col < CLAIM_MAX_COLS; col++) {
                cols[col] = PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col);
            }
            on_row(user, cols);
        }
    } else if (s == PGRES_COMMAND_OK) {
        rows = atoi(PQcmdTuples(res));
    }
    PQclear(res);
    return rows;
}

/* Runs sql: the rows it returned (each given to on_row), or the rows it changed (on_row NULL). */
static int query(line_records *r, const char *sql, int n, const char *const *params, row_fn on_row,
                 void *user)
{
    sqlite3 *db = line_records_sqlite(r);
    if (db != NULL) {
        return query_sqlite(db, sql, n, params, on_row, user);
    }
    PGconn *c = line_records_claims_pg(r);
    return c != NULL ? query_pg(c, sql, n, params, on_row, user) : -1;
}

static void first_two_ints(void *user, const char *const *cols)
{
    long *out = user;
    out[0] = cols[0] ? strtol(cols[0], NULL, 10) : 0;
    out[1] = cols[1] ? strtol(cols[1], NULL, 10) : 0;
}

/* The rule: 0 when no certificate of endpoint went out, else the error that keeps the claim
 * (LINE_E_CLAIM_ISSUED, LINE_E_CLAIM_IN_DEVICE), -1 on a database error. */
static int claim_verdict(line_records *r, const char *endpoint)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM attempts WHERE endpoint=?1"
        " AND (state IN ('success', 'prepared', 'written', 'skipped')"
        " OR (state='failed' AND device_status=0 AND COALESCE(cert_sha256, '')<>''))),"
        " (SELECT count(*) FROM attempts WHERE endpoint=?1"
        " AND state IN ('started', 'interrupted') AND COALESCE(cert_sha256, '')<>'')";
    const char *params[] = {endpoint};
    long counts[2] = {0, 0};
    if (query(r, sql, 1, params, first_two_ints, counts) != 1) {
        return -1;
    }
    return counts[0] > 0 ? LINE_E_CLAIM_ISSUED : counts[1] > 0 ? LINE_E_CLAIM_IN_DEVICE : 0;
}

/* True when pid (of this host) is a live process other than this one... or this one. */
static bool pid_alive(const char *pid_text)
{
    long pid = pid_text ? strtol(pid_text, NULL, 10) : 0;
    if (pid <= 0) {
        return false;
    }
    return pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static void now_text(char out[32])
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

typedef struct claim_row {
    char endpoint[256], host[256], pid[24], claimed_at[32];
    char bundles[1024]; /* prepare-batch's --out, "" for other commands */
    char pid_ns[64];    /* the holder's PID namespace, "" for claims older than schema 3 */
} claim_row;

typedef struct claim_rows {
    claim_row *items;
    size_t n, cap;
    bool oom;
} claim_rows;

static void copy_text(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s ? s : "");
}

static void collect_claim(void *user, const char *const *cols)
{
    claim_rows *rows = user;
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? 2 * rows->cap : 16;
        claim_row *grown = realloc(rows->items, cap * sizeof(*grown));
        if (grown == NULL) {
            rows->oom = true;
            return;
        }
        rows->items = grown;
        rows->cap = cap;
    }
    claim_row *c = &rows->items[rows->n++];
    copy_text(c->endpoint, sizeof(c->endpoint), cols[0]);
    copy_text(c->host, sizeof(c->host), cols[1]);
    copy_text(c->pid, sizeof(c->pid), cols[2]);
    copy_text(c->claimed_at, sizeof(c->claimed_at), cols[3]);
    copy_text(c->bundles, sizeof(c->bundles), cols[4]);
    copy_text(c->pid_ns, sizeof(c->pid_ns), cols[5]);
}

/* True when the claim's pid and --out mean here what they meant to its holder: same host name
 * and, when recorded, the same PID namespace (containers sharing a host name do not). */
static bool same_place(line_records *r, const claim_row *c)
{
    return strcmp(c->host, line_records_host(r)) == 0 &&
           (c->pid_ns[0] == '\0' || strcmp(c->pid_ns, line_records_pid_ns(r)) == 0);
}

/* A prepare-batch writes a bundle file before its row commits (in groups), so a stopped one may
 * have left a bundle of an endpoint whose claim looks unissued: LINE_E_CLAIM_BUNDLE_LEFT (the
 * place in where) when that file (DIR/EP.cbor), or the archive, is there or cannot be checked
 * from here; 0 when it is not. */
static int bundle_verdict(line_records *r, const claim_row *c, char *where, size_t where_size)
{
    if (c->bundles[0] == '\0') {
        return 0;
    }
    bool here = same_place(r, c);
    snprintf(where, where_size, "%s%s%s", here ? "" : c->host, here ? "" : ":", c->bundles);
    if (!here) {
        return LINE_E_CLAIM_BUNDLE_LEFT;
    }
    size_t n = strlen(c->bundles);
    bool archive = n > 4 && strcmp(c->bundles + n - 4, ".tar") == 0;
    char path[1400];
    snprintf(path, sizeof(path), "%s%s%s%s", c->bundles, archive ? "" : "/",
             archive ? "" : c->endpoint, archive ? "" : ".cbor");
    struct stat st;
    return stat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR) ? 0
                                                                         : LINE_E_CLAIM_BUNDLE_LEFT;
}

/* The claims of station (endpoint's alone when not NULL). */
static int station_claims(line_records *r, const char *station, const char *endpoint,
                          claim_rows *rows)
{
    static const char sql[] =
        "SELECT endpoint, COALESCE(host, ''), COALESCE(CAST(pid AS TEXT), ''), claimed_at,"
        " COALESCE(bundles, ''), COALESCE(pid_ns, '')"
        " FROM endpoint_claims WHERE station=?1 AND (CAST(?2 AS TEXT) IS NULL OR endpoint=?2)"
        " ORDER BY endpoint";
    const char *params[] = {station, endpoint};
    int n = query(r, sql, 2, params, collect_claim, rows);
    return n < 0 || rows->oom ? -1 : n;
}

/* The claim exactly as it was read (a station resuming it since changed claimed_at). */
static int delete_claim(line_records *r, const char *station, const claim_row *c)
{
    static const char sql[] =
        "DELETE FROM endpoint_claims WHERE endpoint=?1 AND station=?2 AND claimed_at=?3";
    const char *params[] = {c->endpoint, station, c->claimed_at};
    return query(r, sql, 3, params, NULL, NULL);
}

/* What happens to one claim of station: released (0), kept (its error), or -1. */
static int release_one(line_records *r, const char *station, const claim_row *c, char *msg,
                       size_t msg_size)
{
    msg[0] = '\0';
    if (same_place(r, c) && pid_alive(c->pid)) {
        line_error_format(msg, msg_size, LINE_E_CLAIM_HOLDER_ALIVE, station, c->pid);
        return LINE_E_CLAIM_HOLDER_ALIVE;
    }
    int code = claim_verdict(r, c->endpoint);
    if (code > 0) {
        line_error_format(msg, msg_size, code, c->endpoint, station);
        return code;
    }
    char where[1400];
    if (code == 0 && (code = bundle_verdict(r, c, where, sizeof(where))) > 0) {
        line_error_format3(msg, msg_size, code, c->endpoint, station, where);
        return code;
    }
    if (code < 0 || delete_claim(r, station, c) < 0) {
        return -1;
    }
    snprintf(msg, msg_size, "released");
    return 0;
}

int line_claims_release(line_records *r, const char *station, const char *endpoint,
                        line_claim_report_fn report, void *user)
{
    claim_rows rows = {0};
    int n = station_claims(r, station, endpoint, &rows);
    if (n == 0 && endpoint != NULL) {
        free(rows.items);
        return -LINE_E_CLAIM_NOT_HELD;
    }
    int released = n < 0 ? -1 : 0;
    for (size_t i = 0; released >= 0 && i < rows.n; i++) {
        const claim_row *c = &rows.items[i];
        char msg[700];
        int code = release_one(r, station, c, msg, sizeof(msg));
        if (code < 0) {
            released = -1;
            break;
        }
        released += code == 0;
        line_claim_report rep = {c->endpoint, station, c->host, c->pid, c->claimed_at, code, msg};
        if (report != NULL) {
            report(user, &rep);
        }
    }
    free(rows.items);
    return released;
}

int line_claims_take_over(line_records *r, const char *endpoint, const char *station,
                          const char *holder)
{
    static const char sql[] =
        "SELECT endpoint, COALESCE(host, ''), COALESCE(CAST(pid AS TEXT), ''), claimed_at,"
        " COALESCE(bundles, ''), COALESCE(pid_ns, '') FROM endpoint_claims"
        " WHERE endpoint=?1 AND station=?2";
    const char *params[] = {endpoint, holder};
    claim_rows rows = {0};
    int n = query(r, sql, 2, params, collect_claim, &rows);
    int rc = n < 0 || rows.oom ? -1 : 1;
    const claim_row *c = rows.items;
    if (n == 1 && !rows.oom && same_place(r, c) && c->pid[0] && !pid_alive(c->pid)) {
        char where[1400];
        int code = claim_verdict(r, endpoint);
        code = code == 0 ? bundle_verdict(r, c, where, sizeof(where)) : code;
        if (code < 0) {
            rc = -1;
        } else if (code == 0) {
            /* The claim as read: nobody resumed it meanwhile (same host, pid, time). */
            static const char take[] =
                "UPDATE endpoint_claims SET station=?1, pid=?2, claimed_at=?3, bundles=?8,"
                " pid_ns=?9 WHERE endpoint=?4 AND station=?5 AND claimed_at=?6 AND host=?7";
            char pid[24], now[32];
            snprintf(pid, sizeof(pid), "%ld", (long)getpid());
            now_text(now);
            const char *p[] = {station,
                               pid,
                               now,
                               endpoint,
                               holder,
                               c->claimed_at,
                               c->host,
                               line_records_bundles(r),
                               line_records_pid_ns(r)};
            int changed = query(r, take, 9, p, NULL, NULL);
            rc = changed < 0 ? -1 : changed == 1 ? 0 : 1;
        }
    }
    free(rows.items);
    return rc;
}
