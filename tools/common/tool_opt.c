#include "tool_opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kiln_version.h"

void tool_opt_begin(void)
{
    optind = 0; /* 0, not 1: glibc then also forgets the state of an earlier scan */
    opterr = 0;
}

void tool_opt_problem(int c, char **argv, char *buf, size_t size)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') {
        if (optopt != 0) {
            snprintf(buf, size, "option -%c needs a value", optopt);
        } else {
            snprintf(buf, size, "option %s needs a value", arg);
        }
    } else if (optopt != 0) {
        snprintf(buf, size, "unknown option -%c", optopt);
    } else {
        snprintf(buf, size, "unknown option %s", arg);
    }
}

bool tool_opt_uint(const char *text, unsigned long max, unsigned long *out)
{
    if (text == NULL || *text < '0' || *text > '9') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return false;
    }
    *out = v;
    return true;
}

void tool_opt_version(const char *program)
{
    printf("%s (kiln) %s\n", program, KILN_VERSION_STRING);
}
