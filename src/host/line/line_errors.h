/* The factory tool demo's error codes (seed 000, "Error codes for the demo"), kept with the
 * original numbers and texts, plus kiln's record states. */
#ifndef KILN_LINE_ERRORS_H
#define KILN_LINE_ERRORS_H

#include <stddef.h>

#include "kiln/status_line.def"

typedef enum line_error { LINE_ERROR_MAP(LINE_ERROR_ENUMERATOR) } line_error;

/** Message template ("%s" where the original has a placeholder); never NULL. */
const char *line_error_template(int code);
/** Symbolic name ("TCP_CONNECT"); "UNKNOWN" otherwise. */
const char *line_error_name(int code);
/** Formats the message for code with up to two arguments into buf. */
void line_error_format(char *buf, size_t size, int code, const char *arg1, const char *arg2);
/** The same for a template with three %s. */
void line_error_format3(char *buf, size_t size, int code, const char *arg1, const char *arg2,
                        const char *arg3);
/** 1004's message for a device that answered with its own failure status: the template with
 *  the number, then the device's text; a text that says nothing past its prefix ("General
 *  error:") gets the status's own description, so the operator learns what the device meant. */
void line_device_failure(char *buf, size_t size, int status, const char *device_text);
/** True for faults of the transport, where resending the same bundle is safe. */
int line_error_is_transport(int code);

#endif
