/* Secure factory message layouts (see sf_msg.h and docs/secure-factory-protocol.md). */
#include "sf_msg.h"

#include <stdbool.h>
#include <string.h>

#define INIT_REQUEST_FIXED   (4u + SF_NONCE_SIZE + 1u)
#define INIT_RESPONSE_BODY   (SF_POINT_SIZE + SF_NONCE_SIZE + SF_SIG_SIZE)
#define CONFIG_REQUEST_FIXED (SF_BINDING_SIZE + SF_POINT_SIZE + SF_TAG_SIZE + SF_SIG_SIZE)
#define CONFIG_RESPONSE_BODY (SF_BINDING_SIZE + 1u + SF_MAC_SIZE)
#define DEVICE_ERROR_BODY    5u

static void put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Writes the header for a body of body_len bytes after checking the message (valid) and the
 * room. */
static sf_status begin(bool valid, uint8_t type, size_t body_len, uint8_t *out, size_t out_size,
                       size_t *out_len)
{
    if (!valid || out_len == NULL || body_len > SF_BODY_MAX) {
        return SF_INVALID_ARGUMENT;
    }
    *out_len = SF_HEADER_SIZE + body_len;
    if (out == NULL || out_size < *out_len) {
        return SF_DEV_BUFFER_TOO_SMALL;
    }
    out[0] = SF_VERSION;
    out[1] = type;
    put_u16(out + 2, body_len);
    return SF_OK;
}

sf_status sf_msg_peek(const uint8_t *msg, size_t len, sf_msg_type *type)
{
    if (msg == NULL || len < SF_HEADER_SIZE) {
        return SF_DEV_MALFORMED;
    }
    if (msg[0] != SF_VERSION) {
        return SF_DEV_UNSUPPORTED;
    }
    size_t body_len = ((size_t)msg[2] << 8) | msg[3];
    if (body_len != len - SF_HEADER_SIZE) {
        return SF_DEV_MALFORMED;
    }
    switch (msg[1]) {
    case SF_MSG_INIT_REQUEST:
    case SF_MSG_INIT_RESPONSE:
    case SF_MSG_CONFIG_REQUEST:
    case SF_MSG_CONFIG_RESPONSE:
    case SF_MSG_DEVICE_ERROR:
        break;
    default:
        return SF_DEV_UNSUPPORTED;
    }
    if (type != NULL) {
        *type = (sf_msg_type)msg[1];
    }
    return SF_OK;
}

static sf_status expect(const uint8_t *msg, size_t len, sf_msg_type want)
{
    sf_msg_type type;
    sf_status st = sf_msg_peek(msg, len, &type);
    if (st != SF_OK) {
        return st;
    }
    return type == want ? SF_OK : SF_DEV_UNSUPPORTED;
}

sf_status sf_init_request_encode(const sf_init_request *m, uint8_t *out, size_t out_size,
                                 size_t *out_len)
{
    if (m == NULL || m->sid_len == 0 || m->sid_len > SF_SID_MAX) {
        return SF_INVALID_ARGUMENT;
    }
    sf_status st =
        begin(true, SF_MSG_INIT_REQUEST, INIT_REQUEST_FIXED + m->sid_len, out, out_size, out_len);
    if (st != SF_OK) {
        return st;
    }
    uint8_t *p = out + SF_HEADER_SIZE;
    put_u32(p, m->factory_id);
    memcpy(p + 4, m->session_nonce, SF_NONCE_SIZE);
    p[4 + SF_NONCE_SIZE] = m->sid_len;
    memcpy(p + INIT_REQUEST_FIXED, m->sid, m->sid_len);
    return SF_OK;
}

sf_status sf_init_request_parse(const uint8_t *msg, size_t len, sf_init_request *m)
{
    sf_status st = expect(msg, len, SF_MSG_INIT_REQUEST);
    if (st != SF_OK) {
        return st;
    }
    const uint8_t *p = msg + SF_HEADER_SIZE;
    size_t body = len - SF_HEADER_SIZE;
    if (body < INIT_REQUEST_FIXED + 1u) {
        return SF_DEV_MALFORMED;
    }
    uint8_t sid_len = p[4 + SF_NONCE_SIZE];
    if (sid_len == 0 || sid_len > SF_SID_MAX || body != INIT_REQUEST_FIXED + sid_len) {
        return SF_DEV_MALFORMED;
    }
    m->factory_id = get_u32(p);
    memcpy(m->session_nonce, p + 4, SF_NONCE_SIZE);
    m->sid_len = sid_len;
    memcpy(m->sid, p + INIT_REQUEST_FIXED, sid_len);
    return SF_OK;
}

sf_status sf_init_response_encode(const sf_init_response *m, uint8_t *out, size_t out_size,
                                  size_t *out_len)
{
    sf_status st =
        begin(m != NULL, SF_MSG_INIT_RESPONSE, INIT_RESPONSE_BODY, out, out_size, out_len);
    if (st != SF_OK) {
        return st;
    }
    uint8_t *p = out + SF_HEADER_SIZE;
    memcpy(p, m->device_pub, SF_POINT_SIZE);
    memcpy(p + SF_POINT_SIZE, m->device_nonce, SF_NONCE_SIZE);
    memcpy(p + SF_POINT_SIZE + SF_NONCE_SIZE, m->pop_sig, SF_SIG_SIZE);
    return SF_OK;
}

sf_status sf_init_response_parse(const uint8_t *msg, size_t len, sf_init_response *m)
{
    sf_status st = expect(msg, len, SF_MSG_INIT_RESPONSE);
    if (st != SF_OK) {
        return st;
    }
    if (len - SF_HEADER_SIZE != INIT_RESPONSE_BODY) {
        return SF_DEV_MALFORMED;
    }
    const uint8_t *p = msg + SF_HEADER_SIZE;
    if (p[0] != 0x04) {
        return SF_DEV_MALFORMED;
    }
    memcpy(m->device_pub, p, SF_POINT_SIZE);
    memcpy(m->device_nonce, p + SF_POINT_SIZE, SF_NONCE_SIZE);
    memcpy(m->pop_sig, p + SF_POINT_SIZE + SF_NONCE_SIZE, SF_SIG_SIZE);
    return SF_OK;
}

sf_status sf_config_request_begin(const uint8_t binding[SF_BINDING_SIZE],
                                  const uint8_t ephemeral_pub[SF_POINT_SIZE], size_t ciphertext_len,
                                  uint8_t *out, size_t out_size, size_t *out_len)
{
    if (binding == NULL || ephemeral_pub == NULL || ciphertext_len > SF_BODY_MAX) {
        return SF_INVALID_ARGUMENT;
    }
    sf_status st = begin(true, SF_MSG_CONFIG_REQUEST, CONFIG_REQUEST_FIXED + ciphertext_len, out,
                         out_size, out_len);
    if (st != SF_OK) {
        return st;
    }
    memcpy(out + SF_HEADER_SIZE, binding, SF_BINDING_SIZE);
    memcpy(out + SF_HEADER_SIZE + SF_BINDING_SIZE, ephemeral_pub, SF_POINT_SIZE);
    return SF_OK;
}

sf_status sf_config_request_parse(const uint8_t *msg, size_t len, sf_config_request *m)
{
    sf_status st = expect(msg, len, SF_MSG_CONFIG_REQUEST);
    if (st != SF_OK) {
        return st;
    }
    size_t body = len - SF_HEADER_SIZE;
    if (body < CONFIG_REQUEST_FIXED + 1u) {
        return SF_DEV_MALFORMED;
    }
    const uint8_t *p = msg + SF_HEADER_SIZE;
    m->binding = p;
    m->ephemeral_pub = p + SF_BINDING_SIZE;
    if (m->ephemeral_pub[0] != 0x04) {
        return SF_DEV_MALFORMED;
    }
    m->ciphertext = m->ephemeral_pub + SF_POINT_SIZE;
    m->ciphertext_len = body - CONFIG_REQUEST_FIXED;
    m->tag = m->ciphertext + m->ciphertext_len;
    m->service_sig = m->tag + SF_TAG_SIZE;
    m->aad = msg;
    m->aad_len = SF_HEADER_SIZE + SF_BINDING_SIZE + SF_POINT_SIZE;
    m->signed_len = len - SF_SIG_SIZE;
    return SF_OK;
}

sf_status sf_config_response_encode(const sf_config_response *m, uint8_t *out, size_t out_size,
                                    size_t *out_len)
{
    sf_status st =
        begin(m != NULL, SF_MSG_CONFIG_RESPONSE, CONFIG_RESPONSE_BODY, out, out_size, out_len);
    if (st != SF_OK) {
        return st;
    }
    uint8_t *p = out + SF_HEADER_SIZE;
    memcpy(p, m->binding, SF_BINDING_SIZE);
    p[SF_BINDING_SIZE] = m->fcc_status;
    memcpy(p + SF_BINDING_SIZE + 1, m->mac, SF_MAC_SIZE);
    return SF_OK;
}

sf_status sf_config_response_parse(const uint8_t *msg, size_t len, sf_config_response *m)
{
    sf_status st = expect(msg, len, SF_MSG_CONFIG_RESPONSE);
    if (st != SF_OK) {
        return st;
    }
    if (len - SF_HEADER_SIZE != CONFIG_RESPONSE_BODY) {
        return SF_DEV_MALFORMED;
    }
    const uint8_t *p = msg + SF_HEADER_SIZE;
    memcpy(m->binding, p, SF_BINDING_SIZE);
    m->fcc_status = p[SF_BINDING_SIZE];
    memcpy(m->mac, p + SF_BINDING_SIZE + 1, SF_MAC_SIZE);
    return SF_OK;
}

sf_status sf_device_error_encode(const sf_device_error *m, uint8_t *out, size_t out_size,
                                 size_t *out_len)
{
    sf_status st = begin(m != NULL, SF_MSG_DEVICE_ERROR, DEVICE_ERROR_BODY, out, out_size, out_len);
    if (st != SF_OK) {
        return st;
    }
    out[SF_HEADER_SIZE] = m->code;
    put_u32(out + SF_HEADER_SIZE + 1, (uint32_t)m->detail);
    return SF_OK;
}

sf_status sf_device_error_parse(const uint8_t *msg, size_t len, sf_device_error *m)
{
    sf_status st = expect(msg, len, SF_MSG_DEVICE_ERROR);
    if (st != SF_OK) {
        return st;
    }
    if (len - SF_HEADER_SIZE != DEVICE_ERROR_BODY) {
        return SF_DEV_MALFORMED;
    }
    m->code = msg[SF_HEADER_SIZE];
    m->detail = (int32_t)get_u32(msg + SF_HEADER_SIZE + 1);
    return SF_OK;
}

int sf_session_id_valid(const char *sid)
{
    if (sid == NULL) {
        return 0;
    }
    size_t n = 0;
    for (const char *c = sid; *c != '\0'; c++, n++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '.' || *c == '_' || *c == ':' || *c == '-';
        if (!ok || n >= SF_SID_MAX) {
            return 0;
        }
    }
    return n > 0;
}

void sf_hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

sf_status sf_hex_decode(const char *hex, uint8_t *out, size_t out_size, size_t *out_len)
{
    if (hex == NULL || out_len == NULL) {
        return SF_INVALID_ARGUMENT;
    }
    size_t n = strlen(hex);
    if (n % 2 != 0) {
        return SF_HEX_INVALID;
    }
    *out_len = n / 2;
    if (n / 2 > out_size) {
        return SF_DEV_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return SF_HEX_INVALID;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return SF_OK;
}
