/* What the files that prepare bundles and verify answers share: the handle's state, the item
 * names of the two server modes, the device's credentials and the inputs of one preparation.
 *
 *   fcu.c            the handle, its configuration cache, setup, the prepare entry point
 *   fcu_resources.c  files named by the configuration (certificates cached while unchanged)
 *   fcu_creds.c      the device's key and certificate: generated, from a CSR, or supplied
 *   fcu_bundle.c     the complete bundle (one-step, or by_device second step)
 *   fcu_custom.c     custom-properties turned into bundle items
 *   fcu_csr_request.c the by_device first step: the bundle asking the device for a CSR
 *   fcu_verify.c     the device's answer, and signing its CSR
 *   fcu_context.c    the operation context between the two by_device steps */
#ifndef KILN_FCU_PREPARE_H
#define KILN_FCU_PREPARE_H

#include "bundle_writer.h"
#include "fcc_bundle_fields.h"
#include "fcu_internal.h"

/* Certificates read from resource files, kept while the file is unchanged: parsing them is
 * a large share of a bundle's cost. */
#define FCU_RESOURCE_CACHE 8
typedef struct fcu_resource_entry {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint8_t *der;
    size_t der_len;
} fcu_resource_entry;

struct fcu {
    char *home, *resources, *keystore, *config;
    bool config_explicit;
    fcu_ca ca;
    fcu_resource_entry resources_cache[FCU_RESOURCE_CACHE];
    size_t next_cache_slot;
    EVP_PKEY_CTX *keygen; /* P-256 generation from a parameter template, reused per device */
    /* The last configuration read, kept while the file's bytes and the environment variables
     * it used are the same: the file is still read on every call. */
    fcu_config cfg;
    bool cfg_valid;
    uint8_t *cfg_bytes;
    size_t cfg_len;
    /* Batch mode (fcu_set_batch_mode): batch_checked when a preparation succeeded with the
     * files as they are now; until a recheck, the next ones do not look at the files again. */
    bool batch, batch_checked;
    char *external_ca; /* fcu_set_external_ca; NULL: KILN_EXTERNAL_CA, then fcu.yml */
};

struct fcu_operation_context {
    char *session_id;
    char *endpoint;
    char *serial;
    char *keys_location;
    char *key_name; /* PrKN the device generated */
};

/** The configuration for this call (re-read every time, re-parsed only when it changed). */
int fcu__load_config(fcu *f, const fcu_config **out, fcu_error *err);

/** True when s has no control characters (serial numbers, endpoint names in answers). */
bool fcu__valid_argument(const char *s);

/* ---- item names of the two server modes ---- */

typedef struct fcu_device_names {
    const char *key, *cert, *server_ca, *server_crl, *uri;
} fcu_device_names;

extern const fcu_device_names fcu__bootstrap_names;
extern const fcu_device_names fcu__lwm2m_names;
const fcu_device_names *fcu__names_of(const fcu_config *cfg);

/* ---- session ids ---- */

/* A bundle's SID, which the device echoes in its answer: "fcu-", 16 hex digits of SHA-256 of
 * the endpoint name, 16 random hex digits (36 characters, as before). The endpoint part ties an
 * answer to its device; the random part to its session. */
#define FCU_SID_PREFIX     "fcu-"
#define FCU_SID_TAG_HEX    16
#define FCU_SID_RANDOM_HEX 16
#define FCU_SID_LEN        (4 + FCU_SID_TAG_HEX + FCU_SID_RANDOM_HEX)
/** A new session id for endpoint (malloc'ed), NULL when out of memory or randomness. */
char *fcu__session_id_new(const char *endpoint);
/** True when sid is one of ours and was made for another endpoint than endpoint. */
bool fcu__session_id_of_other_endpoint(const char *sid, const char *endpoint);

/* ---- inputs of one preparation ---- */

typedef struct fcu_prepare_input {
    const char *endpoint, *serial, *keys_location;
    /* by_device second step: */
    EVP_PKEY *csr_key;
    X509_REQ *csr; /* signed by the external CA when there is one */
    const char *csr_key_name;
    const char *session_id;
    /* per-device custom properties (fcu_prepare_device_configuration_ex) */
    const fcu_extra_property *extra;
    size_t extra_count;
} fcu_prepare_input;

/* ---- files named by the configuration (fcu_resources.c) ---- */

/** Reads the file v names (relative to home); the error says whether it is missing (naming the
 *  environment variable that chose it), unreadable or failed to load. */
int fcu__load_file_value(const fcu *f, const fcu_value *v, uint8_t **data, size_t *len,
                         fcu_error *err);
/** Same for a certificate file: its first certificate as DER (not X.509 when it holds none). */
int fcu__load_cert_value(fcu *f, const fcu_value *v, uint8_t **der, size_t *der_len,
                         fcu_error *err);
void fcu__resources_free(fcu *f);

/* ---- device credentials (fcu_creds.c) ---- */

typedef struct fcu_device_creds {
    uint8_t *key_der; /* NULL for by_device (the key stays on the device) */
    size_t key_len;
    STACK_OF(X509) * chain;              /* certificate [, issuers...] (externally supplied) */
    const char *key_name_on_cert;        /* PrKN on the certificate item (by_device) */
    uint8_t *ders[FCC_MAX_CHAIN_LENGTH]; /* the chain in DER, device certificate first */
    size_t der_lens[FCC_MAX_CHAIN_LENGTH];
    int nders;
} fcu_device_creds;

void fcu__creds_free(fcu_device_creds *c);
/** The command that signs by_device CSRs (fcu_set_external_ca, KILN_EXTERNAL_CA, fcu.yml's
 *  external-ca, in that order), NULL when kiln's own CA signs them. */
const char *fcu__external_ca(const fcu *f, const fcu_config *cfg);
/** The device certificate [and its issuers] for req from the external CA command, checked. */
int fcu__external_ca_sign(const char *command, X509_REQ *req, const char *endpoint,
                          fcu_device_creds *c, fcu_error *err);
/** The external CA's answer (PEM certificates, untrusted bytes) checked against the CSR's key
 *  and the endpoint; the chain's DER into c. 410 when refused. */
int fcu__external_ca_check_answer(const char *answer, size_t answer_len, EVP_PKEY *csr_key,
                                  const char *endpoint, fcu_device_creds *c, fcu_error *err);
bool fcu__is_p256(EVP_PKEY *key);
/** Fails when fcu.crt's chain and the configured chain depth do not agree. */
int fcu__check_ca_chain(const fcu *f, const fcu_config *cfg, const fcu_device_names *names,
                        fcu_error *err);
/** The device's key (unless by_device) and certificate chain in DER, whichever way the
 *  configuration and in say; ou is the OU of an issued certificate (NULL: configured). */
int fcu__creds_obtain(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in, const char *ou,
                      fcu_device_creds *c, fcu_notice_list *warnings, fcu_error *err);

/* ---- custom properties (fcu_custom.c) ---- */

typedef struct fcu_custom_item {
    const char *name; /* in the configuration */
    int type_code;    /* enum fcu_custom_type */
    uint8_t *data;    /* DER of keys and certificates, else the text or bytes; wiped */
    size_t len;
    long long value; /* FCU_CUSTOM_INTEGER */
} fcu_custom_item;

typedef struct fcu_custom_items {
    fcu_custom_item *items;
    size_t count;
} fcu_custom_items;

/** Reads and checks every custom property of cfg, in the configuration's order. */
int fcu__custom_items_load(const fcu *f, const fcu_config *cfg, fcu_custom_items *out,
                           fcu_error *err);
void fcu__custom_items_free(fcu_custom_items *c);
/** Adds the per-device properties to items: one named like an item replaces it. */
int fcu__custom_items_add_extra(fcu_custom_items *items, const fcu_extra_property *props,
                                size_t count, fcu_error *err);

/* ---- bundles (fcu_bundle.c, fcu_csr_request.c) ---- */

/** Writes one whole CBOR document; called twice by fcu__encode (to size, then to write). */
typedef void (*fcu_write_fn)(kiln_bundle_writer *w, const void *ctx);
/** Runs write into a malloc'ed buffer of exactly the size it needs. -1 when out of memory. */
int fcu__encode(fcu_write_fn write, const void *ctx, uint8_t **out, size_t *out_len);

/** The account id in an LwM2M/bootstrap URI ("...?aid=<id>&..."), or NULL. */
char *fcu__uri_account_id(const char *uri);
/** Refuses (invalid configuration) a device-info section the device would refuse. */
int fcu__validate_mandatory(const fcu_config *cfg, fcu_error *err);
/** Builds a complete bundle (first and only, or by_device second) into out. */
int fcu__build_bundle(fcu *f, const fcu_config *cfg, const fcu_prepare_input *in,
                      fcu_device_request *out, fcu_error *err);
/** by_device first step: the bundle asking the device for a key and a CSR. */
int fcu__build_csr_request(const fcu_config *cfg, const fcu_prepare_input *in,
                           fcu_device_request *out, fcu_error *err);

#endif
