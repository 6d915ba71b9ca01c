/* factory_client --faults SPEC: the parser (tools/factory_client/faults.c) accepts every fault
 * and refuses each malformed item with FCC_STATUS_INVALID_PARAMETER; the per-device random
 * source is reproducible from seed + index and differs between devices. */
#include <stdio.h>
#include <string.h>

#include "faults.h"
#include "kiln/device.h"
#include "tally_check.h"

static int parse(const char *spec, fc_faults *f)
{
    char err[256] = "";
    int rc = fc_faults_parse(spec, f, err, sizeof(err));
    if (rc != 0) {
        CHECK(strstr(err, "error 3") == err);
    }
    return rc;
}

static void accepted(void)
{
    fc_faults f;
    CHECK(parse("drop=0.02,corrupt=0.02,close=0.01,power-cut=0.01,seed=7", &f) == 0);
    CHECK(f.drop == 0.02 && f.corrupt == 0.02 && f.close == 0.01 && f.power_cut == 0.01);
    CHECK(f.seed == 7 && f.any);
    CHECK(parse("delay=5-40,reject=10:0.5", &f) == 0);
    CHECK(f.delay_min_ms == 5 && f.delay_max_ms == 40 && f.reject_code == 10 && f.reject == 0.5);
    CHECK(parse("delay=12", &f) == 0 && f.delay_min_ms == 12 && f.delay_max_ms == 12);
    CHECK(parse("seed=18446744073709551615", &f) == 0 && f.seed == UINT64_MAX && !f.any);
    CHECK(parse("drop=1,close=0", &f) == 0 && f.drop == 1.0);
}

static void refused(void)
{
    static const char *const bad[] = {
        "",
        "drop",
        "drop=",
        "drop=1.5",
        "drop=-0.1",
        "drop=0.1x",
        "drop=nan",
        "bogus=1",
        "drop=0.1,",
        ",drop=0.1",
        "drop=0.1,,seed=1",
        "drop=0.1,drop=0.2",
        "delay=40-5",
        "delay=-5",
        "delay=5-",
        "delay=700000",
        "reject=0.5",
        "reject=0:0.5",
        "reject=x:0.5",
        "reject=10:2",
        "seed=-1",
        "seed=18446744073709551616",
        "seed=1e3",
        "power-cut=+0.1",
    };
    fc_faults f;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], &f);
        if (rc != (int)FCC_STATUS_INVALID_PARAMETER) {
            fprintf(stderr, "accepted bad spec '%s'\n", bad[i]);
            failures++;
        }
    }
}

static void rng(void)
{
    fc_fault_rng a, b, c;
    fc_fault_rng_init(&a, 7, 3);
    fc_fault_rng_init(&b, 7, 3);
    fc_fault_rng_init(&c, 7, 4);
    int same_other = 0, low = 0;
    for (int i = 0; i < 10000; i++) {
        double x = fc_fault_rng_next(&a), y = fc_fault_rng_next(&b), z = fc_fault_rng_next(&c);
        CHECK(x == y);
        CHECK(x >= 0.0 && x < 1.0);
        same_other += x == z;
        low += x < 0.5;
    }
    CHECK(same_other == 0);
    CHECK(low > 4500 && low < 5500);
}

int main(void)
{
    accepted();
    refused();
    rng();
    if (failures == 0) {
        printf("faults: all checks passed\n");
    }
    return failures == 0 ? 0 : 1;
}
