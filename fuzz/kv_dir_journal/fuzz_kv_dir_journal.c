/* libFuzzer target: open the directory store over an arbitrary journal file. Opening must
 * either apply it (and leave no journal behind) or refuse it as corrupt, without touching
 * values it did not name; nothing may crash. Every value applied must read back. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/port_linux.h"

static char dir[64];

static int check_readable(void *arg, const char *key, size_t len)
{
    kiln_dir_kv *kv = arg;
    uint8_t *buf = malloc(len + 1);
    size_t got = 0;
    if (buf == NULL || kv->backend.get(kv->backend.ctx, key, buf, len + 1, &got) != KILN_KV_OK ||
        got != len) {
        abort();
    }
    free(buf);
    return 0;
}

static int remove_entry(void *arg, const char *key, size_t len)
{
    (void)len;
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.v", (const char *)arg, key);
    unlink(path);
    return 0;
}

/* The store lives on tmpfs: leave nothing behind in memory when the run ends. */
static void remove_store(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[600];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        /* tmpfs: the store syncs every commit, which on a disk held this target at a few
         * hundred inputs a second */
        strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/kiln-fuzz-dirkv-XXXXXX"
                                                  : "/tmp/kiln-fuzz-dirkv-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            abort();
        }
        atexit(remove_store);
    }
    kiln_dir_kv kv;
    if (kiln_dir_kv_open(&kv, dir) != KILN_KV_OK) {
        abort();
    }
    kiln_kv_op keep = {"untouched", (const uint8_t *)"kept", 4};
    if (kv.backend.commit(kv.backend.ctx, &keep, 1) != KILN_KV_OK) {
        abort();
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/journal", dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
    int rc = kiln_dir_kv_open(&kv, dir);
    if (rc == KILN_KV_OK) {
        if (access(path, F_OK) == 0) {
            abort(); /* an applied journal is retired */
        }
        kv.backend.list(kv.backend.ctx, check_readable, &kv);
    } else if (rc != KILN_KV_CORRUPT) {
        abort();
    } else {
        /* Refused: nothing it named may have been applied. */
        uint8_t buf[8];
        snprintf(path, sizeof(path), "%s/untouched.v", dir);
        FILE *v = fopen(path, "rb");
        size_t len = v != NULL ? fread(buf, 1, sizeof(buf), v) : 0;
        if (v != NULL) {
            fclose(v);
        }
        if (len != 4 || memcmp(buf, "kept", 4) != 0) {
            abort();
        }
        snprintf(path, sizeof(path), "%s/journal", dir);
        unlink(path);
    }
    /* Start the next input from an empty store. */
    kiln_dir_kv clean;
    if (kiln_dir_kv_open(&clean, dir) == KILN_KV_OK) {
        clean.backend.list(clean.backend.ctx, remove_entry, dir);
    }
    return 0;
}
