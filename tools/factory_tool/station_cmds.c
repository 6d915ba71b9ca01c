/* factory_tool secure-factory commands (seed 001): new_device, get_device_configuration,
 * handle_device_response, report_error. They relay opaque hex payloads between the secure
 * factory service and the device; the station's identity comes from its station file
 * (--station FILE or $FACTORY_STATION). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ft.h"
#include "kiln_station.h"
#include "tool_opt.h"

typedef struct station_args {
    const char *station_file;
    const char *urls[KILN_STATION_MAX_URLS]; /* --service-url, in the order given */
    int url_count;
    const char *positional[3];
    int count;
} station_args;

enum { OPT_STATION = 256, OPT_SERVICE_URL };

static const struct option station_longopts[] = {
    {"station", required_argument, NULL, OPT_STATION},
    {"service-url", required_argument, NULL, OPT_SERVICE_URL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Accepts --station FILE and --service-url URL (repeatable) anywhere after the command name; a lone
 * "-" is a positional argument and "--" ends the options (for an ERROR_CODE below zero). Returns 0,
 * 1 for --help, -1 on a usage error (what says which). */
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
        if (c == OPT_SERVICE_URL) {
            if (a->url_count == KILN_STATION_MAX_URLS) {
                snprintf(what, size, "more than %d --service-url", KILN_STATION_MAX_URLS);
                return -1;
            }
            a->urls[a->url_count++] = optarg;
        } else {
            a->station_file = optarg;
        }
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

/* --json of the command being run: the station commands print one JSON object on stdout
 * ({"status": 0, ...} or {"status": CODE, "message": ...}) instead of their lines. */
static bool station_json;

/* Prints o (consumed) as the command's one JSON line. */
static void print_json(json_t *o)
{
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    if (text != NULL) {
        printf("%s\n", text);
        free(text);
    }
    json_decref(o);
}

/* A numbered failure: "factory_tool: error CODE: MESSAGE" on stderr, or its JSON. */
static int fail_with(int code, const char *message, int device_error)
{
    if (!station_json) {
        fprintf(stderr, "factory_tool: error %d: %s\n", code, message);
        return FT_EXIT_FAILED;
    }
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(code));
    json_object_set_new(o, "message", json_string(message));
    if (device_error != 0) {
        json_object_set_new(o, "deviceError", json_integer(device_error));
    }
    print_json(o);
    return FT_EXIT_FAILED;
}

static int report(sf_status st, const kiln_station_reply *r)
{
    char message[700];
    if (r != NULL && r->device_error != 0) {
        snprintf(message, sizeof(message), "%s: %s", sf_status_text(st), r->message);
    } else if (r != NULL && r->message[0] != '\0') {
        snprintf(message, sizeof(message), "%s", r->message);
    } else {
        snprintf(message, sizeof(message), "%s", sf_status_text(st));
    }
    return fail_with((int)st, message, r != NULL ? r->device_error : 0);
}

/* --help (on stdout, exit 0) or a usage error (on stderr, exit 2), never an action. */
static int usage(int parsed, const char *what, const char *text)
{
    FILE *out = parsed == 1 ? stdout : stderr;
    fprintf(out, "usage: factory_tool %s [--station FILE] [--service-url URL]...\n", text);
    if (parsed != 1) {
        fprintf(stderr, "factory_tool: error %d: General error on factory tool: %s\n",
                FT_ERR_GENERAL, what[0] != '\0' ? what : "wrong number of arguments");
    }
    return parsed == 1 ? FT_EXIT_OK : FT_EXIT_USAGE;
}

static int open_station(const station_args *a, kiln_station **st)
{
    char err[512];
    sf_status s = kiln_station_open(a->station_file, st, err, sizeof(err));
    if (s != SF_OK) {
        return fail_with((int)s, err, 0);
    }
    /* --service-url replaces the file's URLs: the replicas to try, in this order. */
    if (a->url_count > 0) {
        s = kiln_station_set_urls(*st, a->urls, a->url_count, err, sizeof(err));
        if (s != SF_OK) {
            kiln_station_close(*st);
            *st = NULL;
            return fail_with((int)s, err, 0);
        }
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
        fail_with(SF_SESSION_ID_INVALID, sf_status_text(SF_SESSION_ID_INVALID), 0);
        return 0;
    }
    return 1;
}

/* Parses the command's arguments (count positional ones, the first a session id). Returns
 * -1 when the command goes on, else its exit status (--help, a usage or session id error). */
static int begin(const ft_globals *g, int argc, char **argv, int count, const char *usage_text,
                 station_args *a)
{
    station_json = g->json != 0;
    char what[200];
    int parsed = parse_args(argc, argv, a, what, sizeof(what));
    if (parsed != 0 || a->count != count) {
        return usage(parsed, what, usage_text);
    }
    return check_sid(a->positional[0]) ? -1 : FT_EXIT_FAILED;
}

/* Prints the service's answer (the payload for the device, or the fingerprint of the
 * certificate it recorded) or its error; frees r and closes st. */
/* A service URL that did not answer, and the one that did: worth the operator's eye. */
static void print_note(const kiln_station_reply *r)
{
    if (r->note[0] != '\0') {
        fprintf(stderr, "factory_tool: note: %s\n", r->note);
    }
}

static int print_reply(kiln_station *st, sf_status s, kiln_station_reply *r, bool fingerprint_ok)
{
    int rc = FT_EXIT_OK;
    print_note(r);
    json_t *o = station_json ? json_object() : NULL;
    json_object_set_new(o, "status", json_integer(0));
    if (s == SF_OK && r->payload != NULL) {
        json_object_set_new(o, "scp", json_integer(r->scp));
        json_object_set_new(o, "payload", json_string(r->payload));
        if (o == NULL) {
            printf("SCP %d\nPAYLOAD %s\n", r->scp, r->payload);
        }
    } else if (s == SF_OK && fingerprint_ok && r->fingerprint[0] != '\0') {
        json_object_set_new(o, "fingerprint", json_string(r->fingerprint));
        if (o == NULL) {
            printf("FINGERPRINT %s\n", r->fingerprint);
        }
    } else {
        json_decref(o);
        o = NULL;
        rc = report(s == SF_OK ? SF_PROTOCOL : s, r);
    }
    if (o != NULL) {
        print_json(o);
    }
    kiln_station_reply_free(r);
    kiln_station_close(st);
    return rc;
}

int ft_cmd_new_device(const ft_globals *g, int argc, char **argv)
{
    station_args a;
    kiln_station *st = NULL;
    int rc = begin(g, argc, argv, 1, "new_device DEVICE_SESSION_ID", &a);
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

static int relay(const ft_globals *g, int argc, char **argv, const char *name,
                 sf_status (*fn)(kiln_station *, const char *, const char *, kiln_station_reply *))
{
    station_args a;
    kiln_station *st = NULL;
    char text[96];
    snprintf(text, sizeof(text), "%s DEVICE_SESSION_ID RESPONSE", name);
    int rc = begin(g, argc, argv, 2, text, &a);
    if (rc >= 0) {
        return rc;
    }
    if (!valid_hex(a.positional[1])) {
        return fail_with(SF_HEX_INVALID, sf_status_text(SF_HEX_INVALID), 0);
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
    return relay(g, argc, argv, "get_device_configuration", kiln_station_get_device_configuration);
}

int ft_cmd_handle_device_response(const ft_globals *g, int argc, char **argv)
{
    return relay(g, argc, argv, "handle_device_response", kiln_station_handle_device_response);
}

int ft_cmd_report_error(const ft_globals *g, int argc, char **argv)
{
    station_args a;
    int rc =
        begin(g, argc, argv, 3, "report_error DEVICE_SESSION_ID [--] ERROR_CODE ERROR_REASON", &a);
    if (rc >= 0) {
        return rc;
    }
    char *end = NULL;
    long code = strtol(a.positional[1], &end, 0);
    if (a.positional[1][0] == '\0' || *end != '\0') {
        return fail_with(SF_INVALID_ARGUMENT, "ERROR_CODE must be a number", 0);
    }
    kiln_station *st = NULL;
    if (open_station(&a, &st) != FT_EXIT_OK) {
        return FT_EXIT_FAILED;
    }
    kiln_station_reply r;
    sf_status s = kiln_station_report_error(st, a.positional[0], code, a.positional[2], &r);
    print_note(&r);
    rc = FT_EXIT_OK;
    if (s == SF_OK && station_json) {
        json_t *o = json_object();
        json_object_set_new(o, "status", json_integer(0));
        json_object_set_new(o, "reported", json_string(a.positional[0]));
        json_object_set_new(o, "errorCode", json_integer(code));
        print_json(o);
    } else if (s == SF_OK) {
        printf("REPORTED %s %ld\n", a.positional[0], code);
    } else {
        rc = report(s, &r);
    }
    kiln_station_reply_free(&r);
    kiln_station_close(st);
    return rc;
}
