/* factory_client: a device simulated on Linux, running the kiln device library. */
#include "fc.h"

#include "cbor_reader.h"
#include "fcc_bundle_fields.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_exit.h"
#include "tool_opt.h"

void fc_usage(FILE *f)
{
    fprintf(f,
            "usage: factory_client [--storage DIR | --flash FILE] [--time EPOCH] [-v] COMMAND ...\n"
            "\n"
            "commands:\n"
            "  handle BUNDLE.cbor RESPONSE.cbor   process one bundle, write the device's answer\n"
            "  get NAME [--type config|certificate|public-key|private-key]\n"
            "                                     print a stored item's raw value\n"
            "  list                               list stored items\n"
            "  verify                             check the device is fully configured\n"
            "  reset                              factory reset (restore factory items)\n"
            "  delete                             erase all storage (fcc_storage_delete)\n"
            "  tcp [--bind ADDR] [--port P]       serve the factory tool over TCP\n"
            "  serial --port TTY [--baud B]       serve over a serial line\n"
            "  file --input IN --output OUT       serve one framed exchange through files\n"
            "  sf HEX [--factory-trust FILE]      answer one secure-factory message\n"
            "  (tcp, serial and file answer secure-factory frames too, with --factory-trust FILE)\n"
            "\n"
            "options: --devices N (transports: N devices), --forever (serve the next device),\n"
            "--threads T (tcp: the devices served by T processes, default the online CPUs)\n"
            "(global options may also follow COMMAND; --name=VALUE works as --name VALUE)\n"
            "--version, COMMAND --help.\n"
            "exit status: 0 ok (a --forever listener stopped by SIGINT/SIGTERM too), 1 failed,\n"
            "2 usage; handle: the device's FCC status (0 = success), as the original handler\n"
            "returns it\n");
}

/* Each command's usage line, for COMMAND --help. */
static const char *const command_usage[][2] = {
    {"handle", "handle BUNDLE.cbor RESPONSE.cbor"},
    {"get", "get NAME [--type config|certificate|public-key|private-key]"},
    {"list", "list"},
    {"verify", "verify"},
    {"reset", "reset"},
    {"delete", "delete"},
    {"tcp", "tcp [--bind ADDR] [--port P] [--keep-storage] [--max-length BYTES] "
            "[--factory-trust FILE]"},
    {"serial", "serial --port TTY [--baud B] [--keep-storage] [--max-length BYTES] "
               "[--factory-trust FILE]"},
    {"file", "file --input IN --output OUT [--keep-storage] [--max-length BYTES] "
             "[--factory-trust FILE]"},
    {"sf", "sf HEX [--factory-trust FILE]"},
};

/* COMMAND ... --help: that command's usage on stdout (true), before anything is parsed or
 * opened. False when argv has no --help or the command is unknown. */
static bool command_help(int argc, char **argv)
{
    bool asked = false;
    for (int i = 1; i < argc; i++) {
        asked |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    }
    for (size_t i = 0; asked && i < sizeof(command_usage) / sizeof(command_usage[0]); i++) {
        if (strcmp(argv[0], command_usage[i][0]) == 0) {
            printf("usage: factory_client [globals] %s\n"
                   "globals (before or after the command): --storage DIR | --flash FILE, "
                   "--time EPOCH, --devices N, --threads T, --forever, -v\n",
                   command_usage[i][1]);
            return true;
        }
    }
    return false;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "factory_client: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096;
    *buf = malloc(cap);
    *len = 0;
    size_t n;
    while (*buf != NULL && (n = fread(*buf + *len, 1, cap - *len, f)) > 0) {
        *len += n;
        if (*len == cap) {
            uint8_t *grown = realloc(*buf, cap * 2);
            if (grown == NULL) {
                free(*buf);
                *buf = NULL;
                break;
            }
            *buf = grown;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (*buf == NULL || err) {
        free(*buf);
        fprintf(stderr, "factory_client: cannot read %s\n", path);
        return -1;
    }
    return 0;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "factory_client: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Prints the answer's status line for the operator. */
static void describe_answer(const uint8_t *resp, size_t len)
{
    cr_reader r;
    cr_token t;
    cr_init(&r, resp, len);
    if (cr_next(&r, &t) != 0 || t.kind != CR_MAP_INDEF) {
        return;
    }
    while (r.pos < len && resp[r.pos] != 0xFF) {
        cr_token key, v;
        if (cr_next(&r, &key) != 0 || cr_next(&r, &v) != 0) {
            return;
        }
        if (cr_text_is(&key, FCC_RESP_RETURN_STATUS) && v.kind == CR_UINT) {
            fprintf(stderr, "ReturnStatus: %llu (%s)\n", (unsigned long long)v.u,
                    fcc_status_name((fcc_status_e)v.u));
        } else if ((cr_text_is(&key, FCC_RESP_INFO_MESSAGE) ||
                    cr_text_is(&key, FCC_RESP_WARNING_INFO)) &&
                   v.kind == CR_TEXT) {
            fprintf(stderr, "%.*s: %.*s%s", (int)key.len, (const char *)key.ptr, (int)v.len,
                    (const char *)v.ptr, v.len > 0 && v.ptr[v.len - 1] == '\n' ? "" : "\n");
        } else if (cr_skip(&r, &v) != 0) {
            return;
        }
    }
}

static int cmd_handle(fc_options *opt, int argc, char **argv)
{
    fc_args args;
    int first = 0, exit_code = 0;
    if (!fc_command_options(opt, argc, argv, 0, fc_print_usage, &args, &first, &exit_code)) {
        return exit_code;
    }
    if (argc - first != 2) {
        fc_usage(stderr);
        return 2;
    }
    argv += first - 1;
    uint8_t *bundle = NULL;
    size_t bundle_len = 0;
    if (read_file(argv[1], &bundle, &bundle_len) != 0) {
        return 2;
    }
    fc_device *d = fc_device_open(opt, 0);
    if (d == NULL) {
        free(bundle);
        return 2;
    }
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcc_status_e st =
        kiln_fcc_bundle_handler(fc_device_kiln(d), bundle, bundle_len, &resp, &resp_len);
    /* The exit status is the handler's own status, so scripts see the reason. */
    int rc = (int)st;
    if (opt->verbose) {
        fprintf(stderr, "session finished: %s\n",
                kiln_fcc_is_session_finished(fc_device_kiln(d)) ? "yes" : "no");
    }
    if (resp != NULL) {
        if (opt->verbose) {
            describe_answer(resp, resp_len);
        }
        if (write_file(argv[2], resp, resp_len) != 0) {
            rc = FCC_STATUS_ERROR;
        }
    } else {
        remove(argv[2]);
        fprintf(stderr, "factory_client: no answer: %d %s (%s)\n", st, fcc_status_name(st),
                fcc_status_to_string(st));
    }
    if (st != FCC_STATUS_SUCCESS && resp != NULL) {
        fprintf(stderr, "factory_client: bundle refused: %d %s\n", st, fcc_status_name(st));
    }
    free(resp);
    free(bundle);
    fc_device_close(d);
    return rc;
}

static int parse_type(const char *s, kcm_item_type_e *type)
{
    static const struct {
        const char *name;
        kcm_item_type_e type;
    } types[] = {{"config", KCM_CONFIG_ITEM},
                 {"certificate", KCM_CERTIFICATE_ITEM},
                 {"public-key", KCM_PUBLIC_KEY_ITEM},
                 {"private-key", KCM_PRIVATE_KEY_ITEM}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, types[i].name) == 0) {
            *type = types[i].type;
            return 0;
        }
    }
    return -1;
}

static int cmd_get(fc_options *opt, int argc, char **argv)
{
    kcm_item_type_e only = KCM_LAST_ITEM;
    fc_args args;
    int first = 0, exit_code = 0;
    if (!fc_command_options(opt, argc, argv, FC_TAKES_TYPE, fc_print_usage, &args, &first,
                            &exit_code)) {
        return exit_code;
    }
    if (args.type != NULL && parse_type(args.type, &only) != 0) {
        fprintf(stderr, "factory_client: unknown item type %s\n", args.type);
        return 2;
    }
    if (argc - first != 1) {
        fc_usage(stderr);
        return 2;
    }
    argv += first - 1;
    fc_device *d = fc_device_open(opt, 0);
    if (d == NULL) {
        return 2;
    }
    /* Private keys are printed only when asked for by type. */
    static const kcm_item_type_e search[] = {KCM_CONFIG_ITEM, KCM_CERTIFICATE_ITEM,
                                             KCM_PUBLIC_KEY_ITEM};
    const uint8_t *name = (const uint8_t *)argv[1];
    size_t name_len = strlen(argv[1]);
    int rc = 1;
    for (size_t i = 0; i < (only == KCM_LAST_ITEM ? 3 : 1); i++) {
        kcm_item_type_e type = only == KCM_LAST_ITEM ? search[i] : only;
        size_t size = 0;
        kcm_status_e kst =
            kiln_kcm_item_get_data_size(fc_device_kiln(d), name, name_len, type, &size);
        if (kst == KCM_STATUS_ITEM_NOT_FOUND) {
            continue;
        }
        uint8_t *buf = malloc(size ? size : 1);
        if (buf != NULL && kst == KCM_STATUS_SUCCESS) {
            kst = kiln_kcm_item_get_data(fc_device_kiln(d), name, name_len, type, buf, size, &size);
        }
        if (buf != NULL && kst == KCM_STATUS_SUCCESS) {
            rc = fwrite(buf, 1, size, stdout) == size ? 0 : 2;
        } else {
            fprintf(stderr, "factory_client: cannot read %s: %s\n", argv[1],
                    kcm_status_to_string(kst));
            rc = 2;
        }
        free(buf);
        break;
    }
    if (rc == 1) {
        fprintf(stderr, "factory_client: %s is not stored\n", argv[1]);
    }
    fc_device_close(d);
    return rc;
}

static int print_item(void *arg, kcm_item_type_e type, const char *name, size_t size)
{
    (void)arg;
    static const char *const names[] = {"private-key", "public-key", "symmetric-key", "certificate",
                                        "config"};
    printf("%-12s %6zu  %s\n", (unsigned)type < 5 ? names[type] : "?", size, name);
    return 0;
}

static int cmd_simple(fc_options *opt, int argc, char **argv)
{
    fc_args args;
    int first = 0, exit_code = 0;
    if (!fc_command_options(opt, argc, argv, 0, fc_print_usage, &args, &first, &exit_code)) {
        return exit_code;
    }
    if (first != argc) {
        fc_usage(stderr);
        return 2;
    }
    fc_device *d = fc_device_open(opt, 0);
    if (d == NULL) {
        return 2;
    }
    kiln_device *dev = fc_device_kiln(d);
    int rc = 0;
    if (strcmp(argv[0], "list") == 0) {
        kcm_status_e kst = kiln_kcm_item_list(dev, print_item, NULL);
        rc = kst == KCM_STATUS_SUCCESS ? 0 : 2;
    } else if (strcmp(argv[0], "verify") == 0) {
        fcc_status_e st = kiln_fcc_verify_device_configured_4mbed_cloud(dev);
        printf("%d %s: %s\n", st, fcc_status_name(st), fcc_status_to_string(st));
        rc = st == FCC_STATUS_SUCCESS ? 0 : 1;
    } else if (strcmp(argv[0], "reset") == 0) {
        kcm_status_e kst = kiln_kcm_factory_reset(dev);
        if (kst != KCM_STATUS_SUCCESS) {
            fprintf(stderr, "factory_client: factory reset failed: %s\n",
                    kcm_status_to_string(kst));
            rc = 2;
        }
    } else {
        fcc_status_e st = kiln_fcc_storage_delete(dev);
        if (st != FCC_STATUS_SUCCESS) {
            fprintf(stderr, "factory_client: storage delete failed: %s\n",
                    fcc_status_to_string(st));
            rc = 2;
        }
    }
    fc_device_close(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        tool_opt_version("factory_client");
        return TOOL_EXIT_OK;
    }
    fc_options opt = {0};
    opt.devices = 1;
    fc_args none;
    int i = 0;
    int rc = fc_parse_options(argc, argv, 0, true, fc_print_usage, &opt, &none, &i);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if (i == argc) {
        fc_usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    if (command_help(sub_argc, sub_argv)) {
        return TOOL_EXIT_OK;
    }
    static const struct {
        const char *name;
        fc_command_fn fn;
    } builtin[] = {{"handle", cmd_handle}, {"get", cmd_get},      {"list", cmd_simple},
                   {"verify", cmd_simple}, {"reset", cmd_simple}, {"delete", cmd_simple}};
    for (size_t k = 0; k < sizeof(builtin) / sizeof(builtin[0]); k++) {
        if (strcmp(cmd, builtin[k].name) == 0) {
            return builtin[k].fn(&opt, sub_argc, sub_argv);
        }
    }
    fc_command_fn extra = NULL;
    if (strcmp(cmd, "tcp") == 0) {
        extra = fc_cmd_tcp;
    } else if (strcmp(cmd, "serial") == 0) {
        extra = fc_cmd_serial;
    } else if (strcmp(cmd, "file") == 0) {
        extra = fc_cmd_file;
    } else if (strcmp(cmd, "sf") == 0) {
        extra = fc_cmd_sf;
    } else {
        fprintf(stderr, "factory_client: unknown command %s\n", cmd);
        fc_usage(stderr);
        return 2;
    }
    if (extra == NULL) {
        fprintf(stderr, "factory_client: command %s is not available in this build\n", cmd);
        return 2;
    }
    return extra(&opt, sub_argc, sub_argv);
}
