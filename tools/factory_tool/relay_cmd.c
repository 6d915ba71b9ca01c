/* factory_tool relay: carries one secure-factory payload (the hex that new_device or
 * get_device_configuration printed) to a device over the factory line (kiln_line's
 * line_relay.h) and prints the device's answer as "RESPONSE <hex>" for the next station
 * command. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft.h"
#include "line_errors.h"
#include "line_relay.h"
#include "tool_opt.h"

/* Longest hex text accepted on stdin: a whole message plus line ends and blanks. */
#define RELAY_HEX_MAX (2 * LINE_RELAY_MESSAGE_MAX + 64)

static const char relay_usage[] =
    "usage: factory_tool relay (--tcp HOST:PORT | --serial TTY [--baud B (115200)])\n"
    "         [-t SECONDS (30)] PAYLOAD_HEX|-\n"
    "  sends one secure-factory payload to the device, prints RESPONSE <hex>\n";

typedef struct relay_args {
    const char *tcp, *serial, *payload;
    unsigned long baud, timeout;
} relay_args;

enum { OPT_TCP = 256, OPT_SERIAL, OPT_BAUD };

static const struct option relay_longopts[] = {
    {"tcp", required_argument, NULL, OPT_TCP},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"baud", required_argument, NULL, OPT_BAUD},
    {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Prints a numbered factory-line error (the station commands' stderr shape, or the seed's JSON
 * with --json) and returns exit_status. */
static int relay_error(const ft_globals *g, int exit_status, int code, const char *text)
{
    if (g->json) {
        ft_print_result(g, code, text, NULL, NULL);
    } else {
        ft_log(g, 1, "relay: error %d: %s", code, text);
        fprintf(stderr, "factory_tool: error %d: %s\n", code, text);
    }
    return exit_status;
}

static int general_error(const ft_globals *g, int exit_status, const char *detail)
{
    char msg[600];
    line_error_format(msg, sizeof(msg), LINE_E_GENERAL, detail, NULL);
    return relay_error(g, exit_status, LINE_E_GENERAL, msg);
}

static int usage_error(const ft_globals *g, const char *detail)
{
    fputs(relay_usage, stderr);
    char text[400];
    snprintf(text, sizeof(text), "relay: %s", detail);
    return general_error(g, FT_EXIT_USAGE, text);
}

/* One option into a; returns NULL or what is wrong. */
static const char *relay_option(int c, relay_args *a)
{
    switch (c) {
    case OPT_TCP:
        a->tcp = optarg;
        return NULL;
    case OPT_SERIAL:
        a->serial = optarg;
        return NULL;
    case OPT_BAUD:
        return tool_opt_uint(optarg, 4000000, &a->baud) && a->baud > 0 ? NULL
                                                                       : "--baud needs a number";
    case 't':
        return tool_opt_uint(optarg, 86400, &a->timeout) && a->timeout > 0
                   ? NULL
                   : "-t needs a number of seconds (1..86400)";
    }
    return "unknown option";
}

/* Returns NULL on success, else what is wrong ("" after --help). */
static const char *parse_args(int argc, char **argv, relay_args *a, char *why, size_t size)
{
    memset(a, 0, sizeof(*a));
    a->baud = 115200;
    a->timeout = 30;
    bool baud_given = false;
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":t:h", relay_longopts, NULL)) != -1) {
        if (c == 'h') {
            return "";
        }
        if (c == '?' || c == ':') {
            tool_opt_problem(c, argv, why, size);
            return why;
        }
        const char *problem = relay_option(c, a);
        if (problem != NULL) {
            return problem;
        }
        baud_given |= c == OPT_BAUD;
    }
    if (optind + 1 < argc) {
        return "exactly one PAYLOAD_HEX is expected";
    }
    a->payload = optind < argc ? argv[optind] : NULL;
    if ((a->tcp == NULL) == (a->serial == NULL)) {
        return "give either --tcp HOST:PORT or --serial TTY";
    }
    if (baud_given && a->serial == NULL) {
        return "--baud goes with --serial";
    }
    return a->payload == NULL ? "PAYLOAD_HEX is required" : NULL;
}

/* Reads the hex text from stdin ("-"), without blanks and line ends. */
static char *read_stdin_hex(void)
{
    char *text = malloc(RELAY_HEX_MAX + 1);
    if (text == NULL) {
        return NULL;
    }
    size_t n = 0;
    int c;
    while ((c = getchar()) != EOF) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (n == RELAY_HEX_MAX) {
            free(text);
            return NULL;
        }
        text[n++] = (char)c;
    }
    text[n] = '\0';
    return text;
}

/* The payload from its hex (or stdin); returns 0 or the exit status after the error. */
static int read_payload(const ft_globals *g, const char *hex, uint8_t **payload, size_t *len)
{
    char *stdin_hex = NULL;
    if (strcmp(hex, "-") == 0 && (hex = stdin_hex = read_stdin_hex()) == NULL) {
        return general_error(g, FT_EXIT_FAILED, "relay: cannot read PAYLOAD_HEX from stdin");
    }
    *payload = malloc(LINE_RELAY_MESSAGE_MAX);
    *len = 0;
    sf_status hex_status =
        *payload != NULL ? sf_hex_decode(hex, *payload, LINE_RELAY_MESSAGE_MAX, len) : SF_INTERNAL;
    free(stdin_hex);
    sf_msg_type type;
    if (hex_status == SF_OK && line_relay_is_request(*payload, *len, &type)) {
        ft_log(g, 1, "relay: %zu-byte payload (type 0x%02x)", *len, (unsigned)type);
        return 0;
    }
    free(*payload);
    *payload = NULL;
    return usage_error(g, hex_status == SF_HEX_INVALID
                              ? "PAYLOAD_HEX is not an even-length hex string"
                              : "PAYLOAD_HEX is not a secure-factory request (the PAYLOAD "
                                "printed by new_device or get_device_configuration)");
}

/* Prints the device's answer; a DEVICE_ERROR is a successful relay too (the service records it
 * when the station passes it on), so it only gets a note on stderr. */
static int print_answer(const ft_globals *g, const line_relay_answer *answer)
{
    char *hex = malloc(2 * answer->len + 1);
    if (hex == NULL) {
        return general_error(g, FT_EXIT_FAILED, "out of memory");
    }
    sf_hex_encode(answer->message, answer->len, hex);
    bool device_error = answer->type == SF_MSG_DEVICE_ERROR && answer->device_error != 0;
    if (device_error) {
        fprintf(stderr,
                "factory_tool: relay: the device reported error %d: %s (pass RESPONSE to "
                "get_device_configuration or handle_device_response to record it)\n",
                answer->device_error, sf_status_text((sf_status)answer->device_error));
    }
    ft_log(g, 1, "relay: answer of %zu bytes, type 0x%02x", answer->len, (unsigned)answer->type);
    if (g->json) {
        json_t *extra = json_object();
        json_object_set_new(extra, "response", json_string(hex));
        if (device_error) {
            json_object_set_new(extra, "deviceError", json_integer(answer->device_error));
        }
        ft_print_result(g, 0, FT_SUCCESS_MESSAGE, NULL, extra);
    } else {
        printf("RESPONSE %s\n", hex);
        fflush(stdout);
    }
    free(hex);
    return FT_EXIT_OK;
}

int ft_cmd_relay(const ft_globals *g, int argc, char **argv)
{
    relay_args a;
    char why[300];
    const char *problem = parse_args(argc, argv, &a, why, sizeof(why));
    if (problem != NULL && problem[0] == '\0') {
        fputs(relay_usage, stdout);
        return FT_EXIT_OK;
    }
    if (problem != NULL) {
        return usage_error(g, problem);
    }
    char text[600];
    if (a.tcp != NULL) {
        snprintf(text, sizeof(text), "tcp:%s", a.tcp);
    } else {
        snprintf(text, sizeof(text), "serial:%s@%lu", a.serial, a.baud);
    }
    line_address addr;
    if (line_address_parse(text, &addr, why, sizeof(why)) != 0) {
        return usage_error(g, why);
    }
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = read_payload(g, a.payload, &payload, &len);
    if (rc != 0) {
        return rc;
    }
    ft_log(g, 1, "relay: to %s", text);
    line_relay_answer answer;
    int st = line_relay(&addr, (double)a.timeout, payload, len, &answer);
    free(payload);
    rc = st == 0 ? print_answer(g, &answer) : relay_error(g, FT_EXIT_FAILED, st, answer.error_text);
    line_relay_answer_free(&answer);
    return rc;
}
