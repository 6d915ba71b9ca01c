/* Reading the part of deterministic CBOR (RFC 8949 section 4.2.1) the ledger uses: unsigned
 * integers, byte strings, UTF-8 text strings and arrays, all with definite lengths and their
 * arguments in the shortest form. The reader refuses everything else, so one value has one
 * encoding. Writing is src/common/bundle_writer.h's (the same shortest, definite forms). */
#ifndef KILN_LEDGER_CBOR_H
#define KILN_LEDGER_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { LC_UINT = 0, LC_BYTES = 2, LC_TEXT = 3, LC_ARRAY = 4 };

typedef struct lc_reader {
    const uint8_t *data;
    size_t len, pos;
} lc_reader;

/** Reads one head; false on truncation, reserved or indefinite lengths, or a longer form than
 *  the value needs. */
bool lc_get_head(lc_reader *r, unsigned *major, uint64_t *value);
bool lc_get_uint(lc_reader *r, uint64_t *value);
/** A byte string of at most max bytes into out. */
bool lc_get_bytes(lc_reader *r, uint8_t *out, size_t max, size_t *len);
/** A text string of at most max bytes, valid UTF-8 without NUL, into out (NUL-terminated). */
bool lc_get_text(lc_reader *r, char *out, size_t max);

/** True when text (len bytes) is well-formed UTF-8 without NUL. */
bool lc_utf8_valid(const uint8_t *text, size_t len);

#endif
