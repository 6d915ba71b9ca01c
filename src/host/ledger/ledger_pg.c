/* The ledger in PostgreSQL (libpq): tables ledger and ledger_checkpoint as in SQLite (BYTEA for
 * hashes and signatures, BIGSERIAL ids giving the storage order) plus a chain column. A named
 * chain has one writer: it holds a session-level advisory lock keyed by the chain's name while
 * it is open, keeps the head in memory and links each entry to it without any lock shared with
 * other writers; the INSERT itself checks that the head row it links to is still there (gone:
 * the caller's transaction rolled back, the head is read again). The unnamed chain "" (older
 * ledgers, kiln_ledger_open_pg) keeps its writers serialized by pg_advisory_xact_lock inside the
 * append's transaction and reads the head each time. An append joins the caller's transaction
 * when one is open (so the entry commits with the record it describes). The store only needs a
 * connection: it knows nothing of the service or the line. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "kiln_ledger_pg.h"
#include "ledger_internal.h"

#define PG_LEDGER_LOCK 0x6b696c6e6c6467LL /* "kilnldg": the advisory lock of appends */

#define CHAIN_TRIES 64 /* NAME, NAME/2 .. NAME/64 */

static const char pg_schema[] = "CREATE TABLE IF NOT EXISTS ledger ("
                                " id BIGSERIAL PRIMARY KEY, seq BIGINT NOT NULL,"
                                " time BIGINT NOT NULL, kind TEXT NOT NULL,"
                                " endpoint TEXT NOT NULL, serial TEXT NOT NULL,"
                                " cert_sha256 BYTEA NOT NULL, issuer_ca TEXT NOT NULL,"
                                " station TEXT NOT NULL, outcome TEXT NOT NULL,"
                                " prev_hash BYTEA NOT NULL, chain TEXT NOT NULL DEFAULT '');"
                                "CREATE TABLE IF NOT EXISTS ledger_checkpoint ("
                                " id BIGSERIAL PRIMARY KEY, after_id BIGINT NOT NULL,"
                                " seq BIGINT NOT NULL, time BIGINT NOT NULL,"
                                " head BYTEA NOT NULL, sig BYTEA NOT NULL,"
                                " chain TEXT NOT NULL DEFAULT '')";

/* A ledger from before named chains gets the column (every old row is the unnamed chain). */
static const char pg_chain_columns[] =
    "ALTER TABLE ledger ADD COLUMN IF NOT EXISTS chain TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE ledger_checkpoint ADD COLUMN IF NOT EXISTS chain TEXT NOT NULL DEFAULT ''";
static const char pg_chain_indexes[] =
    "CREATE INDEX IF NOT EXISTS ledger_chain_id ON ledger (chain, id);"
    "CREATE INDEX IF NOT EXISTS ledger_checkpoint_chain_id ON ledger_checkpoint (chain, id)";

#define PG_ENTRY_COLUMNS                                                                           \
    "id, seq, time, kind, endpoint, serial, cert_sha256, issuer_ca, station, outcome, prev_hash,"  \
    " chain"

typedef struct pg_store {
    PGconn *conn;
    bool named;         /* a named chain: no transaction lock (its writer holds the chain's lock) */
    bool owns_lock;     /* this store took the chain's session lock (released when destroyed) */
    bool reread;        /* the session was lost and the lock taken again: the head must be read */
    int backend;        /* PQbackendPID when the lock was taken (another one: a new session) */
    long long last_id;  /* the id of the chain's head row (0: empty) */
    long long lock_key; /* the advisory lock of the chain */
    char chain[KILN_LEDGER_TEXT_MAX + 1];
} pg_store;

static bool pg_ok(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

/* The advisory lock key of a chain: the first 8 bytes of SHA-256 over a label and the name. */
static long long chain_lock_key(const char *chain)
{
    uint8_t buf[32 + KILN_LEDGER_TEXT_MAX], hash[KILN_LEDGER_HASH_SIZE];
    static const char label[] = "kiln-ledger-chain";
    size_t n = strlen(chain);
    memcpy(buf, label, sizeof(label)); /* with its NUL: label and name cannot run together */
    memcpy(buf + sizeof(label), chain, n);
    (void)kiln_pki_sha256(buf, sizeof(label) + n, hash);
    uint64_t k = 0;
    for (int i = 0; i < 8; i++) {
        k = (k << 8) | hash[i];
    }
    return (long long)(k >> 1); /* positive: printed and read back as it is */
}

/* pg_try_advisory_lock of key on the session: 1 taken, 0 held by another session, -1 failed. */
static int try_lock(PGconn *conn, long long key)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)", key);
    PGresult *r = PQexec(conn, sql);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? strcmp(PQgetvalue(r, 0, 0), "t") == 0
                 : -1;
    PQclear(r);
    return rc;
}

static void unlock(PGconn *conn, long long key)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", key);
    PQclear(PQexec(conn, sql));
}

/* A named chain's writer whose session changed (libpq reconnected) takes its lock again. */
static kiln_ledger_status reclaim(pg_store *s)
{
    if (PQbackendPID(s->conn) == s->backend) {
        return KILN_LEDGER_OK;
    }
    int rc = try_lock(s->conn, s->lock_key);
    if (rc != 1) {
        return rc == 0 ? KILN_LEDGER_CHAIN_BUSY : KILN_LEDGER_STORAGE;
    }
    s->backend = PQbackendPID(s->conn);
    s->reread = true; /* another writer may have had the chain meanwhile */
    return KILN_LEDGER_OK;
}

static kiln_ledger_status pg_begin(void *store, bool *own)
{
    pg_store *s = store;
    kiln_ledger_status st = s->owns_lock ? reclaim(s) : KILN_LEDGER_OK;
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    *own = PQtransactionStatus(s->conn) == PQTRANS_IDLE;
    if (*own && !pg_ok(PQexec(s->conn, "BEGIN"))) {
        return KILN_LEDGER_STORAGE;
    }
    if (s->named) {
        return KILN_LEDGER_OK; /* the chain is this writer's alone: no lock per append */
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
    field_text(r, row, 11, e->chain, &ok);
    e->has_cert = cert_len == KILN_LEDGER_HASH_SIZE;
    return ok && (cert_len == 0 || e->has_cert) && prev_len == KILN_LEDGER_HASH_SIZE;
}

static kiln_ledger_status pg_read_head(void *store, const char *chain, uint64_t *next_seq,
                                       uint8_t head[KILN_LEDGER_HASH_SIZE], uint64_t *last_cp)
{
    pg_store *s = store;
    kiln_ledger_entry e;
    kiln_ledger_status st = KILN_LEDGER_OK;
    *next_seq = 1;
    *last_cp = 0;
    s->last_id = 0;
    s->reread = false;
    memset(head, 0, KILN_LEDGER_HASH_SIZE);
    /* The chain's last entry and last checkpoint's seq in one round trip: one row always, the
     * entry's columns NULL in an empty chain. */
    const char *v[1] = {chain};
    PGresult *r = PQexecParams(
        s->conn,
        "SELECT l.*, (SELECT seq FROM ledger_checkpoint WHERE chain = $1 ORDER BY id DESC"
        " LIMIT 1) FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT " PG_ENTRY_COLUMNS
        " FROM ledger WHERE chain = $1 ORDER BY id DESC LIMIT 1) AS l ON true",
        1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 13) {
        st = KILN_LEDGER_STORAGE;
    } else {
        if (!PQgetisnull(r, 0, 0)) {
            st = pg_row_entry(r, 0, &e) ? kiln_ledger_entry_hash(&e, head) : KILN_LEDGER_MALFORMED;
            *next_seq = e.seq + 1;
            s->last_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        }
        if (!PQgetisnull(r, 0, 12) && !field_u64(r, 0, 12, last_cp)) {
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

/* The id an INSERT ... RETURNING id gave; 0 when it inserted nothing (the head row it was to
 * follow is gone), -1 on failure. */
static long long inserted_id(PGresult *r)
{
    long long id = PQresultStatus(r) != PGRES_TUPLES_OK ? -1
                   : PQntuples(r) == 1                  ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                                        : 0;
    PQclear(r);
    return id;
}

/* Inserted only while the head row it links to (id $12; 0: the chain is empty) is there, which
 * catches a head remembered from a transaction that rolled back. */
#define PG_INSERT_ENTRY                                                                            \
    "INSERT INTO ledger (seq, time, kind, endpoint, serial, cert_sha256, issuer_ca, station,"      \
    " outcome, prev_hash, chain) SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::text,"     \
    " $6::bytea, $7::text, $8::text, $9::text, $10::bytea, $11::text WHERE $12::bigint = 0 OR"     \
    " EXISTS (SELECT 1 FROM ledger WHERE id = $12::bigint) RETURNING id"

static kiln_ledger_status pg_append_entry(void *store, const kiln_ledger_entry *e)
{
    pg_store *s = store;
    if (s->reread) {
        return LEDGER_HEAD_STALE;
    }
    char seq[24], tm[24], after[24], cert[2 * KILN_LEDGER_HASH_SIZE + 3],
        prev[2 * KILN_LEDGER_HASH_SIZE + 3];
    snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
    snprintf(tm, sizeof(tm), "%" PRIu64, e->time);
    snprintf(after, sizeof(after), "%lld", s->last_id);
    const char *v[12] = {
        seq,          tm,
        e->kind,      e->endpoint,
        e->serial,    hex_bytea(e->cert_sha256, e->has_cert ? KILN_LEDGER_HASH_SIZE : 0, cert),
        e->issuer_ca, e->station,
        e->outcome,   hex_bytea(e->prev_hash, KILN_LEDGER_HASH_SIZE, prev),
        e->chain,     after};
    long long id = inserted_id(PQexecParams(s->conn, PG_INSERT_ENTRY, 12, NULL, v, NULL, NULL, 0));
    if (id > 0) {
        s->last_id = id;
    }
    return id > 0 ? KILN_LEDGER_OK : id == 0 ? LEDGER_HEAD_STALE : KILN_LEDGER_STORAGE;
}

static kiln_ledger_status pg_append_checkpoint(void *store, const kiln_ledger_checkpoint *c)
{
    pg_store *s = store;
    if (s->reread) {
        return LEDGER_HEAD_STALE;
    }
    char seq[24], tm[24], after[24], head[2 * KILN_LEDGER_HASH_SIZE + 3],
        sig[2 * KILN_PKI_SIG_MAX + 3];
    snprintf(seq, sizeof(seq), "%" PRIu64, c->seq);
    snprintf(tm, sizeof(tm), "%" PRIu64, c->time);
    snprintf(after, sizeof(after), "%lld", s->last_id);
    const char *v[6] = {after,
                        seq,
                        tm,
                        hex_bytea(c->head, KILN_LEDGER_HASH_SIZE, head),
                        hex_bytea(c->sig, c->sig_len, sig),
                        c->chain};
    /* Stored after the chain's head row, and only while that row is there. */
    long long id = inserted_id(PQexecParams(
        s->conn,
        "INSERT INTO ledger_checkpoint (after_id, seq, time, head, sig, chain) SELECT"
        " $1::bigint, $2::bigint, $3::bigint, $4::bytea, $5::bytea, $6::text WHERE EXISTS"
        " (SELECT 1 FROM ledger WHERE id = $1::bigint) RETURNING id",
        6, NULL, v, NULL, NULL, 0));
    return id > 0 ? KILN_LEDGER_OK : id == 0 ? LEDGER_HEAD_STALE : KILN_LEDGER_STORAGE;
}

static bool pg_row_checkpoint(PGresult *r, int row, kiln_ledger_checkpoint *c)
{
    size_t head_len;
    memset(c, 0, sizeof(*c));
    bool ok = field_u64(r, row, 1, &c->seq) && field_u64(r, row, 2, &c->time);
    field_blob(r, row, 3, c->head, KILN_LEDGER_HASH_SIZE, &head_len, &ok);
    field_blob(r, row, 4, c->sig, KILN_PKI_SIG_MAX, &c->sig_len, &ok);
    field_text(r, row, 5, c->chain, &ok);
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
    PGresult *cps = PQexec(s->conn, "SELECT after_id, seq, time, head, sig, chain FROM"
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
    pg_store *s = store;
    if (s != NULL && s->owns_lock && PQstatus(s->conn) == CONNECTION_OK &&
        PQbackendPID(s->conn) == s->backend) {
        unlock(s->conn, s->lock_key);
    }
    free(store);
}

static const kiln_ledger_store_ops pg_ops = {
    pg_begin, pg_end, pg_read_head, pg_append_entry, pg_append_checkpoint, pg_iterate, pg_destroy,
};

/* Whether the tables, their chain columns and indexes are all there: a catalog read takes no
 * lock on the tables, while CREATE INDEX IF NOT EXISTS would hold a SHARE lock (every writer's
 * INSERT waits) until the end of the opener's transaction, which may be the caller's batch. */
static bool schema_complete(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SELECT (SELECT count(*) FROM information_schema.columns WHERE"
                               " table_schema = current_schema() AND column_name = 'chain' AND"
                               " table_name IN ('ledger', 'ledger_checkpoint')) +"
                               " (SELECT count(*) FROM pg_indexes WHERE schemaname ="
                               " current_schema() AND indexname IN ('ledger_chain_id',"
                               " 'ledger_checkpoint_chain_id'))");
    bool complete = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                    strcmp(PQgetvalue(r, 0, 0), "4") == 0;
    PQclear(r);
    return complete;
}

int kiln_ledger_pg_guard_session(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"
                               " SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

kiln_ledger_status kiln_ledger_pg_schema(PGconn *conn)
{
    if (schema_complete(conn)) {
        return KILN_LEDGER_OK;
    }
    /* A ledger from before named chains gets the columns: its rows are the unnamed chain. */
    bool ok = pg_ok(PQexec(conn, pg_schema)) && pg_ok(PQexec(conn, pg_chain_columns)) &&
              pg_ok(PQexec(conn, pg_chain_indexes));
    return ok ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

static pg_store *new_store(PGconn *conn, bool named, bool owns_lock, const char *chain)
{
    pg_store *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->conn = conn;
        s->named = named;
        s->owns_lock = owns_lock;
        s->backend = PQbackendPID(conn);
        s->lock_key = chain_lock_key(chain);
        snprintf(s->chain, sizeof(s->chain), "%s", chain);
    }
    return s;
}

kiln_ledger_status kiln_ledger_open_pg(PGconn *conn, const kiln_pki_signer *signer,
                                       unsigned checkpoint_every, kiln_ledger **out)
{
    if (kiln_ledger_pg_schema(conn) != KILN_LEDGER_OK) {
        return KILN_LEDGER_STORAGE;
    }
    pg_store *s = new_store(conn, false, false, "");
    if (s == NULL) {
        return KILN_LEDGER_NO_MEMORY;
    }
    return kiln_ledger_open_store(&pg_ops, s, signer, checkpoint_every, out);
}

/* Takes the first free name of base, base/2 .. base/CHAIN_TRIES into name (its lock held). */
static kiln_ledger_status claim_chain(PGconn *conn, const char *base,
                                      char name[KILN_LEDGER_TEXT_MAX + 1])
{
    for (int k = 1; k <= CHAIN_TRIES; k++) {
        int n = k == 1 ? snprintf(name, KILN_LEDGER_TEXT_MAX + 1, "%s", base)
                       : snprintf(name, KILN_LEDGER_TEXT_MAX + 1, "%s/%d", base, k);
        if (n < 0 || n > KILN_LEDGER_TEXT_MAX) {
            return KILN_LEDGER_INVALID_ARGUMENT;
        }
        int rc = try_lock(conn, chain_lock_key(name));
        if (rc != 0) {
            return rc == 1 ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
        }
    }
    return KILN_LEDGER_CHAIN_BUSY;
}

/* Signs the head of chain (its writer gone: its lock was free, or it is the unnamed chain,
 * whose writers serialize on the transaction lock) unless it is signed. */
static kiln_ledger_status sign_head(PGconn *conn, const kiln_pki_signer *signer, const char *chain)
{
    bool named = chain[0] != '\0';
    long long key = chain_lock_key(chain);
    int rc = named ? try_lock(conn, key) : 1;
    if (rc != 1) {
        return rc == 0 ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE; /* 0: its writer is alive */
    }
    /* The lock is this function's: the temporary store does not release it. */
    pg_store *s = new_store(conn, named, false, chain);
    kiln_ledger *l = NULL;
    kiln_ledger_status st = s != NULL
                                ? kiln_ledger_open_chain(&pg_ops, s, signer, 0, chain, false, &l)
                                : KILN_LEDGER_NO_MEMORY;
    if (st == KILN_LEDGER_OK) {
        st = kiln_ledger_close(l); /* signs the head unless it is signed */
    }
    if (named) {
        unlock(conn, key);
    }
    return st;
}

/* The chains (other than mine) whose last entry no checkpoint covers, signed by this writer:
 * their writers died (SIGKILL, a lost host) before they signed their heads. */
static kiln_ledger_status adopt_unsigned(PGconn *conn, const kiln_pki_signer *signer,
                                         const char *mine)
{
    const char *v[1] = {mine};
    PGresult *r = PQexecParams(
        conn,
        "SELECT e.chain FROM (SELECT chain, max(seq) AS seq FROM ledger GROUP BY chain) AS e"
        " LEFT JOIN (SELECT chain, max(seq) AS seq FROM ledger_checkpoint GROUP BY chain) AS c"
        " ON c.chain = e.chain WHERE e.chain <> $1 AND (c.seq IS NULL OR c.seq < e.seq)"
        " ORDER BY e.chain",
        1, NULL, v, NULL, NULL, 0);
    kiln_ledger_status st =
        PQresultStatus(r) == PGRES_TUPLES_OK ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
    for (int i = 0; st == KILN_LEDGER_OK && i < PQntuples(r); i++) {
        st = sign_head(conn, signer, PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return st;
}

kiln_ledger_status kiln_ledger_open_pg_chain(PGconn *conn, const kiln_pki_signer *signer,
                                             unsigned checkpoint_every, const char *name,
                                             kiln_ledger **out)
{
    char chain[KILN_LEDGER_TEXT_MAX + 1];
    if (name == NULL || *name == '\0') {
        return KILN_LEDGER_INVALID_ARGUMENT;
    }
    if (kiln_ledger_pg_schema(conn) != KILN_LEDGER_OK) {
        return KILN_LEDGER_STORAGE;
    }
    kiln_ledger_status st = claim_chain(conn, name, chain);
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    pg_store *s = new_store(conn, true, true, chain);
    if (s == NULL) {
        unlock(conn, chain_lock_key(chain));
        return KILN_LEDGER_NO_MEMORY;
    }
    st = kiln_ledger_open_chain(&pg_ops, s, signer, checkpoint_every, chain, true, out);
    if (st != KILN_LEDGER_OK) {
        return st; /* s destroyed, its lock released */
    }
    /* The chain's own tail first (this name's last writer may have died), then the others'. */
    st = kiln_ledger_checkpoint_now(*out);
    st = st == KILN_LEDGER_OK ? adopt_unsigned(conn, signer, chain) : st;
    if (st != KILN_LEDGER_OK) {
        kiln_ledger_status ignored = kiln_ledger_close(*out);
        (void)ignored;
        *out = NULL;
    }
    return st;
}

kiln_ledger_status kiln_ledger_verify_pg(PGconn *conn, const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict)
{
    pg_store s = {.conn = conn};
    return kiln_ledger_verify_store(&pg_ops, &s, point, verdict);
}

kiln_ledger_status kiln_ledger_export_pg(PGconn *conn, FILE *out, kiln_ledger_format format)
{
    pg_store s = {.conn = conn};
    return kiln_ledger_export_store(&pg_ops, &s, out, format);
}
