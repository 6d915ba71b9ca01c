/* --flash FILE: the device's storage is the raw-flash log store over a file that plays the
 * part of the device's NOR flash. */
#include "fc.h"

#include "kiln/flash_file.h"
#include "kiln/kv_flash.h"

#include <stdlib.h>

typedef struct flash_backend {
    kiln_flash_file file;
    kiln_kv_flash store;
    kiln_kv_backend backend;
    uint8_t work[4096];
} flash_backend;

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
    if (kiln_kv_flash_mount(&f->store, &f->file.flash, f->work, sizeof(f->work)) != KILN_KV_OK) {
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
