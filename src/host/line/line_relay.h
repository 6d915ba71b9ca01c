/* The relay of the secure factory over the factory line: one secure-factory payload (what the
 * service's new_device or get_device_configuration returned) carried to a device in a request
 * frame like a bundle's, and the device's answer back. The relay understands nothing of the
 * messages beyond their header: the station can neither read nor alter what it carries
 * (docs/secure-factory-protocol.md, "Over the factory line"). */
#ifndef KILN_LINE_RELAY_H
#define KILN_LINE_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "line_conn.h"
#include "sf_msg.h"

/** Longest message the relay carries (header + body). */
#define LINE_RELAY_MESSAGE_MAX (SF_HEADER_SIZE + SF_BODY_MAX)

typedef struct line_relay_answer {
    uint8_t *message; /* the device's answer (malloc'ed), NULL on failure */
    size_t len;
    sf_msg_type type;     /* INIT_RESPONSE, CONFIG_RESPONSE or DEVICE_ERROR */
    int device_error;     /* DEVICE_ERROR: the code the device reported, else 0 */
    char error_text[700]; /* why it failed */
} line_relay_answer;

/** True when payload is a request the relay may carry (INIT_REQUEST or CONFIG_REQUEST). */
int line_relay_is_request(const uint8_t *payload, size_t len, sf_msg_type *type);

/** Sends payload to the device at addr and waits (timeout seconds) for its answer. Returns 0,
 *  or a LINE_E_* code with error_text (transport failures, a device status other than success,
 *  an answer that is not a secure-factory answer). */
int line_relay(const line_address *addr, double timeout, const uint8_t *payload, size_t len,
               line_relay_answer *out);
void line_relay_answer_free(line_relay_answer *a);

#endif
