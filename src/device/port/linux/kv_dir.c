/* Directory storage backend with atomic multi-record commits (see port_linux.h). */
#define _GNU_SOURCE /* syncfs */
#include "kiln/port_linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL      "journal"
#define JOURNAL_TMP  "journal.tmp"
#define VALUE_SUFFIX ".v"
#define TMP_SUFFIX   ".t"

static int path_of(char *out, size_t cap, const kiln_dir_kv *kv, const char *name,
                   const char *suffix)
{
    int n = snprintf(out, cap, "%s/%s%s", kv->dir, name, suffix);
    return (n > 0 && (size_t)n < cap) ? 0 : -1;
}

static bool key_ok(const char *key)
{
    size_t n = strlen(key);
    /* A leading dot would make a hidden file that dir_list skips: stored but never listed. */
    if (n == 0 || n >= KILN_KV_MAX_KEY || key[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes a whole file; synced only when asked: applied values are made durable together. */
static int write_file(const char *path, const uint8_t *data, size_t len, bool sync)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (sync && fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static void crash_point(const kiln_dir_kv *kv, int step)
{
    if (kv->crash_hook != NULL) {
        kv->crash_hook(step);
    }
}

static int dir_get(void *ctx, const char *key, uint8_t *buf, size_t buf_size, size_t *value_len)
{
    kiln_dir_kv *kv = ctx;
    char path[4300];
    if (!key_ok(key) || path_of(path, sizeof(path), kv, key, VALUE_SUFFIX) != 0) {
        return KILN_KV_INVALID;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? KILN_KV_NOT_FOUND : KILN_KV_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return KILN_KV_IO;
    }
    *value_len = (size_t)st.st_size;
    if (buf == NULL || buf_size < *value_len) {
        close(fd);
        return buf == NULL ? KILN_KV_OK : KILN_KV_TOO_SMALL;
    }
    size_t done = 0;
    while (done < *value_len) {
        ssize_t n = read(fd, buf + done, *value_len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            close(fd);
            return KILN_KV_IO;
        }
        done += (size_t)n;
    }
    close(fd);
    return KILN_KV_OK;
}

/* The journal holds the whole change, values included:
 *   "KLNJ" | count u32 | count x (op 'P'/'D' | key_len u8 | key | [value_len u32 | value])
 * (big endian). It is written and synced as journal.tmp and renamed into place: that rename is
 * the commit point. Applying it writes each value file in place without a sync (no temporary
 * and rename: until the journal goes, a torn value is rewritten from it), then one syncfs makes
 * them all durable before the journal goes, so a commit costs three flushes however many items
 * it holds (it was one per item). Applying is idempotent: a journal found on open is applied
 * again. */
#define JOURNAL_MAGIC "KLNJ"

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Walks a journal image; with apply set, performs each operation. -1 if it is malformed. */
static int walk_journal(kiln_dir_kv *kv, const uint8_t *j, size_t len, bool apply)
{
    if (len < 8 || memcmp(j, JOURNAL_MAGIC, 4) != 0) {
        return -1;
    }
    uint32_t count = get_u32(j + 4);
    size_t pos = 8;
    for (uint32_t i = 0; i < count; i++) {
        if (pos + 2 > len) {
            return -1;
        }
        uint8_t op = j[pos];
        size_t key_len = j[pos + 1];
        pos += 2;
        if (key_len == 0 || key_len >= KILN_KV_MAX_KEY || pos + key_len > len) {
            return -1;
        }
        char key[KILN_KV_MAX_KEY];
        memcpy(key, j + pos, key_len);
        key[key_len] = '\0';
        pos += key_len;
        if (!key_ok(key) || (op != 'P' && op != 'D')) {
            return -1;
        }
        const uint8_t *value = NULL;
        size_t value_len = 0;
        if (op == 'P') {
            if (pos + 4 > len) {
                return -1;
            }
            value_len = get_u32(j + pos);
            pos += 4;
            if (value_len > len - pos) {
                return -1;
            }
            value = j + pos;
            pos += value_len;
        }
        if (!apply) {
            continue;
        }
        /* Straight into the value file, without a temporary and a rename: the journal is
         * durable, so a value torn by a crash here is written again on the next open. */
        char path[4300];
        path_of(path, sizeof(path), kv, key, VALUE_SUFFIX);
        if (op == 'P') {
            if (write_file(path, value, value_len, false) != 0) {
                return -1;
            }
        } else if (unlink(path) != 0 && errno != ENOENT) {
            return -1;
        }
        crash_point(kv, 100 + (int)i);
    }
    return pos == len ? 0 : -1;
}

/* Makes everything applied durable, then retires the journal. */
static int retire_journal(kiln_dir_kv *kv, const char *journal_path)
{
    int fd = open(kv->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = syncfs(fd);
    close(fd);
    crash_point(kv, 200);
    /* A journal that outlives a crash from here on is applied again, to the same effect. */
    return rc == 0 && unlink(journal_path) == 0 ? 0 : -1;
}

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? 1 : -1;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *grown = realloc(buf, ncap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = grown;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Completes a commit interrupted after its commit point. */
static int replay_journal(kiln_dir_kv *kv)
{
    char path[4300];
    path_of(path, sizeof(path), kv, JOURNAL, "");
    uint8_t *j = NULL;
    size_t len = 0;
    int rc = read_whole(path, &j, &len);
    if (rc != 0) {
        return rc == 1 ? 0 : -1;
    }
    /* Checked whole before anything is applied: a damaged journal changes nothing. */
    rc = walk_journal(kv, j, len, false);
    if (rc == 0) {
        rc = walk_journal(kv, j, len, true);
    }
    free(j);
    return rc == 0 ? retire_journal(kv, path) : -1;
}

/* Temporary files not named by a committed journal belong to a commit that never happened. */
static void remove_stale_temporaries(kiln_dir_kv *kv)
{
    DIR *d = opendir(kv->dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        bool tmp = n > 2 && strcmp(e->d_name + n - 2, TMP_SUFFIX) == 0;
        if (tmp || strcmp(e->d_name, JOURNAL_TMP) == 0) {
            char path[4300];
            if (path_of(path, sizeof(path), kv, e->d_name, "") == 0) {
                unlink(path);
            }
        }
    }
    closedir(d);
}

static int dir_commit(void *ctx, const kiln_kv_op *ops, size_t n)
{
    kiln_dir_kv *kv = ctx;
    if (n == 0) {
        return KILN_KV_OK;
    }
    size_t len = 8;
    for (size_t i = 0; i < n; i++) {
        if (!key_ok(ops[i].key) || (ops[i].value != NULL && ops[i].value_len > UINT32_MAX)) {
            return KILN_KV_INVALID;
        }
        len += 2 + strlen(ops[i].key) + (ops[i].value != NULL ? 4 + ops[i].value_len : 0);
    }
    uint8_t *j = malloc(len);
    if (j == NULL) {
        return KILN_KV_IO;
    }
    memcpy(j, JOURNAL_MAGIC, 4);
    put_u32(j + 4, (uint32_t)n);
    size_t pos = 8;
    for (size_t i = 0; i < n; i++) {
        size_t key_len = strlen(ops[i].key);
        j[pos] = ops[i].value != NULL ? 'P' : 'D';
        j[pos + 1] = (uint8_t)key_len;
        memcpy(j + pos + 2, ops[i].key, key_len);
        pos += 2 + key_len;
        if (ops[i].value != NULL) {
            put_u32(j + pos, (uint32_t)ops[i].value_len);
            memcpy(j + pos + 4, ops[i].value, ops[i].value_len);
            pos += 4 + ops[i].value_len;
        }
    }
    char tmp[4300], path[4300];
    path_of(tmp, sizeof(tmp), kv, JOURNAL_TMP, "");
    path_of(path, sizeof(path), kv, JOURNAL, "");
    int rc = write_file(tmp, j, len, true);
    crash_point(kv, 1);
    if (rc != 0 || rename(tmp, path) != 0) {
        int no_space = errno == ENOSPC;
        free(j);
        unlink(tmp);
        return no_space ? KILN_KV_NO_SPACE : KILN_KV_IO;
    }
    crash_point(kv, 2);
    if (fsync_dir(kv->dir) != 0) {
        /* Whether the rename reached the disk is unknown: the journal stays and is applied
         * on the next open; this commit reports failure. */
        free(j);
        return KILN_KV_IO;
    }
    crash_point(kv, 3);
    rc = walk_journal(kv, j, len, true);
    free(j);
    /* Values whose journal is committed but not yet retired are still the truth: a
     * failure here is completed by the next open. */
    return rc == 0 && retire_journal(kv, path) == 0 ? KILN_KV_OK : KILN_KV_IO;
}

static int dir_list(void *ctx, kiln_kv_list_cb cb, void *arg)
{
    kiln_dir_kv *kv = ctx;
    DIR *d = opendir(kv->dir);
    if (d == NULL) {
        return KILN_KV_IO;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 2 || n - 2 >= KILN_KV_MAX_KEY || strcmp(e->d_name + n - 2, VALUE_SUFFIX) != 0 ||
            e->d_name[0] == '.') {
            continue;
        }
        char key[KILN_KV_MAX_KEY];
        memcpy(key, e->d_name, n - 2);
        key[n - 2] = '\0';
        char path[4300];
        struct stat st;
        size_t len = 0;
        if (path_of(path, sizeof(path), kv, e->d_name, "") == 0 && stat(path, &st) == 0) {
            len = (size_t)st.st_size;
        }
        if (cb(arg, key, len) != 0) {
            break;
        }
    }
    closedir(d);
    return KILN_KV_OK;
}

static int collect_delete(void *arg, const char *key, size_t len)
{
    (void)len;
    kiln_kv_op **ops = arg;
    /* ops[0] points at the array, ops[1] at the count (as size_t) and ops[2] at the cap. */
    kiln_kv_op *arr = ops[0];
    size_t *count = (size_t *)ops[1], *cap = (size_t *)ops[2];
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        kiln_kv_op *grown = realloc(arr, ncap * sizeof(*arr));
        if (grown == NULL) {
            return 1;
        }
        arr = grown;
        ops[0] = arr;
        *cap = ncap;
    }
    char *copy = strdup(key);
    if (copy == NULL) {
        return 1;
    }
    arr[*count].key = copy;
    arr[*count].value = NULL;
    arr[*count].value_len = 0;
    (*count)++;
    return 0;
}

static int dir_wipe(void *ctx)
{
    size_t count = 0, cap = 0;
    void *state[3] = {NULL, &count, &cap};
    int rc = dir_list(ctx, collect_delete, state);
    kiln_kv_op *ops = state[0];
    if (rc == KILN_KV_OK) {
        rc = dir_commit(ctx, ops, count);
    }
    for (size_t i = 0; i < count; i++) {
        free((char *)ops[i].key);
    }
    free(ops);
    return rc;
}

int kiln_dir_kv_open(kiln_dir_kv *kv, const char *dir)
{
    memset(kv, 0, sizeof(*kv));
    if (strlen(dir) >= sizeof(kv->dir)) {
        return KILN_KV_INVALID;
    }
    strcpy(kv->dir, dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return KILN_KV_IO;
    }
    if (replay_journal(kv) != 0) {
        return KILN_KV_CORRUPT;
    }
    remove_stale_temporaries(kv);
    kv->backend.ctx = kv;
    kv->backend.get = dir_get;
    kv->backend.commit = dir_commit;
    kv->backend.list = dir_list;
    kv->backend.wipe = dir_wipe;
    return KILN_KV_OK;
}
