#include "line_engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ftcd_frame.h"
#include "line_bundle.h"
#include "line_errors.h"
#include "line_files.h"
#include "kiln_pki.h"

#define LINE_SUCCESS_MESSAGE "Command executed successfully"

/* The request frame of a bundle (ftcd_frame.h's format), its SHA-256 by OpenSSL: the frame
 * codec's own digest is the device side's software SHA-256, several times slower on a host. */
int line_frame_request(const uint8_t *payload, size_t len, uint8_t **frame, size_t *frame_len)
{
    size_t need = ftcd_request_size(len);
    *frame = need && payload != NULL ? malloc(need) : NULL;
    if (*frame == NULL) {
        return -1;
    }
    uint8_t *p = *frame;
    memcpy(p, FTCD_TOKEN, FTCD_TOKEN_SIZE);
    p[FTCD_TOKEN_SIZE] = (uint8_t)len;
    p[FTCD_TOKEN_SIZE + 1] = (uint8_t)(len >> 8);
    p[FTCD_TOKEN_SIZE + 2] = (uint8_t)(len >> 16);
    p[FTCD_TOKEN_SIZE + 3] = (uint8_t)(len >> 24);
    memcpy(p + FTCD_REQUEST_HEAD, payload, len);
    if (!kiln_pki_sha256(payload, len, p + FTCD_REQUEST_HEAD + len)) {
        OPENSSL_cleanse(p, need);
        free(p);
        *frame = NULL;
        return -1;
    }
    *frame_len = need;
    return 0;
}

void line_engine_stop(line_engine *e)
{
    e->stop = 1;
    line_loop *loop = e->loop;
    if (loop != NULL) {
        line_loop_stop(loop);
    }
}

static void note(const line_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(const line_engine *e, const char *fmt, ...)
{
    if (e->on_log == NULL) {
        return;
    }
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    e->on_log(e->user, text);
}

/* ---- one job ---------------------------------------------------------------------------- */

static void drop_frame(line_job *j)
{
    if (j->frame != NULL) {
        OPENSSL_cleanse(j->frame, j->frame_len);
        free(j->frame);
    }
    j->frame = NULL;
    j->frame_len = 0;
}

static void drop_request(line_job *j)
{
    if (j->request != NULL) {
        if (j->request->config_data != NULL) {
            OPENSSL_cleanse(j->request->config_data, j->request->config_size);
        }
        fcu_device_request_free(j->request);
        free(j->request);
        j->request = NULL;
    }
}

const char *line_job_state(const line_job *j)
{
    switch (j->outcome) {
    case LINE_JOB_SUCCEEDED:
        if (j->engine->mode == LINE_MODE_WRITE || j->addr.transport == LINE_FILE) {
            return LINE_STATE_WRITTEN;
        }
        return LINE_STATE_SUCCESS;
    case LINE_JOB_SKIPPED:
        return LINE_STATE_SKIPPED;
    case LINE_JOB_INTERRUPTED:
        return LINE_STATE_INTERRUPTED;
    default:
        return LINE_STATE_FAILED;
    }
}

static void ready_push(line_engine *e, int i);

static void wake(void *arg)
{
    (void)arg; /* the loop turns: start_more sees the group's delay is over */
}

/* A job ends: its connection and bundle go; its final row and its report wait for the next
 * records turn (flush_turn), which commits the rows of many devices at once. */
static void finish(line_job *j, line_outcome outcome)
{
    line_engine *e = j->engine;
    j->outcome = outcome;
    if (j->conn_ready) {
        line_conn_close(&j->conn); /* closed first: the fd leaves epoll with close */
        line_loop_remove(e->loop, &j->conn);
        j->conn_ready = false;
    }
    drop_frame(j);
    drop_request(j);
    e->t_configurator += j->t_configurator;
    e->t_exchange += j->t_exchange;
    e->running--;
    if (j->holds_address) {
        /* the address is free: its next job may start */
        if (--e->busy[j->addr_slot] == 0 && e->addr_head[j->addr_slot] >= 0) {
            ready_push(e, e->addr_head[j->addr_slot]);
        }
        j->holds_address = false;
    }
    e->done[e->n_done++] = j;
    if (e->wait_since <= 0) {
        e->wait_since = line_now();
        if (e->loop != NULL) {
            line_loop_timer(e->loop, e->wait_since + e->group_delay, wake, e);
        }
    }
}

static line_attempt attempt_of(const line_engine *e, const line_job *j);

/* The final rows of the first n finished jobs (inside the turn's transaction), many to a
 * statement. */
static void record_finals(line_engine *e, size_t n)
{
    if (e->records == NULL) {
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        line_job *j = e->done[i];
        if (j->record_id <= 0) {
            continue; /* skipped, or failed before its started row */
        }
        e->ends[m++] = (line_records_end){
            .id = j->record_id,
            .a = attempt_of(e, j),
            .state = line_job_state(j),
            .error_code =
                j->outcome == LINE_JOB_SUCCEEDED || j->outcome == LINE_JOB_SKIPPED ? 0 : j->status,
            .error_text = j->message[0] ? j->message : NULL,
            .device_status = j->device_status,
            .tries = j->tries};
    }
    line_records_finish_many(e->records, e->ends, m);
    for (size_t i = 0; i < n; i++) {
        line_job *j = e->done[i];
        if (j->record_id > 0 && j->outcome == LINE_JOB_FAILED && j->device_status < 0) {
            /* no answer from the device: it holds no certificate; others may try it */
            line_records_release(e->records, j->dev->endpoint, e->station);
        }
    }
}

/* A finished job whose final row committed: counted and reported. */
static void report(line_engine *e, line_job *j)
{
    switch (j->outcome) {
    case LINE_JOB_SUCCEEDED:
        e->succeeded++;
        break;
    case LINE_JOB_SKIPPED:
        e->skipped++;
        break;
    case LINE_JOB_INTERRUPTED:
        e->interrupted++;
        break;
    default:
        e->failed++;
        break;
    }
    if (e->on_finished != NULL) {
        e->on_finished(e->user, e, j);
    }
    fcu_device_response_status_free(&j->response);
    j->has_response = false;
}

static void fail_job(line_job *j, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_job(line_job *j, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->message, sizeof(j->message), fmt, ap);
    va_end(ap);
    j->status = status;
    finish(j, LINE_JOB_FAILED);
}

static void on_answer(void *user, line_conn *c);

static void send_current(line_job *j)
{
    line_engine *e = j->engine;
    if (!j->conn_ready) {
        line_conn_init(&j->conn, &j->addr, e->timeout, 0);
        j->conn.on_done = on_answer;
        j->conn.user = j;
        line_loop_add(e->loop, &j->conn);
        j->conn_ready = true;
    }
    j->tries++;
    line_conn_request(&j->conn, j->frame, j->frame_len);
}

static void retry_now(void *arg)
{
    line_job *j = arg;
    j->waiting_retry = false;
    send_current(j);
}

/* A transport fault: resend the same frame (same bundle, same certificate) after a backoff. */
static bool maybe_retry(line_job *j)
{
    line_engine *e = j->engine;
    if (j->tries >= e->max_tries || j->step > 1) {
        return false;
    }
    double delay = e->backoff;
    for (int k = 1; k < j->tries && delay < 2.0; k++) {
        delay *= 2;
    }
    note(e, "%s: %s; retry %d in %.2f s", j->dev->endpoint, j->conn.error_text, j->tries + 1,
         delay);
    /* The connection may be half-dead; start clean. */
    line_conn_close(&j->conn);
    line_loop_remove(e->loop, &j->conn);
    j->conn_ready = false;
    j->waiting_retry = true;
    line_loop_timer(e->loop, line_now() + delay, retry_now, j);
    return true;
}

static int set_bundle(line_job *j, const uint8_t *bundle, size_t len)
{
    drop_frame(j);
    if (line_frame_request(bundle, len, &j->frame, &j->frame_len) != 0) {
        return -1;
    }
    /* The frame's trailer is the bundle's SHA-256: not computed a second time. */
    line_identity_of_hashed_bundle(bundle, len, j->frame + FTCD_REQUEST_HEAD + len, &j->identity);
    return 0;
}

/* Second message of a two-step session (device-generated keys): same connection. */
static void send_second_bundle(line_job *j, fcu_device_request *next)
{
    line_engine *e = j->engine;
    drop_request(j);
    j->request = next;
    j->step++;
    if (set_bundle(j, next->config_data, next->config_size) != 0) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
        return;
    }
    if (e->records != NULL) {
        line_records_set_identity(e->records, j->record_id, j->identity.cert_sha256,
                                  j->identity.cert_sha1, j->identity.bundle_sha256);
    }
    j->tries = 0;
    send_current(j);
}

/* The message of a failed verification: the device's own failure (1004 with its number), or
 * the configurator's last error. */
static int verify_failure(const fcu_device_response_status *s, int status, char *message,
                          size_t size)
{
    if (s->message != NULL && s->status == status) {
        char num[16];
        snprintf(num, sizeof(num), "%d", status);
        line_error_format(message, size, LINE_E_DEVICE_EXECUTION, num, NULL);
        return LINE_E_DEVICE_EXECUTION;
    }
    snprintf(message, size, "%s",
             s->errors.count ? s->errors.items[s->errors.count - 1].message
                             : fcu_status_template(status));
    return status;
}

static void verify_answer(line_job *j, const uint8_t *cbor, size_t len)
{
    line_engine *e = j->engine;
    fcu_device_response_status s;
    double t0 = line_now();
    int status = fcu_verify_device_response(e->fcu, j->dev->endpoint, cbor, len,
                                            j->request ? j->request->operation_ctx : NULL, &s);
    j->t_configurator += line_now() - t0;
    fcu_device_request *next = status == 0 ? s.next_request : NULL;
    s.next_request = NULL;
    j->device_status = s.message != NULL ? s.status : -1;
    if (status != 0) {
        j->status = verify_failure(&s, status, j->message, sizeof(j->message));
    }
    if (s.message != NULL) {
        /* The answer a result shows: the last one the device gave. */
        fcu_device_response_status_free(&j->response);
        j->response = s;
        j->has_response = true;
    } else {
        fcu_device_response_status_free(&s);
    }
    if (next != NULL) {
        send_second_bundle(j, next);
    } else if (status == 0) {
        j->status = 0;
        snprintf(j->message, sizeof(j->message), "%s", LINE_SUCCESS_MESSAGE);
        finish(j, LINE_JOB_SUCCEEDED);
    } else {
        finish(j, LINE_JOB_FAILED);
    }
}

static void store_answer(line_job *j, const uint8_t *cbor, size_t len)
{
    char path[1200];
    line_file_path(path, sizeof(path), j->engine->answers_dir, j->dev->endpoint, ".cbor");
    int err = line_file_write(path, cbor, len);
    if (err != 0) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: cannot write %s: %s", path,
                 strerror(err));
        return;
    }
    j->status = 0;
    snprintf(j->message, sizeof(j->message), "%s", LINE_SUCCESS_MESSAGE);
    finish(j, LINE_JOB_SUCCEEDED);
}

static void on_answer(void *user, line_conn *c)
{
    line_job *j = user;
    j->t_exchange += (c->t_answer > 0 ? c->t_answer : line_now()) - c->t_request;
    if (c->error != 0) {
        if (line_error_is_transport(c->error) && maybe_retry(j)) {
            return;
        }
        j->status = c->error;
        snprintf(j->message, sizeof(j->message), "%s", c->error_text);
        finish(j, LINE_JOB_FAILED);
        return;
    }
    if (!c->answered) {
        /* Written to a file: nothing comes back, nothing is verified. */
        j->status = 0;
        snprintf(j->message, sizeof(j->message), "%s", LINE_SUCCESS_MESSAGE);
        finish(j, LINE_JOB_SUCCEEDED);
        return;
    }
    if (c->frame.status != FTCD_STATUS_SUCCESS) {
        uint32_t st = c->frame.status;
        snprintf(c->error_text, sizeof(c->error_text), "%s: device status %u %s: %s",
                 line_error_template(LINE_E_DEVICE_COMMUNICATION), st, ftcd_status_name(st),
                 ftcd_status_text(st));
        c->error = LINE_E_DEVICE_COMMUNICATION;
        /* The device refused the frame's integrity (4, 5, 6, 8): resending is safe. A device
         * that produced no answer (9, factory disabled) will not change its mind. */
        bool integrity = st == FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIZE ||
                         st == FTCD_STATUS_FAILED_TO_READ_MESSAGE_BYTES ||
                         st == FTCD_STATUS_FAILED_TO_READ_MESSAGE_SIGNATURE ||
                         st == FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE;
        if (integrity && maybe_retry(j)) {
            return;
        }
        j->status = LINE_E_DEVICE_COMMUNICATION;
        snprintf(j->message, sizeof(j->message), "%s", c->error_text);
        finish(j, LINE_JOB_FAILED);
        return;
    }
    if (j->engine->mode == LINE_MODE_WRITE) {
        store_answer(j, c->frame.cbor, c->frame.cbor_len);
    } else {
        verify_answer(j, c->frame.cbor, c->frame.cbor_len);
    }
}

static line_attempt attempt_of(const line_engine *e, const line_job *j)
{
    line_attempt a = {.endpoint = j->dev->endpoint,
                      .serial = j->dev->serial,
                      .address = j->dev->address,
                      .station = e->station,
                      .batch = e->batch,
                      .cert_sha256 = j->identity.cert_sha256,
                      .cert_sha1 = j->identity.cert_sha1,
                      .bundle_sha256 = j->identity.bundle_sha256};
    return a;
}

/* True (and the job finished as skipped) when the records say the device is done. */
static bool skip_provisioned(line_engine *e, line_job *j)
{
    if (e->records == NULL || e->reprovision ||
        !line_records_provisioned(e->records, j->dev->endpoint)) {
        return false;
    }
    j->status = 0;
    snprintf(j->message, sizeof(j->message),
             "Endpoint %s is already provisioned; skipped (use --reprovision to issue a new "
             "certificate)",
             j->dev->endpoint);
    line_attempt a = attempt_of(e, j);
    line_records_add(e->records, &a, LINE_STATE_SKIPPED, 0, j->message, -1);
    finish(j, LINE_JOB_SKIPPED);
    return true;
}

/* True when this station may issue the endpoint's certificate; else the job failed with 1031
 * (another station on the same records database has the endpoint in progress). */
static bool claim_endpoint(line_engine *e, line_job *j)
{
    char holder[256], msg[700];
    int rc =
        e->records != NULL && e->mode == LINE_MODE_INJECT
            ? line_records_claim(e->records, j->dev->endpoint, e->station, holder, sizeof(holder))
            : 0;
    if (rc < 0) {
        fail_job(j, LINE_E_GENERAL,
                 "General error on factory tool: cannot write the records database");
    } else if (rc > 0) {
        line_error_format(msg, sizeof(msg), LINE_E_ENDPOINT_CLAIMED, j->dev->endpoint, holder);
        fail_job(j, LINE_E_ENDPOINT_CLAIMED, "%s", msg);
        line_attempt a = attempt_of(e, j);
        line_records_add(e->records, &a, LINE_STATE_FAILED, LINE_E_ENDPOINT_CLAIMED, msg, -1);
    }
    return rc == 0;
}

/* inject: the configurator makes the bundle. Returns 0, or -1 with the job failed. */
static int prepare_bundle(line_engine *e, line_job *j)
{
    j->request = calloc(1, sizeof(*j->request));
    if (j->request == NULL) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
        return -1;
    }
    double t0 = line_now();
    int st = fcu_prepare_device_configuration_ex(e->fcu, j->dev->endpoint, j->dev->serial,
                                                 j->dev->device_keys_location, j->dev->props,
                                                 j->dev->prop_count, j->request);
    j->t_configurator += line_now() - t0;
    if (st != 0) {
        fail_job(j, st, "%s",
                 j->request->errors.count ? j->request->errors.items[0].message
                                          : fcu_status_template(st));
        return -1;
    }
    if (set_bundle(j, j->request->config_data, j->request->config_size) != 0) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
        return -1;
    }
    return 0;
}

/* write: the bundle prepare-batch made, DIR/EP.cbor. Returns 0, or -1 with the job failed. */
static int load_bundle(line_engine *e, line_job *j)
{
    char path[1200];
    uint8_t *bundle = NULL;
    size_t len = 0;
    line_file_path(path, sizeof(path), e->bundles_dir, j->dev->endpoint, ".cbor");
    int err = line_file_read(path, &bundle, &len);
    if (err != 0 || len == 0) {
        free(bundle);
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: cannot read bundle %s: %s",
                 path, err ? strerror(err) : "empty file");
        return -1;
    }
    char why[200];
    if (line_bundle_check(bundle, len, why, sizeof(why)) != 0) {
        OPENSSL_cleanse(bundle, len);
        free(bundle);
        fail_job(j, LINE_E_GENERAL,
                 "General error on factory tool: %s is not a bundle: %s (make it again with "
                 "prepare-batch)",
                 path, why);
        return -1;
    }
    int rc = set_bundle(j, bundle, len);
    OPENSSL_cleanse(bundle, len);
    free(bundle);
    if (rc != 0) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
        return -1;
    }
    return 0;
}

/* The started rows of the jobs prepared in this turn, many to a statement; a row that did
 * not go in (record_id 0) is written again on its own after the turn (restart_record). */
static void record_starts(line_engine *e)
{
    if (e->records == NULL || e->n_sending == 0) {
        return;
    }
    double t0 = line_now();
    int n = e->n_sending;
    for (int i = 0; i < n; i++) {
        e->starts[i] = (line_records_start){.a = attempt_of(e, e->sending[i])};
    }
    line_records_begin_many(e->records, e->starts, (size_t)n);
    for (int i = 0; i < n; i++) {
        e->sending[i]->record_id = e->starts[i].id;
    }
    e->t_records += line_now() - t0;
}

static void start_job(line_engine *e, line_job *j)
{
    e->running++;
    if (j->addr_slot >= 0) {
        e->busy[j->addr_slot]++;
        j->holds_address = true;
    }
    j->engine = e;
    j->step = 1;
    j->device_status = -1;
    char why[300];
    if (j->dev->address == NULL ||
        line_address_parse(j->dev->address, &j->addr, why, sizeof(why)) != 0) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: %s",
                 j->dev->address ? why : "no address");
        return;
    }
    if (skip_provisioned(e, j) || !claim_endpoint(e, j)) {
        return;
    }
    int rc = e->mode == LINE_MODE_INJECT ? prepare_bundle(e, j) : load_bundle(e, j);
    if (rc == 0) {
        e->sending[e->n_sending++] = j; /* sent once its started row committed */
    }
}

/* The jobs that may start now (their address free, or none), as a min-heap of list indices:
 * the first of them in list order is the heap's top. */
static void ready_push(line_engine *e, int i)
{
    size_t k = e->n_ready++;
    while (k > 0 && e->ready[(k - 1) / 2] > i) {
        e->ready[k] = e->ready[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    e->ready[k] = i;
}

static int ready_pop(line_engine *e)
{
    int top = e->ready[0];
    int last = e->ready[--e->n_ready];
    size_t k = 0;
    for (size_t c = 1; c < e->n_ready; c = 2 * k + 1) {
        if (c + 1 < e->n_ready && e->ready[c + 1] < e->ready[c]) {
            c++;
        }
        if (e->ready[c] >= last) {
            break;
        }
        e->ready[k] = e->ready[c];
        k = c;
    }
    if (e->n_ready > 0) {
        e->ready[k] = last;
    }
    return top;
}

static void free_slots(line_engine *e)
{
    free(e->busy);
    free(e->addr_head);
    free(e->next_same);
    free(e->ready);
    e->busy = e->addr_head = e->next_same = e->ready = NULL;
    e->n_ready = 0;
}

static uint32_t address_hash(const char *text)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *text; text++) {
        h = (h ^ (uint8_t)*text) * 16777619u;
    }
    return h;
}

/* Gives the jobs of one address one slot of e->busy (the index of the first of them), once per
 * batch through a hash table of the addresses, and chains each slot's jobs in list order; the
 * first job of every slot (and every job without an address) may start. Returns 0, or -1 when
 * out of memory. */
static int address_slots(line_engine *e)
{
    size_t cap = 16;
    while (cap < 2 * e->njobs) {
        cap *= 2;
    }
    size_t n = e->njobs ? e->njobs : 1;
    int *table = malloc(cap * sizeof(*table));
    e->busy = calloc(n, sizeof(*e->busy));
    e->addr_head = malloc(n * sizeof(*e->addr_head));
    e->next_same = malloc(n * sizeof(*e->next_same));
    e->ready = malloc(n * sizeof(*e->ready));
    e->n_ready = 0;
    if (table == NULL || e->busy == NULL || e->addr_head == NULL || e->next_same == NULL ||
        e->ready == NULL) {
        free(table);
        free_slots(e);
        return -1;
    }
    memset(table, -1, cap * sizeof(*table));
    for (size_t i = 0; i < e->njobs; i++) {
        const char *addr = e->jobs[i].dev->address;
        e->jobs[i].addr_slot = -1;
        e->addr_head[i] = -1;
        if (addr == NULL) {
            continue;
        }
        size_t k = address_hash(addr) & (cap - 1);
        while (table[k] >= 0 && strcmp(e->jobs[table[k]].dev->address, addr) != 0) {
            k = (k + 1) & (cap - 1);
        }
        if (table[k] < 0) {
            table[k] = (int)i;
        }
        e->jobs[i].addr_slot = table[k];
    }
    free(table);
    for (size_t i = e->njobs; i-- > 0;) {
        int slot = e->jobs[i].addr_slot;
        e->next_same[i] = slot >= 0 ? e->addr_head[slot] : -1;
        if (slot >= 0) {
            e->addr_head[slot] = (int)i;
        }
    }
    for (size_t i = 0; i < e->njobs; i++) {
        int slot = e->jobs[i].addr_slot;
        if (slot < 0 || e->addr_head[slot] == (int)i) {
            ready_push(e, (int)i); /* in list order: each push stays where it lands */
        }
    }
    return 0;
}

/* The next job to start: the first in list order of those whose device is free (a device
 * serves one exchange at a time, and two writers on one serial line would interleave their
 * frames); NULL when none may start now. The job is taken: the caller starts it. */
static line_job *pick_next(line_engine *e)
{
    if (e->running >= e->parallel || e->stop || e->n_ready == 0) {
        return NULL;
    }
    int i = ready_pop(e);
    line_job *j = &e->jobs[i];
    if (j->addr_slot >= 0) {
        e->addr_head[j->addr_slot] = e->next_same[i];
    }
    return j;
}

/* The claim and started row of a job whose turn was lost, written again on their own (a
 * database connection lost mid-turn is reopened for them); false with the job failed. */
static bool restart_record(line_engine *e, line_job *j)
{
    char holder[256];
    int rc = e->mode == LINE_MODE_INJECT ? line_records_claim(e->records, j->dev->endpoint,
                                                              e->station, holder, sizeof(holder))
                                         : 0;
    line_attempt a = attempt_of(e, j);
    j->record_id = rc == 0 ? line_records_begin(e->records, &a) : 0;
    if (j->record_id <= 0) {
        j->record_id = 0;
        fail_job(j, LINE_E_GENERAL,
                 "General error on factory tool: cannot write the records database");
        return false;
    }
    return true;
}

/* A commit that failed: nothing of the turn is stored. The final rows, and the claims and
 * started rows of the jobs prepared in it, are written again one by one; a job is sent only
 * when its started row is stored (else it fails, its bundle never sent). */
static void turn_lost(line_engine *e, size_t finals)
{
    line_records_rollback(e->records);
    record_finals(e, finals);
    int n = e->n_sending;
    e->n_sending = 0;
    for (int i = 0; i < n; i++) {
        line_job *j = e->sending[i];
        if (restart_record(e, j)) {
            e->sending[e->n_sending++] = j;
        }
    }
}

/* One records turn: in one transaction the final rows of the jobs finished since the last
 * turn, then the claims and started rows of the jobs that start now (their bundles made);
 * after the commit the finished jobs are reported and the new bundles sent. */
static void flush_turn(line_engine *e, bool start)
{
    line_job *pick = start ? pick_next(e) : NULL;
    if (e->n_done == 0 && pick == NULL) {
        e->wait_since = 0;
        return;
    }
    double t0 = line_now();
    bool grouped = e->records != NULL && line_records_transaction(e->records) == 0;
    size_t finals = e->n_done;
    record_finals(e, finals);
    e->t_records += line_now() - t0;
    for (; pick != NULL; pick = start ? pick_next(e) : NULL) {
        pick->started = true;
        e->started++;
        start_job(e, pick);
    }
    record_starts(e);
    t0 = line_now();
    if (grouped && line_records_commit(e->records) != 0) {
        turn_lost(e, finals);
    } else if (e->records != NULL) {
        int n = e->n_sending;
        e->n_sending = 0;
        for (int i = 0; i < n; i++) {
            line_job *j = e->sending[i];
            if (j->record_id > 0 || restart_record(e, j)) {
                e->sending[e->n_sending++] = j;
            }
        }
    }
    e->t_records += line_now() - t0;
    size_t n = e->n_done;
    e->n_done = 0;
    e->wait_since = 0;
    for (size_t i = 0; i < n; i++) {
        report(e, e->done[i]);
    }
    if (n > 0 && e->on_turn != NULL) {
        e->on_turn(e->user);
    }
    int sends = e->n_sending;
    e->n_sending = 0;
    for (int i = 0; i < sends; i++) {
        send_current(e->sending[i]);
    }
}

/* A turn is due when enough devices wait: `group` of them finished, or `group` may start,
 * or half of those in flight finished when fewer than 2 * group are (the last devices of a
 * batch, or of its busiest addresses: one turn per device there costs a commit each); or when
 * the first of them waited group_delay, or when nothing else is in flight. */
static bool turn_due(const line_engine *e)
{
    bool can_start = !e->stop && e->n_ready > 0 && e->running < e->parallel;
    if (e->n_done == 0 && !can_start) {
        return false;
    }
    size_t free_slots = (size_t)(e->parallel - e->running);
    size_t startable = !can_start ? 0 : e->n_ready < free_slots ? e->n_ready : free_slots;
    size_t half = ((size_t)e->running + e->n_done + 1) / 2;
    size_t enough = half < (size_t)e->group ? half : (size_t)e->group;
    return e->running == 0 || e->stop || e->n_done >= enough || startable >= (size_t)e->group ||
           (e->wait_since > 0 && line_now() >= e->wait_since + e->group_delay);
}

static bool start_more(void *arg)
{
    line_engine *e = arg;
    if (turn_due(e)) {
        flush_turn(e, true);
    }
    return e->n_done > 0 || (!e->stop && e->started < e->njobs);
}

/* Whatever is still open when the loop ends early did not finish. */
static void interrupt_open_jobs(line_engine *e)
{
    for (size_t i = 0; i < e->njobs; i++) {
        line_job *j = &e->jobs[i];
        if (j->started && j->outcome == LINE_JOB_PENDING) {
            j->status = LINE_E_GENERAL;
            snprintf(j->message, sizeof(j->message),
                     "General error on factory tool: interrupted before the device answered");
            finish(j, LINE_JOB_INTERRUPTED);
        }
    }
}

int line_engine_run(line_engine *e, const line_device *devices, size_t count)
{
    e->jobs = count ? calloc(count, sizeof(*e->jobs)) : NULL;
    e->loop = line_loop_new();
    if ((count && e->jobs == NULL) || e->loop == NULL) {
        free(e->jobs);
        e->jobs = NULL;
        line_loop_free(e->loop);
        e->loop = NULL;
        return -1;
    }
    e->njobs = count;
    for (size_t i = 0; i < count; i++) {
        e->jobs[i].dev = &devices[i];
    }
    if (e->parallel < 1) {
        e->parallel = 1;
    }
    if (e->group < 1) {
        e->group = e->parallel / 2 < 1 ? 1 : e->parallel / 2 > 64 ? 64 : e->parallel / 2;
    }
    if (e->group_delay <= 0) {
        e->group_delay = 0.05;
    }
    e->n_done = 0;
    e->n_sending = 0;
    e->wait_since = 0;
    e->sending = calloc((size_t)e->parallel, sizeof(*e->sending));
    e->done = calloc(count ? count : 1, sizeof(*e->done));
    e->starts = calloc((size_t)e->parallel, sizeof(*e->starts));
    e->ends = calloc(count ? count : 1, sizeof(*e->ends));
    if (e->sending == NULL || e->done == NULL || e->starts == NULL || e->ends == NULL ||
        address_slots(e) != 0) {
        free(e->sending);
        free(e->done);
        free(e->starts);
        free(e->ends);
        e->sending = e->done = NULL;
        e->starts = NULL;
        e->ends = NULL;
        free(e->jobs);
        e->jobs = NULL;
        line_loop_free(e->loop);
        e->loop = NULL;
        return -1;
    }
    snprintf(e->batch, sizeof(e->batch), "%ld-%d", (long)time(NULL), (int)getpid());
    e->t_start = line_now();
    if (e->stop) {
        line_loop_stop(e->loop);
    }
    int rc = line_loop_run(e->loop, start_more, e);
    interrupt_open_jobs(e);
    flush_turn(e, false); /* the last final rows, then their reports */
    line_loop *loop = e->loop;
    e->loop = NULL;
    line_loop_free(loop);
    free(e->jobs);
    e->jobs = NULL;
    free_slots(e);
    free(e->sending);
    free(e->done);
    free(e->starts);
    free(e->ends);
    e->sending = e->done = NULL;
    e->starts = NULL;
    e->ends = NULL;
    if (rc != 0) {
        return 1;
    }
    return e->failed == 0 && e->interrupted == 0 && e->started == e->njobs ? 0 : 1;
}
