/* The claims of a station that is gone: released by the operator (factory_tool records release)
 * or taken over at once when the holder ran on this host and its process is dead, but only for
 * endpoints no certificate of which went out. The rule (docs/factory-line.md, "A station that
 * is gone"): a claim is kept, with a numbered error, when the endpoint has an attempt in state
 * prepared, written, success or skipped, or a failed one the device answered with success
 * (1032: a certificate went out; another station would issue a second one), or an attempt
 * started or interrupted with a certificate (1033: a crash mid-device, the device may hold it).
 * Any other claim (the holder stopped before it issued, or the device never took the
 * certificate) may go to another station. Both engines (SQLite file, PostgreSQL URL). */
#ifndef KILN_LINE_CLAIMS_H
#define KILN_LINE_CLAIMS_H

#include <stddef.h>

#include "line_records.h"

/** One claim looked at by line_claims_release: code 0 released, else the numbered error that
 *  kept it (1032..1034) and its text. */
typedef struct line_claim_report {
    const char *endpoint, *station, *host, *pid, *claimed_at;
    int code;
    const char *message;
} line_claim_report;

typedef void (*line_claim_report_fn)(void *user, const line_claim_report *rep);

/** Releases the claims of station (all of them, or endpoint's when not NULL) the rule allows;
 *  reports each claim looked at. Returns the number released, -1 on a database error, or
 *  -LINE_E_CLAIM_NOT_HELD when endpoint was given and station holds no claim of it. */
int line_claims_release(line_records *r, const char *station, const char *endpoint,
                        line_claim_report_fn report, void *user);

/** Called by line_records_claim when holder holds endpoint: takes the claim over for station
 *  (returns 0) when holder ran on this host, its process is dead, and the rule allows; else
 *  returns 1 (-1: database error). */
int line_claims_take_over(line_records *r, const char *endpoint, const char *station,
                          const char *holder);

/* Internal to src/host/line: the connections of line_records (one of them is NULL). */
struct sqlite3;
struct pg_conn;
struct sqlite3 *line_records_sqlite(line_records *r);
struct pg_conn *line_records_claims_pg(line_records *r);
const char *line_records_host(const line_records *r);

#endif
