/* factory_tool ca import-cert: the check and install (ca_import.c). */
#ifndef KILN_FT_CA_IMPORT_H
#define KILN_FT_CA_IMPORT_H

#include <stddef.h>

/** Checks CERT (and the chain file, may be NULL) against the keystore's CA key and installs
 *  them as KEYSTORE/fcu.crt. 0, or an FCU status with the message in why. */
int ca_import_cert(const char *keystore, const char *cert_path, const char *chain_path, char *why,
                   size_t cap);
/** DIR/NAME, malloc'd (NULL when out of memory); shared by the ca commands. */
char *ca_path_join(const char *dir, const char *name);

#endif
