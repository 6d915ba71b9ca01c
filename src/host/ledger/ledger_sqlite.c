/* The ledger in SQLite: table ledger (one row per entry, columns as the entry's fields) and
 * table ledger_checkpoint (after_id: the ledger row it was written after). Storage order is
 * the rowid; the verifier is fed rows in that order, so a row moved, removed or added shows. Each
 * append reads the head from the last row inside the write transaction, so several processes
 * may share one database. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ledger_internal.h"

static const char schema[] = "CREATE TABLE IF NOT EXISTS ledger ("
                             " id INTEGER PRIMARY KEY,"
                             " seq INTEGER NOT NULL,"
                             " time INTEGER NOT NULL,"
                             " kind TEXT NOT NULL,"
                             " endpoint TEXT NOT NULL,"
                             " serial TEXT NOT NULL,"
                             " cert_sha256 BLOB NOT NULL,"
                             " issuer_ca TEXT NOT NULL,"
                             " station TEXT NOT NULL,"
                             " outcome TEXT NOT NULL,"
                             " prev_hash BLOB NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS ledger_checkpoint ("
                             " id INTEGER PRIMARY KEY,"
                             " after_id INTEGER NOT NULL,"
                             " seq INTEGER NOT NULL,"
                             " time INTEGER NOT NULL,"
                             " head BLOB NOT NULL,"
                             " sig BLOB NOT NULL);";

#define ENTRY_COLUMNS                                                                              \
    "id, seq, time, kind, endpoint, serial, cert_sha256, issuer_ca, station, outcome, prev_hash"

#define INSERT_ENTRY_SQL                                                                           \
    "INSERT INTO ledger (seq, time, kind, endpoint, serial, cert_sha256, issuer_ca, station,"      \
    " outcome, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

struct kiln_ledger {
    sqlite3 *db;
    const kiln_pki_signer *signer;
    unsigned checkpoint_every;
    sqlite3_stmt *last_entry, *last_checkpoint, *insert_entry, *insert_checkpoint;
};

kiln_ledger_status kiln_ledger_open(sqlite3 *db, const kiln_pki_signer *signer,
                                    unsigned checkpoint_every, kiln_ledger **out)
{
    kiln_ledger *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return KILN_LEDGER_NO_MEMORY;
    }
    l->db = db;
    l->signer = signer;
    l->checkpoint_every = checkpoint_every ? checkpoint_every : KILN_LEDGER_CHECKPOINT_EVERY;
    const char *sql[] = {
        "SELECT " ENTRY_COLUMNS " FROM ledger ORDER BY id DESC LIMIT 1",
        "SELECT seq FROM ledger_checkpoint ORDER BY id DESC LIMIT 1",
        INSERT_ENTRY_SQL,
        "INSERT INTO ledger_checkpoint (after_id, seq, time, head, sig) VALUES (?, ?, ?, ?, ?)",
    };
    sqlite3_stmt **stmts[] = {&l->last_entry, &l->last_checkpoint, &l->insert_entry,
                              &l->insert_checkpoint};
    bool ok = sqlite3_exec(db, schema, NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < sizeof(sql) / sizeof(sql[0]); i++) {
        ok = sqlite3_prepare_v2(db, sql[i], -1, stmts[i], NULL) == SQLITE_OK;
    }
    if (!ok) {
        kiln_ledger_close(l);
        return KILN_LEDGER_STORAGE;
    }
    *out = l;
    return KILN_LEDGER_OK;
}

static void column_text(sqlite3_stmt *st, int col, char out[KILN_LEDGER_TEXT_MAX + 1], bool *ok)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    if (text == NULL || len > KILN_LEDGER_TEXT_MAX || (size_t)len != strlen((const char *)text)) {
        *ok = false;
        out[0] = '\0';
        return;
    }
    memcpy(out, text, (size_t)len + 1);
}

static void column_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t max, size_t *len, bool *ok)
{
    const void *blob = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if ((n > 0 && blob == NULL) || n < 0 || (size_t)n > max) {
        *ok = false;
        *len = 0;
        return;
    }
    if (n > 0) {
        memcpy(out, blob, (size_t)n);
    }
    *len = (size_t)n;
}

/* A row of ENTRY_COLUMNS as an entry; false when a column cannot be an entry field. */
static bool row_entry(sqlite3_stmt *st, kiln_ledger_entry *e)
{
    bool ok = true;
    size_t cert_len, prev_len;
    memset(e, 0, sizeof(*e));
    ok = sqlite3_column_int64(st, 1) >= 0 && sqlite3_column_int64(st, 2) >= 0;
    e->seq = (uint64_t)sqlite3_column_int64(st, 1);
    e->time = (uint64_t)sqlite3_column_int64(st, 2);
    column_text(st, 3, e->kind, &ok);
    column_text(st, 4, e->endpoint, &ok);
    column_text(st, 5, e->serial, &ok);
    column_blob(st, 6, e->cert_sha256, KILN_LEDGER_HASH_SIZE, &cert_len, &ok);
    column_text(st, 7, e->issuer_ca, &ok);
    column_text(st, 8, e->station, &ok);
    column_text(st, 9, e->outcome, &ok);
    column_blob(st, 10, e->prev_hash, KILN_LEDGER_HASH_SIZE, &prev_len, &ok);
    e->has_cert = cert_len == KILN_LEDGER_HASH_SIZE;
    return ok && (cert_len == 0 || e->has_cert) && prev_len == KILN_LEDGER_HASH_SIZE;
}

/* The head: the next sequence number and the hash the next entry links to. */
static kiln_ledger_status read_head(kiln_ledger *l, uint64_t *next_seq,
                                    uint8_t head[KILN_LEDGER_HASH_SIZE], int64_t *last_id)
{
    kiln_ledger_entry e;
    sqlite3_reset(l->last_entry);
    int rc = sqlite3_step(l->last_entry);
    kiln_ledger_status st = KILN_LEDGER_OK;
    *next_seq = 1;
    *last_id = 0;
    memset(head, 0, KILN_LEDGER_HASH_SIZE);
    if (rc == SQLITE_ROW) {
        *last_id = sqlite3_column_int64(l->last_entry, 0);
        st =
            row_entry(l->last_entry, &e) ? kiln_ledger_entry_hash(&e, head) : KILN_LEDGER_MALFORMED;
        *next_seq = e.seq + 1;
    } else if (rc != SQLITE_DONE) {
        st = KILN_LEDGER_STORAGE;
    }
    sqlite3_reset(l->last_entry);
    return st;
}

static uint64_t last_checkpoint_seq(kiln_ledger *l)
{
    sqlite3_reset(l->last_checkpoint);
    uint64_t seq = sqlite3_step(l->last_checkpoint) == SQLITE_ROW
                       ? (uint64_t)sqlite3_column_int64(l->last_checkpoint, 0)
                       : 0;
    sqlite3_reset(l->last_checkpoint);
    return seq;
}

static kiln_ledger_status write_checkpoint(kiln_ledger *l, int64_t after_id, uint64_t seq,
                                           const uint8_t head[KILN_LEDGER_HASH_SIZE])
{
    uint8_t digest[KILN_PKI_DIGEST_SIZE], sig[KILN_PKI_SIG_MAX];
    size_t sig_len;
    kiln_ledger_checkpoint_digest(seq, head, digest);
    if (kiln_pki_signer_sign_digest(l->signer, digest, sig, &sig_len) != KILN_PKI_OK) {
        return KILN_LEDGER_SIGNER;
    }
    sqlite3_stmt *st = l->insert_checkpoint;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
    sqlite3_bind_blob(st, 4, head, KILN_LEDGER_HASH_SIZE, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 5, sig, (int)sig_len, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

static kiln_ledger_status insert_entry(kiln_ledger *l, const kiln_ledger_entry *e)
{
    sqlite3_stmt *st = l->insert_entry;
    const char *texts[] = {e->kind, e->endpoint, e->serial};
    const char *tail[] = {e->issuer_ca, e->station, e->outcome};
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)e->seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)e->time);
    for (int i = 0; i < 3; i++) {
        sqlite3_bind_text(st, 3 + i, texts[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7 + i, tail[i], -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_blob(st, 6, e->cert_sha256, e->has_cert ? KILN_LEDGER_HASH_SIZE : 0,
                      SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 10, e->prev_hash, KILN_LEDGER_HASH_SIZE, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

static bool entry_of_record(const kiln_ledger_record *r, kiln_ledger_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->time = (uint64_t)time(NULL);
    e->has_cert = r->cert_sha256 != NULL;
    if (e->has_cert) {
        memcpy(e->cert_sha256, r->cert_sha256, KILN_LEDGER_HASH_SIZE);
    }
    return r->kind != NULL && *r->kind && ledger_set_text(e->kind, r->kind) &&
           ledger_set_text(e->endpoint, r->endpoint) && ledger_set_text(e->serial, r->serial) &&
           ledger_set_text(e->issuer_ca, r->issuer_ca) && ledger_set_text(e->station, r->station) &&
           ledger_set_text(e->outcome, r->outcome);
}

/* Ends the transaction begin_own opened (commit on success); the caller's own is left open. */
static kiln_ledger_status end_own(kiln_ledger *l, kiln_ledger_status status, bool own)
{
    if (!own) {
        return status;
    }
    const char *end = status == KILN_LEDGER_OK ? "COMMIT" : "ROLLBACK";
    if (sqlite3_exec(l->db, end, NULL, NULL, NULL) != SQLITE_OK && status == KILN_LEDGER_OK) {
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        status = KILN_LEDGER_STORAGE;
    }
    return status;
}

/* Opens a write transaction unless the caller has one (then the entry joins it). */
static bool begin_own(kiln_ledger *l, bool *own)
{
    *own = sqlite3_get_autocommit(l->db) != 0;
    return !*own || sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
}

kiln_ledger_status kiln_ledger_append(kiln_ledger *l, const kiln_ledger_record *r, uint64_t *seq)
{
    kiln_ledger_entry e;
    bool own;
    if (!entry_of_record(r, &e)) {
        return KILN_LEDGER_INVALID_ARGUMENT;
    }
    if (!begin_own(l, &own)) {
        return KILN_LEDGER_STORAGE;
    }
    int64_t last_id;
    kiln_ledger_status st = read_head(l, &e.seq, e.prev_hash, &last_id);
    st = st == KILN_LEDGER_OK ? insert_entry(l, &e) : st;
    if (st == KILN_LEDGER_OK && e.seq - last_checkpoint_seq(l) >= l->checkpoint_every) {
        uint8_t head[KILN_LEDGER_HASH_SIZE];
        st = kiln_ledger_entry_hash(&e, head);
        st = st == KILN_LEDGER_OK
                 ? write_checkpoint(l, sqlite3_last_insert_rowid(l->db), e.seq, head)
                 : st;
    }
    if (st == KILN_LEDGER_OK && seq != NULL) {
        *seq = e.seq;
    }
    return end_own(l, st, own);
}

kiln_ledger_status kiln_ledger_checkpoint_now(kiln_ledger *l)
{
    bool own;
    if (!begin_own(l, &own)) {
        return KILN_LEDGER_STORAGE;
    }
    uint64_t next_seq;
    int64_t last_id;
    uint8_t head[KILN_LEDGER_HASH_SIZE];
    kiln_ledger_status st = read_head(l, &next_seq, head, &last_id);
    if (st == KILN_LEDGER_OK && next_seq > 1 && last_checkpoint_seq(l) != next_seq - 1) {
        st = write_checkpoint(l, last_id, next_seq - 1, head);
    }
    return end_own(l, st, own);
}

kiln_ledger_status kiln_ledger_close(kiln_ledger *l)
{
    if (l == NULL) {
        return KILN_LEDGER_OK;
    }
    kiln_ledger_status st = l->insert_checkpoint ? kiln_ledger_checkpoint_now(l) : KILN_LEDGER_OK;
    sqlite3_finalize(l->last_entry);
    sqlite3_finalize(l->last_checkpoint);
    sqlite3_finalize(l->insert_entry);
    sqlite3_finalize(l->insert_checkpoint);
    free(l);
    return st;
}

/* ---- reading the stored ledger in storage order ---- */

typedef struct ledger_sink {
    void (*entry)(void *ctx, const kiln_ledger_entry *e);
    void (*checkpoint)(void *ctx, const kiln_ledger_checkpoint *c);
    void (*malformed)(void *ctx, const char *why);
    void *ctx;
} ledger_sink;

static bool row_checkpoint(sqlite3_stmt *st, kiln_ledger_checkpoint *c)
{
    bool ok = sqlite3_column_int64(st, 1) >= 0 && sqlite3_column_int64(st, 2) >= 0;
    size_t head_len;
    memset(c, 0, sizeof(*c));
    c->seq = (uint64_t)sqlite3_column_int64(st, 1);
    c->time = (uint64_t)sqlite3_column_int64(st, 2);
    column_blob(st, 3, c->head, KILN_LEDGER_HASH_SIZE, &head_len, &ok);
    column_blob(st, 4, c->sig, KILN_PKI_SIG_MAX, &c->sig_len, &ok);
    return ok && head_len == KILN_LEDGER_HASH_SIZE;
}

/* Feeds the checkpoints written after rows up to after_id; returns the sqlite step code. */
static int feed_checkpoints(sqlite3_stmt *cps, int rc, int64_t after_id, const ledger_sink *sink)
{
    kiln_ledger_checkpoint c;
    while (rc == SQLITE_ROW && sqlite3_column_int64(cps, 0) <= after_id) {
        if (row_checkpoint(cps, &c)) {
            sink->checkpoint(sink->ctx, &c);
        } else {
            sink->malformed(sink->ctx, "a checkpoint row has a column of the wrong type or size");
        }
        rc = sqlite3_step(cps);
    }
    return rc;
}

static kiln_ledger_status read_stored(sqlite3 *db, const ledger_sink *sink)
{
    sqlite3_stmt *rows = NULL, *cps = NULL;
    if (sqlite3_prepare_v2(db, "SELECT " ENTRY_COLUMNS " FROM ledger ORDER BY id", -1, &rows,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT after_id, seq, time, head, sig FROM ledger_checkpoint"
                           " ORDER BY after_id, id",
                           -1, &cps, NULL) != SQLITE_OK) {
        sqlite3_finalize(rows);
        return KILN_LEDGER_STORAGE;
    }
    int rc = SQLITE_ROW, crc = sqlite3_step(cps);
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(rows, 0);
        crc = feed_checkpoints(cps, crc, id - 1, sink);
        kiln_ledger_entry e;
        if (row_entry(rows, &e)) {
            sink->entry(sink->ctx, &e);
        } else {
            sink->malformed(sink->ctx, "a ledger row has a column of the wrong type or size");
        }
    }
    crc = feed_checkpoints(cps, crc, INT64_MAX, sink);
    sqlite3_finalize(rows);
    sqlite3_finalize(cps);
    return rc == SQLITE_DONE && crc == SQLITE_DONE ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

static void verify_entry(void *ctx, const kiln_ledger_entry *e)
{
    kiln_ledger_verifier_entry(ctx, e);
}

static void verify_checkpoint(void *ctx, const kiln_ledger_checkpoint *c)
{
    kiln_ledger_verifier_checkpoint(ctx, c);
}

static void verify_malformed(void *ctx, const char *why)
{
    kiln_ledger_verifier_malformed(ctx, why);
}

static bool has_tables(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool found = sqlite3_prepare_v2(db,
                                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                                    " name IN ('ledger', 'ledger_checkpoint')",
                                    -1, &st, NULL) == SQLITE_OK &&
                 sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 2;
    sqlite3_finalize(st);
    return found;
}

kiln_ledger_status kiln_ledger_verify_db(sqlite3 *db, const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict)
{
    kiln_ledger_verifier *v = NULL;
    if (kiln_ledger_verifier_new(point, &v) != KILN_LEDGER_OK) {
        return kiln_ledger_verifier_finish(NULL, verdict);
    }
    ledger_sink sink = {verify_entry, verify_checkpoint, verify_malformed, v};
    if (has_tables(db) && read_stored(db, &sink) != KILN_LEDGER_OK) {
        kiln_ledger_verifier_malformed(v, "the ledger tables cannot be read");
    }
    return kiln_ledger_verifier_finish(v, verdict);
}

typedef struct export_ctx {
    FILE *out;
    kiln_ledger_format format;
    kiln_ledger_status status;
} export_ctx;

static void export_entry(void *ctx, const kiln_ledger_entry *e)
{
    export_ctx *x = ctx;
    if (x->status == KILN_LEDGER_OK) {
        x->status = kiln_ledger_write_entry(x->out, x->format, e);
    }
}

static void export_checkpoint(void *ctx, const kiln_ledger_checkpoint *c)
{
    export_ctx *x = ctx;
    if (x->status == KILN_LEDGER_OK) {
        x->status = kiln_ledger_write_checkpoint(x->out, x->format, c);
    }
}

static void export_malformed(void *ctx, const char *why)
{
    (void)why;
    export_ctx *x = ctx;
    if (x->status == KILN_LEDGER_OK) {
        x->status = KILN_LEDGER_MALFORMED;
    }
}

kiln_ledger_status kiln_ledger_export_db(sqlite3 *db, FILE *out, kiln_ledger_format format)
{
    export_ctx x = {out, format, KILN_LEDGER_OK};
    ledger_sink sink = {export_entry, export_checkpoint, export_malformed, &x};
    if (!has_tables(db)) {
        return KILN_LEDGER_OK;
    }
    kiln_ledger_status st = read_stored(db, &sink);
    return st != KILN_LEDGER_OK ? st : x.status;
}
