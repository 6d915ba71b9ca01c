/* Bundle handling on the device library: bundles per second, peak heap (a counting
 * allocator interposed on malloc) and peak stack (a painted thread stack), for a typical
 * bootstrap bundle (2-3 KB) on the RAM backend and on the directory backend. */
#define _GNU_SOURCE
#include "kiln/device.h"
#include "kiln/kv_ram.h"
#include "kiln/port_linux.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- counting allocator (glibc's own allocator underneath) ---- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

#define HDR 16
static size_t heap_now, heap_peak;
static int counting;

static void account(long delta)
{
    if (!counting) {
        return;
    }
    heap_now += (size_t)delta;
    if (heap_now > heap_peak) {
        heap_peak = heap_now;
    }
}

void *malloc(size_t n)
{
    unsigned char *p = __libc_malloc(n + HDR);
    if (p == NULL) {
        return NULL;
    }
    *(size_t *)p = n;
    account((long)n);
    return p + HDR;
}

void free(void *q)
{
    if (q == NULL) {
        return;
    }
    unsigned char *p = (unsigned char *)q - HDR;
    account(-(long)*(size_t *)p);
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
    *(size_t *)p = n;
    account((long)n);
    return p + HDR;
}

void *realloc(void *q, size_t n)
{
    if (q == NULL) {
        return malloc(n);
    }
    unsigned char *p = (unsigned char *)q - HDR;
    size_t old = *(size_t *)p;
    unsigned char *r = __libc_realloc(p, n + HDR);
    if (r == NULL) {
        return NULL;
    }
    *(size_t *)r = n;
    account((long)n - (long)old);
    return r + HDR;
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

static int provision_once(const kiln_kv_backend *kv)
{
    kiln_device dev;
    kiln_device_config cfg = {kv, fixed_root_key, NULL, kiln_linux_entropy, NULL};
    kiln_device_setup(&dev, &cfg);
    kiln_fcc_init(&dev);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcc_status_e st = kiln_fcc_bundle_handler(&dev, bundle, bundle_len, &resp, &resp_len);
    free(resp);
    kiln_fcc_finalize(&dev);
    return st == FCC_STATUS_SUCCESS ? 0 : -1;
}

#define STACK_SIZE (256 * 1024)
static size_t stack_used;

static void *measured(void *arg)
{
    kiln_kv_ram *ram = arg;
    heap_now = heap_peak = 0;
    counting = 1;
    provision_once(&ram->backend);
    counting = 0;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *path =
        argc > 1 ? argv[1] : "tests/data/vectors/fcc-oracle/ok_bootstrap_full.req.cbor";
    int seconds = argc > 2 ? atoi(argv[2]) : 2;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    bundle = __libc_malloc(65536);
    bundle_len = fread(bundle, 1, 65536, f);
    fclose(f);

    /* Peak stack and heap of one bundle, in a thread whose stack is painted first. */
    kiln_kv_ram ram;
    kiln_kv_ram_init(&ram);
    unsigned char *stack = __libc_malloc(STACK_SIZE);
    memset(stack, 0xA5, STACK_SIZE);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, STACK_SIZE);
    pthread_t t;
    pthread_create(&t, &attr, measured, &ram);
    pthread_join(t, NULL);
    size_t untouched = 0;
    while (untouched < STACK_SIZE && stack[untouched] == 0xA5) {
        untouched++;
    }
    stack_used = STACK_SIZE - untouched;
    kiln_kv_ram_free(&ram);

    /* Throughput: a fresh device per bundle, RAM backend. */
    int n = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        kiln_kv_ram_init(&ram);
        if (provision_once(&ram.backend) != 0) {
            fprintf(stderr, "bundle refused\n");
            return 1;
        }
        kiln_kv_ram_free(&ram);
        n++;
    }
    double ram_rate = n / (now() - start);

    /* Throughput on the directory backend (fsync per commit). */
    char dir[] = "/tmp/kiln-bench-XXXXXX";
    mkdtemp(dir);
    int m = 0;
    start = now();
    end = start + seconds;
    while (now() < end) {
        char sub[64];
        snprintf(sub, sizeof(sub), "%s/%d", dir, m);
        kiln_dir_kv kv;
        kiln_dir_kv_open(&kv, sub);
        if (provision_once(&kv.backend) != 0) {
            return 1;
        }
        m++;
    }
    double dir_rate = m / (now() - start);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        return 1;
    }

    printf("bundle: %s (%zu bytes)\n", path, bundle_len);
    printf("bundles/s (RAM store, 1 core): %.0f\n", ram_rate);
    printf("bundles/s (directory store, fsync): %.0f\n", dir_rate);
    printf("peak heap: %zu bytes\n", heap_peak);
    printf("peak stack: %zu bytes\n", stack_used);
    printf("peak heap+stack beyond the bundle buffer: %zu bytes\n", heap_peak + stack_used);
    return 0;
}
