#define _XOPEN_SOURCE 700
#include "fcu_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

char *fx_path(const char *home, const char *rel)
{
    size_t n = strlen(home) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", home, rel);
    return p;
}

static int mkdirs_for(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                free(copy);
                return -1;
            }
            *p = '/';
        }
    }
    free(copy);
    return 0;
}

int fx_write(const char *home, const char *rel, const void *data, size_t len)
{
    char *p = fx_path(home, rel);
    if (!p || mkdirs_for(p) != 0) {
        free(p);
        return -1;
    }
    FILE *f = fopen(p, "wb");
    free(p);
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *fx_read_text(const char *home, const char *rel)
{
    char *p = fx_path(home, rel);
    FILE *f = p ? fopen(p, "rb") : NULL;
    free(p);
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

static int copy_file(const char *from, const char *home, const char *rel)
{
    FILE *f = fopen(from, "rb");
    if (!f)
        return -1;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return fx_write(home, rel, buf, n);
}

char *fx_home_create(const char *base_yml, const char *pki_dir)
{
    char tmpl[] = "/tmp/kiln-fcu-test-XXXXXX";
    if (!mkdtemp(tmpl))
        return NULL;
    char *home = strdup(tmpl);
    char src[1024];
    int ok = home != NULL;
    if (ok)
        ok = copy_file(base_yml, home, "config/fcu.yml") == 0;
    snprintf(src, sizeof(src), "%s/test-bootstrap-server-ca.pem", pki_dir);
    ok = ok && copy_file(src, home, "resources/bootstrap_server_ca_cert.pem") == 0;
    snprintf(src, sizeof(src), "%s/test-lwm2m-server-ca.pem", pki_dir);
    ok = ok && copy_file(src, home, "resources/lwm2m_server_ca_cert.pem") == 0;
    snprintf(src, sizeof(src), "%s/test-update-authority.pem", pki_dir);
    ok = ok && copy_file(src, home, "resources/update.pem") == 0;
    if (!ok) {
        if (home)
            fx_rm_rf(home);
        free(home);
        return NULL;
    }
    return home;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fx_rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

EVP_PKEY *fx_p256(void)
{
    return EVP_EC_gen("P-256");
}

X509 *fx_cert(EVP_PKEY *pub, const char *cn, const char *ou, bool is_ca, X509 *issuer,
              EVP_PKEY *issuer_key, int valid_years)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const unsigned char *)"FI", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"kiln test", -1, -1,
                               0);
    if (ou)
        X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_version(x, 2);
    unsigned char serial[8];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_gmtime_adj(X509_getm_notBefore(x), -7200);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)valid_years * 366 * 86400);
    X509_set_pubkey(x, pub);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"basicConstraints", is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
                             {"keyUsage", is_ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                                                : "critical,digitalSignature"},
                             {"extendedKeyUsage", is_ca ? NULL : "clientAuth"},
                             {"subjectKeyIdentifier", "hash"},
                             {"authorityKeyIdentifier", "keyid"}};
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (!exts[i][1])
            continue;
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
        if (e) {
            X509_add_ext(x, e, -1);
            X509_EXTENSION_free(e);
        }
    }
    X509_sign(x, issuer_key ? issuer_key : pub, EVP_sha256());
    X509_NAME_free(name);
    return x;
}

int fx_write_key_pem(const char *path, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return ok ? 0 : -1;
}

int fx_write_certs_pem(const char *path, X509 **certs, int n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok = ok && PEM_write_X509(f, certs[i]);
    fclose(f);
    return ok ? 0 : -1;
}

int fx_load_ca(const char *home, X509 **cert, EVP_PKEY **key)
{
    char *cp = fx_path(home, "keystore/fcu.crt");
    char *kp = fx_path(home, "keystore/fcu_key.pem");
    FILE *cf = fopen(cp, "r"), *kf = fopen(kp, "r");
    *cert = cf ? PEM_read_X509(cf, NULL, NULL, NULL) : NULL;
    *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    if (cf)
        fclose(cf);
    if (kf)
        fclose(kf);
    free(cp);
    free(kp);
    return (*cert && *key) ? 0 : -1;
}

int fx_devcreds(const char *home, const char *dir, const char *cn)
{
    X509 *ca;
    EVP_PKEY *ca_key;
    if (fx_load_ca(home, &ca, &ca_key) != 0)
        return -1;
    EVP_PKEY *key = fx_p256();
    X509 *cert = fx_cert(key, cn, NULL, false, ca, ca_key, 20);
    char rel[512];
    snprintf(rel, sizeof(rel), "%s/placeholder", dir);
    fx_write(home, rel, "", 0);
    snprintf(rel, sizeof(rel), "%s/placeholder", dir);
    char *ph = fx_path(home, rel);
    unlink(ph);
    free(ph);
    snprintf(rel, sizeof(rel), "%s/device.key", dir);
    char *kp = fx_path(home, rel);
    snprintf(rel, sizeof(rel), "%s/device.crt", dir);
    char *cp = fx_path(home, rel);
    int rc = fx_write_key_pem(kp, key) | fx_write_certs_pem(cp, &cert, 1);
    free(kp);
    free(cp);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

int fx_chainca(const char *home)
{
    EVP_PKEY *root_key = fx_p256(), *inter_key = fx_p256();
    X509 *root = fx_cert(root_key, "kiln test root", NULL, true, NULL, NULL, 40);
    X509 *inter = fx_cert(inter_key, "kiln test intermediate", NULL, true, root, root_key, 35);
    X509 *chain[2] = {inter, root};
    fx_write(home, "keystore/fcu.crt", "", 0);
    char *cp = fx_path(home, "keystore/fcu.crt");
    char *kp = fx_path(home, "keystore/fcu_key.pem");
    int rc = fx_write_certs_pem(cp, chain, 2) | fx_write_key_pem(kp, inter_key);
    chmod(kp, 0600);
    free(cp);
    free(kp);
    X509_free(root);
    X509_free(inter);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(inter_key);
    return rc;
}

int fx_csr(EVP_PKEY *key, const char *cn, bool corrupt_signature, uint8_t **der, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, key);
    X509_REQ_sign(req, key, EVP_sha256());
    X509_NAME_free(name);
    unsigned char *out = NULL;
    int n = i2d_X509_REQ(req, &out);
    X509_REQ_free(req);
    if (n <= 0)
        return -1;
    if (corrupt_signature)
        out[n - 5] ^= 0x01; /* inside the ECDSA signature's S value */
    *der = out;
    *len = (size_t)n;
    return 0;
}

size_t fx_unescape(char *s)
{
    size_t r = 0, w = 0;
    while (s[r]) {
        if (s[r] == '\\' && s[r + 1] == 'n') {
            s[w++] = '\n';
            r += 2;
        } else if (s[r] == '\\' && s[r + 1] == '\\') {
            s[w++] = '\\';
            r += 2;
        } else if (s[r] == '\\' && s[r + 1] == 'x' && s[r + 2] && s[r + 3]) {
            char hex[3] = {s[r + 2], s[r + 3], 0};
            s[w++] = (char)strtoul(hex, NULL, 16);
            r += 4;
        } else {
            s[w++] = s[r++];
        }
    }
    s[w] = 0;
    return w;
}
