/* Secure factory message layouts: encoders and parsers agree, every truncation, extension and
 * wrong header is refused, and the byte layout matches docs/secure-factory-protocol.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_msg.h"

#include "tally_check.h"

typedef sf_status (*parse_fn)(const uint8_t *, size_t, void *);

/* Every proper prefix and a one-byte extension of a valid message must be refused. */
static void check_truncations(const uint8_t *msg, size_t len, parse_fn parse, void *out)
{
    uint8_t buf[512];
    for (size_t n = 0; n < len; n++) {
        memcpy(buf, msg, n);
        CHECK(parse(buf, n, out) != SF_OK);
    }
    memcpy(buf, msg, len);
    buf[len] = 0;
    CHECK(parse(buf, len + 1, out) != SF_OK);
    buf[0] = 0x02; /* another version */
    CHECK(parse(buf, len, out) == SF_DEV_UNSUPPORTED);
}

int main(void)
{
    /* INIT_REQUEST: the documented example vector. */
    sf_init_request req = {.factory_id = 0x06aa0fb3, .sid_len = 4};
    for (int i = 0; i < 16; i++) {
        req.session_nonce[i] = (uint8_t)i;
    }
    memcpy(req.sid, "dev1", 4);
    uint8_t msg[512];
    size_t len = 0;
    CHECK(sf_init_request_encode(&req, msg, sizeof(msg), &len) == SF_OK);
    char hex[1100];
    sf_hex_encode(msg, len, hex);
    CHECK(strcmp(hex, "0181001906aa0fb3000102030405060708090a0b0c0d0e0f0464657631") == 0);
    sf_init_request back;
    CHECK(sf_init_request_parse(msg, len, &back) == SF_OK);
    CHECK(back.factory_id == req.factory_id && back.sid_len == 4 &&
          memcmp(back.sid, "dev1", 4) == 0);
    check_truncations(msg, len, (parse_fn)sf_init_request_parse, &back);
    /* Every output size below the message size reports the size needed. */
    for (size_t size = 0; size < len; size++) {
        size_t need = 0;
        CHECK(sf_init_request_encode(&req, msg, size, &need) == SF_DEV_BUFFER_TOO_SMALL);
        CHECK(need == len);
    }
    req.sid_len = 0;
    CHECK(sf_init_request_encode(&req, msg, sizeof(msg), &len) == SF_INVALID_ARGUMENT);

    /* INIT_RESPONSE */
    sf_init_response ir;
    memset(&ir, 0xab, sizeof(ir));
    ir.device_pub[0] = 0x04;
    CHECK(sf_init_response_encode(&ir, msg, sizeof(msg), &len) == SF_OK);
    CHECK(len == 4 + 65 + 16 + 64 && msg[1] == 0x01 && msg[2] == 0 && msg[3] == 145);
    sf_init_response ir2;
    CHECK(sf_init_response_parse(msg, len, &ir2) == SF_OK && memcmp(&ir, &ir2, sizeof(ir)) == 0);
    check_truncations(msg, len, (parse_fn)sf_init_response_parse, &ir2);
    msg[4] = 0x02; /* compressed points are not accepted */
    CHECK(sf_init_response_parse(msg, len, &ir2) == SF_DEV_MALFORMED);

    /* CONFIG_REQUEST: offsets of the parts. */
    uint8_t binding[16], eph[65];
    memset(binding, 0x11, sizeof(binding));
    memset(eph, 0x22, sizeof(eph));
    eph[0] = 0x04;
    CHECK(sf_config_request_begin(binding, eph, 10, msg, sizeof(msg), &len) == SF_OK);
    CHECK(len == 4 + 16 + 65 + 10 + 16 + 64);
    sf_config_request cr;
    CHECK(sf_config_request_parse(msg, len, &cr) == SF_OK);
    CHECK(cr.ciphertext == msg + 85 && cr.ciphertext_len == 10 && cr.tag == msg + 95 &&
          cr.service_sig == msg + 111 && cr.aad_len == 85 && cr.signed_len == len - 64);
    check_truncations(msg, len, (parse_fn)sf_config_request_parse, &cr);

    /* CONFIG_RESPONSE and DEVICE_ERROR */
    sf_config_response fr;
    memset(&fr, 0x33, sizeof(fr));
    CHECK(sf_config_response_encode(&fr, msg, sizeof(msg), &len) == SF_OK && len == 53);
    sf_config_response fr2;
    CHECK(sf_config_response_parse(msg, len, &fr2) == SF_OK && memcmp(&fr, &fr2, sizeof(fr)) == 0);
    check_truncations(msg, len, (parse_fn)sf_config_response_parse, &fr2);
    sf_device_error de = {SF_DEV_DECRYPT, -0x12};
    CHECK(sf_device_error_encode(&de, msg, sizeof(msg), &len) == SF_OK);
    sf_hex_encode(msg, len, hex);
    CHECK(strcmp(hex, "017f000504ffffffee") == 0);
    sf_device_error de2;
    CHECK(sf_device_error_parse(msg, len, &de2) == SF_OK && de2.code == 4 && de2.detail == -0x12);
    check_truncations(msg, len, (parse_fn)sf_device_error_parse, &de2);
    /* A message of one type is not accepted as another. */
    CHECK(sf_config_response_parse(msg, len, &fr2) == SF_DEV_UNSUPPORTED);

    /* Status texts: every code has its own text. */
    CHECK(strcmp(sf_status_name(SF_DEV_UNKNOWN_FACTORY), "DEV_UNKNOWN_FACTORY") == 0);
    CHECK(strcmp(sf_status_text(9999), "unknown secure factory status") == 0);
    CHECK(strcmp(sf_status_text(SF_DEV_KEYGEN), sf_status_text(SF_DEV_NO_MEMORY)) != 0);

    /* Session IDs and hex. */
    CHECK(sf_session_id_valid("e78d9c272156fb9b1a5c"));
    CHECK(!sf_session_id_valid("") && !sf_session_id_valid("a b") && !sf_session_id_valid("a/b"));
    char longid[80];
    memset(longid, 'a', 65);
    longid[65] = '\0';
    CHECK(!sf_session_id_valid(longid));
    longid[64] = '\0';
    CHECK(sf_session_id_valid(longid));
    uint8_t bytes[4];
    size_t n = 0;
    CHECK(sf_hex_decode("01ABff", bytes, sizeof(bytes), &n) == SF_OK && n == 3 && bytes[1] == 0xab);
    CHECK(sf_hex_decode("0", bytes, sizeof(bytes), &n) == SF_HEX_INVALID);
    CHECK(sf_hex_decode("zz", bytes, sizeof(bytes), &n) == SF_HEX_INVALID);
    CHECK(sf_hex_decode("0102030405", bytes, sizeof(bytes), &n) == SF_DEV_BUFFER_TOO_SMALL);

    printf("sf_msg: %d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
