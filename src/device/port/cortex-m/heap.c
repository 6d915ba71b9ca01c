/* The heap: Mbed TLS's buffer allocator on a static arena, for Mbed TLS and, through the
 * linker's --wrap of malloc/calloc/realloc/free, for kiln and newlib too, so the arena's
 * high-water mark is the whole heap a bundle needs. */
#include "cortex_m.h"

#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/platform.h>
#include <string.h>

#define ARENA_PAINT 0xA5u
/* The allocator's own first header; painting starts after it. */
#define ARENA_HEAD 64u

/* realloc needs the old size, which the allocator keeps private: each block carries its own. */
typedef union block_head {
    size_t size;
    uint64_t align;
} block_head;

static uint8_t *arena_base;
static size_t arena_size;

void kiln_cm_heap_init(uint8_t *arena, size_t size)
{
    mbedtls_memory_buffer_alloc_init(arena, size);
    memset(arena + ARENA_HEAD, ARENA_PAINT, size - ARENA_HEAD);
    arena_base = arena;
    arena_size = size;
}

size_t kiln_cm_heap_peak(void)
{
    size_t top = arena_size;
    while (top > ARENA_HEAD && arena_base[top - 1] == ARENA_PAINT) {
        top--;
    }
    return top;
}

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

void *__wrap_calloc(size_t n, size_t size)
{
    if (size != 0 && n > (SIZE_MAX - sizeof(block_head)) / size) {
        return NULL;
    }
    block_head *h = mbedtls_calloc(1, sizeof(block_head) + n * size);
    if (h == NULL) {
        return NULL;
    }
    h->size = n * size;
    return h + 1;
}

void *__wrap_malloc(size_t size)
{
    return __wrap_calloc(1, size);
}

void __wrap_free(void *p)
{
    if (p != NULL) {
        mbedtls_free((block_head *)p - 1);
    }
}

void *__wrap_realloc(void *p, size_t size)
{
    if (p == NULL) {
        return __wrap_malloc(size);
    }
    void *grown = __wrap_malloc(size);
    if (grown == NULL) {
        return NULL;
    }
    size_t old = ((block_head *)p - 1)->size;
    memcpy(grown, p, old < size ? old : size);
    __wrap_free(p);
    return grown;
}
