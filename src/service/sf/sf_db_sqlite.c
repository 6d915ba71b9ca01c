/* Secure factory service: SQLite backend of sf_db (WAL journal, so readers never block the
 * writer; writers queue on the busy timeout). */
#include "sf_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

typedef struct sqlite_db {
    sf_db base;
    sqlite3 *handle;
} sqlite_db;

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

static sf_status sqlite_exec(sf_db *base, const char *sql, int nparams, const char *const *params,
                             sf_db_result *res, long *changes)
{
    sqlite_db *db = (sqlite_db *)base;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db->handle, sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(base->last_error, sizeof(base->last_error), "%s", sqlite3_errmsg(db->handle));
        return SF_DATABASE;
    }
    for (int i = 0; i < nparams; i++) {
        char name[16];
        snprintf(name, sizeof(name), "$%d", i + 1);
        int index = sqlite3_bind_parameter_index(stmt, name);
        if (index == 0) {
            continue;
        }
        int rc = params[i] == NULL
                     ? sqlite3_bind_null(stmt, index)
                     : sqlite3_bind_text(stmt, index, params[i], -1, SQLITE_TRANSIENT);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(stmt);
            return SF_DATABASE;
        }
    }
    int cols = sqlite3_column_count(stmt);
    int cap = 0;
    sf_status st = SF_OK;
    for (;;) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) {
            break;
        }
        if (rc != SQLITE_ROW) {
            snprintf(base->last_error, sizeof(base->last_error), "%s", sqlite3_errmsg(db->handle));
            st = SF_DATABASE;
            break;
        }
        if (res == NULL) {
            continue;
        }
        if (res->rows == cap) {
            cap = cap ? cap * 2 : 4;
            char **cells = realloc(res->cells, sizeof(char *) * (size_t)cap * (size_t)cols);
            if (cells == NULL) {
                st = SF_INTERNAL;
                break;
            }
            res->cells = cells;
        }
        res->cols = cols;
        for (int c = 0; c < cols; c++) {
            res->cells[res->rows * cols + c] = dup_text((const char *)sqlite3_column_text(stmt, c));
        }
        res->rows++;
    }
    sqlite3_finalize(stmt);
    if (st != SF_OK && res != NULL) {
        sf_db_result_free(res);
    }
    if (st == SF_OK && changes != NULL) {
        *changes = sqlite3_changes(db->handle);
    }
    return st;
}

static void sqlite_close(sf_db *base)
{
    sqlite_db *db = (sqlite_db *)base;
    sqlite3_close(db->handle);
    free(db);
}

static const sf_db_ops sqlite_ops = {sqlite_exec, sqlite_close, "BEGIN IMMEDIATE"};

sf_status sf_db_sqlite_open(const char *path, sf_db **out)
{
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
        sqlite_exec(&db->base, "PRAGMA synchronous=NORMAL", 0, NULL, NULL, NULL) != SF_OK) {
        sqlite_close(&db->base);
        return SF_DATABASE;
    }
    *out = &db->base;
    return SF_OK;
}
