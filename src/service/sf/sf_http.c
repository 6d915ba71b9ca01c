/* Secure factory service HTTPS front end (see sf_http.h). */
#define _GNU_SOURCE /* accept4 */
#include "sf_http.h"
#include "sf_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "sf_crypto.h"
#include "sf_request.h"
#include "sf_store.h"
#include "sf_tls_key.h"

#define MAX_BODY (64 * 1024)

#define MAX_WORKERS 64

/* One service thread: an MHD daemon with its own polling thread and the connections it holds. */
typedef struct http_worker {
    struct sf_http *http;
    struct MHD_Daemon *daemon;
    int open; /* connections handed to it and not closed yet (under worker_lock) */
} http_worker;

struct sf_http {
    sf_service *svc;
    http_worker workers[MAX_WORKERS];
    int worker_count;
    pthread_mutex_t worker_lock;
    FILE *log;
    pthread_mutex_t log_lock;
    char *key_pem;
    char *cert_pem;
    char *trust_pem;
    sf_tls_key *tls_key; /* keys/tls.uri: the TLS key in a token (else key_pem) */
    int port;
    sf_db_checkpointer *checkpointer;
    int listen_fd; /* accepted by accept_main, not by MHD's workers */
    int wake_fd;   /* eventfd: tells accept_main to stop */
    pthread_t acceptor;
};

/* Per TLS connection: the station certificate's verified fingerprint, so that a keep-alive
 * connection pays the chain verification once, and the station's record, looked up again at
 * most every STATION_RECHECK_MS so that a revocation reaches open connections within that time
 * (new connections always look it up). */
#define STATION_RECHECK_MS 1000

typedef struct connection_state {
    int verified;
    char fingerprint[65];
    long long checked_ms; /* 0: not looked up yet */
    char name[128];
    char batch[128];
} connection_state;

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct request_body {
    char *data;
    size_t len;
    int too_large;
} request_body;

static void log_line(sf_http *http, const char *station, const char *endpoint, const char *sid,
                     int status)
{
    if (http->log == NULL) {
        return;
    }
    if (strspn(endpoint, "abcdefghijklmnopqrstuvwxyz_") != strlen(endpoint)) {
        endpoint = "(other)"; /* the URL is the client's: keep it out of the log */
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&http->log_lock);
    fprintf(http->log, "%s station=%s request=%s session=%s status=%d (%s)\n", stamp,
            station != NULL ? station : "-", endpoint, sid != NULL ? sid : "-", status,
            sf_status_name(status));
    fflush(http->log);
    pthread_mutex_unlock(&http->log_lock);
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, sf_answer *answer)
{
    char *text = answer->body;
    answer->body = NULL;
    if (text == NULL) {
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result r = MHD_queue_response(conn, answer->http_status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, sf_status st)
{
    sf_answer answer;
    sf_request_error(st, &answer);
    enum MHD_Result r = send_answer(conn, &answer);
    sf_answer_free(&answer);
    return r;
}

static sf_status verify_peer(struct MHD_Connection *conn, char fp[65]);

/* Identifies the station from its verified client certificate. */
static sf_status identify_station(sf_http *http, struct MHD_Connection *conn, char name[128],
                                  char batch[128])
{
    const union MHD_ConnectionInfo *sc =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    connection_state *cs = sc != NULL ? sc->socket_context : NULL;
    char fp[65];
    if (cs != NULL && cs->verified) {
        memcpy(fp, cs->fingerprint, sizeof(fp));
    } else {
        sf_status st = verify_peer(conn, fp);
        if (st != SF_OK) {
            return st;
        }
        if (cs != NULL) {
            memcpy(cs->fingerprint, fp, sizeof(fp));
            cs->verified = 1;
        }
    }
    long long now = monotonic_ms();
    if (cs != NULL && cs->checked_ms != 0 && now - cs->checked_ms < STATION_RECHECK_MS) {
        memcpy(name, cs->name, sizeof(cs->name));
        memcpy(batch, cs->batch, sizeof(cs->batch));
        return SF_OK;
    }
    sf_db *db = sf_service_db_acquire(http->svc);
    if (db == NULL) {
        return SF_DATABASE;
    }
    sf_status st = sf_store_station_check(db, fp, name, batch);
    sf_service_db_release(http->svc, db);
    if (cs != NULL) {
        cs->checked_ms = st == SF_OK ? now : 0;
        memcpy(cs->name, name, sizeof(cs->name));
        memcpy(cs->batch, batch, sizeof(cs->batch));
    }
    return st;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_worker *w = cls;
    (void)conn;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(connection_state));
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
        pthread_mutex_lock(&w->http->worker_lock);
        w->open--;
        pthread_mutex_unlock(&w->http->worker_lock);
    }
}

/* The worker with the fewest open connections (the first of them after the last one chosen). */
static http_worker *least_loaded(sf_http *http, int *next)
{
    pthread_mutex_lock(&http->worker_lock);
    http_worker *best = NULL;
    for (int k = 0; k < http->worker_count; k++) {
        http_worker *w = &http->workers[(*next + k) % http->worker_count];
        if (best == NULL || w->open < best->open) {
            best = w;
        }
    }
    best->open++;
    *next = (int)(best - http->workers + 1) % http->worker_count;
    pthread_mutex_unlock(&http->worker_lock);
    return best;
}

static sf_status verify_peer(struct MHD_Connection *conn, char fp[65])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL) {
        return SF_STATION_NO_CERT;
    }
    gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
    unsigned int verify = 0;
    if (gnutls_certificate_verify_peers2(tls, &verify) != GNUTLS_E_SUCCESS || verify != 0) {
        return SF_STATION_NO_CERT;
    }
    unsigned int count = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(tls, &count);
    if (peers == NULL || count == 0) {
        return SF_STATION_NO_CERT;
    }
    sfc_sha256_hex(peers[0].data, peers[0].size, fp);
    return SF_OK;
}

static enum MHD_Result dispatch(sf_http *http, struct MHD_Connection *conn, const char *url,
                                const request_body *body)
{
    char station[128] = "", batch[128] = "";
    const char *endpoint = strncmp(url, "/v1/", 4) == 0 ? url + 4 : url;
    sf_status st = identify_station(http, conn, station, batch);
    if (st != SF_OK) {
        log_line(http, NULL, endpoint, NULL, st);
        sf_metrics_request(NULL, st);
        return send_error(conn, st);
    }
    sf_caller who = {station, batch};
    sf_answer answer;
    sf_request_dispatch(http->svc, url, &who, body->data != NULL ? body->data : "", body->len,
                        &answer);
    log_line(http, station, endpoint, answer.sid[0] ? answer.sid : NULL, answer.status);
    sf_metrics_request(station, answer.status);
    enum MHD_Result r = send_answer(conn, &answer);
    sf_answer_free(&answer);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    sf_http *http = cls;
    request_body *body = *con_cls;
    if (body == NULL) {
        body = calloc(1, sizeof(*body));
        if (body == NULL) {
            return MHD_NO;
        }
        *con_cls = body;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (body->len + *upload_data_size > MAX_BODY) {
            body->too_large = 1;
        } else {
            char *grown = realloc(body->data, body->len + *upload_data_size + 1);
            if (grown == NULL) {
                return MHD_NO;
            }
            body->data = grown;
            memcpy(body->data + body->len, upload_data, *upload_data_size);
            body->len += *upload_data_size;
            body->data[body->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0 || body->too_large) {
        return send_error(conn, SF_INVALID_ARGUMENT);
    }
    return dispatch(http, conn, url, body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_body *body = *con_cls;
    if (body != NULL) {
        free(body->data);
        free(body);
        *con_cls = NULL;
    }
}

static int parse_listen(const char *listen, struct sockaddr_in *addr)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &addr->sin_addr) != 1) {
        return -1;
    }
    return 0;
}

/* The station port is accepted here and each connection handed to the worker with the fewest
 * open connections. MHD's own thread pool let the worker that woke first accept up to ten at
 * once (and MHD_add_connection picks a pool worker by socket number): the keep-alive
 * connections of a line's stations often all sat on one worker (one core, their requests in
 * series) while the others had none. */
static void *accept_main(void *arg)
{
    sf_http *http = arg;
    int next = 0;
    struct pollfd fds[2] = {{http->listen_fd, POLLIN, 0}, {http->wake_fd, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR) {
            break;
        }
        if (fds[1].revents != 0) {
            break;
        }
        if ((fds[0].revents & POLLIN) == 0) {
            continue;
        }
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd =
            accept4(http->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            http_worker *w = least_loaded(http, &next);
            if (MHD_add_connection(w->daemon, fd, (struct sockaddr *)&peer, len) != MHD_YES) {
                pthread_mutex_lock(&http->worker_lock); /* MHD closed fd */
                w->open--;
                pthread_mutex_unlock(&http->worker_lock);
            }
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            struct timespec pause = {0, 10 * 1000 * 1000}; /* out of descriptors: let some close */
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

/* The listening socket of addr (port 0: any free port, read back into *port). */
static int open_listener(const struct sockaddr_in *addr, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in bound;
    socklen_t len = sizeof(bound);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *port = ntohs(bound.sin_port);
    return fd;
}

static void stop_workers(sf_http *http)
{
    for (int i = 0; i < http->worker_count; i++) {
        MHD_stop_daemon(http->workers[i].daemon);
        http->workers[i].daemon = NULL;
    }
    http->worker_count = 0;
}

static void close_listener(sf_http *http)
{
    if (http->listen_fd >= 0) {
        close(http->listen_fd);
    }
    if (http->wake_fd >= 0) {
        close(http->wake_fd);
    }
    http->listen_fd = http->wake_fd = -1;
}

static void free_secrets(sf_http *http)
{
    if (http->key_pem != NULL) {
        gnutls_memset(http->key_pem, 0, strlen(http->key_pem));
        free(http->key_pem);
    }
    free(http->cert_pem);
    free(http->trust_pem);
    sf_tls_key_free(http->tls_key);
}

/* keys/tls.key, tls.pem, station-ca.pem; or for keys/tls.uri the token key for tls.pem. */
static sf_status load_tls(sf_http *http, const char *dir)
{
    char path[1200];
    bool token = sf_service_key_ref(dir, "tls", path, sizeof(path));
    sf_status st = token ? SF_OK : sfc_read_file(path, &http->key_pem, NULL);
    char key_ref[1200];
    snprintf(key_ref, sizeof(key_ref), "%s", path);
    snprintf(path, sizeof(path), "%s/tls.pem", dir);
    if (st == SF_OK) {
        st = sfc_read_file(path, &http->cert_pem, NULL);
    }
    snprintf(path, sizeof(path), "%s/station-ca.pem", dir);
    if (st == SF_OK) {
        st = sfc_read_file(path, &http->trust_pem, NULL);
    }
    if (st != SF_OK) {
        return SF_CONFIG;
    }
    return token ? sf_tls_key_open(key_ref, http->cert_pem, &http->tls_key) : SF_OK;
}

sf_status sf_http_start(sf_service *svc, const char *listen, int threads, FILE *log, sf_http **out)
{
    *out = NULL;
    struct sockaddr_in addr;
    if (parse_listen(listen, &addr) != 0) {
        return SF_INVALID_ARGUMENT;
    }
    sf_http *http = calloc(1, sizeof(*http));
    if (http == NULL) {
        return SF_INTERNAL;
    }
    http->svc = svc;
    http->log = log;
    http->listen_fd = http->wake_fd = -1;
    pthread_mutex_init(&http->log_lock, NULL);
    pthread_mutex_init(&http->worker_lock, NULL);
    sf_status st = load_tls(http, svc->dir);
    if (st != SF_OK) {
        free_secrets(http);
        pthread_mutex_destroy(&http->log_lock);
        free(http);
        return st;
    }
    st = sf_db_checkpointer_start(svc->db_url[0] ? svc->db_url : NULL, svc->dir,
                                  &http->checkpointer);
    sf_service_db_drop_pool(svc); /* connections opened before still checkpoint on commit */
    if (st != SF_OK) {
        free_secrets(http);
        pthread_mutex_destroy(&http->log_lock);
        free(http);
        return st;
    }
    /* The server key: PEM in memory, or the token key through the certificate callback. */
    struct MHD_OptionItem key_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, http->key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, http->cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (http->tls_key != NULL) {
        key_opts[0] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, sf_tls_key_callback()};
        key_opts[1] = key_opts[2];
    }
    http->listen_fd = open_listener(&addr, &http->port);
    http->wake_fd = eventfd(0, EFD_CLOEXEC);
    int n = threads > 0 ? (threads < MAX_WORKERS ? threads : MAX_WORKERS) : 4;
    int ok = http->listen_fd >= 0 && http->wake_fd >= 0;
    for (int i = 0; ok && i < n; i++) {
        http_worker *w = &http->workers[i];
        w->http = http;
        w->daemon = MHD_start_daemon(
            MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
            0, NULL, NULL, on_request, http, MHD_OPTION_ARRAY, key_opts, MHD_OPTION_HTTPS_MEM_TRUST,
            http->trust_pem, MHD_OPTION_HTTPS_PRIORITIES, svc->cfg.tls_priorities,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, http, MHD_OPTION_NOTIFY_CONNECTION,
            on_connection, w, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)((1000 + n - 1) / n), MHD_OPTION_END);
        ok = w->daemon != NULL;
        http->worker_count += ok;
    }
    if (ok && pthread_create(&http->acceptor, NULL, accept_main, http) != 0) {
        ok = 0;
    }
    if (!ok) {
        stop_workers(http);
        close_listener(http);
        sf_db_checkpointer_stop(http->checkpointer);
        free_secrets(http);
        pthread_mutex_destroy(&http->worker_lock);
        pthread_mutex_destroy(&http->log_lock);
        free(http);
        return SF_TRANSPORT;
    }
    *out = http;
    return SF_OK;
}

int sf_http_port(const sf_http *http)
{
    return http->port;
}

void sf_http_stop(sf_http *http)
{
    if (http == NULL) {
        return;
    }
    uint64_t one = 1;
    if (write(http->wake_fd, &one, sizeof(one)) == (ssize_t)sizeof(one)) {
        pthread_join(http->acceptor, NULL);
    }
    close_listener(http);
    stop_workers(http);
    sf_db_checkpointer_stop(http->checkpointer);
    free_secrets(http);
    pthread_mutex_destroy(&http->worker_lock);
    pthread_mutex_destroy(&http->log_lock);
    free(http);
}
