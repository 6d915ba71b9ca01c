/* Secure factory service: the state folder a database belongs to. Replicas share one database
 * and must hold copies of one state folder: a session configured by one replica is finished by
 * another with the confirmation key wrapped under the wrap key (keys/db-wrap.key, or derived in
 * the token keys/db-wrap.uri names), its certificate chains to
 * device-ca.pem, and the stations' certificates to station-ca.pem. The database keeps the
 * identity of the first folder that opened it (an HMAC under the wrap key over those files,
 * which reveals nothing of the key) and refuses every other. */
#ifndef KILN_SF_IDENTITY_H
#define KILN_SF_IDENTITY_H

#include <stdint.h>

#include "sf_db.h"

/** The identity of the state folder dir with that wrap key: 64 hex digits. SF_CONFIG when a
 *  file is missing. */
sf_status sf_identity_of(const char *dir, const uint8_t wrap_key[32], char hex[65]);

/** Records dir's identity in a database that has none (a new or upgraded one) and checks it
 *  against the recorded one: SF_CONFIG (with a message on stderr) for another folder's database. */
sf_status sf_identity_check(sf_db *db, const char *dir, const uint8_t wrap_key[32]);

#endif
