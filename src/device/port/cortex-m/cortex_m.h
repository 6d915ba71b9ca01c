/* The bare-metal Cortex-M port: startup, the board's UART, a timer, flash kept in RAM, the heap
 * (mbedtls_memory_buffer_alloc on a static arena, also behind malloc/free) and the device's root
 * key and entropy. Written for QEMU's mps2-an386 (Cortex-M4, CMSDK APB peripherals); a real
 * board replaces the UART, timer, flash and root key parts. Nothing here uses an OS. */
#ifndef KILN_CORTEX_M_H
#define KILN_CORTEX_M_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/flash.h"

/* CMSDK APB UART (UART0 of the board is the factory link, UART1 the log). */
#define KILN_CM_UART0 0x40004000u
#define KILN_CM_UART1 0x40005000u

void kiln_cm_uart_init(uint32_t base);
/** Returns true and the byte when one has arrived. */
bool kiln_cm_uart_try_read(uint32_t base, uint8_t *byte);
void kiln_cm_uart_write(uint32_t base, const uint8_t *data, size_t len);
void kiln_cm_uart_puts(uint32_t base, const char *text);
/** Writes text, then value in decimal, then a newline. */
void kiln_cm_uart_put_value(uint32_t base, const char *text, uint32_t value);

/** Free-running timer (CMSDK APB timer 0, the 25 MHz system clock): ticks since started. */
void kiln_cm_timer_start(void);
uint32_t kiln_cm_timer_ticks(void);

/** Flash kept in RAM: the geometry of a small NOR part over a static array, erased at boot. */
void kiln_cm_ram_flash_init(kiln_flash *flash, uint8_t *memory, uint32_t sector_size,
                            uint32_t sector_count, uint32_t program_size);
/** Backs the RAM flash with a host file over semihosting when the board was started with one
 *  (scripts/qemu-device.sh --storage FILE): loads it, then writes every change through.
 *  Returns 1 when attached, 0 when there is none, -1 when it cannot be used. */
int kiln_cm_ram_flash_attach_host_file(void);

/** The heap: mbedtls_memory_buffer_alloc on arena; malloc, calloc, realloc and free use it. */
void kiln_cm_heap_init(uint8_t *arena, size_t size);
/** Highest arena byte ever used since kiln_cm_heap_init (the arena a bundle needs). */
size_t kiln_cm_heap_peak(void);

/** Deepest stack use since boot, from the pattern the reset handler painted. */
size_t kiln_cm_stack_peak(void);

/* kiln_device_config callbacks. The root key is what a real part reads from its hardware unique
 * key; the QEMU board has none, so it is a constant of the image (see the firmware's note). */
int kiln_cm_root_key(void *ctx, uint8_t key[32]);
/** Seeds the device generator. The board has no TRNG: the output is the SHA-256 expansion of
 *  a boot counter mixed with timer jitter, which is NOT secret; the bundle's Entropy group (48
 *  bytes, mixed into the generator by the core before any key is made) is what makes keys
 *  unpredictable, as in the original's configuration without a hardware TRNG. */
int kiln_cm_entropy(void *ctx, uint8_t *buf, size_t len);

#endif
