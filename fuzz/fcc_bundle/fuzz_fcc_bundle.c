/* libFuzzer target: fcc_bundle_handler on arbitrary bytes, a fresh RAM-backed device each
 * run. Also checks the all-or-nothing promise: a refused bundle stores nothing. */
#include <stdlib.h>

#include "ram_device.h"

static int count(void *arg, const char *key, size_t len)
{
    (void)key;
    (void)len;
    (*(size_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ram_device d;
    if (!ram_device_open(&d)) {
        abort();
    }
    kiln_device *dev = &d.dev;
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcc_status_e st = kiln_fcc_bundle_handler(dev, data, size, &resp, &resp_len);
    if (resp == NULL && st != FCC_STATUS_FACTORY_DISABLED_ERROR) {
        abort(); /* every other outcome is answered */
    }
    size_t stored = 0;
    d.ram.backend.list(d.ram.backend.ctx, count, &stored);
    if (st != FCC_STATUS_SUCCESS && kiln_fcc_is_session_finished(dev) && stored != 0) {
        abort(); /* a refused, session-ending bundle must leave storage untouched */
    }
    free(resp);
    ram_device_close(&d);
    return 0;
}
