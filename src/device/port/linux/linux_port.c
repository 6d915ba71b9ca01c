/* Root key, entropy and the default device on Linux. */
#include "kiln/port_linux.h"

#include <mbedtls/platform_util.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int kiln_linux_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int read_exact(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* A simulated device's hardware unique key: 32 random bytes made once, readable only by
 * the owner. */
int kiln_linux_root_key(void *ctx, uint8_t key[32])
{
    const char *path = ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        int rc = read_exact(fd, key, 32);
        close(fd);
        return rc;
    }
    if (errno != ENOENT) {
        return -1;
    }
    if (kiln_linux_entropy(NULL, key, 32) != 0) {
        return -1;
    }
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        mbedtls_platform_zeroize(key, 32);
        return -1;
    }
    int rc = write(fd, key, 32) == 32 && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc == 0 && link(tmp, path) != 0) {
        /* Someone else created it first: use theirs. */
        rc = -1;
        if (errno == EEXIST) {
            unlink(tmp);
            return kiln_linux_root_key(ctx, key);
        }
    }
    unlink(tmp);
    if (rc != 0) {
        mbedtls_platform_zeroize(key, 32);
    }
    return rc;
}

void kiln_linux_device_setup(kiln_linux_device *d, const kiln_kv_backend *kv,
                             const char *root_key_path)
{
    snprintf(d->root_key_path, sizeof(d->root_key_path), "%s", root_key_path);
    kiln_device_config cfg = {
        .kv = kv,
        .root_key = kiln_linux_root_key,
        .root_key_ctx = d->root_key_path,
        .entropy = kiln_linux_entropy,
        .entropy_ctx = NULL,
    };
    kiln_device_setup(&d->dev, &cfg);
}

int kiln_linux_device_open_dir(kiln_linux_device *d, const char *dir)
{
    int rc = kiln_dir_kv_open(&d->kv, dir);
    if (rc != KILN_KV_OK) {
        return rc;
    }
    char key_path[4200];
    snprintf(key_path, sizeof(key_path), "%s/.rootkey", dir);
    kiln_linux_device_setup(d, &d->kv.backend, key_path);
    return KILN_KV_OK;
}

static kiln_linux_device default_device;
static char default_dir[4096];
static int default_ready;

/* Opened on first use, so that setting the storage directory later still counts. */
static kiln_device *linux_default_device(void)
{
    if (!default_ready) {
        if (default_dir[0] == '\0') {
            const char *env = getenv("KILN_STORAGE_DIR");
            snprintf(default_dir, sizeof(default_dir), "%s", env ? env : "kiln-storage");
        }
        if (kiln_linux_device_open_dir(&default_device, default_dir) != KILN_KV_OK) {
            /* Leave a device without storage: every call then reports not-initialized. */
            kiln_device_config none = {0};
            kiln_device_setup(&default_device.dev, &none);
        }
        default_ready = 1;
    }
    return &default_device.dev;
}

void kiln_linux_use_default_device(void)
{
    kiln_set_default_device(linux_default_device);
}

void kiln_linux_set_default_storage(const char *dir)
{
    snprintf(default_dir, sizeof(default_dir), "%s", dir);
    default_ready = 0;
    kiln_linux_use_default_device();
}

#if defined(__GNUC__)
/* A Linux program that links the port (the shared libkiln-device always does) gets the
 * directory device without asking, as before the global API's device became a registration;
 * a program that registers its own device in main() still wins. */
__attribute__((constructor)) static void register_default_device(void)
{
    kiln_linux_use_default_device();
}
#endif
