/* A pull reader over libcbor's streaming decoder: one data item head at a time, strings
 * returned as pointers into the caller's buffer. No allocation, no item tree. */
#ifndef KILN_CBOR_READER_H
#define KILN_CBOR_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CR_UINT,
    CR_NEGINT, /* value = -1 - u */
    CR_BYTES,
    CR_TEXT,
    CR_BYTES_INDEF,
    CR_TEXT_INDEF,
    CR_ARRAY,
    CR_ARRAY_INDEF,
    CR_MAP,
    CR_MAP_INDEF,
    CR_TAG,
    CR_SIMPLE, /* true, false, null, undefined, floats */
    CR_BREAK
} cr_kind;

typedef struct cr_token {
    cr_kind kind;
    uint64_t u;         /* integer value, tag number, or container size */
    const uint8_t *ptr; /* definite strings */
    size_t len;
} cr_token;

typedef struct cr_reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} cr_reader;

#define CR_MAX_DEPTH 16

void cr_init(cr_reader *r, const uint8_t *buf, size_t len);
/** Reads the next head. Returns 0, or -1 on malformed or truncated input. */
int cr_next(cr_reader *r, cr_token *t);
/** Skips the rest of the item whose head t was just read (contents of containers, tagged
 *  item, chunks of indefinite strings). Returns 0 or -1 (malformed, too deep). */
int cr_skip(cr_reader *r, const cr_token *t);
/** Reads and skips one whole item. */
int cr_skip_item(cr_reader *r);
/** True when t is a text string equal to s. */
bool cr_text_is(const cr_token *t, const char *s);

#endif
