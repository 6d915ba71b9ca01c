/* factory_client's command line: one getopt_long table for the program and its commands, so the
 * global options work before or after the command (`factory_client tcp --devices 2`). */
#include "fc.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_STORAGE = 256,
    OPT_FLASH,
    OPT_FACTORY_TRUST,
    OPT_TIME,
    OPT_DEVICES,
    OPT_FOREVER,
    OPT_BIND,
    OPT_PORT,
    OPT_BAUD,
    OPT_INPUT,
    OPT_OUTPUT,
    OPT_TYPE,
    OPT_KEEP_STORAGE,
    OPT_MAX_LENGTH,
    OPT_FAULTS,
    OPT_THREADS,
};

static const struct option long_options[] = {
    {"storage", required_argument, NULL, OPT_STORAGE},
    {"flash", required_argument, NULL, OPT_FLASH},
    {"factory-trust", required_argument, NULL, OPT_FACTORY_TRUST},
    {"time", required_argument, NULL, OPT_TIME},
    {"devices", required_argument, NULL, OPT_DEVICES},
    {"forever", no_argument, NULL, OPT_FOREVER},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"bind", required_argument, NULL, OPT_BIND},
    {"port", required_argument, NULL, OPT_PORT},
    {"baud", required_argument, NULL, OPT_BAUD},
    {"input", required_argument, NULL, OPT_INPUT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"type", required_argument, NULL, OPT_TYPE},
    {"keep-storage", no_argument, NULL, OPT_KEEP_STORAGE},
    {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
    {"faults", required_argument, NULL, OPT_FAULTS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {NULL, 0, NULL, 0},
};

/* Which FC_TAKES_* bit a command-specific option needs (0: a global option). */
static unsigned required_bit(int code)
{
    switch (code) {
    case OPT_BIND:
        return FC_TAKES_BIND;
    case OPT_PORT:
        return FC_TAKES_PORT;
    case OPT_BAUD:
        return FC_TAKES_BAUD;
    case OPT_INPUT:
    case OPT_OUTPUT:
        return FC_TAKES_FILES;
    case OPT_TYPE:
        return FC_TAKES_TYPE;
    case OPT_KEEP_STORAGE:
    case OPT_MAX_LENGTH:
        return FC_TAKES_LINK;
    default:
        return 0;
    }
}

bool fc_parse_u32(const char *text, uint32_t max, uint32_t *out)
{
    if (text == NULL || *text == '\0') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-' || v > max) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || *s == '-') {
        return -1;
    }
    *v = x;
    return 0;
}

static int global_value(int code, const char *value, fc_options *opt)
{
    uint64_t n = 0;
    switch (code) {
    case OPT_STORAGE:
        opt->storage = value;
        return 0;
    case OPT_FLASH:
        opt->flash = value;
        return 0;
    case OPT_FACTORY_TRUST:
        opt->factory_trust = value;
        return 0;
    case OPT_TIME:
        if (parse_u64(value, &opt->time) != 0) {
            fprintf(stderr, "factory_client: --time wants seconds since 1970\n");
            return 2;
        }
        return 0;
    case OPT_DEVICES:
        if (parse_u64(value, &n) != 0 || n == 0 || n > 4096) {
            fprintf(stderr, "factory_client: --devices wants 1..4096\n");
            return 2;
        }
        opt->devices = (int)n;
        return 0;
    case OPT_THREADS:
        if (parse_u64(value, &n) != 0 || n == 0 || n > 256) {
            fprintf(stderr, "factory_client: --threads wants 1..256\n");
            return 2;
        }
        opt->threads = (int)n;
        return 0;
    case OPT_FOREVER:
        opt->forever = true;
        return 0;
    case OPT_FAULTS: {
        char err[256];
        if (fc_faults_parse(value, &opt->faults, err, sizeof(err)) != 0) {
            fprintf(stderr, "factory_client: %s\n", err);
            return 2;
        }
        return 0;
    }
    default:
        opt->verbose++;
        return 0;
    }
}

static int command_value(int code, const char *value, fc_args *args)
{
    switch (code) {
    case OPT_BIND:
        args->bind = value;
        break;
    case OPT_PORT:
        args->port = value;
        break;
    case OPT_BAUD:
        args->baud = value;
        break;
    case OPT_INPUT:
        args->input = value;
        break;
    case OPT_OUTPUT:
        args->output = value;
        break;
    case OPT_TYPE:
        args->type = value;
        break;
    case OPT_KEEP_STORAGE:
        args->keep_storage = true;
        break;
    default:
        if (!fc_parse_u32(value, UINT32_MAX, &args->max_length) || args->max_length == 0) {
            fprintf(stderr, "factory_client: --max-length needs a positive number of bytes\n");
            return 2;
        }
        break;
    }
    return 0;
}

static int refuse(int argc, char **argv, int code, int longindex, void (*usage)(void))
{
    if (longindex >= 0) {
        fprintf(stderr, "factory_client: error %d: --%s does not apply to this command\n",
                (int)FCC_STATUS_INVALID_PARAMETER, long_options[longindex].name);
    } else {
        /* getopt has moved optind past the option it could not use. */
        const char *shown = optind - 1 < argc ? argv[optind - 1] : "?";
        fprintf(stderr, "factory_client: error %d: %s %s\n", (int)FCC_STATUS_INVALID_PARAMETER,
                shown, code == ':' ? "needs a value" : "is an unknown option");
    }
    usage();
    return 2;
}

int fc_parse_options(int argc, char **argv, unsigned takes, bool stop_at_operand,
                     void (*usage)(void), fc_options *opt, fc_args *args, int *first)
{
    optind = 0; /* glibc: start over, this table is used once per command */
    opterr = 0;
    const char *shortopts = stop_at_operand ? "+:vh" : ":vh";
    int code;
    int longindex = -1;
    while ((code = getopt_long(argc, argv, shortopts, long_options, &longindex)) != -1) {
        unsigned bit = required_bit(code);
        int rc = 0;
        if (code == 'h') {
            fc_usage(stdout);
            return -1;
        } else if (code == '?' || code == ':') {
            rc = refuse(argc, argv, code, -1, usage);
        } else if (bit != 0 && (takes & bit) == 0) {
            rc = refuse(argc, argv, code, longindex, usage);
        } else if (bit != 0) {
            rc = command_value(code, optarg, args);
        } else {
            rc = global_value(code, optarg, opt);
        }
        if (rc != 0) {
            return rc;
        }
        longindex = -1;
    }
    *first = optind;
    return 0;
}

int fc_check_options(const fc_options *opt)
{
    if (opt->storage && opt->flash) {
        fprintf(stderr, "factory_client: choose --storage or --flash, not both\n");
        return 2;
    }
    if (opt->faults.power_cut > 0 && opt->flash == NULL) {
        fprintf(stderr,
                "factory_client: error %d: --faults: power-cut: needs --flash FILE (the raw-flash "
                "store, whose power can be cut)\n",
                (int)FCC_STATUS_INVALID_PARAMETER);
        return 2;
    }
    return 0;
}

void fc_print_usage(void)
{
    fc_usage(stderr);
}

bool fc_command_options(fc_options *opt, int argc, char **argv, unsigned takes, void (*usage)(void),
                        fc_args *args, int *first, int *exit_code)
{
    memset(args, 0, sizeof(*args));
    int rc = fc_parse_options(argc, argv, takes, false, usage, opt, args, first);
    if (rc == 0) {
        rc = fc_check_options(opt);
    }
    *exit_code = rc < 0 ? 0 : rc;
    return rc == 0;
}
