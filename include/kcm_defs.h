/* Key and Configuration Manager types and limits (values of the original KCM). */
#ifndef KCM_DEFS_H
#define KCM_DEFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KCM_PRIVATE_KEY_ITEM = 0,
    KCM_PUBLIC_KEY_ITEM = 1,
    KCM_SYMMETRIC_KEY_ITEM = 2,
    KCM_CERTIFICATE_ITEM = 3,
    KCM_CONFIG_ITEM = 4,
    KCM_LAST_ITEM = 5
} kcm_item_type_e;

typedef enum { KCM_MD_NONE = 0, KCM_MD_SHA256 = 1 } kcm_md_type_e;

typedef enum { KCM_SCHEME_NONE = 0, KCM_SCHEME_EC_SECP256R1 = 1 } kcm_crypto_key_scheme_e;

typedef enum {
    KCM_CSR_KU_NONE = 0x0,
    KCM_CSR_KU_DIGITAL_SIGNATURE = 0x1,
    KCM_CSR_KU_NON_REPUDIATION = 0x2,
    KCM_CSR_KU_KEY_CERT_SIGN = 0x4,
    KCM_CSR_KU_KEY_AGREEMENT = 0x8
} kcm_csr_key_usage_e;

typedef enum {
    KCM_CSR_EXT_KU_NONE = 0,
    KCM_CSR_EXT_KU_ANY = (1 << 0),
    KCM_CSR_EXT_KU_SERVER_AUTH = (1 << 1),
    KCM_CSR_EXT_KU_CLIENT_AUTH = (1 << 2),
    KCM_CSR_EXT_KU_CODE_SIGNING = (1 << 3),
    KCM_CSR_EXT_KU_EMAIL_PROTECTION = (1 << 4),
    KCM_CSR_EXT_KU_TIME_STAMPING = (1 << 8),
    KCM_CSR_EXT_KU_OCSP_SIGNING = (1 << 9)
} kcm_csr_ext_key_usage_e;

/** CSR parameters: subject in Mbed TLS syntax ("C=FI,O=kiln,CN=ep"). */
typedef struct kcm_csr_params_ {
    const char *subject;
    kcm_md_type_e md_type;
    uint32_t key_usage;
    uint32_t ext_key_usage;
} kcm_csr_params_s;

#define KCM_MAX_FILENAME_SIZE                           100
#define KCM_MAX_NUMBER_OF_CERTITICATES_IN_CHAIN         5
#define KCM_SHA256_SIZE                                 32
#define KCM_EC_SECP256R1_MAX_PRIV_KEY_DER_SIZE          150
#define KCM_EC_SECP256R1_MAX_PUB_KEY_DER_SIZE           92
#define KCM_ECDSA_SECP256R1_MAX_SIGNATURE_SIZE_IN_BYTES 64

typedef void *kcm_cert_chain_handle;

#ifdef __cplusplus
}
#endif
#endif
