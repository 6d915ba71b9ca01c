/* The admin listener: plain HTTP on libmicrohttpd, GET only, three paths. */
#include "kiln_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct kiln_metrics_http {
    struct MHD_Daemon *daemon;
    kiln_metrics *reg;
    const char *page;
    kiln_metrics_status_fn status_json;
    void *arg;
    unsigned port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct kiln_metrics_http *h = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n", 19,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *text = kiln_metrics_render(h->reg, &len);
        if (text == NULL)
            return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14,
                         MHD_RESPMEM_PERSISTENT);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/") == 0 && h->page != NULL)
        return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", (char *)h->page, strlen(h->page),
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/status.json") == 0 && h->status_json != NULL) {
        char *json = h->status_json(h->arg);
        if (json == NULL)
            return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "no status\n", 10,
                         MHD_RESPMEM_PERSISTENT);
        return reply(c, MHD_HTTP_OK, "application/json", json, strlen(json), MHD_RESPMEM_MUST_FREE);
    }
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

/* "A.B.C.D:PORT" or "[v6]:PORT" into ss; 0 on success. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof(host))
        return -1;
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port > 65535)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    memset(ss, 0, sizeof(*ss));
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((unsigned short)port);
        return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((unsigned short)port);
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

int kiln_metrics_http_start(kiln_metrics *reg, const char *listen, const char *page,
                            kiln_metrics_status_fn status_json, void *arg, kiln_metrics_http **out)
{
    struct sockaddr_storage ss;
    if (reg == NULL || listen == NULL || out == NULL || parse_listen(listen, &ss) != 0)
        return -1;
    struct kiln_metrics_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    h->reg = reg;
    h->page = page;
    h->status_json = status_json;
    h->arg = arg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 64u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (h->daemon == NULL) {
        free(h);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : 0;
    *out = h;
    return 0;
}

unsigned kiln_metrics_http_port(const kiln_metrics_http *http)
{
    return http != NULL ? http->port : 0;
}

void kiln_metrics_http_stop(kiln_metrics_http *http)
{
    if (http == NULL)
        return;
    MHD_stop_daemon(http->daemon);
    free(http);
}
