/* Every status number, name and text kiln prints is part of its contract with users (scripts
 * match them). This test lists them all, plus the answers for numbers no table defines, and
 * compares the list with tests/data/status_texts.txt, which was written before the lookups were
 * moved onto one table mechanism. Run with --print to see the list. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcc_status.h"
#include "fcu/fcu.h"
#include "ftcd_frame.h"
#include "kcm_status.h"
#include "kiln/kv.h"
#include "line_errors.h"
#include "sf_msg.h"

/* Numbers on both sides of every table and at the ends of int. */
static const int probes[] = {INT_MIN, -7, -1, 1, 16, 38, 59, 99, 125, 999, 1024, INT_MAX};

static void line(FILE *out, const char *family, long long code, const char *name, const char *text)
{
    fprintf(out, "%s %lld %s | %s\n", family, code, name ? name : "(null)", text ? text : "(null)");
}

static void print_ftcd(FILE *out, uint32_t s)
{
    line(out, "ftcd", s, ftcd_status_name(s), ftcd_status_text(s));
}

static void print_sf(FILE *out, int s)
{
    line(out, "sf", s, sf_status_name(s), sf_status_text(s));
}

static void print_line(FILE *out, int s)
{
    line(out, "line", s, line_error_name(s), line_error_template(s));
}

static void print_fcu(FILE *out, int s)
{
    line(out, "fcu", s, fcu_status_name(s), fcu_status_template(s));
}

static void print_fcc(FILE *out, int s)
{
    line(out, "fcc", s, fcc_status_name((fcc_status_e)s), fcc_status_to_string((fcc_status_e)s));
}

static void print_kcm(FILE *out, int s)
{
    line(out, "kcm", s, kcm_status_name((kcm_status_e)s), kcm_status_to_string((kcm_status_e)s));
}

static void print_kv(FILE *out, int s)
{
    line(out, "kv", s, "-", kiln_kv_status_to_string(s));
}

static void list_all(FILE *out)
{
#define DEFINED(name, code, text) each(out, code);
#define each                      print_ftcd
    FTCD_STATUS_MAP(DEFINED)
#undef each
#define each print_sf
    SF_STATUS_MAP(DEFINED)
#undef each
#define each print_line
    LINE_ERROR_MAP(DEFINED)
#undef each
#define each print_fcu
    FCU_STATUS_MAP(DEFINED)
#undef each
#undef DEFINED
    for (int s = 0; s <= FCC_STATUS_NOT_SUPPORTED; s++) {
        print_fcc(out, s);
    }
    for (int s = 0; s < KCM_MAX_STATUS; s++) {
        print_kcm(out, s);
    }
    for (int s = KILN_KV_INVALID; s <= KILN_KV_OK; s++) {
        print_kv(out, s);
    }
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        int p = probes[i];
        /* ftcd takes the number as it comes off the wire: unsigned 32 bits. */
        print_ftcd(out, (uint32_t)p);
        print_sf(out, p);
        print_line(out, p);
        print_fcu(out, p);
        print_fcc(out, p);
        print_kcm(out, p);
        print_kv(out, p);
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print") == 0) {
        list_all(stdout);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: test_status_texts GOLDEN | --print\n");
        return 2;
    }
    char *got = NULL;
    size_t got_len = 0;
    FILE *mem = open_memstream(&got, &got_len);
    if (mem == NULL) {
        perror("open_memstream");
        return 1;
    }
    list_all(mem);
    fclose(mem);

    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        free(got);
        return 1;
    }
    char *want = malloc(got_len + 2);
    size_t want_len = 0;
    if (want != NULL) {
        want_len = fread(want, 1, got_len + 1, f);
        want[want_len] = '\0';
    }
    fclose(f);
    int rc = 0;
    if (want == NULL || want_len != got_len || memcmp(want, got, got_len) != 0) {
        /* Point at the first line that differs, which is the one a reviewer needs. */
        size_t i = 0, start = 0;
        while (i < got_len && i < want_len && want[i] == got[i]) {
            if (got[i++] == '\n') {
                start = i;
            }
        }
        const char *g = got + start;
        fprintf(stderr, "status texts differ from %s at line:\n  got:  %.*s\n", argv[1],
                (int)strcspn(g, "\n"), g);
        if (want != NULL && start < want_len) {
            fprintf(stderr, "  want: %.*s\n", (int)strcspn(want + start, "\n"), want + start);
        }
        rc = 1;
    }
    free(want);
    free(got);
    return rc;
}
