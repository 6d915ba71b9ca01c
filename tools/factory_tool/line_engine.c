#include "line_engine.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ftcd_frame.h"
#include "line_errors.h"

bool lj_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strcmp(argv[*i], name) == 0) {
        *value = *i + 1 < argc ? argv[++*i] : NULL;
        return true;
    }
    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return true;
    }
    return false;
}

bool lj_parse_uint(const char *text, unsigned max, unsigned *out)
{
    if (text == NULL || *text == '\0') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-' || v > max) {
        return false;
    }
    *out = (unsigned)v;
    return true;
}

fcu *lj_open_fcu(const ft_globals *g)
{
    fcu_options opts = {.home_dir = g->home_dir, .config_file = g->config_file};
    return fcu_open(&opts);
}

int lj_general_error(const ft_globals *g, int exit_status, const char *fmt, ...)
{
    char detail[900], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    line_error_format(msg, sizeof(msg), LINE_E_GENERAL, detail, NULL);
    ft_globals forced = *g;
    forced.json = 1;
    ft_print_result(&forced, LINE_E_GENERAL, msg, NULL, NULL);
    return exit_status;
}

line_records *lj_open_records(const ft_globals *g, fcu *f, const char *path, char **path_out)
{
    char *chosen = path ? strdup(path) : line_records_default_path(f ? fcu_home_dir(f) : NULL);
    char why[600];
    line_records *r = chosen ? line_records_open(chosen, why, sizeof(why)) : NULL;
    if (r == NULL) {
        lj_general_error(g, 1, "%s", chosen ? why : "out of memory");
        free(chosen);
        return NULL;
    }
    if (path_out != NULL) {
        *path_out = chosen;
    } else {
        free(chosen);
    }
    return r;
}

int lj_frame(const uint8_t *bundle, size_t len, uint8_t **frame, size_t *frame_len)
{
    size_t need = ftcd_request_size(len);
    *frame = need ? malloc(need) : NULL;
    if (*frame == NULL) {
        return -1;
    }
    if (ftcd_encode_request(bundle, len, *frame, need, frame_len) != FTCD_STATUS_SUCCESS) {
        free(*frame);
        *frame = NULL;
        return -1;
    }
    return 0;
}

void lj_path(char *buf, size_t size, const char *dir, const char *name, const char *ext)
{
    snprintf(buf, size, "%s/%s%s", dir, name, ext);
}

static line_loop *signal_loop;

static void on_signal(int sig)
{
    (void)sig;
    if (signal_loop != NULL) {
        line_loop_stop(signal_loop);
    }
}

void lj_stop_on_signals(line_loop *loop)
{
    signal_loop = loop;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- one job ---------------------------------------------------------------------------- */

static void drop_frame(lj_job *j)
{
    if (j->frame != NULL) {
        OPENSSL_cleanse(j->frame, j->frame_len);
        free(j->frame);
    }
    j->frame = NULL;
    j->frame_len = 0;
}

static void drop_request(lj_job *j)
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

static void print_progress(lj_engine *e)
{
    if (!e->progress) {
        return;
    }
    size_t done = e->succeeded + e->failed + e->skipped + e->interrupted;
    int width = 30, filled = e->njobs ? (int)(done * (size_t)width / e->njobs) : width;
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu ok %zu failed %zu skipped %zu", filled,
            "##############################", width - filled, "", done, e->njobs, e->succeeded,
            e->failed, e->skipped);
    if (done == e->njobs) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

static const char *record_state(const lj_job *j)
{
    switch (j->outcome) {
    case LJ_SUCCEEDED:
        if (j->engine->mode == LJ_WRITE || j->addr.transport == LINE_FILE) {
            return LINE_STATE_WRITTEN;
        }
        return LINE_STATE_SUCCESS;
    case LJ_SKIPPED:
        return LINE_STATE_SKIPPED;
    case LJ_INTERRUPTED:
        return LINE_STATE_INTERRUPTED;
    default:
        return LINE_STATE_FAILED;
    }
}

static void emit(lj_engine *e, lj_job *j)
{
    json_t *extra = json_object();
    if (e->single) {
        if (j->addr.transport == LINE_FILE && j->outcome == LJ_SUCCEEDED) {
            json_object_set_new(extra, "output", json_string(j->addr.host));
        }
        ft_globals forced = *e->g;
        forced.json = 1;
        json_t *resp = j->device_response;
        j->device_response = NULL;
        ft_print_result(&forced, j->status, j->message[0] ? j->message : NULL, resp, extra);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", json_string(j->dev->endpoint));
    json_object_set_new(o, "serial", json_string(j->dev->serial));
    json_object_set_new(o, "address", j->dev->address ? json_string(j->dev->address) : json_null());
    json_object_set_new(o, "status", json_integer(j->status));
    json_object_set_new(o, "message", json_string(j->message[0] ? j->message : FT_SUCCESS_MESSAGE));
    json_object_set_new(o, "result", json_string(record_state(j)));
    if (j->device_response != NULL) {
        json_object_set_new(o, "deviceResponse", j->device_response);
        j->device_response = NULL;
    }
    json_object_set_new(o, "tries", json_integer(j->tries));
    if (j->identity.cert_sha256[0]) {
        json_object_set_new(o, "certSha256", json_string(j->identity.cert_sha256));
    }
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    if (text != NULL) {
        if (e->progress) {
            fputs("\r\033[K", stderr);
        }
        printf("%s\n", text);
        fflush(stdout);
        free(text);
    }
    json_decref(o);
    json_decref(extra);
}

static void finish(lj_job *j, lj_outcome outcome)
{
    lj_engine *e = j->engine;
    j->outcome = outcome;
    if (j->conn_ready) {
        line_loop_remove(e->loop, &j->conn);
        line_conn_close(&j->conn);
        j->conn_ready = false;
    }
    drop_frame(j);
    drop_request(j);
    double t0 = line_now();
    if (e->records != NULL && j->record_id > 0) {
        line_records_finish(e->records, j->record_id, record_state(j),
                            outcome == LJ_SUCCEEDED || outcome == LJ_SKIPPED ? 0 : j->status,
                            j->message[0] ? j->message : NULL, j->device_status, j->tries);
    }
    e->t_records += line_now() - t0;
    switch (outcome) {
    case LJ_SUCCEEDED:
        e->succeeded++;
        break;
    case LJ_SKIPPED:
        e->skipped++;
        break;
    case LJ_INTERRUPTED:
        e->interrupted++;
        break;
    default:
        e->failed++;
        break;
    }
    e->t_configurator += j->t_configurator;
    e->t_exchange += j->t_exchange;
    e->running--;
    emit(e, j);
    print_progress(e);
}

static void fail_job(lj_job *j, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_job(lj_job *j, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->message, sizeof(j->message), fmt, ap);
    va_end(ap);
    j->status = status;
    finish(j, LJ_FAILED);
}

static void on_answer(void *user, line_conn *c);

static void send_current(lj_job *j)
{
    lj_engine *e = j->engine;
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
    lj_job *j = arg;
    j->waiting_retry = false;
    send_current(j);
}

/* A transport fault: resend the same frame (same bundle, same certificate) after a backoff. */
static bool maybe_retry(lj_job *j)
{
    lj_engine *e = j->engine;
    if (j->tries >= e->max_tries || j->step > 1) {
        return false;
    }
    double delay = e->backoff;
    for (int k = 1; k < j->tries && delay < 2.0; k++) {
        delay *= 2;
    }
    ft_log(e->g, 1, "%s: %s; retry %d in %.2f s", j->dev->endpoint, j->conn.error_text,
           j->tries + 1, delay);
    /* The connection may be half-dead; start clean. */
    line_loop_remove(e->loop, &j->conn);
    line_conn_close(&j->conn);
    j->conn_ready = false;
    j->waiting_retry = true;
    line_loop_timer(e->loop, line_now() + delay, retry_now, j);
    return true;
}

static int set_bundle(lj_job *j, const uint8_t *bundle, size_t len)
{
    drop_frame(j);
    if (lj_frame(bundle, len, &j->frame, &j->frame_len) != 0) {
        return -1;
    }
    line_identity_of_bundle(bundle, len, &j->identity);
    return 0;
}

static void verify_answer(lj_job *j, const uint8_t *cbor, size_t len)
{
    lj_engine *e = j->engine;
    fcu_device_response_status s;
    double t0 = line_now();
    int status = fcu_verify_device_response(e->fcu, j->dev->endpoint, cbor, len,
                                            j->request ? j->request->operation_ctx : NULL, &s);
    j->t_configurator += line_now() - t0;
    j->device_status = s.message != NULL ? s.status : -1;
    if (s.message != NULL) {
        json_decref(j->device_response);
        j->device_response = ft_device_response_json(&s);
    }
    if (status == 0 && s.next_request != NULL) {
        /* Second message of a two-step session (device-generated keys): same connection. */
        fcu_device_request *next = s.next_request;
        s.next_request = NULL;
        fcu_device_response_status_free(&s);
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
        return;
    }
    if (status == 0) {
        j->status = 0;
        snprintf(j->message, sizeof(j->message), "%s", FT_SUCCESS_MESSAGE);
        fcu_device_response_status_free(&s);
        finish(j, LJ_SUCCEEDED);
        return;
    }
    if (s.message != NULL && s.status == status) {
        char num[16];
        snprintf(num, sizeof(num), "%d", status);
        line_error_format(j->message, sizeof(j->message), LINE_E_DEVICE_EXECUTION, num, NULL);
        j->status = LINE_E_DEVICE_EXECUTION;
    } else {
        j->status = status;
        snprintf(j->message, sizeof(j->message), "%s",
                 s.errors.count ? s.errors.items[s.errors.count - 1].message
                                : fcu_status_template(status));
    }
    fcu_device_response_status_free(&s);
    finish(j, LJ_FAILED);
}

static void store_answer(lj_job *j, const uint8_t *cbor, size_t len)
{
    char path[1200];
    lj_path(path, sizeof(path), j->engine->answers_dir, j->dev->endpoint, ".cbor");
    int err = ft_write_file(path, cbor, len);
    if (err != 0) {
        fail_job(j, LINE_E_GENERAL, "General error on factory tool: cannot write %s: %s", path,
                 strerror(err));
        return;
    }
    j->status = 0;
    snprintf(j->message, sizeof(j->message), "%s", FT_SUCCESS_MESSAGE);
    finish(j, LJ_SUCCEEDED);
}

static void on_answer(void *user, line_conn *c)
{
    lj_job *j = user;
    j->t_exchange += (c->t_answer > 0 ? c->t_answer : line_now()) - c->t_request;
    if (c->error != 0) {
        if (line_error_is_transport(c->error) && maybe_retry(j)) {
            return;
        }
        j->status = c->error;
        snprintf(j->message, sizeof(j->message), "%s", c->error_text);
        finish(j, LJ_FAILED);
        return;
    }
    if (!c->answered) {
        /* Written to a file: nothing comes back, nothing is verified. */
        j->status = 0;
        snprintf(j->message, sizeof(j->message), "%s", FT_SUCCESS_MESSAGE);
        finish(j, LJ_SUCCEEDED);
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
        finish(j, LJ_FAILED);
        return;
    }
    if (j->engine->mode == LJ_WRITE) {
        store_answer(j, c->frame.cbor, c->frame.cbor_len);
    } else {
        verify_answer(j, c->frame.cbor, c->frame.cbor_len);
    }
}

static void start_job(lj_engine *e, lj_job *j)
{
    e->running++;
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
    if (e->records != NULL && !e->reprovision &&
        line_records_provisioned(e->records, j->dev->endpoint)) {
        j->status = 0;
        snprintf(j->message, sizeof(j->message),
                 "Endpoint %s is already provisioned; skipped (use --reprovision to issue a new "
                 "certificate)",
                 j->dev->endpoint);
        line_attempt a = {.endpoint = j->dev->endpoint,
                          .serial = j->dev->serial,
                          .address = j->dev->address,
                          .station = e->station,
                          .batch = e->batch};
        line_records_add(e->records, &a, LINE_STATE_SKIPPED, 0, j->message, -1);
        finish(j, LJ_SKIPPED);
        return;
    }
    if (e->mode == LJ_INJECT) {
        j->request = calloc(1, sizeof(*j->request));
        if (j->request == NULL) {
            fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
            return;
        }
        double t0 = line_now();
        int st = fcu_prepare_device_configuration(e->fcu, j->dev->endpoint, j->dev->serial,
                                                  j->dev->device_keys_location, j->request);
        j->t_configurator += line_now() - t0;
        if (st != 0) {
            const char *msg = j->request->errors.count ? j->request->errors.items[0].message
                                                       : fcu_status_template(st);
            fail_job(j, st, "%s", msg);
            return;
        }
        if (set_bundle(j, j->request->config_data, j->request->config_size) != 0) {
            fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
            return;
        }
    } else {
        char path[1200];
        uint8_t *bundle = NULL;
        size_t len = 0;
        lj_path(path, sizeof(path), e->bundles_dir, j->dev->endpoint, ".cbor");
        int err = ft_read_file(path, &bundle, &len);
        if (err != 0 || len == 0) {
            free(bundle);
            fail_job(j, LINE_E_GENERAL, "General error on factory tool: cannot read bundle %s: %s",
                     path, err ? strerror(err) : "empty file");
            return;
        }
        int rc = set_bundle(j, bundle, len);
        OPENSSL_cleanse(bundle, len);
        free(bundle);
        if (rc != 0) {
            fail_job(j, LINE_E_GENERAL, "General error on factory tool: out of memory");
            return;
        }
    }
    if (e->records != NULL) {
        double t0 = line_now();
        line_attempt a = {.endpoint = j->dev->endpoint,
                          .serial = j->dev->serial,
                          .address = j->dev->address,
                          .station = e->station,
                          .batch = e->batch,
                          .cert_sha256 = j->identity.cert_sha256,
                          .cert_sha1 = j->identity.cert_sha1,
                          .bundle_sha256 = j->identity.bundle_sha256};
        j->record_id = line_records_begin(e->records, &a);
        e->t_records += line_now() - t0;
        if (j->record_id < 0) {
            fail_job(j, LINE_E_GENERAL,
                     "General error on factory tool: cannot write the records database");
            return;
        }
    }
    send_current(j);
}

/* True while another job in flight talks to the same address: a device serves one exchange
 * at a time, and two writers on one serial line would interleave their frames. */
static bool address_busy(const lj_engine *e, const lj_job *candidate)
{
    if (candidate->dev->address == NULL) {
        return false;
    }
    for (size_t i = 0; i < e->njobs; i++) {
        const lj_job *j = &e->jobs[i];
        if (j->started && j->outcome == LJ_PENDING && j->dev->address != NULL &&
            strcmp(j->dev->address, candidate->dev->address) == 0) {
            return true;
        }
    }
    return false;
}

/* Starts jobs in list order, skipping (for now) those whose device is busy. */
static bool start_more(void *arg)
{
    lj_engine *e = arg;
    while (e->running < e->parallel) {
        while (e->next < e->njobs && e->jobs[e->next].started) {
            e->next++;
        }
        lj_job *pick = NULL;
        for (size_t i = e->next, seen = 0; i < e->njobs && seen < 256; i++) {
            if (e->jobs[i].started) {
                continue;
            }
            seen++;
            if (!address_busy(e, &e->jobs[i])) {
                pick = &e->jobs[i];
                break;
            }
        }
        if (pick == NULL) {
            break;
        }
        pick->started = true;
        e->started++;
        start_job(e, pick);
    }
    return e->started < e->njobs;
}

int lj_engine_run(lj_engine *e)
{
    e->loop = line_loop_new();
    if (e->loop == NULL) {
        return 1;
    }
    if (e->parallel < 1) {
        e->parallel = 1;
    }
    snprintf(e->batch, sizeof(e->batch), "%ld-%d", (long)time(NULL), (int)getpid());
    lj_stop_on_signals(e->loop);
    e->t_start = line_now();
    int rc = line_loop_run(e->loop, start_more, e);
    /* Stopped by a signal: whatever is still open did not finish. */
    for (size_t i = 0; i < e->njobs; i++) {
        lj_job *j = &e->jobs[i];
        if (j->started && j->outcome == LJ_PENDING) {
            j->status = LINE_E_GENERAL;
            snprintf(j->message, sizeof(j->message),
                     "General error on factory tool: interrupted before the device answered");
            finish(j, LJ_INTERRUPTED);
        }
    }
    line_loop_free(e->loop);
    e->loop = NULL;
    signal_loop = NULL;
    for (size_t i = 0; i < e->njobs; i++) {
        json_decref(e->jobs[i].device_response);
        e->jobs[i].device_response = NULL;
    }
    if (rc != 0) {
        return 1;
    }
    return e->failed == 0 && e->interrupted == 0 && e->started == e->njobs ? 0 : 1;
}
