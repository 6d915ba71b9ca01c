/* Secure factory throughput: complete device sessions (new_device, device init, configuration,
 * device provisioning, final answer) driven by concurrent station clients against a real
 * service over mutual TLS on loopback. The service runs in this process (its own threads); the
 * devices are RAM-backed kiln devices. Prints sessions/s and p50/p99 latency per session, for
 * SQLite and, when PostgreSQL 15 is installed, for a PostgreSQL server started for the run.
 *
 *   bench_secure_factory [SESSIONS [CLIENTS]]      (defaults 400 and 8) */
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

typedef struct bench {
    const char *station_file;
    kiln_sf_trust_key trust_key;
    int sessions_per_client;
    int client_index_base;
    double *latencies;
    int failures;
    pthread_mutex_t lock;
    char run_id[32];
} bench;

typedef struct client {
    bench *b;
    int index;
} client;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One measured run against a service state folder (db_url NULL = SQLite). */
static int run(const char *label, const char *dir, const char *db_url, int sessions, int clients)
{
    sf_service *svc = NULL;
    sf_http *http = NULL;
    if (sf_service_open(dir, db_url, &svc) != SF_OK ||
        sf_http_start(svc, "127.0.0.1:0", 4, NULL, &http) != SF_OK) {
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
    char *pem = sfc_pubkey_pem(svc->signing_key);
    bench b;
    memset(&b, 0, sizeof(b));
    b.station_file = path;
    b.trust_key.factory_id = svc->cfg.factory_id;
    b.trust_key.key = (const uint8_t *)pem;
    b.trust_key.key_len = strlen(pem) + 1;
    b.sessions_per_client = sessions / clients;
    snprintf(b.run_id, sizeof(b.run_id), "%s%ld", label, (long)time(NULL));
    int total = b.sessions_per_client * clients;
    b.latencies = calloc((size_t)total, sizeof(double));
    pthread_mutex_init(&b.lock, NULL);
    pthread_t threads[64];
    client cs[64];
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        cs[i].b = &b;
        cs[i].index = i;
        pthread_create(&threads[i], NULL, client_main, &cs[i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
    }
    double elapsed = now_s() - t0;
    int ok = 0;
    for (int i = 0; i < total; i++) {
        if (b.latencies[i] >= 0) {
            b.latencies[ok++] = b.latencies[i];
        }
    }
    qsort(b.latencies, (size_t)ok, sizeof(double), cmp_double);
    double p50 = ok ? b.latencies[ok / 2] : 0, p99 = ok ? b.latencies[(ok * 99) / 100] : 0;
    printf("%-10s sessions=%d clients=%d failed=%d  %.0f sessions/s  p50 %.1f ms  p99 %.1f ms\n",
           label, ok, clients, b.failures, ok / elapsed, p50 * 1e3, p99 * 1e3);
    fflush(stdout);
    free(b.latencies);
    free(pem);
    pthread_mutex_destroy(&b.lock);
    sf_http_stop(http);
    sf_service_close(svc);
    return b.failures == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int sessions = argc > 1 ? atoi(argv[1]) : 400;
    int clients = argc > 2 ? atoi(argv[2]) : 8;
    if (sessions < 1 || clients < 1 || clients > 64) {
        fprintf(stderr, "usage: bench_secure_factory [SESSIONS [CLIENTS<=64]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
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
    if (rc == 0 && run("sqlite", state, NULL, sessions, clients) != 0) {
        rc = 1;
    }
    /* PostgreSQL: started for this run by the helper script next to this file. */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sh %s start %s/pg", KILN_SF_BENCH_PG_SCRIPT, dir);
    FILE *p = rc == 0 ? popen(cmd, "r") : NULL;
    char url[256] = "";
    if (p != NULL) {
        if (fgets(url, sizeof(url), p) == NULL) {
            url[0] = '\0';
        }
        url[strcspn(url, "\n")] = '\0';
        pclose(p);
    }
    if (strncmp(url, "postgresql://", 13) == 0) {
        if (run("postgresql", state, url, sessions, clients) != 0) {
            rc = 1;
        }
    } else if (rc == 0) {
        printf("postgresql skipped (%s)\n", url[0] ? url : "PostgreSQL 15 not available");
    }
    snprintf(cmd, sizeof(cmd), "sh %s stop %s/pg; rm -rf %s", KILN_SF_BENCH_PG_SCRIPT, dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: cleanup of %s failed\n", dir);
    }
    return rc;
}
