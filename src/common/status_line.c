/* The factory line's error table; its lookups are in src/host/line/line_errors.c. It lives here
 * so that kiln_strerror() covers LINE codes without the common code reaching into the host
 * library. */
#include "kiln/status_line.def"
#include "kiln_status_table.h"

#define LINE_ENTRY(name, code, text) {code, LINE_ERROR_PREFIX #name, text},

static const kiln_status_entry line_entries[] = {LINE_ERROR_MAP(LINE_ENTRY)};
const kiln_status_table status_table_line = KILN_STATUS_TABLE(
    line_entries, sizeof(LINE_ERROR_PREFIX) - 1, LINE_ERROR_PREFIX "UNKNOWN", "Unknown error");
