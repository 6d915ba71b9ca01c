#include "line_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "line_errors.h"

double line_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_number(const char *s, uint32_t max, uint32_t *out)
{
    if (*s == '\0') {
        return false;
    }
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max) {
            return false;
        }
    }
    *out = (uint32_t)v;
    return true;
}

int line_address_parse(const char *text, line_address *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof(*out));
    const char *rest;
    if (strncmp(text, "tcp:", 4) == 0) {
        /* An IPv6 host may be bracketed, tcp:[::1]:5000, as in a URL; the last colon is the port's.
         */
        rest = text + 4;
        const char *colon = strrchr(rest, ':');
        const char *close = rest[0] == '[' ? strchr(rest, ']') : NULL;
        size_t skip = close != NULL ? 1 : 0;
        size_t host_len = colon != NULL ? (size_t)(colon - rest) - 2 * skip : 0;
        if (colon == NULL || colon == rest || host_len == 0 || host_len >= sizeof(out->host) ||
            (rest[0] == '[' && (close == NULL || close + 1 != colon)) ||
            !parse_number(colon + 1, 65535, &out->port) || out->port == 0) {
            snprintf(why, why_size, "address '%s' is not tcp:HOST:PORT (tcp:[IPv6]:PORT)", text);
            return -1;
        }
        out->transport = LINE_TCP;
        memcpy(out->host, rest + skip, host_len);
        return 0;
    }
    if (strncmp(text, "serial:", 7) == 0) {
        rest = text + 7;
        const char *at = strrchr(rest, '@');
        size_t n = at ? (size_t)(at - rest) : strlen(rest);
        out->port = 115200;
        if (n == 0 || n >= sizeof(out->host) ||
            (at != NULL && !parse_number(at + 1, 4000000, &out->port))) {
            snprintf(why, why_size, "address '%s' is not serial:TTY[@BAUD]", text);
            return -1;
        }
        out->transport = LINE_SERIAL;
        memcpy(out->host, rest, n);
        return 0;
    }
    if (strncmp(text, "file:", 5) == 0 && text[5] != '\0' && strlen(text + 5) < sizeof(out->host)) {
        out->transport = LINE_FILE;
        strcpy(out->host, text + 5);
        return 0;
    }
    snprintf(why, why_size, "address '%s' must start with tcp:, serial: or file:", text);
    return -1;
}

void line_address_format(const line_address *a, char *buf, size_t size)
{
    switch (a->transport) {
    case LINE_TCP:
        snprintf(buf, size, strchr(a->host, ':') != NULL ? "tcp:[%s]:%u" : "tcp:%s:%u", a->host,
                 a->port);
        break;
    case LINE_SERIAL:
        snprintf(buf, size, "serial:%s@%u", a->host, a->port);
        break;
    default:
        snprintf(buf, size, "file:%s", a->host);
        break;
    }
}

/* ---- connection ------------------------------------------------------------------------ */

struct line_loop {
    line_conn **conns;
    size_t nconns, cap;
    struct line_timer {
        double at;
        line_timer_fn fn;
        void *arg;
    } * timers;
    size_t ntimers, tcap;
    volatile int stop;
    int epfd; /* every connection's fd, edge-triggered: a wait costs what is ready, not all */
};

void line_conn_init(line_conn *c, const line_address *addr, double timeout, uint32_t max_length)
{
    memset(c, 0, sizeof(*c));
    c->addr = *addr;
    c->timeout = timeout;
    c->max_length = max_length;
    c->fd = -1;
    ftcd_reader_init(&c->reader, FTCD_KIND_RESPONSE, max_length);
}

/* The frame is the caller's (it keeps it for a resend and wipes it): only forgotten here. */
static void drop_output(line_conn *c)
{
    c->out = NULL;
    c->out_len = c->out_off = 0;
}

static void close_fd(line_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd); /* leaves the loop's epoll set with it */
        c->fd = -1;
    }
    c->watched = false;
    c->ready = 0;
}

void line_conn_close(line_conn *c)
{
    close_fd(c);
    drop_output(c);
    ftcd_frame_free(&c->frame);
    ftcd_reader_free(&c->reader);
    c->state = LINE_CONN_IDLE;
}

static void complete(line_conn *c)
{
    c->state = LINE_CONN_IDLE;
    drop_output(c);
    if (c->on_done != NULL) {
        c->on_done(c->user, c);
    }
}

/* Fails the request with code; detail (may be NULL) is appended to the original text. */
static void fail(line_conn *c, int code, const char *arg1, const char *arg2, const char *detail)
{
    char head[256];
    line_error_format(head, sizeof(head), code, arg1, arg2);
    if (detail != NULL && *detail) {
        /* a long detail is cut at the end of error_text */
        if (snprintf(c->error_text, sizeof(c->error_text), "%s: %s", head, detail) < 0) {
            c->error_text[0] = '\0';
        }
    } else {
        snprintf(c->error_text, sizeof(c->error_text), "%s", head);
    }
    c->error = code;
    close_fd(c);
    complete(c);
}

static void fail_connect(line_conn *c, const char *detail)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", c->addr.port);
    fail(c, LINE_E_TCP_CONNECT, c->addr.host, port, detail);
}

static int loop_watch(struct line_loop *lp, line_conn *c);
static bool send_some(line_conn *c);

/* A new fd joins the loop the connection is in; false (the request failed) when it cannot. */
static bool watch_new_fd(line_conn *c)
{
    if (c->loop == NULL || loop_watch(c->loop, c) == 0) {
        return true;
    }
    char detail[300];
    snprintf(detail, sizeof(detail), "cannot watch the connection: %s", strerror(errno));
    fail(c, LINE_E_GENERAL, detail, NULL, NULL);
    return false;
}

/* Lists serial ports present on this machine, for error 1014. */
static void list_serial_ports(char *buf, size_t size)
{
    static const char *patterns[] = {"/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyS*", "/dev/ttyAMA*"};
    size_t out = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        glob_t g;
        if (glob(patterns[i], 0, NULL, &g) != 0) {
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc && out + 2 < size; k++) {
            int n = snprintf(buf + out, size - out, "%s%s", out ? ", " : "", g.gl_pathv[k]);
            if (n < 0 || (size_t)n >= size - out) {
                break;
            }
            out += (size_t)n;
        }
        globfree(&g);
    }
}

static speed_t baud_constant(uint32_t baud)
{
    switch (baud) {
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 230400:
        return B230400;
    case 460800:
        return B460800;
    case 921600:
        return B921600;
    case 1000000:
        return B1000000;
    case 2000000:
        return B2000000;
    case 115200:
    default:
        return B115200;
    }
}

static int open_serial(line_conn *c)
{
    struct stat st;
    if (stat(c->addr.host, &st) != 0) {
        char ports[512];
        list_serial_ports(ports, sizeof(ports));
        if (ports[0] == '\0') {
            fail(c, LINE_E_NO_SERIAL_PORT, NULL, NULL, c->addr.host);
        } else {
            fail(c, LINE_E_SERIAL_NOT_CONNECTED, c->addr.host, ports, NULL);
        }
        return -1;
    }
    int fd = open(c->addr.host, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct termios tio;
    if (fd < 0 || tcgetattr(fd, &tio) != 0) {
        char detail[300];
        snprintf(detail, sizeof(detail), "%s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fail(c, LINE_E_SERIAL_CONNECT, c->addr.host, NULL, detail);
        return -1;
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    cfsetispeed(&tio, baud_constant(c->addr.port));
    cfsetospeed(&tio, baud_constant(c->addr.port));
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        char detail[300];
        snprintf(detail, sizeof(detail), "%s", strerror(errno));
        close(fd);
        fail(c, LINE_E_SERIAL_CONNECT, c->addr.host, NULL, detail);
        return -1;
    }
    c->fd = fd;
    return watch_new_fd(c) ? 0 : -1;
}

/* The address to connect to: a numeric host (the usual line: a list of IP addresses) is
 * converted directly, a name is resolved. Returns 0, or -1 with the request failed. */
static int tcp_target(line_conn *c, struct sockaddr_storage *sa, socklen_t *len)
{
    memset(sa, 0, sizeof(*sa));
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, c->addr.host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)c->addr.port);
        *len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, c->addr.host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)c->addr.port);
        *len = sizeof(*v6);
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%u", c->addr.port);
    int gai = getaddrinfo(c->addr.host, port, &hints, &res);
    if (gai != 0 || res == NULL || res->ai_addrlen > sizeof(*sa)) {
        fail_connect(c, gai != 0 ? gai_strerror(gai) : "no usable address");
        if (res != NULL) {
            freeaddrinfo(res);
        }
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int start_tcp_connect(line_conn *c)
{
    struct sockaddr_storage sa;
    socklen_t sa_len = 0;
    if (tcp_target(c, &sa, &sa_len) != 0) {
        return -1;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fail_connect(c, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (struct sockaddr *)&sa, sa_len);
    int err = errno;
    c->fd = fd;
    if (rc == 0 || err == EINPROGRESS) {
        /* On loopback (and a fast link) the handshake is over when connect returns: the frame
         * goes at once, and the fd is watched for the writable edge only if it did not. */
        c->state = rc == 0 ? LINE_CONN_SENDING : LINE_CONN_CONNECTING;
        return send_some(c) && watch_new_fd(c) ? 0 : -1;
    }
    fail_connect(c, strerror(err));
    return -1;
}

static void write_file(line_conn *c)
{
    if (c->fd < 0) {
        /* Request frames hold private keys: owner-only. */
        c->fd = open(c->addr.host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (c->fd < 0) {
            char detail[600];
            snprintf(detail, sizeof(detail), "cannot create %s: %s", c->addr.host, strerror(errno));
            fail(c, LINE_E_GENERAL, detail, NULL, NULL);
            return;
        }
    }
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            char detail[600];
            snprintf(detail, sizeof(detail), "cannot write %s: %s", c->addr.host, strerror(errno));
            fail(c, LINE_E_GENERAL, detail, NULL, NULL);
            return;
        }
        c->out_off += (size_t)w;
    }
    c->t_sent = c->t_answer = line_now();
    complete(c);
}

void line_conn_request(line_conn *c, const uint8_t *frame, size_t len)
{
    ftcd_frame_free(&c->frame);
    ftcd_reader_reset(&c->reader);
    drop_output(c);
    c->error = 0;
    c->error_text[0] = '\0';
    c->answered = false;
    c->t_request = line_now();
    c->t_sent = c->t_answer = 0;
    c->deadline = c->timeout > 0 ? c->t_request + c->timeout : 0;
    c->out = frame;
    c->out_len = len;
    c->out_off = 0;

    switch (c->addr.transport) {
    case LINE_FILE:
        write_file(c);
        return;
    case LINE_SERIAL:
        if (c->fd < 0 && open_serial(c) != 0) {
            return;
        }
        /* Whatever the line carried before this request (noise, a late answer) is stale. */
        tcflush(c->fd, TCIFLUSH);
        c->state = LINE_CONN_SENDING;
        return;
    case LINE_TCP:
        if (c->fd >= 0) {
            c->state = LINE_CONN_SENDING;
            (void)send_some(c);
            return;
        }
        (void)start_tcp_connect(c);
        return;
    }
}

static bool is_tcp(const line_conn *c)
{
    return c->addr.transport == LINE_TCP;
}

static int loop_want_out(line_conn *c);

/* Sends what the fd takes now; false when the request failed (reported). A connection still
 * connecting that fails here failed to connect: its error (ECONNREFUSED, ...) is the connect's.
 * When the fd takes no more, the next writable edge goes on (the fd watched for it). */
static bool send_some(line_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = is_tcp(c) ? send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                     MSG_NOSIGNAL | MSG_DONTWAIT)
                              : write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->ready &= ~(uint32_t)EPOLLOUT; /* the next edge says when there is room */
            if (loop_want_out(c) != 0) {
                char detail[300];
                snprintf(detail, sizeof(detail), "cannot watch the connection: %s",
                         strerror(errno));
                fail(c, LINE_E_GENERAL, detail, NULL, NULL);
                return false;
            }
            return true;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            const char *detail = strerror(errno);
            if (c->state == LINE_CONN_CONNECTING) {
                fail_connect(c, detail);
            } else if (is_tcp(c)) {
                fail(c, LINE_E_TCP_SEND, NULL, NULL, detail);
            } else {
                fail(c, LINE_E_SERIAL_CONNECT, c->addr.host, NULL, detail);
            }
            return false;
        }
        c->state = LINE_CONN_SENDING; /* connected: bytes went */
        c->out_off += (size_t)w;
    }
    c->t_sent = line_now();
    c->state = LINE_CONN_RECEIVING;
    return true;
}

/* revents: what the fd's edges said; a connect that failed shows EPOLLERR or EPOLLHUP (only
 * then is its error fetched: one syscall less per device). */
static void on_writable(line_conn *c, uint32_t revents)
{
    if (c->state == LINE_CONN_CONNECTING) {
        if ((revents & (EPOLLERR | EPOLLHUP)) != 0) {
            int err = 0;
            socklen_t len = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            fail_connect(c, err != 0 ? strerror(err) : "the connection failed");
            return;
        }
        c->state = LINE_CONN_SENDING;
    }
    (void)send_some(c);
}

static void receive_failed(line_conn *c, const char *detail)
{
    fail(c, is_tcp(c) ? LINE_E_TCP_RECEIVE : LINE_E_SERIAL_READ, NULL, NULL, detail);
}

static void on_readable(line_conn *c)
{
    uint8_t buf[16384];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if ((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
        (n > 0 && (size_t)n < sizeof(buf))) {
        /* all there was is read: the next bytes come with a new edge */
        c->ready &= ~(uint32_t)EPOLLIN;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        char detail[200];
        ftcd_status cut = ftcd_reader_truncation(&c->reader);
        if (n < 0 || !is_tcp(c)) {
            snprintf(detail, sizeof(detail), "%s", n < 0 ? strerror(errno) : "the line closed");
        } else if (cut != FTCD_STATUS_SUCCESS) {
            snprintf(detail, sizeof(detail),
                     "the device closed the connection in the middle of "
                     "its answer (%s)",
                     ftcd_status_name(cut));
        } else {
            snprintf(detail, sizeof(detail),
                     "the device closed the connection without answering "
                     "(it rejected the frame)");
        }
        receive_failed(c, detail);
        return;
    }
    if (c->state != LINE_CONN_RECEIVING) {
        /* Bytes before our request was sent completely: keep them for the reader. */
    }
    size_t pos = 0;
    while (pos < (size_t)n) {
        size_t used = 0;
        ftcd_read_result res = ftcd_reader_feed(&c->reader, buf + pos, (size_t)n - pos, &used);
        pos += used;
        if (res == FTCD_READ_ERROR) {
            ftcd_status why = ftcd_reader_error(&c->reader);
            if (why == FTCD_STATUS_INCONSISTENT_MESSAGE_SIGNATURE) {
                fail(c, LINE_E_INVALID_CHECKSUM, NULL, NULL, NULL);
            } else {
                char detail[200];
                snprintf(detail, sizeof(detail), "unusable answer frame: %s",
                         ftcd_status_text(why));
                fail(c, LINE_E_DEVICE_COMMUNICATION, NULL, NULL, detail);
            }
            return;
        }
        if (res == FTCD_READ_FRAME) {
            ftcd_reader_take(&c->reader, &c->frame);
            c->answered = true;
            c->t_answer = line_now();
            complete(c);
            return;
        }
    }
}

static void on_timeout(line_conn *c)
{
    char detail[160];
    snprintf(detail, sizeof(detail), "no answer within %g s", c->timeout);
    if (c->state == LINE_CONN_CONNECTING) {
        fail_connect(c, "connection timed out");
    } else if (c->state == LINE_CONN_SENDING) {
        if (is_tcp(c)) {
            fail(c, LINE_E_TCP_SEND, NULL, NULL, "timed out");
        } else {
            fail(c, LINE_E_SERIAL_CONNECT, c->addr.host, NULL, "write timed out");
        }
    } else {
        fail(c, LINE_E_TOKEN_TIMEOUT, NULL, NULL, detail);
    }
}

/* ---- loop ------------------------------------------------------------------------------ */

line_loop *line_loop_new(void)
{
    line_loop *lp = calloc(1, sizeof(line_loop));
    if (lp != NULL && (lp->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        free(lp);
        lp = NULL;
    }
    return lp;
}

void line_loop_free(line_loop *lp)
{
    if (lp == NULL) {
        return;
    }
    close(lp->epfd);
    free(lp->conns);
    free(lp->timers);
    free(lp);
}

/* Edge-triggered: what an edge said is kept in c->ready until a read or write finds nothing
 * more, so no wait is needed for what is already known. A TCP connection whose request went
 * out at once is watched for reading only (no writable edge per ACK); the writable edge is
 * asked for when a send finds the socket full or still connecting (loop_want_out). */
static uint32_t watch_events(const line_conn *c)
{
    /* EPOLLRDHUP stays in ready: a close that came with the last bytes (no later edge) is
     * still read as the end. */
    uint32_t events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    return !is_tcp(c) || c->state != LINE_CONN_RECEIVING ? events | EPOLLOUT : events;
}

static int loop_watch(line_loop *lp, line_conn *c)
{
    struct epoll_event ev = {.events = watch_events(c), .data.ptr = c};
    c->ready = 0;
    if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        return -1;
    }
    c->watched = true;
    c->watch_out = (ev.events & EPOLLOUT) != 0;
    return 0;
}

/* The writable edge for a fd watched without it (a later request on the connection that did
 * not go at once); a fd not watched yet asks for it when it is (watch_events). */
static int loop_want_out(line_conn *c)
{
    if (!c->watched || c->watch_out) {
        return 0;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        return -1;
    }
    c->watch_out = true;
    return 0;
}

int line_loop_add(line_loop *lp, line_conn *c)
{
    size_t slot = lp->nconns;
    for (size_t i = 0; i < lp->nconns; i++) {
        if (lp->conns[i] == NULL) {
            slot = i;
            break;
        }
    }
    if (slot == lp->cap) {
        size_t cap = lp->cap ? lp->cap * 2 : 16;
        line_conn **grown = realloc(lp->conns, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        lp->conns = grown;
        lp->cap = cap;
    }
    if (c->fd >= 0 && !c->watched && loop_watch(lp, c) != 0) {
        return -1;
    }
    lp->conns[slot] = c;
    lp->nconns += slot == lp->nconns;
    c->loop = lp;
    return 0;
}

void line_loop_remove(line_loop *lp, line_conn *c)
{
    for (size_t i = 0; i < lp->nconns; i++) {
        if (lp->conns[i] == c) {
            lp->conns[i] = NULL;
        }
    }
    if (c->fd >= 0 && c->watched) {
        epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    }
    c->watched = false;
    c->loop = NULL;
}

int line_loop_timer(line_loop *lp, double at, line_timer_fn fn, void *arg)
{
    if (lp->ntimers == lp->tcap) {
        size_t cap = lp->tcap ? lp->tcap * 2 : 16;
        struct line_timer *grown = realloc(lp->timers, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        lp->timers = grown;
        lp->tcap = cap;
    }
    lp->timers[lp->ntimers].at = at;
    lp->timers[lp->ntimers].fn = fn;
    lp->timers[lp->ntimers].arg = arg;
    lp->ntimers++;
    return 0;
}

void line_loop_stop(line_loop *lp)
{
    lp->stop = 1;
}

static bool in_flight(const line_conn *c)
{
    return c != NULL && c->state != LINE_CONN_IDLE && c->fd >= 0;
}

/* True when what the connection waits for is already known to be there. */
static bool actionable(const line_conn *c)
{
    if (!in_flight(c)) {
        return false;
    }
    uint32_t want = c->state == LINE_CONN_RECEIVING ? EPOLLIN | EPOLLRDHUP : EPOLLOUT;
    return (c->ready & (want | EPOLLERR | EPOLLHUP)) != 0;
}

static void step(line_conn *c)
{
    if (!actionable(c)) {
        return;
    }
    if (c->state == LINE_CONN_RECEIVING) {
        on_readable(c);
    } else {
        on_writable(c, c->ready);
    }
    if (actionable(c) && c->state == LINE_CONN_RECEIVING) {
        on_readable(c); /* sent, and the answer had already arrived */
    }
}

/* Steps every connection that can go on without waiting; returns the earliest deadline or
 * timer (< 0: none) and in *busy whether anything is in flight, in *more whether a connection
 * can go on at once still (a full read buffer). */
static double step_known(line_loop *lp, bool *busy, bool *more)
{
    double wake = -1;
    *busy = *more = false;
    for (size_t i = 0; i < lp->nconns; i++) {
        line_conn *c = lp->conns[i];
        step(c);
        if (lp->conns[i] != c || !in_flight(c)) {
            continue;
        }
        *busy = true;
        *more = *more || actionable(c);
        if (c->deadline > 0 && (wake < 0 || c->deadline < wake)) {
            wake = c->deadline;
        }
    }
    for (size_t i = 0; i < lp->ntimers; i++) {
        if (wake < 0 || lp->timers[i].at < wake) {
            wake = lp->timers[i].at;
        }
    }
    return wake;
}

static void expire(line_loop *lp)
{
    double now = line_now();
    for (size_t i = 0; i < lp->nconns; i++) {
        line_conn *c = lp->conns[i];
        if (in_flight(c) && c->deadline > 0 && now >= c->deadline) {
            on_timeout(c);
        }
    }
    for (size_t i = 0; i < lp->ntimers;) {
        if (lp->timers[i].at <= now) {
            struct line_timer t = lp->timers[i];
            lp->timers[i] = lp->timers[--lp->ntimers];
            t.fn(t.arg);
        } else {
            i++;
        }
    }
}

/* Compacts the slots freed by line_loop_remove. */
static void compact(line_loop *lp)
{
    size_t w = 0;
    for (size_t i = 0; i < lp->nconns; i++) {
        if (lp->conns[i] != NULL) {
            lp->conns[w++] = lp->conns[i];
        }
    }
    lp->nconns = w;
}

static int wait_ms(double wake)
{
    if (wake < 0) {
        return -1;
    }
    double ms = (wake - line_now()) * 1000.0;
    return ms <= 0 ? 0 : (int)(ms + 1);
}

/* The edges of one wait: each connection learns what became ready and goes on. An event of a
 * connection closed earlier in the same batch finds it without fd (or in another loop). */
static void dispatch(line_loop *lp, const struct epoll_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        line_conn *c = evs[i].data.ptr;
        if (c->loop != lp || c->fd < 0 || !c->watched) {
            continue;
        }
        c->ready |= evs[i].events;
        step(c);
    }
}

int line_loop_run(line_loop *lp, line_idle_fn idle, void *arg)
{
    struct epoll_event evs[64];
    int rc = 0;
    while (!lp->stop) {
        bool more = idle != NULL ? idle(arg) : false;
        bool busy, now;
        double wake = step_known(lp, &busy, &now);
        if (!busy && lp->ntimers == 0) {
            if (!more) {
                break;
            }
            continue;
        }
        int got =
            epoll_wait(lp->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), now ? 0 : wait_ms(wake));
        if (got < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        dispatch(lp, evs, got);
        expire(lp);
        compact(lp);
    }
    return rc;
}

bool line_serial_port_available(void)
{
    char first[64];
    list_serial_ports(first, sizeof(first));
    return first[0] != '\0';
}
