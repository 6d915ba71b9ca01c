/* The ledger in SQLite: table ledger (one row per entry, columns as the entry's fields) and
 * table ledger_checkpoint (after_id: the ledger row it was written after). Storage order is
 * the rowid; the verifier is fed rows in that order, so a row moved, removed or added shows. The
 * writer keeps the head in memory; inside the write transaction each append first checks that
 * it is still the head (the last row is the one this connection wrote or read, and no other
 * connection has committed since: PRAGMA data_version), else the head is read again from the
 * last row. So several processes may share one database, and a rolled-back transaction (its
 * rows gone) is noticed. The check is made once per write transaction: after an entry of this
 * writer went in, no other connection can commit before this transaction ends, so the next
 * entries of the same transaction stand on the head as kept, as long as no other writer on the
 * same connection appended in between; the connection's commit and rollback hooks (set while a
 * writer is open on it) mark when the transaction ends. A SQLite file holds the unnamed chain only
 * (SQLite lets one writer in at a time anyway: named chains would buy nothing); PostgreSQL has the
 * named ones. */
#include <pthread.h>
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

typedef struct sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *last_entry, *last_checkpoint, *insert_entry, *insert_checkpoint;
    sqlite3_stmt *data_version, *last_id;
    /* What the kept head stands on: the last row's id and the database's data_version then. */
    bool head_known;
    sqlite3_int64 head_row, head_version;
    /* An entry of this writer went in inside the write transaction still open (the
     * connection's transaction count was held_at then): the head is ours until it ends. */
    struct connection *conn; /* NULL: the head is checked at every entry */
    bool head_held;
    uint64_t held_at;
} sqlite_store;

/* The writers' connections, each with its commit and rollback hooks counting the ends of its
 * transactions (commit: called before it is made; a commit that fails turns into a rollback
 * or leaves a transaction whose head is then checked again; rollback: an explicit one, or
 * SQLite's own after an error). Shared by the writers open on one connection. */
typedef struct connection {
    sqlite3 *db;
    unsigned writers;
    uint64_t ends;
    const sqlite_store *last; /* the writer whose entry went in last (another's moves the head) */
    struct connection *next;
} connection;

static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;
static connection *connections;

static int transaction_committing(void *arg)
{
    ((connection *)arg)->ends++;
    return 0; /* the commit goes ahead */
}

static void transaction_rolled_back(void *arg)
{
    ((connection *)arg)->ends++;
}

/* db's entry, its hooks set by the first writer; NULL when out of memory, or when db had a
 * hook of its own (against kiln_ledger_open's contract: that hook is lost, and this writer
 * checks the head at every entry). */
static connection *connection_hold(sqlite3 *db)
{
    pthread_mutex_lock(&connections_lock);
    connection *c = connections;
    while (c != NULL && c->db != db) {
        c = c->next;
    }
    if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
        void *commit = sqlite3_commit_hook(db, transaction_committing, c);
        void *rollback = sqlite3_rollback_hook(db, transaction_rolled_back, c);
        if (commit != NULL || rollback != NULL) {
            sqlite3_commit_hook(db, NULL, NULL);
            sqlite3_rollback_hook(db, NULL, NULL);
            free(c);
            c = NULL;
        } else {
            c->db = db;
            c->next = connections;
            connections = c;
        }
    }
    if (c != NULL) {
        c->writers++;
    }
    pthread_mutex_unlock(&connections_lock);
    return c;
}

static void connection_release(connection *c, const sqlite_store *s)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&connections_lock);
    if (c->last == s) {
        c->last = NULL;
    }
    if (--c->writers == 0) {
        sqlite3_commit_hook(c->db, NULL, NULL);
        sqlite3_rollback_hook(c->db, NULL, NULL);
        connection **p = &connections;
        while (*p != c) {
            p = &(*p)->next;
        }
        *p = c->next;
        free(c);
    }
    pthread_mutex_unlock(&connections_lock);
}

/* One integer from a one-row statement; -1 when it failed. */
static sqlite3_int64 step_int(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_int64 v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

/* The head kept in memory is still the chain's: no other connection committed since it was
 * known, and the last row is still the one it links to (a rollback of this connection's own
 * transaction removed none). Only called inside the write transaction. */
static bool head_still_ours(sqlite_store *s)
{
    if (s->head_known && s->head_held && s->conn->ends == s->held_at && s->conn->last == s &&
        !sqlite3_get_autocommit(s->db)) {
        return true; /* checked already in this write transaction */
    }
    return s->head_known && s->data_version != NULL &&
           step_int(s->data_version) == s->head_version && step_int(s->last_id) == s->head_row;
}

static void sq_destroy(void *store)
{
    sqlite_store *s = store;
    if (s == NULL) {
        return;
    }
    connection_release(s->conn, s);
    sqlite3_finalize(s->last_entry);
    sqlite3_finalize(s->last_checkpoint);
    sqlite3_finalize(s->insert_entry);
    sqlite3_finalize(s->insert_checkpoint);
    sqlite3_finalize(s->data_version);
    sqlite3_finalize(s->last_id);
    free(s);
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

/* Opens a write transaction unless the caller has one (then the entry joins it). */
static kiln_ledger_status sq_begin(void *store, bool *own)
{
    sqlite_store *s = store;
    *own = sqlite3_get_autocommit(s->db) != 0;
    return !*own || sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? KILN_LEDGER_OK
               : KILN_LEDGER_STORAGE;
}

/* Ends the transaction sq_begin opened (commit on success); the caller's own is left open. */
static kiln_ledger_status sq_end(void *store, kiln_ledger_status status, bool own)
{
    sqlite_store *s = store;
    if (!own) {
        return status;
    }
    const char *end = status == KILN_LEDGER_OK ? "COMMIT" : "ROLLBACK";
    if (sqlite3_exec(s->db, end, NULL, NULL, NULL) != SQLITE_OK && status == KILN_LEDGER_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        status = KILN_LEDGER_STORAGE;
    }
    return status;
}

/* The head: the next sequence number and the hash the next entry links to. */
static kiln_ledger_status sq_read_head(void *store, const char *chain, uint64_t *next_seq,
                                       uint8_t head[KILN_LEDGER_HASH_SIZE], uint64_t *last_cp)
{
    sqlite_store *s = store;
    if (chain[0] != '\0') {
        return KILN_LEDGER_INVALID_ARGUMENT; /* a SQLite file holds the unnamed chain only */
    }
    kiln_ledger_entry e;
    sqlite3_reset(s->last_entry);
    int rc = sqlite3_step(s->last_entry);
    kiln_ledger_status st = KILN_LEDGER_OK;
    *next_seq = 1;
    memset(head, 0, KILN_LEDGER_HASH_SIZE);
    s->head_known = false;
    s->head_held = false;
    sqlite3_int64 row = 0;
    if (rc == SQLITE_ROW) {
        row = sqlite3_column_int64(s->last_entry, 0);
        st =
            row_entry(s->last_entry, &e) ? kiln_ledger_entry_hash(&e, head) : KILN_LEDGER_MALFORMED;
        *next_seq = e.seq + 1;
    } else if (rc != SQLITE_DONE) {
        st = KILN_LEDGER_STORAGE;
    }
    if (st == KILN_LEDGER_OK && s->data_version != NULL) {
        s->head_row = row;
        s->head_version = step_int(s->data_version);
        s->head_known = s->head_version >= 0;
    }
    sqlite3_reset(s->last_entry);
    sqlite3_reset(s->last_checkpoint);
    *last_cp = sqlite3_step(s->last_checkpoint) == SQLITE_ROW
                   ? (uint64_t)sqlite3_column_int64(s->last_checkpoint, 0)
                   : 0;
    sqlite3_reset(s->last_checkpoint);
    return st;
}

static kiln_ledger_status sq_append_checkpoint(void *store, const kiln_ledger_checkpoint *c)
{
    sqlite_store *s = store;
    if (!head_still_ours(s)) {
        return LEDGER_HEAD_STALE;
    }
    sqlite3_stmt *st = s->insert_checkpoint;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)c->seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)c->time);
    sqlite3_bind_blob(st, 3, c->head, KILN_LEDGER_HASH_SIZE, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, c->sig, (int)c->sig_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    s->head_held = s->head_held && rc == SQLITE_DONE && s->conn->ends == s->held_at;
    return rc == SQLITE_DONE ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

static kiln_ledger_status sq_append_entry(void *store, const kiln_ledger_entry *e)
{
    sqlite_store *s = store;
    if (!head_still_ours(s)) {
        return LEDGER_HEAD_STALE;
    }
    sqlite3_stmt *st = s->insert_entry;
    const char *texts[] = {e->kind, e->endpoint, e->serial};
    const char *tail[] = {e->issuer_ca, e->station, e->outcome};
    /* e outlives the step (SQLITE_STATIC: no copy of each field); reset right after it */
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)e->seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)e->time);
    for (int i = 0; i < 3; i++) {
        sqlite3_bind_text(st, 3 + i, texts[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7 + i, tail[i], -1, SQLITE_STATIC);
    }
    sqlite3_bind_blob(st, 6, e->cert_sha256, e->has_cert ? KILN_LEDGER_HASH_SIZE : 0,
                      SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, e->prev_hash, KILN_LEDGER_HASH_SIZE, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    s->head_row = sqlite3_last_insert_rowid(s->db);
    s->head_known = rc == SQLITE_DONE;
    /* inside a write transaction that now holds this entry: the head stays ours until it ends */
    s->head_held = rc == SQLITE_DONE && s->conn != NULL && !sqlite3_get_autocommit(s->db);
    s->held_at = s->conn != NULL ? s->conn->ends : 0;
    if (s->conn != NULL && rc == SQLITE_DONE) {
        s->conn->last = s;
    }
    return rc == SQLITE_DONE ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
}

/* ---- reading the stored ledger in storage order ---- */

typedef kiln_ledger_sink ledger_sink;

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

static kiln_ledger_status sq_iterate(void *store, const kiln_ledger_sink *sink)
{
    sqlite_store *s = store;
    return has_tables(s->db) ? read_stored(s->db, sink) : KILN_LEDGER_OK;
}

static const kiln_ledger_store_ops sqlite_ops = {
    sq_begin, sq_end, sq_read_head, sq_append_entry, sq_append_checkpoint, sq_iterate, sq_destroy,
};

kiln_ledger_status kiln_ledger_open(sqlite3 *db, const kiln_pki_signer *signer,
                                    unsigned checkpoint_every, kiln_ledger **out)
{
    sqlite_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return KILN_LEDGER_NO_MEMORY;
    }
    s->db = db;
    const char *sql[] = {
        "SELECT " ENTRY_COLUMNS " FROM ledger ORDER BY id DESC LIMIT 1",
        "SELECT seq FROM ledger_checkpoint ORDER BY id DESC LIMIT 1",
        INSERT_ENTRY_SQL,
        ("INSERT INTO ledger_checkpoint (after_id, seq, time, head, sig)"
         " VALUES ((SELECT coalesce(max(id), 0) FROM ledger), ?, ?, ?, ?)"),
        "PRAGMA data_version",
        "SELECT coalesce(max(id), 0) FROM ledger",
    };
    sqlite3_stmt **stmts[] = {&s->last_entry,        &s->last_checkpoint, &s->insert_entry,
                              &s->insert_checkpoint, &s->data_version,    &s->last_id};
    bool ok = sqlite3_exec(db, schema, NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < sizeof(sql) / sizeof(sql[0]); i++) {
        ok = sqlite3_prepare_v2(db, sql[i], -1, stmts[i], NULL) == SQLITE_OK;
    }
    if (!ok) {
        sq_destroy(s);
        return KILN_LEDGER_STORAGE;
    }
    s->conn = connection_hold(db);
    return kiln_ledger_open_chain(&sqlite_ops, s, signer, checkpoint_every, "", true, out);
}

kiln_ledger_status kiln_ledger_verify_db(sqlite3 *db, const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict)
{
    sqlite_store s = {.db = db};
    return kiln_ledger_verify_store(&sqlite_ops, &s, point, verdict);
}

kiln_ledger_status kiln_ledger_export_db(sqlite3 *db, FILE *out, kiln_ledger_format format)
{
    sqlite_store s = {.db = db};
    return kiln_ledger_export_store(&sqlite_ops, &s, out, format);
}
