/* bench_line: the whole factory line on this machine. factory_client simulates 64 devices
 * (--threads: one process per online CPU, each a poll loop over its share of them; storage on
 * tmpfs when available); factory_tool inject-batch prepares, sends, receives, verifies and records
 * every device from one process (one poll loop, 64 in flight). Prints devices per second end to end
 * and where the time went.
 *
 * Environment: KILN_BENCH_LINE_DEVICES (default 3000), KILN_BENCH_LINE_SIMULATED (default 64),
 * KILN_BENCH_LINE_THREADS (factory_client --threads), KILN_BENCH_LINE_TOOL (another factory_tool
 * binary for inject-batch, e.g. an older build to compare with). */
#include <jansson.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <sqlite3.h>

#include "kiln_ledger.h"
#include "line_metrics.h"
#include "line_proc.h"

/* Seconds per device of --metrics-listen's bookkeeping: line_metrics_finished (counter,
 * histogram, gauges, dashboard status) for n finished devices, half of them failing. */
static double metrics_cost(int n)
{
    line_metrics *m = line_metrics_new("bench", (size_t)n);
    CHECK(m != NULL);
    line_device dev = {.endpoint = "bench-000000"};
    line_engine e = {.njobs = (size_t)n};
    line_job j = {.dev = &dev, .t_configurator = 0.002, .t_exchange = 0.003};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        e.started = (size_t)i + 1;
        j.outcome = i % 2 ? LINE_JOB_FAILED : LINE_JOB_SUCCEEDED;
        j.status = i % 2 ? 1021 : 0;
        line_metrics_finished(m, &e, &j);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char *text = line_metrics_text(m);
    CHECK(text != NULL && strstr(text, "kiln_line_devices_total") != NULL);
    free(text);
    line_metrics_free(m);
    return ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9) / n;
}

/* Seconds per device the ledger adds to a records row: one kiln_ledger_append (canonical
 * encoding, SHA-256 chain, INSERT) joining the row's open transaction, with the checkpoints
 * it signs on its way (the line's default interval). The commit is the row's, paid anyway. */
static double ledger_cost(const char *dir, int n)
{
    char db_path[600], key_path[600];
    snprintf(db_path, sizeof(db_path), "%s/ledger-bench.db", dir);
    snprintf(key_path, sizeof(key_path), "%s/ledger-bench.key", dir);
    sqlite3 *db = NULL;
    kiln_pki_signer *key = NULL;
    kiln_ledger *l = NULL;
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(kiln_ledger_key_open(key_path, &key) == KILN_LEDGER_OK);
    CHECK(kiln_ledger_open(db, key, 0, &l) == KILN_LEDGER_OK);
    uint8_t digest[KILN_LEDGER_HASH_SIZE] = {1};
    kiln_ledger_record r = {
        KILN_LEDGER_KIND_CERTIFICATE, "bench-000000", "SN-000000", digest, "ca", "bench", "issued"};
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        digest[1] = (uint8_t)i;
        CHECK(kiln_ledger_append(l, &r, NULL) == KILN_LEDGER_OK);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    kiln_ledger_close(l);
    kiln_pki_signer_free(key);
    sqlite3_close(db);
    return ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9) / n;
}

/* The records (+ ledger) and metrics shares of the line's wall time per device. */
static void print_overheads(const char *dir, double seconds, long ok, double records_per_device)
{
    double per_device = ok > 0 ? seconds / (double)ok : 0;
    double metrics = metrics_cost(100000);
    double ledger = ledger_cost(dir, 20000);
    double pct = per_device > 0 ? 100 / per_device : 0.0;
    printf("  line wall per device   %.3f ms; of it records + ledger %.3f ms (%.1f %%)\n",
           1000 * per_device, 1000 * records_per_device, records_per_device * pct);
    printf("  ledger alone           %.4f ms (%.2f %%), metrics %.4f ms (%.2f %%); "
           "together %.2f %% (goal < 5 %%)\n",
           1000 * ledger, ledger * pct, 1000 * metrics, metrics * pct, (ledger + metrics) * pct);
}

static void run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_line: failed: %s\n", cmd);
        exit(1);
    }
}

static int env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : fallback;
}

typedef struct tool_run {
    double wall, cpu; /* seconds; cpu: user + system of the child, all its threads */
} tool_run;

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs factory_tool (argv, no shell) with stdout to out_path (or /dev/null) and stderr to
 * /dev/null; its wall and CPU time from wait4. Exits on failure. */
static tool_run run_tool(char *const argv[], const char *out_path)
{
    fflush(stdout);
    double t0 = wall_now();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_WRONLY);
        if (out < 0 || null < 0 || dup2(out, 1) < 0 || dup2(null, 2) < 0) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_line: factory_tool %s failed\n", argv[3]);
        exit(1);
    }
    tool_run r = {wall_now() - t0, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                                       (double)ru.ru_stime.tv_sec +
                                       (double)ru.ru_stime.tv_usec / 1e6};
    return r;
}

/* prepare-batch on the same list, records on (its own database, on the same file system as
 * inject-batch's), one job, bundles into dir (tmpfs when the devices' storage is there): the
 * rate the line is held against. */
static tool_run prepare_batch_run(const char *home, const char *csv, const char *dir)
{
    char out[700], db[700];
    snprintf(out, sizeof(out), "%s/prepare-bundles", dir);
    snprintf(db, sizeof(db), "%s/prepare-records.db", home); /* beside inject-batch's */
    char *argv[] = {BENCH_FT,       "--home-dir", (char *)home, "prepare-batch", "--devices",
                    (char *)csv,    "--out",      out,          "--jobs",        "1",
                    "--records-db", db,           NULL};
    tool_run r = run_tool(argv, NULL);
    char cmd[3000];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s-wal' '%s-shm'", out, db, db, db);
    run(cmd);
    return r;
}

/* The simulated devices' process (in the forked child): stdout to log. KILN_BENCH_LINE_THREADS=T
 * is factory_client --threads T (default: its own, the online CPUs). */
static void exec_client(const char *log, char *storage, char *count)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    char *threads = getenv("KILN_BENCH_LINE_THREADS");
    char *argv[] = {BENCH_FC, "--storage", storage, "--devices", count,   "--forever", "-v",
                    "tcp",    "--port",    "0",     "--threads", threads, NULL};
    if (threads == NULL) {
        argv[10] = NULL;
    }
    execv(BENCH_FC, argv);
    _exit(127);
}

int main(void)
{
    int devices = env_int("KILN_BENCH_LINE_DEVICES", 3000);
    int simulated = env_int("KILN_BENCH_LINE_SIMULATED", 64);
    char *home = make_temp_dir("bench-line");
    char storage[512], cmd[4096], csv[600], out[600];
    struct stat st;
    /* tmpfs by default, so that the line is measured rather than the disk's flushes;
     * KILN_BENCH_LINE_DISK=1 puts the devices' storage on the disk instead. */
    if (getenv("KILN_BENCH_LINE_DISK") == NULL && stat("/dev/shm", &st) == 0 &&
        access("/dev/shm", W_OK) == 0) {
        snprintf(storage, sizeof(storage), "/dev/shm/kiln-bench-line-%d", (int)getpid());
    } else {
        snprintf(storage, sizeof(storage), "%s/devices", home);
    }
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s/config' '%s/resources' && cp '%s' '%s/config/fcu.yml' && "
             "cp '%s/test-bootstrap-server-ca.pem' '%s/resources/bootstrap_server_ca_cert.pem' && "
             "cp '%s/test-lwm2m-server-ca.pem' '%s/resources/lwm2m_server_ca_cert.pem' && "
             "cp '%s/test-update-authority.pem' '%s/resources/update.pem' && "
             "'%s' --home-dir '%s' setup > /dev/null",
             home, home, BENCH_CONFIG, home, BENCH_PKI, home, BENCH_PKI, home, BENCH_PKI, home,
             BENCH_FT, home);
    run(cmd);

    char count[16];
    snprintf(count, sizeof(count), "%d", simulated);
    /* The device's log goes to a file: a pipe nobody reads during the batch would fill up. */
    char log[600];
    snprintf(log, sizeof(log), "%s/device.log", home);
    pid_t dev = fork();
    CHECK(dev >= 0);
    if (dev == 0) {
        exec_client(log, storage, count);
    }
    int *ports = calloc((size_t)simulated, sizeof(int));
    int found = 0;
    for (int tries = 0; found < simulated && tries < 2000; tries++) {
        usleep(10000);
        FILE *lf = fopen(log, "r");
        char line[512];
        found = 0;
        while (lf != NULL && found < simulated && fgets(line, sizeof(line), lf) != NULL) {
            char *hit = strstr(line, "IP Address and Port : ");
            char *colon = hit ? strrchr(hit, ':') : NULL;
            if (colon != NULL && strchr(colon, '\n') != NULL) {
                ports[found++] = atoi(colon + 1);
            }
        }
        if (lf != NULL) {
            fclose(lf);
        }
    }
    CHECK(found == simulated);
    snprintf(csv, sizeof(csv), "%s/devices.csv", home);
    FILE *f = fopen(csv, "w");
    CHECK(f != NULL);
    fprintf(f, "endpoint_name,serial_number,address\n");
    for (int i = 0; i < devices; i++) {
        fprintf(f, "bench-%06d,SN-%06d,tcp:127.0.0.1:%d\n", i, i, ports[i % simulated]);
    }
    fclose(f);

    snprintf(out, sizeof(out), "%s/batch.out", home);
    char parallel[16];
    snprintf(parallel, sizeof(parallel), "%d", simulated);
    char *tool = getenv("KILN_BENCH_LINE_TOOL") ? getenv("KILN_BENCH_LINE_TOOL") : BENCH_FT;
    char *inject_argv[] = {tool,         "--home-dir", home, "inject-batch", "--devices", csv,
                           "--parallel", parallel,     NULL};
    tool_run inject = run_tool(inject_argv, out);
    kill(dev, SIGTERM);
    CHECK(waitpid(dev, NULL, 0) == dev);
    char stats[512] = "";
    FILE *lf = fopen(log, "r");
    char line[512];
    while (lf != NULL && fgets(line, sizeof(line), lf) != NULL) {
        if (strstr(line, "Factory Client statistics: ") != NULL) {
            snprintf(stats, sizeof(stats), "%s", line);
        }
    }
    if (lf != NULL) {
        fclose(lf);
    }
    /* The summary is the last line. */
    size_t len;
    uint8_t *text = check_read_file(out, &len);
    char *last = (char *)text + len - 1;
    *last = '\0';
    while (last > (char *)text && last[-1] != '\n') {
        last--;
    }
    json_error_t err;
    json_t *root = json_loads(last, 0, &err);
    CHECK(root != NULL);
    json_t *s = json_object_get(root, "summary");
    double seconds = json_real_value(json_object_get(s, "seconds"));
    double conf = json_real_value(json_object_get(s, "configuratorSeconds"));
    double exch = json_real_value(json_object_get(s, "exchangeSeconds"));
    double rec = json_real_value(json_object_get(s, "recordsSeconds"));
    long ok = (long)json_integer_value(json_object_get(s, "succeeded"));
    double device_time = 0;
    const char *dt = strstr(stats, "device time ");
    if (dt != NULL) {
        device_time = atof(dt + strlen("device time "));
    }
    double n = (double)devices;
    printf("bench_line: %d devices through %d simulated devices over loopback TCP, %d in flight\n",
           devices, simulated, simulated);
    printf("  succeeded %ld, wall %.3f s, %.0f devices/s end to end "
           "(prepare, frame, send, device, answer, verify, record)\n",
           ok, seconds, seconds > 0 ? (double)ok / seconds : 0.0);
    printf("  time per device (ms):  configurator %.3f (prepare + verify, host thread)\n",
           1000 * conf / n);
    printf("                         device       %.3f (bundle handler + storage, device "
           "process)\n",
           1000 * device_time / n);
    printf("                         transport    %.3f (request sent to answer read, minus "
           "device time; includes queueing behind other devices)\n",
           1000 * (exch - device_time) / n);
    printf("                         records      %.3f (SQLite WAL, two rows per device, many "
           "devices per commit)\n",
           1000 * rec / n);
    print_overheads(home, seconds, ok, rec / n);
    /* The factory tool's own cost, against prepare-batch's on the same list (the devices are
     * idle by now: the machine is the tool's). */
    char prep_dir[600];
    snprintf(prep_dir, sizeof(prep_dir), "%s-prepare", storage);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", prep_dir);
    run(cmd);
    tool_run prep = prepare_batch_run(home, csv, prep_dir);
    double tool_rate = inject.cpu > 0 ? n / inject.cpu : 0.0;
    double prep_rate = prep.cpu > 0 ? n / prep.cpu : 0.0;
    printf("  factory tool CPU       %.3f ms per device (user + sys, all threads; wall %.3f s)"
           " = %.0f devices per tool CPU-second\n",
           1000 * inject.cpu / n, inject.wall, tool_rate);
    printf("  prepare-batch          %.3f ms CPU per device (--jobs 1, records on, bundles on "
           "tmpfs) = %.0f "
           "devices per CPU-second, %.0f devices/s wall\n",
           1000 * prep.cpu / n, prep_rate, prep.wall > 0 ? n / prep.wall : 0.0);
    printf("  line / prepare-batch   %.0f %% (tool CPU rates; goal >= 60 %%)\n",
           prep_rate > 0 ? 100 * tool_rate / prep_rate : 0.0);
    printf("  device storage: %s\n", storage);
    json_decref(root);
    free(text);
    free(ports);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", storage, prep_dir, home);
    run(cmd);
    free(home);
    return ok == devices ? 0 : 1;
}
