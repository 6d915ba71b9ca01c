/* The directory store: commits are atomic across a crash at any step of a commit. */
#include "kiln/port_linux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void put_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fputs(content, f);
    fclose(f);
}

static int value_is(kiln_dir_kv *kv, const char *key, const char *want)
{
    uint8_t buf[64];
    size_t len = 0;
    int rc = kv->backend.get(kv->backend.ctx, key, buf, sizeof(buf), &len);
    if (want == NULL) {
        return rc == KILN_KV_NOT_FOUND;
    }
    return rc == KILN_KV_OK && len == strlen(want) && memcmp(buf, want, len) == 0;
}

static int count_keys(void *arg, const char *key, size_t len)
{
    (void)key;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/kiln-dirkv-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    kiln_dir_kv kv;
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    kiln_kv_op ops[] = {{"a", (const uint8_t *)"one", 3}, {"b", (const uint8_t *)"two", 3}};
    CHECK(kv.backend.commit(kv.backend.ctx, ops, 2) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "one") && value_is(&kv, "b", "two"));
    kiln_kv_op bad[] = {{"../x", (const uint8_t *)"x", 1}};
    CHECK(kv.backend.commit(kv.backend.ctx, bad, 1) == KILN_KV_INVALID);

    /* Crash after the new values were written but before the journal was committed: the
     * change never happened. */
    put_file(dir, "a.t", "NEW");
    put_file(dir, "c.t", "NEW");
    put_file(dir, "journal.tmp", "P a\nP c\n");
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "one") && value_is(&kv, "c", NULL));

    /* Crash after the journal was committed, before (or while) it was applied: the whole
     * change is there after the restart. */
    put_file(dir, "a.t", "NEW");
    put_file(dir, "c.t", "NEW");
    put_file(dir, "journal", "P a\nP c\nD b\n");
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "NEW") && value_is(&kv, "c", "NEW") && value_is(&kv, "b", NULL));

    /* Half-applied journal (a already renamed). */
    put_file(dir, "b.t", "B2");
    put_file(dir, "journal", "P a\nP b\n");
    CHECK(kiln_dir_kv_open(&kv, dir) == KILN_KV_OK);
    CHECK(value_is(&kv, "a", "NEW") && value_is(&kv, "b", "B2"));

    CHECK(kv.backend.wipe(kv.backend.ctx) == KILN_KV_OK);
    int n = 0;
    kv.backend.list(kv.backend.ctx, count_keys, &n);
    CHECK(n == 0);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    printf("dir_kv: %d failures\n", failures);
    return failures ? 1 : 0;
}
