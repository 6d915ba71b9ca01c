/* Secure factory service: ledger entries of the service (see sf_ledger.h). */
#include "sf_ledger.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>

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

/* Steps over one DER element at *p (within end); 0 when it is not a whole element. With body,
 * *body and *body_len are its contents and *tag its tag. */
static int der_element(const unsigned char **p, const unsigned char *end,
                       const unsigned char **body, long *body_len, int *tag)
{
    long len = 0;
    int t = 0, cls = 0;
    const unsigned char *q = *p;
    if (ASN1_get_object(&q, &len, &t, &cls, end - *p) & 0x80 || len > end - q) {
        return 0;
    }
    if (body != NULL) {
        *body = q;
        *body_len = len;
        *tag = cls == V_ASN1_UNIVERSAL ? t : -1;
    }
    *p = q + len;
    return 1;
}

static int skip_element(const unsigned char **p, const unsigned char *end)
{
    return der_element(p, end, NULL, NULL, NULL);
}

/* The first commonName of a DER Name (SEQUENCE OF SET OF SEQUENCE {type, value}) at *p, its
 * value's bytes as they are (as X509_NAME_get_text_by_NID gives them, cut to size - 1); "" when
 * there is none. 0 when the Name is not well formed. */
static int name_cn(const unsigned char **p, const unsigned char *end, char *out, size_t size)
{
    static const unsigned char cn_oid[] = {0x55, 0x04, 0x03}; /* 2.5.4.3 */
    const unsigned char *name = NULL, *set = NULL, *atv = NULL, *oid = NULL, *value = NULL;
    long name_len = 0, set_len = 0, atv_len = 0, oid_len = 0, value_len = 0;
    int tag = 0;
    out[0] = '\0';
    if (!der_element(p, end, &name, &name_len, &tag) || tag != V_ASN1_SEQUENCE) {
        return 0;
    }
    for (const unsigned char *r = name, *r_end = name + name_len; r < r_end;) {
        if (!der_element(&r, r_end, &set, &set_len, &tag) || tag != V_ASN1_SET) {
            return 0;
        }
        for (const unsigned char *a = set, *a_end = set + set_len; a < a_end;) {
            if (!der_element(&a, a_end, &atv, &atv_len, &tag) || tag != V_ASN1_SEQUENCE) {
                return 0;
            }
            const unsigned char *v = atv;
            if (!der_element(&v, atv + atv_len, &oid, &oid_len, &tag) || tag != V_ASN1_OBJECT ||
                !der_element(&v, atv + atv_len, &value, &value_len, &tag)) {
                return 0;
            }
            if (out[0] == '\0' && oid_len == (long)sizeof(cn_oid) &&
                memcmp(oid, cn_oid, sizeof(cn_oid)) == 0) {
                size_t n = (size_t)value_len < size - 1 ? (size_t)value_len : size - 1;
                memcpy(out, value, n);
                out[n] = '\0';
            }
        }
    }
    return 1;
}

/* The serial as BN_bn2hex writes a positive one: upper-case hex, whole bytes, no leading zero
 * byte ("0" for zero). 0 for a negative or an oversized serial. */
static int serial_hex(const unsigned char *body, long len, char *out, size_t size)
{
    static const char digits[] = "0123456789ABCDEF";
    if (len < 1 || (body[0] & 0x80) != 0) {
        return 0;
    }
    while (len > 1 && body[0] == 0) {
        body++;
        len--;
    }
    if (len == 1 && body[0] == 0) {
        snprintf(out, size, "0");
        return 1;
    }
    if ((size_t)len * 2 + 1 > size) {
        return 0;
    }
    for (long i = 0; i < len; i++) {
        out[2 * i] = digits[body[i] >> 4];
        out[2 * i + 1] = digits[body[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return 1;
}

/* The TBSCertificate fields the ledger names: serial, issuer CN and subject CN, read from the DER
 * by walking it (d2i_X509 decodes the public key through OpenSSL's decoders, and even
 * d2i_X509_NAME cost more than the rest of the ledger entry). */
static int tbs_fields(const uint8_t *der, size_t len, sf_ledger_cert_facts *f)
{
    const unsigned char *p = der, *end = der + len, *body = NULL;
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
    return der_element(&p, end, &body, &n, &tag) && tag == V_ASN1_INTEGER &&
           serial_hex(body, n, f->serial, sizeof(f->serial)) &&
           skip_element(&p, end) && /* signature algorithm */
           name_cn(&p, end, f->issuer, sizeof(f->issuer)) && skip_element(&p, end) && /* validity */
           name_cn(&p, end, f->endpoint, sizeof(f->endpoint));
}

sf_status sf_ledger_cert_facts_of(const sf_session *s, sf_ledger_cert_facts *f)
{
    memset(f, 0, sizeof(*f));
    size_t hex_len = s->cert != NULL ? strlen(s->cert) : 0;
    uint8_t *der = hex_len > 0 ? malloc(hex_len / 2 + 1) : NULL;
    size_t len = 0;
    if (der == NULL || sf_hex_decode(s->cert, der, hex_len / 2 + 1, &len) != SF_OK ||
        !kiln_pki_sha256(der, len, f->hash)) {
        free(der);
        return SF_INTERNAL;
    }
    int ok = tbs_fields(der, len, f);
    free(der);
    return ok ? SF_OK : SF_INTERNAL;
}

sf_status sf_ledger_certificate_facts(sf_db *db, const sf_session *s, const sf_ledger_cert_facts *f)
{
    kiln_ledger_record r = {KILN_LEDGER_KIND_CERTIFICATE,
                            f->endpoint,
                            f->serial,
                            f->hash,
                            f->issuer,
                            s->station,
                            "issued"};
    return append(db, &r);
}

sf_status sf_ledger_certificate(sf_db *db, const sf_session *s)
{
    if (sf_db_ledger(db) == NULL) {
        return SF_OK;
    }
    sf_ledger_cert_facts f;
    sf_status st = sf_ledger_cert_facts_of(s, &f);
    return st == SF_OK ? sf_ledger_certificate_facts(db, s, &f) : st;
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
