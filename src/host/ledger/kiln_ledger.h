/* kiln_ledger: an append-only, tamper-evident ledger of what a factory issued. Every entry is
 * the deterministic CBOR encoding of a fixed array (docs/ledger.md gives it byte by byte) whose
 * last element is the SHA-256 of the previous entry's encoding; every N entries, and when the
 * writer closes, a checkpoint (seq, head hash) is signed through a kiln_pki signer. Anyone with
 * an exported file and the ledger's public key can check that no entry was changed, removed,
 * reordered or duplicated and that every entry is covered by a signed checkpoint. */
#ifndef KILN_LEDGER_H
#define KILN_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln_pki.h"

#define KILN_LEDGER_HASH_SIZE        32
#define KILN_LEDGER_CHECKPOINT_EVERY 1000 /* default entries between checkpoints */
#define KILN_LEDGER_TEXT_MAX         256  /* longest text field in bytes */

/* Statuses of the ledger's calls; verdicts of a verification use the same numbers so that a
 * caller can print one table. 0 is success (and "the whole ledger holds"). */
#define KILN_LEDGER_STATUS_MAP(X)                                                                  \
    X(OK, 0, "the ledger holds")                                                                   \
    X(NO_MEMORY, 1, "out of memory")                                                               \
    X(INVALID_ARGUMENT, 2, "a field is missing, too long or not valid")                            \
    X(STORAGE, 3, "the ledger's database could not be read or written")                            \
    X(KEY, 4, "the ledger key cannot be created, read or used")                                    \
    X(SIGNER, 5, "the ledger key could not sign a checkpoint")                                     \
    X(MALFORMED, 6, "an item is not a canonical ledger entry or checkpoint")                       \
    X(CHANGED, 7, "an entry differs from what the next entry or checkpoint recorded")              \
    X(MISSING, 8, "an entry is missing")                                                           \
    X(REORDERED, 9, "entries are out of order")                                                    \
    X(FORKED, 10, "two entries carry the same sequence number")                                    \
    X(UNSIGNED_TAIL, 11, "entries after the last checkpoint are not covered by a signature")       \
    X(BAD_SIGNATURE, 12, "a checkpoint's signature does not verify with the public key")           \
    X(BAD_CHECKPOINT, 13, "a checkpoint names a sequence number the ledger has not reached")       \
    X(EMPTY, 14, "the ledger has no entries")                                                      \
    X(CHAIN_BUSY, 15, "every name of the chain (NAME, NAME/2 .. NAME/64) is held by another writer")

#define KILN_LEDGER_STATUS_ENUMERATOR(name, code, text) KILN_LEDGER_##name = code,
typedef enum kiln_ledger_status {
    KILN_LEDGER_STATUS_MAP(KILN_LEDGER_STATUS_ENUMERATOR)
} kiln_ledger_status;

/** "OK", "CHANGED", ...; "UNKNOWN" for other numbers. */
const char *kiln_ledger_status_name(int status);
const char *kiln_ledger_strerror(int status);

/* Entry kinds. */
#define KILN_LEDGER_KIND_CERTIFICATE "certificate" /* a certificate was issued */
#define KILN_LEDGER_KIND_OUTCOME     "outcome"     /* a device finished (success or failure) */
#define KILN_LEDGER_KIND_CA          "ca"          /* a CA was created, replaced or loaded */

/** What the caller appends; the ledger adds seq, time and prev_hash. NULL texts are "". */
typedef struct kiln_ledger_record {
    const char *kind, *endpoint, *serial;
    const uint8_t *cert_sha256; /* KILN_LEDGER_HASH_SIZE bytes, or NULL */
    const char *issuer_ca, *station, *outcome;
} kiln_ledger_record;

/** One decoded entry. */
typedef struct kiln_ledger_entry {
    uint64_t seq, time;
    char kind[KILN_LEDGER_TEXT_MAX + 1], endpoint[KILN_LEDGER_TEXT_MAX + 1],
        serial[KILN_LEDGER_TEXT_MAX + 1];
    uint8_t cert_sha256[KILN_LEDGER_HASH_SIZE];
    bool has_cert;
    char issuer_ca[KILN_LEDGER_TEXT_MAX + 1], station[KILN_LEDGER_TEXT_MAX + 1],
        outcome[KILN_LEDGER_TEXT_MAX + 1];
    uint8_t prev_hash[KILN_LEDGER_HASH_SIZE];
    char chain[KILN_LEDGER_TEXT_MAX + 1]; /* the writer's chain; "" the unnamed one (10 items) */
} kiln_ledger_entry;

/** One decoded checkpoint: the head hash after entry seq, signed. */
typedef struct kiln_ledger_checkpoint {
    uint64_t seq, time;
    uint8_t head[KILN_LEDGER_HASH_SIZE];
    uint8_t sig[KILN_PKI_SIG_MAX];
    size_t sig_len;
    char chain[KILN_LEDGER_TEXT_MAX + 1]; /* the chain whose head it signs ("" unnamed) */
} kiln_ledger_checkpoint;

/* ---- encoding ---- */

/** Longest entry encoding. */
#define KILN_LEDGER_ENTRY_MAX (16 + 7 * (KILN_LEDGER_TEXT_MAX + 3) + 2 * 34 + 2 * 9)

/** The canonical encoding of an entry; *len is set. */
kiln_ledger_status kiln_ledger_entry_encode(const kiln_ledger_entry *e,
                                            uint8_t out[KILN_LEDGER_ENTRY_MAX], size_t *len);
/** SHA-256 of the canonical encoding. */
kiln_ledger_status kiln_ledger_entry_hash(const kiln_ledger_entry *e,
                                          uint8_t hash[KILN_LEDGER_HASH_SIZE]);
/** The digest a checkpoint's signature covers. */
void kiln_ledger_checkpoint_digest(uint64_t seq, const uint8_t head[KILN_LEDGER_HASH_SIZE],
                                   uint8_t digest[KILN_PKI_DIGEST_SIZE]);

/* ---- verification ---- */

/** Where and why a verification stopped. */
typedef struct kiln_ledger_verdict {
    kiln_ledger_status status;
    uint64_t seq;                  /* the first bad sequence number (0 when none applies) */
    uint64_t entries, checkpoints; /* how many were read */
    uint64_t signed_seq; /* the last sequence number a good checkpoint covers (of chain; when OK,
                            the entries covered in all chains) */
    uint64_t chains;     /* how many chains were read */
    char chain[KILN_LEDGER_TEXT_MAX + 1]; /* the chain of seq ("" the unnamed one, and when OK) */
    char detail[400]; /* one sentence naming (chain and) seq and what is wrong */
} kiln_ledger_verdict;

/** An incremental verifier: feed items in stored order, then finish. */
typedef struct kiln_ledger_verifier kiln_ledger_verifier;

kiln_ledger_status kiln_ledger_verifier_new(const uint8_t point[KILN_PKI_POINT_SIZE],
                                            kiln_ledger_verifier **out);
/** Each feeds one item; items after the first problem are ignored. */
void kiln_ledger_verifier_entry(kiln_ledger_verifier *v, const kiln_ledger_entry *e);
void kiln_ledger_verifier_checkpoint(kiln_ledger_verifier *v, const kiln_ledger_checkpoint *c);
/** Marks the input as unreadable at this point (seq: the last one read). */
void kiln_ledger_verifier_malformed(kiln_ledger_verifier *v, const char *why);
/** The verdict over everything fed; frees v. */
kiln_ledger_status kiln_ledger_verifier_finish(kiln_ledger_verifier *v,
                                               kiln_ledger_verdict *verdict);

/** Verifies an exported file (CBOR sequence or JSON lines, told apart by the first byte). */
kiln_ledger_status kiln_ledger_verify_buffer(const uint8_t *data, size_t len,
                                             const uint8_t point[KILN_PKI_POINT_SIZE],
                                             kiln_ledger_verdict *verdict);

/* ---- export file items ---- */

typedef enum kiln_ledger_format {
    KILN_LEDGER_FORMAT_JSONL,
    KILN_LEDGER_FORMAT_CBOR
} kiln_ledger_format;

/** Writes one item of an export. */
kiln_ledger_status kiln_ledger_write_entry(FILE *out, kiln_ledger_format format,
                                           const kiln_ledger_entry *e);
kiln_ledger_status kiln_ledger_write_checkpoint(FILE *out, kiln_ledger_format format,
                                                const kiln_ledger_checkpoint *c);

/* ---- storage abstraction ---- */

/** Receives a stored ledger's items in storage order. */
typedef struct kiln_ledger_sink {
    void (*entry)(void *ctx, const kiln_ledger_entry *e);
    void (*checkpoint)(void *ctx, const kiln_ledger_checkpoint *c);
    void (*malformed)(void *ctx, const char *why);
    void *ctx;
} kiln_ledger_sink;

/** What a storage engine provides (SQLite below; another engine supplies its own). begin must
 *  serialize appends across every writer of the store (own: whether begin opened the transaction,
 *  false when the entry joins the caller's); end commits on OK, else rolls back, when own. */
typedef struct kiln_ledger_store_ops {
    kiln_ledger_status (*begin)(void *store, bool *own);
    kiln_ledger_status (*end)(void *store, kiln_ledger_status status, bool own);
    /** The head of chain: next_seq 1 and a zero head when empty; last_checkpoint 0 when none. */
    kiln_ledger_status (*read_head)(void *store, const char *chain, uint64_t *next_seq,
                                    uint8_t head[KILN_LEDGER_HASH_SIZE], uint64_t *last_checkpoint);
    kiln_ledger_status (*append_entry)(void *store, const kiln_ledger_entry *e);
    /** Stored after the last entry of c->chain appended so far. */
    kiln_ledger_status (*append_checkpoint)(void *store, const kiln_ledger_checkpoint *c);
    kiln_ledger_status (*iterate)(void *store, const kiln_ledger_sink *sink);
    void (*destroy)(void *store); /* called by kiln_ledger_close; may be NULL */
} kiln_ledger_store_ops;

typedef struct kiln_ledger kiln_ledger;

/** A writer over any store; the ledger owns store (ops->destroy at close). */
kiln_ledger_status kiln_ledger_open_store(const kiln_ledger_store_ops *ops, void *store,
                                          const kiln_pki_signer *signer, unsigned checkpoint_every,
                                          kiln_ledger **out);
/** The same for the chain named chain ("" the unnamed one) of a store. cache_head: the store
 *  guarantees this writer is the chain's only one (PostgreSQL: a session advisory lock), so the
 *  head is read once and then kept in memory; the store's append_entry / append_checkpoint may
 *  then return LEDGER_HEAD_STALE (ledger_internal.h) when the remembered head row is gone (the
 *  caller's transaction rolled back), after which the head is read again. */
kiln_ledger_status kiln_ledger_open_chain(const kiln_ledger_store_ops *ops, void *store,
                                          const kiln_pki_signer *signer, unsigned checkpoint_every,
                                          const char *chain, bool cache_head, kiln_ledger **out);
/** The chain this writer appends to ("" the unnamed one). */
const char *kiln_ledger_chain(const kiln_ledger *l);
/** Tells the writer that the caller's transaction its last appends joined was rolled back: the
 *  head is read again at the next append (the store also notices on its own). */
void kiln_ledger_rolled_back(kiln_ledger *l);
/** Verifies / exports any store (read in storage order). */
kiln_ledger_status kiln_ledger_verify_store(const kiln_ledger_store_ops *ops, void *store,
                                            const uint8_t point[KILN_PKI_POINT_SIZE],
                                            kiln_ledger_verdict *verdict);
kiln_ledger_status kiln_ledger_export_store(const kiln_ledger_store_ops *ops, void *store,
                                            FILE *out, kiln_ledger_format format);

/* ---- SQLite storage ---- */

struct sqlite3;

/** A writer over an open database (tables ledger and ledger_checkpoint created when missing).
 *  signer is borrowed and must outlive the ledger; checkpoint_every 0 means the default. While
 *  a writer is open on db it holds db's commit and rollback hooks (sqlite3_commit_hook,
 *  sqlite3_rollback_hook: they tell it where a transaction ends, so that the head is checked
 *  once per transaction, not at every entry); the caller sets none of its own on db. */
kiln_ledger_status kiln_ledger_open(struct sqlite3 *db, const kiln_pki_signer *signer,
                                    unsigned checkpoint_every, kiln_ledger **out);
/** Appends an entry (inside the caller's transaction when one is open); writes a checkpoint
 *  when checkpoint_every entries have passed since the last one. *seq gets the entry's number
 *  when seq is not NULL. */
kiln_ledger_status kiln_ledger_append(kiln_ledger *l, const kiln_ledger_record *r, uint64_t *seq);
/** Signs the head unless it is already signed. */
kiln_ledger_status kiln_ledger_checkpoint_now(kiln_ledger *l);
/** Checkpoints the head and frees l (NULL is fine). */
kiln_ledger_status kiln_ledger_close(kiln_ledger *l);

/** Verifies the stored ledger of db (read in storage order). */
kiln_ledger_status kiln_ledger_verify_db(struct sqlite3 *db,
                                         const uint8_t point[KILN_PKI_POINT_SIZE],
                                         kiln_ledger_verdict *verdict);
/** Writes the stored ledger to out: entries and checkpoints in storage order. */
kiln_ledger_status kiln_ledger_export_db(struct sqlite3 *db, FILE *out, kiln_ledger_format format);

/* ---- the ledger key ---- */

/** Opens the P-256 key file, creating it (mode 0600) when it does not exist. */
kiln_ledger_status kiln_ledger_key_open(const char *path, kiln_pki_signer **out);
/** The public key as a PEM SubjectPublicKeyInfo; caller frees. */
char *kiln_ledger_pubkey_pem(const uint8_t point[KILN_PKI_POINT_SIZE]);
/** The point of a PEM (or DER) public key, or of a private key. */
kiln_ledger_status kiln_ledger_pubkey_parse(const uint8_t *data, size_t len,
                                            uint8_t point[KILN_PKI_POINT_SIZE]);
/** Verifies a DER ECDSA signature over digest with point. */
bool kiln_ledger_sig_verify(const uint8_t point[KILN_PKI_POINT_SIZE],
                            const uint8_t digest[KILN_PKI_DIGEST_SIZE], const uint8_t *sig,
                            size_t sig_len);

#endif
