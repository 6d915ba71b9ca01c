/* factory_client --faults SPEC: the simulator's fault plan (parsed once, read-only after) and
 * a per-device random source seeded from seed + device index, so devices can run in parallel
 * without shared mutable state. */
#ifndef KILN_FC_FAULTS_H
#define KILN_FC_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fc_faults {
    double drop, corrupt, close, power_cut, reject; /* probabilities 0..1 */
    uint32_t delay_min_ms, delay_max_ms;
    int32_t reject_code; /* an fcc status answered instead of the real one */
    uint64_t seed;
    bool any; /* at least one fault is set */
} fc_faults;

/** Parses SPEC (comma list: drop=P delay=MS[-MS] corrupt=P close=P power-cut=P reject=CODE:P
 *  seed=N). Returns 0, or a numbered FCC_STATUS_INVALID_PARAMETER with a reason in err. */
int fc_faults_parse(const char *spec, fc_faults *out, char *err, size_t errlen);

/** One device's random source (splitmix64). */
typedef struct fc_fault_rng {
    uint64_t state;
} fc_fault_rng;

void fc_fault_rng_init(fc_fault_rng *r, uint64_t seed, int device_index);
/** Uniform in [0, 1). */
double fc_fault_rng_next(fc_fault_rng *r);

#endif
