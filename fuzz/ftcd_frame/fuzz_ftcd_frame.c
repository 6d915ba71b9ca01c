/* libFuzzer target for the FTCD frame reader (both directions). The first input byte picks the
 * direction and how the stream is chunked; the rest is the stream. Every frame the reader
 * accepts must re-encode to a frame the reader accepts again with the same content. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ftcd_frame.h"

#define FUZZ_MAX_LENGTH 4096u

static void roundtrip(ftcd_frame_kind kind, const ftcd_frame *f)
{
    uint8_t buf[FUZZ_MAX_LENGTH + 64];
    size_t len = 0;
    ftcd_status st =
        kind == FTCD_KIND_REQUEST
            ? ftcd_encode_request(f->cbor, f->cbor_len, buf, sizeof(buf), &len)
            : ftcd_encode_response(f->status, f->cbor, f->cbor_len, buf, sizeof(buf), &len);
    if (st != FTCD_STATUS_SUCCESS) {
        abort();
    }
    ftcd_reader r;
    size_t used = 0;
    ftcd_reader_init(&r, kind, FUZZ_MAX_LENGTH);
    if (ftcd_reader_feed(&r, buf, len, &used) != FTCD_READ_FRAME || used != len) {
        abort();
    }
    ftcd_frame again;
    ftcd_reader_take(&r, &again);
    if (again.status != f->status || again.cbor_len != f->cbor_len ||
        (f->cbor_len > 0 && memcmp(again.cbor, f->cbor, f->cbor_len) != 0)) {
        abort();
    }
    ftcd_frame_free(&again);
    ftcd_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    ftcd_frame_kind kind = (data[0] & 1) ? FTCD_KIND_RESPONSE : FTCD_KIND_REQUEST;
    size_t step = (size_t)(data[0] >> 1) + 1;
    data++;
    size--;

    ftcd_reader r;
    ftcd_reader_init(&r, kind, FUZZ_MAX_LENGTH);
    size_t pos = 0;
    while (pos < size) {
        size_t chunk = size - pos < step ? size - pos : step;
        size_t used = 0;
        ftcd_read_result res = ftcd_reader_feed(&r, data + pos, chunk, &used);
        if (used > chunk) {
            abort();
        }
        pos += used;
        if (res == FTCD_READ_FRAME) {
            ftcd_frame f;
            ftcd_reader_take(&r, &f);
            if (f.cbor_len > FUZZ_MAX_LENGTH || (f.status == 0) != (f.cbor != NULL)) {
                abort();
            }
            roundtrip(kind, &f);
            ftcd_frame_free(&f);
        } else if (res == FTCD_READ_ERROR) {
            ftcd_status why = ftcd_reader_error(&r);
            if (why != FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE &&
                why != FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE) {
                abort();
            }
            /* Resynchronise the way the listener and the tool do: drop the frame, search on. */
            ftcd_reader_reset(&r);
            if (used == 0) {
                pos++;
            }
        } else if (used != chunk) {
            abort();
        }
    }
    (void)ftcd_reader_truncation(&r);
    ftcd_reader_free(&r);
    return 0;
}
