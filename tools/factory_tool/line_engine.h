/* factory_tool line commands: the engine that carries bundles to many devices at once from one
 * process (one poll loop), with retries on transport faults and a record of every attempt.
 * Used by inject (one device), inject-batch and write. */
#ifndef KILN_FT_LINE_ENGINE_H
#define KILN_FT_LINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "fcu/fcu.h"
#include "ft.h"
#include "line_conn.h"
#include "line_devices.h"
#include "line_records.h"

typedef enum lj_mode {
    LJ_INJECT, /* prepare with the configurator, send, receive, verify */
    LJ_WRITE,  /* send pre-made bundles (DIR/EP.cbor), store raw answers (DIR/EP.cbor) */
} lj_mode;

typedef enum lj_outcome {
    LJ_PENDING,
    LJ_SUCCEEDED, /* verified (inject) or answer stored (write) or frame written (file) */
    LJ_FAILED,
    LJ_SKIPPED, /* already provisioned */
    LJ_INTERRUPTED,
} lj_outcome;

typedef struct lj_job {
    const line_device *dev;
    line_address addr;
    line_conn conn;
    bool conn_ready;
    struct lj_engine *engine;
    int tries;
    int step;
    int64_t record_id;
    uint8_t *frame;
    size_t frame_len;
    fcu_device_request *request; /* the bundle being carried (owns the operation context) */
    line_identity identity;
    lj_outcome outcome;
    int status;
    char message[1024];
    json_t *device_response;
    int device_status;
    bool waiting_retry;
    bool started;
    double t_configurator, t_exchange;
} lj_job;

typedef struct lj_engine {
    const ft_globals *g;
    lj_mode mode;
    fcu *fcu;
    line_records *records; /* may be NULL (records disabled) */
    const char *station;
    char batch[64];
    const char *bundles_dir, *answers_dir;
    lj_job *jobs;
    size_t njobs, next; /* jobs before `next` have all been started */
    size_t started;
    int parallel, running;
    int max_tries;
    double timeout, backoff;
    bool reprovision;
    bool progress;
    bool single; /* inject: print the seed's final JSON instead of batch lines */
    line_loop *loop;
    /* Totals. */
    size_t succeeded, failed, skipped, interrupted;
    double t_configurator, t_exchange, t_records, t_start;
} lj_engine;

/** Runs every job; returns 0 when none failed. */
int lj_engine_run(lj_engine *e);

/* Shared helpers of the line command files. */
bool lj_option(int argc, char **argv, int *i, const char *name, const char **value);
bool lj_parse_uint(const char *text, unsigned max, unsigned *out);
fcu *lj_open_fcu(const ft_globals *g);
/** Opens the records database (path given or the default in the home directory). Prints the
 *  error and returns NULL on failure. */
line_records *lj_open_records(const ft_globals *g, fcu *f, const char *path, char **path_out);
/** Prints a usage or setup error in the seed's JSON shape (status 1000) and returns 2 or 1. */
int lj_general_error(const ft_globals *g, int exit_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Builds the request frame for a bundle (malloc'ed). */
int lj_frame(const uint8_t *bundle, size_t len, uint8_t **frame, size_t *frame_len);
/** Installs SIGINT/SIGTERM handlers that stop the given loop. */
void lj_stop_on_signals(line_loop *loop);
/** DIR/NAME.EXT into buf. */
void lj_path(char *buf, size_t size, const char *dir, const char *name, const char *ext);

#endif
