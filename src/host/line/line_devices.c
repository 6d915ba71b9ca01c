#include "line_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "fcc_bundle_fields.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void digest_hex(const EVP_MD *md, const uint8_t *data, size_t len, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, d, &n, md, NULL) != 1) {
        out[0] = '\0';
        return;
    }
    hex(d, n, out);
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

void line_identity_of_bundle(const uint8_t *bundle, size_t len, line_identity *out)
{
    memset(out, 0, sizeof(*out));
    digest_hex(EVP_sha256(), bundle, len, out->bundle_sha256);
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
                digest_hex(EVP_sha256(), cbor_bytestring_handle(data), cbor_bytestring_length(data),
                           out->cert_sha256);
                digest_hex(EVP_sha1(), cbor_bytestring_handle(data), cbor_bytestring_length(data),
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

/* Parses one record starting at *p (which may span lines inside quotes). Returns 1 for a
 * record, 0 at the end of input, -1 on a malformed record. */
static int csv_next(const char **p, int *line, csv_row *row)
{
    const char *s = *p;
    if (*s == '\0') {
        return 0;
    }
    char *buf = malloc(strlen(s) + 1);
    if (buf == NULL) {
        return -1;
    }
    size_t n = 0;
    int quoted = 0, was_quoted = 0;
    for (;;) {
        char ch = *s;
        if (quoted) {
            if (ch == '\0') {
                free(buf);
                return -1;
            }
            if (ch == '"' && s[1] == '"') {
                buf[n++] = '"';
                s += 2;
            } else if (ch == '"') {
                quoted = 0;
                s++;
            } else {
                if (ch == '\n') {
                    (*line)++;
                }
                buf[n++] = ch;
                s++;
            }
            continue;
        }
        if (ch == '"' && n == 0 && !was_quoted) {
            quoted = was_quoted = 1;
            s++;
        } else if (ch == ',' || ch == '\n' || ch == '\0' || (ch == '\r' && s[1] == '\n')) {
            if (row_push(row, buf, n) != 0) {
                free(buf);
                return -1;
            }
            n = 0;
            was_quoted = 0;
            if (ch == ',') {
                s++;
                continue;
            }
            if (ch == '\r') {
                s++;
            }
            if (*s == '\n') {
                s++;
                (*line)++;
            }
            break;
        } else {
            buf[n++] = ch;
            s++;
        }
    }
    free(buf);
    *p = s;
    return 1;
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

void line_devices_free(line_device_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].endpoint);
        free(list->items[i].serial);
        free(list->items[i].address);
        free(list->items[i].device_keys_location);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static char *dup_or_null(const char *s)
{
    return s != NULL && *s ? strdup(s) : NULL;
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
    int line = 1, rc = -1;
    csv_row header = {0}, row = {0};
    int col_ep = -1, col_sn = -1, col_addr = -1, col_keys = -1;
    size_t cap = 0;
    if (csv_next(&p, &line, &header) != 1) {
        snprintf(why, why_size, "%s: missing header line", path);
        goto out;
    }
    for (size_t i = 0; i < header.count; i++) {
        const char *h = header.fields[i];
        if (strcmp(h, "endpoint_name") == 0) {
            col_ep = (int)i;
        } else if (strcmp(h, "serial_number") == 0) {
            col_sn = (int)i;
        } else if (strcmp(h, "address") == 0) {
            col_addr = (int)i;
        } else if (strcmp(h, "device_keys_location") == 0) {
            col_keys = (int)i;
        } else {
            snprintf(why, why_size, "%s line 1: unknown column '%s'", path, h);
            goto out;
        }
    }
    if (col_ep < 0 || col_sn < 0 || (need_address && col_addr < 0)) {
        snprintf(why, why_size, "%s line 1: the header must name endpoint_name, serial_number%s",
                 path, need_address ? " and address" : "");
        goto out;
    }
    for (;;) {
        int record_line = line;
        row_free(&row);
        int got = csv_next(&p, &line, &row);
        if (got == 0) {
            break;
        }
        if (got < 0) {
            snprintf(why, why_size, "%s line %d: unterminated quoted field", path, record_line);
            goto out;
        }
        if (row.count == 1 && row.fields[0][0] == '\0') {
            continue; /* blank line */
        }
        if (row.count != header.count) {
            snprintf(why, why_size, "%s line %d: %zu fields, the header has %zu", path, record_line,
                     row.count, header.count);
            goto out;
        }
        const char *ep = row.fields[col_ep], *sn = row.fields[col_sn];
        const char *addr = col_addr >= 0 ? row.fields[col_addr] : NULL;
        if (!safe_file_name(ep)) {
            snprintf(why, why_size,
                     "%s line %d: endpoint name '%s' is empty or not usable as a "
                     "file name",
                     path, record_line, ep);
            goto out;
        }
        if (*sn == '\0') {
            snprintf(why, why_size, "%s line %d: serial_number is empty", path, record_line);
            goto out;
        }
        if (need_address && (addr == NULL || *addr == '\0')) {
            snprintf(why, why_size, "%s line %d: address is empty", path, record_line);
            goto out;
        }
        for (size_t k = 0; k < out->count; k++) {
            if (strcmp(out->items[k].endpoint, ep) == 0) {
                snprintf(why, why_size, "%s line %d: endpoint %s already listed on line %d", path,
                         record_line, ep, out->items[k].line);
                goto out;
            }
        }
        if (out->count == cap) {
            cap = cap ? cap * 2 : 64;
            line_device *grown = realloc(out->items, cap * sizeof(*grown));
            if (grown == NULL) {
                snprintf(why, why_size, "out of memory");
                goto out;
            }
            out->items = grown;
        }
        line_device *d = &out->items[out->count++];
        d->endpoint = strdup(ep);
        d->serial = strdup(sn);
        d->address = dup_or_null(addr);
        d->device_keys_location = col_keys >= 0 ? dup_or_null(row.fields[col_keys]) : NULL;
        d->line = record_line;
    }
    if (out->count == 0) {
        snprintf(why, why_size, "%s: no devices listed", path);
        goto out;
    }
    rc = 0;
out:
    row_free(&header);
    row_free(&row);
    free(text);
    if (rc != 0) {
        line_devices_free(out);
    }
    return rc;
}
