/* The ledger in PostgreSQL: the same tables as in SQLite on a caller's libpq connection (the
 * service, or the line once its records move there). Appends from every process on the
 * database keep one chain (pg_advisory_xact_lock in the append's transaction). */
#ifndef KILN_LEDGER_PG_H
#define KILN_LEDGER_PG_H

#include "kiln_ledger.h"

#include <libpq-fe.h>

/** Creates the tables when missing. */
kiln_ledger_status kiln_ledger_pg_schema(PGconn *conn);
/** A writer over conn (borrowed; must outlive the ledger). An append joins the caller's open
 *  transaction, else runs in its own. */
kiln_ledger_status kiln_ledger_open_pg(PGconn *conn, const kiln_pki_signer *signer,
                                       unsigned checkpoint_every, kiln_ledger **out);
kiln_ledger_status kiln_ledger_verify_pg(PGconn *conn, const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict);
kiln_ledger_status kiln_ledger_export_pg(PGconn *conn, FILE *out, kiln_ledger_format format);

#endif
