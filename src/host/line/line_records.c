#include "line_records.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "kiln_endpoint_name.h"
#include "kiln_ledger.h"
#include "kiln_ledger_pg.h"
#include "line_claims.h"
#include "line_records_pg.h"
#include "line_text.h"

/* Rows per many-row INSERT or UPDATE (line_records_add_many, _begin_many, _finish_many). */
#define LINE_RECORDS_ROWS 16

struct line_records {
    sqlite3 *db;
    lrpg *pg; /* set instead of db: the records are on PostgreSQL */
    char host[256];
    char pid_ns[64]; /* this process's PID namespace: its pids mean something only there */
    pid_t pid;       /* this process (a records handle, like its SQLite connection, is not used
                      * across fork) */
    /* The time now as NOW_SQL writes it, formatted once per second (bind_now). */
    time_t now_second;
    char now_text[64];
    sqlite3_stmt *begin, *finish, *add, *provisioned, *identity;
    sqlite3_stmt *add_rows; /* LINE_RECORDS_ROWS rows in one INSERT, prepared at first use */
    /* inject-batch's turns: [k - 1] begins k started rows in one INSERT, finishes k attempts
     * in one UPDATE (a turn is rarely a multiple of LINE_RECORDS_ROWS; prepared at first use) */
    sqlite3_stmt *begin_rows[LINE_RECORDS_ROWS], *finish_rows[LINE_RECORDS_ROWS];
    /* Prepared once: a batch claims, releases and looks up one row per device. */
    sqlite3_stmt *claim_insert, *claim_holder, *release, *set_identity, *row_of_id;
    /* The tamper-evident ledger beside the attempts (NULL: not kept by this caller). */
    kiln_ledger *ledger;
    kiln_pki_signer *ledger_key;
    /* PostgreSQL: the ledger opens at the first entry, on the chain named after its station. */
    bool ledger_lazy;
    unsigned ledger_every;
    char issuer_ca[KILN_LEDGER_TEXT_MAX + 1];
    char *bundles; /* prepare-batch's --out, written with each claim (NULL otherwise) */
};

#define NOW_SQL              "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
#define LINE_RECORDS_NOW_LEN 24 /* 2026-12-05T13:50:49.123Z */

/* line_records_add_many: the parameters of each row after the shared ones (?1 host, ?2 pid,
 * ?3 issuer_ca, ?4 the time). */
#define LINE_RECORDS_ROW_PARAMS 12
#define LINE_RECORDS_SHARED     4
/* line_records_begin_many: the parameters of each started row after the same shared four;
 * line_records_finish_many: of each finish, after ?1 the time. */
#define LINE_RECORDS_BEGIN_PARAMS  8
#define LINE_RECORDS_FINISH_PARAMS 6

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS attempts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " endpoint TEXT NOT NULL,"
    " serial TEXT NOT NULL,"
    " address TEXT,"
    " station TEXT,"
    " batch TEXT,"
    " host TEXT,"
    " pid INTEGER,"
    " cert_sha256 TEXT,"
    " cert_sha1 TEXT,"
    " bundle_sha256 TEXT,"
    " state TEXT NOT NULL,"
    " error_code INTEGER NOT NULL DEFAULT 0,"
    " error_text TEXT,"
    " device_status INTEGER,"
    " tries INTEGER NOT NULL DEFAULT 0,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT);"
    "CREATE INDEX IF NOT EXISTS attempts_endpoint ON attempts(endpoint, state);"
    "CREATE INDEX IF NOT EXISTS attempts_state ON attempts(state);"
    /* One row per endpoint: the station that issues (issued) its certificate. The primary key
     * is what keeps two stations on one database from both issuing one. */
    "CREATE TABLE IF NOT EXISTS endpoint_claims ("
    " endpoint TEXT PRIMARY KEY,"
    " station TEXT NOT NULL,"
    " host TEXT,"
    " pid INTEGER,"
    " claimed_at TEXT NOT NULL);"
    /* The schema's version: a file made before this table existed holds version 1 (the same
     * attempts table) and is upgraded in place by stamping it; records_schema() then takes
     * it to 2. */
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "INSERT INTO schema_version(version) SELECT 1"
    " WHERE NOT EXISTS (SELECT 1 FROM schema_version);";

bool line_records_is_url(const char *path)
{
    return path != NULL &&
           (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0);
}

char *line_records_default_path(const char *home_dir)
{
    const char *url = getenv("KILN_RECORDS_URL");
    const char *env = url != NULL && *url ? url : getenv("KILN_RECORDS_DB");
    if (env != NULL && *env) {
        return strdup(env);
    }
    const char *home = home_dir && *home_dir ? home_dir : ".";
    size_t n = strlen(home) + 32;
    char *path = malloc(n);
    if (path != NULL) {
        snprintf(path, n, "%s/kiln-records.db", home);
    }
    return path;
}

static int prepare(line_records *r, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v2(r->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

/* ---- schema migrations (version 1 -> 2: attempts.issuer_ca) ---- */

static int schema_version_get(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The schema, then its migration: version 2 adds the issuing CA of each attempt, 3 where a
 * claim's prepare-batch put its bundles; one writer migrates, the others see 3. One
 * transaction: a new file is made in one commit, not one per table, index and column. */
static int records_schema(line_records *r, const char *path, char *why, size_t why_size)
{
    char *err = NULL;
    int rc = sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, &err);
    if (rc == SQLITE_OK && (rc = sqlite3_exec(r->db, schema, NULL, NULL, &err)) != SQLITE_OK) {
        snprintf(why, why_size, "cannot initialise records database %s: %s", path,
                 err ? err : sqlite3_errmsg(r->db));
        sqlite3_free(err);
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    int version = rc == SQLITE_OK ? schema_version_get(r->db) : -1;
    if (version == 1)
        rc = sqlite3_exec(r->db,
                          "ALTER TABLE attempts ADD COLUMN issuer_ca TEXT;"
                          "UPDATE schema_version SET version=2;",
                          NULL, NULL, &err);
    if (rc == SQLITE_OK && (version == 1 || version == 2))
        rc = sqlite3_exec(r->db,
                          "ALTER TABLE endpoint_claims ADD COLUMN bundles TEXT;"
                          "ALTER TABLE endpoint_claims ADD COLUMN pid_ns TEXT;"
                          "UPDATE schema_version SET version=3;",
                          NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(r->db, "COMMIT", NULL, NULL, &err);
    else
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        snprintf(why, why_size, "cannot migrate records database %s to schema 3: %s", path,
                 err ? err : sqlite3_errmsg(r->db));
    sqlite3_free(err);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The host name and PID namespace claims are made under: two containers may share a host name
 * (host networking) but not their pids. */
static void where_am_i(line_records *r)
{
    if (gethostname(r->host, sizeof(r->host) - 1) != 0) {
        strcpy(r->host, "localhost");
    }
    ssize_t ns = readlink("/proc/self/ns/pid", r->pid_ns, sizeof(r->pid_ns) - 1);
    r->pid_ns[ns > 0 ? ns : 0] = '\0';
    r->pid = getpid();
    r->now_second = (time_t)-1;
}

line_records *line_records_open(const char *path, char *why, size_t why_size)
{
    line_records *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    where_am_i(r);
    if (line_records_is_url(path)) {
        if ((r->pg = lrpg_open(path, r->host, why, why_size)) == NULL) {
            free(r);
            return NULL;
        }
        return r;
    }
    /* NOMUTEX: a handle is used by one thread at a time (its statements are shared), so the
     * connection's mutex around every call (bind, step, reset) would only cost. */
    if (sqlite3_open_v2(path, &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(why, why_size, "cannot open records database %s: %s", path,
                 r->db ? sqlite3_errmsg(r->db) : "out of memory");
        line_records_close(r);
        return NULL;
    }
    /* Several stations (processes) may share one database. */
    sqlite3_busy_timeout(r->db, 10000);
    char *err = NULL;
    if (sqlite3_exec(r->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &err) != SQLITE_OK) {
        snprintf(why, why_size, "cannot initialise records database %s: %s", path,
                 err ? err : sqlite3_errmsg(r->db));
        sqlite3_free(err);
        line_records_close(r);
        return NULL;
    }
    if (records_schema(r, path, why, why_size) != 0) {
        line_records_close(r);
        return NULL;
    }
    if (prepare(r, &r->begin,
                "INSERT INTO attempts(endpoint, serial, address, station, batch, host, pid,"
                " cert_sha256, cert_sha1, bundle_sha256, state, started_at, issuer_ca)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,'started'," NOW_SQL ",?20)") != 0 ||
        prepare(r, &r->finish,
                "UPDATE attempts SET state=?, error_code=?, error_text=?, device_status=?,"
                " tries=?, finished_at=" NOW_SQL " WHERE id=?") != 0 ||
        prepare(r, &r->add,
                "INSERT INTO attempts(endpoint, serial, address, station, batch, host, pid,"
                " cert_sha256, cert_sha1, bundle_sha256, state, error_code, error_text,"
                " device_status, tries, started_at, finished_at, issuer_ca)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?21,?21,?20)") != 0 ||
        prepare(r, &r->provisioned,
                "SELECT 1 FROM attempts WHERE endpoint=? AND state='success' LIMIT 1") != 0 ||
        prepare(r, &r->identity,
                "SELECT cert_sha256, cert_sha1, bundle_sha256 FROM attempts WHERE endpoint=?"
                " AND state=? ORDER BY id DESC LIMIT 1") != 0 ||
        prepare(r, &r->claim_insert,
                "INSERT INTO endpoint_claims(endpoint, station, host, pid, claimed_at, bundles,"
                " pid_ns) VALUES(?1, ?2, ?3, ?4, ?7, ?5, ?6) ON CONFLICT(endpoint) DO"
                " UPDATE SET host=excluded.host, pid=excluded.pid, claimed_at=excluded.claimed_at,"
                " bundles=excluded.bundles, pid_ns=excluded.pid_ns"
                " WHERE endpoint_claims.station=excluded.station") != 0 ||
        prepare(r, &r->claim_holder, "SELECT station FROM endpoint_claims WHERE endpoint=?1") !=
            0 ||
        prepare(r, &r->release, "DELETE FROM endpoint_claims WHERE endpoint=?1 AND station=?2") !=
            0 ||
        prepare(r, &r->set_identity,
                "UPDATE attempts SET cert_sha256=?, cert_sha1=?, bundle_sha256=? WHERE id=?") !=
            0 ||
        prepare(r, &r->row_of_id,
                "SELECT endpoint, serial, station, cert_sha256 FROM attempts WHERE id=?") != 0) {
        snprintf(why, why_size, "records database %s: %s", path, sqlite3_errmsg(r->db));
        line_records_close(r);
        return NULL;
    }
    return r;
}

void line_records_close(line_records *r)
{
    if (r == NULL) {
        return;
    }
    kiln_ledger_close(r->ledger); /* signs the head: the end of a batch */
    kiln_pki_signer_free(r->ledger_key);
    sqlite3_finalize(r->begin);
    sqlite3_finalize(r->finish);
    sqlite3_finalize(r->add);
    sqlite3_finalize(r->add_rows);
    for (int k = 0; k < LINE_RECORDS_ROWS; k++) {
        sqlite3_finalize(r->begin_rows[k]);
        sqlite3_finalize(r->finish_rows[k]);
    }
    sqlite3_finalize(r->provisioned);
    sqlite3_finalize(r->identity);
    sqlite3_finalize(r->claim_insert);
    sqlite3_finalize(r->claim_holder);
    sqlite3_finalize(r->release);
    sqlite3_finalize(r->set_identity);
    sqlite3_finalize(r->row_of_id);
    sqlite3_close(r->db);
    lrpg_close(r->pg);
    free(r->bundles);
    free(r);
}

int line_records_recover(line_records *r)
{
    if (r->pg != NULL) {
        return lrpg_recover(r->pg);
    }
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int changed = 0;
    if (prepare(r, &sel, "SELECT id, pid FROM attempts WHERE state='started' AND host=?") != 0 ||
        prepare(r, &upd,
                "UPDATE attempts SET state='interrupted', error_code=1000,"
                " error_text='General error on factory tool: the process ended before the"
                " attempt finished; its certificate was never confirmed by the device',"
                " finished_at=" NOW_SQL " WHERE id=? AND state='started'") != 0) {
        sqlite3_finalize(sel);
        sqlite3_finalize(upd);
        return -1;
    }
    sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_bind_text(sel, 1, r->host, -1, SQLITE_STATIC);
    while (sqlite3_step(sel) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(sel, 0);
        pid_t pid = (pid_t)sqlite3_column_int64(sel, 1);
        /* A live process (another station on this host) still owns its attempt. */
        if (pid > 0 && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)) {
            continue;
        }
        sqlite3_bind_int64(upd, 1, id);
        if (sqlite3_step(upd) == SQLITE_DONE) {
            changed += sqlite3_changes(r->db);
        }
        sqlite3_reset(upd);
    }
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return changed;
}

/* Texts are bound SQLITE_STATIC: every caller binds right before it steps and resets the
 * statement before the text can go away, and every parameter is bound again before each step
 * (no sqlite3_clear_bindings, no copy of each text). */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL && *s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void bind_attempt(line_records *r, sqlite3_stmt *st, const line_attempt *a)
{
    sqlite3_bind_text(st, 1, a->endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->serial ? a->serial : "", -1, SQLITE_STATIC);
    bind_text(st, 3, a->address);
    bind_text(st, 4, a->station);
    bind_text(st, 5, a->batch);
    bind_text(st, 6, r->host);
    sqlite3_bind_int64(st, 7, (int64_t)r->pid);
    bind_text(st, 8, a->cert_sha256);
    bind_text(st, 9, a->cert_sha1);
    bind_text(st, 10, a->bundle_sha256);
    bind_text(st, 20, r->issuer_ca); /* the CA's certificate SHA-256, when the ledger knows it */
}

/* A device's status, or NULL when there is none (below 0). */
static void bind_status(sqlite3_stmt *st, int i, int device_status)
{
    if (device_status >= 0) {
        sqlite3_bind_int(st, i, device_status);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void copy_column(sqlite3_stmt *st, int col, char *out, size_t size);

/* ---- the ledger beside the attempts ---- */

int line_records_attach_ledger(line_records *r, kiln_pki_signer *key, const char *issuer_ca,
                               unsigned checkpoint_every)
{
    snprintf(r->issuer_ca, sizeof(r->issuer_ca), "%s", issuer_ca ? issuer_ca : "");
    /* On PostgreSQL the chain is the station's (N stations never wait for each other's
     * appends), known at the first entry; a SQLite file keeps its one unnamed chain. */
    kiln_ledger_status st = r->ledger != NULL || r->ledger_lazy ? KILN_LEDGER_STORAGE
                            : r->pg != NULL
                                ? KILN_LEDGER_OK
                                : kiln_ledger_open(r->db, key, checkpoint_every, &r->ledger);
    if (st != KILN_LEDGER_OK) {
        kiln_pki_signer_free(key);
        return -1;
    }
    r->ledger_lazy = r->pg != NULL;
    r->ledger_every = checkpoint_every;
    r->ledger_key = key;
    return 0;
}

/* The attached ledger, opened on station's chain first when it waits for its station. */
static kiln_ledger *ledger_ready(line_records *r, const char *station)
{
    if (r->ledger == NULL && r->ledger_lazy) {
        const char *name = line_records_station(r, station);
        kiln_ledger_status st = kiln_ledger_open_pg_chain(lrpg_conn(r->pg), r->ledger_key,
                                                          r->ledger_every, name, &r->ledger);
        if (st != KILN_LEDGER_OK) {
            r->ledger = NULL;
            fprintf(stderr, "factory_tool: ledger error %d: %s (chain %s)\n", (int)st,
                    kiln_ledger_strerror(st), name);
        }
    }
    return r->ledger;
}

int line_records_ledger_append(line_records *r, const kiln_ledger_record *rec)
{
    kiln_ledger *l = ledger_ready(r, rec->station);
    return l != NULL && kiln_ledger_append(l, rec, NULL) == KILN_LEDGER_OK ? 0 : -1;
}

/* A hex digit's value, or -1 (sscanf per byte was a sixth of a record's cost). */
static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool hex_sha256(const char *hex, uint8_t out[KILN_LEDGER_HASH_SIZE])
{
    if (hex == NULL || strlen(hex) != 2 * KILN_LEDGER_HASH_SIZE) {
        return false;
    }
    for (size_t i = 0; i < KILN_LEDGER_HASH_SIZE; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Appends what an attempt row says: the certificate it issued (kind certificate, only when it
 * has one) or how it ended (kind outcome: the state, and the error code when not 0). */
static int ledger_note(line_records *r, const char *kind, const line_attempt *a, const char *state,
                       int error_code)
{
    uint8_t cert[KILN_LEDGER_HASH_SIZE];
    bool has_cert = hex_sha256(a->cert_sha256, cert);
    bool certificate = strcmp(kind, KILN_LEDGER_KIND_CERTIFICATE) == 0;
    if ((r->ledger == NULL && !r->ledger_lazy) || (certificate && !has_cert)) {
        return 0;
    }
    if (ledger_ready(r, a->station) == NULL) {
        return -1;
    }
    char outcome[64];
    if (error_code != 0) {
        snprintf(outcome, sizeof(outcome), "%s %d", state, error_code);
    } else {
        snprintf(outcome, sizeof(outcome), "%s", state);
    }
    kiln_ledger_record rec = {kind,         a->endpoint, a->serial, has_cert ? cert : NULL,
                              r->issuer_ca, a->station,  outcome};
    kiln_ledger_status st = kiln_ledger_append(r->ledger, &rec, NULL);
    /* PostgreSQL lost under the entry's own transaction (not a batch's): reconnect, once. */
    if (st != KILN_LEDGER_OK && r->pg != NULL && !lrpg_in_transaction(r->pg) &&
        lrpg_reconnect(lrpg_conn(r->pg), NULL)) {
        st = kiln_ledger_append(r->ledger, &rec, NULL);
    }
    return st == KILN_LEDGER_OK ? 0 : -1;
}

static const char *column_or_empty(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    return text ? (const char *)text : "";
}

/* ledger_note for an attempt known by its id. */
static int ledger_note_row(line_records *r, int64_t id, const char *kind, const char *state,
                           int error_code)
{
    if (r->ledger == NULL) {
        return 0;
    }
    sqlite3_stmt *st = r->row_of_id;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        line_attempt a = {.endpoint = column_or_empty(st, 0),
                          .serial = column_or_empty(st, 1),
                          .station = column_or_empty(st, 2),
                          .cert_sha256 = column_or_empty(st, 3)};
        rc = ledger_note(r, kind, &a, state, error_code);
    }
    sqlite3_reset(st);
    return rc;
}

/* ledger_note for the row a PostgreSQL update returned. */
static int ledger_note_pg(line_records *r, int rc, const lrpg_row *row, const char *kind,
                          const char *state, int error_code)
{
    if (rc != 0) {
        return rc;
    }
    line_attempt a = {.endpoint = row->endpoint,
                      .serial = row->serial,
                      .station = row->station,
                      .cert_sha256 = row->cert_sha256};
    return ledger_note(r, kind, &a, state, error_code);
}

/* The ledger entry of a finished attempt, from the attempt as begun: what the row holds, ""
 * where a column is NULL (as ledger_note_row's column_or_empty reads it). */
static int note_outcome(line_records *r, const line_attempt *a, const char *state, int error_code)
{
    line_attempt row = {.endpoint = a->endpoint,
                        .serial = a->serial ? a->serial : "",
                        .station = a->station ? a->station : "",
                        .cert_sha256 = a->cert_sha256 ? a->cert_sha256 : ""};
    return ledger_note(r, KILN_LEDGER_KIND_OUTCOME, &row, state, error_code);
}

int64_t line_records_begin(line_records *r, const line_attempt *a)
{
    if (r->pg != NULL) {
        int64_t id = lrpg_insert(r->pg, a, NULL, 0, NULL, -1, r->issuer_ca);
        return id > 0 && ledger_note(r, KILN_LEDGER_KIND_CERTIFICATE, a, "issued", 0) == 0 ? id
                                                                                           : -1;
    }
    sqlite3_reset(r->begin);
    bind_attempt(r, r->begin, a);
    int done = sqlite3_step(r->begin);
    sqlite3_reset(r->begin);
    if (done != SQLITE_DONE) {
        return -1;
    }
    int64_t id = sqlite3_last_insert_rowid(r->db);
    return ledger_note(r, KILN_LEDGER_KIND_CERTIFICATE, a, "issued", 0) == 0 ? id : -1;
}

int line_records_set_identity(line_records *r, int64_t id, const char *cert_sha256,
                              const char *cert_sha1, const char *bundle_sha256)
{
    if (r->pg != NULL) {
        lrpg_row row;
        int rc = lrpg_set_identity(r->pg, id, cert_sha256, cert_sha1, bundle_sha256, &row);
        return ledger_note_pg(r, rc, &row, KILN_LEDGER_KIND_CERTIFICATE, "issued", 0);
    }
    sqlite3_stmt *st = r->set_identity;
    sqlite3_reset(st);
    bind_text(st, 1, cert_sha256);
    bind_text(st, 2, cert_sha1);
    bind_text(st, 3, bundle_sha256);
    sqlite3_bind_int64(st, 4, id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(st);
    return rc == 0 ? ledger_note_row(r, id, KILN_LEDGER_KIND_CERTIFICATE, "issued", 0) : rc;
}

int line_records_finish(line_records *r, int64_t id, const char *state, int error_code,
                        const char *error_text, int device_status, int tries)
{
    return line_records_finish_known(r, id, NULL, state, error_code, error_text, device_status,
                                     tries);
}

int line_records_finish_known(line_records *r, int64_t id, const line_attempt *a, const char *state,
                              int error_code, const char *error_text, int device_status, int tries)
{
    if (r->pg != NULL) {
        lrpg_row row;
        int rc = lrpg_finish(r->pg, id, state, error_code, error_text, device_status, tries, &row);
        return ledger_note_pg(r, rc, &row, KILN_LEDGER_KIND_OUTCOME, state, error_code);
    }
    sqlite3_stmt *st = r->finish;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, error_code);
    bind_text(st, 3, error_text);
    bind_status(st, 4, device_status);
    sqlite3_bind_int(st, 5, tries);
    sqlite3_bind_int64(st, 6, id);
    int done = sqlite3_step(st);
    sqlite3_reset(st);
    if (done != SQLITE_DONE) {
        return -1;
    }
    return a == NULL ? ledger_note_row(r, id, KILN_LEDGER_KIND_OUTCOME, state, error_code)
                     : note_outcome(r, a, state, error_code);
}

/* Binds the time now as NOW_SQL writes it (UTC, milliseconds truncated): formatted here
 * instead of by SQLite's strftime, the date and time once per second (snprintf and gmtime_r
 * were ~4.6k instructions a statement) and the milliseconds written into it each time. The
 * text is r's: bound SQLITE_STATIC, read by the step that follows. */
static void bind_now(line_records *r, sqlite3_stmt *st, int index)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *text = r->now_text;
    int n = LINE_RECORDS_NOW_LEN;
    if (ts.tv_sec != r->now_second) {
        struct tm tm;
        if (gmtime_r(&ts.tv_sec, &tm) == NULL) {
            memset(&tm, 0, sizeof(tm));
        }
        n = snprintf(text, sizeof(r->now_text), "%04d-%02d-%02dT%02d:%02d:%02d.000Z",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
        if (n < 5 || n >= (int)sizeof(r->now_text)) {
            n = snprintf(text, sizeof(r->now_text), ".000Z"); /* not a time gmtime_r knows */
        }
        /* a year past 9999 does not fit the form: formatted again each time */
        r->now_second = n == LINE_RECORDS_NOW_LEN ? ts.tv_sec : (time_t)-1;
    }
    int ms = (int)(ts.tv_nsec / 1000000);
    text[n - 4] = (char)('0' + ms / 100);
    text[n - 3] = (char)('0' + ms / 10 % 10);
    text[n - 2] = (char)('0' + ms % 10);
    sqlite3_bind_text(st, index, text, n, SQLITE_STATIC);
}

static int64_t add_sqlite(line_records *r, const line_attempt *a, const char *state, int error_code,
                          const char *error_text, int device_status)
{
    sqlite3_stmt *st = r->add;
    bind_attempt(r, st, a);
    sqlite3_bind_text(st, 11, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 12, error_code);
    bind_text(st, 13, error_text);
    bind_status(st, 14, device_status);
    bind_now(r, st, 21);
    int done = sqlite3_step(st);
    sqlite3_reset(st);
    return done == SQLITE_DONE ? sqlite3_last_insert_rowid(r->db) : -1;
}

/* The ledger entry of an added row: prepare-batch issues a certificate; every other added row
 * is a finished attempt. */
static int note_added(line_records *r, const line_attempt *a, const char *state, int error_code)
{
    bool issued = strcmp(state, LINE_STATE_PREPARED) == 0;
    return ledger_note(r, issued ? KILN_LEDGER_KIND_CERTIFICATE : KILN_LEDGER_KIND_OUTCOME, a,
                       issued ? "issued" : state, error_code);
}

int64_t line_records_add(line_records *r, const line_attempt *a, const char *state, int error_code,
                         const char *error_text, int device_status)
{
    int64_t id = r->pg != NULL ? lrpg_insert(r->pg, a, state, error_code, error_text, device_status,
                                             r->issuer_ca)
                               : add_sqlite(r, a, state, error_code, error_text, device_status);
    if (id < 0) {
        return -1;
    }
    return note_added(r, a, state, error_code) == 0 ? id : -1;
}

/* The INSERT of LINE_RECORDS_ROWS rows, each as r->add writes one. */
static int prepare_add_rows(line_records *r)
{
    static const char head[] =
        "INSERT INTO attempts(endpoint, serial, address, station, batch, host, pid, cert_sha256,"
        " cert_sha1, bundle_sha256, state, error_code, error_text, device_status, tries,"
        " started_at, finished_at, issuer_ca) VALUES";
    char sql[sizeof(head) + LINE_RECORDS_ROWS * 160];
    size_t at = (size_t)snprintf(sql, sizeof(sql), "%s", head);
    for (int j = 0; j < LINE_RECORDS_ROWS; j++) {
        int b = LINE_RECORDS_SHARED + 1 + j * LINE_RECORDS_ROW_PARAMS;
        at += (size_t)snprintf(
            sql + at, sizeof(sql) - at,
            "%s(?%d,?%d,?%d,?%d,?%d,?1,?2,?%d,?%d,?%d,?%d,?%d,?%d,?%d,0,?4,?4,?3)", j ? "," : "", b,
            b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11);
    }
    return at < sizeof(sql) ? prepare(r, &r->add_rows, sql) : -1;
}

/* LINE_RECORDS_ROWS rows in one INSERT; 0, or -1 when none went in. */
static int add_rows_sqlite(line_records *r, const line_records_row *rows)
{
    if (r->add_rows == NULL && prepare_add_rows(r) != 0) {
        return -1;
    }
    sqlite3_stmt *st = r->add_rows;
    bind_text(st, 1, r->host);
    sqlite3_bind_int64(st, 2, (int64_t)r->pid);
    bind_text(st, 3, r->issuer_ca);
    bind_now(r, st, 4);
    for (int j = 0; j < LINE_RECORDS_ROWS; j++) {
        const line_records_row *row = &rows[j];
        const line_attempt *a = &row->a;
        int b = LINE_RECORDS_SHARED + 1 + j * LINE_RECORDS_ROW_PARAMS;
        sqlite3_bind_text(st, b, a->endpoint, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 1, a->serial ? a->serial : "", -1, SQLITE_STATIC);
        bind_text(st, b + 2, a->address);
        bind_text(st, b + 3, a->station);
        bind_text(st, b + 4, a->batch);
        bind_text(st, b + 5, a->cert_sha256);
        bind_text(st, b + 6, a->cert_sha1);
        bind_text(st, b + 7, a->bundle_sha256);
        sqlite3_bind_text(st, b + 8, row->state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, b + 9, row->error_code);
        bind_text(st, b + 10, row->error_text);
        bind_status(st, b + 11, row->device_status);
    }
    int done = sqlite3_step(st);
    sqlite3_reset(st);
    return done == SQLITE_DONE ? 0 : -1;
}

void line_records_add_many(line_records *r, line_records_row *rows, size_t n)
{
    size_t i = 0;
    /* A statement that fails adds none of its rows: they are tried one by one below. */
    while (r->pg == NULL && n - i >= LINE_RECORDS_ROWS && add_rows_sqlite(r, rows + i) == 0) {
        for (size_t k = i; k < i + LINE_RECORDS_ROWS; k++) {
            rows[k].stored = note_added(r, &rows[k].a, rows[k].state, rows[k].error_code) == 0;
        }
        i += LINE_RECORDS_ROWS;
    }
    for (; i < n; i++) {
        line_records_row *row = &rows[i];
        row->stored = line_records_add(r, &row->a, row->state, row->error_code, row->error_text,
                                       row->device_status) >= 0;
    }
}

/* The INSERT of k started rows, each as r->begin writes one. */
static int prepare_begin_rows(line_records *r, int k)
{
    static const char head[] =
        "INSERT INTO attempts(endpoint, serial, address, station, batch, host, pid, cert_sha256,"
        " cert_sha1, bundle_sha256, state, started_at, issuer_ca) VALUES";
    char sql[sizeof(head) + LINE_RECORDS_ROWS * 128];
    size_t at = (size_t)snprintf(sql, sizeof(sql), "%s", head);
    for (int j = 0; j < k && at < sizeof(sql); j++) {
        int b = LINE_RECORDS_SHARED + 1 + j * LINE_RECORDS_BEGIN_PARAMS;
        at += (size_t)snprintf(sql + at, sizeof(sql) - at,
                               "%s(?%d,?%d,?%d,?%d,?%d,?1,?2,?%d,?%d,?%d,'started',?4,?3)",
                               j ? "," : "", b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7);
    }
    return at < sizeof(sql) ? prepare(r, &r->begin_rows[k - 1], sql) : -1;
}

/* k (1..LINE_RECORDS_ROWS) started rows in one INSERT; their ids set, or -1 when none went
 * in. */
static int begin_rows_sqlite(line_records *r, line_records_start *rows, int k)
{
    if (r->begin_rows[k - 1] == NULL && prepare_begin_rows(r, k) != 0) {
        return -1;
    }
    sqlite3_stmt *st = r->begin_rows[k - 1];
    bind_text(st, 1, r->host);
    sqlite3_bind_int64(st, 2, (int64_t)r->pid);
    bind_text(st, 3, r->issuer_ca);
    bind_now(r, st, 4);
    for (int j = 0; j < k; j++) {
        const line_attempt *a = &rows[j].a;
        int b = LINE_RECORDS_SHARED + 1 + j * LINE_RECORDS_BEGIN_PARAMS;
        sqlite3_bind_text(st, b, a->endpoint, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 1, a->serial ? a->serial : "", -1, SQLITE_STATIC);
        bind_text(st, b + 2, a->address);
        bind_text(st, b + 3, a->station);
        bind_text(st, b + 4, a->batch);
        bind_text(st, b + 5, a->cert_sha256);
        bind_text(st, b + 6, a->cert_sha1);
        bind_text(st, b + 7, a->bundle_sha256);
    }
    int done = sqlite3_step(st);
    sqlite3_reset(st);
    if (done != SQLITE_DONE || sqlite3_changes(r->db) != k) {
        return -1;
    }
    /* One statement in a write transaction: AUTOINCREMENT gave its rows consecutive ids, in
     * the order of the VALUES, the last one last_insert_rowid. */
    int64_t last = sqlite3_last_insert_rowid(r->db);
    for (int j = 0; j < k; j++) {
        rows[j].id = last - (k - 1) + j;
    }
    return 0;
}

void line_records_begin_many(line_records *r, line_records_start *rows, size_t n)
{
    size_t i = 0;
    int k = 0;
    /* A statement that fails adds none of its rows: they are tried one by one below. */
    while (r->pg == NULL && i < n &&
           begin_rows_sqlite(r, rows + i, k = n - i < LINE_RECORDS_ROWS ? (int)(n - i)
                                                                       : LINE_RECORDS_ROWS) == 0) {
        for (size_t m = i; m < i + (size_t)k; m++) {
            if (ledger_note(r, KILN_LEDGER_KIND_CERTIFICATE, &rows[m].a, "issued", 0) != 0) {
                rows[m].id = 0;
            }
        }
        i += (size_t)k;
    }
    for (; i < n; i++) {
        int64_t id = line_records_begin(r, &rows[i].a);
        rows[i].id = id > 0 ? id : 0;
    }
}

/* The UPDATE of k finishes, each as r->finish writes one (?1 the time). */
static int prepare_finish_rows(line_records *r, int k)
{
    static const char head[] =
        "UPDATE attempts SET state=v.column2, error_code=v.column3, error_text=v.column4,"
        " device_status=v.column5, tries=v.column6, finished_at=?1 FROM (VALUES";
    static const char tail[] = ") AS v WHERE attempts.id=v.column1";
    char sql[sizeof(head) + sizeof(tail) + LINE_RECORDS_ROWS * 64];
    size_t at = (size_t)snprintf(sql, sizeof(sql), "%s", head);
    for (int j = 0; j < k && at < sizeof(sql); j++) {
        int b = 2 + j * LINE_RECORDS_FINISH_PARAMS;
        at += (size_t)snprintf(sql + at, sizeof(sql) - at, "%s(?%d,?%d,?%d,?%d,?%d,?%d)",
                               j ? "," : "", b, b + 1, b + 2, b + 3, b + 4, b + 5);
    }
    if (at < sizeof(sql)) {
        at += (size_t)snprintf(sql + at, sizeof(sql) - at, "%s", tail);
    }
    return at < sizeof(sql) ? prepare(r, &r->finish_rows[k - 1], sql) : -1;
}

/* k (1..LINE_RECORDS_ROWS) finishes in one UPDATE; 0, or -1 when none was written. */
static int finish_rows_sqlite(line_records *r, const line_records_end *rows, int k)
{
    if (r->finish_rows[k - 1] == NULL && prepare_finish_rows(r, k) != 0) {
        return -1;
    }
    sqlite3_stmt *st = r->finish_rows[k - 1];
    bind_now(r, st, 1);
    for (int j = 0; j < k; j++) {
        const line_records_end *row = &rows[j];
        int b = 2 + j * LINE_RECORDS_FINISH_PARAMS;
        sqlite3_bind_int64(st, b, row->id);
        sqlite3_bind_text(st, b + 1, row->state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, b + 2, row->error_code);
        bind_text(st, b + 3, row->error_text);
        bind_status(st, b + 4, row->device_status);
        sqlite3_bind_int(st, b + 5, row->tries);
    }
    int done = sqlite3_step(st);
    sqlite3_reset(st);
    return done == SQLITE_DONE ? 0 : -1;
}

void line_records_finish_many(line_records *r, line_records_end *rows, size_t n)
{
    size_t i = 0;
    int k = 0;
    /* A statement that fails writes none of its rows: they are tried one by one below. */
    while (r->pg == NULL && i < n &&
           finish_rows_sqlite(r, rows + i, k = n - i < LINE_RECORDS_ROWS ? (int)(n - i)
                                                                        : LINE_RECORDS_ROWS) == 0) {
        for (size_t m = i; m < i + (size_t)k; m++) {
            rows[m].stored = note_outcome(r, &rows[m].a, rows[m].state, rows[m].error_code) == 0;
        }
        i += (size_t)k;
    }
    for (; i < n; i++) {
        line_records_end *row = &rows[i];
        row->stored = line_records_finish_known(r, row->id, &row->a, row->state, row->error_code,
                                                row->error_text, row->device_status,
                                                row->tries) == 0;
    }
}

const char *line_records_station(const line_records *r, const char *station)
{
    return station != NULL && *station ? station : r->host;
}

/* The claim: inserted when the endpoint has none, taken over when this station holds it (its
 * own earlier run, the resume rule), else left to its holder and reported. */
int line_records_claim(line_records *r, const char *endpoint, const char *station, char *holder,
                       size_t holder_size)
{
    station = line_records_station(r, station);
    if (r->pg != NULL) {
        int rc = lrpg_claim(r->pg, endpoint, station, r->bundles, r->pid_ns, holder, holder_size);
        return rc == 1 ? line_claims_take_over(r, endpoint, station, holder) : rc;
    }
    sqlite3_stmt *ins = r->claim_insert, *sel = r->claim_holder;
    sqlite3_reset(ins);
    sqlite3_reset(sel);
    bool own = sqlite3_get_autocommit(r->db) != 0;
    int rc = own && sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ? -1 : 0;
    sqlite3_bind_text(ins, 1, endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, station, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, r->host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, (int64_t)r->pid);
    sqlite3_bind_text(ins, 5, r->bundles, -1, SQLITE_STATIC); /* NULL binds NULL */
    sqlite3_bind_text(ins, 6, r->pid_ns, -1, SQLITE_STATIC);
    bind_now(r, ins, 7);
    sqlite3_bind_text(sel, 1, endpoint, -1, SQLITE_STATIC);
    rc = rc == 0 && sqlite3_step(ins) == SQLITE_DONE ? 0 : -1;
    if (rc == 0 && sqlite3_changes(r->db) == 1) {
        /* inserted, or taken over from this station: the holder is this station */
        snprintf(holder, holder_size, "%s", station);
    } else if (rc == 0 && sqlite3_step(sel) == SQLITE_ROW) {
        copy_column(sel, 0, holder, holder_size);
        rc = strcmp(holder, station) == 0 ? 0 : 1;
    } else {
        rc = -1;
    }
    sqlite3_reset(ins);
    sqlite3_reset(sel);
    if (rc == 1) {
        rc = line_claims_take_over(r, endpoint, station, holder); /* a dead holder here */
    }
    if (own) {
        sqlite3_exec(r->db, rc < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    }
    return rc;
}

int line_records_set_bundles(line_records *r, const char *path)
{
    free(r->bundles);
    r->bundles = NULL;
    if (path == NULL) {
        return 0;
    }
    r->bundles = realpath(path, NULL);
    return r->bundles != NULL ? 0 : -1;
}

const char *line_records_bundles(const line_records *r)
{
    return r->bundles;
}

const char *line_records_pid_ns(const line_records *r)
{
    return r->pid_ns;
}

sqlite3 *line_records_sqlite(line_records *r)
{
    return r->db;
}

PGconn *line_records_claims_pg(line_records *r)
{
    return r->pg != NULL ? lrpg_claims_conn(r->pg) : NULL;
}

const char *line_records_host(const line_records *r)
{
    return r->host;
}

int line_records_release(line_records *r, const char *endpoint, const char *station)
{
    if (r->pg != NULL) {
        return lrpg_release(r->pg, endpoint, line_records_station(r, station));
    }
    sqlite3_stmt *st = r->release;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, line_records_station(r, station), -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(st);
    return rc;
}

int line_records_transaction(line_records *r)
{
    if (r->pg != NULL) {
        return lrpg_exec(r->pg, "BEGIN");
    }
    return sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int line_records_commit(line_records *r)
{
    if (r->pg != NULL) {
        int rc = lrpg_exec(r->pg, "COMMIT");
        if (rc != 0) {
            kiln_ledger_rolled_back(r->ledger); /* the batch's entries went with it */
        }
        return rc;
    }
    return sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int line_records_rollback(line_records *r)
{
    if (r->pg != NULL) {
        kiln_ledger_rolled_back(r->ledger); /* the head is read again at the next entry */
        return lrpg_exec(r->pg, "ROLLBACK");
    }
    return sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

bool line_records_provisioned(line_records *r, const char *endpoint)
{
    if (r->pg != NULL) {
        return lrpg_provisioned(r->pg, endpoint);
    }
    sqlite3_reset(r->provisioned);
    sqlite3_bind_text(r->provisioned, 1, endpoint, -1, SQLITE_STATIC);
    bool found = sqlite3_step(r->provisioned) == SQLITE_ROW;
    sqlite3_reset(r->provisioned);
    return found;
}

static void copy_column(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

bool line_records_latest_identity(line_records *r, const char *endpoint, const char *state,
                                  char cert_sha256[65], char cert_sha1[41], char bundle_sha256[65])
{
    if (r->pg != NULL) {
        return lrpg_latest_identity(r->pg, endpoint, state, cert_sha256, cert_sha1, bundle_sha256);
    }
    sqlite3_reset(r->identity);
    sqlite3_bind_text(r->identity, 1, endpoint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(r->identity, 2, state, -1, SQLITE_TRANSIENT);
    bool found = sqlite3_step(r->identity) == SQLITE_ROW;
    if (found) {
        copy_column(r->identity, 0, cert_sha256, 65);
        copy_column(r->identity, 1, cert_sha1, 41);
        copy_column(r->identity, 2, bundle_sha256, 65);
    }
    sqlite3_reset(r->identity);
    return found;
}

/* Every field quoted; one that a spreadsheet would read as a formula (= + - @ TAB CR first)
 * gets a leading ' inside the quotes, so the export can be opened safely. */
void line_records_csv_field(FILE *out, const char *s)
{
    fputc('"', out);
    if (s != NULL && kiln_csv_field_is_formula(s)) {
        fputc('\'', out);
    }
    for (; s != NULL && *s; s++) {
        if (*s == '"') {
            fputc('"', out);
        }
        fputc(*s, out);
    }
    fputc('"', out);
}

void line_records_table_header(FILE *out)
{
    fprintf(out, "%-6s %-28s %-12s %-5s %-24s %s\n", "ID", "ENDPOINT", "STATE", "CODE", "FINISHED",
            "CERT SHA-256");
}

static void print_header(FILE *out, sqlite3_stmt *st, line_records_format format)
{
    if (format == LINE_RECORDS_CSV) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            if (c) {
                fputc(',', out);
            }
            line_records_csv_field(out, sqlite3_column_name(st, c));
        }
        fputc('\n', out);
    } else if (format == LINE_RECORDS_TABLE) {
        line_records_table_header(out);
    }
}

static void print_csv_row(FILE *out, sqlite3_stmt *st)
{
    for (int c = 0; c < sqlite3_column_count(st); c++) {
        if (c) {
            fputc(',', out);
        }
        line_records_csv_field(out, (const char *)sqlite3_column_text(st, c));
    }
    fputc('\n', out);
}

static json_t *row_json(sqlite3_stmt *st)
{
    json_t *obj = json_object();
    for (int c = 0; c < sqlite3_column_count(st); c++) {
        const char *name = sqlite3_column_name(st, c);
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER:
            json_object_set_new(obj, name, json_integer(sqlite3_column_int64(st, c)));
            break;
        case SQLITE_NULL:
            json_object_set_new(obj, name, json_null());
            break;
        default:
            json_object_set_new(obj, name,
                                line_json_text((const char *)sqlite3_column_text(st, c)));
            break;
        }
    }
    return obj;
}

/* One line of the table; the endpoint is shown escaped (a terminal reads it). */
static void print_table_row(FILE *out, sqlite3_stmt *st)
{
    const unsigned char *fin = sqlite3_column_text(st, 17);
    const unsigned char *fp = sqlite3_column_text(st, 8);
    const unsigned char *ep = sqlite3_column_text(st, 1);
    char endpoint[4 * 200 + 8];
    line_text_escape(ep ? (const char *)ep : "", endpoint, sizeof(endpoint));
    fprintf(out, "%-6lld %-28s %-12s %-5d %-24s %s\n", (long long)sqlite3_column_int64(st, 0),
            endpoint, sqlite3_column_text(st, 11), sqlite3_column_int(st, 12),
            fin ? (const char *)fin : "-", fp ? (const char *)fp : "-");
}

int line_records_print(line_records *r, FILE *out, line_records_format format, const char *endpoint,
                       const char *state)
{
    if (r->pg != NULL) {
        return lrpg_print(r->pg, out, format, endpoint, state);
    }
    sqlite3_stmt *st = NULL;
    if (prepare(r, &st,
                "SELECT id, endpoint, serial, address, station, batch, host, pid, cert_sha256,"
                " cert_sha1, bundle_sha256, state, error_code, error_text, device_status,"
                " tries, started_at, finished_at FROM attempts"
                " WHERE (?1 IS NULL OR endpoint=?1) AND (?2 IS NULL OR state=?2)"
                " ORDER BY id") != 0) {
        return -1;
    }
    bind_text(st, 1, endpoint);
    bind_text(st, 2, state);
    int rows = 0;
    json_t *array = format == LINE_RECORDS_JSON ? json_array() : NULL;
    print_header(out, st, format);
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        if (format == LINE_RECORDS_CSV) {
            print_csv_row(out, st);
        } else if (format == LINE_RECORDS_JSON) {
            json_array_append_new(array, row_json(st));
        } else {
            print_table_row(out, st);
        }
    }
    sqlite3_finalize(st);
    if (array != NULL) {
        json_dumpf(array, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(array);
    }
    return rows;
}
