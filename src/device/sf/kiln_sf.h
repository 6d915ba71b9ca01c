/* Secure factory, device side: answers the two messages the station relays from the secure
 * factory service (docs/secure-factory-protocol.md).
 *
 *   INIT_REQUEST   -> generates the device's P-256 key, proves possession, keeps the session
 *                     state in KCM (item "kiln.sf.Session") and answers INIT_RESPONSE.
 *   CONFIG_REQUEST -> checks the service signature and the session binding, decrypts the
 *                     configuration bundle, stores the device key as
 *                     mbed.BootstrapDevicePrivateKey, hands the bundle to the FCC bundle handler
 *                     and answers CONFIG_RESPONSE authenticated with the session key.
 *
 * Any failure is answered with a DEVICE_ERROR message carrying one of the SF_DEV_* codes, so the
 * station can pass it to report_error. Portable C99 on Mbed TLS and the device library. */
#ifndef KILN_SF_H
#define KILN_SF_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/device.h"
#include "sf_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** KCM config item holding the state between the two messages of a session. */
#define KILN_SF_SESSION_ITEM "kiln.sf.Session"

/** One service public key the firmware trusts, by factory ID. key is a SubjectPublicKeyInfo in
 *  DER, or in PEM with key_len counting the terminating NUL (Mbed TLS convention). */
typedef struct kiln_sf_trust_key {
    uint32_t factory_id;
    const uint8_t *key;
    size_t key_len;
} kiln_sf_trust_key;

typedef struct kiln_sf_trust {
    const kiln_sf_trust_key *keys;
    size_t count;
} kiln_sf_trust;

/** Largest answer the device produces (INIT_RESPONSE). */
#define KILN_SF_ANSWER_MAX 256u

/**
 * Handles one secure-factory message and writes the device's answer into out.
 *
 * dev must be set up (kiln_device_setup) with an entropy source; KCM and FCC are initialised
 * here when needed. Returns SF_OK when the message was handled successfully; otherwise the
 * SF_DEV_* code that was also sent back in a DEVICE_ERROR answer. *out_len is 0 only when not
 * even an error answer fits in out (SF_DEV_BUFFER_TOO_SMALL) or an argument is NULL.
 * A CONFIG_RESPONSE whose fcc_status is not 0 is an SF_DEV_* failure too: the function then
 * returns SF_OK and *fcc_status_out (may be NULL) receives the bundle handler's status.
 */
sf_status kiln_sf_handle_message(kiln_device *dev, const kiln_sf_trust *trust, const uint8_t *msg,
                                 size_t msg_len, uint8_t *out, size_t out_size, size_t *out_len,
                                 int *fcc_status_out);

#ifdef __cplusplus
}
#endif
#endif
