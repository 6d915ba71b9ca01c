#include "ledger_cbor.h"

#include <string.h>

bool lc_get_head(lc_reader *r, unsigned *major, uint64_t *value)
{
    if (r->pos >= r->len) {
        return false;
    }
    uint8_t first = r->data[r->pos++];
    unsigned info = first & 0x1f;
    *major = first >> 5;
    if (info < 24) {
        *value = info;
        return true;
    }
    if (info > 27) {
        return false; /* reserved, or indefinite length */
    }
    size_t bytes = (size_t)1 << (info - 24);
    if (bytes > r->len - r->pos) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = (v << 8) | r->data[r->pos++];
    }
    /* Shortest form: each width only for values the narrower ones cannot carry. */
    static const uint64_t floor_of[] = {24, 0x100, 0x10000, 0x100000000ull};
    if (v < floor_of[info - 24]) {
        return false;
    }
    *value = v;
    return true;
}

bool lc_get_uint(lc_reader *r, uint64_t *value)
{
    unsigned major;
    return lc_get_head(r, &major, value) && major == LC_UINT;
}

static bool get_string(lc_reader *r, unsigned want, uint8_t *out, size_t max, size_t *len)
{
    unsigned major;
    uint64_t n;
    if (!lc_get_head(r, &major, &n) || major != want || n > max || n > r->len - r->pos) {
        return false;
    }
    memcpy(out, r->data + r->pos, (size_t)n);
    r->pos += (size_t)n;
    *len = (size_t)n;
    return true;
}

bool lc_get_bytes(lc_reader *r, uint8_t *out, size_t max, size_t *len)
{
    return get_string(r, LC_BYTES, out, max, len);
}

bool lc_get_text(lc_reader *r, char *out, size_t max)
{
    size_t len;
    if (!get_string(r, LC_TEXT, (uint8_t *)out, max, &len) ||
        !lc_utf8_valid((const uint8_t *)out, len)) {
        return false;
    }
    out[len] = '\0';
    return true;
}

/* Number of continuation bytes after lead byte c, or -1 when c cannot start a character. */
static int utf8_tail(uint8_t c)
{
    if (c < 0x80) {
        return 0;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        return 1;
    }
    if (c >= 0xe0 && c <= 0xef) {
        return 2;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        return 3;
    }
    return -1;
}

bool lc_utf8_valid(const uint8_t *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = text[i];
        int tail = utf8_tail(c);
        if (c == 0 || tail < 0 || (size_t)tail > len - i - 1) {
            return false;
        }
        uint32_t cp = tail == 0 ? c : (uint32_t)(c & (0x3f >> tail));
        for (int k = 1; k <= tail; k++) {
            if ((text[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (text[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        static const uint32_t min_of[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_of[tail] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
            return false;
        }
        i += (size_t)tail + 1;
    }
    return true;
}
