/* Log-structured, power-cut-safe key-value store on raw flash (see docs/flash-store.md).
 *
 * Sector layout (every region starts on a program word):
 *   A  16 bytes  magic, erase count, sector size, CRC   written right after an erase
 *   B  20 bytes  magic, sector sequence, carry txn, carry count, CRC   written when the sector
 *                joins the log; the carry fields say how many records of the transaction in
 *                progress were written in earlier sectors
 *   C   4 bytes  retire word: left erased while the sector is in the log, cleared once a
 *                garbage collection has copied everything live out of it
 *   records from data_start on, each padded to the program word.
 *
 * Record: 24-byte header (type, key length, value length, transaction, key hash or record
 * count, CRC of key+value, CRC of the header) followed by key and value. A transaction is a run
 * of records with one transaction number closed by a COMMIT record that states how many
 * records it closes; anything without its COMMIT is ignored, which is what makes a commit
 * atomic across a power cut.
 *
 * Nothing is kept in RAM besides the log order: lookups scan the log. The log holds a few
 * hundred records on the parts this targets, and KCM reads each item a handful of times per
 * boot, so a scan costs less than an index would cost in RAM. */
#include "kiln/kv_flash.h"

#include <string.h>

#include "crc32.h"

#define SECTOR_MAGIC_A  0x41464c4bu /* "KLFA" */
#define SECTOR_MAGIC_B  0x42464c4bu /* "KLFB" */
#define SECTOR_A_SIZE   16u
#define SECTOR_B_SIZE   20u
#define SECTOR_C_SIZE   4u
#define REC_HDR_SIZE    24u
#define REC_HDR_CRC_LEN 20u
#define KEY_MAX_LEN     (KILN_KV_MAX_KEY - 1u)
#define READ_CHUNK      32u
/* Sectors kept out of reach of ordinary commits so a garbage collection can always run. */
#define GC_RESERVE 2u

enum rec_type {
    REC_PUT = 0xa1,
    REC_DEL = 0xa2,
    REC_WIPE = 0xa3,
    REC_COMMIT = 0xac,
};

enum sector_state { SECTOR_DIRTY, SECTOR_FREE, SECTOR_LOG, SECTOR_RETIRED };

enum rec_read { REC_VALID, REC_ERASED, REC_BAD };

typedef struct rec {
    uint32_t sector;
    uint32_t off;  /* of the header inside the sector */
    uint32_t size; /* whole record, padded */
    uint8_t type;
    uint8_t key_len;
    uint32_t value_len;
    uint32_t txn;
    uint32_t key_hash; /* record count for COMMIT */
    uint32_t data_crc;
} rec;

typedef struct cursor {
    uint32_t li; /* index into kv->log */
    uint32_t off;
} cursor;

/* Walks committed records in log order. */
typedef struct scan {
    cursor cur;
    uint32_t txn;
    int txn_known;
    int txn_committed;
} scan;

typedef struct sector_info {
    int state;
    int erase_count_known;
    uint32_t erase_count;
    uint32_t seq;
    uint32_t carry_txn;
    uint32_t carry_count;
} sector_info;

/* Where the next records would land, used to check that a commit fits before writing. */
typedef struct placement {
    uint32_t off;
    uint32_t new_sectors;
} placement;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t align_up(uint32_t v, uint32_t a)
{
    return (v + a - 1u) & ~(a - 1u);
}

static int all_erased(const uint8_t *p, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] != KILN_FLASH_ERASED_VALUE) {
            return 0;
        }
    }
    return 1;
}

static uint32_t prog_size(const kiln_kv_flash *kv)
{
    return kv->flash->geometry.program_size;
}

static uint32_t sector_size(const kiln_kv_flash *kv)
{
    return kv->flash->geometry.sector_size;
}

static uint32_t b_offset(const kiln_kv_flash *kv)
{
    return align_up(SECTOR_A_SIZE, prog_size(kv));
}

static uint32_t c_offset(const kiln_kv_flash *kv)
{
    return b_offset(kv) + align_up(SECTOR_B_SIZE, prog_size(kv));
}

static uint32_t record_size(const kiln_kv_flash *kv, uint32_t key_len, uint32_t value_len)
{
    return align_up(REC_HDR_SIZE + key_len + value_len, prog_size(kv));
}

static int flash_read(kiln_kv_flash *kv, uint32_t sector, uint32_t off, void *buf, size_t len)
{
    uint32_t addr = sector * sector_size(kv) + off;
    return kv->flash->read(kv->flash->ctx, addr, buf, len) == KILN_FLASH_OK ? KILN_KV_OK
                                                                            : KILN_KV_IO;
}

/* A failed program or erase leaves the medium in an unknown state: the next call remounts. */
static int flash_program(kiln_kv_flash *kv, uint32_t sector, uint32_t off, const void *data,
                         size_t len)
{
    uint32_t addr = sector * sector_size(kv) + off;
    if (kv->flash->program(kv->flash->ctx, addr, data, len) != KILN_FLASH_OK) {
        kv->mounted = false;
        return KILN_KV_IO;
    }
    return KILN_KV_OK;
}

static int flash_erase(kiln_kv_flash *kv, uint32_t sector)
{
    if (kv->flash->erase(kv->flash->ctx, sector) != KILN_FLASH_OK) {
        kv->mounted = false;
        return KILN_KV_IO;
    }
    return KILN_KV_OK;
}

/* Programs a small block (a sector header region or the retire word) padded to the word. */
static int program_padded(kiln_kv_flash *kv, uint32_t sector, uint32_t off, const uint8_t *data,
                          size_t len)
{
    uint8_t word[32];
    size_t padded = align_up((uint32_t)len, prog_size(kv));
    memset(word, KILN_FLASH_ERASED_VALUE, sizeof(word));
    memcpy(word, data, len);
    return flash_program(kv, sector, off, word, padded);
}

static int key_is_valid(const char *key, size_t *len_out)
{
    size_t n = 0;
    if (key == NULL) {
        return 0;
    }
    for (; key[n] != '\0'; n++) {
        char c = key[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        if (!ok || n >= KEY_MAX_LEN) {
            return 0;
        }
    }
    *len_out = n;
    return n > 0;
}

/* ---- sectors ---- */

static int sector_read_info(kiln_kv_flash *kv, uint32_t sector, sector_info *info)
{
    uint8_t a[SECTOR_A_SIZE], b[SECTOR_B_SIZE], c[SECTOR_C_SIZE];
    int rc;
    memset(info, 0, sizeof(*info));
    info->state = SECTOR_DIRTY;
    if ((rc = flash_read(kv, sector, 0, a, sizeof(a))) != KILN_KV_OK ||
        (rc = flash_read(kv, sector, b_offset(kv), b, sizeof(b))) != KILN_KV_OK ||
        (rc = flash_read(kv, sector, c_offset(kv), c, sizeof(c))) != KILN_KV_OK) {
        return rc;
    }
    if (get32(a) != SECTOR_MAGIC_A || get32(a + 8) != sector_size(kv) ||
        get32(a + 12) != kiln_crc32_update(0, a, 12)) {
        return KILN_KV_OK;
    }
    info->erase_count_known = 1;
    info->erase_count = get32(a + 4);
    if (all_erased(b, sizeof(b))) {
        info->state = all_erased(c, sizeof(c)) ? SECTOR_FREE : SECTOR_DIRTY;
        return KILN_KV_OK;
    }
    if (get32(b) != SECTOR_MAGIC_B || get32(b + 16) != kiln_crc32_update(0, b, 16)) {
        return KILN_KV_OK;
    }
    info->seq = get32(b + 4);
    info->carry_txn = get32(b + 8);
    info->carry_count = get32(b + 12);
    info->state = all_erased(c, sizeof(c)) ? SECTOR_LOG : SECTOR_RETIRED;
    return KILN_KV_OK;
}

static int sector_in_log(const kiln_kv_flash *kv, uint32_t sector)
{
    uint32_t i;
    for (i = 0; i < kv->log_count; i++) {
        if (kv->log[i] == sector) {
            return 1;
        }
    }
    return 0;
}

static int sector_is_blank_after_a(kiln_kv_flash *kv, uint32_t sector, int *blank)
{
    uint8_t chunk[READ_CHUNK];
    uint32_t off = b_offset(kv);
    *blank = 0;
    while (off < sector_size(kv)) {
        uint32_t n = sector_size(kv) - off;
        int rc;
        if (n > READ_CHUNK) {
            n = READ_CHUNK;
        }
        if ((rc = flash_read(kv, sector, off, chunk, n)) != KILN_KV_OK) {
            return rc;
        }
        if (!all_erased(chunk, n)) {
            return KILN_KV_OK;
        }
        off += n;
    }
    *blank = 1;
    return KILN_KV_OK;
}

/* Clears the retire word: the sector leaves the log for good. */
static int sector_retire(kiln_kv_flash *kv, uint32_t sector)
{
    static const uint8_t retire[SECTOR_C_SIZE] = {0, 0, 0, 0};
    return program_padded(kv, sector, c_offset(kv), retire, sizeof(retire));
}

static int sector_write_a(kiln_kv_flash *kv, uint32_t sector, uint32_t erase_count)
{
    uint8_t a[SECTOR_A_SIZE];
    put32(a, SECTOR_MAGIC_A);
    put32(a + 4, erase_count);
    put32(a + 8, sector_size(kv));
    put32(a + 12, kiln_crc32_update(0, a, 12));
    return program_padded(kv, sector, 0, a, sizeof(a));
}

/* The lowest erase count any sector records; a sector without a readable count (new, or its
 * erase was cut) counts as this, the least worn one known (0 when none is known). */
static int least_erase_count(kiln_kv_flash *kv, uint32_t *min_known)
{
    sector_info info;
    *min_known = UINT32_MAX;
    for (uint32_t s = 0; s < kv->flash->geometry.sector_count; s++) {
        int rc = sector_read_info(kv, s, &info);
        if (rc != KILN_KV_OK) {
            return rc;
        }
        if (info.erase_count_known && info.erase_count < *min_known) {
            *min_known = info.erase_count;
        }
    }
    if (*min_known == UINT32_MAX) {
        *min_known = 0;
    }
    return KILN_KV_OK;
}

/* On a tie, a sector without a count goes first so that new sectors join the rotation; then
 * one that needs no erase. */
static int wears_less(uint32_t count, const sector_info *info, uint32_t best_count,
                      const sector_info *best)
{
    return count < best_count ||
           (count == best_count && !info->erase_count_known && best->erase_count_known) ||
           (count == best_count && info->erase_count_known == best->erase_count_known &&
            info->state == SECTOR_FREE && best->state != SECTOR_FREE);
}

/* The least worn sector outside the log (*best stays UINT32_MAX when there is none). */
static int pick_sector(kiln_kv_flash *kv, uint32_t *best, uint32_t *best_count,
                       sector_info *best_info)
{
    uint32_t min_known;
    sector_info info;
    int rc = least_erase_count(kv, &min_known);
    *best = UINT32_MAX;
    *best_count = UINT32_MAX;
    memset(best_info, 0, sizeof(*best_info));
    if (rc != KILN_KV_OK) {
        return rc;
    }
    for (uint32_t s = 0; s < kv->flash->geometry.sector_count; s++) {
        if (sector_in_log(kv, s)) {
            continue;
        }
        if ((rc = sector_read_info(kv, s, &info)) != KILN_KV_OK) {
            return rc;
        }
        uint32_t count = info.erase_count_known ? info.erase_count : min_known;
        if (wears_less(count, &info, *best_count, best_info)) {
            *best = s;
            *best_count = count;
            *best_info = info;
        }
    }
    return KILN_KV_OK;
}

/* Adds a sector to the head of the log. The sector with the fewest erases among those outside
 * the log is taken, which together with collecting the oldest sector first keeps wear even. */
static int open_sector(kiln_kv_flash *kv, uint32_t txn, uint32_t records_before)
{
    uint32_t best, best_count;
    sector_info best_info;
    uint8_t b[SECTOR_B_SIZE];
    int blank = 0;
    int rc = pick_sector(kv, &best, &best_count, &best_info);
    if (rc != KILN_KV_OK) {
        return rc;
    }
    if (best == UINT32_MAX) {
        return KILN_KV_NO_SPACE;
    }
    if (best_info.state == SECTOR_FREE &&
        (rc = sector_is_blank_after_a(kv, best, &blank)) != KILN_KV_OK) {
        return rc;
    }
    if (!blank && ((rc = flash_erase(kv, best)) != KILN_KV_OK ||
                   (rc = sector_write_a(kv, best, best_count + 1u)) != KILN_KV_OK)) {
        return rc;
    }
    put32(b, SECTOR_MAGIC_B);
    put32(b + 4, kv->next_sector_seq);
    put32(b + 8, txn);
    put32(b + 12, records_before);
    put32(b + 16, kiln_crc32_update(0, b, 16));
    if ((rc = program_padded(kv, best, b_offset(kv), b, sizeof(b))) != KILN_KV_OK) {
        return rc;
    }
    kv->next_sector_seq++;
    kv->log[kv->log_count++] = (uint8_t)best;
    kv->head_offset = kv->data_start;
    return KILN_KV_OK;
}

/* ---- records ---- */

static int rec_read(kiln_kv_flash *kv, uint32_t sector, uint32_t off, rec *r, int *result)
{
    uint8_t h[REC_HDR_SIZE];
    int rc;
    *result = REC_BAD;
    if ((rc = flash_read(kv, sector, off, h, sizeof(h))) != KILN_KV_OK) {
        return rc;
    }
    if (all_erased(h, sizeof(h))) {
        *result = REC_ERASED;
        return KILN_KV_OK;
    }
    if (get32(h + 20) != kiln_crc32_update(0, h, REC_HDR_CRC_LEN)) {
        return KILN_KV_OK;
    }
    r->sector = sector;
    r->off = off;
    r->type = h[0];
    r->key_len = h[1];
    r->value_len = get32(h + 4);
    r->txn = get32(h + 8);
    r->key_hash = get32(h + 12);
    r->data_crc = get32(h + 16);
    switch (r->type) {
    case REC_PUT:
    case REC_DEL:
        if (r->key_len == 0 || r->key_len > KEY_MAX_LEN ||
            r->value_len > sector_size(kv) - kv->data_start) {
            return KILN_KV_OK;
        }
        break;
    case REC_WIPE:
    case REC_COMMIT:
        if (r->key_len != 0 || r->value_len != 0) {
            return KILN_KV_OK;
        }
        break;
    default:
        return KILN_KV_OK;
    }
    r->size = record_size(kv, r->key_len, r->value_len);
    if (r->size > sector_size(kv) - off) {
        return KILN_KV_OK;
    }
    *result = REC_VALID;
    return KILN_KV_OK;
}

static uint32_t sector_limit(const kiln_kv_flash *kv, uint32_t li)
{
    return li + 1u == kv->log_count ? kv->head_offset : sector_size(kv);
}

/* Next valid record in log order: 1 with *r filled, 0 at the end of the log. A record that
 * fails its header check ends its sector: what follows cannot be located reliably. */
static int cursor_next(kiln_kv_flash *kv, cursor *c, rec *r)
{
    for (;;) {
        uint32_t limit;
        int rc, result;
        if (c->li >= kv->log_count) {
            return 0;
        }
        limit = sector_limit(kv, c->li);
        if (c->off < limit && limit - c->off >= REC_HDR_SIZE) {
            if ((rc = rec_read(kv, kv->log[c->li], c->off, r, &result)) != KILN_KV_OK) {
                return rc;
            }
            if (result == REC_VALID && r->size <= limit - c->off) {
                c->off += r->size;
                return 1;
            }
        }
        c->li++;
        c->off = kv->data_start;
    }
}

/* Decides whether the transaction starting with record first (the cursor after stands right
 * behind it) is committed: its records must run contiguously up to a COMMIT that counts them.
 * When the run starts a sector that carries records of the same transaction from a sector
 * collected since, those count as seen. */
static int txn_is_committed(kiln_kv_flash *kv, cursor after, const rec *first, int *committed)
{
    uint32_t seen = 1;
    rec r;
    int rc;
    *committed = 0;
    if (first->off == kv->data_start) {
        sector_info info;
        if ((rc = sector_read_info(kv, first->sector, &info)) != KILN_KV_OK) {
            return rc;
        }
        if (info.state == SECTOR_LOG && info.carry_txn == first->txn) {
            seen += info.carry_count;
        }
    }
    for (;;) {
        rc = cursor_next(kv, &after, &r);
        if (rc <= 0) {
            return rc;
        }
        if (r.txn != first->txn) {
            return KILN_KV_OK;
        }
        if (r.type == REC_COMMIT) {
            *committed = r.key_hash == seen;
            return KILN_KV_OK;
        }
        seen++;
    }
}

static void scan_start(const kiln_kv_flash *kv, scan *s)
{
    memset(s, 0, sizeof(*s));
    s->cur.li = 0;
    s->cur.off = kv->data_start;
}

/* Next committed PUT/DEL/WIPE record: 1 with *r filled, 0 at the end. */
static int scan_next(kiln_kv_flash *kv, scan *s, rec *r)
{
    for (;;) {
        int rc = cursor_next(kv, &s->cur, r);
        if (rc <= 0) {
            return rc;
        }
        if (r->type == REC_COMMIT) {
            continue;
        }
        if (!s->txn_known || r->txn != s->txn) {
            s->txn = r->txn;
            s->txn_known = 1;
            if ((rc = txn_is_committed(kv, s->cur, r, &s->txn_committed)) != KILN_KV_OK) {
                return rc;
            }
        }
        if (s->txn_committed) {
            return 1;
        }
    }
}

/* Reads the stored key of r into key (KEY_MAX_LEN + 1 bytes, NUL-terminated). */
static int rec_read_key(kiln_kv_flash *kv, const rec *r, char *key)
{
    int rc = flash_read(kv, r->sector, r->off + REC_HDR_SIZE, key, r->key_len);
    key[r->key_len] = '\0';
    return rc;
}

/* Whether r is a record about key. Stored key bytes that differ but fail their hash were
 * damaged: such a record is taken as being about key, so damage surfaces as KILN_KV_CORRUPT
 * (the data CRC fails) instead of letting an older value reappear. */
static int rec_is_about(kiln_kv_flash *kv, const rec *r, const char *key, size_t key_len,
                        uint32_t hash, int *about)
{
    char stored[KEY_MAX_LEN + 1];
    int rc;
    *about = 0;
    if (r->key_hash != hash || r->key_len != key_len) {
        return KILN_KV_OK;
    }
    if ((rc = rec_read_key(kv, r, stored)) != KILN_KV_OK) {
        return rc;
    }
    *about = memcmp(stored, key, key_len) == 0 || kiln_crc32_update(0, stored, key_len) != hash;
    return KILN_KV_OK;
}

/* Whether a committed record after position s (which stands right behind r) replaces key. */
static int is_superseded(kiln_kv_flash *kv, scan s, const char *key, size_t key_len, uint32_t hash,
                         int *superseded)
{
    rec r;
    int rc;
    *superseded = 0;
    while ((rc = scan_next(kv, &s, &r)) == 1) {
        int about = 0;
        if (r.type == REC_WIPE) {
            *superseded = 1;
            return KILN_KV_OK;
        }
        if ((rc = rec_is_about(kv, &r, key, key_len, hash, &about)) != KILN_KV_OK) {
            return rc;
        }
        if (about) {
            *superseded = 1;
            return KILN_KV_OK;
        }
    }
    return rc;
}

/* Whether r (the scan s stands right behind it) is a PUT that still counts: its stored key,
 * read into key, is intact and no later committed record replaces it. A damaged key cannot be
 * attributed, so its record is dropped. */
static int put_is_live(kiln_kv_flash *kv, const scan *s, const rec *r, char *key, int *live)
{
    int rc, superseded = 0;
    *live = 0;
    if (r->type != REC_PUT) {
        return KILN_KV_OK;
    }
    if ((rc = rec_read_key(kv, r, key)) != KILN_KV_OK) {
        return rc;
    }
    if (kiln_crc32_update(0, key, r->key_len) != r->key_hash) {
        return KILN_KV_OK;
    }
    if ((rc = is_superseded(kv, *s, key, r->key_len, r->key_hash, &superseded)) != KILN_KV_OK) {
        return rc;
    }
    *live = !superseded;
    return KILN_KV_OK;
}

/* ---- writing ---- */

typedef struct writer {
    kiln_kv_flash *kv;
    uint32_t sector;
    uint32_t off; /* flash offset of work[0] */
    size_t fill;
    size_t cap;
} writer;

static int writer_put(writer *w, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t n = w->cap - w->fill;
        if (n > len) {
            n = len;
        }
        memcpy(w->kv->work + w->fill, data, n);
        w->fill += n;
        data += n;
        len -= n;
        if (w->fill == w->cap) {
            int rc = flash_program(w->kv, w->sector, w->off, w->kv->work, w->cap);
            if (rc != KILN_KV_OK) {
                return rc;
            }
            w->off += (uint32_t)w->cap;
            w->fill = 0;
        }
    }
    return KILN_KV_OK;
}

static int writer_finish(writer *w)
{
    size_t padded = align_up((uint32_t)w->fill, prog_size(w->kv));
    if (padded == 0) {
        return KILN_KV_OK;
    }
    memset(w->kv->work + w->fill, KILN_FLASH_ERASED_VALUE, padded - w->fill);
    return flash_program(w->kv, w->sector, w->off, w->kv->work, padded);
}

/* A record's value comes from RAM (a commit) or from another place in flash (a collection). */
typedef struct value_src {
    const uint8_t *mem;
    uint32_t sector, off;
} value_src;

/* Appends one record; index is its position in the transaction, stored in a new sector's
 * carry fields if the record starts one. */
static int write_record(kiln_kv_flash *kv, uint8_t type, uint32_t txn, uint32_t index,
                        const char *key, uint32_t key_len, const value_src *value,
                        uint32_t value_len, uint32_t aux, uint32_t data_crc)
{
    uint8_t h[REC_HDR_SIZE];
    uint32_t size = record_size(kv, key_len, value_len);
    writer w;
    int rc;

    if (kv->log_count == 0 || size > sector_size(kv) - kv->head_offset) {
        if ((rc = open_sector(kv, txn, index)) != KILN_KV_OK) {
            return rc;
        }
    }
    h[0] = type;
    h[1] = (uint8_t)key_len;
    h[2] = 0;
    h[3] = 0;
    put32(h + 4, value_len);
    put32(h + 8, txn);
    put32(h + 12, aux);
    put32(h + 16, data_crc);
    put32(h + 20, kiln_crc32_update(0, h, REC_HDR_CRC_LEN));

    w.kv = kv;
    w.sector = kv->log[kv->log_count - 1];
    w.off = kv->head_offset;
    w.fill = 0;
    w.cap = kv->work_size;
    if ((rc = writer_put(&w, h, sizeof(h))) != KILN_KV_OK ||
        (rc = writer_put(&w, (const uint8_t *)key, key_len)) != KILN_KV_OK) {
        return rc;
    }
    if (value != NULL && value->mem != NULL) {
        rc = writer_put(&w, value->mem, value_len);
    } else if (value != NULL) {
        uint8_t chunk[READ_CHUNK];
        uint32_t done = 0;
        while (rc == KILN_KV_OK && done < value_len) {
            uint32_t n = value_len - done > READ_CHUNK ? READ_CHUNK : value_len - done;
            rc = flash_read(kv, value->sector, value->off + done, chunk, n);
            if (rc == KILN_KV_OK) {
                rc = writer_put(&w, chunk, n);
            }
            done += n;
        }
    }
    if (rc != KILN_KV_OK || (rc = writer_finish(&w)) != KILN_KV_OK) {
        return rc;
    }
    kv->head_offset += size;
    return KILN_KV_OK;
}

static void placement_start(const kiln_kv_flash *kv, placement *p)
{
    p->off = kv->log_count == 0 ? sector_size(kv) : kv->head_offset;
    p->new_sectors = 0;
}

static void placement_add(const kiln_kv_flash *kv, placement *p, uint32_t size)
{
    if (size > sector_size(kv) - p->off) {
        p->new_sectors++;
        p->off = kv->data_start;
    }
    p->off += size;
}

static uint32_t sectors_outside_log(const kiln_kv_flash *kv)
{
    return kv->flash->geometry.sector_count - kv->log_count;
}

/* ---- garbage collection ---- */

/* Copies what is still live in the oldest sector to the head of the log as one transaction,
 * then marks the sector retired (it is erased when it is next needed). A cut before the
 * copies' COMMIT leaves the copies ignored and the original in place; a cut after it leaves
 * two equal copies, and the older one goes with the next collection. */
static int gc_oldest(kiln_kv_flash *kv)
{
    uint32_t victim, live = 0, txn = 0, copied = 0, pass;
    placement p;
    int rc;

    if (kv->log_count < 2) {
        return KILN_KV_NO_SPACE;
    }
    victim = kv->log[0];
    placement_start(kv, &p);
    for (pass = 0; pass < 2; pass++) {
        scan s;
        rec r;
        scan_start(kv, &s);
        while ((rc = scan_next(kv, &s, &r)) == 1) {
            char key[KEY_MAX_LEN + 1];
            int is_live = 0;
            value_src src;
            if (r.sector != victim) {
                break;
            }
            /* Deletes and wipes are dropped: everything older than them is collected already. */
            if ((rc = put_is_live(kv, &s, &r, key, &is_live)) != KILN_KV_OK) {
                return rc;
            }
            if (!is_live) {
                continue;
            }
            if (pass == 0) {
                placement_add(kv, &p, r.size);
                live++;
                continue;
            }
            src.mem = NULL;
            src.sector = r.sector;
            src.off = r.off + REC_HDR_SIZE + r.key_len;
            if ((rc = write_record(kv, REC_PUT, txn, copied, key, r.key_len, &src, r.value_len,
                                   r.key_hash, r.data_crc)) != KILN_KV_OK) {
                return rc;
            }
            copied++;
        }
        if (rc < 0) {
            return rc;
        }
        if (pass == 0) {
            if (live == 0) {
                break;
            }
            placement_add(kv, &p, record_size(kv, 0, 0));
            if (p.new_sectors > sectors_outside_log(kv)) {
                return KILN_KV_NO_SPACE;
            }
            txn = kv->next_txn++;
        }
    }
    if (live > 0) {
        if (copied != live) {
            return KILN_KV_CORRUPT; /* the flash changed under us */
        }
        if ((rc = write_record(kv, REC_COMMIT, txn, copied, NULL, 0, NULL, 0, copied, 0)) !=
            KILN_KV_OK) {
            return rc;
        }
    }
    if ((rc = sector_retire(kv, victim)) != KILN_KV_OK) {
        return rc;
    }
    memmove(kv->log, kv->log + 1, kv->log_count - 1u);
    kv->log_count--;
    kv->gc_runs++;
    return KILN_KV_OK;
}

static int find_head_end(kiln_kv_flash *kv);

/* A cut during a commit or a collection can leave the newest sectors holding nothing but the
 * records of that interrupted transaction. Such a sector holds no COMMIT record (the commit of
 * anything in the newest sector would have to follow in it), so nothing in it counts: it is
 * retired at once. Otherwise the space it holds would only come back once it is the oldest,
 * and repeated cuts during collections could use up the sectors a collection needs. */
static int reclaim_dead_head(kiln_kv_flash *kv)
{
    while (kv->log_count > 0) {
        cursor c;
        rec r;
        int rc, has_commit = 0;
        c.li = kv->log_count - 1u;
        c.off = kv->data_start;
        while ((rc = cursor_next(kv, &c, &r)) == 1) {
            has_commit |= r.type == REC_COMMIT;
        }
        if (rc < 0) {
            return rc;
        }
        if (has_commit) {
            return KILN_KV_OK;
        }
        rc = sector_retire(kv, kv->log[kv->log_count - 1u]);
        if (rc != KILN_KV_OK) {
            return rc;
        }
        kv->log_count--;
        kv->head_offset = sector_size(kv);
        if (kv->log_count > 0 && (rc = find_head_end(kv)) != KILN_KV_OK) {
            return rc;
        }
    }
    return KILN_KV_OK;
}

/* Collects until a write needing `needed` more new sectors fits with the reserve left. */
static int make_room(kiln_kv_flash *kv, const kiln_kv_op *ops, size_t n, int wipe)
{
    uint32_t round;
    int rc = reclaim_dead_head(kv);
    if (rc != KILN_KV_OK) {
        return rc;
    }
    for (round = 0;; round++) {
        placement p;
        size_t i;
        placement_start(kv, &p);
        if (wipe) {
            placement_add(kv, &p, record_size(kv, 0, 0));
        }
        for (i = 0; i < n; i++) {
            uint32_t value_len = ops[i].value != NULL ? (uint32_t)ops[i].value_len : 0u;
            placement_add(kv, &p, record_size(kv, (uint32_t)strlen(ops[i].key), value_len));
        }
        placement_add(kv, &p, record_size(kv, 0, 0));
        if (p.new_sectors + GC_RESERVE <= sectors_outside_log(kv)) {
            return KILN_KV_OK;
        }
        /* Two full turns of the log without room means the live data does not fit. */
        if (round >= 2u * kv->flash->geometry.sector_count) {
            return KILN_KV_NO_SPACE;
        }
        if ((rc = gc_oldest(kv)) != KILN_KV_OK) {
            return rc;
        }
    }
}

/* ---- mount ---- */

static int find_head_end(kiln_kv_flash *kv)
{
    uint32_t sector = kv->log[kv->log_count - 1], off = kv->data_start;
    uint8_t chunk[READ_CHUNK];
    int rc, result;
    rec r;

    while (sector_size(kv) - off >= REC_HDR_SIZE) {
        if ((rc = rec_read(kv, sector, off, &r, &result)) != KILN_KV_OK) {
            return rc;
        }
        if (result != REC_VALID) {
            break;
        }
        off += r.size;
    }
    kv->head_offset = off;
    /* Appending is only safe over a clean tail; after a torn write, move to a new sector. */
    while (off < sector_size(kv)) {
        uint32_t n = sector_size(kv) - off > READ_CHUNK ? READ_CHUNK : sector_size(kv) - off;
        if ((rc = flash_read(kv, sector, off, chunk, n)) != KILN_KV_OK) {
            return rc;
        }
        if (!all_erased(chunk, n)) {
            kv->head_offset = sector_size(kv);
            break;
        }
        off += n;
    }
    return KILN_KV_OK;
}

static int do_mount(kiln_kv_flash *kv)
{
    uint32_t seqs[KILN_KV_FLASH_MAX_SECTORS];
    uint32_t s, max_seq = 0;
    cursor c;
    rec r;
    int rc;

    kv->mounted = false;
    kv->log_count = 0;
    kv->next_txn = 1;
    for (s = 0; s < kv->flash->geometry.sector_count; s++) {
        sector_info info;
        uint32_t i;
        if ((rc = sector_read_info(kv, s, &info)) != KILN_KV_OK) {
            return rc;
        }
        if (info.state != SECTOR_LOG) {
            continue;
        }
        for (i = kv->log_count; i > 0 && seqs[i - 1] > info.seq; i--) {
            seqs[i] = seqs[i - 1];
            kv->log[i] = kv->log[i - 1];
        }
        seqs[i] = info.seq;
        kv->log[i] = (uint8_t)s;
        kv->log_count++;
        if (info.seq > max_seq) {
            max_seq = info.seq;
        }
    }
    kv->next_sector_seq = max_seq + 1u;
    kv->head_offset = sector_size(kv);
    if (kv->log_count > 0 && (rc = find_head_end(kv)) != KILN_KV_OK) {
        return rc;
    }
    c.li = 0;
    c.off = kv->data_start;
    while ((rc = cursor_next(kv, &c, &r)) == 1) {
        if (r.txn >= kv->next_txn) {
            kv->next_txn = r.txn + 1u;
        }
    }
    if (rc < 0) {
        return rc;
    }
    kv->mounted = true;
    return KILN_KV_OK;
}

static int ensure_mounted(kiln_kv_flash *kv)
{
    if (kv == NULL || kv->flash == NULL) {
        return KILN_KV_INVALID;
    }
    return kv->mounted ? KILN_KV_OK : do_mount(kv);
}

int kiln_kv_flash_mount(kiln_kv_flash *kv, const kiln_flash *flash, uint8_t *work, size_t work_size)
{
    const kiln_flash_geometry *g;
    uint32_t p;
    if (kv == NULL || flash == NULL || work == NULL || flash->read == NULL ||
        flash->program == NULL || flash->erase == NULL) {
        return KILN_KV_INVALID;
    }
    g = &flash->geometry;
    p = g->program_size;
    if (p == 0 || p > 32 || (p & (p - 1u)) != 0 || g->sector_size % p != 0 ||
        g->sector_size < 256 || g->sector_count < KILN_KV_FLASH_MIN_SECTORS ||
        g->sector_count > KILN_KV_FLASH_MAX_SECTORS ||
        g->sector_size > UINT32_MAX / g->sector_count || work_size < KILN_KV_FLASH_WORK_MIN) {
        return KILN_KV_INVALID;
    }
    memset(kv, 0, sizeof(*kv));
    kv->flash = flash;
    kv->work = work;
    kv->work_size = work_size - work_size % p;
    kv->data_start =
        align_up(SECTOR_A_SIZE, p) + align_up(SECTOR_B_SIZE, p) + align_up(SECTOR_C_SIZE, p);
    return do_mount(kv);
}

/* ---- kv.h operations ---- */

int kiln_kv_flash_get(kiln_kv_flash *kv, const char *key, uint8_t *buf, size_t buf_size,
                      size_t *value_len)
{
    size_t key_len;
    uint32_t hash;
    int rc, found = 0;
    scan s;
    rec r, best;

    if (!key_is_valid(key, &key_len) || value_len == NULL) {
        return KILN_KV_INVALID;
    }
    if ((rc = ensure_mounted(kv)) != KILN_KV_OK) {
        return rc;
    }
    hash = kiln_crc32_update(0, key, key_len);
    memset(&best, 0, sizeof(best));
    scan_start(kv, &s);
    while ((rc = scan_next(kv, &s, &r)) == 1) {
        int about = 0;
        if (r.type == REC_WIPE) {
            found = 0;
            continue;
        }
        if ((rc = rec_is_about(kv, &r, key, key_len, hash, &about)) != KILN_KV_OK) {
            return rc;
        }
        if (about) {
            found = r.type == REC_PUT;
            best = r;
        }
    }
    if (rc < 0) {
        return rc;
    }
    if (!found) {
        return KILN_KV_NOT_FOUND;
    }
    *value_len = best.value_len;
    if (buf == NULL) {
        return KILN_KV_OK;
    }
    if (buf_size < best.value_len) {
        return KILN_KV_TOO_SMALL;
    }
    if ((rc = flash_read(kv, best.sector, best.off + REC_HDR_SIZE + best.key_len, buf,
                         best.value_len)) != KILN_KV_OK) {
        return rc;
    }
    if (kiln_crc32_update(hash, buf, best.value_len) != best.data_crc) {
        memset(buf, 0, best.value_len);
        return KILN_KV_CORRUPT;
    }
    return KILN_KV_OK;
}

int kiln_kv_flash_commit(kiln_kv_flash *kv, const kiln_kv_op *ops, size_t n)
{
    uint32_t payload, txn, i;
    int rc;

    if ((rc = ensure_mounted(kv)) != KILN_KV_OK) {
        return rc;
    }
    if (n == 0) {
        return KILN_KV_OK;
    }
    if (ops == NULL || n >= UINT32_MAX) {
        return KILN_KV_INVALID;
    }
    payload = sector_size(kv) - kv->data_start;
    for (i = 0; i < n; i++) {
        size_t key_len;
        if (!key_is_valid(ops[i].key, &key_len)) {
            return KILN_KV_INVALID;
        }
        if (ops[i].value != NULL &&
            (ops[i].value_len > payload ||
             record_size(kv, (uint32_t)key_len, (uint32_t)ops[i].value_len) > payload)) {
            return KILN_KV_INVALID;
        }
    }
    if ((rc = make_room(kv, ops, n, 0)) != KILN_KV_OK) {
        return rc;
    }
    txn = kv->next_txn++;
    for (i = 0; i < n; i++) {
        uint32_t key_len = (uint32_t)strlen(ops[i].key);
        uint32_t value_len = ops[i].value != NULL ? (uint32_t)ops[i].value_len : 0u;
        uint32_t key_hash = kiln_crc32_update(0, ops[i].key, key_len);
        value_src src;
        src.mem = ops[i].value;
        src.sector = 0;
        src.off = 0;
        rc = write_record(kv, ops[i].value != NULL ? REC_PUT : REC_DEL, txn, i, ops[i].key, key_len,
                          ops[i].value != NULL ? &src : NULL, value_len, key_hash,
                          kiln_crc32_update(key_hash, ops[i].value, value_len));
        if (rc != KILN_KV_OK) {
            return rc;
        }
    }
    return write_record(kv, REC_COMMIT, txn, (uint32_t)n, NULL, 0, NULL, 0, (uint32_t)n, 0);
}

int kiln_kv_flash_wipe(kiln_kv_flash *kv)
{
    uint32_t txn;
    int rc;
    if ((rc = ensure_mounted(kv)) != KILN_KV_OK || (rc = make_room(kv, NULL, 0, 1)) != KILN_KV_OK) {
        return rc;
    }
    txn = kv->next_txn++;
    if ((rc = write_record(kv, REC_WIPE, txn, 0, NULL, 0, NULL, 0, 0, 0)) != KILN_KV_OK) {
        return rc;
    }
    return write_record(kv, REC_COMMIT, txn, 1, NULL, 0, NULL, 0, 1, 0);
}

int kiln_kv_flash_list(kiln_kv_flash *kv, kiln_kv_list_cb cb, void *arg)
{
    scan s;
    rec r;
    int rc;
    if (cb == NULL) {
        return KILN_KV_INVALID;
    }
    if ((rc = ensure_mounted(kv)) != KILN_KV_OK) {
        return rc;
    }
    scan_start(kv, &s);
    while ((rc = scan_next(kv, &s, &r)) == 1) {
        char key[KEY_MAX_LEN + 1];
        int is_live = 0;
        if ((rc = put_is_live(kv, &s, &r, key, &is_live)) != KILN_KV_OK) {
            return rc;
        }
        if (is_live && cb(arg, key, r.value_len) != 0) {
            return KILN_KV_OK;
        }
    }
    return rc < 0 ? rc : KILN_KV_OK;
}

int kiln_kv_flash_stats_get(kiln_kv_flash *kv, kiln_kv_flash_stats *stats)
{
    int rc;
    if (stats == NULL) {
        return KILN_KV_INVALID;
    }
    if ((rc = ensure_mounted(kv)) != KILN_KV_OK) {
        return rc;
    }
    stats->log_sectors = kv->log_count;
    stats->free_sectors = sectors_outside_log(kv);
    stats->gc_runs = kv->gc_runs;
    stats->max_value_size = (sector_size(kv) - kv->data_start) - REC_HDR_SIZE - KEY_MAX_LEN;
    return KILN_KV_OK;
}

static int backend_get(void *ctx, const char *key, uint8_t *buf, size_t buf_size, size_t *value_len)
{
    return kiln_kv_flash_get((kiln_kv_flash *)ctx, key, buf, buf_size, value_len);
}

static int backend_commit(void *ctx, const kiln_kv_op *ops, size_t n)
{
    return kiln_kv_flash_commit((kiln_kv_flash *)ctx, ops, n);
}

static int backend_list(void *ctx, kiln_kv_list_cb cb, void *arg)
{
    return kiln_kv_flash_list((kiln_kv_flash *)ctx, cb, arg);
}

static int backend_wipe(void *ctx)
{
    return kiln_kv_flash_wipe((kiln_kv_flash *)ctx);
}

void kiln_kv_flash_backend(kiln_kv_flash *kv, kiln_kv_backend *backend)
{
    backend->ctx = kv;
    backend->get = backend_get;
    backend->commit = backend_commit;
    backend->list = backend_list;
    backend->wipe = backend_wipe;
}
