/* libFuzzer target: every secure-factory message parser, and the device's message handler on
 * a RAM-backed device that has an open session (so both message kinds reach their checks).
 * The handler must answer every input, and never store a bootstrap key for a forged
 * configuration. */
#include <stdlib.h>
#include <string.h>

#include "kiln/device.h"
#include "kiln/kv_ram.h"
#include "kiln_sf.h"
#include "sf_msg.h"

static const char trusted_key[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmm/bFEb5SblMlSLwsnkd1u/hCse\n"
    "wHAh3qZTySZDkLmlor9vm7PcyhTaRkXhCQwKpXYx4e0MANgx0Z8kqFjcbg==\n"
    "-----END PUBLIC KEY-----\n";

static int fixed_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x5A, 32);
    return 0;
}

static int counter_entropy(void *ctx, uint8_t *buf, size_t len)
{
    unsigned *c = ctx;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(++*c * 2654435761u >> 24);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_init_request a;
    sf_init_response b;
    sf_config_request c;
    sf_config_response d;
    sf_device_error e;
    (void)sf_init_request_parse(data, size, &a);
    (void)sf_init_response_parse(data, size, &b);
    (void)sf_config_request_parse(data, size, &c);
    (void)sf_config_response_parse(data, size, &d);
    (void)sf_device_error_parse(data, size, &e);

    kiln_kv_ram ram;
    unsigned counter = 0;
    kiln_kv_ram_init(&ram);
    kiln_device_config cfg = {&ram.backend, fixed_root_key, NULL, counter_entropy, &counter};
    kiln_device dev;
    kiln_device_setup(&dev, &cfg);
    kiln_sf_trust_key key = {1, (const uint8_t *)trusted_key, sizeof(trusted_key)};
    kiln_sf_trust trust = {&key, 1};
    sf_init_request init = {.factory_id = 1, .sid_len = 4};
    memcpy(init.sid, "fuzz", 4);
    uint8_t msg[128], out[KILN_SF_ANSWER_MAX];
    size_t msg_len = 0, out_len = 0;
    if (sf_init_request_encode(&init, msg, sizeof(msg), &msg_len) != SF_OK ||
        kiln_sf_handle_message(&dev, &trust, msg, msg_len, out, sizeof(out), &out_len, NULL) !=
            SF_OK) {
        abort();
    }
    int fcc_status = 0;
    sf_status st =
        kiln_sf_handle_message(&dev, &trust, data, size, out, sizeof(out), &out_len, &fcc_status);
    if (out_len == 0) {
        abort(); /* every input is answered */
    }
    sf_msg_type type;
    if (st == SF_OK && (sf_msg_peek(data, size, &type) != SF_OK || type != SF_MSG_INIT_REQUEST)) {
        abort(); /* nobody but the service can sign a configuration */
    }
    if (dev.fcc_ready) {
        kiln_fcc_finalize(&dev);
    } else {
        kiln_kcm_finalize(&dev);
    }
    kiln_kv_ram_free(&ram);
    return 0;
}
