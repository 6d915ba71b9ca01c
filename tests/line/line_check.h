/* Minimal checking helpers for the line tests: a failed check prints where and exits non-zero. */
#ifndef KILN_LINE_CHECK_H
#define KILN_LINE_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    check_a_, check_b_);                                                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                                \
    do {                                                                                           \
        size_t check_al_ = (alen), check_bl_ = (blen);                                             \
        if (check_al_ != check_bl_ || (check_al_ > 0 && memcmp((a), (b), check_al_) != 0)) {       \
            fprintf(stderr, "%s:%d: bytes differ: %s (%zu) vs %s (%zu)\n", __FILE__, __LINE__, #a, \
                    check_al_, #b, check_bl_);                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Reads a whole file; exits when it cannot. */
static inline uint8_t *check_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

#endif
