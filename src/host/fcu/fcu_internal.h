/* Library-private interface between the FCU modules. */
#ifndef KILN_FCU_INTERNAL_H
#define KILN_FCU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fcu/fcu.h"

/* Fault injection for the error paths that real inputs cannot reach (key or certificate
 * creation failing inside OpenSSL). Only the test build of the library has it. */
#ifdef FCU_TEST_HOOKS
extern int fcu__fail_point;
#define FCU_FAIL_POINT(code) (fcu__fail_point == (code))
#else
#define FCU_FAIL_POINT(code) 0
#endif

/* ---- notices (fcu_status.c) ---- */

/** Appends a notice with a literal text. */
void fcu__notice_add_text(fcu_notice_list *list, int code, const char *text);
void fcu__notice_list_free(fcu_notice_list *list);

/** An error being reported: code plus formatted message (the first error wins). */
typedef struct fcu_error {
    int code;
    char message[1024];
} fcu_error;

/** Records code with its template filled from the variadic string arguments; returns code. */
int fcu__fail(fcu_error *err, int code, ...);
/** Like fcu__fail, then appends " (<detail>)" to the message. */
int fcu__fail_detail(fcu_error *err, const char *detail, int code, ...);

char *fcu__strdup(const char *s);
/** Wipes then frees n bytes at p (NULL is fine): fcu.yml's bytes and values may hold a token
 * PIN (key-uri's pin-value) or a database password (records-url). */
void fcu__free_wiped(void *p, size_t n);
char *fcu__path_join(const char *dir, const char *name);
/** Reads a whole file (at most 16 MiB). Returns 0 or errno. */
int fcu__read_file(const char *path, uint8_t **data, size_t *len);
/** Same, also giving the file's mode. */
int fcu__read_file_mode(const char *path, uint8_t **data, size_t *len, mode_t *mode);

/* ---- configuration (fcu_config.c) ---- */

/** A scalar value of fcu.yml with where it came from. */
typedef struct fcu_value {
    char *text; /* NULL when the key is absent or empty */
    int line;   /* 1-based line in the file */
    char *env;  /* name of the environment variable substituted into it, if any */
} fcu_value;

/* In the order of their names in fcu_config.c (decode_modes), default first. */
enum fcu_keygen_mode { FCU_KEYGEN_BY_TOOL, FCU_KEYGEN_BY_DEVICE, FCU_KEYGEN_EXTERNAL };
enum fcu_entropy_mode { FCU_ENTROPY_BY_DEVICE, FCU_ENTROPY_BY_TOOL, FCU_ENTROPY_EXTERNAL };

typedef struct fcu_subject_config {
    fcu_value common_name, organization, organizational_unit, locality, state, country;
} fcu_subject_config;

enum fcu_custom_type {
    FCU_CUSTOM_CERTIFICATE,
    FCU_CUSTOM_PRIVATE_KEY,
    FCU_CUSTOM_PUBLIC_KEY,
    FCU_CUSTOM_STRING,
    FCU_CUSTOM_INTEGER,
    FCU_CUSTOM_BINARY
};

typedef struct fcu_custom_property {
    fcu_value name, type, data, data_file;
    int type_code;
} fcu_custom_property;

typedef struct fcu_config {
    char *path;
    fcu_value setup_ca_as_intermediate, use_bootstrap, first_to_claim, time_sync, verify_on_device,
        key_generation_mode, entropy_generation_mode, chain_depth;
    fcu_subject_config ca, device;
    fcu_value device_validity_years;
    fcu_value manufacturer, device_type, model_number, hardware_version, memory_total, timezone,
        utc_offset;
    fcu_value bootstrap_uri, bootstrap_uri_ftc, bootstrap_ca_file, bootstrap_crl_file;
    fcu_value lwm2m_uri, lwm2m_ca_file, lwm2m_crl_file;
    fcu_value update_auth_file, vendor_id, class_id;
    fcu_value fw_ca_file, fw_crl_file;
    fcu_value ca_key_uri;  /* certificate-authority: key-uri: the CA key in a PKCS#11 token */
    fcu_value external_ca; /* external-ca: the command that signs by_device CSRs */
    fcu_value records_url; /* records-url: the line's records database (file or postgresql://) */
    fcu_custom_property *custom;
    size_t custom_count;

    /* Decoded values (filled by fcu__config_decode). */
    bool intermediate, bootstrap, ftc, sync_time, verify;
    int keygen, entropy;
    long long chain_depth_value; /* -1 when not set */
    long long memory_total_kb;
    int validity_years;

    /* Environment variables the file used (other than the FCU_*_DIR ones) and their values. */
    char **env_names, **env_values;
    size_t env_count;
} fcu_config;

typedef struct fcu_dirs {
    const char *home, *resources, *keystore;
} fcu_dirs;

/** Reads and parses path (errors 190-201). explicit_path says whether the caller chose the
 *  file (195) or it is the default under home (199). */
int fcu__config_load(const char *path, bool explicit_path, const fcu_dirs *dirs, fcu_config *cfg,
                     fcu_error *err, uint8_t **raw, size_t *raw_len);
void fcu__config_free(fcu_config *cfg);
/** Turns the boolean/enum/integer texts into values (error 380). */
int fcu__config_decode(fcu_config *cfg, fcu_error *err);
/** Error 380 for field with a message that names the file and line. */
int fcu__config_invalid(const fcu_config *cfg, const char *field, const fcu_value *v,
                        const char *why, fcu_error *err);

/* ---- CA and certificates (fcu_ca.c) ---- */

#define FCU_CA_MAX_CHAIN 8

struct kiln_pki_ca;

typedef struct fcu_ca {
    struct kiln_pki_ca *issuer;      /* the CA certificate and the signer of its key */
    STACK_OF(X509) * chain;          /* certificates of fcu.crt after the first */
    uint8_t *ders[FCU_CA_MAX_CHAIN]; /* fcu.crt's certificates in DER, CA first */
    size_t der_lens[FCU_CA_MAX_CHAIN];
    int nders;
    dev_t key_dev, cert_dev;
    ino_t key_ino, cert_ino;
    off_t key_size, cert_size;
    struct timespec key_mtime, cert_mtime;
    mode_t key_mode;
    char *key_uri; /* the key's PKCS#11 URI when it is in a token; NULL: fcu_key.pem */
    bool loaded;
} fcu_ca;

/** Where setup takes the CA key from: uri NULL is a new fcu_key.pem (or fcu.yml's key-uri);
 *  a URI names a key in a PKCS#11 token, made there when generate. */
typedef struct setup_key_source {
    const char *uri;
    bool generate;
} setup_key_source;

void fcu__ca_clear(fcu_ca *ca);
/** Loads (or keeps, when the files did not change) the CA from the keystore. */
int fcu__ca_load(fcu_ca *ca, const char *keystore, const fcu_config *cfg, fcu_error *err);
int fcu__setup(const fcu_config *cfg, const char *keystore, const setup_key_source *key,
               bool override, fcu_setup_status *out);
int fcu__setup_status(const fcu_config *cfg, const char *keystore, fcu_setup_status *out);
void fcu__ca_details_fill(fcu_ca_details *d, const char *keystore, bool intermediate);
/** Warns (text appended to list) when the CA key file is readable by group or others. */
void fcu__ca_key_permission_warning(const char *keystore, fcu_notice_list *warnings);
/** Same for a loaded CA, from the mode seen when it was last checked. */
void fcu__ca_loaded_key_warning(const fcu_ca *ca, const char *keystore, fcu_notice_list *warnings);

EVP_PKEY *fcu__p256_generate(void);
/** Issues (kiln_pki) a device certificate for a P-256 public key (65-byte uncompressed point):
 *  CN = endpoint, the device-certificate subject of the configuration, OU = ou_override when
 *  given, clientAuth, digitalSignature, random serial. Returns malloc'ed DER. */
int fcu__device_cert_issue(const fcu_ca *ca, const fcu_config *cfg, const uint8_t point[65],
                           const char *endpoint, const char *ou_override, uint8_t **der,
                           size_t *der_len);
/** The uncompressed point of a P-256 key; -1 when key is not P-256. */
int fcu__p256_point(EVP_PKEY *key, uint8_t point[65]);
/** Parses PEM (one or more certificates) or DER. Returns the certificates or NULL. */
STACK_OF(X509) * fcu__certs_parse(const uint8_t *data, size_t len);
/** Parses a PEM or DER private key. */
EVP_PKEY *fcu__key_parse(const uint8_t *data, size_t len);
int fcu__x509_der(X509 *cert, uint8_t **der, size_t *len);

/* ---- device response (fcu_response.c) ---- */

typedef struct fcu_response_csr {
    char *key_name;
    uint8_t *der;
    size_t der_len;
} fcu_response_csr;

typedef struct fcu_response {
    char *scheme_version;
    char *session_id;
    bool has_status;
    int64_t return_status;
    char *info_message;
    char *warning_info;
    bool has_csrs;
    fcu_response_csr *csrs;
    size_t csr_count;
} fcu_response;

#define FCU_RESPONSE_MAX_BYTES 16384

struct cbor_item_t;
/** cbor_load for untrusted bytes: refuses inputs whose containers announce more elements than
 *  the input could hold. Sets *read to the bytes of the first item. */
struct cbor_item_t *fcu__cbor_load_bounded(const uint8_t *data, size_t len, size_t *read);

/** Decodes a device answer (structure only; field presence is checked by the caller). */
int fcu__response_parse(const uint8_t *data, size_t len, fcu_response *out, fcu_error *err);
void fcu__response_free(fcu_response *r);

#endif
