#include "kiln_endpoint_name.h"

#include <string.h>

/* Length of the UTF-8 sequence at s (at most n bytes available) and its code point, or 0 when the
 * bytes are not the shortest encoding of a Unicode scalar value. */
static size_t utf8_sequence(const unsigned char *s, size_t n, unsigned long *cp)
{
    static const unsigned long min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    unsigned long v;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        v = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        v = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        v = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0u) != 0x80u)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min_for_len[len] || v > 0x10FFFFul || (v >= 0xD800ul && v <= 0xDFFFul))
        return 0;
    *cp = v;
    return len;
}

static int is_control(unsigned long cp)
{
    return cp < 0x20ul || (cp >= 0x7Ful && cp <= 0x9Ful);
}

int kiln_csv_field_is_formula(const char *s)
{
    return s != NULL && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}

kiln_endpoint_name_verdict kiln_endpoint_name_check(const char *name, size_t len)
{
    if (name == NULL || len == 0)
        return KILN_ENDPOINT_NAME_EMPTY;
    if (len > KILN_ENDPOINT_NAME_MAX)
        return KILN_ENDPOINT_NAME_TOO_LONG;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        unsigned long cp;
        size_t step = utf8_sequence(s + i, len - i, &cp);
        if (step == 0)
            return KILN_ENDPOINT_NAME_NOT_UTF8;
        if (is_control(cp))
            return KILN_ENDPOINT_NAME_CONTROL;
        i += step;
    }
    if (strchr("=+-@", name[0]) != NULL)
        return KILN_ENDPOINT_NAME_FORMULA_PREFIX;
    return KILN_ENDPOINT_NAME_OK;
}

kiln_endpoint_name_verdict kiln_endpoint_name_check_str(const char *name)
{
    return kiln_endpoint_name_check(name, name ? strlen(name) : 0);
}

const char *kiln_endpoint_name_verdict_text(kiln_endpoint_name_verdict v)
{
    switch (v) {
    case KILN_ENDPOINT_NAME_OK:
        return "";
    case KILN_ENDPOINT_NAME_EMPTY:
        return "is empty";
    case KILN_ENDPOINT_NAME_TOO_LONG:
        return "is longer than 64 bytes";
    case KILN_ENDPOINT_NAME_NOT_UTF8:
        return "is not valid UTF-8";
    case KILN_ENDPOINT_NAME_CONTROL:
        return "contains a control character";
    case KILN_ENDPOINT_NAME_FORMULA_PREFIX:
        return "starts with = + - or @ (read as a formula by spreadsheets)";
    }
    return "is not a valid endpoint name";
}
