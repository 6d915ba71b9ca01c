/* The one writer of the FCC configuration bundle: the CBOR map that fcc_bundle_handler reads
 * (field names in fcc_bundle_fields.h). The configurator and the secure-factory service both
 * write their bundles with it, so the schema is encoded once.
 *
 * The output buffer belongs to the caller and the writer never allocates. Like snprintf, it
 * counts every byte it is asked to write even when out is NULL or too small, and writes nothing
 * past capacity: run the same calls once with (NULL, 0) to learn the size, allocate, and run
 * them again to write. Counts of maps, arrays and groups are given up front (definite lengths,
 * as the device requires), so the caller decides what goes in before writing.
 *
 * Portable C99 with no dependency: the device could link it. Integers use the shortest CBOR
 * form; the items of the groups are maps whose fields come in the order the original
 * configurator sends them (Name first; PrKN first in a CSR request). */
#ifndef KILN_BUNDLE_WRITER_H
#define KILN_BUNDLE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_bundle_writer {
    uint8_t *out;    /* NULL for a size query */
    size_t capacity; /* bytes of out */
    size_t length;   /* bytes the calls so far need (saturates at SIZE_MAX) */
} kiln_bundle_writer;

/** Starts writing into out (capacity bytes; out may be NULL to only count). */
void kiln_bw_init(kiln_bundle_writer *w, uint8_t *out, size_t capacity);
/** Bytes the calls so far need, whether or not they fit. */
size_t kiln_bw_length(const kiln_bundle_writer *w);
/** True when out is set and every byte asked for fitted into it. */
bool kiln_bw_complete(const kiln_bundle_writer *w);

/* ---- plain CBOR items ---- */

void kiln_bw_map(kiln_bundle_writer *w, size_t pairs);
void kiln_bw_array(kiln_bundle_writer *w, size_t count);
/** A NUL-terminated text string. */
void kiln_bw_text(kiln_bundle_writer *w, const char *text);
void kiln_bw_text_n(kiln_bundle_writer *w, const char *text, size_t len);
void kiln_bw_bytes(kiln_bundle_writer *w, const uint8_t *data, size_t len);
void kiln_bw_uint(kiln_bundle_writer *w, uint64_t value);
void kiln_bw_int(kiln_bundle_writer *w, int64_t value);

/* ---- the bundle's top level ---- */

/** Opens the top-level map of entries pairs and writes the first, SchemeVersion. entries counts
 *  every top-level pair, SchemeVersion included. */
void kiln_bw_bundle_begin(kiln_bundle_writer *w, size_t entries);
/** A top-level group (Keys, Certificates, ConfigParams, CertificateChains, CsrReqs): its name
 *  and an array of items; the next items calls fill it. */
void kiln_bw_group(kiln_bundle_writer *w, const char *group, size_t items);
/** Top-level scalar entries (SID, Verify, KpAlvSess, Entropy, ROT). */
void kiln_bw_entry_text(kiln_bundle_writer *w, const char *name, const char *text);
void kiln_bw_entry_uint(kiln_bundle_writer *w, const char *name, uint64_t value);
void kiln_bw_entry_bytes(kiln_bundle_writer *w, const char *name, const uint8_t *data, size_t len);

/** Writes the items of one group and returns how many it wrote. kiln_bw_group_items calls it
 *  twice, to count and to write, so it must write the same items both times. */
typedef size_t (*kiln_bw_items_fn)(kiln_bundle_writer *w, const void *ctx);
/** How many items fn writes (it runs on a counting writer). */
size_t kiln_bw_items_count(kiln_bw_items_fn fn, const void *ctx);
/** The group of fn's items, header included; nothing at all when fn writes none. */
void kiln_bw_group_items(kiln_bundle_writer *w, const char *group, kiln_bw_items_fn fn,
                         const void *ctx);

/* ---- items of the groups ---- */

/** ConfigParams items: {Name, Data}. */
void kiln_bw_param_text(kiln_bundle_writer *w, const char *name, const char *text);
void kiln_bw_param_bytes(kiln_bundle_writer *w, const char *name, const uint8_t *data, size_t len);
void kiln_bw_param_int(kiln_bundle_writer *w, const char *name, int64_t value);

/** Keys item: {Name, Type, Format "der", Data}. type is one of FCC_KEY_TYPE_*. */
void kiln_bw_key(kiln_bundle_writer *w, const char *name, const char *type, const uint8_t *der,
                 size_t len);

/** Certificates item: {Name, Format "der", Data[, PrKN]}. private_key_name (NULL: none) names the
 *  key the device generated for this certificate. */
void kiln_bw_cert(kiln_bundle_writer *w, const char *name, const uint8_t *der, size_t len,
                  const char *private_key_name);

/** CertificateChains item: {Name, Format "der", DataArray [count DERs, leaf first][, PrKN]}. */
void kiln_bw_chain(kiln_bundle_writer *w, const char *name, const uint8_t *const *ders,
                   const size_t *lens, size_t count, const char *private_key_name);

/** A CsrReqs item: the device generates private_key_name and answers a CSR for it. */
typedef struct kiln_bw_csr_request {
    const char *private_key_name; /* PrKN */
    const char *subject;          /* Subj, a DN string with CN first */
    uint64_t message_digest;      /* MD: 1 is SHA-256 */
    uint64_t key_usage;           /* Ext.KU bits, 0 leaves KU out (1 = digitalSignature) */
    uint64_t ext_key_usage;       /* Ext.EKU bits, 0 leaves EKU out (4 = clientAuth) */
} kiln_bw_csr_request;

/** {PrKN, Subj, MD[, Ext {KU, EKU}]} (Ext left out when both usages are 0). */
void kiln_bw_csr(kiln_bundle_writer *w, const kiln_bw_csr_request *req);

#ifdef __cplusplus
}
#endif

#endif
