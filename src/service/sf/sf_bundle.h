/* Secure factory service: the configuration bundle (FCC CBOR format, fcc_bundle_fields.h) the
 * service encrypts to a device. Bootstrap mode: the device certificate names the key the device
 * generated itself (PrKN), so no private key travels. */
#ifndef KILN_SF_BUNDLE_H
#define KILN_SF_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "sf_msg.h"

typedef struct sf_bundle_params {
    const char *endpoint_name;
    const uint8_t *device_cert;
    size_t device_cert_len;
    const uint8_t *server_ca;
    size_t server_ca_len;
    const char *server_uri;
    const char *manufacturer;
    const char *model_number;
    const char *device_type;
    const char *hardware_version;
    const char *serial_number;
    uint32_t memory_total_kb;
    const char *timezone;   /* optional */
    const char *utc_offset; /* optional */
    uint64_t current_time;
} sf_bundle_params;

/** Encodes the bundle; *out is heap memory (free()). */
sf_status sf_bundle_build(const sf_bundle_params *p, uint8_t **out, size_t *out_len);

#endif
