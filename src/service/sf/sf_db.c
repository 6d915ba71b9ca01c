/* Secure factory service: backend selection and the calls every engine answers (see sf_db.h). */
#include "sf_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_db_backend.h"

static int is_postgres(const char *url)
{
    return url != NULL &&
           (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

/* The SQLite file a url (or, without one, the state folder) names. */
static sf_status sqlite_path(const char *url, const char *dir, char *path, size_t size)
{
    if (url != NULL && strncmp(url, "sqlite:", 7) == 0) {
        snprintf(path, size, "%s", url + 7);
    } else if (url != NULL && url[0] != '\0') {
        snprintf(path, size, "%s", url);
    } else if (dir != NULL) {
        snprintf(path, size, "%s/factory.db", dir);
    } else {
        return SF_INVALID_ARGUMENT;
    }
    return SF_OK;
}

sf_status sf_db_open(const char *url, const char *dir, sf_db **out)
{
    *out = NULL;
    if (is_postgres(url)) {
        return sf_db_pg_open(url, out);
    }
    char path[4096];
    sf_status st = sqlite_path(url, dir, path, sizeof(path));
    return st == SF_OK ? sf_db_sqlite_open(path, out) : st;
}

sf_status sf_db_checkpointer_start(const char *url, const char *dir, sf_db_checkpointer **out)
{
    *out = NULL;
    if (is_postgres(url)) {
        return SF_OK;
    }
    char path[4096];
    sf_status st = sqlite_path(url, dir, path, sizeof(path));
    return st == SF_OK ? sf_db_sqlite_checkpointer_start(path, out) : st;
}

void sf_db_close(sf_db *db)
{
    if (db != NULL) {
        (void)kiln_ledger_close(db->ledger); /* signs the head unless it is signed */
        db->ops->close(db);
    }
}

sf_status sf_db_exec(sf_db *db, const char *sql, int nparams, const char *const *params,
                     sf_db_result *res, long *changes)
{
    if (res != NULL) {
        memset(res, 0, sizeof(*res));
    }
    if (changes != NULL) {
        *changes = 0;
    }
    return db->ops->exec(db, sql, nparams, params, res, changes);
}

int sf_db_is_postgres(const sf_db *db)
{
    return db->postgres;
}

int sf_db_broken(const sf_db *db)
{
    return db->broken;
}

const char *sf_db_last_error(const sf_db *db)
{
    return db->last_error;
}

sf_status sf_db_begin(sf_db *db)
{
    return sf_db_exec(db, db->ops->begin_sql, 0, NULL, NULL, NULL);
}

sf_status sf_db_commit(sf_db *db)
{
    sf_status st = sf_db_exec(db, "COMMIT", 0, NULL, NULL, NULL);
    if (st != SF_OK) {
        kiln_ledger_rolled_back(db->ledger); /* its entries went with the transaction */
    }
    return st;
}

void sf_db_rollback(sf_db *db)
{
    (void)sf_db_exec(db, "ROLLBACK", 0, NULL, NULL, NULL);
    kiln_ledger_rolled_back(db->ledger); /* the head is read again at the next append */
}

sf_status sf_db_ledger_attach(sf_db *db, const kiln_pki_signer *signer, unsigned every,
                              const char *chain)
{
    if (db->ledger != NULL) {
        return SF_OK;
    }
    kiln_ledger_status lst = db->ops->ledger_open(db, signer, every, chain, &db->ledger);
    if (lst != KILN_LEDGER_OK) {
        db->ledger = NULL;
        snprintf(db->last_error, sizeof(db->last_error),
                 "the ledger tables cannot be opened: ledger error %d: %s", (int)lst,
                 kiln_ledger_strerror(lst));
        return SF_DATABASE;
    }
    return SF_OK;
}

void sf_db_ledger_detach(sf_db *db)
{
    (void)kiln_ledger_close(db->ledger);
    db->ledger = NULL;
}

kiln_ledger *sf_db_ledger(const sf_db *db)
{
    return db->ledger;
}

int sf_db_ledger_verify(sf_db *db, const uint8_t *point, kiln_ledger_verdict *verdict)
{
    return db->ops->ledger_verify(db, point, verdict);
}

int sf_db_ledger_export(sf_db *db, FILE *out, int format)
{
    return db->ops->ledger_export(db, out, (kiln_ledger_format)format);
}
