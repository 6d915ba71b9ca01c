/* Secure factory service cryptography on OpenSSL 3 (see sf_crypto.h). */
#include "sf_crypto.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* Made once per process: the P-256 parameters as a key, and the algorithms the service uses per
 * session. A key made from a name ("EC", "prime256v1") builds the curve's group from its
 * constants (Montgomery set-up and an inversion) and looks the algorithms up in the provider
 * store, every time; copied from the template, the group is only duplicated. */
static pthread_once_t params_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *p256_params;
static EVP_KDF *hkdf_kdf;
static EVP_MAC *hmac_mac;
static EVP_MD *sha256_md;
static EVP_CIPHER *gcm_cipher;

static void make_params(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx != NULL && EVP_PKEY_paramgen_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_group_name(ctx, "prime256v1") == 1 &&
        EVP_PKEY_paramgen(ctx, &p256_params) != 1) {
        p256_params = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    hkdf_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_PKEY *params_p256(void)
{
    pthread_once(&params_once, make_params);
    return p256_params;
}

static const EVP_MD *md_sha256(void)
{
    pthread_once(&params_once, make_params);
    return sha256_md != NULL ? sha256_md : EVP_sha256();
}

sf_status sfc_generate_key(EVP_PKEY **out)
{
    *out = NULL;
    const EVP_PKEY *params = params_p256();
    EVP_PKEY_CTX *ctx =
        params != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *)params, NULL) : NULL;
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, out) != 1) {
        *out = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return *out != NULL ? SF_OK : SF_CRYPTO;
}

sf_status sfc_key_to_point(EVP_PKEY *key, uint8_t point[SF_POINT_SIZE])
{
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, SF_POINT_SIZE, &len) !=
            1 ||
        len != SF_POINT_SIZE || point[0] != 0x04) {
        return SF_CRYPTO;
    }
    return SF_OK;
}

sf_status sfc_point_to_key(const uint8_t point[SF_POINT_SIZE], EVP_PKEY **out)
{
    *out = NULL;
    const EVP_PKEY *params = params_p256();
    EVP_PKEY *key = params != NULL ? EVP_PKEY_new() : NULL;
    sf_status st = SF_MESSAGE_MALFORMED;
    /* Decoding the point checks that it is on the curve; the check below says so again. */
    if (key != NULL && EVP_PKEY_copy_parameters(key, params) == 1 &&
        EVP_PKEY_set1_encoded_public_key(key, point, SF_POINT_SIZE) == 1) {
        /* On the curve and not the point at infinity: P-256 has cofactor 1, so that is the full
         * validation (SP 800-56A 5.6.2.3.3); EVP_PKEY_public_check would add a scalar
         * multiplication by the order that cannot fail for such a point. */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (check != NULL && EVP_PKEY_public_check_quick(check) == 1) {
            st = SF_OK;
        }
        EVP_PKEY_CTX_free(check);
    }
    if (st != SF_OK) {
        EVP_PKEY_free(key);
        return st;
    }
    *out = key;
    return SF_OK;
}

sf_status sfc_sign_hash(const kiln_pki_signer *key, const uint8_t hash[SF_HASH_SIZE],
                        uint8_t sig[SF_SIG_SIZE])
{
    uint8_t der[KILN_PKI_SIG_MAX];
    size_t der_len = 0;
    sf_status st = SF_CRYPTO;
    if (kiln_pki_signer_sign_digest(key, hash, der, &der_len) == KILN_PKI_OK) {
        const uint8_t *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
        if (es != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, SF_SCALAR_SIZE) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + SF_SCALAR_SIZE, SF_SCALAR_SIZE) == 32) {
            st = SF_OK;
        }
        ECDSA_SIG_free(es);
    }
    return st;
}

sf_status sfc_verify_hash(EVP_PKEY *key, const uint8_t hash[SF_HASH_SIZE],
                          const uint8_t sig[SF_SIG_SIZE])
{
    uint8_t der[KILN_PKI_SIG_MAX];
    size_t der_len = 0;
    sf_status st = SF_DEVICE_PROOF;
    if (kiln_pki_sig_from_raw(sig, der, &der_len) == KILN_PKI_OK) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
            EVP_PKEY_verify(ctx, der, der_len, hash, SF_HASH_SIZE) == 1) {
            st = SF_OK;
        }
        EVP_PKEY_CTX_free(ctx);
    }
    return st;
}

sf_status sfc_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t secret[SF_SCALAR_SIZE])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    size_t len = SF_SCALAR_SIZE;
    sf_status st = SF_CRYPTO;
    /* The peer was validated when it was made (sfc_point_to_key): EVP_PKEY_derive_set_peer would
     * validate it again with a full scalar multiplication. */
    if (ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
        EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1 && EVP_PKEY_derive(ctx, secret, &len) == 1 &&
        len == SF_SCALAR_SIZE) {
        st = SF_OK;
    }
    EVP_PKEY_CTX_free(ctx);
    return st;
}

sf_status sfc_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                   const char *info, uint8_t *okm, size_t okm_len)
{
    pthread_once(&params_once, make_params);
    EVP_KDF_CTX *ctx = hkdf_kdf != NULL ? EVP_KDF_CTX_new(hkdf_kdf) : NULL;
    OSSL_PARAM params[5];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    params[4] = OSSL_PARAM_construct_end();
    sf_status st = SF_CRYPTO;
    if (ctx != NULL && EVP_KDF_derive(ctx, okm, okm_len, params) == 1) {
        st = SF_OK;
    }
    EVP_KDF_CTX_free(ctx);
    return st;
}

static sf_status gcm(int enc, const uint8_t key[32], const uint8_t iv[SF_GCM_IV_SIZE],
                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                     uint8_t *out, uint8_t *tag)
{
    pthread_once(&params_once, make_params);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0;
    sf_status st = SF_CRYPTO;
    const EVP_CIPHER *cipher = gcm_cipher != NULL ? gcm_cipher : EVP_aes_256_gcm();
    if (ctx == NULL || EVP_CipherInit_ex(ctx, cipher, NULL, key, iv, enc) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
        EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1) {
        goto done;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SF_TAG_SIZE, tag) != 1) {
        goto done;
    }
    if (EVP_CipherFinal_ex(ctx, out + outl, &outl) != 1) {
        goto done;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SF_TAG_SIZE, tag) != 1) {
        goto done;
    }
    st = SF_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    return st;
}

sf_status sfc_gcm_encrypt(const uint8_t key[32], const uint8_t iv[SF_GCM_IV_SIZE],
                          const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                          uint8_t *ct, uint8_t tag[SF_TAG_SIZE])
{
    return gcm(1, key, iv, aad, aad_len, pt, pt_len, ct, tag);
}

sf_status sfc_gcm_decrypt(const uint8_t key[32], const uint8_t iv[SF_GCM_IV_SIZE],
                          const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                          const uint8_t tag[SF_TAG_SIZE], uint8_t *pt)
{
    return gcm(0, key, iv, aad, aad_len, ct, ct_len, pt, (uint8_t *)tag);
}

sf_status sfc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                          uint8_t out[SF_HASH_SIZE])
{
    pthread_once(&params_once, make_params);
    EVP_MAC_CTX *ctx = hmac_mac != NULL ? EVP_MAC_CTX_new(hmac_mac) : NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0);
    params[1] = OSSL_PARAM_construct_end();
    size_t out_len = 0;
    sf_status st = SF_CRYPTO;
    if (ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1 &&
        EVP_MAC_update(ctx, data, len) == 1 &&
        EVP_MAC_final(ctx, out, &out_len, SF_HASH_SIZE) == 1 && out_len == SF_HASH_SIZE) {
        st = SF_OK;
    }
    EVP_MAC_CTX_free(ctx); /* cleanses the keyed state */
    return st;
}

void sfc_labelled_hash(const char *label, const uint8_t *a, size_t a_len, const uint8_t *b,
                       size_t b_len, const uint8_t *c, size_t c_len, uint8_t out[SF_HASH_SIZE])
{
    static const uint8_t zero = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (md == NULL || EVP_DigestInit_ex(md, md_sha256(), NULL) != 1) {
        /* Only an allocation failure gets here; a zero hash never verifies. */
        memset(out, 0, SF_HASH_SIZE);
        EVP_MD_CTX_free(md);
        return;
    }
    EVP_DigestUpdate(md, label, strlen(label));
    EVP_DigestUpdate(md, &zero, 1);
    if (a != NULL) {
        EVP_DigestUpdate(md, a, a_len);
    }
    if (b != NULL) {
        EVP_DigestUpdate(md, b, b_len);
    }
    if (c != NULL) {
        EVP_DigestUpdate(md, c, c_len);
    }
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

sf_status sfc_random(uint8_t *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? SF_OK : SF_CRYPTO;
}

/* The service's validity: an hour back (clocks of stations and devices drift), then years of
 * 365.25 days. */
static void validity(int years, time_t *not_before, time_t *not_after)
{
    time_t now = time(NULL);
    *not_before = now - 3600;
    *not_after = now + (time_t)(365 * years + years / 4) * 86400;
}

static sf_status der_to_cert(uint8_t *der, size_t len, X509 **out)
{
    const unsigned char *p = der;
    *out = d2i_X509(NULL, &p, (long)len);
    free(der);
    return *out != NULL ? SF_OK : SF_CRYPTO;
}

sf_status sfc_ca_certificate(const kiln_pki_signer *signer, const char *cn, int years, X509 **out)
{
    kiln_pki_ca_request req = {.subject = {.common_name = cn}};
    validity(years, &req.not_before, &req.not_after);
    uint8_t *der = NULL;
    size_t len = 0;
    kiln_pki_status st = kiln_pki_self_signed_ca(signer, &req, &der, &len);
    return st == KILN_PKI_OK ? der_to_cert(der, len, out) : SF_CRYPTO;
}

sf_status sfc_token_error(const char *uri, int pki_status)
{
    char shown[1200];
    kiln_pki_uri_redact(uri, shown, sizeof(shown));
    fprintf(stderr, "factory_service: error %d: %s: key %s: %s (PKI status %d, %s)\n",
            (int)SF_CONFIG, sf_status_text(SF_CONFIG), shown, kiln_pki_strerror(pki_status),
            pki_status, kiln_pki_status_name(pki_status));
    return SF_CONFIG;
}

sf_status sfc_key_signer(const char *ref, kiln_pki_signer **out)
{
    kiln_pki_status st = kiln_pki_is_key_uri(ref) ? kiln_pki_signer_from_uri(ref, out)
                                                  : kiln_pki_signer_from_file(ref, out);
    if (st == KILN_PKI_OK) {
        return SF_OK;
    }
    if (kiln_pki_is_key_uri(ref)) {
        return sfc_token_error(ref, st);
    }
    return st == KILN_PKI_KEY_UNREADABLE ? SF_CONFIG : SF_CRYPTO;
}

static sf_status issuer_open(kiln_pki_status st, kiln_pki_signer *signer, X509 *cert,
                             kiln_pki_ca **out)
{
    uint8_t *der = NULL;
    int n = st == KILN_PKI_OK ? i2d_X509(cert, &der) : -1;
    if (n > 0) {
        st = kiln_pki_ca_open(signer, der, (size_t)n, out);
    } else {
        kiln_pki_signer_free(signer);
    }
    OPENSSL_free(der);
    return n > 0 && st == KILN_PKI_OK ? SF_OK : SF_CRYPTO;
}

sf_status sfc_issuer_open(kiln_pki_signer *signer, X509 *ca_cert, kiln_pki_ca **out)
{
    return issuer_open(KILN_PKI_OK, signer, ca_cert, out);
}

sf_status sfc_issuer_load(const char *key_ref, X509 *ca_cert, kiln_pki_ca **out)
{
    kiln_pki_signer *signer = NULL;
    sf_status st = sfc_key_signer(key_ref, &signer);
    return st == SF_OK ? issuer_open(KILN_PKI_OK, signer, ca_cert, out) : st;
}

sf_status sfc_leaf_der(const kiln_pki_ca *issuer, const uint8_t point[SF_POINT_SIZE],
                       const char *cn, kiln_pki_usage usage, const char *san_list, int years,
                       uint8_t **der, size_t *der_len)
{
    kiln_pki_leaf_request req = {.subject = {.common_name = cn},
                                 .public_point = point,
                                 .usage = usage,
                                 .subject_alt_names = san_list};
    validity(years, &req.not_before, &req.not_after);
    *der = NULL;
    *der_len = 0;
    return kiln_pki_issue(issuer, &req, der, der_len) == KILN_PKI_OK ? SF_OK : SF_CRYPTO;
}

sf_status sfc_leaf_certificate(const kiln_pki_ca *issuer, EVP_PKEY *subject_key, const char *cn,
                               kiln_pki_usage usage, const char *san_list, int years, X509 **out)
{
    uint8_t point[KILN_PKI_POINT_SIZE];
    uint8_t *der = NULL;
    size_t len = 0;
    sf_status st = kiln_pki_key_point(subject_key, point) == KILN_PKI_OK
                       ? sfc_leaf_der(issuer, point, cn, usage, san_list, years, &der, &len)
                       : SF_CRYPTO;
    return st == SF_OK ? der_to_cert(der, len, out) : st;
}

sf_status sfc_cert_der(X509 *cert, uint8_t **der, size_t *der_len)
{
    *der = NULL;
    int n = i2d_X509(cert, der);
    if (n <= 0) {
        return SF_CRYPTO;
    }
    *der_len = (size_t)n;
    return SF_OK;
}

void sfc_sha1_hex(const uint8_t *der, size_t len, char out[41])
{
    uint8_t md[SHA_DIGEST_LENGTH];
    if (!kiln_pki_sha1(der, len, md)) {
        memset(md, 0, sizeof(md));
    }
    sf_hex_encode(md, sizeof(md), out);
}

void sfc_sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    if (!kiln_pki_sha256(data, len, md)) {
        memset(md, 0, sizeof(md));
    }
    sf_hex_encode(md, sizeof(md), out);
}

static FILE *open_for_write(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return NULL;
    }
    (void)fchmod(fd, mode);
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
    }
    return f;
}

sf_status sfc_write_key(const char *path, EVP_PKEY *key)
{
    FILE *f = open_for_write(path, 0600);
    if (f == NULL) {
        return SF_CONFIG;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok == 1 ? SF_OK : SF_CONFIG;
}

sf_status sfc_write_cert(const char *path, X509 *cert)
{
    FILE *f = open_for_write(path, 0644);
    if (f == NULL) {
        return SF_CONFIG;
    }
    int ok = PEM_write_X509(f, cert);
    return fclose(f) == 0 && ok == 1 ? SF_OK : SF_CONFIG;
}

sf_status sfc_read_key(const char *path, EVP_PKEY **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return SF_CONFIG;
    }
    *out = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return *out != NULL ? SF_OK : SF_CONFIG;
}

sf_status sfc_read_cert(const char *path, X509 **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return SF_CONFIG;
    }
    *out = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return *out != NULL ? SF_OK : SF_CONFIG;
}

sf_status sfc_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return SF_NOT_FOUND;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            break;
        }
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        return SF_INTERNAL;
    }
    buf[n] = '\0';
    *out = buf;
    if (len != NULL) {
        *len = n;
    }
    return SF_OK;
}

static char *bio_text(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (copy != NULL) {
        memcpy(copy, data, (size_t)n);
        copy[n] = '\0';
    }
    return copy;
}

char *sfc_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    char *text = NULL;
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
        text = bio_text(bio);
    }
    BIO_free(bio);
    return text;
}

char *sfc_pubkey_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, key) == 1) {
        text = bio_text(bio);
    }
    BIO_free(bio);
    return text;
}

char *sfc_cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1) {
        text = bio_text(bio);
    }
    BIO_free(bio);
    return text;
}
