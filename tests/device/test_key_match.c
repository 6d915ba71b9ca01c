/* The remembered certificate/private-key match (kiln_device.key_match) and the Linux port's
 * pair check: the same answers as Mbed TLS's own check for a matching pair, a mismatch, a key
 * replaced under the same name (also by one with the same public point and another scalar),
 * a missing key and a certificate on another curve; a match is checked with one scalar
 * multiplication, a mismatch every time. Each case runs with Mbed TLS's check (as the
 * firmware) and with kiln_linux_check_pair (as factory_client).
 *
 * Scalar multiplications are counted by interposing mbedtls_ecp_mul_restartable (Mbed TLS is a
 * shared library whose internal calls go through the PLT; the executable exports its symbols). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kiln/port_linux.h"
#include "ram_device.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counted multiplications ---- */
typedef int (*rng_fn)(void *, unsigned char *, size_t);
typedef int (*mul_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                      const mbedtls_ecp_point *, rng_fn, void *, mbedtls_ecp_restart_ctx *);
static mul_fn real_mul;
static size_t muls;

int mbedtls_ecp_mul_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R, const mbedtls_mpi *m,
                                const mbedtls_ecp_point *P, rng_fn f_rng, void *p_rng,
                                mbedtls_ecp_restart_ctx *rs_ctx)
{
    muls++;
    return real_mul(grp, R, m, P, f_rng, p_rng, rs_ctx);
}

/* ---- test keys and certificates ---- */
static mbedtls_ctr_drbg_context drbg;

static int fixed_entropy(void *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0x3C, len);
    return 0;
}

typedef struct key {
    mbedtls_pk_context pk;
    uint8_t der[256];
    size_t len;
} key;

static void key_make(key *k, mbedtls_ecp_group_id curve)
{
    mbedtls_pk_init(&k->pk);
    assert_int_equal(mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(
        mbedtls_ecp_gen_key(curve, mbedtls_pk_ec(k->pk), mbedtls_ctr_drbg_random, &drbg), 0);
    int n = mbedtls_pk_write_key_der(&k->pk, k->der, sizeof(k->der));
    assert_true(n > 0);
    memmove(k->der, k->der + sizeof(k->der) - (size_t)n, (size_t)n);
    k->len = (size_t)n;
}

/* A certificate for subject's public key, signed by issuer (not checked by the device). */
static size_t cert_make(mbedtls_pk_context *subject, mbedtls_pk_context *issuer, uint8_t *out,
                        size_t cap)
{
    mbedtls_x509write_cert c;
    mbedtls_mpi serial;
    mbedtls_x509write_crt_init(&c);
    mbedtls_mpi_init(&serial);
    assert_int_equal(mbedtls_mpi_lset(&serial, 7), 0);
    mbedtls_x509write_crt_set_version(&c, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&c, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&c, subject);
    mbedtls_x509write_crt_set_issuer_key(&c, issuer);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(&c, "CN=device"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&c, "CN=test issuer"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_serial(&c, &serial), 0);
    assert_int_equal(mbedtls_x509write_crt_set_validity(&c, "20240101000000", "20600101000000"), 0);
    int n = mbedtls_x509write_crt_der(&c, out, cap, mbedtls_ctr_drbg_random, &drbg);
    assert_true(n > 0);
    memmove(out, out + cap - (size_t)n, (size_t)n);
    mbedtls_x509write_crt_free(&c);
    mbedtls_mpi_free(&serial);
    return (size_t)n;
}

/* ---- the device ---- */
#define N(s) (const uint8_t *)(s), strlen(s)

static ram_device rd;

static kiln_device *device_open(int port_check)
{
    assert_true(ram_device_open(&rd));
    if (port_check) {
        kiln_device_set_check_pair(&rd.dev, kiln_linux_check_pair, NULL);
    }
    return &rd.dev;
}

static void store_key(kiln_device *dev, const char *name, const uint8_t *der, size_t len)
{
    assert_int_equal(kiln_kcm_item_store(dev, N(name), KCM_PRIVATE_KEY_ITEM, false, der, len),
                     KCM_STATUS_SUCCESS);
}

static void replace_key(kiln_device *dev, const char *name, const uint8_t *der, size_t len)
{
    assert_int_equal(kiln_kcm_item_delete(dev, N(name), KCM_PRIVATE_KEY_ITEM), KCM_STATUS_SUCCESS);
    store_key(dev, name, der, len);
}

/* The answer, and the scalar multiplications it took. */
static kcm_status_e check(kiln_device *dev, const uint8_t *cert, size_t cert_len, const char *name,
                          size_t *took)
{
    muls = 0;
    kcm_status_e st = kiln_kcm_certificate_verify_with_private_key(dev, cert, cert_len, N(name));
    *took = muls;
    return st;
}

#define MISMATCH KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR

static key k1, k2, k384;
static uint8_t c1[1024], c2[1024], c384[1024];
static size_t c1_len, c2_len, c384_len;

static void match_then_changed_key(void **state)
{
    (void)state;
    for (int port_check = 0; port_check < 2; port_check++) {
        kiln_device *dev = device_open(port_check);
        size_t took = 0;
        store_key(dev, "dk", k1.der, k1.len);
        /* A match costs one multiplication, then none while the pair is unchanged. */
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), KCM_STATUS_SUCCESS);
        assert_int_equal(took, 1);
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), KCM_STATUS_SUCCESS);
        assert_int_equal(took, 0);
        /* The key replaced under the same name: the remembered match no longer applies. */
        replace_key(dev, "dk", k2.der, k2.len);
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), MISMATCH);
        assert_int_equal(check(dev, c2, c2_len, "dk", &took), KCM_STATUS_SUCCESS);
        assert_int_equal(took, 1);
        /* Back to the first key: checked again (only the last match is remembered). */
        replace_key(dev, "dk", k1.der, k1.len);
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), KCM_STATUS_SUCCESS);
        assert_int_equal(took, 1);
        /* A missing key is reported as before, whatever was remembered. */
        assert_int_equal(kiln_kcm_item_delete(dev, N("dk"), KCM_PRIVATE_KEY_ITEM),
                         KCM_STATUS_SUCCESS);
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), KCM_STATUS_ITEM_NOT_FOUND);
        ram_device_close(&rd);
    }
}

/* The first key's DER with the second key's scalar: its public point is still the one of the
 * first certificate, so only the multiplication tells that they do not match. */
static void same_point_other_scalar(void **state)
{
    (void)state;
    uint8_t forged[256];
    memcpy(forged, k1.der, k1.len);
    /* SEC1: SEQUENCE { INTEGER 1, OCTET STRING d (32 bytes), ... }; both keys have one layout. */
    assert_int_equal(forged[5], 0x04);
    assert_int_equal(forged[6], 32);
    assert_int_equal(k2.der[5], 0x04);
    memcpy(forged + 7, k2.der + 7, 32);
    for (int port_check = 0; port_check < 2; port_check++) {
        kiln_device *dev = device_open(port_check);
        size_t took = 0;
        store_key(dev, "dk", k1.der, k1.len);
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), KCM_STATUS_SUCCESS);
        replace_key(dev, "dk", forged, k1.len);
        assert_int_equal(check(dev, c1, c1_len, "dk", &took), MISMATCH);
        assert_int_equal(took, 1);
        ram_device_close(&rd);
    }
}

/* A mismatch is never remembered: each check multiplies and answers the same. */
static void mismatch_every_time(void **state)
{
    (void)state;
    for (int port_check = 0; port_check < 2; port_check++) {
        kiln_device *dev = device_open(port_check);
        size_t took = 0;
        store_key(dev, "dk", k1.der, k1.len);
        uint8_t forged[256];
        memcpy(forged, k1.der, k1.len);
        memcpy(forged + 7, k2.der + 7, 32);
        store_key(dev, "forged", forged, k1.len);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(check(dev, c1, c1_len, "forged", &took), MISMATCH);
            assert_int_equal(took, 1);
            /* Another public point: no multiplication needed to say no. */
            assert_int_equal(check(dev, c2, c2_len, "dk", &took), MISMATCH);
            assert_int_equal(took, 0);
            /* A certificate on P-384 against a P-256 key. */
            assert_int_equal(check(dev, c384, c384_len, "dk", &took), MISMATCH);
        }
        ram_device_close(&rd);
    }
}

/* A key pair the device generates is known to match a certificate for its public key. */
static void generated_key(void **state)
{
    (void)state;
    for (int port_check = 0; port_check < 2; port_check++) {
        kiln_device *dev = device_open(port_check);
        assert_int_equal(kiln_kcm_key_pair_generate_and_store(dev, KCM_SCHEME_EC_SECP256R1, N("gk"),
                                                              N("gk"), false),
                         KCM_STATUS_SUCCESS);
        uint8_t pub[256], cert[1024];
        size_t pub_len = 0, took = 0;
        assert_int_equal(
            kiln_kcm_item_get_data(dev, N("gk"), KCM_PUBLIC_KEY_ITEM, pub, sizeof(pub), &pub_len),
            KCM_STATUS_SUCCESS);
        mbedtls_pk_context pk;
        mbedtls_pk_init(&pk);
        assert_int_equal(mbedtls_pk_parse_public_key(&pk, pub, pub_len), 0);
        size_t cert_len = cert_make(&pk, &k2.pk, cert, sizeof(cert));
        mbedtls_pk_free(&pk);
        assert_int_equal(check(dev, cert, cert_len, "gk", &took), KCM_STATUS_SUCCESS);
        assert_int_equal(took, 0);
        /* Another certificate with the generated key: a mismatch, as before. */
        assert_int_equal(check(dev, c1, c1_len, "gk", &took), MISMATCH);
        ram_device_close(&rd);
    }
}

int main(void)
{
    real_mul = (mul_fn)dlsym(RTLD_NEXT, "mbedtls_ecp_mul_restartable");
    if (real_mul == NULL) {
        fprintf(stderr, "test_key_match: mbedtls_ecp_mul_restartable not found\n");
        return 1;
    }
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, NULL, 0) != 0) {
        return 1;
    }
    key_make(&k1, MBEDTLS_ECP_DP_SECP256R1);
    key_make(&k2, MBEDTLS_ECP_DP_SECP256R1);
    key_make(&k384, MBEDTLS_ECP_DP_SECP384R1);
    c1_len = cert_make(&k1.pk, &k2.pk, c1, sizeof(c1));
    c2_len = cert_make(&k2.pk, &k2.pk, c2, sizeof(c2));
    c384_len = cert_make(&k384.pk, &k2.pk, c384, sizeof(c384));
    /* The port's check on its own; its first call also makes the process's generator table
     * (one multiplication the cases below must not count). */
    if (kiln_linux_check_pair(NULL, &k1.pk, &k1.pk, mbedtls_ctr_drbg_random, &drbg) != 0 ||
        kiln_linux_check_pair(NULL, &k2.pk, &k1.pk, mbedtls_ctr_drbg_random, &drbg) == 0) {
        fprintf(stderr, "test_key_match: kiln_linux_check_pair answers wrongly\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(match_then_changed_key),
        cmocka_unit_test(same_point_other_scalar),
        cmocka_unit_test(mismatch_every_time),
        cmocka_unit_test(generated_key),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    mbedtls_pk_free(&k1.pk);
    mbedtls_pk_free(&k2.pk);
    mbedtls_pk_free(&k384.pk);
    mbedtls_ctr_drbg_free(&drbg);
    return failed;
}
