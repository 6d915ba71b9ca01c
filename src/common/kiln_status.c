/* kiln_status: the module ranges of kiln/status.h and the lookups over every module's table. */
#include "kiln/status.h"

#include <string.h>

#include "kiln_status_table.h"

/* A module's range: kiln_status = origin + sign * code for the codes whose image falls in
 * first..last (0 being KILN_OK for all). */
typedef struct module_range {
    kiln_module module;
    const char *label;
    kiln_status first;
    kiln_status last;
    int32_t origin;
    int32_t sign;
    const kiln_status_table *table;
    const char *unknown_text; /* kiln's answer for a number of the range the module lacks */
} module_range;

static const module_range ranges[] = {
    {KILN_MODULE_FCU, "FCU", 1, 999, 0, 1, &status_table_fcu, "unknown FCU status"},
    {KILN_MODULE_LINE, "LINE", 1000, 1999, 0, 1, &status_table_line, "unknown LINE status"},
    {KILN_MODULE_FCC, "FCC", 2001, 2999, 2000, 1, &status_table_fcc, "unknown FCC status"},
    {KILN_MODULE_KCM, "KCM", 3001, 3999, 3000, 1, &status_table_kcm, "unknown KCM status"},
    {KILN_MODULE_FTCD, "FTCD", 4001, 4999, 4000, 1, &status_table_ftcd, "unknown FTCD status"},
    {KILN_MODULE_SF, "SF", 5001, 5999, 5000, 1, &status_table_sf, "unknown SF status"},
    {KILN_MODULE_KV, "KV", 6001, 6999, 6000, -1, &status_table_kv, "unknown KV status"},
    {KILN_MODULE_PKI, "PKI", 8001, 8999, 8000, 1, &status_table_pki, "unknown PKI status"},
};
#define RANGE_COUNT (sizeof(ranges) / sizeof(ranges[0]))

/* The statuses that belong to no module. */
static const kiln_status_entry kiln_entries[] = {
    {KILN_OK, "KILN_OK", "success"},
    {KILN_STATUS_UNMAPPED, "KILN_STATUS_UNMAPPED", "module status outside its module's range"},
};
static const kiln_status_table kiln_statuses =
    KILN_STATUS_TABLE(kiln_entries, 0, "KILN_STATUS_UNKNOWN", "unknown status");

static const module_range *range_of_module(kiln_module module)
{
    for (size_t i = 0; i < RANGE_COUNT; i++) {
        if (ranges[i].module == module) {
            return &ranges[i];
        }
    }
    return NULL;
}

static const module_range *range_of_status(kiln_status status)
{
    for (size_t i = 0; i < RANGE_COUNT; i++) {
        if (status >= ranges[i].first && status <= ranges[i].last) {
            return &ranges[i];
        }
    }
    return NULL;
}

kiln_status kiln_status_from(kiln_module module, int32_t code)
{
    const module_range *r = range_of_module(module);
    if (code == 0) {
        return KILN_OK;
    }
    if (r == NULL) {
        return KILN_STATUS_UNMAPPED;
    }
    /* In 64 bits: the code may be any int32_t, its image must not wrap into another range. */
    int64_t status = (int64_t)r->origin + (int64_t)r->sign * (int64_t)code;
    return status >= r->first && status <= r->last ? (kiln_status)status : KILN_STATUS_UNMAPPED;
}

kiln_module kiln_status_module(kiln_status status)
{
    const module_range *r = range_of_status(status);
    return r != NULL ? r->module : KILN_MODULE_NONE;
}

int32_t kiln_status_code(kiln_status status)
{
    const module_range *r = range_of_status(status);
    return r != NULL ? (status - r->origin) * r->sign : status;
}

const char *kiln_module_name(kiln_module module)
{
    const module_range *r = range_of_module(module);
    return r != NULL ? r->label : "KILN";
}

/* The module's entry for status, or NULL; *range says whose range status is in (NULL if none). */
static const kiln_status_entry *find(kiln_status status, const module_range **range)
{
    *range = range_of_status(status);
    if (*range == NULL) {
        return kiln_status_table_find(&kiln_statuses, status);
    }
    return kiln_status_table_find((*range)->table, kiln_status_code(status));
}

const char *kiln_status_name(kiln_status status)
{
    const module_range *r;
    const kiln_status_entry *e = find(status, &r);
    if (e != NULL) {
        return e->name;
    }
    return r != NULL ? r->table->unknown_name : kiln_statuses.unknown_name;
}

const char *kiln_strerror(kiln_status status)
{
    const module_range *r;
    const kiln_status_entry *e = find(status, &r);
    if (e != NULL) {
        return e->text;
    }
    return r != NULL ? r->unknown_text : kiln_statuses.unknown_text;
}

/* Decimal digits of v, with a sign, at the end of buf[12]; returns where they start. */
static const char *decimal(int32_t v, char buf[12])
{
    uint32_t magnitude = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    char *p = buf + 11;
    *p = '\0';
    do {
        *--p = (char)('0' + magnitude % 10u);
        magnitude /= 10u;
    } while (magnitude != 0u);
    if (v < 0) {
        *--p = '-';
    }
    return p;
}

/* Appends s to buf[size] at *used, cutting what does not fit. */
static void append(char *buf, size_t size, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (n > size - 1 - *used) {
        n = size - 1 - *used;
    }
    memcpy(buf + *used, s, n);
    *used += n;
    buf[*used] = '\0';
}

char *kiln_strerror_r(kiln_status status, char *buf, size_t size)
{
    const module_range *r;
    const kiln_status_entry *e = find(status, &r);
    size_t used = 0;
    char digits[12];
    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    append(buf, size, &used, kiln_strerror(status));
    if (e == NULL) {
        /* The number the reader can look up: the module's own where there is a module. */
        append(buf, size, &used, " ");
        append(buf, size, &used, decimal(r != NULL ? kiln_status_code(status) : status, digits));
    }
    return buf;
}
