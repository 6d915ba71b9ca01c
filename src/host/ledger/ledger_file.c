/* Export files: a CBOR sequence (RFC 8742) of entries (arrays of 10, 11 in a named chain) and
 * checkpoints (arrays of 4, 5 in a named chain), or JSON lines with one object per entry or
 * checkpoint ("chain" only in a named chain). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ledger_internal.h"
#include "sf_msg.h"

/* Decodes lowercase hex of at most max bytes (one spelling only, as written: the export is
 * canonical); *len gets the byte count. */
static bool hex_to(const char *hex, uint8_t *out, size_t max, size_t *len)
{
    if (hex[strspn(hex, "0123456789abcdef")] != '\0') {
        return false;
    }
    return sf_hex_decode(hex, out, max, len) == SF_OK;
}

static kiln_ledger_status put_json(FILE *out, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    if (text == NULL) {
        return KILN_LEDGER_NO_MEMORY;
    }
    int rc = fprintf(out, "%s\n", text);
    free(text);
    return rc < 0 ? KILN_LEDGER_STORAGE : KILN_LEDGER_OK;
}

kiln_ledger_status kiln_ledger_write_entry(FILE *out, kiln_ledger_format format,
                                           const kiln_ledger_entry *e)
{
    if (format == KILN_LEDGER_FORMAT_CBOR) {
        uint8_t buf[KILN_LEDGER_ENTRY_MAX];
        size_t len;
        kiln_ledger_status st = kiln_ledger_entry_encode(e, buf, &len);
        if (st == KILN_LEDGER_OK && fwrite(buf, 1, len, out) != len) {
            st = KILN_LEDGER_STORAGE;
        }
        return st;
    }
    char cert[2 * KILN_LEDGER_HASH_SIZE + 1], prev[2 * KILN_LEDGER_HASH_SIZE + 1];
    sf_hex_encode(e->cert_sha256, e->has_cert ? KILN_LEDGER_HASH_SIZE : 0, cert);
    sf_hex_encode(e->prev_hash, KILN_LEDGER_HASH_SIZE, prev);
    json_t *obj = json_pack("{sIsIssssssssssssssss}", "seq", (json_int_t)e->seq, "time",
                            (json_int_t)e->time, "kind", e->kind, "endpoint", e->endpoint, "serial",
                            e->serial, "cert_sha256", cert, "issuer_ca", e->issuer_ca, "station",
                            e->station, "outcome", e->outcome, "prev_hash", prev);
    if (obj != NULL && e->chain[0] != '\0' &&
        json_object_set_new(obj, "chain", json_string(e->chain)) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    return put_json(out, obj);
}

kiln_ledger_status kiln_ledger_write_checkpoint(FILE *out, kiln_ledger_format format,
                                                const kiln_ledger_checkpoint *c)
{
    if (format == KILN_LEDGER_FORMAT_CBOR) {
        uint8_t buf[LEDGER_CHECKPOINT_MAX];
        size_t len = ledger_checkpoint_encode(c, buf, sizeof(buf));
        return len != 0 && fwrite(buf, 1, len, out) == len ? KILN_LEDGER_OK : KILN_LEDGER_STORAGE;
    }
    char head[2 * KILN_LEDGER_HASH_SIZE + 1], sig[2 * KILN_PKI_SIG_MAX + 1];
    sf_hex_encode(c->head, KILN_LEDGER_HASH_SIZE, head);
    sf_hex_encode(c->sig, c->sig_len, sig);
    json_t *obj = json_pack("{sIsIssss}", "checkpoint", (json_int_t)c->seq, "time",
                            (json_int_t)c->time, "head", head, "sig", sig);
    if (obj != NULL && c->chain[0] != '\0' &&
        json_object_set_new(obj, "chain", json_string(c->chain)) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    return put_json(out, obj);
}

/* ---- reading an export ---- */

static void read_cbor(kiln_ledger_verifier *v, const uint8_t *data, size_t len)
{
    lc_reader r = {.data = data, .len = len};
    while (r.pos < r.len) {
        size_t start = r.pos;
        unsigned major;
        uint64_t fields;
        kiln_ledger_entry e;
        kiln_ledger_checkpoint c;
        if (!lc_get_head(&r, &major, &fields) || major != LC_ARRAY) {
            kiln_ledger_verifier_malformed(v, "an item is not a CBOR array");
            return;
        }
        bool entry =
            fields == LEDGER_ENTRY_FIELDS || fields == LEDGER_ENTRY_FIELDS + LEDGER_CHAIN_FIELD;
        bool checkpoint = fields == LEDGER_CHECKPOINT_FIELDS ||
                          fields == LEDGER_CHECKPOINT_FIELDS + LEDGER_CHAIN_FIELD;
        if (entry && ledger_entry_decode_fields(&r, fields, &e)) {
            /* Hashes are over the canonical form: an item spelt another way is refused. */
            uint8_t canon[KILN_LEDGER_ENTRY_MAX];
            size_t canon_len;
            if (kiln_ledger_entry_encode(&e, canon, &canon_len) != KILN_LEDGER_OK ||
                canon_len != r.pos - start || memcmp(canon, data + start, canon_len) != 0) {
                kiln_ledger_verifier_malformed(v, "an entry is not in its canonical encoding");
                return;
            }
            kiln_ledger_verifier_entry(v, &e);
        } else if (checkpoint && ledger_checkpoint_decode_fields(&r, fields, &c)) {
            kiln_ledger_verifier_checkpoint(v, &c);
        } else {
            kiln_ledger_verifier_malformed(v, "an item is neither an entry nor a checkpoint");
            return;
        }
    }
}

static bool json_text(json_t *obj, const char *key, char *out)
{
    json_t *value = json_object_get(obj, key);
    return json_is_string(value) && ledger_set_text(out, json_string_value(value));
}

static bool json_uint(json_t *obj, const char *key, uint64_t *out)
{
    json_t *value = json_object_get(obj, key);
    if (!json_is_integer(value) || json_integer_value(value) < 0) {
        return false;
    }
    *out = (uint64_t)json_integer_value(value);
    return true;
}

static bool json_hex(json_t *obj, const char *key, uint8_t *out, size_t max, size_t *len)
{
    json_t *value = json_object_get(obj, key);
    return json_is_string(value) && hex_to(json_string_value(value), out, max, len);
}

/* The "chain" key: absent for the unnamed chain, else a non-empty text; *fields grows by one. */
static bool json_chain(json_t *obj, char *out, size_t *fields)
{
    if (json_object_get(obj, "chain") == NULL) {
        return true;
    }
    (*fields)++;
    return json_text(obj, "chain", out) && out[0] != '\0';
}

static bool json_entry(json_t *obj, kiln_ledger_entry *e)
{
    size_t cert_len = 0, prev_len = 0, fields = LEDGER_ENTRY_FIELDS;
    memset(e, 0, sizeof(*e));
    bool ok = json_chain(obj, e->chain, &fields) && json_object_size(obj) == fields &&
              json_uint(obj, "seq", &e->seq) && json_uint(obj, "time", &e->time) &&
              json_text(obj, "kind", e->kind) && json_text(obj, "endpoint", e->endpoint) &&
              json_text(obj, "serial", e->serial) &&
              json_hex(obj, "cert_sha256", e->cert_sha256, KILN_LEDGER_HASH_SIZE, &cert_len) &&
              json_text(obj, "issuer_ca", e->issuer_ca) && json_text(obj, "station", e->station) &&
              json_text(obj, "outcome", e->outcome) &&
              json_hex(obj, "prev_hash", e->prev_hash, KILN_LEDGER_HASH_SIZE, &prev_len);
    e->has_cert = cert_len == KILN_LEDGER_HASH_SIZE;
    return ok && (cert_len == 0 || e->has_cert) && prev_len == KILN_LEDGER_HASH_SIZE;
}

static bool json_checkpoint(json_t *obj, kiln_ledger_checkpoint *c)
{
    size_t head_len = 0, fields = LEDGER_CHECKPOINT_FIELDS;
    memset(c, 0, sizeof(*c));
    return json_chain(obj, c->chain, &fields) && json_object_size(obj) == fields &&
           json_uint(obj, "checkpoint", &c->seq) && json_uint(obj, "time", &c->time) &&
           json_hex(obj, "head", c->head, KILN_LEDGER_HASH_SIZE, &head_len) &&
           head_len == KILN_LEDGER_HASH_SIZE &&
           json_hex(obj, "sig", c->sig, KILN_PKI_SIG_MAX, &c->sig_len);
}

static void read_json_line(kiln_ledger_verifier *v, const char *line, size_t len, bool *ok)
{
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    kiln_ledger_entry e;
    kiln_ledger_checkpoint c;
    if (json_is_object(obj) && json_object_get(obj, "checkpoint") != NULL &&
        json_checkpoint(obj, &c)) {
        kiln_ledger_verifier_checkpoint(v, &c);
    } else if (json_is_object(obj) && json_entry(obj, &e)) {
        kiln_ledger_verifier_entry(v, &e);
    } else {
        kiln_ledger_verifier_malformed(v, "a line is neither an entry nor a checkpoint");
        *ok = false;
    }
    json_decref(obj);
}

static void read_jsonl(kiln_ledger_verifier *v, const uint8_t *data, size_t len)
{
    const char *text = (const char *)data;
    size_t pos = 0;
    bool ok = true;
    while (pos < len && ok) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (end > pos) {
            read_json_line(v, text + pos, end - pos, &ok);
        }
        pos = end + 1;
    }
}

kiln_ledger_status kiln_ledger_verify_buffer(const uint8_t *data, size_t len,
                                             const uint8_t point[KILN_PKI_POINT_SIZE],
                                             kiln_ledger_verdict *verdict)
{
    kiln_ledger_verifier *v = NULL;
    if (kiln_ledger_verifier_new(point, &v) != KILN_LEDGER_OK) {
        return kiln_ledger_verifier_finish(NULL, verdict);
    }
    /* A CBOR item of the ledger starts with an array head (0x84, 0x85, 0x8a, 0x8b); JSON '{'. */
    if (len > 0 && data[0] == '{') {
        read_jsonl(v, data, len);
    } else {
        read_cbor(v, data, len);
    }
    return kiln_ledger_verifier_finish(v, verdict);
}
