/* Secure factory service: a minimal SQL interface with two backends, SQLite (default, one file
 * in the state folder) and PostgreSQL (several service instances sharing one database).
 *
 * All parameters and results travel as text (NULL = SQL NULL); placeholders are written $1, $2,
 * ... in increasing order of first use, which both engines accept. One sf_db is one connection
 * and must be used by one thread at a time. */
#ifndef KILN_SF_DB_H
#define KILN_SF_DB_H

#include <stddef.h>

#include "sf_msg.h"

typedef struct sf_db sf_db;

typedef struct sf_db_result {
    int rows;
    int cols;
    char **cells; /* rows * cols, row-major; NULL cells are SQL NULL */
} sf_db_result;

typedef struct sf_db_ops {
    sf_status (*exec)(sf_db *db, const char *sql, int nparams, const char *const *params,
                      sf_db_result *res, long *changes);
    void (*close)(sf_db *db);
    const char *begin_sql; /* a write transaction */
} sf_db_ops;

struct sf_db {
    const sf_db_ops *ops;
    int postgres;
    char last_error[256]; /* engine message, never contains parameters */
};

/** url: NULL or "sqlite:PATH" or a path ending in .db -> SQLite; "postgresql://..." or
 *  "postgres://..." -> PostgreSQL. dir is the state folder (default SQLite file
 *  dir/factory.db). */
sf_status sf_db_open(const char *url, const char *dir, sf_db **out);
void sf_db_close(sf_db *db);
sf_status sf_db_exec(sf_db *db, const char *sql, int nparams, const char *const *params,
                     sf_db_result *res, long *changes);
const char *sf_db_cell(const sf_db_result *res, int row, int col);
void sf_db_result_free(sf_db_result *res);
sf_status sf_db_begin(sf_db *db);
sf_status sf_db_commit(sf_db *db);
void sf_db_rollback(sf_db *db);

/** For a serving process on SQLite: WAL checkpoints move to a background thread and connections
 *  opened afterwards stop checkpointing on commit. *out is NULL (and SF_OK) for PostgreSQL. */
typedef struct sf_db_checkpointer sf_db_checkpointer;
sf_status sf_db_checkpointer_start(const char *url, const char *dir, sf_db_checkpointer **out);
void sf_db_checkpointer_stop(sf_db_checkpointer *c);

sf_status sf_db_sqlite_open(const char *path, sf_db **out);
sf_status sf_db_sqlite_checkpointer_start(const char *path, sf_db_checkpointer **out);
sf_status sf_db_pg_open(const char *conninfo, sf_db **out);

#endif
