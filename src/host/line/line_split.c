#include "line_split.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "line_conn.h"
#include "line_errors.h"
#include "line_files.h"

#define LINE_SUCCESS_MESSAGE "Command executed successfully"

typedef struct split_run {
    line_split *s;
    pthread_mutex_t lock; /* records, results and the next index */
    size_t next;
} split_run;

/* Reports one device (the caller holds the lock when threads run) and counts it. */
static void report(line_split *s, const line_device *d, int status, const char *message,
                   const char *state, const fcu_device_response_status *response)
{
    line_split_result r = {d, status, message, state, response};
    if (s->on_result != NULL) {
        s->on_result(s->user, &r);
    }
    if (status == 0 && strcmp(state, LINE_STATE_SKIPPED) == 0) {
        s->skipped++;
    } else if (status == 0 && s->bundles != NULL && strcmp(state, LINE_STATE_PREPARED) == 0) {
        s->second++;
    } else if (status == 0) {
        s->ok++;
    } else {
        s->failed++;
    }
}

static line_attempt attempt_of(const line_split *s, const line_device *d, const line_identity *id)
{
    line_attempt a = {.endpoint = d->endpoint,
                      .serial = d->serial,
                      .address = d->address,
                      .station = s->station,
                      .cert_sha256 = id ? id->cert_sha256 : NULL,
                      .cert_sha1 = id ? id->cert_sha1 : NULL,
                      .bundle_sha256 = id ? id->bundle_sha256 : NULL};
    return a;
}

/* True (and reported) when the records say the device is done. */
static bool skip_provisioned(split_run *run, const line_device *d)
{
    line_split *s = run->s;
    pthread_mutex_lock(&run->lock);
    bool skip = s->records && !s->reprovision && line_records_provisioned(s->records, d->endpoint);
    if (skip) {
        const char *msg = "already provisioned; skipped (use --reprovision to issue a new "
                          "certificate)";
        line_attempt a = attempt_of(s, d, NULL);
        line_records_add(s->records, &a, LINE_STATE_SKIPPED, 0, msg, -1);
        report(s, d, 0, msg, LINE_STATE_SKIPPED, NULL);
    }
    pthread_mutex_unlock(&run->lock);
    return skip;
}

/* The operation context of a two-step bundle goes to DIR/EP.ctx; a one-step bundle removes a
 * context an earlier two-step bundle left, so that it is not used with this answer. */
static int save_context(const char *dir, const char *endpoint, const fcu_operation_context *ctx,
                        char *path, size_t size)
{
    line_file_path(path, size, dir, endpoint, ".ctx");
    if (ctx == NULL) {
        return line_file_remove(path);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int err = fcu_operation_context_save(ctx, &data, &len) != 0
                  ? ENOMEM
                  : line_file_replace(path, data, len);
    free(data);
    return err;
}

/* Writes the bundle and its context; returns 0 or LINE_E_GENERAL with the message. */
static int store_bundle(const char *dir, const line_device *d, const fcu_device_request *r,
                        char *message, size_t size)
{
    char path[1200];
    int err = save_context(dir, d->endpoint, r->operation_ctx, path, sizeof(path));
    if (err == 0) {
        line_file_path(path, sizeof(path), dir, d->endpoint, ".cbor");
        err = line_file_replace(path, r->config_data, r->config_size);
    }
    if (err != 0) {
        snprintf(message, size, "General error on factory tool: cannot write %s: %s", path,
                 strerror(err));
        return LINE_E_GENERAL;
    }
    return 0;
}

static void prepare_one(split_run *run, fcu *f, const line_device *d)
{
    line_split *s = run->s;
    if (skip_provisioned(run, d)) {
        return;
    }
    fcu_device_request r;
    int st = fcu_prepare_device_configuration_ex(f, d->endpoint, d->serial, d->device_keys_location,
                                                 d->props, d->prop_count, &r);
    char message[2048];
    line_identity id;
    memset(&id, 0, sizeof(id));
    if (st == 0) {
        line_identity_of_bundle(r.config_data, r.config_size, &id);
        st = store_bundle(s->dir, d, &r, message, sizeof(message));
        if (st == 0) {
            snprintf(message, sizeof(message), "%s", LINE_SUCCESS_MESSAGE);
        }
    } else {
        snprintf(message, sizeof(message), "%s",
                 r.errors.count ? r.errors.items[0].message : fcu_status_template(st));
    }
    fcu_device_request_free(&r);
    const char *state = st == 0 ? LINE_STATE_PREPARED : LINE_STATE_FAILED;
    line_attempt a = attempt_of(s, d, &id);
    pthread_mutex_lock(&run->lock);
    if (s->records != NULL) {
        line_records_add(s->records, &a, state, st, st == 0 ? NULL : message, -1);
    }
    report(s, d, st, message, state, NULL);
    pthread_mutex_unlock(&run->lock);
}

static void *prepare_worker(void *arg)
{
    split_run *run = arg;
    const line_device_list *list = run->s->list;
    fcu *f = fcu_open(run->s->fcu_options);
    for (;;) {
        pthread_mutex_lock(&run->lock);
        bool stopped = run->s->stop != NULL && *run->s->stop != 0;
        size_t i = run->next < list->count && !stopped ? run->next++ : list->count;
        pthread_mutex_unlock(&run->lock);
        if (i >= list->count) {
            break;
        }
        if (f == NULL) {
            pthread_mutex_lock(&run->lock);
            report(run->s, &list->items[i], LINE_E_GENERAL,
                   "General error on factory tool: out of memory", LINE_STATE_FAILED, NULL);
            pthread_mutex_unlock(&run->lock);
            continue;
        }
        prepare_one(run, f, &list->items[i]);
    }
    fcu_close(f);
    return NULL;
}

int line_prepare_batch(line_split *s)
{
    split_run run = {.s = s};
    pthread_mutex_init(&run.lock, NULL);
    double t0 = line_now();
    unsigned jobs = s->jobs ? s->jobs : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs > s->list->count) {
        jobs = (unsigned)s->list->count;
    }
    pthread_t *threads = jobs ? calloc(jobs, sizeof(*threads)) : NULL;
    unsigned started = 0;
    while (threads != NULL && started < jobs &&
           pthread_create(&threads[started], NULL, prepare_worker, &run) == 0) {
        started++;
    }
    if (started == 0) {
        prepare_worker(&run);
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    free(threads);
    s->seconds = line_now() - t0;
    pthread_mutex_destroy(&run.lock);
    return s->failed == 0 ? 0 : 1;
}

/* ---- verify ---------------------------------------------------------------------------- */

/* The operation context DIR/EP.ctx of a two-step device, when the bundles directory is known
 * and the file is there (*ctx stays NULL otherwise). */
static int load_context(const line_split *s, const line_device *d, fcu_operation_context **ctx,
                        char *message, size_t size)
{
    *ctx = NULL;
    if (s->bundles == NULL) {
        return 0;
    }
    char path[1200];
    line_file_path(path, sizeof(path), s->bundles, d->endpoint, ".ctx");
    uint8_t *data = NULL;
    size_t len = 0;
    int err = line_file_read(path, &data, &len);
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

/* The second bundle of a two-step session becomes the device's DIR/EP.cbor; its context (if
 * any) DIR/EP.ctx, else the used context is removed so it is not applied again. */
static int store_second_bundle(const line_split *s, const line_device *d,
                               const fcu_device_request *next, char *message, size_t size)
{
    int st = store_bundle(s->bundles, d, next, message, size);
    if (st == 0) {
        char path[1200];
        line_file_path(path, sizeof(path), s->bundles, d->endpoint, ".cbor");
        snprintf(message, size,
                 "Second exchange needed: the device's second bundle is %s; run write and "
                 "verify-batch again",
                 path);
    }
    return st;
}

typedef struct verdict {
    int status;
    const char *state;
    char message[2048];
    line_identity id; /* of a second bundle */
    bool second;
    fcu_device_response_status response;
} verdict;

/* What the configurator said of one answer, into v. */
static void judge(const line_split *s, const line_device *d, int status, verdict *v)
{
    fcu_device_response_status *r = &v->response;
    fcu_device_request *next = r->next_request;
    if (status == 0 && next != NULL) {
        /* First step of a two-step session: the answer made the second bundle. */
        v->status = store_second_bundle(s, d, next, v->message, sizeof(v->message));
        if (v->status == 0) {
            v->state = LINE_STATE_PREPARED;
            v->second = true;
            line_identity_of_bundle(next->config_data, next->config_size, &v->id);
        }
        OPENSSL_cleanse(next->config_data, next->config_size);
    } else if (status == 0) {
        v->state = LINE_STATE_SUCCESS;
        snprintf(v->message, sizeof(v->message), "%s", LINE_SUCCESS_MESSAGE);
    } else if (r->message != NULL && r->status == status) {
        line_device_failure(v->message, sizeof(v->message), status, r->message);
        v->status = LINE_E_DEVICE_EXECUTION;
    } else {
        snprintf(v->message, sizeof(v->message), "%s",
                 r->errors.count ? r->errors.items[r->errors.count - 1].message
                                 : fcu_status_template(status));
    }
}

static void check_answer(const line_split *s, fcu *f, const line_device *d, verdict *v)
{
    char path[1200];
    uint8_t *answer = NULL;
    size_t len = 0;
    line_file_path(path, sizeof(path), s->dir, d->endpoint, ".cbor");
    int err = line_file_read(path, &answer, &len);
    fcu_operation_context *ctx = NULL;
    if (err != 0) {
        v->status = LINE_E_GENERAL;
        snprintf(v->message, sizeof(v->message),
                 "General error on factory tool: cannot read answer %s: %s", path, strerror(err));
    } else if ((v->status = load_context(s, d, &ctx, v->message, sizeof(v->message))) == 0) {
        v->status = fcu_verify_device_response(f, d->endpoint, answer, len, ctx, &v->response);
        judge(s, d, v->status, v);
    }
    fcu_operation_context_free(ctx);
    free(answer);
}

/* A re-run of verify-batch over the same answers: the bundle sent last already has its success
 * row (recorded by an earlier run), so another would count the device twice. */
static bool already_verified(const line_split *s, const line_device *d, const line_identity *sent)
{
    line_identity done;
    memset(&done, 0, sizeof(done));
    return s->records != NULL && sent->bundle_sha256[0] != '\0' &&
           line_records_latest_identity(s->records, d->endpoint, LINE_STATE_SUCCESS,
                                        done.cert_sha256, done.cert_sha1, done.bundle_sha256) &&
           strcmp(done.bundle_sha256, sent->bundle_sha256) == 0;
}

static void verify_one(line_split *s, fcu *f, const line_device *d)
{
    verdict v;
    memset(&v, 0, sizeof(v));
    v.state = LINE_STATE_FAILED;
    check_answer(s, f, d, &v);
    /* The identity recorded: the second bundle's, else the one written or prepared last. */
    line_identity last;
    memset(&last, 0, sizeof(last));
    if (s->records != NULL &&
        !line_records_latest_identity(s->records, d->endpoint, LINE_STATE_WRITTEN, last.cert_sha256,
                                      last.cert_sha1, last.bundle_sha256)) {
        line_records_latest_identity(s->records, d->endpoint, LINE_STATE_PREPARED, last.cert_sha256,
                                     last.cert_sha1, last.bundle_sha256);
    }
    line_attempt a = attempt_of(s, d, v.second ? &v.id : &last);
    bool answered = v.response.message != NULL;
    if (strcmp(v.state, LINE_STATE_SUCCESS) == 0 && already_verified(s, d, &last)) {
        snprintf(v.message, sizeof(v.message),
                 "already verified: this answer to bundle %.16s... is recorded as a success; no "
                 "new record",
                 last.bundle_sha256);
        report(s, d, 0, v.message, LINE_STATE_SUCCESS, &v.response);
        fcu_device_response_status_free(&v.response);
        return;
    }
    if (s->records != NULL) {
        line_records_add(s->records, &a, v.state, v.status, v.status ? v.message : NULL,
                         answered ? v.response.status : -1);
    }
    report(s, d, v.status, v.message, v.state, answered ? &v.response : NULL);
    fcu_device_response_status_free(&v.response);
}

int line_verify_batch(line_split *s)
{
    double t0 = line_now();
    fcu *f = fcu_open(s->fcu_options);
    for (size_t i = 0; i < s->list->count && !(s->stop != NULL && *s->stop != 0); i++) {
        if (f == NULL) {
            report(s, &s->list->items[i], LINE_E_GENERAL,
                   "General error on factory tool: out of memory", LINE_STATE_FAILED, NULL);
        } else {
            verify_one(s, f, &s->list->items[i]);
        }
    }
    fcu_close(f);
    s->seconds = line_now() - t0;
    return s->failed == 0 ? 0 : 1;
}
