/* The bundle writer: the size query matches what is written, a short buffer is never overrun
 * (run under ASan), integers take the shortest form, libcbor (an independent decoder) reads the
 * expected structure, and the device's bundle handler stores what the writer wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbor.h>

#include "bundle_writer.h"
#include "fcc_bundle_fields.h"
#include "kiln/port_linux.h"

static const uint8_t key_der[] = {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 0xaa};
static const uint8_t leaf_der[] = {0x30, 0x03, 0x02, 0x01, 0x07};
static const uint8_t issuer_der[] = {0x30, 0x03, 0x02, 0x01, 0x08, 0x00};

/* Every call of the writer's vocabulary once. */
static void write_everything(kiln_bundle_writer *w)
{
    const uint8_t *ders[] = {leaf_der, issuer_der};
    const size_t lens[] = {sizeof(leaf_der), sizeof(issuer_der)};
    uint8_t entropy[FCC_ENTROPY_SIZE];
    memset(entropy, 0x5a, sizeof(entropy));
    kiln_bw_csr_request csr = {FCC_LWM2M_DEVICE_PRIVATE_KEY, "CN=ep,O=kiln", 1, 1, 4};
    kiln_bw_bundle_begin(w, 9);
    kiln_bw_entry_text(w, FCC_GROUP_SESSION_ID, "sid-1");
    kiln_bw_group(w, FCC_GROUP_KEYS, 1);
    kiln_bw_key(w, FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY, FCC_KEY_TYPE_ECC_PRIVATE, key_der,
                sizeof(key_der));
    kiln_bw_group(w, FCC_GROUP_CERTIFICATES, 2);
    kiln_bw_cert(w, FCC_BOOTSTRAP_DEVICE_CERT, leaf_der, sizeof(leaf_der),
                 FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY);
    kiln_bw_cert(w, FCC_BOOTSTRAP_SERVER_CA_CERT, issuer_der, sizeof(issuer_der), NULL);
    kiln_bw_group(w, FCC_GROUP_CERTIFICATE_CHAINS, 1);
    kiln_bw_chain(w, FCC_LWM2M_DEVICE_CERT, ders, lens, 2, NULL);
    kiln_bw_group(w, FCC_GROUP_CONFIG_PARAMS, 3);
    kiln_bw_param_text(w, FCC_ENDPOINT_NAME, "ep-1");
    kiln_bw_param_int(w, FCC_MEMORY_TOTAL_KB, 70000);
    kiln_bw_param_bytes(w, FCC_CLASS_ID, key_der, 4);
    kiln_bw_group(w, FCC_GROUP_CSR_REQUESTS, 1);
    kiln_bw_csr(w, &csr);
    kiln_bw_entry_bytes(w, FCC_GROUP_ENTROPY, entropy, sizeof(entropy));
    kiln_bw_entry_uint(w, FCC_GROUP_VERIFY, 0);
}

static uint8_t *write_all(size_t *len)
{
    kiln_bundle_writer w;
    kiln_bw_init(&w, NULL, 0);
    write_everything(&w);
    assert_false(kiln_bw_complete(&w));
    *len = kiln_bw_length(&w);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    kiln_bw_init(&w, buf, *len);
    write_everything(&w);
    assert_true(kiln_bw_complete(&w));
    assert_int_equal(kiln_bw_length(&w), *len);
    return buf;
}

static void size_query_equals_written(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = write_all(&len);
    /* a larger buffer: same length, nothing past it touched */
    uint8_t *big = malloc(len + 16);
    memset(big, 0xa5, len + 16);
    kiln_bundle_writer w;
    kiln_bw_init(&w, big, len + 16);
    write_everything(&w);
    assert_int_equal(kiln_bw_length(&w), len);
    assert_memory_equal(big, buf, len);
    for (size_t i = len; i < len + 16; i++)
        assert_int_equal(big[i], 0xa5);
    free(big);
    free(buf);
}

/* Every capacity short of the length: the needed length is still reported, and out holds a
 * prefix of the bundle followed by untouched bytes (the heap block is exactly cap bytes, so ASan
 * reports any write past it). */
static void short_buffer_never_overflows(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *full = write_all(&len);
    for (size_t cap = 0; cap < len; cap++) {
        uint8_t *buf = malloc(cap ? cap : 1);
        memset(buf, 0xa5, cap ? cap : 1);
        kiln_bundle_writer w;
        kiln_bw_init(&w, buf, cap);
        write_everything(&w);
        assert_int_equal(kiln_bw_length(&w), len);
        assert_false(kiln_bw_complete(&w));
        size_t same = 0;
        while (same < cap && buf[same] == full[same])
            same++;
        for (size_t i = same; i < cap; i++)
            assert_int_equal(buf[i], 0xa5);
        free(buf);
    }
    free(full);
}

static void integers_take_the_shortest_form(void **state)
{
    (void)state;
    static const struct {
        int64_t value;
        size_t bytes;
    } cases[] = {{0, 1},        {23, 1},    {24, 2},           {255, 2},          {256, 3},
                 {65535, 3},    {65536, 5}, {4294967295LL, 5}, {4294967296LL, 9}, {INT64_MAX, 9},
                 {-1, 1},       {-24, 1},   {-25, 2},          {-256, 2},         {-257, 3},
                 {INT64_MIN, 9}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[9];
        kiln_bundle_writer w;
        kiln_bw_init(&w, buf, sizeof(buf));
        kiln_bw_int(&w, cases[i].value);
        assert_int_equal(kiln_bw_length(&w), cases[i].bytes);
        struct cbor_load_result res;
        cbor_item_t *item = cbor_load(buf, kiln_bw_length(&w), &res);
        assert_non_null(item);
        assert_int_equal(res.read, cases[i].bytes);
        uint64_t raw = cbor_get_int(item);
        if (cases[i].value >= 0) {
            assert_true(cbor_isa_uint(item));
            assert_true(raw == (uint64_t)cases[i].value);
        } else {
            assert_true(cbor_isa_negint(item));
            assert_true(raw == (uint64_t)(-(cases[i].value + 1)));
        }
        cbor_decref(&item);
    }
}

static cbor_item_t *map_get(const cbor_item_t *map, const char *key)
{
    assert_true(cbor_isa_map(map) && cbor_map_is_definite(map));
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++)
        if (cbor_isa_string(pairs[i].key) && cbor_string_length(pairs[i].key) == strlen(key) &&
            memcmp(cbor_string_handle(pairs[i].key), key, strlen(key)) == 0)
            return pairs[i].value;
    return NULL;
}

static void assert_text(const cbor_item_t *item, const char *text)
{
    assert_non_null(item);
    assert_true(cbor_isa_string(item));
    assert_int_equal(cbor_string_length(item), strlen(text));
    assert_memory_equal(cbor_string_handle(item), text, strlen(text));
}

static void assert_bytes(const cbor_item_t *item, const uint8_t *data, size_t len)
{
    assert_non_null(item);
    assert_true(cbor_isa_bytestring(item));
    assert_int_equal(cbor_bytestring_length(item), len);
    assert_memory_equal(cbor_bytestring_handle(item), data, len);
}

static cbor_item_t *group_item(const cbor_item_t *root, const char *group, size_t items,
                               size_t index)
{
    cbor_item_t *g = map_get(root, group);
    assert_non_null(g);
    assert_true(cbor_isa_array(g) && cbor_array_is_definite(g));
    assert_int_equal(cbor_array_size(g), items);
    return cbor_array_handle(g)[index];
}

static void decodes_to_the_bundle_schema(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = write_all(&len);
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(buf, len, &res);
    assert_non_null(root);
    assert_int_equal(res.read, len);
    assert_int_equal(cbor_map_size(root), 9);
    assert_text(cbor_map_handle(root)[0].key, FCC_GROUP_SCHEME_VERSION); /* first, as sent */
    assert_text(map_get(root, FCC_GROUP_SCHEME_VERSION), FCC_BUNDLE_SCHEME_VERSION);
    assert_text(map_get(root, FCC_GROUP_SESSION_ID), "sid-1");

    cbor_item_t *key = group_item(root, FCC_GROUP_KEYS, 1, 0);
    assert_int_equal(cbor_map_size(key), 4);
    assert_text(map_get(key, FCC_FIELD_TYPE), FCC_KEY_TYPE_ECC_PRIVATE);
    assert_text(map_get(key, FCC_FIELD_FORMAT), FCC_FORMAT_DER);
    assert_bytes(map_get(key, FCC_FIELD_DATA), key_der, sizeof(key_der));

    cbor_item_t *cert = group_item(root, FCC_GROUP_CERTIFICATES, 2, 0);
    assert_text(map_get(cert, FCC_FIELD_PRIVATE_KEY_NAME), FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY);
    cert = group_item(root, FCC_GROUP_CERTIFICATES, 2, 1);
    assert_int_equal(cbor_map_size(cert), 3);
    assert_null(map_get(cert, FCC_FIELD_PRIVATE_KEY_NAME));
    assert_bytes(map_get(cert, FCC_FIELD_DATA), issuer_der, sizeof(issuer_der));

    cbor_item_t *chain = group_item(root, FCC_GROUP_CERTIFICATE_CHAINS, 1, 0);
    cbor_item_t *ders = map_get(chain, FCC_FIELD_DATA_ARRAY);
    assert_non_null(ders);
    assert_int_equal(cbor_array_size(ders), 2);
    assert_bytes(cbor_array_handle(ders)[1], issuer_der, sizeof(issuer_der));

    cbor_item_t *mem = group_item(root, FCC_GROUP_CONFIG_PARAMS, 3, 1);
    assert_text(map_get(mem, FCC_FIELD_NAME), FCC_MEMORY_TOTAL_KB);
    assert_int_equal(cbor_get_int(map_get(mem, FCC_FIELD_DATA)), 70000);

    cbor_item_t *csr = group_item(root, FCC_GROUP_CSR_REQUESTS, 1, 0);
    assert_text(map_get(csr, FCC_FIELD_SUBJECT), "CN=ep,O=kiln");
    cbor_item_t *ext = map_get(csr, FCC_FIELD_EXTENSIONS);
    assert_non_null(ext);
    assert_int_equal(cbor_get_int(map_get(ext, FCC_FIELD_KEY_USAGE)), 1);
    assert_int_equal(cbor_get_int(map_get(ext, FCC_FIELD_EXT_KEY_USAGE)), 4);
    assert_int_equal(cbor_bytestring_length(map_get(root, FCC_GROUP_ENTROPY)), FCC_ENTROPY_SIZE);
    assert_int_equal(cbor_get_int(map_get(root, FCC_GROUP_VERIFY)), 0);
    cbor_decref(&root);
    free(buf);
}

/* Groups from an items function: counted and written by the same code, absent when empty. */
static size_t two_params(kiln_bundle_writer *w, const void *ctx)
{
    const char *serial = ctx;
    kiln_bw_param_text(w, FCC_SERIAL_NUMBER, serial);
    kiln_bw_param_int(w, FCC_USE_BOOTSTRAP, 0);
    return 2;
}

static size_t no_items(kiln_bundle_writer *w, const void *ctx)
{
    (void)w;
    (void)ctx;
    return 0;
}

static void device_bundle(kiln_bundle_writer *w, const void *serial)
{
    kiln_bw_bundle_begin(w, 3);
    kiln_bw_group_items(w, FCC_GROUP_KEYS, no_items, NULL);
    kiln_bw_group_items(w, FCC_GROUP_CONFIG_PARAMS, two_params, serial);
    kiln_bw_entry_uint(w, FCC_GROUP_VERIFY, 0);
}

static void group_items_count_and_write(void **state)
{
    (void)state;
    assert_int_equal(kiln_bw_items_count(two_params, "s"), 2);
    assert_int_equal(kiln_bw_items_count(no_items, NULL), 0);
    uint8_t buf[256];
    kiln_bundle_writer w;
    kiln_bw_init(&w, buf, sizeof(buf));
    device_bundle(&w, "SN-7");
    assert_true(kiln_bw_complete(&w));
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(buf, kiln_bw_length(&w), &res);
    assert_non_null(root);
    assert_int_equal(cbor_map_size(root), 3);
    assert_null(map_get(root, FCC_GROUP_KEYS));
    assert_text(map_get(group_item(root, FCC_GROUP_CONFIG_PARAMS, 2, 0), FCC_FIELD_DATA), "SN-7");
    cbor_decref(&root);
}

/* The device library's handler stores what the writer wrote. */
static void device_stores_the_bundle(void **state)
{
    (void)state;
    char dir[] = "/tmp/kiln-bw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    kiln_linux_device d;
    assert_int_equal(kiln_linux_device_open_dir(&d, dir), KILN_KV_OK);
    assert_int_equal(kiln_fcc_init(&d.dev), FCC_STATUS_SUCCESS);
    uint8_t bundle[256];
    kiln_bundle_writer w;
    kiln_bw_init(&w, bundle, sizeof(bundle));
    device_bundle(&w, "SN-7");
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    assert_int_equal(kiln_fcc_bundle_handler(&d.dev, bundle, kiln_bw_length(&w), &resp, &resp_len),
                     FCC_STATUS_SUCCESS);
    free(resp);
    uint8_t value[32];
    size_t n = 0;
    const char *name = FCC_SERIAL_NUMBER;
    assert_int_equal(kiln_kcm_item_get_data(&d.dev, (const uint8_t *)name, strlen(name),
                                            KCM_CONFIG_ITEM, value, sizeof(value), &n),
                     KCM_STATUS_SUCCESS);
    assert_int_equal(n, 4);
    assert_memory_equal(value, "SN-7", 4);
    kiln_fcc_finalize(&d.dev);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_query_equals_written),
        cmocka_unit_test(short_buffer_never_overflows),
        cmocka_unit_test(integers_take_the_shortest_form),
        cmocka_unit_test(decodes_to_the_bundle_schema),
        cmocka_unit_test(group_items_count_and_write),
        cmocka_unit_test(device_stores_the_bundle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
