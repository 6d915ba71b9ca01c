/* The FTCD listener on TCP: any number of devices in one poll loop, each serving one connection
 * at a time, like the original socket listener. */
#include "kiln/ftcd_linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int kiln_ftcd_tcp_listen(const char *bind_addr, uint16_t port, char *shown, size_t shown_size,
                         uint16_t *bound_port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        return KILN_FTCD_TCP_BAD_ADDRESS;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    inet_ntop(AF_INET, &sa.sin_addr, shown, (socklen_t)shown_size);
    *bound_port = ntohs(sa.sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

void kiln_ftcd_tcp_device_init(kiln_ftcd_tcp_device *d, kiln_ftcd_listener *l, int listen_fd)
{
    memset(d, 0, sizeof(*d));
    d->listener = l;
    d->listen_fd = listen_fd;
    d->conn_fd = -1;
    d->pending_event = KILN_FTCD_CONTINUE;
}

static double tcp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A new frame is pending: the output hook plans it. */
static void plan_frame(kiln_ftcd_tcp_device *d, size_t index, const kiln_ftcd_hooks *h)
{
    d->frame = kiln_ftcd_plan_output(d->listener, h, index, &d->plan);
    d->frame_off = 0;
    d->planned = true;
    d->not_before = d->plan.delay_ms > 0 ? tcp_now() + d->plan.delay_ms / 1000.0 : 0;
}

/* The planned bytes are out (or dropped): the listener's frame is done. */
static void frame_done(kiln_ftcd_tcp_device *d)
{
    kiln_ftcd_output_sent(d->listener, kiln_ftcd_pending(d->listener));
    d->planned = false;
    if (d->plan.restarted || (d->plan.cut && d->pending_event == KILN_FTCD_CONTINUE)) {
        d->pending_event = KILN_FTCD_CLOSE; /* a cut keeps the run's own verdict */
    } else if (d->plan.cut) {
        return;
    } else if (d->plan.send < d->plan.len) {
        d->hold = true; /* dropped: the peer decides when the connection ends */
    }
}

/* Sends what is pending; false when the peer is gone (the output is dropped then). */
static bool flush_output(kiln_ftcd_tcp_device *d, size_t index, const kiln_ftcd_hooks *h)
{
    for (;;) {
        if (kiln_ftcd_pending(d->listener) == 0) {
            return true;
        }
        if (!d->planned) {
            plan_frame(d, index, h);
        }
        if (d->not_before > 0 && tcp_now() < d->not_before) {
            return true; /* delayed: the poll loop comes back */
        }
        d->not_before = 0;
        size_t len = d->plan.send - d->frame_off;
        if (len == 0) {
            frame_done(d);
            continue;
        }
        ssize_t n = send(d->conn_fd, d->frame + d->frame_off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            d->frame_off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else if (!(n < 0 && errno == EINTR)) {
            kiln_ftcd_output_sent(d->listener, kiln_ftcd_pending(d->listener));
            d->planned = false;
            return false;
        }
    }
}

static void close_connection(kiln_ftcd_tcp_device *d)
{
    /* FIN after the last answer, then discard what the peer already sent so that close() does
     * not turn into a reset that could overtake the answer. */
    shutdown(d->conn_fd, SHUT_WR);
    uint8_t sink[4096];
    while (recv(d->conn_fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
    }
    close(d->conn_fd);
    d->conn_fd = -1;
    d->in_off = d->in_len = 0;
    d->planned = d->hold = false;
    d->not_before = 0;
    kiln_ftcd_output_sent(d->listener, kiln_ftcd_pending(d->listener));
}

static void after_close(kiln_ftcd_tcp_device *d, size_t index, const kiln_ftcd_hooks *h)
{
    kiln_ftcd_event ev = d->pending_event;
    d->pending_event = KILN_FTCD_CONTINUE;
    if (ev != KILN_FTCD_END_OK && ev != KILN_FTCD_END_FAILED) {
        return;
    }
    d->ended_ok = ev == KILN_FTCD_END_OK;
    if (h->forever) {
        kiln_ftcd_restart(d->listener);
        if (h->restarted != NULL) {
            h->restarted(h->ctx, index);
        }
        return;
    }
    close(d->listen_fd);
    d->listen_fd = -1;
    d->ended = true;
}

/* Sends, feeds what was received while the output drains, and applies the listener's verdict
 * once everything is sent. */
static void progress(kiln_ftcd_tcp_device *d, size_t index, const kiln_ftcd_hooks *h)
{
    for (;;) {
        if (!flush_output(d, index, h) && d->pending_event == KILN_FTCD_CONTINUE) {
            d->pending_event = KILN_FTCD_CLOSE;
        }
        if (kiln_ftcd_pending(d->listener) > 0) {
            return; /* wait until the socket takes more */
        }
        if (d->pending_event != KILN_FTCD_CONTINUE && !d->hold) {
            close_connection(d);
            after_close(d, index, h);
            return;
        }
        if (d->in_off == d->in_len || d->pending_event != KILN_FTCD_CONTINUE) {
            return;
        }
        size_t used = 0;
        kiln_ftcd_event ev =
            kiln_ftcd_feed(d->listener, d->in + d->in_off, d->in_len - d->in_off, &used);
        d->in_off += used;
        if (ev != KILN_FTCD_CONTINUE) {
            d->pending_event = ev;
            d->in_off = d->in_len; /* what follows a verdict belongs to no frame */
        }
    }
}

static void on_readable(kiln_ftcd_tcp_device *d, size_t index, const kiln_ftcd_hooks *h)
{
    ssize_t n = recv(d->conn_fd, d->in, sizeof(d->in), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (d->hold) {
        if (n <= 0) {
            /* The peer gave up on the dropped answer: the held verdict applies now. */
            d->hold = false;
            if (d->pending_event == KILN_FTCD_CONTINUE) {
                d->pending_event = KILN_FTCD_CLOSE;
            }
        } else if (d->pending_event != KILN_FTCD_CONTINUE) {
            return; /* the run is over; what the peer sends belongs to no frame */
        } else {
            d->hold = false; /* a dropped answer inside a session: go on reading */
            d->in_off = 0;
            d->in_len = (size_t)n;
        }
        progress(d, index, h);
        return;
    }
    if (n > 0) {
        d->in_off = 0;
        d->in_len = (size_t)n;
    } else {
        kiln_ftcd_event ev = kiln_ftcd_end_of_stream(d->listener);
        d->pending_event = ev == KILN_FTCD_CONTINUE ? KILN_FTCD_CLOSE : ev;
    }
    progress(d, index, h);
}

static void on_acceptable(kiln_ftcd_tcp_device *d, size_t index, const kiln_ftcd_hooks *h)
{
    int fd = accept(d->listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    d->conn_fd = fd;
    d->pending_event = KILN_FTCD_CONTINUE;
    d->in_off = d->in_len = 0;
    d->planned = d->hold = false;
    if (h->stream_begins != NULL) {
        h->stream_begins(h->ctx, index);
    }
    kiln_ftcd_stream_begins(d->listener);
}

/* Fills fds for one poll round; returns how many devices still serve. *timeout_ms: -1, or how
 * long until the first delayed frame is due. */
static size_t prepare_poll(const kiln_ftcd_tcp_device *devs, size_t count, struct pollfd *fds,
                           int *timeout_ms)
{
    size_t active = 0;
    double now = tcp_now();
    *timeout_ms = -1;
    for (size_t i = 0; i < count; i++) {
        const kiln_ftcd_tcp_device *d = &devs[i];
        fds[i].fd = -1;
        fds[i].events = 0;
        fds[i].revents = 0;
        if (d->conn_fd >= 0) {
            fds[i].fd = d->conn_fd;
            fds[i].events = kiln_ftcd_pending(d->listener) > 0 ? POLLOUT : POLLIN;
            if (d->not_before > 0) {
                int ms = d->not_before > now ? (int)((d->not_before - now) * 1000.0) + 1 : 0;
                fds[i].events = 0;
                *timeout_ms = *timeout_ms < 0 || ms < *timeout_ms ? ms : *timeout_ms;
            }
            active++;
        } else if (!d->ended) {
            fds[i].fd = d->listen_fd;
            fds[i].events = POLLIN;
            active++;
        }
    }
    return active;
}

static void dispatch(kiln_ftcd_tcp_device *devs, size_t count, const struct pollfd *fds,
                     const kiln_ftcd_hooks *h)
{
    for (size_t i = 0; i < count; i++) {
        kiln_ftcd_tcp_device *d = &devs[i];
        if (d->conn_fd >= 0 && d->not_before > 0 && tcp_now() >= d->not_before) {
            progress(d, i, h); /* a delayed frame is due */
            continue;
        }
        if (fds[i].revents == 0) {
            continue;
        }
        if (d->conn_fd >= 0 && fds[i].fd == d->conn_fd) {
            if (kiln_ftcd_pending(d->listener) > 0) {
                progress(d, i, h);
            } else {
                on_readable(d, i, h);
            }
        } else if (fds[i].fd == d->listen_fd) {
            on_acceptable(d, i, h);
        }
    }
}

int kiln_ftcd_tcp_serve(kiln_ftcd_tcp_device *devs, size_t count, const kiln_ftcd_hooks *h)
{
    struct pollfd *fds = calloc(count > 0 ? count : 1, sizeof(*fds));
    if (fds == NULL) {
        return -1;
    }
    int rc = 0;
    int timeout_ms = -1;
    while (prepare_poll(devs, count, fds, &timeout_ms) > 0 && !(h->stop != NULL && *h->stop)) {
        if (poll(fds, (nfds_t)count, timeout_ms) < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = -1;
            break;
        }
        dispatch(devs, count, fds, h);
    }
    int saved = errno;
    free(fds);
    errno = saved;
    return rc;
}

void kiln_ftcd_tcp_device_close(kiln_ftcd_tcp_device *d)
{
    if (d->conn_fd >= 0) {
        close(d->conn_fd);
        d->conn_fd = -1;
    }
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        d->listen_fd = -1;
    }
}
