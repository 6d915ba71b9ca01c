/* libFuzzer target: mount the flash key store on arbitrary flash content (what a device finds
 * after a cut, bit rot or a foreign image), then list, read, commit and remount. Nothing may
 * crash, and a commit that succeeded must read back. Input: byte 0 picks the program size,
 * the rest is the flash image (padded with erased bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flash_emu.h"
#include "kiln/kv_flash.h"

#define SECTOR_SIZE  512u
#define SECTOR_COUNT 6u

static uint8_t work[128];

typedef struct found {
    char key[KILN_KV_MAX_KEY];
    int n;
} found;

static int remember(void *arg, const char *key, size_t value_len)
{
    found *f = arg;
    (void)value_len;
    if (f->n++ == 0) {
        strncpy(f->key, key, sizeof(f->key) - 1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t value[40] = "fuzz value written after the mount.....";
    flash_emu emu;
    kiln_kv_flash kv;
    found f;
    uint8_t buf[SECTOR_SIZE];
    size_t len = 0;
    kiln_kv_op op = {"fuzz-probe", value, sizeof(value)};

    if (size < 1) {
        return 0;
    }
    if (flash_emu_init(&emu, 1u << (data[0] % 6u), SECTOR_SIZE, SECTOR_COUNT) != 0) {
        return 0;
    }
    size--;
    memcpy(emu.mem, data + 1, size < emu.size ? size : emu.size);
    /* Foreign content may not be erased where the store expects it: allow reprogramming by
     * letting the store find out through mount, as a real part would. */
    if (kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)) == KILN_KV_OK) {
        memset(&f, 0, sizeof(f));
        if (kiln_kv_flash_list(&kv, remember, &f) == KILN_KV_OK && f.n > 0) {
            (void)kiln_kv_flash_get(&kv, f.key, buf, sizeof(buf), &len);
            (void)kiln_kv_flash_get(&kv, f.key, NULL, 0, &len);
        }
        if (kiln_kv_flash_commit(&kv, &op, 1) == KILN_KV_OK) {
            if (kiln_kv_flash_mount(&kv, &emu.flash, work, sizeof(work)) != KILN_KV_OK ||
                kiln_kv_flash_get(&kv, "fuzz-probe", buf, sizeof(buf), &len) != KILN_KV_OK ||
                len != sizeof(value) || memcmp(buf, value, len) != 0) {
                abort(); /* a commit that succeeded must survive a remount */
            }
        }
        (void)kiln_kv_flash_wipe(&kv);
    }
    flash_emu_free(&emu);
    return 0;
}
