/* The ledger's writer, verifier and exporter over any storage engine (kiln_ledger_store_ops):
 * each append runs inside the store's transaction, takes the head of the writer's chain (read
 * under the store's serializing lock, or kept in memory when the store makes this writer the
 * chain's only one), writes the entry linked to it and, every checkpoint_every entries, a
 * signed checkpoint. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"

/* A chain's head: what the next entry links to. */
typedef struct head_state {
    uint64_t next_seq, last_cp;
    uint8_t hash[KILN_LEDGER_HASH_SIZE];
} head_state;

struct kiln_ledger {
    const kiln_ledger_store_ops *ops;
    void *store;
    const kiln_pki_signer *signer;
    unsigned checkpoint_every;
    char chain[KILN_LEDGER_TEXT_MAX + 1];
    bool cache_head; /* the store makes this the chain's only writer: the head lives here */
    bool head_known; /* head holds the chain's head (else it is read at the next append) */
    head_state head;
};

kiln_ledger_status kiln_ledger_open_chain(const kiln_ledger_store_ops *ops, void *store,
                                          const kiln_pki_signer *signer, unsigned checkpoint_every,
                                          const char *chain, bool cache_head, kiln_ledger **out)
{
    kiln_ledger *l = calloc(1, sizeof(*l));
    if (l == NULL || !ledger_set_text(l->chain, chain)) {
        if (ops->destroy != NULL) {
            ops->destroy(store);
        }
        kiln_ledger_status st = l == NULL ? KILN_LEDGER_NO_MEMORY : KILN_LEDGER_INVALID_ARGUMENT;
        free(l);
        return st;
    }
    l->ops = ops;
    l->store = store;
    l->signer = signer;
    l->checkpoint_every = checkpoint_every ? checkpoint_every : KILN_LEDGER_CHECKPOINT_EVERY;
    l->cache_head = cache_head;
    *out = l;
    return KILN_LEDGER_OK;
}

kiln_ledger_status kiln_ledger_open_store(const kiln_ledger_store_ops *ops, void *store,
                                          const kiln_pki_signer *signer, unsigned checkpoint_every,
                                          kiln_ledger **out)
{
    return kiln_ledger_open_chain(ops, store, signer, checkpoint_every, "", false, out);
}

const char *kiln_ledger_chain(const kiln_ledger *l)
{
    return l->chain;
}

void kiln_ledger_rolled_back(kiln_ledger *l)
{
    if (l != NULL) {
        l->head_known = false;
    }
}

/* The head: the one kept in memory when this writer owns the chain, else read (inside the
 * transaction begin opened or joined). */
static kiln_ledger_status current_head(kiln_ledger *l, head_state *h, bool reread)
{
    if (l->cache_head && l->head_known && !reread) {
        *h = l->head;
        return KILN_LEDGER_OK;
    }
    l->head_known = false;
    kiln_ledger_status st =
        l->ops->read_head(l->store, l->chain, &h->next_seq, h->hash, &h->last_cp);
    if (st == KILN_LEDGER_OK) {
        l->head = *h;
        l->head_known = true;
    }
    return st;
}

static kiln_ledger_status write_checkpoint(kiln_ledger *l, uint64_t seq,
                                           const uint8_t head[KILN_LEDGER_HASH_SIZE])
{
    kiln_ledger_checkpoint c;
    uint8_t digest[KILN_PKI_DIGEST_SIZE];
    memset(&c, 0, sizeof(c));
    c.seq = seq;
    c.time = (uint64_t)time(NULL);
    memcpy(c.head, head, KILN_LEDGER_HASH_SIZE);
    memcpy(c.chain, l->chain, sizeof(c.chain));
    kiln_ledger_checkpoint_digest(seq, head, digest);
    if (kiln_pki_signer_sign_digest(l->signer, digest, c.sig, &c.sig_len) != KILN_PKI_OK) {
        return KILN_LEDGER_SIGNER;
    }
    return l->ops->append_checkpoint(l->store, &c);
}

static bool entry_of_record(const kiln_ledger *l, const kiln_ledger_record *r, kiln_ledger_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->time = (uint64_t)time(NULL);
    e->has_cert = r->cert_sha256 != NULL;
    if (e->has_cert) {
        memcpy(e->cert_sha256, r->cert_sha256, KILN_LEDGER_HASH_SIZE);
    }
    memcpy(e->chain, l->chain, sizeof(e->chain));
    return r->kind != NULL && *r->kind && ledger_set_text(e->kind, r->kind) &&
           ledger_set_text(e->endpoint, r->endpoint) && ledger_set_text(e->serial, r->serial) &&
           ledger_set_text(e->issuer_ca, r->issuer_ca) && ledger_set_text(e->station, r->station) &&
           ledger_set_text(e->outcome, r->outcome);
}

/* Writes e linked to the head; a head found stale (its row rolled back) is read once more. */
static kiln_ledger_status link_and_append(kiln_ledger *l, kiln_ledger_entry *e, head_state *h)
{
    kiln_ledger_status st = LEDGER_HEAD_STALE;
    for (int attempt = 0; attempt < 2 && st == LEDGER_HEAD_STALE; attempt++) {
        st = current_head(l, h, attempt > 0);
        if (st == KILN_LEDGER_OK) {
            e->seq = h->next_seq;
            memcpy(e->prev_hash, h->hash, KILN_LEDGER_HASH_SIZE);
            st = l->ops->append_entry(l->store, e);
        }
    }
    return st == LEDGER_HEAD_STALE ? KILN_LEDGER_STORAGE : st;
}

kiln_ledger_status kiln_ledger_append(kiln_ledger *l, const kiln_ledger_record *r, uint64_t *seq)
{
    kiln_ledger_entry e;
    bool own;
    if (!entry_of_record(l, r, &e)) {
        return KILN_LEDGER_INVALID_ARGUMENT;
    }
    kiln_ledger_status st = l->ops->begin(l->store, &own);
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    head_state h;
    st = link_and_append(l, &e, &h);
    uint8_t head[KILN_LEDGER_HASH_SIZE];
    st = st == KILN_LEDGER_OK ? kiln_ledger_entry_hash(&e, head) : st;
    if (st == KILN_LEDGER_OK && e.seq - h.last_cp >= l->checkpoint_every) {
        st = write_checkpoint(l, e.seq, head);
        h.last_cp = e.seq;
    }
    if (st == KILN_LEDGER_OK && seq != NULL) {
        *seq = e.seq;
    }
    st = l->ops->end(l->store, st, own);
    /* The new head, or (a failure: the transaction is rolled back or will be) read again. */
    l->head_known = st == KILN_LEDGER_OK;
    if (st == KILN_LEDGER_OK) {
        l->head.next_seq = e.seq + 1;
        l->head.last_cp = h.last_cp;
        memcpy(l->head.hash, head, KILN_LEDGER_HASH_SIZE);
    }
    return st;
}

kiln_ledger_status kiln_ledger_checkpoint_now(kiln_ledger *l)
{
    bool own;
    kiln_ledger_status st = l->ops->begin(l->store, &own);
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    head_state h;
    st = LEDGER_HEAD_STALE;
    for (int attempt = 0; attempt < 2 && st == LEDGER_HEAD_STALE; attempt++) {
        st = current_head(l, &h, attempt > 0);
        if (st == KILN_LEDGER_OK && h.next_seq > 1 && h.last_cp != h.next_seq - 1) {
            st = write_checkpoint(l, h.next_seq - 1, h.hash);
            h.last_cp = h.next_seq - 1;
        }
    }
    st = st == LEDGER_HEAD_STALE ? KILN_LEDGER_STORAGE : st;
    st = l->ops->end(l->store, st, own);
    l->head_known = st == KILN_LEDGER_OK;
    if (st == KILN_LEDGER_OK) {
        l->head = h;
    }
    return st;
}

kiln_ledger_status kiln_ledger_close(kiln_ledger *l)
{
    if (l == NULL) {
        return KILN_LEDGER_OK;
    }
    kiln_ledger_status st = kiln_ledger_checkpoint_now(l);
    if (l->ops->destroy != NULL) {
        l->ops->destroy(l->store);
    }
    free(l);
    return st;
}

static void verify_entry(void *ctx, const kiln_ledger_entry *e)
{
    kiln_ledger_verifier_entry(ctx, e);
}

static void verify_checkpoint(void *ctx, const kiln_ledger_checkpoint *c)
{
    kiln_ledger_verifier_checkpoint(ctx, c);
}

static void verify_malformed(void *ctx, const char *why)
{
    kiln_ledger_verifier_malformed(ctx, why);
}

kiln_ledger_status kiln_ledger_verify_store(const kiln_ledger_store_ops *ops, void *store,
                                            const uint8_t point[KILN_PKI_POINT_SIZE],
                                            kiln_ledger_verdict *verdict)
{
    kiln_ledger_verifier *v = NULL;
    if (kiln_ledger_verifier_new(point, &v) != KILN_LEDGER_OK) {
        return kiln_ledger_verifier_finish(NULL, verdict);
    }
    kiln_ledger_sink sink = {verify_entry, verify_checkpoint, verify_malformed, v};
    if (ops->iterate(store, &sink) != KILN_LEDGER_OK) {
        kiln_ledger_verifier_malformed(v, "the ledger tables cannot be read");
    }
    return kiln_ledger_verifier_finish(v, verdict);
}

typedef struct export_ctx {
    FILE *out;
    kiln_ledger_format format;
    kiln_ledger_status status;
} export_ctx;

static void export_entry(void *ctx, const kiln_ledger_entry *e)
{
    export_ctx *x = ctx;
    if (x->status == KILN_LEDGER_OK) {
        x->status = kiln_ledger_write_entry(x->out, x->format, e);
    }
}

static void export_checkpoint(void *ctx, const kiln_ledger_checkpoint *c)
{
    export_ctx *x = ctx;
    if (x->status == KILN_LEDGER_OK) {
        x->status = kiln_ledger_write_checkpoint(x->out, x->format, c);
    }
}

static void export_malformed(void *ctx, const char *why)
{
    (void)why;
    export_ctx *x = ctx;
    if (x->status == KILN_LEDGER_OK) {
        x->status = KILN_LEDGER_MALFORMED;
    }
}

kiln_ledger_status kiln_ledger_export_store(const kiln_ledger_store_ops *ops, void *store,
                                            FILE *out, kiln_ledger_format format)
{
    export_ctx x = {out, format, KILN_LEDGER_OK};
    kiln_ledger_sink sink = {export_entry, export_checkpoint, export_malformed, &x};
    kiln_ledger_status st = ops->iterate(store, &sink);
    return st != KILN_LEDGER_OK ? st : x.status;
}
