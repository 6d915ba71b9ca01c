/* The per-session crypto bound of the secure-factory service (session_bound.c). */
#ifndef KILN_BENCH_SESSION_BOUND_H
#define KILN_BENCH_SESSION_BOUND_H

#include <time.h>

/** Sessions/s that the service's crypto alone allows on `threads` threads (returned) and on one
 *  (*per_core); -1 when a primitive failed. */
double sf_bench_session_bound(int sessions, int threads, double *per_core);

/** CPU seconds per session of the same crypto on the calling thread (its CPU clock, so the
 *  figure does not depend on what else shares the cores); -1 when a primitive failed. */
double sf_bench_session_bound_cpu(int sessions);

/** Seconds on clock `id` (CLOCK_MONOTONIC, a CPU clock), for the bench and the bound alike. */
double sf_bench_clock_s(clockid_t id);

#endif
