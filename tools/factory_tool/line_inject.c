/* factory_tool inject: the original demo's one-device flow (prepare, send, receive, verify) over
 * TCP, a serial line or into a file, ending with the seed's JSON result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "line_cli.h"
#include "line_errors.h"
#include "tool_opt.h"

static const char inject_usage[] =
    "usage: factory_tool [globals] inject --endpoint-name EP --serial-number SN\n"
    "         [--device-keys-location DIR] [--records-db FILE|URL] [--station NAME]\n"
    "         [--retries N] TRANSPORT ...\n"
    "  tcp --ip IP [--port P (7777)] [-t SECONDS (30)]\n"
    "  serial --port TTY [--baud B (115200)] [-t SECONDS (30)]\n"
    "  to_file --output FILE\n";

typedef struct inject_args {
    const char *endpoint, *serial, *keys, *records_db, *station, *transport;
    const char *ip, *port, *baud, *output;
    unsigned long retries, timeout;
} inject_args;

enum {
    OPT_ENDPOINT = 256,
    OPT_SERIAL,
    OPT_KEYS,
    OPT_RECORDS_DB,
    OPT_STATION,
    OPT_RETRIES,
    OPT_IP,
    OPT_PORT,
    OPT_BAUD,
    OPT_OUTPUT
};

static const struct option inject_longopts[] = {
    {"endpoint-name", required_argument, NULL, OPT_ENDPOINT},
    {"serial-number", required_argument, NULL, OPT_SERIAL},
    {"device-keys-location", required_argument, NULL, OPT_KEYS},
    {"records-db", required_argument, NULL, OPT_RECORDS_DB},
    {"station", required_argument, NULL, OPT_STATION},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"ip", required_argument, NULL, OPT_IP},
    {"port", required_argument, NULL, OPT_PORT},
    {"baud", required_argument, NULL, OPT_BAUD},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"connection-timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage(const ft_globals *g, const char *what)
{
    return line_cli_usage(g, inject_usage, "inject", what);
}

/* One option into a; returns NULL, or what is wrong. */
static const char *inject_option(int c, inject_args *a)
{
    const char **slot[] = {&a->endpoint, &a->serial, &a->keys, &a->records_db, &a->station};
    const char **transport_slot[] = {&a->ip, &a->port, &a->baud, &a->output};
    if (c >= OPT_ENDPOINT && c <= OPT_STATION) {
        *slot[c - OPT_ENDPOINT] = optarg;
    } else if (c >= OPT_IP && c <= OPT_OUTPUT) {
        *transport_slot[c - OPT_IP] = optarg;
    } else if (c == OPT_RETRIES) {
        return tool_opt_uint(optarg, 100, &a->retries) ? NULL : "--retries needs a number 0..100";
    } else if (c == 't') {
        return tool_opt_uint(optarg, 86400, &a->timeout) && a->timeout > 0
                   ? NULL
                   : "-t needs a number of seconds (1..86400)";
    } else {
        return "unknown option";
    }
    return NULL;
}

/* Options in any order; the one positional argument is the transport. Returns 0,
 * LINE_CLI_HELP, or the exit status of a usage error. */
static int parse(const ft_globals *g, int argc, char **argv, inject_args *a)
{
    memset(a, 0, sizeof(*a));
    a->timeout = 30;
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":t:h", inject_longopts, NULL)) != -1) {
        if (c == 'h') {
            return line_cli_help(inject_usage);
        }
        if (c == '?' || c == ':') {
            return line_cli_bad_option(g, inject_usage, c, argv);
        }
        const char *why = inject_option(c, a);
        if (why != NULL) {
            return usage(g, why);
        }
    }
    if (a->endpoint == NULL || a->serial == NULL) {
        return usage(g, "--endpoint-name and --serial-number are required");
    }
    if (optind >= argc) {
        return usage(g, "a transport (tcp, serial or to_file) is required");
    }
    if (optind + 1 < argc) {
        return usage(g, "one transport only");
    }
    a->transport = argv[optind];
    return 0;
}

static int serial_address(const ft_globals *g, const inject_args *a, char *address, size_t size)
{
    if (a->port == NULL) {
        if (!line_serial_port_available()) {
            char msg[300];
            line_error_format(msg, sizeof(msg), LINE_E_NO_SERIAL_PORT, NULL, NULL);
            ft_globals forced = *g;
            forced.json = 1;
            return ft_print_result(&forced, LINE_E_NO_SERIAL_PORT, msg, NULL, NULL);
        }
        return usage(g, "serial needs --port TTY");
    }
    unsigned long baud = 115200;
    if (a->baud != NULL && !tool_opt_uint(a->baud, 4000000, &baud)) {
        return usage(g, "--baud needs a number");
    }
    snprintf(address, size, "serial:%s@%lu", a->port, baud);
    return 0;
}

/* The device's address (tcp:, serial: or file:) from the transport and its options. */
static int device_address(const ft_globals *g, const inject_args *a, char *address, size_t size)
{
    if (strcmp(a->transport, "tcp") == 0) {
        unsigned long port = 7777;
        if (a->ip == NULL) {
            return usage(g, "tcp needs --ip");
        }
        if (a->port != NULL && (!tool_opt_uint(a->port, 65535, &port) || port == 0)) {
            return usage(g, "--port needs a number 1..65535");
        }
        snprintf(address, size, "tcp:%s:%lu", a->ip, port);
        return 0;
    }
    if (strcmp(a->transport, "serial") == 0) {
        return serial_address(g, a, address, size);
    }
    if (strcmp(a->transport, "to_file") == 0) {
        if (a->output == NULL) {
            return usage(g, "to_file needs --output FILE");
        }
        snprintf(address, size, "file:%s", a->output);
        return 0;
    }
    return usage(g, "the transport must be tcp, serial or to_file");
}

/* The seed's final JSON for the one device. */
static void on_finished(void *user, line_engine *e, line_job *j)
{
    (void)e;
    const ft_globals *g = user;
    json_t *extra = json_object();
    if (j->addr.transport == LINE_FILE && j->outcome == LINE_JOB_SUCCEEDED) {
        json_object_set_new(extra, "output", json_string(j->addr.host));
    }
    ft_globals forced = *g;
    forced.json = 1;
    json_t *response = j->has_response ? ft_device_response_json(&j->response) : NULL;
    ft_print_result(&forced, j->status, j->message[0] ? j->message : NULL, response, extra);
}

static void on_log(void *user, const char *text)
{
    ft_log(user, 1, "%s", text);
}

int ft_cmd_inject(const ft_globals *g, int argc, char **argv)
{
    inject_args a;
    char address[1200];
    int rc = parse(g, argc, argv, &a);
    if (rc != 0) {
        return rc == LINE_CLI_HELP ? FT_EXIT_OK : rc;
    }
    if ((rc = device_address(g, &a, address, sizeof(address))) != 0) {
        return rc;
    }
    fcu *f = line_cli_open_fcu(g);
    if (f == NULL) {
        return line_cli_error(g, FT_EXIT_FAILED, "out of memory");
    }
    line_records *rec = line_cli_open_records(g, f, a.records_db, NULL);
    if (rec == NULL) {
        fcu_close(f);
        return FT_EXIT_FAILED;
    }
    line_device dev = {.endpoint = (char *)a.endpoint,
                       .serial = (char *)a.serial,
                       .address = address,
                       .device_keys_location = (char *)a.keys};
    char host[256];
    line_engine e = {.mode = LINE_MODE_INJECT,
                     .fcu = f,
                     .records = rec,
                     .station = line_cli_station(a.station, host, sizeof(host)),
                     .parallel = 1,
                     .max_tries = (int)a.retries + 1,
                     .timeout = (double)a.timeout,
                     .backoff = 0.2,
                     .reprovision = true, /* the original demo injects whatever it is told to */
                     .on_finished = on_finished,
                     .on_log = on_log,
                     .user = (void *)g};
    line_cli_signals_on(&e);
    rc = line_engine_run(&e, &dev, 1);
    line_cli_signals_off();
    line_records_close(rec);
    fcu_close(f);
    return line_cli_exit_status(rc);
}
