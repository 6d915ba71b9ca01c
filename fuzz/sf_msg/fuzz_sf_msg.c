/* libFuzzer target: every secure-factory message parser, and the device's message handler on
 * a RAM-backed device that has an open session (so both message kinds reach their checks).
 *
 * The session is opened once, in LLVMFuzzerInitialize: its INIT_REQUEST costs a P-256 key
 * generation and a signature, which per input held the target at a few hundred executions a
 * second. Each input gets a fresh device holding that same session record (the device entropy
 * is a counter, so the session and its transcript are the same in every run and the fuzzer can
 * learn the binding a CONFIG_REQUEST needs to get past the session check to the signature).
 * Two seeds start it there: corpus/init_request_trusted_factory (an INIT_REQUEST the device
 * answers: key generation, proof of possession, session stored) and
 * corpus/config_request_this_session (a CONFIG_REQUEST with this session's binding, refused at
 * the signature).
 *
 * Checked for every input: it is answered, a failure is answered with a DEVICE_ERROR carrying
 * the returned code, only an INIT_REQUEST can succeed (nobody but the service can sign a
 * configuration), and anything else leaves the session record as it was and stores no
 * bootstrap key. */
#include <stdlib.h>
#include <string.h>

#include "fcc_bundle_fields.h"
#include "kiln/device.h"
#include "kiln/kv_ram.h"
#include "ram_device.h"
#include "kiln_sf.h"
#include "sf_msg.h"

static const char trusted_key[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGmm/bFEb5SblMlSLwsnkd1u/hCse\n"
    "wHAh3qZTySZDkLmlor9vm7PcyhTaRkXhCQwKpXYx4e0MANgx0Z8kqFjcbg==\n"
    "-----END PUBLIC KEY-----\n";

static const kiln_sf_trust_key trust_key = {1, (const uint8_t *)trusted_key, sizeof(trusted_key)};
static const kiln_sf_trust trust = {&trust_key, 1};

#define SESSION_RECORD_MAX 512u

/* The session record the device keeps after answering the fixed INIT_REQUEST. */
static uint8_t session_record[SESSION_RECORD_MAX];
static size_t session_record_len;

typedef ram_device fuzz_device;

static void device_open(fuzz_device *fd)
{
    if (!ram_device_open(fd)) {
        abort();
    }
}

static void device_close(fuzz_device *fd)
{
    ram_device_close(fd);
}

static kcm_status_e read_session(fuzz_device *fd, uint8_t *buf, size_t size, size_t *len)
{
    return kiln_kcm_item_get_data(&fd->dev, (const uint8_t *)KILN_SF_SESSION_ITEM,
                                  strlen(KILN_SF_SESSION_ITEM), KCM_CONFIG_ITEM, buf, size, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_device fd;
    device_open(&fd);
    sf_init_request init = {.factory_id = 1, .sid_len = 4};
    memcpy(init.sid, "fuzz", 4);
    uint8_t msg[128], out[KILN_SF_ANSWER_MAX];
    size_t msg_len = 0, out_len = 0;
    if (sf_init_request_encode(&init, msg, sizeof(msg), &msg_len) != SF_OK ||
        kiln_sf_handle_message(&fd.dev, &trust, msg, msg_len, out, sizeof(out), &out_len, NULL) !=
            SF_OK ||
        read_session(&fd, session_record, sizeof(session_record), &session_record_len) !=
            KCM_STATUS_SUCCESS) {
        abort();
    }
    device_close(&fd);
    return 0;
}

static void parse_every_kind(const uint8_t *data, size_t size)
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
}

/* The answer must say what the handler returned. */
static void check_answer(sf_status st, const uint8_t *out, size_t out_len)
{
    if (out_len == 0) {
        abort(); /* every input is answered */
    }
    if (st == SF_OK) {
        sf_init_response resp;
        if (sf_init_response_parse(out, out_len, &resp) != SF_OK) {
            abort();
        }
        return;
    }
    sf_device_error e;
    if (sf_device_error_parse(out, out_len, &e) != SF_OK || e.code != (uint8_t)st ||
        st >= SF_INVALID_ARGUMENT) {
        abort();
    }
}

/* A message the handler refused changed nothing: same session, no bootstrap key. */
static void check_unchanged(fuzz_device *fd)
{
    uint8_t now[SESSION_RECORD_MAX];
    size_t now_len = 0, key_size = 0;
    if (read_session(fd, now, sizeof(now), &now_len) != KCM_STATUS_SUCCESS ||
        now_len != session_record_len || memcmp(now, session_record, now_len) != 0) {
        abort();
    }
    if (kiln_kcm_item_get_data_size(&fd->dev, (const uint8_t *)FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY,
                                    strlen(FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY), KCM_PRIVATE_KEY_ITEM,
                                    &key_size) != KCM_STATUS_ITEM_NOT_FOUND) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_every_kind(data, size);

    fuzz_device fd;
    device_open(&fd);
    if (kiln_kcm_item_store(&fd.dev, (const uint8_t *)KILN_SF_SESSION_ITEM,
                            strlen(KILN_SF_SESSION_ITEM), KCM_CONFIG_ITEM, false, session_record,
                            session_record_len) != KCM_STATUS_SUCCESS) {
        abort();
    }
    uint8_t out[KILN_SF_ANSWER_MAX];
    size_t out_len = 0;
    int fcc_status = 0;
    sf_status st = kiln_sf_handle_message(&fd.dev, &trust, data, size, out, sizeof(out), &out_len,
                                          &fcc_status);
    check_answer(st, out, out_len);
    sf_msg_type type;
    if (st == SF_OK) {
        if (sf_msg_peek(data, size, &type) != SF_OK || type != SF_MSG_INIT_REQUEST) {
            abort(); /* nobody but the service can sign a configuration */
        }
    } else {
        check_unchanged(&fd);
    }
    device_close(&fd);
    return 0;
}
