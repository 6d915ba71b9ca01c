#include "line_relay.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "line_engine.h"
#include "line_errors.h"

int line_relay_is_request(const uint8_t *payload, size_t len, sf_msg_type *type)
{
    return len > 0 && sf_msg_peek(payload, len, type) == SF_OK &&
           (*type == SF_MSG_INIT_REQUEST || *type == SF_MSG_CONFIG_REQUEST);
}

static void on_done(void *user, line_conn *c)
{
    (void)c;
    *(bool *)user = true;
}

/* Sends frame over c (initialised) and waits for one answer; c then holds the result. */
static int exchange(line_conn *c, const uint8_t *frame, size_t frame_len)
{
    bool done = false;
    line_loop *loop = line_loop_new();
    if (loop == NULL) {
        return -1;
    }
    c->on_done = on_done;
    c->user = &done;
    if (line_loop_add(loop, c) != 0) {
        line_loop_free(loop);
        return -1;
    }
    line_conn_request(c, frame, frame_len);
    int rc = done ? 0 : line_loop_run(loop, NULL, NULL);
    line_loop_remove(loop, c);
    line_loop_free(loop);
    return rc == 0 && done ? 0 : -1;
}

static int device_fault(line_relay_answer *out, const char *detail)
{
    char head[200];
    line_error_format(head, sizeof(head), LINE_E_DEVICE_COMMUNICATION, NULL, NULL);
    snprintf(out->error_text, sizeof(out->error_text), "%s: %s", head, detail);
    return LINE_E_DEVICE_COMMUNICATION;
}

/* Checks what the device sent back and keeps it. */
static int take_answer(const line_conn *c, line_relay_answer *out)
{
    if (c->error != 0) {
        snprintf(out->error_text, sizeof(out->error_text), "%s", c->error_text);
        return c->error;
    }
    char detail[400];
    if (c->frame.status != FTCD_STATUS_SUCCESS) {
        snprintf(detail, sizeof(detail), "status %u %s: %s", (unsigned)c->frame.status,
                 ftcd_status_name(c->frame.status), ftcd_status_text(c->frame.status));
        return device_fault(out, detail);
    }
    sf_msg_type type;
    if (sf_msg_peek(c->frame.cbor, c->frame.cbor_len, &type) != SF_OK ||
        (type != SF_MSG_INIT_RESPONSE && type != SF_MSG_CONFIG_RESPONSE &&
         type != SF_MSG_DEVICE_ERROR)) {
        snprintf(detail, sizeof(detail),
                 "the answer (%zu bytes) is not a secure-factory message (a firmware without the "
                 "secure factory?)",
                 c->frame.cbor_len);
        return device_fault(out, detail);
    }
    out->message = malloc(c->frame.cbor_len);
    if (out->message == NULL) {
        line_error_format(out->error_text, sizeof(out->error_text), LINE_E_GENERAL, "out of memory",
                          NULL);
        return LINE_E_GENERAL;
    }
    memcpy(out->message, c->frame.cbor, c->frame.cbor_len);
    out->len = c->frame.cbor_len;
    out->type = type;
    sf_device_error err = {0, 0};
    if (type == SF_MSG_DEVICE_ERROR &&
        sf_device_error_parse(out->message, out->len, &err) == SF_OK) {
        out->device_error = (int)err.code;
    }
    return 0;
}

int line_relay(const line_address *addr, double timeout, const uint8_t *payload, size_t len,
               line_relay_answer *out)
{
    memset(out, 0, sizeof(*out));
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    if (line_frame_request(payload, len, &frame, &frame_len) != 0) {
        line_error_format(out->error_text, sizeof(out->error_text), LINE_E_GENERAL,
                          "relay: cannot build the request frame", NULL);
        return LINE_E_GENERAL;
    }
    line_conn conn;
    line_conn_init(&conn, addr, timeout, 0);
    int rc;
    if (exchange(&conn, frame, frame_len) != 0) {
        line_error_format(out->error_text, sizeof(out->error_text), LINE_E_GENERAL,
                          "relay: the event loop failed", NULL);
        rc = LINE_E_GENERAL;
    } else {
        rc = take_answer(&conn, out);
    }
    line_conn_close(&conn);
    OPENSSL_cleanse(frame, frame_len); /* a bundle's frame carries its private keys */
    free(frame);
    return rc;
}

void line_relay_answer_free(line_relay_answer *a)
{
    free(a->message);
    memset(a, 0, sizeof(*a));
}
