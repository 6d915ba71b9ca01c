/* Full-stack power-loss test: FCC bundles handled by a kiln_device whose storage is the flash
 * key store on emulated NOR flash, with power cut at every flash operation.
 *
 * Steps: provision ok_bootstrap_full, kcm_factory_reset, fcc_storage_delete, provision again.
 * After each cut the device reboots (store remounted, kcm/fcc init, which may finish an
 * interrupted factory reset) and its items, read back and decrypted through KCM, must equal
 * the state before the step or the state after it. Root key and entropy are fixed so every
 * replay performs the same flash operations.
 *
 *   test_power_loss_fcc BUNDLE.req.cbor */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "flash_emu.h"
#include "kiln/device.h"
#include "kiln/kv_flash.h"

enum { STEP_PROVISION, STEP_FACTORY_RESET, STEP_STORAGE_DELETE, STEP_PROVISION_AGAIN, N_STEPS };

static const char *const step_names[N_STEPS] = {"provision", "factory reset", "storage delete",
                                                "provision again"};

typedef struct digest {
    uint32_t count;
    uint32_t sum;
    uint32_t xor ;
} digest;

typedef struct rig {
    flash_emu emu;
    kiln_kv_flash store;
    kiln_kv_backend backend;
    kiln_device dev;
    uint8_t work[256];
    uint32_t entropy_state;
    int item_errors;
} rig;

static uint8_t *bundle;
static size_t bundle_len;
static int failures;

static int fixed_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x5a, 32);
    return 0;
}

static int fixed_entropy(void *ctx, uint8_t *buf, size_t len)
{
    rig *r = ctx;
    size_t i;
    for (i = 0; i < len; i++) {
        r->entropy_state = r->entropy_state * 1103515245u + 12345u;
        buf[i] = (uint8_t)(r->entropy_state >> 16);
    }
    return 0;
}

/* Power on: mount the store and bring the device up, as firmware does at boot. */
static int boot(rig *r)
{
    kiln_device_config cfg;
    flash_emu_power_on(&r->emu);
    if (kiln_kv_flash_mount(&r->store, &r->emu.flash, r->work, sizeof(r->work)) != KILN_KV_OK) {
        return -1;
    }
    kiln_kv_flash_backend(&r->store, &r->backend);
    memset(&cfg, 0, sizeof(cfg));
    cfg.kv = &r->backend;
    cfg.root_key = fixed_root_key;
    cfg.entropy = fixed_entropy;
    cfg.entropy_ctx = r;
    r->entropy_state = 42;
    memset(&r->dev, 0, sizeof(r->dev));
    kiln_device_setup(&r->dev, &cfg);
    if (kiln_fcc_init(&r->dev) != FCC_STATUS_SUCCESS) {
        return -1;
    }
    return 0;
}

static void shutdown_device(rig *r)
{
    (void)kiln_fcc_finalize(&r->dev);
}

static int run_step(rig *r, int step)
{
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcc_status_e st;
    switch (step) {
    case STEP_PROVISION:
    case STEP_PROVISION_AGAIN:
        st = kiln_fcc_bundle_handler(&r->dev, bundle, bundle_len, &resp, &resp_len);
        free(resp);
        return st == FCC_STATUS_SUCCESS ? 0 : -1;
    case STEP_FACTORY_RESET:
        return kiln_kcm_factory_reset(&r->dev) == KCM_STATUS_SUCCESS ? 0 : -1;
    default:
        return kiln_fcc_storage_delete(&r->dev) == FCC_STATUS_SUCCESS ? 0 : -1;
    }
}

typedef struct digest_ctx {
    rig *r;
    digest d;
} digest_ctx;

static void digest_add(digest *d, uint32_t h)
{
    d->count++;
    d->sum += h;
    d->xor ^= h;
}

static int item_cb(void *arg, kcm_item_type_e type, const char *name, size_t data_size)
{
    digest_ctx *c = arg;
    static uint8_t data[8192];
    size_t got = 0;
    uint8_t t = (uint8_t)type;
    uint32_t h;
    if (data_size > sizeof(data) ||
        kiln_kcm_item_get_data(&c->r->dev, (const uint8_t *)name, strlen(name), type, data,
                               sizeof(data), &got) != KCM_STATUS_SUCCESS ||
        got != data_size) {
        c->r->item_errors++;
        return 0;
    }
    h = kiln_crc32_update(0, &t, 1);
    h = kiln_crc32_update(h, name, strlen(name) + 1);
    h = kiln_crc32_update(h, data, got);
    digest_add(&c->d, h);
    return 0;
}

static int key_cb(void *arg, const char *key, size_t value_len)
{
    digest *d = arg;
    uint32_t len32 = (uint32_t)value_len;
    digest_add(d, kiln_crc32_update(kiln_crc32_update(0, key, strlen(key)), &len32, 4));
    return 0;
}

/* What the device holds: its items decrypted through KCM, plus the store's key set. */
static int take_digest(rig *r, digest *items, digest *keys)
{
    digest_ctx c;
    memset(&c, 0, sizeof(c));
    c.r = r;
    r->item_errors = 0;
    memset(keys, 0, sizeof(*keys));
    if (kiln_kcm_item_list(&r->dev, item_cb, &c) != KCM_STATUS_SUCCESS || r->item_errors != 0 ||
        kiln_kv_flash_list(&r->store, key_cb, keys) != KILN_KV_OK) {
        return -1;
    }
    *items = c.d;
    return 0;
}

static int same(const digest *a, const digest *b)
{
    return a->count == b->count && a->sum == b->sum && a->xor == b->xor ;
}

static int load(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
        if (f != NULL) {
            fclose(f);
        }
        return -1;
    }
    rewind(f);
    bundle = malloc((size_t)n);
    bundle_len = fread(bundle, 1, (size_t)n, f);
    fclose(f);
    return bundle_len == (size_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
    static rig r;
    uint8_t *images[N_STEPS];
    uint64_t step_ops[N_STEPS], cuts = 0;
    digest items[N_STEPS + 1], keys[N_STEPS + 1];
    int step;

    if (argc != 2 || load(argv[1]) != 0) {
        fprintf(stderr, "usage: test_power_loss_fcc BUNDLE.req.cbor\n");
        return 2;
    }
    if (flash_emu_init(&r.emu, 8, 4096, 16) != 0) {
        return 2;
    }
    /* Recording run, one boot per step. */
    for (step = 0; step < N_STEPS; step++) {
        uint64_t before;
        images[step] = malloc(r.emu.size);
        memcpy(images[step], r.emu.mem, r.emu.size);
        if (boot(&r) != 0 || take_digest(&r, &items[step], &keys[step]) != 0) {
            fprintf(stderr, "boot before step %s failed\n", step_names[step]);
            return 1;
        }
        before = r.emu.ops;
        if (run_step(&r, step) != 0) {
            fprintf(stderr, "clean step %s failed\n", step_names[step]);
            return 1;
        }
        step_ops[step] = r.emu.ops - before;
        shutdown_device(&r);
    }
    if (boot(&r) != 0 || take_digest(&r, &items[N_STEPS], &keys[N_STEPS]) != 0) {
        return 1;
    }
    shutdown_device(&r);
    /* the sequence must really change the state: provisioned, reset, empty, provisioned */
    if (items[1].count == 0 || items[3].count != 0 || !same(&items[4], &items[1])) {
        fprintf(stderr, "unexpected item counts %u %u %u %u\n", items[1].count, items[2].count,
                items[3].count, items[4].count);
        failures++;
    }

    for (step = 0; step < N_STEPS; step++) {
        uint64_t j;
        for (j = 0; j < step_ops[step]; j++) {
            digest di, dk;
            memcpy(r.emu.mem, images[step], r.emu.size);
            if (boot(&r) != 0) {
                failures++;
                continue;
            }
            flash_emu_cut_at(&r.emu, r.emu.ops + j, (uint32_t)(j * 17u + (uint64_t)step));
            if (run_step(&r, step) == 0) {
                fprintf(stderr, "%s: step succeeded with power cut at op %llu\n", step_names[step],
                        (unsigned long long)j);
                failures++;
            }
            shutdown_device(&r);
            cuts++;
            if (boot(&r) != 0 || take_digest(&r, &di, &dk) != 0) {
                fprintf(stderr, "%s cut %llu: reboot or read-back failed\n", step_names[step],
                        (unsigned long long)j);
                failures++;
                continue;
            }
            if (!(same(&di, &items[step]) && same(&dk, &keys[step])) &&
                !(same(&di, &items[step + 1]) && same(&dk, &keys[step + 1]))) {
                fprintf(stderr, "%s cut %llu: state is neither before nor after (%u items)\n",
                        step_names[step], (unsigned long long)j, di.count);
                failures++;
            }
            shutdown_device(&r);
        }
        printf("%s: %llu flash ops, each cut\n", step_names[step],
               (unsigned long long)step_ops[step]);
    }
    printf("power-loss fcc: %llu cut points, %d failures\n", (unsigned long long)cuts, failures);
    for (step = 0; step < N_STEPS; step++) {
        free(images[step]);
    }
    free(bundle);
    flash_emu_free(&r.emu);
    return failures == 0 && cuts > 0 ? 0 : 1;
}
