/* Secure factory service: the TLS server key in a PKCS#11 token (see sf_tls_key.h). */
#include "sf_tls_key.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "kiln_pki.h"
#include "sf_crypto.h"

#define CHAIN_MAX 8

struct sf_tls_key {
    kiln_pki_signer *signer;
    gnutls_pcert_st chain[CHAIN_MAX];
    unsigned int chain_len;
    gnutls_privkey_t privkey;
};

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static sf_tls_key *current;

static int key_info(gnutls_privkey_t key, unsigned int flags, void *userdata)
{
    (void)key;
    (void)userdata;
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO) {
        return GNUTLS_PK_ECDSA;
    }
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS) {
        return 256;
    }
    if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO) {
        return GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
    }
    if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
        unsigned int algo = GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
        return algo == GNUTLS_SIGN_ECDSA_SHA256 || algo == GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
    }
    return -1;
}

/* The DER ECDSA signature of a SHA-256 digest, in GnuTLS-allocated memory. */
static int sign_digest(const sf_tls_key *k, const uint8_t *digest, gnutls_datum_t *signature)
{
    uint8_t der[KILN_PKI_SIG_MAX];
    size_t len = 0;
    if (kiln_pki_signer_sign_digest(k->signer, digest, der, &len) != KILN_PKI_OK) {
        return GNUTLS_E_PK_SIGN_FAILED;
    }
    signature->data = gnutls_malloc(len);
    if (signature->data == NULL) {
        return GNUTLS_E_MEMORY_ERROR;
    }
    memcpy(signature->data, der, len);
    signature->size = (unsigned int)len;
    return 0;
}

static int sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                     unsigned int flags, const gnutls_datum_t *hash, gnutls_datum_t *signature)
{
    (void)key;
    (void)flags;
    if ((algo != GNUTLS_SIGN_ECDSA_SHA256 && algo != GNUTLS_SIGN_ECDSA_SECP256R1_SHA256) ||
        hash->size != KILN_PKI_DIGEST_SIZE) {
        return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
    }
    return sign_digest(userdata, hash->data, signature);
}

static int sign_data(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                     unsigned int flags, const gnutls_datum_t *data, gnutls_datum_t *signature)
{
    (void)key;
    (void)flags;
    if (algo != GNUTLS_SIGN_ECDSA_SHA256 && algo != GNUTLS_SIGN_ECDSA_SECP256R1_SHA256) {
        return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
    }
    uint8_t digest[KILN_PKI_DIGEST_SIZE];
    if (!kiln_pki_sha256(data->data, data->size, digest)) {
        return GNUTLS_E_INTERNAL_ERROR;
    }
    return sign_digest(userdata, digest, signature);
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    pthread_mutex_lock(&current_lock);
    sf_tls_key *k = current;
    pthread_mutex_unlock(&current_lock);
    if (k == NULL) {
        return -1;
    }
    *pcert = k->chain;
    *pcert_length = k->chain_len;
    *privkey = k->privkey;
    return 0;
}

void *sf_tls_key_callback(void)
{
    return (void *)&retrieve;
}

/* 1 when the first certificate of cert_pem holds the signer's public key. */
static int cert_matches(const char *cert_pem, const kiln_pki_signer *signer)
{
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    uint8_t point[KILN_PKI_POINT_SIZE];
    int ok = cert != NULL && kiln_pki_key_point(X509_get0_pubkey(cert), point) == KILN_PKI_OK &&
             memcmp(point, kiln_pki_signer_point(signer), sizeof(point)) == 0;
    X509_free(cert);
    return ok;
}

static sf_status load_chain(sf_tls_key *k, const char *cert_pem)
{
    gnutls_datum_t pem = {(unsigned char *)cert_pem, (unsigned int)strlen(cert_pem)};
    k->chain_len = CHAIN_MAX;
    if (gnutls_pcert_list_import_x509_raw(k->chain, &k->chain_len, &pem, GNUTLS_X509_FMT_PEM,
                                          GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED) != 0) {
        k->chain_len = 0;
        return SF_CONFIG;
    }
    if (!cert_matches(cert_pem, k->signer)) {
        fprintf(stderr,
                "factory_service: error %d: %s: tls.pem is not the certificate of the "
                "token TLS key\n",
                (int)SF_CONFIG, sf_status_text(SF_CONFIG));
        return SF_CONFIG;
    }
    if (gnutls_privkey_init(&k->privkey) != 0) {
        return SF_INTERNAL;
    }
    return gnutls_privkey_import_ext4(k->privkey, k, sign_data, sign_hash, NULL, NULL, key_info,
                                      0) == 0
               ? SF_OK
               : SF_CONFIG;
}

sf_status sf_tls_key_open(const char *uri, const char *cert_pem, sf_tls_key **out)
{
    *out = NULL;
    sf_tls_key *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return SF_INTERNAL;
    }
    sf_status st = sfc_key_signer(uri, &k->signer);
    if (st == SF_OK) {
        st = load_chain(k, cert_pem);
    }
    pthread_mutex_lock(&current_lock);
    if (st == SF_OK && current != NULL) {
        st = SF_CONFIG;
    } else if (st == SF_OK) {
        current = k;
    }
    pthread_mutex_unlock(&current_lock);
    if (st != SF_OK) {
        sf_tls_key_free(k);
        return st;
    }
    *out = k;
    return SF_OK;
}

void sf_tls_key_free(sf_tls_key *key)
{
    if (key == NULL) {
        return;
    }
    pthread_mutex_lock(&current_lock);
    if (current == key) {
        current = NULL;
    }
    pthread_mutex_unlock(&current_lock);
    if (key->privkey != NULL) {
        gnutls_privkey_deinit(key->privkey);
    }
    for (unsigned int i = 0; i < key->chain_len; i++) {
        gnutls_pcert_deinit(&key->chain[i]);
    }
    kiln_pki_signer_free(key->signer);
    free(key);
}
