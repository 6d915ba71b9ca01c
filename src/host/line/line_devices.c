#include "line_devices.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "fcc_bundle_fields.h"
#include "kiln_endpoint_name.h"
#include "kiln_pki.h"
#include "line_text.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256 (sha1 false) or SHA-1 of data in hex; "" when OpenSSL cannot hash. */
static void digest_hex(bool sha1, const uint8_t *data, size_t len, char *out)
{
    uint8_t d[KILN_PKI_DIGEST_SIZE];
    bool ok = sha1 ? kiln_pki_sha1(data, len, d) : kiln_pki_sha256(data, len, d);
    if (!ok) {
        out[0] = '\0';
        return;
    }
    hex(d, sha1 ? KILN_PKI_SHA1_SIZE : KILN_PKI_DIGEST_SIZE, out);
}

static int key_is(cbor_item_t *key, const char *name)
{
    size_t n = strlen(name);
    return cbor_isa_string(key) && cbor_string_is_definite(key) && cbor_string_length(key) == n &&
           memcmp(cbor_string_handle(key), name, n) == 0;
}

static cbor_item_t *map_get(cbor_item_t *map, const char *name)
{
    if (!cbor_isa_map(map)) {
        return NULL;
    }
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        if (key_is(pairs[i].key, name)) {
            return pairs[i].value;
        }
    }
    return NULL;
}

/* A definite-length CBOR walk over the bundle, without building an item tree: the bundle
 * writer never emits indefinite lengths, and anything else falls back to libcbor. */
typedef struct cbor_walk {
    const uint8_t *p;
    size_t len, pos;
} cbor_walk;

/* Reads one head: major type and argument; false on an indefinite length, a float or an end. */
static bool walk_head(cbor_walk *w, int *major, uint64_t *arg)
{
    if (w->pos >= w->len) {
        return false;
    }
    uint8_t b = w->p[w->pos++];
    unsigned info = b & 31u, extra = info < 24 ? 0 : info <= 27 ? 1u << (info - 24) : 9;
    *major = b >> 5;
    if (extra > 8 || w->len - w->pos < extra || *major == 7) {
        return false;
    }
    *arg = info < 24 ? info : 0;
    for (unsigned i = 0; i < extra; i++) {
        *arg = (*arg << 8) | w->p[w->pos++];
    }
    return true;
}

/* Skips one item; a string comes back in str and n with its major type (str NULL for other
 * items). */
static bool walk_item(cbor_walk *w, int depth, const uint8_t **str, size_t *n, int *major)
{
    uint64_t arg;
    *str = NULL;
    if (depth > 16 || !walk_head(w, major, &arg)) {
        return false;
    }
    if (*major == 2 || *major == 3) {
        if (arg > w->len - w->pos) {
            return false;
        }
        *str = w->p + w->pos;
        *n = (size_t)arg;
        w->pos += (size_t)arg;
        return true;
    }
    uint64_t items = *major == 4 ? arg : *major == 5 ? 2 * arg : *major == 6 ? 1 : 0;
    const uint8_t *s;
    size_t sn;
    int inner;
    for (uint64_t i = 0; i < items; i++) {
        if (i > w->len || !walk_item(w, depth + 1, &s, &sn, &inner)) {
            return false;
        }
    }
    return true;
}

static bool text_is(const uint8_t *s, size_t n, const char *name)
{
    return s != NULL && strlen(name) == n && memcmp(s, name, n) == 0;
}

/* The device certificate of one certificate map (the walk is at its head). */
static bool walk_cert_entry(cbor_walk *w, const uint8_t **der, size_t *der_len)
{
    int major;
    uint64_t pairs;
    if (!walk_head(w, &major, &pairs) || major != 5) {
        return false;
    }
    bool device = false;
    for (uint64_t i = 0; i < pairs; i++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        int km, vm;
        if (!walk_item(w, 1, &k, &kn, &km) || !walk_item(w, 1, &v, &vn, &vm)) {
            return false;
        }
        if (km == 3 && vm == 3 && text_is(k, kn, FCC_FIELD_NAME)) {
            device |=
                text_is(v, vn, FCC_BOOTSTRAP_DEVICE_CERT) || text_is(v, vn, FCC_LWM2M_DEVICE_CERT);
        } else if (km == 3 && text_is(k, kn, FCC_FIELD_DATA) && vm == 2) {
            *der = v;
            *der_len = vn;
        }
    }
    if (!device) {
        *der = NULL;
    }
    return true;
}

/* Finds the device certificate; false when the bundle needs the full decoder. */
static bool walk_device_cert(const uint8_t *bundle, size_t len, const uint8_t **der,
                             size_t *der_len)
{
    cbor_walk w = {bundle, len, 0};
    int major;
    uint64_t pairs, count;
    *der = NULL;
    if (!walk_head(&w, &major, &pairs) || major != 5) {
        return false;
    }
    for (uint64_t i = 0; i < pairs && *der == NULL; i++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        int km, vm;
        if (!walk_item(&w, 0, &k, &kn, &km)) {
            return false;
        }
        if (km != 3 || !text_is(k, kn, FCC_GROUP_CERTIFICATES)) {
            if (!walk_item(&w, 0, &v, &vn, &vm)) {
                return false;
            }
            continue;
        }
        if (!walk_head(&w, &major, &count) || major != 4) {
            return false;
        }
        for (uint64_t c = 0; c < count && *der == NULL; c++) {
            if (!walk_cert_entry(&w, der, der_len)) {
                return false;
            }
        }
    }
    return true;
}

/* The same search with libcbor's item tree (indefinite lengths). */
static void decode_device_cert(const uint8_t *bundle, size_t len, line_identity *out)
{
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(bundle, len, &res);
    if (root == NULL) {
        return;
    }
    cbor_item_t *certs = map_get(root, FCC_GROUP_CERTIFICATES);
    if (certs != NULL && cbor_isa_array(certs)) {
        for (size_t i = 0; i < cbor_array_size(certs); i++) {
            cbor_item_t *cert = cbor_array_get(certs, i);
            cbor_item_t *name = map_get(cert, FCC_FIELD_NAME);
            cbor_item_t *data = map_get(cert, FCC_FIELD_DATA);
            if (name != NULL && data != NULL && cbor_isa_bytestring(data) &&
                cbor_bytestring_is_definite(data) &&
                (key_is(name, FCC_BOOTSTRAP_DEVICE_CERT) || key_is(name, FCC_LWM2M_DEVICE_CERT))) {
                digest_hex(false, cbor_bytestring_handle(data), cbor_bytestring_length(data),
                           out->cert_sha256);
                digest_hex(true, cbor_bytestring_handle(data), cbor_bytestring_length(data),
                           out->cert_sha1);
            }
            cbor_decref(&cert);
            if (out->cert_sha256[0]) {
                break;
            }
        }
    }
    cbor_decref(&root);
}

void line_identity_of_bundle(const uint8_t *bundle, size_t len, line_identity *out)
{
    uint8_t d[KILN_PKI_DIGEST_SIZE];
    line_identity_of_hashed_bundle(bundle, len, kiln_pki_sha256(bundle, len, d) ? d : NULL, out);
}

void line_identity_of_hashed_bundle(const uint8_t *bundle, size_t len, const uint8_t *bundle_sha256,
                                    line_identity *out)
{
    memset(out, 0, sizeof(*out));
    if (bundle_sha256 != NULL) {
        hex(bundle_sha256, KILN_PKI_DIGEST_SIZE, out->bundle_sha256);
    }
    const uint8_t *der = NULL;
    size_t der_len = 0;
    if (!walk_device_cert(bundle, len, &der, &der_len)) {
        decode_device_cert(bundle, len, out);
    } else if (der != NULL) {
        digest_hex(false, der, der_len, out->cert_sha256);
        digest_hex(true, der, der_len, out->cert_sha1);
    }
}

/* ---- CSV ------------------------------------------------------------------------------- */

typedef struct csv_row {
    char **fields;
    size_t count, cap;
} csv_row;

static void row_free(csv_row *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->fields[i]);
    }
    free(r->fields);
    memset(r, 0, sizeof(*r));
}

static int row_push(csv_row *r, const char *s, size_t n)
{
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **grown = realloc(r->fields, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        r->fields = grown;
        r->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    /* Surrounding blanks are never meaningful in these columns. */
    char *start = copy;
    while (*start == ' ' || *start == '\t') {
        start++;
    }
    memmove(copy, start, strlen(start) + 1);
    size_t len = strlen(copy);
    while (len > 0 && (copy[len - 1] == ' ' || copy[len - 1] == '\t')) {
        copy[--len] = '\0';
    }
    r->fields[r->count++] = copy;
    return 0;
}

/* The parser of one record: the field being read and where the input is. */
typedef struct csv_cursor {
    const char *s;
    int *line;
    char *buf;
    size_t n;
    int quoted, was_quoted;
} csv_cursor;

/* Inside quotes: "" is a quote, a lone " ends the quoting, anything else (line ends too) is
 * data. Returns -1 at the end of input (an unterminated field). */
static int quoted_char(csv_cursor *c)
{
    char ch = *c->s;
    if (ch == '\0') {
        return -1;
    }
    if (ch == '"' && c->s[1] == '"') {
        c->buf[c->n++] = '"';
        c->s += 2;
        return 0;
    }
    if (ch == '"') {
        c->quoted = 0;
    } else {
        *c->line += ch == '\n';
        c->buf[c->n++] = ch;
    }
    c->s++;
    return 0;
}

/* At a field's end (, or a line end or the input's end): 1 when the record goes on. */
static int end_field(csv_cursor *c)
{
    char ch = *c->s;
    c->n = 0;
    c->was_quoted = 0;
    if (ch == ',') {
        c->s++;
        return 1;
    }
    c->s += ch == '\r';
    if (*c->s == '\n') {
        c->s++;
        (*c->line)++;
    }
    return 0;
}

static int at_field_end(const char *s)
{
    return *s == ',' || *s == '\n' || *s == '\0' || (*s == '\r' && s[1] == '\n');
}

/* Parses one record starting at *p (which may span lines inside quotes) into row, using
 * scratch (as long as the whole text) for its fields. Returns 1 for a record, 0 at the end of
 * input, -1 on a malformed record. */
static int csv_next(const char **p, int *line, csv_row *row, char *scratch)
{
    if (**p == '\0') {
        return 0;
    }
    csv_cursor c = {.s = *p, .line = line, .buf = scratch};
    int rc = 1;
    while (rc == 1) {
        if (c.quoted) {
            rc = quoted_char(&c) == 0 ? 1 : -1;
        } else if (*c.s == '"' && c.n == 0 && !c.was_quoted) {
            c.quoted = c.was_quoted = 1;
            c.s++;
        } else if (at_field_end(c.s)) {
            if (row_push(row, c.buf, c.n) != 0) {
                rc = -1;
            } else if (!end_field(&c)) {
                break;
            }
        } else {
            c.buf[c.n++] = *c.s++;
        }
    }
    if (rc == 1) {
        *p = c.s;
    }
    return rc;
}

static char *read_text(const char *path, char *why, size_t why_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, why_size, "cannot open device list %s", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    fclose(f);
    if (buf == NULL) {
        snprintf(why, why_size, "out of memory reading %s", path);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        snprintf(why, why_size, "device list %s contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int safe_file_name(const char *s)
{
    if (*s == '\0' || *s == '.' || strlen(s) > 200) {
        return 0;
    }
    for (; *s; s++) {
        if (*s == '/' || *s == '\\' || (unsigned char)*s < 0x20) {
            return 0;
        }
    }
    return 1;
}

/* ---- endpoint set: duplicate names in O(1) per row ------------------------------------- */

/* Open addressing with linear probing over indices into the device list (index + 1; 0 is an
 * empty slot), so that growing the list does not invalidate the set. */
typedef struct endpoint_set {
    size_t *slots;
    size_t size; /* a power of two, at least twice the number of names */
} endpoint_set;

static size_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return (size_t)h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t *set_slot(const endpoint_set *set, const line_device_list *list, const char *name)
{
    size_t k = name_hash(name) & (set->size - 1);
    while (set->slots[k] != 0 && strcmp(list->items[set->slots[k] - 1].endpoint, name) != 0) {
        k = (k + 1) & (set->size - 1);
    }
    return &set->slots[k];
}

/* Keeps the set at most half full before list->count + 1 names. */
static int set_reserve(endpoint_set *set, const line_device_list *list)
{
    if (2 * (list->count + 1) <= set->size) {
        return 0;
    }
    endpoint_set bigger = {NULL, set->size ? set->size * 2 : 128};
    bigger.slots = calloc(bigger.size, sizeof(*bigger.slots));
    if (bigger.slots == NULL) {
        return -1;
    }
    for (size_t i = 0; i < list->count; i++) {
        *set_slot(&bigger, list, list->items[i].endpoint) = i + 1;
    }
    free(set->slots);
    *set = bigger;
    return 0;
}

static void device_props_free(line_device *d)
{
    for (size_t i = 0; i < d->prop_count; i++) {
        free((void *)d->props[i].data);
    }
    free(d->props);
    d->props = NULL;
    d->prop_count = 0;
}

void line_devices_free(line_device_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].endpoint);
        free(list->items[i].serial);
        free(list->items[i].address);
        free(list->items[i].device_keys_location);
        device_props_free(&list->items[i]);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
    for (size_t i = 0; i < list->prop_columns; i++) {
        free(list->prop_names[i]);
    }
    free(list->prop_names);
    list->prop_names = NULL;
    list->prop_columns = 0;
}

static char *dup_or_null(const char *s)
{
    return s != NULL && *s ? strdup(s) : NULL;
}

/* ---- loading --------------------------------------------------------------------------- */

/* The types a prop:NAME:TYPE header may name, and how the cells are written. */
enum prop_encoding { PROP_TEXT, PROP_INTEGER, PROP_HEX, PROP_BASE64 };

static const struct prop_type {
    const char *name;
    enum prop_encoding encoding;
    fcu_property_type type;
} prop_types[] = {
    {"string", PROP_TEXT, FCU_PROPERTY_STRING},  {"integer", PROP_INTEGER, FCU_PROPERTY_INTEGER},
    {"int", PROP_INTEGER, FCU_PROPERTY_INTEGER}, {"binary", PROP_HEX, FCU_PROPERTY_BINARY},
    {"hex", PROP_HEX, FCU_PROPERTY_BINARY},      {"base64", PROP_BASE64, FCU_PROPERTY_BINARY},
};
#define PROP_TYPES (sizeof(prop_types) / sizeof(prop_types[0]))

typedef struct prop_column {
    size_t column; /* in the row */
    const struct prop_type *type;
} prop_column;

typedef struct csv_loader {
    const char *path;
    int need_address;
    int col_ep, col_sn, col_addr, col_keys;
    size_t columns, cap;
    prop_column *props; /* one per prop: column, parallel to out->prop_names */
    line_device_list *out;
    endpoint_set seen;
    char *why;
    size_t why_size;
} csv_loader;

static int prop_header_error(csv_loader *ld, size_t column, const char *header, const char *what)
{
    char shown[4 * 200 + 8];
    line_text_escape(header, shown, sizeof(shown));
    snprintf(ld->why, ld->why_size, "%s line 1 column %zu: '%s' %s", ld->path, column + 1, shown,
             what);
    return -1;
}

static const struct prop_type *prop_type_named(const char *name)
{
    for (size_t k = 0; k < PROP_TYPES; k++) {
        if (strcmp(prop_types[k].name, name) == 0) {
            return &prop_types[k];
        }
    }
    return NULL;
}

/* A prop:NAME[:TYPE] header: the property's name and type for every row. */
static int prop_column_add(csv_loader *ld, const char *header, size_t column)
{
    const char *name = header + strlen("prop:");
    const char *colon = strchr(name, ':');
    size_t name_len = colon ? (size_t)(colon - name) : strlen(name);
    const struct prop_type *type = prop_type_named(colon ? colon + 1 : "string");
    if (name_len == 0) {
        return prop_header_error(ld, column, header, "names no property (prop:NAME[:TYPE])");
    }
    if (type == NULL) {
        return prop_header_error(ld, column, header,
                                 "has an unknown type (string, integer, binary or base64)");
    }
    line_device_list *out = ld->out;
    for (size_t i = 0; i < out->prop_columns; i++) {
        if (strlen(out->prop_names[i]) == name_len && !memcmp(out->prop_names[i], name, name_len)) {
            return prop_header_error(ld, column, header, "names a property given twice");
        }
    }
    char **names = realloc(out->prop_names, (out->prop_columns + 1) * sizeof(*names));
    prop_column *cols = names ? realloc(ld->props, (out->prop_columns + 1) * sizeof(*cols)) : NULL;
    if (names != NULL) {
        out->prop_names = names;
    }
    if (cols != NULL) {
        ld->props = cols;
    }
    char *copy = cols ? strndup(name, name_len) : NULL;
    if (copy == NULL) {
        snprintf(ld->why, ld->why_size, "out of memory");
        return -1;
    }
    ld->props[out->prop_columns] = (prop_column){column, type};
    out->prop_names[out->prop_columns++] = copy;
    return 0;
}

static int read_header(csv_loader *ld, const csv_row *header)
{
    static const char *const names[] = {"endpoint_name", "serial_number", "address",
                                        "device_keys_location"};
    int *cols[] = {&ld->col_ep, &ld->col_sn, &ld->col_addr, &ld->col_keys};
    ld->col_ep = ld->col_sn = ld->col_addr = ld->col_keys = -1;
    ld->columns = header->count;
    for (size_t i = 0; i < header->count; i++) {
        size_t k = 0;
        while (k < 4 && strcmp(header->fields[i], names[k]) != 0) {
            k++;
        }
        if (k == 4 && strncmp(header->fields[i], "prop:", 5) == 0) {
            if (prop_column_add(ld, header->fields[i], i) != 0) {
                return -1;
            }
            continue;
        }
        if (k == 4) {
            snprintf(ld->why, ld->why_size, "%s line 1: unknown column '%s'", ld->path,
                     header->fields[i]);
            return -1;
        }
        *cols[k] = (int)i;
    }
    if (ld->col_ep < 0 || ld->col_sn < 0 || (ld->need_address && ld->col_addr < 0)) {
        snprintf(ld->why, ld->why_size,
                 "%s line 1: the header must name endpoint_name, serial_number%s", ld->path,
                 ld->need_address ? " and address" : "");
        return -1;
    }
    return 0;
}

/* The shared endpoint-name rule first (it says why), then what a file name needs. */
static int check_endpoint(csv_loader *ld, const char *ep, int line)
{
    kiln_endpoint_name_verdict v = kiln_endpoint_name_check_str(ep);
    if (v == KILN_ENDPOINT_NAME_OK && safe_file_name(ep)) {
        return 0;
    }
    char shown[4 * 200 + 8];
    line_text_escape(ep, shown, sizeof(shown));
    snprintf(ld->why, ld->why_size, "%s line %d: endpoint name '%s' %s", ld->path, line, shown,
             v != KILN_ENDPOINT_NAME_OK ? kiln_endpoint_name_verdict_text(v)
                                        : "is not usable as a file name");
    return -1;
}

static int check_row(csv_loader *ld, const csv_row *row, int line)
{
    if (row->count != ld->columns) {
        snprintf(ld->why, ld->why_size, "%s line %d: %zu fields, the header has %zu", ld->path,
                 line, row->count, ld->columns);
        return -1;
    }
    const char *ep = row->fields[ld->col_ep];
    const char *addr = ld->col_addr >= 0 ? row->fields[ld->col_addr] : NULL;
    if (check_endpoint(ld, ep, line) != 0) {
        return -1;
    }
    if (row->fields[ld->col_sn][0] == '\0') {
        snprintf(ld->why, ld->why_size, "%s line %d: serial_number is empty", ld->path, line);
        return -1;
    }
    if (ld->need_address && (addr == NULL || *addr == '\0')) {
        snprintf(ld->why, ld->why_size, "%s line %d: address is empty", ld->path, line);
        return -1;
    }
    size_t earlier = ld->seen.size ? *set_slot(&ld->seen, ld->out, ep) : 0;
    if (earlier != 0) {
        snprintf(ld->why, ld->why_size, "%s line %d: endpoint %s already listed on line %d",
                 ld->path, line, ep, ld->out->items[earlier - 1].line);
        return -1;
    }
    return 0;
}

static int reserve_one(csv_loader *ld)
{
    line_device_list *out = ld->out;
    if (out->count == ld->cap) {
        size_t cap = ld->cap ? ld->cap * 2 : 64;
        line_device *grown = realloc(out->items, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        out->items = grown;
        ld->cap = cap;
    }
    return set_reserve(&ld->seen, out);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static const char *hex_decode(const char *cell, uint8_t **data, size_t *len)
{
    if (cell[0] == '0' && (cell[1] == 'x' || cell[1] == 'X')) {
        cell += 2;
    }
    size_t n = strlen(cell);
    if (n % 2) {
        return "has an odd number of hex digits";
    }
    *data = malloc(n / 2 + 1);
    if (*data == NULL) {
        return "out of memory";
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(cell[2 * i]), lo = hex_digit(cell[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return "is not hex (0-9, a-f)";
        }
        (*data)[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return NULL;
}

/* The standard alphabet, padded: '=' only as the last one or two characters (the decoder
 * itself skips blanks and reads "====" as a byte). */
static int base64_well_formed(const char *cell, size_t n)
{
    size_t pad = (cell[n - 1] == '=') + (cell[n - 1] == '=' && cell[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++) {
        char c = cell[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/')) {
            return 0;
        }
    }
    return 1;
}

static const char *base64_decode(const char *cell, uint8_t **data, size_t *len)
{
    size_t n = strlen(cell);
    if (n % 4 || n > INT_MAX) {
        return "is not base64 (length not a multiple of 4)";
    }
    if (!base64_well_formed(cell, n)) {
        return "is not base64";
    }
    *data = malloc(n / 4 * 3 + 1);
    if (*data == NULL) {
        return "out of memory";
    }
    int got = EVP_DecodeBlock(*data, (const unsigned char *)cell, (int)n);
    size_t pad = (cell[n - 1] == '=') + (cell[n - 2] == '=');
    if (got < 0 || (size_t)got < pad) {
        return "is not base64";
    }
    *len = (size_t)got - pad;
    return NULL;
}

/* One cell as the property's value; NULL, or what is wrong with it. */
static const char *prop_value(const char *cell, enum prop_encoding encoding, fcu_extra_property *p)
{
    uint8_t *data = NULL;
    const char *bad = NULL;
    if (encoding == PROP_INTEGER) {
        char *end;
        errno = 0;
        p->value = strtoll(cell, &end, 0);
        bad = errno || *end ? "is not an integer" : NULL;
    } else if (encoding == PROP_HEX) {
        bad = hex_decode(cell, &data, &p->len);
    } else if (encoding == PROP_BASE64) {
        bad = base64_decode(cell, &data, &p->len);
    } else {
        data = (uint8_t *)strdup(cell);
        p->len = strlen(cell);
        bad = data ? NULL : "out of memory";
    }
    if (bad) {
        free(data);
        data = NULL;
    }
    p->data = data;
    return bad;
}

/* The device's custom properties from its prop: cells (an empty cell gives none). */
static int device_props(csv_loader *ld, const csv_row *row, int line, line_device *d)
{
    const line_device_list *out = ld->out;
    if (out->prop_columns == 0) {
        return 0;
    }
    d->props = calloc(out->prop_columns, sizeof(*d->props));
    if (d->props == NULL) {
        snprintf(ld->why, ld->why_size, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < out->prop_columns; k++) {
        const prop_column *col = &ld->props[k];
        const char *cell = row->fields[col->column];
        if (*cell == '\0') {
            continue;
        }
        fcu_extra_property *p = &d->props[d->prop_count];
        p->name = out->prop_names[k];
        p->type = col->type->type;
        const char *bad = prop_value(cell, col->type->encoding, p);
        if (bad != NULL) {
            char shown[4 * 64 + 8];
            line_text_escape(cell, shown, sizeof(shown));
            snprintf(ld->why, ld->why_size, "%s line %d column %zu (prop:%s:%s): '%s' %s", ld->path,
                     line, col->column + 1, p->name, col->type->name, shown, bad);
            return -1;
        }
        d->prop_count++;
    }
    return 0;
}

static int add_device(csv_loader *ld, const csv_row *row, int line)
{
    if (reserve_one(ld) != 0) {
        snprintf(ld->why, ld->why_size, "out of memory");
        return -1;
    }
    line_device *d = &ld->out->items[ld->out->count++];
    d->endpoint = strdup(row->fields[ld->col_ep]);
    d->serial = strdup(row->fields[ld->col_sn]);
    d->address = ld->col_addr >= 0 ? dup_or_null(row->fields[ld->col_addr]) : NULL;
    d->device_keys_location = ld->col_keys >= 0 ? dup_or_null(row->fields[ld->col_keys]) : NULL;
    d->line = line;
    d->props = NULL;
    d->prop_count = 0;
    if (d->endpoint == NULL || d->serial == NULL) {
        snprintf(ld->why, ld->why_size, "out of memory");
        return -1;
    }
    if (device_props(ld, row, line, d) != 0) {
        return -1;
    }
    *set_slot(&ld->seen, ld->out, d->endpoint) = ld->out->count;
    return 0;
}

static int read_rows(csv_loader *ld, const char **p, int *line, char *scratch)
{
    csv_row row = {0};
    int rc = 0;
    for (;;) {
        int record_line = *line;
        row_free(&row);
        int got = csv_next(p, line, &row, scratch);
        if (got == 0) {
            break;
        }
        if (got < 0) {
            snprintf(ld->why, ld->why_size, "%s line %d: unterminated quoted field", ld->path,
                     record_line);
            rc = -1;
            break;
        }
        if (row.count == 1 && row.fields[0][0] == '\0') {
            continue; /* blank line */
        }
        if (check_row(ld, &row, record_line) != 0 || add_device(ld, &row, record_line) != 0) {
            rc = -1;
            break;
        }
    }
    row_free(&row);
    return rc;
}

int line_devices_load(const char *path, int need_address, line_device_list *out, char *why,
                      size_t why_size)
{
    memset(out, 0, sizeof(*out));
    char *text = read_text(path, why, why_size);
    if (text == NULL) {
        return -1;
    }
    const char *p = text;
    if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf) {
        p += 3;
    }
    csv_loader ld = {
        .path = path, .need_address = need_address, .out = out, .why = why, .why_size = why_size};
    int line = 1, rc = -1;
    csv_row header = {0};
    char *scratch = malloc(strlen(p) + 1);
    if (scratch == NULL) {
        snprintf(why, why_size, "out of memory reading %s", path);
    } else if (csv_next(&p, &line, &header, scratch) != 1) {
        snprintf(why, why_size, "%s: missing header line", path);
    } else if (read_header(&ld, &header) == 0 && read_rows(&ld, &p, &line, scratch) == 0) {
        rc = 0;
        if (out->count == 0) {
            snprintf(why, why_size, "%s: no devices listed", path);
            rc = -1;
        }
    }
    row_free(&header);
    free(scratch);
    free(ld.seen.slots);
    free(ld.props);
    free(text);
    if (rc != 0) {
        line_devices_free(out);
    }
    return rc;
}
