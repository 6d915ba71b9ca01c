/* A reproducible device for tests and fuzz targets: RAM storage, a fixed root key and
 * counter "entropy", so that every run answers the same bytes. */
#ifndef KILN_TEST_RAM_DEVICE_H
#define KILN_TEST_RAM_DEVICE_H

#include <string.h>

#include "kiln/device.h"
#include "kiln/kv_ram.h"

typedef struct ram_device {
    kiln_kv_ram ram;
    unsigned entropy_counter;
    kiln_device dev;
} ram_device;

static inline int ram_device_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x5A, 32);
    return 0;
}

static inline int ram_device_entropy(void *ctx, uint8_t *buf, size_t len)
{
    unsigned *c = ctx;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(++*c * 2654435761u >> 24);
    }
    return 0;
}

/** Sets the device up and initialises FCC; false when that fails. */
static inline bool ram_device_open(ram_device *d)
{
    kiln_kv_ram_init(&d->ram);
    d->entropy_counter = 0;
    kiln_device_config cfg = {&d->ram.backend, ram_device_root_key, NULL, ram_device_entropy,
                              &d->entropy_counter};
    kiln_device_setup(&d->dev, &cfg);
    return kiln_fcc_init(&d->dev) == FCC_STATUS_SUCCESS;
}

static inline void ram_device_close(ram_device *d)
{
    if (d->dev.fcc_ready) {
        kiln_fcc_finalize(&d->dev);
    }
    kiln_kv_ram_free(&d->ram);
}

#endif
