/* The line's metrics and dashboard status; see line_metrics.h. */
#include "line_metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/status.h"
#include "kiln_metrics.h"

#define LAST_DEVICES 20
#define MAX_CODES    64

struct failure {
    int code;
    unsigned long count;
};

struct last {
    char id[128];
    const char *outcome;
    int code;
    double seconds;
};

struct line_metrics {
    kiln_metrics *reg;
    kiln_metric *devices, *seconds, *in_flight, *remaining;
    kiln_metrics_http *http;
    pthread_mutex_t lock; /* the status below */
    size_t total, done, ok, failed, skipped, interrupted, in_flight_now;
    double t_start, t_end; /* t_end: when the last device finished (0 before) */
    struct failure failures[MAX_CODES];
    size_t nfailures;
    struct last last[LAST_DEVICES];
    size_t nlast; /* devices seen; the ring holds the last LAST_DEVICES */
};

static const char *outcome_name(line_outcome o)
{
    switch (o) {
    case LINE_JOB_SUCCEEDED:
        return "succeeded";
    case LINE_JOB_FAILED:
        return "failed";
    case LINE_JOB_SKIPPED:
        return "skipped";
    case LINE_JOB_INTERRUPTED:
        return "interrupted";
    default:
        return "pending";
    }
}

line_metrics *line_metrics_new(const char *version, size_t devices)
{
    static const double bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    const char *dl[] = {"outcome", "code"}, *vl[] = {"version"}, *vv[] = {version};
    line_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->reg = kiln_metrics_new()) == NULL) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->total = devices;
    m->t_start = line_now();
    kiln_metric *info =
        kiln_metrics_gauge(m->reg, "kiln_build_info", "The kiln version (always 1).", 1, vl);
    m->devices = kiln_metrics_counter(m->reg, "kiln_line_devices_total",
                                      "Devices finished, by outcome and status code.", 2, dl);
    m->seconds = kiln_metrics_histogram(m->reg, "kiln_line_device_seconds",
                                        "Time per device (preparing and exchanging).", 0, NULL,
                                        sizeof(bounds) / sizeof(bounds[0]), bounds);
    m->in_flight =
        kiln_metrics_gauge(m->reg, "kiln_line_in_flight", "Devices being provisioned.", 0, NULL);
    m->remaining = kiln_metrics_gauge(m->reg, "kiln_line_devices_remaining",
                                      "Devices of the batch not finished yet.", 0, NULL);
    if (info == NULL || m->devices == NULL || m->seconds == NULL || m->in_flight == NULL ||
        m->remaining == NULL || kiln_metric_set(info, vv, 1) != 0 ||
        kiln_metric_set(m->in_flight, NULL, 0) != 0 ||
        kiln_metric_set(m->remaining, NULL, (double)devices) != 0) {
        line_metrics_free(m);
        return NULL;
    }
    return m;
}

static void count_failure(line_metrics *m, int code)
{
    for (size_t i = 0; i < m->nfailures; i++) {
        if (m->failures[i].code == code) {
            m->failures[i].count++;
            return;
        }
    }
    if (m->nfailures < MAX_CODES) {
        m->failures[m->nfailures++] = (struct failure){code, 1};
    }
}

void line_metrics_finished(line_metrics *m, const line_engine *e, const line_job *j)
{
    if (m == NULL) {
        return;
    }
    char code[16];
    snprintf(code, sizeof(code), "%d", j->status);
    const char *outcome = outcome_name(j->outcome);
    const char *labels[] = {outcome, code};
    double seconds = j->t_configurator + j->t_exchange;
    kiln_metric_add(m->devices, labels, 1);
    kiln_metric_observe(m->seconds, NULL, seconds);
    pthread_mutex_lock(&m->lock);
    if (++m->done == m->total) {
        m->t_end = line_now();
    }
    m->ok += j->outcome == LINE_JOB_SUCCEEDED;
    m->failed += j->outcome == LINE_JOB_FAILED;
    m->skipped += j->outcome == LINE_JOB_SKIPPED;
    m->interrupted += j->outcome == LINE_JOB_INTERRUPTED;
    m->in_flight_now = e->started > m->done ? e->started - m->done : 0;
    if (j->status != 0) {
        count_failure(m, j->status);
    }
    struct last *l = &m->last[m->nlast++ % LAST_DEVICES];
    snprintf(l->id, sizeof(l->id), "%s", j->dev->endpoint ? j->dev->endpoint : "");
    l->outcome = outcome;
    l->code = j->status;
    l->seconds = seconds;
    size_t in_flight = m->in_flight_now, remaining = m->total > m->done ? m->total - m->done : 0;
    pthread_mutex_unlock(&m->lock);
    kiln_metric_set(m->in_flight, NULL, (double)in_flight);
    kiln_metric_set(m->remaining, NULL, (double)remaining);
}

/* The status text with its message template's %s shown as "...". */
static const char *plain_text(kiln_status s, char *buf, size_t size)
{
    const char *t = kiln_strerror(s);
    size_t n = 0;
    for (; *t != '\0' && n + 4 < size; t++) {
        if (t[0] == '%' && t[1] == 's') {
            memcpy(buf + n, "...", 3);
            n += 3;
            t++;
        } else {
            buf[n++] = *t;
        }
    }
    buf[n] = '\0';
    return buf;
}

static json_t *failures_json(const line_metrics *m)
{
    char text[256];
    json_t *a = json_array();
    for (size_t i = 0; i < m->nfailures; i++) {
        kiln_status s = (kiln_status)m->failures[i].code;
        json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:I}", "code", m->failures[i].code,
                                           "name", kiln_status_name(s), "text",
                                           plain_text(s, text, sizeof(text)), "count",
                                           (json_int_t)m->failures[i].count));
    }
    return a;
}

static json_t *last_json(const line_metrics *m)
{
    json_t *a = json_array();
    size_t n = m->nlast < LAST_DEVICES ? m->nlast : LAST_DEVICES;
    for (size_t k = 0; k < n; k++) { /* newest first */
        const struct last *l = &m->last[(m->nlast - 1 - k) % LAST_DEVICES];
        char secs[32];
        snprintf(secs, sizeof(secs), "%.3f", l->seconds);
        json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s}", "id", l->id, "outcome",
                                           l->outcome, "code", l->code, "seconds", secs));
    }
    return a;
}

static char *status_json(void *arg)
{
    line_metrics *m = arg;
    pthread_mutex_lock(&m->lock);
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "title",
                          "kiln line", "total", (json_int_t)m->total, "done", (json_int_t)m->done,
                          "ok", (json_int_t)m->ok, "failed", (json_int_t)m->failed, "skipped",
                          (json_int_t)m->skipped, "interrupted", (json_int_t)m->interrupted,
                          "in_flight", (json_int_t)m->in_flight_now, "remaining",
                          (json_int_t)(m->total > m->done ? m->total - m->done : 0), "elapsed_s",
                          (m->t_end > 0 ? m->t_end : line_now()) - m->t_start);
    if (o != NULL) {
        json_object_set_new(o, "failures", failures_json(m));
        json_object_set_new(o, "last", last_json(m));
    }
    pthread_mutex_unlock(&m->lock);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

int line_metrics_listen(line_metrics *m, const char *listen)
{
    if (m == NULL || m->http != NULL) {
        return -1;
    }
    return kiln_metrics_http_start(m->reg, listen, kiln_metrics_dashboard_html, status_json, m,
                                   &m->http);
}

unsigned line_metrics_port(const line_metrics *m)
{
    return m != NULL ? kiln_metrics_http_port(m->http) : 0;
}

char *line_metrics_text(line_metrics *m)
{
    return m != NULL ? kiln_metrics_render(m->reg, NULL) : NULL;
}

void line_metrics_free(line_metrics *m)
{
    if (m == NULL) {
        return;
    }
    kiln_metrics_http_stop(m->http);
    kiln_metrics_free(m->reg);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
