/* The line's metrics for factory_tool inject-batch/write --metrics-listen: the Prometheus series
 * (kiln_line_devices_total{outcome,code}, kiln_line_device_seconds, kiln_line_in_flight,
 * kiln_line_devices_remaining, kiln_build_info{version}) and the dashboard's /status.json
 * (counts, failures by code with their texts, the last 20 devices). Each hook is one call. */
#ifndef KILN_LINE_METRICS_H
#define KILN_LINE_METRICS_H

#include <stddef.h>

#include "line_engine.h"

typedef struct line_metrics line_metrics;

/** The registry and its series; NULL when out of memory. */
line_metrics *line_metrics_new(const char *version, size_t devices);
/** Serves /metrics, / and /status.json on ADDR:PORT (plain HTTP); 0, or -1 (bad address, port
 *  taken). */
int line_metrics_listen(line_metrics *m, const char *listen);
/** One finished device (from the engine's on_finished). NULL m does nothing. */
void line_metrics_finished(line_metrics *m, const line_engine *e, const line_job *j);
/** The listener's port (0 when not listening). */
unsigned line_metrics_port(const line_metrics *m);
/** The rendered text (malloc'd), for tests and the bench. */
char *line_metrics_text(line_metrics *m);
void line_metrics_free(line_metrics *m);

#endif
