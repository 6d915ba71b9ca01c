/* Text from outside (device lists, records, device answers) made safe to show: in error texts
 * and in JSON, which must be valid UTF-8 and must not carry raw control bytes. */
#ifndef KILN_LINE_TEXT_H
#define KILN_LINE_TEXT_H

#include <stddef.h>

#include <jansson.h>

/** Copies s into out (truncating): printable ASCII and, when s is valid UTF-8, its other
 *  characters as they are; control bytes, backslashes and (when s is not valid UTF-8) every
 *  byte above 0x7f as \xNN. */
void line_text_escape(const char *s, char *out, size_t size);

/** A JSON string of s; when s is not valid UTF-8 or holds control bytes, of its escaped form
 *  (line_text_escape), so the member is never lost. NULL s gives JSON null. */
json_t *line_json_text(const char *s);

#endif
