/* kiln_pki: status texts, and reading keys, certificates and CSRs. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "kiln_pki.h"
#include "kiln_status_table.h"

const char *kiln_pki_status_name(int status)
{
    return kiln_status_table_name(&status_table_pki, status);
}

const char *kiln_pki_strerror(int status)
{
    return kiln_status_table_text(&status_table_pki, status);
}

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

/* A P-256 key, which every kiln key is, through the EC decoders alone: OpenSSL's generic
 * decoding builds a chain over every key type and costs about 4x as much (~1.1-1.6 ms of each
 * command's start-up for the CA and ledger keys). NULL when it is not an EC key pair. */
static EVP_PKEY *ec_key_parse(const char *input, const uint8_t *data, size_t len)
{
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *d =
        OSSL_DECODER_CTX_new_for_pkey(&key, input, NULL, "EC", EVP_PKEY_KEYPAIR, NULL, NULL);
    const unsigned char *p = data;
    size_t left = len;
    bool ok = d != NULL && OSSL_DECODER_CTX_set_pem_password_cb(d, no_password, NULL) == 1 &&
              OSSL_DECODER_from_data(d, &p, &left) == 1 && key != NULL &&
              (strcmp(input, "PEM") == 0 || left == 0);
    OSSL_DECODER_CTX_free(d);
    if (!ok) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

EVP_PKEY *kiln_pki_private_key_parse(const uint8_t *data, size_t len)
{
    EVP_PKEY *key = NULL;
    if (len > INT32_MAX)
        return NULL;
    key = ec_key_parse(looks_like_pem(data, len) ? "PEM" : "DER", data, len);
    if (key != NULL) {
        ERR_clear_error();
        return key;
    }
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

static void pem_certs(const uint8_t *data, size_t len, STACK_OF(X509) * certs)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509 *c;
    while (bio && (c = PEM_read_bio_X509(bio, NULL, no_password, NULL)) != NULL) {
        if (!sk_X509_push(certs, c)) {
            X509_free(c);
            break;
        }
    }
    BIO_free(bio);
}

STACK_OF(X509) * kiln_pki_certs_parse(const uint8_t *data, size_t len)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs && len <= INT32_MAX && looks_like_pem(data, len)) {
        pem_certs(data, len, certs);
    } else if (certs && len <= INT32_MAX) {
        const unsigned char *p = data;
        X509 *c = d2i_X509(NULL, &p, (long)len);
        if (!c || p != data + len || !sk_X509_push(certs, c))
            X509_free(c);
    }
    ERR_clear_error();
    if (sk_X509_num(certs) > 0)
        return certs;
    sk_X509_pop_free(certs, X509_free);
    return NULL;
}

kiln_pki_status kiln_pki_key_point(EVP_PKEY *key, uint8_t point[KILN_PKI_POINT_SIZE])
{
    size_t len = 0;
    char group[32];
    int ok = key && EVP_PKEY_is_a(key, "EC") &&
             EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL) &&
             (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) &&
             EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                             KILN_PKI_POINT_SIZE, &len) &&
             len == KILN_PKI_POINT_SIZE && point[0] == 0x04;
    ERR_clear_error();
    return ok ? KILN_PKI_OK : KILN_PKI_KEY_UNSUPPORTED;
}

kiln_pki_status kiln_pki_csr_point(const uint8_t *der, size_t der_len,
                                   uint8_t point[KILN_PKI_POINT_SIZE])
{
    const unsigned char *p = der;
    X509_REQ *req = der_len <= INT32_MAX ? d2i_X509_REQ(NULL, &p, (long)der_len) : NULL;
    EVP_PKEY *pub = req && p == der + der_len ? X509_REQ_get0_pubkey(req) : NULL;
    kiln_pki_status st = KILN_PKI_CSR_INVALID;
    if (pub && X509_REQ_verify(req, pub) == 1)
        st = kiln_pki_key_point(pub, point);
    X509_REQ_free(req);
    ERR_clear_error();
    return st;
}
