/* The FTCD listener on blocking descriptors (kiln/ftcd_linux.h): the write side every adapter
 * shares, and the file adapter. */
#include "kiln/ftcd_linux.h"

#include <errno.h>
#include <unistd.h>

int kiln_ftcd_write_pending(kiln_ftcd_listener *l, int fd)
{
    size_t n = 0;
    const uint8_t *p = kiln_ftcd_output(l, &n);
    int rc = 0;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        /* The serial listener always retried EAGAIN; a blocking file never returns it. */
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (w <= 0) {
            rc = -1;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    int saved = errno;
    kiln_ftcd_output_sent(l, kiln_ftcd_pending(l));
    errno = saved;
    return rc;
}

kiln_ftcd_event kiln_ftcd_feed_fd(kiln_ftcd_listener *l, const uint8_t *data, size_t len,
                                  int out_fd, int *write_err)
{
    size_t pos = 0;
    kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
    *write_err = 0;
    do {
        size_t used = 0;
        ev = kiln_ftcd_feed(l, data + pos, len - pos, &used);
        pos += used;
        if (kiln_ftcd_write_pending(l, out_fd) != 0 && *write_err == 0) {
            *write_err = errno != 0 ? errno : EIO;
        }
    } while (ev == KILN_FTCD_CONTINUE && pos < len);
    return ev;
}

static void report_io(const kiln_ftcd_hooks *hooks, bool writing, int err)
{
    if (hooks != NULL && hooks->io_error != NULL) {
        hooks->io_error(hooks->ctx, 0, writing, err);
    }
}

int kiln_ftcd_file_serve(kiln_ftcd_listener *l, int in_fd, int out_fd, const kiln_ftcd_hooks *hooks)
{
    if (hooks != NULL && hooks->stream_begins != NULL) {
        hooks->stream_begins(hooks->ctx, 0);
    }
    kiln_ftcd_stream_begins(l);
    uint8_t buf[65536];
    kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
    int rc = 0;
    while (ev == KILN_FTCD_CONTINUE) {
        ssize_t n = read(in_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            report_io(hooks, false, errno);
            return 1;
        }
        int write_err = 0;
        if (n == 0) {
            ev = kiln_ftcd_end_of_stream(l);
            write_err = kiln_ftcd_write_pending(l, out_fd) != 0 ? errno : 0;
        } else {
            ev = kiln_ftcd_feed_fd(l, buf, (size_t)n, out_fd, &write_err);
        }
        if (write_err != 0) {
            report_io(hooks, true, write_err);
            return 1;
        }
        if (n == 0) {
            break;
        }
    }
    if (ev == KILN_FTCD_END_FAILED ||
        (ev == KILN_FTCD_CLOSE && kiln_ftcd_get_stats(l)->rejected > 0)) {
        rc = 1;
    }
    return rc;
}
