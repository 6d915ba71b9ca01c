#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <cbor.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "kiln_ledger.h"

#define DEVICES 200
#define EVERY   50

typedef struct fixture {
    char dir[64];
    kiln_pki_signer *key, *other;
    sqlite3 *db;
} fixture;

static void key_path(const fixture *f, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", f->dir, name);
}

/* Appends what a line run appends per device: the issued certificate and the outcome. */
static void provision(kiln_ledger *l, unsigned devices)
{
    for (unsigned i = 0; i < devices / 2; i++) {
        char endpoint[32], serial[40];
        uint8_t cert[32];
        snprintf(endpoint, sizeof(endpoint), "device-%04u", i);
        snprintf(serial, sizeof(serial), "%032x", i * 7919u);
        assert_int_equal(RAND_bytes(cert, sizeof(cert)), 1);
        kiln_ledger_record issued = {KILN_LEDGER_KIND_CERTIFICATE,
                                     endpoint,
                                     serial,
                                     cert,
                                     "CN=kiln line CA",
                                     "station-1",
                                     "issued"};
        kiln_ledger_record outcome = {KILN_LEDGER_KIND_OUTCOME,
                                      endpoint,
                                      serial,
                                      NULL,
                                      "",
                                      "station-1",
                                      i % 10 == 3 ? "failed 6012" : "success"};
        assert_int_equal(kiln_ledger_append(l, &issued, NULL), KILN_LEDGER_OK);
        assert_int_equal(kiln_ledger_append(l, &outcome, NULL), KILN_LEDGER_OK);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char path[128];
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ledger.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    key_path(f, "ledger.key", path, sizeof(path));
    assert_int_equal(kiln_ledger_key_open(path, &f->key), KILN_LEDGER_OK);
    key_path(f, "other.key", path, sizeof(path));
    assert_int_equal(kiln_ledger_key_open(path, &f->other), KILN_LEDGER_OK);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    kiln_ledger *l;
    assert_int_equal(kiln_ledger_open(f->db, f->key, EVERY, &l), KILN_LEDGER_OK);
    provision(l, DEVICES);
    assert_int_equal(kiln_ledger_close(l), KILN_LEDGER_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char path[128];
    sqlite3_close(f->db);
    kiln_pki_signer_free(f->key);
    kiln_pki_signer_free(f->other);
    key_path(f, "ledger.key", path, sizeof(path));
    unlink(path);
    key_path(f, "other.key", path, sizeof(path));
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void sql(fixture *f, const char *text)
{
    char *err = NULL;
    int rc = sqlite3_exec(f->db, text, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fail_msg("%s: %s", text, err);
    }
}

static kiln_ledger_verdict verify_db(fixture *f, const kiln_pki_signer *key)
{
    kiln_ledger_verdict v;
    kiln_ledger_verify_db(f->db, kiln_pki_signer_point(key), &v);
    return v;
}

static void expect(const kiln_ledger_verdict *v, kiln_ledger_status status, uint64_t seq)
{
    if (v->status != status || v->seq != seq) {
        fail_msg("got %s at %llu (%s), expected %s at %llu", kiln_ledger_status_name(v->status),
                 (unsigned long long)v->seq, v->detail, kiln_ledger_status_name(status),
                 (unsigned long long)seq);
    }
}

static void test_untouched_holds(void **state)
{
    fixture *f = *state;
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_OK, 0);
    assert_int_equal(v.entries, DEVICES);
    assert_int_equal(v.checkpoints, DEVICES / EVERY);
    assert_int_equal(v.signed_seq, DEVICES);
}

static void test_changed_byte(void **state)
{
    fixture *f = *state;
    sql(f, "UPDATE ledger SET serial = 'x' || substr(serial, 2) WHERE seq = 77");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_CHANGED, 77);
}

static void test_changed_last_entry(void **state)
{
    fixture *f = *state;
    sql(f, "UPDATE ledger SET outcome = 'success' WHERE seq = 200");
    sql(f, "UPDATE ledger SET outcome = 'failed 1' WHERE seq = 200");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_CHANGED, 200);
}

static void test_deleted(void **state)
{
    fixture *f = *state;
    sql(f, "DELETE FROM ledger WHERE seq = 120");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_MISSING, 120);
}

static void test_tail_dropped(void **state)
{
    fixture *f = *state;
    sql(f, "DELETE FROM ledger WHERE seq > 196");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_MISSING, 197);
}

static void test_swapped(void **state)
{
    fixture *f = *state;
    sql(f, "UPDATE ledger SET id = -1 WHERE seq = 30;"
           "UPDATE ledger SET id = 30 WHERE seq = 31;"
           "UPDATE ledger SET id = 31 WHERE seq = 30;");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_REORDERED, 30);
}

static void test_forked(void **state)
{
    fixture *f = *state;
    sql(f, "INSERT INTO ledger (seq, time, kind, endpoint, serial, cert_sha256, issuer_ca,"
           " station, outcome, prev_hash) SELECT seq, time, kind, endpoint, serial, cert_sha256,"
           " issuer_ca, station, 'success', prev_hash FROM ledger WHERE seq = 150");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_FORKED, 150);
}

static void test_forged_tail(void **state)
{
    fixture *f = *state;
    /* Whoever can write the database can chain an entry correctly, but only signs with
     * another key. */
    kiln_ledger *l;
    kiln_ledger_record forged = {KILN_LEDGER_KIND_CERTIFICATE, "intruder", "01", NULL, "", "", ""};
    uint64_t seq;
    assert_int_equal(kiln_ledger_open(f->db, f->other, EVERY, &l), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_append(l, &forged, &seq), KILN_LEDGER_OK);
    assert_int_equal(seq, DEVICES + 1);
    assert_int_equal(kiln_ledger_close(l), KILN_LEDGER_OK);
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_BAD_SIGNATURE, DEVICES + 1);
    sql(f, "DELETE FROM ledger_checkpoint WHERE seq = 201");
    v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_UNSIGNED_TAIL, DEVICES + 1);
}

static void test_other_key(void **state)
{
    fixture *f = *state;
    kiln_ledger_verdict v = verify_db(f, f->other);
    expect(&v, KILN_LEDGER_BAD_SIGNATURE, EVERY);
}

static void test_checkpoint_signature_changed(void **state)
{
    fixture *f = *state;
    sql(f, "UPDATE ledger_checkpoint SET head = zeroblob(32) WHERE seq = 100");
    kiln_ledger_verdict v = verify_db(f, f->key);
    expect(&v, KILN_LEDGER_BAD_SIGNATURE, 100);
}

/* ---- exported files ---- */

static uint8_t *export(fixture *f, kiln_ledger_format format, size_t *len)
{
    char *data = NULL;
    FILE *out = open_memstream(&data, len);
    assert_non_null(out);
    assert_int_equal(kiln_ledger_export_db(f->db, out, format), KILN_LEDGER_OK);
    assert_int_equal(fclose(out), 0);
    return (uint8_t *)data;
}

static kiln_ledger_verdict verify_file(const uint8_t *data, size_t len, const kiln_pki_signer *key)
{
    kiln_ledger_verdict v;
    kiln_ledger_verify_buffer(data, len, kiln_pki_signer_point(key), &v);
    return v;
}

static void test_exports_verify_with_the_public_key_alone(void **state)
{
    fixture *f = *state;
    char *pem = kiln_ledger_pubkey_pem(kiln_pki_signer_point(f->key));
    uint8_t point[KILN_PKI_POINT_SIZE];
    assert_non_null(pem);
    assert_int_equal(kiln_ledger_pubkey_parse((uint8_t *)pem, strlen(pem), point), KILN_LEDGER_OK);
    assert_memory_equal(point, kiln_pki_signer_point(f->key), sizeof(point));
    free(pem);
    kiln_ledger_format formats[] = {KILN_LEDGER_FORMAT_JSONL, KILN_LEDGER_FORMAT_CBOR};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        uint8_t *data = export(f, formats[i], &len);
        kiln_ledger_verdict v;
        kiln_ledger_verify_buffer(data, len, point, &v);
        expect(&v, KILN_LEDGER_OK, 0);
        assert_int_equal(v.entries, DEVICES);
        assert_int_equal(v.checkpoints, DEVICES / EVERY);
        free(data);
    }
}

/* The n-th line (0-based) of a JSON lines export, as offset and length. */
static void line_of(const uint8_t *data, size_t len, unsigned n, size_t *start, size_t *size)
{
    size_t pos = 0, line = 0;
    while (line < n && pos < len)
        if (data[pos++] == '\n')
            line++;
    assert_int_equal(line, n);
    size_t end = pos;
    while (end < len && data[end] != '\n')
        end++;
    assert_true(end < len);
    *start = pos;
    *size = end + 1 - pos;
}

static void test_jsonl_tampering(void **state)
{
    fixture *f = *state;
    size_t len, start, size;
    uint8_t *data = export(f, KILN_LEDGER_FORMAT_JSONL, &len);
    /* Entry 10 is line 9 (no checkpoint before 50). */
    line_of(data, len, 9, &start, &size);
    uint8_t *copy = malloc(len + size);
    memcpy(copy, data, len);
    char *serial = strstr((char *)copy + start, "\"serial\":\"");
    serial[10] = serial[10] == '0' ? '1' : '0';
    kiln_ledger_verdict v = verify_file(copy, len, f->key);
    expect(&v, KILN_LEDGER_CHANGED, 10);
    /* The same line twice: a fork at 10. */
    memcpy(copy, data, start + size);
    memcpy(copy + start + size, data + start, len - start);
    v = verify_file(copy, len + size, f->key);
    expect(&v, KILN_LEDGER_FORKED, 10);
    /* Line 9 removed. */
    memcpy(copy, data, start);
    memcpy(copy + start, data + start + size, len - start - size);
    v = verify_file(copy, len - size, f->key);
    expect(&v, KILN_LEDGER_MISSING, 10);
    /* Not JSON at all from line 9 on. */
    memcpy(copy, data, len);
    copy[start + 1] = '!';
    v = verify_file(copy, len, f->key);
    expect(&v, KILN_LEDGER_MALFORMED, 10);
    free(copy);
    free(data);
}

static void test_cbor_tampering(void **state)
{
    fixture *f = *state;
    size_t len;
    uint8_t *data = export(f, KILN_LEDGER_FORMAT_CBOR, &len);
    uint8_t *copy = malloc(len + 1);
    /* The first entry: 0x8a, seq 1 (0x01), time as a 4-byte integer (0x1a ...). */
    assert_int_equal(data[0], 0x8a);
    assert_int_equal(data[1], 0x01);
    assert_int_equal(data[2], 0x1a);
    /* seq 1 spelt 0x18 0x01 (not the shortest form) is refused. */
    copy[0] = 0x8a;
    copy[1] = 0x18;
    memcpy(copy + 2, data + 1, len - 1);
    kiln_ledger_verdict v = verify_file(copy, len + 1, f->key);
    expect(&v, KILN_LEDGER_MALFORMED, 1);
    /* A byte of the first entry's time changed: entry 2's link names entry 1. */
    memcpy(copy, data, len);
    copy[6] ^= 1;
    v = verify_file(copy, len, f->key);
    expect(&v, KILN_LEDGER_CHANGED, 1);
    /* Truncated in the middle of the last item. */
    v = verify_file(data, len - 3, f->key);
    expect(&v, KILN_LEDGER_MALFORMED, DEVICES + 1);
    free(copy);
    free(data);
}

/* libcbor, an independent decoder, reads an entry as the documented array with every integer
 * in its shortest width. */
static void test_encoding_is_deterministic_cbor(void **state)
{
    (void)state;
    kiln_ledger_entry e = {.seq = 300, .time = 1700000000, .has_cert = true};
    strcpy(e.kind, "certificate");
    strcpy(e.endpoint, "dev-1");
    strcpy(e.serial, "0a1b");
    strcpy(e.issuer_ca, "CN=CA");
    strcpy(e.station, "st");
    strcpy(e.outcome, "issued");
    memset(e.cert_sha256, 0xab, 32);
    memset(e.prev_hash, 0xcd, 32);
    uint8_t buf[KILN_LEDGER_ENTRY_MAX];
    size_t len;
    assert_int_equal(kiln_ledger_entry_encode(&e, buf, &len), KILN_LEDGER_OK);
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(buf, len, &res);
    assert_non_null(item);
    assert_int_equal(res.read, len);
    assert_true(cbor_isa_array(item) && cbor_array_is_definite(item));
    assert_int_equal(cbor_array_size(item), 10);
    cbor_item_t **f = cbor_array_handle(item);
    assert_int_equal(cbor_get_int(f[0]), 300);
    assert_int_equal(cbor_int_get_width(f[0]), CBOR_INT_16);
    assert_int_equal(cbor_get_int(f[1]), 1700000000);
    assert_int_equal(cbor_int_get_width(f[1]), CBOR_INT_32);
    const char *texts[] = {NULL, NULL,    "certificate", "dev-1", "0a1b",
                           NULL, "CN=CA", "st",          "issued"};
    for (int i = 2; i < 9; i++) {
        if (i == 5) {
            assert_true(cbor_isa_bytestring(f[i]) && cbor_bytestring_length(f[i]) == 32);
            continue;
        }
        assert_true(cbor_isa_string(f[i]) && cbor_string_is_definite(f[i]));
        assert_int_equal(cbor_string_length(f[i]), strlen(texts[i]));
        assert_memory_equal(cbor_string_handle(f[i]), texts[i], strlen(texts[i]));
    }
    assert_true(cbor_isa_bytestring(f[9]) && cbor_bytestring_length(f[9]) == 32);
    assert_memory_equal(cbor_bytestring_handle(f[9]), e.prev_hash, 32);
    cbor_decref(&item);
    /* A text that is not UTF-8 cannot be appended or encoded. */
    strcpy(e.station, "\xc3\x28");
    assert_int_equal(kiln_ledger_entry_encode(&e, buf, &len), KILN_LEDGER_INVALID_ARGUMENT);
}

/* ---- several chains in one file ---- */

#define CHAINS      3
#define CHAIN_LEN   5
#define CHAIN_ITEMS (CHAINS * (CHAIN_LEN + 1))

static const char *const chain_names[CHAINS] = {"", "st-a", "st-b"};

/* One item of a hand-made export: an entry or a checkpoint. */
typedef struct chain_item {
    bool checkpoint;
    kiln_ledger_entry e;
    kiln_ledger_checkpoint c;
} chain_item;

/* Entries of three chains (the unnamed one, st-a, st-b) interleaved as concurrent writers store
 * them, each chain's signed checkpoint after its last entry (signed_chains: a bit per chain). */
static size_t chain_items(const fixture *f, chain_item *items, unsigned signed_chains)
{
    uint8_t heads[CHAINS][32];
    size_t n = 0;
    memset(heads, 0, sizeof(heads));
    for (unsigned seq = 1; seq <= CHAIN_LEN; seq++) {
        for (unsigned k = 0; k < CHAINS; k++) {
            chain_item *it = &items[n++];
            memset(it, 0, sizeof(*it));
            kiln_ledger_entry *e = &it->e;
            e->seq = seq;
            e->time = 1764633600 + seq;
            strcpy(e->kind, KILN_LEDGER_KIND_OUTCOME);
            snprintf(e->endpoint, sizeof(e->endpoint), "ep-%u-%u", k, seq);
            strcpy(e->station, chain_names[k][0] ? chain_names[k] : "st-0");
            strcpy(e->outcome, "success");
            strcpy(e->chain, chain_names[k]);
            memcpy(e->prev_hash, heads[k], 32);
            assert_int_equal(kiln_ledger_entry_hash(e, heads[k]), KILN_LEDGER_OK);
            if (seq == CHAIN_LEN && (signed_chains & (1u << k))) {
                chain_item *cp = &items[n++];
                uint8_t digest[KILN_PKI_DIGEST_SIZE];
                memset(cp, 0, sizeof(*cp));
                cp->checkpoint = true;
                cp->c.seq = seq;
                cp->c.time = e->time;
                memcpy(cp->c.head, heads[k], 32);
                strcpy(cp->c.chain, chain_names[k]);
                kiln_ledger_checkpoint_digest(seq, heads[k], digest);
                assert_int_equal(
                    kiln_pki_signer_sign_digest(f->key, digest, cp->c.sig, &cp->c.sig_len),
                    KILN_PKI_OK);
            }
        }
    }
    return n;
}

static uint8_t *write_items(const chain_item *items, size_t n, kiln_ledger_format format,
                            size_t *len)
{
    char *data = NULL;
    FILE *out = open_memstream(&data, len);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        kiln_ledger_status st = items[i].checkpoint
                                    ? kiln_ledger_write_checkpoint(out, format, &items[i].c)
                                    : kiln_ledger_write_entry(out, format, &items[i].e);
        assert_int_equal(st, KILN_LEDGER_OK);
    }
    fclose(out);
    return (uint8_t *)data;
}

static kiln_ledger_verdict verify_items(const fixture *f, const chain_item *items, size_t n,
                                        kiln_ledger_format format)
{
    size_t len;
    uint8_t *data = write_items(items, n, format, &len);
    kiln_ledger_verdict v = verify_file(data, len, f->key);
    free(data);
    return v;
}

static void expect_chain(const kiln_ledger_verdict *v, kiln_ledger_status status, uint64_t seq,
                         const char *chain)
{
    expect(v, status, seq);
    if (strcmp(v->chain, chain) != 0) {
        fail_msg("the verdict names chain '%s' (%s), expected '%s'", v->chain, v->detail, chain);
    }
}

/* A file of three interleaved chains verifies; each problem is named with its chain. */
static void test_named_chains_in_files(void **state)
{
    fixture *f = *state;
    chain_item items[CHAIN_ITEMS];
    kiln_ledger_format formats[] = {KILN_LEDGER_FORMAT_JSONL, KILN_LEDGER_FORMAT_CBOR};
    for (size_t i = 0; i < 2; i++) {
        size_t n = chain_items(f, items, 7);
        kiln_ledger_verdict v = verify_items(f, items, n, formats[i]);
        expect_chain(&v, KILN_LEDGER_OK, 0, "");
        assert_int_equal(v.chains, CHAINS);
        assert_int_equal(v.entries, CHAINS * CHAIN_LEN);
        assert_int_equal(v.signed_seq, CHAINS * CHAIN_LEN);
        /* entry 3 of st-b changed after it was chained */
        items[(3 - 1) * CHAINS + 2].e.serial[0] = 'x'; /* seq 3 of chain 2, st-b */
        v = verify_items(f, items, n, formats[i]);
        expect_chain(&v, KILN_LEDGER_CHANGED, 3, "st-b");
        assert_non_null(strstr(v.detail, "chain st-b seq 3: "));
        /* the same entry moved into st-a: st-a's links break there */
        n = chain_items(f, items, 7);
        strcpy(items[(3 - 1) * CHAINS + 2].e.chain, "st-a");
        v = verify_items(f, items, n, formats[i]);
        expect_chain(&v, KILN_LEDGER_FORKED, 3, "st-a");
        /* st-a unsigned (its writer died), the others signed */
        n = chain_items(f, items, 5);
        v = verify_items(f, items, n, formats[i]);
        expect_chain(&v, KILN_LEDGER_UNSIGNED_TAIL, 1, "st-a");
        /* st-b's checkpoint relabelled as st-a's: its head is not st-a's (the chain is in the
         * hashed entries, so a checkpoint signs one chain's head only) */
        n = chain_items(f, items, 7);
        for (size_t k = 0; k < n; k++) {
            if (items[k].checkpoint && strcmp(items[k].c.chain, "st-b") == 0) {
                strcpy(items[k].c.chain, "st-a");
            }
        }
        v = verify_items(f, items, n, formats[i]);
        expect_chain(&v, KILN_LEDGER_CHANGED, 5, "st-a");
    }
}

/* docs/ledger.md's worked example, unnamed (112 bytes) and in chain st-1 (117 bytes). */
static void test_worked_example(void **state)
{
    (void)state;
    kiln_ledger_entry e = {.seq = 2, .time = 1764633600, .has_cert = true};
    strcpy(e.kind, "certificate");
    strcpy(e.endpoint, "ep-1");
    strcpy(e.serial, "SN-1");
    strcpy(e.issuer_ca, "CA");
    strcpy(e.station, "st-1");
    strcpy(e.outcome, "issued");
    for (int i = 0; i < 32; i++) {
        e.cert_sha256[i] = (uint8_t)i;
        e.prev_hash[i] = (uint8_t)(0xa0 + i % 16);
    }
    static const uint8_t unnamed[32] = {0x2e, 0xb0, 0x37, 0xcd, 0xee, 0xdd, 0x18, 0x59,
                                        0xed, 0xb0, 0x02, 0xd0, 0xc9, 0x1e, 0x34, 0x8c,
                                        0xc4, 0x6c, 0x10, 0x37, 0xab, 0x4e, 0xa2, 0x42,
                                        0x64, 0x6f, 0xa3, 0xf4, 0xa8, 0xdb, 0x6d, 0x43};
    static const uint8_t named[32] = {0x0b, 0xa8, 0x6f, 0x1f, 0x5d, 0x6b, 0xbb, 0xe0,
                                      0xe6, 0xe4, 0x74, 0x94, 0x42, 0x46, 0xac, 0xcb,
                                      0xf8, 0x01, 0xae, 0xb9, 0xdf, 0x75, 0x29, 0x95,
                                      0x85, 0x72, 0x3e, 0x4e, 0xaa, 0x91, 0xc2, 0x81};
    uint8_t buf[KILN_LEDGER_ENTRY_MAX], hash[32];
    size_t len;
    assert_int_equal(kiln_ledger_entry_encode(&e, buf, &len), KILN_LEDGER_OK);
    assert_int_equal(len, 112);
    assert_int_equal(kiln_ledger_entry_hash(&e, hash), KILN_LEDGER_OK);
    assert_memory_equal(hash, unnamed, 32);
    strcpy(e.chain, "st-1");
    assert_int_equal(kiln_ledger_entry_encode(&e, buf, &len), KILN_LEDGER_OK);
    assert_int_equal(len, 117);
    assert_int_equal(kiln_ledger_entry_hash(&e, hash), KILN_LEDGER_OK);
    assert_memory_equal(hash, named, 32);
}

/* A named chain's entry is the 10 items and the chain as an 11th; "" has the 10 only. */
static void test_named_chain_encoding(void **state)
{
    fixture *f = *state;
    chain_item items[CHAIN_ITEMS];
    chain_items(f, items, 7);
    uint8_t buf[KILN_LEDGER_ENTRY_MAX];
    size_t len;
    assert_int_equal(kiln_ledger_entry_encode(&items[1].e, buf, &len), KILN_LEDGER_OK);
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(buf, len, &res);
    assert_non_null(item);
    assert_int_equal(cbor_array_size(item), 11);
    cbor_item_t *chain = cbor_array_handle(item)[10];
    assert_true(cbor_isa_string(chain) && cbor_string_length(chain) == 4);
    assert_memory_equal(cbor_string_handle(chain), "st-a", 4);
    cbor_decref(&item);
    assert_int_equal(kiln_ledger_entry_encode(&items[0].e, buf, &len), KILN_LEDGER_OK);
    assert_int_equal(buf[0], 0x8a);
    /* An 11th item that names no chain, or a "chain" key with "", is not canonical. */
    assert_int_equal(kiln_ledger_entry_encode(&items[1].e, buf, &len), KILN_LEDGER_OK);
    assert_int_equal(buf[len - 5], 0x64);
    buf[len - 5] = 0x60;
    kiln_ledger_verdict v = verify_file(buf, len - 4, f->key);
    expect(&v, KILN_LEDGER_MALFORMED, 1);
    const char *line = "{\"seq\":1,\"time\":1,\"kind\":\"ca\",\"endpoint\":\"\",\"serial\":\"\","
                       "\"cert_sha256\":\"\",\"issuer_ca\":\"\",\"station\":\"\",\"outcome\":\"\","
                       "\"prev_hash\":\"00000000000000000000000000000000000000000000000000000000"
                       "00000000\",\"chain\":\"\"}\n";
    v = verify_file((const uint8_t *)line, strlen(line), f->key);
    expect(&v, KILN_LEDGER_MALFORMED, 1);
}

static void test_key_file_is_private(void **state)
{
    fixture *f = *state;
    char path[128];
    struct stat sb;
    key_path(f, "ledger.key", path, sizeof(path));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* Reopening gives the same key; a key others can read is refused. */
    kiln_pki_signer *again;
    assert_int_equal(kiln_ledger_key_open(path, &again), KILN_LEDGER_OK);
    assert_memory_equal(kiln_pki_signer_point(again), kiln_pki_signer_point(f->key),
                        KILN_PKI_POINT_SIZE);
    kiln_pki_signer_free(again);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(kiln_ledger_key_open(path, &again), KILN_LEDGER_KEY);
}

/* The key file kiln_ledger_key_open created is read directly (not through OpenSSL's decoders):
 * what it signs must verify with the point the generic reader finds; a key file in another
 * form (SEC1 "EC PRIVATE KEY") still opens, through the generic reader. */
static void test_key_file_forms(void **state)
{
    fixture *f = *state;
    char path[128];
    key_path(f, "ledger.key", path, sizeof(path));
    kiln_pki_signer *direct, *generic;
    assert_int_equal(kiln_ledger_key_open(path, &direct), KILN_LEDGER_OK);
    assert_int_equal(kiln_pki_signer_from_file(path, &generic), KILN_PKI_OK);
    assert_memory_equal(kiln_pki_signer_point(direct), kiln_pki_signer_point(generic),
                        KILN_PKI_POINT_SIZE);
    uint8_t digest[KILN_PKI_DIGEST_SIZE] = {1, 2, 3}, sig[KILN_PKI_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(kiln_pki_signer_sign_digest(direct, digest, sig, &sig_len), KILN_PKI_OK);
    assert_true(kiln_ledger_sig_verify(kiln_pki_signer_point(generic), digest, sig, sig_len));
    kiln_pki_signer_free(direct);
    kiln_pki_signer_free(generic);

    char sec1[128];
    key_path(f, "sec1.key", sec1, sizeof(sec1));
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    BIO *mem = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(mem, key, NULL, NULL, 0, NULL, NULL), 1);
    char *pem;
    long pem_len = BIO_get_mem_data(mem, &pem);
    assert_non_null(strstr(pem, "BEGIN EC PRIVATE KEY"));
    int fd = open(sec1, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pem, (size_t)pem_len), pem_len);
    close(fd);
    BIO_free(mem);
    EVP_PKEY_free(key);
    assert_int_equal(kiln_ledger_key_open(sec1, &direct), KILN_LEDGER_OK);
    assert_int_equal(kiln_pki_signer_from_file(sec1, &generic), KILN_PKI_OK);
    assert_memory_equal(kiln_pki_signer_point(direct), kiln_pki_signer_point(generic),
                        KILN_PKI_POINT_SIZE);
    assert_int_equal(kiln_pki_signer_sign_digest(direct, digest, sig, &sig_len), KILN_PKI_OK);
    assert_true(kiln_ledger_sig_verify(kiln_pki_signer_point(generic), digest, sig, sig_len));
    kiln_pki_signer_free(direct);
    kiln_pki_signer_free(generic);
    unlink(sec1);
}

/* Two connections on one WAL database file: two writers of one ledger, as two processes are. */
static void open_pair(const char *path, sqlite3 **a, sqlite3 **b)
{
    assert_int_equal(sqlite3_open(path, a), SQLITE_OK);
    assert_int_equal(sqlite3_open(path, b), SQLITE_OK);
    assert_int_equal(sqlite3_exec(*a, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_busy_timeout(*a, 5000);
    sqlite3_busy_timeout(*b, 5000);
}

static void close_pair(const char *path, sqlite3 *a, sqlite3 *b)
{
    sqlite3_close(a);
    sqlite3_close(b);
    char side[160];
    const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(side, sizeof(side), "%s%s", path, suffixes[i]);
        unlink(side);
    }
}

static void append_one(kiln_ledger *l, const char *endpoint, const char *outcome)
{
    kiln_ledger_record r = {KILN_LEDGER_KIND_OUTCOME, endpoint, "sn", NULL, "", "st", outcome};
    assert_int_equal(kiln_ledger_append(l, &r, NULL), KILN_LEDGER_OK);
}

/* Each SQLite writer keeps the head in memory: another connection's commits in between, and a
 * rolled-back transaction of its own (whose row's id the other then reuses), must make it read
 * the head again, or entries link to rows that are not their predecessors. */
static void test_sqlite_head_kept_in_memory_stays_true(void **state)
{
    fixture *f = *state;
    char path[128];
    key_path(f, "shared.db", path, sizeof(path));
    sqlite3 *a, *b;
    open_pair(path, &a, &b);
    kiln_ledger *la, *lb;
    assert_int_equal(kiln_ledger_open(a, f->key, 7, &la), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_open(b, f->key, 7, &lb), KILN_LEDGER_OK);
    for (int i = 0; i < 20; i++) {
        append_one(i % 3 ? la : lb, "interleaved", "success");
    }
    /* a's transaction rolls back its entry; b then writes the same row id; a appends again. */
    assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_one(la, "rolled-back", "success");
    assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    append_one(lb, "after-rollback", "success");
    append_one(la, "after-rollback", "success");
    /* a rollback with nobody else writing: the same connection reuses the id itself. */
    assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_one(la, "rolled-back", "success");
    assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    append_one(la, "after-own-rollback", "success");
    assert_int_equal(kiln_ledger_checkpoint_now(la), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_close(la), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_close(lb), KILN_LEDGER_OK);
    kiln_ledger_verdict v;
    kiln_ledger_verify_db(a, kiln_pki_signer_point(f->key), &v);
    expect(&v, KILN_LEDGER_OK, 0);
    assert_int_equal(v.entries, 23);
    assert_int_equal(v.signed_seq, 23);
    close_pair(path, a, b);
}

/* The head is checked once per write transaction: the entries after the first of a transaction
 * link to the kept head. A transaction that rolls back several entries, another connection's
 * commit between two transactions of several entries each, and two writers sharing one
 * connection must still make the next transaction read the head again. */
static void test_sqlite_head_checked_once_per_transaction(void **state)
{
    fixture *f = *state;
    char path[128];
    key_path(f, "per-transaction.db", path, sizeof(path));
    sqlite3 *a, *b;
    open_pair(path, &a, &b);
    kiln_ledger *la, *la2, *lb;
    assert_int_equal(kiln_ledger_open(a, f->key, 5, &la), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_open(b, f->key, 5, &lb), KILN_LEDGER_OK);
    int kept = 0;
    for (int round = 0; round < 3; round++) {
        /* several entries, rolled back */
        assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        for (int i = 0; i < 4; i++) {
            append_one(la, "rolled-back", "success");
        }
        assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        /* several entries, committed, then the other connection writes */
        assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        for (int i = 0; i < 3; i++) {
            append_one(la, "kept", "success");
        }
        assert_int_equal(sqlite3_exec(a, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        append_one(lb, "other", "success");
        kept += 4;
    }
    /* a second writer on connection a: the first one's transactions still end for both */
    assert_int_equal(kiln_ledger_open(a, f->key, 5, &la2), KILN_LEDGER_OK);
    assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_one(la, "rolled-back", "success");
    append_one(la2, "rolled-back", "success");
    append_one(la, "rolled-back", "success");
    assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    append_one(lb, "other", "success");
    assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_one(la2, "kept", "success");
    append_one(la, "kept", "success");
    append_one(la2, "kept", "success");
    assert_int_equal(sqlite3_exec(a, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(kiln_ledger_close(la2), KILN_LEDGER_OK);
    /* the first writer alone again, after its partner closed */
    assert_int_equal(sqlite3_exec(a, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_one(la, "rolled-back", "success");
    append_one(la, "rolled-back", "success");
    assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    append_one(lb, "other", "success");
    append_one(la, "kept", "success");
    append_one(la, "kept", "success");
    kept += 7;
    assert_int_equal(kiln_ledger_checkpoint_now(la), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_close(la), KILN_LEDGER_OK);
    assert_int_equal(kiln_ledger_close(lb), KILN_LEDGER_OK);
    kiln_ledger_verdict v;
    kiln_ledger_verify_db(a, kiln_pki_signer_point(f->key), &v);
    expect(&v, KILN_LEDGER_OK, 0);
    assert_int_equal(v.entries, kept);
    assert_int_equal(v.signed_seq, kept);
    close_pair(path, a, b);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_untouched_holds),
        T(test_changed_byte),
        T(test_changed_last_entry),
        T(test_deleted),
        T(test_tail_dropped),
        T(test_swapped),
        T(test_forked),
        T(test_forged_tail),
        T(test_other_key),
        T(test_checkpoint_signature_changed),
        T(test_exports_verify_with_the_public_key_alone),
        T(test_jsonl_tampering),
        T(test_cbor_tampering),
        T(test_encoding_is_deterministic_cbor),
        T(test_key_file_is_private),
        T(test_key_file_forms),
        T(test_named_chains_in_files),
        T(test_named_chain_encoding),
        T(test_worked_example),
        T(test_sqlite_head_kept_in_memory_stays_true),
        T(test_sqlite_head_checked_once_per_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
