/* The device's FTCD listener: what a device does with the bytes of its factory link, whether they
 * come from a TCP connection, a UART or a file. Portable C99, nothing of the OS, nothing
 * allocated: the caller owns the listener, its request buffer (the largest bundle it accepts)
 * and its output buffer (the largest answer frame), and moves bytes between them and its link.
 *
 *   bytes in  -> kiln_ftcd_feed()         -> complete request frames are checked and handled
 *   bytes out <- kiln_ftcd_output()/_sent() <- one answer frame at a time
 *
 * It mirrors the original listener's main loop (docs/factory-line.md): keep-alive sessions
 * survive a reconnect, a finished session ends the run, a rejected frame ends the run unless a
 * keep-alive session is open. Unlike the original it answers a rejected or cut frame with a
 * status-only frame (4, 5, 6 or 8). Storage is erased on the first good frame of each run
 * unless keep_storage is set.
 *
 * A frame whose payload starts with 0x01 (the kiln-sf version; a bundle is a CBOR map, 0xA0..0xBF)
 * is a secure-factory message: with sf_trust set it goes to kiln_sf_handle_message and its
 * answer travels back the same way. The SF session is open from INIT_RESPONSE until
 * CONFIG_RESPONSE, which finishes the run like the last message of a bundle session. */
#ifndef KILN_FTCD_H
#define KILN_FTCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftcd_frame.h"
#include "kiln/device.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kiln_sf_trust;

/** What the link should do after a call. */
typedef enum kiln_ftcd_event {
    KILN_FTCD_CONTINUE,   /* keep the link and go on reading */
    KILN_FTCD_CLOSE,      /* send the output, close the connection, accept the next one */
    KILN_FTCD_END_OK,     /* send, close; the factory flow completed */
    KILN_FTCD_END_FAILED, /* send, close; a frame was rejected or refused outside a session */
} kiln_ftcd_event;

/** What happened, for the integrator's log. status is an ftcd_status, fcc_status_e or
 *  sf_status as the kind says; detail only for SF_DEVICE_ERROR. */
typedef enum kiln_ftcd_notice_kind {
    KILN_FTCD_NOTICE_REJECTED,  /* status (ftcd): a frame was refused or cut short */
    KILN_FTCD_NOTICE_ERASED,    /* status (fcc): result of erasing storage on the first frame */
    KILN_FTCD_NOTICE_HANDLING,  /* a checked frame goes to the device */
    KILN_FTCD_NOTICE_HANDLED,   /* the device is done with it (pairs with HANDLING) */
    KILN_FTCD_NOTICE_ANSWERED,  /* status (fcc, 0 unless the configurator refused) */
    KILN_FTCD_NOTICE_NO_ANSWER, /* status (fcc): no answer at all (factory disabled) */
    KILN_FTCD_NOTICE_ANSWER_TOO_BIG,  /* status: the answer's CBOR length; status 3 was sent */
    KILN_FTCD_NOTICE_SF_NOT_SENT,     /* status (sf): no secure-factory answer could be sent */
    KILN_FTCD_NOTICE_SF_DEVICE_ERROR, /* status (sf code), detail: the device answered an error */
    KILN_FTCD_NOTICE_FINISHED,        /* the factory flow completed */
} kiln_ftcd_notice_kind;

typedef struct kiln_ftcd_notice {
    kiln_ftcd_notice_kind kind;
    int32_t status;
    int32_t detail;
} kiln_ftcd_notice;

typedef void (*kiln_ftcd_notify_fn)(void *ctx, const kiln_ftcd_notice *notice);

typedef struct kiln_ftcd_config {
    kiln_device *dev;        /* set up, FCC initialised */
    uint8_t *request_buffer; /* largest accepted bundle; longer ones get status 4 */
    size_t request_buffer_size;
    uint8_t *output_buffer; /* one answer frame; at least KILN_FTCD_OUTPUT_MIN */
    size_t output_buffer_size;
    bool keep_storage;                    /* do not erase storage on the first good frame */
    const struct kiln_sf_trust *sf_trust; /* NULL: no secure factory, every frame is a bundle */
    kiln_ftcd_notify_fn notify;           /* may be NULL */
    void *notify_ctx;
} kiln_ftcd_config;

/** Room for the largest secure-factory answer frame (and so for every status-only frame). */
#define KILN_FTCD_OUTPUT_MIN (FTCD_RESPONSE_HEAD + 256u + FTCD_DIGEST_SIZE)

typedef struct kiln_ftcd_stats {
    uint32_t messages, sessions, rejected;
    uint32_t sf_messages, sf_device_errors;
} kiln_ftcd_stats;

/* Fields are private. */
typedef struct kiln_ftcd_listener {
    kiln_ftcd_config cfg;
    ftcd_reader reader;
    size_t out_len, out_off;
    bool erased;       /* storage already erased during this run */
    bool session_open; /* a keep-alive session is waiting for its next message */
    kiln_ftcd_stats stats;
} kiln_ftcd_listener;

/** Returns FTCD_STATUS_SUCCESS, or INVALID_PARAMETER for a missing device or buffer or an
 *  output buffer below KILN_FTCD_OUTPUT_MIN. */
ftcd_status kiln_ftcd_init(kiln_ftcd_listener *l, const kiln_ftcd_config *cfg);
/** Wipes what the buffers still hold (a partial bundle may carry keys). */
void kiln_ftcd_fini(kiln_ftcd_listener *l);

/** Offers received bytes. Consumes up to one frame's worth: it stops after a frame that produced
 *  output (send it, then offer the rest again) or an event other than CONTINUE (the bytes after
 *  it belong to no one). While output is pending it consumes nothing. */
kiln_ftcd_event kiln_ftcd_feed(kiln_ftcd_listener *l, const uint8_t *data, size_t len,
                               size_t *consumed);
/** The peer closed its side: a frame cut short gets its status-only frame. */
kiln_ftcd_event kiln_ftcd_end_of_stream(kiln_ftcd_listener *l);
/** A new connection (or the start of a stream): forget any partial frame. */
void kiln_ftcd_stream_begins(kiln_ftcd_listener *l);
/** After END_*: get ready for the next device on the same storage (FCC initialised again). */
void kiln_ftcd_restart(kiln_ftcd_listener *l);

/** Output not yet sent (NULL when there is none). */
const uint8_t *kiln_ftcd_output(const kiln_ftcd_listener *l, size_t *len);
/** Marks n output bytes as sent. */
void kiln_ftcd_output_sent(kiln_ftcd_listener *l, size_t n);

static inline size_t kiln_ftcd_pending(const kiln_ftcd_listener *l)
{
    return l->out_len - l->out_off;
}

static inline const kiln_ftcd_stats *kiln_ftcd_get_stats(const kiln_ftcd_listener *l)
{
    return &l->stats;
}

#ifdef __cplusplus
}
#endif
#endif
