/* One provisioned device: the state behind the FCC and KCM APIs.
 *
 * The original API (fcc_init(), kcm_item_store(), ...) works on one implicit device, which
 * is what firmware wants. Simulators and test benches run many devices in one process, so
 * the whole state lives in a caller-owned struct kiln_device and every original function has
 * a kiln_-prefixed twin that takes it. The plain names operate on kiln_default_device(), the
 * device registered with kiln_set_default_device(). */
#ifndef KILN_DEVICE_H
#define KILN_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fcc_status.h"
#include "kcm_defs.h"
#include "kcm_status.h"
#include "kiln/kv.h"

#include <mbedtls/ctr_drbg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Fills key with the device's 32-byte root key (hardware unique key on a real part). */
typedef int (*kiln_root_key_fn)(void *ctx, uint8_t key[32]);
/** Fills buf with len bytes of true entropy. Returns 0 on success. */
typedef int (*kiln_entropy_fn)(void *ctx, uint8_t *buf, size_t len);

struct mbedtls_pk_context;
/** Optional: answers as mbedtls_pk_check_pair(pub, prv) does (0: prv is pub's private key), for
 *  a port that checks a pair faster, e.g. with a P-256 generator table kept across devices.
 *  f_rng/p_rng: the device's generator, for the blinding of the secret multiplication. */
typedef int (*kiln_check_pair_fn)(void *ctx, const struct mbedtls_pk_context *pub,
                                  const struct mbedtls_pk_context *prv,
                                  int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

typedef struct kiln_device_config {
    const kiln_kv_backend *kv;
    kiln_root_key_fn root_key;
    void *root_key_ctx;
    kiln_entropy_fn entropy;
    void *entropy_ctx;
} kiln_device_config;

#define KILN_CHAIN_MAX 5

/* Open certificate chain (kcm_cert_chain_*); one per device at a time. */
typedef struct kiln_chain_state {
    int mode; /* 0 closed, 1 writing, 2 reading */
    bool is_factory;
    char name[KCM_MAX_FILENAME_SIZE + 1];
    size_t name_len;
    size_t declared, count, next;
    uint8_t *buf; /* plaintext chain record (writing: being built; reading: loaded) */
    size_t buf_len, buf_cap;
} kiln_chain_state;

typedef struct kiln_device {
    kiln_device_config cfg;
    bool kcm_ready;
    bool fcc_ready;
    bool session_finished;
    bool drbg_ready;
    uint8_t storage_key[32];
    uint64_t time; /* seconds since 1970; 0 = the device has no time */
    mbedtls_ctr_drbg_context drbg;
    /* Items staged by the bundle handler: a bundle is committed as one transaction. */
    struct kiln_txn *txn;
    kiln_chain_state chain;
    /* The certificate and private-key pair last found to match: SHA-256 over the
     * certificate's SubjectPublicKeyInfo and the key's DER, so that a pair checked once (or a
     * key pair the device generated) is not checked again with a scalar multiplication. Only
     * the bytes of both items count: a changed key or certificate is a different digest. */
    uint8_t key_match[32];
    bool key_match_set;
    /* The port's certificate/private-key check (kiln_device_set_check_pair); NULL: Mbed TLS's. */
    kiln_check_pair_fn check_pair;
    void *check_pair_ctx;
} kiln_device;

/** Binds a device to its storage, root key and entropy. Does not touch storage. */
void kiln_device_setup(kiln_device *dev, const kiln_device_config *cfg);
/** After kiln_device_setup: a port's faster certificate/private-key check (see
 *  kiln_check_pair_fn; the Linux port's is kiln_linux_check_pair). */
void kiln_device_set_check_pair(kiln_device *dev, kiln_check_pair_fn fn, void *ctx);

/** Where the original global API (fcc_*, kcm_*) finds its device: the firmware or the port
 *  registers this once, before the first global call (a firmware returns its static device;
 *  the Linux port registers its directory device when the program starts, see
 *  kiln_linux_use_default_device()). A global call before any registration is a programming
 *  error: the core holds no device of its own, so that a firmware pays no RAM for one. */
typedef kiln_device *(*kiln_default_device_fn)(void);
void kiln_set_default_device(kiln_default_device_fn source);
/** The device the global API operates on: the registered source's answer. */
kiln_device *kiln_default_device(void);

/* FCC on an explicit device. Semantics as the global functions of
 * mbed_factory_configurator_client.h. */
fcc_status_e kiln_fcc_init(kiln_device *dev);
fcc_status_e kiln_fcc_finalize(kiln_device *dev);
fcc_status_e kiln_fcc_bundle_handler(kiln_device *dev, const uint8_t *encoded_bundle,
                                     size_t encoded_bundle_size, uint8_t **bundle_response_out,
                                     size_t *bundle_response_size_out);
fcc_status_e kiln_fcc_storage_delete(kiln_device *dev);
fcc_status_e kiln_fcc_verify_device_configured_4mbed_cloud(kiln_device *dev);
fcc_status_e kiln_fcc_time_set(kiln_device *dev, uint64_t time);
fcc_status_e kiln_fcc_is_factory_disabled(kiln_device *dev, bool *disabled);
fcc_status_e kiln_fcc_factory_disable(kiln_device *dev);
bool kiln_fcc_is_session_finished(kiln_device *dev);

/* KCM on an explicit device. */
kcm_status_e kiln_kcm_init(kiln_device *dev);
kcm_status_e kiln_kcm_finalize(kiln_device *dev);
kcm_status_e kiln_kcm_item_store(kiln_device *dev, const uint8_t *name, size_t name_len,
                                 kcm_item_type_e type, bool is_factory, const uint8_t *data,
                                 size_t data_size);
kcm_status_e kiln_kcm_item_get_data_size(kiln_device *dev, const uint8_t *name, size_t name_len,
                                         kcm_item_type_e type, size_t *data_size_out);
kcm_status_e kiln_kcm_item_get_data(kiln_device *dev, const uint8_t *name, size_t name_len,
                                    kcm_item_type_e type, uint8_t *buf, size_t buf_size,
                                    size_t *data_size_out);
kcm_status_e kiln_kcm_item_delete(kiln_device *dev, const uint8_t *name, size_t name_len,
                                  kcm_item_type_e type);
kcm_status_e kiln_kcm_factory_reset(kiln_device *dev);
kcm_status_e kiln_kcm_key_pair_generate_and_store(kiln_device *dev, kcm_crypto_key_scheme_e scheme,
                                                  const uint8_t *priv_name, size_t priv_name_len,
                                                  const uint8_t *pub_name, size_t pub_name_len,
                                                  bool is_factory);
kcm_status_e kiln_kcm_csr_generate(kiln_device *dev, const uint8_t *priv_name, size_t priv_name_len,
                                   const kcm_csr_params_s *params, uint8_t *csr_buf,
                                   size_t csr_buf_size, size_t *csr_size_out);
kcm_status_e kiln_kcm_certificate_verify_with_private_key(kiln_device *dev, const uint8_t *cert,
                                                          size_t cert_size,
                                                          const uint8_t *priv_name,
                                                          size_t priv_name_len);
kcm_status_e kiln_kcm_cert_chain_create(kiln_device *dev, kcm_cert_chain_handle *handle,
                                        const uint8_t *name, size_t name_len, size_t chain_len,
                                        bool is_factory);
kcm_status_e kiln_kcm_cert_chain_add_next(kiln_device *dev, kcm_cert_chain_handle handle,
                                          const uint8_t *cert, size_t cert_size);
kcm_status_e kiln_kcm_cert_chain_open(kiln_device *dev, kcm_cert_chain_handle *handle,
                                      const uint8_t *name, size_t name_len, size_t *chain_len);
kcm_status_e kiln_kcm_cert_chain_get_next_size(kiln_device *dev, kcm_cert_chain_handle handle,
                                               size_t *cert_size);
kcm_status_e kiln_kcm_cert_chain_get_next_data(kiln_device *dev, kcm_cert_chain_handle handle,
                                               uint8_t *buf, size_t buf_size, size_t *cert_size);
kcm_status_e kiln_kcm_cert_chain_close(kiln_device *dev, kcm_cert_chain_handle handle);
kcm_status_e kiln_kcm_cert_chain_delete(kiln_device *dev, const uint8_t *name, size_t name_len);

/** Calls cb once per stored (working) item, in no particular order. */
typedef int (*kiln_item_cb)(void *arg, kcm_item_type_e type, const char *name, size_t data_size);
kcm_status_e kiln_kcm_item_list(kiln_device *dev, kiln_item_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif
