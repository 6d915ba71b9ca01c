/* factory_tool prepare-batch and verify-batch: the seed's separable sub-steps for many devices.
 * prepare-batch makes DIR/ENDPOINT.cbor on every core (one configurator handle per thread),
 * plus DIR/ENDPOINT.ctx for a two-step (by_device) mode;
 * verify-batch checks the answers `write` collected and records which devices are provisioned.
 * With --bundles DIR it also finishes two-step sessions: an answer to a first bundle (checked
 * with DIR/ENDPOINT.ctx) becomes the device's second bundle DIR/ENDPOINT.cbor, to be written and
 * verified again. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "line_engine.h"
#include "line_errors.h"

typedef struct split_shared {
    const ft_globals *g;
    const line_device_list *list;
    const char *dir;
    const char *bundles; /* verify-batch: where the bundles and their .ctx files are (or NULL) */
    line_records *records;
    const char *station;
    bool reprovision;
    bool prepare;         /* prepare-batch: "prepared" is its success */
    pthread_mutex_t lock; /* records, output and the next index */
    size_t next;
    size_t ok, failed, skipped;
    size_t second; /* verify-batch: devices given a second bundle (prepared, not yet success) */
} split_shared;

static void emit_line(split_shared *s, const line_device *d, int status, const char *message,
                      const char *result, json_t *device_response)
{
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", json_string(d->endpoint));
    json_object_set_new(o, "serial", json_string(d->serial));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "result", json_string(result));
    if (device_response != NULL) {
        json_object_set_new(o, "deviceResponse", device_response);
    }
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    if (text != NULL) {
        printf("%s\n", text);
        free(text);
    }
    json_decref(o);
    if (status == 0 && strcmp(result, LINE_STATE_SKIPPED) == 0) {
        s->skipped++;
    } else if (status == 0 && !s->prepare && strcmp(result, LINE_STATE_PREPARED) == 0) {
        s->second++;
    } else if (status == 0) {
        s->ok++;
    } else {
        s->failed++;
    }
}

static void prepare_one(split_shared *s, fcu *f, const line_device *d)
{
    line_attempt a = {
        .endpoint = d->endpoint, .serial = d->serial, .address = d->address, .station = s->station};
    pthread_mutex_lock(&s->lock);
    bool skip = s->records && !s->reprovision && line_records_provisioned(s->records, d->endpoint);
    if (skip) {
        const char *msg = "already provisioned; skipped (use --reprovision to issue a new "
                          "certificate)";
        line_records_add(s->records, &a, LINE_STATE_SKIPPED, 0, msg, -1);
        emit_line(s, d, 0, msg, LINE_STATE_SKIPPED, NULL);
    }
    pthread_mutex_unlock(&s->lock);
    if (skip) {
        return;
    }
    fcu_device_request r;
    int st =
        fcu_prepare_device_configuration(f, d->endpoint, d->serial, d->device_keys_location, &r);
    char message[2048];
    line_identity id;
    memset(&id, 0, sizeof(id));
    if (st == 0) {
        char path[1200];
        lj_path(path, sizeof(path), s->dir, d->endpoint, ".cbor");
        int err = ft_write_file(path, r.config_data, r.config_size);
        line_identity_of_bundle(r.config_data, r.config_size, &id);
        if (err == 0 && r.operation_ctx != NULL) {
            uint8_t *ctx = NULL;
            size_t ctx_len = 0;
            lj_path(path, sizeof(path), s->dir, d->endpoint, ".ctx");
            if (fcu_operation_context_save(r.operation_ctx, &ctx, &ctx_len) != 0) {
                err = ENOMEM;
            } else {
                err = ft_write_file(path, ctx, ctx_len);
            }
            free(ctx);
        } else if (err == 0) {
            /* A one-step bundle: a context left by an earlier two-step bundle must not be used
             * with its answer. */
            lj_path(path, sizeof(path), s->dir, d->endpoint, ".ctx");
            if (unlink(path) != 0 && errno != ENOENT) {
                err = errno;
            }
        }
        if (err != 0) {
            st = LINE_E_GENERAL;
            snprintf(message, sizeof(message), "General error on factory tool: cannot write %s: %s",
                     path, strerror(err));
        } else {
            snprintf(message, sizeof(message), "%s", FT_SUCCESS_MESSAGE);
        }
        OPENSSL_cleanse(r.config_data, r.config_size);
    } else {
        snprintf(message, sizeof(message), "%s",
                 r.errors.count ? r.errors.items[0].message : fcu_status_template(st));
    }
    fcu_device_request_free(&r);
    a.cert_sha256 = id.cert_sha256;
    a.cert_sha1 = id.cert_sha1;
    a.bundle_sha256 = id.bundle_sha256;
    pthread_mutex_lock(&s->lock);
    if (s->records != NULL) {
        line_records_add(s->records, &a, st == 0 ? LINE_STATE_PREPARED : LINE_STATE_FAILED, st,
                         st == 0 ? NULL : message, -1);
    }
    emit_line(s, d, st, message, st == 0 ? LINE_STATE_PREPARED : LINE_STATE_FAILED, NULL);
    pthread_mutex_unlock(&s->lock);
}

static void *prepare_worker(void *arg)
{
    split_shared *s = arg;
    fcu *f = lj_open_fcu(s->g);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        size_t i = s->next < s->list->count ? s->next++ : s->list->count;
        pthread_mutex_unlock(&s->lock);
        if (i >= s->list->count) {
            break;
        }
        if (f == NULL) {
            pthread_mutex_lock(&s->lock);
            emit_line(s, &s->list->items[i], LINE_E_GENERAL,
                      "General error on factory tool: out of memory", LINE_STATE_FAILED, NULL);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        prepare_one(s, f, &s->list->items[i]);
    }
    fcu_close(f);
    return NULL;
}

/* verify-batch: the operation context DIR/EP.ctx of a two-step device, when the bundles
 * directory is known and the file is there (*ctx stays NULL otherwise). */
static int load_context(const split_shared *s, const line_device *d, fcu_operation_context **ctx,
                        char *message, size_t size)
{
    *ctx = NULL;
    if (s->bundles == NULL) {
        return 0;
    }
    char path[1200];
    lj_path(path, sizeof(path), s->bundles, d->endpoint, ".ctx");
    uint8_t *data = NULL;
    size_t len = 0;
    int err = ft_read_file(path, &data, &len);
    if (err == ENOENT) {
        return 0;
    }
    if (err != 0) {
        snprintf(message, size,
                 "General error on factory tool: cannot read operation context %s: %s", path,
                 strerror(err));
        return LINE_E_GENERAL;
    }
    int st = fcu_operation_context_load(data, len, ctx);
    free(data);
    if (st != 0) {
        *ctx = NULL;
        snprintf(message, size, "General error on factory tool: %s is not an operation context",
                 path);
        return LINE_E_GENERAL;
    }
    return 0;
}

/* Writes data to DIR/EP.EXT through a temporary file and a rename (0600). */
static int replace_file(const char *dir, const char *endpoint, const char *ext, const uint8_t *data,
                        size_t len, char *path, size_t path_size)
{
    char tmp[1300];
    lj_path(path, path_size, dir, endpoint, ext);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int err = ft_write_file(tmp, data, len);
    if (err == 0 && rename(tmp, path) != 0) {
        err = errno;
    }
    if (err != 0) {
        unlink(tmp);
    }
    return err;
}

/* verify-batch: the second bundle of a two-step session becomes the device's DIR/EP.cbor; its
 * context (if any) DIR/EP.ctx, else the used context is removed so it is not applied again. */
static int store_second_bundle(const split_shared *s, const line_device *d,
                               const fcu_device_request *next, char *message, size_t size)
{
    char path[1200];
    int err = 0;
    if (next->operation_ctx != NULL) {
        uint8_t *ctx = NULL;
        size_t ctx_len = 0;
        if (fcu_operation_context_save(next->operation_ctx, &ctx, &ctx_len) != 0) {
            lj_path(path, sizeof(path), s->bundles, d->endpoint, ".ctx");
            err = ENOMEM;
        } else {
            err = replace_file(s->bundles, d->endpoint, ".ctx", ctx, ctx_len, path, sizeof(path));
        }
        free(ctx);
    } else {
        lj_path(path, sizeof(path), s->bundles, d->endpoint, ".ctx");
        if (unlink(path) != 0 && errno != ENOENT) {
            err = errno;
        }
    }
    if (err == 0) {
        err = replace_file(s->bundles, d->endpoint, ".cbor", next->config_data, next->config_size,
                           path, sizeof(path));
    }
    if (err != 0) {
        snprintf(message, size, "General error on factory tool: cannot write %s: %s", path,
                 strerror(err));
        return LINE_E_GENERAL;
    }
    snprintf(message, size,
             "Second exchange needed: the device's second bundle is %s; run write and "
             "verify-batch again",
             path);
    return 0;
}

static void verify_one(split_shared *s, fcu *f, const line_device *d)
{
    char path[1200];
    uint8_t *answer = NULL;
    size_t len = 0;
    lj_path(path, sizeof(path), s->dir, d->endpoint, ".cbor");
    int err = ft_read_file(path, &answer, &len);
    line_attempt a = {
        .endpoint = d->endpoint, .serial = d->serial, .address = d->address, .station = s->station};
    char sha256[65] = "", sha1[41] = "", bundle[65] = "";
    if (s->records != NULL &&
        !line_records_latest_identity(s->records, d->endpoint, LINE_STATE_WRITTEN, sha256, sha1,
                                      bundle)) {
        line_records_latest_identity(s->records, d->endpoint, LINE_STATE_PREPARED, sha256, sha1,
                                     bundle);
    }
    a.cert_sha256 = sha256;
    a.cert_sha1 = sha1;
    a.bundle_sha256 = bundle;
    char message[2048];
    int status;
    json_t *device_response = NULL;
    int device_status = -1;
    const char *state = LINE_STATE_FAILED;
    line_identity id;
    fcu_operation_context *ctx = NULL;
    if (err != 0) {
        status = LINE_E_GENERAL;
        snprintf(message, sizeof(message),
                 "General error on factory tool: cannot read answer %s: %s", path, strerror(err));
    } else if ((status = load_context(s, d, &ctx, message, sizeof(message))) == 0) {
        fcu_device_response_status r;
        status = fcu_verify_device_response(f, d->endpoint, answer, len, ctx, &r);
        if (r.message != NULL) {
            device_response = ft_device_response_json(&r);
            device_status = r.status;
        }
        if (status == 0 && r.next_request != NULL) {
            /* First step of a two-step session: the answer made the second bundle. */
            fcu_device_request *next = r.next_request;
            status = store_second_bundle(s, d, next, message, sizeof(message));
            if (status == 0) {
                state = LINE_STATE_PREPARED;
                line_identity_of_bundle(next->config_data, next->config_size, &id);
                a.cert_sha256 = id.cert_sha256;
                a.cert_sha1 = id.cert_sha1;
                a.bundle_sha256 = id.bundle_sha256;
            }
            OPENSSL_cleanse(next->config_data, next->config_size);
        } else if (status == 0) {
            state = LINE_STATE_SUCCESS;
            snprintf(message, sizeof(message), "%s", FT_SUCCESS_MESSAGE);
        } else if (r.message != NULL && r.status == status) {
            char num[16];
            snprintf(num, sizeof(num), "%d", status);
            line_error_format(message, sizeof(message), LINE_E_DEVICE_EXECUTION, num, NULL);
            status = LINE_E_DEVICE_EXECUTION;
        } else {
            snprintf(message, sizeof(message), "%s",
                     r.errors.count ? r.errors.items[r.errors.count - 1].message
                                    : fcu_status_template(status));
        }
        fcu_device_response_status_free(&r);
    }
    fcu_operation_context_free(ctx);
    free(answer);
    if (s->records != NULL) {
        line_records_add(s->records, &a, state, status, status ? message : NULL, device_status);
    }
    emit_line(s, d, status, message, state, device_response);
}

static int split_common(const ft_globals *g, int argc, char **argv, bool prepare)
{
    const char *devices = NULL, *dir = NULL, *bundles = NULL, *records_db = NULL, *station = NULL,
               *value;
    unsigned jobs = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    bool reprovision = false, no_records = false;
    for (int i = 1; i < argc; i++) {
        if (lj_option(argc, argv, &i, "--devices", &devices) ||
            lj_option(argc, argv, &i, prepare ? "--out" : "--answers", &dir) ||
            lj_option(argc, argv, &i, "--records-db", &records_db) ||
            lj_option(argc, argv, &i, "--station", &station)) {
            continue;
        }
        if (!prepare && lj_option(argc, argv, &i, "--bundles", &bundles)) {
            continue;
        }
        if (strcmp(argv[i], "--reprovision") == 0) {
            reprovision = true;
        } else if (strcmp(argv[i], "--no-records") == 0) {
            no_records = true;
        } else if (prepare && lj_option(argc, argv, &i, "--jobs", &value)) {
            if (!lj_parse_uint(value, 256, &jobs) || jobs == 0) {
                return lj_general_error(g, FT_EXIT_USAGE, "--jobs needs a number 1..256");
            }
        } else {
            return lj_general_error(g, FT_EXIT_USAGE, "%s: unknown option %s", argv[0], argv[i]);
        }
    }
    if (devices == NULL || dir == NULL) {
        return lj_general_error(g, FT_EXIT_USAGE, "%s needs --devices FILE.csv and %s DIR", argv[0],
                                prepare ? "--out" : "--answers");
    }
    line_device_list list;
    char why[600];
    if (line_devices_load(devices, 0, &list, why, sizeof(why)) != 0) {
        return lj_general_error(g, FT_EXIT_FAILED, "%s", why);
    }
    if (prepare && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        line_devices_free(&list);
        return lj_general_error(g, FT_EXIT_FAILED, "cannot create %s: %s", dir, strerror(errno));
    }
    fcu *f = lj_open_fcu(g);
    line_records *rec = NULL;
    char *records_path = NULL;
    if (!no_records) {
        rec = lj_open_records(g, f, records_db, &records_path);
        if (rec == NULL) {
            fcu_close(f);
            line_devices_free(&list);
            return FT_EXIT_FAILED;
        }
    }
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    split_shared s = {.g = g,
                      .list = &list,
                      .dir = dir,
                      .bundles = bundles,
                      .records = rec,
                      .station = station ? station : host,
                      .reprovision = reprovision,
                      .prepare = prepare};
    pthread_mutex_init(&s.lock, NULL);
    double t0 = line_now();
    if (prepare) {
        if (jobs > list.count) {
            jobs = (unsigned)list.count;
        }
        pthread_t *threads = calloc(jobs, sizeof(*threads));
        unsigned started = 0;
        for (; threads != NULL && started < jobs; started++) {
            if (pthread_create(&threads[started], NULL, prepare_worker, &s) != 0) {
                break;
            }
        }
        if (started == 0) {
            prepare_worker(&s);
        }
        for (unsigned i = 0; i < started; i++) {
            pthread_join(threads[i], NULL);
        }
        free(threads);
    } else {
        for (size_t i = 0; i < list.count; i++) {
            verify_one(&s, f, &list.items[i]);
        }
    }
    double seconds = line_now() - t0;
    char second[64] = "";
    if (!prepare) {
        snprintf(second, sizeof(second), ", \"prepared\": %zu", s.second);
    }
    printf("{\"summary\": {\"devices\": %zu, \"succeeded\": %zu, \"failed\": %zu, \"skipped\": "
           "%zu%s, \"seconds\": %.6f}}\n",
           list.count, s.ok, s.failed, s.skipped, second, seconds);
    fflush(stdout);
    pthread_mutex_destroy(&s.lock);
    line_records_close(rec);
    free(records_path);
    fcu_close(f);
    line_devices_free(&list);
    return s.failed == 0 ? FT_EXIT_OK : FT_EXIT_FAILED;
}

int ft_cmd_prepare_batch(const ft_globals *g, int argc, char **argv)
{
    return split_common(g, argc, argv, true);
}

int ft_cmd_verify_batch(const ft_globals *g, int argc, char **argv)
{
    return split_common(g, argc, argv, false);
}
