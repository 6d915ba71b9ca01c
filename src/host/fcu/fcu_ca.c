/* The certificate authority: setup of the keystore, loading (with a cache keyed on the files'
 * identity) and signing of device certificates. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "fcu_internal.h"

#define CA_KEY_FILE       "fcu_key.pem"
#define CA_CERT_FILE      "fcu.crt"
#define CA_CSR_FILE       "fcu.csr"
#define CA_VALIDITY_YEARS 35
#define BACKDATE_SECONDS  3600

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* never prompt: an encrypted key is reported as unreadable */
}

/* PEM is recognised by its armour anywhere in the data (text may precede it). */
static bool looks_like_pem(const uint8_t *data, size_t len)
{
    static const char marker[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof(marker) - 1 <= len; i++)
        if (data[i] == '-' && memcmp(data + i, marker, sizeof(marker) - 1) == 0)
            return true;
    return false;
}

EVP_PKEY *fcu__p256_generate(void)
{
    return EVP_EC_gen("P-256");
}

STACK_OF(X509) * fcu__certs_parse(const uint8_t *data, size_t len)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!certs || len > INT32_MAX)
        goto fail;
    if (looks_like_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (!bio)
            goto fail;
        X509 *c;
        while ((c = PEM_read_bio_X509(bio, NULL, no_password, NULL)) != NULL) {
            if (!sk_X509_push(certs, c)) {
                X509_free(c);
                break;
            }
        }
        BIO_free(bio);
        ERR_clear_error();
    } else {
        const unsigned char *p = data;
        X509 *c = d2i_X509(NULL, &p, (long)len);
        if (c && p == data + len) {
            if (!sk_X509_push(certs, c))
                X509_free(c);
        } else {
            X509_free(c);
        }
        ERR_clear_error();
    }
    if (sk_X509_num(certs) > 0)
        return certs;
fail:
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
    return NULL;
}

EVP_PKEY *fcu__key_parse(const uint8_t *data, size_t len)
{
    EVP_PKEY *key = NULL;
    if (len > INT32_MAX)
        return NULL;
    if (looks_like_pem(data, len)) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio)
            key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        key = d2i_AutoPrivateKey(NULL, &p, (long)len);
        if (key && p != data + len) {
            EVP_PKEY_free(key);
            key = NULL;
        }
    }
    ERR_clear_error();
    return key;
}

int fcu__x509_der(X509 *cert, uint8_t **der, size_t *len)
{
    int n = i2d_X509(cert, NULL);
    if (n <= 0)
        return -1;
    unsigned char *out = malloc((size_t)n), *p = out;
    if (!out)
        return -1;
    if (i2d_X509(cert, &p) != n) {
        free(out);
        return -1;
    }
    *der = out;
    *len = (size_t)n;
    return 0;
}

void fcu__ca_clear(fcu_ca *ca)
{
    EVP_PKEY_free(ca->key); /* OpenSSL wipes the private scalar when freeing it */
    X509_free(ca->cert);
    sk_X509_pop_free(ca->chain, X509_free);
    EVP_MD_CTX_free(ca->sign_template);
    free(ca->subject_der);
    for (int i = 0; i < ca->nders; i++)
        free(ca->ders[i]);
    memset(ca, 0, sizeof(*ca));
}

void fcu__ca_details_fill(fcu_ca_details *d, const char *keystore, bool intermediate)
{
    d->keystore_dir = fcu__strdup(keystore);
    d->certificate_file = fcu__path_join(keystore, CA_CERT_FILE);
    d->private_key_file = fcu__path_join(keystore, CA_KEY_FILE);
    d->csr_file = intermediate ? fcu__path_join(keystore, CA_CSR_FILE) : NULL;
}

static void ca_details_free(fcu_ca_details *d)
{
    free(d->keystore_dir);
    free(d->certificate_file);
    free(d->private_key_file);
    free(d->csr_file);
    memset(d, 0, sizeof(*d));
}

static bool same_file(const struct stat *st, dev_t dev, ino_t ino, off_t size,
                      const struct timespec *mtime)
{
    return st->st_dev == dev && st->st_ino == ino && st->st_size == size &&
           st->st_mtim.tv_sec == mtime->tv_sec && st->st_mtim.tv_nsec == mtime->tv_nsec;
}

static int load_files(fcu_ca *ca, const char *cert_path, const char *key_path, fcu_error *err)
{
    uint8_t *data;
    size_t len;
    int e = fcu__read_file(cert_path, &data, &len);
    if (e)
        return fcu__fail_detail(err, strerror(e), FCU_STATUS_CA_CERT_LOAD, cert_path);
    STACK_OF(X509) *certs = fcu__certs_parse(data, len);
    free(data);
    if (!certs)
        return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
    ca->cert = sk_X509_shift(certs);
    ca->chain = certs;

    e = fcu__read_file(key_path, &data, &len);
    if (e)
        return fcu__fail_detail(err, strerror(e), FCU_STATUS_CA_KEY_LOAD, key_path);
    ca->key = fcu__key_parse(data, len);
    OPENSSL_cleanse(data, len);
    free(data);
    if (!ca->key)
        return fcu__fail(err, FCU_STATUS_CA_KEY_LOAD, key_path);
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        return fcu__fail(err, FCU_STATUS_CA_MISMATCH, cert_path, key_path);
    }
    int n = i2d_X509_NAME(X509_get_subject_name(ca->cert), NULL);
    unsigned char *p;
    ca->subject_der = n > 0 ? malloc((size_t)n) : NULL;
    if (!ca->subject_der ||
        (p = ca->subject_der, i2d_X509_NAME(X509_get_subject_name(ca->cert), &p)) != n)
        return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
    ca->subject_der_len = (size_t)n;
    for (int i = 0; i <= sk_X509_num(ca->chain) && i < FCU_CA_MAX_CHAIN; i++) {
        X509 *c = i == 0 ? ca->cert : sk_X509_value(ca->chain, i - 1);
        if (fcu__x509_der(c, &ca->ders[i], &ca->der_lens[i]) != 0)
            return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
        ca->nders = i + 1;
    }
    ca->sign_template = EVP_MD_CTX_new();
    if (!ca->sign_template ||
        EVP_DigestSignInit(ca->sign_template, NULL, EVP_sha256(), NULL, ca->key) != 1) {
        ERR_clear_error();
        return fcu__fail(err, FCU_STATUS_CA_KEY_LOAD, key_path);
    }
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notBefore(ca->cert), &tm) != 1)
        return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
    ca->not_before = timegm(&tm);
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca->cert);
    if (skid && skid->length > 0 && (size_t)skid->length <= sizeof(ca->key_id)) {
        memcpy(ca->key_id, skid->data, (size_t)skid->length);
        ca->key_id_len = (size_t)skid->length;
    } else {
        unsigned int n = 0;
        X509_pubkey_digest(ca->cert, EVP_sha1(), ca->key_id, &n);
        ca->key_id_len = n;
    }
    return 0;
}

int fcu__ca_load(fcu_ca *ca, const char *keystore, bool intermediate, fcu_error *err)
{
    char *cert_path = fcu__path_join(keystore, CA_CERT_FILE);
    char *key_path = fcu__path_join(keystore, CA_KEY_FILE);
    char *csr_path = fcu__path_join(keystore, CA_CSR_FILE);
    int rc = 0;
    struct stat cst, kst;
    if (!cert_path || !key_path || !csr_path) {
        rc = fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        goto out;
    }
    if (stat(cert_path, &cst) != 0) {
        struct stat sst;
        if (intermediate && stat(csr_path, &sst) == 0)
            rc = fcu__fail(err, FCU_STATUS_CA_CERT_AWAITING_SIGNATURE, csr_path, cert_path);
        else
            rc = fcu__fail(err, FCU_STATUS_CA_CERT_NOT_FOUND, cert_path);
        goto out;
    }
    if (stat(key_path, &kst) != 0) {
        rc = fcu__fail(err, FCU_STATUS_CA_KEY_NOT_FOUND, key_path);
        goto out;
    }
    if (ca->loaded && same_file(&cst, ca->cert_dev, ca->cert_ino, ca->cert_size, &ca->cert_mtime) &&
        same_file(&kst, ca->key_dev, ca->key_ino, ca->key_size, &ca->key_mtime)) {
        ca->key_mode = kst.st_mode;
        goto out;
    }
    fcu__ca_clear(ca);
    rc = load_files(ca, cert_path, key_path, err);
    if (rc) {
        fcu__ca_clear(ca);
        goto out;
    }
    ca->cert_dev = cst.st_dev;
    ca->cert_ino = cst.st_ino;
    ca->cert_size = cst.st_size;
    ca->cert_mtime = cst.st_mtim;
    ca->key_dev = kst.st_dev;
    ca->key_ino = kst.st_ino;
    ca->key_size = kst.st_size;
    ca->key_mtime = kst.st_mtim;
    ca->key_mode = kst.st_mode;
    ca->loaded = true;
out:
    free(cert_path);
    free(key_path);
    free(csr_path);
    return rc;
}

void fcu__ca_loaded_key_warning(const fcu_ca *ca, const char *keystore, fcu_notice_list *warnings)
{
    if (ca->key_mode & 077)
        fcu__ca_key_permission_warning(keystore, warnings);
}

void fcu__ca_key_permission_warning(const char *keystore, fcu_notice_list *warnings)
{
    char *key_path = fcu__path_join(keystore, CA_KEY_FILE);
    struct stat st;
    if (key_path && stat(key_path, &st) == 0 && (st.st_mode & 077) != 0) {
        char text[600];
        snprintf(text, sizeof(text),
                 "CA private key file %s can be read by other users (mode %04o); it should be "
                 "0600",
                 key_path, (unsigned)(st.st_mode & 07777));
        fcu__notice_add_text(warnings, 0, text);
    }
    free(key_path);
}

/* ---- certificate building ---- */

static int name_add(X509_NAME *name, const char *field, const char *value)
{
    if (!value || !*value)
        return 1;
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                      -1, 0);
}

static X509_NAME *subject_build(const fcu_subject_config *s, const char *cn, const char *ou)
{
    X509_NAME *name = X509_NAME_new();
    if (!name)
        return NULL;
    if (!name_add(name, "C", s->country.text) || !name_add(name, "ST", s->state.text) ||
        !name_add(name, "L", s->locality.text) || !name_add(name, "O", s->organization.text) ||
        !name_add(name, "OU", ou ? ou : s->organizational_unit.text) || !name_add(name, "CN", cn)) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

static int random_serial(X509 *x)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return 0;
    bytes[0] &= 0x7f; /* positive */
    bytes[0] |= 0x01; /* and never zero or shortened */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial && X509_set_serialNumber(x, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

static time_t add_years(time_t t, int years)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_year += years;
    return timegm(&tm);
}

static int set_validity(X509 *x, time_t not_before, time_t not_after)
{
    ASN1_TIME *nb = ASN1_TIME_set(NULL, not_before);
    ASN1_TIME *na = ASN1_TIME_set(NULL, not_after);
    int ok = nb && na && X509_set1_notBefore(x, nb) && X509_set1_notAfter(x, na);
    ASN1_TIME_free(nb);
    ASN1_TIME_free(na);
    return ok;
}

static int add_key_usage(X509 *x, int bits)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    int ok = ku != NULL;
    for (int bit = 0; ok && bit < 8; bit++)
        if (bits & (1 << bit))
            ok = ASN1_BIT_STRING_set_bit(ku, bit, 1);
    ok = ok && X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_REPLACE) == 1;
    ASN1_BIT_STRING_free(ku);
    return ok;
}

static int add_basic_constraints(X509 *x, bool is_ca)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    if (!bc)
        return 0;
    bc->ca = is_ca ? 0xff : 0;
    int ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) == 1;
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

static int add_key_ids(X509 *x, const uint8_t *issuer_key_id, size_t issuer_key_id_len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!X509_pubkey_digest(x, EVP_sha1(), md, &n))
        return 0;
    ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_new();
    int ok = skid && ASN1_OCTET_STRING_set(skid, md, (int)n) &&
             X509_add1_ext_i2d(x, NID_subject_key_identifier, skid, 0, X509V3_ADD_REPLACE) == 1;
    ASN1_OCTET_STRING_free(skid);
    if (!ok)
        return 0;
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    if (!akid)
        return 0;
    akid->keyid = ASN1_OCTET_STRING_new();
    if (issuer_key_id == NULL) {
        issuer_key_id = md;
        issuer_key_id_len = n;
    }
    ok = akid->keyid && ASN1_OCTET_STRING_set(akid->keyid, issuer_key_id, (int)issuer_key_id_len) &&
         X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_REPLACE) == 1;
    AUTHORITY_KEYID_free(akid);
    return ok;
}

/* ---- device certificates, written directly in DER ----
 * A device certificate differs from the next only in serial, dates, subject CN and key, so it
 * is assembled from DER pieces and signed once; building an X509 object costs several times
 * the signature. The result is checked by `openssl verify` and the device in the tests. */

typedef struct der_buf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} der_buf;

static void der_put(der_buf *b, const void *data, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void der_head(der_buf *b, uint8_t tag, size_t len)
{
    uint8_t h[6];
    size_t n = 0;
    h[n++] = tag;
    if (len < 0x80) {
        h[n++] = (uint8_t)len;
    } else if (len < 0x100) {
        h[n++] = 0x81;
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x82;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    }
    der_put(b, h, n);
}

static void der_tlv(der_buf *b, uint8_t tag, const void *data, size_t len)
{
    der_head(b, tag, len);
    der_put(b, data, len);
}

/* One RDN: SET { SEQUENCE { OID, string } }. */
static void der_rdn(der_buf *b, const uint8_t *oid, size_t oid_len, uint8_t string_tag,
                    const char *value)
{
    if (!value || !*value)
        return;
    size_t vlen = strlen(value);
    size_t atv = 2 + oid_len + (vlen < 0x80 ? 2 : vlen < 0x100 ? 3 : 4) + vlen;
    size_t seq = (atv < 0x80 ? 2 : atv < 0x100 ? 3 : 4) + atv;
    der_head(b, 0x31, seq);
    der_head(b, 0x30, atv);
    der_tlv(b, 0x06, oid, oid_len);
    der_tlv(b, string_tag, value, vlen);
}

static void der_time(der_buf *b, time_t t)
{
    struct tm tm;
    char text[64];
    gmtime_r(&t, &tm);
    if (tm.tm_year + 1900 < 2050) {
        snprintf(text, sizeof(text), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        der_tlv(b, 0x17, text, 13);
    } else {
        snprintf(text, sizeof(text), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        der_tlv(b, 0x18, text, 15);
    }
}

int fcu__p256_point(EVP_PKEY *key, uint8_t point[65])
{
    size_t len = 0;
    char group[32];
    size_t glen = 0;
    int ok =
        EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) &&
        (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) &&
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, 65, &len) &&
        len == 65 && point[0] == 0x04;
    ERR_clear_error();
    return ok ? 0 : -1;
}

int fcu__device_cert_issue(const fcu_ca *ca, const fcu_config *cfg, const uint8_t point[65],
                           const char *endpoint, const char *ou_override, uint8_t **der,
                           size_t *der_len)
{
    static const uint8_t oid_c[] = {0x55, 0x04, 0x06}, oid_st[] = {0x55, 0x04, 0x08},
                         oid_l[] = {0x55, 0x04, 0x07}, oid_o[] = {0x55, 0x04, 0x0a},
                         oid_ou[] = {0x55, 0x04, 0x0b}, oid_cn[] = {0x55, 0x04, 0x03};
    static const uint8_t version[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
    static const uint8_t sig_alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                      0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
    static const uint8_t spki_head[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                        0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
    static const uint8_t fixed_exts[] = {
        /* basicConstraints critical CA:FALSE */
        0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00,
        /* keyUsage critical digitalSignature */
        0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x07,
        0x80,
        /* extendedKeyUsage clientAuth */
        0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
        0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
    if (FCU_FAIL_POINT(FCU_STATUS_DEVICE_CERT_CREATE))
        return -1;
    if (ca->key_id_len == 0 || ca->key_id_len > 20)
        return -1;

    der_buf name = {0}, exts = {0}, body = {0}, tbs = {0}, cert = {0};
    uint8_t serial[16];
    unsigned char skid[20];
    unsigned int skid_len = 0;
    uint8_t sig[80];
    size_t sig_len = sizeof(sig) - 1;
    int rc = -1;
    EVP_MD_CTX *md = NULL;

    /* Subject: C, ST, L, O, OU, CN (the order of the original's device certificates). */
    const fcu_subject_config *s = &cfg->device;
    der_rdn(&name, oid_c, sizeof(oid_c), 0x13, s->country.text);
    der_rdn(&name, oid_st, sizeof(oid_st), 0x0c, s->state.text);
    der_rdn(&name, oid_l, sizeof(oid_l), 0x0c, s->locality.text);
    der_rdn(&name, oid_o, sizeof(oid_o), 0x0c, s->organization.text);
    der_rdn(&name, oid_ou, sizeof(oid_ou), 0x0c,
            ou_override ? ou_override : s->organizational_unit.text);
    der_rdn(&name, oid_cn, sizeof(oid_cn), 0x0c, endpoint);

    if (RAND_bytes(serial, sizeof(serial)) != 1 ||
        !EVP_Digest(point, 65, skid, &skid_len, EVP_sha1(), NULL) || skid_len != 20)
        goto out;
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01); /* positive, full length */

    /* Extensions: the fixed ones, then the key identifiers. */
    der_put(&exts, fixed_exts, sizeof(fixed_exts));
    uint8_t skid_ext[] = {0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14};
    der_put(&exts, skid_ext, sizeof(skid_ext));
    der_put(&exts, skid, 20);
    size_t kl = ca->key_id_len;
    uint8_t akid_ext[] = {
        0x30, (uint8_t)(kl + 11), 0x06, 0x03,       0x55, 0x1d, 0x23, 0x04, (uint8_t)(kl + 4),
        0x30, (uint8_t)(kl + 2),  0x80, (uint8_t)kl};
    der_put(&exts, akid_ext, sizeof(akid_ext));
    der_put(&exts, ca->key_id, kl);

    time_t now = time(NULL);
    time_t not_before = now - BACKDATE_SECONDS;
    if (not_before < ca->not_before) /* some verifiers refuse a start before the issuer's */
        not_before = ca->not_before;
    der_buf validity = {0};
    der_time(&validity, not_before);
    der_time(&validity, add_years(now, cfg->validity_years) + 86400);

    der_put(&body, version, sizeof(version));
    der_tlv(&body, 0x02, serial, sizeof(serial));
    der_put(&body, sig_alg, sizeof(sig_alg));
    der_put(&body, ca->subject_der, ca->subject_der_len);
    der_tlv(&body, 0x30, validity.p, validity.len);
    der_tlv(&body, 0x30, name.p, name.len);
    der_put(&body, spki_head, sizeof(spki_head));
    der_put(&body, point, 65);
    size_t exts_seq = exts.len + (exts.len < 0x80 ? 2 : exts.len < 0x100 ? 3 : 4);
    der_head(&body, 0xa3, exts_seq);
    der_tlv(&body, 0x30, exts.p, exts.len);
    der_tlv(&tbs, 0x30, body.p, body.len);
    free(validity.p);
    if (name.failed || exts.failed || body.failed || tbs.failed || validity.failed)
        goto out;

    md = EVP_MD_CTX_new();
    if (!md || EVP_MD_CTX_copy_ex(md, ca->sign_template) != 1 ||
        EVP_DigestSign(md, sig + 1, &sig_len, tbs.p, tbs.len) != 1)
        goto out;
    sig[0] = 0; /* no unused bits */
    der_buf whole = {0};
    der_put(&whole, tbs.p, tbs.len);
    der_put(&whole, sig_alg, sizeof(sig_alg));
    der_tlv(&whole, 0x03, sig, sig_len + 1);
    der_tlv(&cert, 0x30, whole.p, whole.len);
    free(whole.p);
    if (whole.failed || cert.failed)
        goto out;
    *der = cert.p;
    *der_len = cert.len;
    cert.p = NULL;
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    free(name.p);
    free(exts.p);
    free(body.p);
    free(tbs.p);
    free(cert.p);
    return rc;
}

/* ---- setup ---- */

/* Writes data to path atomically (temporary file + rename) with the given mode. */
static int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp)
        return ENOMEM;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return e;
    }
    int e = 0;
    if (fchmod(fd, mode) != 0)
        e = errno;
    const uint8_t *p = data;
    size_t left = len;
    while (!e && left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    free(tmp);
    return e;
}

typedef int (*pem_writer)(BIO *bio, void *obj);

static int pem_key(BIO *b, void *k)
{
    return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}
static int pem_cert(BIO *b, void *c)
{
    return PEM_write_bio_X509(b, c);
}
static int pem_csr(BIO *b, void *r)
{
    return PEM_write_bio_X509_REQ(b, r);
}

static int write_pem(const char *path, pem_writer writer, void *obj, mode_t mode, bool secret)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !writer(bio, obj)) {
        BIO_free(bio);
        return EIO;
    }
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int e = write_file_atomic(path, data, (size_t)len, mode);
    if (secret)
        OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return e;
}

static int mkdir_p(const char *dir, mode_t mode)
{
    char *copy = fcu__strdup(dir);
    if (!copy)
        return ENOMEM;
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                free(copy);
                return e;
            }
            *p = '/';
        }
    }
    int e = 0;
    if (mkdir(copy, mode) != 0 && errno != EEXIST)
        e = errno;
    free(copy);
    if (!e && chmod(dir, mode) != 0)
        e = errno;
    return e;
}

static X509 *ca_cert_create(const fcu_config *cfg, EVP_PKEY *key)
{
    if (FCU_FAIL_POINT(FCU_STATUS_CA_CERT_CREATE))
        return NULL;
    X509 *x = X509_new();
    X509_NAME *name = subject_build(&cfg->ca, cfg->ca.common_name.text, NULL);
    time_t now = time(NULL);
    int ok = x && name && X509_set_version(x, 2) && random_serial(x) &&
             X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
             set_validity(x, now - BACKDATE_SECONDS, add_years(now, CA_VALIDITY_YEARS)) &&
             X509_set_pubkey(x, key) && add_basic_constraints(x, true) &&
             add_key_usage(x, (1 << 0) | (1 << 5) | (1 << 6)) && add_key_ids(x, NULL, 0) &&
             X509_sign(x, key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

static X509_REQ *ca_csr_create(const fcu_config *cfg, EVP_PKEY *key)
{
    if (FCU_FAIL_POINT(FCU_STATUS_CSR_CREATE))
        return NULL;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = subject_build(&cfg->ca, cfg->ca.common_name.text, NULL);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    X509_EXTENSION *ext = NULL;
    int ok = req && name && exts && bc;
    if (ok) {
        bc->ca = 0xff;
        ext = X509V3_EXT_i2d(NID_basic_constraints, 1, bc);
        ok = ext && sk_X509_EXTENSION_push(exts, ext);
        if (ok)
            ext = NULL;
    }
    ok = ok && X509_REQ_set_version(req, 0) && X509_REQ_set_subject_name(req, name) &&
         X509_REQ_set_pubkey(req, key) && X509_REQ_add_extensions(req, exts) &&
         X509_REQ_sign(req, key, EVP_sha256()) > 0;
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    BASIC_CONSTRAINTS_free(bc);
    X509_NAME_free(name);
    if (!ok) {
        X509_REQ_free(req);
        req = NULL;
    }
    ERR_clear_error();
    return req;
}

static void status_error(fcu_setup_status *out, const fcu_error *err)
{
    out->status = err->code;
    fcu__notice_add_text(&out->errors, err->code, err->message);
}

int fcu__setup_status(const fcu_config *cfg, const char *keystore, fcu_setup_status *out)
{
    fcu_ca ca = {0};
    fcu_error err = {0};
    fcu__ca_details_fill(&out->ca_details, keystore, cfg->intermediate);
    if (fcu__ca_load(&ca, keystore, cfg->intermediate, &err) != 0)
        status_error(out, &err);
    fcu__ca_clear(&ca);
    fcu__ca_key_permission_warning(keystore, &out->warnings);
    return out->status;
}

int fcu__setup(const fcu_config *cfg, const char *keystore, bool override, fcu_setup_status *out)
{
    fcu_error err = {0};
    char *key_path = fcu__path_join(keystore, CA_KEY_FILE);
    char *cert_path = fcu__path_join(keystore, CA_CERT_FILE);
    char *csr_path = fcu__path_join(keystore, CA_CSR_FILE);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    X509_REQ *req = NULL;
    int e;
    if (!key_path || !cert_path || !csr_path) {
        fcu__fail(&err, FCU_STATUS_GENERAL, "out of memory");
        goto done;
    }
    if (!override) {
        const char *paths[] = {key_path, cert_path, csr_path};
        for (size_t i = 0; i < 3; i++) {
            struct stat st;
            if (stat(paths[i], &st) == 0) {
                fcu__fail(&err, FCU_STATUS_FILE_EXISTS, paths[i]);
                goto done;
            }
        }
    }
    if (!cfg->ca.common_name.text) {
        fcu__config_invalid(cfg, "certificate-authority", &cfg->ca.common_name,
                            "common-name is mandatory to set up the CA", &err);
        goto done;
    }
    if ((e = mkdir_p(keystore, 0700)) != 0) {
        char detail[600];
        snprintf(detail, sizeof(detail), "cannot create keystore directory %s: %s", keystore,
                 strerror(e));
        fcu__fail(&err, FCU_STATUS_GENERAL, detail);
        goto done;
    }
    key = FCU_FAIL_POINT(FCU_STATUS_CA_KEY_CREATE) ? NULL : fcu__p256_generate();
    if (!key) {
        fcu__fail(&err, FCU_STATUS_CA_KEY_CREATE);
        goto done;
    }
    if (cfg->intermediate) {
        req = ca_csr_create(cfg, key);
        if (!req) {
            fcu__fail(&err, FCU_STATUS_CSR_CREATE, "the CA");
            goto done;
        }
    } else {
        cert = ca_cert_create(cfg, key);
        if (!cert) {
            fcu__fail(&err, FCU_STATUS_CA_CERT_CREATE);
            goto done;
        }
    }
    if ((e = write_pem(key_path, pem_key, key, 0600, true)) != 0) {
        char detail[600];
        snprintf(detail, sizeof(detail), "cannot write %s: %s", key_path, strerror(e));
        fcu__fail(&err, FCU_STATUS_GENERAL, detail);
        goto done;
    }
    if (cfg->intermediate) {
        unlink(cert_path); /* a certificate for the old key would no longer match */
        e = write_pem(csr_path, pem_csr, req, 0644, false);
    } else {
        unlink(csr_path);
        e = write_pem(cert_path, pem_cert, cert, 0644, false);
    }
    if (e) {
        char detail[600];
        snprintf(detail, sizeof(detail), "cannot write %s: %s",
                 cfg->intermediate ? csr_path : cert_path, strerror(e));
        fcu__fail(&err, FCU_STATUS_GENERAL, detail);
    }
done:
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_REQ_free(req);
    free(key_path);
    free(cert_path);
    free(csr_path);
    if (err.code) {
        fcu__ca_details_fill(&out->ca_details, keystore, cfg->intermediate);
        status_error(out, &err);
        fcu__ca_key_permission_warning(keystore, &out->warnings);
        return out->status;
    }
    return fcu__setup_status(cfg, keystore, out);
}

void fcu_setup_status_free(fcu_setup_status *s)
{
    if (!s)
        return;
    ca_details_free(&s->ca_details);
    fcu__notice_list_free(&s->errors);
    fcu__notice_list_free(&s->warnings);
    s->status = 0;
}
