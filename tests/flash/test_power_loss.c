/* Power-loss test of the flash key store at the kv.h level.
 *
 * A provisioning-like sequence (bundle commit, updates, deletes, factory reset, storage wipe,
 * re-provisioning, churn that forces garbage collection) is run once to record the flash image
 * before every step and the number of flash operations each step performs. Then, for every
 * operation of every step, the image before the step is restored, the store mounted, power
 * cut during that operation (left half done), the store remounted, and the state checked:
 * every key must hold exactly its value from before the step or exactly from after it (the
 * interrupted commit wholly absent or wholly present, nothing else changed, no corruption).
 * The store must then accept a new commit, also when power is cut again during it.
 *
 * A cut point counts only when power really was lost at that operation, and "distinct" is
 * measured on what the cut left behind: the number of different flash images right after the
 * cuts (a cut that leaves the same bytes as another tests nothing new).
 *
 *   test_power_loss [short|long]   short: one geometry, for ctest; long: five geometries and a
 *                                  longer sequence, fails below 10,000 distinct cut points.
 *                                  Prints both counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash_emu.h"
#include "kiln/kv_flash.h"

#define MAX_KEYS    48
#define MAX_STEP_OP 32
#define MAX_VALUE   1600

typedef struct step_op {
    int key;
    int del;
    uint32_t seed;
    uint32_t len;
} step_op;

typedef struct step {
    int wipe;
    int n;
    step_op ops[MAX_STEP_OP];
} step;

typedef struct slot {
    int present;
    uint32_t seed;
    uint32_t len;
} slot;

typedef struct model {
    slot keys[MAX_KEYS];
} model;

static char key_names[MAX_KEYS][KILN_KV_MAX_KEY];
static int key_count;
static int failures;

/* Hashes of the flash images found right after each cut, of every geometry. */
static uint64_t *cut_images;
static size_t cut_image_count, cut_image_cap;

static void remember_cut_image(const uint8_t *mem, size_t size, size_t geometry_index)
{
    uint64_t h = 14695981039346656037ull ^ geometry_index; /* FNV-1a, 64 bit */
    size_t i;
    for (i = 0; i < size; i++) {
        h = (h ^ mem[i]) * 1099511628211ull;
    }
    if (cut_image_count == cut_image_cap) {
        size_t cap = cut_image_cap ? cut_image_cap * 2 : 4096;
        uint64_t *grown = realloc(cut_images, cap * sizeof(*grown));
        if (grown == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        cut_images = grown;
        cut_image_cap = cap;
    }
    cut_images[cut_image_count++] = h;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t distinct_cut_images(void)
{
    size_t i, n = 0;
    qsort(cut_images, cut_image_count, sizeof(*cut_images), compare_u64);
    for (i = 0; i < cut_image_count; i++) {
        n += i == 0 || cut_images[i] != cut_images[i - 1];
    }
    return n;
}
static uint8_t work[256]; /* the first work_size bytes are used */

static void fail(const char *what, int step_index, uint64_t cut)
{
    if (failures++ < 20) {
        fprintf(stderr, "FAIL step %d cut %llu: %s\n", step_index, (unsigned long long)cut, what);
    }
}

static void make_value(uint8_t *buf, uint32_t seed, uint32_t len)
{
    uint32_t i, x = seed * 2654435761u + 7u;
    for (i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

static int add_key(const char *name)
{
    snprintf(key_names[key_count], sizeof(key_names[0]), "%s", name);
    return key_count++;
}

/* ---- the sequence ---- */

static const struct {
    const char *name;
    uint32_t len;
} items[] = {
    {"CfgParam_mbed.EndpointName", 20},
    {"CfgParam_mbed.AccountID", 36},
    {"CfgParam_mbed.UseBootstrap", 10},
    {"Cert_mbed.BootstrapDeviceCert", 820},
    {"PrvKey_mbed.BootstrapDevicePrivateKey", 138},
    {"CfgParam_mbed.BootstrapServerURI", 64},
    {"Cert_mbed.BootstrapServerCACert", 1500},
    {"Cert_mbed.UpdateAuthCert", 1210},
    {"Entropy", 48},
    {"ROT", 16},
    {"CfgParam_mbed.CurrentTime", 12},
    {"CfgParam_mbed.Manufacturer", 640},
    {"CfgParam_mbed.DeviceType", 300},
};
#define N_ITEMS (int)(sizeof(items) / sizeof(items[0]))

static int working[N_ITEMS], backup[N_ITEMS];

static step *new_step(step *steps, int *n)
{
    step *s = &steps[(*n)++];
    memset(s, 0, sizeof(*s));
    return s;
}

static void op_put(step *s, int key, uint32_t seed, uint32_t len)
{
    step_op *o = &s->ops[s->n++];
    o->key = key;
    o->del = 0;
    o->seed = seed;
    o->len = len;
}

static void op_del(step *s, int key)
{
    step_op *o = &s->ops[s->n++];
    memset(o, 0, sizeof(*o));
    o->key = key;
    o->del = 1;
}

static void provision(step *steps, int *n, uint32_t seed)
{
    step *s = new_step(steps, n);
    int i;
    for (i = 0; i < N_ITEMS; i++) {
        op_put(s, working[i], seed + (uint32_t)i, items[i].len);
        op_put(s, backup[i], seed + (uint32_t)i, items[i].len);
    }
}

/* KCM's factory reset: every working item replaced by its factory copy, in one commit. The
 * copies' values are resolved when the model is applied. */
static void factory_reset(step *steps, int *n)
{
    step *s = new_step(steps, n);
    int i;
    for (i = 0; i < N_ITEMS; i++) {
        op_del(s, working[i]);
    }
    for (i = 0; i < N_ITEMS; i++) {
        op_put(s, working[i], 0, 0);
        s->ops[s->n - 1].seed = UINT32_MAX; /* "copy of backup[i]" */
        s->ops[s->n - 1].len = (uint32_t)backup[i];
    }
}

static int build_sequence(step *steps, int churn)
{
    int n = 0, i;
    step *s;
    key_count = 0;
    for (i = 0; i < N_ITEMS; i++) {
        char name[KILN_KV_MAX_KEY];
        snprintf(name, sizeof(name), "pelion_w%s", items[i].name);
        working[i] = add_key(name);
        snprintf(name, sizeof(name), "pelion_b%s", items[i].name);
        backup[i] = add_key(name);
    }
    provision(steps, &n, 1000);
    for (i = 0; i < 6; i++) { /* field updates of working items */
        s = new_step(steps, &n);
        op_put(s, working[(i * 5) % N_ITEMS], 2000u + (uint32_t)i, items[(i * 5) % N_ITEMS].len);
        if (i % 2 == 0) {
            op_put(s, working[(i * 3 + 1) % N_ITEMS], 2100u + (uint32_t)i,
                   200u + 50u * (uint32_t)i);
        }
    }
    s = new_step(steps, &n);
    op_del(s, working[3]);
    op_del(s, working[4]);
    s = new_step(steps, &n);
    op_del(s, working[11]);
    op_del(s, add_key("never-stored")); /* deleting an absent key is no error */
    factory_reset(steps, &n);
    s = new_step(steps, &n);
    s->wipe = 1; /* fcc_storage_delete */
    provision(steps, &n, 5000);
    for (i = 0; i < churn; i++) {
        s = new_step(steps, &n);
        op_put(s, working[i % 4], 7000u + (uint32_t)i, 100u + (uint32_t)((i * 397) % 1400));
        if (i % 3 == 0) {
            op_put(s, working[6 + i % 3], 9000u + (uint32_t)i, 10u + (uint32_t)((i * 211) % 1490));
        }
    }
    factory_reset(steps, &n);
    return n;
}

static void apply(model *m, const step *s)
{
    int i;
    if (s->wipe) {
        memset(m, 0, sizeof(*m));
        return;
    }
    for (i = 0; i < s->n; i++) {
        const step_op *o = &s->ops[i];
        if (o->del) {
            m->keys[o->key].present = 0;
        } else if (o->seed == UINT32_MAX) {
            m->keys[o->key] = m->keys[o->len];
        } else {
            m->keys[o->key].present = 1;
            m->keys[o->key].seed = o->seed;
            m->keys[o->key].len = o->len;
        }
    }
}

/* Runs one step against the store; values of factory-reset copies come from the model. */
static int run_step(kiln_kv_flash *kv, const step *s, const model *before)
{
    static uint8_t values[MAX_STEP_OP][MAX_VALUE];
    kiln_kv_op ops[MAX_STEP_OP];
    int i;
    if (s->wipe) {
        return kiln_kv_flash_wipe(kv);
    }
    for (i = 0; i < s->n; i++) {
        const step_op *o = &s->ops[i];
        slot v = {1, o->seed, o->len};
        if (o->seed == UINT32_MAX) {
            v = before->keys[o->len];
        }
        ops[i].key = key_names[o->key];
        ops[i].value = o->del ? NULL : values[i];
        ops[i].value_len = o->del ? 0 : v.len;
        if (!o->del) {
            make_value(values[i], v.seed, v.len);
        }
    }
    return kiln_kv_flash_commit(kv, ops, (size_t)s->n);
}

/* ---- checking ---- */

typedef struct list_state {
    const model *m;
    int count;
    int unknown;
} list_state;

static int list_cb(void *arg, const char *key, size_t value_len)
{
    list_state *ls = arg;
    int k;
    if (strcmp(key, "probe") == 0) {
        return 0; /* the recovery probe is checked on its own */
    }
    for (k = 0; k < key_count; k++) {
        if (strcmp(key_names[k], key) == 0) {
            break;
        }
    }
    if (k == key_count || !ls->m->keys[k].present || ls->m->keys[k].len != value_len) {
        ls->unknown++;
    }
    ls->count++;
    return 0;
}

/* Whether the store holds exactly the state m, through get and list. */
static int matches(kiln_kv_flash *kv, const model *m)
{
    static uint8_t got[MAX_VALUE], want[MAX_VALUE];
    list_state ls = {m, 0, 0};
    int k, present = 0;
    for (k = 0; k < key_count; k++) {
        size_t len = 0;
        int rc = kiln_kv_flash_get(kv, key_names[k], got, sizeof(got), &len);
        if (!m->keys[k].present) {
            if (rc != KILN_KV_NOT_FOUND) {
                return 0;
            }
            continue;
        }
        present++;
        make_value(want, m->keys[k].seed, m->keys[k].len);
        if (rc != KILN_KV_OK || len != m->keys[k].len || memcmp(got, want, len) != 0) {
            return 0;
        }
    }
    if (kiln_kv_flash_list(kv, list_cb, &ls) != KILN_KV_OK) {
        return 0;
    }
    return ls.unknown == 0 && ls.count == present;
}

static int probe_present(kiln_kv_flash *kv, uint32_t seed)
{
    uint8_t got[64], want[64];
    size_t len = 0;
    make_value(want, seed, sizeof(want));
    return kiln_kv_flash_get(kv, "probe", got, sizeof(got), &len) == KILN_KV_OK &&
           len == sizeof(want) && memcmp(got, want, sizeof(want)) == 0;
}

static int probe_commit(kiln_kv_flash *kv, uint32_t seed)
{
    uint8_t v[64];
    kiln_kv_op op = {"probe", v, sizeof(v)};
    make_value(v, seed, sizeof(v));
    return kiln_kv_flash_commit(kv, &op, 1);
}

typedef struct geometry {
    uint32_t program_size, sector_size, sector_count;
    size_t work_size; /* smaller buffers mean more, smaller program operations */
} geometry;

/* Returns the number of cut points exercised (operations at which power was lost). */
static uint64_t run_geometry(const geometry *g, size_t geometry_index, int churn, int every)
{
    static step steps[512];
    static model models[513];
    flash_emu emu;
    kiln_kv_flash kv;
    uint8_t **images;
    uint64_t *step_ops, cuts = 0, total_ops = 0, gc_runs = 0;
    int n, k;

    n = build_sequence(steps, churn);
    if (flash_emu_init(&emu, g->program_size, g->sector_size, g->sector_count) != 0) {
        return 0;
    }
    images = calloc((size_t)n, sizeof(*images));
    step_ops = calloc((size_t)n, sizeof(*step_ops));
    memset(&models[0], 0, sizeof(models[0]));

    /* Recording run: every step starts from a fresh mount, as after a reboot. */
    for (k = 0; k < n; k++) {
        kiln_kv_flash_stats st;
        uint64_t before = emu.ops;
        images[k] = malloc(emu.size);
        memcpy(images[k], emu.mem, emu.size);
        models[k + 1] = models[k];
        apply(&models[k + 1], &steps[k]);
        if (kiln_kv_flash_mount(&kv, &emu.flash, work, g->work_size) != KILN_KV_OK ||
            run_step(&kv, &steps[k], &models[k]) != KILN_KV_OK) {
            fail("recording run failed", k, 0);
            goto out;
        }
        step_ops[k] = emu.ops - before;
        total_ops += step_ops[k];
        if (kiln_kv_flash_stats_get(&kv, &st) == KILN_KV_OK) {
            gc_runs += st.gc_runs;
        }
        if (!matches(&kv, &models[k + 1])) {
            fail("state after a clean step is wrong", k, 0);
        }
    }
    /* The same sequence on one store without remounts must produce the same flash: the state
     * a mount reconstructs is the state the store had in RAM. */
    {
        flash_emu cont;
        flash_emu_init(&cont, g->program_size, g->sector_size, g->sector_count);
        kiln_kv_flash_mount(&kv, &cont.flash, work, g->work_size);
        for (k = 0; k < n; k++) {
            if (run_step(&kv, &steps[k], &models[k]) != KILN_KV_OK) {
                fail("continuous run failed", k, 0);
                break;
            }
        }
        if (cont.ops != total_ops || memcmp(cont.mem, emu.mem, emu.size) != 0) {
            fail("continuous run differs from the remount-per-step run", n, 0);
        }
        flash_emu_free(&cont);
    }

    for (k = 0; k < n; k++) {
        uint64_t j;
        for (j = 0; j < step_ops[k]; j += (uint64_t)every) {
            int rc, after_state;
            uint64_t cut_op;
            memcpy(emu.mem, images[k], emu.size);
            flash_emu_power_on(&emu);
            kiln_kv_flash_mount(&kv, &emu.flash, work, g->work_size);
            cut_op = emu.ops + j;
            flash_emu_cut_at(&emu, cut_op, (uint32_t)(j * 31u + (uint64_t)k));
            rc = run_step(&kv, &steps[k], &models[k]);
            if (rc == KILN_KV_OK) {
                fail("step succeeded although power was cut", k, j);
                continue;
            }
            /* The operation counter stops at the one that lost power. */
            if (emu.powered || emu.ops != cut_op + 1) {
                fail("step failed, but not by the power cut at this operation", k, j);
                continue;
            }
            cuts++;
            remember_cut_image(emu.mem, emu.size, geometry_index);
            /* reboot */
            flash_emu_power_on(&emu);
            if (kiln_kv_flash_mount(&kv, &emu.flash, work, g->work_size) != KILN_KV_OK) {
                fail("mount after cut failed", k, j);
                continue;
            }
            if (matches(&kv, &models[k])) {
                after_state = 0;
            } else if (matches(&kv, &models[k + 1])) {
                after_state = 1;
            } else {
                fail("state after cut is neither before nor after the step", k, j);
                continue;
            }
            /* recovery commit, itself cut at some point, then a clean one */
            flash_emu_cut_at(&emu, emu.ops + (j * 7u + 3u) % 40u, (uint32_t)(j + 99u));
            probe_commit(&kv, 1);
            flash_emu_power_on(&emu);
            if (kiln_kv_flash_mount(&kv, &emu.flash, work, g->work_size) != KILN_KV_OK ||
                !matches(&kv, &models[k + after_state])) {
                fail("second cut disturbed the state", k, j);
                continue;
            }
            if ((rc = probe_commit(&kv, 2)) != KILN_KV_OK) {
                char msg[80];
                snprintf(msg, sizeof(msg), "store not writable after cuts: %s",
                         kiln_kv_status_to_string(rc));
                fail(msg, k, j);
                if (getenv("KV_DEBUG") != NULL) {
                    uint32_t q;
                    fprintf(stderr, "log_count %u head %u:", kv.log_count, kv.head_offset);
                    for (q = 0; q < kv.log_count; q++) {
                        fprintf(stderr, " %u", kv.log[q]);
                    }
                    fprintf(stderr, "\n");
                }
                continue;
            }
            kiln_kv_flash_mount(&kv, &emu.flash, work, g->work_size);
            if (!probe_present(&kv, 2) || !matches(&kv, &models[k + after_state])) {
                fail("recovery commit lost or state changed by it", k, j);
            }
        }
    }
    printf(
        "geometry program=%u sector=%u x %u work=%zu: %d steps, %llu flash ops, %llu collections, "
        "%llu cut points\n",
        g->program_size, g->sector_size, g->sector_count, g->work_size, n,
        (unsigned long long)total_ops, (unsigned long long)gc_runs, (unsigned long long)cuts);
out:
    for (k = 0; k < n; k++) {
        free(images[k]);
    }
    free(images);
    free(step_ops);
    flash_emu_free(&emu);
    return cuts;
}

int main(int argc, char **argv)
{
    static const geometry short_geometries[] = {{8, 4096, 12, 128}};
    static const geometry long_geometries[] = {{8, 4096, 12, 256},
                                               {1, 4096, 16, 64},
                                               {4, 2048, 24, 64},
                                               {16, 8192, 8, 128},
                                               {32, 4096, 12, 96}};
    int long_form = argc > 1 && strcmp(argv[1], "long") == 0;
    const geometry *gs = long_form ? long_geometries : short_geometries;
    size_t ng = long_form ? sizeof(long_geometries) / sizeof(long_geometries[0]) : 1;
    uint64_t cuts = 0;
    size_t i;

    size_t distinct;

    for (i = 0; i < ng; i++) {
        cuts += run_geometry(&gs[i], i, long_form ? 120 : 40, 1);
    }
    distinct = distinct_cut_images();
    printf("power-loss %s: %llu cut points, %zu distinct (different flash images after the cut), "
           "%d failures\n",
           long_form ? "long" : "short", (unsigned long long)cuts, distinct, failures);
    free(cut_images);
    if (long_form && distinct < 10000) {
        fprintf(stderr, "long form needs at least 10000 distinct cut points, reached %zu\n",
                distinct);
        return 1;
    }
    return failures == 0 && cuts > 0 ? 0 : 1;
}
