#include "kiln/kv_ram.h"

#include <stdlib.h>
#include <string.h>

static kiln_kv_ram_record *find(kiln_kv_ram *ram, const char *key)
{
    for (size_t i = 0; i < ram->count; i++) {
        if (strcmp(ram->records[i].key, key) == 0) {
            return &ram->records[i];
        }
    }
    return NULL;
}

static int ram_get(void *ctx, const char *key, uint8_t *buf, size_t buf_size, size_t *value_len)
{
    kiln_kv_ram_record *r = find(ctx, key);
    if (r == NULL) {
        return KILN_KV_NOT_FOUND;
    }
    *value_len = r->len;
    if (buf == NULL) {
        return KILN_KV_OK;
    }
    if (buf_size < r->len) {
        return KILN_KV_TOO_SMALL;
    }
    memcpy(buf, r->value, r->len);
    return KILN_KV_OK;
}

static void remove_record(kiln_kv_ram *ram, kiln_kv_ram_record *r)
{
    free(r->value);
    *r = ram->records[--ram->count];
}

/* Room for n more records. */
static int reserve(kiln_kv_ram *ram, size_t n)
{
    if (ram->count + n <= ram->cap) {
        return KILN_KV_OK;
    }
    size_t cap = ram->cap ? ram->cap : 16;
    while (cap < ram->count + n) {
        cap *= 2;
    }
    kiln_kv_ram_record *grown = realloc(ram->records, cap * sizeof(*grown));
    if (grown == NULL) {
        return KILN_KV_NO_SPACE;
    }
    ram->records = grown;
    ram->cap = cap;
    return KILN_KV_OK;
}

/* Copies the values of all ops into copies (NULL for a delete); on failure none is kept. */
static int copy_values(const kiln_kv_op *ops, size_t n, uint8_t **copies)
{
    int rc = KILN_KV_OK;
    size_t i;
    for (i = 0; i < n && rc == KILN_KV_OK; i++) {
        if (strlen(ops[i].key) >= KILN_KV_MAX_KEY) {
            rc = KILN_KV_INVALID;
        } else if (ops[i].value != NULL) {
            copies[i] = malloc(ops[i].value_len ? ops[i].value_len : 1);
            if (copies[i] == NULL) {
                rc = KILN_KV_NO_SPACE;
            } else {
                memcpy(copies[i], ops[i].value, ops[i].value_len);
            }
        }
    }
    if (rc != KILN_KV_OK) {
        while (i > 0) {
            free(copies[--i]);
        }
    }
    return rc;
}

/* Puts (taking over value) or deletes one record. */
static void apply_op(kiln_kv_ram *ram, const kiln_kv_op *op, uint8_t *value)
{
    kiln_kv_ram_record *r = find(ram, op->key);
    if (op->value == NULL) {
        if (r != NULL) {
            remove_record(ram, r);
        }
        return;
    }
    if (r == NULL) {
        r = &ram->records[ram->count++];
        strcpy(r->key, op->key);
    } else {
        free(r->value);
    }
    r->value = value;
    r->len = op->value_len;
}

static int ram_commit(void *ctx, const kiln_kv_op *ops, size_t n)
{
    kiln_kv_ram *ram = ctx;
    /* Allocate everything first so the commit cannot fail half-way. */
    uint8_t **copies = calloc(n ? n : 1, sizeof(*copies));
    int rc = copies != NULL ? reserve(ram, n) : KILN_KV_NO_SPACE;
    if (rc == KILN_KV_OK) {
        rc = copy_values(ops, n, copies);
    }
    for (size_t i = 0; rc == KILN_KV_OK && i < n; i++) {
        apply_op(ram, &ops[i], copies[i]);
    }
    free(copies);
    return rc;
}

static int ram_list(void *ctx, kiln_kv_list_cb cb, void *arg)
{
    kiln_kv_ram *ram = ctx;
    for (size_t i = 0; i < ram->count; i++) {
        if (cb(arg, ram->records[i].key, ram->records[i].len) != 0) {
            break;
        }
    }
    return KILN_KV_OK;
}

static int ram_wipe(void *ctx)
{
    kiln_kv_ram *ram = ctx;
    while (ram->count > 0) {
        remove_record(ram, &ram->records[0]);
    }
    return KILN_KV_OK;
}

void kiln_kv_ram_init(kiln_kv_ram *ram)
{
    memset(ram, 0, sizeof(*ram));
    ram->backend.ctx = ram;
    ram->backend.get = ram_get;
    ram->backend.commit = ram_commit;
    ram->backend.list = ram_list;
    ram->backend.wipe = ram_wipe;
}

void kiln_kv_ram_free(kiln_kv_ram *ram)
{
    ram_wipe(ram);
    free(ram->records);
    ram->records = NULL;
    ram->cap = 0;
}
