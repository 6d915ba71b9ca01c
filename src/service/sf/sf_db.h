/* Secure factory service: a minimal SQL interface with two backends, SQLite (default, one file
 * in the state folder) and PostgreSQL (several service instances sharing one database).
 *
 * All parameters and results travel as text (NULL = SQL NULL); placeholders are written $1, $2,
 * ... in increasing order of first use, which both engines accept. One sf_db is one connection
 * and must be used by one thread at a time. */
#ifndef KILN_SF_DB_H
#define KILN_SF_DB_H

#include <stdint.h>
#include <stdio.h>

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
/** The engine's message of the last failure (never parameters). */
const char *sf_db_last_error(const sf_db *db);
sf_status sf_db_begin(sf_db *db);
sf_status sf_db_commit(sf_db *db);
void sf_db_rollback(sf_db *db);

/* The tamper-evident ledger (src/host/ledger) kept in the same database: appends made through
 * sf_db_ledger(db) join the connection's open transaction, so an entry and the rows it speaks
 * of commit or roll back together. signer is borrowed (it must outlive db). */
struct kiln_ledger;
struct kiln_ledger_verdict;
struct kiln_pki_signer;
/** chain: the writer's chain on PostgreSQL (the first free of chain, chain/2 ..: each pooled
 *  connection owns one, so replicas never wait for each other's appends); SQLite keeps its one
 *  unnamed chain. */
sf_status sf_db_ledger_attach(sf_db *db, const struct kiln_pki_signer *signer, unsigned every,
                              const char *chain);
/** Signs the head and closes the attached ledger (sf_db_close does it too). */
void sf_db_ledger_detach(sf_db *db);
/** The attached ledger, or NULL. */
struct kiln_ledger *sf_db_ledger(const sf_db *db);
/** Verifies / exports the ledger stored in db (KILN_LEDGER_* status). */
int sf_db_ledger_verify(sf_db *db, const uint8_t *point, struct kiln_ledger_verdict *verdict);
int sf_db_ledger_export(sf_db *db, FILE *out, int format);

/** For a serving process on SQLite: WAL checkpoints move to a background thread and connections
 *  opened afterwards stop checkpointing on commit. *out is NULL (and SF_OK) for PostgreSQL. */
typedef struct sf_db_checkpointer sf_db_checkpointer;
sf_status sf_db_checkpointer_start(const char *url, const char *dir, sf_db_checkpointer **out);
void sf_db_checkpointer_stop(sf_db_checkpointer *c);

#endif
