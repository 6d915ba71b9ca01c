/* Certificate chains (leaf first, 1..5 certificates, each signed by the next) and
 * device-generated keys and CSRs. */
#include "kcm_internal.h"

#include <mbedtls/platform_util.h>

#include <stdlib.h>
#include <string.h>

static kcm_status_e private_key_view(kiln_device *dev, const uint8_t *name, size_t name_len,
                                     const uint8_t **der, size_t *len, uint8_t **owned)
{
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, KCM_T_PRIVATE, name, name_len);
    return kcm_record_view(dev, key, der, len, owned);
}

static void chain_reset(kiln_device *dev)
{
    if (dev->chain.buf != NULL) {
        kcm_secure_free(dev->chain.buf, dev->chain.buf_cap);
    }
    memset(&dev->chain, 0, sizeof(dev->chain));
}

kcm_status_e kiln_kcm_cert_chain_create(kiln_device *dev, kcm_cert_chain_handle *handle,
                                        const uint8_t *name, size_t name_len, size_t chain_len,
                                        bool is_factory)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (handle == NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    st = kcm_check_name(name, name_len);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (chain_len == 0 || chain_len > KCM_MAX_NUMBER_OF_CERTITICATES_IN_CHAIN) {
        return KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN;
    }
    if (dev->chain.mode != 0) {
        return KCM_STATUS_NOT_PERMITTED;
    }
    if (kcm_cert_name_taken(dev, name, name_len)) {
        return KCM_STATUS_FILE_EXIST;
    }
    chain_reset(dev);
    dev->chain.buf = malloc(256);
    if (dev->chain.buf == NULL) {
        return KCM_STATUS_OUT_OF_MEMORY;
    }
    dev->chain.buf_cap = 256;
    dev->chain.buf[0] = 0;
    dev->chain.buf_len = 1;
    dev->chain.mode = 1;
    dev->chain.is_factory = is_factory;
    dev->chain.declared = chain_len;
    memcpy(dev->chain.name, name, name_len);
    dev->chain.name_len = name_len;
    *handle = &dev->chain;
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kiln_kcm_cert_chain_add_next(kiln_device *dev, kcm_cert_chain_handle handle,
                                          const uint8_t *cert, size_t cert_size)
{
    kiln_chain_state *c = handle;
    if (c != &dev->chain || c->mode != 1 || cert == NULL || cert_size == 0) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    if (c->count == c->declared) {
        return KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN;
    }
    if (cert_size > 0xFFFF) {
        return KCM_CRYPTO_STATUS_PARSING_DER_CERT;
    }
    /* The new certificate must have signed the previous one. The previous one's signature is
     * taken first, so only one certificate is parsed at a time. */
    kcm_sig sig;
    kcm_status_e st = KCM_STATUS_SUCCESS;
    bool have_sig = false;
    if (c->count > 0) {
        const uint8_t *prev = NULL;
        size_t prev_len = 0;
        mbedtls_x509_crt child;
        mbedtls_x509_crt_init(&child);
        have_sig = kcm_chain_record_get(c->buf, c->buf_len, c->count - 1, &prev, &prev_len) == 0 &&
                   kcm_crypto_parse_cert(&child, prev, prev_len) == KCM_STATUS_SUCCESS &&
                   kcm_crypto_sig_prepare(&child, &sig);
        mbedtls_x509_crt_free(&child);
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    st = kcm_crypto_parse_cert(&crt, cert, cert_size);
    if (st == KCM_STATUS_SUCCESS && c->count > 0 &&
        (!have_sig || !kcm_crypto_sig_verify(&sig, &crt))) {
        st = KCM_STATUS_CERTIFICATE_CHAIN_VERIFICATION_FAILED;
    }
    mbedtls_x509_crt_free(&crt);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    size_t need = c->buf_len + 2 + cert_size;
    if (need > c->buf_cap) {
        size_t cap = c->buf_cap;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *grown = realloc(c->buf, cap);
        if (grown == NULL) {
            return KCM_STATUS_OUT_OF_MEMORY;
        }
        c->buf = grown;
        c->buf_cap = cap;
    }
    c->buf[c->buf_len++] = (uint8_t)(cert_size >> 8);
    c->buf[c->buf_len++] = (uint8_t)cert_size;
    memcpy(c->buf + c->buf_len, cert, cert_size);
    c->buf_len += cert_size;
    c->count++;
    c->buf[0] = (uint8_t)c->count;
    return KCM_STATUS_SUCCESS;
}

/* A certificate item (single or chain) as a malloc'd chain record. */
static kcm_status_e load_chain_record(kiln_device *dev, const uint8_t *name, size_t name_len,
                                      uint8_t **record, size_t *len)
{
    kcm_cert_view v;
    kcm_status_e st = kcm_cert_view_open(dev, name, name_len, &v);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (!v.single && v.owned != NULL) {
        *record = v.owned;
        *len = v.len;
        return KCM_STATUS_SUCCESS;
    }
    size_t head = v.single ? 3 : 0;
    if (v.len > 0xFFFF) {
        st = KCM_STATUS_CORRUPTED_CHAIN_FILE;
    } else if ((*record = malloc(v.len + head)) == NULL) {
        st = KCM_STATUS_OUT_OF_MEMORY;
    } else {
        /* A single certificate reads as a chain of one. */
        (*record)[0] = 1;
        (*record)[1] = (uint8_t)(v.len >> 8);
        (*record)[2] = (uint8_t)v.len;
        memcpy(*record + head, v.data, v.len);
        *len = v.len + head;
    }
    kcm_cert_view_close(&v);
    return st;
}

kcm_status_e kiln_kcm_cert_chain_open(kiln_device *dev, kcm_cert_chain_handle *handle,
                                      const uint8_t *name, size_t name_len, size_t *chain_len)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (handle == NULL || chain_len == NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    st = kcm_check_name(name, name_len);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (dev->chain.mode != 0) {
        return KCM_STATUS_NOT_PERMITTED;
    }
    uint8_t *record = NULL;
    size_t len = 0;
    st = load_chain_record(dev, name, name_len, &record, &len);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    chain_reset(dev);
    dev->chain.mode = 2;
    dev->chain.buf = record;
    dev->chain.buf_len = len;
    dev->chain.buf_cap = len;
    dev->chain.count = kcm_chain_record_count(record, len);
    *chain_len = dev->chain.count;
    *handle = &dev->chain;
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kiln_kcm_cert_chain_get_next_size(kiln_device *dev, kcm_cert_chain_handle handle,
                                               size_t *cert_size)
{
    kiln_chain_state *c = handle;
    const uint8_t *der;
    if (c != &dev->chain || c->mode != 2 || cert_size == NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    if (c->next >= c->count) {
        return KCM_STATUS_INVALID_NUM_OF_CERT_IN_CHAIN;
    }
    if (kcm_chain_record_get(c->buf, c->buf_len, c->next, &der, cert_size) != 0) {
        return KCM_STATUS_CORRUPTED_CHAIN_FILE;
    }
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kiln_kcm_cert_chain_get_next_data(kiln_device *dev, kcm_cert_chain_handle handle,
                                               uint8_t *buf, size_t buf_size, size_t *cert_size)
{
    kcm_status_e st = kiln_kcm_cert_chain_get_next_size(dev, handle, cert_size);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (buf == NULL || *cert_size > buf_size) {
        return KCM_STATUS_INSUFFICIENT_BUFFER;
    }
    const uint8_t *der = NULL;
    size_t len = 0;
    if (kcm_chain_record_get(dev->chain.buf, dev->chain.buf_len, dev->chain.next, &der, &len) !=
        0) {
        return KCM_STATUS_CORRUPTED_CHAIN_FILE;
    }
    memcpy(buf, der, len);
    dev->chain.next++;
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kiln_kcm_cert_chain_close(kiln_device *dev, kcm_cert_chain_handle handle)
{
    kiln_chain_state *c = handle;
    if (c != &dev->chain || c->mode == 0) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    kcm_status_e st = KCM_STATUS_SUCCESS;
    if (c->mode == 1) {
        if (c->count < c->declared) {
            st = KCM_STATUS_CLOSE_INCOMPLETE_CHAIN; /* nothing was written */
        } else {
            st = kcm_store_item(dev, (const uint8_t *)c->name, c->name_len, KCM_CERTIFICATE_ITEM,
                                c->is_factory, c->buf, c->buf_len, KCM_CHAIN_RECORD);
        }
    }
    chain_reset(dev);
    return st;
}

kcm_status_e kiln_kcm_cert_chain_delete(kiln_device *dev, const uint8_t *name, size_t name_len)
{
    return kiln_kcm_item_delete(dev, name, name_len, KCM_CERTIFICATE_ITEM);
}

kcm_status_e kiln_kcm_key_pair_generate_and_store(kiln_device *dev, kcm_crypto_key_scheme_e scheme,
                                                  const uint8_t *priv_name, size_t priv_name_len,
                                                  const uint8_t *pub_name, size_t pub_name_len,
                                                  bool is_factory)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (scheme != KCM_SCHEME_EC_SECP256R1) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    st = kcm_check_name(priv_name, priv_name_len);
    if (st == KCM_STATUS_SUCCESS && pub_name != NULL) {
        st = kcm_check_name(pub_name, pub_name_len);
    }
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, KCM_T_PRIVATE, priv_name, priv_name_len);
    if (kcm_record_exists(dev, key)) {
        return KCM_STATUS_KEY_EXIST;
    }
    if (pub_name != NULL) {
        kcm_make_key(key, KCM_NS_WORKING, KCM_T_PUBLIC, pub_name, pub_name_len);
        if (kcm_record_exists(dev, key)) {
            return KCM_STATUS_KEY_EXIST;
        }
    }
    uint8_t priv[KCM_EC_SECP256R1_MAX_PRIV_KEY_DER_SIZE];
    uint8_t pub[KCM_EC_SECP256R1_MAX_PUB_KEY_DER_SIZE];
    size_t priv_len = 0, pub_len = 0;
    st = kcm_crypto_generate_p256(dev, priv, sizeof(priv), &priv_len, pub, sizeof(pub), &pub_len);
    bool own = false;
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_txn_join(dev, &own);
    }
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_store_item(dev, priv_name, priv_name_len, KCM_PRIVATE_KEY_ITEM, is_factory, priv,
                            priv_len, KCM_PRECHECKED);
    }
    if (st == KCM_STATUS_SUCCESS && pub_name != NULL) {
        st = kcm_store_item(dev, pub_name, pub_name_len, KCM_PUBLIC_KEY_ITEM, is_factory, pub,
                            pub_len, KCM_PRECHECKED);
    }
    st = kcm_txn_leave(dev, own, st);
    mbedtls_platform_zeroize(priv, sizeof(priv));
    return st;
}

kcm_status_e kiln_kcm_csr_generate(kiln_device *dev, const uint8_t *priv_name, size_t priv_name_len,
                                   const kcm_csr_params_s *params, uint8_t *csr_buf,
                                   size_t csr_buf_size, size_t *csr_size_out)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_check_name(priv_name, priv_name_len);
    }
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (csr_buf == NULL || csr_size_out == NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    const uint8_t *priv = NULL;
    uint8_t *owned = NULL;
    size_t priv_len = 0;
    st = private_key_view(dev, priv_name, priv_name_len, &priv, &priv_len, &owned);
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_crypto_csr(dev, priv, priv_len, params, csr_buf, csr_buf_size, csr_size_out);
    }
    kcm_secure_free(owned, priv_len);
    return st;
}

kcm_status_e kcm_crt_matches_stored_key(kiln_device *dev, const mbedtls_x509_crt *crt,
                                        const uint8_t *priv_name, size_t priv_name_len)
{
    const uint8_t *priv = NULL;
    uint8_t *owned = NULL;
    size_t priv_len = 0;
    kcm_status_e st = kcm_check_name(priv_name, priv_name_len);
    if (st == KCM_STATUS_SUCCESS) {
        st = private_key_view(dev, priv_name, priv_name_len, &priv, &priv_len, &owned);
    }
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_crypto_crt_matches_key(dev, crt, priv, priv_len);
    }
    kcm_secure_free(owned, priv_len);
    return st;
}

kcm_status_e kiln_kcm_certificate_verify_with_private_key(kiln_device *dev, const uint8_t *cert,
                                                          size_t cert_size,
                                                          const uint8_t *priv_name,
                                                          size_t priv_name_len)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_check_name(priv_name, priv_name_len);
    }
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    /* A missing key is reported before a bad certificate, as the original does. */
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, KCM_T_PRIVATE, priv_name, priv_name_len);
    if (!kcm_record_exists(dev, key)) {
        return KCM_STATUS_ITEM_NOT_FOUND;
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    st = kcm_crypto_parse_cert(&crt, cert, cert_size);
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_crt_matches_stored_key(dev, &crt, priv_name, priv_name_len);
    }
    mbedtls_x509_crt_free(&crt);
    return st;
}
