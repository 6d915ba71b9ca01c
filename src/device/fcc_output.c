#include "fcc_output.h"

#include "fcc_bundle_fields.h"

#include <stdlib.h>
#include <string.h>

static const char *const warning_prefixes[] = {
    [FCC_WARN_ITEM_NOT_SET] = "Item not set:",
    [FCC_WARN_BOOTSTRAP_MODE_NOT_ACTIVATED] = "Bootstrap mode not activated:",
    [FCC_WARN_SELF_SIGNED] = "Certificate is self signed:",
    [FCC_WARN_ITEM_REDUNDANT] = "Item redundant:",
    [FCC_WARN_VALIDITY_CANNOT_BE_CHECKED] = "Certificate validity cannot be checked:",
    [FCC_WARN_VALIDITY_LESS_THAN_10_YEARS] = "Certificate validity is less than 10 years:",
    [FCC_WARN_CA_ID_NOT_SET] = "CA identifier wasn't set properly:",
};

void fcc_output_init(fcc_output *out)
{
    memset(out, 0, sizeof(*out));
    out->status = FCC_STATUS_SUCCESS;
}

void fcc_output_free(fcc_output *out)
{
    free(out->warnings);
    fcc_output_init(out);
}

const char *fcc_error_prefix(fcc_status_e status)
{
    switch (status) {
    case FCC_STATUS_CA_ERROR:
        return "CA error:";
    case FCC_STATUS_ROT_ERROR:
        return "Root of trust error:";
    case FCC_STATUS_STORE_ERROR:
        return "Internal storage error:";
    case FCC_STATUS_KCM_CRYPTO_ERROR:
        return "KCM crypto error:";
    case FCC_STATUS_INVALID_CERTIFICATE:
        return "Certificate invalid:";
    case FCC_STATUS_INVALID_LWM2M_CN_ATTR:
        return "Certificate CN attribute invalid:";
    case FCC_STATUS_ENTROPY_ERROR:
        return "Entropy error:";
    case FCC_STATUS_FACTORY_DISABLED_ERROR:
        return "Factory disabled error:";
    case FCC_STATUS_ITEM_NOT_EXIST:
        return "Item does not exist:";
    case FCC_STATUS_WRONG_ITEM_DATA_SIZE:
        return "Item size is wrong:";
    case FCC_STATUS_EMPTY_ITEM:
        return "Item empty:";
    case FCC_STATUS_URI_WRONG_FORMAT:
        return "URI format incorrect:";
    case FCC_STATUS_FIRST_TO_CLAIM_NOT_ALLOWED:
        return "first to claim not allowed:";
    case FCC_STATUS_BOOTSTRAP_MODE_ERROR:
        return "Bootstrap mode value incorrect:";
    case FCC_STATUS_UTC_OFFSET_WRONG_FORMAT:
        return "UTC offset incorrect:";
    case FCC_STATUS_INVALID_CA_CERT_SIGNATURE:
        return "Validation of CA certificate failed:";
    case FCC_STATUS_EXPIRED_CERTIFICATE:
        return "Certificate expired:";
    case FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR:
        return "Certificate public key validation failed:";
    case FCC_STATUS_TOO_MANY_CSR_REQUESTS:
        /* The original never expanded the macro name in this message. */
        return "Too many CSR requests. Maximum CSR requests supported is CSR_MAX_NUMBER_OF_CSRS";
    default:
        return "General error:";
    }
}

const char *fcc_kcm_error_prefix(kcm_status_e status)
{
    switch (status) {
    case KCM_STATUS_ITEM_NOT_FOUND:
        return "Item does not exist:";
    case KCM_STATUS_META_DATA_NOT_FOUND:
    case KCM_STATUS_META_DATA_SIZE_ERROR:
        return "Meta data does not exist:";
    case KCM_STATUS_FILE_EXIST:
        return "Data already exists:";
    case KCM_STATUS_KEY_EXIST:
        return "Desired generated key name already exists:";
    case KCM_STATUS_NOT_PERMITTED:
        return "Operation not permitted:";
    case KCM_STATUS_STORAGE_ERROR:
        return "File operation general error:";
    case KCM_STATUS_ITEM_IS_EMPTY:
        return "Item data empty:";
    case KCM_STATUS_INVALID_FILE_VERSION:
        return "File version invalid:";
    case KCM_STATUS_FILE_CORRUPTED:
        return "File data corrupted:";
    case KCM_STATUS_FILE_NAME_CORRUPTED:
        return "File name corrupted:";
    case KCM_STATUS_NOT_INITIALIZED:
        return "KCM not initialized:";
    case KCM_STATUS_CLOSE_INCOMPLETE_CHAIN:
        return "Closing incomplete KCM chain:";
    case KCM_STATUS_CORRUPTED_CHAIN_FILE:
        return "Corrupted certificate chain file:";
    case KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN:
        return "Maximum chain length supported is 5. Chain length of the item is invalid:";
    case KCM_STATUS_CERTIFICATE_CHAIN_VERIFICATION_FAILED:
        return "Chain validation error:";
    case KCM_STATUS_FILE_NAME_TOO_LONG:
        return "File name too long:";
    case KCM_STATUS_FILE_NAME_INVALID:
        return "File name invalid:";
    case KCM_CRYPTO_STATUS_UNSUPPORTED_HASH_MODE:
        return "Hash mode unsupported:";
    case KCM_CRYPTO_STATUS_PARSING_DER_PRIVATE_KEY:
        return "Private key parse failed:";
    case KCM_CRYPTO_STATUS_PARSING_DER_PUBLIC_KEY:
        return "Public key parse failed:";
    case KCM_CRYPTO_STATUS_PK_KEY_INVALID_FORMAT:
        return "Public key format invalid:";
    case KCM_CRYPTO_STATUS_INVALID_PK_PUBKEY:
        return "Public key invalid:";
    case KCM_CRYPTO_STATUS_ECP_INVALID_KEY:
        return "EC key invalid:";
    case KCM_CRYPTO_STATUS_PK_KEY_INVALID_VERSION:
        return "Public key version invalid:";
    case KCM_CRYPTO_STATUS_PK_PASSWORD_REQUIRED:
        return "Public key password required:";
    case KCM_CRYPTO_STATUS_PRIVATE_KEY_VERIFICATION_FAILED:
        return "Private key verification failed:";
    case KCM_CRYPTO_STATUS_PUBLIC_KEY_VERIFICATION_FAILED:
        return "Public key verification failed:";
    case KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG:
        return "Public key algorithm unknown:";
    case KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE:
        return "Curve unsupported:";
    case KCM_CRYPTO_STATUS_PARSING_DER_CERT:
        return "Certificate parse failed:";
    case KCM_CRYPTO_STATUS_CERT_EXPIRED:
        return "Certificate expired:";
    case KCM_CRYPTO_STATUS_CERT_FUTURE:
        return "Certificate will be valid in the future:";
    case KCM_CRYPTO_STATUS_CERT_MD_ALG:
        return "Certificate MD algorithm error:";
    case KCM_CRYPTO_STATUS_CERT_PUB_KEY_TYPE:
        return "Certificate public key type error:";
    case KCM_CRYPTO_STATUS_CERT_PUB_KEY:
        return "Certificate public key error:";
    case KCM_CRYPTO_STATUS_CERT_NOT_TRUSTED:
        return "Certificate not trusted:";
    case KCM_CRYPTO_STATUS_INVALID_X509_ATTR:
    case KCM_CRYPTO_STATUS_SET_EXTENSION_FAILED:
        return "X509 attribute invalid:";
    case KCM_CRYPTO_STATUS_ENTROPY_MISSING:
        return "Entropy missing error:";
    case KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR:
        return "Self-generated certificate validation failed:";
    case KCM_CRYPTO_STATUS_INVALID_PK_PRIVKEY:
        return "Private key invalid:";
    default:
        return "General error:";
    }
}

fcc_status_e fcc_convert_kcm_status(kcm_status_e kcm)
{
    switch (kcm) {
    case KCM_STATUS_SUCCESS:
        return FCC_STATUS_SUCCESS;
    case KCM_STATUS_RBP_ERROR:
        return FCC_STATUS_STORE_ERROR;
    case KCM_STATUS_ERROR:
    case KCM_STATUS_INVALID_PARAMETER:
    case KCM_STATUS_OUT_OF_MEMORY:
    case KCM_STATUS_INSUFFICIENT_BUFFER:
        return FCC_STATUS_KCM_ERROR;
    case KCM_STATUS_ITEM_NOT_FOUND:
        return FCC_STATUS_ITEM_NOT_EXIST;
    case KCM_STATUS_META_DATA_NOT_FOUND:
    case KCM_STATUS_META_DATA_SIZE_ERROR:
    case KCM_STATUS_NOT_PERMITTED:
    case KCM_STATUS_STORAGE_ERROR:
    case KCM_STATUS_ITEM_IS_EMPTY:
    case KCM_STATUS_INVALID_FILE_VERSION:
    case KCM_STATUS_FILE_CORRUPTED:
    case KCM_STATUS_FILE_NAME_CORRUPTED:
    case KCM_STATUS_INVALID_FILE_ACCESS_MODE:
    case KCM_STATUS_UNKNOWN_STORAGE_ERROR:
    case KCM_STATUS_NOT_INITIALIZED:
    case KCM_STATUS_CLOSE_INCOMPLETE_CHAIN:
    case KCM_STATUS_CORRUPTED_CHAIN_FILE:
    case KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN:
    case KCM_STATUS_FILE_NAME_TOO_LONG:
    case KCM_STATUS_INVALID_EXPECTED_LOCATION:
    case KCM_STATUS_FILE_NAME_INVALID:
        return FCC_STATUS_KCM_STORAGE_ERROR;
    case KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR:
        return FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR;
    case KCM_STATUS_FILE_EXIST:
    case KCM_STATUS_KEY_EXIST:
        return FCC_STATUS_KCM_FILE_EXIST_ERROR;
    default:
        return FCC_STATUS_KCM_CRYPTO_ERROR;
    }
}

static void set_error(fcc_output *out, fcc_status_e status, const char *prefix, const char *name,
                      size_t name_len)
{
    out->status = status;
    out->prefix = prefix;
    /* The answer names at most 255 characters of the item, as it always has. */
    out->item = name;
    out->item_len = name != NULL ? (name_len > 255 ? 255 : name_len) : 0;
}

fcc_status_e fcc_output_error(fcc_output *out, fcc_status_e status, const char *name,
                              size_t name_len)
{
    if (out->status == FCC_STATUS_SUCCESS && status != FCC_STATUS_SUCCESS) {
        set_error(out, status, fcc_error_prefix(status), name, name_len);
    }
    return out->status;
}

fcc_status_e fcc_output_kcm_error(fcc_output *out, kcm_status_e kcm, const char *name,
                                  size_t name_len)
{
    if (out->status == FCC_STATUS_SUCCESS && kcm != KCM_STATUS_SUCCESS) {
        set_error(out, fcc_convert_kcm_status(kcm), fcc_kcm_error_prefix(kcm), name, name_len);
    }
    return out->status;
}

void fcc_output_warning(fcc_output *out, fcc_warning_e w, const char *name)
{
    const char *prefix = warning_prefixes[w];
    size_t need = strlen(prefix) + strlen(name) + 1;
    if (out->warnings_len + need + 1 > out->warnings_cap) {
        size_t cap = out->warnings_cap ? out->warnings_cap * 2 : 256;
        while (cap < out->warnings_len + need + 1) {
            cap *= 2;
        }
        char *grown = realloc(out->warnings, cap);
        if (grown == NULL) {
            out->oom = 1;
            return;
        }
        out->warnings = grown;
        out->warnings_cap = cap;
    }
    char *p = out->warnings + out->warnings_len;
    size_t plen = strlen(prefix), nlen = strlen(name);
    memcpy(p, prefix, plen);
    memcpy(p + plen, name, nlen);
    p[plen + nlen] = '\n';
    out->warnings_len += need;
    out->warnings[out->warnings_len] = '\0';
}

/* Appends CBOR; on overflow (or with no buffer, when sizing) only the length is counted. The
 * answer needs only heads, strings and two one-byte markers, so no encoder library is used. */
typedef struct enc {
    uint8_t *buf;
    size_t cap, len;
    int overflow;
} enc;

#define CBOR_UINT      0x00
#define CBOR_BYTES     0x40
#define CBOR_TEXT      0x60
#define CBOR_ARRAY     0x80
#define CBOR_MAP_INDEF 0xBF
#define CBOR_BREAK     0xFF

static void enc_raw(enc *e, const void *p, size_t n)
{
    if (n == 0) {
        return; /* p may be NULL (an error without an item name) */
    }
    if (e->buf && e->len + n <= e->cap) {
        memcpy(e->buf + e->len, p, n);
    } else {
        e->overflow = 1;
    }
    e->len += n;
}

static void enc_byte(enc *e, uint8_t b)
{
    enc_raw(e, &b, 1);
}

/* A head: major type and its argument in the shortest form (answers stay far below 4 GiB). */
static void enc_head(enc *e, uint8_t major, size_t v)
{
    uint8_t tmp[5];
    unsigned w = v < 24 ? 0 : v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : 4;
    if ((v >> 16) >> 16 != 0) {
        e->overflow = 1;
    }
    tmp[0] = (uint8_t)(major | (w == 0 ? v : w == 1 ? 24 : w == 2 ? 25 : 26));
    for (unsigned i = 1; i <= w; i++) {
        tmp[i] = (uint8_t)(v >> (8 * (w - i)));
    }
    enc_raw(e, tmp, w + 1);
}

static void enc_text(enc *e, const char *s, size_t n)
{
    enc_head(e, CBOR_TEXT, n);
    enc_raw(e, s, n);
}

static void enc_cstr(enc *e, const char *s)
{
    enc_text(e, s, strlen(s));
}

static void encode_all(enc *e, const fcc_output *out, const fcc_csr_out *csrs, size_t csr_count,
                       const uint8_t *sid, size_t sid_len)
{
    enc_byte(e, CBOR_MAP_INDEF);
    if (csr_count > 0 && out->status == FCC_STATUS_SUCCESS) {
        enc_cstr(e, FCC_RESP_CSRS);
        enc_head(e, CBOR_ARRAY, csr_count);
        for (size_t i = 0; i < csr_count; i++) {
            enc_byte(e, CBOR_MAP_INDEF);
            enc_cstr(e, FCC_FIELD_PRIVATE_KEY_NAME);
            enc_text(e, csrs[i].key_name, csrs[i].key_name_len);
            enc_cstr(e, FCC_FIELD_DATA);
            enc_head(e, CBOR_BYTES, csrs[i].der_len);
            enc_raw(e, csrs[i].der, csrs[i].der_len);
            enc_byte(e, CBOR_BREAK);
        }
    }
    enc_cstr(e, FCC_GROUP_SCHEME_VERSION);
    enc_cstr(e, FCC_BUNDLE_SCHEME_VERSION);
    if (sid != NULL) {
        enc_cstr(e, FCC_GROUP_SESSION_ID);
        enc_text(e, (const char *)sid, sid_len);
    }
    enc_cstr(e, FCC_RESP_RETURN_STATUS);
    enc_head(e, CBOR_UINT, (size_t)out->status);
    enc_cstr(e, FCC_RESP_INFO_MESSAGE);
    if (out->status == FCC_STATUS_SUCCESS) {
        enc_cstr(e, FCC_RESP_SUCCESS_MESSAGE);
    } else {
        size_t plen = strlen(out->prefix);
        enc_head(e, CBOR_TEXT, plen + out->item_len);
        enc_raw(e, out->prefix, plen);
        enc_raw(e, out->item, out->item_len);
    }
    if (out->warnings_len > 0) {
        enc_cstr(e, FCC_RESP_WARNING_INFO);
        enc_text(e, out->warnings, out->warnings_len);
    }
    enc_byte(e, CBOR_BREAK);
}

int fcc_output_encode(const fcc_output *out, const fcc_csr_out *csrs, size_t csr_count,
                      const uint8_t *sid, size_t sid_len, uint8_t **resp, size_t *resp_len)
{
    enc sizing = {0};
    encode_all(&sizing, out, csrs, csr_count, sid, sid_len);
    enc e = {malloc(sizing.len), sizing.len, 0, 0};
    if (e.buf == NULL) {
        return -1;
    }
    encode_all(&e, out, csrs, csr_count, sid, sid_len);
    if (e.overflow || e.len != sizing.len) {
        free(e.buf);
        return -1;
    }
    *resp = e.buf;
    *resp_len = e.len;
    return 0;
}
