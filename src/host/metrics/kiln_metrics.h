/* kiln_metrics: a small, thread-safe metrics registry (counters, gauges, histograms with label
 * sets) rendered in the Prometheus text exposition format 0.0.4, and an admin HTTP listener
 * (plain HTTP, libmicrohttpd) serving GET /metrics, GET / (a dashboard page) and
 * GET /status.json. The registry owns its metrics; a metric handle stays valid until
 * kiln_metrics_free(). Functions returning int give 0 on success, -1 on a bad argument or no
 * memory. */
#ifndef KILN_METRICS_H
#define KILN_METRICS_H

#include <stddef.h>

typedef struct kiln_metrics kiln_metrics;
typedef struct kiln_metric kiln_metric;

/* At most this many labels per metric and buckets per histogram. */
#define KILN_METRICS_MAX_LABELS  8
#define KILN_METRICS_MAX_BUCKETS 32

kiln_metrics *kiln_metrics_new(void);
void kiln_metrics_free(kiln_metrics *reg);

/* Register a metric; label_names has nlabels entries (may be NULL when nlabels is 0). Names
 * must match [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no colon). NULL on a bad argument. */
kiln_metric *kiln_metrics_counter(kiln_metrics *reg, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names);
kiln_metric *kiln_metrics_gauge(kiln_metrics *reg, const char *name, const char *help,
                                size_t nlabels, const char *const *label_names);
/* bounds: nbounds strictly increasing upper bounds; +Inf is added by the renderer. */
kiln_metric *kiln_metrics_histogram(kiln_metrics *reg, const char *name, const char *help,
                                    size_t nlabels, const char *const *label_names, size_t nbounds,
                                    const double *bounds);

/* label_values has the metric's nlabels entries. A counter only goes up (v >= 0). */
int kiln_metric_add(kiln_metric *m, const char *const *label_values, double v);
int kiln_metric_set(kiln_metric *m, const char *const *label_values, double v);
int kiln_metric_observe(kiln_metric *m, const char *const *label_values, double v);
/* The value of one counter/gauge series (0 when the series does not exist). */
double kiln_metric_value(kiln_metric *m, const char *const *label_values);

/* The whole registry as exposition text, malloc'd, NUL-terminated; *len (if given) its length.
 * NULL when out of memory. */
char *kiln_metrics_render(kiln_metrics *reg, size_t *len);

/* The admin listener. status_json returns a malloc'd JSON text for /status.json (or NULL: the
 * answer is then 500); page is the HTML served at / (static, not copied). */
typedef char *(*kiln_metrics_status_fn)(void *arg);
typedef struct kiln_metrics_http kiln_metrics_http;

/* listen is "ADDR:PORT" (IPv4 dotted quad or "[v6]:PORT"; port 0 picks a free one). */
int kiln_metrics_http_start(kiln_metrics *reg, const char *listen, const char *page,
                            kiln_metrics_status_fn status_json, void *arg, kiln_metrics_http **out);
/* The bound port (useful with port 0). */
unsigned kiln_metrics_http_port(const kiln_metrics_http *http);
void kiln_metrics_http_stop(kiln_metrics_http *http);

/* The embedded dashboard page (no external assets). */
extern const char kiln_metrics_dashboard_html[];

#endif
