/* Directory storage backend with atomic multi-record commits (see port_linux.h). */
#include "kiln/port_linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
    if (n == 0 || n >= KILN_KV_MAX_KEY) {
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

static int write_file(const char *path, const uint8_t *data, size_t len)
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
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
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

/* Applies a journal: every "P key" renames key.t to key.v (already done if key.t is gone),
 * every "D key" unlinks key.v. Idempotent, so a cut during replay is replayed again. */
static int replay_journal(kiln_dir_kv *kv)
{
    char path[4300];
    path_of(path, sizeof(path), kv, JOURNAL, "");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return errno == ENOENT ? 0 : -1;
    }
    char line[KILN_KV_MAX_KEY + 8];
    int rc = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strlen(line);
        if (n < 3 || line[n - 1] != '\n' || line[1] != ' ') {
            rc = -1;
            break;
        }
        line[n - 1] = '\0';
        const char *key = line + 2;
        if (!key_ok(key)) {
            rc = -1;
            break;
        }
        char from[4300], to[4300];
        path_of(to, sizeof(to), kv, key, VALUE_SUFFIX);
        if (line[0] == 'P') {
            path_of(from, sizeof(from), kv, key, TMP_SUFFIX);
            if (rename(from, to) != 0 && errno != ENOENT) {
                rc = -1;
                break;
            }
        } else if (line[0] == 'D') {
            if (unlink(to) != 0 && errno != ENOENT) {
                rc = -1;
                break;
            }
        } else {
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc != 0) {
        return rc;
    }
    if (fsync_dir(kv->dir) != 0 || unlink(path) != 0) {
        return -1;
    }
    return fsync_dir(kv->dir);
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
    char path[4300];
    size_t journal_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!key_ok(ops[i].key)) {
            return KILN_KV_INVALID;
        }
        journal_len += strlen(ops[i].key) + 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i].value == NULL) {
            continue;
        }
        if (path_of(path, sizeof(path), kv, ops[i].key, TMP_SUFFIX) != 0 ||
            write_file(path, ops[i].value, ops[i].value_len) != 0) {
            remove_stale_temporaries(kv);
            return errno == ENOSPC ? KILN_KV_NO_SPACE : KILN_KV_IO;
        }
    }
    char *journal = malloc(journal_len + 1);
    if (journal == NULL) {
        remove_stale_temporaries(kv);
        return KILN_KV_IO;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        pos += (size_t)sprintf(journal + pos, "%c %s\n", ops[i].value ? 'P' : 'D', ops[i].key);
    }
    char tmp[4300];
    path_of(tmp, sizeof(tmp), kv, JOURNAL_TMP, "");
    path_of(path, sizeof(path), kv, JOURNAL, "");
    int rc = write_file(tmp, (const uint8_t *)journal, pos);
    free(journal);
    /* The rename of the journal is the commit point. */
    if (rc != 0 || rename(tmp, path) != 0 || fsync_dir(kv->dir) != 0) {
        unlink(path);
        remove_stale_temporaries(kv);
        return KILN_KV_IO;
    }
    return replay_journal(kv) == 0 ? KILN_KV_OK : KILN_KV_IO;
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
