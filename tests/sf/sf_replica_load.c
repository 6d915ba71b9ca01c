/* Load driver of the replica test (tests/sf/test_replicas.sh): CLIENTS concurrent station
 * clients run PER_CLIENT whole secure-factory sessions each against the service replicas named
 * by the URLs, every client with its own libcurl handle and its own order of the URLs (client i
 * starts at URL i mod n), so the load is spread over the replicas and a client whose replica
 * dies carries on with the next (kiln_station's failover). The devices are kiln devices in RAM,
 * one per session, answering with the real device code (Mbed TLS).
 *
 *   sf_replica_load STATION TRUST CLIENTS PER_CLIENT PREFIX OUT URL...
 *
 * OUT gets one line per session, written as it ends: "SID done FINGERPRINT URL" (FINGERPRINT the
 * service's, checked against the SHA-1 of the certificate the device stored; URL the replica that
 * answered the last step), "SID refused CODE" (the service refused the configuration) or
 * "SID failed CODE TEXT".
 *
 * With KILN_LOAD_PAUSE=DIR, client 0 stops in its fourth session after the configuration step:
 * it writes DIR/paused ("SID URL", URL the replica that configured it) and waits for DIR/go (at
 * most 60 s). It then asks for the configuration again, as a station that lost the answer
 * would, and requires the same payload byte for byte before the device sees it. Exit status 0
 * when every session ended as done or refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <pthread.h>

#include "kiln/device.h"
#include "kiln/kv_ram.h"
#include "kiln_sf.h"
#include "kiln_station.h"
#include "sf_trust.h"

#define PAUSED_SESSION 3

typedef struct load {
    const char *station_file;
    const char *prefix;
    const char *const *urls;
    int url_count;
    int per_client;
    kiln_sf_trust trust;
    const char *pause_dir;
    FILE *out;
    int failed;
    pthread_mutex_t lock;
} load;

typedef struct client {
    load *l;
    int index;
} client;

static int root_key(void *ctx, uint8_t key[32])
{
    (void)ctx;
    memset(key, 0x42, 32);
    return 0;
}

static int os_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    FILE *f = fopen("/dev/urandom", "rb");
    size_t n = f != NULL ? fread(buf, 1, len, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    return n == len ? 0 : -1;
}

/* Runs one message through the device; the answer as hex (heap) or NULL. */
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

/* The SHA-1 (hex) of the device certificate the device stored; 0 when it has one. */
static int stored_fingerprint(kiln_device *dev, char hex[41])
{
    static const char name[] = "mbed.BootstrapDeviceCert";
    uint8_t cert[4096], md[SHA_DIGEST_LENGTH];
    size_t len = 0;
    if (kiln_kcm_item_get_data(dev, (const uint8_t *)name, sizeof(name) - 1, KCM_CERTIFICATE_ITEM,
                               cert, sizeof(cert), &len) != KCM_STATUS_SUCCESS) {
        return -1;
    }
    SHA1(cert, len, md);
    sf_hex_encode(md, sizeof(md), hex);
    return 0;
}

static void record(load *l, const char *fmt, const char *sid, const char *a, const char *b,
                   int failed)
{
    pthread_mutex_lock(&l->lock);
    fprintf(l->out, fmt, sid, a, b);
    fflush(l->out);
    l->failed += failed;
    pthread_mutex_unlock(&l->lock);
}

/* Client 0's paused session: announce, wait for the test's go, ask for the configuration again
 * and require the payload the first replica sent. */
static sf_status pause_and_retry(load *l, kiln_station *st, const char *sid, const char *answer,
                                 const char *payload, kiln_station_reply *r)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/paused.tmp", l->pause_dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return SF_INTERNAL;
    }
    fprintf(f, "%s %s\n", sid, kiln_station_last_url(st));
    fclose(f);
    char done[4200];
    snprintf(done, sizeof(done), "%s/paused", l->pause_dir);
    rename(path, done);
    snprintf(path, sizeof(path), "%s/go", l->pause_dir);
    for (int i = 0; i < 3000 && access(path, F_OK) != 0; i++) {
        usleep(20000);
    }
    sf_status s = kiln_station_get_device_configuration(st, sid, answer, r);
    if (s == SF_OK && (r->payload == NULL || strcasecmp(r->payload, payload) != 0)) {
        snprintf(r->message, sizeof(r->message), "the retried configuration differs");
        s = SF_PROTOCOL;
    }
    return s;
}

/* The configuration step (and client 0's pause); the payload for the device in *config. */
static sf_status configuration(load *l, kiln_station *st, const char *sid, const char *answer,
                               int pause, char **config, kiln_station_reply *r)
{
    sf_status s = kiln_station_get_device_configuration(st, sid, answer, r);
    if (s != SF_OK || !pause) {
        *config = r->payload;
        r->payload = NULL;
        return s;
    }
    char *first = r->payload;
    r->payload = NULL;
    kiln_station_reply_free(r);
    s = pause_and_retry(l, st, sid, answer, first, r);
    *config = first;
    return s;
}

/* One whole session; its line in OUT. */
static void one_session(load *l, kiln_station *st, const char *sid, int pause)
{
    kiln_kv_ram ram;
    kiln_kv_ram_init(&ram);
    kiln_device_config cfg = {&ram.backend, root_key, NULL, os_entropy, NULL};
    kiln_device dev;
    kiln_device_setup(&dev, &cfg);
    kiln_station_reply r;
    memset(&r, 0, sizeof(r));
    char *a1 = NULL, *a2 = NULL, *config = NULL, fp[41] = "";
    sf_status s = kiln_station_new_device(st, sid, &r);
    if (s == SF_OK && (a1 = device_answer(&dev, &l->trust, r.payload)) == NULL) {
        s = SF_PROTOCOL;
    }
    kiln_station_reply_free(&r);
    if (s == SF_OK) {
        s = configuration(l, st, sid, a1, pause, &config, &r);
        kiln_station_reply_free(&r);
    }
    if (s == SF_OK && (a2 = device_answer(&dev, &l->trust, config)) == NULL) {
        s = SF_PROTOCOL;
    }
    if (s == SF_OK) {
        s = kiln_station_handle_device_response(st, sid, a2, &r);
    }
    if (s == SF_OK && (stored_fingerprint(&dev, fp) != 0 || strcmp(fp, r.fingerprint) != 0)) {
        s = SF_PROTOCOL;
        snprintf(r.message, sizeof(r.message), "fingerprint %s, device stored %s", r.fingerprint,
                 fp);
    }
    char code[16];
    snprintf(code, sizeof(code), "%d", (int)s);
    if (s == SF_OK) {
        record(l, "%s done %s %s\n", sid, r.fingerprint, kiln_station_last_url(st), 0);
    } else if (s == SF_QUOTA_EXCEEDED) {
        record(l, "%s refused %s%s\n", sid, code, "", 0);
    } else {
        record(l, "%s failed %s %s\n", sid, code, r.message, 1);
    }
    kiln_station_reply_free(&r);
    free(a1);
    free(a2);
    free(config);
    if (dev.fcc_ready) {
        kiln_fcc_finalize(&dev);
    } else {
        kiln_kcm_finalize(&dev);
    }
    kiln_kv_ram_free(&ram);
}

static void *client_main(void *arg)
{
    client *c = arg;
    load *l = c->l;
    kiln_station *st = NULL;
    char err[600];
    const char *order[KILN_STATION_MAX_URLS];
    for (int i = 0; i < l->url_count; i++) {
        order[i] = l->urls[(c->index + i) % l->url_count];
    }
    if (kiln_station_open(l->station_file, &st, err, sizeof(err)) != SF_OK ||
        kiln_station_set_urls(st, order, l->url_count, err, sizeof(err)) != SF_OK) {
        fprintf(stderr, "sf_replica_load: %s\n", err);
        kiln_station_close(st);
        record(l, "%s%s%s", "", "", "", l->per_client);
        return NULL;
    }
    for (int i = 0; i < l->per_client; i++) {
        char sid[64];
        snprintf(sid, sizeof(sid), "%s-%d-%d", l->prefix, c->index, i);
        one_session(l, st, sid, l->pause_dir != NULL && c->index == 0 && i == PAUSED_SESSION);
    }
    kiln_station_close(st);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr,
                "usage: sf_replica_load STATION TRUST CLIENTS PER_CLIENT PREFIX OUT URL...\n");
        return 2;
    }
    int clients = atoi(argv[3]);
    load l;
    memset(&l, 0, sizeof(l));
    l.station_file = argv[1];
    l.per_client = atoi(argv[4]);
    l.prefix = argv[5];
    l.urls = (const char *const *)argv + 7;
    l.url_count = argc - 7;
    l.pause_dir = getenv("KILN_LOAD_PAUSE");
    if (clients < 1 || clients > 64 || l.per_client < 1 || l.url_count > KILN_STATION_MAX_URLS) {
        fprintf(stderr, "sf_replica_load: 1..64 clients, 1 or more sessions, at most %d URLs\n",
                KILN_STATION_MAX_URLS);
        return 2;
    }
    fc_sf_trust trust;
    if (fc_sf_trust_load(argv[2], &trust) != 0) {
        return 1;
    }
    l.trust = fc_sf_trust_table(&trust);
    l.out = fopen(argv[6], "w");
    if (l.out == NULL) {
        perror(argv[6]);
        fc_sf_trust_free(&trust);
        return 1;
    }
    pthread_mutex_init(&l.lock, NULL);
    pthread_t threads[64];
    client cs[64];
    for (int i = 0; i < clients; i++) {
        cs[i].l = &l;
        cs[i].index = i;
        pthread_create(&threads[i], NULL, client_main, &cs[i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
    }
    fclose(l.out);
    pthread_mutex_destroy(&l.lock);
    fc_sf_trust_free(&trust);
    return l.failed == 0 ? 0 : 1;
}
