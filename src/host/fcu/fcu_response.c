/* Decoding of the device's answer: an (indefinite or definite) CBOR map of Csrs,
 * SchemeVersion, SID, ReturnStatus, InfoMessage, WarningInfo. The bytes come from a device
 * through a factory line, so every type and size is checked; unknown keys are ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "fcc_bundle_fields.h"
#include "fcu_internal.h"

typedef struct prescan {
    size_t declared; /* elements announced by definite arrays and maps so far */
    size_t limit;
} prescan;

static void prescan_array(void *ctx, size_t size)
{
    prescan *p = ctx;
    p->declared = size > p->limit ? p->limit + 1 : p->declared + size;
}

static void prescan_map(void *ctx, size_t size)
{
    prescan *p = ctx;
    p->declared = size > p->limit / 2 ? p->limit + 1 : p->declared + 2 * size;
}

/* cbor_load allocates every definite container at its announced size before reading it, so a
 * few bytes could ask for gigabytes. Each element takes at least one byte, so announcements
 * adding up to more elements than there are bytes cannot be honest and are refused first. */
cbor_item_t *fcu__cbor_load_bounded(const uint8_t *data, size_t len, size_t *read)
{
    struct cbor_callbacks callbacks = cbor_empty_callbacks;
    callbacks.array_start = prescan_array;
    callbacks.map_start = prescan_map;
    prescan p = {0, len};
    size_t offset = 0;
    while (offset < len) {
        struct cbor_decoder_result r =
            cbor_stream_decode(data + offset, len - offset, &callbacks, &p);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || p.declared > p.limit)
            return NULL;
        offset += r.read;
    }
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(data, len, &res);
    if (item && res.error.code != CBOR_ERR_NONE) {
        cbor_decref(&item);
        return NULL;
    }
    if (item)
        *read = res.read;
    return item;
}

static int malformed(fcu_error *err, const char *why)
{
    char text[256];
    snprintf(text, sizeof(text), "malformed device response: %s", why);
    return fcu__fail(err, FCU_STATUS_GENERAL, text);
}

static bool key_is(cbor_item_t *key, const char *name)
{
    size_t n = strlen(name);
    return cbor_isa_string(key) && cbor_string_is_definite(key) && cbor_string_length(key) == n &&
           memcmp(cbor_string_handle(key), name, n) == 0;
}

/* Copies a text (or, for SchemeVersion, byte) string into a NUL-terminated buffer; definite
 * and chunked strings are both accepted. Returns NULL on a wrong type or embedded NUL. */
static char *string_copy(cbor_item_t *item, bool allow_bytes)
{
    bool text = cbor_isa_string(item);
    if (!text && !(allow_bytes && cbor_isa_bytestring(item)))
        return NULL;
    size_t total = 0;
    size_t nchunks = 1;
    cbor_item_t **chunks = NULL;
    bool definite = text ? cbor_string_is_definite(item) : cbor_bytestring_is_definite(item);
    if (!definite) {
        nchunks = text ? cbor_string_chunk_count(item) : cbor_bytestring_chunk_count(item);
        chunks = text ? cbor_string_chunks_handle(item) : cbor_bytestring_chunks_handle(item);
    }
    for (size_t i = 0; i < nchunks; i++) {
        cbor_item_t *c = definite ? item : chunks[i];
        total += text ? cbor_string_length(c) : cbor_bytestring_length(c);
    }
    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    size_t pos = 0;
    for (size_t i = 0; i < nchunks; i++) {
        cbor_item_t *c = definite ? item : chunks[i];
        size_t n = text ? cbor_string_length(c) : cbor_bytestring_length(c);
        const unsigned char *h = text ? cbor_string_handle(c) : cbor_bytestring_handle(c);
        if (n)
            memcpy(out + pos, h, n);
        pos += n;
    }
    out[pos] = '\0';
    if (strlen(out) != pos) {
        free(out);
        return NULL;
    }
    return out;
}

static int parse_csrs(cbor_item_t *arr, fcu_response *out, fcu_error *err)
{
    if (!cbor_isa_array(arr))
        return malformed(err, "Csrs is not an array");
    size_t n = cbor_array_size(arr);
    if (n > FCC_MAX_CSR_REQUESTS)
        return malformed(err, "too many CSRs");
    out->has_csrs = true;
    out->csrs = calloc(n ? n : 1, sizeof(*out->csrs));
    if (!out->csrs)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    cbor_item_t **items = cbor_array_handle(arr);
    for (size_t i = 0; i < n; i++) {
        cbor_item_t *m = items[i];
        out->csr_count = i + 1;
        if (!cbor_isa_map(m))
            return malformed(err, "CSR entry is not a map");
        struct cbor_pair *pairs = cbor_map_handle(m);
        for (size_t j = 0; j < cbor_map_size(m); j++) {
            if (key_is(pairs[j].key, FCC_FIELD_PRIVATE_KEY_NAME)) {
                free(out->csrs[i].key_name);
                out->csrs[i].key_name = string_copy(pairs[j].value, false);
                if (!out->csrs[i].key_name)
                    return malformed(err, "CSR key name is not text");
            } else if (key_is(pairs[j].key, FCC_FIELD_DATA)) {
                cbor_item_t *v = pairs[j].value;
                if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v))
                    return malformed(err, "CSR data is not a byte string");
                size_t len = cbor_bytestring_length(v);
                free(out->csrs[i].der);
                out->csrs[i].der = malloc(len ? len : 1);
                if (!out->csrs[i].der)
                    return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
                if (len)
                    memcpy(out->csrs[i].der, cbor_bytestring_handle(v), len);
                out->csrs[i].der_len = len;
            }
        }
        if (!out->csrs[i].key_name || !out->csrs[i].der)
            return malformed(err, "CSR entry lacks PrKN or Data");
    }
    return 0;
}

static int parse_return_status(cbor_item_t *v, fcu_response *out, fcu_error *err)
{
    int rc = 0;
    if (cbor_isa_uint(v) || cbor_isa_negint(v)) {
        uint64_t x = cbor_get_int(v);
        if (x > INT32_MAX)
            rc = malformed(err, "ReturnStatus out of range");
        out->return_status = cbor_isa_uint(v) ? (int64_t)x : -1 - (int64_t)x;
    } else {
        rc = malformed(err, "ReturnStatus is not an integer");
    }
    out->has_status = true;
    return rc;
}

/* The text field of out that key names (SchemeVersion may also be a byte string), or NULL. */
static char **text_field(cbor_item_t *k, fcu_response *out, bool *allow_bytes)
{
    *allow_bytes = false;
    if (key_is(k, FCC_GROUP_SCHEME_VERSION)) {
        *allow_bytes = true;
        return &out->scheme_version;
    }
    if (key_is(k, FCC_GROUP_SESSION_ID))
        return &out->session_id;
    if (key_is(k, FCC_RESP_INFO_MESSAGE))
        return &out->info_message;
    if (key_is(k, FCC_RESP_WARNING_INFO))
        return &out->warning_info;
    return NULL;
}

static int parse_pair(cbor_item_t *k, cbor_item_t *v, fcu_response *out, fcu_error *err)
{
    bool allow_bytes;
    char **target = text_field(k, out, &allow_bytes);
    if (target) {
        free(*target);
        *target = string_copy(v, allow_bytes);
        return *target ? 0 : malformed(err, "a text field has the wrong type");
    }
    if (key_is(k, FCC_RESP_RETURN_STATUS))
        return parse_return_status(v, out, err);
    if (key_is(k, FCC_RESP_CSRS))
        return out->has_csrs ? malformed(err, "Csrs appears twice") : parse_csrs(v, out, err);
    return 0;
}

int fcu__response_parse(const uint8_t *data, size_t len, fcu_response *out, fcu_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return malformed(err, "empty");
    if (len > FCU_RESPONSE_MAX_BYTES)
        return malformed(err, "larger than any device answer");
    size_t read = 0;
    cbor_item_t *root = fcu__cbor_load_bounded(data, len, &read);
    if (!root)
        return malformed(err, "not CBOR");
    int rc = 0;
    if (read != len)
        rc = malformed(err, "trailing bytes after the answer");
    else if (!cbor_isa_map(root))
        rc = malformed(err, "not a map");
    struct cbor_pair *pairs = rc == 0 ? cbor_map_handle(root) : NULL;
    for (size_t i = 0; rc == 0 && i < cbor_map_size(root); i++)
        rc = parse_pair(pairs[i].key, pairs[i].value, out, err);
    cbor_decref(&root);
    if (rc)
        fcu__response_free(out);
    return rc;
}

void fcu__response_free(fcu_response *r)
{
    if (!r)
        return;
    free(r->scheme_version);
    free(r->session_id);
    free(r->info_message);
    free(r->warning_info);
    for (size_t i = 0; i < r->csr_count; i++) {
        free(r->csrs[i].key_name);
        free(r->csrs[i].der);
    }
    free(r->csrs);
    memset(r, 0, sizeof(*r));
}
