/* The KCM status table, and the lookups behind kcm_status_name() and kcm_status_to_string(). */
#include "kiln/status.h"
#include "kiln/status_kcm.def"
#include "kiln_status_table.h"

static const kiln_status_entry kcm_entries[] = {KCM_STATUS_MAP(KILN_STATUS_ENTRY)};
const kiln_status_table status_table_kcm =
    KILN_STATUS_TABLE(kcm_entries, 0, "KCM_STATUS_UNKNOWN", "Unknown KCM status");

const char *kiln_kcm_status_name(int32_t code)
{
    return kiln_status_table_name(&status_table_kcm, code);
}

const char *kiln_kcm_status_text(int32_t code)
{
    return kiln_status_table_text(&status_table_kcm, code);
}
