/* Helpers for the line tests: start programs with a piped stdout, find the port a simulated
 * device listens on, talk to it over real loopback TCP. */
#ifndef KILN_LINE_PROC_H
#define KILN_LINE_PROC_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "line_check.h"

typedef struct line_proc {
    pid_t pid;
    int out_fd; /* the child's stdout */
    char buf[65536];
    size_t len;
} line_proc;

/* Starts argv (NULL-terminated) with stdout piped to us and stderr to ours. */
static inline void proc_start(line_proc *p, char *const argv[])
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    memset(p, 0, sizeof(*p));
    p->pid = fork();
    CHECK(p->pid >= 0);
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    close(fds[1]);
    p->out_fd = fds[0];
}

/* Reads the child's stdout until a line containing prefix appears; copies the rest of that
 * line into rest. Returns false if the child's stdout ends first. */
static inline bool proc_wait_line(line_proc *p, const char *prefix, char *rest, size_t rest_size)
{
    size_t scanned = 0;
    for (;;) {
        while (scanned < p->len) {
            char *nl = memchr(p->buf + scanned, '\n', p->len - scanned);
            if (nl == NULL) {
                break;
            }
            char *line = p->buf + scanned;
            size_t line_len = (size_t)(nl - line);
            scanned += line_len + 1;
            size_t plen = strlen(prefix);
            /* The marker may follow a "[dev N] " label. */
            *nl = '\0';
            char *hit = strstr(line, prefix);
            *nl = '\n';
            if (hit != NULL) {
                size_t after = line_len - (size_t)(hit - line) - plen;
                size_t n = after < rest_size - 1 ? after : rest_size - 1;
                memcpy(rest, hit + plen, n);
                rest[n] = '\0';
                /* Keep what follows for the next call. */
                memmove(p->buf, p->buf + scanned, p->len - scanned);
                p->len -= scanned;
                return true;
            }
        }
        if (p->len == sizeof(p->buf)) {
            p->len = 0;
            scanned = 0;
        }
        ssize_t n = read(p->out_fd, p->buf + p->len, sizeof(p->buf) - p->len);
        if (n <= 0) {
            return false;
        }
        p->len += (size_t)n;
    }
}

/* Waits for the device's "IP:PORT" announcement; returns the port. */
static inline int proc_wait_port(line_proc *p)
{
    char rest[128];
    CHECK(proc_wait_line(p, "Factory Client IP Address and Port : ", rest, sizeof(rest)));
    char *colon = strrchr(rest, ':');
    CHECK(colon != NULL);
    return atoi(colon + 1);
}

/* Reaps the child; returns its exit status, or 128+signal. */
static inline int proc_wait(line_proc *p)
{
    int st = 0;
    CHECK(waitpid(p->pid, &st, 0) == p->pid);
    close(p->out_fd);
    p->pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline int proc_stop(line_proc *p)
{
    kill(p->pid, SIGTERM);
    return proc_wait(p);
}

static inline int tcp_connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        CHECK(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads exactly n bytes (fails the test on EOF first). */
static inline void recv_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0) {
            fprintf(stderr, "connection ended with %zu bytes missing\n", n);
            exit(1);
        }
        p += r;
        n -= (size_t)r;
    }
}

/* Reads until EOF; returns the byte count (at most cap). */
static inline size_t recv_to_eof(int fd, uint8_t *p, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, p + n, cap - n, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return n;
        }
        n += (size_t)r;
        CHECK(n < cap);
    }
}

static inline char *make_temp_dir(const char *tag)
{
    char *dir = malloc(256);
    snprintf(dir, 256, "/tmp/kiln-%s-XXXXXX", tag);
    CHECK(mkdtemp(dir) != NULL);
    return dir;
}

static inline void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

#endif
