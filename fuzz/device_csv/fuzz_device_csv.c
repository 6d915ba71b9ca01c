/* libFuzzer target: the factory line's device list (CSV with quoted fields, the header's
 * columns, prop:NAME[:TYPE] per-device properties and their cell formats).
 *
 * line_devices_load reads a file, so each input is written to one file on tmpfs first. Checked
 * for every input: reading the same file twice gives the same answer (verdict, message, every
 * device and property); a refusal has a message naming the file; an accepted list has at least
 * one device, unique non-empty endpoint names without '/', non-empty serials (and addresses when
 * required), and properties named by the list's prop: columns, at most one per column, of a
 * known type, strings without NUL bytes. A list accepted with addresses required is accepted
 * without, identically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "line_devices.h"

static char path[64];

static void remove_input(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "%s/kiln-fuzz-csv-%ld.csv",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    atexit(remove_input);
    return 0;
}

static int same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_property(const fcu_extra_property *p, const fcu_extra_property *q)
{
    return strcmp(p->name, q->name) == 0 && p->type == q->type && p->len == q->len &&
           p->value == q->value && (p->data == NULL) == (q->data == NULL) &&
           (p->len == 0 || memcmp(p->data, q->data, p->len) == 0);
}

static int same_device(const line_device *a, const line_device *b)
{
    if (!same_text(a->endpoint, b->endpoint) || !same_text(a->serial, b->serial) ||
        !same_text(a->address, b->address) ||
        !same_text(a->device_keys_location, b->device_keys_location) || a->line != b->line ||
        a->prop_count != b->prop_count) {
        return 0;
    }
    for (size_t k = 0; k < a->prop_count; k++) {
        if (!same_property(&a->props[k], &b->props[k])) {
            return 0;
        }
    }
    return 1;
}

static int same_list(const line_device_list *a, const line_device_list *b)
{
    if (a->count != b->count || a->prop_columns != b->prop_columns) {
        return 0;
    }
    for (size_t i = 0; i < a->count; i++) {
        if (!same_device(&a->items[i], &b->items[i])) {
            return 0;
        }
    }
    return 1;
}

/* The property's name is one of the list's columns, after the previous property's column. */
static void check_property(const line_device_list *list, const fcu_extra_property *p,
                           size_t *next_column)
{
    size_t k = *next_column;
    while (k < list->prop_columns && list->prop_names[k] != p->name) {
        k++;
    }
    if (k == list->prop_columns || *p->name == '\0' || (unsigned)p->type > FCU_PROPERTY_BINARY) {
        abort();
    }
    if (p->type == FCU_PROPERTY_INTEGER ? p->data != NULL : p->data == NULL) {
        abort();
    }
    if (p->type == FCU_PROPERTY_STRING &&
        (p->len == 0 || strlen((const char *)p->data) != p->len)) {
        abort(); /* an empty cell gives no property; a string is its cell's text */
    }
    *next_column = k + 1;
}

static void check_accepted(const line_device_list *list, int need_address)
{
    if (list->count == 0) {
        abort();
    }
    for (size_t i = 0; i < list->count; i++) {
        const line_device *d = &list->items[i];
        if (*d->endpoint == '\0' || strchr(d->endpoint, '/') || *d->serial == '\0' ||
            (need_address && (d->address == NULL || *d->address == '\0')) ||
            d->prop_count > list->prop_columns) {
            abort();
        }
        for (size_t j = 0; j < i && list->count <= 256; j++) {
            if (strcmp(list->items[j].endpoint, d->endpoint) == 0) {
                abort();
            }
        }
        size_t next_column = 0;
        for (size_t k = 0; k < d->prop_count; k++) {
            check_property(list, &d->props[k], &next_column);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
    for (int need_address = 1; need_address >= 0; need_address--) {
        line_device_list first, second;
        char why1[600] = "", why2[600] = "";
        int rc1 = line_devices_load(path, need_address, &first, why1, sizeof(why1));
        int rc2 = line_devices_load(path, need_address, &second, why2, sizeof(why2));
        if (rc1 != rc2 || strcmp(why1, why2) != 0) {
            abort();
        }
        if (rc1 == 0) {
            if (!same_list(&first, &second)) {
                abort();
            }
            check_accepted(&first, need_address);
        } else if (strstr(why1, path) == NULL && strcmp(why1, "out of memory") != 0) {
            abort();
        }
        line_devices_free(&first);
        line_devices_free(&second);
        if (rc1 == 0 && need_address) {
            break; /* accepted with addresses: the list without them is the same list */
        }
    }
    return 0;
}
