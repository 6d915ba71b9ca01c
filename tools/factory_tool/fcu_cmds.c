/* factory_tool commands of the configurator: setup, status, prepare, verify. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcu/fcu.h"
#include "ft.h"
#include "ledger_cmd.h"
#include "line_files.h"
#include "tool_opt.h"

static fcu *open_fcu(const ft_globals *g)
{
    fcu_options opts = {.home_dir = g->home_dir, .config_file = g->config_file};
    fcu *f = fcu_open(&opts);
    if (f)
        ft_log(g, 2, "home %s, keystore %s, config %s", fcu_home_dir(f), fcu_keystore_dir(f),
               fcu_config_file(f));
    return f;
}

/* The usage of the command being parsed: a usage error repeats it. */
static const char *active_usage = "";

static int usage_error(const char *cmd, const char *what)
{
    fputs(active_usage, stderr);
    fprintf(stderr, "error %d: General error on factory tool: %s: %s\n", FT_ERR_GENERAL, cmd, what);
    return FT_EXIT_USAGE;
}

static int help(const char *usage)
{
    fputs(usage, stdout);
    return FT_EXIT_OK;
}

static int bad_option(int c, char **argv)
{
    char what[300];
    tool_opt_problem(c, argv, what, sizeof(what));
    return usage_error(argv[0], what);
}

static const char setup_usage[] =
    "usage: factory_tool setup [-f|--force] [--key-uri pkcs11:URI [--generate]]\n";
static const char status_usage[] = "usage: factory_tool status\n";
static const char prepare_usage[] =
    "usage: factory_tool prepare --endpoint-name EP --serial-number SN "
    "[--device-keys-location DIR] -o BUNDLE.cbor\n";
static const char verify_usage[] =
    "usage: factory_tool verify --endpoint-name EP [--context-file CTX -o NEXT.cbor] "
    "RESPONSE.cbor\n";

enum { OPT_ENDPOINT = 256, OPT_SERIAL, OPT_KEYS, OPT_CONTEXT, OPT_KEY_URI, OPT_GENERATE };

static const struct option fcu_longopts[] = {
    {"force", no_argument, NULL, 'f'},
    {"endpoint-name", required_argument, NULL, OPT_ENDPOINT},
    {"serial-number", required_argument, NULL, OPT_SERIAL},
    {"device-keys-location", required_argument, NULL, OPT_KEYS},
    {"context-file", required_argument, NULL, OPT_CONTEXT},
    {"key-uri", required_argument, NULL, OPT_KEY_URI},
    {"generate", no_argument, NULL, OPT_GENERATE},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The configurator commands' options, each command taking those named in `accepted` (short
 * letters, with the long-only options as 'E' endpoint, 'S' serial, 'K' keys, 'C' context).
 * Returns 0, 1 after --help, or the exit status of a usage error. */
typedef struct fcu_args {
    bool force, generate;
    const char *endpoint, *serial, *keys, *context, *key_uri, *output;
    const char *positional; /* verify: RESPONSE.cbor */
} fcu_args;

static int parse(int argc, char **argv, const char *accepted, const char *usage, fcu_args *a)
{
    static const char letters[] = "ESKCUG";
    memset(a, 0, sizeof(*a));
    active_usage = usage;
    tool_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":fho:", fcu_longopts, NULL)) != -1) {
        int letter = c >= OPT_ENDPOINT ? letters[c - OPT_ENDPOINT] : c;
        if (c == 'h') {
            return help(usage) + 1;
        }
        if (c == '?' || c == ':') {
            return bad_option(c, argv);
        }
        if (strchr(accepted, letter) == NULL) {
            char what[100];
            snprintf(what, sizeof(what), "%s does not apply here", argv[optind - 1]);
            return usage_error(argv[0], what);
        }
        const char **slot[] = {&a->endpoint, &a->serial, &a->keys, &a->context, &a->key_uri};
        a->generate |= c == OPT_GENERATE;
        if (c >= OPT_ENDPOINT && c != OPT_GENERATE) {
            *slot[c - OPT_ENDPOINT] = optarg;
        }
        a->force |= c == 'f';
        a->output = c == 'o' ? optarg : a->output;
    }
    if (optind < argc && strchr(accepted, 'R') != NULL && optind + 1 == argc) {
        a->positional = argv[optind];
    } else if (optind < argc) {
        return usage_error(argv[0], strchr(accepted, 'R') ? "more than one response file"
                                                          : "takes no positional argument");
    }
    return 0;
}

static void print_notices(const fcu_notice_list *list, const char *kind)
{
    for (size_t i = 0; i < list->count; i++)
        fprintf(stderr, "%s: %s\n", kind, list->items[i].message);
}

static json_t *notices_json(const fcu_notice_list *list, bool with_codes)
{
    json_t *a = json_array();
    for (size_t i = 0; i < list->count; i++) {
        if (!with_codes) {
            json_array_append_new(a, json_string(list->items[i].message));
            continue;
        }
        json_t *o = json_object();
        json_object_set_new(o, "code", json_integer(list->items[i].code));
        json_object_set_new(o, "message", json_string(list->items[i].message));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int setup_result(const ft_globals *g, const fcu_setup_status *s)
{
    json_t *extra = json_object();
    json_t *ca = json_object();
    json_object_set_new(ca, "keystore_dir", str_or_null(s->ca_details.keystore_dir));
    json_object_set_new(ca, "certificate_file", str_or_null(s->ca_details.certificate_file));
    json_object_set_new(ca, "csr_file", str_or_null(s->ca_details.csr_file));
    json_object_set_new(ca, "private_key_file", str_or_null(s->ca_details.private_key_file));
    json_object_set_new(ca, "private_key_uri", str_or_null(s->ca_details.private_key_uri));
    json_object_set_new(extra, "caDetails", ca);
    json_object_set_new(extra, "errors", notices_json(&s->errors, true));
    json_object_set_new(extra, "warnings", notices_json(&s->warnings, false));
    if (!g->json) {
        printf("keystore directory: %s\n", s->ca_details.keystore_dir);
        printf("CA certificate:     %s\n", s->ca_details.certificate_file);
        if (s->ca_details.private_key_uri)
            printf("CA private key:     %s (in a PKCS#11 token)\n", s->ca_details.private_key_uri);
        else
            printf("CA private key:     %s\n", s->ca_details.private_key_file);
        if (s->ca_details.csr_file)
            printf("CA CSR:             %s\n", s->ca_details.csr_file);
        print_notices(&s->warnings, "warning");
    }
    const char *msg = s->errors.count ? s->errors.items[0].message : NULL;
    char hinted[1200];
    if (msg != NULL && s->status == FCU_STATUS_FILE_EXISTS) {
        snprintf(hinted, sizeof(hinted), "%s; to replace the CA run setup -f (--force)", msg);
        msg = hinted;
    }
    return ft_print_result(g, s->status, msg, NULL, extra);
}

int ft_cmd_setup(const ft_globals *g, int argc, char **argv)
{
    fcu_args a;
    int parsed = parse(argc, argv, "fUG", setup_usage, &a);
    if (parsed != 0) {
        return parsed == 1 ? FT_EXIT_OK : parsed;
    }
    bool force = a.force;
    if (a.generate && !a.key_uri)
        return usage_error(argv[0], "--generate needs --key-uri");
    fcu *f = open_fcu(g);
    if (!f)
        return ft_print_result(g, FT_ERR_GENERAL, "General error on factory tool: out of memory",
                               NULL, NULL);
    fcu_setup_status s;
    if (a.key_uri)
        fcu_setup_with_key(f, a.key_uri, a.generate, force, &s);
    else
        fcu_setup(f, force, &s);
    if (s.status == 0 && ft_ledger_note_ca(f, force ? "replaced" : "created") != 0) {
        fprintf(stderr, "factory_tool: warning: the CA event could not be added to the ledger\n");
    }
    int rc = setup_result(g, &s);
    fcu_setup_status_free(&s);
    fcu_close(f);
    return rc;
}

int ft_cmd_status(const ft_globals *g, int argc, char **argv)
{
    fcu_args a;
    int parsed = parse(argc, argv, "", status_usage, &a);
    if (parsed != 0) {
        return parsed == 1 ? FT_EXIT_OK : parsed;
    }
    fcu *f = open_fcu(g);
    if (!f)
        return ft_print_result(g, FT_ERR_GENERAL, "General error on factory tool: out of memory",
                               NULL, NULL);
    fcu_setup_status s;
    fcu_get_setup_status(f, &s);
    int rc = setup_result(g, &s);
    fcu_setup_status_free(&s);
    fcu_close(f);
    return rc;
}

static int write_request(const ft_globals *g, const fcu_device_request *r, const char *out_path,
                         json_t *extra)
{
    int e = line_file_write(out_path, r->config_data, r->config_size);
    if (e) {
        char msg[600];
        snprintf(msg, sizeof(msg), "General error on factory tool: cannot write %s: %s", out_path,
                 strerror(e));
        json_decref(extra);
        return ft_print_result(g, FT_ERR_GENERAL, msg, NULL, NULL);
    }
    ft_log(g, 1, "bundle of %zu bytes written to %s", r->config_size, out_path);
    json_object_set_new(extra, "bundleFile", json_string(out_path));
    json_object_set_new(extra, "bundleSize", json_integer((json_int_t)r->config_size));
    if (r->enrollment_id) {
        json_object_set_new(extra, "enrollmentId", json_string(r->enrollment_id));
        if (!g->json)
            printf("enrollment id: %s\n", r->enrollment_id);
    }
    return 0;
}

int ft_cmd_prepare(const ft_globals *g, int argc, char **argv)
{
    fcu_args a;
    int parsed = parse(argc, argv, "ESKo", prepare_usage, &a);
    if (parsed != 0) {
        return parsed == 1 ? FT_EXIT_OK : parsed;
    }
    const char *endpoint = a.endpoint, *serial = a.serial, *keys = a.keys, *out_path = a.output;
    if (!out_path)
        return usage_error("prepare", "-o BUNDLE.cbor is required");
    fcu *f = open_fcu(g);
    if (!f)
        return ft_print_result(g, FT_ERR_GENERAL, "General error on factory tool: out of memory",
                               NULL, NULL);
    fcu_device_request r;
    int status = fcu_prepare_device_configuration(f, endpoint, serial, keys, &r);
    int rc;
    json_t *extra = json_object();
    json_object_set_new(extra, "warnings", notices_json(&r.warnings, false));
    if (!g->json)
        print_notices(&r.warnings, "warning");
    if (status != 0) {
        rc = ft_print_result(g, status, r.errors.items[0].message, NULL, extra);
    } else if ((rc = write_request(g, &r, out_path, extra)) != 0) {
        /* write_request printed the result */
    } else if (r.operation_ctx) {
        /* by_device: the next step needs the context; it holds no secret */
        char ctx_path[4096];
        snprintf(ctx_path, sizeof(ctx_path), "%s.ctx", out_path);
        uint8_t *ctx_data = NULL;
        size_t ctx_len = 0;
        int e = fcu_operation_context_save(r.operation_ctx, &ctx_data, &ctx_len) == 0
                    ? line_file_write(ctx_path, ctx_data, ctx_len)
                    : ENOMEM;
        free(ctx_data);
        if (e) {
            json_decref(extra);
            rc = ft_print_result(g, FT_ERR_GENERAL,
                                 "General error on factory tool: cannot write the context file",
                                 NULL, NULL);
        } else {
            json_object_set_new(extra, "contextFile", json_string(ctx_path));
            if (!g->json)
                printf("operation context: %s (pass it to verify with --context-file)\n", ctx_path);
            rc = ft_print_result(g, 0, NULL, NULL, extra);
        }
    } else {
        rc = ft_print_result(g, 0, NULL, NULL, extra);
    }
    fcu_device_request_free(&r);
    fcu_close(f);
    return rc;
}

/* The device's answer and the operation context of a first step (NULL when not given).
 * Returns 0, or the exit status after printing the error. */
static int load_verify_inputs(const ft_globals *g, const char *response_path, const char *ctx_path,
                              uint8_t **resp, size_t *resp_len, fcu_operation_context **ctx)
{
    char msg[600];
    *ctx = NULL;
    int e = line_file_read(response_path, resp, resp_len);
    if (e) {
        snprintf(msg, sizeof(msg), "General error on factory tool: cannot read %s: %s",
                 response_path, strerror(e));
        return ft_print_result(g, FT_ERR_GENERAL, msg, NULL, NULL);
    }
    if (!ctx_path)
        return 0;
    uint8_t *ctx_data = NULL;
    size_t ctx_len = 0;
    e = line_file_read(ctx_path, &ctx_data, &ctx_len);
    if (e || fcu_operation_context_load(ctx_data, ctx_len, ctx) != 0) {
        free(*resp);
        *resp = NULL;
        free(ctx_data);
        *ctx = NULL;
        snprintf(msg, sizeof(msg), "General error: cannot load operation context %s", ctx_path);
        return ft_print_result(g, FCU_STATUS_GENERAL, msg, NULL, NULL);
    }
    free(ctx_data);
    return 0;
}

static int verify_result(const ft_globals *g, int status, fcu_device_response_status *s,
                         const char *out_path)
{
    json_t *extra = json_object();
    if (!g->json) {
        if (s->message)
            printf("device status %d: %s\n", s->status, s->message);
        print_notices(&s->warnings, "device warning");
    }
    if (status == 0 && s->next_request) {
        int rc = write_request(g, s->next_request, out_path, extra);
        return rc != 0 ? rc : ft_print_result(g, 0, NULL, ft_device_response_json(s), extra);
    }
    if (status == 0)
        return ft_print_result(g, 0, NULL, ft_device_response_json(s), extra);
    const char *last = s->errors.count ? s->errors.items[s->errors.count - 1].message : NULL;
    if (s->message && s->status == status && last != NULL && strcmp(last, s->message) == 0) {
        /* the device answered properly and reported a failure (not: the configurator could not
         * make the second bundle from a good answer) */
        char msg[128];
        snprintf(msg, sizeof(msg), "Execution failed on device with error #%d", status);
        return ft_print_result(g, FT_ERR_DEVICE_FAILED, msg, ft_device_response_json(s), extra);
    }
    return ft_print_result(g, status, s->errors.items[s->errors.count - 1].message,
                           s->message ? ft_device_response_json(s) : NULL, extra);
}

int ft_cmd_verify(const ft_globals *g, int argc, char **argv)
{
    fcu_args a;
    int rc = parse(argc, argv, "ECoR", verify_usage, &a);
    if (rc != 0)
        return rc == 1 ? FT_EXIT_OK : rc;
    if (!a.positional)
        return usage_error("verify", "RESPONSE.cbor is required");
    if (a.context && !a.output)
        return usage_error("verify", "--context-file needs -o NEXT.cbor for the second bundle");
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    fcu_operation_context *ctx = NULL;
    if ((rc = load_verify_inputs(g, a.positional, a.context, &resp, &resp_len, &ctx)) != 0)
        return rc;
    fcu *f = open_fcu(g);
    if (!f) {
        free(resp);
        fcu_operation_context_free(ctx);
        return ft_print_result(g, FT_ERR_GENERAL, "General error on factory tool: out of memory",
                               NULL, NULL);
    }
    fcu_device_response_status s;
    int status = fcu_verify_device_response(f, a.endpoint, resp, resp_len, ctx, &s);
    rc = verify_result(g, status, &s, a.output);
    fcu_device_response_status_free(&s);
    fcu_operation_context_free(ctx);
    fcu_close(f);
    free(resp);
    return rc;
}
