/* One status numbering for all of kiln.
 *
 * Every module keeps its own numbers in its own enum and on the wire (fcc_status_e, FTCD frames,
 * the configurator's and the line tool's error codes: the seeds fix them). A kiln_status is the
 * one number a program can carry across modules and print with one function: each module owns
 * a disjoint range, and a module's code maps into it as below. 0 is the success of every module.
 *
 *   module  own codes              kiln_status                   mapping
 *   FCU     100..390 (0 = OK)      1..999                        the code itself
 *   LINE    1000..1023 (0 = OK)    1000..1999                    the code itself
 *   FCC     0..37                  2001..2999                    2000 + code
 *   KCM     0..58                  3001..3999                    3000 + code
 *   FTCD    0..15 (wire)           4001..4999                    4000 + code
 *   SF      0..13, 100..124        5001..5999                    5000 + code
 *   KV      0..-6                  6001..6999                    6000 - code
 *   PKI     0..10 (kiln_pki)       8001..8999                    8000 + code
 *
 * A code with no room in its module's range (FCC_MAX_STATUS, a negative FCC code, a wire value
 * above 999) maps to KILN_STATUS_UNMAPPED. Portable C99, no allocation; the device links it. */
#ifndef KILN_STATUS_H
#define KILN_STATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t kiln_status;

#define KILN_OK ((kiln_status)0)
/** What the constructors return for a module code outside its module's range. */
#define KILN_STATUS_UNMAPPED ((kiln_status)-1)

typedef enum kiln_module {
    KILN_MODULE_NONE = 0, /**< KILN_OK, and numbers outside every module's range */
    KILN_MODULE_FCU,
    KILN_MODULE_LINE,
    KILN_MODULE_FCC,
    KILN_MODULE_KCM,
    KILN_MODULE_FTCD,
    KILN_MODULE_SF,
    KILN_MODULE_KV,
    KILN_MODULE_PKI,
} kiln_module;

/** The kiln_status of a module's own code (KILN_OK for a module's success). */
kiln_status kiln_status_from(kiln_module module, int32_t code);
/** The module whose range holds status (KILN_MODULE_NONE for KILN_OK and outside every range). */
kiln_module kiln_status_module(kiln_status status);
/** The module's own code of status: kiln_status_from(kiln_status_module(s), kiln_status_code(s))
 *  is s for every s in a module's range. Outside every range, status itself. */
int32_t kiln_status_code(kiln_status status);
/** "FCC", "FTCD", ...; "KILN" for KILN_MODULE_NONE and values that are no module. */
const char *kiln_module_name(kiln_module module);

/** The enumerator's name ("FCC_STATUS_STORE_ERROR", "FTCD_STATUS_NETWORK_TIMEOUT", "KILN_OK");
 *  for a number its module does not define, the module's unknown name ("SF_UNKNOWN"); outside
 *  every range "KILN_STATUS_UNKNOWN". Never NULL. */
const char *kiln_status_name(kiln_status status);
/** The text (FCU and LINE texts are message templates with %s); "unknown FCC status" and the
 *  like for a number its module does not define; "unknown status" outside every range. Never
 *  NULL. */
const char *kiln_strerror(kiln_status status);
/** kiln_strerror() into buf, with the number after an unknown answer ("unknown status 7000",
 *  "unknown FCC status 99"). Always NUL-terminates when size > 0; returns buf. */
char *kiln_strerror_r(kiln_status status, char *buf, size_t size);

/** An FTCD status as it comes off the wire (32 unsigned bits; above INT32_MAX no status). */
static inline kiln_status kiln_status_from_ftcd(uint32_t code)
{
    return code <= INT32_MAX ? kiln_status_from(KILN_MODULE_FTCD, (int32_t)code)
                             : KILN_STATUS_UNMAPPED;
}

/* The module views behind the device library's historical lookups (fcc_status_name() and the
 * others in fcc_status.h, kcm_status.h and kiln/kv.h wrap these): each module's own spelling and
 * its own answer for numbers it does not define. One pair per module, so that a device image
 * which prints FCC statuses carries the FCC table only. */
const char *kiln_fcc_status_name(int32_t code);
const char *kiln_fcc_status_text(int32_t code);
const char *kiln_kcm_status_name(int32_t code);
const char *kiln_kcm_status_text(int32_t code);
const char *kiln_kv_status_text(int32_t code);

/** One X(enumerator, number, text) of a status list as an enumerator. */
#define KILN_STATUS_ENUMERATOR(id, code, text) id = code,

#ifdef __cplusplus
}
#endif
#endif
