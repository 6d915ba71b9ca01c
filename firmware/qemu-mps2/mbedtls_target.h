/* Mbed TLS for the firmware: upstream's default configuration (the source package's
 * include/mbedtls/config.h) with bench/footprint/mbedtls_baremetal.h's removals of what needs an
 * OS, plus what a bare-metal build must say explicitly. Applied with MBEDTLS_USER_CONFIG_FILE to
 * both the library and kiln, so both see one configuration. */
#include "kiln_mbedtls_baremetal.h"

/* No OS entropy: the device's generator is seeded by the port (see port/cortex-m) and the
 * bundle's Entropy group is mixed in by the core. Nothing here uses mbedtls_entropy_*. */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#undef MBEDTLS_ENTROPY_C
#undef MBEDTLS_PSA_CRYPTO_C
#undef MBEDTLS_HAVE_TIME
#undef MBEDTLS_SELF_TEST
/* Unused by kiln; their absence keeps the build quick (gc-sections would drop them anyway). */
#undef MBEDTLS_DES_C
#undef MBEDTLS_CAMELLIA_C
#undef MBEDTLS_ARIA_C
#undef MBEDTLS_CHACHA20_C
#undef MBEDTLS_CHACHAPOLY_C
#undef MBEDTLS_POLY1305_C
#undef MBEDTLS_XTEA_C
#undef MBEDTLS_BLOWFISH_C
#undef MBEDTLS_ARC4_C
#undef MBEDTLS_DHM_C
#undef MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED
#undef MBEDTLS_CMAC_C
#undef MBEDTLS_NIST_KW_C

/* The heap is mbedtls_memory_buffer_alloc on a static arena (the firmware's malloc too). */
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
/* AES tables in flash, not built into RAM at start (8 KB of RAM on a part that has little). */
#define MBEDTLS_AES_ROM_TABLES
