#include "line_text.h"

#include <stdlib.h>
#include <string.h>

/* True when s is valid UTF-8 (jansson's own check, so the two never disagree). */
static int is_utf8(const char *s)
{
    json_t *probe = json_string(s);
    json_decref(probe);
    return probe != NULL;
}

void line_text_escape(const char *s, char *out, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    int escape_high = !is_utf8(s);
    size_t n = 0;
    if (size == 0) {
        return;
    }
    int c1_tail = 0; /* the second byte of a C1 control (U+0080..U+009F: C2 80..C2 9F) */
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 5 < size; p++) {
        int c1 = !escape_high && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        if (*p < 0x20 || *p == 0x7f || *p == '\\' || (escape_high && *p >= 0x80) || c1 || c1_tail) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = digits[*p >> 4];
            out[n++] = digits[*p & 15];
            c1_tail = c1;
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
}

static int needs_escape(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            return 1;
        }
    }
    return !is_utf8(s);
}

json_t *line_json_text(const char *s)
{
    if (s == NULL) {
        return json_null();
    }
    if (!needs_escape(s)) {
        return json_string(s);
    }
    size_t size = 4 * strlen(s) + 1;
    char *escaped = malloc(size);
    if (escaped == NULL) {
        return json_null();
    }
    line_text_escape(s, escaped, size);
    json_t *j = json_string(escaped);
    free(escaped);
    return j;
}
