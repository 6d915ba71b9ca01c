/* factory_client --faults SPEC: the strict parser and the per-device random source. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/device.h"

static int fail(char *err, size_t errlen, const char *what, const char *item)
{
    snprintf(err, errlen, "error %d: --faults: %s: %s", (int)FCC_STATUS_INVALID_PARAMETER, item,
             what);
    return (int)FCC_STATUS_INVALID_PARAMETER;
}

static bool parse_prob(const char *s, double *out)
{
    if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *s, const char *stop, uint64_t max, uint64_t *out)
{
    if (s == stop || *s < '0' || *s > '9') {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = s; p < stop; p++) {
        if (*p < '0' || *p > '9' || v > (max - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

static bool parse_delay(const char *v, fc_faults *f)
{
    const char *dash = strchr(v, '-');
    const char *end = v + strlen(v);
    uint64_t a = 0, b = 0;
    if (!parse_u64(v, dash ? dash : end, 600000, &a)) {
        return false;
    }
    b = a;
    if (dash && !parse_u64(dash + 1, end, 600000, &b)) {
        return false;
    }
    if (b < a) {
        return false;
    }
    f->delay_min_ms = (uint32_t)a;
    f->delay_max_ms = (uint32_t)b;
    return true;
}

static bool parse_reject(const char *v, fc_faults *f)
{
    const char *colon = strchr(v, ':');
    uint64_t code = 0;
    if (colon == NULL || !parse_u64(v, colon, 1000000, &code) || code == 0) {
        return false;
    }
    f->reject_code = (int32_t)code;
    return parse_prob(colon + 1, &f->reject);
}

/* One key=value item; NULL when fine, else what is wrong. */
static const char *parse_item(const char *key, const char *v, fc_faults *f, unsigned *seen)
{
    static const char *const keys[] = {"drop",      "delay",  "corrupt", "close",
                                       "power-cut", "reject", "seed"};
    unsigned i = 0;
    while (i < 7 && strcmp(key, keys[i]) != 0) {
        i++;
    }
    if (i == 7) {
        return "unknown fault (drop, delay, corrupt, close, power-cut, reject, seed)";
    }
    if (*seen & (1u << i)) {
        return "given twice";
    }
    *seen |= 1u << i;
    bool ok = false;
    switch (i) {
    case 0:
        ok = parse_prob(v, &f->drop);
        break;
    case 1:
        return parse_delay(v, f) ? NULL : "wants MS or MS-MS (0..600000, low first)";
    case 2:
        ok = parse_prob(v, &f->corrupt);
        break;
    case 3:
        ok = parse_prob(v, &f->close);
        break;
    case 4:
        ok = parse_prob(v, &f->power_cut);
        break;
    case 5:
        return parse_reject(v, f) ? NULL : "wants CODE:P (CODE a positive fcc status, P 0..1)";
    default:
        return parse_u64(v, v + strlen(v), UINT64_MAX, &f->seed) ? NULL
                                                                 : "wants an unsigned number";
    }
    return ok ? NULL : "wants a probability 0..1";
}

int fc_faults_parse(const char *spec, fc_faults *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (spec == NULL || *spec == '\0') {
        return fail(err, errlen, "empty list", "SPEC");
    }
    char buf[512];
    if (strlen(spec) >= sizeof(buf)) {
        return fail(err, errlen, "too long", "SPEC");
    }
    memcpy(buf, spec, strlen(spec) + 1);
    unsigned seen = 0;
    char *save = NULL;
    if (buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,") != NULL) {
        return fail(err, errlen, "empty item", spec);
    }
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            return fail(err, errlen, "wants KEY=VALUE", item);
        }
        *eq = '\0';
        const char *why = parse_item(item, eq + 1, out, &seen);
        if (why != NULL) {
            return fail(err, errlen, why, item);
        }
    }
    out->any = out->drop > 0 || out->corrupt > 0 || out->close > 0 || out->power_cut > 0 ||
               out->reject > 0 || out->delay_max_ms > 0;
    return 0;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fc_fault_rng_init(fc_fault_rng *r, uint64_t seed, int device_index)
{
    /* Mixed, so that seed N+1 is not seed N's sequence shifted by one draw. */
    r->state = mix64(mix64(seed) + 0xD1B54A32D192ED03ull * ((uint64_t)device_index + 1));
}

double fc_fault_rng_next(fc_fault_rng *r)
{
    uint64_t z = mix64(r->state += 0x9E3779B97F4A7C15ull);
    return (double)(z >> 11) / 9007199254740992.0;
}
