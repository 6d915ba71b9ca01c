/* factory_client tcp: the device's TCP listener, for one or many simulated devices in one poll
 * loop (device i listens on port P+i, or on a free port each with --port 0). Like the original,
 * each device serves one connection at a time and stops listening when its run ends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fc.h"
#include "transport_link.h"

#define FC_TCP_DEFAULT_PORT 7777

typedef struct tcp_device {
    fc_link link;
    int listen_fd;
    int conn_fd;
    fc_link_event pending_event; /* what to do once the queued bytes are sent */
    bool ended;
    bool ended_ok;
} tcp_device;

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int open_listener(const char *bind_addr, uint16_t port, char *shown, size_t shown_size,
                         uint16_t *bound_port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "factory_client: --bind %s is not an IPv4 address\n", bind_addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("factory_client: socket");
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0) {
        fprintf(stderr, "factory_client: cannot listen on %s:%u: %s\n", bind_addr, port,
                strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    inet_ntop(AF_INET, &sa.sin_addr, shown, (socklen_t)shown_size);
    *bound_port = ntohs(sa.sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Sends what is queued; returns -1 when the peer is gone. */
static int flush_output(tcp_device *d)
{
    while (fc_link_pending(&d->link) > 0) {
        ssize_t n = send(d->conn_fd, d->link.out + d->link.out_off, fc_link_pending(&d->link),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            fc_link_sent(&d->link, (size_t)n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            fc_link_sent(&d->link, fc_link_pending(&d->link));
            return -1;
        }
    }
    return 0;
}

static void close_connection(tcp_device *d)
{
    /* FIN after the last answer, then discard what the peer already sent so that close() does
     * not turn into a reset that could overtake the answer. */
    shutdown(d->conn_fd, SHUT_WR);
    uint8_t sink[4096];
    while (recv(d->conn_fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
    }
    close(d->conn_fd);
    d->conn_fd = -1;
    fc_link_sent(&d->link, fc_link_pending(&d->link));
}

static void after_close(tcp_device *d, fc_link_event ev)
{
    if (ev != FC_LINK_END_OK && ev != FC_LINK_END_FAILED) {
        return;
    }
    d->ended_ok = ev == FC_LINK_END_OK;
    if (d->link.opt->forever) {
        fc_link_restart(&d->link);
        printf("%sFactory Client is waiting for incoming connection...\n", d->link.label);
        fflush(stdout);
        return;
    }
    close(d->listen_fd);
    d->listen_fd = -1;
    d->ended = true;
}

/* Applies the link's verdict once everything queued has been sent. */
static void settle(tcp_device *d)
{
    if (d->conn_fd < 0 || d->pending_event == FC_LINK_CONTINUE) {
        return;
    }
    if (fc_link_pending(&d->link) > 0) {
        return;
    }
    fc_link_event ev = d->pending_event;
    d->pending_event = FC_LINK_CONTINUE;
    close_connection(d);
    after_close(d, ev);
}

static void on_readable(tcp_device *d, uint8_t *buf, size_t buf_size)
{
    ssize_t n = recv(d->conn_fd, buf, buf_size, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    fc_link_event ev;
    if (n > 0) {
        ev = fc_link_input(&d->link, buf, (size_t)n);
    } else {
        ev = fc_link_end_of_stream(&d->link);
        if (ev == FC_LINK_CONTINUE) {
            ev = FC_LINK_CLOSE;
        }
    }
    if (ev != FC_LINK_CONTINUE) {
        d->pending_event = ev;
    }
    if (flush_output(d) != 0 && d->pending_event == FC_LINK_CONTINUE) {
        d->pending_event = FC_LINK_CLOSE;
    }
    settle(d);
}

static void on_acceptable(tcp_device *d)
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
    d->pending_event = FC_LINK_CONTINUE;
    fc_link_connection_begins(&d->link);
}

static int usage(void)
{
    fprintf(stderr, "usage: factory_client [globals] tcp [--bind ADDR] [--port P] "
                    "[--keep-storage] [--max-length BYTES] [--factory-trust FILE]\n");
    return 2;
}

int fc_cmd_tcp(const fc_options *opt, int argc, char **argv)
{
    const char *bind_addr = "127.0.0.1";
    uint32_t port = FC_TCP_DEFAULT_PORT;
    fc_link_settings settings = {0};
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        bool bad = false;
        if (fc_link_common_option(argc, argv, &i, &settings, &bad)) {
            if (bad) {
                return 2;
            }
        } else if (fc_arg_value(argc, argv, &i, "--bind", &value)) {
            if (value == NULL) {
                return usage();
            }
            bind_addr = value;
        } else if (fc_arg_value(argc, argv, &i, "--port", &value)) {
            if (!fc_parse_u32(value, 65535, &port)) {
                fprintf(stderr, "factory_client: --port needs a number 0..65535\n");
                return 2;
            }
        } else {
            fprintf(stderr, "factory_client: tcp: unknown option %s\n", argv[i]);
            return usage();
        }
    }
    int count = opt->devices > 0 ? opt->devices : 1;
    if (port != 0 && port + (uint32_t)count - 1 > 65535) {
        fprintf(stderr, "factory_client: ports %u..%u do not fit\n", port, port + count - 1);
        return 2;
    }
    install_signals();

    tcp_device *devs = calloc((size_t)count, sizeof(*devs));
    struct pollfd *fds = calloc((size_t)count, sizeof(*fds));
    uint8_t *buf = malloc(65536);
    int opened = 0, rc = 1;
    if (devs == NULL || fds == NULL || buf == NULL) {
        fprintf(stderr, "factory_client: out of memory\n");
        goto out;
    }
    for (; opened < count; opened++) {
        tcp_device *d = &devs[opened];
        d->listen_fd = d->conn_fd = -1;
        if (fc_link_open(&d->link, opt, opened, count, &settings) != 0) {
            goto out;
        }
        char shown[INET_ADDRSTRLEN];
        uint16_t bound = 0;
        d->listen_fd = open_listener(bind_addr, port ? (uint16_t)(port + opened) : 0, shown,
                                     sizeof(shown), &bound);
        if (d->listen_fd < 0) {
            opened++;
            goto out;
        }
        printf("%sFactory Client IP Address and Port : %s:%u\n", d->link.label, shown, bound);
        printf("%sFactory Client is waiting for incoming connection...\n", d->link.label);
    }
    fflush(stdout);

    for (;;) {
        int active = 0;
        for (int i = 0; i < count; i++) {
            tcp_device *d = &devs[i];
            fds[i].fd = -1;
            fds[i].events = 0;
            fds[i].revents = 0;
            if (d->conn_fd >= 0) {
                fds[i].fd = d->conn_fd;
                fds[i].events = fc_link_pending(&d->link) > 0 ? POLLOUT : POLLIN;
                active++;
            } else if (!d->ended) {
                fds[i].fd = d->listen_fd;
                fds[i].events = POLLIN;
                active++;
            }
        }
        if (active == 0 || stop_requested) {
            break;
        }
        int n = poll(fds, (nfds_t)count, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("factory_client: poll");
            break;
        }
        for (int i = 0; i < count; i++) {
            tcp_device *d = &devs[i];
            if (fds[i].revents == 0) {
                continue;
            }
            if (d->conn_fd >= 0 && fds[i].fd == d->conn_fd) {
                if (fc_link_pending(&d->link) > 0) {
                    if (flush_output(d) != 0 && d->pending_event == FC_LINK_CONTINUE) {
                        d->pending_event = FC_LINK_CLOSE;
                    }
                    settle(d);
                } else {
                    on_readable(d, buf, 65536);
                }
            } else if (fds[i].fd == d->listen_fd) {
                on_acceptable(d);
            }
        }
    }
    rc = 0;
    for (int i = 0; i < count; i++) {
        if (!devs[i].ended_ok && !(opt->forever && stop_requested)) {
            rc = 1;
        }
    }
out:
    if (opened > 0) {
        fc_link_stats stats = {0};
        for (int i = 0; i < opened; i++) {
            fc_link_stats_add(&stats, &devs[i].link);
        }
        fc_link_stats_print(&stats, opt);
    }
    for (int i = 0; i < opened; i++) {
        if (devs[i].conn_fd >= 0) {
            close(devs[i].conn_fd);
        }
        if (devs[i].listen_fd >= 0) {
            close(devs[i].listen_fd);
        }
        fc_link_close(&devs[i].link);
    }
    free(devs);
    free(fds);
    free(buf);
    return rc;
}
