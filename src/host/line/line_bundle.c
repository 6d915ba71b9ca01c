#include "line_bundle.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cbor.h>
#include <openssl/crypto.h>

#include "fcc_bundle_fields.h"

/* The decoded copy holds the bundle's private keys: wiped before it is freed. */
static void scrub(cbor_item_t *item)
{
    if (cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item)) {
        OPENSSL_cleanse(cbor_bytestring_handle(item), cbor_bytestring_length(item));
    } else if (cbor_isa_bytestring(item)) {
        for (size_t i = 0; i < cbor_bytestring_chunk_count(item); i++) {
            scrub(cbor_bytestring_chunks_handle(item)[i]);
        }
    } else if (cbor_isa_string(item) && cbor_string_is_definite(item)) {
        OPENSSL_cleanse(cbor_string_handle(item), cbor_string_length(item));
    } else if (cbor_isa_string(item)) {
        for (size_t i = 0; i < cbor_string_chunk_count(item); i++) {
            scrub(cbor_string_chunks_handle(item)[i]);
        }
    } else if (cbor_isa_array(item)) {
        for (size_t i = 0; i < cbor_array_size(item); i++) {
            scrub(cbor_array_handle(item)[i]);
        }
    } else if (cbor_isa_map(item)) {
        for (size_t i = 0; i < cbor_map_size(item); i++) {
            scrub(cbor_map_handle(item)[i].key);
            scrub(cbor_map_handle(item)[i].value);
        }
    } else if (cbor_isa_tag(item)) {
        scrub(cbor_tag_item(item));
    }
}

static bool is_text(const cbor_item_t *item, const char *text)
{
    size_t n = strlen(text);
    return item != NULL && cbor_isa_string(item) && cbor_string_is_definite(item) &&
           cbor_string_length(item) == n && memcmp(cbor_string_handle(item), text, n) == 0;
}

/* The SchemeVersion of a top-level map: a text string, or the byte string some writers use. */
static bool scheme_ok(cbor_item_t *map)
{
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        struct cbor_pair p = cbor_map_handle(map)[i];
        if (!is_text(p.key, FCC_GROUP_SCHEME_VERSION)) {
            continue;
        }
        const char *want = FCC_BUNDLE_SCHEME_VERSION;
        size_t n = strlen(want);
        return is_text(p.value, want) ||
               (cbor_isa_bytestring(p.value) && cbor_bytestring_is_definite(p.value) &&
                cbor_bytestring_length(p.value) == n &&
                memcmp(cbor_bytestring_handle(p.value), want, n) == 0);
    }
    return false;
}

int line_bundle_check(const uint8_t *data, size_t len, char *why, size_t why_size)
{
    struct cbor_load_result result;
    cbor_item_t *item = len > 0 ? cbor_load(data, len, &result) : NULL;
    int rc = -1;
    if (len == 0) {
        snprintf(why, why_size, "the file is empty");
    } else if (item == NULL) {
        snprintf(why, why_size, "not well-formed CBOR (truncated or corrupt at byte %zu of %zu)",
                 result.error.position, len);
    } else if (result.read != len) {
        snprintf(why, why_size, "%zu bytes after the bundle's CBOR item", len - result.read);
    } else if (!cbor_isa_map(item)) {
        snprintf(why, why_size, "the CBOR item is not a map");
    } else if (!scheme_ok(item)) {
        snprintf(why, why_size, "no %s %s", FCC_GROUP_SCHEME_VERSION, FCC_BUNDLE_SCHEME_VERSION);
    } else {
        rc = 0;
    }
    if (item != NULL) {
        scrub(item);
        cbor_decref(&item);
    }
    return rc;
}
