/* The registry and its exposition-format renderer (text format 0.0.4). */
#include "kiln_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct series {
    struct series *next;
    char **values;
    double value; /* counter, gauge */
    double sum;
    uint64_t count;
    uint64_t *buckets; /* per bound, not cumulative; the rest falls into +Inf */
};

struct kiln_metric {
    struct kiln_metric *next;
    kiln_metrics *reg;
    enum metric_type type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[KILN_METRICS_MAX_LABELS];
    size_t nbounds;
    double bounds[KILN_METRICS_MAX_BUCKETS];
    struct series *series, **series_tail;
};

struct kiln_metrics {
    pthread_mutex_t lock;
    kiln_metric *first, **tail;
};

kiln_metrics *kiln_metrics_new(void)
{
    kiln_metrics *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    reg->tail = &reg->first;
    return reg;
}

static void series_free(struct series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void metric_free(kiln_metric *m)
{
    struct series *s = m->series;
    while (s != NULL) {
        struct series *next = s->next;
        series_free(s, m->nlabels);
        s = next;
    }
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->name);
    free(m->help);
    free(m);
}

void kiln_metrics_free(kiln_metrics *reg)
{
    if (reg == NULL)
        return;
    kiln_metric *m = reg->first;
    while (m != NULL) {
        kiln_metric *next = m->next;
        metric_free(m);
        m = next;
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static int name_ok(const char *s, int colon)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (colon && c == ':');
        if (!ok)
            return 0;
    }
    return 1;
}

static kiln_metric *metric_new(kiln_metrics *reg, enum metric_type type, const char *name,
                               const char *help, size_t nlabels, const char *const *label_names)
{
    if (reg == NULL || !name_ok(name, 1) || nlabels > KILN_METRICS_MAX_LABELS ||
        (nlabels > 0 && label_names == NULL))
        return NULL;
    for (size_t i = 0; i < nlabels; i++)
        if (!name_ok(label_names[i], 0) || strcmp(label_names[i], "le") == 0)
            return NULL;
    kiln_metric *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->reg = reg;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help != NULL ? help : "");
    m->series_tail = &m->series;
    int bad = m->name == NULL || m->help == NULL;
    for (size_t i = 0; i < nlabels; i++) {
        m->labels[i] = strdup(label_names[i]);
        m->nlabels = i + 1;
        bad |= m->labels[i] == NULL;
    }
    if (bad) {
        metric_free(m);
        return NULL;
    }
    return m;
}

static kiln_metric *metric_register(kiln_metric *m)
{
    if (m == NULL)
        return NULL;
    kiln_metrics *reg = m->reg;
    pthread_mutex_lock(&reg->lock);
    *reg->tail = m;
    reg->tail = &m->next;
    pthread_mutex_unlock(&reg->lock);
    return m;
}

kiln_metric *kiln_metrics_counter(kiln_metrics *reg, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names)
{
    return metric_register(metric_new(reg, MT_COUNTER, name, help, nlabels, label_names));
}

kiln_metric *kiln_metrics_gauge(kiln_metrics *reg, const char *name, const char *help,
                                size_t nlabels, const char *const *label_names)
{
    return metric_register(metric_new(reg, MT_GAUGE, name, help, nlabels, label_names));
}

kiln_metric *kiln_metrics_histogram(kiln_metrics *reg, const char *name, const char *help,
                                    size_t nlabels, const char *const *label_names, size_t nbounds,
                                    const double *bounds)
{
    if (nbounds > KILN_METRICS_MAX_BUCKETS || (nbounds > 0 && bounds == NULL))
        return NULL;
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return NULL;
    kiln_metric *m = metric_new(reg, MT_HISTOGRAM, name, help, nlabels, label_names);
    if (m == NULL)
        return NULL;
    m->nbounds = nbounds;
    if (nbounds > 0)
        memcpy(m->bounds, bounds, nbounds * sizeof(bounds[0]));
    return metric_register(m);
}

/* The series for these values, created if absent; called with the lock held. */
static struct series *series_get(kiln_metric *m, const char *const *values, int create)
{
    for (struct series *s = m->series; s != NULL; s = s->next) {
        size_t i = 0;
        while (i < m->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == m->nlabels)
            return s;
    }
    if (!create)
        return NULL;
    struct series *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->values = calloc(m->nlabels + 1, sizeof(char *));
    s->buckets = calloc(m->nbounds + 1, sizeof(uint64_t));
    int bad = s->values == NULL || s->buckets == NULL;
    for (size_t i = 0; !bad && i < m->nlabels; i++)
        bad = (s->values[i] = strdup(values[i])) == NULL;
    if (bad) {
        series_free(s, s->values != NULL ? m->nlabels : 0);
        return NULL;
    }
    *m->series_tail = s;
    m->series_tail = &s->next;
    return s;
}

static int values_ok(const kiln_metric *m, const char *const *values)
{
    if (m->nlabels > 0 && values == NULL)
        return 0;
    for (size_t i = 0; i < m->nlabels; i++)
        if (values[i] == NULL)
            return 0;
    return 1;
}

static int update(kiln_metric *m, const char *const *values, double v, int op)
{
    if (m == NULL || !values_ok(m, values) || isnan(v))
        return -1;
    pthread_mutex_lock(&m->reg->lock);
    struct series *s = series_get(m, values, 1);
    if (s != NULL) {
        if (op == 0)
            s->value += v;
        else
            s->value = v;
    }
    pthread_mutex_unlock(&m->reg->lock);
    return s != NULL ? 0 : -1;
}

int kiln_metric_add(kiln_metric *m, const char *const *label_values, double v)
{
    if (m == NULL || m->type == MT_HISTOGRAM || (m->type == MT_COUNTER && !(v >= 0)))
        return -1;
    return update(m, label_values, v, 0);
}

int kiln_metric_set(kiln_metric *m, const char *const *label_values, double v)
{
    if (m == NULL || m->type != MT_GAUGE)
        return -1;
    return update(m, label_values, v, 1);
}

int kiln_metric_observe(kiln_metric *m, const char *const *label_values, double v)
{
    if (m == NULL || m->type != MT_HISTOGRAM || !values_ok(m, label_values) || isnan(v))
        return -1;
    pthread_mutex_lock(&m->reg->lock);
    struct series *s = series_get(m, label_values, 1);
    if (s != NULL) {
        size_t i = 0;
        while (i < m->nbounds && v > m->bounds[i])
            i++;
        s->buckets[i]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->reg->lock);
    return s != NULL ? 0 : -1;
}

double kiln_metric_value(kiln_metric *m, const char *const *label_values)
{
    if (m == NULL || m->type == MT_HISTOGRAM || !values_ok(m, label_values))
        return 0;
    pthread_mutex_lock(&m->reg->lock);
    struct series *s = series_get(m, label_values, 0);
    double v = s != NULL ? s->value : 0;
    pthread_mutex_unlock(&m->reg->lock);
    return v;
}

/* A growing output buffer; err set on no memory. */
struct out {
    char *buf;
    size_t len, cap;
    int err;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            o->err = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

/* HELP text escapes \ and newline; label values also ". */
static void out_escaped(struct out *o, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            out_str(o, "\\\\");
        else if (*s == '\n')
            out_str(o, "\\n");
        else if (quote && *s == '"')
            out_str(o, "\\\"");
        else
            out_put(o, s, 1);
    }
}

/* The shortest %g form that reads back to the same double; +Inf, -Inf, NaN as Prometheus. */
static void out_double(struct out *o, double v)
{
    char b[40];
    if (isnan(v))
        snprintf(b, sizeof(b), "NaN");
    else if (isinf(v))
        snprintf(b, sizeof(b), v > 0 ? "+Inf" : "-Inf");
    else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(b, sizeof(b), "%.*g", prec, v);
            if (strtod(b, NULL) == v)
                break;
        }
    }
    out_str(o, b);
}

static void out_u64(struct out *o, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    out_str(o, b);
}

/* name{labels[,le="x"]} */
static void out_series_name(struct out *o, const kiln_metric *m, const struct series *s,
                            const char *suffix, const double *le)
{
    out_str(o, m->name);
    out_str(o, suffix);
    if (m->nlabels == 0 && le == NULL) {
        out_str(o, " ");
        return;
    }
    out_str(o, "{");
    for (size_t i = 0; i < m->nlabels; i++) {
        out_str(o, i ? "," : "");
        out_str(o, m->labels[i]);
        out_str(o, "=\"");
        out_escaped(o, s->values[i], 1);
        out_str(o, "\"");
    }
    if (le != NULL) {
        out_str(o, m->nlabels ? ",le=\"" : "le=\"");
        out_double(o, *le);
        out_str(o, "\"");
    }
    out_str(o, "} ");
}

static void render_histogram(struct out *o, const kiln_metric *m, const struct series *s)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        double le = i < m->nbounds ? m->bounds[i] : INFINITY;
        cum += s->buckets[i];
        out_series_name(o, m, s, "_bucket", &le);
        out_u64(o, cum);
        out_str(o, "\n");
    }
    out_series_name(o, m, s, "_sum", NULL);
    out_double(o, s->sum);
    out_str(o, "\n");
    out_series_name(o, m, s, "_count", NULL);
    out_u64(o, s->count);
    out_str(o, "\n");
}

static void render_metric(struct out *o, const kiln_metric *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    out_str(o, "# HELP ");
    out_str(o, m->name);
    out_str(o, " ");
    out_escaped(o, m->help, 0);
    out_str(o, "\n# TYPE ");
    out_str(o, m->name);
    out_str(o, " ");
    out_str(o, types[m->type]);
    out_str(o, "\n");
    for (const struct series *s = m->series; s != NULL; s = s->next) {
        if (m->type == MT_HISTOGRAM) {
            render_histogram(o, m, s);
            continue;
        }
        out_series_name(o, m, s, "", NULL);
        out_double(o, s->value);
        out_str(o, "\n");
    }
}

char *kiln_metrics_render(kiln_metrics *reg, size_t *len)
{
    struct out o = {0};
    if (reg == NULL)
        return NULL;
    out_str(&o, "");
    pthread_mutex_lock(&reg->lock);
    for (const kiln_metric *m = reg->first; m != NULL; m = m->next)
        render_metric(&o, m);
    pthread_mutex_unlock(&reg->lock);
    if (o.err) {
        free(o.buf);
        return NULL;
    }
    if (len != NULL)
        *len = o.len;
    return o.buf;
}
