/* The FTCD listener (kiln/ftcd.h) on Linux descriptors: a file, a serial line, TCP connections.
 * Each adapter only moves bytes: read from the descriptor, feed the listener, write what it
 * outputs. What to print and when to stop is the program's (the hooks below). */
#ifndef KILN_FTCD_LINUX_H
#define KILN_FTCD_LINUX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/ftcd.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What the link does with one answer frame (kiln_ftcd_hooks.output may change it). */
typedef struct kiln_ftcd_output_plan {
    size_t len;        /* the frame's length (the hook may rewrite the frame, up to capacity) */
    size_t send;       /* bytes of it to send (len: all); the rest is never sent */
    uint32_t delay_ms; /* wait this long before the first byte */
    bool cut;          /* close the link after those bytes (mid-frame) */
    bool restarted;    /* the program restarted the device: the run's verdict is void */
} kiln_ftcd_output_plan;

/** The program's part in a serving loop; any function may be NULL. index is the device's. */
typedef struct kiln_ftcd_hooks {
    void *ctx;
    bool forever;                      /* after a run ends, restart and serve the next device */
    const volatile sig_atomic_t *stop; /* set by the program's signal handler (may be NULL) */
    void (*stream_begins)(void *ctx, size_t index); /* a connection or stream starts */
    void (*restarted)(void *ctx, size_t index);     /* forever: the next device's run begins */
    /* A read (writing false) or write (true) failed with err. */
    void (*io_error)(void *ctx, size_t index, bool writing, int err);
    /* Sees each answer frame before its first byte goes out (factory_client --faults): it may
     * rewrite frame[0..capacity) and plan what is sent. With send < len and no cut the rest is
     * dropped and a TCP connection stays open until the peer closes it. */
    void (*output)(void *ctx, size_t index, uint8_t *frame, size_t capacity,
                   kiln_ftcd_output_plan *plan);
} kiln_ftcd_hooks;

/** kiln_ftcd_write_pending's result (and *write_err of kiln_ftcd_feed_fd) when the output hook
 *  cut the link or restarted the device. */
#define KILN_FTCD_WRITE_CUT (-2)

/** Asks hooks->output (when set) about the frame now pending; plan gets the defaults otherwise.
 *  Returns the frame (the listener's output buffer). */
uint8_t *kiln_ftcd_plan_output(kiln_ftcd_listener *l, const kiln_ftcd_hooks *hooks, size_t index,
                               kiln_ftcd_output_plan *plan);

/** Writes all pending output to a blocking descriptor and marks it sent, also when the write
 *  fails: the peer cannot take those bytes, and keeping them would send them ahead of the next
 *  answer. hooks (may be NULL) plans the frame first. Returns 0, -1 with errno set, or
 *  KILN_FTCD_WRITE_CUT. */
int kiln_ftcd_write_pending(kiln_ftcd_listener *l, int fd, const kiln_ftcd_hooks *hooks);

/** Feeds one received chunk, writing each answer to the blocking out_fd as it is produced; the
 *  bytes after an event other than CONTINUE are dropped. *write_err is 0, the errno of the
 *  first failed write, or KILN_FTCD_WRITE_CUT (then the rest of the chunk is dropped and the
 *  event is CLOSE). */
kiln_ftcd_event kiln_ftcd_feed_fd(kiln_ftcd_listener *l, const uint8_t *data, size_t len,
                                  int out_fd, const kiln_ftcd_hooks *hooks, int *write_err);

/** file: reads request frames from in_fd to its end, writes the answers to out_fd. Returns 0
 *  when every frame was answered, 1 after a rejected or refused frame or an I/O error. */
int kiln_ftcd_file_serve(kiln_ftcd_listener *l, int in_fd, int out_fd,
                         const kiln_ftcd_hooks *hooks);

/* serial: no connection to close on a serial line; after a rejected frame the device answers
 * with the status-only frame and keeps reading, so the tool can simply resend. */
typedef enum kiln_ftcd_serial_error {
    KILN_FTCD_SERIAL_OPEN = -1,     /* open() failed (errno) */
    KILN_FTCD_SERIAL_NOT_TTY = -2,  /* tcgetattr failed (errno) */
    KILN_FTCD_SERIAL_CONFIG = -3,   /* tcsetattr failed (errno) */
    KILN_FTCD_SERIAL_BAD_BAUD = -4, /* no termios speed for this rate */
} kiln_ftcd_serial_error;

bool kiln_ftcd_serial_baud_supported(uint32_t baud);
/** Opens path raw at baud. Returns the descriptor, or a kiln_ftcd_serial_error. */
int kiln_ftcd_serial_open(const char *path, uint32_t baud);
/** Serves the line until the peer goes away, the run ends (unless forever) or stop is set.
 *  Returns 0 when the last run completed (or forever was stopped), else 1. */
int kiln_ftcd_serial_serve(kiln_ftcd_listener *l, int fd, const kiln_ftcd_hooks *hooks);

/* tcp: one connection at a time per device; a device stops listening when its run ends. */
#define KILN_FTCD_TCP_CHUNK 16384u

typedef struct kiln_ftcd_tcp_device {
    kiln_ftcd_listener *listener;
    int listen_fd;
    int conn_fd;
    kiln_ftcd_event pending_event; /* what to do once the output is sent */
    bool ended;
    bool ended_ok;
    size_t in_off, in_len; /* received bytes not yet fed (waiting for the output to drain) */
    uint8_t in[KILN_FTCD_TCP_CHUNK];
    /* The pending frame as planned by hooks->output. */
    bool planned, hold; /* hold: an answer was dropped; keep the connection until the peer closes */
    kiln_ftcd_output_plan plan;
    uint8_t *frame;
    size_t frame_off;
    double not_before; /* CLOCK_MONOTONIC seconds: a delayed frame waits until then */
} kiln_ftcd_tcp_device;

#define KILN_FTCD_TCP_BAD_ADDRESS (-2)
/** Listens on bind_addr:port (0: any free port), non-blocking. Returns the descriptor, -1 with
 *  errno, or KILN_FTCD_TCP_BAD_ADDRESS for a bind_addr that is not IPv4. shown and *bound_port
 *  receive the address actually bound. */
int kiln_ftcd_tcp_listen(const char *bind_addr, uint16_t port, char *shown, size_t shown_size,
                         uint16_t *bound_port);
void kiln_ftcd_tcp_device_init(kiln_ftcd_tcp_device *d, kiln_ftcd_listener *l, int listen_fd);
/** Serves every device in one poll loop until all runs ended or stop is set. Returns 0, or -1
 *  when poll failed (errno). Each device's ended_ok says how its last run finished. */
int kiln_ftcd_tcp_serve(kiln_ftcd_tcp_device *devs, size_t count, const kiln_ftcd_hooks *hooks);
/** Closes the device's connection and listening socket, if still open. */
void kiln_ftcd_tcp_device_close(kiln_ftcd_tcp_device *d);

#ifdef __cplusplus
}
#endif
#endif
