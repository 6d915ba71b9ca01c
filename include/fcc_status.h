/* Factory Configurator Client status codes. Names and numeric values are those of the
 * original client (4.x), because they travel on the wire as the response's ReturnStatus. */
#ifndef FCC_STATUS_H
#define FCC_STATUS_H

#include "kiln/status.h"
#include "kiln/status_fcc.def"

/* Only a type and static inline functions: nothing here needs C linkage. */
typedef enum { FCC_STATUS_MAP(KILN_STATUS_ENUMERATOR) FCC_MAX_STATUS = 0x7fffffff } fcc_status_e;

/** Name of a status ("FCC_STATUS_KCM_CRYPTO_ERROR"); "FCC_STATUS_UNKNOWN" for other values. */
static inline const char *fcc_status_name(fcc_status_e status)
{
    return kiln_fcc_status_name((int32_t)status);
}

/** One-sentence description of a status, suitable for logs and operator messages. */
static inline const char *fcc_status_to_string(fcc_status_e status)
{
    return kiln_fcc_status_text((int32_t)status);
}

#endif
