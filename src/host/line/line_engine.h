/* The line engine: carries bundles to many devices at once from one process (one epoll loop),
 * with retries on transport faults and a record of every attempt. A factory's own tool calls
 * it the way factory_tool's inject, inject-batch and write do: fill a line_engine, call
 * line_engine_run with the devices, and print each device's result from on_finished.
 *
 *   line_engine e = {.mode = LINE_MODE_INJECT, .fcu = f, .records = rec, .station = "st1",
 *                    .parallel = 16, .max_tries = 4, .timeout = 30, .backoff = 0.1,
 *                    .on_finished = print_line, .user = ctx};
 *   int rc = line_engine_run(&e, list.items, list.count);   0 when every device succeeded
 *
 * The engine prints nothing and installs no signal handler; line_engine_stop (safe from a
 * signal handler) ends a run early, the devices in flight then finish as interrupted. */
#ifndef KILN_LINE_ENGINE_H
#define KILN_LINE_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "fcu/fcu.h"
#include "line_conn.h"
#include "line_devices.h"
#include "line_records.h"

typedef enum line_mode {
    LINE_MODE_INJECT, /* prepare with the configurator, send, receive, verify */
    LINE_MODE_WRITE,  /* send pre-made bundles (DIR/EP.cbor), store raw answers (DIR/EP.cbor) */
} line_mode;

typedef enum line_outcome {
    LINE_JOB_PENDING,
    LINE_JOB_SUCCEEDED, /* verified (inject) or answer stored (write) or frame written (file) */
    LINE_JOB_FAILED,
    LINE_JOB_SKIPPED, /* already provisioned */
    LINE_JOB_INTERRUPTED,
} line_outcome;

struct line_engine;

/** One device's run. The fields above "private" are its result, valid in on_finished. */
typedef struct line_job {
    const line_device *dev;
    line_address addr;
    line_outcome outcome;
    int status; /* 0 or the numbered error (FCU, LINE_E_*) */
    char message[1024];
    int tries;
    int device_status; /* the device's ReturnStatus, -1 when it gave none */
    bool has_response; /* response holds the device's checked answer (inject) */
    fcu_device_response_status response;
    line_identity identity; /* of the bundle carried last */
    /* private */
    struct line_engine *engine;
    line_conn conn;
    bool conn_ready, waiting_retry, started;
    bool holds_address; /* started and not finished: its address is busy */
    int addr_slot;      /* index in the engine's busy counts shared by one address (-1: none) */
    int step;
    int64_t record_id;
    uint8_t *frame;
    size_t frame_len;
    fcu_device_request *request; /* the bundle being carried (owns the operation context) */
    double t_configurator, t_exchange;
} line_job;

typedef void (*line_job_fn)(void *user, struct line_engine *e, line_job *j);
typedef void (*line_log_fn)(void *user, const char *text);

typedef struct line_engine {
    /* Set by the caller. */
    line_mode mode;
    fcu *fcu;              /* inject: the configurator */
    line_records *records; /* may be NULL (records disabled) */
    const char *station;
    const char *bundles_dir, *answers_dir; /* write */
    int parallel, max_tries;
    double timeout, backoff;     /* seconds: per exchange; before the first resend (doubles) */
    bool reprovision;            /* provision endpoints the records say are done */
    line_job_fn on_finished;     /* each device's result, in the order they finish */
    void (*on_turn)(void *user); /* after a records turn's on_finished calls (may be NULL):
                                  * a caller that collects the turn's lines writes them here */
    line_log_fn on_log;          /* retries and other notes (may be NULL) */
    /* Records grouping (0: defaults parallel / 2, at most 64, and 0.05 s): the rows of up to
     * `group` devices go into one transaction, at the latest group_delay after the first of them
     * finished. A device's started row still commits before its bundle is sent, and a device is
     * reported (on_finished) only after its final row committed. */
    int group;
    double group_delay;
    void *user;
    /* Results. */
    char batch[64];
    size_t njobs, started;
    size_t succeeded, failed, skipped, interrupted;
    double t_configurator, t_exchange, t_records, t_start;
    /* private */
    line_job *jobs;
    int running;
    int *busy;      /* per address slot: jobs started and not finished on it */
    int *addr_head; /* per address slot: its next job not started (-1: none) */
    int *next_same; /* per job: the next job of its address slot, in list order (-1: none) */
    int *ready;     /* min-heap of job indices that may start now (their address is free) */
    size_t n_ready;
    line_job **done; /* finished; final rows not yet committed, not yet reported */
    size_t n_done;
    line_job **sending; /* prepared in this turn: sent once their started rows committed */
    int n_sending;
    line_records_start *starts; /* a turn's started rows (one per job in sending) */
    line_records_end *ends;     /* a turn's final rows (one per job in done) */
    double wait_since; /* when the first of `done` finished (0: none) */
    line_loop *loop;
    volatile sig_atomic_t stop;
} line_engine;

/** Runs every device; returns 0 when none failed, 1 otherwise, -1 when it could not start. */
int line_engine_run(line_engine *e, const line_device *devices, size_t count);
/** Ends a run soon (async-signal-safe). */
void line_engine_stop(line_engine *e);

/** The record state of a finished job (LINE_STATE_SUCCESS, _WRITTEN, _FAILED, ...). */
const char *line_job_state(const line_job *j);

/** Builds the request frame for a bundle or a secure-factory payload (malloc'ed). */
int line_frame_request(const uint8_t *payload, size_t len, uint8_t **frame, size_t *frame_len);

#endif
