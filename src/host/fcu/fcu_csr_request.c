/* The by_device first step: a bundle that asks the device to generate its key and answer a
 * CSR with the device subject, plus the operation context that the second step needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "bundle_writer.h"
#include "fcu_prepare.h"
#include "kiln_pki.h"

/* The endpoint part of a session id: the first bytes of SHA-256 of the endpoint name, hex. */
static void endpoint_tag(const char *endpoint, char tag[FCU_SID_TAG_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[KILN_PKI_DIGEST_SIZE] = {0};
    (void)kiln_pki_sha256(endpoint, strlen(endpoint), md);
    for (size_t i = 0; i < FCU_SID_TAG_HEX / 2; i++) {
        tag[i * 2] = digits[md[i] >> 4];
        tag[i * 2 + 1] = digits[md[i] & 15];
    }
    tag[FCU_SID_TAG_HEX] = '\0';
}

char *fcu__session_id_new(const char *endpoint)
{
    unsigned char r[FCU_SID_RANDOM_HEX / 2];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return NULL;
    char *sid = malloc(FCU_SID_LEN + 1);
    if (!sid)
        return NULL;
    memcpy(sid, FCU_SID_PREFIX, 4);
    endpoint_tag(endpoint, sid + 4);
    static const char digits[] = "0123456789abcdef";
    char *hex = sid + 4 + FCU_SID_TAG_HEX;
    for (size_t i = 0; i < sizeof(r); i++) {
        hex[i * 2] = digits[r[i] >> 4];
        hex[i * 2 + 1] = digits[r[i] & 15];
    }
    hex[FCU_SID_RANDOM_HEX] = '\0';
    return sid;
}

bool fcu__session_id_of_other_endpoint(const char *sid, const char *endpoint)
{
    if (sid == NULL || strlen(sid) != FCU_SID_LEN || strncmp(sid, FCU_SID_PREFIX, 4) != 0)
        return false; /* not made by this configurator: nothing to compare */
    char tag[FCU_SID_TAG_HEX + 1];
    endpoint_tag(endpoint, tag);
    return strncmp(sid + 4, tag, FCU_SID_TAG_HEX) != 0;
}

static int context_create(const fcu_device_names *names, const fcu_prepare_input *in,
                          fcu_device_request *out, fcu_error *err)
{
    fcu_operation_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    out->operation_ctx = ctx;
    ctx->session_id = fcu__session_id_new(in->endpoint);
    ctx->endpoint = fcu__strdup(in->endpoint);
    ctx->serial = fcu__strdup(in->serial);
    ctx->key_name = fcu__strdup(names->key);
    ctx->keys_location = in->keys_location ? fcu__strdup(in->keys_location) : NULL;
    if (!ctx->session_id || !ctx->endpoint || !ctx->serial || !ctx->key_name)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    return 0;
}

/* The subject as a DN string, the way the device parses it (CN first). False when it does not
 * fit. LwM2M certificates carry the account id as OU. */
static bool csr_subject(const fcu_config *cfg, const char *endpoint, char *subject, size_t size)
{
    size_t n = (size_t)snprintf(subject, size, "CN=%s", endpoint);
    char *aid =
        (!cfg->bootstrap && cfg->lwm2m_uri.text) ? fcu__uri_account_id(cfg->lwm2m_uri.text) : NULL;
    const struct {
        const char *attr;
        const char *value;
    } parts[] = {{"OU", aid ? aid : cfg->device.organizational_unit.text},
                 {"O", cfg->device.organization.text},
                 {"L", cfg->device.locality.text},
                 {"ST", cfg->device.state.text},
                 {"C", cfg->device.country.text}};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && n < size; i++)
        if (parts[i].value)
            n += (size_t)snprintf(subject + n, size - n, ",%s=%s", parts[i].attr, parts[i].value);
    free(aid);
    return n < size;
}

typedef struct csr_bundle {
    const char *session_id;
    kiln_bw_csr_request req;
} csr_bundle;

static void write_csr_bundle(kiln_bundle_writer *w, const void *ctx)
{
    const csr_bundle *b = ctx;
    kiln_bw_bundle_begin(w, 5);
    kiln_bw_entry_text(w, FCC_GROUP_SESSION_ID, b->session_id);
    kiln_bw_entry_uint(w, FCC_GROUP_KEEP_ALIVE, 1);
    kiln_bw_entry_uint(w, FCC_GROUP_VERIFY, 0);
    kiln_bw_group(w, FCC_GROUP_CSR_REQUESTS, 1);
    kiln_bw_csr(w, &b->req);
}

int fcu__build_csr_request(const fcu_config *cfg, const fcu_prepare_input *in,
                           fcu_device_request *out, fcu_error *err)
{
    const fcu_device_names *names = fcu__names_of(cfg);
    int rc = context_create(names, in, out, err);
    if (rc)
        return rc;
    char subject[1024];
    if (!csr_subject(cfg, in->endpoint, subject, sizeof(subject)))
        return fcu__fail(err, FCU_STATUS_CSR_CREATE, names->key);
    /* SHA-256, digitalSignature, clientAuth */
    csr_bundle b = {out->operation_ctx->session_id, {names->key, subject, 1, 1, 4}};
    if (fcu__encode(write_csr_bundle, &b, &out->config_data, &out->config_size) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    return 0;
}
