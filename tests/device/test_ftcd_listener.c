/* The device's FTCD listener driven directly, without any transport: the recorded request
 * streams of tests/data/vectors/ftcd-oracle cut into chunks of every size 1..CHUNK_MAX and at
 * every single split point must produce the recorded answers byte for byte (plus the
 * status-only frame kiln adds for a rejected frame), on a real device (RAM storage).
 *
 *   test_ftcd_listener VECTORS_DIR */
#include "kiln/ftcd.h"
#include "kiln_sf.h"
#include "line_check.h"
#include "ram_device.h"
#include "sf_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MAX   64
#define REQUEST_MAX (64u * 1024u)
#define OUTPUT_MAX  (16u * 1024u)

static const char *vectors;

typedef struct sim {
    ram_device rd;
    kiln_ftcd_listener l;
    uint8_t request[REQUEST_MAX];
    uint8_t output[OUTPUT_MAX];
    uint8_t got[64 * 1024]; /* everything the listener sent */
    size_t got_len;
    int notices[KILN_FTCD_NOTICE_FINISHED + 1];
} sim;

static void count_notice(void *ctx, const kiln_ftcd_notice *n)
{
    ((sim *)ctx)->notices[n->kind]++;
}

static sim *sim_open(size_t request_size, const kiln_sf_trust *trust)
{
    sim *s = calloc(1, sizeof(*s));
    CHECK(s != NULL);
    CHECK(ram_device_open(&s->rd));
    kiln_ftcd_config cfg = {&s->rd.dev, s->request, request_size, s->output, sizeof(s->output),
                            false,      trust,      count_notice, s};
    CHECK_EQ(kiln_ftcd_init(&s->l, &cfg), FTCD_STATUS_SUCCESS);
    kiln_ftcd_stream_begins(&s->l);
    return s;
}

static void sim_close(sim *s)
{
    kiln_ftcd_fini(&s->l);
    ram_device_close(&s->rd);
    free(s);
}

/* Takes what the listener has to send, in pieces of at most `piece` bytes. */
static void drain(sim *s, size_t piece)
{
    size_t n = 0;
    const uint8_t *out;
    while ((out = kiln_ftcd_output(&s->l, &n)) != NULL) {
        size_t take = n < piece ? n : piece;
        CHECK(s->got_len + take <= sizeof(s->got));
        memcpy(s->got + s->got_len, out, take);
        s->got_len += take;
        kiln_ftcd_output_sent(&s->l, take);
    }
}

/* Offers one received chunk the way an adapter does; returns the last event. */
static kiln_ftcd_event offer(sim *s, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
    do {
        size_t used = 0;
        ev = kiln_ftcd_feed(&s->l, data + pos, len - pos, &used);
        pos += used;
        if (kiln_ftcd_pending(&s->l) > 0) {
            /* Nothing is consumed while an answer waits to be sent. */
            size_t again = 1;
            CHECK_EQ(kiln_ftcd_feed(&s->l, data + pos, len - pos, &again), KILN_FTCD_CONTINUE);
            CHECK_EQ(again, 0);
        }
        drain(s, 7);
    } while (ev == KILN_FTCD_CONTINUE && pos < len);
    return ev;
}

/* Feeds stream[0..len) in chunks of `chunk` bytes, the first one `first` bytes long (0: no
 * special first chunk), until the listener gives its verdict; returns that verdict. */
static kiln_ftcd_event feed_stream(sim *s, const uint8_t *stream, size_t len, size_t first,
                                   size_t chunk, bool end_of_stream)
{
    size_t pos = 0;
    kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
    while (pos < len && ev == KILN_FTCD_CONTINUE) {
        size_t n = pos == 0 && first > 0 ? first : chunk;
        n = n < len - pos ? n : len - pos;
        ev = offer(s, stream + pos, n);
        pos += n;
    }
    if (ev == KILN_FTCD_CONTINUE && end_of_stream) {
        ev = kiln_ftcd_end_of_stream(&s->l);
        drain(s, 1);
    }
    return ev;
}

static uint8_t *vector(const char *name, const char *suffix, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/ftcd-oracle/%s.%s.bin", vectors, name, suffix);
    return check_read_file(path, len);
}

typedef struct stream_case {
    const char *name;
    bool end_of_stream;    /* the tool half-closes after the bytes */
    int added_status;      /* kiln's status-only frame after the recorded bytes, or -1 */
    kiln_ftcd_event final; /* the listener's verdict */
    unsigned messages;     /* frames handed to the device */
} stream_case;

/* The recorded cases that are one device start and one connection. */
static const stream_case stream_cases[] = {
    {"ok", false, -1, KILN_FTCD_END_OK, 1},
    {"garbage_before_token", false, -1, KILN_FTCD_END_OK, 1},
    {"keepalive", false, -1, KILN_FTCD_END_OK, 2},
    {"keepalive_pipelined", false, -1, KILN_FTCD_END_OK, 2},
    {"fcc_error_in_ok_frame", false, -1, KILN_FTCD_END_OK, 1},
    {"bad_checksum", false, FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE, KILN_FTCD_END_FAILED, 0},
    {"zero_length", false, FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE, KILN_FTCD_END_FAILED, 0},
    {"length_big_endian", true, FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE, KILN_FTCD_END_FAILED, 0},
    {"truncated", true, FTCD_STATUS_FAILED_TO_READ_MESSAGE_BYTES, KILN_FTCD_END_FAILED, 0},
    {"length_larger_than_data", true, FTCD_STATUS_FAILED_TO_READ_MESSAGE_BYTES,
     KILN_FTCD_END_FAILED, 0},
    {"partial_length_then_close", true, FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE,
     KILN_FTCD_END_FAILED, 0},
    /* Inside a keep-alive session a bad digest closes the connection but not the run. */
    {"keepalive_bad_checksum_second", false, FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE,
     KILN_FTCD_CLOSE, 1},
};

static void expect_answers(const stream_case *c, const sim *s, const uint8_t *resp, size_t resp_len,
                           kiln_ftcd_event ev)
{
    uint8_t want[64 * 1024];
    CHECK(resp_len + FTCD_STATUS_FRAME_SIZE <= sizeof(want));
    memcpy(want, resp, resp_len);
    size_t want_len = resp_len, n = 0;
    if (c->added_status >= 0) {
        CHECK_EQ(ftcd_encode_response((uint32_t)c->added_status, NULL, 0, want + resp_len,
                                      FTCD_STATUS_FRAME_SIZE, &n),
                 FTCD_STATUS_SUCCESS);
        want_len += n;
    }
    if (ev != c->final || s->got_len != want_len || memcmp(s->got, want, want_len) != 0) {
        fprintf(stderr, "case %s: event %d (want %d), %zu bytes (want %zu)\n", c->name, (int)ev,
                (int)c->final, s->got_len, want_len);
    }
    CHECK_EQ(ev, c->final);
    CHECK_MEM(s->got, s->got_len, want, want_len);
    CHECK_EQ(kiln_ftcd_get_stats(&s->l)->messages, c->messages);
    CHECK_EQ(kiln_ftcd_get_stats(&s->l)->rejected, c->added_status >= 0 ? 1 : 0);
    CHECK_EQ(s->notices[KILN_FTCD_NOTICE_HANDLING], c->messages);
    CHECK_EQ(s->notices[KILN_FTCD_NOTICE_FINISHED], c->final == KILN_FTCD_END_OK ? 1 : 0);
}

static void run_stream(const stream_case *c, const uint8_t *req, size_t req_len,
                       const uint8_t *resp, size_t resp_len, size_t first, size_t chunk)
{
    sim *s = sim_open(REQUEST_MAX, NULL);
    kiln_ftcd_event ev = feed_stream(s, req, req_len, first, chunk, c->end_of_stream);
    expect_answers(c, s, resp, resp_len, ev);
    sim_close(s);
}

static void test_stream_cases(void)
{
    for (size_t k = 0; k < sizeof(stream_cases) / sizeof(stream_cases[0]); k++) {
        const stream_case *c = &stream_cases[k];
        size_t req_len, resp_len;
        uint8_t *req = vector(c->name, "request", &req_len);
        uint8_t *resp = vector(c->name, "response", &resp_len);
        for (size_t chunk = 1; chunk <= CHUNK_MAX; chunk++) {
            run_stream(c, req, req_len, resp, resp_len, 0, chunk);
        }
        run_stream(c, req, req_len, resp, resp_len, 0, req_len);
        printf("ftcd_listener: %s ok in chunks of 1..%d and whole\n", c->name, CHUNK_MAX);
        free(req);
        free(resp);
    }
}

/* Two pieces, split at every byte of the stream. */
static void test_every_split_point(const char *name)
{
    const stream_case *c = NULL;
    for (size_t k = 0; k < sizeof(stream_cases) / sizeof(stream_cases[0]); k++) {
        if (strcmp(stream_cases[k].name, name) == 0) {
            c = &stream_cases[k];
        }
    }
    CHECK(c != NULL);
    size_t req_len, resp_len;
    uint8_t *req = vector(name, "request", &req_len);
    uint8_t *resp = vector(name, "response", &resp_len);
    for (size_t split = 1; split < req_len; split++) {
        run_stream(c, req, req_len, resp, resp_len, split, req_len);
    }
    printf("ftcd_listener: %s ok split at each of %zu points\n", name, req_len - 1);
    free(req);
    free(resp);
}

/* An announced length above the request buffer is refused before any byte of it is read. */
static void test_request_larger_than_buffer(void)
{
    size_t req_len, resp_len;
    uint8_t *req = vector("ok", "request", &req_len);
    uint8_t *resp = vector("ok", "response", &resp_len);
    size_t bundle_len = req_len - FTCD_REQUEST_HEAD - FTCD_DIGEST_SIZE;
    sim *s = sim_open(bundle_len - 1, NULL);
    CHECK_EQ(feed_stream(s, req, req_len, 0, 5, false), KILN_FTCD_END_FAILED);
    uint8_t want[FTCD_STATUS_FRAME_SIZE];
    size_t n = 0;
    ftcd_encode_response(FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE, NULL, 0, want, sizeof(want), &n);
    CHECK_MEM(s->got, s->got_len, want, n);
    sim_close(s);
    /* Exactly the bundle's size is enough. */
    s = sim_open(bundle_len, NULL);
    CHECK_EQ(feed_stream(s, req, req_len, 0, 5, false), KILN_FTCD_END_OK);
    CHECK_MEM(s->got, s->got_len, resp, resp_len);
    sim_close(s);
    free(req);
    free(resp);
    printf("ftcd_listener: a bundle above the request buffer gets status 4\n");
}

/* A frame whose payload starts with the kiln-sf version goes to the secure-factory module;
 * without a trust table the same frame is a (bad) bundle. */
static void test_secure_factory_branch(void)
{
    /* A DEVICE_ERROR message from the station is no request the device accepts. */
    uint8_t msg[16] = {SF_VERSION, SF_MSG_DEVICE_ERROR, 0, 5, 2, 0, 0, 0, 0};
    uint8_t frame[128];
    size_t frame_len = 0;
    CHECK_EQ(ftcd_encode_request(msg, 9, frame, sizeof(frame), &frame_len), FTCD_STATUS_SUCCESS);

    kiln_sf_trust none = {NULL, 0};
    sim *s = sim_open(REQUEST_MAX, &none);
    CHECK_EQ(feed_stream(s, frame, frame_len, 0, 3, false), KILN_FTCD_CONTINUE);
    CHECK_EQ(kiln_ftcd_get_stats(&s->l)->sf_messages, 1);
    CHECK_EQ(kiln_ftcd_get_stats(&s->l)->sf_device_errors, 1);
    CHECK_EQ(s->notices[KILN_FTCD_NOTICE_SF_DEVICE_ERROR], 1);
    /* A status-0 frame whose CBOR is the device's own DEVICE_ERROR message. */
    CHECK(s->got_len > FTCD_RESPONSE_HEAD + FTCD_DIGEST_SIZE + 2);
    CHECK_EQ(s->got[FTCD_TOKEN_SIZE], 0);
    CHECK_EQ(s->got[FTCD_RESPONSE_HEAD], SF_VERSION);
    CHECK_EQ(s->got[FTCD_RESPONSE_HEAD + 1], SF_MSG_DEVICE_ERROR);
    ftcd_reader r;
    ftcd_reader_init(&r, FTCD_KIND_RESPONSE, 0);
    size_t used = 0;
    CHECK_EQ(ftcd_reader_feed(&r, s->got, s->got_len, &used), FTCD_READ_FRAME);
    CHECK_EQ(used, s->got_len);
    ftcd_reader_free(&r);
    sim_close(s);

    s = sim_open(REQUEST_MAX, NULL);
    feed_stream(s, frame, frame_len, 0, 3, false);
    CHECK_EQ(kiln_ftcd_get_stats(&s->l)->sf_messages, 0);
    CHECK_EQ(kiln_ftcd_get_stats(&s->l)->messages, 1);
    sim_close(s);
    printf("ftcd_listener: secure-factory frames go to the sf module only with a trust table\n");
}

static void test_init_refuses(void)
{
    static uint8_t req[16], out[KILN_FTCD_OUTPUT_MIN];
    kiln_device dev;
    memset(&dev, 0, sizeof(dev));
    kiln_ftcd_listener l;
    kiln_ftcd_config cfg = {&dev, req, sizeof(req), out, sizeof(out), false, NULL, NULL, NULL};
    CHECK_EQ(kiln_ftcd_init(&l, &cfg), FTCD_STATUS_SUCCESS);
    cfg.output_buffer_size = KILN_FTCD_OUTPUT_MIN - 1;
    CHECK_EQ(kiln_ftcd_init(&l, &cfg), FTCD_STATUS_INVALID_PARAMETER);
    cfg.output_buffer_size = sizeof(out);
    cfg.request_buffer = NULL;
    CHECK_EQ(kiln_ftcd_init(&l, &cfg), FTCD_STATUS_INVALID_PARAMETER);
    cfg.request_buffer = req;
    cfg.dev = NULL;
    CHECK_EQ(kiln_ftcd_init(&l, &cfg), FTCD_STATUS_INVALID_PARAMETER);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_ftcd_listener VECTORS_DIR\n");
        return 2;
    }
    vectors = argv[1];
    test_init_refuses();
    test_stream_cases();
    test_every_split_point("keepalive");
    test_request_larger_than_buffer();
    test_secure_factory_branch();
    printf("ftcd_listener: all ok\n");
    return 0;
}
