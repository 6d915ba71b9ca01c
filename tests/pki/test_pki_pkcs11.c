/* The PKCS#11 signer against a real SoftHSM2 token (tests/pki/with_softhsm.sh makes it): a key
 * generated in the token signs a CA certificate and leaves that OpenSSL verifies, also from two
 * threads at once; reopened by URI with a PIN file it gives the same public key; every wrong
 * URI, PIN, module, token, object and key type gives its numbered status, with no PIN in the
 * redacted URI. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <openssl/x509.h>

#include "kiln_pki.h"

static char uri_buf[4][1024];

/* A URI of the test token; which selects a buffer so that several stay valid at once. */
static const char *token_uri(int which, const char *path_extra, const char *query)
{
    snprintf(uri_buf[which], sizeof(uri_buf[which]), "pkcs11:token=%s;%s?module-path=%s&%s",
             getenv("KILN_TEST_TOKEN"), path_extra, getenv("KILN_TEST_P11_MODULE"), query);
    return uri_buf[which];
}

static const char *pin_query(void)
{
    static char q[300];
    snprintf(q, sizeof(q), "pin-value=%s", getenv("KILN_TEST_PIN"));
    return q;
}

static X509 *ca_cert_of(const kiln_pki_signer *s, uint8_t **der, size_t *len)
{
    kiln_pki_name name = {"FI", NULL, NULL, "kiln oy", NULL, "kiln token CA"};
    time_t now = time(NULL);
    kiln_pki_ca_request req = {name, now - 60, now + 86400, true};
    assert_int_equal(kiln_pki_self_signed_ca(s, &req, der, len), KILN_PKI_OK);
    const unsigned char *p = *der;
    X509 *x = d2i_X509(NULL, &p, (long)*len);
    assert_non_null(x);
    return x;
}

static void assert_issued_verifies(const kiln_pki_ca *ca, X509 *ca_cert, const uint8_t *point)
{
    kiln_pki_leaf_request req = {{NULL, NULL, NULL, NULL, NULL, "device-1"},
                                 point,
                                 KILN_PKI_USAGE_CLIENT,
                                 NULL,
                                 time(NULL) - 60,
                                 time(NULL) + 3600};
    uint8_t *der;
    size_t len;
    assert_int_equal(kiln_pki_issue(ca, &req, &der, &len), KILN_PKI_OK);
    const unsigned char *p = der;
    X509 *leaf = d2i_X509(NULL, &p, (long)len);
    assert_non_null(leaf);
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca_cert);
    assert_int_equal(X509_verify(leaf, ca_pub), 1);
    X509_free(leaf);
    free(der);
}

/* Generation, a CA and a leaf, then the same key by PIN file: the same point. */
static void test_generate_sign_reopen(void **state)
{
    (void)state;
    kiln_pki_signer *s = NULL;
    const char *uri = token_uri(0, "object=ca-a;type=private", pin_query());
    assert_int_equal(kiln_pki_signer_generate_in_token(uri, &s), KILN_PKI_OK);
    assert_string_equal(kiln_pki_signer_kind(s), "pkcs11");
    uint8_t point[KILN_PKI_POINT_SIZE];
    memcpy(point, kiln_pki_signer_point(s), sizeof(point));
    uint8_t *der;
    size_t len;
    X509 *ca_cert = ca_cert_of(s, &der, &len);
    assert_int_equal(X509_verify(ca_cert, X509_get0_pubkey(ca_cert)), 1);
    kiln_pki_ca *ca = NULL;
    assert_int_equal(kiln_pki_ca_open(s, der, len, &ca), KILN_PKI_OK);
    assert_issued_verifies(ca, ca_cert, point);
    kiln_pki_ca_free(ca);

    kiln_pki_signer *again = NULL;
    assert_int_equal(kiln_pki_signer_generate_in_token(uri, &again), KILN_PKI_PKCS11_KEY_EXISTS);
    assert_null(again);

    char pin_file[600], query[700];
    snprintf(pin_file, sizeof(pin_file), "%s/pin", getenv("KILN_TEST_P11_DIR"));
    FILE *f = fopen(pin_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", getenv("KILN_TEST_PIN"));
    fclose(f);
    snprintf(query, sizeof(query), "pin-source=file:%s", pin_file);
    assert_int_equal(kiln_pki_signer_from_uri(token_uri(1, "object=ca-a", query), &again),
                     KILN_PKI_OK);
    assert_memory_equal(kiln_pki_signer_point(again), point, sizeof(point));
    assert_int_equal(kiln_pki_ca_open(again, der, len, &ca), KILN_PKI_OK);
    assert_issued_verifies(ca, ca_cert, point);
    kiln_pki_ca_free(ca);
    X509_free(ca_cert);
    free(der);
}

/* Straight through Cryptoki, not through kiln: the private key kiln generated is sensitive,
 * not extractable, and its value cannot be read. */
static void test_generated_key_stays_inside(void **state)
{
    (void)state;
    CK_FUNCTION_LIST *m = p11_kit_module_load(getenv("KILN_TEST_P11_MODULE"), 0);
    assert_non_null(m);
    assert_int_equal(p11_kit_module_initialize(m), CKR_OK);
    CK_SLOT_ID slots[8];
    CK_ULONG nslots = 8, found = 0;
    assert_int_equal(m->C_GetSlotList(CK_TRUE, slots, &nslots), CKR_OK);
    CK_SESSION_HANDLE sess;
    assert_int_equal(m->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &sess), CKR_OK);
    const char *pin = getenv("KILN_TEST_PIN");
    assert_int_equal(m->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), CKR_OK);
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, "ca-a", 4}};
    CK_OBJECT_HANDLE key;
    assert_int_equal(m->C_FindObjectsInit(sess, tmpl, 2), CKR_OK);
    assert_int_equal(m->C_FindObjects(sess, &key, 1, &found), CKR_OK);
    m->C_FindObjectsFinal(sess);
    assert_int_equal(found, 1);
    CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE, on_token = CK_FALSE;
    CK_ATTRIBUTE flags[] = {{CKA_EXTRACTABLE, &extractable, 1},
                            {CKA_SENSITIVE, &sensitive, 1},
                            {CKA_TOKEN, &on_token, 1}};
    assert_int_equal(m->C_GetAttributeValue(sess, key, flags, 3), CKR_OK);
    assert_int_equal(extractable, CK_FALSE);
    assert_int_equal(sensitive, CK_TRUE);
    assert_int_equal(on_token, CK_TRUE);
    uint8_t value[64];
    CK_ATTRIBUTE secret = {CKA_VALUE, value, sizeof(value)};
    assert_int_equal(m->C_GetAttributeValue(sess, key, &secret, 1), CKR_ATTRIBUTE_SENSITIVE);
    m->C_CloseSession(sess);
    p11_kit_module_finalize(m);
    p11_kit_module_release(m);
}

typedef struct sign_job {
    const kiln_pki_signer *signer;
    EVP_PKEY *pub;
    int verified;
} sign_job;

static void *sign_many(void *arg)
{
    sign_job *job = arg;
    for (int i = 0; i < 40; i++) {
        uint8_t digest[KILN_PKI_DIGEST_SIZE], sig[KILN_PKI_SIG_MAX];
        size_t sig_len = 0;
        for (size_t b = 0; b < sizeof(digest); b++)
            digest[b] = (uint8_t)(i * 7 + b);
        if (kiln_pki_signer_sign_digest(job->signer, digest, sig, &sig_len) != KILN_PKI_OK)
            continue;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(job->pub, NULL);
        if (ctx && EVP_PKEY_verify_init(ctx) == 1 &&
            EVP_PKEY_verify(ctx, sig, sig_len, digest, sizeof(digest)) == 1)
            job->verified++;
        EVP_PKEY_CTX_free(ctx);
    }
    return NULL;
}

/* Two threads sign with one signer at once (each on its own session); all signatures verify. */
static void test_two_threads(void **state)
{
    (void)state;
    kiln_pki_signer *s = NULL;
    assert_int_equal(
        kiln_pki_signer_generate_in_token(token_uri(0, "object=ca-threads", pin_query()), &s),
        KILN_PKI_OK);
    uint8_t *der;
    size_t len;
    X509 *cert = ca_cert_of(s, &der, &len);
    sign_job jobs[2] = {{s, X509_get0_pubkey(cert), 0}, {s, X509_get0_pubkey(cert), 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sign_many, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(jobs[0].verified, 40);
    assert_int_equal(jobs[1].verified, 40);
    X509_free(cert);
    free(der);
    kiln_pki_signer_free(s);
}

typedef struct bad_case {
    const char *path_extra, *query;
    kiln_pki_status want;
} bad_case;

/* Each refusal is numbered, gives no signer and writes nothing (no key of that label after). */
static void test_refusals(void **state)
{
    (void)state;
    char wrong_pin[64], no_module[64], no_pin_file[64];
    snprintf(wrong_pin, sizeof(wrong_pin), "pin-value=not-%s", getenv("KILN_TEST_PIN"));
    snprintf(no_pin_file, sizeof(no_pin_file), "pin-source=file:/nonexistent/pin");
    const bad_case cases[] = {
        {"object=ca-a", wrong_pin, KILN_PKI_PKCS11_LOGIN_FAILED},
        {"object=ca-a", no_pin_file, KILN_PKI_PKCS11_PIN_UNREADABLE},
        {"object=absent", pin_query(), KILN_PKI_PKCS11_KEY_NOT_FOUND},
        {"object=p384", pin_query(), KILN_PKI_KEY_UNSUPPORTED},
        {"object=ca-a;type=public", pin_query(), KILN_PKI_PKCS11_URI_INVALID},
        {"object=ca-a;colour=red", pin_query(), KILN_PKI_PKCS11_URI_INVALID},
        {"type=private", pin_query(), KILN_PKI_PKCS11_URI_INVALID},
        {"object=ca-a", "pin-value=%zz", KILN_PKI_PKCS11_URI_INVALID},
        {"object=ca-a", "pin-value=a&pin-value=b", KILN_PKI_PKCS11_URI_INVALID},
        {"object=ca-a", "pin-value=a&pin-source=file:/x", KILN_PKI_PKCS11_URI_INVALID},
        {"object=ca-a", "module-name=softhsm2", KILN_PKI_PKCS11_URI_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kiln_pki_signer *s = (kiln_pki_signer *)&s;
        kiln_pki_status st =
            kiln_pki_signer_from_uri(token_uri(0, cases[i].path_extra, cases[i].query), &s);
        if (st != cases[i].want)
            fail_msg("case %zu (%s): status %d, want %d", i, cases[i].path_extra, st,
                     cases[i].want);
        assert_null(s);
    }
    kiln_pki_signer *s = NULL;
    snprintf(uri_buf[0], sizeof(uri_buf[0]),
             "pkcs11:token=no-such-token;object=ca-a?module-path=%s&%s",
             getenv("KILN_TEST_P11_MODULE"), pin_query());
    assert_int_equal(kiln_pki_signer_from_uri(uri_buf[0], &s), KILN_PKI_PKCS11_TOKEN_NOT_FOUND);
    snprintf(no_module, sizeof(no_module),
             "pkcs11:token=kiln;object=a?module-path=/nonexistent.so");
    assert_int_equal(kiln_pki_signer_from_uri(no_module, &s), KILN_PKI_PKCS11_MODULE_FAILED);
    assert_int_equal(kiln_pki_signer_from_uri("/etc/passwd", &s), KILN_PKI_PKCS11_URI_INVALID);
    assert_int_equal(
        kiln_pki_signer_generate_in_token(token_uri(0, "object=never-made", wrong_pin), &s),
        KILN_PKI_PKCS11_LOGIN_FAILED);
    assert_int_equal(kiln_pki_signer_from_uri(token_uri(0, "object=never-made", pin_query()), &s),
                     KILN_PKI_PKCS11_KEY_NOT_FOUND);
}

/* A token secret: one HMAC per label, the same after reopening, refused twice or absent. */
static void test_token_secret(void **state)
{
    (void)state;
    static const uint8_t a[] = "label a", b[] = "label b";
    uint8_t out1[KILN_PKI_SECRET_SIZE], out2[KILN_PKI_SECRET_SIZE], out3[KILN_PKI_SECRET_SIZE];
    const char *uri = token_uri(0, "object=wrap-secret", pin_query());
    assert_int_equal(kiln_pki_token_secret_generate(uri, a, sizeof(a), out1), KILN_PKI_OK);
    assert_int_equal(kiln_pki_token_secret_hmac(uri, a, sizeof(a), out2), KILN_PKI_OK);
    assert_memory_equal(out1, out2, sizeof(out1));
    assert_int_equal(
        kiln_pki_token_secret_hmac(token_uri(1, "object=wrap-secret;type=secret-key", pin_query()),
                                   b, sizeof(b), out3),
        KILN_PKI_OK);
    assert_memory_not_equal(out1, out3, sizeof(out1));
    assert_int_equal(kiln_pki_token_secret_generate(uri, a, sizeof(a), out2),
                     KILN_PKI_PKCS11_KEY_EXISTS);
    assert_int_equal(kiln_pki_token_secret_hmac(token_uri(1, "object=no-secret", pin_query()), a,
                                                sizeof(a), out2),
                     KILN_PKI_PKCS11_SECRET_NOT_FOUND);
    assert_int_equal(
        kiln_pki_token_secret_hmac(token_uri(1, "object=wrap-secret;type=private", pin_query()), a,
                                   sizeof(a), out2),
        KILN_PKI_PKCS11_URI_INVALID);
    char wrong_pin[64];
    snprintf(wrong_pin, sizeof(wrong_pin), "pin-value=not-%s", getenv("KILN_TEST_PIN"));
    assert_int_equal(kiln_pki_token_secret_hmac(token_uri(1, "object=wrap-secret", wrong_pin), a,
                                                sizeof(a), out2),
                     KILN_PKI_PKCS11_LOGIN_FAILED);
    kiln_pki_signer *s = NULL; /* a secret is no signing key */
    assert_int_equal(kiln_pki_signer_from_uri(uri, &s), KILN_PKI_PKCS11_KEY_NOT_FOUND);
}

/* The module and PIN from the environment when the URI has neither. */
static void test_environment_defaults(void **state)
{
    (void)state;
    setenv("KILN_PKCS11_MODULE", getenv("KILN_TEST_P11_MODULE"), 1);
    setenv("KILN_PKCS11_PIN", getenv("KILN_TEST_PIN"), 1);
    char uri[200];
    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ca-a", getenv("KILN_TEST_TOKEN"));
    kiln_pki_signer *s = NULL;
    assert_int_equal(kiln_pki_signer_from_uri(uri, &s), KILN_PKI_OK);
    kiln_pki_signer_free(s);
    unsetenv("KILN_PKCS11_PIN");
    assert_int_equal(kiln_pki_signer_from_uri(uri, &s), KILN_PKI_PKCS11_KEY_NOT_FOUND);
    unsetenv("KILN_PKCS11_MODULE");
    assert_int_equal(kiln_pki_signer_from_uri(uri, &s), KILN_PKI_PKCS11_URI_INVALID);
}

static void test_redaction(void **state)
{
    (void)state;
    static const char *const in_out[][2] = {
        {"pkcs11:token=k;object=o?module-path=/m.so&pin-value=secret",
         "pkcs11:token=k;object=o?module-path=/m.so"},
        {"pkcs11:token=k;object=o?pin-value=secret&module-path=/m.so",
         "pkcs11:token=k;object=o?module-path=/m.so"},
        {"pkcs11:token=k;object=o?pin-value=secret", "pkcs11:token=k;object=o?"},
        {"pkcs11:token=k;pin-value=secret;object=o", "pkcs11:token=k;object=o"},
        {"pkcs11:object=o?pin-source=file:/p", "pkcs11:object=o?pin-source=file:/p"},
    };
    for (size_t i = 0; i < sizeof(in_out) / sizeof(in_out[0]); i++) {
        char out[200];
        kiln_pki_uri_redact(in_out[i][0], out, sizeof(out));
        assert_string_equal(out, in_out[i][1]);
        assert_null(strstr(out, "secret"));
    }
    assert_true(kiln_pki_is_key_uri("pkcs11:object=x"));
    assert_false(kiln_pki_is_key_uri("keystore/fcu_key.pem"));
}

int main(void)
{
    if (!getenv("KILN_TEST_P11_MODULE")) {
        fprintf(stderr, "run through tests/pki/with_softhsm.sh\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_sign_reopen),
        cmocka_unit_test(test_generated_key_stays_inside),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_token_secret),
        cmocka_unit_test(test_environment_defaults),
        cmocka_unit_test(test_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
