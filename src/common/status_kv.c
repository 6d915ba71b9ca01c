/* The storage backend's status table, and the lookup behind kiln_kv_status_to_string(). */
#include "kiln/status.h"
#include "kiln/status_kv.def"
#include "kiln_status_table.h"

/* kiln_kv has no name lookup of its own; the names serve kiln_status_name(). */
static const kiln_status_entry kv_entries[] = {KILN_KV_STATUS_MAP(KILN_STATUS_ENTRY)};
const kiln_status_table status_table_kv =
    KILN_STATUS_TABLE(kv_entries, 0, "KILN_KV_UNKNOWN", "unknown storage status");

const char *kiln_kv_status_text(int32_t code)
{
    return kiln_status_table_text(&status_table_kv, code);
}
