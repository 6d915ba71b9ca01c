/* Flash over a file: see include/kiln/flash_file.h. */
#include "kiln/flash_file.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The whole of len bytes at off, retrying short transfers and EINTR. */
static int full_io(int fd, uint8_t *p, size_t len, off_t off, bool write)
{
    while (len > 0) {
        ssize_t n = write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return KILN_FLASH_IO;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return KILN_FLASH_OK;
}

static int full_pread(int fd, void *buf, size_t len, off_t off)
{
    return full_io(fd, buf, len, off, false);
}

static int full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return full_io(fd, (uint8_t *)(uintptr_t)buf, len, off, true);
}

static uint64_t total_size(const kiln_flash_file *ff)
{
    return (uint64_t)ff->flash.geometry.sector_size * ff->flash.geometry.sector_count;
}

static int finish_write(kiln_flash_file *ff)
{
    if ((ff->flags & KILN_FLASH_FILE_SYNC) != 0 && fdatasync(ff->fd) != 0) {
        return KILN_FLASH_IO;
    }
    return KILN_FLASH_OK;
}

static int file_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    kiln_flash_file *ff = ctx;
    if ((uint64_t)addr + len > total_size(ff)) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    return full_pread(ff->fd, buf, len, (off_t)addr);
}

static int file_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    kiln_flash_file *ff = ctx;
    uint32_t p = ff->flash.geometry.program_size;
    const uint8_t *src = data;
    uint8_t chunk[256];
    size_t done = 0;
    int rc;
    if ((uint64_t)addr + len > total_size(ff)) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    if (addr % p != 0 || len % p != 0) {
        return KILN_FLASH_MISALIGNED;
    }
    /* NOR: programming only clears bits, exactly as on a part. */
    while (done < len) {
        size_t n = len - done > sizeof(chunk) ? sizeof(chunk) : len - done;
        size_t i;
        if ((rc = full_pread(ff->fd, chunk, n, (off_t)(addr + done))) != KILN_FLASH_OK) {
            return rc;
        }
        for (i = 0; i < n; i++) {
            chunk[i] &= src[done + i];
        }
        if ((rc = full_pwrite(ff->fd, chunk, n, (off_t)(addr + done))) != KILN_FLASH_OK) {
            return rc;
        }
        done += n;
    }
    return finish_write(ff);
}

static int file_erase(void *ctx, uint32_t sector)
{
    kiln_flash_file *ff = ctx;
    uint8_t ones[256];
    uint32_t size = ff->flash.geometry.sector_size, done = 0;
    int rc;
    if (sector >= ff->flash.geometry.sector_count) {
        return KILN_FLASH_OUT_OF_RANGE;
    }
    memset(ones, KILN_FLASH_ERASED_VALUE, sizeof(ones));
    while (done < size) {
        uint32_t n = size - done > sizeof(ones) ? (uint32_t)sizeof(ones) : size - done;
        off_t off = (off_t)sector * size + done;
        if ((rc = full_pwrite(ff->fd, ones, n, off)) != KILN_FLASH_OK) {
            return rc;
        }
        done += n;
    }
    return finish_write(ff);
}

int kiln_flash_file_open(kiln_flash_file *ff, const char *path, uint32_t sector_size,
                         uint32_t sector_count, uint32_t program_size, unsigned flags)
{
    struct stat st;
    int created = 0;
    if (ff == NULL) {
        return KILN_FLASH_INVALID;
    }
    memset(ff, 0, sizeof(*ff));
    ff->fd = -1;
    if (path == NULL) {
        return KILN_FLASH_INVALID;
    }
    if (program_size == 0 || program_size > 32 || (program_size & (program_size - 1)) != 0 ||
        sector_size == 0 || sector_size % program_size != 0 || sector_count == 0 ||
        (uint64_t)sector_size * sector_count > UINT32_MAX) {
        return KILN_FLASH_GEOMETRY;
    }
    ff->flash.ctx = ff;
    ff->flash.geometry.program_size = program_size;
    ff->flash.geometry.sector_size = sector_size;
    ff->flash.geometry.sector_count = sector_count;
    ff->flash.read = file_read;
    ff->flash.program = file_program;
    ff->flash.erase = file_erase;
    ff->flags = flags;

    ff->fd = open(path, O_RDWR | O_CLOEXEC);
    if (ff->fd < 0 && errno == ENOENT) {
        ff->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        created = 1;
    }
    if (ff->fd < 0) {
        return KILN_FLASH_IO;
    }
    if (created) {
        uint32_t s;
        for (s = 0; s < sector_count; s++) {
            if (file_erase(ff, s) != KILN_FLASH_OK) {
                kiln_flash_file_close(ff);
                (void)unlink(path);
                return KILN_FLASH_IO;
            }
        }
        if (fsync(ff->fd) != 0) {
            kiln_flash_file_close(ff);
            return KILN_FLASH_IO;
        }
    }
    if (fstat(ff->fd, &st) != 0) {
        kiln_flash_file_close(ff);
        return KILN_FLASH_IO;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != total_size(ff)) {
        kiln_flash_file_close(ff);
        return KILN_FLASH_GEOMETRY;
    }
    return KILN_FLASH_OK;
}

void kiln_flash_file_close(kiln_flash_file *ff)
{
    if (ff != NULL && ff->fd >= 0) {
        (void)close(ff->fd);
        ff->fd = -1;
    }
}
