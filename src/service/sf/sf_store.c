/* Secure factory service persistent state (see sf_store.h). */
#include "sf_store.h"

#include "sf_ledger.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static const char *const schema[] = {
    "CREATE TABLE IF NOT EXISTS stations (name TEXT PRIMARY KEY, fingerprint TEXT UNIQUE NOT "
    "NULL, batch TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, created BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS quotas (batch TEXT PRIMARY KEY, lim BIGINT NOT NULL, used BIGINT "
    "NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, attempt BIGINT NOT NULL, version "
    "BIGINT NOT NULL, state TEXT NOT NULL, station TEXT NOT NULL, batch TEXT NOT NULL, msg1 TEXT, "
    "th TEXT, msg2_in TEXT, msg2_out TEXT, confirm TEXT, device_key TEXT, cert TEXT, fingerprint "
    "TEXT, msg3_in TEXT, error_code BIGINT, error_reason TEXT, created BIGINT NOT NULL, updated "
    "BIGINT NOT NULL, expires BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (sid TEXT NOT NULL, attempt BIGINT NOT NULL, station TEXT, "
    "device_key TEXT, fingerprint TEXT, result TEXT NOT NULL, error_code BIGINT, error_reason "
    "TEXT, started BIGINT NOT NULL, finished BIGINT NOT NULL, PRIMARY KEY (sid, attempt))",
    /* Requests refused because the session was another station's or did not exist. */
    "CREATE TABLE IF NOT EXISTS refusals (at BIGINT NOT NULL, station TEXT NOT NULL, batch TEXT "
    "NOT NULL, sid TEXT NOT NULL, request TEXT NOT NULL, error_code BIGINT NOT NULL, reason TEXT "
    "NOT NULL)",
};

#define SESSION_COLUMNS                                                                            \
    "sid, attempt, version, state, station, batch, msg1, th, msg2_in, msg2_hash, confirm, "        \
    "device_key, cert, fingerprint, msg3_in, error_code, error_reason, created, updated, expires"
#define SESSION_NCOLS 20

void sf_session_free(sf_session *s)
{
    if (s == NULL) {
        return;
    }
    char **fields[] = {&s->sid,  &s->state,       &s->station,  &s->batch,        &s->msg1,
                       &s->th,   &s->msg2_in,     &s->msg2_out, &s->confirm,      &s->device_key,
                       &s->cert, &s->fingerprint, &s->msg3_in,  &s->error_reason, &s->msg2_hash};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        free(*fields[i]);
    }
    memset(s, 0, sizeof(*s));
}

int sf_session_set(char **field, const char *value)
{
    free(*field);
    *field = NULL;
    if (value == NULL) {
        return 0;
    }
    size_t n = strlen(value) + 1;
    *field = malloc(n);
    if (*field == NULL) {
        return -1;
    }
    memcpy(*field, value, n);
    return 0;
}

/* Schema 2 moves CONFIG_REQUEST (3-4 KB of hex, written once) out of the sessions row into
 * session_messages: with it the row overflowed its page, so each of a session's later updates
 * rewrote (and each read re-read) an overflow page. The row keeps its SHA-256, which is all the
 * final step needs. The tables above are schema 1; these steps take any database from the
 * version it records (none: 1) to SCHEMA_VERSION, in the one migration transaction. */
#define SCHEMA_VERSION 2

static const char *const schema_1_to_2[] = {
    "CREATE TABLE session_messages (sid TEXT PRIMARY KEY, attempt BIGINT NOT NULL, msg2_out "
    "TEXT NOT NULL)",
    "INSERT INTO session_messages (sid, attempt, msg2_out) SELECT sid, attempt, msg2_out FROM "
    "sessions WHERE msg2_out IS NOT NULL",
    /* NULL in the rows copied above: their final step hashes the message from session_messages */
    "ALTER TABLE sessions ADD COLUMN msg2_hash TEXT",
    "ALTER TABLE sessions DROP COLUMN msg2_out",
};

static sf_status schema_version(sf_db *db, long *version)
{
    sf_status st =
        sf_db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", 0,
                   NULL, NULL, NULL);
    sf_db_result res;
    if (st == SF_OK) {
        st = sf_db_exec(db, "SELECT MAX(version) FROM schema_version", 0, NULL, &res, NULL);
    }
    if (st == SF_OK) {
        const char *v = sf_db_cell(&res, 0, 0);
        *version = v != NULL ? strtol(v, NULL, 10) : 1;
        sf_db_result_free(&res);
    }
    return st;
}

sf_status sf_store_migrate(sf_db *db)
{
    sf_status st = sf_db_begin(db);
    if (st != SF_OK) {
        return st;
    }
    if (sf_db_is_postgres(db)) {
        /* Several instances may start together on one database. */
        st = sf_db_exec(db, "SELECT pg_advisory_xact_lock(5318008)", 0, NULL, NULL, NULL);
    }
    for (size_t i = 0; st == SF_OK && i < sizeof(schema) / sizeof(schema[0]); i++) {
        st = sf_db_exec(db, schema[i], 0, NULL, NULL, NULL);
    }
    long version = 0;
    if (st == SF_OK) {
        st = schema_version(db, &version);
    }
    if (st == SF_OK && version > SCHEMA_VERSION) {
        st = SF_CONFIG; /* a newer service's database: its columns are not ours to guess */
    }
    for (size_t i = 0;
         st == SF_OK && version < 2 && i < sizeof(schema_1_to_2) / sizeof(schema_1_to_2[0]); i++) {
        st = sf_db_exec(db, schema_1_to_2[i], 0, NULL, NULL, NULL);
    }
    if (st == SF_OK && version < SCHEMA_VERSION) {
        st = sf_db_exec(db, "DELETE FROM schema_version", 0, NULL, NULL, NULL);
        if (st == SF_OK) {
            st = sf_db_exec(db, "INSERT INTO schema_version (version) VALUES (2)", 0, NULL, NULL,
                            NULL);
        }
    }
    if (st != SF_OK) {
        sf_db_rollback(db);
        return st;
    }
    return sf_db_commit(db);
}

static void num(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
}

static long long to_ll(const char *s)
{
    return s != NULL ? strtoll(s, NULL, 10) : 0;
}

static char *take(sf_db_result *res, int col)
{
    char *v = res->cells[col];
    res->cells[col] = NULL;
    return v;
}

sf_status sf_store_session_get(sf_db *db, const char *sid, sf_session *out)
{
    memset(out, 0, sizeof(*out));
    sf_db_result res;
    const char *params[] = {sid};
    sf_status st = sf_db_exec(db, "SELECT " SESSION_COLUMNS " FROM sessions WHERE sid = $1", 1,
                              params, &res, NULL);
    if (st != SF_OK) {
        return st;
    }
    if (res.rows == 0) {
        sf_db_result_free(&res);
        return SF_NOT_FOUND;
    }
    out->sid = take(&res, 0);
    out->attempt = (long)to_ll(res.cells[1]);
    out->version = (long)to_ll(res.cells[2]);
    out->state = take(&res, 3);
    out->station = take(&res, 4);
    out->batch = take(&res, 5);
    out->msg1 = take(&res, 6);
    out->th = take(&res, 7);
    out->msg2_in = take(&res, 8);
    out->msg2_hash = take(&res, 9);
    out->confirm = take(&res, 10);
    out->device_key = take(&res, 11);
    out->cert = take(&res, 12);
    out->fingerprint = take(&res, 13);
    out->msg3_in = take(&res, 14);
    out->error_code = (long)to_ll(res.cells[15]);
    out->error_reason = take(&res, 16);
    out->created = to_ll(res.cells[17]);
    out->updated = to_ll(res.cells[18]);
    out->expires = to_ll(res.cells[19]);
    sf_db_result_free(&res);
    return SF_OK;
}

sf_status sf_store_session_message(sf_db *db, const char *sid, long attempt, char **msg2_out)
{
    *msg2_out = NULL;
    char attempt_text[24];
    num(attempt_text, attempt);
    const char *params[] = {sid, attempt_text};
    sf_db_result res;
    sf_status st =
        sf_db_exec(db, "SELECT msg2_out FROM session_messages WHERE sid = $1 AND attempt = $2", 2,
                   params, &res, NULL);
    if (st != SF_OK) {
        return st;
    }
    if (res.rows == 0 || res.cells[0] == NULL) {
        st = SF_NOT_FOUND;
    } else {
        *msg2_out = take(&res, 0);
    }
    sf_db_result_free(&res);
    return st;
}

/* The session's CONFIG_REQUEST, when it carries one (the configuration step), in the same
 * transaction as the row; the row of an earlier attempt is replaced. */
static sf_status write_message(sf_db *db, const sf_session *s)
{
    char attempt[24];
    num(attempt, s->attempt);
    const char *params[] = {s->sid, attempt, s->msg2_out};
    return sf_db_exec(db,
                      "INSERT INTO session_messages (sid, attempt, msg2_out) VALUES ($1, $2, $3) "
                      "ON CONFLICT (sid) DO UPDATE SET attempt = excluded.attempt, msg2_out = "
                      "excluded.msg2_out",
                      3, params, NULL, NULL);
}

/* The 20 session values in SESSION_COLUMNS order; numbers go into the nums buffers. */
static void session_params(const sf_session *s, const char *params[SESSION_NCOLS], char nums[6][24],
                           long version)
{
    num(nums[0], s->attempt);
    num(nums[1], version);
    num(nums[2], s->error_code);
    num(nums[3], s->created);
    num(nums[4], s->updated);
    num(nums[5], s->expires);
    const char *p[SESSION_NCOLS] = {s->sid,          nums[0],        nums[1],    s->state,
                                    s->station,      s->batch,       s->msg1,    s->th,
                                    s->msg2_in,      s->msg2_hash,   s->confirm, s->device_key,
                                    s->cert,         s->fingerprint, s->msg3_in, nums[2],
                                    s->error_reason, nums[3],        nums[4],    nums[5]};
    memcpy(params, p, sizeof(p));
}

sf_status sf_store_session_insert(sf_db *db, const sf_session *s)
{
    const char *params[SESSION_NCOLS];
    char nums[6][24];
    session_params(s, params, nums, 1);
    long changes = 0;
    sf_status st = sf_db_exec(db,
                              "INSERT INTO sessions (" SESSION_COLUMNS
                              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                              "$14, $15, $16, $17, $18, $19, $20) ON CONFLICT (sid) DO NOTHING",
                              SESSION_NCOLS, params, NULL, &changes);
    if (st != SF_OK) {
        return st;
    }
    return changes == 1 ? SF_OK : SF_SESSION_CONFLICT;
}

static sf_status write_audit(sf_db *db, const sf_session *s, const char *result)
{
    char attempt[24], code[24], started[24], finished[24];
    num(attempt, s->attempt);
    num(code, s->error_code);
    num(started, s->created);
    num(finished, s->updated);
    const char *params[] = {s->sid,
                            attempt,
                            s->station,
                            s->device_key,
                            s->fingerprint,
                            result,
                            s->error_code != 0 ? code : NULL,
                            s->error_reason,
                            started,
                            finished};
    return sf_db_exec(db,
                      "INSERT INTO audit (sid, attempt, station, device_key, fingerprint, result, "
                      "error_code, error_reason, started, finished) VALUES ($1, $2, $3, $4, $5, "
                      "$6, $7, $8, $9, $10) ON CONFLICT (sid, attempt) DO NOTHING",
                      10, params, NULL, NULL);
}

#define SESSION_UPDATE_SET                                                                         \
    "UPDATE sessions SET attempt = $2, version = $3, state = $4, station = $5, batch = $6, msg1 "  \
    "= "                                                                                           \
    "$7, th = $8, msg2_in = $9, msg2_hash = $10, confirm = $11, device_key = $12, cert = $13, "    \
    "fingerprint = $14, msg3_in = $15, error_code = $16, error_reason = $17, created = $18, "      \
    "updated = $19, expires = $20 WHERE sid = $1 AND version = $21"

/* Runs sql with $1..$20 the session's values (version = expected + 1), $21 the expected version,
 * $22 extra and $23 the CONFIG_REQUEST. */
static sf_status exec_with_session(sf_db *db, const sf_session *s, long expected_version,
                                   const char *extra, const char *sql, sf_db_result *res)
{
    const char *params[SESSION_NCOLS + 3];
    char nums[6][24], expected[24];
    session_params(s, params, nums, expected_version + 1);
    num(expected, expected_version);
    params[SESSION_NCOLS] = expected;
    params[SESSION_NCOLS + 1] = extra;
    params[SESSION_NCOLS + 2] = s->msg2_out;
    /* PostgreSQL takes exactly the parameters a statement names: $23 only where it is used */
    int nparams = strstr(sql, "$23") != NULL ? SESSION_NCOLS + 3 : SESSION_NCOLS + 2;
    return sf_db_exec(db, sql, nparams, params, res, NULL);
}

/* PostgreSQL: the compare-and-set and the audit record in one statement, atomic without a
 * transaction around it (one round trip instead of four). The audit row is written only if the
 * update happened (FROM s). SQLite has no data-modifying WITH, so it takes the transaction. */
static sf_status update_with_audit_pg(sf_db *db, const sf_session *s, long expected_version,
                                      const char *audit_result)
{
    sf_db_result res;
    sf_status st = exec_with_session(
        db, s, expected_version, audit_result,
        "WITH s AS (" SESSION_UPDATE_SET " RETURNING sid), a AS (INSERT INTO audit (sid, attempt, "
        "station, device_key, fingerprint, result, error_code, error_reason, started, finished) "
        "SELECT $1, $2, $5, $12, $14, $22, NULLIF($16, 0), $17, $18, $19 FROM s ON CONFLICT (sid, "
        "attempt) DO NOTHING RETURNING 1) SELECT COUNT(*) FROM s",
        &res);
    if (st == SF_OK) {
        st = to_ll(sf_db_cell(&res, 0, 0)) == 1 ? SF_OK : SF_SESSION_CONFLICT;
    }
    sf_db_result_free(&res);
    return st;
}

/* PostgreSQL: quota unit, compare-and-set and the CONFIG_REQUEST (m) in one statement. l locks the
 * session row at the expected version first, so a concurrent writer makes l empty and nothing is
 * consumed; the quota unit is taken only if the row is ours, and the session moves only if the unit
 * was taken (or the batch has no quota). */
static sf_status update_with_quota_pg(sf_db *db, const sf_session *s, long expected_version,
                                      const char *quota_batch)
{
    sf_db_result res;
    sf_status st = exec_with_session(
        db, s, expected_version, quota_batch,
        "WITH l AS (SELECT 1 FROM sessions WHERE sid = $1 AND version = $21 FOR UPDATE), q AS "
        "(UPDATE quotas SET used = used + 1 WHERE batch = $22 AND used < lim AND EXISTS (SELECT 1 "
        "FROM l) RETURNING 1), s AS (" SESSION_UPDATE_SET " AND EXISTS (SELECT 1 FROM l) AND "
        "(EXISTS (SELECT 1 FROM q) OR NOT EXISTS (SELECT 1 FROM quotas WHERE batch = $22)) "
        "RETURNING 1), m AS (INSERT INTO session_messages (sid, attempt, msg2_out) SELECT $1, $2, "
        "$23::text FROM s WHERE $23::text IS NOT NULL ON CONFLICT (sid) DO UPDATE SET attempt = "
        "excluded.attempt, msg2_out = excluded.msg2_out RETURNING 1) SELECT (SELECT COUNT(*) "
        "FROM l), (SELECT COUNT(*) FROM s)",
        &res);
    if (st == SF_OK) {
        long locked = (long)to_ll(sf_db_cell(&res, 0, 0));
        long updated = (long)to_ll(sf_db_cell(&res, 0, 1));
        st = updated == 1 ? SF_OK : locked == 1 ? SF_QUOTA_EXCEEDED : SF_SESSION_CONFLICT;
    }
    sf_db_result_free(&res);
    return st;
}

/* in_tx: the caller holds the transaction (the ledger's entry goes in it too). */
static sf_status update_session(sf_db *db, const sf_session *s, long expected_version,
                                const char *quota_batch, const char *audit_result, int in_tx)
{
    if (sf_db_is_postgres(db) && quota_batch == NULL && audit_result != NULL &&
        s->msg2_out == NULL) {
        return update_with_audit_pg(db, s, expected_version, audit_result);
    }
    if (sf_db_is_postgres(db) && quota_batch != NULL && audit_result == NULL) {
        return update_with_quota_pg(db, s, expected_version, quota_batch);
    }
    /* A lone compare-and-set is atomic by itself. */
    int lone = in_tx || (quota_batch == NULL && audit_result == NULL && s->msg2_out == NULL);
    sf_status st = lone ? SF_OK : sf_db_begin(db);
    if (st != SF_OK) {
        return st;
    }
    long changes = 0;
    if (quota_batch != NULL) {
        const char *qp[] = {quota_batch};
        sf_db_result res;
        st = sf_db_exec(db, "UPDATE quotas SET used = used + 1 WHERE batch = $1 AND used < lim", 1,
                        qp, NULL, &changes);
        if (st == SF_OK && changes == 0) {
            st = sf_db_exec(db, "SELECT lim FROM quotas WHERE batch = $1", 1, qp, &res, NULL);
            if (st == SF_OK && res.rows > 0) {
                st = SF_QUOTA_EXCEEDED;
            }
            sf_db_result_free(&res);
        }
    }
    if (st == SF_OK) {
        const char *params[SESSION_NCOLS + 1];
        char nums[6][24], expected[24];
        session_params(s, params, nums, expected_version + 1);
        num(expected, expected_version);
        params[SESSION_NCOLS] = expected;
        st = sf_db_exec(db, SESSION_UPDATE_SET, SESSION_NCOLS + 1, params, NULL, &changes);
        if (st == SF_OK && changes != 1) {
            st = SF_SESSION_CONFLICT;
        }
    }
    if (st == SF_OK && s->msg2_out != NULL) {
        st = write_message(db, s);
    }
    if (st == SF_OK && audit_result != NULL) {
        st = write_audit(db, s, audit_result);
    }
    if (lone) {
        return st;
    }
    if (st != SF_OK) {
        sf_db_rollback(db);
        return st;
    }
    return sf_db_commit(db);
}

sf_status sf_store_session_update(sf_db *db, const sf_session *s, long expected_version,
                                  const char *quota_batch, const char *audit_result)
{
    /* The move that stores a certificate (it consumes the quota unit) and the one that writes
     * the audit row each carry a ledger entry, committed with them or not at all. */
    if (sf_db_ledger(db) == NULL || (quota_batch == NULL && audit_result == NULL)) {
        return update_session(db, s, expected_version, quota_batch, audit_result, 0);
    }
    sf_ledger_cert_facts facts; /* read outside the transaction: writers queue behind it */
    sf_status st = quota_batch != NULL ? sf_ledger_cert_facts_of(s, &facts) : SF_OK;
    if (st == SF_OK) {
        st = sf_db_begin(db);
    }
    if (st != SF_OK) {
        return st;
    }
    st = update_session(db, s, expected_version, quota_batch, audit_result, 1);
    if (st == SF_OK && quota_batch != NULL) {
        st = sf_ledger_certificate_facts(db, s, &facts);
    }
    if (st == SF_OK && audit_result != NULL) {
        st = sf_ledger_outcome(db, s, audit_result);
    }
    if (st != SF_OK) {
        sf_db_rollback(db);
        return st;
    }
    return sf_db_commit(db);
}

sf_status sf_store_refusal_add(sf_db *db, const char *station, const char *batch, const char *sid,
                               const char *request, long code, const char *reason)
{
    char at[24], code_text[24];
    num(at, (long long)time(NULL));
    num(code_text, code);
    const char *params[] = {at, station, batch, sid, request, code_text, reason};
    return sf_db_exec(db,
                      "INSERT INTO refusals (at, station, batch, sid, request, error_code, reason) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      7, params, NULL, NULL);
}

sf_status sf_store_station_add(sf_db *db, const char *name, const char *fingerprint,
                               const char *batch)
{
    char now[24];
    num(now, (long long)time(NULL));
    const char *params[] = {name, fingerprint, batch, now};
    long changes = 0;
    sf_status st = sf_db_exec(db,
                              "INSERT INTO stations (name, fingerprint, batch, revoked, created) "
                              "VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                              4, params, NULL, &changes);
    if (st == SF_OK && changes != 1) {
        return SF_INVALID_ARGUMENT;
    }
    return st;
}

sf_status sf_store_station_check(sf_db *db, const char *fingerprint, char name[128],
                                 char batch[128])
{
    const char *params[] = {fingerprint};
    sf_db_result res;
    sf_status st =
        sf_db_exec(db, "SELECT name, batch, revoked FROM stations WHERE fingerprint = $1", 1,
                   params, &res, NULL);
    if (st != SF_OK) {
        return st;
    }
    if (res.rows == 0) {
        st = SF_STATION_UNKNOWN;
    } else {
        snprintf(name, 128, "%s", sf_db_cell(&res, 0, 0));
        snprintf(batch, 128, "%s", sf_db_cell(&res, 0, 1));
        st = to_ll(sf_db_cell(&res, 0, 2)) != 0 ? SF_STATION_REVOKED : SF_OK;
    }
    sf_db_result_free(&res);
    return st;
}

sf_status sf_store_station_revoke(sf_db *db, const char *name)
{
    const char *params[] = {name};
    long changes = 0;
    sf_status st = sf_db_exec(db, "UPDATE stations SET revoked = 1 WHERE name = $1", 1, params,
                              NULL, &changes);
    if (st == SF_OK && changes == 0) {
        return SF_NOT_FOUND;
    }
    return st;
}

sf_status sf_store_quota_set(sf_db *db, const char *batch, long limit)
{
    char lim[24];
    num(lim, limit);
    const char *params[] = {batch, lim};
    return sf_db_exec(db,
                      "INSERT INTO quotas (batch, lim, used) VALUES ($1, $2, 0) ON CONFLICT "
                      "(batch) DO UPDATE SET lim = excluded.lim",
                      2, params, NULL, NULL);
}

sf_status sf_store_quota_get(sf_db *db, const char *batch, long *used, long *limit)
{
    const char *params[] = {batch};
    sf_db_result res;
    sf_status st =
        sf_db_exec(db, "SELECT used, lim FROM quotas WHERE batch = $1", 1, params, &res, NULL);
    if (st != SF_OK) {
        return st;
    }
    if (res.rows == 0) {
        st = SF_NOT_FOUND;
    } else {
        *used = (long)to_ll(sf_db_cell(&res, 0, 0));
        *limit = (long)to_ll(sf_db_cell(&res, 0, 1));
    }
    sf_db_result_free(&res);
    return st;
}

static void csv_field(FILE *out, const char *v)
{
    if (v == NULL) {
        return;
    }
    if (strpbrk(v, ",\"\n\r") == NULL) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (const char *c = v; *c; c++) {
        if (*c == '"') {
            fputc('"', out);
        }
        fputc(*c, out);
    }
    fputc('"', out);
}

/* Rows of a query as CSV (a header line, then quoted fields) or as a JSON array of objects,
 * the columns named by names; numeric says which columns are numbers (bit c = column c). */
static sf_status export_rows(sf_db *db, const char *sql, const char *const *names, int ncols,
                             unsigned numeric, const char *format, FILE *out)
{
    sf_db_result res;
    sf_status st = sf_db_exec(db, sql, 0, NULL, &res, NULL);
    if (st != SF_OK) {
        return st;
    }
    if (strcmp(format, "json") == 0) {
        json_t *arr = json_array();
        for (int r = 0; r < res.rows; r++) {
            json_t *o = json_object();
            for (int c = 0; c < ncols; c++) {
                const char *v = sf_db_cell(&res, r, c);
                json_object_set_new(o, names[c],
                                    v == NULL             ? json_null()
                                    : numeric & (1u << c) ? json_integer(to_ll(v))
                                                          : json_string(v));
            }
            json_array_append_new(arr, o);
        }
        json_dumpf(arr, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(arr);
    } else {
        for (int c = 0; c < ncols; c++) {
            fprintf(out, "%s%s", c ? "," : "", names[c]);
        }
        fputc('\n', out);
        for (int r = 0; r < res.rows; r++) {
            for (int c = 0; c < ncols; c++) {
                if (c) {
                    fputc(',', out);
                }
                csv_field(out, sf_db_cell(&res, r, c));
            }
            fputc('\n', out);
        }
    }
    sf_db_result_free(&res);
    return SF_OK;
}

sf_status sf_store_audit_export(sf_db *db, const char *format, FILE *out)
{
    static const char *const names[] = {"session_id",  "attempt", "station",    "device_key_sha256",
                                        "fingerprint", "result",  "error_code", "error_reason",
                                        "started",     "finished"};
    return export_rows(db,
                       "SELECT sid, attempt, station, device_key, fingerprint, result, "
                       "error_code, error_reason, started, finished FROM audit ORDER BY "
                       "finished, sid, attempt",
                       names, 10, 1u << 1 | 1u << 6 | 1u << 8 | 1u << 9, format, out);
}

sf_status sf_store_refusals_export(sf_db *db, const char *format, FILE *out)
{
    static const char *const names[] = {"at",      "station",    "batch", "session_id",
                                        "request", "error_code", "reason"};
    return export_rows(db,
                       "SELECT at, station, batch, sid, request, error_code, reason FROM refusals "
                       "ORDER BY at, sid",
                       names, 7, 1u << 0 | 1u << 5, format, out);
}

sf_status sf_store_count_certificates(sf_db *db, long *issued)
{
    /* A certificate of an attempt that later failed or expired lives on in its audit row once a
     * new attempt replaces the session row; UNION counts each fingerprint once. */
    sf_db_result res;
    sf_status st =
        sf_db_exec(db,
                   "SELECT COUNT(*) FROM (SELECT fingerprint FROM sessions WHERE cert IS "
                   "NOT NULL UNION SELECT fingerprint FROM audit WHERE fingerprint IS NOT "
                   "NULL) AS issued",
                   0, NULL, &res, NULL);
    if (st == SF_OK) {
        *issued = (long)to_ll(sf_db_cell(&res, 0, 0));
    }
    sf_db_result_free(&res);
    return st;
}
