#include "cbor_reader.h"

#include <cbor.h>
#include <string.h>

/* libcbor 0.9 widened the length arguments of its callbacks from size_t to uint64_t; the two are
 * one type on 64-bit hosts, not on a 32-bit microcontroller. */
#if CBOR_MAJOR_VERSION > 0 || CBOR_MINOR_VERSION >= 9
typedef uint64_t cr_wire_len;
#else
typedef size_t cr_wire_len;
#endif

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
static void on_bytes(void *ctx, cbor_data data, cr_wire_len len)
{
    cr_token *t = ctx;
    t->kind = CR_BYTES;
    t->ptr = data;
    /* The decoder hands over a string only when all of it lies in the buffer, so it fits. */
    t->len = (size_t)len;
}
static void on_text(void *ctx, cbor_data data, cr_wire_len len)
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
static void on_array(void *ctx, cr_wire_len n)
{
    cr_token *t = ctx;
    t->kind = CR_ARRAY;
    t->u = n;
}
static void on_array_indef(void *ctx)
{
    ((cr_token *)ctx)->kind = CR_ARRAY_INDEF;
}
static void on_map(void *ctx, cr_wire_len n)
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

/* The containers cr_skip is inside: elements left in each (UINT64_MAX: indefinite, ends with a
 * break) and, for indefinite strings, the only chunk kind allowed inside (else CR_BREAK). */
typedef struct skip_stack {
    uint64_t remaining[CR_MAX_DEPTH];
    cr_kind chunk_kind[CR_MAX_DEPTH];
    int depth;
} skip_stack;

/* An element is complete: close every definite container it completed. */
static void close_completed(skip_stack *s)
{
    while (s->depth > 0 && s->remaining[s->depth - 1] == 0) {
        s->depth--;
    }
}

/* Opens t when it is a non-empty container or an indefinite string: 1 opened, 0 t is a whole
 * element, -1 malformed or too deep. */
static int open_nested(skip_stack *s, const cr_reader *r, const cr_token *t)
{
    uint64_t items = UINT64_MAX;
    cr_kind chunk = CR_BREAK;
    if ((t->kind == CR_ARRAY || t->kind == CR_MAP) && t->u > 0) {
        if (t->kind == CR_MAP && t->u > UINT64_MAX / 4) {
            return -1;
        }
        items = t->kind == CR_MAP ? t->u * 2 : t->u;
        if (items > r->len - r->pos) {
            return -1; /* every element needs at least one byte */
        }
    } else if (t->kind == CR_BYTES_INDEF || t->kind == CR_TEXT_INDEF) {
        chunk = t->kind == CR_BYTES_INDEF ? CR_BYTES : CR_TEXT;
    } else if (t->kind != CR_ARRAY_INDEF && t->kind != CR_MAP_INDEF) {
        return 0;
    }
    if (s->depth == CR_MAX_DEPTH) {
        return -1;
    }
    s->chunk_kind[s->depth] = chunk;
    s->remaining[s->depth++] = items;
    return 1;
}

/* Reads into t the head of the next element of the innermost open container, closing the
 * indefinite ones that end on the way: 0 read, 1 nothing is open any more, -1 malformed. */
static int next_element(cr_reader *r, skip_stack *s, cr_token *t)
{
    for (;;) {
        if (s->depth == 0) {
            return 1;
        }
        if (cr_next(r, t) != 0) {
            return -1;
        }
        if (t->kind != CR_BREAK) {
            break;
        }
        if (s->remaining[s->depth - 1] != UINT64_MAX) {
            return -1;
        }
        s->depth--; /* an indefinite container ended: it is a complete element */
        close_completed(s);
    }
    cr_kind chunk = s->chunk_kind[s->depth - 1];
    if (chunk != CR_BREAK && t->kind != chunk) {
        return -1; /* chunks of an indefinite string must be definite strings of its type */
    }
    if (s->remaining[s->depth - 1] != UINT64_MAX) {
        s->remaining[s->depth - 1]--;
    }
    return 0;
}

int cr_skip(cr_reader *r, const cr_token *first)
{
    skip_stack s;
    s.depth = 0;
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
        int opened = open_nested(&s, r, &t);
        if (opened < 0) {
            return -1;
        }
        if (opened == 0) {
            close_completed(&s);
        }
        int rc = next_element(r, &s, &t);
        if (rc != 0) {
            return rc > 0 ? 0 : -1;
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
