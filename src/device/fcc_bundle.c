/* fcc_bundle_handler: decode a configuration bundle with a streaming CBOR reader, check and
 * stage every item, commit the bundle as one transaction, answer in the original's format. */
#include "fcc_internal.h"

#include "cbor_reader.h"
#include "fcc_bundle_fields.h"

#include <mbedtls/platform_util.h>

#include <stdlib.h>
#include <string.h>

#define CSR_DER_MAX 1024

typedef struct bundle_ctx {
    kiln_device *dev;
    fcc_output out;
    const uint8_t *buf;
    size_t len;
    bool verify, disable, keep_alive;
    const uint8_t *sid;
    size_t sid_len;
    bool has_csrs;
    size_t csr_pos; /* offset of the CsrReqs value */
    fcc_csr_out csrs[FCC_MAX_CSR_REQUESTS];
    uint8_t *csr_der; /* FCC_MAX_CSR_REQUESTS * CSR_DER_MAX, only when CSRs are requested */
    size_t csr_count;
    bool time_set;
    bool verification_failed;
} bundle_ctx;

static fcc_status_e fail(bundle_ctx *b, fcc_status_e status, const char *name)
{
    return fcc_output_error(&b->out, status, name, name ? strlen(name) : 0);
}

static fcc_status_e fail_kcm(bundle_ctx *b, kcm_status_e kcm, const cr_token *name)
{
    return fcc_output_kcm_error(&b->out, kcm, name ? (const char *)name->ptr : NULL,
                                name ? name->len : 0);
}

/* ---- small decoding helpers ---- */

static bool is_map(const cr_token *t)
{
    return t->kind == CR_MAP || t->kind == CR_MAP_INDEF;
}

static bool is_array(const cr_token *t)
{
    return t->kind == CR_ARRAY || t->kind == CR_ARRAY_INDEF;
}

/* Iterates a definite or indefinite container: returns 1 while elements remain. */
typedef struct cr_iter {
    cr_reader *r;
    bool indefinite;
    uint64_t left;
} cr_iter;

static void iter_init(cr_iter *it, cr_reader *r, const cr_token *head)
{
    it->r = r;
    it->indefinite = head->kind == CR_MAP_INDEF || head->kind == CR_ARRAY_INDEF;
    it->left = head->u;
}

static int iter_more(cr_iter *it)
{
    if (!it->indefinite) {
        if (it->left == 0) {
            return 0;
        }
        it->left--;
        return 1;
    }
    /* Peek for the break byte of an indefinite container. */
    if (it->r->pos < it->r->len && it->r->buf[it->r->pos] == 0xFF) {
        it->r->pos++;
        return 0;
    }
    return it->r->pos < it->r->len ? 1 : -1;
}

/* Finds a top-level key; leaves r at its value. */
static bool find_group(const bundle_ctx *b, const char *name, cr_reader *r)
{
    cr_token t;
    cr_init(r, b->buf, b->len);
    if (cr_next(r, &t) != 0) {
        return false;
    }
    for (uint64_t i = 0; i < t.u; i++) {
        cr_token key;
        if (cr_next(r, &key) != 0) {
            return false;
        }
        if (cr_text_is(&key, name)) {
            return true;
        }
        if (cr_skip(r, &key) != 0 || cr_skip_item(r) != 0) {
            return false;
        }
    }
    return false;
}

/* ---- items ---- */

enum { F_NAME, F_TYPE, F_FORMAT, F_DATA, F_DATA_ARRAY, F_PRKN, F_COUNT };

typedef struct item_fields {
    cr_token f[F_COUNT];
    bool seen[F_COUNT];
    size_t data_array_pos; /* offset of the DataArray value (after its head) */
} item_fields;

static const char *const item_field_names[F_COUNT] = {
    FCC_FIELD_NAME, FCC_FIELD_TYPE,       FCC_FIELD_FORMAT,
    FCC_FIELD_DATA, FCC_FIELD_DATA_ARRAY, FCC_FIELD_PRIVATE_KEY_NAME};

/* The F_* a key names among the allowed ones, or -1. */
static int field_of(const cr_token *key, unsigned allowed)
{
    int field = -1;
    for (int i = 0; i < F_COUNT; i++) {
        if ((allowed & (1u << i)) && cr_text_is(key, item_field_names[i])) {
            field = i;
        }
    }
    return field;
}

/* Config parameter data: any of the accepted types (checked by the caller), a tagged byte
 * string read as its bytes. Returns 0 or -1. */
static int read_config_data(cr_reader *r, cr_token *v)
{
    if (v->kind == CR_TAG) {
        cr_token inner;
        if (v->u != 2 || cr_next(r, &inner) != 0 || inner.kind != CR_BYTES) {
            return -1;
        }
        *v = inner;
        return 0;
    }
    return v->kind == CR_UINT || v->kind == CR_NEGINT || v->kind == CR_TEXT || v->kind == CR_BYTES
               ? 0
               : -1;
}

/* Checks the value v of one field (a DataArray is skipped, its position kept). 0 or -1. */
static int read_field_value(cr_reader *r, int field, unsigned allowed, cr_token *v, item_fields *it)
{
    if (field == F_DATA && (allowed & ((1u << F_TYPE) | (1u << F_PRKN))) == 0) {
        return read_config_data(r, v);
    }
    if (field == F_DATA_ARRAY) {
        if (v->kind != CR_ARRAY) {
            return -1;
        }
        it->data_array_pos = r->pos;
        return cr_skip(r, v);
    }
    return v->kind == (field == F_DATA ? CR_BYTES : CR_TEXT) ? 0 : -1;
}

/* Reads one item map. allowed: bitmask of F_* accepted in this group. */
static fcc_status_e read_item(bundle_ctx *b, cr_reader *r, unsigned allowed, item_fields *it)
{
    cr_token head;
    memset(it, 0, sizeof(*it));
    if (cr_next(r, &head) != 0 || !is_map(&head)) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    cr_iter iter;
    iter_init(&iter, r, &head);
    int more;
    while ((more = iter_more(&iter)) == 1) {
        cr_token key, v;
        if (cr_next(r, &key) != 0 || key.kind != CR_TEXT) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        int field = field_of(&key, allowed);
        if (field < 0) {
            return fail(b, FCC_STATUS_NOT_SUPPORTED, NULL);
        }
        if (cr_next(r, &v) != 0 || read_field_value(r, field, allowed, &v, it) != 0) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        it->f[field] = v;
        it->seen[field] = true;
    }
    if (more < 0 || !it->seen[F_NAME]) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    if (it->seen[F_FORMAT] && !cr_text_is(&it->f[F_FORMAT], FCC_FORMAT_DER)) {
        return fail(b, FCC_STATUS_NOT_SUPPORTED, NULL);
    }
    return FCC_STATUS_SUCCESS;
}

static fcc_status_e process_key(bundle_ctx *b, cr_reader *r)
{
    item_fields it;
    fcc_status_e st =
        read_item(b, r, (1u << F_NAME) | (1u << F_TYPE) | (1u << F_FORMAT) | (1u << F_DATA), &it);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (!it.seen[F_DATA] || !it.seen[F_TYPE]) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    const cr_token *type = &it.f[F_TYPE];
    kcm_item_type_e kcm_type;
    if (cr_text_is(type, FCC_KEY_TYPE_ECC_PRIVATE)) {
        kcm_type = KCM_PRIVATE_KEY_ITEM;
    } else if (cr_text_is(type, FCC_KEY_TYPE_ECC_PUBLIC)) {
        kcm_type = KCM_PUBLIC_KEY_ITEM;
    } else if (cr_text_is(type, FCC_KEY_TYPE_RSA_PRIVATE) ||
               cr_text_is(type, FCC_KEY_TYPE_RSA_PUBLIC) ||
               cr_text_is(type, FCC_KEY_TYPE_SYMMETRIC)) {
        return fail(b, FCC_STATUS_NOT_SUPPORTED, NULL);
    } else {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    /* The bundle buffer outlives the transaction: staged values point into it. */
    kcm_status_e kst = kcm_store_item(b->dev, it.f[F_NAME].ptr, it.f[F_NAME].len, kcm_type, true,
                                      it.f[F_DATA].ptr, it.f[F_DATA].len, KCM_HOLD_BORROW);
    return kst == KCM_STATUS_SUCCESS ? FCC_STATUS_SUCCESS : fail_kcm(b, kst, &it.f[F_NAME]);
}

/* A certificate (or the leaf of a chain) named with PrKN must belong to that stored key.
 * crt: the certificate already parsed, or NULL to parse it here. */
static fcc_status_e check_prkn(bundle_ctx *b, const item_fields *it, const mbedtls_x509_crt *crt,
                               const uint8_t *cert, size_t cert_len)
{
    if (!it->seen[F_PRKN]) {
        return FCC_STATUS_SUCCESS;
    }
    const cr_token *prkn = &it->f[F_PRKN];
    kcm_status_e kst = crt != NULL ? kcm_crt_matches_stored_key(b->dev, crt, prkn->ptr, prkn->len)
                                   : kiln_kcm_certificate_verify_with_private_key(
                                         b->dev, cert, cert_len, prkn->ptr, prkn->len);
    if (kst == KCM_STATUS_ITEM_NOT_FOUND) {
        fcc_output_error_with_prefix(&b->out, FCC_STATUS_CERTIFICATE_PUBLIC_KEY_CORRELATION_ERROR,
                                     fcc_kcm_error_prefix(kst), (const char *)prkn->ptr, prkn->len);
        return b->out.status;
    }
    return kst == KCM_STATUS_SUCCESS ? FCC_STATUS_SUCCESS : fail_kcm(b, kst, &it->f[F_NAME]);
}

static fcc_status_e process_certificate(bundle_ctx *b, cr_reader *r)
{
    item_fields it;
    fcc_status_e st =
        read_item(b, r, (1u << F_NAME) | (1u << F_FORMAT) | (1u << F_DATA) | (1u << F_PRKN), &it);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (!it.seen[F_DATA]) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    const cr_token *name = &it.f[F_NAME];
    const cr_token *data = &it.f[F_DATA];
    /* Parsed once: the same parsed form serves the key match; the store does not re-parse. */
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    kcm_status_e kst = kcm_check_name(name->ptr, name->len);
    if (kst == KCM_STATUS_SUCCESS && data->len > 0) {
        kst = kcm_crypto_parse_cert(&crt, data->ptr, data->len);
    }
    if (kst != KCM_STATUS_SUCCESS) {
        st = fail_kcm(b, kst, name);
    } else {
        st = check_prkn(b, &it, data->len > 0 ? &crt : NULL, data->ptr, data->len);
    }
    mbedtls_x509_crt_free(&crt);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    kst = kcm_store_item(b->dev, name->ptr, name->len, KCM_CERTIFICATE_ITEM, true, data->ptr,
                         data->len, KCM_HOLD_BORROW | KCM_PRECHECKED);
    return kst == KCM_STATUS_SUCCESS ? FCC_STATUS_SUCCESS : fail_kcm(b, kst, name);
}

static fcc_status_e process_chain(bundle_ctx *b, cr_reader *r)
{
    item_fields it;
    fcc_status_e st = read_item(
        b, r, (1u << F_NAME) | (1u << F_FORMAT) | (1u << F_DATA_ARRAY) | (1u << F_PRKN), &it);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (!it.seen[F_DATA_ARRAY]) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    uint64_t count = it.f[F_DATA_ARRAY].u;
    if (count == 0 || count > FCC_MAX_CHAIN_LENGTH) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    const cr_token *name = &it.f[F_NAME];
    cr_reader certs;
    cr_init(&certs, b->buf, b->len);
    certs.pos = it.data_array_pos;
    kcm_cert_chain_handle h = NULL;
    kcm_status_e kst =
        kiln_kcm_cert_chain_create(b->dev, &h, name->ptr, name->len, (size_t)count, true);
    if (kst != KCM_STATUS_SUCCESS) {
        return fail_kcm(b, kst, name);
    }
    for (uint64_t i = 0; i < count; i++) {
        cr_token cert;
        if (cr_next(&certs, &cert) != 0 || cert.kind != CR_BYTES) {
            kiln_kcm_cert_chain_close(b->dev, h);
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        if (i == 0) {
            st = check_prkn(b, &it, NULL, cert.ptr, cert.len);
            if (st != FCC_STATUS_SUCCESS) {
                kiln_kcm_cert_chain_close(b->dev, h);
                return st;
            }
        }
        kst = kiln_kcm_cert_chain_add_next(b->dev, h, cert.ptr, cert.len);
        if (kst != KCM_STATUS_SUCCESS) {
            kiln_kcm_cert_chain_close(b->dev, h);
            return fail_kcm(b, kst, name);
        }
    }
    kst = kiln_kcm_cert_chain_close(b->dev, h);
    return kst == KCM_STATUS_SUCCESS ? FCC_STATUS_SUCCESS : fail_kcm(b, kst, name);
}

/* Integers the original stores with a forced 4-byte length. */
static bool is_four_byte_param(const cr_token *name)
{
    return cr_text_is(name, FCC_USE_BOOTSTRAP) || cr_text_is(name, FCC_MEMORY_TOTAL_KB) ||
           cr_text_is(name, FCC_FIRST_TO_CLAIM);
}

static fcc_status_e process_config(bundle_ctx *b, cr_reader *r)
{
    item_fields it;
    fcc_status_e st = read_item(b, r, (1u << F_NAME) | (1u << F_DATA), &it);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    const cr_token *name = &it.f[F_NAME];
    const cr_token *data = &it.f[F_DATA];
    if (cr_text_is(name, FCC_CURRENT_TIME)) {
        if (!it.seen[F_DATA] || data->kind != CR_UINT) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        b->dev->time = data->u;
        b->time_set = true;
        return FCC_STATUS_SUCCESS;
    }
    uint8_t number[8];
    const uint8_t *value = NULL;
    size_t value_len = 0;
    if (it.seen[F_DATA]) {
        if (data->kind == CR_UINT || data->kind == CR_NEGINT) {
            /* 64-bit two's complement, little endian, as the original stores integers; by
             * 32-bit halves, as a 64-bit shift is long code on a 32-bit core. */
            uint64_t v = data->kind == CR_UINT ? data->u : ~data->u;
            uint32_t low = (uint32_t)v, high = (uint32_t)(v >> 32);
            for (int i = 0; i < 4; i++) {
                number[i] = (uint8_t)(low >> (8 * i));
                number[i + 4] = (uint8_t)(high >> (8 * i));
            }
            value = number;
            value_len = 8;
        } else {
            value = data->ptr;
            value_len = data->len;
        }
    }
    unsigned hold = KCM_HOLD_BORROW;
    uint8_t four[4] = {0};
    if (value == number) {
        hold = 0;
    }
    if (is_four_byte_param(name)) {
        /* The original forces 4 bytes whatever the CBOR type; a shorter text value thus
         * becomes an out-of-range number and fails the later checks the same way. */
        memcpy(four, value, value_len < 4 ? value_len : 4);
        value = four;
        value_len = 4;
        hold = 0;
    }
    kcm_status_e kst =
        kcm_store_item(b->dev, name->ptr, name->len, KCM_CONFIG_ITEM, true, value, value_len, hold);
    return kst == KCM_STATUS_SUCCESS ? FCC_STATUS_SUCCESS : fail_kcm(b, kst, name);
}

typedef fcc_status_e (*item_fn)(bundle_ctx *b, cr_reader *r);

static fcc_status_e process_group(bundle_ctx *b, cr_reader *r, item_fn fn)
{
    cr_token head;
    if (cr_next(r, &head) != 0 || !is_array(&head)) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    cr_iter iter;
    iter_init(&iter, r, &head);
    int more;
    while ((more = iter_more(&iter)) == 1) {
        fcc_status_e st = fn(b, r);
        if (st != FCC_STATUS_SUCCESS) {
            return st;
        }
    }
    return more == 0 ? FCC_STATUS_SUCCESS : fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
}

/* ---- CSR requests ---- */

/* Reads one map entry whose key must be text. Returns 0 or -1. */
static int read_entry(cr_reader *r, cr_token *key, cr_token *value)
{
    return cr_next(r, key) != 0 || key->kind != CR_TEXT || cr_next(r, value) != 0 ? -1 : 0;
}

/* Key usage and extended key usage; trust level and unknown extensions are ignored, as in the
 * original. Returns 0 or -1. */
static int read_csr_extensions(cr_reader *r, const cr_token *head, uint32_t *ku, uint32_t *eku)
{
    cr_iter iter;
    iter_init(&iter, r, head);
    int more;
    while ((more = iter_more(&iter)) == 1) {
        cr_token key, v;
        if (read_entry(r, &key, &v) != 0) {
            return -1;
        }
        uint32_t *usage = cr_text_is(&key, FCC_FIELD_KEY_USAGE)       ? ku
                          : cr_text_is(&key, FCC_FIELD_EXT_KEY_USAGE) ? eku
                                                                      : NULL;
        if (usage != NULL && v.kind == CR_UINT && v.u <= UINT32_MAX) {
            *usage = (uint32_t)v.u;
        } else if (cr_skip(r, &v) != 0) {
            return -1;
        }
    }
    return more;
}

/* Where the generated keys live: only the device itself (a public key only with its private). */
static fcc_status_e read_storage_medium(bundle_ctx *b, cr_reader *r, const cr_token *head,
                                        bool *store_public)
{
    bool private_key = false, public_key = false;
    cr_iter iter;
    iter_init(&iter, r, head);
    int more;
    while ((more = iter_more(&iter)) == 1) {
        cr_token key, v;
        if (read_entry(r, &key, &v) != 0 || v.kind != CR_TEXT) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        if (cr_text_is(&v, FCC_SM_SECURE_ELEMENT)) {
            return fail(b, FCC_STATUS_NOT_SUPPORTED, NULL);
        }
        bool *side = cr_text_is(&key, FCC_FIELD_SM_PRIVATE)  ? &private_key
                     : cr_text_is(&key, FCC_FIELD_SM_PUBLIC) ? &public_key
                                                             : NULL;
        if (!cr_text_is(&v, FCC_SM_DEVICE) || side == NULL) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        *side = true;
    }
    if (more < 0 || (public_key && !private_key)) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    *store_public = public_key;
    return FCC_STATUS_SUCCESS;
}

/* Generates the requested key pair and its CSR (the index-th of the answer). params: all but
 * the subject, which is the CBOR text subj. */
static fcc_status_e generate_csr(bundle_ctx *b, size_t index, const cr_token *prkn,
                                 bool store_public, const cr_token *subj, kcm_csr_params_s *params)
{
    char subject[256];
    if (subj->len >= sizeof(subject)) {
        return fcc_output_kcm_error(&b->out, KCM_CRYPTO_STATUS_INVALID_NAME_FORMAT, NULL, 0);
    }
    memcpy(subject, subj->ptr, subj->len);
    subject[subj->len] = '\0';
    params->subject = subject;
    /* KCM failures while generating keys and CSRs carry no item name in the original. */
    kcm_status_e kst =
        kiln_kcm_key_pair_generate_and_store(b->dev, KCM_SCHEME_EC_SECP256R1, prkn->ptr, prkn->len,
                                             store_public ? prkn->ptr : NULL, prkn->len, true);
    uint8_t *der = b->csr_der + index * CSR_DER_MAX;
    size_t der_len = 0;
    if (kst == KCM_STATUS_SUCCESS) {
        kst =
            kiln_kcm_csr_generate(b->dev, prkn->ptr, prkn->len, params, der, CSR_DER_MAX, &der_len);
    }
    if (kst != KCM_STATUS_SUCCESS) {
        return fcc_output_kcm_error(&b->out, kst, NULL, 0);
    }
    b->csrs[index].key_name = (const char *)prkn->ptr;
    b->csrs[index].key_name_len = prkn->len;
    b->csrs[index].der = der;
    b->csrs[index].der_len = der_len;
    return FCC_STATUS_SUCCESS;
}

static fcc_status_e process_csr_request(bundle_ctx *b, cr_reader *r, size_t index)
{
    cr_token head, prkn = {0}, subj = {0};
    uint64_t md = 0;
    bool store_public = false;
    unsigned required = 0; /* PrKN (1) and subject (2) seen */
    uint32_t ku = 0, eku = 0;
    if (cr_next(r, &head) != 0 || !is_map(&head)) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    cr_iter iter;
    iter_init(&iter, r, &head);
    int more;
    while ((more = iter_more(&iter)) == 1) {
        cr_token key, v;
        if (read_entry(r, &key, &v) != 0) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
        }
        if (cr_text_is(&key, FCC_FIELD_PRIVATE_KEY_NAME) && v.kind == CR_TEXT) {
            prkn = v;
            required |= 1;
        } else if (cr_text_is(&key, FCC_FIELD_SUBJECT) && v.kind == CR_TEXT) {
            subj = v;
            required |= 2;
        } else if (cr_text_is(&key, FCC_FIELD_MD) && v.kind == CR_UINT) {
            md = v.u;
        } else if (cr_text_is(&key, FCC_FIELD_EXTENSIONS) && is_map(&v)) {
            if (read_csr_extensions(r, &v, &ku, &eku) != 0) {
                return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
            }
        } else if (cr_text_is(&key, FCC_FIELD_STORAGE_MEDIUM) && is_map(&v)) {
            fcc_status_e st = read_storage_medium(b, r, &v, &store_public);
            if (st != FCC_STATUS_SUCCESS) {
                return st;
            }
        } else {
            return fail(b, FCC_STATUS_NOT_SUPPORTED, NULL);
        }
    }
    if (more < 0 || required != 3 || md == 0) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    kcm_csr_params_s params = {NULL, (kcm_md_type_e)(md > 0xFF ? 0xFF : md), ku, eku};
    return generate_csr(b, index, &prkn, store_public, &subj, &params);
}

static fcc_status_e process_csrs(bundle_ctx *b)
{
    cr_reader r;
    cr_token head;
    cr_init(&r, b->buf, b->len);
    r.pos = b->csr_pos;
    if (cr_next(&r, &head) != 0 || head.kind != CR_ARRAY) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    if (head.u > FCC_MAX_CSR_REQUESTS) {
        return fail(b, FCC_STATUS_TOO_MANY_CSR_REQUESTS, NULL);
    }
    if (b->sid == NULL || b->verify || b->disable) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    b->csr_der = malloc(FCC_MAX_CSR_REQUESTS * CSR_DER_MAX);
    if (b->csr_der == NULL) {
        return fail(b, FCC_STATUS_MEMORY_OUT, NULL);
    }
    for (size_t i = 0; i < head.u; i++) {
        fcc_status_e st = process_csr_request(b, &r, i);
        if (st != FCC_STATUS_SUCCESS) {
            return st;
        }
        b->csr_count = i + 1;
    }
    return FCC_STATUS_SUCCESS;
}

/* ---- the handler ---- */

static fcc_status_e check_envelope(bundle_ctx *b)
{
    cr_reader r;
    cr_token head;
    cr_init(&r, b->buf, b->len);
    if (cr_skip_item(&r) != 0 || r.pos != b->len) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    cr_init(&r, b->buf, b->len);
    if (cr_next(&r, &head) != 0 || head.kind != CR_MAP || head.u > FCC_MAX_TOP_LEVEL_GROUPS) {
        return fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    }
    cr_token v;
    if (!find_group(b, FCC_GROUP_SCHEME_VERSION, &r) || cr_next(&r, &v) != 0 ||
        (v.kind != CR_TEXT && v.kind != CR_BYTES) || v.len != strlen(FCC_BUNDLE_SCHEME_VERSION) ||
        memcmp(v.ptr, FCC_BUNDLE_SCHEME_VERSION, v.len) != 0) {
        return fail(b, FCC_STATUS_BUNDLE_INVALID_SCHEME, NULL);
    }
    return FCC_STATUS_SUCCESS;
}

/* Entropy and root of trust are checked before anything touches storage. */
static fcc_status_e check_secret_group(bundle_ctx *b, const char *group, size_t size,
                                       const char *slot, cr_token *out, bool *present)
{
    cr_reader r;
    *present = false;
    if (!find_group(b, group, &r)) {
        return FCC_STATUS_SUCCESS;
    }
    if (cr_next(&r, out) != 0 || out->kind != CR_BYTES || out->len != size) {
        return fail(b, FCC_STATUS_INVALID_PARAMETER, slot);
    }
    *present = true;
    return FCC_STATUS_SUCCESS;
}

/* The top-level groups; the four item groups come first, in the order of item_handlers. */
enum bundle_group {
    GROUP_KEYS,
    GROUP_CERTIFICATES,
    GROUP_CERTIFICATE_CHAINS,
    GROUP_CONFIG_PARAMS,
    GROUP_CSR_REQUESTS,
    GROUP_SESSION_ID,
    GROUP_KEEP_ALIVE,
    GROUP_VERIFY,
    GROUP_DISABLE,
    GROUP_SCHEME_VERSION,
    GROUP_ENTROPY,
    GROUP_ROT,
    GROUP_COUNT
};

static const char *const group_names[GROUP_COUNT] = {
    [GROUP_KEYS] = FCC_GROUP_KEYS,
    [GROUP_CERTIFICATES] = FCC_GROUP_CERTIFICATES,
    [GROUP_CERTIFICATE_CHAINS] = FCC_GROUP_CERTIFICATE_CHAINS,
    [GROUP_CONFIG_PARAMS] = FCC_GROUP_CONFIG_PARAMS,
    [GROUP_CSR_REQUESTS] = FCC_GROUP_CSR_REQUESTS,
    [GROUP_SESSION_ID] = FCC_GROUP_SESSION_ID,
    [GROUP_KEEP_ALIVE] = FCC_GROUP_KEEP_ALIVE,
    [GROUP_VERIFY] = FCC_GROUP_VERIFY,
    [GROUP_DISABLE] = FCC_GROUP_DISABLE,
    [GROUP_SCHEME_VERSION] = FCC_GROUP_SCHEME_VERSION,
    [GROUP_ENTROPY] = FCC_GROUP_ENTROPY,
    [GROUP_ROT] = FCC_GROUP_ROT,
};

/* Reads the value of one top-level group (r is at it). */
static fcc_status_e process_top_group(bundle_ctx *b, cr_reader *r, unsigned group)
{
    static const item_fn item_handlers[] = {process_key, process_certificate, process_chain,
                                            process_config};
    cr_token v;
    bool *flag;
    fcc_status_e flag_error = FCC_STATUS_BUNDLE_ERROR;
    switch (group) {
    case GROUP_KEYS:
    case GROUP_CERTIFICATES:
    case GROUP_CERTIFICATE_CHAINS:
    case GROUP_CONFIG_PARAMS:
        return process_group(b, r, item_handlers[group]);
    case GROUP_SESSION_ID:
        if (cr_next(r, &v) != 0 || v.kind != CR_TEXT) {
            return fail(b, FCC_STATUS_BUNDLE_ERROR, FCC_GROUP_SESSION_ID);
        }
        b->sid = v.ptr;
        b->sid_len = v.len;
        return FCC_STATUS_SUCCESS;
    case GROUP_KEEP_ALIVE:
        flag = &b->keep_alive;
        flag_error = FCC_STATUS_BUNDLE_INVALID_KEEP_ALIVE_SESSION_STATUS;
        break;
    case GROUP_VERIFY:
        flag = &b->verify;
        break;
    case GROUP_DISABLE:
        flag = &b->disable;
        break;
    case GROUP_CSR_REQUESTS:
        /* Processed after the walk, when SID, Verify and Disable are known. */
        b->has_csrs = true;
        b->csr_pos = r->pos;
        /* fall through */
    case GROUP_SCHEME_VERSION:
    case GROUP_ENTROPY:
    case GROUP_ROT: /* checked before the walk */
        return cr_skip_item(r) == 0 ? FCC_STATUS_SUCCESS : fail(b, FCC_STATUS_BUNDLE_ERROR, NULL);
    default:
        return fail(b, FCC_STATUS_BUNDLE_INVALID_GROUP, NULL);
    }
    /* A session flag: the bundle's booleans are the integers 0 and 1. */
    if (cr_next(r, &v) != 0 || v.kind != CR_UINT || v.u > 1) {
        return fail(b, flag_error, group_names[group]);
    }
    *flag = v.u == 1;
    return FCC_STATUS_SUCCESS;
}

static fcc_status_e walk_groups(bundle_ctx *b)
{
    cr_reader r;
    cr_token head;
    cr_init(&r, b->buf, b->len);
    cr_next(&r, &head);
    for (uint64_t i = 0; i < head.u; i++) {
        cr_token key;
        if (cr_next(&r, &key) != 0 || key.kind != CR_TEXT) {
            return fail(b, FCC_STATUS_BUNDLE_INVALID_GROUP, NULL);
        }
        unsigned group = 0;
        while (group < GROUP_COUNT && !cr_text_is(&key, group_names[group])) {
            group++;
        }
        fcc_status_e st = process_top_group(b, &r, group);
        if (st != FCC_STATUS_SUCCESS) {
            return st;
        }
    }
    return FCC_STATUS_SUCCESS;
}

/* At the end of a session, bootstrap mode records the bootstrap CA's identity (its
 * compressed public key) for the device's secure time, as the original does. */
static fcc_status_e store_ca_identity(bundle_ctx *b)
{
    bool bootstrap = false;
    fcc_status_e st = fcc_read_bootstrap_mode(b->dev, &b->out, &bootstrap);
    if (st != FCC_STATUS_SUCCESS || !bootstrap) {
        return st;
    }
    size_t size = 0;
    kcm_status_e kst = kiln_kcm_item_get_data_size(
        b->dev, (const uint8_t *)FCC_BOOTSTRAP_SERVER_CA_CERT, strlen(FCC_BOOTSTRAP_SERVER_CA_CERT),
        KCM_CERTIFICATE_ITEM, &size);
    if (kst != KCM_STATUS_SUCCESS) {
        return fcc_output_kcm_error(&b->out, kst, FCC_BOOTSTRAP_SERVER_CA_CERT,
                                    strlen(FCC_BOOTSTRAP_SERVER_CA_CERT));
    }
    uint8_t id[33];
    if (kcm_cert_ec_id(b->dev, FCC_BOOTSTRAP_SERVER_CA_CERT, id) != KCM_STATUS_SUCCESS) {
        return fail(b, FCC_STATUS_CA_ERROR, FCC_BOOTSTRAP_SERVER_CA_CERT);
    }
    if (!fcc_slot_exists(b->dev, KCM_SLOT_CA_ID) &&
        fcc_slot_write(b->dev, KCM_SLOT_CA_ID, id, sizeof(id)) != KCM_STATUS_SUCCESS) {
        return fail(b, FCC_STATUS_STORE_ERROR, NULL);
    }
    return FCC_STATUS_SUCCESS;
}

static fcc_status_e stage_secret(bundle_ctx *b, const char *slot, const cr_token *value,
                                 fcc_status_e exists_status)
{
    if (fcc_slot_exists(b->dev, slot)) {
        return fail(b, exists_status, slot);
    }
    if (fcc_slot_write(b->dev, slot, value->ptr, value->len) != KCM_STATUS_SUCCESS) {
        return fail(b, FCC_STATUS_STORE_ERROR, slot);
    }
    return FCC_STATUS_SUCCESS;
}

/* The entropy and root of trust a bundle injects. */
typedef struct injected_secrets {
    cr_token entropy, rot;
    bool has_entropy, has_rot;
} injected_secrets;

/* Everything checked before storage is touched. *respond: a factory-disabled device stays
 * silent, as the original does. */
static fcc_status_e check_bundle(bundle_ctx *b, injected_secrets *sec, bool *respond)
{
    if (b->buf == NULL || b->len == 0) {
        return fail(b, FCC_STATUS_INVALID_PARAMETER, NULL);
    }
    fcc_status_e st = check_envelope(b);
    if (st == FCC_STATUS_SUCCESS) {
        st = check_secret_group(b, FCC_GROUP_ENTROPY, FCC_ENTROPY_SIZE, KCM_SLOT_ENTROPY,
                                &sec->entropy, &sec->has_entropy);
    }
    if (st == FCC_STATUS_SUCCESS) {
        st = check_secret_group(b, FCC_GROUP_ROT, FCC_ROT_SIZE, KCM_SLOT_ROT, &sec->rot,
                                &sec->has_rot);
    }
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    kcm_status_e kst = kiln_kcm_init(b->dev);
    if (kst != KCM_STATUS_SUCCESS) {
        return fcc_output_kcm_error(&b->out, kst, NULL, 0);
    }
    if (fcc_slot_exists(b->dev, KCM_SLOT_FACTORY_DONE)) {
        *respond = false;
        return fail(b, FCC_STATUS_FACTORY_DISABLED_ERROR, NULL);
    }
    return FCC_STATUS_SUCCESS;
}

/* Checks the bundle, then opens its transaction and stages the secrets and every group's
 * items. The secrets' tokens end here, before the CSRs need their stack. */
static fcc_status_e stage_bundle(bundle_ctx *b, bool *respond)
{
    injected_secrets sec;
    fcc_status_e st = check_bundle(b, &sec, respond);
    if (st != FCC_STATUS_SUCCESS) {
        return st;
    }
    if (kcm_txn_begin(b->dev) != KCM_STATUS_SUCCESS) {
        return fail(b, FCC_STATUS_MEMORY_OUT, NULL);
    }
    if (sec.has_entropy) {
        st = stage_secret(b, KCM_SLOT_ENTROPY, &sec.entropy, FCC_STATUS_ENTROPY_ERROR);
        if (st == FCC_STATUS_SUCCESS) {
            /* Injected entropy also strengthens the device's own generator. */
            mbedtls_ctr_drbg_update_ret(&b->dev->drbg, sec.entropy.ptr, sec.entropy.len);
        }
    }
    if (st == FCC_STATUS_SUCCESS && sec.has_rot) {
        st = stage_secret(b, KCM_SLOT_ROT, &sec.rot, FCC_STATUS_ROT_ERROR);
    }
    return st == FCC_STATUS_SUCCESS ? walk_groups(b) : st;
}

/* What follows the groups: CSRs, the CA identity at the end of a session, verification and
 * factory disable. */
static fcc_status_e finish_bundle(bundle_ctx *b)
{
    kiln_device *dev = b->dev;
    fcc_status_e st = FCC_STATUS_SUCCESS;
    dev->session_finished = !b->keep_alive;
    if (b->disable && b->keep_alive) {
        return fail(b, FCC_STATUS_BUNDLE_INVALID_KEEP_ALIVE_SESSION_STATUS, NULL);
    }
    if (b->has_csrs) {
        st = process_csrs(b);
    }
    if (st == FCC_STATUS_SUCCESS && dev->session_finished) {
        st = store_ca_identity(b);
    }
    if (st == FCC_STATUS_SUCCESS && b->verify) {
        st = fcc_verify_device(dev, &b->out);
        b->verification_failed = st != FCC_STATUS_SUCCESS;
    }
    if (st == FCC_STATUS_SUCCESS && b->disable) {
        static const uint8_t one[8] = {1, 0, 0, 0, 0, 0, 0, 0};
        if (fcc_slot_write(dev, KCM_SLOT_FACTORY_DONE, one, sizeof(one)) != KCM_STATUS_SUCCESS) {
            return fail(b, FCC_STATUS_STORE_ERROR, NULL);
        }
    }
    return st;
}

static fcc_status_e handle(bundle_ctx *b, bool *respond)
{
    *respond = true;
    fcc_status_e st = stage_bundle(b, respond);
    return st == FCC_STATUS_SUCCESS ? finish_bundle(b) : st;
}

fcc_status_e kiln_fcc_bundle_handler(kiln_device *dev, const uint8_t *encoded_bundle,
                                     size_t encoded_bundle_size, uint8_t **bundle_response_out,
                                     size_t *bundle_response_size_out)
{
    if (!dev->fcc_ready) {
        return FCC_STATUS_NOT_INITIALIZED;
    }
    if (bundle_response_out == NULL || bundle_response_size_out == NULL) {
        return FCC_STATUS_INVALID_PARAMETER;
    }
    *bundle_response_out = NULL;
    *bundle_response_size_out = 0;

    bundle_ctx b;
    memset(&b, 0, sizeof(b));
    b.dev = dev;
    b.buf = encoded_bundle;
    b.len = encoded_bundle_size;
    b.verify = true;
    fcc_output_init(&b.out);

    bool respond = true;
    fcc_status_e st = handle(&b, &respond);
    if (dev->txn != NULL) {
        /* A bundle is all or nothing. The one exception keeps the original's keep-alive
         * contract: an intermediate message whose (default) verification fails still keeps
         * its items, because the session is not complete and later messages build on them. */
        bool keep = st == FCC_STATUS_SUCCESS || (b.verification_failed && !dev->session_finished);
        if (keep && b.time_set) {
            /* Saved in the bundle's transaction: it joins the open one. */
            kiln_fcc_time_set(dev, dev->time);
        }
        if (keep) {
            kcm_status_e kst = kcm_txn_commit(dev);
            if (kst != KCM_STATUS_SUCCESS && st == FCC_STATUS_SUCCESS) {
                st = fcc_output_kcm_error(&b.out, kst, NULL, 0);
            }
        } else {
            kcm_txn_abort(dev);
        }
    }
    if (respond) {
        if (b.out.oom || fcc_output_encode(&b.out, b.csrs, b.csr_count, b.sid, b.sid_len,
                                           bundle_response_out, bundle_response_size_out) != 0) {
            st = FCC_STATUS_BUNDLE_RESPONSE_ERROR;
        }
    }
    if (b.csr_der != NULL) {
        free(b.csr_der);
    }
    fcc_output_free(&b.out);
    return st;
}
