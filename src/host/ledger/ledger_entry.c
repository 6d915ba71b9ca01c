#include <string.h>

#include "kiln_pki.h"

#include "ledger_internal.h"

#define STATUS_NAME(name, code, text) [code] = #name,
#define STATUS_TEXT(name, code, text) [code] = text,
static const char *const status_names[] = {KILN_LEDGER_STATUS_MAP(STATUS_NAME)};
static const char *const status_texts[] = {KILN_LEDGER_STATUS_MAP(STATUS_TEXT)};

const char *kiln_ledger_status_name(int status)
{
    if (status < 0 || (size_t)status >= sizeof(status_names) / sizeof(status_names[0])) {
        return "UNKNOWN";
    }
    return status_names[status];
}

const char *kiln_ledger_strerror(int status)
{
    if (status < 0 || (size_t)status >= sizeof(status_texts) / sizeof(status_texts[0])) {
        return "unknown ledger status";
    }
    return status_texts[status];
}

bool ledger_set_text(char dst[KILN_LEDGER_TEXT_MAX + 1], const char *src)
{
    if (src == NULL) {
        src = "";
    }
    size_t len = strlen(src);
    if (len > KILN_LEDGER_TEXT_MAX || !lc_utf8_valid((const uint8_t *)src, len)) {
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

static bool entry_texts_valid(const kiln_ledger_entry *e)
{
    const char *texts[] = {e->kind,    e->endpoint, e->serial, e->issuer_ca,
                           e->station, e->outcome,  e->chain};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t len = strnlen(texts[i], KILN_LEDGER_TEXT_MAX + 1);
        if (len > KILN_LEDGER_TEXT_MAX || !lc_utf8_valid((const uint8_t *)texts[i], len)) {
            return false;
        }
    }
    return true;
}

kiln_ledger_status kiln_ledger_entry_encode(const kiln_ledger_entry *e,
                                            uint8_t out[KILN_LEDGER_ENTRY_MAX], size_t *len)
{
    if (!entry_texts_valid(e)) {
        return KILN_LEDGER_INVALID_ARGUMENT;
    }
    kiln_bundle_writer w;
    kiln_bw_init(&w, out, KILN_LEDGER_ENTRY_MAX);
    bool named = e->chain[0] != '\0';
    kiln_bw_array(&w, LEDGER_ENTRY_FIELDS + (named ? LEDGER_CHAIN_FIELD : 0));
    kiln_bw_uint(&w, e->seq);
    kiln_bw_uint(&w, e->time);
    kiln_bw_text(&w, e->kind);
    kiln_bw_text(&w, e->endpoint);
    kiln_bw_text(&w, e->serial);
    kiln_bw_bytes(&w, e->cert_sha256, e->has_cert ? KILN_LEDGER_HASH_SIZE : 0);
    kiln_bw_text(&w, e->issuer_ca);
    kiln_bw_text(&w, e->station);
    kiln_bw_text(&w, e->outcome);
    kiln_bw_bytes(&w, e->prev_hash, KILN_LEDGER_HASH_SIZE);
    if (named) {
        kiln_bw_text(&w,
                     e->chain); /* only named chains: the unnamed one's bytes stay as they were */
    }
    if (!kiln_bw_complete(&w)) {
        return KILN_LEDGER_INVALID_ARGUMENT;
    }
    *len = kiln_bw_length(&w);
    return KILN_LEDGER_OK;
}

kiln_ledger_status kiln_ledger_entry_hash(const kiln_ledger_entry *e,
                                          uint8_t hash[KILN_LEDGER_HASH_SIZE])
{
    uint8_t buf[KILN_LEDGER_ENTRY_MAX];
    size_t len;
    kiln_ledger_status st = kiln_ledger_entry_encode(e, buf, &len);
    if (st == KILN_LEDGER_OK && !kiln_pki_sha256(buf, len, hash)) {
        st = KILN_LEDGER_NO_MEMORY;
    }
    return st;
}

void kiln_ledger_checkpoint_digest(uint64_t seq, const uint8_t head[KILN_LEDGER_HASH_SIZE],
                                   uint8_t digest[KILN_PKI_DIGEST_SIZE])
{
    uint8_t buf[96];
    kiln_bundle_writer w;
    kiln_bw_init(&w, buf, sizeof(buf));
    kiln_bw_array(&w, 3);
    kiln_bw_text(&w, LEDGER_CHECKPOINT_LABEL);
    kiln_bw_uint(&w, seq);
    kiln_bw_bytes(&w, head, KILN_LEDGER_HASH_SIZE);
    (void)kiln_pki_sha256(buf, kiln_bw_length(&w), digest);
}

bool ledger_entry_decode_fields(lc_reader *r, uint64_t fields, kiln_ledger_entry *e)
{
    size_t cert_len, prev_len;
    memset(e, 0, sizeof(*e));
    bool ok = lc_get_uint(r, &e->seq) && lc_get_uint(r, &e->time) &&
              lc_get_text(r, e->kind, KILN_LEDGER_TEXT_MAX) &&
              lc_get_text(r, e->endpoint, KILN_LEDGER_TEXT_MAX) &&
              lc_get_text(r, e->serial, KILN_LEDGER_TEXT_MAX) &&
              lc_get_bytes(r, e->cert_sha256, KILN_LEDGER_HASH_SIZE, &cert_len) &&
              lc_get_text(r, e->issuer_ca, KILN_LEDGER_TEXT_MAX) &&
              lc_get_text(r, e->station, KILN_LEDGER_TEXT_MAX) &&
              lc_get_text(r, e->outcome, KILN_LEDGER_TEXT_MAX) &&
              lc_get_bytes(r, e->prev_hash, KILN_LEDGER_HASH_SIZE, &prev_len);
    /* The certificate hash is there or not: no other length has one meaning. */
    ok = ok && (cert_len == 0 || cert_len == KILN_LEDGER_HASH_SIZE) &&
         prev_len == KILN_LEDGER_HASH_SIZE;
    /* A chain item is there only for a named chain: "" has one spelling, the 10 items. */
    if (ok && fields == LEDGER_ENTRY_FIELDS + LEDGER_CHAIN_FIELD) {
        ok = lc_get_text(r, e->chain, KILN_LEDGER_TEXT_MAX) && e->chain[0] != '\0';
    } else if (fields != LEDGER_ENTRY_FIELDS) {
        ok = false;
    }
    e->has_cert = ok && cert_len == KILN_LEDGER_HASH_SIZE;
    return ok;
}

bool ledger_checkpoint_decode_fields(lc_reader *r, uint64_t fields, kiln_ledger_checkpoint *c)
{
    size_t head_len;
    memset(c, 0, sizeof(*c));
    bool ok = lc_get_uint(r, &c->seq) && lc_get_uint(r, &c->time) &&
              lc_get_bytes(r, c->head, KILN_LEDGER_HASH_SIZE, &head_len) &&
              head_len == KILN_LEDGER_HASH_SIZE &&
              lc_get_bytes(r, c->sig, KILN_PKI_SIG_MAX, &c->sig_len);
    if (ok && fields == LEDGER_CHECKPOINT_FIELDS + LEDGER_CHAIN_FIELD) {
        return lc_get_text(r, c->chain, KILN_LEDGER_TEXT_MAX) && c->chain[0] != '\0';
    }
    return ok && fields == LEDGER_CHECKPOINT_FIELDS;
}

size_t ledger_checkpoint_encode(const kiln_ledger_checkpoint *c, uint8_t *out, size_t cap)
{
    kiln_bundle_writer w;
    kiln_bw_init(&w, out, cap);
    bool named = c->chain[0] != '\0';
    kiln_bw_array(&w, LEDGER_CHECKPOINT_FIELDS + (named ? LEDGER_CHAIN_FIELD : 0));
    kiln_bw_uint(&w, c->seq);
    kiln_bw_uint(&w, c->time);
    kiln_bw_bytes(&w, c->head, KILN_LEDGER_HASH_SIZE);
    kiln_bw_bytes(&w, c->sig, c->sig_len);
    if (named) {
        kiln_bw_text(&w, c->chain);
    }
    return kiln_bw_complete(&w) ? kiln_bw_length(&w) : 0;
}
