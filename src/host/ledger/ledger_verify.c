/* The verifier keeps a compact trace of what it was fed (sequence numbers and hashes) and
 * judges it at the end, because telling a missing entry from a displaced one needs to know
 * whether the expected number turns up later. A ledger holds one or more chains (entries and
 * checkpoints carry their chain's name, "" for the unnamed one); each is walked on its own,
 * interleaved as stored, and the first problem in storage order is reported with its chain. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ledger_internal.h"

typedef enum item_type { ITEM_ENTRY, ITEM_CHECKPOINT, ITEM_MALFORMED } item_type;

typedef struct item {
    uint64_t seq;
    uint8_t hash[KILN_LEDGER_HASH_SIZE]; /* entry: its hash; checkpoint: the head it signs */
    uint8_t prev[KILN_LEDGER_HASH_SIZE]; /* entry: its prev_hash */
    uint32_t chain;                      /* index into the verifier's chain names */
    uint8_t type;
    bool sig_ok;
} item;

/* A chain's name and, during the walk, its state. */
typedef struct chain_state {
    char name[KILN_LEDGER_TEXT_MAX + 1];
    uint64_t next_seq; /* the sequence number the next entry must carry */
    uint64_t signed_seq;
    uint8_t head[KILN_LEDGER_HASH_SIZE];
} chain_state;

struct kiln_ledger_verifier {
    uint8_t point[KILN_PKI_POINT_SIZE];
    item *items;
    size_t count, cap;
    chain_state *chains;
    size_t nchains, chains_cap;
    uint32_t last_chain; /* the chain of the last item fed (a malformed one is counted to it) */
    bool out_of_memory, stopped;
    char malformed_why[120];
};

/* The index of chain name, added when new; false when out of memory. */
static bool chain_index(kiln_ledger_verifier *v, const char *name, uint32_t *index)
{
    if (v->nchains > 0 && strcmp(v->chains[v->last_chain].name, name) == 0) {
        *index = v->last_chain;
        return true;
    }
    for (size_t i = 0; i < v->nchains; i++) {
        if (strcmp(v->chains[i].name, name) == 0) {
            *index = v->last_chain = (uint32_t)i;
            return true;
        }
    }
    if (v->nchains == v->chains_cap || v->nchains >= UINT32_MAX) {
        size_t cap = v->chains_cap ? v->chains_cap * 2 : 4;
        chain_state *grown = realloc(v->chains, cap * sizeof(*grown));
        if (grown == NULL) {
            v->out_of_memory = v->stopped = true;
            return false;
        }
        v->chains = grown;
        v->chains_cap = cap;
    }
    chain_state *c = &v->chains[v->nchains];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    *index = v->last_chain = (uint32_t)v->nchains++;
    return true;
}

kiln_ledger_status kiln_ledger_verifier_new(const uint8_t point[KILN_PKI_POINT_SIZE],
                                            kiln_ledger_verifier **out)
{
    kiln_ledger_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return KILN_LEDGER_NO_MEMORY;
    }
    memcpy(v->point, point, KILN_PKI_POINT_SIZE);
    *out = v;
    return KILN_LEDGER_OK;
}

static item *push(kiln_ledger_verifier *v, item_type type)
{
    if (v->stopped) {
        return NULL;
    }
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        item *grown = realloc(v->items, cap * sizeof(*grown));
        if (grown == NULL) {
            v->out_of_memory = v->stopped = true;
            return NULL;
        }
        v->items = grown;
        v->cap = cap;
    }
    item *it = &v->items[v->count++];
    memset(it, 0, sizeof(*it));
    it->type = (uint8_t)type;
    return it;
}

void kiln_ledger_verifier_entry(kiln_ledger_verifier *v, const kiln_ledger_entry *e)
{
    uint32_t chain;
    item *it = v->stopped || !chain_index(v, e->chain, &chain) ? NULL : push(v, ITEM_ENTRY);
    if (it == NULL) {
        return;
    }
    it->chain = chain;
    it->seq = e->seq;
    memcpy(it->prev, e->prev_hash, KILN_LEDGER_HASH_SIZE);
    if (kiln_ledger_entry_hash(e, it->hash) != KILN_LEDGER_OK) {
        it->type = ITEM_MALFORMED;
        snprintf(v->malformed_why, sizeof(v->malformed_why), "an entry has an invalid text field");
        v->stopped = true;
    }
}

void kiln_ledger_verifier_checkpoint(kiln_ledger_verifier *v, const kiln_ledger_checkpoint *c)
{
    uint32_t chain;
    item *it = v->stopped || !chain_index(v, c->chain, &chain) ? NULL : push(v, ITEM_CHECKPOINT);
    if (it == NULL) {
        return;
    }
    it->chain = chain;
    uint8_t digest[KILN_PKI_DIGEST_SIZE];
    it->seq = c->seq;
    memcpy(it->hash, c->head, KILN_LEDGER_HASH_SIZE);
    kiln_ledger_checkpoint_digest(c->seq, c->head, digest);
    it->sig_ok = kiln_ledger_sig_verify(v->point, digest, c->sig, c->sig_len);
}

void kiln_ledger_verifier_malformed(kiln_ledger_verifier *v, const char *why)
{
    uint32_t chain = 0;
    if (!v->stopped && v->nchains == 0 && !chain_index(v, "", &chain)) {
        return;
    }
    item *it = push(v, ITEM_MALFORMED);
    if (it != NULL) {
        it->chain = v->last_chain;
        snprintf(v->malformed_why, sizeof(v->malformed_why), "%s", why);
        v->stopped = true;
    }
}

/* The state of the walk over the trace. */
typedef struct walk {
    const kiln_ledger_verifier *v;
    kiln_ledger_verdict *verdict;
    chain_state *c; /* the chain of the item being judged */
} walk;

static kiln_ledger_status judge(walk *w, kiln_ledger_status status, uint64_t seq, const char *fmt,
                                ...)
{
    w->verdict->status = status;
    w->verdict->seq = seq;
    w->verdict->signed_seq = w->c->signed_seq;
    snprintf(w->verdict->chain, sizeof(w->verdict->chain), "%s", w->c->name);
    /* The unnamed chain's sentences stay as they were: "seq N: ...". */
    int n = w->c->name[0] != '\0' ? snprintf(w->verdict->detail, sizeof(w->verdict->detail),
                                             "chain %s seq %" PRIu64 ": ", w->c->name, seq)
                                  : snprintf(w->verdict->detail, sizeof(w->verdict->detail),
                                             "seq %" PRIu64 ": ", seq);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->verdict->detail + n, sizeof(w->verdict->detail) - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

static bool appears_after(const walk *w, size_t from, uint32_t chain, uint64_t seq)
{
    for (size_t i = from; i < w->v->count; i++) {
        const item *it = &w->v->items[i];
        if (it->type == ITEM_ENTRY && it->chain == chain && it->seq == seq) {
            return true;
        }
    }
    return false;
}

static kiln_ledger_status walk_entry(walk *w, size_t index)
{
    const item *it = &w->v->items[index];
    chain_state *c = w->c;
    w->verdict->entries++;
    if (it->seq < c->next_seq) {
        return judge(w, KILN_LEDGER_FORKED, it->seq,
                     "a second entry carries this sequence number (a fork)");
    }
    if (it->seq > c->next_seq) {
        if (appears_after(w, index + 1, it->chain, c->next_seq)) {
            return judge(w, KILN_LEDGER_REORDERED, c->next_seq,
                         "the entry is stored after entry %" PRIu64 " (reordered)", it->seq);
        }
        return judge(w, KILN_LEDGER_MISSING, c->next_seq,
                     "the entry is missing (the next one present is %" PRIu64 ")", it->seq);
    }
    if (CRYPTO_memcmp(it->prev, c->head, KILN_LEDGER_HASH_SIZE) != 0) {
        if (it->seq == 1) {
            return judge(w, KILN_LEDGER_CHANGED, 1, "the first entry's prev_hash is not zero");
        }
        return judge(w, KILN_LEDGER_CHANGED, it->seq - 1,
                     "the entry was changed (entry %" PRIu64 " records another hash of it)",
                     it->seq);
    }
    memcpy(c->head, it->hash, KILN_LEDGER_HASH_SIZE);
    c->next_seq++;
    return KILN_LEDGER_OK;
}

static kiln_ledger_status walk_checkpoint(walk *w, const item *it)
{
    chain_state *c = w->c;
    uint64_t last = c->next_seq - 1;
    w->verdict->checkpoints++;
    if (!it->sig_ok) {
        return judge(w, KILN_LEDGER_BAD_SIGNATURE, it->seq,
                     "the checkpoint's signature does not verify with this public key");
    }
    if (it->seq > last) {
        return judge(w, KILN_LEDGER_MISSING, c->next_seq,
                     "the entry is missing (a checkpoint covers entries up to %" PRIu64 ")",
                     it->seq);
    }
    if (it->seq < last) {
        return judge(w, KILN_LEDGER_BAD_CHECKPOINT, it->seq,
                     "a checkpoint for this entry is stored after entry %" PRIu64, last);
    }
    if (CRYPTO_memcmp(it->hash, c->head, KILN_LEDGER_HASH_SIZE) != 0) {
        return judge(w, KILN_LEDGER_CHANGED, it->seq,
                     "the entry was changed (the signed checkpoint records another hash)");
    }
    c->signed_seq = it->seq;
    return KILN_LEDGER_OK;
}

/* After every item: each chain's last entry must be covered by a good checkpoint. */
static kiln_ledger_status walk_tails(walk *w)
{
    uint64_t covered = 0;
    for (size_t i = 0; i < w->v->nchains; i++) {
        w->c = &w->v->chains[i];
        if (w->c->signed_seq < w->c->next_seq - 1) {
            return judge(w, KILN_LEDGER_UNSIGNED_TAIL, w->c->signed_seq + 1,
                         "entries %" PRIu64 "..%" PRIu64 " are not covered by a signed checkpoint",
                         w->c->signed_seq + 1, w->c->next_seq - 1);
        }
        covered += w->c->signed_seq;
    }
    w->verdict->signed_seq = covered;
    return KILN_LEDGER_OK;
}

static kiln_ledger_status walk_all(walk *w)
{
    kiln_ledger_status st = KILN_LEDGER_OK;
    for (size_t i = 0; i < w->v->nchains; i++) {
        w->v->chains[i].next_seq = 1;
    }
    w->verdict->chains = w->v->nchains;
    for (size_t i = 0; i < w->v->count && st == KILN_LEDGER_OK; i++) {
        const item *it = &w->v->items[i];
        w->c = &w->v->chains[it->chain];
        if (it->type == ITEM_ENTRY) {
            st = walk_entry(w, i);
        } else if (it->type == ITEM_CHECKPOINT) {
            st = walk_checkpoint(w, it);
        } else {
            st = judge(w, KILN_LEDGER_MALFORMED, w->c->next_seq, "%s", w->v->malformed_why);
        }
    }
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    if (w->verdict->entries == 0) {
        static chain_state none = {.next_seq = 1};
        w->c = w->v->nchains > 0 ? &w->v->chains[0] : &none;
        return judge(w, KILN_LEDGER_EMPTY, 0, "the ledger has no entries");
    }
    st = walk_tails(w);
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    int n = snprintf(w->verdict->detail, sizeof(w->verdict->detail),
                     "%" PRIu64 " entries, %" PRIu64 " checkpoints, all signed",
                     w->verdict->entries, w->verdict->checkpoints);
    if (w->v->nchains > 1) {
        snprintf(w->verdict->detail + n, sizeof(w->verdict->detail) - (size_t)n,
                 ", %" PRIu64 " chains", w->verdict->chains);
    }
    return KILN_LEDGER_OK;
}

kiln_ledger_status kiln_ledger_verifier_finish(kiln_ledger_verifier *v,
                                               kiln_ledger_verdict *verdict)
{
    memset(verdict, 0, sizeof(*verdict));
    if (v == NULL) {
        verdict->status = KILN_LEDGER_NO_MEMORY;
        return verdict->status;
    }
    walk w = {.v = v, .verdict = verdict, .c = NULL};
    kiln_ledger_status st = v->out_of_memory ? KILN_LEDGER_NO_MEMORY : walk_all(&w);
    if (v->out_of_memory) {
        snprintf(verdict->detail, sizeof(verdict->detail), "out of memory while verifying");
    }
    verdict->status = st;
    free(v->items);
    free(v->chains);
    free(v);
    return st;
}
