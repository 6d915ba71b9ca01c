/* KCM API on a real directory store: items, names, factory reset, keys, CSRs, chains,
 * tamper detection and status texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcm_internal.h"
#include "kiln/port_linux.h"

#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_csr.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *pki_dir;

typedef struct fixture {
    char dir[64];
    kiln_linux_device d;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/kiln-kcm-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(kiln_linux_device_open_dir(&f->d, f->dir), KILN_KV_OK);
    assert_int_equal(kiln_kcm_init(&f->d.dev), KCM_STATUS_SUCCESS);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kiln_kcm_finalize(&f->d.dev);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

#define N(s) (const uint8_t *)(s), strlen(s)

static void config_items(void **state)
{
    kiln_device *dev = &((fixture *)*state)->d.dev;
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal(kiln_kcm_item_store(dev, N("app.Value"), KCM_CONFIG_ITEM, false, N("hello")),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_item_get_data_size(dev, N("app.Value"), KCM_CONFIG_ITEM, &len),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(len, 5);
    assert_int_equal(kiln_kcm_item_get_data(dev, N("app.Value"), KCM_CONFIG_ITEM, buf, 3, &len),
                     KCM_STATUS_INSUFFICIENT_BUFFER);
    assert_int_equal(
        kiln_kcm_item_get_data(dev, N("app.Value"), KCM_CONFIG_ITEM, buf, sizeof(buf), &len),
        KCM_STATUS_SUCCESS);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(kiln_kcm_item_store(dev, N("app.Value"), KCM_CONFIG_ITEM, false, N("again")),
                     KCM_STATUS_FILE_EXIST);
    /* Names are per type. */
    assert_int_equal(kiln_kcm_item_get_data_size(dev, N("app.Value"), KCM_PUBLIC_KEY_ITEM, &len),
                     KCM_STATUS_ITEM_NOT_FOUND);
    /* Empty config values are allowed, empty keys are not. */
    assert_int_equal(kiln_kcm_item_store(dev, N("app.Empty"), KCM_CONFIG_ITEM, false, NULL, 0),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_item_store(dev, N("app.Key"), KCM_PUBLIC_KEY_ITEM, false, NULL, 0),
                     KCM_STATUS_ITEM_IS_EMPTY);
    assert_int_equal(kiln_kcm_item_delete(dev, N("app.Value"), KCM_CONFIG_ITEM),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_item_get_data_size(dev, N("app.Value"), KCM_CONFIG_ITEM, &len),
                     KCM_STATUS_ITEM_NOT_FOUND);
    assert_int_equal(kiln_kcm_item_delete(dev, N("app.Value"), KCM_CONFIG_ITEM),
                     KCM_STATUS_ITEM_NOT_FOUND);
}

static void names(void **state)
{
    kiln_device *dev = &((fixture *)*state)->d.dev;
    char name[102];
    memset(name, 'a', sizeof(name));
    assert_int_equal(
        kiln_kcm_item_store(dev, (const uint8_t *)name, 100, KCM_CONFIG_ITEM, false, N("x")),
        KCM_STATUS_SUCCESS);
    assert_int_equal(
        kiln_kcm_item_store(dev, (const uint8_t *)name, 101, KCM_CONFIG_ITEM, false, N("x")),
        KCM_STATUS_FILE_NAME_TOO_LONG);
    assert_int_equal(kiln_kcm_item_store(dev, N("bad name!"), KCM_CONFIG_ITEM, false, N("x")),
                     KCM_STATUS_FILE_NAME_INVALID);
    assert_int_equal(kiln_kcm_item_store(dev, N("../etc"), KCM_CONFIG_ITEM, false, N("x")),
                     KCM_STATUS_FILE_NAME_INVALID);
    assert_int_equal(kiln_kcm_item_store(dev, N("Ok-name_1.2"), KCM_CONFIG_ITEM, false, N("x")),
                     KCM_STATUS_SUCCESS);
}

static void factory_reset(void **state)
{
    kiln_device *dev = &((fixture *)*state)->d.dev;
    uint8_t buf[16];
    size_t len;
    assert_int_equal(kiln_kcm_item_store(dev, N("f.Item"), KCM_CONFIG_ITEM, true, N("factory")),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_item_store(dev, N("u.Item"), KCM_CONFIG_ITEM, false, N("user")),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_item_delete(dev, N("f.Item"), KCM_CONFIG_ITEM), KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_factory_reset(dev), KCM_STATUS_SUCCESS);
    assert_int_equal(
        kiln_kcm_item_get_data(dev, N("f.Item"), KCM_CONFIG_ITEM, buf, sizeof(buf), &len),
        KCM_STATUS_SUCCESS);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "factory", 7);
    assert_int_equal(kiln_kcm_item_get_data_size(dev, N("u.Item"), KCM_CONFIG_ITEM, &len),
                     KCM_STATUS_ITEM_NOT_FOUND);
}

static void keys_and_csr(void **state)
{
    kiln_device *dev = &((fixture *)*state)->d.dev;
    assert_int_equal(kiln_kcm_key_pair_generate_and_store(dev, KCM_SCHEME_EC_SECP256R1,
                                                          N("dev.Key"), N("dev.Pub"), true),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_key_pair_generate_and_store(dev, KCM_SCHEME_EC_SECP256R1,
                                                          N("dev.Key"), NULL, 0, true),
                     KCM_STATUS_KEY_EXIST);
    kcm_csr_params_s params = {"C=FI,O=kiln,CN=ep-1", KCM_MD_SHA256, KCM_CSR_KU_DIGITAL_SIGNATURE,
                               KCM_CSR_EXT_KU_CLIENT_AUTH};
    uint8_t csr[1024];
    size_t csr_len = 0;
    assert_int_equal(kiln_kcm_csr_generate(dev, N("dev.Key"), &params, csr, sizeof(csr), &csr_len),
                     KCM_STATUS_SUCCESS);
    mbedtls_x509_csr parsed;
    mbedtls_x509_csr_init(&parsed);
    assert_int_equal(mbedtls_x509_csr_parse_der(&parsed, csr, csr_len), 0);
    char subject[128];
    mbedtls_x509_dn_gets(subject, sizeof(subject), &parsed.subject);
    assert_string_equal(subject, "C=FI, O=kiln, CN=ep-1");
    /* The CSR carries the stored public key. */
    uint8_t pub[128], from_csr[128];
    size_t pub_len;
    assert_int_equal(
        kiln_kcm_item_get_data(dev, N("dev.Pub"), KCM_PUBLIC_KEY_ITEM, pub, sizeof(pub), &pub_len),
        KCM_STATUS_SUCCESS);
    int n = mbedtls_pk_write_pubkey_der(&parsed.pk, from_csr, sizeof(from_csr));
    assert_int_equal((size_t)n, pub_len);
    assert_memory_equal(from_csr + sizeof(from_csr) - n, pub, pub_len);
    mbedtls_x509_csr_free(&parsed);
    params.subject = "XX=bad";
    assert_int_equal(kiln_kcm_csr_generate(dev, N("dev.Key"), &params, csr, sizeof(csr), &csr_len),
                     KCM_CRYPTO_STATUS_INVALID_NAME_FORMAT);
    /* Garbage is not a key. */
    static const uint8_t junk[32] = {1, 2, 3};
    assert_int_equal(
        kiln_kcm_item_store(dev, N("bad.Key"), KCM_PRIVATE_KEY_ITEM, false, junk, sizeof(junk)),
        KCM_CRYPTO_STATUS_PK_KEY_INVALID_FORMAT);
}

static size_t load_der(const char *file, uint8_t *der, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", pki_dir, file);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char pem[8192];
    size_t n = fread(pem, 1, sizeof(pem) - 1, fp);
    fclose(fp);
    pem[n] = '\0';
    mbedtls_pem_context ctx;
    mbedtls_pem_init(&ctx);
    size_t used;
    assert_int_equal(mbedtls_pem_read_buffer(&ctx, "-----BEGIN CERTIFICATE-----",
                                             "-----END CERTIFICATE-----",
                                             (const unsigned char *)pem, NULL, 0, &used),
                     0);
    size_t len = ctx.buflen;
    const unsigned char *buf = ctx.buf;
    assert_true(len <= cap);
    memcpy(der, buf, len);
    mbedtls_pem_free(&ctx);
    return len;
}

static void chains(void **state)
{
    kiln_device *dev = &((fixture *)*state)->d.dev;
    uint8_t root[2048], other[2048], out[2048];
    size_t root_len = load_der("test-root-ca.pem", root, sizeof(root));
    size_t other_len = load_der("test-bootstrap-server-ca.pem", other, sizeof(other));
    kcm_cert_chain_handle h;
    size_t len, count;
    /* A self-signed root verifies itself: a valid chain of two. */
    assert_int_equal(kiln_kcm_cert_chain_create(dev, &h, N("c.Chain"), 2, true),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_cert_chain_add_next(dev, h, root, root_len), KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_cert_chain_add_next(dev, h, root, root_len), KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_cert_chain_close(dev, h), KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_cert_chain_open(dev, &h, N("c.Chain"), &count), KCM_STATUS_SUCCESS);
    assert_int_equal(count, 2);
    assert_int_equal(kiln_kcm_cert_chain_get_next_data(dev, h, out, sizeof(out), &len),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(len, root_len);
    assert_memory_equal(out, root, len);
    assert_int_equal(kiln_kcm_cert_chain_close(dev, h), KCM_STATUS_SUCCESS);
    /* The chain reads as its leaf through the item API, and the name is taken. */
    assert_int_equal(kiln_kcm_item_get_data_size(dev, N("c.Chain"), KCM_CERTIFICATE_ITEM, &len),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(len, root_len);
    assert_int_equal(
        kiln_kcm_item_store(dev, N("c.Chain"), KCM_CERTIFICATE_ITEM, false, root, root_len),
        KCM_STATUS_FILE_EXIST);
    /* A link not signed by the next certificate. */
    assert_int_equal(kiln_kcm_cert_chain_create(dev, &h, N("c.Broken"), 2, true),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_cert_chain_add_next(dev, h, root, root_len), KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_cert_chain_add_next(dev, h, other, other_len),
                     KCM_STATUS_CERTIFICATE_CHAIN_VERIFICATION_FAILED);
    assert_int_equal(kiln_kcm_cert_chain_close(dev, h), KCM_STATUS_CLOSE_INCOMPLETE_CHAIN);
    assert_int_equal(kiln_kcm_item_get_data_size(dev, N("c.Broken"), KCM_CERTIFICATE_ITEM, &len),
                     KCM_STATUS_ITEM_NOT_FOUND);
    assert_int_equal(kiln_kcm_cert_chain_create(dev, &h, N("c.Six"), 6, true),
                     KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN);
}

/* Stored values are sealed: a flipped byte or a value moved to another item's record is
 * reported as corruption, never returned as data. */
static void tamper(void **state)
{
    fixture *f = *state;
    kiln_device *dev = &f->d.dev;
    uint8_t buf[64];
    size_t len;
    assert_int_equal(kiln_kcm_item_store(dev, N("t.A"), KCM_CONFIG_ITEM, false, N("secret-a")),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(kiln_kcm_item_store(dev, N("t.B"), KCM_CONFIG_ITEM, false, N("secret-b")),
                     KCM_STATUS_SUCCESS);
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/WF_t.A.v", f->dir);
    snprintf(b, sizeof(b), "%s/WF_t.B.v", f->dir);
    /* Nothing is stored in clear. */
    FILE *fp = fopen(a, "rb");
    assert_non_null(fp);
    uint8_t raw[128];
    size_t n = fread(raw, 1, sizeof(raw), fp);
    fclose(fp);
    for (size_t i = 0; i + 8 <= n; i++) {
        assert_memory_not_equal(raw + i, "secret-a", 8);
    }
    assert_int_equal(rename(a, b), 0);
    assert_int_equal(kiln_kcm_item_get_data(dev, N("t.B"), KCM_CONFIG_ITEM, buf, sizeof(buf), &len),
                     KCM_STATUS_FILE_CORRUPTED);
    raw[n - 1] ^= 1;
    fp = fopen(b, "wb");
    fwrite(raw, 1, n, fp);
    fclose(fp);
    assert_int_equal(kiln_kcm_item_get_data(dev, N("t.B"), KCM_CONFIG_ITEM, buf, sizeof(buf), &len),
                     KCM_STATUS_FILE_CORRUPTED);
}

static void status_texts(void **state)
{
    (void)state;
    for (int i = 0; i <= FCC_STATUS_NOT_SUPPORTED; i++) {
        assert_true(strncmp(fcc_status_name((fcc_status_e)i), "FCC_STATUS_", 11) == 0);
        assert_string_not_equal(fcc_status_to_string((fcc_status_e)i), "Unknown FCC status");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(fcc_status_name((fcc_status_e)i),
                                    fcc_status_name((fcc_status_e)j));
        }
    }
    assert_string_equal(fcc_status_name(FCC_STATUS_BUNDLE_INVALID_SCHEME),
                        "FCC_STATUS_BUNDLE_INVALID_SCHEME");
    assert_string_equal(fcc_status_name((fcc_status_e)38), "FCC_STATUS_UNKNOWN");
    for (int i = 0; i < KCM_MAX_STATUS; i++) {
        assert_string_not_equal(kcm_status_to_string((kcm_status_e)i), "Unknown KCM status");
    }
    assert_string_equal(kcm_status_name(KCM_STATUS_FILE_NAME_INVALID),
                        "KCM_STATUS_FILE_NAME_INVALID");
}

int main(int argc, char **argv)
{
    pki_dir = argc > 1 ? argv[1] : "tests/data/vectors/fcc-oracle/pki";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_items, setup, teardown),
        cmocka_unit_test_setup_teardown(names, setup, teardown),
        cmocka_unit_test_setup_teardown(factory_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_and_csr, setup, teardown),
        cmocka_unit_test_setup_teardown(chains, setup, teardown),
        cmocka_unit_test_setup_teardown(tamper, setup, teardown),
        cmocka_unit_test(status_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
