/* The one rule for endpoint names, shared by every entry point that accepts one (the
 * configurator's API and CLI, the line's device CSV, the secure-factory service's prefix).
 *
 * An endpoint name becomes mbed.EndpointName on the device and the CN of its certificate, is
 * printed in JSON result lines and written to CSV exports that people open in spreadsheets. The
 * rule therefore keeps what the original allows (its recommended set: letters, digits, space and
 * ' ( ) + , - . ? : / =, plus the other printable characters devices already use, such as _) and
 * refuses what breaks one of those consumers:
 *   - empty, or longer than KILN_ENDPOINT_NAME_MAX bytes (RFC 5280's ub-common-name is 64);
 *   - not valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF included);
 *   - control characters anywhere (C0, DEL, C1);
 *   - a first character that spreadsheets read as a formula: = + - @ (and tab / CR, which are
 *     controls anyway).
 * Portable C99 with no dependency, so the device could link it too. */
#ifndef KILN_ENDPOINT_NAME_H
#define KILN_ENDPOINT_NAME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_ENDPOINT_NAME_MAX 64u

typedef enum {
    KILN_ENDPOINT_NAME_OK = 0,
    KILN_ENDPOINT_NAME_EMPTY,
    KILN_ENDPOINT_NAME_TOO_LONG,
    KILN_ENDPOINT_NAME_NOT_UTF8,
    KILN_ENDPOINT_NAME_CONTROL,
    KILN_ENDPOINT_NAME_FORMULA_PREFIX,
} kiln_endpoint_name_verdict;

/** Checks the first len bytes of name (a NUL among them is a control character). */
kiln_endpoint_name_verdict kiln_endpoint_name_check(const char *name, size_t len);

/** Same, for a NUL-terminated string (NULL counts as empty). */
kiln_endpoint_name_verdict kiln_endpoint_name_check_str(const char *name);

/** Why a name was refused, for error texts ("" for KILN_ENDPOINT_NAME_OK). Never echoes the
 * name itself: the caller decides whether and how to quote it. */
const char *kiln_endpoint_name_verdict_text(kiln_endpoint_name_verdict v);

/** True when s (any field, not only endpoint names) would be read as a formula by a
 * spreadsheet: its first byte is = + - @ TAB or CR. CSV writers prefix such fields with '. */
int kiln_csv_field_is_formula(const char *s);

#ifdef __cplusplus
}
#endif

#endif
