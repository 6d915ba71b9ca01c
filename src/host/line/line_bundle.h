/* A cheap look at a bundle file before it is sent: write sends what prepare-batch left in a
 * folder, and a truncated or foreign file must be refused here, with its name, rather than be
 * counted written and fail later on the device. */
#ifndef KILN_LINE_BUNDLE_H
#define KILN_LINE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

/** 0 when data is one well-formed CBOR map, nothing after it, whose SchemeVersion is the
 *  bundle scheme the devices read; else -1 and what is wrong in why. */
int line_bundle_check(const uint8_t *data, size_t len, char *why, size_t why_size);

#endif
