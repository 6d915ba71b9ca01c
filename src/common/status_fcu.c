/* The configurator's (FCU) status table; its lookups are in src/host/fcu/fcu_status.c. It lives
 * here so that kiln_strerror() covers FCU codes without the common code reaching into the host
 * library. */
#include "kiln/status_fcu.def"
#include "kiln_status_table.h"

#define FCU_ENTRY(name, code, text) {code, FCU_STATUS_PREFIX #name, text},

static const kiln_status_entry fcu_entries[] = {FCU_STATUS_MAP(FCU_ENTRY)};
const kiln_status_table status_table_fcu = KILN_STATUS_TABLE(
    fcu_entries, sizeof(FCU_STATUS_PREFIX) - 1, FCU_STATUS_PREFIX "UNKNOWN", "Unknown status");
