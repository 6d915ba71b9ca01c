/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) for the flash store's records. */
#ifndef KILN_STORE_CRC32_H
#define KILN_STORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/** Continues a CRC: start with crc = 0; crc32("123456789") == 0xCBF43926. */
uint32_t kiln_crc32_update(uint32_t crc, const void *data, size_t len);

#endif
