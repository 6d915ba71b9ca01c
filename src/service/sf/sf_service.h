/* Secure factory service: the state folder (keys, certificates, configuration, database) and
 * the per-process service context built from it.
 *
 * Folders are 0700 and every file holding a key or a record 0600, checked at every start.
 * DIR/service.conf           "key = value" lines (see docs/secure-factory-protocol.md)
 * DIR/keys/                  0700; private keys, each 0600:
 *     signing.key              the key the device firmware trusts by factory ID
 *     device-ca.key            issues device certificates
 *     station-ca.key           issues station and service TLS certificates
 *     tls.key                  the service's TLS key
 *     db-wrap.key              32 bytes wrapping the session confirmation keys in the database
 *   or, for each key in a PKCS#11 token (init --key-uri-prefix), <name>.uri naming it.
 * DIR/device-trust.pem       factory ID and service public key for device firmware
 * DIR/device-ca.pem, DIR/station-ca.pem, DIR/tls.pem, DIR/bootstrap-server-ca.pem
 * DIR/factory.db             SQLite database (default) */
#ifndef KILN_SF_SERVICE_H
#define KILN_SF_SERVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kiln_pki.h"
#include "sf_db.h"
#include "sf_msg.h"

#define SF_POOL_MAX 32

typedef struct sf_config {
    uint32_t factory_id;
    char listen[128];
    char db[1024];
    long session_ttl;
    int cert_years;
    char endpoint_prefix[64];
    char bootstrap_uri[512];
    char manufacturer[128];
    char model_number[128];
    char device_type[128];
    char hardware_version[128];
    long memory_total_kb;
    char timezone[64];
    char utc_offset[16];
    char san[512];
    char tls_priorities[512]; /* GnuTLS priority string of the station port (sf_tls.h) */
} sf_config;

typedef struct sf_service {
    char dir[1024];
    sf_config cfg;
    char db_url[1024];
    char replica[200]; /* names this replica's ledger chains on PostgreSQL (default: host name) */
    kiln_pki_signer *signing;    /* keys/signing.key or the token key keys/signing.uri names */
    kiln_pki_ca *device_issuer;  /* device-ca.pem and the signer of its key */
    kiln_pki_signer *ledger_key; /* keys/ledger.key: signs the ledger's checkpoints */
    uint8_t *bootstrap_ca_der;
    size_t bootstrap_ca_len;
    uint8_t wrap_key[32];
    pthread_mutex_t pool_lock;
    sf_db *pool[SF_POOL_MAX];
    int pool_count;
} sf_service;

/** Creates the state folder. listen may be NULL (default 127.0.0.1:8443). */
sf_status sf_service_init_dir(const char *dir, const char *listen, const char *extra_san);
/** Same with the signing, device CA and station CA keys made in a PKCS#11 token when
 *  key_uri_prefix is a pkcs11: URI (token, module, PIN): objects kiln-sf-signing,
 *  kiln-sf-device-ca, kiln-sf-station-ca, kiln-sf-tls (P-256 pairs) and kiln-sf-db-wrap (a
 *  32-byte secret from which the database wrap key is derived by HMAC in the token), named in
 *  keys/<name>.uri (no PIN) instead of key files. SF_CONFIG when the token refuses (the reason
 *  on stderr, see sfc_token_error). */
sf_status sf_service_init_dir_keys(const char *dir, const char *listen, const char *extra_san,
                                   const char *key_uri_prefix);
/** Where the key <name> ("signing", "tls", ...) of the state folder is: the URI in
 *  keys/<name>.uri (true) or the file keys/<name>.key (false), written to out. */
bool sf_service_key_ref(const char *dir, const char *name, char *out, size_t size);
/** Loads the state folder; db_url overrides the configured database (NULL: use config). */
sf_status sf_service_open(const char *dir, const char *db_url, sf_service **out);
/** The same for replica (NULL or "": this host's name): on PostgreSQL each pooled connection
 *  appends to a ledger chain of its own, the first free of replica, replica/2 .. (docs/ledger.md),
 *  so replicas never wait for each other's appends. */
sf_status sf_service_open_as(const char *dir, const char *db_url, const char *replica,
                             sf_service **out);
/** This host's name, the default replica name ("factory_service" when it has none). */
void sf_service_default_replica(char *out, size_t size);
void sf_service_close(sf_service *svc);
/** A database connection for the calling thread (opened on demand); NULL on failure. */
sf_db *sf_service_db_acquire(sf_service *svc);
void sf_service_db_release(sf_service *svc, sf_db *db);
/** Closes the idle pooled connections, so that the next ones open with current settings. */
void sf_service_db_drop_pool(sf_service *svc);

/** Issues a station certificate and writes the station file (0600): service URL, station
 *  name, certificate, key and the CA that issued the service's TLS certificate. */
sf_status sf_service_add_station(sf_service *svc, const char *name, const char *batch,
                                 const char *url, const char *outfile);

/** Opens (creating it 0600) the request log for appending; SF_CONFIG when it cannot, or when
 *  group or others may access it. */
sf_status sf_service_open_log(const char *path, FILE **out);

/** Reads DIR/service.conf into cfg (defaults for missing keys). */
sf_status sf_config_load(const char *dir, sf_config *cfg);

#endif
