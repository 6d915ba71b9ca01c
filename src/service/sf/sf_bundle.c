/* Secure factory service: configuration bundle encoder (libcbor). */
#include "sf_bundle.h"

#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "fcc_bundle_fields.h"

static int map_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    if (value == NULL) {
        return 0;
    }
    cbor_item_t *k = cbor_build_string(key);
    if (k == NULL) {
        cbor_decref(&value);
        return 0;
    }
    bool ok = cbor_map_add(map, (struct cbor_pair){.key = cbor_move(k), .value = cbor_move(value)});
    return ok ? 1 : 0;
}

static cbor_item_t *named(const char *name, cbor_item_t *data, int fields)
{
    cbor_item_t *m = cbor_new_definite_map((size_t)fields);
    if (m == NULL) {
        if (data != NULL) {
            cbor_decref(&data);
        }
        return NULL;
    }
    if (!map_put(m, FCC_FIELD_NAME, cbor_build_string(name)) || !map_put(m, FCC_FIELD_DATA, data)) {
        cbor_decref(&m);
        return NULL;
    }
    return m;
}

static int push(cbor_item_t *arr, cbor_item_t *item)
{
    if (item == NULL) {
        return 0;
    }
    bool ok = cbor_array_push(arr, item);
    cbor_decref(&item);
    return ok ? 1 : 0;
}

static int push_text(cbor_item_t *arr, const char *name, const char *value)
{
    return value == NULL ? 1 : push(arr, named(name, cbor_build_string(value), 2));
}

static cbor_item_t *certificate(const char *name, const uint8_t *der, size_t len,
                                const char *private_key_name)
{
    cbor_item_t *m = named(name, cbor_build_bytestring(der, len), private_key_name ? 4 : 3);
    if (m == NULL || !map_put(m, FCC_FIELD_FORMAT, cbor_build_string(FCC_FORMAT_DER)) ||
        (private_key_name != NULL &&
         !map_put(m, FCC_FIELD_PRIVATE_KEY_NAME, cbor_build_string(private_key_name)))) {
        if (m != NULL) {
            cbor_decref(&m);
        }
        return NULL;
    }
    return m;
}

sf_status sf_bundle_build(const sf_bundle_params *p, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    cbor_item_t *root = cbor_new_definite_map(3);
    cbor_item_t *certs = cbor_new_definite_array(2);
    cbor_item_t *params = cbor_new_definite_array(12);
    int ok = root != NULL && certs != NULL && params != NULL;
    ok = ok && push(certs, certificate(FCC_BOOTSTRAP_DEVICE_CERT, p->device_cert,
                                       p->device_cert_len, FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY));
    ok = ok && push(certs, certificate(FCC_BOOTSTRAP_SERVER_CA_CERT, p->server_ca, p->server_ca_len,
                                       NULL));
    ok = ok && push(params, named(FCC_USE_BOOTSTRAP, cbor_build_uint8(1), 2));
    ok = ok && push_text(params, FCC_ENDPOINT_NAME, p->endpoint_name);
    ok = ok && push_text(params, FCC_BOOTSTRAP_SERVER_URI, p->server_uri);
    ok = ok && push_text(params, FCC_MANUFACTURER, p->manufacturer);
    ok = ok && push_text(params, FCC_MODEL_NUMBER, p->model_number);
    ok = ok && push_text(params, FCC_SERIAL_NUMBER, p->serial_number);
    ok = ok && push_text(params, FCC_DEVICE_TYPE, p->device_type);
    ok = ok && push_text(params, FCC_HARDWARE_VERSION, p->hardware_version);
    ok = ok && push(params, named(FCC_MEMORY_TOTAL_KB, cbor_build_uint32(p->memory_total_kb), 2));
    ok = ok && push_text(params, FCC_TIMEZONE, p->timezone);
    ok = ok && push_text(params, FCC_UTC_OFFSET, p->utc_offset);
    ok = ok && push(params, named(FCC_CURRENT_TIME, cbor_build_uint64(p->current_time), 2));
    if (ok) {
        ok = map_put(root, FCC_GROUP_SCHEME_VERSION, cbor_build_string(FCC_BUNDLE_SCHEME_VERSION));
        ok = ok && map_put(root, FCC_GROUP_CERTIFICATES, certs);
        certs = NULL;
        ok = ok && map_put(root, FCC_GROUP_CONFIG_PARAMS, params);
        params = NULL;
    }
    if (certs != NULL) {
        cbor_decref(&certs);
    }
    if (params != NULL) {
        cbor_decref(&params);
    }
    size_t buf_size = 0;
    if (ok) {
        *out_len = cbor_serialize_alloc(root, out, &buf_size);
        ok = *out_len > 0;
    }
    if (root != NULL) {
        cbor_decref(&root);
    }
    if (!ok) {
        free(*out);
        *out = NULL;
        return SF_INTERNAL;
    }
    return SF_OK;
}
