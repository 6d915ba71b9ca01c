/* The device's answer to a bundle: its status, message and warnings, and for the by_device
 * first step the CSR, which becomes the second bundle with the signed certificate. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "fcu_prepare.h"

void fcu_device_response_status_free(fcu_device_response_status *s)
{
    if (!s)
        return;
    free(s->message);
    fcu__notice_list_free(&s->errors);
    fcu__notice_list_free(&s->warnings);
    if (s->next_request) {
        fcu_device_request_free(s->next_request);
        free(s->next_request);
    }
    memset(s, 0, sizeof(*s));
}

static void split_warnings(const char *text, fcu_notice_list *warnings)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > 0) {
            char *line = malloc(n + 1);
            if (line) {
                memcpy(line, p, n);
                line[n] = '\0';
                fcu__notice_add_text(warnings, 0, line);
                free(line);
            }
        }
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* The answer belongs to the context's session and carries the one CSR that was asked for, as
 * valid DER signed by its own P-256 key. */
static int csr_check(const char *endpoint, const fcu_response *resp,
                     const fcu_operation_context *ctx, X509_REQ **req, fcu_error *err)
{
    if (strcmp(endpoint, ctx->endpoint) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL,
                         "endpoint name differs from the one of the operation context");
    if (!resp->session_id)
        return fcu__fail(err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_GROUP_SESSION_ID);
    if (strcmp(resp->session_id, ctx->session_id) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL,
                         "the answer belongs to another session (SID differs)");
    if (resp->csr_count != 1 || strcmp(resp->csrs[0].key_name, ctx->key_name) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL, "the answer does not carry the requested CSR");
    const unsigned char *p = resp->csrs[0].der;
    *req = d2i_X509_REQ(NULL, &p, (long)resp->csrs[0].der_len);
    if (!*req || p != resp->csrs[0].der + resp->csrs[0].der_len) {
        ERR_clear_error();
        return fcu__fail(err, FCU_STATUS_GENERAL, "the CSR is not valid DER");
    }
    EVP_PKEY *pub = X509_REQ_get0_pubkey(*req);
    int rc = 0;
    if (!pub || X509_REQ_verify(*req, pub) != 1)
        rc = fcu__fail(err, FCU_STATUS_CSR_SIGNATURE);
    else if (!fcu__is_p256(pub))
        rc = fcu__fail(err, FCU_STATUS_VALIDATION, ctx->key_name, "the CSR key is not EC P-256");
    ERR_clear_error();
    return rc;
}

/* The second bundle, with a certificate for the CSR's key. */
static int second_bundle(fcu *f, X509_REQ *req, const fcu_operation_context *ctx,
                         fcu_device_response_status *out, fcu_error *err)
{
    const fcu_config *cfg = NULL;
    int rc = fcu__load_config(f, &cfg, err);
    bool own_ca = rc == 0 && fcu__external_ca(f, cfg) == NULL;
    if (own_ca)
        rc = fcu__ca_load(&f->ca, f->keystore, cfg, err);
    if (own_ca && rc == 0)
        rc = fcu__check_ca_chain(f, cfg, fcu__names_of(cfg), err);
    if (rc)
        return rc;
    out->next_request = calloc(1, sizeof(*out->next_request));
    if (!out->next_request)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    fcu_prepare_input in = {.endpoint = ctx->endpoint,
                            .serial = ctx->serial,
                            .keys_location = ctx->keys_location,
                            .csr_key = X509_REQ_get0_pubkey(req),
                            .csr = req,
                            .csr_key_name = ctx->key_name,
                            .session_id = ctx->session_id};
    rc = fcu__build_bundle(f, cfg, &in, out->next_request, err);
    if (rc) {
        fcu_device_request_free(out->next_request);
        free(out->next_request);
        out->next_request = NULL;
    }
    return rc;
}

/* by_device second step: checks the CSRs and builds the bundle with the signed certificates. */
static int sign_csrs(fcu *f, const char *endpoint, const fcu_response *resp,
                     const fcu_operation_context *ctx, fcu_device_response_status *out,
                     fcu_error *err)
{
    X509_REQ *req = NULL;
    int rc = csr_check(endpoint, resp, ctx, &req, err);
    if (rc == 0)
        rc = second_bundle(f, req, ctx, out, err);
    X509_REQ_free(req);
    return rc;
}

static int answer_fields_check(const fcu_response *resp, fcu_error *err)
{
    if (!resp->scheme_version)
        return fcu__fail(err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_GROUP_SCHEME_VERSION);
    if (strcmp(resp->scheme_version, FCC_BUNDLE_SCHEME_VERSION) != 0)
        return fcu__fail(err, FCU_STATUS_PROTOCOL_MISMATCH, resp->scheme_version,
                         FCC_BUNDLE_SCHEME_VERSION);
    if (!resp->has_status)
        return fcu__fail(err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_RESP_RETURN_STATUS);
    if (!resp->info_message)
        return fcu__fail(err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_RESP_INFO_MESSAGE);
    return 0;
}

/* The device's verdict, and with an operation context the second bundle. */
static int answer_outcome(fcu *f, const char *endpoint, fcu_response *resp,
                          const fcu_operation_context *ctx, fcu_device_response_status *out,
                          fcu_error *err)
{
    size_t n = strlen(resp->info_message);
    while (n > 0 && (resp->info_message[n - 1] == '\n' || resp->info_message[n - 1] == '\r'))
        resp->info_message[--n] = '\0';
    out->message = fcu__strdup(resp->info_message);
    if (resp->warning_info)
        split_warnings(resp->warning_info, &out->warnings);
    out->status = (int)resp->return_status;
    if (resp->return_status != 0) {
        fcu__notice_add_text(&out->errors, (int)resp->return_status, out->message);
        return (int)resp->return_status;
    }
    if (ctx) {
        if (!resp->has_csrs)
            return fcu__fail(err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_RESP_CSRS);
        return sign_csrs(f, endpoint, resp, ctx, out, err);
    }
    if (resp->has_csrs && resp->csr_count > 0)
        return fcu__fail(err, FCU_STATUS_GENERAL,
                         "the answer carries CSRs but no operation context was given");
    return 0;
}

int fcu_verify_device_response(fcu *f, const char *endpoint_name, const uint8_t *response,
                               size_t response_len, const fcu_operation_context *ctx,
                               fcu_device_response_status *out)
{
    memset(out, 0, sizeof(*out));
    fcu_error err = {0};
    fcu_response resp;
    int rc;
    if (!endpoint_name || !*endpoint_name)
        rc = fcu__fail(&err, FCU_STATUS_MANDATORY_ARGUMENT, "endpoint name");
    else if (!fcu__valid_argument(endpoint_name))
        rc = fcu__fail(&err, FCU_STATUS_BAD_ARGUMENT_TYPE, "endpoint_name");
    else
        rc = fcu__response_parse(response, response_len, &resp, &err);
    if (rc) {
        out->status = rc;
        fcu__notice_add_text(&out->errors, rc, err.message);
        return rc;
    }
    rc = answer_fields_check(&resp, &err);
    if (rc == 0 && fcu__session_id_of_other_endpoint(resp.session_id, endpoint_name))
        rc = fcu__fail(&err, FCU_STATUS_GENERAL,
                       "the answer is not for this endpoint: its SID was made for another "
                       "endpoint name (check --endpoint-name and the answer file)");
    if (rc == 0)
        rc = answer_outcome(f, endpoint_name, &resp, ctx, out, &err);
    if (err.code) {
        out->status = err.code;
        fcu__notice_add_text(&out->errors, err.code, err.message);
        rc = err.code;
    }
    fcu__response_free(&resp);
    return rc;
}
