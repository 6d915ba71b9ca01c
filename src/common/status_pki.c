/* The certificate issuer's status table (its lookups are in src/host/pki/pki_parse.c). It lives
 * here so that kiln_strerror() covers kiln_pki codes without the common code reaching into the
 * host library. */
#include "kiln/status_pki.def"
#include "kiln_status_table.h"

#define PKI_ENTRY(name, code, text) {code, KILN_PKI_STATUS_PREFIX #name, text},

static const kiln_status_entry pki_entries[] = {KILN_PKI_STATUS_MAP(PKI_ENTRY)};
const kiln_status_table status_table_pki =
    KILN_STATUS_TABLE(pki_entries, sizeof(KILN_PKI_STATUS_PREFIX) - 1,
                      KILN_PKI_STATUS_PREFIX "UNKNOWN", "unknown certificate issuer status");
