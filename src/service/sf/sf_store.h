/* Secure factory service: the persistent state (stations, quotas, sessions, audit) on sf_db.
 *
 * Every state change of a session is a compare-and-set on its version number, made in one
 * transaction together with the quota it consumes and the audit record it closes; so a retried
 * or concurrent request can never issue a second certificate or exceed a quota, whichever
 * instance serves it. */
#ifndef KILN_SF_STORE_H
#define KILN_SF_STORE_H

#include <stdint.h>
#include <stdio.h>

#include "sf_db.h"

#define SF_STATE_INIT_SENT   "init-sent"
#define SF_STATE_CONFIG_SENT "config-sent"
#define SF_STATE_DONE        "done"
#define SF_STATE_ERROR       "error"
/* The configuration step was refused for quota (109, audited): the device still waits for its
 * configuration, so the same answer may be offered again (as a new attempt) once the quota
 * allows it. */
#define SF_STATE_REFUSED_QUOTA "refused-quota"

/* Text columns are heap strings (NULL = not set). */
typedef struct sf_session {
    char *sid;
    long attempt;
    long version;
    char *state;
    char *station;
    char *batch;
    char *msg1;    /* hex of INIT_REQUEST */
    char *th;      /* hex of the transcript hash */
    char *msg2_in; /* hex of the device's INIT_RESPONSE */
    /* hex of CONFIG_REQUEST: stored in session_messages, not in the row; sf_store_session_get
     * leaves it NULL (sf_store_session_message reads it), an update that carries it stores it */
    char *msg2_out;
    char *confirm;    /* confirmation key, wrapped with the state folder's database key */
    char *device_key; /* SHA-256 of the device's public point, hex */
    char *cert;       /* hex DER of the issued device certificate */
    char *fingerprint;
    char *msg3_in; /* hex of the device's CONFIG_RESPONSE */
    long error_code;
    char *error_reason;
    long long created, updated, expires;
    char *msg2_hash; /* SHA-256 of CONFIG_REQUEST, hex (NULL in rows made before schema 2) */
} sf_session;

void sf_session_free(sf_session *s);
/** Replaces a text field with a copy of value (NULL clears it). */
int sf_session_set(char **field, const char *value);

sf_status sf_store_migrate(sf_db *db);
/** SF_NOT_FOUND when absent. */
sf_status sf_store_session_get(sf_db *db, const char *sid, sf_session *out);
/** The stored CONFIG_REQUEST (hex, heap) of the session's attempt; SF_NOT_FOUND when none. */
sf_status sf_store_session_message(sf_db *db, const char *sid, long attempt, char **msg2_out);
/** Inserts a new session (version 1). SF_SESSION_CONFLICT when one exists already. */
sf_status sf_store_session_insert(sf_db *db, const sf_session *s);

typedef struct sf_audit_entry {
    const char *result; /* "done", "error", "expired", "refused-quota" */
} sf_audit_entry;

/**
 * Writes s (all columns) if the stored version is still expected_version, and sets it to
 * expected_version + 1. When quota_batch is not NULL one unit of that batch's quota is consumed
 * in the same transaction (SF_QUOTA_EXCEEDED, nothing written, when none is left; a batch with
 * no quota row is unlimited). When audit_result is not NULL the session's audit record is
 * written too. SF_SESSION_CONFLICT when the version moved (someone else won).
 */
sf_status sf_store_session_update(sf_db *db, const sf_session *s, long expected_version,
                                  const char *quota_batch, const char *audit_result);

/** Records a request refused because the session is not the station's (or does not exist):
 *  one row of the refusals table, whatever the reason, so that both cost the same. */
sf_status sf_store_refusal_add(sf_db *db, const char *station, const char *batch, const char *sid,
                               const char *request, long code, const char *reason);

/* Stations. */
sf_status sf_store_station_add(sf_db *db, const char *name, const char *fingerprint,
                               const char *batch);
/** SF_STATION_UNKNOWN / SF_STATION_REVOKED / SF_OK (name and batch copied, 128 bytes each). */
sf_status sf_store_station_check(sf_db *db, const char *fingerprint, char name[128],
                                 char batch[128]);
sf_status sf_store_station_revoke(sf_db *db, const char *name);

/* Quotas. */
sf_status sf_store_quota_set(sf_db *db, const char *batch, long limit);
/** used and limit of a batch; SF_NOT_FOUND when it has no quota. */
sf_status sf_store_quota_get(sf_db *db, const char *batch, long *used, long *limit);

/** Writes the audit table as "csv" or "json" to out. */
sf_status sf_store_audit_export(sf_db *db, const char *format, FILE *out);
/** The refused requests (sf_store_refusal_add: unknown or revoked station, quota, ...), oldest
 *  first: at, station, batch, session_id, request, error_code, reason; "csv" or "json". */
sf_status sf_store_refusals_export(sf_db *db, const char *format, FILE *out);
/** Number of distinct certificates issued and delivered in a payload, over every attempt. */
sf_status sf_store_count_certificates(sf_db *db, long *issued);

#endif
