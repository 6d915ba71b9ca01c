/* factory_client: a device simulated on Linux, running the kiln device library. */
#include "fc.h"

#include "cbor_reader.h"
#include "fcc_bundle_fields.h"
#include "tool_exit.h"
#include "tool_opt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
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
            "options: --devices N (transports: N devices), --forever (serve the next device);\n"
            "the options above may also follow the command. --version, COMMAND --help.\n"
            "exit status: 0 ok (a --forever listener stopped by SIGINT/SIGTERM too), 1 failed,\n"
            "2 usage;\n"
            "handle: the device's FCC status (0 = success), as the original handler returns it\n");
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

/* COMMAND --help: that command's usage on stdout. Returns false for an unknown command. */
static bool command_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof(command_usage) / sizeof(command_usage[0]); i++) {
        if (strcmp(cmd, command_usage[i][0]) == 0) {
            printf("usage: factory_client [globals] %s\n"
                   "globals (before or after the command): --storage DIR | --flash FILE, "
                   "--time EPOCH, --devices N, --forever, -v\n",
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

static int cmd_handle(const fc_options *opt, int argc, char **argv)
{
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
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

static int cmd_get(const fc_options *opt, int argc, char **argv)
{
    kcm_item_type_e only = KCM_LAST_ITEM;
    if (argc == 4 && strcmp(argv[2], "--type") == 0) {
        if (parse_type(argv[3], &only) != 0) {
            fprintf(stderr, "factory_client: unknown item type %s\n", argv[3]);
            return 2;
        }
    } else if (argc != 2) {
        usage(stderr);
        return 2;
    }
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

static int cmd_simple(const fc_options *opt, int argc, char **argv)
{
    if (argc != 1) {
        usage(stderr);
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

enum { GLOBAL_NO = 0, GLOBAL_TAKEN, GLOBAL_BAD, GLOBAL_HELP, GLOBAL_VERSION };

/* One global option at argv[*i] into opt (its value consumed too). GLOBAL_NO when argv[*i] is
 * not one; GLOBAL_BAD after printing what is wrong with it. */
static int global_option(int argc, char **argv, int *i, fc_options *opt, bool after_command)
{
    const char *a = argv[*i];
    bool has_value = *i + 1 < argc;
    uint64_t n = 0;
    if (strcmp(a, "--storage") == 0 && has_value) {
        opt->storage = argv[++*i];
    } else if (strcmp(a, "--flash") == 0 && has_value) {
        opt->flash = argv[++*i];
    } else if (strcmp(a, "--factory-trust") == 0 && has_value && !after_command) {
        opt->factory_trust = argv[++*i]; /* after the command, the command's own option */
    } else if (strcmp(a, "--time") == 0 && has_value) {
        if (parse_u64(argv[++*i], &opt->time) != 0) {
            fprintf(stderr, "factory_client: --time wants seconds since 1970\n");
            return GLOBAL_BAD;
        }
    } else if (strcmp(a, "--devices") == 0 && has_value) {
        if (parse_u64(argv[++*i], &n) != 0 || n == 0 || n > 4096) {
            fprintf(stderr, "factory_client: --devices wants 1..4096\n");
            return GLOBAL_BAD;
        }
        opt->devices = (int)n;
    } else if (strcmp(a, "--forever") == 0) {
        opt->forever = true;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        opt->verbose++;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        return GLOBAL_HELP;
    } else if (strcmp(a, "--version") == 0 && !after_command) {
        return GLOBAL_VERSION;
    } else {
        return GLOBAL_NO;
    }
    return GLOBAL_TAKEN;
}

/* The global options that follow the command move out of its arguments (argv[0] is the
 * command), so "tcp --devices 2" works like "--devices 2 tcp". Returns -1 to go on, else the
 * exit status (after --help, or a bad value). */
static int globals_after_command(int *argc, char **argv, fc_options *opt)
{
    int kept = 1;
    for (int i = 1; i < *argc; i++) {
        int g = global_option(*argc, argv, &i, opt, true);
        if (g == GLOBAL_HELP) {
            return command_help(argv[0]) ? TOOL_EXIT_OK : TOOL_EXIT_USAGE;
        }
        if (g == GLOBAL_BAD) {
            return TOOL_EXIT_USAGE;
        }
        if (g == GLOBAL_NO) {
            argv[kept++] = argv[i];
        }
    }
    *argc = kept;
    argv[kept] = NULL;
    return -1;
}

int main(int argc, char **argv)
{
    fc_options opt = {0};
    opt.devices = 1;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        int g = global_option(argc, argv, &i, &opt, false);
        if (g == GLOBAL_HELP || g == GLOBAL_VERSION) {
            if (g == GLOBAL_HELP) {
                usage(stdout);
            } else {
                tool_opt_version("factory_client");
            }
            return TOOL_EXIT_OK;
        }
        if (g == GLOBAL_BAD) {
            return TOOL_EXIT_USAGE;
        }
        if (g == GLOBAL_NO) {
            usage(stderr);
            fprintf(stderr, "factory_client: error %d: unknown option %s\n",
                    (int)FCC_STATUS_INVALID_PARAMETER, argv[i]);
            return TOOL_EXIT_USAGE;
        }
    }
    if (i < argc) {
        int sub_argc = argc - i;
        int rc = globals_after_command(&sub_argc, argv + i, &opt);
        if (rc >= 0) {
            return rc;
        }
        argc = i + sub_argc;
    }
    if (opt.storage && opt.flash) {
        fprintf(stderr, "factory_client: choose --storage or --flash, not both\n");
        return 2;
    }
    if (i == argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
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
        usage(stderr);
        return 2;
    }
    if (extra == NULL) {
        fprintf(stderr, "factory_client: command %s is not available in this build\n", cmd);
        return 2;
    }
    return extra(&opt, sub_argc, sub_argv);
}
