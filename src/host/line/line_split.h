/* The seed's separable sub-steps for many devices, without a device in reach:
 * line_prepare_batch makes DIR/ENDPOINT.cbor on every core (one configurator handle per
 * thread), plus DIR/ENDPOINT.ctx for a two-step (by_device) mode; line_verify_batch checks the
 * answers `write` collected and records which devices are provisioned. Given the bundles
 * directory it also finishes two-step sessions: an answer to a first bundle (checked with
 * DIR/ENDPOINT.ctx) becomes the device's second bundle DIR/ENDPOINT.cbor, to be written and
 * verified again. Results come one device at a time through on_result (never concurrently). */
#ifndef KILN_LINE_SPLIT_H
#define KILN_LINE_SPLIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "fcu/fcu.h"
#include "line_devices.h"
#include "line_records.h"

typedef struct line_split_result {
    const line_device *dev;
    int status; /* 0 or the numbered error */
    const char *message;
    const char *state; /* LINE_STATE_PREPARED, _SUCCESS, _SKIPPED or _FAILED */
    const fcu_device_response_status *response; /* verify: the device's answer, or NULL */
} line_split_result;

typedef void (*line_split_fn)(void *user, const line_split_result *r);

typedef struct line_split {
    const fcu_options *fcu_options; /* how each thread opens its configurator */
    const line_device_list *list;
    const char *dir;       /* prepare: where bundles go; verify: where the answers are */
    const char *bundles;   /* verify: the bundles and their .ctx files (NULL: one-step only) */
    line_records *records; /* may be NULL */
    const char *station;
    bool reprovision;
    unsigned jobs; /* prepare: threads (0 = one per core) */
    /* prepare: when archive is set, every bundle (and context) goes into one ustar archive
     * written to archive_fd (the caller opened it, 0600, and closes it) instead of files in
     * dir; each batch of entries is written before its records commit. */
    bool archive;
    int archive_fd;
    line_split_fn on_result;
    /* prepare: when not NULL, called after each batch of on_result calls (one output flush per
     * batch, not per device). */
    void (*on_batch_end)(void *user);
    void *user;
    /* When not NULL and it becomes non-zero (a signal handler sets it), no further device is
     * started; the ones under way finish and are reported. */
    volatile sig_atomic_t *stop;
    /* Totals, set by the run. */
    size_t ok, failed, skipped;
    size_t second; /* verify: devices given a second bundle (prepared, not yet success) */
    double seconds;
} line_split;

/** Both return 0 when no device failed, 1 otherwise. */
int line_prepare_batch(line_split *s);
int line_verify_batch(line_split *s);

#endif
