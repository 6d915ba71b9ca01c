/* The service's metrics; see sf_metrics.h. */
#include "sf_metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_metrics.h"

static struct {
    kiln_metrics *reg;
    kiln_metric *sessions, *seconds, *quota, *requests;
    kiln_metrics_http *http;
    pthread_mutex_t lock;
    long long done, failed, requests_n;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static char *status_json(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:[], s:[]}", "title",
                          "kiln secure factory", "done", (json_int_t)(g.done + g.failed), "ok",
                          (json_int_t)g.done, "failed", (json_int_t)g.failed, "in_flight",
                          (json_int_t)0, "requests", (json_int_t)g.requests_n, "failures", "last");
    pthread_mutex_unlock(&g.lock);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

int sf_metrics_start(const char *listen, const char *version)
{
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
    const char *sl[] = {"batch", "outcome"}, *ql[] = {"batch"}, *rl[] = {"station", "code"};
    const char *vl[] = {"version"}, *vv[] = {version};
    if (g.reg != NULL || (g.reg = kiln_metrics_new()) == NULL) {
        return -1;
    }
    kiln_metric *info =
        kiln_metrics_gauge(g.reg, "kiln_build_info", "The kiln version (always 1).", 1, vl);
    g.sessions = kiln_metrics_counter(g.reg, "kiln_sf_sessions_total",
                                      "Sessions ended, by batch and outcome.", 2, sl);
    g.seconds = kiln_metrics_histogram(g.reg, "kiln_sf_session_seconds",
                                       "Session time from creation to its end.", 0, NULL,
                                       sizeof(bounds) / sizeof(bounds[0]), bounds);
    g.quota = kiln_metrics_gauge(g.reg, "kiln_sf_quota_remaining",
                                 "Certificates the batch's quota still allows.", 1, ql);
    g.requests = kiln_metrics_counter(g.reg, "kiln_sf_station_requests_total",
                                      "Station requests answered, by station and status.", 2, rl);
    if (info == NULL || g.sessions == NULL || g.seconds == NULL || g.quota == NULL ||
        g.requests == NULL || kiln_metric_set(info, vv, 1) != 0 ||
        kiln_metrics_http_start(g.reg, listen, kiln_metrics_dashboard_html, status_json, NULL,
                                &g.http) != 0) {
        kiln_metrics_free(g.reg);
        g.reg = NULL;
        return -1;
    }
    return 0;
}

void sf_metrics_stop(void)
{
    kiln_metrics_http_stop(g.http);
    g.http = NULL;
    kiln_metrics_free(g.reg);
    g.reg = NULL;
}

void sf_metrics_request(const char *station, int status)
{
    if (g.reg == NULL) {
        return;
    }
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    const char *v[] = {station != NULL ? station : "-", code};
    kiln_metric_add(g.requests, v, 1);
    pthread_mutex_lock(&g.lock);
    g.requests_n++;
    pthread_mutex_unlock(&g.lock);
}

void sf_metrics_session(sf_db *db, const sf_session *s, const char *outcome, long long now)
{
    if (g.reg == NULL || db == NULL) {
        return;
    }
    const char *batch = s->batch != NULL ? s->batch : "";
    const char *v[] = {batch, outcome}, *b[] = {batch};
    kiln_metric_add(g.sessions, v, 1);
    kiln_metric_observe(g.seconds, NULL, now > s->created ? (double)(now - s->created) : 0);
    long used = 0, limit = -1;
    if (sf_store_quota_get(db, batch, &used, &limit) == SF_OK && limit >= 0) {
        kiln_metric_set(g.quota, b, (double)(limit > used ? limit - used : 0));
    }
    pthread_mutex_lock(&g.lock);
    if (strcmp(outcome, "done") == 0) {
        g.done++;
    } else {
        g.failed++;
    }
    pthread_mutex_unlock(&g.lock);
}
