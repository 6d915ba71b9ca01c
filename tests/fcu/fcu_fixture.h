/* Test fixtures for the FCU tests: a temporary FCU home with configuration and resources,
 * and small OpenSSL helpers to make CAs, device credentials and CSRs independently of the
 * library under test. */
#ifndef KILN_TEST_FCU_FIXTURE_H
#define KILN_TEST_FCU_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/** Creates a fresh home: config/fcu.yml (copy of base_yml), resources/ with the test PKI's
 *  server CA certificates and update authority. Returns a malloc'ed path or NULL. */
char *fx_home_create(const char *base_yml, const char *pki_dir);
void fx_rm_rf(const char *path);
int fx_write(const char *home, const char *rel, const void *data, size_t len);
char *fx_read_text(const char *home, const char *rel);
char *fx_path(const char *home, const char *rel);

EVP_PKEY *fx_p256(void);
/** Certificate for pub with subject "CN=cn[,O=org][,C=country]" signed by issuer (NULL:
 *  self-signed with key). */
X509 *fx_cert(EVP_PKEY *pub, const char *cn, const char *ou, bool is_ca, X509 *issuer,
              EVP_PKEY *issuer_key, int valid_years);
int fx_write_key_pem(const char *path, EVP_PKEY *key);
int fx_write_certs_pem(const char *path, X509 **certs, int n);
/** Loads keystore/fcu.crt (first cert) and keystore/fcu_key.pem of home. */
int fx_load_ca(const char *home, X509 **cert, EVP_PKEY **key);
/** Writes dir/device.key and dir/device.crt (CN = cn, signed by the home's CA). */
int fx_devcreds(const char *home, const char *dir, const char *cn);
/** Replaces the keystore with an intermediate CA: fcu.crt = intermediate + root. */
int fx_chainca(const char *home);
/** DER CSR of key with subject CN=cn; corrupt_signature flips a signature bit. */
int fx_csr(EVP_PKEY *key, const char *cn, bool corrupt_signature, uint8_t **der, size_t *len);

/** Decodes "\n", "\\" and "\xNN" escapes in place; returns the new length. */
size_t fx_unescape(char *s);

#endif
