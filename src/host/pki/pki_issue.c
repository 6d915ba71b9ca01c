/* kiln_pki: CA certificates, CA CSRs and leaf certificates, written in DER and signed by a
 * signer. A leaf differs from the next only in serial, dates, subject and key, so the issuing CA
 * keeps its name and key identifier encoded and a certificate costs little more than its
 * signature (building it through OpenSSL's X509 objects costs several times that). */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "pki_der.h"

struct kiln_pki_ca {
    kiln_pki_signer *signer;
    pki_der subject;    /* the CA's Name, the issuer of what it signs */
    uint8_t key_id[64]; /* its subjectKeyIdentifier, the authorityKeyIdentifier it gives */
    size_t key_id_len;
    time_t not_before;
    /* Fetched once: an implicit fetch per certificate is a lookup under a lock. */
    EVP_MD *sha256, *sha1;
};

/* Extensions as Extension SEQUENCEs: id, critical TRUE when it is, OCTET STRING value. */
static const uint8_t ext_ca_true[] = {0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01,
                                      0xff, 0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff};
static const uint8_t ext_ca_false[] = {0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13,
                                       0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00};
/* keyUsage digitalSignature, keyCertSign, cRLSign */
static const uint8_t ext_ku_ca[] = {0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01,
                                    0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x01, 0x86};
/* keyUsage digitalSignature */
static const uint8_t ext_ku_leaf[] = {0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01,
                                      0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80};
/* extendedKeyUsage id-kp-clientAuth; serverAuth differs in the last byte (1) */
static const uint8_t ext_eku[] = {0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a,
                                  0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02};

static void ext_key_ids(pki_der *exts, const EVP_MD *sha1, const uint8_t point[KILN_PKI_POINT_SIZE],
                        const uint8_t *authority, size_t authority_len, bool with_authority)
{
    static const uint8_t skid_head[] = {0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d,
                                        0x0e, 0x04, 0x16, 0x04, 0x14};
    uint8_t skid[20];
    unsigned int n = 0;
    if (EVP_Digest(point, KILN_PKI_POINT_SIZE, skid, &n, sha1, NULL) != 1 || n != 20) {
        exts->failed = true;
        return;
    }
    pki_der_put(exts, skid_head, sizeof(skid_head));
    pki_der_put(exts, skid, sizeof(skid));
    if (!with_authority)
        return;
    if (!authority) {
        authority = skid;
        authority_len = sizeof(skid);
    }
    /* Extension { id-ce-authorityKeyIdentifier, OCTET STRING { SEQUENCE { [0] keyid } } } */
    size_t inner = pki_der_head_size(authority_len) + authority_len;
    size_t octets = pki_der_head_size(inner) + inner;
    const uint8_t id[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
    pki_der_head(exts, PKI_TAG_SEQUENCE, sizeof(id) + pki_der_head_size(octets) + octets);
    pki_der_put(exts, id, sizeof(id));
    pki_der_head(exts, PKI_TAG_OCTETS, octets);
    pki_der_head(exts, PKI_TAG_SEQUENCE, inner);
    pki_der_tlv(exts, 0x80, authority, authority_len);
}

static kiln_pki_status ext_subject_alt_names(pki_der *exts, const char *list)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, list);
    unsigned char *der = NULL;
    int n = ext ? i2d_X509_EXTENSION(ext, &der) : -1;
    X509_EXTENSION_free(ext);
    ERR_clear_error();
    if (n <= 0)
        return KILN_PKI_SUBJECT_ALT_NAME_INVALID;
    pki_der_put(exts, der, (size_t)n);
    OPENSSL_free(der);
    return KILN_PKI_OK;
}

/* TBSCertificate: v3, serial, ecdsa-with-SHA256, issuer, validity, subject, key, extensions. */
static kiln_pki_status tbs_build(pki_der *tbs, const pki_der *issuer, const pki_der *subject,
                                 time_t not_before, time_t not_after,
                                 const uint8_t point[KILN_PKI_POINT_SIZE], const pki_der *exts)
{
    static const uint8_t version3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
    pki_der body = {0}, validity = {0};
    pki_der_put(&body, version3, sizeof(version3));
    kiln_pki_status st = pki_der_serial(&body);
    pki_der_signature_algorithm(&body);
    pki_der_put(&body, issuer->p, issuer->len);
    pki_der_time(&validity, not_before);
    pki_der_time(&validity, not_after);
    pki_der_wrap(&body, PKI_TAG_SEQUENCE, &validity);
    pki_der_put(&body, subject->p, subject->len);
    pki_der_spki(&body, point);
    pki_der_head(&body, 0xa3, pki_der_head_size(exts->len) + exts->len);
    pki_der_wrap(&body, PKI_TAG_SEQUENCE, exts);
    pki_der_wrap(tbs, PKI_TAG_SEQUENCE, &body);
    if (st == KILN_PKI_OK && (body.failed || tbs->failed || issuer->failed || subject->failed))
        st = KILN_PKI_NO_MEMORY;
    pki_der_free(&body);
    pki_der_free(&validity);
    return st;
}

kiln_pki_status kiln_pki_self_signed_ca(const kiln_pki_signer *signer,
                                        const kiln_pki_ca_request *req, uint8_t **der,
                                        size_t *der_len)
{
    const uint8_t *point = kiln_pki_signer_point(signer);
    pki_der name = {0}, exts = {0}, tbs = {0};
    *der = NULL;
    kiln_pki_status st = pki_der_name(&name, &req->subject);
    if (st == KILN_PKI_OK && req->not_after <= req->not_before)
        st = KILN_PKI_INVALID_REQUEST;
    pki_der_put(&exts, ext_ca_true, sizeof(ext_ca_true));
    pki_der_put(&exts, ext_ku_ca, sizeof(ext_ku_ca));
    ext_key_ids(&exts, EVP_sha1(), point, NULL, 0, req->authority_key_id);
    if (st == KILN_PKI_OK)
        st = tbs_build(&tbs, &name, &name, req->not_before, req->not_after, point, &exts);
    if (st == KILN_PKI_OK)
        st = pki_der_signed(signer, EVP_sha256(), &tbs, der, der_len);
    pki_der_free(&name);
    pki_der_free(&exts);
    pki_der_free(&tbs);
    return st;
}

kiln_pki_status kiln_pki_ca_csr(const kiln_pki_signer *signer, const kiln_pki_name *subject,
                                uint8_t **der, size_t *der_len)
{
    /* [0] { Attribute { extensionRequest, SET { Extensions { basicConstraints CA } } } } */
    static const uint8_t attributes[] = {0xa0, 0x22, 0x30, 0x20, 0x06, 0x09, 0x2a, 0x86, 0x48,
                                         0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e, 0x31, 0x13, 0x30,
                                         0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01,
                                         0x01, 0xff, 0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff};
    static const uint8_t version1[] = {0x02, 0x01, 0x00};
    pki_der body = {0}, info = {0};
    *der = NULL;
    pki_der_put(&body, version1, sizeof(version1));
    kiln_pki_status st = pki_der_name(&body, subject);
    pki_der_spki(&body, kiln_pki_signer_point(signer));
    pki_der_put(&body, attributes, sizeof(attributes));
    pki_der_wrap(&info, PKI_TAG_SEQUENCE, &body);
    if (st == KILN_PKI_OK)
        st = pki_der_signed(signer, EVP_sha256(), &info, der, der_len);
    pki_der_free(&body);
    pki_der_free(&info);
    return st;
}

static kiln_pki_status ca_read(kiln_pki_ca *ca, X509 *cert)
{
    uint8_t point[KILN_PKI_POINT_SIZE];
    if (kiln_pki_key_point(X509_get0_pubkey(cert), point) != KILN_PKI_OK)
        return KILN_PKI_CA_CERT_INVALID;
    if (memcmp(point, kiln_pki_signer_point(ca->signer), KILN_PKI_POINT_SIZE) != 0)
        return KILN_PKI_CA_KEY_MISMATCH;
    unsigned char *name = NULL;
    int n = i2d_X509_NAME(X509_get_subject_name(cert), &name);
    if (n <= 0)
        return KILN_PKI_CA_CERT_INVALID;
    pki_der_put(&ca->subject, name, (size_t)n);
    OPENSSL_free(name);
    struct tm tm;
    if (ca->subject.failed || ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) != 1)
        return KILN_PKI_CA_CERT_INVALID;
    ca->not_before = timegm(&tm);
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cert);
    if (skid && skid->length > 0 && (size_t)skid->length <= sizeof(ca->key_id)) {
        memcpy(ca->key_id, skid->data, (size_t)skid->length);
        ca->key_id_len = (size_t)skid->length;
        return KILN_PKI_OK;
    }
    unsigned int len = 0; /* no usable subjectKeyIdentifier: the same SHA-1 of the key */
    if (EVP_Digest(point, sizeof(point), ca->key_id, &len, EVP_sha1(), NULL) != 1)
        return KILN_PKI_NO_MEMORY;
    ca->key_id_len = len;
    return KILN_PKI_OK;
}

kiln_pki_status kiln_pki_ca_open(kiln_pki_signer *signer, const uint8_t *cert_der,
                                 size_t cert_der_len, kiln_pki_ca **out)
{
    *out = NULL;
    kiln_pki_ca *ca = calloc(1, sizeof(*ca));
    if (!ca) {
        kiln_pki_signer_free(signer);
        return KILN_PKI_NO_MEMORY;
    }
    ca->signer = signer;
    ca->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    ca->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    const unsigned char *p = cert_der;
    X509 *cert = cert_der_len <= INT32_MAX ? d2i_X509(NULL, &p, (long)cert_der_len) : NULL;
    kiln_pki_status st = KILN_PKI_NO_MEMORY;
    if (ca->sha256 && ca->sha1)
        st = cert && p == cert_der + cert_der_len ? ca_read(ca, cert) : KILN_PKI_CA_CERT_INVALID;
    X509_free(cert);
    ERR_clear_error();
    if (st != KILN_PKI_OK) {
        kiln_pki_ca_free(ca);
        return st;
    }
    *out = ca;
    return KILN_PKI_OK;
}

const kiln_pki_signer *kiln_pki_ca_signer(const kiln_pki_ca *ca)
{
    return ca->signer;
}

void kiln_pki_ca_free(kiln_pki_ca *ca)
{
    if (!ca)
        return;
    kiln_pki_signer_free(ca->signer);
    pki_der_free(&ca->subject);
    EVP_MD_free(ca->sha256);
    EVP_MD_free(ca->sha1);
    free(ca);
}

kiln_pki_status kiln_pki_issue(const kiln_pki_ca *ca, const kiln_pki_leaf_request *req,
                               uint8_t **der, size_t *der_len)
{
    *der = NULL;
    if (!req->public_point || req->public_point[0] != 0x04 ||
        (req->usage != KILN_PKI_USAGE_CLIENT && req->usage != KILN_PKI_USAGE_SERVER))
        return KILN_PKI_INVALID_REQUEST;
    time_t not_before = req->not_before < ca->not_before ? ca->not_before : req->not_before;
    if (req->not_after <= not_before)
        return KILN_PKI_INVALID_REQUEST;
    pki_der name = {0}, exts = {0}, tbs = {0};
    kiln_pki_status st = pki_der_name(&name, &req->subject);
    pki_der_put(&exts, ext_ca_false, sizeof(ext_ca_false));
    pki_der_put(&exts, ext_ku_leaf, sizeof(ext_ku_leaf));
    pki_der_put(&exts, ext_eku, sizeof(ext_eku) - 1);
    pki_der_put(&exts, req->usage == KILN_PKI_USAGE_SERVER ? "\x01" : "\x02", 1);
    ext_key_ids(&exts, ca->sha1, req->public_point, ca->key_id, ca->key_id_len, true);
    if (st == KILN_PKI_OK && req->subject_alt_names)
        st = ext_subject_alt_names(&exts, req->subject_alt_names);
    if (st == KILN_PKI_OK)
        st = tbs_build(&tbs, &ca->subject, &name, not_before, req->not_after, req->public_point,
                       &exts);
    if (st == KILN_PKI_OK)
        st = pki_der_signed(ca->signer, ca->sha256, &tbs, der, der_len);
    pki_der_free(&name);
    pki_der_free(&exts);
    pki_der_free(&tbs);
    return st;
}
