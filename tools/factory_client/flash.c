/* --flash FILE: the device's storage is the raw-flash log store over a file that plays the
 * part of the device's NOR flash. For --faults power-cut the flash sits behind a switch that
 * loses power at a chosen program or erase: that operation is left half done (a program writes
 * only its first half) and every later one fails with KILN_FLASH_POWER_LOST, as on a part whose
 * supply went away. The device then restarts and mounts the store again. */
#include "fc.h"

#include "kiln/flash_file.h"
#include "kiln/kv_flash.h"

#include <stdlib.h>

typedef struct flash_backend {
    kiln_flash_file file;
    kiln_flash flash; /* the file's flash behind the power switch */
    uint64_t ops, cut_at;
    bool lost;
    kiln_kv_flash store;
    kiln_kv_backend backend;
    uint8_t work[4096];
} flash_backend;

/* True when this operation runs without power (and from the cut on). */
static bool power_gone(flash_backend *f)
{
    if (f->lost) {
        return true;
    }
    if (f->ops++ == f->cut_at) {
        f->lost = true;
    }
    return false;
}

static int sw_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    flash_backend *f = ctx;
    return f->lost ? KILN_FLASH_POWER_LOST : f->file.flash.read(f->file.flash.ctx, addr, buf, len);
}

static int sw_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    flash_backend *f = ctx;
    if (power_gone(f)) {
        return KILN_FLASH_POWER_LOST;
    }
    if (f->lost) {
        /* Cut half way: the first half of the words reach the flash. */
        uint32_t w = f->file.flash.geometry.program_size;
        size_t half = (len / w / 2) * w;
        if (half > 0) {
            (void)f->file.flash.program(f->file.flash.ctx, addr, data, half);
        }
        return KILN_FLASH_POWER_LOST;
    }
    return f->file.flash.program(f->file.flash.ctx, addr, data, len);
}

static int sw_erase(void *ctx, uint32_t sector)
{
    flash_backend *f = ctx;
    if (power_gone(f)) {
        return KILN_FLASH_POWER_LOST;
    }
    if (f->lost) {
        return KILN_FLASH_POWER_LOST; /* the sector keeps what it had */
    }
    return f->file.flash.erase(f->file.flash.ctx, sector);
}

int fc_flash_backend_open(const char *path, const kiln_kv_backend **kv, void **handle)
{
    flash_backend *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    if (kiln_flash_file_open(&f->file, path, KILN_FLASH_FILE_SECTOR_SIZE,
                             KILN_FLASH_FILE_SECTOR_COUNT, KILN_FLASH_FILE_PROGRAM_SIZE,
                             KILN_FLASH_FILE_SYNC) != 0) {
        free(f);
        return -1;
    }
    f->cut_at = UINT64_MAX;
    f->flash = f->file.flash;
    f->flash.ctx = f;
    f->flash.read = sw_read;
    f->flash.program = sw_program;
    f->flash.erase = sw_erase;
    if (kiln_kv_flash_mount(&f->store, &f->flash, f->work, sizeof(f->work)) != KILN_KV_OK) {
        kiln_flash_file_close(&f->file);
        free(f);
        return -1;
    }
    kiln_kv_flash_backend(&f->store, &f->backend);
    *kv = &f->backend;
    *handle = f;
    return 0;
}

void fc_flash_backend_close(void *handle)
{
    flash_backend *f = handle;
    kiln_flash_file_close(&f->file);
    free(f);
}

void fc_flash_power_cut(void *handle, uint64_t after_ops)
{
    flash_backend *f = handle;
    f->cut_at = after_ops == UINT64_MAX ? UINT64_MAX : f->ops + after_ops;
}

bool fc_flash_power_lost(void *handle)
{
    return ((flash_backend *)handle)->lost;
}
