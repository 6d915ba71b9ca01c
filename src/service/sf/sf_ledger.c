/* Secure factory service: ledger entries of the service (see sf_ledger.h). */
#include "sf_ledger.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "kiln_ledger.h"
#include "sf_crypto.h"
#include "sf_service.h"

sf_status sf_ledger_key_load(const char *dir, kiln_pki_signer **out)
{
    char ref[1200];
    if (sf_service_key_ref(dir, "ledger", ref, sizeof(ref))) {
        return sfc_key_signer(ref, out); /* keys/ledger.uri: a token key (init --key-uri-prefix) */
    }
    return kiln_ledger_key_open(ref, out) == KILN_LEDGER_OK ? SF_OK : SF_CONFIG;
}

static sf_status append(sf_db *db, const kiln_ledger_record *r)
{
    kiln_ledger *l = sf_db_ledger(db);
    if (l == NULL) {
        return SF_OK;
    }
    return kiln_ledger_append(l, r, NULL) == KILN_LEDGER_OK ? SF_OK : SF_DATABASE;
}

static void common_name(const X509_NAME *name, char *out, size_t size)
{
    out[0] = '\0';
    if (name != NULL &&
        X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, out, (int)size) < 0) {
        out[0] = '\0';
    }
}

/* Steps over one DER element at *p (within end); 0 when it is not a whole element. */
static int skip_element(const unsigned char **p, const unsigned char *end)
{
    long len = 0;
    int tag = 0, cls = 0;
    const unsigned char *q = *p;
    if (ASN1_get_object(&q, &len, &tag, &cls, end - *p) & 0x80 || len > end - q) {
        return 0;
    }
    *p = q + len;
    return 1;
}

/* The TBSCertificate fields the ledger names: serial, issuer and subject. Read from the DER
 * without d2i_X509, which decodes the public key too (through OpenSSL's decoders: it cost more
 * than issuing the certificate). */
static int tbs_fields(const uint8_t *der, size_t len, ASN1_INTEGER **serial, X509_NAME **issuer,
                      X509_NAME **subject)
{
    const unsigned char *p = der, *end = der + len;
    long n = 0;
    int tag = 0, cls = 0;
    /* Certificate and TBSCertificate: SEQUENCEs entered, not stepped over. */
    for (int i = 0; i < 2; i++) {
        if (ASN1_get_object(&p, &n, &tag, &cls, end - p) & 0x80 || tag != V_ASN1_SEQUENCE ||
            n > end - p) {
            return 0;
        }
        end = p + n;
    }
    const unsigned char *q = p;
    if (ASN1_get_object(&q, &n, &tag, &cls, end - p) & 0x80) {
        return 0;
    }
    if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0 && !skip_element(&p, end)) { /* version */
        return 0;
    }
    *serial = d2i_ASN1_INTEGER(NULL, &p, end - p);
    if (*serial == NULL || !skip_element(&p, end)) { /* signature algorithm */
        return 0;
    }
    *issuer = d2i_X509_NAME(NULL, &p, end - p);
    if (*issuer == NULL || !skip_element(&p, end)) { /* validity */
        return 0;
    }
    *subject = d2i_X509_NAME(NULL, &p, end - p);
    return *subject != NULL;
}

/* Endpoint (subject CN), serial (hex), issuer CN and SHA-256 of a hex DER certificate. */
static sf_status cert_facts(const char *cert_hex, char endpoint[KILN_LEDGER_TEXT_MAX + 1],
                            char serial[KILN_LEDGER_TEXT_MAX + 1],
                            char issuer[KILN_LEDGER_TEXT_MAX + 1],
                            uint8_t hash[KILN_LEDGER_HASH_SIZE])
{
    size_t hex_len = cert_hex != NULL ? strlen(cert_hex) : 0;
    uint8_t *der = hex_len > 0 ? malloc(hex_len / 2 + 1) : NULL;
    size_t len = 0;
    if (der == NULL || sf_hex_decode(cert_hex, der, hex_len / 2 + 1, &len) != SF_OK) {
        free(der);
        return SF_INTERNAL;
    }
    if (!kiln_pki_sha256(der, len, hash)) {
        free(der);
        return SF_INTERNAL;
    }
    ASN1_INTEGER *number = NULL;
    X509_NAME *issuer_name = NULL, *subject_name = NULL;
    int ok = tbs_fields(der, len, &number, &issuer_name, &subject_name);
    free(der);
    BIGNUM *bn = ok ? ASN1_INTEGER_to_BN(number, NULL) : NULL;
    char *text = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (ok) {
        common_name(subject_name, endpoint, KILN_LEDGER_TEXT_MAX + 1);
        common_name(issuer_name, issuer, KILN_LEDGER_TEXT_MAX + 1);
        snprintf(serial, KILN_LEDGER_TEXT_MAX + 1, "%s", text != NULL ? text : "");
    }
    OPENSSL_free(text);
    BN_free(bn);
    ASN1_INTEGER_free(number);
    X509_NAME_free(issuer_name);
    X509_NAME_free(subject_name);
    return ok ? SF_OK : SF_INTERNAL;
}

sf_status sf_ledger_certificate(sf_db *db, const sf_session *s)
{
    if (sf_db_ledger(db) == NULL) {
        return SF_OK;
    }
    char endpoint[KILN_LEDGER_TEXT_MAX + 1], serial[KILN_LEDGER_TEXT_MAX + 1],
        issuer[KILN_LEDGER_TEXT_MAX + 1];
    uint8_t hash[KILN_LEDGER_HASH_SIZE];
    sf_status st = cert_facts(s->cert, endpoint, serial, issuer, hash);
    if (st != SF_OK) {
        return st;
    }
    kiln_ledger_record r = {
        KILN_LEDGER_KIND_CERTIFICATE, endpoint, serial, hash, issuer, s->station, "issued"};
    return append(db, &r);
}

sf_status sf_ledger_outcome(sf_db *db, const sf_session *s, const char *result)
{
    char outcome[64];
    if (s->error_code != 0) {
        snprintf(outcome, sizeof(outcome), "%s %ld", result, s->error_code);
    } else {
        snprintf(outcome, sizeof(outcome), "%s", result);
    }
    /* The session id stands for the endpoint: a failed session may have no certificate. */
    kiln_ledger_record r = {
        KILN_LEDGER_KIND_OUTCOME, s->sid, NULL, NULL, NULL, s->station, outcome};
    return append(db, &r);
}

sf_status sf_ledger_ca_event(sf_db *db, const char *ca, const char *event)
{
    kiln_ledger_record r = {KILN_LEDGER_KIND_CA, NULL, NULL, NULL, ca, "factory_service", event};
    return append(db, &r);
}

sf_status sf_ledger_ca_first(sf_db *db)
{
    static const char *const cas[] = {"device-ca", "station-ca", "signing"};
    if (sf_db_ledger(db) == NULL) {
        return SF_OK;
    }
    sf_db_result res;
    sf_status st =
        sf_db_exec(db, "SELECT COUNT(*) FROM ledger WHERE kind = 'ca'", 0, NULL, &res, NULL);
    const char *n = st == SF_OK ? sf_db_cell(&res, 0, 0) : NULL;
    bool none = n != NULL && strcmp(n, "0") == 0;
    sf_db_result_free(&res);
    for (size_t i = 0; st == SF_OK && none && i < sizeof(cas) / sizeof(cas[0]); i++) {
        st = sf_ledger_ca_event(db, cas[i], "in-use");
    }
    return st;
}
