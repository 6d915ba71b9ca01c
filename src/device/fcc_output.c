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

/* The message prefixes of the original's answers; an error whose status names none reads
 * "General error:" (PREFIX_GENERAL is 0, the value of every status a table leaves out). */
#define ERROR_PREFIXES(X)                                                                          \
    X(GENERAL, "General error:")                                                                   \
    X(CA, "CA error:")                                                                             \
    X(ROT, "Root of trust error:")                                                                 \
    X(STORE, "Internal storage error:")                                                            \
    X(KCM_CRYPTO, "KCM crypto error:")                                                             \
    X(CERT_INVALID, "Certificate invalid:")                                                        \
    X(CN_ATTR, "Certificate CN attribute invalid:")                                                \
    X(ENTROPY, "Entropy error:")                                                                   \
    X(FACTORY_DISABLED, "Factory disabled error:")                                                 \
    X(NOT_EXIST, "Item does not exist:")                                                           \
    X(WRONG_SIZE, "Item size is wrong:")                                                           \
    X(EMPTY, "Item empty:")                                                                        \
    X(URI, "URI format incorrect:")                                                                \
    X(FIRST_TO_CLAIM, "first to claim not allowed:")                                               \
    X(BOOTSTRAP_MODE, "Bootstrap mode value incorrect:")                                           \
    X(UTC_OFFSET, "UTC offset incorrect:")                                                         \
    X(CA_SIGNATURE, "Validation of CA certificate failed:")                                        \
    X(EXPIRED, "Certificate expired:")                                                             \
    X(KEY_CORRELATION, "Certificate public key validation failed:")                                \
    /* The original never expanded the macro name in this message. */                              \
    X(TOO_MANY_CSRS,                                                                               \
      "Too many CSR requests. Maximum CSR requests supported is CSR_MAX_NUMBER_OF_CSRS")           \
    X(META_DATA, "Meta data does not exist:")                                                      \
    X(DATA_EXISTS, "Data already exists:")                                                         \
    X(KEY_EXISTS, "Desired generated key name already exists:")                                    \
    X(NOT_PERMITTED, "Operation not permitted:")                                                   \
    X(FILE_GENERAL, "File operation general error:")                                               \
    X(DATA_EMPTY, "Item data empty:")                                                              \
    X(FILE_VERSION, "File version invalid:")                                                       \
    X(FILE_CORRUPTED, "File data corrupted:")                                                      \
    X(NAME_CORRUPTED, "File name corrupted:")                                                      \
    X(KCM_NOT_INITIALIZED, "KCM not initialized:")                                                 \
    X(INCOMPLETE_CHAIN, "Closing incomplete KCM chain:")                                           \
    X(CORRUPTED_CHAIN, "Corrupted certificate chain file:")                                        \
    X(CHAIN_LENGTH, "Maximum chain length supported is 5. Chain length of the item is invalid:")   \
    X(CHAIN_VALIDATION, "Chain validation error:")                                                 \
    X(NAME_TOO_LONG, "File name too long:")                                                        \
    X(NAME_INVALID, "File name invalid:")                                                          \
    X(HASH_MODE, "Hash mode unsupported:")                                                         \
    X(PRIVATE_PARSE, "Private key parse failed:")                                                  \
    X(PUBLIC_PARSE, "Public key parse failed:")                                                    \
    X(PUBLIC_FORMAT, "Public key format invalid:")                                                 \
    X(PUBLIC_INVALID, "Public key invalid:")                                                       \
    X(EC_KEY, "EC key invalid:")                                                                   \
    X(PUBLIC_VERSION, "Public key version invalid:")                                               \
    X(PASSWORD, "Public key password required:")                                                   \
    X(PRIVATE_VERIFY, "Private key verification failed:")                                          \
    X(PUBLIC_VERIFY, "Public key verification failed:")                                            \
    X(ALGORITHM, "Public key algorithm unknown:")                                                  \
    X(CURVE, "Curve unsupported:")                                                                 \
    X(CERT_PARSE, "Certificate parse failed:")                                                     \
    X(CERT_FUTURE, "Certificate will be valid in the future:")                                     \
    X(CERT_MD, "Certificate MD algorithm error:")                                                  \
    X(CERT_KEY_TYPE, "Certificate public key type error:")                                         \
    X(CERT_KEY, "Certificate public key error:")                                                   \
    X(NOT_TRUSTED, "Certificate not trusted:")                                                     \
    X(X509_ATTR, "X509 attribute invalid:")                                                        \
    X(ENTROPY_MISSING, "Entropy missing error:")                                                   \
    X(SELF_GENERATED, "Self-generated certificate validation failed:")                             \
    X(PRIVATE_INVALID, "Private key invalid:")

#define AS_PREFIX_ID(id, text)   PREFIX_##id,
#define AS_PREFIX_TEXT(id, text) text,
enum { ERROR_PREFIXES(AS_PREFIX_ID) PREFIX_COUNT };
static const char *const error_prefixes[PREFIX_COUNT] = {ERROR_PREFIXES(AS_PREFIX_TEXT)};

static const uint8_t fcc_prefix[FCC_STATUS_NOT_SUPPORTED + 1] = {
    [FCC_STATUS_CA_ERROR] = PREFIX_CA,
    [FCC_STATUS_ROT_ERROR] = PREFIX_ROT,
    [FCC_STATUS_STORE_ERROR] = PREFIX_STORE,
    [FCC_STATUS_KCM_CRYPTO_ERROR] = PREFIX_KCM_CRYPTO,
    [FCC_STATUS_INVALID_CERTIFICATE] = PREFIX_CERT_INVALID,
    [FCC_STATUS_INVALID_LWM2M_CN_ATTR] = PREFIX_CN_ATTR,
    [FCC_STATUS_ENTROPY_ERROR] = PREFIX_ENTROPY,
    [FCC_STATUS_FACTORY_DISABLED_ERROR] = PREFIX_FACTORY_DISABLED,
    [FCC_STATUS_ITEM_NOT_EXIST] = PREFIX_NOT_EXIST,
    [FCC_STATUS_WRONG_ITEM_DATA_SIZE] = PREFIX_WRONG_SIZE,
    [FCC_STATUS_EMPTY_ITEM] = PREFIX_EMPTY,
    [FCC_STATUS_URI_WRONG_FORMAT] = PREFIX_URI,
    [FCC_STATUS_FIRST_TO_CLAIM_NOT_ALLOWED] = PREFIX_FIRST_TO_CLAIM,
    [FCC_STATUS_BOOTSTRAP_MODE_ERROR] = PREFIX_BOOTSTRAP_MODE,
    [FCC_STATUS_UTC_OFFSET_WRONG_FORMAT] = PREFIX_UTC_OFFSET,
    [FCC_STATUS_INVALID_CA_CERT_SIGNATURE] = PREFIX_CA_SIGNATURE,
    [FCC_STATUS_EXPIRED_CERTIFICATE] = PREFIX_EXPIRED,
    [FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR] = PREFIX_KEY_CORRELATION,
    [FCC_STATUS_TOO_MANY_CSR_REQUESTS] = PREFIX_TOO_MANY_CSRS,
};

/* Per KCM status: the FCC status it converts to (fcc_utils of the original) and the prefix of
 * its message. Every status has its row. */
static const struct {
    uint8_t fcc;
    uint8_t prefix;
} kcm_errors[KCM_MAX_STATUS] = {
    [KCM_STATUS_SUCCESS] = {FCC_STATUS_SUCCESS, 0},
    [KCM_STATUS_ERROR] = {FCC_STATUS_KCM_ERROR, 0},
    [KCM_STATUS_INVALID_PARAMETER] = {FCC_STATUS_KCM_ERROR, 0},
    [KCM_STATUS_INSUFFICIENT_BUFFER] = {FCC_STATUS_KCM_ERROR, 0},
    [KCM_STATUS_OUT_OF_MEMORY] = {FCC_STATUS_KCM_ERROR, 0},
    [KCM_STATUS_ITEM_NOT_FOUND] = {FCC_STATUS_ITEM_NOT_EXIST, PREFIX_NOT_EXIST},
    [KCM_STATUS_META_DATA_NOT_FOUND] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_META_DATA},
    [KCM_STATUS_META_DATA_SIZE_ERROR] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_META_DATA},
    [KCM_STATUS_FILE_EXIST] = {FCC_STATUS_KCM_FILE_EXIST_ERROR, PREFIX_DATA_EXISTS},
    [KCM_STATUS_KEY_EXIST] = {FCC_STATUS_KCM_FILE_EXIST_ERROR, PREFIX_KEY_EXISTS},
    [KCM_STATUS_NOT_PERMITTED] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_NOT_PERMITTED},
    [KCM_STATUS_STORAGE_ERROR] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_FILE_GENERAL},
    [KCM_STATUS_ITEM_IS_EMPTY] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_DATA_EMPTY},
    [KCM_STATUS_INVALID_FILE_VERSION] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_FILE_VERSION},
    [KCM_STATUS_FILE_CORRUPTED] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_FILE_CORRUPTED},
    [KCM_STATUS_FILE_NAME_CORRUPTED] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_NAME_CORRUPTED},
    [KCM_STATUS_INVALID_FILE_ACCESS_MODE] = {FCC_STATUS_KCM_STORAGE_ERROR, 0},
    [KCM_STATUS_UNKNOWN_STORAGE_ERROR] = {FCC_STATUS_KCM_STORAGE_ERROR, 0},
    [KCM_STATUS_NOT_INITIALIZED] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_KCM_NOT_INITIALIZED},
    [KCM_STATUS_CLOSE_INCOMPLETE_CHAIN] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_INCOMPLETE_CHAIN},
    [KCM_STATUS_CORRUPTED_CHAIN_FILE] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_CORRUPTED_CHAIN},
    [KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_CHAIN_LENGTH},
    [KCM_STATUS_CERTIFICATE_CHAIN_VERIFICATION_FAILED] = {FCC_STATUS_KCM_CRYPTO_ERROR,
                                                          PREFIX_CHAIN_VALIDATION},
    [KCM_STATUS_FILE_NAME_TOO_LONG] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_NAME_TOO_LONG},
    [KCM_STATUS_INVALID_EXPECTED_LOCATION] = {FCC_STATUS_KCM_STORAGE_ERROR, 0},
    [KCM_CRYPTO_STATUS_UNSUPPORTED_HASH_MODE] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_HASH_MODE},
    [KCM_CRYPTO_STATUS_PARSING_DER_PRIVATE_KEY] = {FCC_STATUS_KCM_CRYPTO_ERROR,
                                                   PREFIX_PRIVATE_PARSE},
    [KCM_CRYPTO_STATUS_PARSING_DER_PUBLIC_KEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_PUBLIC_PARSE},
    [KCM_CRYPTO_STATUS_PK_KEY_INVALID_FORMAT] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_PUBLIC_FORMAT},
    [KCM_CRYPTO_STATUS_INVALID_PK_PUBKEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_PUBLIC_INVALID},
    [KCM_CRYPTO_STATUS_ECP_INVALID_KEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_EC_KEY},
    [KCM_CRYPTO_STATUS_PK_KEY_INVALID_VERSION] = {FCC_STATUS_KCM_CRYPTO_ERROR,
                                                  PREFIX_PUBLIC_VERSION},
    [KCM_CRYPTO_STATUS_PK_PASSWORD_REQUIRED] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_PASSWORD},
    [KCM_CRYPTO_STATUS_PRIVATE_KEY_VERIFICATION_FAILED] = {FCC_STATUS_KCM_CRYPTO_ERROR,
                                                           PREFIX_PRIVATE_VERIFY},
    [KCM_CRYPTO_STATUS_PUBLIC_KEY_VERIFICATION_FAILED] = {FCC_STATUS_KCM_CRYPTO_ERROR,
                                                          PREFIX_PUBLIC_VERIFY},
    [KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_ALGORITHM},
    [KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_CURVE},
    [KCM_CRYPTO_STATUS_PARSING_DER_CERT] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_CERT_PARSE},
    [KCM_CRYPTO_STATUS_CERT_EXPIRED] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_EXPIRED},
    [KCM_CRYPTO_STATUS_CERT_FUTURE] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_CERT_FUTURE},
    [KCM_CRYPTO_STATUS_CERT_MD_ALG] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_CERT_MD},
    [KCM_CRYPTO_STATUS_CERT_PUB_KEY_TYPE] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_CERT_KEY_TYPE},
    [KCM_CRYPTO_STATUS_CERT_PUB_KEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_CERT_KEY},
    [KCM_CRYPTO_STATUS_CERT_NOT_TRUSTED] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_NOT_TRUSTED},
    [KCM_CRYPTO_STATUS_INVALID_X509_ATTR] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_X509_ATTR},
    [KCM_CRYPTO_STATUS_VERIFY_SIGNATURE_FAILED] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_INVALID_MD_TYPE] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_FAILED_TO_WRITE_SIGNATURE] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PRIVATE_KEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PUBLIC_KEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_FAILED_TO_WRITE_CSR] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_INVALID_OID] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_INVALID_NAME_FORMAT] = {FCC_STATUS_KCM_CRYPTO_ERROR, 0},
    [KCM_CRYPTO_STATUS_ENTROPY_MISSING] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_ENTROPY_MISSING},
    [KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR] =
        {FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR, PREFIX_SELF_GENERATED},
    [KCM_CRYPTO_STATUS_SET_EXTENSION_FAILED] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_X509_ATTR},
    [KCM_STATUS_RBP_ERROR] = {FCC_STATUS_STORE_ERROR, 0},
    [KCM_STATUS_FILE_NAME_INVALID] = {FCC_STATUS_KCM_STORAGE_ERROR, PREFIX_NAME_INVALID},
    [KCM_CRYPTO_STATUS_INVALID_PK_PRIVKEY] = {FCC_STATUS_KCM_CRYPTO_ERROR, PREFIX_PRIVATE_INVALID},
};

const char *fcc_error_prefix(fcc_status_e status)
{
    unsigned i = (unsigned)status;
    return error_prefixes[i < sizeof(fcc_prefix) ? fcc_prefix[i] : PREFIX_GENERAL];
}

const char *fcc_kcm_error_prefix(kcm_status_e status)
{
    unsigned i = (unsigned)status;
    return error_prefixes[i < KCM_MAX_STATUS ? kcm_errors[i].prefix : PREFIX_GENERAL];
}

fcc_status_e fcc_convert_kcm_status(kcm_status_e kcm)
{
    unsigned i = (unsigned)kcm;
    return i < KCM_MAX_STATUS ? (fcc_status_e)kcm_errors[i].fcc : FCC_STATUS_KCM_CRYPTO_ERROR;
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
