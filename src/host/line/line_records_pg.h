/* The records on PostgreSQL (libpq): the same tables as the SQLite file (attempts,
 * endpoint_claims, schema_version) behind line_records.h, which dispatches here when the
 * database is a postgresql:// URL. Internal to src/host/line. */
#ifndef KILN_LINE_RECORDS_PG_H
#define KILN_LINE_RECORDS_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "line_records.h"

typedef struct lrpg lrpg;

/* The fields of an attempt row the ledger needs (RETURNING of an update). */
typedef struct lrpg_row {
    char endpoint[256], serial[256], station[256], cert_sha256[65];
} lrpg_row;

lrpg *lrpg_open(const char *url, const char *host, char *why, size_t why_size);
void lrpg_close(lrpg *p);
/** The connection the rows (and the ledger) are written on. */
PGconn *lrpg_conn(lrpg *p);
int lrpg_recover(lrpg *p);
/** Inserts an attempt (state "started" and unfinished when state is NULL); returns its id. */
int64_t lrpg_insert(lrpg *p, const line_attempt *a, const char *state, int error_code,
                    const char *error_text, int device_status, const char *issuer_ca);
int lrpg_set_identity(lrpg *p, int64_t id, const char *cert_sha256, const char *cert_sha1,
                      const char *bundle_sha256, lrpg_row *row);
int lrpg_finish(lrpg *p, int64_t id, const char *state, int error_code, const char *error_text,
                int device_status, int tries, lrpg_row *row);
int lrpg_claim(lrpg *p, const char *endpoint, const char *station, const char *bundles,
               const char *pid_ns, char *holder, size_t holder_size);
int lrpg_release(lrpg *p, const char *endpoint, const char *station);
/** The connection the claims go over (opened on first use; NULL when it cannot be). */
PGconn *lrpg_claims_conn(lrpg *p);
int lrpg_exec(lrpg *p, const char *sql);
/** After failed, a statement sent outside a transaction: true when the connection was broken
 *  and is open again (PQreset, retried for up to LRPG_RECONNECT_TRIES x LRPG_RECONNECT_WAIT_US),
 *  so the statement may be sent once more (failed NULL: only the connection's state). A break
 * inside a transaction is not retried: its earlier statements are gone, the caller's numbered error
 * stands. */
bool lrpg_reconnect(PGconn *c, PGresult *failed);
/* True between lrpg_exec(p, "BEGIN") and the COMMIT or ROLLBACK that ends it. */
bool lrpg_in_transaction(const lrpg *p);
#define LRPG_RECONNECT_TRIES   40
#define LRPG_RECONNECT_WAIT_US 250000
bool lrpg_provisioned(lrpg *p, const char *endpoint);
bool lrpg_latest_identity(lrpg *p, const char *endpoint, const char *state, char cert_sha256[65],
                          char cert_sha1[41], char bundle_sha256[65]);
int lrpg_print(lrpg *p, FILE *out, line_records_format format, const char *endpoint,
               const char *state);

/* Shared with line_records.c: one CSV field (quoted, formula-safe) and the table header. */
void line_records_csv_field(FILE *out, const char *s);
void line_records_table_header(FILE *out);

#endif
