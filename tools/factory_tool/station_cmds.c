/* factory_tool secure-factory commands (seed 001): new_device, get_device_configuration,
 * handle_device_response, report_error. They relay opaque hex payloads between the secure
 * factory service and the device; the station's identity comes from its station file
 * (--station FILE or $FACTORY_STATION). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft.h"
#include "kiln_station.h"
#include "tool_opt.h"

typedef struct station_args {
    const char *station_file;
    const char *positional[3];
    int count;
} station_args;

enum { OPT_STATION = 256 };

static const struct option station_longopts[] = {
    {"station", required_argument, NULL, OPT_STATION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Accepts --station FILE anywhere after the command name; a lone "-" is a positional argument
 * and "--" ends the options (for an ERROR_CODE below zero). Returns 0, 1 for --help, -1 on a
 * usage error (what says which). */
static int parse_args(int argc, char **argv, station_args *a, char *what, size_t size)
{
    memset(a, 0, sizeof(*a));
    what[0] = '\0';
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", station_longopts, NULL)) != -1) {
        if (c == 'h') {
            return 1;
        }
        if (c == '?' || c == ':') {
            tool_opt_problem(c, argv, what, size);
            return -1;
        }
        a->station_file = optarg;
    }
    for (int i = optind; i < argc; i++) {
        if (a->count == 3) {
            snprintf(what, size, "too many arguments");
            return -1;
        }
        a->positional[a->count++] = argv[i];
    }
    return 0;
}

static int report(sf_status st, const kiln_station_reply *r)
{
    if (r != NULL && r->device_error != 0) {
        fprintf(stderr, "factory_tool: error %d: %s: %s\n", (int)st, sf_status_text(st),
                r->message);
    } else if (r != NULL && r->message[0] != '\0') {
        fprintf(stderr, "factory_tool: error %d: %s\n", (int)st, r->message);
    } else {
        fprintf(stderr, "factory_tool: error %d: %s\n", (int)st, sf_status_text(st));
    }
    return FT_EXIT_FAILED;
}

/* --help (on stdout, exit 0) or a usage error (on stderr, exit 2), never an action. */
static int usage(int parsed, const char *what, const char *text)
{
    FILE *out = parsed == 1 ? stdout : stderr;
    if (parsed != 1 && what[0] != '\0') {
        fprintf(stderr, "factory_tool: %s\n", what);
    }
    fprintf(out, "usage: factory_tool %s [--station FILE]\n", text);
    return parsed == 1 ? FT_EXIT_OK : FT_EXIT_USAGE;
}

static int open_station(const station_args *a, kiln_station **st)
{
    char err[512];
    sf_status s = kiln_station_open(a->station_file, st, err, sizeof(err));
    if (s != SF_OK) {
        fprintf(stderr, "factory_tool: error %d: %s\n", (int)s, err);
        return FT_EXIT_FAILED;
    }
    return FT_EXIT_OK;
}

static int valid_hex(const char *hex)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

static int check_sid(const char *sid)
{
    if (!sf_session_id_valid(sid)) {
        fprintf(stderr, "factory_tool: error %d: %s\n", SF_SESSION_ID_INVALID,
                sf_status_text(SF_SESSION_ID_INVALID));
        return 0;
    }
    return 1;
}

/* Parses the command's arguments (count positional ones, the first a session id). Returns
 * -1 when the command goes on, else its exit status (--help, a usage or session id error). */
static int begin(int argc, char **argv, int count, const char *usage_text, station_args *a)
{
    char what[200];
    int parsed = parse_args(argc, argv, a, what, sizeof(what));
    if (parsed != 0 || a->count != count) {
        return usage(parsed, what, usage_text);
    }
    return check_sid(a->positional[0]) ? -1 : FT_EXIT_FAILED;
}

/* Prints the service's answer (the payload for the device, or the fingerprint of the
 * certificate it recorded) or its error; frees r and closes st. */
static int print_reply(kiln_station *st, sf_status s, kiln_station_reply *r, bool fingerprint_ok)
{
    int rc = FT_EXIT_OK;
    if (s == SF_OK && r->payload != NULL) {
        printf("SCP %d\nPAYLOAD %s\n", r->scp, r->payload);
    } else if (s == SF_OK && fingerprint_ok && r->fingerprint[0] != '\0') {
        printf("FINGERPRINT %s\n", r->fingerprint);
    } else {
        rc = report(s == SF_OK ? SF_PROTOCOL : s, r);
    }
    kiln_station_reply_free(r);
    kiln_station_close(st);
    return rc;
}

int ft_cmd_new_device(const ft_globals *g, int argc, char **argv)
{
    (void)g;
    station_args a;
    kiln_station *st = NULL;
    int rc = begin(argc, argv, 1, "new_device DEVICE_SESSION_ID", &a);
    if (rc >= 0) {
        return rc;
    }
    if (open_station(&a, &st) != FT_EXIT_OK) {
        return FT_EXIT_FAILED;
    }
    kiln_station_reply r;
    sf_status s = kiln_station_new_device(st, a.positional[0], &r);
    return print_reply(st, s, &r, false);
}

static int relay(int argc, char **argv, const char *name,
                 sf_status (*fn)(kiln_station *, const char *, const char *, kiln_station_reply *))
{
    station_args a;
    kiln_station *st = NULL;
    char text[96];
    snprintf(text, sizeof(text), "%s DEVICE_SESSION_ID RESPONSE", name);
    int rc = begin(argc, argv, 2, text, &a);
    if (rc >= 0) {
        return rc;
    }
    if (!valid_hex(a.positional[1])) {
        fprintf(stderr, "factory_tool: error %d: %s\n", SF_HEX_INVALID,
                sf_status_text(SF_HEX_INVALID));
        return FT_EXIT_FAILED;
    }
    if (open_station(&a, &st) != FT_EXIT_OK) {
        return FT_EXIT_FAILED;
    }
    kiln_station_reply r;
    sf_status s = fn(st, a.positional[0], a.positional[1], &r);
    return print_reply(st, s, &r, true);
}

int ft_cmd_get_device_configuration(const ft_globals *g, int argc, char **argv)
{
    (void)g;
    return relay(argc, argv, "get_device_configuration", kiln_station_get_device_configuration);
}

int ft_cmd_handle_device_response(const ft_globals *g, int argc, char **argv)
{
    (void)g;
    return relay(argc, argv, "handle_device_response", kiln_station_handle_device_response);
}

int ft_cmd_report_error(const ft_globals *g, int argc, char **argv)
{
    (void)g;
    station_args a;
    int rc =
        begin(argc, argv, 3, "report_error DEVICE_SESSION_ID [--] ERROR_CODE ERROR_REASON", &a);
    if (rc >= 0) {
        return rc;
    }
    char *end = NULL;
    long code = strtol(a.positional[1], &end, 0);
    if (a.positional[1][0] == '\0' || *end != '\0') {
        fprintf(stderr, "factory_tool: error %d: ERROR_CODE must be a number\n",
                SF_INVALID_ARGUMENT);
        return FT_EXIT_FAILED;
    }
    kiln_station *st = NULL;
    if (open_station(&a, &st) != FT_EXIT_OK) {
        return FT_EXIT_FAILED;
    }
    kiln_station_reply r;
    sf_status s = kiln_station_report_error(st, a.positional[0], code, a.positional[2], &r);
    rc = FT_EXIT_OK;
    if (s == SF_OK) {
        printf("REPORTED %s %ld\n", a.positional[0], code);
    } else {
        rc = report(s, &r);
    }
    kiln_station_reply_free(&r);
    kiln_station_close(st);
    return rc;
}
