/* factory_tool: the factory PC's command-line tool, compatible with the original ft_demo.
 * main.c parses the global options and dispatches to the command functions of the files in
 * this directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft.h"

typedef struct ft_command {
    const char *name;
    ft_command_fn fn;
    const char *help;
} ft_command;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: factory_tool [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]\n"
            "\n"
            "global options:\n"
            "  -c, --config-file FILE  configuration file (default <home>/config/fcu.yml)\n"
            "  -v                      more output (repeatable)\n"
            "  --log-file FILE         append a log of the run to FILE\n"
            "  --home-dir DIR          FCU home directory (default $FCU_HOME_DIR or .)\n"
            "  --json                  print the result as one JSON object\n"
            "\n"
            "commands:\n"
            "  setup [-f]              make the configurator a CA (-f: replace an existing CA)\n"
            "  status                  show the CA setup status\n"
            "  prepare --endpoint-name EP --serial-number SN [--device-keys-location DIR]\n"
            "          -o BUNDLE.cbor  write one device's configuration bundle\n"
            "  verify --endpoint-name EP [--context-file CTX -o NEXT.cbor] RESPONSE.cbor\n"
            "                          check a device's answer\n"
            "  inject, inject-batch, prepare-batch, write, verify-batch, records, new_device,\n"
            "  get_device_configuration, handle_device_response, report_error, relay\n"
            "                          (when built in: see COMMAND --help)\n");
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
    };
    ft_globals g = {0};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        if (a[0] != '-')
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return FT_EXIT_OK;
        }
        if (strcmp(a, "--json") == 0) {
            g.json = 1;
            continue;
        }
        if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            g.verbose += (int)strlen(a + 1);
            continue;
        }
        const char *names[][2] = {
            {"-c", "--config-file"}, {NULL, "--log-file"}, {NULL, "--home-dir"}};
        const char **targets[] = {&g.config_file, &g.log_file, &g.home_dir};
        size_t k = 0;
        for (; k < 3; k++) {
            size_t ln = strlen(names[k][1]);
            if ((names[k][0] && strcmp(a, names[k][0]) == 0) || strcmp(a, names[k][1]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "factory_tool: %s needs a value\n", a);
                    return FT_EXIT_USAGE;
                }
                value = argv[++i];
                break;
            }
            if (strncmp(a, names[k][1], ln) == 0 && a[ln] == '=') {
                value = a + ln + 1;
                break;
            }
        }
        if (k == 3) {
            fprintf(stderr, "factory_tool: unknown option %s\n", a);
            usage(stderr);
            return FT_EXIT_USAGE;
        }
        *targets[k] = value;
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
