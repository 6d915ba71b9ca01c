/* The Linux port of the device library: a directory storage backend, a root key kept in a
 * 0600 file, entropy from the kernel. */
#ifndef KILN_PORT_LINUX_H
#define KILN_PORT_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/device.h"
#include "kiln/kv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One file per record in a directory (created 0700). Every commit is atomic: a journal holding
 * the whole change is written, synced and renamed into place (the commit point), then applied
 * and retired after one syncfs; an interrupted commit is completed on open. */
typedef struct kiln_dir_kv {
    char dir[4096];
    kiln_kv_backend backend;
    /* Tests only: called at each step of a commit, so a test can end the process there. */
    void (*crash_hook)(int step);
} kiln_dir_kv;

/** Opens (creating if needed) a directory store and finishes any interrupted commit. */
int kiln_dir_kv_open(kiln_dir_kv *kv, const char *dir);

/** Root key callback: ctx is the path of a 32-byte key file, created 0600 when absent. */
int kiln_linux_root_key(void *ctx, uint8_t key[32]);
/** Entropy callback (getrandom); ctx unused. */
int kiln_linux_entropy(void *ctx, uint8_t *buf, size_t len);
/** Certificate/private-key check (kiln_check_pair_fn; ctx unused), the answer of
 *  mbedtls_pk_check_pair. A P-256 pair is checked on one group the process keeps, whose
 *  generator table Mbed TLS computes once (at the first check) instead of once per check, so
 *  that the many devices a simulator runs in one process pay about half the multiplication.
 *  The multiplication is Mbed TLS's constant-time one, blinded with the device's generator. */
int kiln_linux_check_pair(void *ctx, const struct mbedtls_pk_context *pub,
                          const struct mbedtls_pk_context *prv,
                          int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

/** A device on a directory: storage in dir, root key in dir/.rootkey. */
typedef struct kiln_linux_device {
    kiln_device dev;
    kiln_dir_kv kv;
    char root_key_path[4200];
} kiln_linux_device;

int kiln_linux_device_open_dir(kiln_linux_device *d, const char *dir);
/** A device on any backend with its root key in root_key_path. */
void kiln_linux_device_setup(kiln_linux_device *d, const kiln_kv_backend *kv,
                             const char *root_key_path);

/** Makes the global API (fcc_init(), kcm_item_store(), ...) work on the Linux default device:
 *  a directory device opened on first use in $KILN_STORAGE_DIR, or ./kiln-storage. The port
 *  does this itself when the program starts (with GCC or Clang); a program linked statically
 *  that uses nothing else of the port calls it before the first fcc_/kcm_ call. */
void kiln_linux_use_default_device(void);
/** The same, with the default device's storage in dir. Call before the first fcc_/kcm_ call. */
void kiln_linux_set_default_storage(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
