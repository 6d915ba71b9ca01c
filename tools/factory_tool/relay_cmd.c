/* factory_tool relay: carries one secure-factory payload (the hex that new_device or
 * get_device_configuration printed) to a device over the factory line, in a request frame like
 * a bundle's, and prints the device's answer as "RESPONSE <hex>" for the next station command.
 * The relay understands nothing of the messages beyond their header: the station can neither
 * read nor alter what it carries (docs/secure-factory-protocol.md, "Over the factory line"). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft.h"
#include "line_conn.h"
#include "line_errors.h"
#include "sf_msg.h"

#define RELAY_MESSAGE_MAX (SF_HEADER_SIZE + SF_BODY_MAX)
/* Longest hex text accepted on stdin: a whole message plus line ends and blanks. */
#define RELAY_HEX_MAX (2 * RELAY_MESSAGE_MAX + 64)

typedef struct relay_args {
    const char *tcp;
    const char *serial;
    const char *baud;
    const char *timeout;
    const char *payload;
} relay_args;

static void print_usage(FILE *out)
{
    fprintf(out, "usage: factory_tool relay (--tcp HOST:PORT | --serial TTY [--baud B (115200)])\n"
                 "         [-t SECONDS (30)] PAYLOAD_HEX|-\n"
                 "  sends one secure-factory payload to the device, prints RESPONSE <hex>\n");
}

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
    print_usage(stderr);
    char text[300];
    snprintf(text, sizeof(text), "relay: %s", detail);
    return general_error(g, FT_EXIT_USAGE, text);
}

static bool option(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) {
        return false;
    }
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0') {
        return false;
    }
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

/* Returns NULL on success, else what is wrong. */
static const char *parse_args(int argc, char **argv, relay_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        const char *arg = argv[i];
        if (option(argc, argv, &i, "--tcp", &value)) {
            a->tcp = value;
        } else if (option(argc, argv, &i, "--serial", &value)) {
            a->serial = value;
        } else if (option(argc, argv, &i, "--baud", &value)) {
            a->baud = value;
        } else if (option(argc, argv, &i, "-t", &value) ||
                   option(argc, argv, &i, "--timeout", &value)) {
            a->timeout = value;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return "unknown option";
        } else if (a->payload == NULL) {
            a->payload = arg;
            continue;
        } else {
            return "exactly one PAYLOAD_HEX is expected";
        }
        if (value == NULL) {
            return "an option needs a value";
        }
    }
    if ((a->tcp == NULL) == (a->serial == NULL)) {
        return "give either --tcp HOST:PORT or --serial TTY";
    }
    if (a->baud != NULL && a->serial == NULL) {
        return "--baud goes with --serial";
    }
    if (a->payload == NULL) {
        return "PAYLOAD_HEX is required";
    }
    return NULL;
}

static bool parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    if (text == NULL || *text < '0' || *text > '9') {
        return false;
    }
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (*end != '\0' || v > max) {
        return false;
    }
    *out = v;
    return true;
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

typedef struct relay_state {
    bool done;
} relay_state;

static void on_done(void *user, line_conn *c)
{
    (void)c;
    ((relay_state *)user)->done = true;
}

/* Sends frame over c (initialised) and waits for one answer; c then holds the result. */
static int exchange(line_conn *c, const uint8_t *frame, size_t frame_len, relay_state *state)
{
    line_loop *loop = line_loop_new();
    if (loop == NULL) {
        return -1;
    }
    c->on_done = on_done;
    c->user = state;
    if (line_loop_add(loop, c) != 0) {
        line_loop_free(loop);
        return -1;
    }
    line_conn_request(c, frame, frame_len);
    int rc = state->done ? 0 : line_loop_run(loop, NULL, NULL);
    line_loop_remove(loop, c);
    line_loop_free(loop);
    return rc == 0 && state->done ? 0 : -1;
}

/* Prints the device's answer; a DEVICE_ERROR is a successful relay too (the service records it
 * when the station passes it on), so it only gets a note on stderr. */
static int print_answer(const ft_globals *g, const uint8_t *answer, size_t len)
{
    char *hex = malloc(2 * len + 1);
    if (hex == NULL) {
        return general_error(g, FT_EXIT_FAILED, "out of memory");
    }
    sf_hex_encode(answer, len, hex);
    sf_msg_type type = (sf_msg_type)answer[1];
    sf_device_error err = {0, 0};
    bool device_error =
        type == SF_MSG_DEVICE_ERROR && sf_device_error_parse(answer, len, &err) == SF_OK;
    if (device_error) {
        fprintf(stderr,
                "factory_tool: relay: the device reported error %d: %s (pass RESPONSE to "
                "get_device_configuration or handle_device_response to record it)\n",
                (int)err.code, sf_status_text(err.code));
    }
    ft_log(g, 1, "relay: answer of %zu bytes, type 0x%02x", len, (unsigned)type);
    if (g->json) {
        json_t *extra = json_object();
        json_object_set_new(extra, "response", json_string(hex));
        if (device_error) {
            json_object_set_new(extra, "deviceError", json_integer(err.code));
        }
        ft_print_result(g, 0, FT_SUCCESS_MESSAGE, NULL, extra);
    } else {
        printf("RESPONSE %s\n", hex);
        fflush(stdout);
    }
    free(hex);
    return FT_EXIT_OK;
}

static int report_answer(const ft_globals *g, const line_conn *c)
{
    char msg[700];
    if (c->error != 0) {
        return relay_error(g, FT_EXIT_FAILED, c->error, c->error_text);
    }
    if (c->frame.status != FTCD_STATUS_SUCCESS) {
        char head[200];
        line_error_format(head, sizeof(head), LINE_E_DEVICE_COMMUNICATION, NULL, NULL);
        snprintf(msg, sizeof(msg), "%s: status %u %s: %s", head, (unsigned)c->frame.status,
                 ftcd_status_name(c->frame.status), ftcd_status_text(c->frame.status));
        return relay_error(g, FT_EXIT_FAILED, LINE_E_DEVICE_COMMUNICATION, msg);
    }
    sf_msg_type type;
    if (sf_msg_peek(c->frame.cbor, c->frame.cbor_len, &type) != SF_OK ||
        (type != SF_MSG_INIT_RESPONSE && type != SF_MSG_CONFIG_RESPONSE &&
         type != SF_MSG_DEVICE_ERROR)) {
        char head[200];
        line_error_format(head, sizeof(head), LINE_E_DEVICE_COMMUNICATION, NULL, NULL);
        snprintf(msg, sizeof(msg),
                 "%s: the answer (%zu bytes) is not a secure-factory message (a firmware without "
                 "the secure factory?)",
                 head, c->frame.cbor_len);
        return relay_error(g, FT_EXIT_FAILED, LINE_E_DEVICE_COMMUNICATION, msg);
    }
    return print_answer(g, c->frame.cbor, c->frame.cbor_len);
}

int ft_cmd_relay(const ft_globals *g, int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        print_usage(stdout);
        return FT_EXIT_OK;
    }
    relay_args a;
    const char *why = parse_args(argc, argv, &a);
    if (why != NULL) {
        return usage_error(g, why);
    }
    unsigned long timeout = 30, baud = 115200;
    if (a.timeout != NULL && (!parse_uint(a.timeout, 86400, &timeout) || timeout == 0)) {
        return usage_error(g, "-t needs a number of seconds (1..86400)");
    }
    if (a.baud != NULL && (!parse_uint(a.baud, 4000000, &baud) || baud == 0)) {
        return usage_error(g, "--baud needs a number");
    }
    char text[600], why_text[300];
    if (a.tcp != NULL) {
        snprintf(text, sizeof(text), "tcp:%s", a.tcp);
    } else {
        snprintf(text, sizeof(text), "serial:%s@%lu", a.serial, baud);
    }
    line_address addr;
    if (line_address_parse(text, &addr, why_text, sizeof(why_text)) != 0) {
        return usage_error(g, why_text);
    }

    char *stdin_hex = NULL;
    const char *hex = a.payload;
    if (strcmp(hex, "-") == 0) {
        hex = stdin_hex = read_stdin_hex();
        if (hex == NULL) {
            return general_error(g, FT_EXIT_FAILED, "relay: cannot read PAYLOAD_HEX from stdin");
        }
    }
    uint8_t *payload = malloc(RELAY_MESSAGE_MAX);
    size_t payload_len = 0;
    sf_status hex_status = payload != NULL
                               ? sf_hex_decode(hex, payload, RELAY_MESSAGE_MAX, &payload_len)
                               : SF_INTERNAL;
    free(stdin_hex);
    sf_msg_type type;
    if (hex_status != SF_OK || payload_len == 0 ||
        sf_msg_peek(payload, payload_len, &type) != SF_OK ||
        (type != SF_MSG_INIT_REQUEST && type != SF_MSG_CONFIG_REQUEST)) {
        free(payload);
        return usage_error(g, hex_status == SF_HEX_INVALID
                                  ? "PAYLOAD_HEX is not an even-length hex string"
                                  : "PAYLOAD_HEX is not a secure-factory request (the PAYLOAD "
                                    "printed by new_device or get_device_configuration)");
    }

    size_t frame_size = ftcd_request_size(payload_len);
    uint8_t *frame = malloc(frame_size);
    size_t frame_len = 0;
    if (frame == NULL || ftcd_encode_request(payload, payload_len, frame, frame_size, &frame_len) !=
                             FTCD_STATUS_SUCCESS) {
        free(frame);
        free(payload);
        return general_error(g, FT_EXIT_FAILED, "relay: cannot build the request frame");
    }
    free(payload);
    ft_log(g, 1, "relay: %zu-byte payload (type 0x%02x) to %s", payload_len, (unsigned)type, text);

    line_conn conn;
    line_conn_init(&conn, &addr, (double)timeout, 0);
    relay_state state = {false};
    int rc;
    if (exchange(&conn, frame, frame_len, &state) != 0) {
        rc = general_error(g, FT_EXIT_FAILED, "relay: the event loop failed");
    } else {
        rc = report_answer(g, &conn);
    }
    line_conn_close(&conn);
    free(frame);
    return rc;
}
