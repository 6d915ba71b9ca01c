/* Internals shared by the FCC modules (bundle handler, verification). */
#ifndef KILN_FCC_INTERNAL_H
#define KILN_FCC_INTERNAL_H

#include "fcc_output.h"
#include "kcm_internal.h"

/** Records an error whose message prefix is not the status's own (a few original quirks). */
void fcc_output_error_with_prefix(fcc_output *out, fcc_status_e status, const char *prefix,
                                  const char *name, size_t name_len);

/** Reads a configuration item into buf; KCM status. */
kcm_status_e fcc_config_read(kiln_device *dev, const char *name, uint8_t *buf, size_t cap,
                             size_t *len);
bool fcc_item_exists(kiln_device *dev, kcm_item_type_e type, const char *name);

/** Reads mbed.UseBootstrap and checks it (25 missing, 27 size, 30 value). */
fcc_status_e fcc_read_bootstrap_mode(kiln_device *dev, fcc_output *out, bool *bootstrap);

/** The device-configured check of the original, errors and warnings into out. */
fcc_status_e fcc_verify_device(kiln_device *dev, fcc_output *out);

/** Reads and sets an internal slot. */
kcm_status_e fcc_slot_read(kiln_device *dev, const char *slot, uint8_t *buf, size_t cap,
                           size_t *len);
kcm_status_e fcc_slot_write(kiln_device *dev, const char *slot, const uint8_t *data, size_t len);
bool fcc_slot_exists(kiln_device *dev, const char *slot);

#endif
