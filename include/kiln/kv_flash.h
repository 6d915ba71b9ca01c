/* A power-cut-safe key-value store on raw flash, implementing the kiln_kv_backend interface.
 *
 * The store is a log of CRC-protected records spread over the flash sectors. A commit appends
 * one record per put/delete and then a commit record; a mount only honours records whose
 * commit record is present, so a commit cut by a power loss is ignored as a whole. Old sectors
 * are garbage-collected in log order (the live records are copied to the head of the log as a
 * transaction of their own, then the sector is erased), which also spreads erases evenly over
 * all sectors. See docs/flash-store.md for the on-flash format and the reasoning.
 *
 * Values reach the store already encrypted and authenticated by KCM (AES-GCM, item name as
 * associated data); the store adds integrity against torn writes and bit rot, not secrecy.
 *
 * Memory: the caller owns the store struct and a work buffer (KILN_KV_FLASH_WORK_MIN bytes
 * or more; 256 is a good size); the store never allocates. Not thread-safe: serialise calls.
 * A list() callback may call get() but must not commit. */
#ifndef KILN_KV_FLASH_H
#define KILN_KV_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/flash.h"
#include "kiln/kv.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest number of sectors a store can span (the log order is kept in RAM, one byte each). */
#ifndef KILN_KV_FLASH_MAX_SECTORS
#define KILN_KV_FLASH_MAX_SECTORS 64
#endif
/** Smallest sector count: the log needs sectors in use plus two kept free for collection. */
#define KILN_KV_FLASH_MIN_SECTORS 4
/** Smallest work buffer. */
#define KILN_KV_FLASH_WORK_MIN 64

typedef struct kiln_kv_flash_stats {
    uint32_t log_sectors;    /**< sectors holding the log */
    uint32_t free_sectors;   /**< sectors available for new data */
    uint32_t gc_runs;        /**< sectors collected since mount */
    uint32_t max_value_size; /**< largest value a single item can have with this geometry */
} kiln_kv_flash_stats;

typedef struct kiln_kv_flash {
    const kiln_flash *flash;
    uint8_t *work;
    size_t work_size;
    bool mounted;
    uint32_t data_start;                    /* first record offset inside a sector */
    uint32_t log_count;                     /* entries used in log[] */
    uint8_t log[KILN_KV_FLASH_MAX_SECTORS]; /* sectors of the log, oldest first */
    uint32_t head_offset;                   /* append offset in the newest log sector */
    uint32_t next_sector_seq;
    uint32_t next_txn;
    uint32_t gc_runs;
} kiln_kv_flash;

/**
 * \brief Mounts a store: finds the last committed state on the flash. Reads only; a blank or
 *        foreign flash mounts as an empty store (sectors are erased when first needed).
 * \param work caller buffer of work_size >= KILN_KV_FLASH_WORK_MIN bytes, kept until the store
 *        is no longer used.
 * \return KILN_KV_OK, KILN_KV_INVALID (bad geometry or buffer), KILN_KV_IO.
 */
int kiln_kv_flash_mount(kiln_kv_flash *kv, const kiln_flash *flash, uint8_t *work,
                        size_t work_size);

/** kiln_kv_backend.get: KILN_KV_CORRUPT when the stored value fails its CRC. */
int kiln_kv_flash_get(kiln_kv_flash *kv, const char *key, uint8_t *buf, size_t buf_size,
                      size_t *value_len);
/** kiln_kv_backend.commit: all ops or none survive a power cut. KILN_KV_NO_SPACE when the live
 *  data plus this commit does not fit. */
int kiln_kv_flash_commit(kiln_kv_flash *kv, const kiln_kv_op *ops, size_t n);
/** kiln_kv_backend.list: calls cb once per live key. */
int kiln_kv_flash_list(kiln_kv_flash *kv, kiln_kv_list_cb cb, void *arg);
/** kiln_kv_backend.wipe: one atomic record that deletes every key. */
int kiln_kv_flash_wipe(kiln_kv_flash *kv);

int kiln_kv_flash_stats_get(kiln_kv_flash *kv, kiln_kv_flash_stats *stats);

/** Fills backend with functions that operate on kv (which must outlive it). */
void kiln_kv_flash_backend(kiln_kv_flash *kv, kiln_kv_backend *backend);

#ifdef __cplusplus
}
#endif
#endif
