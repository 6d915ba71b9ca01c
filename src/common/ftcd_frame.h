/* FTCD framing: the envelope the factory tool and the device exchange around each CBOR bundle.
 *
 * Request (tool -> device):  "mbedprov" | length (u32 LE) | CBOR | SHA-256(CBOR)
 * Response (device -> tool): "mbedprov" | status (u32 LE) [| length | CBOR | SHA-256(CBOR)]
 * The part in brackets is present only when the status is 0 (FTCD_STATUS_SUCCESS).
 *
 * Both sides link this one module, so the wire format is defined once. Portable C99 (the device
 * links it); the only dependency is Mbed TLS's SHA-256. */
#ifndef KILN_FTCD_FRAME_H
#define KILN_FTCD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FTCD_TOKEN         "mbedprov"
#define FTCD_TOKEN_SIZE    8u
#define FTCD_WORD_SIZE     4u
#define FTCD_DIGEST_SIZE   32u
#define FTCD_REQUEST_HEAD  (FTCD_TOKEN_SIZE + FTCD_WORD_SIZE)
#define FTCD_RESPONSE_HEAD (FTCD_TOKEN_SIZE + 2u * FTCD_WORD_SIZE)
/** Size of a status-only response: token and status. */
#define FTCD_STATUS_FRAME_SIZE (FTCD_TOKEN_SIZE + FTCD_WORD_SIZE)

/** Default refusal threshold for the announced CBOR length (bundles are a few KiB). */
#define FTCD_DEFAULT_MAX_LENGTH (256u * 1024u)

/* The transport's own status enumeration (the original ftcd_comm_status_e). */
#include "kiln/status_ftcd.def"

typedef enum ftcd_status {
    FTCD_STATUS_MAP(FTCD_STATUS_ENUMERATOR) FTCD_STATUS_MAX = 15
} ftcd_status;

/** "FAILED_TO_READ_MESSAGE_SIZE" for 4; "UNKNOWN" for a value outside 0..15. */
const char *ftcd_status_name(uint32_t status);
/** Human-readable text for a status; "unknown transport status" outside 0..15. */
const char *ftcd_status_text(uint32_t status);

/** Bytes needed for a request carrying cbor_len bytes of CBOR (0 if it cannot be framed). */
size_t ftcd_request_size(size_t cbor_len);
/** Bytes needed for a response with this status (status-only when status != 0). */
size_t ftcd_response_size(uint32_t status, size_t cbor_len);

/** Writes a request frame into out. Returns FTCD_STATUS_INVALID_PARAMETER for an empty or
 *  oversized message, FTCD_STATUS_MEMORY_OUT when out_size is too small (then *out_len holds the
 *  size needed; out may be NULL with out_size 0 to query it). */
ftcd_status ftcd_encode_request(const uint8_t *cbor, size_t cbor_len, uint8_t *out, size_t out_size,
                                size_t *out_len);
/** Writes a response frame: the full form for status 0 (cbor must be non-empty), the
 *  status-only form otherwise (cbor ignored). Errors as ftcd_encode_request. */
ftcd_status ftcd_encode_response(uint32_t status, const uint8_t *cbor, size_t cbor_len,
                                 uint8_t *out, size_t out_size, size_t *out_len);
/** Completes a status-0 response in place, for an answer written straight into its frame: the
 *  cbor_len bytes of CBOR are already at out + FTCD_RESPONSE_HEAD; this adds token, status,
 *  length and digest around them. Errors as ftcd_encode_response. */
ftcd_status ftcd_seal_response(uint8_t *out, size_t out_size, size_t cbor_len, size_t *out_len);

typedef enum ftcd_frame_kind {
    FTCD_KIND_REQUEST,  /* read by the device */
    FTCD_KIND_RESPONSE, /* read by the factory tool */
} ftcd_frame_kind;

typedef enum ftcd_read_result {
    FTCD_READ_MORE,  /* everything offered was consumed; feed more bytes */
    FTCD_READ_FRAME, /* a complete, digest-checked frame is ready: ftcd_reader_take() */
    FTCD_READ_ERROR, /* the frame was rejected: ftcd_reader_error() says why */
} ftcd_read_result;

/** A received frame. cbor is malloc'ed and owned by the caller after ftcd_reader_take()
 *  (NULL for a status-only response). */
typedef struct ftcd_frame {
    uint32_t status; /* always 0 for a request */
    uint8_t *cbor;
    size_t cbor_len;
} ftcd_frame;

/* Incremental frame reader. Bytes may arrive in any chunking; the reader scans for the token
 * (discarding anything else, including a token broken by garbage), refuses an announced length
 * of 0 or above max_length before allocating anything, and checks the SHA-256 while the CBOR
 * arrives. Fields are private. */
typedef struct ftcd_reader {
    ftcd_frame_kind kind;
    uint32_t max_length;
    int state;
    size_t token_matched;
    uint8_t word[FTCD_WORD_SIZE];
    size_t word_fill;
    uint32_t status;
    uint32_t length;
    uint8_t *body;
    size_t body_fill;
    uint8_t *buffer; /* caller-owned CBOR buffer (ftcd_reader_init_buffer), else NULL */
    uint8_t digest[FTCD_DIGEST_SIZE];
    size_t digest_fill;
    mbedtls_sha256_context sha;
    ftcd_status error;
    uint64_t skipped; /* bytes discarded while searching for a token, over the reader's life */
} ftcd_reader;

/** max_length 0 means FTCD_DEFAULT_MAX_LENGTH. Cannot fail. */
void ftcd_reader_init(ftcd_reader *r, ftcd_frame_kind kind, uint32_t max_length);
/** As ftcd_reader_init, but nothing is ever allocated: the CBOR is received into the caller's
 *  buffer, an announced length above buffer_size is refused (FAILED_TO_READ_MESSAGE_SIZE), and
 *  ftcd_reader_take() hands out a frame whose cbor points into buffer. That frame stays valid
 *  until the next feed; do not ftcd_frame_free it, wipe it (it may carry keys) when done. */
void ftcd_reader_init_buffer(ftcd_reader *r, ftcd_frame_kind kind, uint8_t *buffer,
                             size_t buffer_size);
/** Releases a partial frame. Safe on a NULL or already freed reader. */
void ftcd_reader_free(ftcd_reader *r);
/** Drops any partial frame or error and goes back to searching for a token. */
void ftcd_reader_reset(ftcd_reader *r);

/** Offers len bytes; *consumed says how many were used (the rest belong to the next frame:
 *  offer them again after take/reset). After FTCD_READ_ERROR the reader stays in error until
 *  ftcd_reader_reset(). */
ftcd_read_result ftcd_reader_feed(ftcd_reader *r, const uint8_t *data, size_t len,
                                  size_t *consumed);
/** Moves the complete frame out and resets the reader for the next frame. */
void ftcd_reader_take(ftcd_reader *r, ftcd_frame *out);
/** Why the last frame was rejected: FAILED_TO_READ_MESSAGE_SIZE (length 0 or too large),
 *  INCONSISTENT_MESSAGE_SIGNATURE or MEMORY_OUT. */
ftcd_status ftcd_reader_error(const ftcd_reader *r);

/** True once a whole token has been matched and the frame is not finished. */
bool ftcd_reader_in_frame(const ftcd_reader *r);
/** What the end of the stream cut short: FTCD_STATUS_SUCCESS when no frame was started (a partial
 *  token does not count), else NETWORK_CONNECTION_CLOSED inside a response status,
 *  FAILED_TO_READ_MESSAGE_SIZE inside the length, _BYTES inside the CBOR, _SIGNATURE inside the
 *  digest. */
ftcd_status ftcd_reader_truncation(const ftcd_reader *r);
/** Bytes discarded while searching for tokens since init. */
uint64_t ftcd_reader_skipped(const ftcd_reader *r);

void ftcd_frame_free(ftcd_frame *f);

#ifdef __cplusplus
}
#endif
#endif
