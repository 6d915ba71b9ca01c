/* Texts for every status value of the device library (FCC, KCM, storage backend). */
#include "fcc_status.h"
#include "kcm_status.h"
#include "kiln/kv.h"

#include <stddef.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct status_text {
    const char *name;
    const char *text;
};

static const struct status_text fcc_texts[] = {
    {"FCC_STATUS_SUCCESS", "Operation completed successfully"},
    {"FCC_STATUS_ERROR", "Operation ended with an unspecified error"},
    {"FCC_STATUS_MEMORY_OUT", "An out-of-memory condition occurred"},
    {"FCC_STATUS_INVALID_PARAMETER", "A parameter provided to the function was invalid"},
    {"FCC_STATUS_STORE_ERROR", "Internal storage error"},
    {"FCC_STATUS_INTERNAL_ITEM_ALREADY_EXIST", "Internal item already exists"},
    {"FCC_STATUS_CA_ERROR", "CA identifier error"},
    {"FCC_STATUS_ROT_ERROR", "Root of trust error (already set or cannot be set)"},
    {"FCC_STATUS_ENTROPY_ERROR", "Entropy error (already set or cannot be set)"},
    {"FCC_STATUS_FACTORY_DISABLED_ERROR", "The factory flow is disabled on this device"},
    {"FCC_STATUS_INVALID_CERTIFICATE", "Invalid certificate found"},
    {"FCC_STATUS_INVALID_CERT_ATTRIBUTE", "Failed to get a certificate attribute"},
    {"FCC_STATUS_INVALID_CA_CERT_SIGNATURE", "Invalid CA signature"},
    {"FCC_STATUS_EXPIRED_CERTIFICATE", "Certificate is expired"},
    {"FCC_STATUS_INVALID_LWM2M_CN_ATTR", "Invalid CN (or OU) field of certificate"},
    {"FCC_STATUS_KCM_ERROR", "KCM basic functionality failed"},
    {"FCC_STATUS_KCM_STORAGE_ERROR", "KCM failed to read, write or size an item in storage"},
    {"FCC_STATUS_KCM_FILE_EXIST_ERROR", "KCM tried to create an existing storage item"},
    {"FCC_STATUS_KCM_CRYPTO_ERROR", "KCM cryptographic check of a certificate or key failed"},
    {"FCC_STATUS_NOT_INITIALIZED", "FCC is not initialized"},
    {"FCC_STATUS_BUNDLE_ERROR", "Protocol layer general error (malformed bundle)"},
    {"FCC_STATUS_BUNDLE_RESPONSE_ERROR", "Protocol layer failed to create the response"},
    {"FCC_STATUS_BUNDLE_UNSUPPORTED_GROUP", "Unsupported group in the bundle"},
    {"FCC_STATUS_BUNDLE_INVALID_GROUP", "Invalid group in the bundle"},
    {"FCC_STATUS_BUNDLE_INVALID_SCHEME", "Wrong scheme version of the bundle"},
    {"FCC_STATUS_ITEM_NOT_EXIST", "Item was not found in the storage"},
    {"FCC_STATUS_EMPTY_ITEM", "Item is empty"},
    {"FCC_STATUS_WRONG_ITEM_DATA_SIZE", "Item size is different than expected"},
    {"FCC_STATUS_URI_WRONG_FORMAT", "URI format is incorrect"},
    {"FCC_STATUS_FIRST_TO_CLAIM_NOT_ALLOWED", "First-to-claim is not allowed here"},
    {"FCC_STATUS_BOOTSTRAP_MODE_ERROR", "Wrong value of the bootstrap mode"},
    {"FCC_STATUS_OUTPUT_INFO_ERROR", "Failed to create the output info"},
    {"FCC_STATUS_WARNING_CREATE_ERROR", "Failed to create a warning"},
    {"FCC_STATUS_UTC_OFFSET_WRONG_FORMAT", "UTC offset format is incorrect"},
    {"FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR",
     "Certificate public key does not match the private key"},
    {"FCC_STATUS_BUNDLE_INVALID_KEEP_ALIVE_SESSION_STATUS", "Invalid keep-alive session status"},
    {"FCC_STATUS_TOO_MANY_CSR_REQUESTS", "Too many CSR requests (maximum 5)"},
    {"FCC_STATUS_NOT_SUPPORTED", "Unsupported field, type, format or feature"},
};

const char *fcc_status_name(fcc_status_e status)
{
    if ((unsigned)status < ARRAY_LEN(fcc_texts)) {
        return fcc_texts[status].name;
    }
    return "FCC_STATUS_UNKNOWN";
}

const char *fcc_status_to_string(fcc_status_e status)
{
    if ((unsigned)status < ARRAY_LEN(fcc_texts)) {
        return fcc_texts[status].text;
    }
    return "Unknown FCC status";
}

static const struct status_text kcm_texts[] = {
    {"KCM_STATUS_SUCCESS", "Operation completed successfully"},
    {"KCM_STATUS_ERROR", "Unspecified error"},
    {"KCM_STATUS_INVALID_PARAMETER", "Invalid parameter"},
    {"KCM_STATUS_INSUFFICIENT_BUFFER", "Buffer too small"},
    {"KCM_STATUS_OUT_OF_MEMORY", "Out of memory"},
    {"KCM_STATUS_ITEM_NOT_FOUND", "Item not found"},
    {"KCM_STATUS_META_DATA_NOT_FOUND", "Meta data not found"},
    {"KCM_STATUS_META_DATA_SIZE_ERROR", "Meta data size error"},
    {"KCM_STATUS_FILE_EXIST", "Item already exists"},
    {"KCM_STATUS_KEY_EXIST", "Key name for generation already exists"},
    {"KCM_STATUS_NOT_PERMITTED", "Operation not permitted"},
    {"KCM_STATUS_STORAGE_ERROR", "Storage read or write failed"},
    {"KCM_STATUS_ITEM_IS_EMPTY", "Item data is empty"},
    {"KCM_STATUS_INVALID_FILE_VERSION", "Stored item has an unknown version"},
    {"KCM_STATUS_FILE_CORRUPTED", "Stored item failed its integrity check"},
    {"KCM_STATUS_FILE_NAME_CORRUPTED", "Stored item name is corrupted"},
    {"KCM_STATUS_INVALID_FILE_ACCESS_MODE", "Invalid access mode"},
    {"KCM_STATUS_UNKNOWN_STORAGE_ERROR", "Unknown storage error"},
    {"KCM_STATUS_NOT_INITIALIZED", "KCM is not initialized"},
    {"KCM_STATUS_CLOSE_INCOMPLETE_CHAIN", "Closed a chain with fewer certificates than declared"},
    {"KCM_STATUS_CORRUPTED_CHAIN_FILE", "Stored certificate chain is corrupted"},
    {"KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN", "Chain length must be 1 to 5"},
    {"KCM_STATUS_CERTIFICATE_CHAIN_VERIFICATION_FAILED",
     "A certificate of the chain was not signed by the next one"},
    {"KCM_STATUS_FILE_NAME_TOO_LONG", "Item name longer than 100 bytes"},
    {"KCM_STATUS_INVALID_EXPECTED_LOCATION", "Invalid storage location"},
    {"KCM_CRYPTO_STATUS_UNSUPPORTED_HASH_MODE", "Unsupported hash mode"},
    {"KCM_CRYPTO_STATUS_PARSING_DER_PRIVATE_KEY", "Private key DER parsing failed"},
    {"KCM_CRYPTO_STATUS_PARSING_DER_PUBLIC_KEY", "Public key DER parsing failed"},
    {"KCM_CRYPTO_STATUS_PK_KEY_INVALID_FORMAT", "Key format invalid"},
    {"KCM_CRYPTO_STATUS_INVALID_PK_PUBKEY", "Invalid public key"},
    {"KCM_CRYPTO_STATUS_ECP_INVALID_KEY", "Invalid EC key"},
    {"KCM_CRYPTO_STATUS_PK_KEY_INVALID_VERSION", "Unsupported key version"},
    {"KCM_CRYPTO_STATUS_PK_PASSWORD_REQUIRED", "Key is encrypted (password required)"},
    {"KCM_CRYPTO_STATUS_PRIVATE_KEY_VERIFICATION_FAILED", "Private key verification failed"},
    {"KCM_CRYPTO_STATUS_PUBLIC_KEY_VERIFICATION_FAILED", "Public key verification failed"},
    {"KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG", "Unknown key algorithm"},
    {"KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE", "Unsupported curve (P-256 only)"},
    {"KCM_CRYPTO_STATUS_PARSING_DER_CERT", "Certificate DER parsing failed"},
    {"KCM_CRYPTO_STATUS_CERT_EXPIRED", "Certificate expired"},
    {"KCM_CRYPTO_STATUS_CERT_FUTURE", "Certificate not yet valid"},
    {"KCM_CRYPTO_STATUS_CERT_MD_ALG", "Unsupported certificate signature algorithm"},
    {"KCM_CRYPTO_STATUS_CERT_PUB_KEY_TYPE", "Unsupported certificate public key type"},
    {"KCM_CRYPTO_STATUS_CERT_PUB_KEY", "Certificate public key error"},
    {"KCM_CRYPTO_STATUS_CERT_NOT_TRUSTED", "Certificate not trusted"},
    {"KCM_CRYPTO_STATUS_INVALID_X509_ATTR", "Invalid X.509 attribute"},
    {"KCM_CRYPTO_STATUS_VERIFY_SIGNATURE_FAILED", "Signature verification failed"},
    {"KCM_CRYPTO_STATUS_INVALID_MD_TYPE", "Invalid message digest type"},
    {"KCM_CRYPTO_STATUS_FAILED_TO_WRITE_SIGNATURE", "Failed to write a signature"},
    {"KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PRIVATE_KEY", "Failed to write a private key"},
    {"KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PUBLIC_KEY", "Failed to write a public key"},
    {"KCM_CRYPTO_STATUS_FAILED_TO_WRITE_CSR", "Failed to write a CSR"},
    {"KCM_CRYPTO_STATUS_INVALID_OID", "Invalid OID"},
    {"KCM_CRYPTO_STATUS_INVALID_NAME_FORMAT", "Invalid subject name format"},
    {"KCM_CRYPTO_STATUS_ENTROPY_MISSING", "Entropy missing"},
    {"KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR",
     "Certificate does not match the device-generated key"},
    {"KCM_CRYPTO_STATUS_SET_EXTENSION_FAILED", "Failed to set an X.509 extension"},
    {"KCM_STATUS_RBP_ERROR", "Rollback-protected storage error"},
    {"KCM_STATUS_FILE_NAME_INVALID", "Item name has characters outside A-Z a-z 0-9 . - _"},
    {"KCM_CRYPTO_STATUS_INVALID_PK_PRIVKEY", "Invalid private key"},
};

const char *kcm_status_name(kcm_status_e status)
{
    if ((unsigned)status < ARRAY_LEN(kcm_texts)) {
        return kcm_texts[status].name;
    }
    return "KCM_STATUS_UNKNOWN";
}

const char *kcm_status_to_string(kcm_status_e status)
{
    if ((unsigned)status < ARRAY_LEN(kcm_texts)) {
        return kcm_texts[status].text;
    }
    return "Unknown KCM status";
}

const char *kiln_kv_status_to_string(int status)
{
    switch (status) {
    case KILN_KV_OK:
        return "ok";
    case KILN_KV_NOT_FOUND:
        return "no such key";
    case KILN_KV_NO_SPACE:
        return "storage full";
    case KILN_KV_IO:
        return "storage medium failed";
    case KILN_KV_CORRUPT:
        return "stored data failed its integrity check";
    case KILN_KV_TOO_SMALL:
        return "buffer too small";
    case KILN_KV_INVALID:
        return "invalid argument";
    default:
        return "unknown storage status";
    }
}
