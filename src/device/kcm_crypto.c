/* Key and certificate checks, key generation and CSRs (Mbed TLS). */
#include "kcm_internal.h"

#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>

#include <string.h>

int kcm_drbg_random(void *ctx, unsigned char *out, size_t len)
{
    kiln_device *dev = ctx;
    return mbedtls_ctr_drbg_random(&dev->drbg, out, len);
}

/* Mbed TLS adds a low-level code to a high-level one; the high-level part tells the cause. */
static int high_level(int rc)
{
    return -((-rc) & 0xFF80);
}

static kcm_status_e key_parse_status(int rc, bool private_key)
{
    switch (high_level(rc)) {
    case MBEDTLS_ERR_PK_KEY_INVALID_FORMAT:
        return KCM_CRYPTO_STATUS_PK_KEY_INVALID_FORMAT;
    case MBEDTLS_ERR_PK_KEY_INVALID_VERSION:
        return KCM_CRYPTO_STATUS_PK_KEY_INVALID_VERSION;
    case MBEDTLS_ERR_PK_PASSWORD_REQUIRED:
    case MBEDTLS_ERR_PK_PASSWORD_MISMATCH:
        return KCM_CRYPTO_STATUS_PK_PASSWORD_REQUIRED;
    case MBEDTLS_ERR_PK_UNKNOWN_PK_ALG:
    case MBEDTLS_ERR_PK_INVALID_ALG:
        return KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG;
    case MBEDTLS_ERR_PK_INVALID_PUBKEY:
        return KCM_CRYPTO_STATUS_INVALID_PK_PUBKEY;
    case MBEDTLS_ERR_ECP_INVALID_KEY:
        return KCM_CRYPTO_STATUS_ECP_INVALID_KEY;
    case MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE:
    case MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE:
        return KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE;
    default:
        return private_key ? KCM_CRYPTO_STATUS_PARSING_DER_PRIVATE_KEY
                           : KCM_CRYPTO_STATUS_PARSING_DER_PUBLIC_KEY;
    }
}

/* A private key parsed into pk (initialised by the caller), or why not. */
static kcm_status_e parse_private(mbedtls_pk_context *pk, const uint8_t *der, size_t len)
{
    int rc = mbedtls_pk_parse_key(pk, der, len, NULL, 0);
    return rc != 0 ? key_parse_status(rc, true) : KCM_STATUS_SUCCESS;
}

static kcm_status_e require_p256(const mbedtls_pk_context *pk, kcm_status_e not_ec)
{
    if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY)) {
        return not_ec;
    }
    if (mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        return KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE;
    }
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kcm_crypto_check_private_key(const uint8_t *der, size_t len)
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    kcm_status_e st = parse_private(&pk, der, len);
    if (st == KCM_STATUS_SUCCESS) {
        st = require_p256(&pk, KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG);
    }
    if (st == KCM_STATUS_SUCCESS &&
        mbedtls_ecp_check_privkey(&mbedtls_pk_ec(pk)->grp, &mbedtls_pk_ec(pk)->d) != 0) {
        st = KCM_CRYPTO_STATUS_INVALID_PK_PRIVKEY;
    }
    mbedtls_pk_free(&pk);
    return st;
}

kcm_status_e kcm_crypto_check_public_key(const uint8_t *der, size_t len)
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int rc = mbedtls_pk_parse_public_key(&pk, der, len);
    kcm_status_e st = rc != 0 ? key_parse_status(rc, false)
                              : require_p256(&pk, KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG);
    mbedtls_pk_free(&pk);
    return st;
}

kcm_status_e kcm_crypto_parse_cert(mbedtls_x509_crt *crt, const uint8_t *der, size_t len)
{
    /* No copy: every caller's DER (bundle, staged or read record) outlives the parsed form. */
    int rc = mbedtls_x509_crt_parse_der_nocopy(crt, der, len);
    if (rc == 0) {
        return KCM_STATUS_SUCCESS;
    }
    switch (high_level(rc)) {
    case MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG:
        return KCM_CRYPTO_STATUS_CERT_MD_ALG;
    case MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE:
    case MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE:
        return KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE;
    default:
        return KCM_CRYPTO_STATUS_PARSING_DER_CERT;
    }
}

kcm_status_e kcm_crypto_check_cert(const uint8_t *der, size_t len)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    kcm_status_e st = kcm_crypto_parse_cert(&crt, der, len);
    mbedtls_x509_crt_free(&crt);
    return st;
}

bool kcm_crypto_sig_prepare(const mbedtls_x509_crt *child, kcm_sig *sig)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(child->sig_md);
    memset(sig, 0, sizeof(*sig));
    if (md == NULL || mbedtls_md(md, child->tbs.p, child->tbs.len, sig->hash) != 0) {
        return false;
    }
    sig->hash_len = mbedtls_md_get_size(md);
    sig->md = child->sig_md;
    sig->pk = child->sig_pk;
#if defined(MBEDTLS_X509_RSASSA_PSS_SUPPORT)
    if (child->sig_pk == MBEDTLS_PK_RSASSA_PSS && child->sig_opts != NULL) {
        sig->pss = *(const mbedtls_pk_rsassa_pss_options *)child->sig_opts;
        sig->has_pss = true;
    }
#endif
    sig->sig = child->sig.p;
    sig->sig_len = child->sig.len;
    return true;
}

bool kcm_crypto_sig_verify(const kcm_sig *sig, const mbedtls_x509_crt *parent)
{
    const void *opts = NULL;
#if defined(MBEDTLS_X509_RSASSA_PSS_SUPPORT)
    opts = sig->has_pss ? &sig->pss : NULL;
#endif
    mbedtls_pk_context *key = (mbedtls_pk_context *)&parent->pk;
    return mbedtls_pk_verify_ext(sig->pk, opts, key, sig->md, sig->hash, sig->hash_len, sig->sig,
                                 sig->sig_len) == 0;
}

/* ---- pairs known to match ----
 * Whether a private key belongs to a certificate depends on nothing but the bytes of the
 * certificate's SubjectPublicKeyInfo and of the key's DER, so a match is remembered by SHA-256
 * over both (the SubjectPublicKeyInfo is one DER element: the concatenation splits one way
 * only). Only a match is remembered; a mismatch or an error is computed again each time, and a
 * changed key or certificate is a digest not seen before. remember: store the pair's digest;
 * otherwise, is it the one stored? (compared in constant time: it is derived from a key.) */
static bool pair_memo(kiln_device *dev, const uint8_t *spki, size_t spki_len, const uint8_t *priv,
                      size_t priv_len, bool remember)
{
    uint8_t digest[32], diff = 0;
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    bool ok = mbedtls_sha256_starts_ret(&c, 0) == 0 &&
              mbedtls_sha256_update_ret(&c, spki, spki_len) == 0 &&
              mbedtls_sha256_update_ret(&c, priv, priv_len) == 0 &&
              mbedtls_sha256_finish_ret(&c, digest) == 0;
    mbedtls_sha256_free(&c);
    for (size_t i = 0; i < sizeof(digest); i++) {
        diff |= dev->key_match[i] ^ digest[i];
    }
    bool known = ok && dev->key_match_set && diff == 0;
    if (ok && remember) {
        memcpy(dev->key_match, digest, sizeof(digest));
        dev->key_match_set = true;
    }
    mbedtls_platform_zeroize(digest, sizeof(digest));
    return known;
}

kcm_status_e kcm_crypto_crt_matches_key(kiln_device *dev, const mbedtls_x509_crt *crt,
                                        const uint8_t *priv_der, size_t priv_len)
{
    if (pair_memo(dev, crt->pk_raw.p, crt->pk_raw.len, priv_der, priv_len, false)) {
        return KCM_STATUS_SUCCESS;
    }
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    kcm_status_e st = parse_private(&pk, priv_der, priv_len);
    if (st == KCM_STATUS_SUCCESS) {
        int rc = dev->check_pair != NULL
                     ? dev->check_pair(dev->check_pair_ctx, &crt->pk, &pk, kcm_drbg_random, dev)
                     : mbedtls_pk_check_pair(&crt->pk, &pk);
        if (rc != 0) {
            st = KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR;
        } else {
            pair_memo(dev, crt->pk_raw.p, crt->pk_raw.len, priv_der, priv_len, true);
        }
    }
    mbedtls_pk_free(&pk);
    return st;
}

/* Mbed TLS writes DER at the end of the buffer; move it to the front. */
static int der_to_front(uint8_t *buf, size_t cap, int written, size_t *len)
{
    if (written <= 0) {
        return -1;
    }
    memmove(buf, buf + cap - (size_t)written, (size_t)written);
    *len = (size_t)written;
    return 0;
}

kcm_status_e kcm_crypto_generate_p256(kiln_device *dev, uint8_t *priv_der, size_t priv_cap,
                                      size_t *priv_len, uint8_t *pub_der, size_t pub_cap,
                                      size_t *pub_len)
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    kcm_status_e st = KCM_STATUS_SUCCESS;
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), kcm_drbg_random, dev) !=
            0) {
        st = KCM_STATUS_ERROR;
    }
    if (st == KCM_STATUS_SUCCESS &&
        der_to_front(priv_der, priv_cap, mbedtls_pk_write_key_der(&pk, priv_der, priv_cap),
                     priv_len) != 0) {
        st = KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PRIVATE_KEY;
    }
    if (st == KCM_STATUS_SUCCESS && pub_der != NULL &&
        der_to_front(pub_der, pub_cap, mbedtls_pk_write_pubkey_der(&pk, pub_der, pub_cap),
                     pub_len) != 0) {
        st = KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PUBLIC_KEY;
    }
    /* The public point was computed from the private key here: a certificate for exactly this
     * public key matches it, as the check would find. */
    if (st == KCM_STATUS_SUCCESS && pub_der != NULL) {
        pair_memo(dev, pub_der, *pub_len, priv_der, *priv_len, true);
    }
    mbedtls_pk_free(&pk);
    if (st != KCM_STATUS_SUCCESS) {
        mbedtls_platform_zeroize(priv_der, priv_cap);
    }
    return st;
}

/* KCM key usage bits -> X.509 KeyUsage bits (digitalSignature is the first bit). */
static kcm_status_e csr_set_key_usage(mbedtls_x509write_csr *csr, uint32_t key_usage)
{
    unsigned char ku = 0;
    if (key_usage & KCM_CSR_KU_DIGITAL_SIGNATURE) {
        ku |= MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
    }
    if (key_usage & KCM_CSR_KU_NON_REPUDIATION) {
        ku |= MBEDTLS_X509_KU_NON_REPUDIATION;
    }
    if (key_usage & KCM_CSR_KU_KEY_CERT_SIGN) {
        ku |= MBEDTLS_X509_KU_KEY_CERT_SIGN;
    }
    if (key_usage & KCM_CSR_KU_KEY_AGREEMENT) {
        ku |= MBEDTLS_X509_KU_KEY_AGREEMENT;
    }
    return mbedtls_x509write_csr_set_key_usage(csr, ku) == 0
               ? KCM_STATUS_SUCCESS
               : KCM_CRYPTO_STATUS_SET_EXTENSION_FAILED;
}

/* SEQUENCE OF KeyPurposeId, built by hand: Mbed TLS 2.28 has no EKU writer for CSRs. Every
 * purpose but "any" is an arc of id-kp (RFC 5280), so only its last number is kept here; the
 * order is the original's. */
static kcm_status_e csr_set_ext_key_usage(mbedtls_x509write_csr *csr, uint32_t ext_key_usage)
{
    static const struct {
        uint16_t bit;
        uint8_t kp_arc;
    } purposes[] = {
        {KCM_CSR_EXT_KU_SERVER_AUTH, 1},   {KCM_CSR_EXT_KU_CLIENT_AUTH, 2},
        {KCM_CSR_EXT_KU_CODE_SIGNING, 3},  {KCM_CSR_EXT_KU_EMAIL_PROTECTION, 4},
        {KCM_CSR_EXT_KU_TIME_STAMPING, 8}, {KCM_CSR_EXT_KU_OCSP_SIGNING, 9},
    };
    unsigned char seq[2 + 7 * 12];
    size_t pos = 2;
    if (ext_key_usage & KCM_CSR_EXT_KU_ANY) {
        seq[pos++] = MBEDTLS_ASN1_OID;
        seq[pos++] = MBEDTLS_OID_SIZE(MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE);
        memcpy(seq + pos, MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE,
               MBEDTLS_OID_SIZE(MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE));
        pos += MBEDTLS_OID_SIZE(MBEDTLS_OID_ANY_EXTENDED_KEY_USAGE);
    }
    for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++) {
        if (ext_key_usage & purposes[i].bit) {
            seq[pos++] = MBEDTLS_ASN1_OID;
            seq[pos++] = MBEDTLS_OID_SIZE(MBEDTLS_OID_KP) + 1;
            memcpy(seq + pos, MBEDTLS_OID_KP, MBEDTLS_OID_SIZE(MBEDTLS_OID_KP));
            pos += MBEDTLS_OID_SIZE(MBEDTLS_OID_KP);
            seq[pos++] = purposes[i].kp_arc;
        }
    }
    seq[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
    seq[1] = (unsigned char)(pos - 2);
    if (pos == 2 || mbedtls_x509write_csr_set_extension(
                        csr, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), seq, pos) != 0) {
        return KCM_CRYPTO_STATUS_SET_EXTENSION_FAILED;
    }
    return KCM_STATUS_SUCCESS;
}

/* Key, subject and usages of the CSR. */
static kcm_status_e csr_prepare(mbedtls_x509write_csr *csr, mbedtls_pk_context *pk,
                                const uint8_t *priv_der, size_t priv_len,
                                const kcm_csr_params_s *params)
{
    kcm_status_e st = parse_private(pk, priv_der, priv_len);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    mbedtls_x509write_csr_set_md_alg(csr, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(csr, pk);
    if (mbedtls_x509write_csr_set_subject_name(csr, params->subject) != 0) {
        return KCM_CRYPTO_STATUS_INVALID_NAME_FORMAT;
    }
    if (params->key_usage != 0) {
        st = csr_set_key_usage(csr, params->key_usage);
    }
    if (st == KCM_STATUS_SUCCESS && params->ext_key_usage != 0) {
        st = csr_set_ext_key_usage(csr, params->ext_key_usage);
    }
    return st;
}

kcm_status_e kcm_crypto_csr(kiln_device *dev, const uint8_t *priv_der, size_t priv_len,
                            const kcm_csr_params_s *params, uint8_t *out, size_t cap,
                            size_t *out_len)
{
    if (params == NULL || params->subject == NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    if (params->md_type != KCM_MD_SHA256) {
        return KCM_CRYPTO_STATUS_INVALID_MD_TYPE;
    }
    mbedtls_pk_context pk;
    mbedtls_x509write_csr csr;
    mbedtls_pk_init(&pk);
    mbedtls_x509write_csr_init(&csr);
    kcm_status_e st = csr_prepare(&csr, &pk, priv_der, priv_len, params);
    if (st == KCM_STATUS_SUCCESS) {
        int rc = mbedtls_x509write_csr_der(&csr, out, cap, kcm_drbg_random, dev);
        if (der_to_front(out, cap, rc, out_len) != 0) {
            st = rc == MBEDTLS_ERR_ASN1_BUF_TOO_SMALL ? KCM_STATUS_INSUFFICIENT_BUFFER
                                                      : KCM_CRYPTO_STATUS_FAILED_TO_WRITE_CSR;
        }
    }
    mbedtls_x509write_csr_free(&csr);
    mbedtls_pk_free(&pk);
    return st;
}

kcm_status_e kcm_cert_ec_id(kiln_device *dev, const char *name, uint8_t id[33])
{
    kcm_cert_view v;
    kcm_status_e st = kcm_cert_view_open(dev, (const uint8_t *)name, strlen(name), &v);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    const uint8_t *der = NULL;
    size_t der_len = 0;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (kcm_cert_view_get(&v, 0, &der, &der_len) != 0) {
        st = KCM_STATUS_CORRUPTED_CHAIN_FILE;
    } else {
        st = kcm_crypto_parse_cert(&crt, der, der_len);
    }
    if (st == KCM_STATUS_SUCCESS) {
        if (!mbedtls_pk_can_do(&crt.pk, MBEDTLS_PK_ECKEY)) {
            st = KCM_CRYPTO_STATUS_CERT_PUB_KEY_TYPE;
        } else {
            mbedtls_ecp_keypair *ec = mbedtls_pk_ec(crt.pk);
            size_t olen = 0;
            if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_COMPRESSED, &olen,
                                               id, 33) != 0 ||
                olen != 33) {
                st = KCM_CRYPTO_STATUS_CERT_PUB_KEY;
            }
        }
    }
    mbedtls_x509_crt_free(&crt);
    kcm_cert_view_close(&v);
    return st;
}
