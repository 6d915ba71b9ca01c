/* Secure factory: the messages the service and the device exchange through the station, and the
 * status numbers both sides report. docs/secure-factory-protocol.md is the specification; this
 * module is its only encoder and parser, linked by the device (C99) and by the host tools.
 *
 * Every message: version (0x01) | type | body length (u16 big endian) | body.
 *
 *   type 0x81 INIT_REQUEST    service -> device ("SCP 256")
 *             factory_id u32 BE | session_nonce[16] | sid_len u8 | sid[sid_len]
 *   type 0x01 INIT_RESPONSE   device -> service
 *             device_pub[65] (uncompressed P-256) | device_nonce[16] | pop_sig[64] (r||s)
 *   type 0x82 CONFIG_REQUEST  service -> device ("SCP 257")
 *             binding[16] | ephemeral_pub[65] | ciphertext[n] | gcm_tag[16] | service_sig[64]
 *   type 0x02 CONFIG_RESPONSE device -> service
 *             binding[16] | fcc_status u8 | mac[32]
 *   type 0x7f DEVICE_ERROR    device -> service
 *             code u8 | detail i32 BE
 *
 * Parsing only checks layout; the cryptographic checks belong to the two sides. */
#ifndef KILN_SF_MSG_H
#define KILN_SF_MSG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SF_VERSION          0x01u
#define SF_HEADER_SIZE      4u
#define SF_NONCE_SIZE       16u
#define SF_BINDING_SIZE     16u
#define SF_POINT_SIZE       65u
#define SF_SCALAR_SIZE      32u
#define SF_SIG_SIZE         64u
#define SF_TAG_SIZE         16u
#define SF_MAC_SIZE         32u
#define SF_HASH_SIZE        32u
#define SF_SID_MAX          64u
#define SF_BODY_MAX         65535u
#define SF_AES_KEY_SIZE     32u
#define SF_GCM_IV_SIZE      12u
#define SF_CONFIRM_KEY_SIZE 32u
/** HKDF output: AES-256 key | GCM IV | confirmation (HMAC) key. */
#define SF_OKM_SIZE (SF_AES_KEY_SIZE + SF_GCM_IV_SIZE + SF_CONFIRM_KEY_SIZE)

/* The numbers the station prints in "SCP <n>" for the two service -> device messages. */
#define SF_SCP_INIT   256
#define SF_SCP_CONFIG 257

/* Domain-separation labels (ASCII, followed by one 0x00 byte in every hash input). */
#define SF_LABEL_POP     "kiln-sf-v1 init"
#define SF_LABEL_CONFIG  "kiln-sf-v1 config"
#define SF_LABEL_KEYS    "kiln-sf-v1 keys"
#define SF_LABEL_DONE    "kiln-sf-v1 done"
#define SF_LABEL_SESSION "kiln-sf-v1 session"

typedef enum sf_msg_type {
    SF_MSG_INIT_REQUEST = 0x81,
    SF_MSG_INIT_RESPONSE = 0x01,
    SF_MSG_CONFIG_REQUEST = 0x82,
    SF_MSG_CONFIG_RESPONSE = 0x02,
    SF_MSG_DEVICE_ERROR = 0x7f
} sf_msg_type;

/* One status numbering for the whole secure factory: device codes 1..19, service and station
 * codes from 100 (the list says which is which). */
#include "kiln/status_sf.def"

typedef enum sf_status { SF_STATUS_MAP(SF_STATUS_ENUMERATOR) } sf_status;

/** Text for any status (unknown numbers get a generic text). */
const char *sf_status_text(int status);
/** Upper-case name without prefix, e.g. "DEV_DECRYPT"; "UNKNOWN" for unknown numbers. */
const char *sf_status_name(int status);

typedef struct sf_init_request {
    uint32_t factory_id;
    uint8_t session_nonce[SF_NONCE_SIZE];
    uint8_t sid_len;
    uint8_t sid[SF_SID_MAX];
} sf_init_request;

typedef struct sf_init_response {
    uint8_t device_pub[SF_POINT_SIZE];
    uint8_t device_nonce[SF_NONCE_SIZE];
    uint8_t pop_sig[SF_SIG_SIZE];
} sf_init_response;

/* Points into the message it was parsed from. */
typedef struct sf_config_request {
    const uint8_t *binding;
    const uint8_t *ephemeral_pub;
    const uint8_t *ciphertext;
    size_t ciphertext_len;
    const uint8_t *tag;
    const uint8_t *service_sig;
    /** The bytes the GCM tag authenticates as AAD: header | binding | ephemeral_pub. */
    const uint8_t *aad;
    size_t aad_len;
    /** The bytes the service signature covers (everything before the signature). */
    size_t signed_len;
} sf_config_request;

typedef struct sf_config_response {
    uint8_t binding[SF_BINDING_SIZE];
    uint8_t fcc_status;
    uint8_t mac[SF_MAC_SIZE];
} sf_config_response;

typedef struct sf_device_error {
    uint8_t code;
    int32_t detail;
} sf_device_error;

/** Reads the header: version, type and that the body length matches len exactly. */
sf_status sf_msg_peek(const uint8_t *msg, size_t len, sf_msg_type *type);

/* Encoders: write the whole message into out (out_size bytes); *out_len receives its length.
 * SF_DEV_BUFFER_TOO_SMALL when it does not fit (then *out_len holds the size needed). */
sf_status sf_init_request_encode(const sf_init_request *m, uint8_t *out, size_t out_size,
                                 size_t *out_len);
sf_status sf_init_response_encode(const sf_init_response *m, uint8_t *out, size_t out_size,
                                  size_t *out_len);
sf_status sf_config_response_encode(const sf_config_response *m, uint8_t *out, size_t out_size,
                                    size_t *out_len);
sf_status sf_device_error_encode(const sf_device_error *m, uint8_t *out, size_t out_size,
                                 size_t *out_len);
/** Writes header | binding | ephemeral_pub and reserves room for ciphertext_len bytes of
 *  ciphertext, the tag and the signature; the caller fills those in at the offsets given by
 *  sf_config_request_layout. */
sf_status sf_config_request_begin(const uint8_t binding[SF_BINDING_SIZE],
                                  const uint8_t ephemeral_pub[SF_POINT_SIZE], size_t ciphertext_len,
                                  uint8_t *out, size_t out_size, size_t *out_len);

/* Parsers: SF_DEV_MALFORMED on any layout error, SF_DEV_UNSUPPORTED on a wrong version or
 * type. */
sf_status sf_init_request_parse(const uint8_t *msg, size_t len, sf_init_request *m);
sf_status sf_init_response_parse(const uint8_t *msg, size_t len, sf_init_response *m);
sf_status sf_config_request_parse(const uint8_t *msg, size_t len, sf_config_request *m);
sf_status sf_config_response_parse(const uint8_t *msg, size_t len, sf_config_response *m);
sf_status sf_device_error_parse(const uint8_t *msg, size_t len, sf_device_error *m);

/** Session IDs are 1..64 characters of [A-Za-z0-9._:-]. */
int sf_session_id_valid(const char *sid);

/* Hex helpers shared by the command-line tools. */
/** Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void sf_hex_encode(const uint8_t *bytes, size_t len, char *out);
/** Decodes an even-length hex string (either case) into out; SF_HEX_INVALID on bad input,
 *  SF_DEV_BUFFER_TOO_SMALL when out is too small. */
sf_status sf_hex_decode(const char *hex, uint8_t *out, size_t out_size, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
