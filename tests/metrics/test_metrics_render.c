/* kiln_metrics: the exact exposition text (HELP/TYPE, label escaping of \ " and newline,
 * histogram buckets/_sum/_count, number forms), bad arguments, threads, and the listener's
 * answers over a real socket (/metrics, /, /status.json, 404, 405). */
#include "kiln_metrics.h"
#include "tally_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char expected[] = "# HELP kiln_t_total Requests, by \\\\ and\\nnew line \"quoted\".\n"
                               "# TYPE kiln_t_total counter\n"
                               "kiln_t_total{station=\"a\\\"b\",code=\"0\"} 3\n"
                               "kiln_t_total{station=\"back\\\\slash\\nnl\",code=\"17\"} 0.5\n"
                               "# HELP kiln_t_up A gauge without labels.\n"
                               "# TYPE kiln_t_up gauge\n"
                               "kiln_t_up -2.25\n"
                               "# HELP kiln_t_seconds Durations.\n"
                               "# TYPE kiln_t_seconds histogram\n"
                               "kiln_t_seconds_bucket{batch=\"b1\",le=\"0.1\"} 1\n"
                               "kiln_t_seconds_bucket{batch=\"b1\",le=\"1\"} 3\n"
                               "kiln_t_seconds_bucket{batch=\"b1\",le=\"+Inf\"} 4\n"
                               "kiln_t_seconds_sum{batch=\"b1\"} 7.65\n"
                               "kiln_t_seconds_count{batch=\"b1\"} 4\n"
                               "# HELP kiln_t_plain A histogram without labels.\n"
                               "# TYPE kiln_t_plain histogram\n"
                               "kiln_t_plain_bucket{le=\"2\"} 0\n"
                               "kiln_t_plain_bucket{le=\"+Inf\"} 1\n"
                               "kiln_t_plain_sum 3\n"
                               "kiln_t_plain_count 1\n"
                               "# HELP kiln_t_empty Registered, never set.\n"
                               "# TYPE kiln_t_empty counter\n";

static kiln_metric *threaded;

static void *bump(void *arg)
{
    const char *v[] = {"x"};
    (void)arg;
    for (int i = 0; i < 10000; i++)
        kiln_metric_add(threaded, v, 1);
    return NULL;
}

static void check_render(void)
{
    kiln_metrics *reg = kiln_metrics_new();
    const char *cl[] = {"station", "code"}, *bl[] = {"batch"};
    const double bounds[] = {0.1, 1};
    const double pb[] = {2};
    kiln_metric *c = kiln_metrics_counter(reg, "kiln_t_total",
                                          "Requests, by \\ and\nnew line \"quoted\".", 2, cl);
    kiln_metric *g = kiln_metrics_gauge(reg, "kiln_t_up", "A gauge without labels.", 0, NULL);
    kiln_metric *h = kiln_metrics_histogram(reg, "kiln_t_seconds", "Durations.", 1, bl, 2, bounds);
    kiln_metric *p =
        kiln_metrics_histogram(reg, "kiln_t_plain", "A histogram without labels.", 0, NULL, 1, pb);
    CHECK(kiln_metrics_counter(reg, "kiln_t_empty", "Registered, never set.", 0, NULL) != NULL);
    CHECK(c != NULL && g != NULL && h != NULL && p != NULL);
    const char *v1[] = {"a\"b", "0"}, *v2[] = {"back\\slash\nnl", "17"}, *b1[] = {"b1"};
    CHECK_EQ(kiln_metric_add(c, v1, 1), 0);
    CHECK_EQ(kiln_metric_add(c, v2, 0.5), 0);
    CHECK_EQ(kiln_metric_add(c, v1, 2), 0);
    CHECK_EQ(kiln_metric_set(g, NULL, 7), 0);
    CHECK_EQ(kiln_metric_add(g, NULL, -9.25), 0);
    CHECK_EQ(kiln_metric_observe(h, b1, 0.05), 0);
    CHECK_EQ(kiln_metric_observe(h, b1, 1), 0); /* le is inclusive */
    CHECK_EQ(kiln_metric_observe(h, b1, 0.6), 0);
    CHECK_EQ(kiln_metric_observe(h, b1, 6), 0);
    CHECK_EQ(kiln_metric_observe(p, NULL, 3), 0);
    CHECK(kiln_metric_value(c, v1) == 3);
    /* Wrong use is refused and changes nothing. */
    CHECK_EQ(kiln_metric_add(c, v1, -1), -1);
    CHECK_EQ(kiln_metric_set(c, v1, 5), -1);
    CHECK_EQ(kiln_metric_observe(c, v1, 5), -1);
    CHECK_EQ(kiln_metric_add(h, b1, 1), -1);
    CHECK_EQ(kiln_metric_add(c, NULL, 1), -1);
    CHECK(kiln_metrics_counter(reg, "9bad", "", 0, NULL) == NULL);
    CHECK(kiln_metrics_counter(reg, "kiln bad", "", 0, NULL) == NULL);
    const char *le[] = {"le"}, *colon[] = {"a:b"};
    CHECK(kiln_metrics_counter(reg, "kiln_x", "", 1, le) == NULL);
    CHECK(kiln_metrics_counter(reg, "kiln_x", "", 1, colon) == NULL);
    const double unsorted[] = {1, 1};
    CHECK(kiln_metrics_histogram(reg, "kiln_x", "", 0, NULL, 2, unsorted) == NULL);
    size_t len = 0;
    char *text = kiln_metrics_render(reg, &len);
    CHECK(text != NULL && len == strlen(text));
    if (text != NULL && strcmp(text, expected) != 0) {
        fprintf(stderr, "rendered:\n%s---\nexpected:\n%s---\n", text, expected);
        failures++;
    }
    free(text);
    kiln_metrics_free(reg);
}

static void check_threads(void)
{
    kiln_metrics *reg = kiln_metrics_new();
    const char *l[] = {"k"}, *v[] = {"x"};
    threaded = kiln_metrics_counter(reg, "kiln_t_threads_total", "", 1, l);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(kiln_metric_value(threaded, v) == 40000);
    kiln_metrics_free(reg);
}

/* One request over a real socket; the whole answer into buf. */
static size_t http(unsigned port, const char *request, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t n = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, request, strlen(request)) == (ssize_t)strlen(request)) {
        ssize_t r;
        while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
            n += (size_t)r;
    }
    if (fd >= 0)
        close(fd);
    buf[n] = '\0';
    return n;
}

static char *status(void *arg)
{
    return strdup((const char *)arg);
}

static void check_http(void)
{
    kiln_metrics *reg = kiln_metrics_new();
    kiln_metric *g = kiln_metrics_gauge(reg, "kiln_t_up", "Up.", 0, NULL);
    kiln_metric_set(g, NULL, 1);
    kiln_metrics_http *h = NULL;
    CHECK_EQ(kiln_metrics_http_start(reg, "127.0.0.1:x", NULL, NULL, NULL, &h), -1);
    CHECK_EQ(kiln_metrics_http_start(reg, "localhost:0", NULL, NULL, NULL, &h), -1);
    CHECK_EQ(kiln_metrics_http_start(reg, "127.0.0.1:70000", NULL, NULL, NULL, &h), -1);
    CHECK_EQ(kiln_metrics_http_start(reg, "127.0.0.1:0", kiln_metrics_dashboard_html, status,
                                     "{\"done\":3}", &h),
             0);
    unsigned port = kiln_metrics_http_port(h);
    CHECK(port != 0);
    static char buf[65536];
    const char *close_ = "Connection: close\r\n\r\n";
    char req[256];
    snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: x\r\n%s", close_);
    http(port, req, buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "text/plain; version=0.0.4") != NULL);
    CHECK(strstr(buf, "\r\n\r\n# HELP kiln_t_up Up.\n# TYPE kiln_t_up gauge\nkiln_t_up 1\n") !=
          NULL);
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\n%s", close_);
    http(port, req, buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "text/html") != NULL);
    CHECK(strstr(buf, "fetch('/status.json'") != NULL);
    snprintf(req, sizeof(req), "GET /status.json HTTP/1.1\r\nHost: x\r\n%s", close_);
    http(port, req, buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\r\n\r\n{\"done\":3}") != NULL);
    snprintf(req, sizeof(req), "GET /other HTTP/1.1\r\nHost: x\r\n%s", close_);
    http(port, req, buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 404", 12) == 0);
    snprintf(req, sizeof(req), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n%s",
             close_);
    http(port, req, buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 405", 12) == 0 && strstr(buf, "Allow: GET") != NULL);
    kiln_metrics_http_stop(h);
    kiln_metrics_free(reg);
}

int main(void)
{
    check_render();
    check_threads();
    check_http();
    if (failures == 0)
        printf("metrics: all checks passed\n");
    return failures != 0;
}
