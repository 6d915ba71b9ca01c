/* Signers of kiln_pki: the abstract object and its OpenSSL EVP_PKEY implementation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "kiln_pki.h"

struct kiln_pki_signer {
    const kiln_pki_signer_ops *ops;
    void *impl;
    uint8_t point[KILN_PKI_POINT_SIZE];
};

kiln_pki_status kiln_pki_signer_new(const kiln_pki_signer_ops *ops, void *impl,
                                    const uint8_t point[KILN_PKI_POINT_SIZE], kiln_pki_signer **out)
{
    *out = NULL;
    if (point[0] != 0x04) {
        ops->release(impl);
        return KILN_PKI_KEY_UNSUPPORTED;
    }
    kiln_pki_signer *s = calloc(1, sizeof(*s));
    if (!s) {
        ops->release(impl);
        return KILN_PKI_NO_MEMORY;
    }
    s->ops = ops;
    s->impl = impl;
    memcpy(s->point, point, KILN_PKI_POINT_SIZE);
    *out = s;
    return KILN_PKI_OK;
}

const uint8_t *kiln_pki_signer_point(const kiln_pki_signer *signer)
{
    return signer->point;
}

const char *kiln_pki_signer_kind(const kiln_pki_signer *signer)
{
    return signer->ops->kind;
}

kiln_pki_status kiln_pki_signer_sign_digest(const kiln_pki_signer *signer,
                                            const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                            uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len)
{
    *sig_len = KILN_PKI_SIG_MAX;
    kiln_pki_status st = signer->ops->sign_digest(signer->impl, digest, sig, sig_len);
    if (st == KILN_PKI_OK && (*sig_len < 8 || *sig_len > KILN_PKI_SIG_MAX))
        st = KILN_PKI_SIGNER_FAILED;
    return st;
}

void kiln_pki_signer_free(kiln_pki_signer *signer)
{
    if (!signer)
        return;
    signer->ops->release(signer->impl);
    free(signer);
}

kiln_pki_status kiln_pki_sig_from_raw(const uint8_t rs[64], uint8_t sig[KILN_PKI_SIG_MAX],
                                      size_t *sig_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    kiln_pki_status st = KILN_PKI_NO_MEMORY;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es */
        unsigned char *p = sig;
        st = i2d_ECDSA_SIG(es, NULL) <= KILN_PKI_SIG_MAX ? KILN_PKI_OK : KILN_PKI_SIGNER_FAILED;
        int n = st == KILN_PKI_OK ? i2d_ECDSA_SIG(es, &p) : -1;
        if (n > 0)
            *sig_len = (size_t)n;
        else
            st = KILN_PKI_SIGNER_FAILED;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return st;
}

/* ---- an OpenSSL key in memory ---- */

/* The key with a signing context set up once and duplicated per signature, so that concurrent
 * signatures share nothing mutable and none pays for the provider lookup. */
typedef struct pkey_signer {
    EVP_PKEY *key;
    EVP_PKEY_CTX *template;
} pkey_signer;

static kiln_pki_status pkey_sign(void *impl, const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                 uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len)
{
    pkey_signer *p = impl;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(p->template);
    int ok = ctx && EVP_PKEY_sign(ctx, sig, sig_len, digest, KILN_PKI_DIGEST_SIZE) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok ? KILN_PKI_OK : KILN_PKI_SIGNER_FAILED;
}

static void pkey_release(void *impl)
{
    pkey_signer *p = impl;
    if (!p)
        return;
    EVP_PKEY_CTX_free(p->template);
    EVP_PKEY_free(p->key); /* OpenSSL wipes the private scalar when freeing it */
    free(p);
}

static const kiln_pki_signer_ops pkey_ops = {"file", pkey_sign, pkey_release};

kiln_pki_status kiln_pki_signer_from_pkey(EVP_PKEY *key, kiln_pki_signer **out)
{
    uint8_t point[KILN_PKI_POINT_SIZE];
    *out = NULL;
    kiln_pki_status st = kiln_pki_key_point(key, point);
    if (st != KILN_PKI_OK)
        return st;
    pkey_signer *p = calloc(1, sizeof(*p));
    if (!p)
        return KILN_PKI_NO_MEMORY;
    p->template = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!p->template || EVP_PKEY_sign_init(p->template) != 1 || EVP_PKEY_up_ref(key) != 1) {
        pkey_release(p);
        ERR_clear_error();
        return KILN_PKI_KEY_UNSUPPORTED;
    }
    p->key = key;
    return kiln_pki_signer_new(&pkey_ops, p, point, out);
}

kiln_pki_status kiln_pki_signer_from_memory(const uint8_t *data, size_t len, kiln_pki_signer **out)
{
    *out = NULL;
    EVP_PKEY *key = kiln_pki_private_key_parse(data, len);
    if (!key)
        return KILN_PKI_KEY_UNREADABLE;
    kiln_pki_status st = kiln_pki_signer_from_pkey(key, out);
    EVP_PKEY_free(key);
    return st;
}

kiln_pki_status kiln_pki_signer_from_file(const char *path, kiln_pki_signer **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return KILN_PKI_KEY_UNREADABLE;
    setvbuf(f, NULL, _IONBF, 0); /* no copy of the key in a stdio buffer */
    uint8_t buf[16384];
    size_t len = fread(buf, 1, sizeof(buf), f);
    int more = fgetc(f) != EOF;
    fclose(f);
    kiln_pki_status st =
        more ? KILN_PKI_KEY_UNREADABLE : kiln_pki_signer_from_memory(buf, len, out);
    OPENSSL_cleanse(buf, sizeof(buf));
    return st;
}
