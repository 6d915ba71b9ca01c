/* One way for every module to give names and texts to its status numbers: a constant table of
 * {code, name, text}, built from the module's X-macro map where it has one, and one lookup.
 *
 *     static const kiln_status_entry entries[] = {FTCD_STATUS_MAP(KILN_STATUS_ENTRY)};
 *     static const kiln_status_table table =
 *         KILN_STATUS_TABLE(entries, "UNKNOWN", "unknown transport status");
 *     ... return kiln_status_name(&table, status);
 *
 * Each table keeps its own answer for numbers it does not define, because those strings are
 * part of what users see. Portable C99 without allocation (the device links the modules that
 * use it). The lookup is static inline so that using it adds no object of its own to the device
 * image: only the modules that call it carry it. */
#ifndef KILN_STATUS_TABLE_H
#define KILN_STATUS_TABLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_status_entry {
    int code;
    const char *name;
    const char *text;
} kiln_status_entry;

typedef struct kiln_status_table {
    const kiln_status_entry *entries;
    size_t count;
    const char *unknown_name;
    const char *unknown_text;
} kiln_status_table;

/** One X(NAME, code, text) of a status map as a table entry (the name without its prefix). */
#define KILN_STATUS_ENTRY(name, code, text) {code, #name, text},

/** A table over a static array of entries, with the answers for numbers it does not define. */
#define KILN_STATUS_TABLE(entries, unknown_name, unknown_text)                                     \
    {                                                                                              \
        (entries), sizeof(entries) / sizeof((entries)[0]), (unknown_name), (unknown_text)          \
    }

/** The entry for code, or NULL. Tables are a few dozen entries long and looked up only to
 *  print, so a linear search is enough and keeps sparse numbering (0, 100..390) free. */
static inline const kiln_status_entry *kiln_status_find(const kiln_status_table *t, int code)
{
    for (size_t i = 0; i < t->count; i++) {
        if (t->entries[i].code == code) {
            return &t->entries[i];
        }
    }
    return NULL;
}

/** Name of code; the table's unknown name when it does not define code. Never NULL. */
static inline const char *kiln_status_name(const kiln_status_table *t, int code)
{
    const kiln_status_entry *e = kiln_status_find(t, code);
    return e != NULL ? e->name : t->unknown_name;
}

/** Text of code; the table's unknown text when it does not define code. Never NULL. */
static inline const char *kiln_status_text(const kiln_status_table *t, int code)
{
    const kiln_status_entry *e = kiln_status_find(t, code);
    return e != NULL ? e->text : t->unknown_text;
}

#ifdef __cplusplus
}
#endif
#endif
