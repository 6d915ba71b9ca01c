/* Host side of the factory line: one connection to one device (TCP client, serial line or
 * file), sending request frames and reading response frames without blocking, and an event
 * loop (epoll, edge-triggered) that drives many connections and timers at once. */
#ifndef KILN_LINE_CONN_H
#define KILN_LINE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftcd_frame.h"

typedef enum line_transport {
    LINE_TCP,
    LINE_SERIAL,
    LINE_FILE,
} line_transport;

/** Where a device is: tcp:HOST:PORT, serial:TTY[@BAUD] or file:PATH. */
typedef struct line_address {
    line_transport transport;
    char host[256]; /* TCP host, serial device path or file path */
    uint32_t port;  /* TCP port, or serial baud rate */
} line_address;

/** Parses an address; returns 0, or -1 with a reason in why. */
int line_address_parse(const char *text, line_address *out, char *why, size_t why_size);
/** Formats an address back to its text form. */
void line_address_format(const line_address *a, char *buf, size_t size);

typedef enum line_conn_state {
    LINE_CONN_IDLE,       /* no request in progress (connected or not) */
    LINE_CONN_CONNECTING, /* TCP connect in progress */
    LINE_CONN_SENDING,
    LINE_CONN_RECEIVING,
} line_conn_state;

typedef struct line_conn line_conn;
typedef void (*line_conn_done_fn)(void *user, line_conn *c);

struct line_conn {
    line_address addr;
    double timeout; /* seconds for connect + send + answer; <= 0 waits forever */
    uint32_t max_length;
    line_conn_done_fn on_done;
    void *user;

    /* Private state. */
    int fd;
    line_conn_state state;
    const uint8_t *out; /* the caller's frame, not a copy */
    size_t out_len, out_off;
    ftcd_reader reader;
    double deadline;
    struct line_loop *loop;
    bool watched;   /* fd is in the loop's epoll set */
    bool watch_out; /* ... with EPOLLOUT (a TCP request that went at once needs none) */
    uint32_t ready; /* what the fd's edges said is there (EPOLLIN, EPOLLOUT, ...) */

    /* Result of the last request, valid in on_done. */
    int error;            /* 0 or a LINE_E_* code */
    char error_text[512]; /* full message when error != 0 */
    bool answered;        /* frame holds the device's response frame */
    ftcd_frame frame;     /* owned by the connection until the next request or close */
    double t_request;     /* monotonic time the request started */
    double t_sent;        /* ... last byte sent */
    double t_answer;      /* ... answer complete */
};

double line_now(void);

/** True when the system has a serial port a device could be on (ttyUSB, ttyACM, ttyS, ttyAMA);
 *  the original's error 1013 when there is none. */
bool line_serial_port_available(void);

/** Prepares a connection (does not connect). */
void line_conn_init(line_conn *c, const line_address *addr, double timeout, uint32_t max_length);
/** Starts a request: connects if needed, sends frame, reads one response frame. The frame is
 *  not copied: it must stay as it is until on_done (the caller wipes and frees it).
 *  Completion (success or error) is reported through on_done from the loop; for files, the
 *  frame is written at once and on_done is called before this returns (answered = false). */
void line_conn_request(line_conn *c, const uint8_t *frame, size_t len);
/** Closes the connection and frees buffers. The connection may be initialised again. */
void line_conn_close(line_conn *c);

/* ---- event loop ------------------------------------------------------------------------ */

typedef struct line_loop line_loop;
typedef void (*line_timer_fn)(void *arg);
/** Called whenever the loop is about to wait; returns false when the caller has nothing left
 *  to start (the loop then ends once no connection or timer is pending). */
typedef bool (*line_idle_fn)(void *arg);

line_loop *line_loop_new(void);
void line_loop_free(line_loop *lp);
/** Registers c with the loop (required before line_conn_request for TCP and serial). */
int line_loop_add(line_loop *lp, line_conn *c);
void line_loop_remove(line_loop *lp, line_conn *c);
/** Calls fn(arg) at monotonic time `at`. */
int line_loop_timer(line_loop *lp, double at, line_timer_fn fn, void *arg);
/** Runs until idle returns false and nothing is in flight. Returns 0, or -1 on an epoll error. */
int line_loop_run(line_loop *lp, line_idle_fn idle, void *arg);
/** Makes line_loop_run return soon (from a signal handler: only sets a flag). */
void line_loop_stop(line_loop *lp);

#endif
