/* Secure factory service: a minimal SQL interface with two backends, SQLite (default, one file
 * in the state folder) and PostgreSQL (several service instances sharing one database).
 *
 * All parameters and results travel as text (NULL = SQL NULL); placeholders are written $1, $2,
 * ... in increasing order of first use, which both engines accept. One sf_db is one connection
 * and must be used by one thread at a time. */
#ifndef KILN_SF_DB_H
#define KILN_SF_DB_H

#include "sf_db_result.h"
#include "sf_msg.h"

typedef struct sf_db sf_db;

/** url: NULL or "sqlite:PATH" or a path ending in .db -> SQLite; "postgresql://..." or
 *  "postgres://..." -> PostgreSQL. dir is the state folder (default SQLite file
 *  dir/factory.db). */
sf_status sf_db_open(const char *url, const char *dir, sf_db **out);
void sf_db_close(sf_db *db);
sf_status sf_db_exec(sf_db *db, const char *sql, int nparams, const char *const *params,
                     sf_db_result *res, long *changes);
/** Nonzero when db is a PostgreSQL connection (some statements have an engine-specific form). */
int sf_db_is_postgres(const sf_db *db);
/** 1 when the connection to the database server was lost (PostgreSQL restarted, network cut):
 *  close it rather than use it again. */
int sf_db_broken(const sf_db *db);
sf_status sf_db_begin(sf_db *db);
sf_status sf_db_commit(sf_db *db);
void sf_db_rollback(sf_db *db);

/** For a serving process on SQLite: WAL checkpoints move to a background thread and connections
 *  opened afterwards stop checkpointing on commit. *out is NULL (and SF_OK) for PostgreSQL. */
typedef struct sf_db_checkpointer sf_db_checkpointer;
sf_status sf_db_checkpointer_start(const char *url, const char *dir, sf_db_checkpointer **out);
void sf_db_checkpointer_stop(sf_db_checkpointer *c);

#endif
