/* libFuzzer target for the device's FTCD listener on a fresh RAM-backed device each run. The
 * first input byte picks the chunk size and whether the secure-factory branch is on; the rest
 * is the byte stream from the tool. Every answer must be exactly one well-formed response
 * frame; after a verdict the listener starts over (as with --forever) on the remaining bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/ftcd.h"
#include "kiln_sf.h"
#include "ram_device.h"

#define FUZZ_REQUEST_MAX 8192u
#define FUZZ_OUTPUT_MAX  8192u

/* The pending output must be one complete response frame and nothing else. */
static void check_and_drain(kiln_ftcd_listener *l)
{
    size_t len = 0;
    const uint8_t *out = kiln_ftcd_output(l, &len);
    if (out == NULL) {
        return;
    }
    ftcd_reader r;
    size_t used = 0;
    ftcd_reader_init(&r, FTCD_KIND_RESPONSE, FUZZ_OUTPUT_MAX);
    if (ftcd_reader_feed(&r, out, len, &used) != FTCD_READ_FRAME || used != len ||
        ftcd_reader_skipped(&r) != 0) {
        abort();
    }
    ftcd_frame f;
    ftcd_reader_take(&r, &f);
    ftcd_frame_free(&f);
    ftcd_reader_free(&r);
    kiln_ftcd_output_sent(l, len);
}

static void verdict(kiln_ftcd_listener *l, kiln_ftcd_event ev)
{
    if (ev == KILN_FTCD_END_OK || ev == KILN_FTCD_END_FAILED) {
        kiln_ftcd_restart(l);
    }
    if (ev != KILN_FTCD_CONTINUE) {
        kiln_ftcd_stream_begins(l);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t request[FUZZ_REQUEST_MAX], output[FUZZ_OUTPUT_MAX];
    if (size < 1) {
        return 0;
    }
    size_t step = (size_t)(data[0] >> 1) + 1;
    kiln_sf_trust none = {NULL, 0};
    const kiln_sf_trust *trust = (data[0] & 1) ? &none : NULL;
    data++;
    size--;

    ram_device rd;
    if (!ram_device_open(&rd)) {
        abort();
    }
    kiln_ftcd_listener l;
    kiln_ftcd_config cfg = {&rd.dev, request, sizeof(request), output, sizeof(output), false, trust,
                            NULL,    NULL};
    if (kiln_ftcd_init(&l, &cfg) != FTCD_STATUS_SUCCESS) {
        abort();
    }
    kiln_ftcd_stream_begins(&l);
    size_t pos = 0;
    while (pos < size) {
        size_t chunk = size - pos < step ? size - pos : step;
        size_t used = 0;
        kiln_ftcd_event ev = kiln_ftcd_feed(&l, data + pos, chunk, &used);
        if (used > chunk || (used == 0 && kiln_ftcd_pending(&l) == 0 && ev == KILN_FTCD_CONTINUE)) {
            abort(); /* no progress without a reason */
        }
        pos += used;
        check_and_drain(&l);
        verdict(&l, ev);
    }
    check_and_drain(&l);
    kiln_ftcd_end_of_stream(&l);
    check_and_drain(&l);
    kiln_ftcd_fini(&l);
    ram_device_close(&rd);
    return 0;
}
