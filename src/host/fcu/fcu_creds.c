/* The device's credentials: a key generated here and a certificate issued by the CA (by_tool),
 * a certificate for the key of the device's CSR (by_device second step), or a key and
 * certificate chain supplied in the device's folder (externally_supplied). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "fcu_prepare.h"

const fcu_device_names fcu__bootstrap_names = {
    FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY, FCC_BOOTSTRAP_DEVICE_CERT, FCC_BOOTSTRAP_SERVER_CA_CERT,
    FCC_BOOTSTRAP_SERVER_CRL, FCC_BOOTSTRAP_SERVER_URI};
const fcu_device_names fcu__lwm2m_names = {FCC_LWM2M_DEVICE_PRIVATE_KEY, FCC_LWM2M_DEVICE_CERT,
                                           FCC_LWM2M_SERVER_CA_CERT, FCC_LWM2M_SERVER_CRL,
                                           FCC_LWM2M_SERVER_URI};

const fcu_device_names *fcu__names_of(const fcu_config *cfg)
{
    return cfg->bootstrap ? &fcu__bootstrap_names : &fcu__lwm2m_names;
}

void fcu__creds_free(fcu_device_creds *c)
{
    if (c->key_der) {
        OPENSSL_cleanse(c->key_der, c->key_len);
        OPENSSL_free(c->key_der);
    }
    sk_X509_pop_free(c->chain, X509_free);
    for (int i = 0; i < c->nders; i++)
        free(c->ders[i]);
    memset(c, 0, sizeof(*c));
}

bool fcu__is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t glen = 0;
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) &&
           (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

/* A device key. Generating from a context whose template already holds the P-256 group saves
 * building the group (and its Montgomery constants) for every key, as EVP_EC_gen does. */
static EVP_PKEY *device_key_generate(fcu *f)
{
    if (FCU_FAIL_POINT(FCU_STATUS_DEVICE_KEY_CREATE))
        return NULL;
    if (!f->keygen) {
        EVP_PKEY *params = NULL;
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (pctx && EVP_PKEY_paramgen_init(pctx) == 1 &&
            EVP_PKEY_CTX_set_group_name(pctx, "P-256") == 1 &&
            EVP_PKEY_paramgen(pctx, &params) == 1) {
            f->keygen = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
            if (f->keygen && EVP_PKEY_keygen_init(f->keygen) != 1) {
                EVP_PKEY_CTX_free(f->keygen);
                f->keygen = NULL;
            }
        }
        EVP_PKEY_free(params);
        EVP_PKEY_CTX_free(pctx);
        ERR_clear_error();
    }
    EVP_PKEY *key = NULL;
    if (!f->keygen || EVP_PKEY_generate(f->keygen, &key) != 1) {
        ERR_clear_error();
        return fcu__p256_generate();
    }
    return key;
}

/* SEC1 ECPrivateKey of a P-256 key (the 121-byte form the device expects) and its public
 * point, exported in one call and written directly: i2d_PrivateKey goes through OpenSSL's
 * encoder framework, several times slower. */
static int p256_sec1(EVP_PKEY *key, uint8_t point[65], fcu_device_creds *c)
{
    static const unsigned char head[] = {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20};
    static const unsigned char mid[] = {0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                        0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42, 0x00};
    unsigned char native[32]; /* the scalar in host byte order, as OSSL_PARAM carries it */
    OSSL_PARAM params[] = {OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, 65),
                           OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, sizeof(native)),
                           OSSL_PARAM_END};
    if (EVP_PKEY_get_params(key, params) != 1 || params[0].return_size != 65 ||
        params[1].return_size > sizeof(native)) {
        OPENSSL_cleanse(native, sizeof(native));
        ERR_clear_error();
        return -1;
    }
    size_t total = sizeof(head) + 32 + sizeof(mid) + 65;
    unsigned char *der = OPENSSL_malloc(total);
    if (!der) {
        OPENSSL_cleanse(native, sizeof(native));
        return -1;
    }
    const uint16_t probe = 1;
    bool little = *(const uint8_t *)&probe == 1;
    unsigned char *scalar = der + sizeof(head);
    for (size_t i = 0; i < 32; i++)
        scalar[i] = little ? native[31 - i] : native[i];
    OPENSSL_cleanse(native, sizeof(native));
    memcpy(der, head, sizeof(head));
    memcpy(der + sizeof(head) + 32, mid, sizeof(mid));
    memcpy(der + sizeof(head) + 32 + sizeof(mid), point, 65);
    c->key_der = der;
    c->key_len = total;
    return 0;
}

static int key_der_sec1(EVP_PKEY *key, fcu_device_creds *c)
{
    uint8_t point[65];
    if (fcu__is_p256(key))
        return p256_sec1(key, point, c);
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(key, &der);
    if (n <= 0)
        return -1;
    c->key_der = der;
    c->key_len = (size_t)n;
    return 0;
}

/* Device certificate signed by the CA for pubkey, followed by the configured chain depth of
 * fcu.crt's issuers. */
static int creds_from_ca(fcu *f, const fcu_config *cfg, const fcu_device_names *names,
                         const uint8_t point[65], const char *endpoint, const char *ou,
                         fcu_device_creds *c, fcu_error *err)
{
    if (fcu__device_cert_issue(&f->ca, cfg, point, endpoint, ou, &c->ders[0], &c->der_lens[0]) != 0)
        return fcu__fail(err, FCU_STATUS_DEVICE_CERT_CREATE, names->cert);
    c->nders = 1;
    /* The chain sent to the device: the device certificate, then the CA certificate and its
     * issuers from fcu.crt, device-certificate-chain-depth of them. */
    for (long long i = 0;
         i < cfg->chain_depth_value && i < f->ca.nders && c->nders < FCC_MAX_CHAIN_LENGTH; i++) {
        c->ders[c->nders] = malloc(f->ca.der_lens[i]);
        if (!c->ders[c->nders])
            return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        memcpy(c->ders[c->nders], f->ca.ders[i], f->ca.der_lens[i]);
        c->der_lens[c->nders] = f->ca.der_lens[i];
        c->nders++;
    }
    return 0;
}

int fcu__check_ca_chain(const fcu *f, const fcu_config *cfg, const fcu_device_names *names,
                        fcu_error *err)
{
    int issuers = f->ca.chain ? sk_X509_num(f->ca.chain) : 0;
    if (issuers > 0 && cfg->chain_depth_value < 0)
        return fcu__fail(err, FCU_STATUS_CHAIN_DEPTH_UNDEFINED, names->cert);
    if (cfg->chain_depth_value > issuers + 1)
        return fcu__fail(err, FCU_STATUS_CHAIN_DEPTH_TOO_LARGE, names->cert);
    return 0;
}

/* ---- externally supplied ---- */

static const char *const key_file_names[] = {"device.key", "device_key.pem", "device_key.der"};
static const char *const cert_file_names[] = {"device.crt", "device_cert.pem", "device_cert.der"};

static char *find_file(const char *dir, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = fcu__path_join(dir, names[i]);
        struct stat st;
        if (p && stat(p, &st) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* The key and certificate files of the device's folder; errors name what is missing. */
static int external_files(const fcu_device_names *names, const char *location, char **key_path,
                          char **cert_path, fcu_error *err)
{
    struct stat st;
    if (location && stat(location, &st) == 0 && !S_ISDIR(st.st_mode))
        return fcu__fail(err, FCU_STATUS_BAD_ARGUMENT_TYPE, "device_keys_location");
    *key_path = location ? find_file(location, key_file_names, 3) : NULL;
    *cert_path = location ? find_file(location, cert_file_names, 3) : NULL;
    if (!*key_path && !*cert_path)
        return fcu__fail(err, FCU_STATUS_DEVICE_KEY_AND_CERT_MISSING, names->key);
    if (!*key_path)
        return fcu__fail(err, FCU_STATUS_DEVICE_KEY_MISSING, names->key);
    if (!*cert_path)
        return fcu__fail(err, FCU_STATUS_DEVICE_CERT_MISSING, names->cert);
    return 0;
}

static int external_load(const char *key_path, const char *cert_path, EVP_PKEY **key,
                         fcu_device_creds *c, fcu_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (fcu__read_file(key_path, &data, &len) == 0)
        *key = fcu__key_parse(data, len);
    if (data)
        OPENSSL_cleanse(data, len);
    free(data);
    data = NULL;
    if (!*key)
        return fcu__fail(err, FCU_STATUS_KEY_FILE_LOAD, key_path);
    if (fcu__read_file(cert_path, &data, &len) == 0)
        c->chain = fcu__certs_parse(data, len);
    free(data);
    if (!c->chain)
        return fcu__fail(err, FCU_STATUS_CERT_FILE_LOAD, cert_path);
    return 0;
}

static int external_check_cn(X509 *leaf, const char *cert_path, const char *endpoint,
                             fcu_error *err)
{
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
    if (strcmp(cn, endpoint) == 0)
        return 0;
    char why[600];
    snprintf(why, sizeof(why), "the certificate CN (%s) is not the endpoint name (%s)", cn,
             endpoint);
    return fcu__fail(err, FCU_STATUS_VALIDATION, cert_path, why);
}

/* The supplied key and chain must be what the device can use: P-256, matching, at most five
 * certificates, CN the endpoint. A short validity is only a warning. */
static int external_check(EVP_PKEY *key, const fcu_device_creds *c, const char *key_path,
                          const char *cert_path, const char *endpoint, fcu_notice_list *warnings,
                          fcu_error *err)
{
    if (!fcu__is_p256(key))
        return fcu__fail(err, FCU_STATUS_VALIDATION, key_path, "the device key must be EC P-256");
    X509 *leaf = sk_X509_value(c->chain, 0);
    if (X509_check_private_key(leaf, key) != 1)
        return fcu__fail(err, FCU_STATUS_VALIDATION, cert_path,
                         "the certificate does not match the device private key");
    if (sk_X509_num(c->chain) > FCC_MAX_CHAIN_LENGTH)
        return fcu__fail(err, FCU_STATUS_VALIDATION, cert_path,
                         "a device certificate chain has at most 5 certificates");
    int rc = external_check_cn(leaf, cert_path, endpoint, err);
    if (rc)
        return rc;
    time_t limit = time(NULL) + (time_t)3652 * 86400;
    if (X509_cmp_time(X509_get0_notAfter(leaf), &limit) < 0) {
        char text[600];
        snprintf(text, sizeof(text), "Certificate validity is less than 10 years: %s", cert_path);
        fcu__notice_add_text(warnings, 0, text);
    }
    return 0;
}

/* The supplied chain in DER, device certificate first. */
static int external_chain_der(fcu_device_creds *c, fcu_error *err)
{
    for (int i = 0; i < sk_X509_num(c->chain) && i < FCC_MAX_CHAIN_LENGTH; i++) {
        if (fcu__x509_der(sk_X509_value(c->chain, i), &c->ders[i], &c->der_lens[i]) != 0)
            return fcu__fail(err, FCU_STATUS_GENERAL, "cannot encode certificate");
        c->nders = i + 1;
    }
    return 0;
}

static int creds_external(const fcu_device_names *names, const char *location, const char *endpoint,
                          fcu_device_creds *c, fcu_notice_list *warnings, fcu_error *err)
{
    char *key_path = NULL, *cert_path = NULL;
    EVP_PKEY *key = NULL;
    int rc = external_files(names, location, &key_path, &cert_path, err);
    if (rc == 0)
        rc = external_load(key_path, cert_path, &key, c, err);
    if (rc == 0)
        rc = external_check(key, c, key_path, cert_path, endpoint, warnings, err);
    if (rc == 0 && key_der_sec1(key, c) != 0)
        rc = fcu__fail(err, FCU_STATUS_KEY_FILE_LOAD, key_path);
    if (rc == 0)
        rc = external_chain_der(c, err);
    ERR_clear_error();
    EVP_PKEY_free(key);
    free(key_path);
    free(cert_path);
    return rc;
}

/* ---- the three sources ---- */

static int creds_for_csr(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in, const char *ou,
                         fcu_device_creds *c, fcu_error *err)
{
    const fcu_device_names *names = fcu__names_of(cfg);
    uint8_t point[65];
    if (fcu__p256_point(in->csr_key, point) != 0)
        return fcu__fail(err, FCU_STATUS_VALIDATION, names->key, "the CSR key is not EC P-256");
    const char *external = fcu__external_ca(f, cfg);
    int rc = external != NULL && in->csr != NULL
                 ? fcu__external_ca_sign(external, in->csr, in->endpoint, c, err)
                 : creds_from_ca(f, cfg, names, point, in->endpoint, ou, c, err);
    c->key_name_on_cert = in->csr_key_name;
    return rc;
}

static int creds_by_tool(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in, const char *ou,
                         fcu_device_creds *c, fcu_error *err)
{
    const fcu_device_names *names = fcu__names_of(cfg);
    EVP_PKEY *key = device_key_generate(f);
    if (!key)
        return fcu__fail(err, FCU_STATUS_DEVICE_KEY_CREATE, names->key);
    uint8_t point[65];
    int rc = p256_sec1(key, point, c) == 0
                 ? creds_from_ca(f, cfg, names, point, in->endpoint, ou, c, err)
                 : fcu__fail(err, FCU_STATUS_DEVICE_KEY_CREATE, names->key);
    EVP_PKEY_free(key);
    return rc;
}

int fcu__creds_obtain(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in, const char *ou,
                      fcu_device_creds *c, fcu_notice_list *warnings, fcu_error *err)
{
    if (in->csr_key)
        return creds_for_csr(f, cfg, in, ou, c, err);
    if (cfg->keygen == FCU_KEYGEN_BY_TOOL)
        return creds_by_tool(f, cfg, in, ou, c, err);
    return creds_external(fcu__names_of(cfg), in->keys_location, in->endpoint, c, warnings, err);
}
