/* Bundle handling on the device library: bundles per second, peak heap (a counting
 * allocator interposed on malloc) and peak stack (a painted thread stack), for a typical
 * bootstrap bundle (2-3 KB) on the RAM backend and on the directory backend; per bundle the
 * CPU time and the P-256 scalar multiplications (Mbed TLS's entry points interposed too), the
 * part of the device's CPU that is public-key arithmetic. */
#define _GNU_SOURCE
#include "kiln/device.h"
#include "kiln/kv_flash.h"
#include "kiln/kv_ram.h"
#include "kiln/port_linux.h"

#include <mbedtls/ecp.h>

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

/* ---- counting allocator (glibc's own allocator underneath) ----
 *
 * Every block carries its size and the label of the code that asked for it, so the peak can
 * be split between kiln's own allocations and the libraries' (Mbed TLS, libcbor). A Mbed TLS
 * allocation is further charged to the kiln function that called into Mbed TLS: the first
 * frame of the executable, found by unwinding, whose exported symbol really contains the
 * return address (static functions have no symbol, so the walk goes on to their caller). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

#define HDR        16
#define MAX_LABELS 64

typedef enum { OWNER_KILN, OWNER_MBEDTLS, OWNER_CBOR, OWNER_OTHER, OWNER_COUNT } owner_e;
static const char *const owner_names[OWNER_COUNT] = {"kiln", "Mbed TLS", "libcbor", "other"};

typedef struct label {
    owner_e owner;
    char via[48]; /* the kiln function on whose behalf the block was allocated */
    size_t now, at_peak, total, count;
    size_t stack_kiln, stack_lib; /* deepest split seen while this label allocated */
} label;

static label labels[MAX_LABELS];
static size_t label_count;
static size_t heap_now, heap_peak;
static int counting, in_hook;
static uintptr_t stack_top;          /* highest address of the measured thread's stack */
static size_t deepest, deepest_kiln; /* deepest stack seen at an allocation, kiln's part */

static owner_e owner_of(const void *addr)
{
    Dl_info info;
    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL) {
        return OWNER_OTHER;
    }
    if (strstr(info.dli_fname, "libmbed") != NULL) {
        return OWNER_MBEDTLS;
    }
    if (strstr(info.dli_fname, "libcbor") != NULL) {
        return OWNER_CBOR;
    }
    Dl_info self;
    if (dladdr((const void *)owner_of, &self) != 0 && self.dli_fbase == info.dli_fbase) {
        return OWNER_KILN;
    }
    return OWNER_OTHER;
}

/* The exported function of the executable that really contains addr, or NULL. */
static const char *kiln_function(const void *addr)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (owner_of(addr) != OWNER_KILN || dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) == 0 ||
        sym == NULL || info.dli_sname == NULL) {
        return NULL;
    }
    uintptr_t a = (uintptr_t)addr, s = (uintptr_t)info.dli_saddr;
    return a > s && a <= s + sym->st_size ? info.dli_sname : NULL;
}

typedef struct walk {
    int frame;
    owner_e owner;      /* owner of the code that called the allocator */
    uintptr_t boundary; /* CFA of the outermost library frame called by kiln */
    const char *via;
} walk;

static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg)
{
    walk *w = arg;
    const void *ip = (const void *)(_Unwind_GetIP(ctx) - 1);
    w->frame++;
    if (w->frame < 3) {
        return _URC_NO_REASON; /* walk_frame's caller, the hook itself */
    }
    owner_e o = owner_of(ip);
    if (w->frame == 3) {
        w->owner = o;
    }
    if (o != OWNER_KILN) {
        w->boundary = (uintptr_t)_Unwind_GetCFA(ctx);
        return _URC_NO_REASON;
    }
    w->via = kiln_function(ip);
    return w->via != NULL ? _URC_END_OF_STACK : _URC_NO_REASON;
}

static int label_of(void)
{
    walk w = {0, OWNER_OTHER, 0, NULL};
    _Unwind_Backtrace(walk_frame, &w);
    const char *via = w.via ? w.via : "?";
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    size_t depth = stack_top > sp ? stack_top - sp : 0;
    size_t kiln_part = w.boundary && stack_top > w.boundary ? stack_top - w.boundary : depth;
    size_t i;
    for (i = 0; i < label_count; i++) {
        if (labels[i].owner == w.owner && strcmp(labels[i].via, via) == 0) {
            break;
        }
    }
    if (i == label_count) {
        if (label_count == MAX_LABELS) {
            i = MAX_LABELS - 1;
        } else {
            label_count++;
            labels[i].owner = w.owner;
            snprintf(labels[i].via, sizeof(labels[i].via), "%s", via);
        }
    }
    if (depth > deepest) {
        deepest = depth;
        deepest_kiln = kiln_part;
    }
    if (depth > labels[i].stack_kiln + labels[i].stack_lib) {
        labels[i].stack_kiln = kiln_part;
        labels[i].stack_lib = depth - kiln_part;
    }
    return (int)i;
}

static void account(unsigned char *p, size_t n, int adding)
{
    size_t *h = (size_t *)p;
    if (adding) {
        h[0] = n;
        h[1] = (size_t)-1;
        if (!counting || in_hook) {
            return;
        }
        in_hook = 1;
        int l = label_of();
        in_hook = 0;
        h[1] = (size_t)l;
        labels[l].now += n;
        labels[l].total += n;
        labels[l].count++;
        heap_now += n;
        if (heap_now > heap_peak) {
            heap_peak = heap_now;
            for (size_t i = 0; i < label_count; i++) {
                labels[i].at_peak = labels[i].now;
            }
        }
    } else if (h[1] != (size_t)-1) {
        labels[h[1]].now -= h[0];
        heap_now -= h[0];
    }
}

void *malloc(size_t n)
{
    unsigned char *p = __libc_malloc(n + HDR);
    if (p == NULL) {
        return NULL;
    }
    account(p, n, 1);
    return p + HDR;
}

void free(void *q)
{
    if (q == NULL) {
        return;
    }
    unsigned char *p = (unsigned char *)q - HDR;
    account(p, 0, 0);
    __libc_free(p);
}

void *calloc(size_t a, size_t b)
{
    size_t n = a * b;
    /* Not malloc+memset: the compiler would turn that back into a call to calloc. */
    unsigned char *p = __libc_calloc(n + HDR, 1);
    if (p == NULL) {
        return NULL;
    }
    account(p, n, 1);
    return p + HDR;
}

void *realloc(void *q, size_t n)
{
    if (q == NULL) {
        return malloc(n);
    }
    unsigned char *p = (unsigned char *)q - HDR;
    size_t old = *(size_t *)p;
    account(p, 0, 0);
    unsigned char *r = __libc_realloc(p, n + HDR);
    if (r == NULL) {
        account(p, old, 1);
        return NULL;
    }
    account(r, n, 1);
    return r + HDR;
}

/* ---- counted elliptic-curve operations ----
 *
 * Mbed TLS is a shared library whose calls to its own exported functions go through the PLT,
 * so these definitions (exported by the executable) also catch the calls made inside it:
 * mbedtls_ecp_mul() and key checks reach mbedtls_ecp_mul_restartable(), an ECDSA verification
 * mbedtls_ecp_muladd_restartable(). mbedtls_ecp_check_pub_priv() (certificate against private
 * key) is counted on its own; its multiplication is among the first count. The single-scalar
 * multiplications a double-scalar one makes inside Mbed TLS are not counted again. */
typedef struct ec_count {
    size_t mul, muladd, pub_priv;
    double mul_cpu, muladd_cpu; /* seconds of thread CPU inside them */
} ec_count;
static ec_count ec;
static int in_muladd;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *real_symbol(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        fprintf(stderr, "bench_fcc_bundle: %s not found\n", name);
        abort();
    }
    return f;
}

typedef int (*rng_fn)(void *, unsigned char *, size_t);
typedef int (*mul_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                      const mbedtls_ecp_point *, rng_fn, void *, mbedtls_ecp_restart_ctx *);
typedef int (*muladd_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                         const mbedtls_ecp_point *, const mbedtls_mpi *, const mbedtls_ecp_point *,
                         mbedtls_ecp_restart_ctx *);
typedef int (*pub_priv_fn)(const mbedtls_ecp_keypair *, const mbedtls_ecp_keypair *);
static mul_fn real_mul;
static muladd_fn real_muladd;
static pub_priv_fn real_pub_priv;

/* Resolved before anything is measured (dlsym may allocate). */
static void resolve_ec_symbols(void)
{
    real_mul = (mul_fn)real_symbol("mbedtls_ecp_mul_restartable");
    real_muladd = (muladd_fn)real_symbol("mbedtls_ecp_muladd_restartable");
    real_pub_priv = (pub_priv_fn)real_symbol("mbedtls_ecp_check_pub_priv");
}

int mbedtls_ecp_mul_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R, const mbedtls_mpi *m,
                                const mbedtls_ecp_point *P, rng_fn f_rng, void *p_rng,
                                mbedtls_ecp_restart_ctx *rs_ctx)
{
    if (in_muladd) {
        return real_mul(grp, R, m, P, f_rng, p_rng, rs_ctx); /* part of the double-scalar one */
    }
    double start = thread_cpu();
    int rc = real_mul(grp, R, m, P, f_rng, p_rng, rs_ctx);
    ec.mul_cpu += thread_cpu() - start;
    ec.mul++;
    return rc;
}

int mbedtls_ecp_muladd_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R,
                                   const mbedtls_mpi *m, const mbedtls_ecp_point *P,
                                   const mbedtls_mpi *n, const mbedtls_ecp_point *Q,
                                   mbedtls_ecp_restart_ctx *rs_ctx)
{
    double start = thread_cpu();
    in_muladd++;
    int rc = real_muladd(grp, R, m, P, n, Q, rs_ctx);
    in_muladd--;
    ec.muladd_cpu += thread_cpu() - start;
    ec.muladd++;
    return rc;
}

int mbedtls_ecp_check_pub_priv(const mbedtls_ecp_keypair *pub, const mbedtls_ecp_keypair *prv)
{
    ec.pub_priv++;
    return real_pub_priv(pub, prv);
}

/* ---- the device ---- */
static int fixed_root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x42, 32);
    return 0;
}

static uint8_t *bundle;
static size_t bundle_len;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One line of per-bundle figures: n bundles took cpu seconds of CPU while ec counted. */
static void print_per_bundle(const char *store, int n, double cpu)
{
    printf("per bundle (%s): CPU %.0f us; P-256 scalar multiplications %.2f (%.2f of them in "
           "certificate/private-key checks) %.0f us; double-scalar (ECDSA verify) %.2f %.0f us\n",
           store, 1e6 * cpu / n, (double)ec.mul / n, (double)ec.pub_priv / n, 1e6 * ec.mul_cpu / n,
           (double)ec.muladd / n, 1e6 * ec.muladd_cpu / n);
}

/* The device context is static, as on a microcontroller; its size is printed on its own. */
static kiln_device dev;

/* Whether the device checks certificate/private-key pairs with the Linux port's check (as
 * factory_client does) or with Mbed TLS's own (as the firmware does). */
static int port_check = 1;

static int provision_once(const kiln_kv_backend *kv)
{
    kiln_device_config cfg = {kv, fixed_root_key, NULL, kiln_linux_entropy, NULL};
    kiln_device_setup(&dev, &cfg);
    if (port_check) {
        kiln_device_set_check_pair(&dev, kiln_linux_check_pair, NULL);
    }
    kiln_fcc_init(&dev);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcc_status_e st = kiln_fcc_bundle_handler(&dev, bundle, bundle_len, &resp, &resp_len);
    free(resp);
    kiln_fcc_finalize(&dev);
    return st == FCC_STATUS_SUCCESS ? 0 : -1;
}

/* Bundles per second for seconds, a fresh device each time: on the RAM store (dir NULL) or on a
 * directory store per bundle under dir. Prints the per-bundle line; -1 when a bundle fails. */
static double throughput(const char *dir, int seconds, const char *store)
{
    int n = 0;
    memset(&ec, 0, sizeof(ec));
    double cpu_start = thread_cpu();
    double start = now(), end = start + seconds;
    while (now() < end) {
        kiln_kv_ram ram;
        kiln_dir_kv kv;
        const kiln_kv_backend *backend = &ram.backend;
        if (dir == NULL) {
            kiln_kv_ram_init(&ram);
        } else {
            char sub[64];
            snprintf(sub, sizeof(sub), "%s/%d", dir, n);
            if (kiln_dir_kv_open(&kv, sub) != KILN_KV_OK) {
                return -1;
            }
            backend = &kv.backend;
        }
        int rc = provision_once(backend);
        if (dir == NULL) {
            kiln_kv_ram_free(&ram);
        }
        if (rc != 0) {
            fprintf(stderr, "bundle refused\n");
            return -1;
        }
        n++;
    }
    double rate = n / (now() - start);
    print_per_bundle(store, n, thread_cpu() - cpu_start);
    return rate;
}

/* ---- NOR flash in RAM (outside the counted heap), for the raw-flash store ---- */
#define FLASH_SECTOR  8192u
#define FLASH_SECTORS 8u
static uint8_t *flash_mem;
static uint8_t flash_work[256];

static int ram_flash_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    (void)ctx;
    memcpy(buf, flash_mem + addr, len);
    return KILN_FLASH_OK;
}

static int ram_flash_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    (void)ctx;
    const uint8_t *d = data;
    for (size_t i = 0; i < len; i++) {
        flash_mem[addr + i] &= d[i];
    }
    return KILN_FLASH_OK;
}

static int ram_flash_erase(void *ctx, uint32_t sector)
{
    (void)ctx;
    memset(flash_mem + (size_t)sector * FLASH_SECTOR, 0xFF, FLASH_SECTOR);
    return KILN_FLASH_OK;
}

static const kiln_flash ram_flash = {
    NULL, {4, FLASH_SECTOR, FLASH_SECTORS}, ram_flash_read, ram_flash_program, ram_flash_erase};

/* ---- one measured bundle: heap counted, thread stack painted ---- */
#define STACK_SIZE (256 * 1024)
static unsigned char *stack_base;

static void *measured(void *arg)
{
    const kiln_kv_backend *kv = arg;
    /* Depth is counted from here: glibc keeps the thread descriptor and TLS at the top of a
     * caller-supplied stack, which is no part of the device's stack. */
    stack_top = (uintptr_t)__builtin_frame_address(0);
    heap_now = heap_peak = 0;
    deepest = deepest_kiln = 0;
    memset(labels, 0, sizeof(labels));
    label_count = 0;
    counting = 1;
    int rc = provision_once(kv);
    counting = 0;
    return rc == 0 ? arg : NULL;
}

/* Returns the peak stack in bytes, or 0 when the bundle was refused. */
static size_t measure(const kiln_kv_backend *kv)
{
    memset(stack_base, 0xA5, STACK_SIZE);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack_base, STACK_SIZE);
    pthread_t t;
    void *ok = NULL;
    pthread_create(&t, &attr, measured, (void *)kv);
    pthread_join(t, &ok);
    pthread_attr_destroy(&attr);
    size_t untouched = 0;
    while (untouched < STACK_SIZE && stack_base[untouched] == 0xA5) {
        untouched++;
    }
    uintptr_t lowest = (uintptr_t)stack_base + untouched;
    return ok != NULL && stack_top > lowest ? stack_top - lowest : 0;
}

static int by_peak_share(const void *a, const void *b)
{
    const label *x = a, *y = b;
    if (x->at_peak != y->at_peak) {
        return x->at_peak < y->at_peak ? 1 : -1;
    }
    return x->total < y->total ? 1 : (x->total > y->total ? -1 : 0);
}

static void print_split(void)
{
    size_t owner_peak[OWNER_COUNT] = {0}, kiln_stack = 0;
    for (size_t i = 0; i < label_count; i++) {
        owner_peak[labels[i].owner] += labels[i].at_peak;
        if (labels[i].owner == OWNER_KILN && labels[i].stack_kiln > kiln_stack) {
            kiln_stack = labels[i].stack_kiln;
        }
    }
    qsort(labels, label_count, sizeof(labels[0]), by_peak_share);
    printf("heap held at the peak, by owner:");
    for (int o = 0; o < OWNER_COUNT; o++) {
        printf(" %s %zu", owner_names[o], owner_peak[o]);
    }
    printf("\n");
    printf("%-9s %-40s %8s %8s %6s %14s\n", "owner", "on behalf of (kiln function)", "at peak",
           "total", "allocs", "stack kiln+lib");
    for (size_t i = 0; i < label_count; i++) {
        const label *l = &labels[i];
        printf("%-9s %-40s %8zu %8zu %6zu %7zu+%-6zu\n", owner_names[l->owner], l->via, l->at_peak,
               l->total, l->count, l->stack_kiln, l->stack_lib);
    }
    printf("deepest stack seen at an allocation: %zu bytes (kiln frames %zu, library frames "
           "%zu)\n",
           deepest, deepest_kiln, deepest - deepest_kiln);
    printf("kiln share: heap %zu bytes at the peak, stack about %zu bytes\n",
           owner_peak[OWNER_KILN], deepest_kiln > kiln_stack ? deepest_kiln : kiln_stack);
}

static void report(const char *store, size_t stack_used)
{
    printf("\n[%s]\n", store);
    printf("peak heap: %zu bytes\n", heap_peak);
    printf("peak stack: %zu bytes\n", stack_used);
    printf("peak heap+stack beyond the bundle buffer: %zu bytes\n", heap_peak + stack_used);
    print_split();
}

int main(int argc, char **argv)
{
    const char *path =
        argc > 1 ? argv[1] : "tests/data/vectors/fcc-oracle/ok_bootstrap_full.req.cbor";
    int seconds = argc > 2 ? atoi(argv[2]) : 2;
    resolve_ec_symbols();
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    bundle = __libc_malloc(65536);
    bundle_len = fread(bundle, 1, 65536, f);
    fclose(f);
    stack_base = __libc_malloc(STACK_SIZE);
    flash_mem = __libc_malloc((size_t)FLASH_SECTOR * FLASH_SECTORS);
    printf("bundle: %s (%zu bytes)\n", path, bundle_len);
    printf("device context (static kiln_device): %zu bytes\n", sizeof(kiln_device));

    /* A warm-up bundle first: the Linux port makes its P-256 generator table at the first pair
     * check of the process, once for all devices, which is no part of a bundle's figures. */
    kiln_kv_ram ram;
    kiln_kv_ram_init(&ram);
    if (provision_once(&ram.backend) != 0) {
        fprintf(stderr, "bundle refused\n");
        return 1;
    }
    kiln_kv_ram_free(&ram);

    /* Memory of one bundle on the raw-flash store (the microcontroller set-up: the stored
     * values live in flash, the store needs only its struct and work buffer). */
    static kiln_kv_flash store;
    kiln_kv_backend flash_kv;
    memset(flash_mem, 0xFF, (size_t)FLASH_SECTOR * FLASH_SECTORS);
    if (kiln_kv_flash_mount(&store, &ram_flash, flash_work, sizeof(flash_work)) != KILN_KV_OK) {
        fprintf(stderr, "flash mount failed\n");
        return 1;
    }
    kiln_kv_flash_backend(&store, &flash_kv);
    size_t stack_used = measure(&flash_kv);
    if (stack_used == 0) {
        fprintf(stderr, "bundle refused\n");
        return 1;
    }
    report("raw-flash store (flash outside the heap; store struct and 256-byte work buffer static)",
           stack_used);

    /* The same on the RAM store, whose stored (sealed) values are heap blocks. */
    kiln_kv_ram_init(&ram);
    stack_used = measure(&ram.backend);
    kiln_kv_ram_free(&ram);
    report("RAM store (its stored values count as heap)", stack_used);
    printf("\n");
    /* Throughput: a fresh device per bundle, RAM backend, then the same with Mbed TLS's own
     * pair check (a device without the port's), then the directory backend (fsync per
     * commit). */
    double ram_rate = throughput(NULL, seconds, "RAM store");
    port_check = 0;
    double mbedtls_rate = throughput(NULL, seconds, "RAM store, Mbed TLS's pair check");
    port_check = 1;
    char dir[] = "/tmp/kiln-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    double dir_rate = throughput(dir, seconds, "directory store");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0 || ram_rate < 0 || mbedtls_rate < 0 || dir_rate < 0) {
        return 1;
    }

    printf("bundles/s (RAM store, 1 core): %.0f\n", ram_rate);
    printf("bundles/s (directory store, fsync): %.0f\n", dir_rate);
    return 0;
}
