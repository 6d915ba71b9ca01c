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

/* A staged change. Both copies of a factory item (working and factory namespace) share one
 * plaintext buffer and, at commit, one sealed value: the associated data leaves out the
 * namespace, so the two ciphertexts may be identical. */
typedef struct kiln_txn_entry {
    char *key;            /* malloc'd, exact length */
    const uint8_t *value; /* plaintext: owned by this entry, shared with another, or borrowed */
    size_t len;
    /* The buffer this entry wipes and frees, len + KCM_SEAL_OVERHEAD bytes: a copied plaintext
     * placed to be sealed in place, or (at commit) the sealed form of a borrowed or shared one.
     * NULL while the value is borrowed or shared. */
    uint8_t *own;
    bool deleted;
} kiln_txn_entry;

struct kiln_txn {
    kiln_txn_entry *entries;
    size_t count, cap;
};

/* How a staged value holds its bytes (kcm_store_item flags). */
#define KCM_HOLD_BORROW 1u /* data outlives the transaction (e.g. the bundle buffer): no copy */
#define KCM_PRECHECKED  2u /* the caller already validated the content */
#define KCM_CHAIN_RECORD                                                                           \
    4u /* a certificate chain record ([n][len16 der]...), checked by the caller */

kcm_status_e kcm_check_name(const uint8_t *name, size_t name_len);
/** Is a certificate item of this name stored, single or as a chain? */
bool kcm_cert_name_taken(kiln_device *dev, const uint8_t *name, size_t name_len);
/** Builds "<ns><type>_<name>" into key (KILN_KV_MAX_KEY bytes). */
void kcm_make_key(char *key, char ns, char type, const uint8_t *name, size_t name_len);

/* Staging: while a transaction is open every write goes to it and reads see it first. */
kcm_status_e kcm_txn_begin(kiln_device *dev);
kcm_status_e kcm_txn_commit(kiln_device *dev);
void kcm_txn_abort(kiln_device *dev);
/** Joins the open transaction, or opens one (*own) so that a write outside a bundle is a
 *  transaction of its own; kcm_txn_leave commits or aborts what was opened. */
kcm_status_e kcm_txn_join(kiln_device *dev, bool *own);
kcm_status_e kcm_txn_leave(kiln_device *dev, bool own, kcm_status_e st);

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

/** Reads a record without copying it when it is staged: *data points into the transaction
 *  (valid until the next change to it); otherwise into *owned (wipe and free with
 *  kcm_secure_free(*owned, *len)). */
kcm_status_e kcm_record_view(kiln_device *dev, const char *key, const uint8_t **data, size_t *len,
                             uint8_t **owned);

/** Stores an item (working copy, plus factory copy when is_factory) after validating it
 *  (unless flags say otherwise: KCM_HOLD_BORROW / KCM_PRECHECKED / KCM_CHAIN_RECORD). */
kcm_status_e kcm_store_item(kiln_device *dev, const uint8_t *name, size_t name_len,
                            kcm_item_type_e type, bool is_factory, const uint8_t *data, size_t len,
                            unsigned flags);

/* A certificate item, single or chain, read without copying when it is staged. */
typedef struct kcm_cert_view {
    const uint8_t *data; /* a chain record, or the DER of a single certificate */
    size_t len;
    bool single;
    uint8_t *owned; /* wiped and freed by kcm_cert_view_close */
} kcm_cert_view;
kcm_status_e kcm_cert_view_open(kiln_device *dev, const uint8_t *name, size_t name_len,
                                kcm_cert_view *v);
size_t kcm_cert_view_count(const kcm_cert_view *v);
int kcm_cert_view_get(const kcm_cert_view *v, size_t idx, const uint8_t **der, size_t *der_len);
void kcm_cert_view_close(kcm_cert_view *v);
/** Walks a chain record: the idx-th certificate. */
int kcm_chain_record_get(const uint8_t *record, size_t len, size_t idx, const uint8_t **der,
                         size_t *der_len);
size_t kcm_chain_record_count(const uint8_t *record, size_t len);

/* Crypto checks (kcm_crypto.c). */
int kcm_drbg_random(void *dev, unsigned char *out, size_t len);
kcm_status_e kcm_crypto_check_private_key(const uint8_t *der, size_t len);
kcm_status_e kcm_crypto_check_public_key(const uint8_t *der, size_t len);
/** Parses without copying: der must outlive crt. */
kcm_status_e kcm_crypto_parse_cert(mbedtls_x509_crt *crt, const uint8_t *der, size_t len);
kcm_status_e kcm_crypto_check_cert(const uint8_t *der, size_t len);
/* A certificate's signature, kept apart from its parsed form so that checking it against the
 * issuer never needs both certificates parsed at once. sig points into the child's DER. */
typedef struct kcm_sig {
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    size_t hash_len;
    mbedtls_md_type_t md;
    mbedtls_pk_type_t pk;
#if defined(MBEDTLS_X509_RSASSA_PSS_SUPPORT)
    mbedtls_pk_rsassa_pss_options pss;
    bool has_pss;
#endif
    const unsigned char *sig;
    size_t sig_len;
} kcm_sig;
bool kcm_crypto_sig_prepare(const mbedtls_x509_crt *child, kcm_sig *sig);
/** True when parent's key verifies the signature. */
bool kcm_crypto_sig_verify(const kcm_sig *sig, const mbedtls_x509_crt *parent);
/** Does the private key (DER) belong to the parsed certificate? A pair that matched before
 *  on this device (dev->key_match) answers without a scalar multiplication. */
kcm_status_e kcm_crypto_crt_matches_key(kiln_device *dev, const mbedtls_x509_crt *crt,
                                        const uint8_t *priv_der, size_t priv_len);
/** The same with the certificate's public key against a stored private key. */
kcm_status_e kcm_crt_matches_stored_key(kiln_device *dev, const mbedtls_x509_crt *crt,
                                        const uint8_t *priv_name, size_t priv_name_len);
kcm_status_e kcm_crypto_generate_p256(kiln_device *dev, uint8_t *priv_der, size_t priv_cap,
                                      size_t *priv_len, uint8_t *pub_der, size_t pub_cap,
                                      size_t *pub_len);
kcm_status_e kcm_crypto_csr(kiln_device *dev, const uint8_t *priv_der, size_t priv_len,
                            const kcm_csr_params_s *params, uint8_t *out, size_t cap,
                            size_t *out_len);
/** Compressed (33-byte) EC public key of a certificate item (KCM status). */
kcm_status_e kcm_cert_ec_id(kiln_device *dev, const char *name, uint8_t id[33]);

#endif
