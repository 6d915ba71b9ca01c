/* The verifier keeps a compact trace of what it was fed (sequence numbers and hashes) and
 * judges it at the end, because telling a missing entry from a displaced one needs to know
 * whether the expected number turns up later. */
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
    uint8_t type;
    bool sig_ok;
} item;

struct kiln_ledger_verifier {
    uint8_t point[KILN_PKI_POINT_SIZE];
    item *items;
    size_t count, cap;
    bool out_of_memory, stopped;
    char malformed_why[120];
};

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
    item *it = push(v, ITEM_ENTRY);
    if (it == NULL) {
        return;
    }
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
    item *it = push(v, ITEM_CHECKPOINT);
    if (it == NULL) {
        return;
    }
    uint8_t digest[KILN_PKI_DIGEST_SIZE];
    it->seq = c->seq;
    memcpy(it->hash, c->head, KILN_LEDGER_HASH_SIZE);
    kiln_ledger_checkpoint_digest(c->seq, c->head, digest);
    it->sig_ok = kiln_ledger_sig_verify(v->point, digest, c->sig, c->sig_len);
}

void kiln_ledger_verifier_malformed(kiln_ledger_verifier *v, const char *why)
{
    if (push(v, ITEM_MALFORMED) != NULL) {
        snprintf(v->malformed_why, sizeof(v->malformed_why), "%s", why);
        v->stopped = true;
    }
}

/* The state of the walk over the trace. */
typedef struct walk {
    const kiln_ledger_verifier *v;
    kiln_ledger_verdict *verdict;
    uint64_t next_seq; /* the sequence number the next entry must carry */
    uint8_t head[KILN_LEDGER_HASH_SIZE];
} walk;

static kiln_ledger_status judge(walk *w, kiln_ledger_status status, uint64_t seq, const char *fmt,
                                ...)
{
    w->verdict->status = status;
    w->verdict->seq = seq;
    int n = snprintf(w->verdict->detail, sizeof(w->verdict->detail), "seq %" PRIu64 ": ", seq);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->verdict->detail + n, sizeof(w->verdict->detail) - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}

static bool appears_after(const walk *w, size_t from, uint64_t seq)
{
    for (size_t i = from; i < w->v->count; i++) {
        if (w->v->items[i].type == ITEM_ENTRY && w->v->items[i].seq == seq) {
            return true;
        }
    }
    return false;
}

static kiln_ledger_status walk_entry(walk *w, size_t index)
{
    const item *it = &w->v->items[index];
    w->verdict->entries++;
    if (it->seq < w->next_seq) {
        return judge(w, KILN_LEDGER_FORKED, it->seq,
                     "a second entry carries this sequence number (a fork)");
    }
    if (it->seq > w->next_seq) {
        if (appears_after(w, index + 1, w->next_seq)) {
            return judge(w, KILN_LEDGER_REORDERED, w->next_seq,
                         "the entry is stored after entry %" PRIu64 " (reordered)", it->seq);
        }
        return judge(w, KILN_LEDGER_MISSING, w->next_seq,
                     "the entry is missing (the next one present is %" PRIu64 ")", it->seq);
    }
    if (CRYPTO_memcmp(it->prev, w->head, KILN_LEDGER_HASH_SIZE) != 0) {
        if (it->seq == 1) {
            return judge(w, KILN_LEDGER_CHANGED, 1, "the first entry's prev_hash is not zero");
        }
        return judge(w, KILN_LEDGER_CHANGED, it->seq - 1,
                     "the entry was changed (entry %" PRIu64 " records another hash of it)",
                     it->seq);
    }
    memcpy(w->head, it->hash, KILN_LEDGER_HASH_SIZE);
    w->next_seq++;
    return KILN_LEDGER_OK;
}

static kiln_ledger_status walk_checkpoint(walk *w, const item *it)
{
    uint64_t last = w->next_seq - 1;
    w->verdict->checkpoints++;
    if (!it->sig_ok) {
        return judge(w, KILN_LEDGER_BAD_SIGNATURE, it->seq,
                     "the checkpoint's signature does not verify with this public key");
    }
    if (it->seq > last) {
        return judge(w, KILN_LEDGER_MISSING, w->next_seq,
                     "the entry is missing (a checkpoint covers entries up to %" PRIu64 ")",
                     it->seq);
    }
    if (it->seq < last) {
        return judge(w, KILN_LEDGER_BAD_CHECKPOINT, it->seq,
                     "a checkpoint for this entry is stored after entry %" PRIu64, last);
    }
    if (CRYPTO_memcmp(it->hash, w->head, KILN_LEDGER_HASH_SIZE) != 0) {
        return judge(w, KILN_LEDGER_CHANGED, it->seq,
                     "the entry was changed (the signed checkpoint records another hash)");
    }
    w->verdict->signed_seq = it->seq;
    return KILN_LEDGER_OK;
}

static kiln_ledger_status walk_all(walk *w)
{
    kiln_ledger_status st = KILN_LEDGER_OK;
    for (size_t i = 0; i < w->v->count && st == KILN_LEDGER_OK; i++) {
        const item *it = &w->v->items[i];
        if (it->type == ITEM_ENTRY) {
            st = walk_entry(w, i);
        } else if (it->type == ITEM_CHECKPOINT) {
            st = walk_checkpoint(w, it);
        } else {
            st = judge(w, KILN_LEDGER_MALFORMED, w->next_seq, "%s", w->v->malformed_why);
        }
    }
    if (st != KILN_LEDGER_OK) {
        return st;
    }
    if (w->next_seq == 1) {
        return judge(w, KILN_LEDGER_EMPTY, 0, "the ledger has no entries");
    }
    if (w->verdict->signed_seq < w->next_seq - 1) {
        return judge(w, KILN_LEDGER_UNSIGNED_TAIL, w->verdict->signed_seq + 1,
                     "entries %" PRIu64 "..%" PRIu64 " are not covered by a signed checkpoint",
                     w->verdict->signed_seq + 1, w->next_seq - 1);
    }
    snprintf(w->verdict->detail, sizeof(w->verdict->detail),
             "%" PRIu64 " entries, %" PRIu64 " checkpoints, all signed", w->verdict->entries,
             w->verdict->checkpoints);
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
    walk w = {.v = v, .verdict = verdict, .next_seq = 1};
    kiln_ledger_status st = v->out_of_memory ? KILN_LEDGER_NO_MEMORY : walk_all(&w);
    if (v->out_of_memory) {
        snprintf(verdict->detail, sizeof(verdict->detail), "out of memory while verifying");
    }
    verdict->status = st;
    free(v->items);
    free(v);
    return st;
}
