/* Root key, entropy, the certificate/private-key check and the default device on Linux. */
#include "kiln/port_linux.h"

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* The process's P-256 group. Its generator table is made once, by a multiplication with the
 * public scalar 1; after that a multiplication only reads the group, so threads may share it. */
static mbedtls_ecp_group p256;
static bool p256_ready;
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;

static void p256_init(void)
{
    mbedtls_ecp_point r;
    mbedtls_mpi one;
    mbedtls_ecp_group_init(&p256);
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&one);
    p256_ready = mbedtls_ecp_group_load(&p256, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
                 mbedtls_mpi_lset(&one, 1) == 0 &&
                 mbedtls_ecp_mul(&p256, &r, &one, &p256.G, NULL, NULL) == 0 && p256.T != NULL;
    mbedtls_ecp_point_free(&r);
    mbedtls_mpi_free(&one);
}

int kiln_linux_check_pair(void *ctx, const struct mbedtls_pk_context *pub,
                          const struct mbedtls_pk_context *prv,
                          int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    (void)ctx;
    if (pthread_once(&p256_once, p256_init) != 0 || !p256_ready ||
        mbedtls_pk_get_type(pub) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_get_type(prv) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_ec(*prv)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        return mbedtls_pk_check_pair(pub, prv);
    }
    /* What mbedtls_ecp_check_pub_priv checks, in its order: the same curve and public point,
     * then the point the private scalar gives (which also rejects a scalar out of range). */
    const mbedtls_ecp_keypair *q = mbedtls_pk_ec(*pub), *k = mbedtls_pk_ec(*prv);
    if (q->grp.id != k->grp.id || mbedtls_ecp_point_cmp(&q->Q, &k->Q) != 0) {
        return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
    }
    mbedtls_ecp_point r;
    mbedtls_ecp_point_init(&r);
    int rc = mbedtls_ecp_mul(&p256, &r, &k->d, &p256.G, f_rng, p_rng);
    if (rc == 0 && mbedtls_ecp_point_cmp(&r, &k->Q) != 0) {
        rc = MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
    }
    mbedtls_ecp_point_free(&r);
    return rc;
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
    kiln_device_set_check_pair(&d->dev, kiln_linux_check_pair, NULL);
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
