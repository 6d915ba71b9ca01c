/* Streaming CBOR writer on top of libcbor's encoders: a bundle is written in one pass into a
 * growing buffer, without building an item tree. Errors are sticky and checked once. */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/crypto.h>

#include "fcu_internal.h"

static uint8_t *reserve(fcu_cbuf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        /* not realloc: bundles carry private keys, so the old block is wiped before release */
        uint8_t *d = malloc(cap);
        if (!d) {
            b->failed = true;
            return NULL;
        }
        if (b->data) {
            memcpy(d, b->data, b->len);
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
        b->data = d;
        b->cap = cap;
    }
    return b->data + b->len;
}

#define HEAD(call)                                                                                 \
    do {                                                                                           \
        uint8_t *p = reserve(b, 9);                                                                \
        if (!p)                                                                                    \
            return;                                                                                \
        size_t w = call;                                                                           \
        if (w == 0)                                                                                \
            b->failed = true;                                                                      \
        b->len += w;                                                                               \
    } while (0)

void fcu__cb_map(fcu_cbuf *b, size_t pairs)
{
    HEAD(cbor_encode_map_start(pairs, p, 9));
}

void fcu__cb_array(fcu_cbuf *b, size_t count)
{
    HEAD(cbor_encode_array_start(count, p, 9));
}

void fcu__cb_raw(fcu_cbuf *b, const uint8_t *data, size_t n)
{
    uint8_t *p = reserve(b, n);
    if (!p)
        return;
    if (n)
        memcpy(p, data, n);
    b->len += n;
}

void fcu__cb_text(fcu_cbuf *b, const char *s)
{
    size_t n = strlen(s);
    HEAD(cbor_encode_string_start(n, p, 9));
    fcu__cb_raw(b, (const uint8_t *)s, n);
}

void fcu__cb_bytes(fcu_cbuf *b, const uint8_t *data, size_t n)
{
    HEAD(cbor_encode_bytestring_start(n, p, 9));
    fcu__cb_raw(b, data, n);
}

void fcu__cb_uint(fcu_cbuf *b, uint64_t v)
{
    HEAD(cbor_encode_uint(v, p, 9));
}

void fcu__cb_int(fcu_cbuf *b, int64_t v)
{
    if (v >= 0) {
        fcu__cb_uint(b, (uint64_t)v);
        return;
    }
    HEAD(cbor_encode_negint((uint64_t)(-(v + 1)), p, 9));
}

void fcu__cb_free(fcu_cbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}
