/* Factory Configurator Utility (FCU): the factory PC's certificate authority and bundle maker.
 *
 * An fcu handle is opened once per process (or per station thread) and then used for
 * setup, status, prepare and verify calls. The configuration file (fcu.yml) is re-read on every
 * call, as the original does, so it may be edited between calls. The loaded CA key and
 * certificate are kept in the handle while their files are unchanged (inode, size, mtime).
 *
 * A handle is not thread-safe: use one handle per thread.
 *
 * Every call returns an FCU status (0 = success, otherwise one of the original's error codes,
 * 100..390) and fills a result object whose errors list holds the code and the full message
 * text. Result objects are owned by the caller and released with their *_free function. */
#ifndef KILN_FCU_H
#define KILN_FCU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The original's status codes and message templates (100..390). */
#include "kiln/status_fcu.def"

typedef enum fcu_status { FCU_STATUS_MAP(FCU_STATUS_ENUMERATOR) } fcu_status;

/** Message template of a status ("%s" where the original has a placeholder); never NULL. */
const char *fcu_status_template(int status);
/** Symbolic name of a status ("CA_KEY_NOT_FOUND"); "UNKNOWN" for other values. */
const char *fcu_status_name(int status);

/** One error or warning: a code (FCU status, or device status for device errors; 0 for plain
 *  warnings) and its full text. */
typedef struct fcu_notice {
    int code;
    char *message;
} fcu_notice;

typedef struct fcu_notice_list {
    fcu_notice *items;
    size_t count;
} fcu_notice_list;

typedef struct fcu fcu;

/** Where the handle finds its files. Any NULL field falls back to FCU_HOME_DIR,
 *  FCU_RESOURCES_DIR, FCU_KEYSTORE_DIR, then to the current directory, <home>/resources,
 *  <home>/keystore; the configuration file defaults to <home>/config/fcu.yml. */
typedef struct fcu_options {
    const char *home_dir;
    const char *resources_dir;
    const char *keystore_dir;
    const char *config_file;
} fcu_options;

/** Opens a handle. opts may be NULL. Returns NULL only when out of memory. */
fcu *fcu_open(const fcu_options *opts);
/** Releases the handle and wipes the cached CA key. NULL is a no-op. */
void fcu_close(fcu *f);

/** Batch mode, for many devices in a row: while it is on, the first preparation that succeeds
 *  reads and checks the configuration, the CA and the resource certificates, and later
 *  preparations use them as they were instead of checking the files again on every device.
 *  fcu_batch_recheck makes the next preparation check them again (between batches, or when the
 *  operator signals that a file changed). Off by default: every call sees the files as they
 *  are. */
void fcu_set_batch_mode(fcu *f, bool on);

/** by_device certificates signed by a CA kiln does not hold: command (split at blanks, started
 *  without a shell) reads the device's CSR as PEM on stdin and writes the device certificate as
 *  PEM on stdout, optionally followed by its issuers; verify checks the answer (the CSR's key,
 *  the endpoint as CN, a chain that links) before it goes into the bundle. Overrides
 *  KILN_EXTERNAL_CA and fcu.yml's external-ca; NULL or "" goes back to them. -1: out of
 *  memory. */
int fcu_set_external_ca(fcu *f, const char *command);

/** fcu.yml's records-url: the factory line's records database (a SQLite file or a
 *  postgresql:// URL), NULL when the key is absent or fcu.yml cannot be read. Valid until the
 *  configuration is read again. */
const char *fcu_records_url(fcu *f);
void fcu_batch_recheck(fcu *f);

const char *fcu_home_dir(const fcu *f);
const char *fcu_resources_dir(const fcu *f);
const char *fcu_keystore_dir(const fcu *f);
const char *fcu_config_file(const fcu *f);

/* ---- setup ----------------------------------------------------------------------------- */

typedef struct fcu_ca_details {
    char *keystore_dir;
    char *certificate_file;
    char *csr_file;         /* only when the CA is an intermediate; NULL otherwise */
    char *private_key_file; /* NULL when the key is in a PKCS#11 token */
    char *private_key_uri;  /* the token key's RFC 7512 URI without its PIN; NULL for a file */
} fcu_ca_details;

typedef struct fcu_setup_status {
    int status;
    fcu_ca_details ca_details;
    fcu_notice_list errors;
    fcu_notice_list warnings;
} fcu_setup_status;

/** Makes the handle a CA: P-256 key fcu_key.pem (0600, keystore dir 0700) and a self-signed
 *  fcu.crt with the certificate-authority subject; with setup-ca-as-intermediate a CSR
 *  (fcu.csr) instead, and status 212 until the signed fcu.crt is placed. Refuses (290) to
 *  replace an existing key or certificate unless override_existing_ca. */
int fcu_setup(fcu *f, bool override_existing_ca, fcu_setup_status *out);
/** Same with the CA key in a PKCS#11 token named by key_uri (NULL: fcu.yml's
 *  certificate-authority key-uri), created there (P-256, never extractable) when generate.
 *  The key stays in the token: the keystore gets fcu.crt (or fcu.csr) and fcu_key.uri, the
 *  URI without any pin-value, which prepare, verify and inject then use (fcu.yml's key-uri,
 *  when set, comes first). Token failures are 225 naming the URI without its PIN. */
int fcu_setup_with_key(fcu *f, const char *key_uri, bool generate, bool override_existing_ca,
                       fcu_setup_status *out);
/** Reports whether the CA material is present and usable, without changing anything. */
int fcu_get_setup_status(fcu *f, fcu_setup_status *out);
void fcu_setup_status_free(fcu_setup_status *s);

/* ---- prepare --------------------------------------------------------------------------- */

/** State of a multi-step device operation (device-generated keys): what the second bundle
 *  needs. Opaque; may be saved to bytes and restored in another process. */
typedef struct fcu_operation_context fcu_operation_context;

void fcu_operation_context_free(fcu_operation_context *ctx);
/** Serializes the context (CBOR, no secrets) into a malloc'ed buffer. */
int fcu_operation_context_save(const fcu_operation_context *ctx, uint8_t **out, size_t *out_len);
/** Restores a context saved by fcu_operation_context_save; FCU_STATUS_GENERAL on bad bytes. */
int fcu_operation_context_load(const uint8_t *data, size_t len, fcu_operation_context **out);

typedef struct fcu_device_request {
    int status;
    uint8_t *config_data; /* the CBOR bundle for the device */
    size_t config_size;
    fcu_notice_list errors;
    fcu_notice_list warnings;
    char *enrollment_id;                  /* first-to-claim only */
    fcu_operation_context *operation_ctx; /* by_device first step only; owned by the request */
} fcu_device_request;

/** Builds one device's configuration bundle. device_keys_location is the per-device folder
 *  for externally supplied keys and entropy (may be NULL otherwise). */
int fcu_prepare_device_configuration(fcu *f, const char *endpoint_name, const char *serial_number,
                                     const char *device_keys_location, fcu_device_request *out);
void fcu_device_request_free(fcu_device_request *r);

/** Kinds of a per-device custom property (the text-valued ones of fcu.yml's custom-properties:
 *  string, integer, binary). */
typedef enum fcu_property_type {
    FCU_PROPERTY_STRING,
    FCU_PROPERTY_INTEGER,
    FCU_PROPERTY_BINARY
} fcu_property_type;

/** One per-device custom property, added to that device's ConfigParams after fcu.yml's
 *  custom-properties. */
typedef struct fcu_extra_property {
    const char *name;
    fcu_property_type type;
    const uint8_t *data; /* string: the text (no NUL byte inside); binary: the bytes */
    size_t len;
    long long value; /* integer */
} fcu_extra_property;

/** fcu_prepare_device_configuration with per-device custom properties. A property named like
 *  one of fcu.yml's custom-properties replaces it (name and type) for this device; a name given
 *  twice, an empty name or a string with a NUL byte is refused (380, naming the property).
 *  With key-generation-mode by_device (two bundles) extra properties are refused (380): the
 *  second bundle is made by fcu_verify_device_response, which does not take them. */
int fcu_prepare_device_configuration_ex(fcu *f, const char *endpoint_name,
                                        const char *serial_number, const char *device_keys_location,
                                        const fcu_extra_property *props, size_t props_count,
                                        fcu_device_request *out);

/* ---- verify ---------------------------------------------------------------------------- */

typedef struct fcu_device_response_status {
    int status;    /* device ReturnStatus, or an FCU status when the answer is unusable */
    char *message; /* device InfoMessage without its trailing newline; NULL if none */
    fcu_notice_list errors;
    fcu_notice_list warnings; /* one entry per WarningInfo line */
    /* by_device: the second bundle, made from the answer's CSRs (NULL otherwise). */
    fcu_device_request *next_request;
} fcu_device_response_status;

/** Checks a device answer. ctx is the operation context of a by_device first step (NULL
 *  otherwise); when the answer carries CSRs they are verified and signed and the second
 *  bundle is returned in out->next_request. */
int fcu_verify_device_response(fcu *f, const char *endpoint_name, const uint8_t *response,
                               size_t response_len, const fcu_operation_context *ctx,
                               fcu_device_response_status *out);
void fcu_device_response_status_free(fcu_device_response_status *s);

#ifdef __cplusplus
}
#endif

#endif
