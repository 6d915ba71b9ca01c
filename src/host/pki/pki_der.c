/* DER writing for kiln_pki (see pki_der.h). */
#include "pki_der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* ecdsa-with-SHA256, without parameters (RFC 5758 3.2). */
static const uint8_t ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

void pki_der_put(pki_der *b, const void *data, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *bigger = realloc(b->p, cap);
        if (!bigger) {
            b->failed = true;
            return;
        }
        b->p = bigger;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

size_t pki_der_head_size(size_t len)
{
    return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

void pki_der_head(pki_der *b, uint8_t tag, size_t len)
{
    uint8_t h[4];
    size_t n = 0;
    if (len > 0xffff) {
        b->failed = true;
        return;
    }
    h[n++] = tag;
    if (len >= 0x100) {
        h[n++] = 0x82;
        h[n++] = (uint8_t)(len >> 8);
    } else if (len >= 0x80) {
        h[n++] = 0x81;
    }
    h[n++] = (uint8_t)len;
    pki_der_put(b, h, n);
}

void pki_der_tlv(pki_der *b, uint8_t tag, const void *data, size_t len)
{
    pki_der_head(b, tag, len);
    pki_der_put(b, data, len);
}

void pki_der_wrap(pki_der *b, uint8_t tag, const pki_der *inner)
{
    if (inner->failed)
        b->failed = true;
    pki_der_tlv(b, tag, inner->p, inner->len);
}

void pki_der_time(pki_der *b, time_t t)
{
    struct tm tm;
    char text[64];
    if (!gmtime_r(&t, &tm)) {
        b->failed = true;
        return;
    }
    if (tm.tm_year + 1900 < 2050) {
        snprintf(text, sizeof(text), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        pki_der_tlv(b, 0x17, text, 13);
    } else {
        snprintf(text, sizeof(text), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        pki_der_tlv(b, 0x18, text, 15);
    }
}

void pki_der_free(pki_der *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Bytes of the UTF-8 sequence at s, 0 when it is not well-formed (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s)
{
    static const unsigned long least[] = {0, 0x80, 0x800, 0x10000};
    unsigned c = s[0];
    size_t extra = c < 0x80 ? 0 : c < 0xc2 ? 4 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : c < 0xf5 ? 3 : 4;
    if (extra > 3)
        return 0;
    unsigned long cp = extra ? c & (0x3fu >> extra) : c; /* payload bits of the lead byte */
    for (size_t i = 1; i <= extra; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < least[extra] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return extra + 1;
}

static bool utf8_valid(const unsigned char *s)
{
    for (size_t n; *s; s += n)
        if ((n = utf8_sequence(s)) == 0)
            return false;
    return true;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?",
                    *s))
            return false;
    return true;
}

/* One RDN: SET { SEQUENCE { OID 2.5.4.type, string } }. */
static void der_rdn(pki_der *b, uint8_t type, uint8_t string_tag, const char *value)
{
    const uint8_t oid[] = {PKI_TAG_OID, 0x03, 0x55, 0x04, type};
    size_t vlen = strlen(value);
    size_t atv = sizeof(oid) + pki_der_head_size(vlen) + vlen;
    pki_der_head(b, PKI_TAG_SET, pki_der_head_size(atv) + atv);
    pki_der_head(b, PKI_TAG_SEQUENCE, atv);
    pki_der_put(b, oid, sizeof(oid));
    pki_der_tlv(b, string_tag, value, vlen);
}

kiln_pki_status pki_der_name(pki_der *b, const kiln_pki_name *name)
{
    const struct {
        const char *value;
        uint8_t type, tag;
    } rdns[] = {{name->country, 0x06, 0x13},
                {name->state, 0x08, 0x0c},
                {name->locality, 0x07, 0x0c},
                {name->organization, 0x0a, 0x0c},
                {name->organizational_unit, 0x0b, 0x0c},
                {name->common_name, 0x03, 0x0c}};
    pki_der seq = {0};
    for (size_t i = 0; i < sizeof(rdns) / sizeof(rdns[0]); i++) {
        const char *v = rdns[i].value;
        if (!v || !*v)
            continue;
        if (!utf8_valid((const unsigned char *)v) || (rdns[i].tag == 0x13 && !printable(v))) {
            pki_der_free(&seq);
            return KILN_PKI_INVALID_NAME;
        }
        der_rdn(&seq, rdns[i].type, rdns[i].tag, v);
    }
    pki_der_wrap(b, PKI_TAG_SEQUENCE, &seq);
    pki_der_free(&seq);
    return KILN_PKI_OK;
}

void pki_der_spki(pki_der *b, const uint8_t point[KILN_PKI_POINT_SIZE])
{
    /* SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING 0x00 || point } */
    static const uint8_t head[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
    pki_der_put(b, head, sizeof(head));
    pki_der_put(b, point, KILN_PKI_POINT_SIZE);
}

kiln_pki_status pki_der_serial(pki_der *b)
{
    uint8_t serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return KILN_PKI_NO_MEMORY;
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01); /* positive, never shortened */
    pki_der_tlv(b, PKI_TAG_INTEGER, serial, sizeof(serial));
    return KILN_PKI_OK;
}

kiln_pki_status pki_der_signed(const kiln_pki_signer *signer, const EVP_MD *sha256,
                               const pki_der *tbs, uint8_t **der, size_t *der_len)
{
    uint8_t digest[KILN_PKI_DIGEST_SIZE], sig[1 + KILN_PKI_SIG_MAX];
    size_t sig_len = KILN_PKI_SIG_MAX;
    if (tbs->failed)
        return KILN_PKI_NO_MEMORY;
    if (EVP_Digest(tbs->p, tbs->len, digest, NULL, sha256, NULL) != 1)
        return KILN_PKI_NO_MEMORY;
    kiln_pki_status st = kiln_pki_signer_sign_digest(signer, digest, sig + 1, &sig_len);
    if (st != KILN_PKI_OK)
        return st;
    sig[0] = 0; /* no unused bits */
    size_t body = tbs->len + sizeof(ecdsa_sha256) + pki_der_head_size(sig_len + 1) + sig_len + 1;
    pki_der out = {0};
    pki_der_head(&out, PKI_TAG_SEQUENCE, body);
    pki_der_put(&out, tbs->p, tbs->len);
    pki_der_put(&out, ecdsa_sha256, sizeof(ecdsa_sha256));
    pki_der_tlv(&out, PKI_TAG_BIT_STRING, sig, sig_len + 1);
    if (out.failed) {
        pki_der_free(&out);
        return KILN_PKI_NO_MEMORY;
    }
    *der = out.p;
    *der_len = out.len;
    return KILN_PKI_OK;
}

void pki_der_signature_algorithm(pki_der *b)
{
    pki_der_put(b, ecdsa_sha256, sizeof(ecdsa_sha256));
}
