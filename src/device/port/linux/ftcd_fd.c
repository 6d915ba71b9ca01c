/* The FTCD listener on blocking descriptors (kiln/ftcd_linux.h): the write side every adapter
 * shares, and the file adapter. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "kiln/ftcd_linux.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

uint8_t *kiln_ftcd_plan_output(kiln_ftcd_listener *l, const kiln_ftcd_hooks *hooks, size_t index,
                               kiln_ftcd_output_plan *plan)
{
    /* A new frame starts at the buffer (kiln_ftcd_output_sent resets the offset). */
    uint8_t *frame = l->cfg.output_buffer + l->out_off;
    size_t len = kiln_ftcd_pending(l);
    plan->len = plan->send = len;
    plan->delay_ms = 0;
    plan->cut = plan->restarted = false;
    if (hooks != NULL && hooks->output != NULL && len > 0 && l->out_off == 0) {
        hooks->output(hooks->ctx, index, frame, l->cfg.output_buffer_size, plan);
        if (plan->len > l->cfg.output_buffer_size) {
            plan->len = l->cfg.output_buffer_size;
        }
        if (plan->send > plan->len) {
            plan->send = plan->len;
        }
    }
    return frame;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int kiln_ftcd_write_pending(kiln_ftcd_listener *l, int fd, const kiln_ftcd_hooks *hooks)
{
    kiln_ftcd_output_plan plan;
    const uint8_t *p = kiln_ftcd_plan_output(l, hooks, 0, &plan);
    size_t n = plan.send;
    if (n > 0 && plan.delay_ms > 0) {
        sleep_ms(plan.delay_ms);
    }
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
    return rc == 0 && (plan.cut || plan.restarted) ? KILN_FTCD_WRITE_CUT : rc;
}

kiln_ftcd_event kiln_ftcd_feed_fd(kiln_ftcd_listener *l, const uint8_t *data, size_t len,
                                  int out_fd, const kiln_ftcd_hooks *hooks, int *write_err)
{
    size_t pos = 0;
    kiln_ftcd_event ev = KILN_FTCD_CONTINUE;
    *write_err = 0;
    do {
        size_t used = 0;
        ev = kiln_ftcd_feed(l, data + pos, len - pos, &used);
        pos += used;
        int rc = kiln_ftcd_write_pending(l, out_fd, hooks);
        if (rc == KILN_FTCD_WRITE_CUT) {
            *write_err = KILN_FTCD_WRITE_CUT;
            return KILN_FTCD_CLOSE;
        }
        if (rc != 0 && *write_err == 0) {
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
            int w = kiln_ftcd_write_pending(l, out_fd, hooks);
            write_err = w == -1 ? errno : w;
        } else {
            ev = kiln_ftcd_feed_fd(l, buf, (size_t)n, out_fd, hooks, &write_err);
        }
        if (write_err == KILN_FTCD_WRITE_CUT) {
            return 1; /* the link was cut mid-frame: the stream ends here */
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
