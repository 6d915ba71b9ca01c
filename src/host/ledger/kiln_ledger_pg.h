/* The ledger in PostgreSQL: the same tables as in SQLite (plus a chain column) on a caller's
 * libpq connection (the service, the line). A ledger holds several chains: each writer opened
 * with kiln_ledger_open_pg_chain owns one (a session advisory lock) and never waits for another
 * writer; kiln_ledger_open_pg writes the unnamed chain, whose writers serialize on
 * pg_advisory_xact_lock in the append's transaction. */
#ifndef KILN_LEDGER_PG_H
#define KILN_LEDGER_PG_H

#include "kiln_ledger.h"

#include <libpq-fe.h>

/** Asks the server to notice within about 30 s that the host at the other end of conn is gone
 *  (a power cut, a pulled cable): TCP keepalives (10 s idle, 3 probes 5 s apart) and a 30 s
 *  user timeout on the server's side of this session. Without them the session, its chain's
 *  advisory lock and the row locks of an open transaction (a service replica's quota row) stay
 *  held for the operating system's default of about two hours. -1 when the server refused. */
int kiln_ledger_pg_guard_session(PGconn *conn);
/** Creates the tables when missing. */
kiln_ledger_status kiln_ledger_pg_schema(PGconn *conn);
/** A writer over conn (borrowed; must outlive the ledger). An append joins the caller's open
 *  transaction, else runs in its own. */
kiln_ledger_status kiln_ledger_open_pg(PGconn *conn, const kiln_pki_signer *signer,
                                       unsigned checkpoint_every, kiln_ledger **out);
/** A writer over conn that owns a chain of its own: the first of name, name/2 .. name/64 that
 *  no other session holds (pg_try_advisory_lock, kept until the ledger closes or the session
 *  ends); KILN_LEDGER_CHAIN_BUSY when all are held. Its head is kept in memory. Opening also
 *  signs the head of every chain whose last entries no checkpoint covers and whose writer is
 *  gone (its lock free): the tail a SIGKILLed writer left. kiln_ledger_chain() names the chain
 *  taken. */
kiln_ledger_status kiln_ledger_open_pg_chain(PGconn *conn, const kiln_pki_signer *signer,
                                             unsigned checkpoint_every, const char *name,
                                             kiln_ledger **out);
kiln_ledger_status kiln_ledger_verify_pg(PGconn *conn, const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict);
kiln_ledger_status kiln_ledger_export_pg(PGconn *conn, FILE *out, kiln_ledger_format format);

#endif
