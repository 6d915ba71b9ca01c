/* kiln_pki: the one certificate issuer of the host side (configurator and secure-factory
 * service). It writes X.509 certificates and CSRs directly in DER and has them signed by a
 * *signer*: an object that signs a SHA-256 digest with an ECDSA P-256 key and gives that key's
 * public point. Callers never hold the CA's private key, only a signer, so a key kept in an HSM
 * plugs in by implementing kiln_pki_signer_ops.
 *
 * Every certificate is version 3, has a random positive 16-byte serial and is signed with
 * ecdsa-with-SHA256. Subject fields are encoded C as PrintableString and the others as
 * UTF8String, in the order C, ST, L, O, OU, CN; empty or NULL fields are left out. Output DER is
 * malloc'ed and released with free(). */
#ifndef KILN_PKI_H
#define KILN_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define KILN_PKI_POINT_SIZE  65 /* uncompressed SEC1 P-256 point, 0x04 || X || Y */
#define KILN_PKI_DIGEST_SIZE 32 /* SHA-256 */
#define KILN_PKI_SIG_MAX     72 /* DER ECDSA-Sig-Value of P-256 */
#define KILN_PKI_SHA1_SIZE   20

/* The statuses (include/kiln/status_pki.def); as a kiln_status, 8000 + code
 * (kiln_status_from(KILN_MODULE_PKI, code)). 0 is success. */
#include "kiln/status_pki.def"

typedef enum kiln_pki_status { KILN_PKI_STATUS_MAP(KILN_PKI_STATUS_ENUMERATOR) } kiln_pki_status;

/** "OK", "SIGNER_FAILED", ...; "UNKNOWN" for other numbers. */
const char *kiln_pki_status_name(int status);
/** The text of the status, for error messages. */
const char *kiln_pki_strerror(int status);

/* ---- signers ---- */

typedef struct kiln_pki_signer kiln_pki_signer;

/** What a key store implements. sign_digest may be called from several threads at once. */
typedef struct kiln_pki_signer_ops {
    /** Where the key lives, for status output ("file", "pkcs11", ...). */
    const char *kind;
    /** ECDSA P-256 signature over a SHA-256 digest as a DER ECDSA-Sig-Value. */
    kiln_pki_status (*sign_digest)(void *impl, const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                   uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len);
    /** Releases impl (and wipes what it holds). */
    void (*release)(void *impl);
} kiln_pki_signer_ops;

/** A signer over an implementation; takes impl (released by ops->release, also on failure). */
kiln_pki_status kiln_pki_signer_new(const kiln_pki_signer_ops *ops, void *impl,
                                    const uint8_t point[KILN_PKI_POINT_SIZE],
                                    kiln_pki_signer **out);
/** A signer over an OpenSSL P-256 private key (takes its own reference to key). */
kiln_pki_status kiln_pki_signer_from_pkey(EVP_PKEY *key, kiln_pki_signer **out);
/** A signer over a PEM or DER private key in memory (never prompts for a password). */
kiln_pki_status kiln_pki_signer_from_memory(const uint8_t *data, size_t len, kiln_pki_signer **out);
/** Same from a file. */
kiln_pki_status kiln_pki_signer_from_file(const char *path, kiln_pki_signer **out);
/** The signer's public key (65 bytes, valid as long as the signer). */
const uint8_t *kiln_pki_signer_point(const kiln_pki_signer *signer);
const char *kiln_pki_signer_kind(const kiln_pki_signer *signer);
kiln_pki_status kiln_pki_signer_sign_digest(const kiln_pki_signer *signer,
                                            const uint8_t digest[KILN_PKI_DIGEST_SIZE],
                                            uint8_t sig[KILN_PKI_SIG_MAX], size_t *sig_len);
void kiln_pki_signer_free(kiln_pki_signer *signer);
/* PKCS#11 keys, named by RFC 7512 URIs:
 *   pkcs11:token=LABEL;object=LABEL[;id=%HEX][;type=private]
 *          [?module-path=/abs/module.so][&pin-source=file:/abs/path | &pin-value=PIN]
 * Without module-path the module is $KILN_PKCS11_MODULE; without a PIN attribute the PIN is
 * $KILN_PKCS11_PIN (none: no login). Any other token/slot attribute of RFC 7512 narrows the
 * token; unknown attributes, module-name, a class other than private and a missing object are
 * PKCS11_URI_INVALID. The public key is the CKO_PUBLIC_KEY object of the same label (and id).
 * The PIN is never kept after login and never in a status or an error text. */

/** A signer over the private key the URI names; sign_digest uses CKM_ECDSA in the token. */
kiln_pki_status kiln_pki_signer_from_uri(const char *uri, kiln_pki_signer **out);
/** Generates a P-256 key pair in the token (private: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 *  not CKA_EXTRACTABLE) labelled by the URI's object (and id), then opens it as above.
 *  PKCS11_KEY_EXISTS when a key of that label is already there. */
kiln_pki_status kiln_pki_signer_generate_in_token(const char *uri, kiln_pki_signer **out);
/* Secret keys: a URI as above whose class, if given, is secret-key (type=secret-key). The token
 * keeps a 32-byte CKK_GENERIC_SECRET (CKA_SENSITIVE, not CKA_EXTRACTABLE, HMAC only) and kiln
 * only ever sees HMAC-SHA256 values under it (CKM_SHA256_HMAC): a key derived for one purpose
 * from a label, e.g. the service's database wrap key. */
#define KILN_PKI_SECRET_SIZE 32
/** HMAC-SHA256 of msg under the secret key the URI names (PKCS11_SECRET_NOT_FOUND without). */
kiln_pki_status kiln_pki_token_secret_hmac(const char *uri, const uint8_t *msg, size_t msg_len,
                                           uint8_t out[KILN_PKI_SECRET_SIZE]);
/** Generates that secret in the token (PKCS11_KEY_EXISTS when one of the label is there), then
 *  the HMAC of msg as above. */
kiln_pki_status kiln_pki_token_secret_generate(const char *uri, const uint8_t *msg, size_t msg_len,
                                               uint8_t out[KILN_PKI_SECRET_SIZE]);
/** True for a text that is meant as a key URI ("pkcs11:..."), as opposed to a file path. */
bool kiln_pki_is_key_uri(const char *text);
/** The URI without its pin-value, for messages (truncated to size). */
void kiln_pki_uri_redact(const char *uri, char *out, size_t size);

/** SHA-256 / SHA-1 of data with digests fetched once per process (thread-safe): the one-shot
 * SHA256() looks the algorithm up on every call. False only when OpenSSL has no such digest. */
bool kiln_pki_sha256(const void *data, size_t len, uint8_t out[KILN_PKI_DIGEST_SIZE]);
bool kiln_pki_sha1(const void *data, size_t len, uint8_t out[KILN_PKI_SHA1_SIZE]);

/** The DER ECDSA-Sig-Value of a raw r || s (32 bytes each, the form PKCS#11's CKM_ECDSA gives). */
kiln_pki_status kiln_pki_sig_from_raw(const uint8_t rs[64], uint8_t sig[KILN_PKI_SIG_MAX],
                                      size_t *sig_len);

/* ---- certificates ---- */

typedef struct kiln_pki_name {
    const char *country, *state, *locality, *organization, *organizational_unit, *common_name;
} kiln_pki_name;

/** A self-signed CA: basicConstraints critical CA:TRUE, keyUsage critical digitalSignature,
 *  keyCertSign, cRLSign, subjectKeyIdentifier (SHA-1 of the key) and, when
 *  authority_key_id, an authorityKeyIdentifier equal to it. */
typedef struct kiln_pki_ca_request {
    kiln_pki_name subject;
    time_t not_before, not_after;
    bool authority_key_id;
} kiln_pki_ca_request;

kiln_pki_status kiln_pki_self_signed_ca(const kiln_pki_signer *signer,
                                        const kiln_pki_ca_request *req, uint8_t **der,
                                        size_t *der_len);

/** A CSR for an intermediate CA: PKCS#10 version 1 asking for basicConstraints critical
 *  CA:TRUE, signed by the signer. */
kiln_pki_status kiln_pki_ca_csr(const kiln_pki_signer *signer, const kiln_pki_name *subject,
                                uint8_t **der, size_t *der_len);

/** An issuing CA: its certificate and the signer of its key. */
typedef struct kiln_pki_ca kiln_pki_ca;

/** Opens an issuing CA; takes signer (freed also on failure). Fails with CA_KEY_MISMATCH when
 *  cert_der's public key is not the signer's. */
kiln_pki_status kiln_pki_ca_open(kiln_pki_signer *signer, const uint8_t *cert_der,
                                 size_t cert_der_len, kiln_pki_ca **out);
const kiln_pki_signer *kiln_pki_ca_signer(const kiln_pki_ca *ca);
void kiln_pki_ca_free(kiln_pki_ca *ca);

typedef enum kiln_pki_usage {
    KILN_PKI_USAGE_CLIENT, /* extendedKeyUsage clientAuth: devices, stations */
    KILN_PKI_USAGE_SERVER  /* extendedKeyUsage serverAuth: TLS servers */
} kiln_pki_usage;

/** A leaf (end-entity) certificate: basicConstraints critical CA:FALSE, keyUsage critical
 *  digitalSignature, extendedKeyUsage by usage, subjectKeyIdentifier, authorityKeyIdentifier
 *  (the CA's key id) and, when subject_alt_names is given ("DNS:a,IP:b" as in OpenSSL
 *  configuration), subjectAltName, in that order. not_before is moved up to the CA's own
 *  notBefore (some verifiers refuse a certificate that starts before its issuer). */
typedef struct kiln_pki_leaf_request {
    kiln_pki_name subject;
    const uint8_t *public_point; /* KILN_PKI_POINT_SIZE bytes */
    kiln_pki_usage usage;
    const char *subject_alt_names;
    time_t not_before, not_after;
} kiln_pki_leaf_request;

kiln_pki_status kiln_pki_issue(const kiln_pki_ca *ca, const kiln_pki_leaf_request *req,
                               uint8_t **der, size_t *der_len);

/* ---- keys and requests ---- */

/** The uncompressed point of a P-256 key (public or private). */
kiln_pki_status kiln_pki_key_point(EVP_PKEY *key, uint8_t point[KILN_PKI_POINT_SIZE]);
/** The P-256 point of a CSR whose self-signature verifies (for issuing from a CSR). */
kiln_pki_status kiln_pki_csr_point(const uint8_t *der, size_t der_len,
                                   uint8_t point[KILN_PKI_POINT_SIZE]);
/** Parses a PEM (text may precede the armour) or DER private key; never prompts. */
EVP_PKEY *kiln_pki_private_key_parse(const uint8_t *data, size_t len);
/** Parses one or more PEM certificates, or one DER certificate. NULL when there is none. */
STACK_OF(X509) * kiln_pki_certs_parse(const uint8_t *data, size_t len);

#endif
