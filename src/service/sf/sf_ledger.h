/* Secure factory service: its tamper-evident ledger (src/host/ledger, docs/ledger.md). One entry
 * per issued device certificate, per session outcome and per CA event, appended on the
 * connection's open transaction so that a row and its entry commit together. */
#ifndef KILN_SF_LEDGER_H
#define KILN_SF_LEDGER_H

#include "kiln_ledger.h"
#include "kiln_pki.h"
#include "sf_db.h"
#include "sf_store.h"

/** Entries between signed checkpoints (and one more at every connection close). */
#define SF_LEDGER_CHECKPOINT_EVERY 100

/** The ledger key of state folder dir: keys/ledger.key (0600, created when missing, so that an
 *  older folder gets one on its first run). The one place that loads it. */
sf_status sf_ledger_key_load(const char *dir, kiln_pki_signer **out);

/** A certificate entry for s (its cert column): endpoint, serial, SHA-256, issuer, station. */
sf_status sf_ledger_certificate(sf_db *db, const sf_session *s);

/** What a certificate entry says of s's certificate, found before the transaction that appends
 *  it (so that the writer holds the database for less time). */
typedef struct sf_ledger_cert_facts {
    char endpoint[KILN_LEDGER_TEXT_MAX + 1]; /* subject CN */
    char serial[KILN_LEDGER_TEXT_MAX + 1];   /* upper-case hex, as BN_bn2hex */
    char issuer[KILN_LEDGER_TEXT_MAX + 1];   /* issuer CN */
    uint8_t hash[KILN_LEDGER_HASH_SIZE];     /* SHA-256 of the DER */
} sf_ledger_cert_facts;
sf_status sf_ledger_cert_facts_of(const sf_session *s, sf_ledger_cert_facts *f);
/** sf_ledger_certificate with the facts already read. */
sf_status sf_ledger_certificate_facts(sf_db *db, const sf_session *s,
                                      const sf_ledger_cert_facts *f);
/** An outcome entry: result ("done", "error", ...) with the error code when there is one. */
sf_status sf_ledger_outcome(sf_db *db, const sf_session *s, const char *result);
/** A CA event: ca ("device-ca", ...) and what happened ("created", ...). */
sf_status sf_ledger_ca_event(sf_db *db, const char *ca, const char *event);

/** A database set after init (PostgreSQL: init wrote its CA events to the folder's SQLite file)
 *  gets the CA events "in-use" once, the first time the service opens it. */
sf_status sf_ledger_ca_first(sf_db *db);

#endif
