/* Storage backend interface of the device library.
 *
 * KCM keeps every item as one key/value record. The backend sees opaque, already encrypted
 * values and short ASCII keys (characters A-Z a-z 0-9 . - _, at most KILN_KV_MAX_KEY bytes
 * including the terminating NUL), so a backend never handles plaintext secrets.
 *
 * The one hard requirement is kiln_kv_backend.commit: a set of puts and deletes becomes
 * visible entirely or not at all, even if power is lost in the middle. KCM relies on it to
 * make a whole bundle one transaction. */
#ifndef KILN_KV_H
#define KILN_KV_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/status.h"
#include "kiln/status_kv.def"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_KV_MAX_KEY 112

typedef enum { KILN_KV_STATUS_MAP(KILN_STATUS_ENUMERATOR) } kiln_kv_status;

/** One change inside an atomic commit: put when value != NULL, delete when value == NULL. */
typedef struct kiln_kv_op {
    const char *key;
    const uint8_t *value;
    size_t value_len;
} kiln_kv_op;

/** Called once per stored key by list(); return non-zero to stop early. */
typedef int (*kiln_kv_list_cb)(void *arg, const char *key, size_t value_len);

typedef struct kiln_kv_backend {
    void *ctx;
    /** Reads a value. With buf == NULL (or too small) only *value_len is set
     *  (KILN_KV_TOO_SMALL when buf != NULL and too small). */
    int (*get)(void *ctx, const char *key, uint8_t *buf, size_t buf_size, size_t *value_len);
    /** Applies all ops atomically (all or none survive a power cut). Deleting an absent
     *  key is not an error. n == 0 is a no-op. */
    int (*commit)(void *ctx, const kiln_kv_op *ops, size_t n);
    /** Calls cb for every key, in no particular order. */
    int (*list)(void *ctx, kiln_kv_list_cb cb, void *arg);
    /** Erases every key (fcc_storage_delete). Atomic as well. */
    int (*wipe)(void *ctx);
} kiln_kv_backend;

/** Text of a status ("no such key"); "unknown storage status" for other values. */
static inline const char *kiln_kv_status_to_string(int status)
{
    return kiln_kv_status_text((int32_t)status);
}

#ifdef __cplusplus
}
#endif
#endif
