/* The certificate issuer (kiln_pki) against independent parts: OpenSSL verifies what it makes
 * and builds the same TBSCertificate through its X509 API (the way the service built its
 * certificates before), Mbed TLS (the device's library) verifies the chains, and a signer that
 * fails makes every operation fail with its numbered status and nothing allocated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kiln/status.h"
#include "kiln_pki.h"

static const kiln_pki_name full_subject = {"FI",      "Uusimaa", "Espoo",
                                           "kiln oy", "factory", "kiln test CA"};

/* What the service asked OpenSSL's X509V3 configuration for (before kiln_pki), for a device or
 * station certificate. */
static const char *const client_exts[] = {"basicConstraints",
                                          "critical,CA:FALSE",
                                          "keyUsage",
                                          "critical,digitalSignature",
                                          "extendedKeyUsage",
                                          "clientAuth",
                                          "subjectKeyIdentifier",
                                          "hash",
                                          "authorityKeyIdentifier",
                                          "keyid:always",
                                          NULL};

typedef struct fixture {
    EVP_PKEY *ca_key;
    kiln_pki_ca *ca;
    uint8_t *ca_der;
    size_t ca_len;
    X509 *ca_cert;
} fixture;

static X509 *parse(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    assert_non_null(x);
    assert_ptr_equal(p, der + len);
    return x;
}

static kiln_pki_signer *signer_of(EVP_PKEY *key)
{
    kiln_pki_signer *s = NULL;
    assert_int_equal(kiln_pki_signer_from_pkey(key, &s), KILN_PKI_OK);
    return s;
}

static int setup_ca(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->ca_key = EVP_EC_gen("P-256");
    kiln_pki_signer *s = signer_of(f->ca_key);
    time_t now = time(NULL);
    kiln_pki_ca_request req = {full_subject, now - 3600, now + 86400L * 3650, true};
    assert_int_equal(kiln_pki_self_signed_ca(s, &req, &f->ca_der, &f->ca_len), KILN_PKI_OK);
    assert_int_equal(kiln_pki_ca_open(s, f->ca_der, f->ca_len, &f->ca), KILN_PKI_OK);
    f->ca_cert = parse(f->ca_der, f->ca_len);
    *state = f;
    return 0;
}

static int teardown_ca(void **state)
{
    fixture *f = *state;
    kiln_pki_ca_free(f->ca);
    EVP_PKEY_free(f->ca_key);
    X509_free(f->ca_cert);
    free(f->ca_der);
    free(f);
    return 0;
}

/* The TBSCertificate bytes inside a certificate's DER (both lengths below 64 KiB). */
static void raw_tbs(const uint8_t *der, const uint8_t **tbs, size_t *len)
{
    size_t outer = der[1] == 0x82 ? 4 : der[1] == 0x81 ? 3 : 2;
    const uint8_t *t = der + outer;
    size_t head = t[1] == 0x82 ? 4 : t[1] == 0x81 ? 3 : 2;
    size_t body = head == 4 ? ((size_t)t[2] << 8 | t[3]) : head == 3 ? t[2] : t[1];
    *tbs = t;
    *len = head + body;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static void name_add(X509_NAME *n, const char *field, const char *value)
{
    if (value && *value)
        assert_int_equal(X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
                                                    (const unsigned char *)value, -1, -1, 0),
                         1);
}

/* The same certificate through OpenSSL's X509 API (serial and dates taken from ours): its TBS
 * must be byte for byte ours. */
static void assert_same_as_openssl(const uint8_t *der, size_t len, const kiln_pki_name *subject,
                                   EVP_PKEY *subject_key, X509 *issuer, EVP_PKEY *issuer_key,
                                   const char *const *exts)
{
    X509 *ours = parse(der, len), *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    name_add(n, "C", subject->country);
    name_add(n, "ST", subject->state);
    name_add(n, "L", subject->locality);
    name_add(n, "O", subject->organization);
    name_add(n, "OU", subject->organizational_unit);
    name_add(n, "CN", subject->common_name);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(X509_set_serialNumber(x, (ASN1_INTEGER *)X509_get0_serialNumber(ours)), 1);
    assert_int_equal(X509_set1_notBefore(x, X509_get0_notBefore(ours)), 1);
    assert_int_equal(X509_set1_notAfter(x, X509_get0_notAfter(ours)), 1);
    assert_int_equal(X509_set_subject_name(x, n), 1);
    assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n), 1);
    assert_int_equal(X509_set_pubkey(x, subject_key), 1);
    for (size_t i = 0; exts[i]; i += 2)
        add_ext(x, issuer, OBJ_sn2nid(exts[i]), exts[i + 1]);
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    unsigned char *twin = NULL;
    int twin_len = i2d_re_X509_tbs(x, &twin);
    const uint8_t *tbs;
    size_t tbs_len;
    raw_tbs(der, &tbs, &tbs_len);
    assert_int_equal((size_t)twin_len, tbs_len);
    assert_memory_equal(twin, tbs, tbs_len);
    OPENSSL_free(twin);
    X509_NAME_free(n);
    X509_free(x);
    X509_free(ours);
}

static void point_of(EVP_PKEY *key, uint8_t point[KILN_PKI_POINT_SIZE])
{
    assert_int_equal(kiln_pki_key_point(key, point), KILN_PKI_OK);
}

static int verify_chain(X509 *ca, X509 *leaf, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fprintf(stderr, "verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

static void assert_extension_order(X509 *x, const int *nids, const int *critical)
{
    int count = X509_get_ext_count(x);
    int i = 0;
    for (; nids[i]; i++) {
        assert_true(i < count);
        X509_EXTENSION *e = X509_get_ext(x, i);
        assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(e)), nids[i]);
        assert_int_equal(X509_EXTENSION_get_critical(e), critical[i]);
    }
    assert_int_equal(count, i);
}

static void test_self_signed_ca(void **state)
{
    fixture *f = *state;
    static const int nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_key_identifier,
                               NID_authority_key_identifier, 0};
    static const int critical[] = {1, 1, 0, 0};
    assert_int_equal(X509_verify(f->ca_cert, f->ca_key), 1);
    assert_int_equal(X509_check_ca(f->ca_cert), 1);
    assert_int_equal(verify_chain(f->ca_cert, f->ca_cert, X509_PURPOSE_ANY), 1);
    assert_extension_order(f->ca_cert, nids, critical);
    assert_int_equal(X509_get_key_usage(f->ca_cert),
                     KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_int_equal(X509_get_signature_nid(f->ca_cert), NID_ecdsa_with_SHA256);
    static const char *const exts[] = {"basicConstraints",
                                       "critical,CA:TRUE",
                                       "keyUsage",
                                       "critical,digitalSignature,keyCertSign,cRLSign",
                                       "subjectKeyIdentifier",
                                       "hash",
                                       "authorityKeyIdentifier",
                                       "keyid:always",
                                       NULL};
    assert_same_as_openssl(f->ca_der, f->ca_len, &full_subject, f->ca_key, NULL, f->ca_key, exts);
}

static void test_ca_without_authority_key_id(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    kiln_pki_signer *s = signer_of(key);
    kiln_pki_name cn_only = {.common_name = "kiln secure factory device CA"};
    time_t now = time(NULL);
    kiln_pki_ca_request req = {cn_only, now - 3600, now + 86400L * (365 * 35 + 8), false};
    uint8_t *der;
    size_t len;
    assert_int_equal(kiln_pki_self_signed_ca(s, &req, &der, &len), KILN_PKI_OK);
    static const char *const exts[] = {"basicConstraints",
                                       "critical,CA:TRUE",
                                       "keyUsage",
                                       "critical,digitalSignature,keyCertSign,cRLSign",
                                       "subjectKeyIdentifier",
                                       "hash",
                                       NULL};
    assert_same_as_openssl(der, len, &cn_only, key, NULL, key, exts);
    X509 *x = parse(der, len);
    assert_int_equal(X509_verify(x, key), 1);
    X509_free(x);
    free(der);
    kiln_pki_signer_free(s);
    EVP_PKEY_free(key);
}

static X509 *issue(fixture *f, EVP_PKEY *leaf_key, const kiln_pki_name *subject,
                   kiln_pki_usage usage, const char *san, uint8_t **der, size_t *len)
{
    uint8_t point[KILN_PKI_POINT_SIZE];
    point_of(leaf_key, point);
    time_t now = time(NULL);
    kiln_pki_leaf_request req = {*subject, point, usage, san, now - 3600, now + 86400L * 365};
    assert_int_equal(kiln_pki_issue(f->ca, &req, der, len), KILN_PKI_OK);
    return parse(*der, *len);
}

static void test_client_leaf(void **state)
{
    fixture *f = *state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    kiln_pki_name subject = {"FI", NULL, "Espoo", "kiln oy", "line 1", "kiln-ep-0001"};
    uint8_t *der;
    size_t len;
    X509 *x = issue(f, key, &subject, KILN_PKI_USAGE_CLIENT, NULL, &der, &len);
    static const int nids[] = {NID_basic_constraints,
                               NID_key_usage,
                               NID_ext_key_usage,
                               NID_subject_key_identifier,
                               NID_authority_key_identifier,
                               0};
    static const int critical[] = {1, 1, 0, 0, 0};
    assert_extension_order(x, nids, critical);
    assert_int_equal(verify_chain(f->ca_cert, x, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_check_ca(x), 0);
    const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(f->ca_cert);
    assert_int_equal(ASN1_OCTET_STRING_cmp(akid, skid), 0);
    assert_same_as_openssl(der, len, &subject, key, f->ca_cert, f->ca_key, client_exts);
    X509_free(x);
    free(der);
    EVP_PKEY_free(key);
}

static void test_server_leaf_with_alt_names(void **state)
{
    fixture *f = *state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    kiln_pki_name subject = {.common_name = "kiln secure factory service"};
    const char *san = "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:factory.example";
    uint8_t *der;
    size_t len;
    X509 *x = issue(f, key, &subject, KILN_PKI_USAGE_SERVER, san, &der, &len);
    assert_int_equal(verify_chain(f->ca_cert, x, X509_PURPOSE_SSL_SERVER), 1);
    assert_int_equal(X509_check_host(x, "factory.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    const char *const exts[] = {"basicConstraints",
                                "critical,CA:FALSE",
                                "keyUsage",
                                "critical,digitalSignature",
                                "extendedKeyUsage",
                                "serverAuth",
                                "subjectKeyIdentifier",
                                "hash",
                                "authorityKeyIdentifier",
                                "keyid:always",
                                "subjectAltName",
                                san,
                                NULL};
    assert_same_as_openssl(der, len, &subject, key, f->ca_cert, f->ca_key, exts);
    X509_free(x);
    free(der);
    EVP_PKEY_free(key);
}

static void test_mbedtls_verifies_the_chain(void **state)
{
    fixture *f = *state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    kiln_pki_name subject = {"FI", "Uusimaa", NULL, "kiln oy", NULL, "kiln-ep-\xc3\xa4-0002"};
    uint8_t *der;
    size_t len;
    X509_free(issue(f, key, &subject, KILN_PKI_USAGE_CLIENT, NULL, &der, &len));
    mbedtls_x509_crt ca, leaf;
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&leaf);
    assert_int_equal(mbedtls_x509_crt_parse_der(&ca, f->ca_der, f->ca_len), 0);
    assert_int_equal(mbedtls_x509_crt_parse_der(&leaf, der, len), 0);
    uint32_t flags = 0xffffffff;
    assert_int_equal(mbedtls_x509_crt_verify(&leaf, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &leaf, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&leaf);
    free(der);
    EVP_PKEY_free(key);
}

static void test_not_before_not_earlier_than_the_ca(void **state)
{
    fixture *f = *state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    uint8_t point[KILN_PKI_POINT_SIZE], *der;
    size_t len;
    point_of(key, point);
    time_t now = time(NULL);
    kiln_pki_leaf_request req = {{.common_name = "early"}, point,       KILN_PKI_USAGE_CLIENT, NULL,
                                 now - 86400L * 30,        now + 86400L};
    assert_int_equal(kiln_pki_issue(f->ca, &req, &der, &len), KILN_PKI_OK);
    X509 *x = parse(der, len);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(f->ca_cert)), 0);
    X509_free(x);
    free(der);
    req.not_after = now - 86400L * 40; /* ends before it starts */
    der = (uint8_t *)"untouched";
    assert_int_equal(kiln_pki_issue(f->ca, &req, &der, &len), KILN_PKI_INVALID_REQUEST);
    assert_null(der);
    req.not_after = now + 86400L;
    req.subject_alt_names = "NOPE:x";
    assert_int_equal(kiln_pki_issue(f->ca, &req, &der, &len), KILN_PKI_SUBJECT_ALT_NAME_INVALID);
    assert_null(der);
    EVP_PKEY_free(key);
}

static void test_ca_csr(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    kiln_pki_signer *s = signer_of(key);
    uint8_t *der, point[KILN_PKI_POINT_SIZE];
    size_t len;
    assert_int_equal(kiln_pki_ca_csr(s, &full_subject, &der, &len), KILN_PKI_OK);
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    assert_non_null(req);
    assert_int_equal(X509_REQ_verify(req, key), 1);
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    assert_int_equal(sk_X509_EXTENSION_num(exts), 1);
    X509_EXTENSION *bc = sk_X509_EXTENSION_value(exts, 0);
    assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(bc)), NID_basic_constraints);
    assert_int_equal(X509_EXTENSION_get_critical(bc), 1);
    BASIC_CONSTRAINTS *bcv = X509V3_EXT_d2i(bc);
    assert_true(bcv->ca);
    BASIC_CONSTRAINTS_free(bcv);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    assert_int_equal(kiln_pki_csr_point(der, len, point), KILN_PKI_OK);
    assert_memory_equal(point, kiln_pki_signer_point(s), KILN_PKI_POINT_SIZE);
    der[len - 5] ^= 0x01; /* inside the signature */
    assert_int_equal(kiln_pki_csr_point(der, len, point), KILN_PKI_CSR_INVALID);
    assert_int_equal(kiln_pki_csr_point(der, len - 1, point), KILN_PKI_CSR_INVALID);
    free(der);
    kiln_pki_signer_free(s);
    EVP_PKEY_free(key);
}

/* A signer that fails, or answers a signature of an impossible length. */
typedef struct broken {
    size_t answer_len;
    int *released;
} broken;

static kiln_pki_status broken_sign(void *impl, const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                   uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len)
{
    broken *b = impl;
    (void)digest;
    if (b->answer_len == 0)
        return KILN_PKI_SIGNER_FAILED;
    memset(sig, 0x30, KILN_PKI_SIG_MAX);
    *sig_len = b->answer_len;
    return KILN_PKI_OK;
}

static void broken_release(void *impl)
{
    broken *b = impl;
    (*b->released)++;
    free(b);
}

static const kiln_pki_signer_ops broken_ops = {"test", broken_sign, broken_release};

static kiln_pki_signer *broken_signer(size_t answer_len, const uint8_t *point, int *released)
{
    broken *b = malloc(sizeof(*b));
    b->answer_len = answer_len;
    b->released = released;
    kiln_pki_signer *s = NULL;
    assert_int_equal(kiln_pki_signer_new(&broken_ops, b, point, &s), KILN_PKI_OK);
    assert_string_equal(kiln_pki_signer_kind(s), "test");
    return s;
}

static void test_failing_signer(void **state)
{
    fixture *f = *state;
    const uint8_t *point = kiln_pki_signer_point(kiln_pki_ca_signer(f->ca));
    const size_t answers[] = {0, KILN_PKI_SIG_MAX + 1, 3};
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        int released = 0;
        kiln_pki_signer *s = broken_signer(answers[i], point, &released);
        uint8_t *der = (uint8_t *)"untouched";
        size_t len = 0;
        kiln_pki_ca_request req = {full_subject, 0, 86400, true};
        assert_int_equal(kiln_pki_self_signed_ca(s, &req, &der, &len), KILN_PKI_SIGNER_FAILED);
        assert_null(der);
        assert_int_equal(kiln_pki_ca_csr(s, &full_subject, &der, &len), KILN_PKI_SIGNER_FAILED);
        assert_null(der);
        kiln_pki_ca *ca = NULL;
        assert_int_equal(kiln_pki_ca_open(s, f->ca_der, f->ca_len, &ca), KILN_PKI_OK);
        time_t now = time(NULL);
        kiln_pki_leaf_request leaf = {
            {.common_name = "d"}, point, KILN_PKI_USAGE_CLIENT, NULL, now, now + 60};
        assert_int_equal(kiln_pki_issue(ca, &leaf, &der, &len), KILN_PKI_SIGNER_FAILED);
        assert_null(der);
        assert_int_equal(released, 0);
        kiln_pki_ca_free(ca);
        assert_int_equal(released, 1);
    }
    int released = 0;
    broken *b = malloc(sizeof(*b));
    b->released = &released;
    uint8_t compressed[KILN_PKI_POINT_SIZE] = {0x02};
    kiln_pki_signer *s = (kiln_pki_signer *)"untouched";
    assert_int_equal(kiln_pki_signer_new(&broken_ops, b, compressed, &s), KILN_PKI_KEY_UNSUPPORTED);
    assert_null(s);
    assert_int_equal(released, 1);
    assert_string_equal(kiln_pki_status_name(KILN_PKI_SIGNER_FAILED), "SIGNER_FAILED");
    assert_string_equal(kiln_pki_status_name(99), "UNKNOWN");
    assert_non_null(strstr(kiln_pki_strerror(KILN_PKI_SIGNER_FAILED), "signer"));
    /* The one numbering: 8000 + code, with the same name and text. */
    kiln_status k = kiln_status_from(KILN_MODULE_PKI, KILN_PKI_SIGNER_FAILED);
    assert_int_equal(k, 8000 + KILN_PKI_SIGNER_FAILED);
    assert_string_equal(kiln_status_name(k), "KILN_PKI_SIGNER_FAILED");
    assert_string_equal(kiln_strerror(k), kiln_pki_strerror(KILN_PKI_SIGNER_FAILED));
}

static void test_ca_open_refuses(void **state)
{
    fixture *f = *state;
    EVP_PKEY *other = EVP_EC_gen("P-256");
    kiln_pki_ca *ca = (kiln_pki_ca *)"untouched";
    assert_int_equal(kiln_pki_ca_open(signer_of(other), f->ca_der, f->ca_len, &ca),
                     KILN_PKI_CA_KEY_MISMATCH);
    assert_null(ca);
    assert_int_equal(kiln_pki_ca_open(signer_of(f->ca_key), f->ca_der, f->ca_len - 1, &ca),
                     KILN_PKI_CA_CERT_INVALID);
    EVP_PKEY_free(other);
}

static void test_invalid_names(void **state)
{
    fixture *f = *state;
    static const struct {
        kiln_pki_name name;
        kiln_pki_status expected;
    } cases[] = {
        {{.common_name = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5"}, KILN_PKI_OK},
        {{.common_name = "bad \xc3"}, KILN_PKI_INVALID_NAME},         /* truncated */
        {{.common_name = "over\xc0\xaflong"}, KILN_PKI_INVALID_NAME}, /* overlong '/' */
        {{.common_name = "\xed\xa0\x80"}, KILN_PKI_INVALID_NAME},     /* surrogate */
        {{.common_name = "\xf4\x90\x80\x80"}, KILN_PKI_INVALID_NAME}, /* above U+10FFFF */
        {{.country = "F*", .common_name = "x"}, KILN_PKI_INVALID_NAME},
        {{.country = "\xc3\xa4", .common_name = "x"}, KILN_PKI_INVALID_NAME},
        {{.organization = "kiln \xff", .common_name = "x"}, KILN_PKI_INVALID_NAME},
    };
    EVP_PKEY *key = EVP_EC_gen("P-256");
    uint8_t point[KILN_PKI_POINT_SIZE];
    point_of(key, point);
    time_t now = time(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kiln_pki_leaf_request req = {cases[i].name, point, KILN_PKI_USAGE_CLIENT,
                                     NULL,          now,   now + 60};
        uint8_t *der = NULL;
        size_t len;
        assert_int_equal(kiln_pki_issue(f->ca, &req, &der, &len), cases[i].expected);
        if (cases[i].expected == KILN_PKI_OK) {
            assert_same_as_openssl(der, len, &cases[i].name, key, f->ca_cert, f->ca_key,
                                   client_exts);
        }
        free(der);
    }
    EVP_PKEY_free(key);
}

static uint8_t *key_bytes(EVP_PKEY *key, bool pem, const EVP_CIPHER *cipher, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok =
        pem ? PEM_write_bio_PrivateKey(bio, key, cipher, (unsigned char *)"pass", 4, NULL, NULL)
            : i2d_PrivateKey_bio(bio, key);
    assert_int_equal(ok, 1);
    char *data;
    *len = (size_t)BIO_get_mem_data(bio, &data);
    uint8_t *copy = malloc(*len);
    memcpy(copy, data, *len);
    BIO_free(bio);
    return copy;
}

static void test_signer_from_key_bytes(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);
    uint8_t point[KILN_PKI_POINT_SIZE];
    point_of(key, point);
    const struct {
        EVP_PKEY *key;
        bool pem;
        const EVP_CIPHER *cipher;
        kiln_pki_status expected;
    } cases[] = {{key, true, NULL, KILN_PKI_OK},
                 {key, false, NULL, KILN_PKI_OK},
                 {key, true, EVP_aes_128_cbc(), KILN_PKI_KEY_UNREADABLE},
                 {rsa, true, NULL, KILN_PKI_KEY_UNSUPPORTED}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        uint8_t *data = key_bytes(cases[i].key, cases[i].pem, cases[i].cipher, &len);
        kiln_pki_signer *s = NULL;
        assert_int_equal(kiln_pki_signer_from_memory(data, len, &s), cases[i].expected);
        if (s) {
            assert_memory_equal(kiln_pki_signer_point(s), point, KILN_PKI_POINT_SIZE);
            assert_string_equal(kiln_pki_signer_kind(s), "file");
        }
        kiln_pki_signer_free(s);
        free(data);
    }
    kiln_pki_signer *s = NULL;
    assert_int_equal(kiln_pki_signer_from_memory((const uint8_t *)"garbage", 7, &s),
                     KILN_PKI_KEY_UNREADABLE);
    assert_int_equal(kiln_pki_signer_from_file("/nonexistent/kiln/key.pem", &s),
                     KILN_PKI_KEY_UNREADABLE);
    char path[] = "/tmp/kiln-pki-key-XXXXXX";
    int fd = mkstemp(path);
    size_t len;
    uint8_t *data = key_bytes(key, true, NULL, &len);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    assert_int_equal(kiln_pki_signer_from_file(path, &s), KILN_PKI_OK);
    assert_memory_equal(kiln_pki_signer_point(s), point, KILN_PKI_POINT_SIZE);
    kiln_pki_signer_free(s);
    unlink(path);
    free(data);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rsa);
}

/* A signer the way a PKCS#11 token signs: raw r || s over the digest, made DER by the issuer's
 * helper. Certificates it signs verify like those of the built-in signer. */
static kiln_pki_status raw_sign(void *impl, const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, impl, NULL);
    uint8_t der[KILN_PKI_SIG_MAX], rs[64];
    size_t der_len = sizeof(der);
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    assert_int_equal(EVP_PKEY_sign(ctx, der, &der_len, digest, KILN_PKI_DIGEST_SIZE), 1);
    EVP_PKEY_CTX_free(ctx);
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32), 32);
    ECDSA_SIG_free(es);
    kiln_pki_status st = kiln_pki_sig_from_raw(rs, sig, sig_len);
    assert_int_equal(*sig_len, der_len);
    assert_memory_equal(sig, der, der_len); /* the same DER the key gave */
    return st;
}

static void raw_release(void *impl)
{
    EVP_PKEY_free(impl);
}

static void test_token_like_signer(void **state)
{
    fixture *f = *state;
    static const kiln_pki_signer_ops raw_ops = {"token", raw_sign, raw_release};
    uint8_t point[KILN_PKI_POINT_SIZE];
    point_of(f->ca_key, point);
    assert_int_equal(EVP_PKEY_up_ref(f->ca_key), 1);
    kiln_pki_signer *s = NULL;
    assert_int_equal(kiln_pki_signer_new(&raw_ops, f->ca_key, point, &s), KILN_PKI_OK);
    kiln_pki_ca *ca = NULL;
    assert_int_equal(kiln_pki_ca_open(s, f->ca_der, f->ca_len, &ca), KILN_PKI_OK);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    uint8_t leaf_point[KILN_PKI_POINT_SIZE], *der;
    size_t len;
    point_of(key, leaf_point);
    time_t now = time(NULL);
    kiln_pki_leaf_request req = {{.common_name = "kiln-ep-token"},
                                 leaf_point,
                                 KILN_PKI_USAGE_CLIENT,
                                 NULL,
                                 now,
                                 now + 86400L};
    for (int i = 0; i < 16; i++) { /* signatures of 70, 71 and 72 bytes */
        assert_int_equal(kiln_pki_issue(ca, &req, &der, &len), KILN_PKI_OK);
        X509 *x = parse(der, len);
        assert_int_equal(verify_chain(f->ca_cert, x, X509_PURPOSE_SSL_CLIENT), 1);
        X509_free(x);
        free(der);
    }
    /* Small r and s keep their minimal INTEGER encoding. */
    uint8_t rs[64] = {0}, sig[KILN_PKI_SIG_MAX];
    rs[31] = 0x01;
    rs[32] = 0x80;
    size_t sig_len = 0;
    assert_int_equal(kiln_pki_sig_from_raw(rs, sig, &sig_len), KILN_PKI_OK);
    static const uint8_t expected[] = {0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00, 0x80};
    assert_int_equal(sig_len, 40);
    assert_memory_equal(sig, expected, sizeof(expected));
    kiln_pki_ca_free(ca);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_self_signed_ca, setup_ca, teardown_ca),
        cmocka_unit_test(test_ca_without_authority_key_id),
        cmocka_unit_test_setup_teardown(test_client_leaf, setup_ca, teardown_ca),
        cmocka_unit_test_setup_teardown(test_server_leaf_with_alt_names, setup_ca, teardown_ca),
        cmocka_unit_test_setup_teardown(test_mbedtls_verifies_the_chain, setup_ca, teardown_ca),
        cmocka_unit_test_setup_teardown(test_not_before_not_earlier_than_the_ca, setup_ca,
                                        teardown_ca),
        cmocka_unit_test(test_ca_csr),
        cmocka_unit_test_setup_teardown(test_failing_signer, setup_ca, teardown_ca),
        cmocka_unit_test_setup_teardown(test_ca_open_refuses, setup_ca, teardown_ca),
        cmocka_unit_test_setup_teardown(test_invalid_names, setup_ca, teardown_ca),
        cmocka_unit_test(test_signer_from_key_bytes),
        cmocka_unit_test_setup_teardown(test_token_like_signer, setup_ca, teardown_ca),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
