/* The endpoint-name rule against its data file (tests/data/endpoint_names.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_endpoint_name.h"

static const char *const verdict_names[] = {"OK",       "EMPTY",   "TOO_LONG",
                                            "NOT_UTF8", "CONTROL", "FORMULA_PREFIX"};

static int unhex(const char *hex, char *out, size_t cap, size_t *len)
{
    size_t n = strlen(hex);
    if (strcmp(hex, "-") == 0) {
        *len = 0;
        return 0;
    }
    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (char)v;
    }
    *len = n / 2;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s endpoint_names.txt\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    char line[1024];
    int cases = 0, failures = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char want[32], hex[600];
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char name[300];
        size_t len;
        if (sscanf(line, "%31s %599s", want, hex) != 2 || unhex(hex, name, sizeof name, &len)) {
            fprintf(stderr, "line %d: malformed case\n", lineno);
            return 2;
        }
        kiln_endpoint_name_verdict got = kiln_endpoint_name_check(name, len);
        cases++;
        if (strcmp(verdict_names[got], want) != 0) {
            fprintf(stderr, "line %d: %s: want %s, got %s (%s)\n", lineno, hex, want,
                    verdict_names[got], kiln_endpoint_name_verdict_text(got));
            failures++;
        }
        if ((got == KILN_ENDPOINT_NAME_OK) != (kiln_endpoint_name_verdict_text(got)[0] == '\0')) {
            fprintf(stderr, "line %d: verdict text does not match the verdict\n", lineno);
            failures++;
        }
    }
    fclose(f);
    /* The CSV formula guard covers every field, not only names. */
    const char *formula[] = {"=1", "+1", "-1", "@x", "\tx", "\rx"};
    const char *plain[] = {"", "a=1", "1-2", "ep-1"};
    for (size_t i = 0; i < sizeof formula / sizeof *formula; i++)
        failures += !kiln_csv_field_is_formula(formula[i]);
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        failures += kiln_csv_field_is_formula(plain[i]);
    failures += kiln_csv_field_is_formula(NULL);
    if (cases < 20) {
        fprintf(stderr, "only %d cases read\n", cases);
        return 1;
    }
    printf("endpoint_name: %d cases, %d failures\n", cases, failures);
    return failures != 0;
}
