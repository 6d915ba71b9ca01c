/* Root key and entropy of the QEMU board (see cortex_m.h for what a real part does instead). */
#include "cortex_m.h"

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <string.h>

/* The board has no hardware unique key. A fixed key means every image seals its storage with
 * the same key: acceptable for an emulator whose flash does not outlive a reset, never for a
 * product. */
static const uint8_t board_root_key[32] = "kiln qemu-mps2 board root key..";

int kiln_cm_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memcpy(key, board_root_key, sizeof(board_root_key));
    return 0;
}

int kiln_cm_entropy(void *ctx, uint8_t *buf, size_t len)
{
    static uint32_t calls;
    (void)ctx;
    uint8_t block[32];
    for (size_t done = 0; done < len; done += sizeof(block)) {
        uint32_t seed[3] = {++calls, kiln_cm_timer_ticks(), (uint32_t)done};
        if (mbedtls_sha256_ret((const uint8_t *)seed, sizeof(seed), block, 0) != 0) {
            return -1;
        }
        size_t n = len - done < sizeof(block) ? len - done : sizeof(block);
        memcpy(buf + done, block, n);
    }
    mbedtls_platform_zeroize(block, sizeof(block));
    return 0;
}
