#include "cbor_reader.h"

#include <cbor.h>
#include <string.h>

static void on_uint8(void *ctx, uint8_t v)
{
    cr_token *t = ctx;
    t->kind = CR_UINT;
    t->u = v;
}
static void on_uint16(void *ctx, uint16_t v)
{
    on_uint8(ctx, 0);
    ((cr_token *)ctx)->u = v;
}
static void on_uint32(void *ctx, uint32_t v)
{
    on_uint8(ctx, 0);
    ((cr_token *)ctx)->u = v;
}
static void on_uint64(void *ctx, uint64_t v)
{
    on_uint8(ctx, 0);
    ((cr_token *)ctx)->u = v;
}
static void set_neg(void *ctx, uint64_t v)
{
    cr_token *t = ctx;
    t->kind = CR_NEGINT;
    t->u = v;
}
static void on_neg8(void *ctx, uint8_t v)
{
    set_neg(ctx, v);
}
static void on_neg16(void *ctx, uint16_t v)
{
    set_neg(ctx, v);
}
static void on_neg32(void *ctx, uint32_t v)
{
    set_neg(ctx, v);
}
static void on_neg64(void *ctx, uint64_t v)
{
    set_neg(ctx, v);
}
static void on_bytes(void *ctx, cbor_data data, size_t len)
{
    cr_token *t = ctx;
    t->kind = CR_BYTES;
    t->ptr = data;
    t->len = len;
}
static void on_text(void *ctx, cbor_data data, size_t len)
{
    on_bytes(ctx, data, len);
    ((cr_token *)ctx)->kind = CR_TEXT;
}
static void on_bytes_indef(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_BYTES_INDEF;
}
static void on_text_indef(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_TEXT_INDEF;
}
static void on_array(void *ctx, size_t n)
{
    cr_token *t = ctx;
    t->kind = CR_ARRAY;
    t->u = n;
}
static void on_array_indef(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_ARRAY_INDEF;
}
static void on_map(void *ctx, size_t n)
{
    cr_token *t = ctx;
    t->kind = CR_MAP;
    t->u = n;
}
static void on_map_indef(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_MAP_INDEF;
}
static void on_tag(void *ctx, uint64_t v)
{
    cr_token *t = ctx;
    t->kind = CR_TAG;
    t->u = v;
}
static void on_simple(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_SIMPLE;
}
static void on_float(void *ctx, float v)
{
    (void)v;
    on_simple(ctx);
}
static void on_double(void *ctx, double v)
{
    (void)v;
    on_simple(ctx);
}
static void on_bool(void *ctx, bool v)
{
    (void)v;
    on_simple(ctx);
}
static void on_break(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_BREAK;
}

static const struct cbor_callbacks reader_callbacks = {
    .uint8 = on_uint8,
    .uint16 = on_uint16,
    .uint32 = on_uint32,
    .uint64 = on_uint64,
    .negint8 = on_neg8,
    .negint16 = on_neg16,
    .negint32 = on_neg32,
    .negint64 = on_neg64,
    .byte_string_start = on_bytes_indef,
    .byte_string = on_bytes,
    .string = on_text,
    .string_start = on_text_indef,
    .indef_array_start = on_array_indef,
    .array_start = on_array,
    .indef_map_start = on_map_indef,
    .map_start = on_map,
    .tag = on_tag,
    .float2 = on_float,
    .float4 = on_float,
    .float8 = on_double,
    .undefined = on_simple,
    .null = on_simple,
    .boolean = on_bool,
    .indef_break = on_break,
};

void cr_init(cr_reader *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

int cr_next(cr_reader *r, cr_token *t)
{
    memset(t, 0, sizeof(*t));
    if (r->pos >= r->len) {
        return -1;
    }
    t->kind = CR_BREAK + 1; /* marks "no callback ran" */
    struct cbor_decoder_result res =
        cbor_stream_decode(r->buf + r->pos, r->len - r->pos, &reader_callbacks, t);
    if (res.status != CBOR_DECODER_FINISHED || res.read == 0 || t->kind > CR_BREAK) {
        return -1;
    }
    r->pos += res.read;
    return 0;
}

static bool is_open_ended(cr_kind k)
{
    return k == CR_ARRAY_INDEF || k == CR_MAP_INDEF || k == CR_BYTES_INDEF || k == CR_TEXT_INDEF;
}

int cr_skip(cr_reader *r, const cr_token *first)
{
    /* Elements left per open container (UINT64_MAX: indefinite, ends with a break) and,
     * for indefinite strings, the only chunk kind allowed inside. */
    uint64_t remaining[CR_MAX_DEPTH];
    cr_kind chunk_kind[CR_MAX_DEPTH];
    int depth = 0;
    cr_token t = *first;

    for (;;) {
        /* t is the head of an element that has just been read. */
        while (t.kind == CR_TAG) {
            if (cr_next(r, &t) != 0) {
                return -1;
            }
        }
        if (t.kind == CR_BREAK) {
            return -1;
        }
        bool opened = false;
        if ((t.kind == CR_ARRAY || t.kind == CR_MAP) && t.u > 0) {
            if (depth == CR_MAX_DEPTH || (t.kind == CR_MAP && t.u > UINT64_MAX / 4)) {
                return -1;
            }
            uint64_t items = t.kind == CR_MAP ? t.u * 2 : t.u;
            if (items > r->len - r->pos) {
                return -1; /* every element needs at least one byte */
            }
            chunk_kind[depth] = CR_BREAK;
            remaining[depth++] = items;
            opened = true;
        } else if (is_open_ended(t.kind)) {
            if (depth == CR_MAX_DEPTH) {
                return -1;
            }
            chunk_kind[depth] = t.kind == CR_BYTES_INDEF  ? CR_BYTES
                                : t.kind == CR_TEXT_INDEF ? CR_TEXT
                                                          : CR_BREAK;
            remaining[depth++] = UINT64_MAX;
            opened = true;
        }
        if (!opened) {
            /* A complete element: close every definite container it completed. */
            while (depth > 0 && remaining[depth - 1] == 0) {
                depth--;
            }
        }
        for (;;) {
            if (depth == 0) {
                return 0;
            }
            if (cr_next(r, &t) != 0) {
                return -1;
            }
            if (t.kind != CR_BREAK) {
                break;
            }
            if (remaining[depth - 1] != UINT64_MAX) {
                return -1;
            }
            depth--; /* an indefinite container ended: it is a complete element */
            while (depth > 0 && remaining[depth - 1] == 0) {
                depth--;
            }
        }
        if (chunk_kind[depth - 1] != CR_BREAK && t.kind != chunk_kind[depth - 1]) {
            return -1; /* chunks of an indefinite string must be definite strings of its type */
        }
        if (remaining[depth - 1] != UINT64_MAX) {
            remaining[depth - 1]--;
        }
    }
}

int cr_skip_item(cr_reader *r)
{
    cr_token t;
    if (cr_next(r, &t) != 0) {
        return -1;
    }
    return cr_skip(r, &t);
}

bool cr_text_is(const cr_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->kind == CR_TEXT && t->len == n && memcmp(t->ptr, s, n) == 0;
}
