/* The complete bundle of one device (one-step modes, or the by_device second step): everything
 * is read and checked first, in the order the errors are reported, then written with the bundle
 * writer in the group and item order of the original configurator. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bundle_writer.h"
#include "fcu_prepare.h"
#include "kiln_pki.h"

/* What goes into the bundle, gathered before anything is written. */
typedef struct bundle_parts {
    const fcu_config *cfg;
    const fcu_prepare_input *in;
    const fcu_device_names *names;
    const fcu_value *uri;
    char *account_id;
    uint8_t *server_ca, *crl, *update_cert;
    size_t server_ca_len, crl_len, update_cert_len;
    uint8_t class_id[16], vendor_id[16];
    bool has_class_id, has_vendor_id;
    fcu_device_creds creds;
    fcu_custom_items custom;
    uint8_t entropy[FCC_ENTROPY_SIZE];
    bool has_entropy;
    int64_t now;
} bundle_parts;

static void parts_free(bundle_parts *p)
{
    OPENSSL_cleanse(p->entropy, sizeof(p->entropy));
    fcu__creds_free(&p->creds);
    fcu__custom_items_free(&p->custom);
    free(p->account_id);
    free(p->server_ca);
    free(p->crl);
    free(p->update_cert);
}

static int parse_uuid(const char *text, uint8_t out[16])
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '-')
            continue;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || n == 16)
            return -1;
        char hex[3] = {p[0], p[1], 0};
        out[n++] = (uint8_t)strtoul(hex, NULL, 16);
        p++;
    }
    return n == 16 ? 0 : -1;
}

char *fcu__uri_account_id(const char *uri)
{
    const char *q = strchr(uri, '?');
    while (q) {
        q++;
        if (strncmp(q, "aid=", 4) == 0) {
            const char *v = q + 4;
            size_t n = strcspn(v, "&");
            char *id = malloc(n + 1);
            if (id) {
                memcpy(id, v, n);
                id[n] = '\0';
            }
            return id;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

/* First-to-claim enrollment id: "A-" and the SHA-256 of the device certificate in hex pairs. */
static char *enrollment_id(const uint8_t *der, size_t len)
{
    unsigned char md[32];
    if (!kiln_pki_sha256(der, len, md))
        return NULL;
    char *id = malloc(2 + 32 * 3);
    if (!id)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    id[n++] = 'A';
    id[n++] = '-';
    for (size_t i = 0; i < 32; i++) {
        if (i)
            id[n++] = ':';
        id[n++] = hex[md[i] >> 4];
        id[n++] = hex[md[i] & 15];
    }
    id[n] = '\0';
    return id;
}

static bool utc_offset_valid(const char *u)
{
    return strlen(u) == 6 && (u[0] == '+' || u[0] == '-') && isdigit((unsigned char)u[1]) &&
           isdigit((unsigned char)u[2]) && u[3] == ':' && isdigit((unsigned char)u[4]) &&
           isdigit((unsigned char)u[5]);
}

int fcu__validate_mandatory(const fcu_config *cfg, fcu_error *err)
{
    if (!cfg->use_bootstrap.text)
        return fcu__config_invalid(cfg, "use-bootstrap", NULL, "is mandatory", err);
    struct {
        const char *field;
        const fcu_value *v;
    } info[] = {{"manufacturer-name", &cfg->manufacturer},
                {"device-type", &cfg->device_type},
                {"model-number", &cfg->model_number},
                {"hardware-version", &cfg->hardware_version},
                {"memory-total", &cfg->memory_total}};
    for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++)
        if (!info[i].v->text)
            return fcu__config_invalid(cfg, info[i].field, info[i].v,
                                       "is mandatory in section device-info", err);
    if (cfg->utc_offset.text && !utc_offset_valid(cfg->utc_offset.text))
        return fcu__config_invalid(cfg, "utc-offset", &cfg->utc_offset,
                                   "must look like +HH:MM or -HH:MM", err);
    return 0;
}

/* ---- gathering ---- */

/* The server URI of the mode: coap(s), with an account id unless first-to-claim. */
static int server_uri(const fcu_config *cfg, bundle_parts *p, fcu_error *err)
{
    const char *field;
    if (cfg->bootstrap) {
        p->uri = cfg->ftc ? &cfg->bootstrap_uri_ftc : &cfg->bootstrap_uri;
        field = cfg->ftc ? "bootstrap-server-uri-first-to-claim" : "bootstrap-server-uri";
    } else {
        p->uri = &cfg->lwm2m_uri;
        field = "lwm2m-server-uri";
    }
    const char *uri = p->uri->text;
    if (!uri)
        return fcu__config_invalid(cfg, field, p->uri, "is mandatory", err);
    if (strncmp(uri, "coap://", 7) != 0 && strncmp(uri, "coaps://", 8) != 0)
        return fcu__config_invalid(cfg, field, p->uri, "must be a coap:// or coaps:// URI", err);
    p->account_id = fcu__uri_account_id(uri);
    if (cfg->ftc && p->account_id)
        return fcu__config_invalid(cfg, field, p->uri,
                                   "must not carry an account id (aid=) with first-to-claim", err);
    if (!cfg->ftc && (!p->account_id || !*p->account_id))
        return fcu__config_invalid(cfg, field, p->uri, "must carry the account id (aid=...)", err);
    return 0;
}

static int server_ca_and_crl(fcu *f, const fcu_config *cfg, bundle_parts *p, fcu_error *err)
{
    const fcu_value *ca_file = cfg->bootstrap ? &cfg->bootstrap_ca_file : &cfg->lwm2m_ca_file;
    const char *ca_field = cfg->bootstrap ? "bootstrap-server-ca-certificate-file"
                                          : "lwm2m-server-ca-certificate-file";
    if (!ca_file->text)
        return fcu__config_invalid(cfg, ca_field, ca_file, "is mandatory", err);
    int rc = fcu__load_cert_value(f, ca_file, &p->server_ca, &p->server_ca_len, err);
    const fcu_value *crl_file = cfg->bootstrap ? &cfg->bootstrap_crl_file : &cfg->lwm2m_crl_file;
    if (rc == 0 && crl_file->text)
        rc = fcu__load_file_value(f, crl_file, &p->crl, &p->crl_len, err);
    return rc;
}

/* Update authority certificate (needs both ids) and the class and vendor ids. */
static int update_authority(fcu *f, const fcu_config *cfg, bundle_parts *p, fcu_error *err)
{
    if (cfg->update_auth_file.text) {
        int rc = fcu__load_cert_value(f, &cfg->update_auth_file, &p->update_cert,
                                      &p->update_cert_len, err);
        if (rc)
            return rc;
        if (!cfg->class_id.text || !cfg->vendor_id.text)
            return fcu__config_invalid(cfg, cfg->class_id.text ? "vendor-id" : "class-id", NULL,
                                       "is mandatory with update-auth-certificate-file", err);
    }
    const struct {
        const char *field;
        const fcu_value *v;
        uint8_t *uuid;
        bool *has;
    } ids[] = {{"class-id", &cfg->class_id, p->class_id, &p->has_class_id},
               {"vendor-id", &cfg->vendor_id, p->vendor_id, &p->has_vendor_id}};
    for (size_t i = 0; i < 2; i++) {
        if (!ids[i].v->text)
            continue;
        if (parse_uuid(ids[i].v->text, ids[i].uuid) != 0)
            return fcu__config_invalid(cfg, ids[i].field, ids[i].v, "must be an RFC 4122 UUID",
                                       err);
        *ids[i].has = true;
    }
    return 0;
}

/* Entropy made here or read from the device's folder (entropy.bin, exactly 48 bytes). */
static int entropy_obtain(const fcu_config *cfg, const fcu_prepare_input *in, bundle_parts *p,
                          fcu_error *err)
{
    if (cfg->entropy == FCU_ENTROPY_BY_TOOL) {
        p->has_entropy = RAND_priv_bytes(p->entropy, sizeof(p->entropy)) == 1;
    } else if (cfg->entropy == FCU_ENTROPY_EXTERNAL) {
        char *path = in->keys_location ? fcu__path_join(in->keys_location, "entropy.bin") : NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        if (path && fcu__read_file(path, &data, &len) == 0 && len == sizeof(p->entropy)) {
            memcpy(p->entropy, data, sizeof(p->entropy));
            p->has_entropy = true;
        }
        if (data)
            OPENSSL_cleanse(data, len);
        free(data);
        free(path);
    } else {
        return 0;
    }
    return p->has_entropy ? 0 : fcu__fail(err, FCU_STATUS_ENTROPY_MISSING);
}

static int parts_gather(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in, bundle_parts *p,
                        fcu_notice_list *warnings, fcu_error *err)
{
    int rc = fcu__validate_mandatory(cfg, err);
    if (rc == 0)
        rc = server_uri(cfg, p, err);
    if (rc == 0)
        rc = server_ca_and_crl(f, cfg, p, err);
    if (rc == 0)
        rc = fcu__creds_obtain(f, cfg, in, cfg->bootstrap ? NULL : p->account_id, &p->creds,
                               warnings, err);
    if (rc == 0)
        rc = update_authority(f, cfg, p, err);
    if (rc == 0)
        rc = fcu__custom_items_load(f, cfg, &p->custom, err);
    if (rc == 0)
        rc = fcu__custom_items_add_extra(&p->custom, in->extra, in->extra_count, err);
    if (rc == 0)
        rc = entropy_obtain(cfg, in, p, err);
    return rc;
}

/* ---- writing ---- */

static size_t write_keys(kiln_bundle_writer *w, const void *ctx)
{
    const bundle_parts *p = ctx;
    size_t n = 0;
    if (p->creds.key_der) {
        kiln_bw_key(w, p->names->key, FCC_KEY_TYPE_ECC_PRIVATE, p->creds.key_der, p->creds.key_len);
        n++;
    }
    for (size_t i = 0; i < p->custom.count; i++) {
        const fcu_custom_item *it = &p->custom.items[i];
        if (it->type_code != FCU_CUSTOM_PRIVATE_KEY && it->type_code != FCU_CUSTOM_PUBLIC_KEY)
            continue;
        kiln_bw_key(w, it->name,
                    it->type_code == FCU_CUSTOM_PRIVATE_KEY ? FCC_KEY_TYPE_ECC_PRIVATE
                                                            : FCC_KEY_TYPE_ECC_PUBLIC,
                    it->data, it->len);
        n++;
    }
    return n;
}

static size_t write_certificates(kiln_bundle_writer *w, const void *ctx)
{
    const bundle_parts *p = ctx;
    size_t n = 0;
    if (p->creds.nders == 1) {
        kiln_bw_cert(w, p->names->cert, p->creds.ders[0], p->creds.der_lens[0],
                     p->creds.key_name_on_cert);
        n++;
    }
    kiln_bw_cert(w, p->names->server_ca, p->server_ca, p->server_ca_len, NULL);
    n++;
    if (p->update_cert) {
        kiln_bw_cert(w, FCC_UPDATE_AUTH_CERT, p->update_cert, p->update_cert_len, NULL);
        n++;
    }
    for (size_t i = 0; i < p->custom.count; i++) {
        const fcu_custom_item *it = &p->custom.items[i];
        if (it->type_code == FCU_CUSTOM_CERTIFICATE) {
            kiln_bw_cert(w, it->name, it->data, it->len, NULL);
            n++;
        }
    }
    return n;
}

static size_t write_chains(kiln_bundle_writer *w, const void *ctx)
{
    const bundle_parts *p = ctx;
    if (p->creds.nders == 1)
        return 0;
    kiln_bw_chain(w, p->names->cert, (const uint8_t *const *)p->creds.ders, p->creds.der_lens,
                  (size_t)p->creds.nders, p->creds.key_name_on_cert);
    return 1;
}

/* Current time, first-to-claim and time zone, in the order the original sends them. */
static size_t write_time_params(kiln_bundle_writer *w, const bundle_parts *p)
{
    const fcu_config *cfg = p->cfg;
    size_t n = 0;
    if (cfg->sync_time) {
        kiln_bw_param_int(w, FCC_CURRENT_TIME, p->now);
        n++;
    }
    if (cfg->ftc) {
        kiln_bw_param_int(w, FCC_FIRST_TO_CLAIM, 1);
        n++;
    }
    if (!cfg->sync_time)
        return n;
    const char *tz = cfg->timezone.text ? cfg->timezone.text : "UTC";
    kiln_bw_param_text(w, FCC_TIMEZONE, tz);
    n++;
    const char *offset = cfg->utc_offset.text;
    if (!offset && (strcmp(tz, "UTC") == 0 || strcmp(tz, "GMT") == 0))
        offset = "+00:00";
    if (offset) {
        kiln_bw_param_text(w, FCC_UTC_OFFSET, offset);
        n++;
    }
    return n;
}

static size_t write_custom_params(kiln_bundle_writer *w, const bundle_parts *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->custom.count; i++) {
        const fcu_custom_item *it = &p->custom.items[i];
        if (it->type_code == FCU_CUSTOM_STRING)
            kiln_bw_param_text(w, it->name, (const char *)it->data);
        else if (it->type_code == FCU_CUSTOM_INTEGER)
            kiln_bw_param_int(w, it->name, it->value);
        else if (it->type_code == FCU_CUSTOM_BINARY)
            kiln_bw_param_bytes(w, it->name, it->data, it->len);
        else
            continue;
        n++;
    }
    return n;
}

static size_t write_params(kiln_bundle_writer *w, const void *ctx)
{
    const bundle_parts *p = ctx;
    const fcu_config *cfg = p->cfg;
    kiln_bw_param_int(w, FCC_USE_BOOTSTRAP, cfg->bootstrap ? 1 : 0);
    kiln_bw_param_text(w, FCC_ENDPOINT_NAME, p->in->endpoint);
    kiln_bw_param_text(w, p->names->uri, p->uri->text);
    kiln_bw_param_text(w, FCC_MANUFACTURER, cfg->manufacturer.text);
    kiln_bw_param_text(w, FCC_MODEL_NUMBER, cfg->model_number.text);
    kiln_bw_param_text(w, FCC_SERIAL_NUMBER, p->in->serial);
    kiln_bw_param_text(w, FCC_DEVICE_TYPE, cfg->device_type.text);
    kiln_bw_param_text(w, FCC_HARDWARE_VERSION, cfg->hardware_version.text);
    kiln_bw_param_int(w, FCC_MEMORY_TOTAL_KB, cfg->memory_total_kb);
    size_t n = 9 + write_time_params(w, p);
    if (p->crl) {
        kiln_bw_param_bytes(w, p->names->server_crl, p->crl, p->crl_len);
        n++;
    }
    if (p->has_class_id) {
        kiln_bw_param_bytes(w, FCC_CLASS_ID, p->class_id, sizeof(p->class_id));
        n++;
    }
    if (p->has_vendor_id) {
        kiln_bw_param_bytes(w, FCC_VENDOR_ID, p->vendor_id, sizeof(p->vendor_id));
        n++;
    }
    return n + write_custom_params(w, p);
}

static const struct {
    const char *name;
    kiln_bw_items_fn write;
} bundle_groups[] = {{FCC_GROUP_KEYS, write_keys},
                     {FCC_GROUP_CERTIFICATES, write_certificates},
                     {FCC_GROUP_CERTIFICATE_CHAINS, write_chains},
                     {FCC_GROUP_CONFIG_PARAMS, write_params}};
#define BUNDLE_GROUPS (sizeof(bundle_groups) / sizeof(bundle_groups[0]))

/* SchemeVersion [, SID], the non-empty groups [, Entropy], Verify. */
static void write_bundle(kiln_bundle_writer *w, const void *ctx)
{
    const bundle_parts *p = ctx;
    size_t entries = 2 + (p->has_entropy ? 1 : 0) + (p->in->session_id ? 1 : 0);
    size_t items[BUNDLE_GROUPS]; /* counted once: each count is a dry run of the group */
    for (size_t i = 0; i < BUNDLE_GROUPS; i++) {
        items[i] = kiln_bw_items_count(bundle_groups[i].write, p);
        entries += items[i] > 0;
    }
    kiln_bw_bundle_begin(w, entries);
    if (p->in->session_id)
        kiln_bw_entry_text(w, FCC_GROUP_SESSION_ID, p->in->session_id);
    for (size_t i = 0; i < BUNDLE_GROUPS; i++) {
        if (items[i] > 0) {
            kiln_bw_group(w, bundle_groups[i].name, items[i]);
            (void)bundle_groups[i].write(w, p);
        }
    }
    if (p->has_entropy)
        kiln_bw_entry_bytes(w, FCC_GROUP_ENTROPY, p->entropy, sizeof(p->entropy));
    kiln_bw_entry_uint(w, FCC_GROUP_VERIFY, p->cfg->verify ? 1 : 0);
}

/* A first try's buffer: a bundle usually fits, so it is written once, not sized first. */
#define FCU_ENCODE_FIRST_TRY 4096

/* Written straight into its buffer (sized and written again only when bigger than the first
 * try), so a bundle (it may carry the device key) is never copied; a buffer too small is wiped
 * before it is freed. */
int fcu__encode(fcu_write_fn write, const void *ctx, uint8_t **out, size_t *out_len)
{
    kiln_bundle_writer w;
    uint8_t *data = malloc(FCU_ENCODE_FIRST_TRY);
    if (!data)
        return -1;
    kiln_bw_init(&w, data, FCU_ENCODE_FIRST_TRY);
    write(&w, ctx);
    size_t len = kiln_bw_length(&w);
    if (len > FCU_ENCODE_FIRST_TRY) {
        OPENSSL_cleanse(data, FCU_ENCODE_FIRST_TRY);
        free(data);
        data = len < SIZE_MAX ? malloc(len) : NULL;
        if (!data)
            return -1;
        kiln_bw_init(&w, data, len);
        write(&w, ctx);
    }
    *out = data;
    *out_len = len;
    return 0;
}

int fcu__build_bundle(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in,
                      fcu_device_request *out, fcu_error *err)
{
    bundle_parts p = {0};
    p.cfg = cfg;
    p.in = in;
    p.names = fcu__names_of(cfg);
    p.now = (int64_t)time(NULL);
    int rc = parts_gather(f, cfg, in, &p, &out->warnings, err);
    if (rc == 0 && cfg->ftc)
        out->enrollment_id = enrollment_id(p.creds.ders[0], p.creds.der_lens[0]);
    if (rc == 0 && fcu__encode(write_bundle, &p, &out->config_data, &out->config_size) != 0)
        rc = fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    parts_free(&p);
    return rc;
}
