/* The FTCD listener on a serial line (or one side of a pseudo-terminal pair). */
#include "kiln/ftcd_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

static bool baud_constant(uint32_t baud, speed_t *out)
{
    static const struct {
        uint32_t baud;
        speed_t constant;
    } table[] = {{9600, B9600},       {19200, B19200},     {38400, B38400},
                 {57600, B57600},     {115200, B115200},   {230400, B230400},
                 {460800, B460800},   {921600, B921600},   {1000000, B1000000},
                 {2000000, B2000000}, {3000000, B3000000}, {4000000, B4000000}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].baud == baud) {
            *out = table[i].constant;
            return true;
        }
    }
    return false;
}

bool kiln_ftcd_serial_baud_supported(uint32_t baud)
{
    speed_t speed;
    return baud_constant(baud, &speed);
}

int kiln_ftcd_serial_open(const char *path, uint32_t baud)
{
    speed_t speed;
    if (!baud_constant(baud, &speed)) {
        return KILN_FTCD_SERIAL_BAD_BAUD;
    }
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        return KILN_FTCD_SERIAL_OPEN;
    }
    struct termios tio;
    int failed = 0;
    if (tcgetattr(fd, &tio) != 0) {
        failed = KILN_FTCD_SERIAL_NOT_TTY;
    } else {
        cfmakeraw(&tio);
        tio.c_cflag |= CLOCAL | CREAD;
        tio.c_cc[VMIN] = 1;
        tio.c_cc[VTIME] = 0;
        cfsetispeed(&tio, speed);
        cfsetospeed(&tio, speed);
        if (tcsetattr(fd, TCSANOW, &tio) != 0) {
            failed = KILN_FTCD_SERIAL_CONFIG;
        }
    }
    if (failed != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return failed;
    }
    return fd;
}

static bool stopped(const kiln_ftcd_hooks *h)
{
    return h->stop != NULL && *h->stop != 0;
}

/* A run ended with ev: decides the exit status and whether to serve on. */
static bool run_ended(kiln_ftcd_listener *l, const kiln_ftcd_hooks *h, kiln_ftcd_event ev,
                      uint32_t rejected_before, int *rc)
{
    if (ev == KILN_FTCD_END_OK) {
        *rc = 0;
    } else if (ev == KILN_FTCD_END_FAILED && l->stats.rejected == rejected_before) {
        /* The device refused the bundle outright (factory disabled). */
        *rc = 1;
    } else {
        /* A rejected frame: the line stays open for the tool to resend. */
        return true;
    }
    if (!h->forever) {
        return false;
    }
    kiln_ftcd_restart(l);
    if (h->restarted != NULL) {
        h->restarted(h->ctx, 0);
    }
    if (h->stream_begins != NULL) {
        h->stream_begins(h->ctx, 0);
    }
    kiln_ftcd_stream_begins(l);
    return true;
}

int kiln_ftcd_serial_serve(kiln_ftcd_listener *l, int fd, const kiln_ftcd_hooks *h)
{
    if (h->stream_begins != NULL) {
        h->stream_begins(h->ctx, 0);
    }
    kiln_ftcd_stream_begins(l);
    uint8_t buf[4096];
    int rc = 1;
    bool serving = true;
    while (serving && !stopped(h)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        uint32_t rejected_before = l->stats.rejected;
        int write_err = 0;
        kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
        if (got > 0) {
            ev = kiln_ftcd_feed_fd(l, buf, (size_t)got, fd, h, &write_err);
        } else {
            ev = kiln_ftcd_end_of_stream(l);
            int w = kiln_ftcd_write_pending(l, fd, h);
            write_err = w == -1 ? errno : w;
        }
        if (write_err == KILN_FTCD_WRITE_CUT) {
            /* No connection to close on a line: what came with the cut frame is forgotten. */
            kiln_ftcd_stream_begins(l);
            write_err = 0;
        }
        if (write_err != 0 && h->io_error != NULL) {
            h->io_error(h->ctx, 0, true, write_err);
        }
        if (got <= 0) {
            /* The other end of the line went away. */
            rc = l->stats.sessions > 0 ? 0 : 1;
            break;
        }
        serving = run_ended(l, h, ev, rejected_before, &rc);
    }
    if (stopped(h) && h->forever) {
        rc = 0;
    }
    tcdrain(fd);
    return rc;
}
