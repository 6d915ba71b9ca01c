/* Shared between the ledger's files: the CBOR forms of entries and checkpoints. */
#ifndef KILN_LEDGER_INTERNAL_H
#define KILN_LEDGER_INTERNAL_H

#include "kiln_ledger.h"
#include "bundle_writer.h"
#include "ledger_cbor.h"

#define LEDGER_ENTRY_FIELDS      10
#define LEDGER_CHECKPOINT_FIELDS 4
/* A named chain's entry carries it as an 11th item, its checkpoint as a 5th. */
#define LEDGER_CHAIN_FIELD 1
/* Not a status a caller sees: a store's append found the head row it was told to link to gone
 * (the transaction that wrote it rolled back), so the writer reads the head again. */
#define LEDGER_HEAD_STALE       ((kiln_ledger_status)100)
#define LEDGER_CHECKPOINT_LABEL "kiln-ledger-checkpoint-v1"

/** Decodes the fields of an entry after its array head of fields items (10, or 11 with a
 *  non-empty chain). */
bool ledger_entry_decode_fields(lc_reader *r, uint64_t fields, kiln_ledger_entry *e);
/** Decodes the fields of a checkpoint after its array head (4, or 5 with a chain). */
bool ledger_checkpoint_decode_fields(lc_reader *r, uint64_t fields, kiln_ledger_checkpoint *c);
/** The longest CBOR of a checkpoint. */
#define LEDGER_CHECKPOINT_MAX (128 + KILN_LEDGER_TEXT_MAX + 3)
/** The CBOR of a checkpoint into out (LEDGER_CHECKPOINT_MAX bytes). */
size_t ledger_checkpoint_encode(const kiln_ledger_checkpoint *c, uint8_t *out, size_t cap);
/** Copies text into a field, checking length and UTF-8. */
bool ledger_set_text(char dst[KILN_LEDGER_TEXT_MAX + 1], const char *src);

#endif
