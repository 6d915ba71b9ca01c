/* libFuzzer target: fcc_bundle_handler on arbitrary bytes, a fresh RAM-backed device each
 * run. Also checks the all-or-nothing promise: a refused bundle stores nothing. */
#include "kiln/device.h"
#include "kiln/kv_ram.h"

#include <stdlib.h>
#include <string.h>

static int fixed_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x5A, 32);
    return 0;
}

/* Deterministic "entropy" keeps runs reproducible. */
static int counter_entropy(void *ctx, uint8_t *buf, size_t len)
{
    unsigned *c = ctx;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(++*c * 2654435761u >> 24);
    }
    return 0;
}

static int count(void *arg, const char *key, size_t len)
{
    (void)key;
    (void)len;
    (*(size_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kiln_kv_ram ram;
    unsigned counter = 0;
    kiln_kv_ram_init(&ram);
    kiln_device_config cfg = {&ram.backend, fixed_root_key, NULL, counter_entropy, &counter};
    kiln_device dev;
    kiln_device_setup(&dev, &cfg);
    if (kiln_fcc_init(&dev) != FCC_STATUS_SUCCESS) {
        abort();
    }
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcc_status_e st = kiln_fcc_bundle_handler(&dev, data, size, &resp, &resp_len);
    if (resp == NULL && st != FCC_STATUS_FACTORY_DISABLED_ERROR) {
        abort(); /* every other outcome is answered */
    }
    size_t stored = 0;
    ram.backend.list(ram.backend.ctx, count, &stored);
    if (st != FCC_STATUS_SUCCESS && kiln_fcc_is_session_finished(&dev) && stored != 0) {
        abort(); /* a refused, session-ending bundle must leave storage untouched */
    }
    free(resp);
    kiln_fcc_finalize(&dev);
    kiln_kv_ram_free(&ram);
    return 0;
}
