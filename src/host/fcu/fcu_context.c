/* The operation context that carries a by_device session from its first bundle to the answer:
 * a CBOR map of text fields, written and read by the line between the two steps. */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "fcu_prepare.h"

#define CONTEXT_FIELDS 5
static const char *const ctx_keys[CONTEXT_FIELDS] = {"SID", "EndpointName", "SerialNumber", "PrKN",
                                                     "KeysLocation"};

void fcu_operation_context_free(fcu_operation_context *ctx)
{
    if (!ctx)
        return;
    free(ctx->session_id);
    free(ctx->endpoint);
    free(ctx->serial);
    free(ctx->keys_location);
    free(ctx->key_name);
    free(ctx);
}

static void write_context(kiln_bundle_writer *w, const void *arg)
{
    const fcu_operation_context *ctx = arg;
    const char *values[CONTEXT_FIELDS] = {ctx->session_id, ctx->endpoint, ctx->serial,
                                          ctx->key_name, ctx->keys_location};
    kiln_bw_map(w, values[4] ? 5 : 4);
    for (size_t i = 0; i < CONTEXT_FIELDS; i++)
        if (values[i])
            kiln_bw_entry_text(w, ctx_keys[i], values[i]);
}

int fcu_operation_context_save(const fcu_operation_context *ctx, uint8_t **out, size_t *out_len)
{
    return fcu__encode(write_context, ctx, out, out_len) == 0 ? 0 : FCU_STATUS_GENERAL;
}

static bool is_text(const cbor_item_t *item)
{
    return cbor_isa_string(item) && cbor_string_is_definite(item);
}

static char *text_copy(const cbor_item_t *item)
{
    size_t len = cbor_string_length(item);
    char *v = malloc(len + 1);
    if (!v)
        return NULL;
    if (len)
        memcpy(v, cbor_string_handle(item), len);
    v[len] = '\0';
    return v;
}

/* The field of ctx that key names, NULL for an unknown key. */
static char **context_slot(fcu_operation_context *ctx, const cbor_item_t *key)
{
    char **slots[CONTEXT_FIELDS] = {&ctx->session_id, &ctx->endpoint, &ctx->serial, &ctx->key_name,
                                    &ctx->keys_location};
    for (size_t k = 0; k < CONTEXT_FIELDS; k++) {
        size_t klen = strlen(ctx_keys[k]);
        if (cbor_string_length(key) == klen &&
            memcmp(cbor_string_handle(key), ctx_keys[k], klen) == 0)
            return slots[k];
    }
    return NULL;
}

/* Text keys and values only; the first of a repeated key wins, unknown keys are ignored. */
static int context_fill(fcu_operation_context *ctx, const cbor_item_t *root)
{
    const struct cbor_pair *pairs = cbor_map_handle(root);
    for (size_t i = 0; i < cbor_map_size(root); i++) {
        if (!is_text(pairs[i].key) || !is_text(pairs[i].value))
            return FCU_STATUS_GENERAL;
        char **slot = context_slot(ctx, pairs[i].key);
        if (!slot || *slot)
            continue;
        *slot = text_copy(pairs[i].value);
        if (!*slot)
            return FCU_STATUS_GENERAL;
    }
    return ctx->session_id && ctx->endpoint && ctx->serial && ctx->key_name ? 0
                                                                            : FCU_STATUS_GENERAL;
}

int fcu_operation_context_load(const uint8_t *data, size_t len, fcu_operation_context **out)
{
    *out = NULL;
    if (len == 0 || len > 65536)
        return FCU_STATUS_GENERAL;
    size_t read = 0;
    cbor_item_t *root = fcu__cbor_load_bounded(data, len, &read);
    if (!root)
        return FCU_STATUS_GENERAL;
    fcu_operation_context *ctx = calloc(1, sizeof(*ctx));
    int rc = (ctx && read == len && cbor_isa_map(root) && cbor_map_is_definite(root))
                 ? context_fill(ctx, root)
                 : FCU_STATUS_GENERAL;
    cbor_decref(&root);
    if (rc) {
        fcu_operation_context_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}
