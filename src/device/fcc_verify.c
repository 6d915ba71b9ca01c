/* fcc_verify_device_configured_4mbed_cloud: is everything a device needs to connect stored
 * and consistent? Checks and their order follow the original, so errors and warnings read
 * the same. */
#include "fcc_internal.h"

#include "fcc_bundle_fields.h"

#include <mbedtls/oid.h>
#include <mbedtls/x509.h>

#include <stdlib.h>
#include <string.h>

#define TEN_YEARS_SECONDS        315360000ULL
#define NOT_BEFORE_SLACK_SECONDS 60
#define FCC_URI_MAX              512 /* a longer server URI is answered as malformed */

static fcc_status_e fail_name(fcc_output *out, fcc_status_e st, const char *name)
{
    return fcc_output_error(out, st, name, strlen(name));
}

static fcc_status_e fail_kcm_name(fcc_output *out, kcm_status_e kst, const char *name)
{
    return fcc_output_kcm_error(out, kst, name, strlen(name));
}

void fcc_output_error_with_prefix(fcc_output *out, fcc_status_e status, const char *prefix,
                                  const char *name, size_t name_len)
{
    if (out->status != FCC_STATUS_SUCCESS) {
        return;
    }
    fcc_output_error(out, status, name, name_len);
    out->prefix = prefix;
}

kcm_status_e fcc_config_read(kiln_device *dev, const char *name, uint8_t *buf, size_t cap,
                             size_t *len)
{
    return kiln_kcm_item_get_data(dev, (const uint8_t *)name, strlen(name), KCM_CONFIG_ITEM, buf,
                                  cap, len);
}

static kcm_status_e item_size(kiln_device *dev, kcm_item_type_e type, const char *name,
                              size_t *size)
{
    return kiln_kcm_item_get_data_size(dev, (const uint8_t *)name, strlen(name), type, size);
}

bool fcc_item_exists(kiln_device *dev, kcm_item_type_e type, const char *name)
{
    size_t size;
    return item_size(dev, type, name, &size) == KCM_STATUS_SUCCESS;
}

/* Missing -> 25, other read failures -> their KCM conversion. */
static fcc_status_e require_item(kiln_device *dev, fcc_output *out, kcm_item_type_e type,
                                 const char *name, size_t *size)
{
    kcm_status_e kst = item_size(dev, type, name, size);
    if (kst != KCM_STATUS_SUCCESS) {
        return fail_kcm_name(out, kst, name);
    }
    return FCC_STATUS_SUCCESS;
}

/* Reads a 4-byte little-endian integer config item (size != 4 -> 27). */
static fcc_status_e read_u32(kiln_device *dev, fcc_output *out, const char *name, uint32_t *v,
                             bool *present)
{
    uint8_t buf[8];
    size_t len = 0;
    kcm_status_e kst = fcc_config_read(dev, name, buf, sizeof(buf), &len);
    *present = kst != KCM_STATUS_ITEM_NOT_FOUND;
    if (kst == KCM_STATUS_ITEM_NOT_FOUND) {
        return FCC_STATUS_SUCCESS;
    }
    if (kst == KCM_STATUS_INSUFFICIENT_BUFFER || (kst == KCM_STATUS_SUCCESS && len != 4)) {
        return fail_name(out, FCC_STATUS_WRONG_ITEM_DATA_SIZE, name);
    }
    if (kst != KCM_STATUS_SUCCESS) {
        return fail_kcm_name(out, kst, name);
    }
    *v = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
    return FCC_STATUS_SUCCESS;
}

fcc_status_e fcc_read_bootstrap_mode(kiln_device *dev, fcc_output *out, bool *bootstrap)
{
    uint32_t v = 0;
    bool present;
    fcc_status_e st = read_u32(dev, out, FCC_USE_BOOTSTRAP, &v, &present);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (!present) {
        return fail_name(out, FCC_STATUS_ITEM_NOT_EXIST, FCC_USE_BOOTSTRAP);
    }
    if (v > 1) {
        return fail_name(out, FCC_STATUS_BOOTSTRAP_MODE_ERROR, FCC_USE_BOOTSTRAP);
    }
    *bootstrap = v == 1;
    return FCC_STATUS_SUCCESS;
}

static fcc_status_e check_time(kiln_device *dev, fcc_output *out)
{
    if (dev->time == 0) {
        fcc_output_warning(out, FCC_WARN_ITEM_NOT_SET, FCC_CURRENT_TIME);
    }
    size_t size = 0;
    if (item_size(dev, KCM_CONFIG_ITEM, FCC_TIMEZONE, &size) != KCM_STATUS_SUCCESS || size == 0) {
        fcc_output_warning(out, FCC_WARN_ITEM_NOT_SET, FCC_TIMEZONE);
    }
    uint8_t utc[16];
    size_t len = 0;
    kcm_status_e kst = fcc_config_read(dev, FCC_UTC_OFFSET, utc, sizeof(utc), &len);
    if (kst == KCM_STATUS_ITEM_NOT_FOUND) {
        fcc_output_warning(out, FCC_WARN_ITEM_NOT_SET, FCC_UTC_OFFSET);
        return FCC_STATUS_SUCCESS;
    }
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
    bool ok = kst == KCM_STATUS_SUCCESS && len == 6 && (utc[0] == '+' || utc[0] == '-') &&
              IS_DIGIT(utc[1]) && IS_DIGIT(utc[2]) && utc[3] == ':' && IS_DIGIT(utc[4]) &&
              IS_DIGIT(utc[5]);
#undef IS_DIGIT
    return ok ? FCC_STATUS_SUCCESS
              : fail_name(out, FCC_STATUS_UTC_OFFSET_WRONG_FORMAT, FCC_UTC_OFFSET);
}

/* The account id: the value of the URI's aid query parameter. */
static bool uri_aid(const uint8_t *uri, size_t len, const uint8_t **aid, size_t *aid_len)
{
    for (size_t i = 0; i + 5 <= len; i++) {
        if ((uri[i] == '?' || uri[i] == '&') && memcmp(uri + i + 1, "aid=", 4) == 0) {
            size_t start = i + 5, end = start;
            while (end < len && uri[end] != '&') {
                end++;
            }
            *aid = uri + start;
            *aid_len = end - start;
            return true;
        }
    }
    return false;
}

/* The items of one connection mode; those of the other mode are redundant when present. */
typedef struct mode_names {
    const char *ca, *uri, *key, *cert;
    const struct mode_names *other;
} mode_names;

static const mode_names lwm2m_names; /* defined below, each names the other */
static const mode_names bootstrap_names = {
    FCC_BOOTSTRAP_SERVER_CA_CERT,
    FCC_BOOTSTRAP_SERVER_URI,
    FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY,
    FCC_BOOTSTRAP_DEVICE_CERT,
    &lwm2m_names,
};
static const mode_names lwm2m_names = {
    FCC_LWM2M_SERVER_CA_CERT, FCC_LWM2M_SERVER_URI, FCC_LWM2M_DEVICE_PRIVATE_KEY,
    FCC_LWM2M_DEVICE_CERT,    &bootstrap_names,
};

static void warn_redundant(kiln_device *dev, fcc_output *out, kcm_item_type_e type,
                           const char *name)
{
    if (fcc_item_exists(dev, type, name)) {
        fcc_output_warning(out, FCC_WARN_ITEM_REDUNDANT, name);
    }
}

static fcc_status_e check_server_ca(kiln_device *dev, fcc_output *out, const mode_names *m,
                                    bool bootstrap)
{
    size_t size = 0;
    fcc_status_e st = require_item(dev, out, KCM_CERTIFICATE_ITEM, m->ca, &size);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (size == 0) {
        return fail_name(out, FCC_STATUS_EMPTY_ITEM, m->ca);
    }
    warn_redundant(dev, out, KCM_CERTIFICATE_ITEM, m->other->ca);
    if (bootstrap) {
        uint8_t id[33], stored[33];
        size_t stored_len = 0;
        bool ok = kcm_cert_ec_id(dev, m->ca, id) == KCM_STATUS_SUCCESS &&
                  fcc_slot_read(dev, KCM_SLOT_CA_ID, stored, sizeof(stored), &stored_len) ==
                      KCM_STATUS_SUCCESS &&
                  stored_len == sizeof(id) && memcmp(id, stored, sizeof(id)) == 0;
        if (!ok) {
            fcc_output_warning(out, FCC_WARN_CA_ID_NOT_SET, m->ca);
        }
    }
    return FCC_STATUS_SUCCESS;
}

/* A configuration item without a copy when it is staged (*owned: wipe and free). */
static kcm_status_e config_view(kiln_device *dev, const char *name, size_t max,
                                const uint8_t **data, size_t *len, uint8_t **owned)
{
    char key[KILN_KV_MAX_KEY];
    *owned = NULL;
    *len = 0;
    kcm_make_key(key, KCM_NS_WORKING, KCM_T_CONFIG, (const uint8_t *)name, strlen(name));
    kcm_status_e kst = kcm_record_size(dev, key, len);
    if (kst == KCM_STATUS_SUCCESS && *len > max) {
        return KCM_STATUS_INSUFFICIENT_BUFFER;
    }
    return kst == KCM_STATUS_SUCCESS ? kcm_record_view(dev, key, data, len, owned) : kst;
}

static fcc_status_e check_server_uri(kiln_device *dev, fcc_output *out, const mode_names *m,
                                     bool bootstrap, const uint8_t **urip, size_t *uri_len,
                                     uint8_t **owned)
{
    kcm_status_e kst = config_view(dev, m->uri, FCC_URI_MAX, urip, uri_len, owned);
    if (kst == KCM_STATUS_INSUFFICIENT_BUFFER) {
        return fail_name(out, FCC_STATUS_URI_WRONG_FORMAT, m->uri);
    }
    if (kst != KCM_STATUS_SUCCESS) {
        return fail_kcm_name(out, kst, m->uri);
    }
    const uint8_t *uri = *urip;
    warn_redundant(dev, out, KCM_CONFIG_ITEM, m->other->uri);
    size_t len = *uri_len;
    bool coap = (len >= 7 && memcmp(uri, "coap://", 7) == 0) ||
                (len >= 8 && memcmp(uri, "coaps://", 8) == 0);
    if (!coap) {
        return fail_name(out, FCC_STATUS_URI_WRONG_FORMAT, m->uri);
    }
    uint32_t ftc = 0;
    bool ftc_present = false;
    fcc_status_e st = read_u32(dev, out, FCC_FIRST_TO_CLAIM, &ftc, &ftc_present);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    const uint8_t *aid;
    size_t aid_len;
    bool has_aid = uri_aid(uri, len, &aid, &aid_len);
    if (ftc_present && ftc == 1) {
        if (!bootstrap) {
            return fail_name(out, FCC_STATUS_FIRST_TO_CLAIM_NOT_ALLOWED, FCC_FIRST_TO_CLAIM);
        }
        if (has_aid) {
            return fail_name(out, FCC_STATUS_FIRST_TO_CLAIM_NOT_ALLOWED, m->uri);
        }
    } else if (!has_aid) {
        return fail_name(out, FCC_STATUS_URI_WRONG_FORMAT, m->uri);
    }
    return FCC_STATUS_SUCCESS;
}

/* The first attribute of a given type in a distinguished name. */
static const mbedtls_x509_buf *dn_attribute(const mbedtls_x509_name *dn, const char *oid,
                                            size_t oid_len)
{
    for (; dn != NULL; dn = dn->next) {
        if (dn->oid.len == oid_len && memcmp(dn->oid.p, oid, oid_len) == 0) {
            return &dn->val;
        }
    }
    return NULL;
}

/* Is the configuration item equal to the certificate attribute? Read without a copy when the
 * item is staged. */
static bool config_equals(kiln_device *dev, const char *name, const mbedtls_x509_buf *attr)
{
    const uint8_t *data = NULL;
    uint8_t *owned = NULL;
    size_t len = 0;
    bool equal = config_view(dev, name, 256, &data, &len, &owned) == KCM_STATUS_SUCCESS &&
                 attr != NULL && attr->len == len && memcmp(attr->p, data, len) == 0;
    kcm_secure_free(owned, len);
    return equal;
}

static uint64_t x509_time_to_epoch(const mbedtls_x509_time *t)
{
    /* Days from civil (proleptic Gregorian). X.509 years are 0..9999, so 32-bit arithmetic
     * suffices up to the day count (64-bit division is a library call on a Cortex-M). */
    int32_t y = t->year - (t->mon <= 2), m = t->mon, d = t->day;
    int32_t era = (y >= 0 ? y : y - 399) / 400;
    int32_t yoe = y - era * 400;
    int32_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int32_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    int64_t secs = (int64_t)days * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
    return secs < 0 ? 0 : (uint64_t)secs;
}

/* Expiry checks on every certificate of an item (a single certificate or a chain). crt: a
 * parsed form to reuse; holds the first certificate already when leaf_parsed. Reusing the
 * caller's object keeps a second parsed certificate off the stack and the heap. */
static fcc_status_e check_validity(kiln_device *dev, fcc_output *out, const char *name,
                                   const kcm_cert_view *v, mbedtls_x509_crt *crt, bool leaf_parsed)
{
    if (dev->time == 0) {
        fcc_output_warning(out, FCC_WARN_VALIDITY_CANNOT_BE_CHECKED, name);
        return FCC_STATUS_SUCCESS;
    }
    size_t n = kcm_cert_view_count(v);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *der;
        size_t der_len;
        if (i > 0 || !leaf_parsed) {
            mbedtls_x509_crt_free(crt);
            mbedtls_x509_crt_init(crt);
            if (kcm_cert_view_get(v, i, &der, &der_len) != 0 ||
                kcm_crypto_parse_cert(crt, der, der_len) != KCM_STATUS_SUCCESS) {
                return fail_name(out, FCC_STATUS_INVALID_CERTIFICATE, name);
            }
        }
        uint64_t not_before = x509_time_to_epoch(&crt->valid_from);
        uint64_t not_after = x509_time_to_epoch(&crt->valid_to);
        if (dev->time > not_after) {
            return fail_name(out, FCC_STATUS_EXPIRED_CERTIFICATE, name);
        }
        if (dev->time + NOT_BEFORE_SLACK_SECONDS < not_before) {
            fcc_output_warning(out, FCC_WARN_VALIDITY_CANNOT_BE_CHECKED, name);
        } else if (not_after - dev->time < TEN_YEARS_SECONDS) {
            fcc_output_warning(out, FCC_WARN_VALIDITY_LESS_THAN_10_YEARS, name);
        }
    }
    return FCC_STATUS_SUCCESS;
}

/* The device certificate is parsed once; that parsed form serves every check, the key match
 * included. */
static fcc_status_e check_device_cert(kiln_device *dev, fcc_output *out, const mode_names *m,
                                      bool bootstrap, const uint8_t *uri, size_t uri_len)
{
    kcm_cert_view v;
    kcm_status_e kst = kcm_cert_view_open(dev, (const uint8_t *)m->cert, strlen(m->cert), &v);
    if (kst != KCM_STATUS_SUCCESS) {
        return fail_kcm_name(out, kst, m->cert);
    }
    const uint8_t *leaf = NULL;
    size_t leaf_len = 0;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    fcc_status_e st = FCC_STATUS_SUCCESS;
    if (kcm_cert_view_get(&v, 0, &leaf, &leaf_len) != 0 ||
        kcm_crypto_parse_cert(&crt, leaf, leaf_len) != KCM_STATUS_SUCCESS) {
        st = fail_name(out, FCC_STATUS_INVALID_CERTIFICATE, m->cert);
        goto done;
    }
    kst = kcm_crt_matches_stored_key(dev, &crt, (const uint8_t *)m->key, strlen(m->key));
    if (kst != KCM_STATUS_SUCCESS) {
        st = fail_name(out, FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR, m->cert);
        goto done;
    }
    warn_redundant(dev, out, KCM_CERTIFICATE_ITEM, m->other->cert);
    if ((crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) &&
        mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0) {
        st = fail_name(out, FCC_STATUS_INVALID_CERTIFICATE, m->cert);
        goto done;
    }
    const mbedtls_x509_buf *cn =
        dn_attribute(&crt.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN));
    if (!config_equals(dev, FCC_ENDPOINT_NAME, cn)) {
        st = fail_name(out, FCC_STATUS_INVALID_LWM2M_CN_ATTR, m->cert);
        goto done;
    }
    if (!bootstrap) {
        const uint8_t *aid;
        size_t aid_len;
        if (!uri_aid(uri, uri_len, &aid, &aid_len)) {
            st = fail_name(out, FCC_STATUS_URI_WRONG_FORMAT, m->uri);
            goto done;
        }
        const mbedtls_x509_buf *ou = dn_attribute(&crt.subject, MBEDTLS_OID_AT_ORG_UNIT,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT));
        if (ou == NULL || ou->len != aid_len || memcmp(ou->p, aid, aid_len) != 0) {
            st = fail_name(out, FCC_STATUS_INVALID_LWM2M_CN_ATTR, m->cert);
            goto done;
        }
    }
    if (crt.issuer_raw.len == crt.subject_raw.len &&
        memcmp(crt.issuer_raw.p, crt.subject_raw.p, crt.issuer_raw.len) == 0) {
        kcm_sig sig;
        if (!kcm_crypto_sig_prepare(&crt, &sig) || !kcm_crypto_sig_verify(&sig, &crt)) {
            st = fail_name(out, FCC_STATUS_INVALID_CERTIFICATE, m->cert);
            goto done;
        }
        fcc_output_warning(out, FCC_WARN_SELF_SIGNED, m->cert);
    }
    st = check_validity(dev, out, m->cert, &v, &crt, true);
done:
    mbedtls_x509_crt_free(&crt);
    kcm_cert_view_close(&v);
    return st;
}

static fcc_status_e check_update_items(kiln_device *dev, fcc_output *out)
{
    kcm_cert_view v;
    kcm_status_e kst = kcm_cert_view_open(dev, (const uint8_t *)FCC_UPDATE_AUTH_CERT,
                                          strlen(FCC_UPDATE_AUTH_CERT), &v);
    if (kst == KCM_STATUS_ITEM_NOT_FOUND) {
        fcc_output_warning(out, FCC_WARN_ITEM_NOT_SET, FCC_UPDATE_AUTH_CERT);
    } else if (kst != KCM_STATUS_SUCCESS) {
        return fail_kcm_name(out, kst, FCC_UPDATE_AUTH_CERT);
    } else {
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        fcc_status_e st = check_validity(dev, out, FCC_UPDATE_AUTH_CERT, &v, &crt, false);
        mbedtls_x509_crt_free(&crt);
        kcm_cert_view_close(&v);
        if (st != FCC_STATUS_SUCCESS) {
            return st;
        }
    }
    static const char *const ids[] = {FCC_CLASS_ID, FCC_VENDOR_ID};
    for (size_t i = 0; i < 2; i++) {
        size_t size = 0;
        kst = item_size(dev, KCM_CONFIG_ITEM, ids[i], &size);
        if (kst == KCM_STATUS_ITEM_NOT_FOUND) {
            fcc_output_warning(out, FCC_WARN_ITEM_NOT_SET, ids[i]);
        } else if (kst != KCM_STATUS_SUCCESS) {
            return fail_kcm_name(out, kst, ids[i]);
        } else if (size != 16) {
            return fail_name(out, FCC_STATUS_WRONG_ITEM_DATA_SIZE, ids[i]);
        }
    }
    return FCC_STATUS_SUCCESS;
}

fcc_status_e fcc_verify_device(kiln_device *dev, fcc_output *out)
{
    fcc_status_e st = check_time(dev, out);
    bool bootstrap = false;
    if (st == FCC_STATUS_SUCCESS) {
        st = fcc_read_bootstrap_mode(dev, out, &bootstrap);
    }
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (!bootstrap) {
        fcc_output_warning(out, FCC_WARN_BOOTSTRAP_MODE_NOT_ACTIVATED, FCC_USE_BOOTSTRAP);
    }
    size_t size = 0;
    st = require_item(dev, out, KCM_CONFIG_ITEM, FCC_ENDPOINT_NAME, &size);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (size == 0) {
        return fail_name(out, FCC_STATUS_EMPTY_ITEM, FCC_ENDPOINT_NAME);
    }
    static const char *const meta[] = {FCC_MANUFACTURER,    FCC_MODEL_NUMBER,
                                       FCC_DEVICE_TYPE,     FCC_HARDWARE_VERSION,
                                       FCC_MEMORY_TOTAL_KB, FCC_SERIAL_NUMBER};
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        st = require_item(dev, out, KCM_CONFIG_ITEM, meta[i], &size);
        if (st != FCC_STATUS_SUCCESS) {
            return st;
        }
    }
    const mode_names *m = bootstrap ? &bootstrap_names : &lwm2m_names;
    st = check_server_ca(dev, out, m, bootstrap);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    const uint8_t *uri = NULL;
    uint8_t *uri_owned = NULL;
    size_t uri_len = 0;
    st = check_server_uri(dev, out, m, bootstrap, &uri, &uri_len, &uri_owned);
    if (st == FCC_STATUS_SUCCESS) {
        st = require_item(dev, out, KCM_PRIVATE_KEY_ITEM, m->key, &size);
    }
    if (st == FCC_STATUS_SUCCESS) {
        warn_redundant(dev, out, KCM_PRIVATE_KEY_ITEM, m->other->key);
        st = check_device_cert(dev, out, m, bootstrap, uri, uri_len);
    }
    kcm_secure_free(uri_owned, uri_len);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    return check_update_items(dev, out);
}
