/* Emulated NOR flash, see flash_emu.h. */
#include "flash_emu.h"

#include <stdlib.h>
#include <string.h>

static uint32_t emu_rand(flash_emu *emu)
{
    /* xorshift32: reproducible from the seed given to flash_emu_cut_at */
    uint32_t x = emu->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    emu->rng = x;
    return x;
}

/* Returns 1 when this operation is the one that loses power. */
static int begin_op(flash_emu *emu, int *status)
{
    if (!emu->powered) {
        *status = KILN_FLASH_POWER_LOST;
        return -1;
    }
    if (emu->ops++ == emu->cut_at) {
        emu->powered = false;
        *status = KILN_FLASH_POWER_LOST;
        return 1;
    }
    *status = KILN_FLASH_OK;
    return 0;
}

static int emu_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    flash_emu *emu = ctx;
    if (!emu->powered) {
        return KILN_FLASH_POWER_LOST;
    }
    if ((uint64_t)addr + len > emu->size) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    memcpy(buf, emu->mem + addr, len);
    return KILN_FLASH_OK;
}

static int emu_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    flash_emu *emu = ctx;
    const uint8_t *src = data;
    uint32_t p = emu->flash.geometry.program_size;
    size_t i, words, full;
    int status, cut;

    if ((uint64_t)addr + len > emu->size) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    if (addr % p != 0 || len % p != 0 || len == 0) {
        return KILN_FLASH_MISALIGNED;
    }
    for (i = 0; i < len; i++) {
        if (emu->mem[addr + i] != KILN_FLASH_ERASED_VALUE) {
            return KILN_FLASH_NOT_ERASED;
        }
    }
    cut = begin_op(emu, &status);
    if (cut < 0) {
        return status;
    }
    if (cut == 0) {
        for (i = 0; i < len; i++) {
            emu->mem[addr + i] &= src[i];
        }
        return KILN_FLASH_OK;
    }
    /* Cut: the first half of the words are written, the next one only partly (a random subset
     * of the bits it had to clear), the rest not at all. */
    words = len / p;
    full = words / 2;
    for (i = 0; i < full * p; i++) {
        emu->mem[addr + i] &= src[i];
    }
    for (; i < (full + 1) * p && i < len; i++) {
        emu->mem[addr + i] &= (uint8_t)(src[i] | (uint8_t)emu_rand(emu));
    }
    return status;
}

static int emu_erase(void *ctx, uint32_t sector)
{
    flash_emu *emu = ctx;
    uint32_t size = emu->flash.geometry.sector_size;
    uint8_t *s;
    uint32_t i;
    int status, cut;

    if (sector >= emu->flash.geometry.sector_count) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    cut = begin_op(emu, &status);
    if (cut < 0) {
        return status;
    }
    s = emu->mem + (size_t)sector * size;
    if (sector < FLASH_EMU_MAX_SECTORS) {
        emu->erases[sector]++;
    }
    if (cut == 0) {
        memset(s, KILN_FLASH_ERASED_VALUE, size);
        return KILN_FLASH_OK;
    }
    switch (emu_rand(emu) % 4) {
    case 0: /* erased up to a random point */
        memset(s, KILN_FLASH_ERASED_VALUE, emu_rand(emu) % size);
        break;
    case 1: /* every bit part way to erased */
        for (i = 0; i < size; i++) {
            s[i] |= (uint8_t)emu_rand(emu);
        }
        break;
    case 2: /* random content */
        for (i = 0; i < size; i++) {
            s[i] = (uint8_t)emu_rand(emu);
        }
        break;
    default: /* erased except a few bytes still holding old content */
        for (i = 0; i < size; i++) {
            if (emu_rand(emu) % 64 != 0) {
                s[i] = KILN_FLASH_ERASED_VALUE;
            }
        }
        break;
    }
    return status;
}

int flash_emu_init(flash_emu *emu, uint32_t program_size, uint32_t sector_size,
                   uint32_t sector_count)
{
    memset(emu, 0, sizeof(*emu));
    emu->size = (size_t)sector_size * sector_count;
    emu->mem = malloc(emu->size);
    if (emu->mem == NULL) {
        return -1;
    }
    memset(emu->mem, KILN_FLASH_ERASED_VALUE, emu->size);
    emu->flash.ctx = emu;
    emu->flash.geometry.program_size = program_size;
    emu->flash.geometry.sector_size = sector_size;
    emu->flash.geometry.sector_count = sector_count;
    emu->flash.read = emu_read;
    emu->flash.program = emu_program;
    emu->flash.erase = emu_erase;
    emu->cut_at = FLASH_EMU_NEVER;
    emu->powered = true;
    emu->rng = 0x9e3779b9u;
    return 0;
}

void flash_emu_free(flash_emu *emu)
{
    free(emu->mem);
    emu->mem = NULL;
}

void flash_emu_cut_at(flash_emu *emu, uint64_t op, uint32_t seed)
{
    emu->cut_at = op;
    emu->rng = seed * 2654435761u + 1u;
    if (emu->rng == 0) {
        emu->rng = 1;
    }
}

void flash_emu_power_on(flash_emu *emu)
{
    emu->powered = true;
    emu->cut_at = FLASH_EMU_NEVER;
}

void flash_emu_flip_bit(flash_emu *emu, size_t addr, unsigned bit)
{
    if (addr < emu->size) {
        emu->mem[addr] ^= (uint8_t)(1u << (bit & 7u));
    }
}
