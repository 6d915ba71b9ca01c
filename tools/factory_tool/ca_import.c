/* factory_tool ca import-cert CERT [--chain FILE]: installs the customer-signed intermediate CA
 * certificate and its chain as KEYSTORE/fcu.crt after checking that it carries the CA key's
 * public key (from fcu_key.pem, else the setup CSR fcu.csr, which a token key also has), that
 * it is a CA, and that the chain links up to a self-signed root. Nothing changes otherwise. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ca_import.h"
#include "fcu/fcu.h"
#include "kiln/status_fcu.def"

char *ca_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The CA key's public half: fcu_key.pem, else the CSR of setup. */
static EVP_PKEY *ca_public_key(const char *ks)
{
    char *kp = ca_path_join(ks, "fcu_key.pem"), *cp = ca_path_join(ks, "fcu.csr");
    FILE *fp = kp ? fopen(kp, "r") : NULL;
    EVP_PKEY *k = fp ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;
    if (fp)
        fclose(fp);
    if (!k && cp && (fp = fopen(cp, "r")) != NULL) {
        X509_REQ *req = PEM_read_X509_REQ(fp, NULL, NULL, NULL);
        fclose(fp);
        k = req ? X509_REQ_get_pubkey(req) : NULL;
        X509_REQ_free(req);
    }
    free(kp);
    free(cp);
    return k;
}

static STACK_OF(X509) * read_certs(const char *path)
{
    BIO *b = path ? BIO_new_file(path, "r") : NULL;
    STACK_OF(X509) *sk = b ? sk_X509_new_null() : NULL;
    X509 *x;
    while (sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x))
            X509_free(x);
    BIO_free(b);
    if (sk && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

/* The chain's self-signed certificates are trusted, the others untrusted intermediates. */
static int chain_links(X509 *cert, STACK_OF(X509) * chain, char *why, size_t cap)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int ok = st && ctx && untrusted;
    for (int i = 0; ok && i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        ok = X509_check_issued(c, c) == X509_V_OK ? X509_STORE_add_cert(st, c) == 1
                                                  : sk_X509_push(untrusted, c) > 0;
    }
    if (X509_check_issued(cert, cert) == X509_V_OK && ok)
        ok = X509_STORE_add_cert(st, cert) == 1;
    ok = ok && X509_STORE_CTX_init(ctx, st, cert, untrusted) == 1;
    int v = ok ? X509_verify_cert(ctx) : 0;
    if (v != 1)
        snprintf(why, cap, "%s",
                 ok ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)) : "no memory");
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_free(untrusted);
    return v == 1 ? 0 : -1;
}

static int write_pem(const char *path, X509 *cert, STACK_OF(X509) * chain)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    BIO *b = BIO_new_file(tmp, "w");
    int ok = b && PEM_write_bio_X509(b, cert) == 1;
    for (int i = 0; ok && chain && i < sk_X509_num(chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(chain, i)) == 1;
    ok = b && BIO_flush(b) == 1 && ok;
    BIO_free(b);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

static int check_cert(const char *ks, X509 *cert, STACK_OF(X509) * chain, const char *cert_path,
                      char *why, size_t cap)
{
    EVP_PKEY *k = ca_public_key(ks);
    int rc = 0;
    if (!k) {
        snprintf(why, cap, "No CA key or setup CSR in %s", ks);
        rc = FCU_STATUS_CA_NO_CSR;
    } else if (EVP_PKEY_eq(k, X509_get0_pubkey(cert)) != 1) {
        snprintf(why, cap, "Certificate %s does not carry the CA key", cert_path);
        rc = FCU_STATUS_CA_CERT_MISMATCH;
    } else if (X509_check_ca(cert) < 1) {
        snprintf(why, cap, "Certificate %s is not a CA certificate", cert_path);
        rc = FCU_STATUS_CA_NOT_CA;
    } else {
        char v[300];
        if (chain_links(cert, chain, v, sizeof(v)) != 0) {
            snprintf(why, cap, "Certificate chain of %s does not link: %s", cert_path, v);
            rc = FCU_STATUS_CA_CHAIN_BROKEN;
        }
    }
    EVP_PKEY_free(k);
    return rc;
}

int ca_import_cert(const char *ks, const char *cert_path, const char *chain_path, char *why,
                   size_t cap)
{
    STACK_OF(X509) *certs = read_certs(cert_path);
    STACK_OF(X509) *chain = chain_path ? read_certs(chain_path) : sk_X509_new_null();
    int rc;
    if (!certs || !chain) {
        snprintf(why, cap, "%s is not an X.509 certificate or not formatted in Pem or Der",
                 !certs ? cert_path : chain_path);
        rc = FCU_STATUS_NOT_X509;
    } else {
        rc = check_cert(ks, sk_X509_value(certs, 0), chain, cert_path, why, cap);
        char *out = rc == 0 ? ca_path_join(ks, "fcu.crt") : NULL;
        if (rc == 0 && (!out || write_pem(out, sk_X509_value(certs, 0), chain) != 0)) {
            snprintf(why, cap, "Could not write %s", out ? out : ks);
            rc = FCU_STATUS_CA_OUTPUT;
        }
        free(out);
    }
    sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}
