/* factory_tool: the factory PC's command-line tool, compatible with the original ft_demo.
 * main.c parses the global options and dispatches to the command functions of the files in
 * this directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft.h"
#include "ledger_cmd.h"
#include "tool_opt.h"

typedef struct ft_command {
    const char *name;
    ft_command_fn fn;
    const char *help;
} ft_command;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: factory_tool [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]\n"
        "\n"
        "global options:\n"
        "  -c, --config-file FILE  configuration file (default <home>/config/fcu.yml)\n"
        "  -v                      more output (repeatable)\n"
        "  --log-file FILE         append a log of the run to FILE\n"
        "  --home-dir DIR          FCU home directory (default $FCU_HOME_DIR or .)\n"
        "  --external-ca CMD       by_device CSRs are signed by CMD (CSR PEM on stdin, "
        "certificate\n"
        "                          PEM on stdout; default $KILN_EXTERNAL_CA, then fcu.yml)\n"
        "  --json                  print the result as JSON (every command that prints data)\n"
        "  --version               print the version and exit\n"
        "  -h, --help              print this help and exit\n"
        "\n"
        "commands:\n"
        "  setup [-f]              make the configurator a CA (-f: replace an existing CA)\n"
        "  status                  show the CA setup status\n"
        "  prepare --endpoint-name EP --serial-number SN [--device-keys-location DIR]\n"
        "          -o BUNDLE.cbor  write one device's configuration bundle\n"
        "  verify --endpoint-name EP [--context-file CTX -o NEXT.cbor] RESPONSE.cbor\n"
        "                          check a device's answer\n"
        "  inject                  prepare, send and verify one device (tcp, serial, to_file)\n"
        "  inject-batch            inject every device of a CSV list\n"
        "  prepare-batch           write the bundles of a CSV list into a folder\n"
        "  write                   send prepared bundles, store the devices' answers\n"
        "  verify-batch            verify the stored answers\n"
        "  records                 list, show, export; release a stopped station's claims\n"
        "  ledger                  verify, export or print the key of the tamper-evident ledger\n"
        "  relay                   send raw frames to a device (diagnostics)\n"
        "  new_device, get_device_configuration, handle_device_response, report_error\n"
        "                          the secure-factory station commands\n"
        "\n"
        "COMMAND --help prints the options of that command.\n"
        "exit status: 0 ok, 1 failed (the numbered error says why), 2 usage,\n"
        "130 interrupted (SIGINT), 143 terminated (SIGTERM).\n");
}

enum { OPT_LOG_FILE = 256, OPT_HOME_DIR, OPT_JSON, OPT_VERSION, OPT_EXTERNAL_CA };

/* The global options before the command name. Returns the index of the command, -1 after
 * --help or --version, -2 on a usage error (printed). */
static int parse_globals(int argc, char **argv, ft_globals *g)
{
    static const struct option longopts[] = {
        {"config-file", required_argument, NULL, 'c'},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {"home-dir", required_argument, NULL, OPT_HOME_DIR},
        {"external-ca", required_argument, NULL, OPT_EXTERNAL_CA},
        {"json", no_argument, NULL, OPT_JSON},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    tool_opt_begin();
    int c;
    /* '+': the first non-option is the command; what follows is the command's. */
    while ((c = getopt_long(argc, argv, "+:c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            g->config_file = optarg;
            break;
        case OPT_LOG_FILE:
            g->log_file = optarg;
            break;
        case OPT_HOME_DIR:
            g->home_dir = optarg;
            break;
        case OPT_EXTERNAL_CA: /* every command's configurator handle reads it */
            setenv("KILN_EXTERNAL_CA", optarg, 1);
            break;
        case OPT_JSON:
            g->json = 1;
            break;
        case 'v':
            g->verbose++;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case OPT_VERSION:
            tool_opt_version("factory_tool");
            return -1;
        default: {
            char what[300];
            tool_opt_problem(c, argv, what, sizeof(what));
            fprintf(stderr, "factory_tool: %s\n", what);
            usage(stderr);
            return -2;
        }
        }
    }
    return optind;
}

int main(int argc, char **argv)
{
    const ft_command commands[] = {
        {"setup", ft_cmd_setup, NULL},
        {"status", ft_cmd_status, NULL},
        {"prepare", ft_cmd_prepare, NULL},
        {"verify", ft_cmd_verify, NULL},
        {"inject", ft_cmd_inject, NULL},
        {"inject-batch", ft_cmd_inject_batch, NULL},
        {"prepare-batch", ft_cmd_prepare_batch, NULL},
        {"write", ft_cmd_write, NULL},
        {"verify-batch", ft_cmd_verify_batch, NULL},
        {"records", ft_cmd_records, NULL},
        {"new_device", ft_cmd_new_device, NULL},
        {"get_device_configuration", ft_cmd_get_device_configuration, NULL},
        {"handle_device_response", ft_cmd_handle_device_response, NULL},
        {"report_error", ft_cmd_report_error, NULL},
        {"relay", ft_cmd_relay, NULL},
        {"ledger", ft_cmd_ledger, NULL},
        {"ca", ft_cmd_ca, NULL},
    };
    ft_globals g = {0};
    int i = parse_globals(argc, argv, &g);
    if (i < 0) {
        return i == -1 ? FT_EXIT_OK : FT_EXIT_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return FT_EXIT_USAGE;
    }
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        if (strcmp(commands[c].name, argv[i]) != 0)
            continue;
        if (!commands[c].fn) {
            fprintf(stderr, "factory_tool: command %s is not available in this build\n",
                    commands[c].name);
            return FT_EXIT_USAGE;
        }
        ft_log(&g, 2, "command %s", commands[c].name);
        return commands[c].fn(&g, argc - i, argv + i);
    }
    fprintf(stderr, "factory_tool: unknown command %s\n", argv[i]);
    usage(stderr);
    return FT_EXIT_USAGE;
}
