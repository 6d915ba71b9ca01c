/* Secure factory service: what a SQL engine provides to the dispatcher of sf_db.h. Only sf_db.c
 * and the engines include this header; the engines never call back into sf_db.c (they share
 * sf_db_result.c only), so the database layer has no dependency cycle. */
#ifndef KILN_SF_DB_BACKEND_H
#define KILN_SF_DB_BACKEND_H

#include "kiln_ledger.h"
#include "sf_db.h"

typedef struct sf_db_ops {
    sf_status (*exec)(sf_db *db, const char *sql, int nparams, const char *const *params,
                      sf_db_result *res, long *changes);
    void (*close)(sf_db *db);
    const char *begin_sql; /* a write transaction */
    /* The ledger on this very connection (kiln_ledger_open / _open_pg, _verify_*, _export_*):
     * the narrow hook that keeps the engine's handle private. */
    kiln_ledger_status (*ledger_open)(sf_db *db, const kiln_pki_signer *signer, unsigned every,
                                      const char *chain, kiln_ledger **out);
    kiln_ledger_status (*ledger_verify)(sf_db *db, const uint8_t point[KILN_PKI_POINT_SIZE],
                                        kiln_ledger_verdict *verdict);
    kiln_ledger_status (*ledger_export)(sf_db *db, FILE *out, kiln_ledger_format format);
} sf_db_ops;

struct sf_db {
    const sf_db_ops *ops;
    int postgres;
    kiln_ledger *ledger;  /* attached by sf_db_ledger_attach, closed with the connection */
    int broken;           /* the connection to the server is lost: the pool must not keep it */
    char last_error[256]; /* engine message, never contains parameters */
};

sf_status sf_db_sqlite_open(const char *path, sf_db **out);
sf_status sf_db_sqlite_checkpointer_start(const char *path, sf_db_checkpointer **out);
sf_status sf_db_pg_open(const char *conninfo, sf_db **out);

#endif
