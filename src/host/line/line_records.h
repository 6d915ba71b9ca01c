/* Device records: every provisioning attempt in a SQLite database (WAL), so that a factory
 * knows afterwards which device got which identity, and so that an interrupted batch can
 * resume without issuing a second certificate to a device that already has one. */
#ifndef KILN_LINE_RECORDS_H
#define KILN_LINE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct line_records line_records;

/* Attempt states. */
#define LINE_STATE_STARTED     "started"     /* in progress (or its process died) */
#define LINE_STATE_SUCCESS     "success"     /* the device answered and the answer verified */
#define LINE_STATE_FAILED      "failed"      /* any error; error_code/error_text say which */
#define LINE_STATE_INTERRUPTED "interrupted" /* its process ended before it finished */
#define LINE_STATE_WRITTEN     "written"     /* bundle written to a file, not verified */
#define LINE_STATE_PREPARED    "prepared"    /* prepare-batch made the bundle */
#define LINE_STATE_SKIPPED     "skipped"     /* already provisioned, not redone */

/** Default database: $KILN_RECORDS_DB, else <home>/kiln-records.db. Caller frees. */
char *line_records_default_path(const char *home_dir);

/** Opens (creating if needed) the database. Returns NULL and fills why on failure. */
line_records *line_records_open(const char *path, char *why, size_t why_size);
void line_records_close(line_records *r);

/** Marks attempts left "started" by dead processes of this host as interrupted; returns the
 *  number of rows changed, or -1. */
int line_records_recover(line_records *r);

typedef struct line_attempt {
    const char *endpoint, *serial, *address, *station, *batch;
    const char *cert_sha256, *cert_sha1, *bundle_sha256; /* hex, may be NULL */
} line_attempt;

/** Inserts a started attempt; returns its id (> 0) or -1. */
int64_t line_records_begin(line_records *r, const line_attempt *a);
/** Updates fingerprints of an attempt (second bundle of a two-step session). */
int line_records_set_identity(line_records *r, int64_t id, const char *cert_sha256,
                              const char *cert_sha1, const char *bundle_sha256);
/** Finishes an attempt. device_status < 0 when the device gave no ReturnStatus. */
int line_records_finish(line_records *r, int64_t id, const char *state, int error_code,
                        const char *error_text, int device_status, int tries);
/** Inserts a finished row in one step (skips, prepared bundles, verify-batch results). */
int64_t line_records_add(line_records *r, const line_attempt *a, const char *state, int error_code,
                         const char *error_text, int device_status);

/** Groups the rows added until line_records_commit into one transaction (a batch writes many
 *  devices per commit instead of one). Both return 0 or -1. */
int line_records_transaction(line_records *r);
int line_records_commit(line_records *r);

/** True when the endpoint has a successful attempt. */
bool line_records_provisioned(line_records *r, const char *endpoint);
/** Latest fingerprints recorded for an endpoint in the given state (prepared bundles); the
 *  outputs are filled with hex or "" (65 and 41 bytes). Returns true when found. */
bool line_records_latest_identity(line_records *r, const char *endpoint, const char *state,
                                  char cert_sha256[65], char cert_sha1[41], char bundle_sha256[65]);

typedef enum line_records_format {
    LINE_RECORDS_TABLE,
    LINE_RECORDS_CSV,
    LINE_RECORDS_JSON,
} line_records_format;

/** Writes rows (all, or those of one endpoint / state when given) to out. Returns the row
 *  count or -1. */
int line_records_print(line_records *r, FILE *out, line_records_format format, const char *endpoint,
                       const char *state);

#endif
