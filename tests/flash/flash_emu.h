/* Emulated NOR flash for tests: program can only clear bits, every program and erase is
 * counted, power can be cut at any operation (leaving it half done), bits can be flipped. */
#ifndef KILN_TEST_FLASH_EMU_H
#define KILN_TEST_FLASH_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/flash.h"

#define FLASH_EMU_NEVER       UINT64_MAX
#define FLASH_EMU_MAX_SECTORS 64

typedef struct flash_emu {
    kiln_flash flash;
    uint8_t *mem;
    size_t size;
    uint64_t ops;    /* programs and erases attempted while powered */
    uint64_t cut_at; /* index of the operation that loses power half way */
    bool powered;
    uint32_t rng;
    uint64_t erases[FLASH_EMU_MAX_SECTORS];
} flash_emu;

/** Allocates an erased flash. Returns 0 on success. */
int flash_emu_init(flash_emu *emu, uint32_t program_size, uint32_t sector_size,
                   uint32_t sector_count);
void flash_emu_free(flash_emu *emu);

/** Power is lost during operation number op (0-based, counted by emu->ops); seed varies how
 *  the operation is left half done. */
void flash_emu_cut_at(flash_emu *emu, uint64_t op, uint32_t seed);
/** Power back on: operations work again, no cut scheduled. */
void flash_emu_power_on(flash_emu *emu);
void flash_emu_flip_bit(flash_emu *emu, size_t addr, unsigned bit);

#endif
