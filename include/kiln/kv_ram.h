/* A storage backend in RAM, for tests, fuzzing and benchmarks (nothing survives the
 * process). */
#ifndef KILN_KV_RAM_H
#define KILN_KV_RAM_H

#include "kiln/kv.h"

typedef struct kiln_kv_ram_record {
    char key[KILN_KV_MAX_KEY];
    uint8_t *value;
    size_t len;
} kiln_kv_ram_record;

typedef struct kiln_kv_ram {
    kiln_kv_ram_record *records;
    size_t count, cap;
    kiln_kv_backend backend;
} kiln_kv_ram;

void kiln_kv_ram_init(kiln_kv_ram *ram);
void kiln_kv_ram_free(kiln_kv_ram *ram);

#endif
