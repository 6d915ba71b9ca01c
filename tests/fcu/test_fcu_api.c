/* Behaviour of the FCU library API beyond error codes: configuration re-read on every call
 * (file and environment), CA replacement noticed, directory defaults, device answers turned
 * into status/message/warnings, the by_device two-step flow, custom properties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <cbor.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fcu/fcu.h"
#include "fcu_fixture.h"

static const char *g_base_yml, *g_pki;

typedef struct env {
    char *home;
    fcu *f;
} env;

static int setup_env(void **state)
{
    env *e = calloc(1, sizeof(*e));
    e->home = fx_home_create(g_base_yml, g_pki);
    assert_non_null(e->home);
    fcu_options opts = {.home_dir = e->home};
    e->f = fcu_open(&opts);
    fcu_setup_status s;
    assert_int_equal(fcu_setup(e->f, false, &s), 0);
    fcu_setup_status_free(&s);
    *state = e;
    return 0;
}

static int teardown_env(void **state)
{
    env *e = *state;
    fcu_close(e->f);
    fx_rm_rf(e->home);
    free(e->home);
    free(e);
    return 0;
}

static void append_config(const env *e, const char *text)
{
    char *old = fx_read_text(e->home, "config/fcu.yml");
    assert_non_null(old);
    size_t n = strlen(old) + strlen(text) + 1;
    char *all = malloc(n);
    snprintf(all, n, "%s%s", old, text);
    assert_int_equal(fx_write(e->home, "config/fcu.yml", all, strlen(all)), 0);
    free(all);
    free(old);
}

static void replace_config(const env *e, const char *from, const char *to)
{
    char *old = fx_read_text(e->home, "config/fcu.yml");
    char *at = strstr(old, from);
    assert_non_null(at);
    size_t n = strlen(old) + strlen(to) + 1;
    char *all = malloc(n);
    snprintf(all, n, "%.*s%s%s", (int)(at - old), old, to, at + strlen(from));
    assert_int_equal(fx_write(e->home, "config/fcu.yml", all, strlen(all)), 0);
    free(all);
    free(old);
}

/* Finds item name in group (Keys/Certificates/ConfigParams) and returns its Data item. */
static cbor_item_t *group_item(cbor_item_t *bundle, const char *group, const char *name)
{
    for (size_t i = 0; i < cbor_map_size(bundle); i++) {
        struct cbor_pair p = cbor_map_handle(bundle)[i];
        if (cbor_string_length(p.key) != strlen(group) ||
            memcmp(cbor_string_handle(p.key), group, strlen(group)) != 0)
            continue;
        for (size_t j = 0; j < cbor_array_size(p.value); j++) {
            cbor_item_t *m = cbor_array_handle(p.value)[j];
            cbor_item_t *data = NULL;
            bool match = false;
            for (size_t k = 0; k < cbor_map_size(m); k++) {
                struct cbor_pair q = cbor_map_handle(m)[k];
                const char *key = (const char *)cbor_string_handle(q.key);
                size_t klen = cbor_string_length(q.key);
                if (klen == 4 && memcmp(key, "Name", 4) == 0)
                    match = cbor_string_length(q.value) == strlen(name) &&
                            memcmp(cbor_string_handle(q.value), name, strlen(name)) == 0;
                if (klen == 4 && memcmp(key, "Data", 4) == 0)
                    data = q.value;
            }
            if (match)
                return data;
        }
    }
    return NULL;
}

static cbor_item_t *prepare_ok(const env *e, const char *ep, fcu_device_request *r)
{
    int rc = fcu_prepare_device_configuration(e->f, ep, "SN-1", NULL, r);
    if (rc)
        fprintf(stderr, "prepare: %s\n", r->errors.items[0].message);
    assert_int_equal(rc, 0);
    struct cbor_load_result res;
    cbor_item_t *b = cbor_load(r->config_data, r->config_size, &res);
    assert_non_null(b);
    return b;
}

static void assert_text(cbor_item_t *item, const char *want)
{
    assert_non_null(item);
    assert_true(cbor_isa_string(item));
    assert_int_equal(cbor_string_length(item), strlen(want));
    assert_memory_equal(cbor_string_handle(item), want, strlen(want));
}

static X509 *device_cert(cbor_item_t *b)
{
    cbor_item_t *d = group_item(b, "Certificates", "mbed.BootstrapDeviceCert");
    assert_non_null(d);
    const unsigned char *p = cbor_bytestring_handle(d);
    X509 *x = d2i_X509(NULL, &p, (long)cbor_bytestring_length(d));
    assert_non_null(x);
    return x;
}

static void test_config_reread_each_call(void **state)
{
    env *e = *state;
    fcu_device_request r;
    cbor_item_t *b = prepare_ok(e, "ep-1", &r);
    assert_text(group_item(b, "ConfigParams", "mbed.Manufacturer"), "kiln test");
    cbor_decref(&b);
    fcu_device_request_free(&r);
    replace_config(e, "manufacturer-name: kiln test", "manufacturer-name: other maker");
    b = prepare_ok(e, "ep-1", &r);
    assert_text(group_item(b, "ConfigParams", "mbed.Manufacturer"), "other maker");
    cbor_decref(&b);
    fcu_device_request_free(&r);
}

static void test_environment_change_noticed(void **state)
{
    env *e = *state;
    replace_config(e, "manufacturer-name: kiln test",
                   "manufacturer-name: <%= ENV['KILN_FCU_API_MAKER'] %> Oy");
    fcu_device_request r;
    setenv("KILN_FCU_API_MAKER", "First", 1);
    cbor_item_t *b = prepare_ok(e, "ep-1", &r);
    assert_text(group_item(b, "ConfigParams", "mbed.Manufacturer"), "First Oy");
    cbor_decref(&b);
    fcu_device_request_free(&r);
    setenv("KILN_FCU_API_MAKER", "Second", 1);
    b = prepare_ok(e, "ep-1", &r);
    assert_text(group_item(b, "ConfigParams", "mbed.Manufacturer"), "Second Oy");
    cbor_decref(&b);
    fcu_device_request_free(&r);
    unsetenv("KILN_FCU_API_MAKER");
    assert_int_equal(fcu_prepare_device_configuration(e->f, "ep-1", "SN-1", NULL, &r),
                     FCU_STATUS_CONFIG_LOAD);
    fcu_device_request_free(&r);
}

static void test_new_ca_noticed(void **state)
{
    env *e = *state;
    fcu_device_request r;
    cbor_item_t *b = prepare_ok(e, "ep-1", &r);
    X509 *first = device_cert(b);
    cbor_decref(&b);
    fcu_device_request_free(&r);
    X509 *ca1;
    EVP_PKEY *k1;
    assert_int_equal(fx_load_ca(e->home, &ca1, &k1), 0);
    assert_int_equal(X509_verify(first, k1), 1);

    /* another handle replaces the CA; this handle must notice on its next call */
    fcu_options opts = {.home_dir = e->home};
    fcu *other = fcu_open(&opts);
    fcu_setup_status s;
    assert_int_equal(fcu_setup(other, true, &s), 0);
    fcu_setup_status_free(&s);
    fcu_close(other);

    b = prepare_ok(e, "ep-1", &r);
    X509 *second = device_cert(b);
    X509 *ca2;
    EVP_PKEY *k2;
    assert_int_equal(fx_load_ca(e->home, &ca2, &k2), 0);
    assert_int_equal(X509_verify(second, k2), 1);
    assert_int_not_equal(X509_verify(second, k1), 1);
    assert_int_equal(X509_check_issued(ca2, second), X509_V_OK);
    cbor_decref(&b);
    fcu_device_request_free(&r);
    X509_free(first);
    X509_free(second);
    X509_free(ca1);
    X509_free(ca2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

static void test_directory_defaults(void **state)
{
    env *e = *state;
    setenv("FCU_HOME_DIR", e->home, 1);
    setenv("FCU_KEYSTORE_DIR", "/tmp/kiln-fcu-api-keystore", 1);
    fcu *f = fcu_open(NULL);
    assert_string_equal(fcu_home_dir(f), e->home);
    assert_string_equal(fcu_keystore_dir(f), "/tmp/kiln-fcu-api-keystore");
    char *res = fx_path(e->home, "resources");
    char *cfg = fx_path(e->home, "config/fcu.yml");
    assert_string_equal(fcu_resources_dir(f), res);
    assert_string_equal(fcu_config_file(f), cfg);
    fcu_close(f);
    fcu_options opts = {.home_dir = "/opt/given", .keystore_dir = "/opt/ks"};
    f = fcu_open(&opts);
    assert_string_equal(fcu_home_dir(f), "/opt/given");
    assert_string_equal(fcu_keystore_dir(f), "/opt/ks");
    assert_string_equal(fcu_resources_dir(f), "/opt/given/resources");
    fcu_close(f);
    unsetenv("FCU_HOME_DIR");
    unsetenv("FCU_KEYSTORE_DIR");
    free(res);
    free(cfg);
}

static void test_answer_warnings_and_errors(void **state)
{
    env *e = *state;
    /* {SchemeVersion, ReturnStatus 0, InfoMessage "The Factory process succeeded\n",
     *  WarningInfo "Item not set:a\nItem not set:b\n"} as an indefinite map */
    cbor_item_t *m = cbor_new_indefinite_map();
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("SchemeVersion")),
                                       cbor_move(cbor_build_string("0.0.1"))});
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("ReturnStatus")),
                                       cbor_move(cbor_build_uint8(0))});
    cbor_map_add(
        m, (struct cbor_pair){cbor_move(cbor_build_string("InfoMessage")),
                              cbor_move(cbor_build_string("The Factory process succeeded\n"))});
    cbor_map_add(
        m, (struct cbor_pair){cbor_move(cbor_build_string("WarningInfo")),
                              cbor_move(cbor_build_string("Item not set:a\nItem not set:b\n"))});
    unsigned char *buf = NULL;
    size_t cap = 0, n = cbor_serialize_alloc(m, &buf, &cap);
    fcu_device_response_status s;
    assert_int_equal(fcu_verify_device_response(e->f, "ep", buf, n, NULL, &s), 0);
    assert_string_equal(s.message, "The Factory process succeeded");
    assert_int_equal(s.warnings.count, 2);
    assert_string_equal(s.warnings.items[0].message, "Item not set:a");
    assert_string_equal(s.warnings.items[1].message, "Item not set:b");
    assert_int_equal(s.errors.count, 0);
    fcu_device_response_status_free(&s);
    free(buf);
    cbor_decref(&m);

    /* a device failure: status and an error entry carrying the device code */
    m = cbor_new_indefinite_map();
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("SchemeVersion")),
                                       cbor_move(cbor_build_string("0.0.1"))});
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("ReturnStatus")),
                                       cbor_move(cbor_build_uint8(25))});
    cbor_map_add(m,
                 (struct cbor_pair){cbor_move(cbor_build_string("InfoMessage")),
                                    cbor_move(cbor_build_string("Item does not exist:mbed.X\n"))});
    n = cbor_serialize_alloc(m, &buf, &cap);
    assert_int_equal(fcu_verify_device_response(e->f, "ep", buf, n, NULL, &s), 25);
    assert_int_equal(s.status, 25);
    assert_int_equal(s.errors.count, 1);
    assert_int_equal(s.errors.items[0].code, 25);
    assert_string_equal(s.errors.items[0].message, "Item does not exist:mbed.X");
    fcu_device_response_status_free(&s);
    free(buf);
    cbor_decref(&m);
}

static char *text_field(cbor_item_t *map, const char *key)
{
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        struct cbor_pair p = cbor_map_handle(map)[i];
        if (cbor_string_length(p.key) == strlen(key) &&
            memcmp(cbor_string_handle(p.key), key, strlen(key)) == 0)
            return strndup((const char *)cbor_string_handle(p.value), cbor_string_length(p.value));
    }
    return NULL;
}

static unsigned char *csr_answer(const char *sid, EVP_PKEY *key, bool with_csrs, size_t *len)
{
    cbor_item_t *m = cbor_new_indefinite_map();
    if (with_csrs) {
        uint8_t *csr;
        size_t csr_len;
        assert_int_equal(fx_csr(key, "ep-7", false, &csr, &csr_len), 0);
        cbor_item_t *entry = cbor_new_definite_map(2);
        cbor_map_add(entry, (struct cbor_pair){
                                cbor_move(cbor_build_string("PrKN")),
                                cbor_move(cbor_build_string("mbed.BootstrapDevicePrivateKey"))});
        cbor_map_add(entry, (struct cbor_pair){cbor_move(cbor_build_string("Data")),
                                               cbor_move(cbor_build_bytestring(csr, csr_len))});
        cbor_item_t *arr = cbor_new_definite_array(1);
        cbor_array_push(arr, cbor_move(entry));
        cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("Csrs")), cbor_move(arr)});
        OPENSSL_free(csr);
    }
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("SchemeVersion")),
                                       cbor_move(cbor_build_string("0.0.1"))});
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("SID")),
                                       cbor_move(cbor_build_string(sid))});
    cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string("ReturnStatus")),
                                       cbor_move(cbor_build_uint8(0))});
    cbor_map_add(
        m, (struct cbor_pair){cbor_move(cbor_build_string("InfoMessage")),
                              cbor_move(cbor_build_string("The Factory process succeeded\n"))});
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = cbor_serialize_alloc(m, &buf, &cap);
    cbor_decref(&m);
    return buf;
}

static void test_by_device_two_steps(void **state)
{
    env *e = *state;
    replace_config(e, "device-key-generation-mode: by_tool",
                   "device-key-generation-mode: by_device");
    fcu_device_request r;
    assert_int_equal(fcu_prepare_device_configuration(e->f, "ep-7", "SN-7", NULL, &r), 0);
    assert_non_null(r.operation_ctx);
    struct cbor_load_result res;
    cbor_item_t *b = cbor_load(r.config_data, r.config_size, &res);
    char *sid = text_field(b, "SID");
    assert_non_null(sid);
    cbor_decref(&b);

    /* the context survives a save and load (another process) */
    uint8_t *saved;
    size_t saved_len;
    assert_int_equal(fcu_operation_context_save(r.operation_ctx, &saved, &saved_len), 0);
    fcu_operation_context *ctx;
    assert_int_equal(fcu_operation_context_load(saved, saved_len, &ctx), 0);
    assert_int_not_equal(
        fcu_operation_context_load(saved, saved_len - 1, &(fcu_operation_context *){NULL}), 0);
    free(saved);

    EVP_PKEY *key = fx_p256();
    size_t len;
    unsigned char *answer = csr_answer(sid, key, true, &len);
    fcu_device_response_status s;
    assert_int_equal(fcu_verify_device_response(e->f, "ep-7", answer, len, ctx, &s), 0);
    assert_non_null(s.next_request);
    b = cbor_load(s.next_request->config_data, s.next_request->config_size, &res);
    assert_non_null(b);
    X509 *cert = device_cert(b);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "ep-7");
    assert_text(group_item(b, "ConfigParams", "mbed.SerialNumber"), "SN-7");
    char *sid2 = text_field(b, "SID");
    assert_string_equal(sid2, sid);
    X509_free(cert);
    cbor_decref(&b);
    fcu_device_response_status_free(&s);
    free(answer);

    /* another session's answer, and an answer without CSRs, are refused */
    answer = csr_answer("fcu-someone-else", key, true, &len);
    assert_int_equal(fcu_verify_device_response(e->f, "ep-7", answer, len, ctx, &s),
                     FCU_STATUS_GENERAL);
    assert_null(s.next_request);
    fcu_device_response_status_free(&s);
    free(answer);
    answer = csr_answer(sid, key, false, &len);
    assert_int_equal(fcu_verify_device_response(e->f, "ep-7", answer, len, ctx, &s),
                     FCU_STATUS_RESPONSE_FIELD_MISSING);
    fcu_device_response_status_free(&s);
    free(answer);

    free(sid);
    free(sid2);
    EVP_PKEY_free(key);
    fcu_operation_context_free(ctx);
    fcu_device_request_free(&r);
}

static void test_custom_properties(void **state)
{
    env *e = *state;
    EVP_PKEY *k = fx_p256();
    char *kp = fx_path(e->home, "resources/custom.key");
    fx_write_key_pem(kp, k);
    append_config(e, "custom-properties:\n"
                     "  - name: acme.Site\n    type: string\n    data: HEL-3\n"
                     "  - name: acme.Count\n    type: integer\n    data: 42\n"
                     "  - name: acme.Blob\n    type: binary\n    data: abc\n"
                     "  - name: acme.Cert\n    type: certificate\n"
                     "    data-file: <%= ENV['FCU_RESOURCES_DIR'] %>/update.pem\n"
                     "  - name: acme.Key\n    type: private-key\n"
                     "    data-file: <%= ENV['FCU_RESOURCES_DIR'] %>/custom.key\n");
    fcu_device_request r;
    cbor_item_t *b = prepare_ok(e, "ep-1", &r);
    assert_text(group_item(b, "ConfigParams", "acme.Site"), "HEL-3");
    cbor_item_t *count = group_item(b, "ConfigParams", "acme.Count");
    assert_non_null(count);
    assert_int_equal(cbor_get_int(count), 42);
    assert_true(cbor_isa_bytestring(group_item(b, "ConfigParams", "acme.Blob")));
    assert_non_null(group_item(b, "Certificates", "acme.Cert"));
    assert_non_null(group_item(b, "Keys", "acme.Key"));
    cbor_decref(&b);
    fcu_device_request_free(&r);
    EVP_PKEY_free(k);
    free(kp);
}

/* Per-device properties (fcu_prepare_device_configuration_ex): added after fcu.yml's, one named
 * like an fcu.yml property replaces it (name and type), and bad ones are refused with 380. */
static int count_named(cbor_item_t *b, const char *group, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < cbor_map_size(b); i++) {
        struct cbor_pair p = cbor_map_handle(b)[i];
        if (cbor_string_length(p.key) != strlen(group) ||
            memcmp(cbor_string_handle(p.key), group, strlen(group)) != 0)
            continue;
        for (size_t j = 0; j < cbor_array_size(p.value); j++) {
            cbor_item_t *m = cbor_array_handle(p.value)[j];
            for (size_t k = 0; k < cbor_map_size(m); k++) {
                struct cbor_pair q = cbor_map_handle(m)[k];
                n += cbor_string_length(q.key) == 4 &&
                     !memcmp(cbor_string_handle(q.key), "Name", 4) &&
                     cbor_string_length(q.value) == strlen(name) &&
                     !memcmp(cbor_string_handle(q.value), name, strlen(name));
            }
        }
    }
    return n;
}

static int prepare_ex_status(const env *e, const fcu_extra_property *props, size_t n,
                             const char *want_in_message)
{
    fcu_device_request r;
    int rc = fcu_prepare_device_configuration_ex(e->f, "ep-x", "SN-x", NULL, props, n, &r);
    if (rc) {
        assert_int_equal(r.errors.count, 1);
        assert_non_null(strstr(r.errors.items[0].message, want_in_message));
        assert_null(r.config_data);
    }
    fcu_device_request_free(&r);
    return rc;
}

static void test_extra_properties(void **state)
{
    env *e = *state;
    append_config(e, "custom-properties:\n"
                     "  - name: acme.Site\n    type: string\n    data: HEL-3\n"
                     "  - name: acme.Line\n    type: string\n    data: L1\n");
    static const uint8_t raw[] = {0, 1, 0, 2};
    const fcu_extra_property props[] = {
        {"acme.Site", FCU_PROPERTY_INTEGER, NULL, 0, -7},
        {"acme.Serial", FCU_PROPERTY_STRING, (const uint8_t *)"X-1", 3, 0},
        {"acme.Raw", FCU_PROPERTY_BINARY, raw, sizeof(raw), 0},
    };
    fcu_device_request r;
    assert_int_equal(fcu_prepare_device_configuration_ex(e->f, "ep-1", "SN-1", NULL, props, 3, &r),
                     0);
    struct cbor_load_result res;
    cbor_item_t *b = cbor_load(r.config_data, r.config_size, &res);
    assert_non_null(b);
    assert_int_equal(count_named(b, "ConfigParams", "acme.Site"), 1);
    cbor_item_t *site = group_item(b, "ConfigParams", "acme.Site");
    assert_true(site && cbor_isa_negint(site));
    assert_int_equal(cbor_get_int(site), 6); /* CBOR negative integers hold -1 - n */
    assert_text(group_item(b, "ConfigParams", "acme.Line"), "L1");
    assert_text(group_item(b, "ConfigParams", "acme.Serial"), "X-1");
    cbor_item_t *blob = group_item(b, "ConfigParams", "acme.Raw");
    assert_true(blob && cbor_isa_bytestring(blob));
    assert_int_equal(cbor_bytestring_length(blob), sizeof(raw));
    assert_memory_equal(cbor_bytestring_handle(blob), raw, sizeof(raw));
    cbor_decref(&b);
    fcu_device_request_free(&r);

    const fcu_extra_property twice[] = {{"a", FCU_PROPERTY_STRING, (const uint8_t *)"1", 1, 0},
                                        {"a", FCU_PROPERTY_STRING, (const uint8_t *)"2", 1, 0}};
    assert_int_equal(prepare_ex_status(e, twice, 2, "given twice"), FCU_STATUS_VALIDATION);
    const fcu_extra_property nul[] = {{"s", FCU_PROPERTY_STRING, raw, sizeof(raw), 0}};
    assert_int_equal(prepare_ex_status(e, nul, 1, "NUL"), FCU_STATUS_VALIDATION);
    const fcu_extra_property unnamed[] = {{"", FCU_PROPERTY_STRING, NULL, 0, 0}};
    assert_int_equal(prepare_ex_status(e, unnamed, 1, "needs a name"), FCU_STATUS_VALIDATION);
    replace_config(e, "device-key-generation-mode: by_tool",
                   "device-key-generation-mode: by_device");
    assert_int_equal(prepare_ex_status(e, props, 1, "one-step"), FCU_STATUS_VALIDATION);
    assert_int_equal(prepare_ex_status(e, NULL, 0, ""), 0); /* without extras by_device works */
}

static bool has_key(cbor_item_t *bundle, const char *key)
{
    for (size_t i = 0; i < cbor_map_size(bundle); i++) {
        struct cbor_pair p = cbor_map_handle(bundle)[i];
        if (cbor_string_length(p.key) == strlen(key) &&
            memcmp(cbor_string_handle(p.key), key, strlen(key)) == 0)
            return true;
    }
    return false;
}

static void test_switches(void **state)
{
    env *e = *state;
    fcu_device_request r;
    cbor_item_t *b = prepare_ok(e, "ep-1", &r);
    cbor_item_t *now = group_item(b, "ConfigParams", "mbed.CurrentTime");
    assert_non_null(now);
    assert_true(cbor_isa_uint(now));
    assert_text(group_item(b, "ConfigParams", "mbed.Timezone"), "UTC");
    assert_text(group_item(b, "ConfigParams", "mbed.UTCOffset"), "+00:00");
    assert_false(has_key(b, "Entropy"));
    cbor_decref(&b);
    fcu_device_request_free(&r);

    replace_config(e, "time-sync: true", "time-sync: false");
    replace_config(e, "verify-on-device: true", "verify-on-device: false");
    b = prepare_ok(e, "ep-1", &r);
    assert_null(group_item(b, "ConfigParams", "mbed.CurrentTime"));
    assert_null(group_item(b, "ConfigParams", "mbed.Timezone"));
    for (size_t i = 0; i < cbor_map_size(b); i++) {
        struct cbor_pair p = cbor_map_handle(b)[i];
        if (cbor_string_length(p.key) == 6 && memcmp(cbor_string_handle(p.key), "Verify", 6) == 0)
            assert_int_equal(cbor_get_int(p.value), 0);
    }
    assert_true(has_key(b, "Verify"));
    cbor_decref(&b);
    fcu_device_request_free(&r);
}

static void test_key_permission_warning(void **state)
{
    env *e = *state;
    fcu_setup_status s;
    assert_int_equal(fcu_get_setup_status(e->f, &s), 0);
    assert_int_equal(s.warnings.count, 0);
    assert_non_null(strstr(s.ca_details.private_key_file, "keystore/fcu_key.pem"));
    assert_null(s.ca_details.csr_file);
    fcu_setup_status_free(&s);
    char *kp = fx_path(e->home, "keystore/fcu_key.pem");
    chmod(kp, 0640);
    assert_int_equal(fcu_get_setup_status(e->f, &s), 0);
    assert_int_equal(s.warnings.count, 1);
    assert_non_null(strstr(s.warnings.items[0].message, "0640"));
    fcu_setup_status_free(&s);
    fcu_device_request r;
    assert_int_equal(fcu_prepare_device_configuration(e->f, "ep-1", "SN-1", NULL, &r), 0);
    assert_int_equal(r.warnings.count, 1);
    fcu_device_request_free(&r);
    free(kp);
}

static void test_status_texts(void **state)
{
    (void)state;
    static const int codes[] = {
#define CODE(name, code, text) code,
        FCU_STATUS_MAP(CODE)
#undef CODE
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_true(strlen(fcu_status_template(codes[i])) > 5);
        assert_string_not_equal(fcu_status_name(codes[i]), "UNKNOWN");
    }
    assert_string_equal(fcu_status_name(999), "UNKNOWN");
    assert_string_equal(fcu_status_template(212),
                        "CA certificate file not found. Please sign the CSR file %s, and save the "
                        "created certificate as %s. Please note the certificate must be uploaded "
                        "to the portal");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s base.yml PKI_DIR\n", argv[0]);
        return 2;
    }
    g_base_yml = argv[1];
    g_pki = argv[2];
    unsetenv("FCU_HOME_DIR");
    unsetenv("FCU_RESOURCES_DIR");
    unsetenv("FCU_KEYSTORE_DIR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_reread_each_call, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_environment_change_noticed, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_new_ca_noticed, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_directory_defaults, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_answer_warnings_and_errors, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_by_device_two_steps, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_custom_properties, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_extra_properties, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_key_permission_warning, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_switches, setup_env, teardown_env),
        cmocka_unit_test(test_status_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
