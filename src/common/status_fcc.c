/* The FCC status table, and the lookups behind fcc_status_name() and fcc_status_to_string(). */
#include "kiln/status.h"
#include "kiln/status_fcc.def"
#include "kiln_status_table.h"

static const kiln_status_entry fcc_entries[] = {FCC_STATUS_MAP(KILN_STATUS_ENTRY)};
const kiln_status_table status_table_fcc =
    KILN_STATUS_TABLE(fcc_entries, 0, "FCC_STATUS_UNKNOWN", "Unknown FCC status");

const char *kiln_fcc_status_name(int32_t code)
{
    return kiln_status_table_name(&status_table_fcc, code);
}

const char *kiln_fcc_status_text(int32_t code)
{
    return kiln_status_table_text(&status_table_fcc, code);
}
