/* Flash kept in RAM with NOR semantics (kiln/flash.h): erase sets 0xFF, program only clears bits
 * and refuses words that are not erased, so the store runs exactly as on a real part. The
 * contents last until the board is reset, unless a host file is attached over semihosting:
 * then they are loaded from it at start and every program and erase is written through. */
#include "cortex_m.h"

#include <string.h>

typedef struct ram_flash {
    uint8_t *memory;
    uint32_t size;
    uint32_t sector_size;
    uint32_t program_size;
    int host_file; /* semihosting handle, -1 without one */
} ram_flash;

static ram_flash the_flash;

/* ARM semihosting (the debugger, here QEMU, performs host file operations for the target). */
#define SH_OPEN        0x01
#define SH_WRITE       0x05
#define SH_READ        0x06
#define SH_SEEK        0x0A
#define SH_FLEN        0x0C
#define SH_GET_CMDLINE 0x15
#define SH_MODE_RPLUS  3 /* "r+b" */
#define SH_MODE_WPLUS  7 /* "w+b" */

static int semihost(int op, void *args)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = args;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Without a debugger a semihosting call faults, so QEMU's loader leaves this word in RAM when
 * semihosting is on (scripts/qemu-device.sh --storage). */
#define SEMIHOSTING_MARK_ADDR 0x203FFFF0u
#define SEMIHOSTING_MARK      0x6B696C6Eu /* "kiln" */

static int host_write(const ram_flash *f, uint32_t addr, size_t len)
{
    if (f->host_file < 0) {
        return KILN_FLASH_OK;
    }
    uintptr_t seek[2] = {(uintptr_t)f->host_file, addr};
    uintptr_t write[3] = {(uintptr_t)f->host_file, (uintptr_t)(f->memory + addr), len};
    if (semihost(SH_SEEK, seek) != 0 || semihost(SH_WRITE, write) != 0) {
        return KILN_FLASH_IO;
    }
    return KILN_FLASH_OK;
}

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
    return host_write(f, addr, len);
}

static int ram_erase(void *ctx, uint32_t sector)
{
    ram_flash *f = ctx;
    if (sector >= f->size / f->sector_size) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    memset(f->memory + (size_t)sector * f->sector_size, KILN_FLASH_ERASED_VALUE, f->sector_size);
    return host_write(f, sector * f->sector_size, f->sector_size);
}

void kiln_cm_ram_flash_init(kiln_flash *flash, uint8_t *memory, uint32_t sector_size,
                            uint32_t sector_count, uint32_t program_size)
{
    the_flash.memory = memory;
    the_flash.size = sector_size * sector_count;
    the_flash.sector_size = sector_size;
    the_flash.program_size = program_size;
    the_flash.host_file = -1;
    memset(memory, KILN_FLASH_ERASED_VALUE, the_flash.size);
    flash->ctx = &the_flash;
    flash->geometry.program_size = program_size;
    flash->geometry.sector_size = sector_size;
    flash->geometry.sector_count = sector_count;
    flash->read = ram_read;
    flash->program = ram_program;
    flash->erase = ram_erase;
}

/* The host file's path is the second word of the semihosting command line. */
static bool host_path(char *path, size_t size)
{
    char line[256];
    uintptr_t args[2] = {(uintptr_t)line, sizeof(line)};
    if (semihost(SH_GET_CMDLINE, args) != 0) {
        return false;
    }
    line[sizeof(line) - 1] = '\0';
    const char *p = strchr(line, ' ');
    if (p == NULL || strlen(p + 1) == 0 || strlen(p + 1) >= size) {
        return false;
    }
    strcpy(path, p + 1);
    return true;
}

int kiln_cm_ram_flash_attach_host_file(void)
{
    ram_flash *f = &the_flash;
    if (*(volatile uint32_t *)SEMIHOSTING_MARK_ADDR != SEMIHOSTING_MARK) {
        return 0;
    }
    char path[200];
    if (!host_path(path, sizeof(path))) {
        return -1;
    }
    uintptr_t open_args[3] = {(uintptr_t)path, SH_MODE_RPLUS, strlen(path)};
    int fd = semihost(SH_OPEN, open_args);
    if (fd < 0) {
        open_args[1] = SH_MODE_WPLUS;
        fd = semihost(SH_OPEN, open_args);
    }
    if (fd < 0) {
        return -1;
    }
    f->host_file = fd;
    uintptr_t handle = (uintptr_t)fd;
    uintptr_t read_args[3] = {handle, (uintptr_t)f->memory, f->size};
    /* A file of another size is not this flash: it starts blank (and is overwritten). */
    if (semihost(SH_FLEN, &handle) == (int)f->size && semihost(SH_READ, read_args) == 0) {
        return 1;
    }
    memset(f->memory, KILN_FLASH_ERASED_VALUE, f->size);
    return host_write(f, 0, f->size) == KILN_FLASH_OK ? 1 : -1;
}
