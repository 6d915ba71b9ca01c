/* Shared between the ledger's files: the CBOR forms of entries and checkpoints. */
#ifndef KILN_LEDGER_INTERNAL_H
#define KILN_LEDGER_INTERNAL_H

#include "kiln_ledger.h"
#include "bundle_writer.h"
#include "ledger_cbor.h"

#define LEDGER_ENTRY_FIELDS      10
#define LEDGER_CHECKPOINT_FIELDS 4
#define LEDGER_CHECKPOINT_LABEL  "kiln-ledger-checkpoint-v1"

/** Decodes the fields of an entry after its array head. */
bool ledger_entry_decode_fields(lc_reader *r, kiln_ledger_entry *e);
/** Decodes the fields of a checkpoint after its array head. */
bool ledger_checkpoint_decode_fields(lc_reader *r, kiln_ledger_checkpoint *c);
/** The CBOR of a checkpoint into out (at least 128 bytes). */
size_t ledger_checkpoint_encode(const kiln_ledger_checkpoint *c, uint8_t *out, size_t cap);
/** Copies text into a field, checking length and UTF-8. */
bool ledger_set_text(char dst[KILN_LEDGER_TEXT_MAX + 1], const char *src);

#endif
