/* One device injected from a program that holds a configurator handle (the Python module's
 * FactoryToolApi.inject): the line engine with one device, no records. */
#ifndef KILN_LINE_INJECT_ONE_H
#define KILN_LINE_INJECT_ONE_H

#include <stddef.h>

#include "fcu/fcu.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Prepares the bundle of one device with f, sends it to address (the device CSV's form:
 *  "tcp:HOST:PORT", "serial:TTY[@BAUD]"), waits for the answer and verifies it, with retries
 *  (max_tries, at least 1) and a timeout per exchange in seconds. Returns 0, or the numbered
 *  error (FCU, or LINE 1000-1023) with its text in message; *device_status gets the device's
 *  ReturnStatus (-1 when it gave none). */
int line_inject_one(fcu *f, const char *endpoint, const char *serial,
                    const char *device_keys_location, const char *address, double timeout,
                    int max_tries, int *device_status, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
