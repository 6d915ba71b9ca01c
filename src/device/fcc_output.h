/* The answer a device gives to a bundle: the first error (status, message prefix, item name)
 * and the warnings, in the order they were found; encoded as the original's CBOR answer. */
#ifndef KILN_FCC_OUTPUT_H
#define KILN_FCC_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "fcc_status.h"
#include "kcm_status.h"

typedef enum {
    FCC_WARN_ITEM_NOT_SET,
    FCC_WARN_BOOTSTRAP_MODE_NOT_ACTIVATED,
    FCC_WARN_SELF_SIGNED,
    FCC_WARN_ITEM_REDUNDANT,
    FCC_WARN_VALIDITY_CANNOT_BE_CHECKED,
    FCC_WARN_VALIDITY_LESS_THAN_10_YEARS,
    FCC_WARN_CA_ID_NOT_SET
} fcc_warning_e;

typedef struct fcc_output {
    fcc_status_e status;
    const char *prefix;
    const char *item; /* not copied: names come from the bundle buffer or are constants, and
                         both outlive the answer */
    size_t item_len;
    char *warnings; /* "<prefix><name>\n"... (malloc'd, grows) */
    size_t warnings_len, warnings_cap;
    int oom;
} fcc_output;

void fcc_output_init(fcc_output *out);
void fcc_output_free(fcc_output *out);
/** Records an error unless one is already recorded. name may be NULL (no item name); it is
 *  kept by reference and must stay valid until the answer is encoded. */
fcc_status_e fcc_output_error(fcc_output *out, fcc_status_e status, const char *name,
                              size_t name_len);
/** Records a KCM failure: the message uses KCM's prefix, the status is KCM's FCC mapping. */
fcc_status_e fcc_output_kcm_error(fcc_output *out, kcm_status_e kcm, const char *name,
                                  size_t name_len);
void fcc_output_warning(fcc_output *out, fcc_warning_e w, const char *name);

/** FCC status a KCM status converts to (fcc_utils of the original). */
fcc_status_e fcc_convert_kcm_status(kcm_status_e kcm);
/** The message prefix of an FCC / KCM error ("Item does not exist:"). */
const char *fcc_error_prefix(fcc_status_e status);
const char *fcc_kcm_error_prefix(kcm_status_e status);

/** One CSR of the answer. */
typedef struct fcc_csr_out {
    const char *key_name;
    size_t key_name_len;
    const uint8_t *der;
    size_t der_len;
} fcc_csr_out;

/** Builds the CBOR answer (malloc'd). sid may be NULL. Returns 0 or -1 (out of memory). */
int fcc_output_encode(const fcc_output *out, const fcc_csr_out *csrs, size_t csr_count,
                      const uint8_t *sid, size_t sid_len, uint8_t **resp, size_t *resp_len);

#endif
