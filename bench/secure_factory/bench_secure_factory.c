/* Secure factory throughput: complete device sessions (new_device, device init, configuration,
 * device provisioning, final answer) driven by concurrent station clients against a real
 * service over mutual TLS on loopback. The service runs in this process (its own threads); the
 * devices are RAM-backed kiln devices. Prints sessions/s and p50/p99 latency per session, for
 * SQLite and, when PostgreSQL 15 is installed, for a PostgreSQL server started for the run.
 *
 * Two figures per database: the service alone (devices answer between three waves of station
 * requests, outside the measured time: on a line they are separate chips) and end to end with
 * the simulated Mbed TLS devices sharing this machine's cores with the service.
 *
 *   bench_secure_factory [SESSIONS [CLIENTS ...]]   (defaults: 2000 sessions, 4 and 16 stations;
 *                                                     end to end with the largest count)
 *   bench_secure_factory replicas [SESSIONS [CLIENTS ...]]   (PostgreSQL only: the service-alone
 *                                                     figure of 1 and of 2 replicas on one
 *                                                     database, and their ratio; then the
 *                                                     same with each replica held to a CPU
 *                                                     budget of its own, as on its own machine)
 * KILN_BENCH_SERVICE_ONLY=1 skips the end-to-end runs; KILN_BENCH_SQLITE_ONLY=1 the PostgreSQL
 * ones; KILN_BENCH_REPLICA_CPUS=C the replicas' budget (default 0.25, 0 skips; needs a
 * writable cgroup v1 cpu controller, i.e. root); KILN_BENCH_THREADS=N sizes the service's thread
 * pool (default 4). The crypto bound (session_bound.c) is printed first, and each service-alone
 * figure as a share of it, twice:
 *
 * - wall: sessions/s over the three station waves divided by the bound on all cores. The
 *   station clients (libcurl + TLS) run in this process on the same two cores, where on a line
 *   they are other machines, and other programs on the machine move both terms, so this share
 *   understates the service and swings between runs.
 * - CPU: the bound's CPU per session (its thread's CPU clock, sampled six times around the five
 *   waves of the run: the same minutes and load; the median is printed with the range) divided by
 *   the service's CPU per session: the process's CPU clock over the five waves less the station
 *   and device threads' own CPU clocks and the main thread's (which takes the bound's samples),
 *   i.e. the service's worker, acceptor and checkpointer threads. What this cannot split: kernel
 *   work of a loopback send (including the receiver's TCP input) is charged to the sending
 *   thread, in both directions. 100 % would be a service that does nothing but its crypto. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kiln/device.h"
#include "kiln/kv_ram.h"
#include "kiln_sf.h"
#include "kiln_station.h"
#include "sf_crypto.h"
#include "sf_http.h"
#include "sf_service.h"
#include "cpu_budget.h"
#include "session_bound.h"

static double crypto_bound; /* sessions/s the service's crypto alone allows, this run */

typedef struct bench {
    const char *station_file;
    kiln_sf_trust_key trust_key;
    int sessions_per_client;
    int client_index_base;
    double *latencies;
    int failures;
    pthread_mutex_t lock;
    char run_id[32];
    const char *const *replica_urls; /* replicas mode: station client i starts at URL i mod n */
    int replica_count;
    double last_rate; /* sessions/s of the last service-alone run */
} bench;

typedef struct client {
    bench *b;
    int index;
} client;

static double now_s(void)
{
    return sf_bench_clock_s(CLOCK_MONOTONIC);
}

static int root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x42, 32);
    return 0;
}

static int os_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return sfc_random(buf, len) == SF_OK ? 0 : -1;
}

/* Runs one message through the device; returns the answer as hex (heap) or NULL. */
static char *device_answer(kiln_device *dev, const kiln_sf_trust *trust, const char *hex)
{
    size_t cap = strlen(hex) / 2 + 1, len = 0;
    uint8_t *msg = malloc(cap);
    uint8_t out[KILN_SF_ANSWER_MAX];
    size_t out_len = 0;
    char *answer = NULL;
    if (msg != NULL && sf_hex_decode(hex, msg, cap, &len) == SF_OK &&
        kiln_sf_handle_message(dev, trust, msg, len, out, sizeof(out), &out_len, NULL) == SF_OK) {
        answer = malloc(2 * out_len + 1);
        if (answer != NULL) {
            sf_hex_encode(out, out_len, answer);
        }
    }
    free(msg);
    return answer;
}

static int one_session(bench *b, kiln_station *st, const char *sid)
{
    kiln_sf_trust trust = {&b->trust_key, 1};
    kiln_kv_ram ram;
    kiln_kv_ram_init(&ram);
    kiln_device_config cfg = {&ram.backend, root_key, NULL, os_entropy, NULL};
    kiln_device dev;
    kiln_device_setup(&dev, &cfg);
    kiln_station_reply r1, r2, r3;
    memset(&r2, 0, sizeof(r2));
    memset(&r3, 0, sizeof(r3));
    char *a1 = NULL, *a2 = NULL;
    int ok = kiln_station_new_device(st, sid, &r1) == SF_OK &&
             (a1 = device_answer(&dev, &trust, r1.payload)) != NULL &&
             kiln_station_get_device_configuration(st, sid, a1, &r2) == SF_OK &&
             (a2 = device_answer(&dev, &trust, r2.payload)) != NULL &&
             kiln_station_handle_device_response(st, sid, a2, &r3) == SF_OK &&
             strlen(r3.fingerprint) == 40;
    if (!ok && (r1.message[0] || r2.message[0] || r3.message[0])) {
        fprintf(stderr, "session %s: %s%s%s\n", sid, r1.message, r2.message, r3.message);
    }
    free(a1);
    free(a2);
    kiln_station_reply_free(&r1);
    kiln_station_reply_free(&r2);
    kiln_station_reply_free(&r3);
    if (dev.fcc_ready) {
        kiln_fcc_finalize(&dev);
    } else {
        kiln_kcm_finalize(&dev);
    }
    kiln_kv_ram_free(&ram);
    return ok ? 0 : -1;
}

static void *client_main(void *arg)
{
    client *c = arg;
    bench *b = c->b;
    kiln_station *st = NULL;
    char err[256];
    if (kiln_station_open(b->station_file, &st, err, sizeof(err)) != SF_OK) {
        fprintf(stderr, "bench: %s\n", err);
        pthread_mutex_lock(&b->lock);
        b->failures += b->sessions_per_client;
        pthread_mutex_unlock(&b->lock);
        return NULL;
    }
    for (int i = 0; i < b->sessions_per_client; i++) {
        char sid[64];
        snprintf(sid, sizeof(sid), "bench-%s-%d-%d", b->run_id, c->index, i);
        double t0 = now_s();
        int rc = one_session(b, st, sid);
        double dt = now_s() - t0;
        pthread_mutex_lock(&b->lock);
        if (rc != 0) {
            b->failures++;
        }
        b->latencies[c->index * b->sessions_per_client + i] = rc == 0 ? dt : -1;
        pthread_mutex_unlock(&b->lock);
    }
    kiln_station_close(st);
    return NULL;
}

/* ---- Service alone: the station requests of N sessions in three waves ----------------------
 * On a real line every device is its own chip; here the simulated devices would share the two
 * cores with the service. So the devices answer between the waves, outside the measured time,
 * and the service's figure is N sessions over the time of its three waves. Per-session latency
 * is the sum of that session's three station round trips (mutual TLS, JSON, database). */

typedef struct slot {
    kiln_kv_ram ram;
    kiln_device dev;
    char sid[64];
    char *payload; /* the service's latest message for the device (hex) */
    char *answer;  /* the device's answer to it (hex) */
    double latency;
    int failed;
} slot;

typedef struct wave {
    bench *b;
    slot *slots;
    int count;
    int clients;
    int step; /* 1..3 station steps, 0 = devices answer */
    kiln_station **stations;
    double station_cpu; /* CPU seconds of the station threads of all waves so far */
    double device_cpu;  /* and of the device threads */
} wave;

typedef struct wave_worker {
    wave *w;
    int index;
    double cpu; /* CPU seconds of this station or device thread */
} wave_worker;

static void station_step(wave *w, kiln_station *st, slot *s)
{
    kiln_station_reply r;
    memset(&r, 0, sizeof(r));
    double t0 = now_s();
    sf_status rc;
    if (w->step == 1) {
        rc = kiln_station_new_device(st, s->sid, &r);
    } else if (w->step == 2) {
        rc = kiln_station_get_device_configuration(st, s->sid, s->answer, &r);
    } else {
        rc = kiln_station_handle_device_response(st, s->sid, s->answer, &r);
    }
    s->latency += now_s() - t0;
    free(s->payload);
    s->payload = NULL;
    if (rc != SF_OK || (w->step == 3 && strlen(r.fingerprint) != 40)) {
        fprintf(stderr, "session %s step %d: %s\n", s->sid, w->step, r.message);
        s->failed = 1;
    } else if (w->step < 3) {
        s->payload = r.payload;
        r.payload = NULL;
    }
    kiln_station_reply_free(&r);
}

static void *wave_main(void *arg)
{
    wave_worker *ww = arg;
    wave *w = ww->w;
    kiln_sf_trust trust = {&w->b->trust_key, 1};
    for (int i = ww->index; i < w->count; i += w->clients) {
        slot *s = &w->slots[i];
        if (s->failed) {
            continue;
        }
        if (w->step == 0) {
            free(s->answer);
            s->answer = device_answer(&s->dev, &trust, s->payload);
            s->failed = s->answer == NULL;
        } else {
            station_step(w, w->stations[ww->index], s);
        }
    }
    ww->cpu = sf_bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

static double run_wave(wave *w, int step)
{
    pthread_t threads[64];
    wave_worker workers[64];
    w->step = step;
    double t0 = now_s();
    for (int i = 0; i < w->clients; i++) {
        workers[i].w = w;
        workers[i].index = i;
        workers[i].cpu = 0;
        pthread_create(&threads[i], NULL, wave_main, &workers[i]);
        /* Named so that a profile tells the stations and devices from the service's threads. */
        pthread_setname_np(threads[i], step == 0 ? "device" : "station");
    }
    for (int i = 0; i < w->clients; i++) {
        pthread_join(threads[i], NULL);
        *(step == 0 ? &w->device_cpu : &w->station_cpu) += workers[i].cpu;
    }
    return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void percentiles(double *v, int n, double *p50, double *p99)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    *p50 = n ? v[n / 2] : 0;
    *p99 = n ? v[(n * 99) / 100] : 0;
}

/* Replicas mode: client i's URL list starts at replica i mod n (the others follow, as a
 * station's failover list would). */
static sf_status replica_order(const bench *b, kiln_station *st, int client)
{
    const char *order[KILN_STATION_MAX_URLS];
    for (int k = 0; k < b->replica_count; k++) {
        order[k] = b->replica_urls[(client + k) % b->replica_count];
    }
    char err[256];
    sf_status s = kiln_station_set_urls(st, order, b->replica_count, err, sizeof(err));
    if (s != SF_OK) {
        fprintf(stderr, "bench: %s\n", err);
    }
    return s;
}

/* The service's CPU over the five waves: the process's CPU clock less the station and device
 * threads' own clocks and the calling thread's, i.e. the service's worker, acceptor and
 * checkpointer threads. */
typedef struct cpu_mark {
    double process, self;
} cpu_mark;

static cpu_mark cpu_now(void)
{
    return (cpu_mark){sf_bench_clock_s(CLOCK_PROCESS_CPUTIME_ID),
                      sf_bench_clock_s(CLOCK_THREAD_CPUTIME_ID)};
}

/* The bound's CPU per session is sampled before, between and after the five waves: the same
 * minutes, the same machine load, the same CPU frequency as the service's figure. */
#define BOUND_SAMPLES         6
#define BOUND_SAMPLE_SESSIONS 200

typedef struct alone_figures {
    int ok, sessions, clients;
    double service_wall, device_wall, p50, p99;
    double service_cpu, station_cpu, device_cpu; /* seconds over the five waves */
    double bound[BOUND_SAMPLES];                 /* CPU seconds per session, sorted when printed */
} alone_figures;

static void bound_sample(alone_figures *f, int i)
{
    f->bound[i] = sf_bench_session_bound_cpu(BOUND_SAMPLE_SESSIONS);
}

static void print_service_alone(const char *label, alone_figures *f)
{
    double rate = f->ok / f->service_wall, n = f->ok > 0 ? f->ok : 1;
    qsort(f->bound, BOUND_SAMPLES, sizeof(double), cmp_double);
    double svc = f->service_cpu / n;
    double bound = (f->bound[BOUND_SAMPLES / 2 - 1] + f->bound[BOUND_SAMPLES / 2]) / 2;
    printf("%-10s service alone     sessions=%d clients=%d failed=%d  %.0f sessions/s  p50 %.1f ms"
           "  p99 %.1f ms  %.0f %% of the crypto bound (wall)\n"
           "%-10s   CPU per session: service %.3f ms, crypto bound %.3f ms (median of %d samples, "
           "%.3f-%.3f): %.0f %% of the crypto bound (CPU)  (outside both figures, per session: "
           "stations %.3f ms CPU; devices %.3f ms CPU, %.1f ms wall)\n",
           label, f->ok, f->clients, f->sessions - f->ok, rate, f->p50 * 1e3, f->p99 * 1e3,
           crypto_bound > 0 ? 100.0 * rate / crypto_bound : 0.0, label, svc * 1e3, bound * 1e3,
           BOUND_SAMPLES, f->bound[0] * 1e3, f->bound[BOUND_SAMPLES - 1] * 1e3,
           svc > 0 ? 100.0 * bound / svc : 0.0, f->station_cpu * 1e3 / n, f->device_cpu * 1e3 / n,
           f->device_wall * 1e3 / f->sessions);
    fflush(stdout);
}

static int open_stations(bench *b, kiln_station **stations, int clients)
{
    for (int i = 0; i < clients; i++) {
        char err[256];
        if (kiln_station_open(b->station_file, &stations[i], err, sizeof(err)) != SF_OK) {
            fprintf(stderr, "bench: %s\n", err);
            return -1;
        } else if (b->replica_count > 0 && replica_order(b, stations[i], i) != SF_OK) {
            return -1;
        }
    }
    return 0;
}

/* The five waves, with the bound sampled around each; the service's wall time and CPU and the
 * others' CPU go to f. The samples run on this thread, so its clock takes them out of the
 * service's CPU. */
static void run_waves(wave *w, alone_figures *f)
{
    static const int steps[5] = {1, 0, 2, 0, 3};
    cpu_mark m0 = cpu_now();
    bound_sample(f, 0);
    for (int k = 0; k < 5; k++) {
        *(steps[k] == 0 ? &f->device_wall : &f->service_wall) += run_wave(w, steps[k]);
        bound_sample(f, k + 1);
    }
    cpu_mark m1 = cpu_now();
    f->station_cpu = w->station_cpu;
    f->device_cpu = w->device_cpu;
    f->service_cpu =
        (m1.process - m0.process) - (m1.self - m0.self) - w->station_cpu - w->device_cpu;
}

static int run_service_alone(bench *b, const char *label, int sessions, int clients)
{
    slot *slots = calloc((size_t)sessions, sizeof(slot));
    kiln_station *stations[64] = {0};
    alone_figures f;
    memset(&f, 0, sizeof(f));
    f.sessions = sessions;
    f.clients = clients;
    int rc = open_stations(b, stations, clients);
    for (int i = 0; i < sessions && rc == 0; i++) {
        kiln_kv_ram_init(&slots[i].ram);
        kiln_device_config cfg = {&slots[i].ram.backend, root_key, NULL, os_entropy, NULL};
        kiln_device_setup(&slots[i].dev, &cfg);
        snprintf(slots[i].sid, sizeof(slots[i].sid), "svc-%s-%d", b->run_id, i);
    }
    wave w = {b, slots, sessions, clients, 0, stations, 0, 0};
    if (rc == 0) {
        run_waves(&w, &f);
    }
    double *lat = calloc((size_t)sessions, sizeof(double));
    for (int i = 0; i < sessions; i++) {
        if (!slots[i].failed && rc == 0) {
            lat[f.ok++] = slots[i].latency;
        }
        free(slots[i].payload);
        free(slots[i].answer);
        if (rc == 0) {
            kiln_fcc_finalize(&slots[i].dev);
            kiln_kv_ram_free(&slots[i].ram);
        }
    }
    percentiles(lat, f.ok, &f.p50, &f.p99);
    print_service_alone(label, &f);
    b->last_rate = f.ok / f.service_wall;
    for (int i = 0; i < clients; i++) {
        kiln_station_close(stations[i]);
    }
    free(lat);
    free(slots);
    return rc == 0 && f.ok == sessions ? 0 : -1;
}

/* ---- End to end: each client runs whole sessions with its device in this process ---------- */
static int run_end_to_end(bench *b, const char *label, int sessions, int clients)
{
    b->sessions_per_client = sessions / clients;
    b->failures = 0;
    int total = b->sessions_per_client * clients;
    b->latencies = calloc((size_t)total, sizeof(double));
    pthread_t threads[64];
    client cs[64];
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        cs[i].b = b;
        cs[i].index = i;
        pthread_create(&threads[i], NULL, client_main, &cs[i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
    }
    double elapsed = now_s() - t0;
    int ok = 0;
    for (int i = 0; i < total; i++) {
        if (b->latencies[i] >= 0) {
            b->latencies[ok++] = b->latencies[i];
        }
    }
    double p50, p99;
    percentiles(b->latencies, ok, &p50, &p99);
    printf("%-10s with its devices  sessions=%d clients=%d failed=%d  %.0f sessions/s  p50 %.1f ms"
           "  p99 %.1f ms  (service and Mbed TLS devices share the cores)\n",
           label, ok, clients, b->failures, ok / elapsed, p50 * 1e3, p99 * 1e3);
    fflush(stdout);
    free(b->latencies);
    b->latencies = NULL;
    return b->failures == 0 ? 0 : -1;
}

/* Station counts of the service-alone runs: light load for latency, saturation for throughput. */
static int client_list[8] = {4, 16};
static int client_count = 2;
static int service_only; /* KILN_BENCH_SERVICE_ONLY=1: skip the end-to-end figure (profiling) */
static int bench_threads = 4; /* KILN_BENCH_THREADS: the service's thread pool */

/* One measured run against a service state folder (db_url NULL = SQLite). */
static int run(const char *label, const char *dir, const char *db_url, int sessions, int clients)
{
    sf_service *svc = NULL;
    sf_http *http = NULL;
    if (sf_service_open(dir, db_url, &svc) != SF_OK ||
        sf_http_start(svc, "127.0.0.1:0", bench_threads, NULL, &http) != SF_OK) {
        fprintf(stderr, "bench: cannot start the service for %s\n", label);
        sf_service_close(svc);
        return -1;
    }
    char path[1200], url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", sf_http_port(http));
    snprintf(path, sizeof(path), "%s/station-%s.pem", dir, label);
    if (sf_service_add_station(svc, label, "default", url, path) != SF_OK) {
        fprintf(stderr, "bench: cannot add a station\n");
        sf_http_stop(http);
        sf_service_close(svc);
        return -1;
    }
    EVP_PKEY *signing_public = NULL;
    char *pem = sfc_point_to_key(kiln_pki_signer_point(svc->signing), &signing_public) == SF_OK
                    ? sfc_pubkey_pem(signing_public)
                    : NULL;
    EVP_PKEY_free(signing_public);
    bench b;
    memset(&b, 0, sizeof(b));
    b.station_file = path;
    b.trust_key.factory_id = svc->cfg.factory_id;
    b.trust_key.key = (const uint8_t *)pem;
    b.trust_key.key_len = strlen(pem) + 1;
    pthread_mutex_init(&b.lock, NULL);
    int rc = 0;
    for (int i = 0; i < client_count; i++) {
        snprintf(b.run_id, sizeof(b.run_id), "%s%ld-%d", label, (long)time(NULL), client_list[i]);
        if (run_service_alone(&b, label, sessions, client_list[i]) != 0) {
            rc = -1;
        }
    }
    snprintf(b.run_id, sizeof(b.run_id), "%s%ld-e2e", label, (long)time(NULL));
    if (!service_only && run_end_to_end(&b, label, sessions, clients) != 0) {
        rc = -1;
    }
    free(pem);
    pthread_mutex_destroy(&b.lock);
    sf_http_stop(http);
    sf_service_close(svc);
    return rc;
}

/* ---- Replicas: 1 and 2 services on one PostgreSQL -----------------------------------------
 * Each replica is a service of its own (state, database connection pool, thread pool, HTTPS
 * port) on copies of one state folder, in this process: the same work as separate
 * `factory_service run` processes, on the same cores. The station clients are spread over the
 * replicas. */
#define MAX_REPLICAS 4

typedef struct replica_set {
    cpu_budget *budgets; /* NULL, or one per replica: its threads run inside */
    sf_service *svc[MAX_REPLICAS];
    sf_http *http[MAX_REPLICAS];
    char urls[MAX_REPLICAS][64];
    const char *list[MAX_REPLICAS];
    int count;
} replica_set;

static void replicas_stop(replica_set *r)
{
    for (int i = 0; i < r->count; i++) {
        sf_http_stop(r->http[i]);
        sf_service_close(r->svc[i]);
    }
    r->count = 0;
}

/* A replica's threads (HTTP pool, acceptor, database) are made by the thread that opens it, so
 * with budgets that thread opens each replica from inside the replica's group. */
static int replica_open(replica_set *r, int i, const char *dir, const char *db_url)
{
    if (r->budgets != NULL && cpu_budget_enter(&r->budgets[i]) != 0) {
        return -1;
    }
    int ok = sf_service_open(dir, db_url, &r->svc[i]) == SF_OK;
    if (ok && sf_http_start(r->svc[i], "127.0.0.1:0", bench_threads, NULL, &r->http[i]) != SF_OK) {
        sf_service_close(r->svc[i]);
        ok = 0;
    }
    if (r->budgets != NULL && cpu_budget_leave() != 0) {
        ok = 0; /* the bench's own threads would run inside the replica's budget */
    }
    return ok ? 0 : -1;
}

static int replicas_start(replica_set *r, const char *dir, const char *db_url, int n,
                          cpu_budget *budgets)
{
    memset(r, 0, sizeof(*r));
    r->budgets = budgets;
    for (int i = 0; i < n; i++) {
        if (replica_open(r, i, dir, db_url) != 0) {
            replicas_stop(r);
            return -1;
        }
        r->count++;
        snprintf(r->urls[i], sizeof(r->urls[i]), "https://127.0.0.1:%d", sf_http_port(r->http[i]));
        r->list[i] = r->urls[i];
    }
    return 0;
}

/* Service-alone sessions/s of n replicas (0 on failure). */
static double run_replica_count(const char *dir, const char *db_url, int n, int sessions,
                                int clients, const char *label, cpu_budget *budgets)
{
    replica_set r;
    char name[64], path[1200];
    snprintf(name, sizeof(name), "%s-%d-%d", label, n, clients); /* a station per run */
    snprintf(path, sizeof(path), "%s/station-%s.pem", dir, name);
    if (replicas_start(&r, dir, db_url, n, budgets) != 0 ||
        sf_service_add_station(r.svc[0], name, "default", r.urls[0], path) != SF_OK) {
        fprintf(stderr, "bench: cannot start %d replicas\n", n);
        replicas_stop(&r);
        return 0;
    }
    EVP_PKEY *signing_public = NULL;
    char *pem = sfc_point_to_key(kiln_pki_signer_point(r.svc[0]->signing), &signing_public) == SF_OK
                    ? sfc_pubkey_pem(signing_public)
                    : NULL;
    EVP_PKEY_free(signing_public);
    bench b;
    memset(&b, 0, sizeof(b));
    b.station_file = path;
    b.trust_key.factory_id = r.svc[0]->cfg.factory_id;
    b.trust_key.key = (const uint8_t *)pem;
    b.trust_key.key_len = pem != NULL ? strlen(pem) + 1 : 0;
    b.replica_urls = r.list;
    b.replica_count = n;
    pthread_mutex_init(&b.lock, NULL);
    snprintf(b.run_id, sizeof(b.run_id), "r%d-%ld-%d", n, (long)time(NULL) % 100000000, clients);
    int rc = pem != NULL ? run_service_alone(&b, label, sessions, clients) : -1;
    free(pem);
    pthread_mutex_destroy(&b.lock);
    replicas_stop(&r);
    return rc == 0 ? b.last_rate : 0;
}

/* Sessions/s of n replicas, each in a fresh group of `cpus`; the share of CFS periods each was
 * throttled in goes to throttled[]. 0 with why set when groups cannot be made here. */
static double budgeted_rate(const char *state, const char *db_url, int n, int sessions, int clients,
                            double cpus, double throttled[2], char *why, int why_size)
{
    cpu_budget budgets[2];
    char name[64];
    int made = 0;
    for (; made < n; made++) {
        snprintf(name, sizeof(name), "kiln-bench-replica-%ld-%d", (long)getpid(), made);
        if (cpu_budget_create(&budgets[made], name, cpus, why, why_size) != 0) {
            break;
        }
    }
    double rate = made == n ? run_replica_count(state, db_url, n, sessions, clients,
                                                n == 1 ? "1-budgeted" : "2-budgeted", budgets)
                            : 0;
    for (int i = 0; i < made; i++) {
        throttled[i] = cpu_budget_throttled_share(&budgets[i]);
        cpu_budget_remove(&budgets[i]);
    }
    return rate;
}

/* One machine cannot show what a second machine adds: one replica already uses every core, and
 * the clients and PostgreSQL take the rest. So each replica also runs inside a CPU budget of
 * its own (KILN_BENCH_REPLICA_CPUS, default 0.25 of a core; 0 skips): a replica on a machine of
 * its own, with PostgreSQL and the clients outside. If replicas contend for the database (locks,
 * the quota row, serialization retries), two budgeted replicas stay near one. */
static int run_budgeted_replicas(const char *state, const char *db_url, int sessions)
{
    const char *env = getenv("KILN_BENCH_REPLICA_CPUS");
    double cpus = env != NULL ? atof(env) : 0.25;
    if (cpus <= 0) {
        return 0;
    }
    int rc = 0;
    for (int c = 0; c < client_count; c++) {
        double alone[2] = {0, 0}, both[2] = {0, 0};
        char why[320] = "";
        double one = budgeted_rate(state, db_url, 1, sessions, client_list[c], cpus, alone, why,
                                   sizeof(why));
        double two = one > 0 ? budgeted_rate(state, db_url, 2, sessions, client_list[c], cpus, both,
                                             why, sizeof(why))
                             : 0;
        if (why[0] != '\0') {
            printf("budgeted replicas skipped (%s)\n", why);
            return 0;
        }
        if (one <= 0 || two <= 0) {
            rc = -1;
            continue;
        }
        printf("replicas   clients=%d  each replica held to %.2f CPU: 1 replica %.0f sessions/s, "
               "2 replicas %.0f sessions/s: %.2fx  (throttled in %.0f %% of CFS periods alone, "
               "%.0f %% / %.0f %% side by side)\n",
               client_list[c], cpus, one, two, two / one, 100 * alone[0], 100 * both[0],
               100 * both[1]);
        fflush(stdout);
    }
    return rc;
}

/* bench_secure_factory replicas [SESSIONS [CLIENTS ...]]: 1 and 2 replicas on one PostgreSQL
 * per station count; the ratio next to the crypto bound; then the same with a CPU budget per
 * replica. */
static int run_replicas(const char *state, const char *db_url, int sessions)
{
    /* A first run warms PostgreSQL up (its caches, the tables' first pages): without it the
     * first figure is the cold start's. */
    int rc = run_replica_count(state, db_url, 1, sessions / 4 + 1, 4, "warm-up", NULL) > 0 ? 0 : -1;
    for (int c = 0; c < client_count; c++) {
        double one =
            run_replica_count(state, db_url, 1, sessions, client_list[c], "1-replica", NULL);
        double two =
            run_replica_count(state, db_url, 2, sessions, client_list[c], "2-replicas", NULL);
        if (one <= 0 || two <= 0) {
            rc = -1;
            continue;
        }
        printf("replicas   clients=%d  1 replica %.0f sessions/s, 2 replicas %.0f sessions/s: "
               "%.2fx  (crypto bound %.0f sessions/s on this machine's cores, shared by the "
               "replicas, the clients and PostgreSQL)\n",
               client_list[c], one, two, two / one, crypto_bound);
        fflush(stdout);
    }
    return rc != 0 ? rc : run_budgeted_replicas(state, db_url, sessions);
}

/* The URL of a throw-away PostgreSQL started by pg.sh in dir/pg, or "" with why in url. */
static void pg_start(const char *dir, char *url, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh %s start %s/pg", KILN_SF_BENCH_PG_SCRIPT, dir);
    FILE *p = popen(cmd, "r");
    url[0] = '\0';
    if (p != NULL) {
        if (fgets(url, (int)size, p) == NULL) {
            url[0] = '\0';
        }
        url[strcspn(url, "\n")] = '\0';
        pclose(p);
    }
}

/* The PostgreSQL runs (started for this run by the helper script next to this file): the usual
 * figures, or with replicas only the replicas mode. */
static int run_postgres(const char *dir, const char *state, int sessions, int clients, int replicas)
{
    char url[256];
    pg_start(dir, url, sizeof(url));
    if (strncmp(url, "postgresql://", 13) != 0) {
        printf("postgresql skipped (%s)\n", url[0] ? url : "PostgreSQL 15 not available");
        return 0;
    }
    if (replicas) {
        return run_replicas(state, url, sessions);
    }
    /* The server runs with synchronous_commit=off: like SQLite's WAL with synchronous=NORMAL,
     * a commit survives a crash of the service but not a power cut of the database host.
     * The second run asks for a flushed WAL on every commit (PostgreSQL's default). */
    int rc = run("postgresql", state, url, sessions, clients);
    char durable[300];
    snprintf(durable, sizeof(durable), "%s?options=-csynchronous_commit%%3Don", url);
    int saved = service_only;
    service_only = 1;
    if (run("pg-fsync", state, durable, sessions, clients) != 0) {
        rc = -1;
    }
    service_only = saved;
    return rc;
}

int main(int argc, char **argv)
{
    /* "replicas" first: only the replicas mode (PostgreSQL, 1 and 2 replicas). */
    int replicas = argc > 1 && strcmp(argv[1], "replicas") == 0;
    if (replicas) {
        argc--;
        argv++;
    }
    int sessions = argc > 1 ? atoi(argv[1]) : 2000;
    if (argc > 2) {
        client_count = 0;
        for (int i = 2; i < argc && client_count < 8; i++) {
            client_list[client_count++] = atoi(argv[i]);
        }
    }
    int clients = 0; /* the end-to-end run uses the largest count */
    for (int i = 0; i < client_count; i++) {
        clients = client_list[i] > clients ? client_list[i] : clients;
        if (client_list[i] < 1 || client_list[i] > 64) {
            clients = 0;
            break;
        }
    }
    if (sessions < 1 || clients < 1) {
        fprintf(stderr, "usage: bench_secure_factory [replicas] [SESSIONS [CLIENTS<=64 ...]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    service_only = getenv("KILN_BENCH_SERVICE_ONLY") != NULL;
    if (getenv("KILN_BENCH_THREADS") != NULL) {
        bench_threads = atoi(getenv("KILN_BENCH_THREADS"));
    }
    double per_core = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    crypto_bound = sf_bench_session_bound(sessions, cores > 0 ? (int)cores : 1, &per_core);
    printf("crypto bound (the service's per-session crypto alone, this run): %.0f sessions/s on "
           "one core, %.0f on %ld cores\n",
           per_core, crypto_bound, cores);
    char dir[] = "/tmp/kiln-sf-bench.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    /* The PostgreSQL server runs as the postgres user and must reach its folder inside. */
    chmod(dir, 0755);
    char state[128];
    snprintf(state, sizeof(state), "%s/service", dir);
    int rc = 0;
    if (sf_service_init_dir(state, "127.0.0.1:0", NULL) != SF_OK) {
        fprintf(stderr, "bench: cannot create the state folder\n");
        rc = 1;
    }
    if (rc == 0 && !replicas && run("sqlite", state, NULL, sessions, clients) != 0) {
        rc = 1;
    }
    if (rc == 0 && (replicas || getenv("KILN_BENCH_SQLITE_ONLY") == NULL) &&
        run_postgres(dir, state, sessions, clients, replicas) != 0) {
        rc = 1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh %s stop %s/pg; rm -rf %s", KILN_SF_BENCH_PG_SCRIPT, dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: cleanup of %s failed\n", dir);
    }
    return rc;
}
