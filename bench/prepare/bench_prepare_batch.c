/* bench_prepare_batch: `factory_tool prepare-batch` (by_tool, bootstrap) for 1,000, 10,000 and
 * 100,000 devices, with and without records, 1 and 2 jobs, printed next to what bounds it,
 * measured in the same run: OpenSSL's own cost of one P-256 key generation and one ECDSA
 * signature per device, and the Python configurator-equivalent (python_baseline.py, run at
 * 3,000 devices only: at 100,000 it would take minutes). Wall time is what a line sees; CPU
 * time (user + system of the tool, all its threads) per device is the figure that must stay
 * flat in the number of devices and is less disturbed by other load on the machine.
 *
 * Bundles go to tmpfs (/dev/shm) unless KILN_BENCH_PREPARE_DISK=1: on a disk file system the
 * inode allocator's cost depends on what was deleted before, not on the tool.
 * Environment: KILN_BENCH_PREPARE_SIZES (default "1000 10000 100000"). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

typedef struct figure {
    double seconds, cpu_seconds;
} figure;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void shell(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_prepare_batch: failed: %s\n", cmd);
        exit(1);
    }
}

/* Runs argv with stdout to /dev/null; wall and CPU time of the child. */
static figure run_timed(char *const argv[])
{
    fflush(stdout);
    double t0 = now_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_prepare_batch: %s failed\n", argv[0]);
        exit(1);
    }
    figure f = {now_seconds() - t0, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                                        (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6};
    return f;
}

/* What OpenSSL needs per device at the least: one P-256 key and one signature. */
static figure openssl_bound(int devices)
{
    unsigned char tbs[32] = {1}, sig[80];
    double t0 = now_seconds();
    clock_t c0 = clock();
    for (int i = 0; i < devices; i++) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        size_t siglen = sizeof(sig);
        if (!key || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(md, sig, &siglen, tbs, sizeof(tbs)) != 1) {
            fprintf(stderr, "bench_prepare_batch: openssl bound loop failed\n");
            exit(1);
        }
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
    }
    figure f = {now_seconds() - t0, (double)(clock() - c0) / CLOCKS_PER_SEC};
    return f;
}

static void *bound_thread(void *arg)
{
    openssl_bound(*(int *)arg);
    return NULL;
}

/* The bound in `threads` threads of one process (devices split between them): how far the
 * machine itself scales, to set prepare-batch --jobs 2 against. CPU time of all threads. */
static figure openssl_bound_threads(int devices, int threads)
{
    pthread_t tid[8];
    int share[8];
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_seconds();
    for (int i = 0; i < threads; i++) {
        share[i] = devices / threads + (i < devices % threads);
        if (pthread_create(&tid[i], NULL, bound_thread, &share[i]) != 0) {
            fprintf(stderr, "bench_prepare_batch: no thread\n");
            exit(1);
        }
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
    }
    figure f = {now_seconds() - t0, 0};
    getrusage(RUSAGE_SELF, &r1);
    f.cpu_seconds = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                    (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                    (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                    (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    return f;
}

static figure python_baseline(const char *out, int devices)
{
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' %d '%s/py'", BENCH_PYTHON, devices, out);
    FILE *p = popen(cmd, "r");
    figure f = {0, 0};
    int n = 0;
    if (p == NULL || fscanf(p, "%d %lf %lf", &n, &f.seconds, &f.cpu_seconds) != 3 ||
        pclose(p) != 0 || n != devices) {
        fprintf(stderr, "bench_prepare_batch: the Python baseline did not run (%s)\n", cmd);
        exit(1);
    }
    return f;
}

static void write_devices(const char *path, int devices)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs("endpoint_name,serial_number,address\n", f);
    for (int i = 0; i < devices; i++) {
        fprintf(f, "ep-%07d,SN-%07d,tcp:127.0.0.1:1\n", i, i);
    }
    fclose(f);
}

static void print_row(const char *what, int devices, figure f, figure bound)
{
    printf("%-40s %7d %9.0f %8.1f %8.1f %6.0f %% %6.0f %%\n", what, devices, devices / f.seconds,
           1e6 * f.seconds / devices, 1e6 * f.cpu_seconds / devices,
           100.0 * bound.seconds / f.seconds, 100.0 * bound.cpu_seconds / f.cpu_seconds);
}

/* One run of the tool into a fresh output (a directory, or an archive when tar). */
static figure bench_tool(const char *home, const char *out, const char *csv, int records, int jobs,
                         int tar)
{
    char dest[1200], cmd[2600], jobs_text[8];
    snprintf(dest, sizeof(dest), "%s/bundles%s", out, tar ? ".tar" : "");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'/kiln-records.db*", dest, home);
    shell(cmd);
    snprintf(jobs_text, sizeof(jobs_text), "%d", jobs);
    char *argv[] = {BENCH_FT,
                    "--home-dir",
                    (char *)home,
                    "prepare-batch",
                    "--devices",
                    (char *)csv,
                    "--out",
                    dest,
                    "--jobs",
                    jobs_text,
                    records ? NULL : "--no-records",
                    NULL};
    return run_timed(argv);
}

static void tool_label(char *what, size_t size, int records, int jobs, int tar)
{
    snprintf(what, size, "prepare-batch %s, --jobs %d%s", records ? "records" : "--no-records",
             jobs, tar ? ", FILE.tar" : "");
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The bound is sampled before every tool row of a size and once after the last (a sample is up
 * to BOUND_SAMPLE_DEVICES devices), and the median per-device wall and CPU time of the samples
 * stand for it: one sample taken minutes before a row swung 1.4x on this VM. */
#define BOUND_SAMPLES        7
#define BOUND_SAMPLE_DEVICES 2000

typedef struct bound_samples {
    double wall[BOUND_SAMPLES], cpu[BOUND_SAMPLES];
    int count;
} bound_samples;

static void bound_sample(bound_samples *b, int devices)
{
    int n = devices < BOUND_SAMPLE_DEVICES ? devices : BOUND_SAMPLE_DEVICES;
    figure f = openssl_bound(n);
    b->wall[b->count] = f.seconds / n;
    b->cpu[b->count] = f.cpu_seconds / n;
    b->count++;
}

/* The bound for `devices`: the samples' medians scaled to the size. */
static figure bound_median(bound_samples *b, int devices, double *cpu_min, double *cpu_max)
{
    qsort(b->wall, (size_t)b->count, sizeof(double), compare_double);
    qsort(b->cpu, (size_t)b->count, sizeof(double), compare_double);
    *cpu_min = b->cpu[0];
    *cpu_max = b->cpu[b->count - 1];
    figure f = {b->wall[b->count / 2] * devices, b->cpu[b->count / 2] * devices};
    return f;
}

/* One size: the tool in its forms, with the bound sampled around every row (see
 * bound_samples), then the rows against the bound's median. */
static void bench_size(const char *home, const char *out, int devices)
{
    char csv[1200], what[80];
    snprintf(csv, sizeof(csv), "%s/devices-%d.csv", home, devices);
    write_devices(csv, devices);
    bound_samples samples = {.count = 0};
    figure rows[3][2];
    for (int form = 0; form < 3; form++) {
        for (int jobs = 1; jobs <= 2; jobs++) {
            bound_sample(&samples, devices);
            rows[form][jobs - 1] = bench_tool(home, out, csv, form > 0, jobs, form == 2);
        }
    }
    bound_sample(&samples, devices);
    figure bound2 = openssl_bound_threads(devices, 2);
    double cpu_min, cpu_max;
    figure bound = bound_median(&samples, devices, &cpu_min, &cpu_max);
    snprintf(what, sizeof(what), "openssl bound (keygen+sign), median");
    print_row(what, devices, bound, bound);
    printf("%-40s %7d %d samples of %d devices around the rows: CPU %.1f-%.1f us/device\n",
           "  bound samples", devices, samples.count,
           devices < BOUND_SAMPLE_DEVICES ? devices : BOUND_SAMPLE_DEVICES, 1e6 * cpu_min,
           1e6 * cpu_max);
    print_row("openssl bound, 2 threads", devices, bound2, bound);
    for (int form = 0; form < 3; form++) {
        for (int jobs = 1; jobs <= 2; jobs++) {
            tool_label(what, sizeof(what), form > 0, jobs, form == 2);
            print_row(what, devices, rows[form][jobs - 1], bound);
        }
    }
    printf("%-40s %7d 2 threads/1 (wall): bound %.2fx, --no-records %.2fx, records %.2fx, "
           "FILE.tar %.2fx\n",
           "scaling", devices, bound.seconds / bound2.seconds,
           rows[0][0].seconds / rows[0][1].seconds, rows[1][0].seconds / rows[1][1].seconds,
           rows[2][0].seconds / rows[2][1].seconds);
}

int main(void)
{
    char home[] = "/tmp/kiln-bench-prepare-XXXXXX", out[600], cmd[4096];
    if (mkdtemp(home) == NULL) {
        return 1;
    }
    struct stat st;
    bool tmpfs = getenv("KILN_BENCH_PREPARE_DISK") == NULL && stat("/dev/shm", &st) == 0 &&
                 access("/dev/shm", W_OK) == 0;
    snprintf(out, sizeof(out), "%s/kiln-bench-prepare-%d", tmpfs ? "/dev/shm" : home,
             (int)getpid());
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s' '%s/config' '%s/resources' && cp '%s' '%s/config/fcu.yml' && "
             "for f in bootstrap-server lwm2m-server; do cp '%s'/test-$f-ca.pem "
             "'%s'/resources/$(echo $f | tr - _)_ca_cert.pem; done && "
             "cp '%s/test-update-authority.pem' '%s/resources/update.pem' && "
             "'%s' --home-dir '%s' setup > /dev/null",
             out, home, home, BENCH_CONFIG, home, BENCH_PKI, home, BENCH_PKI, home, BENCH_FT, home);
    shell(cmd);
    const char *sizes = getenv("KILN_BENCH_PREPARE_SIZES");
    sizes = sizes ? sizes : "1000 10000 100000";
    printf("bench_prepare_batch: by_tool, bootstrap, bundles on %s, %ld cores online\n",
           tmpfs ? "tmpfs" : "disk", sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-40s %7s %9s %8s %8s %8s %8s\n", "what", "devices", "dev/s", "us/dev", "cpu-us",
           "bound", "cpu-bnd");
    figure py = python_baseline(out, 3000);
    figure py_bound = openssl_bound(3000);
    print_row("python baseline (cryptography+cbor2)", 3000, py, py_bound);
    for (const char *p = sizes; *p;) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        bench_size(home, out, (int)n);
        p = end;
    }
    printf("bound = openssl bound's wall time / this row's wall time, cpu-bnd = the same with "
           "CPU time (user + system, all threads), same size, same run; the bound is the median "
           "of samples taken around the rows\n");
    FILE *load = fopen("/proc/loadavg", "r");
    char text[128] = "?";
    if (load != NULL && fgets(text, sizeof(text), load) != NULL) {
        printf("load average at the end (other work on the machine): %s", text);
    }
    if (load != NULL) {
        fclose(load);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", out, home);
    shell(cmd);
    return 0;
}
