/* Device records: every provisioning attempt in a SQLite database (WAL), so that a factory
 * knows afterwards which device got which identity, and so that an interrupted batch can
 * resume without issuing a second certificate to a device that already has one. */
#ifndef KILN_LINE_RECORDS_H
#define KILN_LINE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A handle is used by one thread at a time (prepare-batch: its writer thread only). */
typedef struct line_records line_records;

/* Attempt states. */
#define LINE_STATE_STARTED     "started"     /* in progress (or its process died) */
#define LINE_STATE_SUCCESS     "success"     /* the device answered and the answer verified */
#define LINE_STATE_FAILED      "failed"      /* any error; error_code/error_text say which */
#define LINE_STATE_INTERRUPTED "interrupted" /* its process ended before it finished */
#define LINE_STATE_WRITTEN     "written"     /* bundle written to a file, not verified */
#define LINE_STATE_PREPARED    "prepared"    /* prepare-batch made the bundle */
#define LINE_STATE_SKIPPED     "skipped"     /* already provisioned, not redone */

/** True for a PostgreSQL URL (postgresql://... or postgres://...), false for a SQLite path. */
bool line_records_is_url(const char *path);
/** Default database: $KILN_RECORDS_URL, else $KILN_RECORDS_DB, else <home>/kiln-records.db.
 *  Caller frees. */
char *line_records_default_path(const char *home_dir);

/** Opens (creating the tables if needed) the database: a SQLite file, or a PostgreSQL URL (the
 *  same schema; N stations on one database). Returns NULL and fills why on failure. */
line_records *line_records_open(const char *path, char *why, size_t why_size);
/** Closes the database; with a ledger attached, first signs its head (end of a batch). */
void line_records_close(line_records *r);

struct kiln_pki_signer;
/** Keeps the tamper-evident ledger (src/host/ledger) in the same database from now on: every
 *  issued certificate and every finished attempt appends an entry, signed by key (taken, also
 *  on failure) every checkpoint_every entries (0: the default) and at close. issuer_ca names the
 *  issuing CA in the entries. */
int line_records_attach_ledger(line_records *r, struct kiln_pki_signer *key, const char *issuer_ca,
                               unsigned checkpoint_every);
struct kiln_ledger_record;
/** Appends an entry of another kind (CA events) to the attached ledger. */
int line_records_ledger_append(line_records *r, const struct kiln_ledger_record *rec);

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
/** line_records_finish for a caller that still has the attempt it began (endpoint, serial,
 *  station and cert_sha256 as stored): the ledger entry is made from it, without reading the
 *  row back. */
int line_records_finish_known(line_records *r, int64_t id, const line_attempt *a, const char *state,
                              int error_code, const char *error_text, int device_status, int tries);
/** Inserts a finished row in one step (skips, prepared bundles, verify-batch results). */
int64_t line_records_add(line_records *r, const line_attempt *a, const char *state, int error_code,
                         const char *error_text, int device_status);

/** One finished row of line_records_add_many: the arguments of line_records_add, and whether
 *  the row (and its ledger entry) went in. */
typedef struct line_records_row {
    line_attempt a;
    const char *state;
    int error_code;
    const char *error_text;
    int device_status;
    bool stored; /* set by line_records_add_many */
} line_records_row;

/** line_records_add for n rows, in order, as one transaction would add them one by one: on
 *  SQLite with one INSERT of many rows at a time (fewer statements per row). */
void line_records_add_many(line_records *r, line_records_row *rows, size_t n);

/** One started attempt of line_records_begin_many, and its id once inserted (> 0; 0 when it
 *  did not go in). */
typedef struct line_records_start {
    line_attempt a;
    int64_t id; /* set by line_records_begin_many */
} line_records_start;

/** line_records_begin for n attempts, in order, as one transaction would begin them one by
 *  one: on SQLite with one INSERT of many rows at a time. */
void line_records_begin_many(line_records *r, line_records_start *rows, size_t n);

/** One finish of line_records_finish_many: line_records_finish_known's arguments, and whether
 *  the row (and its ledger entry) was written. */
typedef struct line_records_end {
    int64_t id;
    line_attempt a; /* as begun (endpoint, serial, station, cert_sha256): the ledger entry's */
    const char *state;
    int error_code;
    const char *error_text;
    int device_status, tries;
    bool stored; /* set by line_records_finish_many */
} line_records_end;

/** line_records_finish_known for n attempts, in order: on SQLite with one UPDATE of many rows
 *  at a time. */
void line_records_finish_many(line_records *r, line_records_end *rows, size_t n);

/** Groups the rows added until line_records_commit into one transaction (a batch writes many
 *  devices per commit instead of one). Both return 0 or -1. */
int line_records_transaction(line_records *r);
int line_records_commit(line_records *r);
/** Abandons the transaction line_records_transaction opened (a commit that failed). */
int line_records_rollback(line_records *r);

/** The station rows are written for: station when given, else this host's name. */
const char *line_records_station(const line_records *r, const char *station);
/** Claims endpoint for station before its certificate is issued: 0 claimed (new, or already
 *  this station's: an interrupted run resumes), 1 held by another station (named in holder),
 *  -1 database error. Several stations on one database never both get 0 for one endpoint. */
int line_records_claim(line_records *r, const char *endpoint, const char *station, char *holder,
                       size_t holder_size);
/** Where the claims made from now on say their bundles go (prepare-batch's --out, which must
 *  exist; made absolute), so that a stopped batch's claim is not taken while a bundle of its
 *  endpoint may be there. NULL: none (inject, inject-batch). 0, or -1 when path cannot be
 *  resolved. */
int line_records_set_bundles(line_records *r, const char *path);
/** The absolute --out claims are made with, or NULL. */
const char *line_records_bundles(const line_records *r);
/** This process's PID namespace ("pid:[N]", "" when unknown), written with each claim: a
 *  claim's pid is checked only from the same host name and namespace. */
const char *line_records_pid_ns(const line_records *r);
/** Gives the claim back (the attempt failed: no certificate reached the device). */
int line_records_release(line_records *r, const char *endpoint, const char *station);

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
