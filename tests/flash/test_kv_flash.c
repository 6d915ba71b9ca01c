/* Functional tests of the flash key store: kv.h semantics, limits, garbage collection, wear,
 * bit flips, and the Linux file flash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32.h"
#include "flash_emu.h"
#include "kiln/flash_file.h"
#include "kiln/kv_flash.h"

#include "tally_check.h"

static uint8_t work[256];

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    size_t i;
    uint32_t x = seed * 2654435761u + 12345u;
    for (i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

static int put1(kiln_kv_flash *kv, const char *key, const void *value, size_t len)
{
    kiln_kv_op op = {key, (const uint8_t *)value, len};
    return kiln_kv_flash_commit(kv, &op, 1);
}

static int del1(kiln_kv_flash *kv, const char *key)
{
    kiln_kv_op op = {key, NULL, 0};
    return kiln_kv_flash_commit(kv, &op, 1);
}

/* Checks key holds exactly value (or is absent when value == NULL). */
static void expect_value(kiln_kv_flash *kv, const char *key, const uint8_t *value, size_t len)
{
    uint8_t buf[2048];
    size_t got = 0;
    int rc = kiln_kv_flash_get(kv, key, buf, sizeof(buf), &got);
    if (value == NULL) {
        CHECK_EQ(rc, KILN_KV_NOT_FOUND);
        return;
    }
    CHECK_EQ(rc, KILN_KV_OK);
    CHECK_EQ(got, len);
    CHECK(rc != KILN_KV_OK || memcmp(buf, value, len) == 0);
}

typedef struct listing {
    char keys[64][KILN_KV_MAX_KEY];
    size_t sizes[64];
    int n;
    int stop_after;
} listing;

static int list_cb(void *arg, const char *key, size_t value_len)
{
    listing *l = arg;
    if (l->n < 64) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
        l->sizes[l->n] = value_len;
    }
    l->n++;
    return l->stop_after > 0 && l->n >= l->stop_after;
}

static int listing_has(const listing *l, const char *key, size_t size)
{
    int i;
    for (i = 0; i < l->n && i < 64; i++) {
        if (strcmp(l->keys[i], key) == 0) {
            return l->sizes[i] == size;
        }
    }
    return 0;
}

static void test_crc_and_texts(void)
{
    int s;
    CHECK_EQ(kiln_crc32_update(0, "123456789", 9), 0xCBF43926u);
    CHECK_EQ(kiln_crc32_update(kiln_crc32_update(0, "1234", 4), "56789", 5), 0xCBF43926u);
    for (s = KILN_FLASH_INVALID; s <= KILN_FLASH_OK; s++) {
        CHECK(strcmp(kiln_flash_status_to_string(s), "unknown flash status") != 0);
    }
    CHECK(strcmp(kiln_flash_status_to_string(-100), "unknown flash status") == 0);
}

static void test_basic(uint32_t program_size)
{
    flash_emu emu;
    kiln_kv_flash kv;
    kiln_kv_backend be;
    uint8_t a[300], b[1500], small[4];
    size_t len = 0;
    listing l;

    CHECK_EQ(flash_emu_init(&emu, program_size, 4096, 8), 0);
    fill_pattern(a, sizeof(a), 1);
    fill_pattern(b, sizeof(b), 2);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    CHECK_EQ(emu.ops, 0); /* mounting never writes */
    kiln_kv_flash_backend(&kv, &be);
    CHECK_EQ(be.get(be.ctx, "nothing", NULL, 0, &len), KILN_KV_NOT_FOUND);
    {
        kiln_kv_op ops[3] = {{"alpha", a, sizeof(a)}, {"beta", b, sizeof(b)}, {"gone", NULL, 0}};
        CHECK_EQ(be.commit(be.ctx, ops, 3), KILN_KV_OK);
    }
    CHECK_EQ(be.commit(be.ctx, NULL, 0), KILN_KV_OK);
    expect_value(&kv, "alpha", a, sizeof(a));
    expect_value(&kv, "beta", b, sizeof(b));
    CHECK_EQ(kiln_kv_flash_get(&kv, "alpha", NULL, 0, &len), KILN_KV_OK);
    CHECK_EQ(len, sizeof(a));
    len = 0;
    CHECK_EQ(kiln_kv_flash_get(&kv, "beta", small, sizeof(small), &len), KILN_KV_TOO_SMALL);
    CHECK_EQ(len, sizeof(b));
    /* empty value is a value, not a delete */
    CHECK_EQ(put1(&kv, "empty", a, 0), KILN_KV_OK);
    CHECK_EQ(kiln_kv_flash_get(&kv, "empty", small, sizeof(small), &len), KILN_KV_OK);
    CHECK_EQ(len, 0);

    /* overwrite, delete and the later op winning inside one commit */
    {
        kiln_kv_op ops[3] = {{"alpha", b, 10}, {"beta", NULL, 0}, {"alpha", b, 20}};
        CHECK_EQ(kiln_kv_flash_commit(&kv, ops, 3), KILN_KV_OK);
    }
    expect_value(&kv, "alpha", b, 20);
    expect_value(&kv, "beta", NULL, 0);
    memset(&l, 0, sizeof(l));
    CHECK_EQ(be.list(be.ctx, list_cb, &l), KILN_KV_OK);
    CHECK_EQ(l.n, 2);
    CHECK(listing_has(&l, "alpha", 20));
    CHECK(listing_has(&l, "empty", 0));
    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    CHECK_EQ(kiln_kv_flash_list(&kv, list_cb, &l), KILN_KV_OK);
    CHECK_EQ(l.n, 1);

    /* state survives a remount (a reboot: fresh RAM) */
    memset(&kv, 0xa5, sizeof(kv));
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    expect_value(&kv, "alpha", b, 20);
    expect_value(&kv, "beta", NULL, 0);

    /* wipe removes everything, atomically, and the store stays usable */
    CHECK_EQ(be.wipe(be.ctx), KILN_KV_OK);
    kiln_kv_flash_backend(&kv, &be);
    expect_value(&kv, "alpha", NULL, 0);
    memset(&l, 0, sizeof(l));
    CHECK_EQ(kiln_kv_flash_list(&kv, list_cb, &l), KILN_KV_OK);
    CHECK_EQ(l.n, 0);
    CHECK_EQ(put1(&kv, "after-wipe", a, 5), KILN_KV_OK);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    expect_value(&kv, "after-wipe", a, 5);
    expect_value(&kv, "empty", NULL, 0);
    flash_emu_free(&emu);
}

static void test_invalid(void)
{
    flash_emu emu;
    kiln_kv_flash kv;
    kiln_kv_flash_stats st;
    static uint8_t big[4096];
    char long_key[KILN_KV_MAX_KEY + 1];
    size_t len;

    CHECK_EQ(flash_emu_init(&emu, 4, 4096, 8), 0);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, 16), KILN_KV_INVALID);
    CHECK_EQ(kiln_kv_flash_mount(&kv, NULL, work, sizeof(work)), KILN_KV_INVALID);
    emu.flash.geometry.program_size = 3;
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_INVALID);
    emu.flash.geometry.program_size = 4;
    emu.flash.geometry.sector_count = 3;
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_INVALID);
    emu.flash.geometry.sector_count = 8;
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);

    CHECK_EQ(put1(&kv, "", big, 1), KILN_KV_INVALID);
    CHECK_EQ(put1(&kv, "bad key", big, 1), KILN_KV_INVALID);
    CHECK_EQ(put1(&kv, "bad/key", big, 1), KILN_KV_INVALID);
    memset(long_key, 'k', sizeof(long_key));
    long_key[KILN_KV_MAX_KEY - 1] = '\0'; /* 111 characters: allowed */
    CHECK_EQ(put1(&kv, long_key, big, 1), KILN_KV_OK);
    long_key[KILN_KV_MAX_KEY - 1] = 'k';
    long_key[KILN_KV_MAX_KEY] = '\0'; /* 112: too long */
    CHECK_EQ(put1(&kv, long_key, big, 1), KILN_KV_INVALID);
    CHECK_EQ(kiln_kv_flash_get(&kv, "bad key", NULL, 0, &len), KILN_KV_INVALID);
    CHECK_EQ(kiln_kv_flash_get(&kv, "ok", NULL, 0, NULL), KILN_KV_INVALID);
    CHECK_EQ(kiln_kv_flash_list(&kv, NULL, NULL), KILN_KV_INVALID);

    /* a value larger than a sector can hold is refused, nothing is written */
    CHECK_EQ(kiln_kv_flash_stats_get(&kv, &st), KILN_KV_OK);
    {
        uint64_t ops = emu.ops;
        CHECK_EQ(put1(&kv, "huge", big, sizeof(big)), KILN_KV_INVALID);
        CHECK_EQ(emu.ops, ops);
    }
    CHECK_EQ(put1(&kv, "largest", big, st.max_value_size), KILN_KV_OK);
    CHECK_EQ(kiln_kv_flash_get(&kv, "largest", big, sizeof(big), &len), KILN_KV_OK);
    CHECK_EQ(len, st.max_value_size);
    /* a bad op in the middle of a commit rejects the whole commit */
    {
        kiln_kv_op ops[2] = {{"fine", big, 3}, {"not fine", big, 3}};
        CHECK_EQ(kiln_kv_flash_commit(&kv, ops, 2), KILN_KV_INVALID);
        expect_value(&kv, "fine", NULL, 0);
    }
    flash_emu_free(&emu);
}

static void test_no_space(void)
{
    flash_emu emu;
    kiln_kv_flash kv;
    uint8_t v[1000];
    char key[32];
    int i, rc = KILN_KV_OK, stored = 0;

    CHECK_EQ(flash_emu_init(&emu, 8, 4096, 6), 0);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        fill_pattern(v, sizeof(v), (uint32_t)i);
        rc = put1(&kv, key, v, sizeof(v));
        if (rc != KILN_KV_OK) {
            break;
        }
        stored++;
    }
    CHECK_EQ(rc, KILN_KV_NO_SPACE);
    CHECK(stored >= 8); /* 4 usable sectors of 4 KiB with 1 KiB values */
    /* everything stored before the refusal is still there, also after a remount */
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    for (i = 0; i < stored; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        fill_pattern(v, sizeof(v), (uint32_t)i);
        expect_value(&kv, key, v, sizeof(v));
    }
    /* deleting makes room again */
    for (i = 0; i < stored; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK_EQ(del1(&kv, key), KILN_KV_OK);
    }
    fill_pattern(v, sizeof(v), 999);
    CHECK_EQ(put1(&kv, "again", v, sizeof(v)), KILN_KV_OK);
    CHECK_EQ(put1(&kv, "again2", v, sizeof(v)), KILN_KV_OK);
    expect_value(&kv, "again", v, sizeof(v));
    flash_emu_free(&emu);
}

/* Churn on a few keys next to static items: garbage collection must run many times, keep the
 * static items, and spread erases over all sectors. */
static void test_gc_and_wear(uint32_t program_size)
{
    flash_emu emu;
    kiln_kv_flash kv;
    kiln_kv_flash_stats st;
    uint8_t v[700], s0[900];
    char key[32];
    uint64_t min_e = UINT64_MAX, max_e = 0;
    int i;
    uint32_t sct;

    CHECK_EQ(flash_emu_init(&emu, program_size, 4096, 12), 0);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    for (i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "static%d", i);
        fill_pattern(s0, sizeof(s0), 1000u + (uint32_t)i);
        CHECK_EQ(put1(&kv, key, s0, sizeof(s0)), KILN_KV_OK);
    }
    for (i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "hot%d", i % 5);
        fill_pattern(v, sizeof(v), (uint32_t)i);
        if (put1(&kv, key, v, 100 + (size_t)(i % 600)) != KILN_KV_OK) {
            CHECK(!"churn commit failed");
            break;
        }
    }
    CHECK_EQ(kiln_kv_flash_stats_get(&kv, &st), KILN_KV_OK);
    CHECK(st.gc_runs > 100);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    for (i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "static%d", i);
        fill_pattern(s0, sizeof(s0), 1000u + (uint32_t)i);
        expect_value(&kv, key, s0, sizeof(s0));
    }
    for (i = 1995; i < 2000; i++) {
        snprintf(key, sizeof(key), "hot%d", i % 5);
        fill_pattern(v, sizeof(v), (uint32_t)i);
        expect_value(&kv, key, v, 100 + (size_t)(i % 600));
    }
    for (sct = 0; sct < 12; sct++) {
        if (emu.erases[sct] < min_e) {
            min_e = emu.erases[sct];
        }
        if (emu.erases[sct] > max_e) {
            max_e = emu.erases[sct];
        }
    }
    printf("wear P=%u: erases per sector min %llu max %llu, %u collections\n", program_size,
           (unsigned long long)min_e, (unsigned long long)max_e, st.gc_runs);
    CHECK(min_e > 0);
    CHECK(max_e <= min_e + 2);
    flash_emu_free(&emu);
}

/* A flipped bit must never come back as data: the value read is KILN_KV_CORRUPT, absent, or
 * one that was really committed for that key. Flips inside a live value or key are caught by
 * the record CRC and must give KILN_KV_CORRUPT exactly. */
static void test_bit_flips(void)
{
    enum { NKEYS = 12, VERSIONS = 3 };
    static uint8_t values[NKEYS][VERSIONS][400];
    flash_emu emu;
    kiln_kv_flash kv;
    char key[32];
    int k, ver, trial, targeted = 0, corrupt_seen = 0;
    uint8_t *pristine;

    CHECK_EQ(flash_emu_init(&emu, 4, 4096, 8), 0);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
    for (ver = 0; ver < VERSIONS; ver++) {
        for (k = 0; k < NKEYS; k++) {
            snprintf(key, sizeof(key), "item-%d", k);
            fill_pattern(values[k][ver], sizeof(values[k][ver]), (uint32_t)(k * 10 + ver));
            CHECK_EQ(put1(&kv, key, values[k][ver], 50 + (size_t)k * 20), KILN_KV_OK);
        }
    }
    pristine = malloc(emu.size);
    memcpy(pristine, emu.mem, emu.size);

    /* targeted: flip a bit inside the current value of each key */
    for (k = 0; k < NKEYS; k++) {
        size_t vlen = 50 + (size_t)k * 20, off;
        uint8_t buf[512];
        size_t got;
        int rc;
        for (off = 0; off + vlen <= emu.size; off++) {
            if (memcmp(emu.mem + off, values[k][VERSIONS - 1], vlen) == 0) {
                break;
            }
        }
        CHECK(off + vlen <= emu.size);
        if (off + vlen > emu.size) {
            continue;
        }
        flash_emu_flip_bit(&emu, off + (size_t)k * 3 % vlen, (unsigned)k);
        CHECK_EQ(kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)), KILN_KV_OK);
        snprintf(key, sizeof(key), "item-%d", k);
        rc = kiln_kv_flash_get(&kv, key, buf, sizeof(buf), &got);
        CHECK_EQ(rc, KILN_KV_CORRUPT);
        targeted++;
        memcpy(emu.mem, pristine, emu.size);
    }
    CHECK_EQ(targeted, NKEYS);

    /* random flips anywhere in the written area */
    for (trial = 0; trial < 3000; trial++) {
        size_t addr = ((size_t)trial * 7919u + 13u) % emu.size;
        if (pristine[addr] == KILN_FLASH_ERASED_VALUE && trial % 4 != 0) {
            continue;
        }
        flash_emu_flip_bit(&emu, addr, (unsigned)trial);
        if (kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)) != KILN_KV_OK) {
            CHECK(!"mount failed on a flipped bit");
        }
        for (k = 0; k < NKEYS; k++) {
            uint8_t buf[512];
            size_t got = 0;
            int rc, ok = 0;
            snprintf(key, sizeof(key), "item-%d", k);
            rc = kiln_kv_flash_get(&kv, key, buf, sizeof(buf), &got);
            if (rc == KILN_KV_CORRUPT) {
                corrupt_seen++;
                ok = 1;
            } else if (rc == KILN_KV_NOT_FOUND) {
                ok = 1;
            } else if (rc == KILN_KV_OK) {
                for (ver = 0; ver < VERSIONS; ver++) {
                    ok |= got == 50 + (size_t)k * 20 && memcmp(buf, values[k][ver], got) == 0;
                }
            }
            if (!ok) {
                fprintf(stderr, "flip at %zu bit %d: key %d gave rc %d len %zu\n", addr, trial & 7,
                        k, rc, got);
                failures++;
            }
        }
        memcpy(emu.mem, pristine, emu.size);
    }
    CHECK(corrupt_seen > 0);
    free(pristine);
    flash_emu_free(&emu);
}

static void test_flash_file(void)
{
    char path[] = "/tmp/kiln-flash-XXXXXX";
    kiln_flash_file ff;
    kiln_kv_flash kv;
    struct stat st;
    uint8_t v[600], raw[8];
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    CHECK_EQ(kiln_flash_file_open(&ff, path, 4096, 8, 4, 0), KILN_FLASH_OK);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, 4096 * 8);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_EQ(ff.flash.read(ff.flash.ctx, 100, raw, 4), KILN_FLASH_OK);
    CHECK_EQ(raw[0] & raw[1] & raw[2] & raw[3], 0xff);
    /* NOR semantics: programming clears bits only */
    raw[0] = 0x0f;
    raw[1] = raw[2] = raw[3] = 0xff;
    CHECK_EQ(ff.flash.program(ff.flash.ctx, 4 * 4095, raw, 4), KILN_FLASH_OK);
    raw[0] = 0xf3;
    CHECK_EQ(ff.flash.program(ff.flash.ctx, 4 * 4095, raw, 4), KILN_FLASH_OK);
    CHECK_EQ(ff.flash.read(ff.flash.ctx, 4 * 4095, raw, 1), KILN_FLASH_OK);
    CHECK_EQ(raw[0], 0x03);
    CHECK_EQ(ff.flash.program(ff.flash.ctx, 2, raw, 4), KILN_FLASH_MISALIGNED);
    CHECK_EQ(ff.flash.read(ff.flash.ctx, 4096 * 8 - 2, raw, 4), KILN_FLASH_OUT_OF_RANGE);
    CHECK_EQ(ff.flash.erase(ff.flash.ctx, 8), KILN_FLASH_OUT_OF_RANGE);
    CHECK_EQ(ff.flash.erase(ff.flash.ctx, 3), KILN_FLASH_OK);
    CHECK_EQ(ff.flash.read(ff.flash.ctx, 4 * 4095, raw, 1), KILN_FLASH_OK);
    CHECK_EQ(raw[0], 0xff);

    CHECK_EQ(kiln_kv_flash_mount(&kv, &ff.flash, work, sizeof(work)), KILN_KV_OK);
    fill_pattern(v, sizeof(v), 77);
    CHECK_EQ(put1(&kv, "persisted", v, sizeof(v)), KILN_KV_OK);
    kiln_flash_file_close(&ff);

    /* a restart of the program: reopen and find the state */
    CHECK_EQ(kiln_flash_file_open(&ff, path, 4096, 8, 4, KILN_FLASH_FILE_SYNC), KILN_FLASH_OK);
    CHECK_EQ(kiln_kv_flash_mount(&kv, &ff.flash, work, sizeof(work)), KILN_KV_OK);
    expect_value(&kv, "persisted", v, sizeof(v));
    CHECK_EQ(del1(&kv, "persisted"), KILN_KV_OK);
    kiln_flash_file_close(&ff);

    CHECK_EQ(kiln_flash_file_open(&ff, path, 4096, 16, 4, 0), KILN_FLASH_GEOMETRY);
    kiln_flash_file_close(&ff);
    CHECK_EQ(kiln_flash_file_open(&ff, path, 4096, 8, 3, 0), KILN_FLASH_GEOMETRY);
    CHECK_EQ(kiln_flash_file_open(&ff, "/nonexistent-dir/x", 4096, 8, 4, 0), KILN_FLASH_IO);
    CHECK_EQ(kiln_flash_file_open(&ff, NULL, 4096, 8, 4, 0), KILN_FLASH_INVALID);
    unlink(path);
}

int main(void)
{
    static const uint32_t sizes[] = {1, 4, 8, 16, 32};
    size_t i;
    test_crc_and_texts();
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        test_basic(sizes[i]);
        test_gc_and_wear(sizes[i]);
    }
    test_invalid();
    test_no_space();
    test_bit_flips();
    test_flash_file();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("kv_flash: all checks passed\n");
    return 0;
}
