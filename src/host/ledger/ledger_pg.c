/* The ledger in PostgreSQL (libpq): tables ledger and ledger_checkpoint as in SQLite (BYTEA for
 * hashes and signatures, BIGSERIAL ids giving the storage order). Appends are serialized across
 * every process on the database by pg_advisory_xact_lock inside the append's transaction, which
 * is the caller's when one is open (so the entry commits with the record it describes). The
 * store only needs a connection: it knows nothing of the service or the line. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "kiln_ledger_pg.h"
#include "ledger_internal.h"

#define PG_LEDGER_LOCK 0x6b696c6e6c6467LL /* "kilnldg": the advisory lock of appends */

static const char pg_schema[] = "CREATE TABLE IF NOT EXISTS ledger ("
                                " id BIGSERIAL PRIMARY KEY, seq BIGINT NOT NULL,"
                                " time BIGINT NOT NULL, kind TEXT NOT NULL,"
                                " endpoint TEXT NOT NULL, serial TEXT NOT NULL,"
                                " cert_sha256 BYTEA NOT NULL, issuer_ca TEXT NOT NULL,"
                                " station TEXT NOT NULL, outcome TEXT NOT NULL,"
                                " prev_hash BYTEA NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS ledger_checkpoint ("
                                " id BIGSERIAL PRIMARY KEY, after_id BIGINT NOT NULL,"
                                " seq BIGINT NOT NULL, time BIGINT NOT NULL,"
                                " head BYTEA NOT NULL, sig BYTEA NOT NULL)";

#define PG_ENTRY_COLUMNS                                                                           \
    "id, seq, time, kind, endpoint, serial, cert_sha256, issuer_ca, station, outcome, prev_hash"

typedef struct pg_store {
    PGconn *conn;
} pg_store;

static bool pg_ok(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

static kiln_ledger_status pg_begin(void *store, bool *own)
{
    pg_store *s = store;
    *own = PQtransactionStatus(s->conn) == PQTRANS_IDLE;
    if (*own && !pg_ok(PQexec(s->conn, "BEGIN"))) {
        return KILN_LEDGER_STORAGE;
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)", PG_LEDGER_LOCK);
    if (!pg_ok(PQexec(s->conn, sql))) {
        if (*own) {
            PQclear(PQexec(s->conn, "ROLLBACK"));
        }
        return KILN_LEDGER_STORAGE;
    }
    return KILN_LEDGER_OK;
}

static kiln_ledger_status pg_end(void *store, kiln_ledger_status status, bool own)
{
    pg_store *s = store;
    if (!own) {
        return status;
    }
    if (!pg_ok(PQexec(s->conn, status == KILN_LEDGER_OK ? "COMMIT" : "ROLLBACK")) &&
        status == KILN_LEDGER_OK) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
        status = KILN_LEDGER_STORAGE;
    }
    return status;
}

static bool field_u64(PGresult *r, int row, int col, uint64_t *v)
{
    const char *t = PQgetvalue(r, row, col);
    char *end;
    if (t == NULL || *t == '\0' || *t == '-') {
        return false;
    }
    *v = strtoull(t, &end, 10);
    return *end == '\0';
}

static void field_text(PGresult *r, int row, int col, char out[KILN_LEDGER_TEXT_MAX + 1], bool *ok)
{
    const char *t = PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    if (t == NULL || len > KILN_LEDGER_TEXT_MAX || (size_t)len != strlen(t)) {
        *ok = false;
        out[0] = '\0';
        return;
    }
    memcpy(out, t, (size_t)len + 1);
}

static void field_blob(PGresult *r, int row, int col, uint8_t *out, size_t max, size_t *len,
                       bool *ok)
{
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    *len = 0;
    if (b == NULL || n > max) {
        *ok = false;
    } else {
        memcpy(out, b, n);
        *len = n;
    }
    PQfreemem(b);
}

static bool pg_row_entry(PGresult *r, int row, kiln_ledger_entry *e)
{
    size_t cert_len, prev_len;
    memset(e, 0, sizeof(*e));
    bool ok = field_u64(r, row, 1, &e->seq) && field_u64(r, row, 2, &e->time);
    field_text(r, row, 3, e->kind, &ok);
    field_text(r, row, 4, e->endpoint, &ok);
    field_text(r, row, 5, e->serial, &ok);
    field_blob(r, row, 6, e->cert_sha256, KILN_LEDGER_HASH_SIZE, &cert_len, &ok);
    field_text(r, row, 7, e->issuer_ca, &ok);
    field_text(r, row, 8, e->station, &ok);
    field_text(r, row, 9, e->outcome, &ok);
    field_blob(r, row, 10, e->prev_hash, KILN_LEDGER_HASH_SIZE, &prev_len, &ok);
    e->has_cert = cert_len == KILN_LEDGER_HASH_SIZE;
    return ok && (cert_len == 0 || e->has_cert) && prev_len == KILN_LEDGER_HASH_SIZE;
}

static kiln_ledger_status pg_read_head(void *store, uint64_t *next_seq,
                                       uint8_t head[KILN_LEDGER_HASH_SIZE], uint64_t *last_cp)
{
    pg_store *s = store;
    kiln_ledger_entry e;
    kiln_ledger_status st = KILN_LEDGER_OK;
    *next_seq = 1;
    *last_cp = 0;
    memset(head, 0, KILN_LEDGER_HASH_SIZE);
    /* The last entry and the last checkpoint's seq in one round trip (the appends wait on the
     * advisory lock meanwhile): one row always, the entry's columns NULL in an empty ledger. */
    PGresult *r = PQexec(
        s->conn, "SELECT l.*, (SELECT seq FROM ledger_checkpoint ORDER BY id DESC"
                 " LIMIT 1) FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT " PG_ENTRY_COLUMNS
                 " FROM ledger ORDER BY id DESC LIMIT 1) AS l"
                 " ON true");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 12) {
        st = KILN_LEDGER_STORAGE;
    } else {
        if (!PQgetisnull(r, 0, 0)) {
            st = pg_row_entry(r, 0, &e) ? kiln_ledger_entry_hash(&e, head) : KILN_LEDGER_MALFORMED;
            *next_seq = e.seq + 1;
        }
        if (!PQgetisnull(r, 0, 11) && !field_u64(r, 0, 11, last_cp)) {
            st = st == KILN_LEDGER_OK ? KILN_LEDGER_MALFORMED : st;
        }
    }
    PQclear(r);
    return st;
}

static char *hex_bytea(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = digits[b[i] >> 4];
        out[3 + 2 * i] = digits[b[i] & 15];
    }
    out[2 + 2 * n] = '\0';
    return out;
}

static kiln_ledger_status pg_append_entry(void *store, const kiln_ledger_entry *e)
{
    pg_store *s = store;
    char seq[24], tm[24], cert[2 * KILN_LEDGER_HASH_SIZE + 3], prev[2 * KILN_LEDGER_HASH_SIZE + 3];
    snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
    snprintf(tm, sizeof(tm), "%" PRIu64, e->time);
    const char *v[10] = {
        seq,          tm,
        e->kind,      e->endpoint,
        e->serial,    hex_bytea(e->cert_sha256, e->has_cert ? KILN_LEDGER_HASH_SIZE : 0, cert),
        e->issuer_ca, e->station,
        e->outcome,   hex_bytea(e->prev_hash, KILN_LEDGER_HASH_SIZE, prev)};
    return pg_ok(PQexecParams(s->conn,
                              "INSERT INTO ledger (seq, time, kind, endpoint, serial, cert_sha256,"
                              " issuer_ca, station, outcome, prev_hash) VALUES ($1, $2, $3, $4,"
                              " $5, $6, $7, $8, $9, $10)",
                              10, NULL, v, NULL, NULL, 0))
               ? KILN_LEDGER_OK
               : KILN_LEDGER_STORAGE;
}

static kiln_ledger_status pg_append_checkpoint(void *store, const kiln_ledger_checkpoint *c)
{
    pg_store *s = store;
    char seq[24], tm[24], head[2 * KILN_LEDGER_HASH_SIZE + 3], sig[2 * KILN_PKI_SIG_MAX + 3];
    snprintf(seq, sizeof(seq), "%" PRIu64, c->seq);
    snprintf(tm, sizeof(tm), "%" PRIu64, c->time);
    const char *v[4] = {seq, tm, hex_bytea(c->head, KILN_LEDGER_HASH_SIZE, head),
                        hex_bytea(c->sig, c->sig_len, sig)};
    return pg_ok(PQexecParams(s->conn,
                              "INSERT INTO ledger_checkpoint (after_id, seq, time, head, sig)"
                              " VALUES ((SELECT coalesce(max(id), 0) FROM ledger), $1, $2, $3, $4)",
                              4, NULL, v, NULL, NULL, 0))
               ? KILN_LEDGER_OK
               : KILN_LEDGER_STORAGE;
}

static bool pg_row_checkpoint(PGresult *r, int row, kiln_ledger_checkpoint *c)
{
    size_t head_len;
    memset(c, 0, sizeof(*c));
    bool ok = field_u64(r, row, 1, &c->seq) && field_u64(r, row, 2, &c->time);
    field_blob(r, row, 3, c->head, KILN_LEDGER_HASH_SIZE, &head_len, &ok);
    field_blob(r, row, 4, c->sig, KILN_PKI_SIG_MAX, &c->sig_len, &ok);
    return ok && head_len == KILN_LEDGER_HASH_SIZE;
}

/* Feeds checkpoints from *next while their after_id <= after_id. */
static void pg_feed_checkpoints(PGresult *cps, int *next, long long after_id,
                                const kiln_ledger_sink *sink)
{
    kiln_ledger_checkpoint c;
    while (*next < PQntuples(cps) && strtoll(PQgetvalue(cps, *next, 0), NULL, 10) <= after_id) {
        if (pg_row_checkpoint(cps, *next, &c)) {
            sink->checkpoint(sink->ctx, &c);
        } else {
            sink->malformed(sink->ctx, "a checkpoint row has a column of the wrong type or size");
        }
        (*next)++;
    }
}

static kiln_ledger_status pg_iterate(void *store, const kiln_ledger_sink *sink)
{
    pg_store *s = store;
    PGresult *rows = PQexec(s->conn, "SELECT " PG_ENTRY_COLUMNS " FROM ledger ORDER BY id");
    PGresult *cps = PQexec(s->conn, "SELECT after_id, seq, time, head, sig FROM"
                                    " ledger_checkpoint ORDER BY after_id, id");
    kiln_ledger_status st = KILN_LEDGER_STORAGE;
    if (PQresultStatus(rows) == PGRES_TUPLES_OK && PQresultStatus(cps) == PGRES_TUPLES_OK) {
        int next = 0;
        for (int i = 0; i < PQntuples(rows); i++) {
            pg_feed_checkpoints(cps, &next, strtoll(PQgetvalue(rows, i, 0), NULL, 10) - 1, sink);
            kiln_ledger_entry e;
            if (pg_row_entry(rows, i, &e)) {
                sink->entry(sink->ctx, &e);
            } else {
                sink->malformed(sink->ctx, "a ledger row has a column of the wrong type or size");
            }
        }
        pg_feed_checkpoints(cps, &next, INT64_MAX, sink);
        st = KILN_LEDGER_OK;
    }
    PQclear(rows);
    PQclear(cps);
    return st;
}

static void pg_destroy(void *store)
{
    free(store);
}

static const kiln_ledger_store_ops pg_ops = {
    pg_begin, pg_end, pg_read_head, pg_append_entry, pg_append_checkpoint, pg_iterate, pg_destroy,
};

kiln_ledger_status kiln_ledger_pg_schema(PGconn *conn)
{
    return pg_ok(PQexec(conn, pg_schema)) ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

kiln_ledger_status kiln_ledger_open_pg(PGconn *conn, const kiln_pki_signer *signer,
                                       unsigned checkpoint_every, kiln_ledger **out)
{
    if (kiln_ledger_pg_schema(conn) != KILN_LEDGER_OK) {
        return KILN_LEDGER_STORAGE;
    }
    pg_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return KILN_LEDGER_NO_MEMORY;
    }
    s->conn = conn;
    return kiln_ledger_open_store(&pg_ops, s, signer, checkpoint_every, out);
}

kiln_ledger_status kiln_ledger_verify_pg(PGconn *conn, const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict)
{
    pg_store s = {conn};
    return kiln_ledger_verify_store(&pg_ops, &s, point, verdict);
}

kiln_ledger_status kiln_ledger_export_pg(PGconn *conn, FILE *out, kiln_ledger_format format)
{
    pg_store s = {conn};
    return kiln_ledger_export_store(&pg_ops, &s, out, format);
}
