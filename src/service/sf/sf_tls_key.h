/* Secure factory service: the TLS server key in a PKCS#11 token.
 *
 * libmicrohttpd takes a server key as PEM in memory; a token key cannot be given that way. The
 * daemon gets a GnuTLS certificate callback instead (MHD_OPTION_HTTPS_CERT_CALLBACK) that
 * answers every handshake with tls.pem's chain and an external GnuTLS private key
 * (gnutls_privkey_import_ext4) whose signatures are made by the kiln_pki PKCS#11 signer, so
 * the token is reached the same way as for the other service keys (one module load, one login,
 * a session per signing thread; PIN from pin-source / pin-value / KILN_PKCS11_PIN). The key
 * signs ECDSA P-256 with SHA-256 only; the client certificate check is unchanged (the daemon's
 * trust, MHD_OPTION_HTTPS_MEM_TRUST). The callback has no user pointer: one token TLS key per
 * process. */
#ifndef KILN_SF_TLS_KEY_H
#define KILN_SF_TLS_KEY_H

#include "sf_msg.h"

typedef struct sf_tls_key sf_tls_key;

/** Opens the key uri names for the certificate chain cert_pem (leaf first) and makes it the
 *  process's TLS key. SF_CONFIG when the token refuses (reported on stderr), the certificate
 *  does not parse or is not the key's, or another token TLS key is open. */
sf_status sf_tls_key_open(const char *uri, const char *cert_pem, sf_tls_key **out);
/** The gnutls_certificate_retrieve_function2 for MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *sf_tls_key_callback(void);
/** Closes the key (after the daemon stopped). */
void sf_tls_key_free(sf_tls_key *key);

#endif
