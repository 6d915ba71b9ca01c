/* factory_tool inject: the original demo's one-device flow (prepare, send, receive, verify) over
 * TCP, a serial line or into a file, ending with the seed's JSON result. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "line_engine.h"
#include "line_errors.h"

static int usage(const ft_globals *g, const char *what)
{
    fprintf(stderr, "usage: factory_tool [globals] inject --endpoint-name EP --serial-number SN\n"
                    "         [--device-keys-location DIR] [--records-db FILE] [--station NAME]\n"
                    "         [--retries N] TRANSPORT ...\n"
                    "  tcp --ip IP [--port P (7777)] [-t SECONDS (30)]\n"
                    "  serial --port TTY [--baud B (115200)] [-t SECONDS (30)]\n"
                    "  to_file --output FILE\n");
    return lj_general_error(g, FT_EXIT_USAGE, "inject: %s", what);
}

static bool any_serial_port(void)
{
    static const char *patterns[] = {"/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyS*", "/dev/ttyAMA*"};
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        glob_t gl;
        if (glob(patterns[i], 0, NULL, &gl) == 0) {
            globfree(&gl);
            return true;
        }
    }
    return false;
}

int ft_cmd_inject(const ft_globals *g, int argc, char **argv)
{
    const char *endpoint = NULL, *serial = NULL, *keys = NULL, *records_db = NULL;
    const char *station = NULL, *value = NULL;
    unsigned retries = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (lj_option(argc, argv, &i, "--endpoint-name", &endpoint) ||
            lj_option(argc, argv, &i, "--serial-number", &serial) ||
            lj_option(argc, argv, &i, "--device-keys-location", &keys) ||
            lj_option(argc, argv, &i, "--records-db", &records_db) ||
            lj_option(argc, argv, &i, "--station", &station)) {
            continue;
        }
        if (lj_option(argc, argv, &i, "--retries", &value)) {
            if (!lj_parse_uint(value, 100, &retries)) {
                return usage(g, "--retries needs a number 0..100");
            }
            continue;
        }
        return usage(g, "unknown option");
    }
    if (endpoint == NULL || serial == NULL) {
        return usage(g, "--endpoint-name and --serial-number are required");
    }
    if (i >= argc) {
        return usage(g, "a transport (tcp, serial or to_file) is required");
    }
    const char *transport = argv[i++];
    const char *ip = NULL, *port = NULL, *baud = NULL, *output = NULL, *timeout_text = NULL;
    for (; i < argc; i++) {
        if (lj_option(argc, argv, &i, "--ip", &ip) || lj_option(argc, argv, &i, "--port", &port) ||
            lj_option(argc, argv, &i, "--baud", &baud) ||
            lj_option(argc, argv, &i, "--output", &output) ||
            lj_option(argc, argv, &i, "-t", &timeout_text) ||
            lj_option(argc, argv, &i, "--connection-timeout", &timeout_text)) {
            continue;
        }
        return usage(g, "unknown transport option");
    }
    unsigned timeout = 30, number = 0;
    if (timeout_text != NULL && (!lj_parse_uint(timeout_text, 86400, &timeout) || timeout == 0)) {
        return usage(g, "-t needs a number of seconds (1..86400)");
    }
    char address[1200];
    if (strcmp(transport, "tcp") == 0) {
        if (ip == NULL) {
            return usage(g, "tcp needs --ip");
        }
        if (port != NULL && (!lj_parse_uint(port, 65535, &number) || number == 0)) {
            return usage(g, "--port needs a number 1..65535");
        }
        snprintf(address, sizeof(address), "tcp:%s:%u", ip, port ? number : 7777u);
    } else if (strcmp(transport, "serial") == 0) {
        if (port == NULL) {
            char msg[300];
            if (!any_serial_port()) {
                line_error_format(msg, sizeof(msg), LINE_E_NO_SERIAL_PORT, NULL, NULL);
                ft_globals forced = *g;
                forced.json = 1;
                return ft_print_result(&forced, LINE_E_NO_SERIAL_PORT, msg, NULL, NULL);
            }
            return usage(g, "serial needs --port TTY");
        }
        unsigned b = 115200;
        if (baud != NULL && !lj_parse_uint(baud, 4000000, &b)) {
            return usage(g, "--baud needs a number");
        }
        snprintf(address, sizeof(address), "serial:%s@%u", port, b);
    } else if (strcmp(transport, "to_file") == 0) {
        if (output == NULL) {
            return usage(g, "to_file needs --output FILE");
        }
        snprintf(address, sizeof(address), "file:%s", output);
    } else {
        return usage(g, "the transport must be tcp, serial or to_file");
    }

    fcu *f = lj_open_fcu(g);
    if (f == NULL) {
        return lj_general_error(g, FT_EXIT_FAILED, "out of memory");
    }
    line_records *rec = lj_open_records(g, f, records_db, NULL);
    if (rec == NULL) {
        fcu_close(f);
        return FT_EXIT_FAILED;
    }
    line_device dev = {.endpoint = (char *)endpoint,
                       .serial = (char *)serial,
                       .address = address,
                       .device_keys_location = (char *)keys,
                       .line = 0};
    lj_job job;
    memset(&job, 0, sizeof(job));
    job.dev = &dev;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    lj_engine e;
    memset(&e, 0, sizeof(e));
    e.g = g;
    e.mode = LJ_INJECT;
    e.fcu = f;
    e.records = rec;
    e.station = station ? station : host;
    e.jobs = &job;
    e.njobs = 1;
    e.parallel = 1;
    e.max_tries = (int)retries + 1;
    e.timeout = timeout;
    e.backoff = 0.2;
    e.reprovision = true; /* the original demo injects whatever it is told to */
    e.single = true;
    int rc = lj_engine_run(&e);
    line_records_close(rec);
    fcu_close(f);
    return rc == 0 ? FT_EXIT_OK : FT_EXIT_FAILED;
}
