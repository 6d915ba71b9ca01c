/* libFuzzer target: the configurator's reading of a device answer (verify_device_response
 * without an operation context, which is all parsing) and of a saved operation context. */
#include <stddef.h>
#include <stdint.h>

#include "fcu/fcu.h"

static fcu *handle(void)
{
    static fcu *f;
    if (!f) {
        fcu_options opts = {.home_dir = "/nonexistent-kiln-fuzz"};
        f = fcu_open(&opts);
    }
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcu_device_response_status s;
    fcu_verify_device_response(handle(), "fuzz-endpoint", data, size, NULL, &s);
    /* the result must be well formed: a status, and an error entry whenever it is not 0 */
    if (s.status != 0 && s.errors.count == 0)
        __builtin_trap();
    for (size_t i = 0; i < s.warnings.count; i++)
        if (!s.warnings.items[i].message || !s.warnings.items[i].message[0])
            __builtin_trap();
    fcu_device_response_status_free(&s);

    /* a context that loads saves, and what it saves loads back and saves to the same bytes */
    fcu_operation_context *ctx = NULL;
    if (fcu_operation_context_load(data, size, &ctx) == 0) {
        uint8_t *out = NULL, *again = NULL;
        size_t len = 0, again_len = 0;
        fcu_operation_context *reloaded = NULL;
        if (fcu_operation_context_save(ctx, &out, &len) != 0 ||
            fcu_operation_context_load(out, len, &reloaded) != 0 ||
            fcu_operation_context_save(reloaded, &again, &again_len) != 0 || again_len != len ||
            __builtin_memcmp(again, out, len) != 0)
            __builtin_trap();
        __builtin_free(out);
        __builtin_free(again);
        fcu_operation_context_free(reloaded);
        fcu_operation_context_free(ctx);
    }
    return 0;
}
