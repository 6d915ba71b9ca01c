#include "ftcd_frame.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

enum reader_state {
    STATE_TOKEN,
    STATE_STATUS, /* responses only */
    STATE_LENGTH,
    STATE_BODY,
    STATE_DIGEST,
    STATE_DONE,
    STATE_ERROR,
};

static const uint8_t token_bytes[FTCD_TOKEN_SIZE] = {'m', 'b', 'e', 'd', 'p', 'r', 'o', 'v'};

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int sha256(const uint8_t *data, size_t len, uint8_t out[FTCD_DIGEST_SIZE])
{
    return mbedtls_sha256_ret(data, len, out, 0);
}

size_t ftcd_request_size(size_t cbor_len)
{
    if (cbor_len == 0 || cbor_len > UINT32_MAX) {
        return 0;
    }
    return FTCD_REQUEST_HEAD + cbor_len + FTCD_DIGEST_SIZE;
}

size_t ftcd_response_size(uint32_t status, size_t cbor_len)
{
    if (status != FTCD_STATUS_SUCCESS) {
        return FTCD_STATUS_FRAME_SIZE;
    }
    if (cbor_len == 0 || cbor_len > UINT32_MAX) {
        return 0;
    }
    return FTCD_RESPONSE_HEAD + cbor_len + FTCD_DIGEST_SIZE;
}

static ftcd_status encode_body(uint8_t *p, const uint8_t *cbor, size_t cbor_len)
{
    put_le32(p, (uint32_t)cbor_len);
    memcpy(p + FTCD_WORD_SIZE, cbor, cbor_len);
    if (sha256(cbor, cbor_len, p + FTCD_WORD_SIZE + cbor_len) != 0) {
        return FTCD_STATUS_FAILED_TO_CALCULATE_MESSAGE_SIGNATURE;
    }
    return FTCD_STATUS_SUCCESS;
}

ftcd_status ftcd_encode_request(const uint8_t *cbor, size_t cbor_len, uint8_t *out, size_t out_size,
                                size_t *out_len)
{
    size_t need = ftcd_request_size(cbor_len);
    if (out_len == NULL || need == 0 || cbor == NULL) {
        return FTCD_STATUS_INVALID_PARAMETER;
    }
    *out_len = need;
    if (out == NULL || out_size < need) {
        return FTCD_STATUS_MEMORY_OUT;
    }
    memcpy(out, token_bytes, FTCD_TOKEN_SIZE);
    return encode_body(out + FTCD_TOKEN_SIZE, cbor, cbor_len);
}

ftcd_status ftcd_encode_response(uint32_t status, const uint8_t *cbor, size_t cbor_len,
                                 uint8_t *out, size_t out_size, size_t *out_len)
{
    size_t need = ftcd_response_size(status, cbor_len);
    if (out_len == NULL || need == 0 || (status == FTCD_STATUS_SUCCESS && cbor == NULL)) {
        return FTCD_STATUS_INVALID_PARAMETER;
    }
    *out_len = need;
    if (out == NULL || out_size < need) {
        return FTCD_STATUS_MEMORY_OUT;
    }
    memcpy(out, token_bytes, FTCD_TOKEN_SIZE);
    put_le32(out + FTCD_TOKEN_SIZE, status);
    if (status != FTCD_STATUS_SUCCESS) {
        return FTCD_STATUS_SUCCESS;
    }
    return encode_body(out + FTCD_STATUS_FRAME_SIZE, cbor, cbor_len);
}

ftcd_status ftcd_seal_response(uint8_t *out, size_t out_size, size_t cbor_len, size_t *out_len)
{
    size_t need = ftcd_response_size(FTCD_STATUS_SUCCESS, cbor_len);
    if (out_len == NULL || need == 0) {
        return FTCD_STATUS_INVALID_PARAMETER;
    }
    *out_len = need;
    if (out == NULL || out_size < need) {
        return FTCD_STATUS_MEMORY_OUT;
    }
    memcpy(out, token_bytes, FTCD_TOKEN_SIZE);
    put_le32(out + FTCD_TOKEN_SIZE, FTCD_STATUS_SUCCESS);
    put_le32(out + FTCD_STATUS_FRAME_SIZE, (uint32_t)cbor_len);
    if (sha256(out + FTCD_RESPONSE_HEAD, cbor_len, out + FTCD_RESPONSE_HEAD + cbor_len) != 0) {
        return FTCD_STATUS_FAILED_TO_CALCULATE_MESSAGE_SIGNATURE;
    }
    return FTCD_STATUS_SUCCESS;
}

static void release_body(ftcd_reader *r)
{
    if (r->body != NULL) {
        /* Bundles carry private keys: never leave them in freed heap memory. */
        mbedtls_platform_zeroize(r->body, r->length);
        if (r->buffer == NULL) {
            free(r->body);
        }
        r->body = NULL;
    }
    r->body_fill = 0;
}

static void restart(ftcd_reader *r)
{
    release_body(r);
    mbedtls_sha256_free(&r->sha);
    r->state = STATE_TOKEN;
    r->token_matched = 0;
    r->word_fill = 0;
    r->status = 0;
    r->length = 0;
    r->digest_fill = 0;
    r->error = FTCD_STATUS_SUCCESS;
}

void ftcd_reader_init(ftcd_reader *r, ftcd_frame_kind kind, uint32_t max_length)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->max_length = max_length != 0 ? max_length : FTCD_DEFAULT_MAX_LENGTH;
    mbedtls_sha256_init(&r->sha);
    r->state = STATE_TOKEN;
}

void ftcd_reader_init_buffer(ftcd_reader *r, ftcd_frame_kind kind, uint8_t *buffer,
                             size_t buffer_size)
{
    ftcd_reader_init(r, kind, 1);
    /* Set directly: 0 (an empty buffer) must refuse every frame, not mean the default. */
    r->max_length = buffer_size < UINT32_MAX ? (uint32_t)buffer_size : UINT32_MAX;
    r->buffer = buffer;
}

void ftcd_reader_free(ftcd_reader *r)
{
    if (r == NULL) {
        return;
    }
    restart(r);
}

void ftcd_reader_reset(ftcd_reader *r)
{
    restart(r);
}

/* Length of the longest token prefix that ends the byte sequence token[0..matched) + byte.
 * Unlike the original matcher, the byte that breaks a partial match is tested again, so
 * "mmbedprov" is found. */
static size_t token_advance(size_t matched, uint8_t byte)
{
    if (byte == token_bytes[matched]) {
        return matched + 1;
    }
    for (size_t k = matched; k > 0; k--) {
        /* Candidate: prefix of length k ending with byte, i.e. token[0..k-1) must equal the
         * last k-1 matched bytes and token[k-1] must equal byte. */
        if (token_bytes[k - 1] == byte &&
            memcmp(token_bytes, token_bytes + (matched - (k - 1)), k - 1) == 0) {
            return k;
        }
    }
    return 0;
}

static ftcd_read_result fail(ftcd_reader *r, ftcd_status why)
{
    release_body(r);
    r->state = STATE_ERROR;
    r->error = why;
    return FTCD_READ_ERROR;
}

/* Called when the length word is complete. */
static ftcd_read_result start_body(ftcd_reader *r)
{
    r->length = get_le32(r->word);
    r->word_fill = 0;
    if (r->length == 0 || r->length > r->max_length) {
        return fail(r, FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE);
    }
    r->body = r->buffer != NULL ? r->buffer : malloc(r->length);
    if (r->body == NULL) {
        return fail(r, FTCD_STATUS_MEMORY_OUT);
    }
    r->body_fill = 0;
    mbedtls_sha256_init(&r->sha);
    if (mbedtls_sha256_starts_ret(&r->sha, 0) != 0) {
        return fail(r, FTCD_STATUS_FAILED_TO_CALCULATE_MESSAGE_SIGNATURE);
    }
    r->state = STATE_BODY;
    return FTCD_READ_MORE;
}

static ftcd_read_result check_digest(ftcd_reader *r)
{
    uint8_t computed[FTCD_DIGEST_SIZE];
    if (mbedtls_sha256_finish_ret(&r->sha, computed) != 0) {
        return fail(r, FTCD_STATUS_FAILED_TO_CALCULATE_MESSAGE_SIGNATURE);
    }
    uint8_t diff = 0;
    for (size_t i = 0; i < FTCD_DIGEST_SIZE; i++) {
        diff |= (uint8_t)(computed[i] ^ r->digest[i]);
    }
    if (diff != 0) {
        return fail(r, FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE);
    }
    r->state = STATE_DONE;
    return FTCD_READ_FRAME;
}

/* Each step consumes bytes from data[*pos..len) for the reader's current state. */
static ftcd_read_result feed_token(ftcd_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    (void)len;
    size_t before = r->token_matched;
    r->token_matched = token_advance(r->token_matched, data[*pos]);
    /* Bytes that fall out of a partial match are discarded garbage. */
    r->skipped += before + 1 - r->token_matched;
    (*pos)++;
    if (r->token_matched == FTCD_TOKEN_SIZE) {
        r->state = r->kind == FTCD_KIND_RESPONSE ? STATE_STATUS : STATE_LENGTH;
        r->word_fill = 0;
    }
    return FTCD_READ_MORE;
}

static ftcd_read_result feed_word(ftcd_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    (void)len;
    r->word[r->word_fill++] = data[(*pos)++];
    if (r->word_fill < FTCD_WORD_SIZE) {
        return FTCD_READ_MORE;
    }
    if (r->state == STATE_LENGTH) {
        return start_body(r);
    }
    r->status = get_le32(r->word);
    r->word_fill = 0;
    if (r->status != FTCD_STATUS_SUCCESS) {
        r->state = STATE_DONE;
        return FTCD_READ_FRAME;
    }
    r->state = STATE_LENGTH;
    return FTCD_READ_MORE;
}

static ftcd_read_result feed_body(ftcd_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    size_t want = r->length - r->body_fill;
    size_t n = len - *pos < want ? len - *pos : want;
    memcpy(r->body + r->body_fill, data + *pos, n);
    if (mbedtls_sha256_update_ret(&r->sha, data + *pos, n) != 0) {
        return fail(r, FTCD_STATUS_FAILED_TO_CALCULATE_MESSAGE_SIGNATURE);
    }
    r->body_fill += n;
    *pos += n;
    if (r->body_fill == r->length) {
        r->state = STATE_DIGEST;
        r->digest_fill = 0;
    }
    return FTCD_READ_MORE;
}

static ftcd_read_result feed_digest(ftcd_reader *r, const uint8_t *data, size_t len, size_t *pos)
{
    size_t want = FTCD_DIGEST_SIZE - r->digest_fill;
    size_t n = len - *pos < want ? len - *pos : want;
    memcpy(r->digest + r->digest_fill, data + *pos, n);
    r->digest_fill += n;
    *pos += n;
    if (r->digest_fill == FTCD_DIGEST_SIZE) {
        return check_digest(r);
    }
    return FTCD_READ_MORE;
}

ftcd_read_result ftcd_reader_feed(ftcd_reader *r, const uint8_t *data, size_t len, size_t *consumed)
{
    size_t pos = 0;
    ftcd_read_result result = FTCD_READ_MORE;

    if (r->state == STATE_ERROR || r->state == STATE_DONE) {
        *consumed = 0;
        return r->state == STATE_ERROR ? FTCD_READ_ERROR : FTCD_READ_FRAME;
    }
    while (pos < len && result == FTCD_READ_MORE) {
        switch (r->state) {
        case STATE_TOKEN:
            result = feed_token(r, data, len, &pos);
            break;
        case STATE_STATUS:
        case STATE_LENGTH:
            result = feed_word(r, data, len, &pos);
            break;
        case STATE_BODY:
            result = feed_body(r, data, len, &pos);
            break;
        case STATE_DIGEST:
            result = feed_digest(r, data, len, &pos);
            break;
        default:
            result = fail(r, FTCD_STATUS_INTERNAL_ERROR);
            break;
        }
    }
    *consumed = pos;
    return result;
}

void ftcd_reader_take(ftcd_reader *r, ftcd_frame *out)
{
    if (r->state != STATE_DONE) {
        memset(out, 0, sizeof(*out));
        return;
    }
    out->status = r->status;
    out->cbor = r->body;
    out->cbor_len = r->body != NULL ? r->length : 0;
    r->body = NULL;
    restart(r);
}

ftcd_status ftcd_reader_error(const ftcd_reader *r)
{
    return r->state == STATE_ERROR ? r->error : FTCD_STATUS_SUCCESS;
}

bool ftcd_reader_in_frame(const ftcd_reader *r)
{
    return r->state == STATE_STATUS || r->state == STATE_LENGTH || r->state == STATE_BODY ||
           r->state == STATE_DIGEST;
}

ftcd_status ftcd_reader_truncation(const ftcd_reader *r)
{
    switch (r->state) {
    case STATE_STATUS:
        return FTCD_STATUS_NETWORK_CONNECTION_CLOSED;
    case STATE_LENGTH:
        return FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE;
    case STATE_BODY:
        return FTCD_STATUS_FAILED_TO_READ_MESSAGE_BYTES;
    case STATE_DIGEST:
        return FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIGNATURE;
    default:
        return FTCD_STATUS_SUCCESS;
    }
}

uint64_t ftcd_reader_skipped(const ftcd_reader *r)
{
    return r->skipped;
}

void ftcd_frame_free(ftcd_frame *f)
{
    if (f == NULL) {
        return;
    }
    if (f->cbor != NULL) {
        mbedtls_platform_zeroize(f->cbor, f->cbor_len);
        free(f->cbor);
    }
    f->cbor = NULL;
    f->cbor_len = 0;
}
