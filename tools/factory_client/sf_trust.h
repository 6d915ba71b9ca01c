/* factory_client: the secure-factory service public keys a device firmware would hold, read from
 * factory_service's device-trust.pem ("Factory-ID: N" followed by a PEM public key, repeated).
 * One loader for every command that answers secure-factory messages (sf, tcp, serial, file). */
#ifndef KILN_FC_SF_TRUST_H
#define KILN_FC_SF_TRUST_H

#include <stddef.h>

#include "kiln_sf.h"

#define FC_SF_TRUST_MAX 8

typedef struct fc_sf_trust {
    kiln_sf_trust_key keys[FC_SF_TRUST_MAX];
    char *pems[FC_SF_TRUST_MAX];
    size_t count;
} fc_sf_trust;

/** Loads path into t. Returns 0, or -1 after printing why (file unreadable, no key in it). */
int fc_sf_trust_load(const char *path, fc_sf_trust *t);
/** The table kiln_sf_handle_message takes; empty (count 0) when nothing was loaded, which makes
 *  the device answer every INIT_REQUEST with "unknown factory ID", as a firmware without keys
 *  would. */
kiln_sf_trust fc_sf_trust_table(const fc_sf_trust *t);
void fc_sf_trust_free(fc_sf_trust *t);

#endif
