/* Flash kept in RAM with NOR semantics (kiln/flash.h): erase sets 0xFF, program only clears bits
 * and refuses words that are not erased, so the store runs exactly as on a real part. The
 * contents last until the board is reset. */
#include "cortex_m.h"

#include <string.h>

typedef struct ram_flash {
    uint8_t *memory;
    uint32_t size;
    uint32_t sector_size;
    uint32_t program_size;
} ram_flash;

static ram_flash the_flash;

static int ram_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    ram_flash *f = ctx;
    if (addr > f->size || len > f->size - addr) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    memcpy(buf, f->memory + addr, len);
    return KILN_FLASH_OK;
}

static int ram_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    ram_flash *f = ctx;
    if (addr > f->size || len > f->size - addr) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    if (addr % f->program_size != 0 || len % f->program_size != 0) {
        return KILN_FLASH_MISALIGNED;
    }
    for (size_t i = 0; i < len; i++) {
        if (f->memory[addr + i] != KILN_FLASH_ERASED_VALUE) {
            return KILN_FLASH_NOT_ERASED;
        }
    }
    memcpy(f->memory + addr, data, len);
    return KILN_FLASH_OK;
}

static int ram_erase(void *ctx, uint32_t sector)
{
    ram_flash *f = ctx;
    if (sector >= f->size / f->sector_size) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    memset(f->memory + (size_t)sector * f->sector_size, KILN_FLASH_ERASED_VALUE, f->sector_size);
    return KILN_FLASH_OK;
}

void kiln_cm_ram_flash_init(kiln_flash *flash, uint8_t *memory, uint32_t sector_size,
                            uint32_t sector_count, uint32_t program_size)
{
    the_flash.memory = memory;
    the_flash.size = sector_size * sector_count;
    the_flash.sector_size = sector_size;
    the_flash.program_size = program_size;
    memset(memory, KILN_FLASH_ERASED_VALUE, the_flash.size);
    flash->ctx = &the_flash;
    flash->geometry.program_size = program_size;
    flash->geometry.sector_size = sector_size;
    flash->geometry.sector_count = sector_count;
    flash->read = ram_read;
    flash->program = ram_program;
    flash->erase = ram_erase;
}
