/* The certificate authority of the configurator: setup of the keystore, loading (with a cache
 * keyed on the files' identity) and the configurator's policy for the certificates kiln_pki
 * writes (subjects from fcu.yml, validity). The CA key is only reached through its signer. */
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
#include <openssl/pem.h>

#include "fcu_internal.h"
#include "kiln_pki.h"

#define CA_KEY_FILE       "fcu_key.pem"
#define CA_CERT_FILE      "fcu.crt"
#define CA_CSR_FILE       "fcu.csr"
#define CA_VALIDITY_YEARS 35
#define BACKDATE_SECONDS  3600

EVP_PKEY *fcu__p256_generate(void)
{
    return EVP_EC_gen("P-256");
}

STACK_OF(X509) * fcu__certs_parse(const uint8_t *data, size_t len)
{
    return kiln_pki_certs_parse(data, len);
}

EVP_PKEY *fcu__key_parse(const uint8_t *data, size_t len)
{
    return kiln_pki_private_key_parse(data, len);
}

int fcu__p256_point(EVP_PKEY *key, uint8_t point[65])
{
    return kiln_pki_key_point(key, point) == KILN_PKI_OK ? 0 : -1;
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
    kiln_pki_ca_free(ca->issuer); /* and its signer, which wipes the key */
    sk_X509_pop_free(ca->chain, X509_free);
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

/* fcu.crt: the CA certificate, then its issuers; kept as X509 and as DER for the chains. */
static int load_certs(fcu_ca *ca, const char *cert_path, fcu_error *err)
{
    uint8_t *data;
    size_t len;
    int e = fcu__read_file(cert_path, &data, &len);
    if (e)
        return fcu__fail_detail(err, strerror(e), FCU_STATUS_CA_CERT_LOAD, cert_path);
    ca->chain = fcu__certs_parse(data, len);
    free(data);
    if (!ca->chain)
        return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
    for (int i = 0; i < sk_X509_num(ca->chain) && i < FCU_CA_MAX_CHAIN; i++) {
        if (fcu__x509_der(sk_X509_value(ca->chain, i), &ca->ders[i], &ca->der_lens[i]) != 0)
            return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
        ca->nders = i + 1;
    }
    X509_free(sk_X509_shift(ca->chain)); /* chain keeps the issuers only */
    return 0;
}

/* fcu_key.pem as a signer: from here on only the signer holds the key. */
static int load_issuer(fcu_ca *ca, const char *cert_path, const char *key_path, fcu_error *err)
{
    uint8_t *data;
    size_t len;
    int e = fcu__read_file(key_path, &data, &len);
    if (e)
        return fcu__fail_detail(err, strerror(e), FCU_STATUS_CA_KEY_LOAD, key_path);
    kiln_pki_signer *signer = NULL;
    kiln_pki_status st = kiln_pki_signer_from_memory(data, len, &signer);
    OPENSSL_cleanse(data, len);
    free(data);
    if (st != KILN_PKI_OK)
        return fcu__fail(err, FCU_STATUS_CA_KEY_LOAD, key_path);
    st = kiln_pki_ca_open(signer, ca->ders[0], ca->der_lens[0], &ca->issuer);
    if (st == KILN_PKI_CA_KEY_MISMATCH)
        return fcu__fail(err, FCU_STATUS_CA_MISMATCH, cert_path, key_path);
    if (st != KILN_PKI_OK)
        return fcu__fail(err, FCU_STATUS_CA_CERT_LOAD, cert_path);
    return 0;
}

/* Which files the loaded CA came from, so that the next load can keep it. */
static void remember_files(fcu_ca *ca, const struct stat *cst, const struct stat *kst)
{
    ca->cert_dev = cst->st_dev;
    ca->cert_ino = cst->st_ino;
    ca->cert_size = cst->st_size;
    ca->cert_mtime = cst->st_mtim;
    ca->key_dev = kst->st_dev;
    ca->key_ino = kst->st_ino;
    ca->key_size = kst->st_size;
    ca->key_mtime = kst->st_mtim;
    ca->key_mode = kst->st_mode;
    ca->loaded = true;
}

static int ca_files_stat(const char *cert_path, const char *key_path, const char *csr_path,
                         bool intermediate, struct stat *cst, struct stat *kst, fcu_error *err)
{
    struct stat sst;
    if (stat(cert_path, cst) != 0) {
        if (intermediate && stat(csr_path, &sst) == 0)
            return fcu__fail(err, FCU_STATUS_CA_CERT_AWAITING_SIGNATURE, csr_path, cert_path);
        return fcu__fail(err, FCU_STATUS_CA_CERT_NOT_FOUND, cert_path);
    }
    if (stat(key_path, kst) != 0)
        return fcu__fail(err, FCU_STATUS_CA_KEY_NOT_FOUND, key_path);
    return 0;
}

int fcu__ca_load(fcu_ca *ca, const char *keystore, bool intermediate, fcu_error *err)
{
    char *cert_path = fcu__path_join(keystore, CA_CERT_FILE);
    char *key_path = fcu__path_join(keystore, CA_KEY_FILE);
    char *csr_path = fcu__path_join(keystore, CA_CSR_FILE);
    struct stat cst, kst;
    int rc;
    if (!cert_path || !key_path || !csr_path)
        rc = fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    else
        rc = ca_files_stat(cert_path, key_path, csr_path, intermediate, &cst, &kst, err);
    if (rc == 0 && ca->loaded &&
        same_file(&cst, ca->cert_dev, ca->cert_ino, ca->cert_size, &ca->cert_mtime) &&
        same_file(&kst, ca->key_dev, ca->key_ino, ca->key_size, &ca->key_mtime)) {
        ca->key_mode = kst.st_mode;
    } else if (rc == 0) {
        fcu__ca_clear(ca);
        rc = load_certs(ca, cert_path, err);
        if (rc == 0)
            rc = load_issuer(ca, cert_path, key_path, err);
        if (rc == 0)
            remember_files(ca, &cst, &kst);
        else
            fcu__ca_clear(ca);
    }
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

/* ---- certificates (written and signed by kiln_pki) ---- */

static kiln_pki_name subject_of(const fcu_subject_config *s, const char *cn, const char *ou)
{
    kiln_pki_name name = {
        s->country.text, s->state.text, s->locality.text, s->organization.text, ou, cn};
    return name;
}

static time_t add_years(time_t t, int years)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_year += years;
    return timegm(&tm);
}

int fcu__device_cert_issue(const fcu_ca *ca, const fcu_config *cfg, const uint8_t point[65],
                           const char *endpoint, const char *ou_override, uint8_t **der,
                           size_t *der_len)
{
    if (FCU_FAIL_POINT(FCU_STATUS_DEVICE_CERT_CREATE) || !ca->issuer)
        return -1;
    const fcu_subject_config *s = &cfg->device;
    time_t now = time(NULL);
    kiln_pki_leaf_request req = {
        .subject = subject_of(s, endpoint, ou_override ? ou_override : s->organizational_unit.text),
        .public_point = point,
        .usage = KILN_PKI_USAGE_CLIENT,
        .not_before = now - BACKDATE_SECONDS,
        .not_after = add_years(now, cfg->validity_years) + 86400,
    };
    return kiln_pki_issue(ca->issuer, &req, der, der_len) == KILN_PKI_OK ? 0 : -1;
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

/* PEM of a DER object (type "CERTIFICATE", "CERTIFICATE REQUEST") written atomically. */
static int write_der_pem(const char *path, const char *type, const uint8_t *der, size_t len,
                         mode_t mode)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio(bio, type, "", der, (long)len) <= 0) {
        BIO_free(bio);
        return EIO;
    }
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    int e = write_file_atomic(path, data, (size_t)n, mode);
    BIO_free(bio);
    return e;
}

static int write_key_pem(const char *path, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(bio);
        return EIO;
    }
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int e = write_file_atomic(path, data, (size_t)len, 0600);
    BIO_free(bio); /* a secure-heap BIO wipes its buffer */
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

/* The self-signed CA certificate, or with setup-ca-as-intermediate its CSR, in DER. */
static int ca_material_create(const fcu_config *cfg, EVP_PKEY *key, uint8_t **der, size_t *len,
                              fcu_error *err)
{
    kiln_pki_signer *signer = NULL;
    kiln_pki_name subject =
        subject_of(&cfg->ca, cfg->ca.common_name.text, cfg->ca.organizational_unit.text);
    int code = cfg->intermediate ? FCU_STATUS_CSR_CREATE : FCU_STATUS_CA_CERT_CREATE;
    kiln_pki_status st = kiln_pki_signer_from_pkey(key, &signer);
    if (st == KILN_PKI_OK && FCU_FAIL_POINT(code))
        st = KILN_PKI_SIGNER_FAILED;
    if (st == KILN_PKI_OK && cfg->intermediate) {
        st = kiln_pki_ca_csr(signer, &subject, der, len);
    } else if (st == KILN_PKI_OK) {
        time_t now = time(NULL);
        kiln_pki_ca_request req = {subject, now - BACKDATE_SECONDS,
                                   add_years(now, CA_VALIDITY_YEARS), true};
        st = kiln_pki_self_signed_ca(signer, &req, der, len);
    }
    kiln_pki_signer_free(signer);
    if (st == KILN_PKI_OK)
        return 0;
    return cfg->intermediate ? fcu__fail(err, code, "the CA") : fcu__fail(err, code);
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

typedef struct ca_paths {
    char *key, *cert, *csr;
} ca_paths;

static int write_failed(fcu_error *err, const char *path, int e)
{
    char detail[600];
    snprintf(detail, sizeof(detail), "cannot write %s: %s", path, strerror(e));
    return fcu__fail(err, FCU_STATUS_GENERAL, detail);
}

/* What setup may start from: nothing there unless override, a CN, the keystore directory. */
static int setup_check(const fcu_config *cfg, const char *keystore, const ca_paths *paths,
                       bool override, fcu_error *err)
{
    const char *files[] = {paths->key, paths->cert, paths->csr};
    struct stat st;
    for (size_t i = 0; !override && i < 3; i++)
        if (stat(files[i], &st) == 0)
            return fcu__fail(err, FCU_STATUS_FILE_EXISTS, files[i]);
    if (!cfg->ca.common_name.text)
        return fcu__config_invalid(cfg, "certificate-authority", &cfg->ca.common_name,
                                   "common-name is mandatory to set up the CA", err);
    int e = mkdir_p(keystore, 0700);
    if (e) {
        char detail[600];
        snprintf(detail, sizeof(detail), "cannot create keystore directory %s: %s", keystore,
                 strerror(e));
        return fcu__fail(err, FCU_STATUS_GENERAL, detail);
    }
    return 0;
}

/* Key, then the certificate or CSR; the other one goes (it would not match the new key). */
static int setup_write(const fcu_config *cfg, const ca_paths *paths, fcu_error *err)
{
    EVP_PKEY *key = FCU_FAIL_POINT(FCU_STATUS_CA_KEY_CREATE) ? NULL : fcu__p256_generate();
    uint8_t *der = NULL;
    size_t len = 0;
    int e, rc = key ? 0 : fcu__fail(err, FCU_STATUS_CA_KEY_CREATE);
    if (rc == 0)
        rc = ca_material_create(cfg, key, &der, &len, err);
    if (rc == 0 && (e = write_key_pem(paths->key, key)) != 0)
        rc = write_failed(err, paths->key, e);
    EVP_PKEY_free(key);
    if (rc == 0) {
        const char *path = cfg->intermediate ? paths->csr : paths->cert;
        unlink(cfg->intermediate ? paths->cert : paths->csr);
        e = write_der_pem(path, cfg->intermediate ? "CERTIFICATE REQUEST" : "CERTIFICATE", der, len,
                          0644);
        if (e)
            rc = write_failed(err, path, e);
    }
    free(der);
    return rc;
}

int fcu__setup(const fcu_config *cfg, const char *keystore, bool override, fcu_setup_status *out)
{
    fcu_error err = {0};
    ca_paths paths = {fcu__path_join(keystore, CA_KEY_FILE), fcu__path_join(keystore, CA_CERT_FILE),
                      fcu__path_join(keystore, CA_CSR_FILE)};
    if (!paths.key || !paths.cert || !paths.csr)
        fcu__fail(&err, FCU_STATUS_GENERAL, "out of memory");
    else if (setup_check(cfg, keystore, &paths, override, &err) == 0)
        setup_write(cfg, &paths, &err);
    free(paths.key);
    free(paths.cert);
    free(paths.csr);
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
