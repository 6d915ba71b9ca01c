/* factory_client: what one simulated device does with the bytes of one transport, independent
 * of whether they come from a TCP connection, a serial line or a file.
 *
 * The link reads FTCD request frames, hands each bundle to the device library and queues the
 * response frames. It mirrors the original listener's main loop (see docs/factory-line.md):
 * keep-alive sessions survive a reconnect, a finished session ends the run, a rejected frame
 * closes the connection and ends the run unless a keep-alive session is open. Unlike the
 * original it sends a status-only frame (4, 5, 6 or 8) before closing on a rejected frame.
 *
 * A frame whose payload is a secure-factory message (first byte 0x01, the kiln-sf version; a
 * bundle is a CBOR map and starts with 0xA0..0xBF) goes to kiln_sf_handle_message instead of the
 * bundle handler, and its answer travels back in the same kind of response frame. The SF session
 * is open from INIT_RESPONSE until CONFIG_RESPONSE, which finishes the flow like the last
 * message of a bundle session. */
#ifndef KILN_FC_TRANSPORT_LINK_H
#define KILN_FC_TRANSPORT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fc.h"
#include "ftcd_frame.h"
#include "sf_trust.h"

typedef enum fc_link_event {
    FC_LINK_CONTINUE,   /* keep the connection and read on */
    FC_LINK_CLOSE,      /* send what is queued, close the connection, accept the next one */
    FC_LINK_END_OK,     /* send, close; the factory flow completed */
    FC_LINK_END_FAILED, /* send, close; a frame was rejected outside a session */
} fc_link_event;

typedef struct fc_link_settings {
    bool keep_storage;         /* do not erase storage on the first good frame of a start */
    uint32_t max_length;       /* refuse announced lengths above this (0 = default) */
    const char *factory_trust; /* --factory-trust FILE after the transport (else the global) */
} fc_link_settings;

typedef struct fc_link {
    int index;
    char label[24]; /* log prefix ("" for a single device, "[dev 3] " otherwise) */
    const fc_options *opt;
    fc_link_settings settings;
    fc_device *dev;
    kiln_device *kd;
    ftcd_reader reader;
    bool erased;       /* storage already erased during this start */
    bool session_open; /* a keep-alive session is waiting for its next message */
    bool flow_started; /* "Factory flow begins..." printed for this start */
    fc_sf_trust trust; /* secure-factory keys of the firmware (none without --factory-trust) */
    /* Bytes to send, in order. */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    /* Statistics. */
    uint64_t messages, sessions, rejected;
    uint64_t sf_messages, sf_device_errors;
    double device_seconds;
} fc_link;

/** Opens simulated device `index` and prepares its link. Returns 0, or -1 after printing. */
int fc_link_open(fc_link *l, const fc_options *opt, int index, int total,
                 const fc_link_settings *settings);
void fc_link_close(fc_link *l);

/** A new connection (or the start of a serial/file stream): forget any partial frame. */
void fc_link_connection_begins(fc_link *l);
/** Processes received bytes (possibly several frames). */
fc_link_event fc_link_input(fc_link *l, const uint8_t *data, size_t len);
/** The peer closed its side: a frame cut short gets its status-only frame. */
fc_link_event fc_link_end_of_stream(fc_link *l);
/** After FC_LINK_END_*: with --forever, get ready for the next device on the same storage. */
void fc_link_restart(fc_link *l);

/** Queued output not yet sent. */
static inline size_t fc_link_pending(const fc_link *l)
{
    return l->out_len - l->out_off;
}
/** Marks n queued bytes as sent. */
void fc_link_sent(fc_link *l, size_t n);
/** Writes all queued output to a blocking descriptor (a file or a serial line) and marks it
 *  sent, also when the write fails: the peer cannot take those bytes, and keeping them would
 *  send them ahead of the next answer. Returns 0, or -1 with errno set. */
int fc_link_write_out(fc_link *l, int fd);

/** Totals over several links, printed with -v when the program ends. */
typedef struct fc_link_stats {
    int devices;
    uint64_t messages, sessions, rejected;
    uint64_t sf_messages, sf_device_errors;
    double device_seconds;
} fc_link_stats;

void fc_link_stats_add(fc_link_stats *acc, const fc_link *l);
void fc_link_stats_print(const fc_link_stats *acc, const fc_options *opt);

/* Subcommand option helpers: accept "--name VALUE" and "--name=VALUE". */
bool fc_arg_value(int argc, char **argv, int *i, const char *name, const char **value);
bool fc_parse_u32(const char *text, uint32_t max, uint32_t *out);
/** Parses the options every transport shares (--keep-storage, --max-length N,
 *  --factory-trust FILE); returns true
 *  when argv[*i] was one of them, sets *bad on a malformed value. */
bool fc_link_common_option(int argc, char **argv, int *i, fc_link_settings *s, bool *bad);

#endif
