/* Factory Configurator Client: the device side of factory provisioning.
 *
 *   fcc_init();
 *   fcc_bundle_handler(bundle, size, &response, &response_size);  // response: free()
 *   fcc_finalize();
 *
 * All functions work on kiln_default_device() (see kiln/device.h for explicit devices). */
#ifndef MBED_FACTORY_CONFIGURATOR_CLIENT_H
#define MBED_FACTORY_CONFIGURATOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fcc_status.h"

#ifdef __cplusplus
extern "C" {
#endif

fcc_status_e fcc_init(void);
fcc_status_e fcc_finalize(void);
/** Erases everything the factory stored, including the factory-disabled flag. */
fcc_status_e fcc_storage_delete(void);
/**
 * Decodes, checks and stores a configuration bundle and builds the CBOR answer.
 * The bundle is one transaction: when any item fails, nothing of it is stored.
 * *bundle_response_out is allocated with malloc() and must be released with free(); it is
 * NULL (no answer) when FCC is not initialised, an out-pointer is NULL or the factory flow
 * is disabled.
 */
fcc_status_e fcc_bundle_handler(const uint8_t *encoded_bundle, size_t encoded_bundle_size,
                                uint8_t **bundle_response_out, size_t *bundle_response_size_out);
/** Checks that everything a device needs to connect is stored and consistent. */
fcc_status_e fcc_verify_device_configured_4mbed_cloud(void);
/** Sets the device time (seconds since 1970-01-01 UTC). */
fcc_status_e fcc_time_set(uint64_t time);
fcc_status_e fcc_factory_disable(void);
fcc_status_e fcc_is_factory_disabled(bool *is_factory_disabled);
bool fcc_is_session_finished(void);

#ifdef __cplusplus
}
#endif
#endif
