#include "line_split.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "line_conn.h"
#include "line_errors.h"
#include "line_files.h"

#define LINE_SUCCESS_MESSAGE "Command executed successfully"

/* Results go from the workers to one writer through a bounded queue: the writer adds many
 * devices' rows in one records transaction and reports them only after it committed, so a
 * device reported done is in the records (its bundle file was written before the row). */
#define LINE_QUEUE_CAP     4096
#define LINE_QUEUE_WAKE    256 /* results that wake the writer before its timeout */
#define LINE_QUEUE_WAIT_NS 50000000L

/* Claims are committed in chunks ahead of the workers, by the writer between its commits: the
 * workers start after the first chunk instead of after the whole list, and no device is
 * prepared before its claim committed. */
#define LINE_CLAIM_CHUNK 512
#define LINE_CLAIM_AHEAD (2 * LINE_CLAIM_CHUNK)
/* The first chunk is small and the next ones double up to LINE_CLAIM_CHUNK: the workers wait
 * for 32 claims (~0.1 ms) instead of LINE_CLAIM_AHEAD (~3 ms, all of a 1,000-device batch). */
#define LINE_CLAIM_FIRST 32

typedef struct prepared {
    size_t index;
    int status;
    const char *state;
    char *message; /* a failure's text (malloc'ed), else NULL */
    line_identity id;
    uint8_t *entries; /* archive mode: the device's tar entries (bundle, context) */
    size_t entries_len;
} prepared;

typedef struct split_run {
    line_split *s;
    pthread_mutex_t lock;  /* the queue, the next index and the worker count */
    pthread_cond_t wake;   /* for the writer: results waiting, or the workers ended */
    pthread_cond_t room;   /* for the workers: the queue has room */
    pthread_cond_t claims; /* for the workers: more devices are claimed */
    size_t next;
    size_t claimed;        /* devices [0, claimed) have their lookup and claim committed */
    bool *skip;            /* devices the records say are provisioned */
    char **held;           /* devices another station claimed: its name (malloc'ed) */
    bool *unclaimed;       /* devices whose claim did not commit: failed, never prepared */
    bool remove_stale_ctx; /* the directory had .ctx files when the batch began */
    bool no_writer;        /* no thread could be started: the worker empties the queue */
    prepared *queue, *taken;
    size_t queued;
    uint8_t *out; /* archive mode: the writer's buffer of one batch of entries */
    size_t out_cap;
    unsigned running;
} split_run;

/* Reports one device (never concurrently: only the writer reports) and counts it. */
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

static const char skipped_message[] =
    "already provisioned; skipped (use --reprovision to issue a new certificate)";

static const char *message_of(const prepared *p)
{
    if (p->message != NULL) {
        return p->message;
    }
    return strcmp(p->state, LINE_STATE_SKIPPED) == 0 ? skipped_message : LINE_SUCCESS_MESSAGE;
}

/* Archive mode: the batch's entries in one write; on failure its devices fail. */
static void write_entries(split_run *run, prepared *batch, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += batch[i].entries_len;
    }
    if (total > run->out_cap) {
        OPENSSL_cleanse(run->out, run->out_cap);
        free(run->out);
        run->out_cap = 0;
        run->out = malloc(total);
        run->out_cap = run->out ? total : 0;
    }
    int err = run->out == NULL && total > 0 ? ENOMEM : 0;
    for (size_t i = 0, at = 0; err == 0 && i < n; i++) {
        memcpy(run->out + at, batch[i].entries, batch[i].entries_len);
        at += batch[i].entries_len;
    }
    err = err ? err : line_file_write_all(run->s->archive_fd, run->out, total);
    OPENSSL_cleanse(run->out, total < run->out_cap ? total : run->out_cap);
    for (size_t i = 0; i < n; i++) {
        if (err != 0 && batch[i].entries != NULL) {
            char message[300];
            snprintf(message, sizeof(message),
                     "General error on factory tool: cannot write the archive: %s", strerror(err));
            batch[i].status = LINE_E_GENERAL;
            batch[i].state = LINE_STATE_FAILED;
            batch[i].message = strdup(message);
        }
        OPENSSL_cleanse(batch[i].entries, batch[i].entries_len);
        free(batch[i].entries);
        batch[i].entries = NULL;
    }
}

/* A result whose row was not stored: reported failed, not done (its bundle file may exist
 * without a row; a rerun prepares it again). */
static void row_lost(prepared *p)
{
    free(p->message);
    p->message = strdup("General error on factory tool: cannot write the records database");
    p->status = LINE_E_GENERAL;
    p->state = LINE_STATE_FAILED;
}

/* The rows of n results in one transaction; a row that failed, or every row of a transaction
 * that did not commit, is reported failed. */
static void store_rows(line_split *s, prepared *batch, size_t n)
{
    const line_device *items = s->list->items;
    bool grouped = line_records_transaction(s->records) == 0;
    line_records_row *rows = calloc(n, sizeof(*rows));
    for (size_t i = 0; rows != NULL && i < n; i++) {
        const prepared *p = &batch[i];
        line_records_row row = {.a = attempt_of(s, &items[p->index], &p->id),
                                .state = p->state,
                                .error_code = p->status,
                                .error_text = p->message,
                                .device_status = -1};
        rows[i] = row;
    }
    if (rows != NULL) {
        line_records_add_many(s->records, rows, n);
    }
    bool committed = !grouped || line_records_commit(s->records) == 0;
    if (!committed) {
        line_records_rollback(s->records);
    }
    for (size_t i = 0; i < n; i++) {
        if (!committed || rows == NULL || !rows[i].stored) {
            row_lost(&batch[i]);
        }
    }
    free(rows);
}

/* Bundles (archive mode), then the rows of n results in one transaction, then their reports. */
static void commit_and_report(split_run *run, prepared *batch, size_t n)
{
    line_split *s = run->s;
    const line_device *items = s->list->items;
    if (s->archive) {
        write_entries(run, batch, n);
    }
    if (s->records != NULL && n > 0) {
        store_rows(s, batch, n);
    }
    for (size_t i = 0; i < n; i++) {
        report(s, &items[batch[i].index], batch[i].status, message_of(&batch[i]), batch[i].state,
               NULL);
        free(batch[i].message);
    }
    if (n > 0 && s->on_batch_end != NULL) {
        s->on_batch_end(s->user);
    }
}

/* Moves the queue to run->taken (the caller holds the lock); returns how many. */
static size_t take_queue(split_run *run)
{
    size_t n = run->queued;
    memcpy(run->taken, run->queue, n * sizeof(*run->queue));
    run->queued = 0;
    pthread_cond_broadcast(&run->room);
    return n;
}

static void push(split_run *run, const prepared *p)
{
    pthread_mutex_lock(&run->lock);
    if (run->no_writer && run->queued == LINE_QUEUE_CAP) {
        commit_and_report(run, run->taken, take_queue(run));
    }
    while (run->queued == LINE_QUEUE_CAP) {
        pthread_cond_wait(&run->room, &run->lock);
    }
    run->queue[run->queued++] = *p;
    if (run->queued >= LINE_QUEUE_WAKE) {
        pthread_cond_signal(&run->wake);
    }
    pthread_mutex_unlock(&run->lock);
}

static bool run_stopped(const split_run *run)
{
    return run->s->stop != NULL && *run->s->stop != 0;
}

/* True when the workers are near the end of the claimed devices (the caller holds the lock). */
static bool claims_low(const split_run *run)
{
    return run->claimed < run->s->list->count && !run_stopped(run) &&
           run->claimed - run->next < LINE_CLAIM_CHUNK;
}

/* The lookups and claims of devices [from, to) in one transaction: no lock and file check per
 * device. When that transaction does not commit, none of them is prepared. */
static void claim_range(split_run *run, size_t from, size_t to)
{
    line_split *s = run->s;
    bool grouped = line_records_transaction(s->records) == 0;
    for (size_t i = from; i < to; i++) {
        const char *endpoint = s->list->items[i].endpoint;
        run->skip[i] = !s->reprovision && line_records_provisioned(s->records, endpoint);
        char holder[256] = "";
        if (!run->skip[i] &&
            line_records_claim(s->records, endpoint, s->station, holder, sizeof(holder)) != 0) {
            run->held[i] = strdup(holder[0] ? holder : "?");
        }
    }
    if (grouped && line_records_commit(s->records) != 0) {
        line_records_rollback(s->records);
        for (size_t i = from; i < to; i++) {
            run->unclaimed[i] = !run->skip[i] && run->held[i] == NULL;
        }
    }
}

/* Claims chunks until `ahead` claimed devices wait for a worker (or every device is claimed). */
static void claim_ahead(split_run *run, size_t ahead)
{
    size_t count = run->s->list->count;
    for (;;) {
        pthread_mutex_lock(&run->lock);
        size_t from = run->claimed;
        bool more = from < count && !run_stopped(run) && from - run->next < ahead;
        if (run_stopped(run)) {
            pthread_cond_broadcast(&run->claims); /* workers waiting for a claim end */
        }
        pthread_mutex_unlock(&run->lock);
        if (!more) {
            return;
        }
        size_t chunk = from < LINE_CLAIM_FIRST ? LINE_CLAIM_FIRST
                       : from < LINE_CLAIM_CHUNK ? from
                                                 : LINE_CLAIM_CHUNK;
        size_t to = count - from > chunk ? from + chunk : count;
        claim_range(run, from, to);
        pthread_mutex_lock(&run->lock);
        run->claimed = to;
        pthread_cond_broadcast(&run->claims);
        pthread_mutex_unlock(&run->lock);
    }
}

/* The writer: until the workers ended and the queue is empty. */
static void write_results(split_run *run)
{
    for (;;) {
        claim_ahead(run, LINE_CLAIM_AHEAD);
        pthread_mutex_lock(&run->lock);
        while (run->queued < LINE_QUEUE_WAKE && run->running > 0 && !claims_low(run)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += LINE_QUEUE_WAIT_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&run->wake, &run->lock, &until) == ETIMEDOUT &&
                run->queued > 0) {
                break;
            }
        }
        bool ended = run->running == 0;
        size_t n = take_queue(run);
        pthread_mutex_unlock(&run->lock);
        commit_and_report(run, run->taken, n);
        if (ended && n == 0) {
            return;
        }
    }
}

/* The operation context of a two-step bundle goes to DIR/EP.ctx; a one-step bundle removes a
 * context an earlier two-step bundle left (when the directory had any), so that it is not used
 * with this answer. */
static int save_context(const char *dir, const char *endpoint, const fcu_operation_context *ctx,
                        bool remove_stale, char *path, size_t size)
{
    line_file_path(path, size, dir, endpoint, ".ctx");
    if (ctx == NULL) {
        return remove_stale ? line_file_remove(path) : 0;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int err = fcu_operation_context_save(ctx, &data, &len) != 0
                  ? ENOMEM
                  : line_file_install(path, data, len);
    free(data);
    return err;
}

/* Writes the bundle and its context; returns 0 or LINE_E_GENERAL with the message. */
static int store_bundle(const char *dir, const line_device *d, const fcu_device_request *r,
                        bool remove_stale, char *message, size_t size)
{
    char path[1200];
    int err = save_context(dir, d->endpoint, r->operation_ctx, remove_stale, path, sizeof(path));
    if (err == 0) {
        line_file_path(path, sizeof(path), dir, d->endpoint, ".cbor");
        err = line_file_install(path, r->config_data, r->config_size);
    }
    if (err != 0) {
        snprintf(message, size, "General error on factory tool: cannot write %s: %s", path,
                 strerror(err));
        return LINE_E_GENERAL;
    }
    return 0;
}

/* Archive mode: the device's entries EP.cbor (and EP.ctx) for the writer. */
static int archive_entries(const line_device *d, const fcu_device_request *r, prepared *p,
                           char *message, size_t size)
{
    uint8_t *ctx = NULL;
    size_t ctx_len = 0;
    int err = r->operation_ctx && fcu_operation_context_save(r->operation_ctx, &ctx, &ctx_len)
                  ? ENOMEM
                  : 0;
    size_t bundle_size = line_tar_entry_size(r->config_size);
    size_t total = bundle_size + (r->operation_ctx ? line_tar_entry_size(ctx_len) : 0);
    p->entries = err ? NULL : malloc(total);
    err = err ? err : p->entries == NULL ? ENOMEM : 0;
    long long now = (long long)time(NULL);
    if (err == 0) {
        err = line_tar_entry(p->entries, d->endpoint, ".cbor", r->config_data, r->config_size, now);
    }
    if (err == 0 && r->operation_ctx) {
        err = line_tar_entry(p->entries + bundle_size, d->endpoint, ".ctx", ctx, ctx_len, now);
    }
    free(ctx);
    if (err != 0) {
        if (p->entries != NULL) {
            OPENSSL_cleanse(p->entries, total);
        }
        free(p->entries);
        p->entries = NULL;
        snprintf(message, size, "General error on factory tool: cannot archive %s: %s", d->endpoint,
                 strerror(err));
        return LINE_E_GENERAL;
    }
    p->entries_len = total;
    return 0;
}

static void prepare_one(split_run *run, fcu *f, size_t index)
{
    const line_device *d = &run->s->list->items[index];
    prepared p = {.index = index, .state = LINE_STATE_SKIPPED};
    char message[2048];
    if (run->skip[index]) {
        push(run, &p);
        return;
    }
    if (run->unclaimed[index]) {
        p.status = LINE_E_GENERAL;
        p.state = LINE_STATE_FAILED;
        p.message = strdup("General error on factory tool: cannot write the records database");
        push(run, &p);
        return;
    }
    if (run->held[index] != NULL) {
        line_error_format(message, sizeof(message), LINE_E_ENDPOINT_CLAIMED, d->endpoint,
                          run->held[index]);
        p.status = LINE_E_ENDPOINT_CLAIMED;
        p.state = LINE_STATE_FAILED;
        p.message = strdup(message);
        push(run, &p);
        return;
    }
    fcu_device_request r;
    p.status = f == NULL ? LINE_E_GENERAL
                         : fcu_prepare_device_configuration_ex(f, d->endpoint, d->serial,
                                                               d->device_keys_location, d->props,
                                                               d->prop_count, &r);
    if (f == NULL) {
        snprintf(message, sizeof(message), "General error on factory tool: out of memory");
    } else if (p.status == 0) {
        line_identity_of_bundle(r.config_data, r.config_size, &p.id);
        p.status = run->s->archive ? archive_entries(d, &r, &p, message, sizeof(message))
                                   : store_bundle(run->s->dir, d, &r, run->remove_stale_ctx,
                                                  message, sizeof(message));
    } else {
        snprintf(message, sizeof(message), "%s",
                 r.errors.count ? r.errors.items[0].message : fcu_status_template(p.status));
    }
    if (f != NULL) {
        fcu_device_request_free(&r);
    }
    p.state = p.status == 0 ? LINE_STATE_PREPARED : LINE_STATE_FAILED;
    p.message = p.status == 0 ? NULL : strdup(message);
    push(run, &p);
}

/* Each worker has its own configurator (key generation and signing contexts), in batch mode:
 * the configuration, CA and resources are checked by its first device, not by every one. */
static void *prepare_worker(void *arg)
{
    split_run *run = arg;
    const line_device_list *list = run->s->list;
    fcu *f = fcu_open(run->s->fcu_options);
    if (f != NULL) {
        fcu_set_batch_mode(f, true);
    }
    for (;;) {
        pthread_mutex_lock(&run->lock);
        bool stopped = run_stopped(run);
        while (!stopped && run->next < list->count && run->next >= run->claimed) {
            pthread_cond_signal(&run->wake);
            pthread_cond_wait(&run->claims, &run->lock);
            stopped = run_stopped(run);
        }
        size_t i = run->next < list->count && !stopped ? run->next++ : list->count;
        if (run->claimed < list->count && run->claimed - run->next < LINE_CLAIM_CHUNK) {
            pthread_cond_signal(&run->wake); /* the writer claims the next chunk */
        }
        pthread_mutex_unlock(&run->lock);
        if (i >= list->count) {
            break;
        }
        prepare_one(run, f, i);
    }
    fcu_close(f);
    pthread_mutex_lock(&run->lock);
    run->running--;
    pthread_cond_signal(&run->wake);
    pthread_mutex_unlock(&run->lock);
    return NULL;
}

/* True when dir holds a .ctx file (an earlier two-step batch): only then can a one-step bundle
 * find a stale context to remove. */
static bool has_contexts(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno != ENOENT;
    }
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        found = n > 4 && strcmp(e->d_name + n - 4, ".ctx") == 0;
    }
    closedir(d);
    return found;
}

/* The skip marks (from the records, once per batch) and the queues; false when out of memory. */
static bool run_begin(split_run *run)
{
    line_split *s = run->s;
    size_t count = s->list->count;
    run->skip = calloc(count ? count : 1, sizeof(*run->skip));
    run->held = calloc(count ? count : 1, sizeof(*run->held));
    run->unclaimed = calloc(count ? count : 1, sizeof(*run->unclaimed));
    run->queue = malloc(LINE_QUEUE_CAP * sizeof(*run->queue));
    run->taken = malloc(LINE_QUEUE_CAP * sizeof(*run->taken));
    if (run->skip == NULL || run->held == NULL || run->unclaimed == NULL || run->queue == NULL ||
        run->taken == NULL) {
        return false;
    }
    run->claimed = s->records == NULL ? count : 0;
    run->remove_stale_ctx = !s->archive && has_contexts(s->dir);
    return true;
}

static void run_end(split_run *run)
{
    if (run->s->archive) {
        static const uint8_t end[LINE_TAR_END_SIZE];
        line_file_write_all(run->s->archive_fd, end, sizeof(end));
    }
    OPENSSL_cleanse(run->out, run->out_cap);
    free(run->out);
    for (size_t i = 0; run->held != NULL && i < run->s->list->count; i++) {
        free(run->held[i]);
    }
    free(run->held);
    free(run->unclaimed);
    free(run->skip);
    free(run->queue);
    free(run->taken);
    pthread_cond_destroy(&run->room);
    pthread_cond_destroy(&run->claims);
    pthread_cond_destroy(&run->wake);
    pthread_mutex_destroy(&run->lock);
}

/* Starts up to jobs workers; returns how many started. */
static unsigned start_workers(split_run *run, pthread_t *threads, unsigned jobs)
{
    unsigned started = 0;
    pthread_mutex_lock(&run->lock);
    while (threads != NULL && started < jobs &&
           pthread_create(&threads[started], NULL, prepare_worker, run) == 0) {
        started++;
        run->running++;
    }
    pthread_mutex_unlock(&run->lock);
    return started;
}

int line_prepare_batch(line_split *s)
{
    split_run run = {.s = s};
    pthread_mutex_init(&run.lock, NULL);
    pthread_cond_init(&run.wake, NULL);
    pthread_cond_init(&run.room, NULL);
    pthread_cond_init(&run.claims, NULL);
    double t0 = line_now();
    if (!run_begin(&run)) {
        run_end(&run);
        s->failed = s->list->count;
        return 1;
    }
    unsigned jobs = s->jobs ? s->jobs : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs > s->list->count) {
        jobs = (unsigned)s->list->count;
    }
    pthread_t *threads = jobs ? calloc(jobs, sizeof(*threads)) : NULL;
    claim_ahead(&run, LINE_CLAIM_FIRST);
    unsigned started = start_workers(&run, threads, jobs);
    if (started == 0) {
        claim_ahead(&run, s->list->count); /* the one thread cannot claim between devices */
        run.no_writer = true;
        run.running = 1;
        prepare_worker(&run);
    }
    write_results(&run);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    free(threads);
    s->seconds = line_now() - t0;
    run_end(&run);
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
    int st = store_bundle(s->bundles, d, next, true, message, size);
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
