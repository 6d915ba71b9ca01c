/* The secure factory's status table, and sf_status_name() and sf_status_text(). */
#include "kiln_status_table.h"
#include "sf_msg.h"

#define SF_ENTRY(name, code, text) {code, SF_STATUS_PREFIX #name, text},

static const kiln_status_entry sf_entries[] = {SF_STATUS_MAP(SF_ENTRY)};
const kiln_status_table status_table_sf =
    KILN_STATUS_TABLE(sf_entries, sizeof(SF_STATUS_PREFIX) - 1, SF_STATUS_PREFIX "UNKNOWN",
                      "unknown secure factory status");

const char *sf_status_text(int status)
{
    return kiln_status_table_text(&status_table_sf, status);
}

const char *sf_status_name(int status)
{
    return kiln_status_table_name(&status_table_sf, status);
}
