/* Flash emulated over a regular file (Linux port): for factory_client --flash FILE and for
 * keeping a simulated device's store across program restarts.
 *
 * The file holds sector_size * sector_count bytes. It is created erased (0xFF) when absent;
 * an existing file must have exactly that size. Program keeps NOR semantics (new = old AND data)
 * so the store behaves as on a part, and every program and erase is followed by fdatasync when
 * KILN_FLASH_FILE_SYNC is given, so a store on it survives a host crash as well. */
#ifndef KILN_FLASH_FILE_H
#define KILN_FLASH_FILE_H

#include <stdint.h>

#include "kiln/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Sensible geometry for factory_client: 32 sectors of 16 KiB (a 512 KiB file). */
#define KILN_FLASH_FILE_SECTOR_SIZE  16384u
#define KILN_FLASH_FILE_SECTOR_COUNT 32u
#define KILN_FLASH_FILE_PROGRAM_SIZE 8u

/** Flags for kiln_flash_file_open. */
#define KILN_FLASH_FILE_SYNC 1u

typedef struct kiln_flash_file {
    kiln_flash flash; /**< pass &ff.flash to kiln_kv_flash_mount */
    int fd;
    unsigned flags;
} kiln_flash_file;

/**
 * \brief Opens (or creates, erased, mode 0600) a flash file.
 * \return KILN_FLASH_OK; KILN_FLASH_GEOMETRY when an existing file has another size or the
 *         geometry is unusable; KILN_FLASH_INVALID for NULL arguments; KILN_FLASH_IO when the
 *         file cannot be opened, created or sized (errno tells why).
 */
int kiln_flash_file_open(kiln_flash_file *ff, const char *path, uint32_t sector_size,
                         uint32_t sector_count, uint32_t program_size, unsigned flags);

/** Closes the file; safe on a struct whose open failed. */
void kiln_flash_file_close(kiln_flash_file *ff);

#ifdef __cplusplus
}
#endif
#endif
