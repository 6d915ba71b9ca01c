/* kiln_status: every module code maps into its own range and back, kiln_status_name() and
 * kiln_strerror() give each module's names and texts (which test_status_texts pins through the
 * modules' own lookups), and numbers outside every range get a clear unknown answer.
 *
 *   test_kiln_status --check   the properties, over every code of every module's list
 *   test_kiln_status --print   the numbering (kiln number, module, code, name, text), which
 *                              ctest compares with tests/data/kiln_status.txt */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fcc_status.h"
#include "fcu/fcu.h"
#include "ftcd_frame.h"
#include "kcm_status.h"
#include "kiln/kv.h"
#include "kiln/status.h"
#include "kiln_pki.h"
#include "line_errors.h"
#include "sf_msg.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* The ranges kiln/status.h documents, written out again so that moving one is seen. */
typedef struct range {
    kiln_module module;
    const char *label;
    kiln_status first;
    kiln_status last;
    int32_t origin; /* kiln_status = origin + sign * code */
    int32_t sign;
} range;

static const range ranges[] = {
    {KILN_MODULE_FCU, "FCU", 1, 999, 0, 1},          {KILN_MODULE_LINE, "LINE", 1000, 1999, 0, 1},
    {KILN_MODULE_FCC, "FCC", 2001, 2999, 2000, 1},   {KILN_MODULE_KCM, "KCM", 3001, 3999, 3000, 1},
    {KILN_MODULE_FTCD, "FTCD", 4001, 4999, 4000, 1}, {KILN_MODULE_SF, "SF", 5001, 5999, 5000, 1},
    {KILN_MODULE_KV, "KV", 6001, 6999, 6000, -1},    {KILN_MODULE_PKI, "PKI", 8001, 8999, 8000, 1},
};
#define RANGE_COUNT (sizeof(ranges) / sizeof(ranges[0]))

static const range *documented_range(kiln_module m)
{
    for (size_t i = 0; i < RANGE_COUNT; i++) {
        if (ranges[i].module == m) {
            return &ranges[i];
        }
    }
    return NULL;
}

/* One code of a module's list: what kiln_status must make of it. own_name and own_text are the
 * module's historical lookups (NULL where the module has none). */
static void check_code(kiln_module m, int32_t code, const char *name, const char *text,
                       const char *own_name, const char *own_text)
{
    kiln_status s = kiln_status_from(m, code);
    const range *r = documented_range(m);
    if (code == 0) {
        CHECK(s == KILN_OK, "%s success maps to %" PRId32, r->label, s);
        return;
    }
    CHECK(s == r->origin + r->sign * code, "%s %" PRId32 " maps to %" PRId32, r->label, code, s);
    CHECK(kiln_status_module(s) == m, "%" PRId32 " is not %s's", s, r->label);
    CHECK(kiln_status_code(s) == code, "%" PRId32 " gives back %" PRId32 ", not %" PRId32, s,
          kiln_status_code(s), code);
    CHECK(strcmp(kiln_status_name(s), name) == 0, "%" PRId32 " is %s, not %s", s,
          kiln_status_name(s), name);
    CHECK(strcmp(kiln_strerror(s), text) == 0, "%" PRId32 " says '%s'", s, kiln_strerror(s));
    /* The module's own name is the kiln name, or its tail without the module's prefix. */
    if (own_name != NULL) {
        size_t n = strlen(name), o = strlen(own_name);
        CHECK(o <= n && strcmp(name + n - o, own_name) == 0, "%s is not the tail of %s", own_name,
              name);
    }
    if (own_text != NULL) {
        CHECK(strcmp(own_text, text) == 0, "%s %" PRId32 ": '%s' vs '%s'", r->label, code, own_text,
              text);
    }
}

static void check_lists(void)
{
#define FULL(id, code, text) check_code(module, code, #id, text, own_name(code), own_text(code));
#define PREFIXED(id, code, text)                                                                   \
    check_code(module, code, prefix #id, text, own_name(code), own_text(code));
#define module      KILN_MODULE_FCC
#define own_name(c) fcc_status_name((fcc_status_e)(c))
#define own_text(c) fcc_status_to_string((fcc_status_e)(c))
    FCC_STATUS_MAP(FULL)
#undef module
#undef own_name
#undef own_text
#define module      KILN_MODULE_KCM
#define own_name(c) kcm_status_name((kcm_status_e)(c))
#define own_text(c) kcm_status_to_string((kcm_status_e)(c))
    KCM_STATUS_MAP(FULL)
#undef module
#undef own_name
#undef own_text
#define module      KILN_MODULE_KV
#define own_name(c) NULL
#define own_text(c) kiln_kv_status_to_string(c)
    KILN_KV_STATUS_MAP(FULL)
#undef module
#undef own_name
#undef own_text
#define module      KILN_MODULE_FTCD
#define prefix      "FTCD_STATUS_"
#define own_name(c) ftcd_status_name((uint32_t)(c))
#define own_text(c) ftcd_status_text((uint32_t)(c))
    FTCD_STATUS_MAP(PREFIXED)
#undef module
#undef prefix
#undef own_name
#undef own_text
#define module      KILN_MODULE_SF
#define prefix      "SF_"
#define own_name(c) sf_status_name(c)
#define own_text(c) sf_status_text(c)
    SF_STATUS_MAP(PREFIXED)
#undef module
#undef prefix
#undef own_name
#undef own_text
#define module      KILN_MODULE_FCU
#define prefix      "FCU_STATUS_"
#define own_name(c) fcu_status_name(c)
#define own_text(c) fcu_status_template(c)
    FCU_STATUS_MAP(PREFIXED)
#undef module
#undef prefix
#undef own_name
#undef own_text
#define module      KILN_MODULE_LINE
#define prefix      "LINE_E_"
#define own_name(c) line_error_name(c)
#define own_text(c) line_error_template(c)
    LINE_ERROR_MAP(PREFIXED)
#undef module
#undef prefix
#undef own_name
#undef own_text
#define module      KILN_MODULE_PKI
#define prefix      "KILN_PKI_"
#define own_name(c) kiln_pki_status_name(c)
#define own_text(c) kiln_pki_strerror(c)
    KILN_PKI_STATUS_MAP(PREFIXED)
#undef module
#undef prefix
#undef own_name
#undef own_text
#undef FULL
#undef PREFIXED
}

/* Every number from below the lowest range to above the highest, and the ends of int32_t:
 * each belongs to at most one module and comes back from its code; the others get the unknown
 * answer, with the number in kiln_strerror_r(). */
static void check_number(kiln_status s)
{
    kiln_module m = kiln_status_module(s);
    char buf[64], want[64];
    CHECK(kiln_status_name(s) != NULL && kiln_strerror(s) != NULL, "NULL for %" PRId32, s);
    kiln_strerror_r(s, buf, sizeof(buf));
    if (m != KILN_MODULE_NONE) {
        const range *r = documented_range(m);
        CHECK(s >= r->first && s <= r->last, "%" PRId32 " is not in %s's range", s, r->label);
        CHECK(kiln_status_from(m, kiln_status_code(s)) == s, "%" PRId32 " does not come back", s);
        CHECK(strcmp(kiln_module_name(m), r->label) == 0, "%s", kiln_module_name(m));
        return;
    }
    for (size_t i = 0; i < RANGE_COUNT; i++) {
        CHECK(s < ranges[i].first || s > ranges[i].last, "%" PRId32 " lost by %s", s,
              ranges[i].label);
    }
    CHECK(kiln_status_code(s) == s, "%" PRId32, s);
    if (s == KILN_OK || s == KILN_STATUS_UNMAPPED) {
        return;
    }
    CHECK(strcmp(kiln_status_name(s), "KILN_STATUS_UNKNOWN") == 0, "%s", kiln_status_name(s));
    CHECK(strcmp(kiln_strerror(s), "unknown status") == 0, "%s", kiln_strerror(s));
    snprintf(want, sizeof(want), "unknown status %" PRId32, s);
    CHECK(strcmp(buf, want) == 0, "'%s', not '%s'", buf, want);
}

static void check_numbers(void)
{
    static const kiln_status ends[] = {INT32_MIN, INT32_MIN + 1, -1000000, 1000000, INT32_MAX};
    for (kiln_status s = -1000; s <= 9000; s++) {
        check_number(s);
    }
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        check_number(ends[i]);
    }
}

/* Codes with no room in their module's range, and numbers a module does not define. */
static void check_edges(void)
{
    char buf[64];
    CHECK(kiln_status_from(KILN_MODULE_FCC, FCC_MAX_STATUS) == KILN_STATUS_UNMAPPED, "FCC max");
    CHECK(kiln_status_from(KILN_MODULE_FCC, -1) == KILN_STATUS_UNMAPPED, "FCC -1");
    CHECK(kiln_status_from(KILN_MODULE_FCC, 1000) == KILN_STATUS_UNMAPPED, "FCC 1000");
    CHECK(kiln_status_from(KILN_MODULE_KV, 1) == KILN_STATUS_UNMAPPED, "KV 1");
    CHECK(kiln_status_from(KILN_MODULE_KV, -1000) == KILN_STATUS_UNMAPPED, "KV -1000");
    CHECK(kiln_status_from(KILN_MODULE_FCU, 1000) == KILN_STATUS_UNMAPPED, "FCU 1000");
    CHECK(kiln_status_from(KILN_MODULE_LINE, 999) == KILN_STATUS_UNMAPPED, "LINE 999");
    CHECK(kiln_status_from(KILN_MODULE_LINE, 2000) == KILN_STATUS_UNMAPPED, "LINE 2000");
    CHECK(kiln_status_from(KILN_MODULE_SF, INT32_MAX) == KILN_STATUS_UNMAPPED, "SF max");
    CHECK(kiln_status_from(KILN_MODULE_KV, INT32_MIN) == KILN_STATUS_UNMAPPED, "KV min");
    CHECK(kiln_status_from(KILN_MODULE_NONE, 5) == KILN_STATUS_UNMAPPED, "NONE 5");
    CHECK(kiln_status_from((kiln_module)99, 5) == KILN_STATUS_UNMAPPED, "module 99");
    CHECK(kiln_status_from_ftcd(0xffffffffu) == KILN_STATUS_UNMAPPED, "FTCD 0xffffffff");
    CHECK(kiln_status_from_ftcd(0x80000004u) == KILN_STATUS_UNMAPPED, "FTCD 0x80000004");
    CHECK(kiln_status_from_ftcd(FTCD_STATUS_NETWORK_TIMEOUT) == 4012, "FTCD 12");
    CHECK(strcmp(kiln_module_name((kiln_module)99), "KILN") == 0, "module 99 name");

    kiln_status fcc99 = kiln_status_from(KILN_MODULE_FCC, 99);
    CHECK(strcmp(kiln_status_name(fcc99), "FCC_STATUS_UNKNOWN") == 0, "%s",
          kiln_status_name(fcc99));
    CHECK(strcmp(kiln_strerror(fcc99), "unknown FCC status") == 0, "%s", kiln_strerror(fcc99));
    CHECK(strcmp(kiln_strerror_r(fcc99, buf, sizeof(buf)), "unknown FCC status 99") == 0, "%s",
          buf);
    kiln_status kv7 = kiln_status_from(KILN_MODULE_KV, -7);
    CHECK(strcmp(kiln_strerror_r(kv7, buf, sizeof(buf)), "unknown KV status -7") == 0, "%s", buf);
    CHECK(strcmp(kiln_status_name(kiln_status_from(KILN_MODULE_SF, 50)), "SF_UNKNOWN") == 0, "SF");
    CHECK(strcmp(kiln_status_name(kiln_status_from(KILN_MODULE_PKI, 99)), "KILN_PKI_UNKNOWN") == 0,
          "PKI");
    CHECK(kiln_status_from(KILN_MODULE_PKI, 1000) == KILN_STATUS_UNMAPPED, "PKI 1000");

    /* A defined status gets its text alone; a short buffer is cut and still terminated. */
    kiln_status timeout = kiln_status_from(KILN_MODULE_LINE, LINE_E_TOKEN_TIMEOUT);
    CHECK(strcmp(kiln_strerror_r(timeout, buf, sizeof(buf)), line_error_template(1003)) == 0, "%s",
          buf);
    CHECK(strcmp(kiln_strerror_r(timeout, buf, 8), "Timeout") == 0, "'%s'", buf);
    CHECK(strcmp(kiln_strerror_r(7777, buf, 16), "unknown status ") == 0, "'%s'", buf);
    buf[0] = 'x';
    CHECK(kiln_strerror_r(7777, buf, 0) == buf && buf[0] == 'x', "size 0 writes nothing");
    CHECK(strcmp(kiln_strerror_r(7777, buf, 1), "") == 0, "size 1");
    CHECK(strcmp(kiln_status_name(KILN_OK), "KILN_OK") == 0, "%s", kiln_status_name(KILN_OK));
    CHECK(strcmp(kiln_status_name(KILN_STATUS_UNMAPPED), "KILN_STATUS_UNMAPPED") == 0, "unmapped");
}

static void print_code(kiln_module m, int32_t code)
{
    kiln_status s = kiln_status_from(m, code);
    printf("%" PRId32 " %s %" PRId32 " %s | %s\n", s, kiln_module_name(kiln_status_module(s)),
           kiln_status_code(s), kiln_status_name(s), kiln_strerror(s));
}

static void print_all(void)
{
#define PRINT(id, code, text) print_code(module, code);
#define module                KILN_MODULE_FCU
    FCU_STATUS_MAP(PRINT)
#undef module
#define module KILN_MODULE_LINE
    LINE_ERROR_MAP(PRINT)
#undef module
#define module KILN_MODULE_FCC
    FCC_STATUS_MAP(PRINT)
#undef module
#define module KILN_MODULE_KCM
    KCM_STATUS_MAP(PRINT)
#undef module
#define module KILN_MODULE_FTCD
    FTCD_STATUS_MAP(PRINT)
#undef module
#define module KILN_MODULE_SF
    SF_STATUS_MAP(PRINT)
#undef module
#define module KILN_MODULE_KV
    KILN_KV_STATUS_MAP(PRINT)
#undef module
#define module KILN_MODULE_PKI
    KILN_PKI_STATUS_MAP(PRINT)
#undef module
#undef PRINT
    /* Each range's ends and the numbers around them, undefined ones included. */
    static const kiln_status probes[] = {INT32_MIN, -2,   -1,   1,    999,  1999,     2000, 2099,
                                         2999,      3000, 3999, 4000, 4999, 5000,     5999, 6000,
                                         6999,      7000, 8000, 8999, 9000, INT32_MAX};
    char buf[64];
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        kiln_status s = probes[i];
        printf("%" PRId32 " %s %" PRId32 " %s | %s\n", s, kiln_module_name(kiln_status_module(s)),
               kiln_status_code(s), kiln_status_name(s), kiln_strerror_r(s, buf, sizeof(buf)));
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print") == 0) {
        print_all();
        return 0;
    }
    if (argc != 2 || strcmp(argv[1], "--check") != 0) {
        fprintf(stderr, "usage: test_kiln_status --check | --print\n");
        return 2;
    }
    check_lists();
    check_numbers();
    check_edges();
    if (failures != 0) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    return 0;
}
