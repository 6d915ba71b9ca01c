/* Texts for every status value of the device library (FCC, KCM, storage backend). */
#include "fcc_status.h"
#include "kcm_status.h"
#include "kiln/kv.h"
#include "kiln_status_table.h"

/* The enums are the original's, declared in the public headers without a map, so each entry
 * names its enumerator: the compiler then checks the name, and the number cannot drift from
 * it the way a table indexed by position would. */
#define STATUS(id, text)                                                                           \
    {                                                                                              \
        id, #id, text                                                                              \
    }

static const kiln_status_entry fcc_entries[] = {
    STATUS(FCC_STATUS_SUCCESS, "Operation completed successfully"),
    STATUS(FCC_STATUS_ERROR, "Operation ended with an unspecified error"),
    STATUS(FCC_STATUS_MEMORY_OUT, "An out-of-memory condition occurred"),
    STATUS(FCC_STATUS_INVALID_PARAMETER, "A parameter provided to the function was invalid"),
    STATUS(FCC_STATUS_STORE_ERROR, "Internal storage error"),
    STATUS(FCC_STATUS_INTERNAL_ITEM_ALREADY_EXIST, "Internal item already exists"),
    STATUS(FCC_STATUS_CA_ERROR, "CA identifier error"),
    STATUS(FCC_STATUS_ROT_ERROR, "Root of trust error (already set or cannot be set)"),
    STATUS(FCC_STATUS_ENTROPY_ERROR, "Entropy error (already set or cannot be set)"),
    STATUS(FCC_STATUS_FACTORY_DISABLED_ERROR, "The factory flow is disabled on this device"),
    STATUS(FCC_STATUS_INVALID_CERTIFICATE, "Invalid certificate found"),
    STATUS(FCC_STATUS_INVALID_CERT_ATTRIBUTE, "Failed to get a certificate attribute"),
    STATUS(FCC_STATUS_INVALID_CA_CERT_SIGNATURE, "Invalid CA signature"),
    STATUS(FCC_STATUS_EXPIRED_CERTIFICATE, "Certificate is expired"),
    STATUS(FCC_STATUS_INVALID_LWM2M_CN_ATTR, "Invalid CN (or OU) field of certificate"),
    STATUS(FCC_STATUS_KCM_ERROR, "KCM basic functionality failed"),
    STATUS(FCC_STATUS_KCM_STORAGE_ERROR, "KCM failed to read, write or size an item in storage"),
    STATUS(FCC_STATUS_KCM_FILE_EXIST_ERROR, "KCM tried to create an existing storage item"),
    STATUS(FCC_STATUS_KCM_CRYPTO_ERROR, "KCM cryptographic check of a certificate or key failed"),
    STATUS(FCC_STATUS_NOT_INITIALIZED, "FCC is not initialized"),
    STATUS(FCC_STATUS_BUNDLE_ERROR, "Protocol layer general error (malformed bundle)"),
    STATUS(FCC_STATUS_BUNDLE_RESPONSE_ERROR, "Protocol layer failed to create the response"),
    STATUS(FCC_STATUS_BUNDLE_UNSUPPORTED_GROUP, "Unsupported group in the bundle"),
    STATUS(FCC_STATUS_BUNDLE_INVALID_GROUP, "Invalid group in the bundle"),
    STATUS(FCC_STATUS_BUNDLE_INVALID_SCHEME, "Wrong scheme version of the bundle"),
    STATUS(FCC_STATUS_ITEM_NOT_EXIST, "Item was not found in the storage"),
    STATUS(FCC_STATUS_EMPTY_ITEM, "Item is empty"),
    STATUS(FCC_STATUS_WRONG_ITEM_DATA_SIZE, "Item size is different than expected"),
    STATUS(FCC_STATUS_URI_WRONG_FORMAT, "URI format is incorrect"),
    STATUS(FCC_STATUS_FIRST_TO_CLAIM_NOT_ALLOWED, "First-to-claim is not allowed here"),
    STATUS(FCC_STATUS_BOOTSTRAP_MODE_ERROR, "Wrong value of the bootstrap mode"),
    STATUS(FCC_STATUS_OUTPUT_INFO_ERROR, "Failed to create the output info"),
    STATUS(FCC_STATUS_WARNING_CREATE_ERROR, "Failed to create a warning"),
    STATUS(FCC_STATUS_UTC_OFFSET_WRONG_FORMAT, "UTC offset format is incorrect"),
    STATUS(FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR,
           "Certificate public key does not match the private key"),
    STATUS(FCC_STATUS_BUNDLE_INVALID_KEEP_ALIVE_SESSION_STATUS,
           "Invalid keep-alive session status"),
    STATUS(FCC_STATUS_TOO_MANY_CSR_REQUESTS, "Too many CSR requests (maximum 5)"),
    STATUS(FCC_STATUS_NOT_SUPPORTED, "Unsupported field, type, format or feature"),
};
static const kiln_status_table fcc_statuses =
    KILN_STATUS_TABLE(fcc_entries, "FCC_STATUS_UNKNOWN", "Unknown FCC status");

/* Every enumerator, FCC_MAX_STATUS (0x7fffffff) included, fits an int unchanged. */
const char *fcc_status_name(fcc_status_e status)
{
    return kiln_status_name(&fcc_statuses, (int)status);
}

const char *fcc_status_to_string(fcc_status_e status)
{
    return kiln_status_text(&fcc_statuses, (int)status);
}

static const kiln_status_entry kcm_entries[] = {
    STATUS(KCM_STATUS_SUCCESS, "Operation completed successfully"),
    STATUS(KCM_STATUS_ERROR, "Unspecified error"),
    STATUS(KCM_STATUS_INVALID_PARAMETER, "Invalid parameter"),
    STATUS(KCM_STATUS_INSUFFICIENT_BUFFER, "Buffer too small"),
    STATUS(KCM_STATUS_OUT_OF_MEMORY, "Out of memory"),
    STATUS(KCM_STATUS_ITEM_NOT_FOUND, "Item not found"),
    STATUS(KCM_STATUS_META_DATA_NOT_FOUND, "Meta data not found"),
    STATUS(KCM_STATUS_META_DATA_SIZE_ERROR, "Meta data size error"),
    STATUS(KCM_STATUS_FILE_EXIST, "Item already exists"),
    STATUS(KCM_STATUS_KEY_EXIST, "Key name for generation already exists"),
    STATUS(KCM_STATUS_NOT_PERMITTED, "Operation not permitted"),
    STATUS(KCM_STATUS_STORAGE_ERROR, "Storage read or write failed"),
    STATUS(KCM_STATUS_ITEM_IS_EMPTY, "Item data is empty"),
    STATUS(KCM_STATUS_INVALID_FILE_VERSION, "Stored item has an unknown version"),
    STATUS(KCM_STATUS_FILE_CORRUPTED, "Stored item failed its integrity check"),
    STATUS(KCM_STATUS_FILE_NAME_CORRUPTED, "Stored item name is corrupted"),
    STATUS(KCM_STATUS_INVALID_FILE_ACCESS_MODE, "Invalid access mode"),
    STATUS(KCM_STATUS_UNKNOWN_STORAGE_ERROR, "Unknown storage error"),
    STATUS(KCM_STATUS_NOT_INITIALIZED, "KCM is not initialized"),
    STATUS(KCM_STATUS_CLOSE_INCOMPLETE_CHAIN,
           "Closed a chain with fewer certificates than declared"),
    STATUS(KCM_STATUS_CORRUPTED_CHAIN_FILE, "Stored certificate chain is corrupted"),
    STATUS(KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN, "Chain length must be 1 to 5"),
    STATUS(KCM_STATUS_CERTIFICATE_CHAIN_VERIFICATION_FAILED,
           "A certificate of the chain was not signed by the next one"),
    STATUS(KCM_STATUS_FILE_NAME_TOO_LONG, "Item name longer than 100 bytes"),
    STATUS(KCM_STATUS_INVALID_EXPECTED_LOCATION, "Invalid storage location"),
    STATUS(KCM_CRYPTO_STATUS_UNSUPPORTED_HASH_MODE, "Unsupported hash mode"),
    STATUS(KCM_CRYPTO_STATUS_PARSING_DER_PRIVATE_KEY, "Private key DER parsing failed"),
    STATUS(KCM_CRYPTO_STATUS_PARSING_DER_PUBLIC_KEY, "Public key DER parsing failed"),
    STATUS(KCM_CRYPTO_STATUS_PK_KEY_INVALID_FORMAT, "Key format invalid"),
    STATUS(KCM_CRYPTO_STATUS_INVALID_PK_PUBKEY, "Invalid public key"),
    STATUS(KCM_CRYPTO_STATUS_ECP_INVALID_KEY, "Invalid EC key"),
    STATUS(KCM_CRYPTO_STATUS_PK_KEY_INVALID_VERSION, "Unsupported key version"),
    STATUS(KCM_CRYPTO_STATUS_PK_PASSWORD_REQUIRED, "Key is encrypted (password required)"),
    STATUS(KCM_CRYPTO_STATUS_PRIVATE_KEY_VERIFICATION_FAILED, "Private key verification failed"),
    STATUS(KCM_CRYPTO_STATUS_PUBLIC_KEY_VERIFICATION_FAILED, "Public key verification failed"),
    STATUS(KCM_CRYPTO_STATUS_PK_UNKNOWN_PK_ALG, "Unknown key algorithm"),
    STATUS(KCM_CRYPTO_STATUS_UNSUPPORTED_CURVE, "Unsupported curve (P-256 only)"),
    STATUS(KCM_CRYPTO_STATUS_PARSING_DER_CERT, "Certificate DER parsing failed"),
    STATUS(KCM_CRYPTO_STATUS_CERT_EXPIRED, "Certificate expired"),
    STATUS(KCM_CRYPTO_STATUS_CERT_FUTURE, "Certificate not yet valid"),
    STATUS(KCM_CRYPTO_STATUS_CERT_MD_ALG, "Unsupported certificate signature algorithm"),
    STATUS(KCM_CRYPTO_STATUS_CERT_PUB_KEY_TYPE, "Unsupported certificate public key type"),
    STATUS(KCM_CRYPTO_STATUS_CERT_PUB_KEY, "Certificate public key error"),
    STATUS(KCM_CRYPTO_STATUS_CERT_NOT_TRUSTED, "Certificate not trusted"),
    STATUS(KCM_CRYPTO_STATUS_INVALID_X509_ATTR, "Invalid X.509 attribute"),
    STATUS(KCM_CRYPTO_STATUS_VERIFY_SIGNATURE_FAILED, "Signature verification failed"),
    STATUS(KCM_CRYPTO_STATUS_INVALID_MD_TYPE, "Invalid message digest type"),
    STATUS(KCM_CRYPTO_STATUS_FAILED_TO_WRITE_SIGNATURE, "Failed to write a signature"),
    STATUS(KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PRIVATE_KEY, "Failed to write a private key"),
    STATUS(KCM_CRYPTO_STATUS_FAILED_TO_WRITE_PUBLIC_KEY, "Failed to write a public key"),
    STATUS(KCM_CRYPTO_STATUS_FAILED_TO_WRITE_CSR, "Failed to write a CSR"),
    STATUS(KCM_CRYPTO_STATUS_INVALID_OID, "Invalid OID"),
    STATUS(KCM_CRYPTO_STATUS_INVALID_NAME_FORMAT, "Invalid subject name format"),
    STATUS(KCM_CRYPTO_STATUS_ENTROPY_MISSING, "Entropy missing"),
    STATUS(KCM_CRYPTO_STATUS_SELF_GENERATED_CERTIFICATE_VERIFICATION_ERROR,
           "Certificate does not match the device-generated key"),
    STATUS(KCM_CRYPTO_STATUS_SET_EXTENSION_FAILED, "Failed to set an X.509 extension"),
    STATUS(KCM_STATUS_RBP_ERROR, "Rollback-protected storage error"),
    STATUS(KCM_STATUS_FILE_NAME_INVALID, "Item name has characters outside A-Z a-z 0-9 . - _"),
    STATUS(KCM_CRYPTO_STATUS_INVALID_PK_PRIVKEY, "Invalid private key"),
};
static const kiln_status_table kcm_statuses =
    KILN_STATUS_TABLE(kcm_entries, "KCM_STATUS_UNKNOWN", "Unknown KCM status");

const char *kcm_status_name(kcm_status_e status)
{
    return kiln_status_name(&kcm_statuses, (int)status);
}

const char *kcm_status_to_string(kcm_status_e status)
{
    return kiln_status_text(&kcm_statuses, (int)status);
}

static const kiln_status_entry kv_entries[] = {
    STATUS(KILN_KV_OK, "ok"),
    STATUS(KILN_KV_NOT_FOUND, "no such key"),
    STATUS(KILN_KV_NO_SPACE, "storage full"),
    STATUS(KILN_KV_IO, "storage medium failed"),
    STATUS(KILN_KV_CORRUPT, "stored data failed its integrity check"),
    STATUS(KILN_KV_TOO_SMALL, "buffer too small"),
    STATUS(KILN_KV_INVALID, "invalid argument"),
};
/* kiln_kv has no name function yet; the names cost little and keep every entry whole. */
static const kiln_status_table kv_statuses =
    KILN_STATUS_TABLE(kv_entries, "KILN_KV_UNKNOWN", "unknown storage status");

const char *kiln_kv_status_to_string(int status)
{
    return kiln_status_text(&kv_statuses, status);
}
