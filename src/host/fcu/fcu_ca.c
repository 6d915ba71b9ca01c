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
    unsigned char *out = NULL;
    int n = i2d_X509(cert, &out);
    if (n <= 0)
        return -1;
    *der = out;
    *len = (size_t)n;
    return 0;
}

void fcu__ca_clear(fcu_ca *ca)
{
    EVP_PKEY_free(ca->key); /* OpenSSL wipes the private scalar when freeing it */
    X509_free(ca->cert);
    sk_X509_pop_free(ca->chain, X509_free);
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
        same_file(&kst, ca->key_dev, ca->key_ino, ca->key_size, &ca->key_mtime))
        goto out;
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
    ca->loaded = true;
out:
    free(cert_path);
    free(key_path);
    free(csr_path);
    return rc;
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

static int add_client_auth(X509 *x)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    ASN1_OBJECT *obj = OBJ_nid2obj(NID_client_auth);
    int ok = eku && obj && sk_ASN1_OBJECT_push(eku, obj) &&
             X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_REPLACE) == 1;
    sk_ASN1_OBJECT_free(eku); /* obj is a static table entry */
    return ok;
}

int fcu__device_cert_sign(const fcu_ca *ca, const fcu_config *cfg, EVP_PKEY *pubkey,
                          const char *endpoint, const char *ou_override, uint8_t **der,
                          size_t *der_len)
{
    if (FCU_FAIL_POINT(FCU_STATUS_DEVICE_CERT_CREATE))
        return -1;
    X509 *x = X509_new();
    X509_NAME *subject = subject_build(&cfg->device, endpoint, ou_override);
    time_t now = time(NULL);
    time_t not_before = now - BACKDATE_SECONDS;
    /* A certificate starting before its issuer does is refused by some verifiers. */
    time_t ca_start;
    const ASN1_TIME *ca_nb = X509_get0_notBefore(ca->cert);
    struct tm tm;
    if (ASN1_TIME_to_tm(ca_nb, &tm) == 1) {
        ca_start = timegm(&tm);
        if (not_before < ca_start)
            not_before = ca_start;
    }
    int ok = x && subject && X509_set_version(x, 2) && random_serial(x) &&
             X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) &&
             X509_set_subject_name(x, subject) &&
             set_validity(x, not_before, add_years(now, cfg->validity_years) + 86400) &&
             X509_set_pubkey(x, pubkey) && add_basic_constraints(x, false) &&
             add_key_usage(x, 1 << 0 /* digitalSignature */) && add_client_auth(x) &&
             add_key_ids(x, ca->key_id, ca->key_id_len) && X509_sign(x, ca->key, EVP_sha256()) > 0;
    if (ok)
        ok = fcu__x509_der(x, der, der_len) == 0;
    X509_NAME_free(subject);
    X509_free(x);
    ERR_clear_error();
    return ok ? 0 : -1;
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
