/* Internals shared by the KCM and FCC modules of the device library. */
#ifndef KILN_KCM_INTERNAL_H
#define KILN_KCM_INTERNAL_H

#include "kiln/device.h"

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* Record key namespaces: working copy, factory (backup) copy, internal slots. */
#define KCM_NS_WORKING  'W'
#define KCM_NS_FACTORY  'B'
#define KCM_NS_INTERNAL 'X'
/* Record type letters. A chain has its own letter so a single certificate reads raw DER. */
#define KCM_T_PRIVATE   'K'
#define KCM_T_PUBLIC    'P'
#define KCM_T_SYMMETRIC 'S'
#define KCM_T_CERT      'C'
#define KCM_T_CHAIN     'H'
#define KCM_T_CONFIG    'F'
#define KCM_T_INTERNAL  'I'

/* Internal slots (rollback-protected in the original). */
#define KCM_SLOT_FACTORY_DONE "factory_done"
#define KCM_SLOT_SAVED_TIME   "saved_time"
#define KCM_SLOT_ENTROPY      "entropy"
#define KCM_SLOT_ROT          "rot"
#define KCM_SLOT_CA_ID        "time_srv_id"

/* Sealed value: version, nonce, ciphertext, tag. */
#define KCM_SEAL_VERSION  1
#define KCM_SEAL_NONCE    12
#define KCM_SEAL_TAG      16
#define KCM_SEAL_OVERHEAD (1 + KCM_SEAL_NONCE + KCM_SEAL_TAG)

typedef struct kiln_txn_entry {
    char key[KILN_KV_MAX_KEY];
    uint8_t *value; /* plaintext, with KCM_SEAL_OVERHEAD spare bytes for sealing in place */
    size_t len;
    bool deleted;
} kiln_txn_entry;

struct kiln_txn {
    kiln_txn_entry *entries;
    size_t count, cap;
};

kcm_status_e kcm_check_name(const uint8_t *name, size_t name_len);
/** Builds "<ns><type>_<name>" into key (KILN_KV_MAX_KEY bytes). */
void kcm_make_key(char *key, char ns, char type, const uint8_t *name, size_t name_len);

/* Staging: while a transaction is open every write goes to it and reads see it first. */
kcm_status_e kcm_txn_begin(kiln_device *dev);
kcm_status_e kcm_txn_commit(kiln_device *dev);
void kcm_txn_abort(kiln_device *dev);

/** Record-level access by full key (plaintext values; sealing is done here). */
kcm_status_e kcm_record_size(kiln_device *dev, const char *key, size_t *len);
kcm_status_e kcm_record_read(kiln_device *dev, const char *key, uint8_t *buf, size_t cap,
                             size_t *len);
/** Reads a record into a malloc'd buffer (wipe and free with kcm_secure_free). */
kcm_status_e kcm_record_read_alloc(kiln_device *dev, const char *key, uint8_t **buf, size_t *len);
kcm_status_e kcm_record_put(kiln_device *dev, const char *key, const uint8_t *data, size_t len);
kcm_status_e kcm_record_put2(kiln_device *dev, const char *key, const uint8_t *a, size_t alen,
                             const uint8_t *b, size_t blen);
kcm_status_e kcm_record_delete(kiln_device *dev, const char *key);
bool kcm_record_exists(kiln_device *dev, const char *key);
void kcm_secure_free(void *p, size_t len);

/** Stores an item (working copy, plus factory copy when is_factory) after validating it. */
kcm_status_e kcm_store_checked(kiln_device *dev, const uint8_t *name, size_t name_len,
                               kcm_item_type_e type, bool is_factory, const uint8_t *data,
                               size_t len);
/** Stores a chain record ([n][len16 der]...) without re-validating it. */
kcm_status_e kcm_store_chain_record(kiln_device *dev, const uint8_t *name, size_t name_len,
                                    bool is_factory, const uint8_t *record, size_t len);
/** Opens a certificate item (single or chain) as a chain record; single certs are wrapped. */
kcm_status_e kcm_load_chain(kiln_device *dev, const uint8_t *name, size_t name_len,
                            uint8_t **record, size_t *len);
/** Walks a chain record: the idx-th certificate. */
int kcm_chain_record_get(const uint8_t *record, size_t len, size_t idx, const uint8_t **der,
                         size_t *der_len);
size_t kcm_chain_record_count(const uint8_t *record, size_t len);

/* Crypto checks (kcm_crypto.c). */
int kcm_drbg_random(void *dev, unsigned char *out, size_t len);
kcm_status_e kcm_crypto_check_private_key(const uint8_t *der, size_t len);
kcm_status_e kcm_crypto_check_public_key(const uint8_t *der, size_t len);
kcm_status_e kcm_crypto_parse_cert(mbedtls_x509_crt *crt, const uint8_t *der, size_t len);
kcm_status_e kcm_crypto_check_cert(const uint8_t *der, size_t len);
/** True when parent's key verifies child's signature. */
bool kcm_crypto_signed_by(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent);
kcm_status_e kcm_crypto_cert_matches_key(kiln_device *dev, const uint8_t *cert, size_t cert_len,
                                         const uint8_t *priv_der, size_t priv_len);
kcm_status_e kcm_crypto_generate_p256(kiln_device *dev, uint8_t *priv_der, size_t priv_cap,
                                      size_t *priv_len, uint8_t *pub_der, size_t pub_cap,
                                      size_t *pub_len);
kcm_status_e kcm_crypto_csr(kiln_device *dev, const uint8_t *priv_der, size_t priv_len,
                            const kcm_csr_params_s *params, uint8_t *out, size_t cap,
                            size_t *out_len);
/** Compressed (33-byte) EC public key of a certificate. */
kcm_status_e kcm_crypto_cert_ec_id(const uint8_t *cert, size_t len, uint8_t id[33]);

#endif
