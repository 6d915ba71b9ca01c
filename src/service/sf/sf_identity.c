/* Secure factory service: which state folder a database belongs to (see sf_identity.h). */
#include "sf_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "sf_crypto.h"

#define IDENTITY_LABEL "kiln-sf replica identity v1"

/* Adds SHA-256 of the folder's file name to the HMAC input at *pos. */
static sf_status hash_file(const char *dir, const char *name, uint8_t *input, size_t *pos)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *data = NULL;
    size_t len = 0;
    if (sfc_read_file(path, &data, &len) != SF_OK) {
        return SF_CONFIG;
    }
    int ok = kiln_pki_sha256(data, len, input + *pos);
    *pos += SHA256_DIGEST_LENGTH;
    free(data);
    return ok ? SF_OK : SF_INTERNAL;
}

sf_status sf_identity_of(const char *dir, const uint8_t wrap_key[32], char hex[65])
{
    static const char *const files[] = {"device-ca.pem", "station-ca.pem", "device-trust.pem"};
    uint8_t input[sizeof(IDENTITY_LABEL) + 3 * SHA256_DIGEST_LENGTH];
    size_t pos = sizeof(IDENTITY_LABEL);
    memcpy(input, IDENTITY_LABEL, sizeof(IDENTITY_LABEL));
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        sf_status st = hash_file(dir, files[i], input, &pos);
        if (st != SF_OK) {
            return st;
        }
    }
    uint8_t mac[32];
    sf_status st = sfc_hmac_sha256(wrap_key, 32, input, pos, mac);
    if (st == SF_OK) {
        sf_hex_encode(mac, sizeof(mac), hex);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return st;
}

/* Records the identity when the database has none yet; *stored receives the one it has. */
static sf_status record_identity(sf_db *db, const char *hex, char stored[65])
{
    sf_status st = sf_db_begin(db);
    if (st != SF_OK) {
        return st;
    }
    if (sf_db_is_postgres(db)) {
        /* Replicas may start together on an empty database (the lock of sf_store_migrate). */
        st = sf_db_exec(db, "SELECT pg_advisory_xact_lock(5318008)", 0, NULL, NULL, NULL);
    }
    if (st == SF_OK) {
        st = sf_db_exec(db,
                        "CREATE TABLE IF NOT EXISTS service_identity (id INTEGER PRIMARY KEY "
                        "CHECK (id = 1), identity TEXT NOT NULL)",
                        0, NULL, NULL, NULL);
    }
    const char *params[] = {hex};
    if (st == SF_OK) {
        st = sf_db_exec(db,
                        "INSERT INTO service_identity (id, identity) VALUES (1, $1) ON CONFLICT "
                        "(id) DO NOTHING",
                        1, params, NULL, NULL);
    }
    sf_db_result res;
    memset(&res, 0, sizeof(res));
    if (st == SF_OK) {
        st = sf_db_exec(db, "SELECT identity FROM service_identity WHERE id = 1", 0, NULL, &res,
                        NULL);
    }
    if (st == SF_OK) {
        const char *v = sf_db_cell(&res, 0, 0);
        snprintf(stored, 65, "%s", v != NULL ? v : "");
    }
    sf_db_result_free(&res);
    if (st != SF_OK) {
        sf_db_rollback(db);
        return st;
    }
    return sf_db_commit(db);
}

sf_status sf_identity_check(sf_db *db, const char *dir, const uint8_t wrap_key[32])
{
    char hex[65], stored[65] = "";
    sf_status st = sf_identity_of(dir, wrap_key, hex);
    if (st == SF_OK) {
        st = record_identity(db, hex, stored);
    }
    if (st == SF_OK && strcmp(hex, stored) != 0) {
        fprintf(stderr,
                "factory_service: error %d: %s: the database belongs to another state folder "
                "(its CAs, device trust or database wrap key differ from %s); every replica "
                "runs on a copy of the same folder\n",
                SF_CONFIG, sf_status_text(SF_CONFIG), dir);
        st = SF_CONFIG;
    }
    return st;
}
