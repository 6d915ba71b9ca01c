/* The status tables behind kiln/status.h: one constant table of {code, name, text} per module,
 * expanded from the module's list (include/kiln/status_<module>.def), and one lookup.
 *
 * A table holds the kiln name of each code ("FTCD_STATUS_NETWORK_TIMEOUT"); where a module
 * spells its names without the prefix ("NETWORK_TIMEOUT"), name_skip says how many bytes its own
 * lookup skips, so both spellings share one string. Each table keeps its module's own answer
 * for numbers it does not define, because those strings are part of what users see.
 *
 * Every table lives in its own object (src/common/status_<module>.c) with the lookups of its
 * module, so that an image which prints one module's statuses carries only that table. The
 * lookup is static inline for the same reason. Portable C99 without allocation. */
#ifndef KILN_STATUS_TABLE_H
#define KILN_STATUS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_status_entry {
    int32_t code;
    const char *name;
    const char *text;
} kiln_status_entry;

typedef struct kiln_status_table {
    const kiln_status_entry *entries;
    size_t count;
    size_t name_skip; /* bytes of prefix the module's own names leave out */
    const char *unknown_name;
    const char *unknown_text;
} kiln_status_table;

/** One X(enumerator, code, text) of a list whose names are whole enumerators. */
#define KILN_STATUS_ENTRY(id, code, text) {code, #id, text},

/** A table over a static array of entries, with the answers for numbers it does not define
 *  (the unknown name carries the prefix too). */
#define KILN_STATUS_TABLE(entries, name_skip, unknown_name, unknown_text)                          \
    {                                                                                              \
        (entries), sizeof(entries) / sizeof((entries)[0]), (name_skip), (unknown_name),            \
            (unknown_text)                                                                         \
    }

/* Named outside the exported prefixes (kiln_*, fcc_*, ...): internal to the libraries. */
extern const kiln_status_table status_table_fcu;
extern const kiln_status_table status_table_line;
extern const kiln_status_table status_table_fcc;
extern const kiln_status_table status_table_kcm;
extern const kiln_status_table status_table_ftcd;
extern const kiln_status_table status_table_sf;
extern const kiln_status_table status_table_kv;
extern const kiln_status_table status_table_pki;

/** The entry for code, or NULL. Tables are a few dozen entries long and looked up only to
 *  print, so a linear search is enough and keeps sparse numbering (0, 100..390) free. */
static inline const kiln_status_entry *kiln_status_table_find(const kiln_status_table *t,
                                                              int32_t code)
{
    for (size_t i = 0; i < t->count; i++) {
        if (t->entries[i].code == code) {
            return &t->entries[i];
        }
    }
    return NULL;
}

/** The module's own name of code (without the prefix it leaves out); its unknown name when it
 *  does not define code. Never NULL. */
static inline const char *kiln_status_table_name(const kiln_status_table *t, int32_t code)
{
    const kiln_status_entry *e = kiln_status_table_find(t, code);
    return (e != NULL ? e->name : t->unknown_name) + t->name_skip;
}

/** Text of code; the table's unknown text when it does not define code. Never NULL. */
static inline const char *kiln_status_table_text(const kiln_status_table *t, int32_t code)
{
    const kiln_status_entry *e = kiln_status_table_find(t, code);
    return e != NULL ? e->text : t->unknown_text;
}

#ifdef __cplusplus
}
#endif
#endif
