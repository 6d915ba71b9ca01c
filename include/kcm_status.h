/* Key and Configuration Manager status codes (values of the original 4.13.x KCM; internal,
 * never on the wire, kept so that integrators find the names they know). */
#ifndef KCM_STATUS_H
#define KCM_STATUS_H

#include "kiln/status.h"
#include "kiln/status_kcm.def"

/* Only a type and static inline functions: nothing here needs C linkage. */
typedef enum { KCM_STATUS_MAP(KILN_STATUS_ENUMERATOR) KCM_MAX_STATUS = 59 } kcm_status_e;

/** Name of a status ("KCM_STATUS_FILE_EXIST"); "KCM_STATUS_UNKNOWN" for other values. */
static inline const char *kcm_status_name(kcm_status_e status)
{
    return kiln_kcm_status_name((int32_t)status);
}

/** One-sentence description of a status. */
static inline const char *kcm_status_to_string(kcm_status_e status)
{
    return kiln_kcm_status_text((int32_t)status);
}

#endif
