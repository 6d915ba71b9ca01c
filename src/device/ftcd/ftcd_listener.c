/* The device's FTCD listener (include/kiln/ftcd.h): the frame codec of src/common/ftcd_frame.c
 * over caller-owned buffers, and the session rules of the original listener's loop. */
#include "kiln/ftcd.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "kiln_sf.h"
#include "sf_msg.h"

/* The public minimum must hold the largest secure-factory answer frame. */
typedef char kiln_ftcd_output_min_holds_sf_answer
    [KILN_FTCD_OUTPUT_MIN >= FTCD_RESPONSE_HEAD + KILN_SF_ANSWER_MAX + FTCD_DIGEST_SIZE ? 1 : -1];

static void notify(const kiln_ftcd_listener *l, kiln_ftcd_notice_kind kind, int32_t status,
                   int32_t detail)
{
    if (l->cfg.notify != NULL) {
        kiln_ftcd_notice n = {kind, status, detail};
        l->cfg.notify(l->cfg.notify_ctx, &n);
    }
}

ftcd_status kiln_ftcd_init(kiln_ftcd_listener *l, const kiln_ftcd_config *cfg)
{
    if (l == NULL || cfg == NULL || cfg->dev == NULL || cfg->request_buffer == NULL ||
        cfg->request_buffer_size == 0 || cfg->output_buffer == NULL ||
        cfg->output_buffer_size < KILN_FTCD_OUTPUT_MIN) {
        return FTCD_STATUS_INVALID_PARAMETER;
    }
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    ftcd_reader_init_buffer(&l->reader, FTCD_KIND_REQUEST, cfg->request_buffer,
                            cfg->request_buffer_size);
    return FTCD_STATUS_SUCCESS;
}

void kiln_ftcd_fini(kiln_ftcd_listener *l)
{
    if (l == NULL || l->cfg.dev == NULL) {
        return;
    }
    /* The reader wipes a partial frame, and every handled frame is wiped at once; answers hold
     * no secrets but are not left behind either. */
    ftcd_reader_free(&l->reader);
    mbedtls_platform_zeroize(l->cfg.output_buffer, l->out_len);
    l->out_len = l->out_off = 0;
}

const uint8_t *kiln_ftcd_output(const kiln_ftcd_listener *l, size_t *len)
{
    *len = kiln_ftcd_pending(l);
    return *len > 0 ? l->cfg.output_buffer + l->out_off : NULL;
}

void kiln_ftcd_output_sent(kiln_ftcd_listener *l, size_t n)
{
    l->out_off += n < kiln_ftcd_pending(l) ? n : kiln_ftcd_pending(l);
    if (l->out_off == l->out_len) {
        l->out_off = l->out_len = 0;
    }
}

/* The output is empty whenever a frame is handled (feed refuses input while it is not), so
 * each answer starts at the beginning of the buffer. */
static void output_status(kiln_ftcd_listener *l, ftcd_status status)
{
    size_t n = 0;
    if (ftcd_encode_response(status, NULL, 0, l->cfg.output_buffer, l->cfg.output_buffer_size,
                             &n) == FTCD_STATUS_SUCCESS) {
        l->out_len = n;
    }
}

/* Frames answer; false when it does not fit (then the status-only frame 3 goes instead). */
static bool output_answer(kiln_ftcd_listener *l, const uint8_t *answer, size_t answer_len)
{
    size_t n = 0;
    if (ftcd_encode_response(FTCD_STATUS_SUCCESS, answer, answer_len, l->cfg.output_buffer,
                             l->cfg.output_buffer_size, &n) != FTCD_STATUS_SUCCESS) {
        notify(l, KILN_FTCD_NOTICE_ANSWER_TOO_BIG, (int32_t)answer_len, 0);
        output_status(l, FTCD_STATUS_MEMORY_OUT);
        return false;
    }
    l->out_len = n;
    return true;
}

void kiln_ftcd_stream_begins(kiln_ftcd_listener *l)
{
    ftcd_reader_reset(&l->reader);
}

void kiln_ftcd_restart(kiln_ftcd_listener *l)
{
    ftcd_reader_reset(&l->reader);
    l->erased = false;
    l->session_open = false;
    if (!l->cfg.dev->fcc_ready) {
        (void)kiln_fcc_init(l->cfg.dev);
    }
}

/* A frame was refused or cut short: answer with its status, and end the run unless a keep-alive
 * session is open (then the tool may reconnect and continue). */
static kiln_ftcd_event reject(kiln_ftcd_listener *l, ftcd_status why)
{
    l->stats.rejected++;
    notify(l, KILN_FTCD_NOTICE_REJECTED, (int32_t)why, 0);
    output_status(l, why);
    ftcd_reader_reset(&l->reader);
    return l->session_open ? KILN_FTCD_CLOSE : KILN_FTCD_END_FAILED;
}

static kiln_ftcd_event finish(kiln_ftcd_listener *l)
{
    l->stats.sessions++;
    l->session_open = false;
    (void)kiln_fcc_finalize(l->cfg.dev);
    notify(l, KILN_FTCD_NOTICE_FINISHED, 0, 0);
    return KILN_FTCD_END_OK;
}

static void erase_on_first_frame(kiln_ftcd_listener *l)
{
    if (!l->erased && !l->cfg.keep_storage) {
        /* The original example erases everything on the first good frame after each start. */
        fcc_status_e st = kiln_fcc_storage_delete(l->cfg.dev);
        notify(l, KILN_FTCD_NOTICE_ERASED, (int32_t)st, 0);
    }
    l->erased = true;
}

static bool is_sf_message(const kiln_ftcd_listener *l, const ftcd_frame *frame)
{
    /* A bundle is a CBOR map (0xA0..0xBF); the kiln-sf version byte can never start one. */
    return l->cfg.sf_trust != NULL && frame->cbor_len > 0 && frame->cbor[0] == SF_VERSION;
}

/* What the device's secure-factory answer means for the run. */
static kiln_ftcd_event sf_outcome(kiln_ftcd_listener *l, sf_status st, const uint8_t *answer,
                                  size_t answer_len, int fcc_status)
{
    sf_msg_type type = (sf_msg_type)answer[1];
    if (st != SF_OK || type == SF_MSG_DEVICE_ERROR) {
        /* The station hands this answer to the service, which records the device's code; the
         * device keeps listening so that new_device can start over. An SF session the device
         * still holds (e.g. after an altered CONFIG_REQUEST) stays open. */
        l->stats.sf_device_errors++;
        sf_device_error err = {0, 0};
        (void)sf_device_error_parse(answer, answer_len, &err);
        notify(l, KILN_FTCD_NOTICE_ANSWERED, 0, 0);
        notify(l, KILN_FTCD_NOTICE_SF_DEVICE_ERROR, (int32_t)err.code, err.detail);
        return KILN_FTCD_CONTINUE;
    }
    if (type == SF_MSG_CONFIG_RESPONSE) {
        notify(l, KILN_FTCD_NOTICE_ANSWERED, fcc_status, 0);
        return finish(l);
    }
    notify(l, KILN_FTCD_NOTICE_ANSWERED, 0, 0);
    l->session_open = true;
    return KILN_FTCD_CONTINUE;
}

/* The answer is written straight into its response frame. */
static kiln_ftcd_event handle_sf_frame(kiln_ftcd_listener *l, const ftcd_frame *frame)
{
    uint8_t *answer = l->cfg.output_buffer + FTCD_RESPONSE_HEAD;
    size_t room = l->cfg.output_buffer_size - FTCD_RESPONSE_HEAD - FTCD_DIGEST_SIZE;
    size_t answer_len = 0;
    int fcc_status = 0;
    sf_status st = kiln_sf_handle_message(l->cfg.dev, l->cfg.sf_trust, frame->cbor, frame->cbor_len,
                                          answer, room, &answer_len, &fcc_status);
    notify(l, KILN_FTCD_NOTICE_HANDLED, 0, 0);
    l->stats.messages++;
    l->stats.sf_messages++;
    size_t n = 0;
    if (answer_len < 2 || ftcd_seal_response(l->cfg.output_buffer, l->cfg.output_buffer_size,
                                             answer_len, &n) != FTCD_STATUS_SUCCESS) {
        output_status(l, FTCD_STATUS_FAILED_TO_PROCESS_DATA);
        notify(l, KILN_FTCD_NOTICE_SF_NOT_SENT, (int32_t)st, 0);
        return KILN_FTCD_END_FAILED;
    }
    l->out_len = n;
    return sf_outcome(l, st, answer, answer_len, fcc_status);
}

static kiln_ftcd_event handle_bundle_frame(kiln_ftcd_listener *l, const ftcd_frame *frame)
{
    uint8_t *answer = NULL;
    size_t answer_len = 0;
    fcc_status_e st =
        kiln_fcc_bundle_handler(l->cfg.dev, frame->cbor, frame->cbor_len, &answer, &answer_len);
    notify(l, KILN_FTCD_NOTICE_HANDLED, 0, 0);
    l->stats.messages++;
    if (answer == NULL || answer_len == 0) {
        /* No CBOR answer (factory disabled): status-only 9, and the run is over. */
        free(answer);
        notify(l, KILN_FTCD_NOTICE_NO_ANSWER, (int32_t)st, 0);
        output_status(l, FTCD_STATUS_FAILED_TO_PROCESS_DATA);
        l->session_open = false;
        return KILN_FTCD_END_FAILED;
    }
    bool framed = output_answer(l, answer, answer_len);
    free(answer);
    if (!framed) {
        return KILN_FTCD_END_FAILED;
    }
    notify(l, KILN_FTCD_NOTICE_ANSWERED, (int32_t)st, 0);
    if (kiln_fcc_is_session_finished(l->cfg.dev)) {
        return finish(l);
    }
    l->session_open = true;
    return KILN_FTCD_CONTINUE;
}

static kiln_ftcd_event handle_frame(kiln_ftcd_listener *l)
{
    ftcd_frame frame;
    ftcd_reader_take(&l->reader, &frame);
    notify(l, KILN_FTCD_NOTICE_HANDLING, 0, 0);
    erase_on_first_frame(l);
    kiln_ftcd_event ev =
        is_sf_message(l, &frame) ? handle_sf_frame(l, &frame) : handle_bundle_frame(l, &frame);
    /* The frame lives in the request buffer; bundles carry private keys. */
    mbedtls_platform_zeroize(frame.cbor, frame.cbor_len);
    return ev;
}

kiln_ftcd_event kiln_ftcd_feed(kiln_ftcd_listener *l, const uint8_t *data, size_t len,
                               size_t *consumed)
{
    size_t pos = 0;
    kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
    while (pos < len && kiln_ftcd_pending(l) == 0 && ev == KILN_FTCD_CONTINUE) {
        size_t used = 0;
        ftcd_read_result res = ftcd_reader_feed(&l->reader, data + pos, len - pos, &used);
        pos += used;
        if (res == FTCD_READ_ERROR) {
            ev = reject(l, ftcd_reader_error(&l->reader));
        } else if (res == FTCD_READ_FRAME) {
            ev = handle_frame(l);
        }
    }
    *consumed = pos;
    return ev;
}

kiln_ftcd_event kiln_ftcd_end_of_stream(kiln_ftcd_listener *l)
{
    ftcd_status cut = ftcd_reader_truncation(&l->reader);
    if (cut != FTCD_STATUS_SUCCESS) {
        return reject(l, cut);
    }
    /* Nothing started (a partial token does not count): wait for the next connection. */
    ftcd_reader_reset(&l->reader);
    return KILN_FTCD_CLOSE;
}
