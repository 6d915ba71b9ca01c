/* The FTCD transport's status table, and ftcd_status_name() and ftcd_status_text(). */
#include <stdint.h>

#include "ftcd_frame.h"
#include "kiln_status_table.h"

#define FTCD_ENTRY(name, code, text) {code, FTCD_STATUS_PREFIX #name, text},

static const kiln_status_entry ftcd_entries[] = {FTCD_STATUS_MAP(FTCD_ENTRY)};
const kiln_status_table status_table_ftcd =
    KILN_STATUS_TABLE(ftcd_entries, sizeof(FTCD_STATUS_PREFIX) - 1, FTCD_STATUS_PREFIX "UNKNOWN",
                      "unknown transport status");

/* The status comes off the wire as 32 unsigned bits; above INT32_MAX it is no status at all. */
static int32_t status_code(uint32_t status)
{
    return status <= INT32_MAX ? (int32_t)status : -1;
}

const char *ftcd_status_name(uint32_t status)
{
    return kiln_status_table_name(&status_table_ftcd, status_code(status));
}

const char *ftcd_status_text(uint32_t status)
{
    return kiln_status_table_text(&status_table_ftcd, status_code(status));
}
