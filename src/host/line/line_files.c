#include "line_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LINE_FILE_MAX (64u << 20)

/* Doubles buf when it is full; returns 0, ENOMEM or EFBIG. */
static int grow(uint8_t **buf, size_t *cap)
{
    if (*cap >= LINE_FILE_MAX) {
        return EFBIG;
    }
    uint8_t *bigger = realloc(*buf, *cap * 2);
    if (bigger == NULL) {
        return ENOMEM;
    }
    *buf = bigger;
    *cap *= 2;
    return 0;
}

int line_file_read(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    int err = buf == NULL ? ENOMEM : 0;
    while (err == 0) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            err = ferror(f) ? EIO : 0;
            break;
        }
        if (n == cap) {
            err = grow(&buf, &cap);
        }
    }
    fclose(f);
    if (err != 0) {
        free(buf);
        return err;
    }
    *data = buf;
    *len = n;
    return 0;
}

int line_file_write(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno;
    }
    int err = 0;
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            err = errno;
            break;
        }
        data += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0 && err == 0) {
        err = errno;
    }
    return err;
}

int line_file_replace(const char *path, const uint8_t *data, size_t len)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        return ENAMETOOLONG;
    }
    int err = line_file_write(tmp, data, len);
    if (err == 0 && rename(tmp, path) != 0) {
        err = errno;
    }
    if (err != 0) {
        unlink(tmp);
    }
    return err;
}

int line_file_remove(const char *path)
{
    return unlink(path) != 0 && errno != ENOENT ? errno : 0;
}

void line_file_path(char *buf, size_t size, const char *dir, const char *name, const char *ext)
{
    snprintf(buf, size, "%s/%s%s", dir, name, ext);
}
