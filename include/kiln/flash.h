/* Raw flash as the key store sees it: a row of equal sectors that are erased as a whole and
 * programmed in words of a fixed size.
 *
 * The contract mirrors NOR flash: erase sets every byte of a sector to KILN_FLASH_ERASED_VALUE;
 * program may only be called on erased, word-aligned ranges (address and length multiples of
 * program_size) and can only clear bits. Programming a word twice without an erase in between
 * is not allowed (many parts with ECC reject it), so the store never does it.
 *
 * A port fills a kiln_flash with its geometry and three functions; ctx is passed back to them.
 * Every function returns a kiln_flash_status (0 on success). */
#ifndef KILN_FLASH_H
#define KILN_FLASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_FLASH_ERASED_VALUE 0xFFu

typedef enum {
    KILN_FLASH_OK = 0,
    KILN_FLASH_IO = -1,           /**< the medium reported a failure */
    KILN_FLASH_OUT_OF_RANGE = -2, /**< address or sector beyond the device */
    KILN_FLASH_MISALIGNED = -3,   /**< program not aligned to program_size */
    KILN_FLASH_NOT_ERASED = -4,   /**< program over a word that is not erased */
    KILN_FLASH_POWER_LOST = -5,   /**< power was cut during or before the operation */
    KILN_FLASH_GEOMETRY = -6,     /**< unusable or mismatching geometry */
    KILN_FLASH_INVALID = -7       /**< bad argument */
} kiln_flash_status;

typedef struct kiln_flash_geometry {
    uint32_t program_size; /**< write granularity in bytes: a power of two from 1 to 32 */
    uint32_t sector_size;  /**< erase unit in bytes, a multiple of program_size */
    uint32_t sector_count;
} kiln_flash_geometry;

typedef struct kiln_flash {
    void *ctx;
    kiln_flash_geometry geometry;
    /** Reads len bytes at byte address addr (any alignment). */
    int (*read)(void *ctx, uint32_t addr, void *buf, size_t len);
    /** Programs len bytes at addr; addr and len are multiples of program_size and the range
     *  is erased. */
    int (*program)(void *ctx, uint32_t addr, const void *data, size_t len);
    /** Erases one whole sector (index 0 .. sector_count-1). */
    int (*erase)(void *ctx, uint32_t sector);
} kiln_flash;

/** Text for a kiln_flash_status value; never NULL. */
const char *kiln_flash_status_to_string(int status);

#ifdef __cplusplus
}
#endif
#endif
