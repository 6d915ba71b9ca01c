#include "line_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int line_file_write_all(int fd, const uint8_t *data, size_t len)
{
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
    return err;
}

int line_file_write(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno;
    }
    int err = line_file_write_all(fd, data, len);
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

int line_file_install(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno == EEXIST ? line_file_replace(path, data, len) : errno;
    }
    int err = line_file_write_all(fd, data, len);
    if (close(fd) != 0 && err == 0) {
        err = errno;
    }
    if (err != 0) {
        unlink(path);
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

size_t line_tar_entry_size(size_t len)
{
    return LINE_TAR_BLOCK + (len + LINE_TAR_BLOCK - 1) / LINE_TAR_BLOCK * LINE_TAR_BLOCK;
}

/* An octal field of width bytes: digits, then a NUL. */
static void tar_octal(uint8_t *field, size_t width, unsigned long long value)
{
    field[width - 1] = '\0';
    for (size_t i = width - 1; i > 0; i--) {
        field[i - 1] = (uint8_t)('0' + (value & 7u));
        value >>= 3;
    }
}

int line_tar_entry(uint8_t *out, const char *name, const char *ext, const uint8_t *data, size_t len,
                   long long mtime)
{
    size_t total = line_tar_entry_size(len);
    memset(out, 0, total);
    if ((size_t)snprintf((char *)out, 100, "%s%s", name, ext) >= 100) {
        return ENAMETOOLONG;
    }
    tar_octal(out + 100, 8, 0600);
    tar_octal(out + 108, 8, 0);
    tar_octal(out + 116, 8, 0);
    tar_octal(out + 124, 12, len);
    tar_octal(out + 136, 12, mtime > 0 ? (unsigned long long)mtime : 0);
    out[156] = '0';
    memcpy(out + 257, "ustar", 6);
    memcpy(out + 263, "00", 2);
    /* The checksum is summed with its own field as spaces. */
    memset(out + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < LINE_TAR_BLOCK; i++) {
        sum += out[i];
    }
    tar_octal(out + 148, 7, sum);
    memcpy(out + LINE_TAR_BLOCK, data, len);
    return 0;
}
