#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
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
    return kiln_pki_signer_from_file(path, out) == KILN_PKI_OK ? KILN_LEDGER_OK : KILN_LEDGER_KEY;
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
