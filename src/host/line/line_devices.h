/* Device lists (CSV) and the identity a bundle carries (certificate fingerprints). */
#ifndef KILN_LINE_DEVICES_H
#define KILN_LINE_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "fcu/fcu.h"

typedef struct line_device {
    char *endpoint;
    char *serial;
    char *address;              /* may be NULL for commands that do not need it */
    char *device_keys_location; /* NULL when the column is absent or empty */
    int line;                   /* line number in the CSV, for messages */
    /* per-device custom properties of the prop: columns (an empty cell gives none); their
     * names belong to the list */
    fcu_extra_property *props;
    size_t prop_count;
} line_device;

typedef struct line_device_list {
    line_device *items;
    size_t count;
    char **prop_names; /* of the prop: columns, in column order */
    size_t prop_columns;
} line_device_list;

/** Reads a CSV with a header naming the columns endpoint_name, serial_number, address
 *  (required when need_address) and optionally device_keys_location, in any order. Quoted
 *  fields ("a,b", "say ""hi""") are accepted. Endpoint names must be unique and usable as file
 *  names. A column headed prop:NAME or prop:NAME:TYPE (TYPE string, the default; integer or int;
 *  binary or hex, the cell in hex; base64) gives each device a custom property NAME for
 *  fcu_prepare_device_configuration_ex. Returns 0, or -1 with a message naming the file and
 *  line (and column for a property) in why. */
int line_devices_load(const char *path, int need_address, line_device_list *out, char *why,
                      size_t why_size);
void line_devices_free(line_device_list *list);

/** Fingerprints of the device certificate a bundle carries, as lowercase hex ("" when the
 *  bundle has none, e.g. a first step with CSR requests), and the SHA-256 of the bundle. */
typedef struct line_identity {
    char cert_sha256[65];
    char cert_sha1[41];
    char bundle_sha256[65];
} line_identity;

void line_identity_of_bundle(const uint8_t *bundle, size_t len, line_identity *out);
/* The same with the bundle's SHA-256 already known (the request frame's trailer: the line
 * hashes each bundle once); NULL leaves bundle_sha256 empty, as a failed digest does. */
void line_identity_of_hashed_bundle(const uint8_t *bundle, size_t len, const uint8_t *bundle_sha256,
                                    line_identity *out);

#endif
