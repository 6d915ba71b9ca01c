/* Key and Configuration Manager: items, names, transactions, sealing at rest. */
#include "kcm_internal.h"

#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include <stdlib.h>
#include <string.h>

static const char seal_salt[] = "kiln kcm storage v1";

void kcm_secure_free(void *p, size_t len)
{
    if (p != NULL) {
        mbedtls_platform_zeroize(p, len);
        free(p);
    }
}

static int entropy_trampoline(void *ctx, unsigned char *buf, size_t len)
{
    kiln_device *dev = ctx;
    return dev->cfg.entropy(dev->cfg.entropy_ctx, buf, len) == 0 ? 0 : -1;
}

void kiln_device_setup(kiln_device *dev, const kiln_device_config *cfg)
{
    memset(dev, 0, sizeof(*dev));
    dev->cfg = *cfg;
    dev->session_finished = true;
}

void kiln_device_set_check_pair(kiln_device *dev, kiln_check_pair_fn fn, void *ctx)
{
    dev->check_pair = fn;
    dev->check_pair_ctx = ctx;
}

kcm_status_e kiln_kcm_init(kiln_device *dev)
{
    if (dev->kcm_ready) {
        return KCM_STATUS_SUCCESS;
    }
    if (dev->cfg.kv == NULL || dev->cfg.root_key == NULL || dev->cfg.entropy == NULL) {
        return KCM_STATUS_NOT_INITIALIZED;
    }
    uint8_t root[32];
    if (dev->cfg.root_key(dev->cfg.root_key_ctx, root) != 0) {
        mbedtls_platform_zeroize(root, sizeof(root));
        return KCM_STATUS_STORAGE_ERROR;
    }
    int rc = mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                          (const unsigned char *)seal_salt, sizeof(seal_salt) - 1, root,
                          sizeof(root), (const unsigned char *)"aes-256-gcm", 11, dev->storage_key,
                          sizeof(dev->storage_key));
    mbedtls_platform_zeroize(root, sizeof(root));
    if (rc != 0) {
        return KCM_STATUS_ERROR;
    }
    if (!dev->drbg_ready) {
        mbedtls_ctr_drbg_init(&dev->drbg);
        static const char pers[] = "kiln device drbg";
        if (mbedtls_ctr_drbg_seed(&dev->drbg, entropy_trampoline, dev, (const unsigned char *)pers,
                                  sizeof(pers) - 1) != 0) {
            mbedtls_ctr_drbg_free(&dev->drbg);
            return KCM_CRYPTO_STATUS_ENTROPY_MISSING;
        }
        dev->drbg_ready = true;
    }
    dev->kcm_ready = true;
    /* The device clock survives restarts the way the original's saved time does. */
    uint8_t saved[8];
    size_t saved_len = 0;
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_INTERNAL, KCM_T_INTERNAL, (const uint8_t *)KCM_SLOT_SAVED_TIME,
                 strlen(KCM_SLOT_SAVED_TIME));
    if (kcm_record_read(dev, key, saved, sizeof(saved), &saved_len) == KCM_STATUS_SUCCESS &&
        saved_len == 8 && dev->time == 0) {
        uint64_t t = 0;
        for (int i = 7; i >= 0; i--) {
            t = (t << 8) | saved[i];
        }
        dev->time = t;
    }
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kiln_kcm_finalize(kiln_device *dev)
{
    kcm_txn_abort(dev);
    if (dev->chain.buf != NULL) {
        kcm_secure_free(dev->chain.buf, dev->chain.buf_cap);
        memset(&dev->chain, 0, sizeof(dev->chain));
    }
    if (dev->drbg_ready) {
        mbedtls_ctr_drbg_free(&dev->drbg);
        dev->drbg_ready = false;
    }
    mbedtls_platform_zeroize(dev->storage_key, sizeof(dev->storage_key));
    mbedtls_platform_zeroize(dev->key_match, sizeof(dev->key_match));
    dev->key_match_set = false;
    dev->kcm_ready = false;
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kcm_check_name(const uint8_t *name, size_t name_len)
{
    if (name == NULL || name_len == 0) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    if (name_len > KCM_MAX_FILENAME_SIZE) {
        return KCM_STATUS_FILE_NAME_TOO_LONG;
    }
    for (size_t i = 0; i < name_len; i++) {
        uint8_t c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        if (!ok) {
            return KCM_STATUS_FILE_NAME_INVALID;
        }
    }
    return KCM_STATUS_SUCCESS;
}

void kcm_make_key(char *key, char ns, char type, const uint8_t *name, size_t name_len)
{
    if (name_len > KILN_KV_MAX_KEY - 4) {
        name_len = KILN_KV_MAX_KEY - 4;
    }
    key[0] = ns;
    key[1] = type;
    key[2] = '_';
    memcpy(key + 3, name, name_len);
    key[3 + name_len] = '\0';
}

/* The associated data binds a sealed value to its item (type and name) but not to its
 * namespace, so a factory copy can be restored to the working copy byte for byte. */
static const char *seal_aad(const char *key)
{
    return key + 1;
}

/* AES-256-GCM under the storage key, the item (type and name) as associated data. Sealing
 * and opening share it, so the key schedule code is there once. */
static int gcm_run(kiln_device *dev, int mode, const char *key, size_t len, const uint8_t *nonce,
                   const uint8_t *in, uint8_t *out, uint8_t *tag)
{
    const char *aad = seal_aad(key);
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, dev->storage_key, 256);
    if (rc == 0 && mode == MBEDTLS_GCM_ENCRYPT) {
        rc = mbedtls_gcm_crypt_and_tag(&gcm, mode, len, nonce, KCM_SEAL_NONCE,
                                       (const unsigned char *)aad, strlen(aad), in, out,
                                       KCM_SEAL_TAG, tag);
    } else if (rc == 0) {
        rc = mbedtls_gcm_auth_decrypt(&gcm, len, nonce, KCM_SEAL_NONCE, (const unsigned char *)aad,
                                      strlen(aad), tag, KCM_SEAL_TAG, in, out);
    }
    mbedtls_gcm_free(&gcm);
    return rc;
}

/* out receives version, nonce, ciphertext and tag (len + KCM_SEAL_OVERHEAD bytes); in may be
 * out + 1 + KCM_SEAL_NONCE (sealing in place) or a separate buffer. */
static kcm_status_e seal(kiln_device *dev, const char *key, const uint8_t *in, size_t len,
                         uint8_t *out)
{
    uint8_t *body = out + 1 + KCM_SEAL_NONCE;
    out[0] = KCM_SEAL_VERSION;
    if (mbedtls_ctr_drbg_random(&dev->drbg, out + 1, KCM_SEAL_NONCE) != 0 ||
        gcm_run(dev, MBEDTLS_GCM_ENCRYPT, key, len, out + 1, in ? in : body, body, body + len) !=
            0) {
        return KCM_STATUS_ERROR;
    }
    return KCM_STATUS_SUCCESS;
}

static kcm_status_e open_sealed(kiln_device *dev, const char *key, const uint8_t *sealed,
                                size_t sealed_len, uint8_t *out)
{
    if (sealed_len < KCM_SEAL_OVERHEAD) {
        return KCM_STATUS_FILE_CORRUPTED;
    }
    if (sealed[0] != KCM_SEAL_VERSION) {
        return KCM_STATUS_INVALID_FILE_VERSION;
    }
    size_t len = sealed_len - KCM_SEAL_OVERHEAD;
    const uint8_t *body = sealed + 1 + KCM_SEAL_NONCE;
    if (gcm_run(dev, MBEDTLS_GCM_DECRYPT, key, len, sealed + 1, body, out, (uint8_t *)body + len) !=
        0) {
        mbedtls_platform_zeroize(out, len);
        return KCM_STATUS_FILE_CORRUPTED;
    }
    return KCM_STATUS_SUCCESS;
}

static kcm_status_e kv_status_to_kcm(int kv)
{
    switch (kv) {
    case KILN_KV_OK:
        return KCM_STATUS_SUCCESS;
    case KILN_KV_NOT_FOUND:
        return KCM_STATUS_ITEM_NOT_FOUND;
    case KILN_KV_CORRUPT:
        return KCM_STATUS_FILE_CORRUPTED;
    case KILN_KV_TOO_SMALL:
        return KCM_STATUS_INSUFFICIENT_BUFFER;
    case KILN_KV_INVALID:
        return KCM_STATUS_INVALID_PARAMETER;
    default:
        return KCM_STATUS_STORAGE_ERROR;
    }
}

/* ---- transactions ---- */

kcm_status_e kcm_txn_begin(kiln_device *dev)
{
    if (dev->txn != NULL) {
        return KCM_STATUS_NOT_PERMITTED;
    }
    dev->txn = calloc(1, sizeof(*dev->txn));
    return dev->txn ? KCM_STATUS_SUCCESS : KCM_STATUS_OUT_OF_MEMORY;
}

/* Drops an entry's value; a buffer another entry still shares passes to that entry. */
static void entry_release(struct kiln_txn *txn, kiln_txn_entry *e)
{
    if (e->own != NULL) {
        for (size_t i = 0; i < txn->count; i++) {
            kiln_txn_entry *o = &txn->entries[i];
            if (o != e && !o->deleted && o->value == e->value) {
                o->own = e->own;
                e->own = NULL;
                break;
            }
        }
        kcm_secure_free(e->own, e->len + KCM_SEAL_OVERHEAD);
    }
    e->own = NULL;
    e->value = NULL;
    e->len = 0;
}

void kcm_txn_abort(kiln_device *dev)
{
    struct kiln_txn *txn = dev->txn;
    if (txn == NULL) {
        return;
    }
    for (size_t i = 0; i < txn->count; i++) {
        kiln_txn_entry *e = &txn->entries[i];
        kcm_secure_free(e->own, e->len + KCM_SEAL_OVERHEAD);
        free(e->key);
    }
    free(txn->entries);
    free(txn);
    dev->txn = NULL;
}

/* Seals every value once (an entry sharing an earlier entry's plaintext and associated data
 * reuses its ciphertext) and hands the whole set to the backend as one atomic commit. */
kcm_status_e kcm_txn_commit(kiln_device *dev)
{
    struct kiln_txn *txn = dev->txn;
    if (txn == NULL) {
        return KCM_STATUS_SUCCESS;
    }
    kcm_status_e st = KCM_STATUS_SUCCESS;
    kiln_kv_op *ops = NULL;
    if (txn->count > 0) {
        ops = calloc(txn->count, sizeof(*ops));
        if (ops == NULL) {
            st = KCM_STATUS_OUT_OF_MEMORY;
        }
    }
    for (size_t i = 0; st == KCM_STATUS_SUCCESS && i < txn->count; i++) {
        kiln_txn_entry *e = &txn->entries[i];
        ops[i].key = e->key;
        if (e->deleted) {
            continue;
        }
        ops[i].value_len = e->len + KCM_SEAL_OVERHEAD;
        for (size_t j = 0; j < i && ops[i].value == NULL; j++) {
            const kiln_txn_entry *o = &txn->entries[j];
            if (!o->deleted && o->value == e->value && o->len == e->len &&
                strcmp(seal_aad(o->key), seal_aad(e->key)) == 0) {
                ops[i].value = ops[j].value;
            }
        }
        if (ops[i].value != NULL) {
            continue;
        }
        if (e->own == NULL) {
            /* A borrowed or shared plaintext is sealed into a buffer of the entry's own. */
            e->own = malloc(e->len + KCM_SEAL_OVERHEAD);
            if (e->own == NULL) {
                st = KCM_STATUS_OUT_OF_MEMORY;
                break;
            }
        }
        /* An owned plaintext was placed where sealing in place leaves it. */
        st = seal(dev, e->key, e->value, e->len, e->own);
        ops[i].value = e->own;
    }
    if (st == KCM_STATUS_SUCCESS && txn->count > 0) {
        st = kv_status_to_kcm(dev->cfg.kv->commit(dev->cfg.kv->ctx, ops, txn->count));
    }
    free(ops);
    kcm_txn_abort(dev);
    return st;
}

static kiln_txn_entry *txn_find(kiln_device *dev, const char *key)
{
    struct kiln_txn *txn = dev->txn;
    if (txn == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < txn->count; i++) {
        if (strcmp(txn->entries[i].key, key) == 0) {
            return &txn->entries[i];
        }
    }
    return NULL;
}

/* Stages a put or (deleted) a delete. KCM_HOLD_BORROW keeps the caller's pointer; otherwise
 * the bytes are copied to where they can be sealed in place. */
static kcm_status_e txn_set(kiln_device *dev, const char *key, const uint8_t *data, size_t len,
                            unsigned hold, bool deleted)
{
    struct kiln_txn *txn = dev->txn;
    kiln_txn_entry *e = txn_find(dev, key);
    if (e == NULL) {
        if (txn->count == txn->cap) {
            size_t cap = txn->cap ? txn->cap + txn->cap / 2 : 8;
            kiln_txn_entry *grown = realloc(txn->entries, cap * sizeof(*grown));
            if (grown == NULL) {
                return KCM_STATUS_OUT_OF_MEMORY;
            }
            txn->entries = grown;
            txn->cap = cap;
        }
        char *k = malloc(strlen(key) + 1);
        if (k == NULL) {
            return KCM_STATUS_OUT_OF_MEMORY;
        }
        e = &txn->entries[txn->count++];
        memset(e, 0, sizeof(*e));
        e->key = strcpy(k, key);
    } else {
        entry_release(txn, e);
    }
    e->deleted = deleted;
    e->len = len;
    e->value = data;
    if (deleted || (hold & KCM_HOLD_BORROW)) {
        return KCM_STATUS_SUCCESS;
    }
    e->own = malloc(len + KCM_SEAL_OVERHEAD);
    if (e->own == NULL) {
        e->deleted = true; /* leave a harmless entry rather than a half-written one */
        return KCM_STATUS_OUT_OF_MEMORY;
    }
    e->value = e->own + 1 + KCM_SEAL_NONCE;
    if (len) {
        memcpy(e->own + 1 + KCM_SEAL_NONCE, data, len);
    }
    return KCM_STATUS_SUCCESS;
}

/* Stages a second key for the value the entry of first_key holds (factory copies). */
static kcm_status_e txn_share(kiln_device *dev, const char *key, const char *first_key)
{
    kiln_txn_entry *first = txn_find(dev, first_key);
    if (first == NULL || first->deleted) {
        return KCM_STATUS_ERROR;
    }
    return txn_set(dev, key, first->value, first->len, KCM_HOLD_BORROW, false);
}

/* ---- records ---- */

kcm_status_e kcm_record_size(kiln_device *dev, const char *key, size_t *len)
{
    kiln_txn_entry *e = txn_find(dev, key);
    if (e != NULL) {
        if (e->deleted) {
            return KCM_STATUS_ITEM_NOT_FOUND;
        }
        *len = e->len;
        return KCM_STATUS_SUCCESS;
    }
    size_t sealed_len = 0;
    int rc = dev->cfg.kv->get(dev->cfg.kv->ctx, key, NULL, 0, &sealed_len);
    if (rc != KILN_KV_OK && rc != KILN_KV_TOO_SMALL) {
        return kv_status_to_kcm(rc);
    }
    if (sealed_len < KCM_SEAL_OVERHEAD) {
        return KCM_STATUS_FILE_CORRUPTED;
    }
    *len = sealed_len - KCM_SEAL_OVERHEAD;
    return KCM_STATUS_SUCCESS;
}

bool kcm_record_exists(kiln_device *dev, const char *key)
{
    size_t len;
    return kcm_record_size(dev, key, &len) == KCM_STATUS_SUCCESS;
}

kcm_status_e kcm_record_read(kiln_device *dev, const char *key, uint8_t *buf, size_t cap,
                             size_t *len)
{
    kcm_status_e st = kcm_record_size(dev, key, len);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (*len > cap) {
        return KCM_STATUS_INSUFFICIENT_BUFFER;
    }
    kiln_txn_entry *e = txn_find(dev, key);
    if (e != NULL) {
        if (e->len) {
            memcpy(buf, e->value, e->len);
        }
        return KCM_STATUS_SUCCESS;
    }
    size_t sealed_len = *len + KCM_SEAL_OVERHEAD, got = 0;
    uint8_t *sealed = malloc(sealed_len);
    if (sealed == NULL) {
        return KCM_STATUS_OUT_OF_MEMORY;
    }
    st = kv_status_to_kcm(dev->cfg.kv->get(dev->cfg.kv->ctx, key, sealed, sealed_len, &got));
    if (st == KCM_STATUS_SUCCESS && got != sealed_len) {
        st = KCM_STATUS_FILE_CORRUPTED;
    }
    if (st == KCM_STATUS_SUCCESS) {
        st = open_sealed(dev, key, sealed, sealed_len, buf);
    }
    free(sealed);
    return st;
}

kcm_status_e kcm_record_read_alloc(kiln_device *dev, const char *key, uint8_t **buf, size_t *len)
{
    size_t size = 0;
    kcm_status_e st = kcm_record_size(dev, key, &size);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    *buf = malloc(size ? size : 1);
    if (*buf == NULL) {
        return KCM_STATUS_OUT_OF_MEMORY;
    }
    st = kcm_record_read(dev, key, *buf, size, len);
    if (st != KCM_STATUS_SUCCESS) {
        kcm_secure_free(*buf, size);
        *buf = NULL;
    }
    return st;
}

kcm_status_e kcm_record_view(kiln_device *dev, const char *key, const uint8_t **data, size_t *len,
                             uint8_t **owned)
{
    *owned = NULL;
    kiln_txn_entry *e = txn_find(dev, key);
    if (e != NULL) {
        if (e->deleted) {
            return KCM_STATUS_ITEM_NOT_FOUND;
        }
        *data = e->value;
        *len = e->len;
        return KCM_STATUS_SUCCESS;
    }
    kcm_status_e st = kcm_record_read_alloc(dev, key, owned, len);
    *data = *owned;
    return st;
}

/* Writes outside a bundle are single-record transactions of their own. */
kcm_status_e kcm_txn_join(kiln_device *dev, bool *own)
{
    *own = false;
    if (dev->txn != NULL) {
        return KCM_STATUS_SUCCESS;
    }
    *own = true;
    return kcm_txn_begin(dev);
}

kcm_status_e kcm_txn_leave(kiln_device *dev, bool own, kcm_status_e st)
{
    if (!own) {
        return st;
    }
    if (st != KCM_STATUS_SUCCESS) {
        kcm_txn_abort(dev);
        return st;
    }
    return kcm_txn_commit(dev);
}

kcm_status_e kcm_record_put(kiln_device *dev, const char *key, const uint8_t *data, size_t len)
{
    bool own;
    kcm_status_e st = kcm_txn_join(dev, &own);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    return kcm_txn_leave(dev, own, txn_set(dev, key, data, len, 0, false));
}

kcm_status_e kcm_record_delete(kiln_device *dev, const char *key)
{
    bool own;
    kcm_status_e st = kcm_txn_join(dev, &own);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    return kcm_txn_leave(dev, own, txn_set(dev, key, NULL, 0, 0, true));
}

/* ---- items ---- */

static char type_letter(kcm_item_type_e type)
{
    switch (type) {
    case KCM_PRIVATE_KEY_ITEM:
        return KCM_T_PRIVATE;
    case KCM_PUBLIC_KEY_ITEM:
        return KCM_T_PUBLIC;
    case KCM_SYMMETRIC_KEY_ITEM:
        return KCM_T_SYMMETRIC;
    case KCM_CERTIFICATE_ITEM:
        return KCM_T_CERT;
    case KCM_CONFIG_ITEM:
        return KCM_T_CONFIG;
    default:
        return 0;
    }
}

static kcm_status_e put_item(kiln_device *dev, char type, const uint8_t *name, size_t name_len,
                             bool is_factory, const uint8_t *data, size_t len, unsigned hold)
{
    char key[KILN_KV_MAX_KEY], factory[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, type, name, name_len);
    bool own;
    kcm_status_e st = kcm_txn_join(dev, &own);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    st = txn_set(dev, key, data, len, hold, false);
    if (st == KCM_STATUS_SUCCESS && is_factory) {
        memcpy(factory, key, sizeof(key));
        factory[0] = KCM_NS_FACTORY;
        st = txn_share(dev, factory, key);
    }
    return kcm_txn_leave(dev, own, st);
}

bool kcm_cert_name_taken(kiln_device *dev, const uint8_t *name, size_t name_len)
{
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, KCM_T_CERT, name, name_len);
    if (kcm_record_exists(dev, key)) {
        return true;
    }
    key[1] = KCM_T_CHAIN;
    return kcm_record_exists(dev, key);
}

kcm_status_e kcm_store_item(kiln_device *dev, const uint8_t *name, size_t name_len,
                            kcm_item_type_e type, bool is_factory, const uint8_t *data, size_t len,
                            unsigned flags)
{
    kcm_status_e st = kcm_check_name(name, name_len);
    char letter = (flags & KCM_CHAIN_RECORD) ? KCM_T_CHAIN : type_letter(type);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (letter == 0 || (data == NULL && len > 0)) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    if (len == 0 && type != KCM_CONFIG_ITEM) {
        return KCM_STATUS_ITEM_IS_EMPTY;
    }
    if (!(flags & (KCM_PRECHECKED | KCM_CHAIN_RECORD))) {
        if (type == KCM_PRIVATE_KEY_ITEM) {
            st = kcm_crypto_check_private_key(data, len);
        } else if (type == KCM_PUBLIC_KEY_ITEM) {
            st = kcm_crypto_check_public_key(data, len);
        } else if (type == KCM_CERTIFICATE_ITEM) {
            st = kcm_crypto_check_cert(data, len);
        }
        if (st != KCM_STATUS_SUCCESS) {
            return st;
        }
    }
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, letter, name, name_len);
    if (type == KCM_CERTIFICATE_ITEM ? kcm_cert_name_taken(dev, name, name_len)
                                     : kcm_record_exists(dev, key)) {
        return KCM_STATUS_FILE_EXIST;
    }
    return put_item(dev, letter, name, name_len, is_factory, data, len, flags & KCM_HOLD_BORROW);
}

size_t kcm_chain_record_count(const uint8_t *record, size_t len)
{
    return len > 0 ? record[0] : 0;
}

int kcm_chain_record_get(const uint8_t *record, size_t len, size_t idx, const uint8_t **der,
                         size_t *der_len)
{
    if (len == 0 || idx >= record[0]) {
        return -1;
    }
    size_t pos = 1;
    for (size_t i = 0;; i++) {
        if (pos + 2 > len) {
            return -1;
        }
        size_t n = ((size_t)record[pos] << 8) | record[pos + 1];
        pos += 2;
        if (pos + n > len) {
            return -1;
        }
        if (i == idx) {
            *der = record + pos;
            *der_len = n;
            return 0;
        }
        pos += n;
    }
}

kcm_status_e kcm_cert_view_open(kiln_device *dev, const uint8_t *name, size_t name_len,
                                kcm_cert_view *v)
{
    char key[KILN_KV_MAX_KEY];
    memset(v, 0, sizeof(*v));
    kcm_make_key(key, KCM_NS_WORKING, KCM_T_CERT, name, name_len);
    kcm_status_e st = kcm_record_view(dev, key, &v->data, &v->len, &v->owned);
    v->single = true;
    if (st != KCM_STATUS_ITEM_NOT_FOUND) {
        return st;
    }
    key[1] = KCM_T_CHAIN;
    v->single = false;
    st = kcm_record_view(dev, key, &v->data, &v->len, &v->owned);
    size_t n = kcm_cert_view_count(v);
    const uint8_t *der;
    size_t der_len;
    if (st == KCM_STATUS_SUCCESS && (n == 0 || n > KCM_MAX_NUMBER_OF_CERTITICATES_IN_CHAIN ||
                                     kcm_cert_view_get(v, n - 1, &der, &der_len) != 0)) {
        kcm_cert_view_close(v);
        st = KCM_STATUS_CORRUPTED_CHAIN_FILE;
    }
    return st;
}

size_t kcm_cert_view_count(const kcm_cert_view *v)
{
    return v->single ? 1 : kcm_chain_record_count(v->data, v->len);
}

int kcm_cert_view_get(const kcm_cert_view *v, size_t idx, const uint8_t **der, size_t *der_len)
{
    if (v->single) {
        *der = v->data;
        *der_len = v->len;
        return idx == 0 ? 0 : -1;
    }
    return kcm_chain_record_get(v->data, v->len, idx, der, der_len);
}

void kcm_cert_view_close(kcm_cert_view *v)
{
    kcm_secure_free(v->owned, v->len);
    memset(v, 0, sizeof(*v));
}

kcm_status_e kiln_kcm_item_store(kiln_device *dev, const uint8_t *name, size_t name_len,
                                 kcm_item_type_e type, bool is_factory, const uint8_t *data,
                                 size_t data_size)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    return kcm_store_item(dev, name, name_len, type, is_factory, data, data_size, 0);
}

/* A certificate item reads as its (leaf) DER whether it was stored alone or as a chain. */
static kcm_status_e item_read(kiln_device *dev, const uint8_t *name, size_t name_len,
                              kcm_item_type_e type, uint8_t *buf, size_t cap, size_t *len)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    st = kcm_check_name(name, name_len);
    char letter = type_letter(type);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (letter == 0 || len == NULL) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, letter, name, name_len);
    if (type != KCM_CERTIFICATE_ITEM || kcm_record_exists(dev, key)) {
        if (buf == NULL) {
            return kcm_record_size(dev, key, len);
        }
        return kcm_record_read(dev, key, buf, cap, len);
    }
    kcm_cert_view v;
    st = kcm_cert_view_open(dev, name, name_len, &v);
    const uint8_t *der = NULL;
    if (st == KCM_STATUS_SUCCESS && kcm_cert_view_get(&v, 0, &der, len) != 0) {
        st = KCM_STATUS_CORRUPTED_CHAIN_FILE;
    }
    if (st == KCM_STATUS_SUCCESS && buf != NULL) {
        if (*len > cap) {
            st = KCM_STATUS_INSUFFICIENT_BUFFER;
        } else {
            memcpy(buf, der, *len);
        }
    }
    kcm_cert_view_close(&v);
    return st;
}

kcm_status_e kiln_kcm_item_get_data_size(kiln_device *dev, const uint8_t *name, size_t name_len,
                                         kcm_item_type_e type, size_t *data_size_out)
{
    return item_read(dev, name, name_len, type, NULL, 0, data_size_out);
}

kcm_status_e kiln_kcm_item_get_data(kiln_device *dev, const uint8_t *name, size_t name_len,
                                    kcm_item_type_e type, uint8_t *buf, size_t buf_size,
                                    size_t *data_size_out)
{
    if (buf == NULL && buf_size > 0) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    uint8_t dummy;
    return item_read(dev, name, name_len, type, buf ? buf : &dummy, buf_size, data_size_out);
}

kcm_status_e kiln_kcm_item_delete(kiln_device *dev, const uint8_t *name, size_t name_len,
                                  kcm_item_type_e type)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st == KCM_STATUS_SUCCESS) {
        st = kcm_check_name(name, name_len);
    }
    char letter = type_letter(type);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    if (letter == 0) {
        return KCM_STATUS_INVALID_PARAMETER;
    }
    char key[KILN_KV_MAX_KEY];
    kcm_make_key(key, KCM_NS_WORKING, letter, name, name_len);
    if (!kcm_record_exists(dev, key)) {
        if (type != KCM_CERTIFICATE_ITEM) {
            return KCM_STATUS_ITEM_NOT_FOUND;
        }
        key[1] = KCM_T_CHAIN;
        if (!kcm_record_exists(dev, key)) {
            return KCM_STATUS_ITEM_NOT_FOUND;
        }
    }
    /* The factory copy stays: kcm_factory_reset() brings the item back. */
    return kcm_record_delete(dev, key);
}

/* ---- listing and factory reset ---- */

typedef struct key_list {
    char (*keys)[KILN_KV_MAX_KEY];
    size_t count, cap;
    int oom;
} key_list;

static int collect_key(void *arg, const char *key, size_t value_len)
{
    (void)value_len;
    key_list *l = arg;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        void *grown = realloc(l->keys, cap * sizeof(*l->keys));
        if (grown == NULL) {
            l->oom = 1;
            return 1;
        }
        l->keys = grown;
        l->cap = cap;
    }
    strncpy(l->keys[l->count], key, KILN_KV_MAX_KEY - 1);
    l->keys[l->count][KILN_KV_MAX_KEY - 1] = '\0';
    l->count++;
    return 0;
}

static kcm_status_e list_keys(kiln_device *dev, key_list *l)
{
    memset(l, 0, sizeof(*l));
    int rc = dev->cfg.kv->list(dev->cfg.kv->ctx, collect_key, l);
    if (l->oom) {
        free(l->keys);
        return KCM_STATUS_OUT_OF_MEMORY;
    }
    if (rc != KILN_KV_OK) {
        free(l->keys);
        return kv_status_to_kcm(rc);
    }
    return KCM_STATUS_SUCCESS;
}

kcm_status_e kiln_kcm_factory_reset(kiln_device *dev)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    key_list l;
    st = list_keys(dev, &l);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    bool own;
    st = kcm_txn_join(dev, &own);
    /* One transaction: a power cut leaves either the old or the restored state. */
    for (size_t i = 0; st == KCM_STATUS_SUCCESS && i < l.count; i++) {
        if (l.keys[i][0] == KCM_NS_WORKING) {
            st = txn_set(dev, l.keys[i], NULL, 0, 0, true);
        }
    }
    for (size_t i = 0; st == KCM_STATUS_SUCCESS && i < l.count; i++) {
        if (l.keys[i][0] != KCM_NS_FACTORY) {
            continue;
        }
        uint8_t *value = NULL;
        size_t len = 0;
        st = kcm_record_read_alloc(dev, l.keys[i], &value, &len);
        if (st == KCM_STATUS_SUCCESS) {
            char working[KILN_KV_MAX_KEY];
            memcpy(working, l.keys[i], KILN_KV_MAX_KEY);
            working[0] = KCM_NS_WORKING;
            st = txn_set(dev, working, value, len, 0, false);
            kcm_secure_free(value, len);
        }
    }
    free(l.keys);
    return kcm_txn_leave(dev, own, st);
}

kcm_status_e kiln_kcm_item_list(kiln_device *dev, kiln_item_cb cb, void *arg)
{
    kcm_status_e st = kiln_kcm_init(dev);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    key_list l;
    st = list_keys(dev, &l);
    if (st != KCM_STATUS_SUCCESS) {
        return st;
    }
    for (size_t i = 0; i < l.count; i++) {
        const char *k = l.keys[i];
        if (k[0] != KCM_NS_WORKING || strlen(k) < 4) {
            continue;
        }
        kcm_item_type_e type;
        switch (k[1]) {
        case KCM_T_PRIVATE:
            type = KCM_PRIVATE_KEY_ITEM;
            break;
        case KCM_T_PUBLIC:
            type = KCM_PUBLIC_KEY_ITEM;
            break;
        case KCM_T_SYMMETRIC:
            type = KCM_SYMMETRIC_KEY_ITEM;
            break;
        case KCM_T_CERT:
        case KCM_T_CHAIN:
            type = KCM_CERTIFICATE_ITEM;
            break;
        default:
            type = KCM_CONFIG_ITEM;
            break;
        }
        size_t size = 0;
        kcm_record_size(dev, k, &size);
        if (cb(arg, type, k + 3, size) != 0) {
            break;
        }
    }
    free(l.keys);
    return KCM_STATUS_SUCCESS;
}
