/* Secure factory service: the cryptography of the protocol and of the certificates it issues,
 * on OpenSSL 3. Every buffer that held a secret is cleansed before it is released. */
#ifndef KILN_SF_CRYPTO_H
#define KILN_SF_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kiln_pki.h"
#include "sf_msg.h"

/** New P-256 key pair. */
sf_status sfc_generate_key(EVP_PKEY **out);
/** Uncompressed point (65 bytes) of a P-256 key. */
sf_status sfc_key_to_point(EVP_PKEY *key, uint8_t point[SF_POINT_SIZE]);
/** Public P-256 key from an uncompressed point; SF_MESSAGE_MALFORMED if not on the curve. */
sf_status sfc_point_to_key(const uint8_t point[SF_POINT_SIZE], EVP_PKEY **out);
/** ECDSA-SHA256 over a 32-byte hash by a signer (file or token key), raw r||s output. */
sf_status sfc_sign_hash(const kiln_pki_signer *key, const uint8_t hash[SF_HASH_SIZE],
                        uint8_t sig[SF_SIG_SIZE]);
/** Reports a token failure on stderr: the numbered error SF_CONFIG, the key URI without its
 *  pin-value and the PKI reason; returns SF_CONFIG. */
sf_status sfc_token_error(const char *uri, int pki_status);
/** The signer of a key reference: a pkcs11: URI (kiln_pki_signer_from_uri) or a key file;
 *  SF_CONFIG when it cannot be read or reached (for a URI, reported by sfc_token_error). */
sf_status sfc_key_signer(const char *ref, kiln_pki_signer **out);
/** SF_OK when sig (raw r||s) verifies over hash. */
sf_status sfc_verify_hash(EVP_PKEY *key, const uint8_t hash[SF_HASH_SIZE],
                          const uint8_t sig[SF_SIG_SIZE]);
/** ECDH shared secret (x coordinate, 32 bytes). peer must come from sfc_point_to_key (or be
 *  trusted): it is not validated again here. */
sf_status sfc_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t secret[SF_SCALAR_SIZE]);
/** HKDF-SHA256. */
sf_status sfc_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                   const char *info, uint8_t *okm, size_t okm_len);
/** AES-256-GCM encryption; ct has pt_len bytes. */
sf_status sfc_gcm_encrypt(const uint8_t key[32], const uint8_t iv[SF_GCM_IV_SIZE],
                          const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                          uint8_t *ct, uint8_t tag[SF_TAG_SIZE]);
sf_status sfc_gcm_decrypt(const uint8_t key[32], const uint8_t iv[SF_GCM_IV_SIZE],
                          const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                          const uint8_t tag[SF_TAG_SIZE], uint8_t *pt);
sf_status sfc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                          uint8_t out[SF_HASH_SIZE]);
/** SHA-256 of label | 0x00 | a | b | c (NULL parts skipped). */
void sfc_labelled_hash(const char *label, const uint8_t *a, size_t a_len, const uint8_t *b,
                       size_t b_len, const uint8_t *c, size_t c_len, uint8_t out[SF_HASH_SIZE]);
sf_status sfc_random(uint8_t *buf, size_t len);

/* The service's certificates, written by the one issuer (kiln_pki): CN-only subjects, valid
 * from an hour back for years of 365.25 days. */
/** Self-signed CA certificate (basicConstraints CA, keyCertSign|cRLSign, no authority key id). */
sf_status sfc_ca_certificate(const kiln_pki_signer *signer, const char *cn, int years, X509 **out);
/** An issuing CA over a signer (taken, freed also on failure). */
sf_status sfc_issuer_open(kiln_pki_signer *signer, X509 *ca_cert, kiln_pki_ca **out);
/** An issuing CA over a key reference (sfc_key_signer; SF_CONFIG when it cannot be read). */
sf_status sfc_issuer_load(const char *key_ref, X509 *ca_cert, kiln_pki_ca **out);
/** Leaf certificate for subject_key: KILN_PKI_USAGE_CLIENT (devices, stations) or _SERVER (the
 *  service's TLS, SAN from san_list "DNS:a,IP:b"). */
sf_status sfc_leaf_certificate(const kiln_pki_ca *issuer, EVP_PKEY *subject_key, const char *cn,
                               kiln_pki_usage usage, const char *san_list, int years, X509 **out);
/** The same certificate for a public point, as DER (caller frees with free): what the service
 *  stores and sends, without parsing it back into an X509 (OpenSSL decodes the key again). */
sf_status sfc_leaf_der(const kiln_pki_ca *issuer, const uint8_t point[SF_POINT_SIZE],
                       const char *cn, kiln_pki_usage usage, const char *san_list, int years,
                       uint8_t **der, size_t *der_len);
/** DER of a certificate (caller frees with OPENSSL_free). */
sf_status sfc_cert_der(X509 *cert, uint8_t **der, size_t *der_len);
/** SHA-1 fingerprint of the DER as 40 lower-case hex digits. */
void sfc_sha1_hex(const uint8_t *der, size_t len, char out[41]);
/** SHA-256 as 64 lower-case hex digits. */
void sfc_sha256_hex(const uint8_t *data, size_t len, char out[65]);

/* PEM files. Private keys are written with mode 0600. */
sf_status sfc_write_key(const char *path, EVP_PKEY *key);
sf_status sfc_write_cert(const char *path, X509 *cert);
sf_status sfc_read_key(const char *path, EVP_PKEY **out);
sf_status sfc_read_cert(const char *path, X509 **out);
/** Reads a whole file into a NUL-terminated heap buffer. */
sf_status sfc_read_file(const char *path, char **out, size_t *len);
/** PEM text of a key or certificate (heap, NUL-terminated). */
char *sfc_key_pem(EVP_PKEY *key);
char *sfc_pubkey_pem(EVP_PKEY *key);
char *sfc_cert_pem(X509 *cert);

#endif
