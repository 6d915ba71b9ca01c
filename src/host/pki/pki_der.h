/* Library-private DER writer of kiln_pki: a growing buffer that remembers a failed allocation,
 * so that a certificate is assembled with plain calls and checked once at the end. Lengths up
 * to 65535 bytes (a certificate of this library is far below). */
#ifndef KILN_PKI_DER_H
#define KILN_PKI_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "kiln_pki.h"

typedef struct pki_der {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} pki_der;

#define PKI_TAG_INTEGER    0x02
#define PKI_TAG_BIT_STRING 0x03
#define PKI_TAG_OCTETS     0x04
#define PKI_TAG_OID        0x06
#define PKI_TAG_SEQUENCE   0x30
#define PKI_TAG_SET        0x31

void pki_der_put(pki_der *b, const void *data, size_t len);
void pki_der_head(pki_der *b, uint8_t tag, size_t len);
void pki_der_tlv(pki_der *b, uint8_t tag, const void *data, size_t len);
/** tag, length, then the bytes of inner. */
void pki_der_wrap(pki_der *b, uint8_t tag, const pki_der *inner);
/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
void pki_der_time(pki_der *b, time_t t);
/** Bytes a header of a value of len bytes takes. */
size_t pki_der_head_size(size_t len);
void pki_der_free(pki_der *b);

/** The Name SEQUENCE of a subject (INVALID_NAME for bad UTF-8 or a non-printable country). */
kiln_pki_status pki_der_name(pki_der *b, const kiln_pki_name *name);
/** SubjectPublicKeyInfo of a P-256 point. */
void pki_der_spki(pki_der *b, const uint8_t point[KILN_PKI_POINT_SIZE]);
/** A random positive INTEGER of 16 bytes. */
kiln_pki_status pki_der_serial(pki_der *b);
/** The AlgorithmIdentifier ecdsa-with-SHA256 (inside a TBSCertificate). */
void pki_der_signature_algorithm(pki_der *b);
/** SHA-256 (sha256, fetched once by the caller, or EVP_sha256()) of tbs signed by signer,
 *  appended as AlgorithmIdentifier and BIT STRING, all wrapped in the outer SEQUENCE into out. */
kiln_pki_status pki_der_signed(const kiln_pki_signer *signer, const EVP_MD *sha256,
                               const pki_der *tbs, uint8_t **der, size_t *der_len);

#endif
