/* Secure factory service: SQLite backend of sf_db (WAL journal, so readers never block the
 * writer).
 *
 * Writers of one process queue on a mutex rather than on SQLite's busy handler: the busy handler
 * sleeps in steps of up to 100 ms, which under a dozen concurrent stations turned a 1 ms update
 * into tens of milliseconds. Other processes (the CLI commands) still meet the busy timeout.
 * Prepared statements are kept per connection: the service runs the same dozen statements. */
#include "sf_db_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define STMT_CACHE 24
#define MAX_PARAMS 32

typedef struct cached_stmt {
    const char *key; /* the caller's pointer (statements are string literals) */
    const char *sql; /* a copy of its text: a hit on the pointer is confirmed on the text */
    sqlite3_stmt *stmt;
    /* index[i]: the statement's parameter number of $i+1 (0: unused), looked up once. */
    unsigned char index[MAX_PARAMS];
} cached_stmt;

typedef struct sqlite_db {
    sf_db base;
    sqlite3 *handle;
    int holds_writer_lock;
    cached_stmt cache[STMT_CACHE];
    int cache_next;
} sqlite_db;

static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;

/* WAL checkpoints copy the log into the database file and sync it; done by the committing
 * connection (SQLite's default) they land on one unlucky request every thousand pages, with the
 * writer lock held: that was the service's p99. A background thread does them instead. */
static pthread_mutex_t checkpointer_lock = PTHREAD_MUTEX_INITIALIZER;
static int checkpointer_count;

#define CHECKPOINT_INTERVAL_MS 100

struct sf_db_checkpointer {
    pthread_t thread;
    sqlite3 *handle;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    int restarted_log; /* frames of the log the last round restarted (0: none) */
};

static int checkpointers_running(void)
{
    pthread_mutex_lock(&checkpointer_lock);
    int n = checkpointer_count;
    pthread_mutex_unlock(&checkpointer_lock);
    return n > 0;
}

/* The checkpointer's busy handler while it restarts the log: the readers it waits for run one
 * statement each, so it polls every 20 us (about 250 tries, some milliseconds, at most) rather
 * than sleeping in SQLite's millisecond steps, with the service's writers queued on writer_lock
 * meanwhile; a log it cannot restart now it restarts at a later round. */
static int restart_busy(void *arg, int tries)
{
    (void)arg;
    if (tries >= 250) {
        return 0;
    }
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL);
    return 1;
}

/* One round of the checkpointer. A connection reads the log only once it has read the
 * database: until then sqlite3_wal_checkpoint_v2 returns SQLITE_OK with a log of -1 frames and
 * copies nothing (so did every round here before 2026-12-05: the log was never checkpointed
 * while the service ran), so the round reads first. */
static void checkpoint_round(sf_db_checkpointer *c)
{
    sqlite3 *handle = c->handle;
    (void)sqlite3_exec(handle, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
    /* PASSIVE never waits for readers or writers; what it cannot copy now it copies later. */
    int log = -1, copied = -1;
    if (sqlite3_wal_checkpoint_v2(handle, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) !=
            SQLITE_OK ||
        log <= 0 || copied != log || log == c->restarted_log) {
        return; /* nothing new since the last restart (an idle service) */
    }
    /* All of it is in the database file, but a writer starts the log over only when no reader
     * still uses it, which under steady traffic hardly ever happens: the log file then grows
     * without end, each commit extending it (new blocks, zeroed by the file system) and each
     * read of a page looking through a longer index. RESTART waits for those readers, with
     * this process's writers held (their next commit would otherwise grow the log again), and
     * starts the log over, so commits overwrite the same blocks of the file. */
    pthread_mutex_lock(&writer_lock);
    sqlite3_busy_handler(handle, restart_busy, NULL);
    int rc = sqlite3_wal_checkpoint_v2(handle, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    sqlite3_busy_timeout(handle, 1000);
    pthread_mutex_unlock(&writer_lock);
    c->restarted_log = rc == SQLITE_OK ? log : 0;
}

static void *checkpointer_main(void *arg)
{
    sf_db_checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CHECKPOINT_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
        if (c->stop) {
            break;
        }
        pthread_mutex_unlock(&c->lock);
        checkpoint_round(c);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

sf_status sf_db_sqlite_checkpointer_start(const char *path, sf_db_checkpointer **out)
{
    *out = NULL;
    sf_db_checkpointer *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return SF_INTERNAL;
    }
    if (sqlite3_open_v2(path, &c->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(c->handle);
        free(c);
        return SF_DATABASE;
    }
    sqlite3_busy_timeout(c->handle, 1000);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->handle);
        free(c);
        return SF_INTERNAL;
    }
    pthread_mutex_lock(&checkpointer_lock);
    checkpointer_count++;
    pthread_mutex_unlock(&checkpointer_lock);
    *out = c;
    return SF_OK;
}

void sf_db_checkpointer_stop(sf_db_checkpointer *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_mutex_lock(&checkpointer_lock);
    checkpointer_count--;
    pthread_mutex_unlock(&checkpointer_lock);
    (void)sqlite3_exec(c->handle, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
    (void)sqlite3_wal_checkpoint_v2(c->handle, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    sqlite3_close(c->handle);
    free(c);
}

/* The $N names of a statement as SQLite numbers them (in order of first use, gaps skipped). */
static void index_params(cached_stmt *slot)
{
    memset(slot->index, 0, sizeof(slot->index));
    for (int i = 0; i < MAX_PARAMS; i++) {
        char name[8];
        snprintf(name, sizeof(name), "$%d", i + 1);
        slot->index[i] = (unsigned char)sqlite3_bind_parameter_index(slot->stmt, name);
    }
}

/* The cached statement of sql: found by the caller's pointer (string literals), confirmed on
 * the text; a text met at another address is found by comparing texts. */
static cached_stmt *prepare(sqlite_db *db, const char *sql)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        if (db->cache[i].stmt != NULL && db->cache[i].key == sql &&
            strcmp(db->cache[i].sql, sql) == 0) {
            return &db->cache[i];
        }
    }
    for (int i = 0; i < STMT_CACHE; i++) {
        if (db->cache[i].stmt != NULL && strcmp(db->cache[i].sql, sql) == 0) {
            db->cache[i].key = sql;
            return &db->cache[i];
        }
    }
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
        SQLITE_OK) {
        return NULL;
    }
    cached_stmt *slot = &db->cache[db->cache_next];
    db->cache_next = (db->cache_next + 1) % STMT_CACHE;
    sqlite3_finalize(slot->stmt);
    free((void *)slot->sql);
    size_t n = strlen(sql) + 1;
    char *copy = malloc(n);
    if (copy == NULL) {
        slot->stmt = NULL;
        slot->sql = NULL;
        sqlite3_finalize(stmt);
        return NULL;
    }
    memcpy(copy, sql, n);
    slot->key = sql;
    slot->sql = copy;
    slot->stmt = stmt;
    index_params(slot);
    return slot;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *dup_text(const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL) {
        memcpy(copy, s, n);
    }
    return copy;
}

static void st_fail(sqlite_db *db, sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (db->holds_writer_lock && sqlite3_get_autocommit(db->handle)) {
        db->holds_writer_lock = 0;
        pthread_mutex_unlock(&writer_lock);
    }
}

/* Binds $1..$nparams (text, or NULL); placeholders the statement does not use are skipped. The
 * texts are not copied (SQLITE_STATIC): the caller's strings outlive the statement's run, which
 * ends with sqlite3_clear_bindings in sqlite_exec. */
static int bind_params(const cached_stmt *c, int nparams, const char *const *params)
{
    for (int i = 0; i < nparams; i++) {
        int index = i < MAX_PARAMS ? c->index[i] : 0;
        if (i >= MAX_PARAMS) {
            char name[16];
            snprintf(name, sizeof(name), "$%d", i + 1);
            index = sqlite3_bind_parameter_index(c->stmt, name);
        }
        if (index == 0) {
            continue;
        }
        int rc = params[i] == NULL
                     ? sqlite3_bind_null(c->stmt, index)
                     : sqlite3_bind_text(c->stmt, index, params[i], -1, SQLITE_STATIC);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    return SQLITE_OK;
}

/* Appends one row of stmt to res (its cells copied). */
static sf_status append_row(sqlite3_stmt *stmt, sf_db_result *res, int *cap)
{
    int cols = sqlite3_column_count(stmt);
    if (res->rows == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        char **cells = realloc(res->cells, sizeof(char *) * (size_t)*cap * (size_t)cols);
        if (cells == NULL) {
            return SF_INTERNAL;
        }
        res->cells = cells;
    }
    res->cols = cols;
    for (int c = 0; c < cols; c++) {
        res->cells[res->rows * cols + c] = dup_text((const char *)sqlite3_column_text(stmt, c));
    }
    res->rows++;
    return SF_OK;
}

/* Steps stmt to its end, keeping the rows in res when res is not NULL. */
static sf_status collect_rows(sqlite_db *db, sqlite3_stmt *stmt, sf_db_result *res)
{
    int cap = 0;
    for (;;) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) {
            return SF_OK;
        }
        if (rc != SQLITE_ROW) {
            snprintf(db->base.last_error, sizeof(db->base.last_error), "%s",
                     sqlite3_errmsg(db->handle));
            return SF_DATABASE;
        }
        sf_status st = res != NULL ? append_row(stmt, res, &cap) : SF_OK;
        if (st != SF_OK) {
            return st;
        }
    }
}

static sf_status sqlite_exec(sf_db *base, const char *sql, int nparams, const char *const *params,
                             sf_db_result *res, long *changes)
{
    sqlite_db *db = (sqlite_db *)base;
    cached_stmt *cached = prepare(db, sql);
    sqlite3_stmt *stmt = cached != NULL ? cached->stmt : NULL;
    if (stmt == NULL) {
        snprintf(base->last_error, sizeof(base->last_error), "%s", sqlite3_errmsg(db->handle));
        return SF_DATABASE;
    }
    int begins = starts_with(sql, "BEGIN");
    int ends = starts_with(sql, "COMMIT") || starts_with(sql, "ROLLBACK");
    int lone_write = !db->holds_writer_lock && !begins && !ends && !sqlite3_stmt_readonly(stmt);
    if ((begins || lone_write) && !db->holds_writer_lock) {
        pthread_mutex_lock(&writer_lock);
        db->holds_writer_lock = 1;
    }
    if (bind_params(cached, nparams, params) != SQLITE_OK) {
        st_fail(db, stmt);
        return SF_DATABASE;
    }
    sf_status st = collect_rows(db, stmt, res);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (st != SF_OK && res != NULL) {
        sf_db_result_free(res);
    }
    if (st == SF_OK && changes != NULL) {
        *changes = sqlite3_changes(db->handle);
    }
    if (ends && !sqlite3_get_autocommit(db->handle)) {
        /* A COMMIT that failed leaves the transaction open: never hand back such a connection. */
        sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
    }
    if (db->holds_writer_lock && (lone_write || ends || (begins && st != SF_OK))) {
        db->holds_writer_lock = 0;
        pthread_mutex_unlock(&writer_lock);
    }
    return st;
}

static void sqlite_close(sf_db *base)
{
    sqlite_db *db = (sqlite_db *)base;
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(db->cache[i].stmt);
        free((void *)db->cache[i].sql);
    }
    if (db->holds_writer_lock) {
        pthread_mutex_unlock(&writer_lock);
    }
    sqlite3_close(db->handle);
    free(db);
}

static kiln_ledger_status sqlite_ledger_open(sf_db *base, const kiln_pki_signer *signer,
                                             unsigned every, const char *chain, kiln_ledger **out)
{
    (void)chain; /* one writer at a time on SQLite: the file keeps its one unnamed chain */
    return kiln_ledger_open(((sqlite_db *)base)->handle, signer, every, out);
}

static kiln_ledger_status sqlite_ledger_verify(sf_db *base,
                                               const uint8_t point[KILN_PKI_POINT_SIZE],
                                               kiln_ledger_verdict *verdict)
{
    return kiln_ledger_verify_db(((sqlite_db *)base)->handle, point, verdict);
}

static kiln_ledger_status sqlite_ledger_export(sf_db *base, FILE *out, kiln_ledger_format format)
{
    return kiln_ledger_export_db(((sqlite_db *)base)->handle, out, format);
}

static const sf_db_ops sqlite_ops = {sqlite_exec,          sqlite_close,
                                     "BEGIN IMMEDIATE",    sqlite_ledger_open,
                                     sqlite_ledger_verify, sqlite_ledger_export};

/* The database and its -wal and -shm files (which SQLite creates with the database's mode) are
 * 0600: the file is created before SQLite opens it. */
static int create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        return close(fd);
    }
    return errno == EEXIST ? 0 : -1;
}

sf_status sf_db_sqlite_open(const char *path, sf_db **out)
{
    if (strcmp(path, ":memory:") != 0 && create_private(path) != 0) {
        return SF_DATABASE;
    }
    sqlite_db *db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return SF_INTERNAL;
    }
    db->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &db->handle,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sqlite3_close(db->handle);
        free(db);
        return SF_DATABASE;
    }
    sqlite3_busy_timeout(db->handle, 10000);
    if (sqlite_exec(&db->base, "PRAGMA journal_mode=WAL", 0, NULL, NULL, NULL) != SF_OK ||
        sqlite_exec(&db->base, "PRAGMA synchronous=NORMAL", 0, NULL, NULL, NULL) != SF_OK ||
        (checkpointers_running() &&
         sqlite_exec(&db->base, "PRAGMA wal_autocheckpoint=0", 0, NULL, NULL, NULL) != SF_OK)) {
        sqlite_close(&db->base);
        return SF_DATABASE;
    }
    *out = &db->base;
    return SF_OK;
}
