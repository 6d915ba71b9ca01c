/* Frame codec: encoder and incremental reader against the bytes recorded from the original
 * listener (tests/data/vectors/ftcd-oracle) and against hand-made broken input. */
#include "ftcd_frame.h"
#include "line_check.h"

static const char *vectors;

static uint8_t *vector(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", vectors, name);
    return check_read_file(path, len);
}

/* Feeds everything in chunks of `step` bytes and collects the frames; returns the number of
 * frames and the reader's state in *last. */
static int feed_all(ftcd_reader *r, const uint8_t *data, size_t len, size_t step,
                    ftcd_frame *frames, int max_frames, ftcd_read_result *last)
{
    int count = 0;
    size_t pos = 0;
    *last = FTCD_READ_MORE;
    while (pos < len) {
        size_t chunk = len - pos < step ? len - pos : step;
        size_t used = 0;
        ftcd_read_result res = ftcd_reader_feed(r, data + pos, chunk, &used);
        pos += used;
        *last = res;
        if (res == FTCD_READ_FRAME) {
            CHECK(count < max_frames);
            ftcd_reader_take(r, &frames[count++]);
        } else if (res == FTCD_READ_ERROR) {
            return count;
        } else {
            CHECK_EQ(used, chunk);
        }
    }
    return count;
}

static void test_encoder_reproduces_original_request(void)
{
    size_t bundle_len, req_len;
    uint8_t *bundle = vector("fcc-oracle/ok_bootstrap_full.req.cbor", &bundle_len);
    uint8_t *req = vector("ftcd-oracle/ok.request.bin", &req_len);
    size_t need = 0;
    CHECK_EQ(ftcd_encode_request(bundle, bundle_len, NULL, 0, &need), FTCD_STATUS_MEMORY_OUT);
    CHECK_EQ(need, req_len);
    CHECK_EQ(ftcd_request_size(bundle_len), req_len);
    uint8_t *out = malloc(need);
    size_t out_len = 0;
    /* One byte short must be refused without writing past the end. */
    CHECK_EQ(ftcd_encode_request(bundle, bundle_len, out, need - 1, &out_len),
             FTCD_STATUS_MEMORY_OUT);
    CHECK_EQ(ftcd_encode_request(bundle, bundle_len, out, need, &out_len), FTCD_STATUS_SUCCESS);
    CHECK_MEM(out, out_len, req, req_len);
    CHECK_EQ(ftcd_encode_request(bundle, 0, out, need, &out_len), FTCD_STATUS_INVALID_PARAMETER);
    free(out);
    free(bundle);
    free(req);
}

static void test_encoder_reproduces_original_responses(void)
{
    size_t answer_len, resp_len, out_len;
    uint8_t *answer = vector("fcc-oracle/ok_bootstrap_full.resp.cbor", &answer_len);
    uint8_t *resp = vector("ftcd-oracle/ok.response.bin", &resp_len);
    uint8_t out[4096];
    CHECK_EQ(ftcd_encode_response(0, answer, answer_len, out, sizeof(out), &out_len),
             FTCD_STATUS_SUCCESS);
    CHECK_MEM(out, out_len, resp, resp_len);

    /* The status-only frame for a factory-disabled device is the tail of disabled.response. */
    uint8_t *disabled = vector("ftcd-oracle/disabled.response.bin", &resp_len);
    CHECK_EQ(ftcd_encode_response(FTCD_STATUS_FAILED_TO_PROCESS_DATA, NULL, 0, out, sizeof(out),
                                  &out_len),
             FTCD_STATUS_SUCCESS);
    CHECK_EQ(out_len, FTCD_STATUS_FRAME_SIZE);
    CHECK_MEM(out, out_len, disabled + resp_len - FTCD_STATUS_FRAME_SIZE, FTCD_STATUS_FRAME_SIZE);
    free(disabled);
    free(answer);
    free(resp);
}

static void test_request_reader_any_chunking(void)
{
    size_t req_len, bundle_len;
    uint8_t *req = vector("ftcd-oracle/keepalive_pipelined.request.bin", &req_len);
    uint8_t *b1 = vector("fcc-oracle/kpalv_two_messages.1.req.cbor", &bundle_len);
    size_t b2_len;
    uint8_t *b2 = vector("fcc-oracle/kpalv_two_messages.2.req.cbor", &b2_len);
    const size_t steps[] = {1, 2, 3, 7, 12, 13, 64, 1000, 100000};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        ftcd_reader r;
        ftcd_frame frames[4];
        ftcd_read_result last;
        ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
        int n = feed_all(&r, req, req_len, steps[i], frames, 4, &last);
        CHECK_EQ(n, 2);
        CHECK_MEM(frames[0].cbor, frames[0].cbor_len, b1, bundle_len);
        CHECK_MEM(frames[1].cbor, frames[1].cbor_len, b2, b2_len);
        CHECK(!ftcd_reader_in_frame(&r));
        CHECK_EQ(ftcd_reader_truncation(&r), FTCD_STATUS_SUCCESS);
        CHECK_EQ(ftcd_reader_skipped(&r), 0);
        ftcd_frame_free(&frames[0]);
        ftcd_frame_free(&frames[1]);
        ftcd_reader_free(&r);
    }
    free(req);
    free(b1);
    free(b2);
}

static void test_response_reader_on_recorded_answers(void)
{
    size_t resp_len, a1_len, a2_len;
    uint8_t *resp = vector("ftcd-oracle/keepalive.response.bin", &resp_len);
    uint8_t *a1 = vector("fcc-oracle/kpalv_two_messages.1.resp.cbor", &a1_len);
    uint8_t *a2 = vector("fcc-oracle/kpalv_two_messages.2.resp.cbor", &a2_len);
    for (size_t step = 1; step <= resp_len; step = step * 3 + 1) {
        ftcd_reader r;
        ftcd_frame frames[4];
        ftcd_read_result last;
        ftcd_reader_init(&r, FTCD_KIND_RESPONSE, 0);
        CHECK_EQ(feed_all(&r, resp, resp_len, step, frames, 4, &last), 2);
        CHECK_EQ(frames[0].status, 0);
        CHECK_MEM(frames[0].cbor, frames[0].cbor_len, a1, a1_len);
        CHECK_MEM(frames[1].cbor, frames[1].cbor_len, a2, a2_len);
        ftcd_frame_free(&frames[0]);
        ftcd_frame_free(&frames[1]);
        ftcd_reader_free(&r);
    }
    /* Full frame then status-only 9. */
    free(resp);
    resp = vector("ftcd-oracle/disabled.response.bin", &resp_len);
    ftcd_reader r;
    ftcd_frame frames[4];
    ftcd_read_result last;
    ftcd_reader_init(&r, FTCD_KIND_RESPONSE, 0);
    CHECK_EQ(feed_all(&r, resp, resp_len, 5, frames, 4, &last), 2);
    CHECK_EQ(frames[0].status, 0);
    CHECK(frames[0].cbor != NULL);
    CHECK_EQ(frames[1].status, FTCD_STATUS_FAILED_TO_PROCESS_DATA);
    CHECK(frames[1].cbor == NULL);
    CHECK_EQ(frames[1].cbor_len, 0);
    ftcd_frame_free(&frames[0]);
    ftcd_reader_free(&r);
    free(resp);
    free(a1);
    free(a2);
}

static void test_garbage_and_token_prefixes(void)
{
    size_t req_len;
    uint8_t *req = vector("ftcd-oracle/garbage_before_token.request.bin", &req_len);
    ftcd_reader r;
    ftcd_frame frames[4];
    ftcd_read_result last;
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
    CHECK_EQ(feed_all(&r, req, req_len, 9, frames, 4, &last), 1);
    CHECK_EQ(ftcd_reader_skipped(&r), 37);
    ftcd_frame_free(&frames[0]);
    ftcd_reader_free(&r);
    free(req);

    /* The original misses a token directly after a prefix of itself; this reader does not. */
    req = vector("ftcd-oracle/token_prefix_quirk.request.bin", &req_len);
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
    CHECK_EQ(feed_all(&r, req, req_len, 1, frames, 4, &last), 2);
    CHECK_EQ(ftcd_reader_skipped(&r), 1);
    ftcd_frame_free(&frames[0]);
    ftcd_frame_free(&frames[1]);
    ftcd_reader_free(&r);
    free(req);

    /* Broken tokens of every length followed by a real frame. */
    uint8_t buf[4096];
    size_t bundle_len;
    uint8_t *bundle = vector("fcc-oracle/ok_bootstrap_full.req.cbor", &bundle_len);
    for (size_t cut = 1; cut < FTCD_TOKEN_SIZE; cut++) {
        size_t n = 0, flen;
        memcpy(buf, "mbedprov", cut);
        n += cut;
        buf[n++] = 'x';
        memcpy(buf + n, "mbedpr", cut < 6 ? cut : 6);
        n += cut < 6 ? cut : 6;
        CHECK_EQ(ftcd_encode_request(bundle, bundle_len, buf + n, sizeof(buf) - n, &flen), 0);
        ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
        CHECK_EQ(feed_all(&r, buf, n + flen, 1, frames, 4, &last), 1);
        CHECK_MEM(frames[0].cbor, frames[0].cbor_len, bundle, bundle_len);
        CHECK_EQ(ftcd_reader_skipped(&r), n);
        ftcd_frame_free(&frames[0]);
        ftcd_reader_free(&r);
    }
    free(bundle);
}

static void test_rejections(void)
{
    ftcd_reader r;
    ftcd_frame frames[2];
    ftcd_read_result last;
    size_t len;

    uint8_t *req = vector("ftcd-oracle/zero_length.request.bin", &len);
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
    CHECK_EQ(feed_all(&r, req, len, 100, frames, 2, &last), 0);
    CHECK_EQ(last, FTCD_READ_ERROR);
    CHECK_EQ(ftcd_reader_error(&r), FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE);
    /* Stays in error until reset. */
    size_t used = 99;
    CHECK_EQ(ftcd_reader_feed(&r, req, len, &used), FTCD_READ_ERROR);
    CHECK_EQ(used, 0);
    ftcd_reader_reset(&r);
    CHECK_EQ(ftcd_reader_error(&r), FTCD_STATUS_SUCCESS);
    ftcd_reader_free(&r);
    free(req);

    req = vector("ftcd-oracle/bad_checksum.request.bin", &len);
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
    CHECK_EQ(feed_all(&r, req, len, 100, frames, 2, &last), 0);
    CHECK_EQ(ftcd_reader_error(&r), FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE);
    ftcd_reader_free(&r);
    free(req);

    /* A big-endian length is read as ~4.1 GB: refused at once, before any allocation, and
     * without consuming the bytes after the length. */
    req = vector("ftcd-oracle/length_big_endian.request.bin", &len);
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
    CHECK_EQ(ftcd_reader_feed(&r, req, len, &used), FTCD_READ_ERROR);
    CHECK_EQ(used, FTCD_REQUEST_HEAD);
    CHECK_EQ(ftcd_reader_error(&r), FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE);
    ftcd_reader_free(&r);
    free(req);

    /* A configured maximum just under the real length refuses the frame; equal accepts it. */
    req = vector("ftcd-oracle/ok.request.bin", &len);
    uint32_t real = (uint32_t)(len - FTCD_REQUEST_HEAD - FTCD_DIGEST_SIZE);
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, real - 1);
    CHECK_EQ(ftcd_reader_feed(&r, req, len, &used), FTCD_READ_ERROR);
    ftcd_reader_free(&r);
    ftcd_reader_init(&r, FTCD_KIND_REQUEST, real);
    CHECK_EQ(ftcd_reader_feed(&r, req, len, &used), FTCD_READ_FRAME);
    CHECK_EQ(used, len);
    ftcd_reader_take(&r, &frames[0]);
    CHECK_EQ(frames[0].cbor_len, real);
    ftcd_frame_free(&frames[0]);
    ftcd_reader_free(&r);

    /* A response with a corrupted digest is refused too. */
    free(req);
    req = vector("ftcd-oracle/ok.response.bin", &len);
    req[len - 1] ^= 0x40;
    ftcd_reader_init(&r, FTCD_KIND_RESPONSE, 0);
    CHECK_EQ(ftcd_reader_feed(&r, req, len, &used), FTCD_READ_ERROR);
    CHECK_EQ(ftcd_reader_error(&r), FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE);
    ftcd_reader_free(&r);
    free(req);
}

static void test_truncation_points(void)
{
    size_t len;
    uint8_t *req = vector("ftcd-oracle/ok.request.bin", &len);
    uint8_t *resp = NULL;
    size_t resp_len;
    for (size_t cut = 0; cut < len; cut++) {
        ftcd_reader r;
        size_t used;
        ftcd_reader_init(&r, FTCD_KIND_REQUEST, 0);
        CHECK_EQ(ftcd_reader_feed(&r, req, cut, &used), FTCD_READ_MORE);
        ftcd_status expect = cut < FTCD_TOKEN_SIZE     ? FTCD_STATUS_SUCCESS
                             : cut < FTCD_REQUEST_HEAD ? FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE
                             : cut < len - FTCD_DIGEST_SIZE
                                 ? FTCD_STATUS_FAILED_TO_READ_MESSAGE_BYTES
                                 : FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIGNATURE;
        CHECK_EQ(ftcd_reader_truncation(&r), expect);
        CHECK_EQ(ftcd_reader_in_frame(&r), cut >= FTCD_TOKEN_SIZE);
        ftcd_reader_free(&r);
    }
    resp = vector("ftcd-oracle/ok.response.bin", &resp_len);
    for (size_t cut = FTCD_TOKEN_SIZE; cut < FTCD_STATUS_FRAME_SIZE; cut++) {
        ftcd_reader r;
        size_t used;
        ftcd_reader_init(&r, FTCD_KIND_RESPONSE, 0);
        CHECK_EQ(ftcd_reader_feed(&r, resp, cut, &used), FTCD_READ_MORE);
        CHECK_EQ(ftcd_reader_truncation(&r), FTCD_STATUS_NETWORK_CONNECTION_CLOSED);
        ftcd_reader_free(&r);
    }
    free(resp);
    free(req);
}

static void test_status_texts(void)
{
    for (uint32_t s = 0; s <= FTCD_STATUS_MAX; s++) {
        CHECK(strcmp(ftcd_status_name(s), "UNKNOWN") != 0);
        CHECK(strcmp(ftcd_status_text(s), "unknown transport status") != 0);
    }
    CHECK(strcmp(ftcd_status_name(9), "FAILED_TO_PROCESS_DATA") == 0);
    CHECK(strcmp(ftcd_status_name(8), "INCONSISTENT_MESSAGE_SIGNATURE") == 0);
    CHECK(strcmp(ftcd_status_name(16), "UNKNOWN") == 0);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    vectors = argv[1];
    test_encoder_reproduces_original_request();
    test_encoder_reproduces_original_responses();
    test_request_reader_any_chunking();
    test_response_reader_on_recorded_answers();
    test_garbage_and_token_prefixes();
    test_rejections();
    test_truncation_points();
    test_status_texts();
    puts("line_frame: ok");
    return 0;
}
