/* The FCC bundle writer (see bundle_writer.h). */
#include "bundle_writer.h"

#include <string.h>

#include "fcc_bundle_fields.h"

enum cbor_major {
    CBOR_UINT = 0,
    CBOR_NEGINT = 1,
    CBOR_BYTES = 2,
    CBOR_TEXT = 3,
    CBOR_ARRAY = 4,
    CBOR_MAP = 5
};

void kiln_bw_init(kiln_bundle_writer *w, uint8_t *out, size_t capacity)
{
    w->out = out;
    w->capacity = out ? capacity : 0;
    w->length = 0;
}

size_t kiln_bw_length(const kiln_bundle_writer *w)
{
    return w->length;
}

bool kiln_bw_complete(const kiln_bundle_writer *w)
{
    return w->out != NULL && w->length <= w->capacity;
}

/* Appends n bytes when they fit and counts them either way. Once a write did not fit, no later
 * one does (length only grows), so out always holds a clean prefix. */
static void put(kiln_bundle_writer *w, const void *data, size_t n)
{
    if (n > SIZE_MAX - w->length) {
        w->length = SIZE_MAX;
        return;
    }
    if (w->out != NULL && n > 0 && w->length + n <= w->capacity) {
        memcpy(w->out + w->length, data, n);
    }
    w->length += n;
}

/* An item head in the shortest form: the major type and its argument. */
static void head(kiln_bundle_writer *w, enum cbor_major major, uint64_t arg)
{
    uint8_t b[9];
    size_t n, i;
    uint8_t m = (uint8_t)((unsigned)major << 5);
    if (arg < 24) {
        b[0] = (uint8_t)(m | arg);
        put(w, b, 1);
        return;
    }
    if (arg <= 0xffu) {
        b[0] = (uint8_t)(m | 24u);
        n = 1;
    } else if (arg <= 0xffffu) {
        b[0] = (uint8_t)(m | 25u);
        n = 2;
    } else if (arg <= 0xffffffffu) {
        b[0] = (uint8_t)(m | 26u);
        n = 4;
    } else {
        b[0] = (uint8_t)(m | 27u);
        n = 8;
    }
    for (i = 0; i < n; i++) {
        b[1 + i] = (uint8_t)(arg >> (8u * (n - 1u - i)));
    }
    put(w, b, 1 + n);
}

void kiln_bw_map(kiln_bundle_writer *w, size_t pairs)
{
    head(w, CBOR_MAP, pairs);
}

void kiln_bw_array(kiln_bundle_writer *w, size_t count)
{
    head(w, CBOR_ARRAY, count);
}

void kiln_bw_text_n(kiln_bundle_writer *w, const char *text, size_t len)
{
    head(w, CBOR_TEXT, len);
    put(w, text, len);
}

void kiln_bw_text(kiln_bundle_writer *w, const char *text)
{
    kiln_bw_text_n(w, text, strlen(text));
}

void kiln_bw_bytes(kiln_bundle_writer *w, const uint8_t *data, size_t len)
{
    head(w, CBOR_BYTES, len);
    put(w, data, len);
}

void kiln_bw_uint(kiln_bundle_writer *w, uint64_t value)
{
    head(w, CBOR_UINT, value);
}

void kiln_bw_int(kiln_bundle_writer *w, int64_t value)
{
    if (value >= 0) {
        head(w, CBOR_UINT, (uint64_t)value);
    } else {
        /* -1 - n without overflow for INT64_MIN */
        head(w, CBOR_NEGINT, (uint64_t)(-(value + 1)));
    }
}

void kiln_bw_bundle_begin(kiln_bundle_writer *w, size_t entries)
{
    kiln_bw_map(w, entries);
    kiln_bw_entry_text(w, FCC_GROUP_SCHEME_VERSION, FCC_BUNDLE_SCHEME_VERSION);
}

void kiln_bw_group(kiln_bundle_writer *w, const char *group, size_t items)
{
    kiln_bw_text(w, group);
    kiln_bw_array(w, items);
}

size_t kiln_bw_items_count(kiln_bw_items_fn fn, const void *ctx)
{
    kiln_bundle_writer probe;
    kiln_bw_init(&probe, NULL, 0);
    return fn(&probe, ctx);
}

void kiln_bw_group_items(kiln_bundle_writer *w, const char *group, kiln_bw_items_fn fn,
                         const void *ctx)
{
    size_t items = kiln_bw_items_count(fn, ctx);
    if (items > 0) {
        kiln_bw_group(w, group, items);
        (void)fn(w, ctx);
    }
}

void kiln_bw_entry_text(kiln_bundle_writer *w, const char *name, const char *text)
{
    kiln_bw_text(w, name);
    kiln_bw_text(w, text);
}

void kiln_bw_entry_uint(kiln_bundle_writer *w, const char *name, uint64_t value)
{
    kiln_bw_text(w, name);
    kiln_bw_uint(w, value);
}

void kiln_bw_entry_bytes(kiln_bundle_writer *w, const char *name, const uint8_t *data, size_t len)
{
    kiln_bw_text(w, name);
    kiln_bw_bytes(w, data, len);
}

/* {Name: name, Data: ...}: the caller writes the data item. */
static void param_head(kiln_bundle_writer *w, const char *name)
{
    kiln_bw_map(w, 2);
    kiln_bw_entry_text(w, FCC_FIELD_NAME, name);
    kiln_bw_text(w, FCC_FIELD_DATA);
}

void kiln_bw_param_text(kiln_bundle_writer *w, const char *name, const char *text)
{
    param_head(w, name);
    kiln_bw_text(w, text);
}

void kiln_bw_param_bytes(kiln_bundle_writer *w, const char *name, const uint8_t *data, size_t len)
{
    param_head(w, name);
    kiln_bw_bytes(w, data, len);
}

void kiln_bw_param_int(kiln_bundle_writer *w, const char *name, int64_t value)
{
    param_head(w, name);
    kiln_bw_int(w, value);
}

void kiln_bw_key(kiln_bundle_writer *w, const char *name, const char *type, const uint8_t *der,
                 size_t len)
{
    kiln_bw_map(w, 4);
    kiln_bw_entry_text(w, FCC_FIELD_NAME, name);
    kiln_bw_entry_text(w, FCC_FIELD_TYPE, type);
    kiln_bw_entry_text(w, FCC_FIELD_FORMAT, FCC_FORMAT_DER);
    kiln_bw_entry_bytes(w, FCC_FIELD_DATA, der, len);
}

void kiln_bw_cert(kiln_bundle_writer *w, const char *name, const uint8_t *der, size_t len,
                  const char *private_key_name)
{
    kiln_bw_map(w, private_key_name ? 4 : 3);
    kiln_bw_entry_text(w, FCC_FIELD_NAME, name);
    kiln_bw_entry_text(w, FCC_FIELD_FORMAT, FCC_FORMAT_DER);
    kiln_bw_entry_bytes(w, FCC_FIELD_DATA, der, len);
    if (private_key_name) {
        kiln_bw_entry_text(w, FCC_FIELD_PRIVATE_KEY_NAME, private_key_name);
    }
}

void kiln_bw_chain(kiln_bundle_writer *w, const char *name, const uint8_t *const *ders,
                   const size_t *lens, size_t count, const char *private_key_name)
{
    size_t i;
    kiln_bw_map(w, private_key_name ? 4 : 3);
    kiln_bw_entry_text(w, FCC_FIELD_NAME, name);
    kiln_bw_entry_text(w, FCC_FIELD_FORMAT, FCC_FORMAT_DER);
    kiln_bw_text(w, FCC_FIELD_DATA_ARRAY);
    kiln_bw_array(w, count);
    for (i = 0; i < count; i++) {
        kiln_bw_bytes(w, ders[i], lens[i]);
    }
    if (private_key_name) {
        kiln_bw_entry_text(w, FCC_FIELD_PRIVATE_KEY_NAME, private_key_name);
    }
}

void kiln_bw_csr(kiln_bundle_writer *w, const kiln_bw_csr_request *req)
{
    size_t usages = (req->key_usage != 0) + (req->ext_key_usage != 0);
    kiln_bw_map(w, usages ? 4 : 3);
    kiln_bw_entry_text(w, FCC_FIELD_PRIVATE_KEY_NAME, req->private_key_name);
    kiln_bw_entry_text(w, FCC_FIELD_SUBJECT, req->subject);
    kiln_bw_entry_uint(w, FCC_FIELD_MD, req->message_digest);
    if (usages == 0) {
        return;
    }
    kiln_bw_text(w, FCC_FIELD_EXTENSIONS);
    kiln_bw_map(w, usages);
    if (req->key_usage != 0) {
        kiln_bw_entry_uint(w, FCC_FIELD_KEY_USAGE, req->key_usage);
    }
    if (req->ext_key_usage != 0) {
        kiln_bw_entry_uint(w, FCC_FIELD_EXT_KEY_USAGE, req->ext_key_usage);
    }
}
