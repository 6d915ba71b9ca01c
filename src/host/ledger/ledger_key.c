#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kiln_ledger.h"

/* Writes a new P-256 key as PKCS#8 PEM to a file created with mode 0600 (never over an
 * existing one: two writers racing to create it keep the first). */
static kiln_ledger_status create_key(const char *path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    BIO *mem = BIO_new(BIO_s_mem());
    kiln_ledger_status st = KILN_LEDGER_KEY;
    if (key != NULL && mem != NULL &&
        PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) == 1) {
        char *pem;
        long len = BIO_get_mem_data(mem, &pem);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            bool written = write(fd, pem, (size_t)len) == (ssize_t)len;
            written = fsync(fd) == 0 && written;
            st = close(fd) == 0 && written ? KILN_LEDGER_OK : KILN_LEDGER_KEY;
            if (st != KILN_LEDGER_OK) {
                unlink(path);
            }
        } else if (errno == EEXIST) {
            st = KILN_LEDGER_OK;
        }
    }
    BIO_free_all(mem); /* BIO_s_mem clears its buffer on free (BIO_FLAGS_MEM_RDONLY unset) */
    EVP_PKEY_free(key);
    return st;
}

/* One DER item of tag at *p (short or one/two-byte long length); *p moves past it. */
static bool der_item(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **body,
                     size_t *len)
{
    const uint8_t *q = *p;
    if (end - q < 2 || q[0] != tag) {
        return false;
    }
    size_t n = q[1];
    q += 2;
    if (n == 0x81 || n == 0x82) {
        size_t bytes = n - 0x80;
        if ((size_t)(end - q) < bytes) {
            return false;
        }
        n = bytes == 1 ? q[0] : (size_t)q[0] << 8 | q[1];
        q += bytes;
    } else if (n > 0x7f) {
        return false;
    }
    if ((size_t)(end - q) < n) {
        return false;
    }
    *body = q;
    *len = n;
    *p = q + n;
    return true;
}

/* The body [*body, *end) of the one SEQUENCE that spans all of der, nothing after it. */
static bool der_whole_sequence(const uint8_t *der, size_t len, const uint8_t **body,
                               const uint8_t **end)
{
    const uint8_t *p = der, *seq;
    size_t seq_len;
    if (!der_item(&p, der + len, 0x30, &seq, &seq_len) || p != der + len) {
        return false;
    }
    *body = seq;
    *end = seq + seq_len;
    return true;
}

/* The private scalar and the public point of a P-256 ECPrivateKey (RFC 5915) that carries its
 * public key. */
static bool ec_private_key_fields(const uint8_t *der, size_t len, const uint8_t **scalar,
                                  const uint8_t **point)
{
    const uint8_t *p, *end, *item;
    size_t n;
    if (!der_whole_sequence(der, len, &p, &end)) {
        return false;
    }
    if (!der_item(&p, end, 0x02, &item, &n) || n != 1 || item[0] != 1 ||
        !der_item(&p, end, 0x04, scalar, &n) || n != 32) {
        return false;
    }
    if (p < end && p[0] == 0xa0 && !der_item(&p, end, 0xa0, &item, &n)) {
        return false; /* the curve, already named by the PKCS#8 algorithm */
    }
    const uint8_t *wrapped, *bits;
    size_t wrapped_len;
    if (!der_item(&p, end, 0xa1, &wrapped, &wrapped_len) || p != end ||
        !der_item(&wrapped, wrapped + wrapped_len, 0x03, &bits, &n) ||
        n != 1 + KILN_PKI_POINT_SIZE || bits[0] != 0) {
        return false;
    }
    *point = bits + 1;
    return true;
}

/* The ECPrivateKey inside a PKCS#8 PrivateKeyInfo (RFC 5208) of a P-256 key. */
static bool p256_pkcs8_inner(const uint8_t *der, size_t len, const uint8_t **inner,
                             size_t *inner_len)
{
    static const uint8_t algorithm[] = {
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
        0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}; /* id-ecPublicKey, prime256v1 */
    const uint8_t *p, *end, *item;
    size_t n;
    if (!der_whole_sequence(der, len, &p, &end)) {
        return false;
    }
    return der_item(&p, end, 0x02, &item, &n) && n == 1 && item[0] == 0 &&
           der_item(&p, end, 0x30, &item, &n) && n == sizeof(algorithm) &&
           memcmp(item, algorithm, n) == 0 && der_item(&p, end, 0x04, inner, inner_len) &&
           p == end; /* no attributes */
}

/* The key of a PKCS#8 P-256 private key (DER) whose ECPrivateKey carries the public point, as
 * create_key writes it; NULL otherwise. */
static EVP_PKEY *p256_of_pkcs8(const uint8_t *der, size_t len)
{
    const uint8_t *inner, *scalar, *point;
    size_t inner_len;
    BIGNUM *d = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    bool ok = p256_pkcs8_inner(der, len, &inner, &inner_len) &&
              ec_private_key_fields(inner, inner_len, &scalar, &point) &&
              (d = BN_secure_new()) != NULL && BN_bin2bn(scalar, 32, d) != NULL &&
              (bld = OSSL_PARAM_BLD_new()) != NULL &&
              OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
              OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) &&
              OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                               KILN_PKI_POINT_SIZE) &&
              (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
              (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
              EVP_PKEY_fromdata_init(ctx) == 1 &&
              EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) == 1;
    if (!ok) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* the scalar (a BN_secure_new) was in its cleared secure part */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    return key;
}

/* The signer of the ledger key file's text: create_key's form read directly (OpenSSL's
 * decoders, kiln_pki_signer_from_memory, set up a decoder chain first: 6.8M of the 7.25M
 * instructions opening the ledger took at every batch's start), any other through them. */
static kiln_pki_status signer_of_pem(const uint8_t *pem, size_t len, kiln_pki_signer **out)
{
    BIO *mem = BIO_new_mem_buf(pem, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    EVP_PKEY *key = NULL;
    if (mem != NULL && PEM_read_bio(mem, &name, &header, &der, &der_len) == 1 &&
        strcmp(name, PEM_STRING_PKCS8INF) == 0 && header[0] == '\0') {
        key = p256_of_pkcs8(der, (size_t)der_len);
    }
    OPENSSL_clear_free(der, der_len > 0 ? (size_t)der_len : 0);
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(mem);
    ERR_clear_error();
    if (key == NULL) {
        return kiln_pki_signer_from_memory(pem, len, out);
    }
    kiln_pki_status st = kiln_pki_signer_from_pkey(key, out);
    EVP_PKEY_free(key);
    return st;
}

/* Reads the key file as kiln_pki_signer_from_file does (16 KiB at most, no stdio buffer). */
static kiln_pki_status signer_of_file(const char *path, kiln_pki_signer **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return KILN_PKI_KEY_UNREADABLE;
    }
    uint8_t buf[16384 + 1];
    size_t len = 0;
    ssize_t n = 0;
    while (len < sizeof(buf) &&
           ((n = read(fd, buf + len, sizeof(buf) - len)) > 0 || (n < 0 && errno == EINTR))) {
        len += n > 0 ? (size_t)n : 0;
    }
    bool whole = n == 0 && len < sizeof(buf);
    close(fd);
    kiln_pki_status st = whole ? signer_of_pem(buf, len, out) : KILN_PKI_KEY_UNREADABLE;
    OPENSSL_cleanse(buf, sizeof(buf));
    return st;
}

kiln_ledger_status kiln_ledger_key_open(const char *path, kiln_pki_signer **out)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        kiln_ledger_status st = create_key(path);
        if (st != KILN_LEDGER_OK) {
            return st;
        }
    } else if ((sb.st_mode & 077) != 0) {
        return KILN_LEDGER_KEY; /* a key others can read is not the ledger's any more */
    }
    return signer_of_file(path, out) == KILN_PKI_OK ? KILN_LEDGER_OK : KILN_LEDGER_KEY;
}

static EVP_PKEY *key_of_point(const uint8_t point[KILN_PKI_POINT_SIZE])
{
    OSSL_PARAM params[3];
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
                                                  KILN_PKI_POINT_SIZE);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

char *kiln_ledger_pubkey_pem(const uint8_t point[KILN_PKI_POINT_SIZE])
{
    EVP_PKEY *key = key_of_point(point);
    BIO *mem = BIO_new(BIO_s_mem());
    char *pem = NULL;
    if (key != NULL && mem != NULL && PEM_write_bio_PUBKEY(mem, key) == 1) {
        char *data;
        long len = BIO_get_mem_data(mem, &data);
        pem = malloc((size_t)len + 1);
        if (pem != NULL) {
            memcpy(pem, data, (size_t)len);
            pem[len] = '\0';
        }
    }
    BIO_free_all(mem);
    EVP_PKEY_free(key);
    return pem;
}

static EVP_PKEY *parse_public(const uint8_t *data, size_t len)
{
    BIO *mem = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *key = mem ? PEM_read_bio_PUBKEY(mem, NULL, NULL, NULL) : NULL;
    BIO_free(mem);
    if (key == NULL) {
        const unsigned char *p = data;
        key = d2i_PUBKEY(NULL, &p, (long)len);
    }
    return key;
}

kiln_ledger_status kiln_ledger_pubkey_parse(const uint8_t *data, size_t len,
                                            uint8_t point[KILN_PKI_POINT_SIZE])
{
    if (len > INT32_MAX) {
        return KILN_LEDGER_KEY;
    }
    EVP_PKEY *key = parse_public(data, len);
    if (key == NULL) {
        key = kiln_pki_private_key_parse(data, len);
    }
    kiln_ledger_status st = key != NULL && kiln_pki_key_point(key, point) == KILN_PKI_OK
                                ? KILN_LEDGER_OK
                                : KILN_LEDGER_KEY;
    EVP_PKEY_free(key);
    return st;
}

bool kiln_ledger_sig_verify(const uint8_t point[KILN_PKI_POINT_SIZE],
                            const uint8_t digest[KILN_PKI_DIGEST_SIZE], const uint8_t *sig,
                            size_t sig_len)
{
    EVP_PKEY *key = key_of_point(point);
    EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
    bool ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_verify(ctx, sig, sig_len, digest, KILN_PKI_DIGEST_SIZE) == 1;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}
