/* Data-driven test of the FCU error codes: every case of error_cases.txt builds an FCU home,
 * applies its fixture operations, runs one library call and checks the code and the message.
 * It also checks that every code of FCU_STATUS_MAP is provoked by at least one case. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/crypto.h>

#include "fcu/fcu.h"
#include "fcu_fixture.h"

extern int fcu__fail_point;

static const char *g_base_yml, *g_pki;

typedef struct result {
    int code;
    char message[2048];
} result;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

/* Sets a top-level "key: value" line of config/fcu.yml (replaces it or appends it). */
static int yml_set(const char *home, const char *cfg_rel, const char *assignment)
{
    char *text = fx_read_text(home, cfg_rel);
    if (!text)
        return -1;
    const char *colon = strchr(assignment, ':');
    if (!colon) {
        free(text);
        return -1;
    }
    size_t klen = (size_t)(colon - assignment);
    size_t cap = strlen(text) + strlen(assignment) + 4;
    char *out = malloc(cap);
    size_t n = 0;
    int replaced = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line + 1) : strlen(line);
        if (!replaced && strncmp(line, assignment, klen + 1) == 0) {
            n += (size_t)sprintf(out + n, "%s\n", assignment);
            replaced = 1;
        } else {
            memcpy(out + n, line, len);
            n += len;
        }
        line += len;
    }
    if (!replaced)
        n += (size_t)sprintf(out + n, "%s\n", assignment);
    int rc = fx_write(home, cfg_rel, out, n);
    free(out);
    free(text);
    return rc;
}

static int text_replace(const char *home, const char *cfg_rel, char *spec)
{
    char *arrow = strstr(spec, " =>");
    if (!arrow)
        return -1;
    *arrow = 0;
    char *from = spec, *to = arrow + 3;
    if (*to == ' ')
        to++;
    fx_unescape(from);
    fx_unescape(to);
    char *text = fx_read_text(home, cfg_rel);
    char *at = text ? strstr(text, from) : NULL;
    if (!at) {
        free(text);
        return -1;
    }
    size_t cap = strlen(text) + strlen(to) + 1;
    char *out = malloc(cap);
    size_t pre = (size_t)(at - text);
    memcpy(out, text, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    int rc = fx_write(home, cfg_rel, out, strlen(out));
    free(out);
    free(text);
    return rc;
}

static int append_text(const char *home, const char *cfg_rel, char *extra)
{
    fx_unescape(extra);
    char *text = fx_read_text(home, cfg_rel);
    if (!text)
        return -1;
    size_t n = strlen(text) + strlen(extra) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%s%s", text, extra);
    int rc = fx_write(home, cfg_rel, out, strlen(out));
    free(out);
    free(text);
    return rc;
}

static void take_first_error(result *r, int code, const fcu_notice_list *errors)
{
    r->code = code;
    snprintf(r->message, sizeof(r->message), "%s", errors->count ? errors->items[0].message : "");
}

static char *bundle_session_id(const uint8_t *data, size_t len)
{
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(data, len, &res);
    char *sid = NULL;
    for (size_t i = 0; root && cbor_isa_map(root) && i < cbor_map_size(root); i++) {
        struct cbor_pair p = cbor_map_handle(root)[i];
        if (cbor_string_length(p.key) == 3 && memcmp(cbor_string_handle(p.key), "SID", 3) == 0) {
            sid = strndup((const char *)cbor_string_handle(p.value), cbor_string_length(p.value));
        }
    }
    if (root)
        cbor_decref(&root);
    return sid;
}

static void add_text_pair(cbor_item_t *map, const char *k, const char *v)
{
    cbor_map_add(
        map, (struct cbor_pair){cbor_move(cbor_build_string(k)), cbor_move(cbor_build_string(v))});
}

static int by_device_bad_signature(fcu *f, result *r)
{
    fcu_device_request req;
    int rc = fcu_prepare_device_configuration(f, "ep-1", "SN-1", NULL, &req);
    if (rc) {
        take_first_error(r, rc, &req.errors);
        fcu_device_request_free(&req);
        return 0;
    }
    char *sid = bundle_session_id(req.config_data, req.config_size);
    EVP_PKEY *key = fx_p256();
    uint8_t *csr = NULL;
    size_t csr_len = 0;
    fx_csr(key, "ep-1", true, &csr, &csr_len);
    cbor_item_t *entry = cbor_new_definite_map(2);
    add_text_pair(entry, "PrKN", "mbed.BootstrapDevicePrivateKey");
    cbor_map_add(entry, (struct cbor_pair){cbor_move(cbor_build_string("Data")),
                                           cbor_move(cbor_build_bytestring(csr, csr_len))});
    cbor_item_t *csrs = cbor_new_definite_array(1);
    cbor_array_push(csrs, cbor_move(entry));
    cbor_item_t *resp = cbor_new_indefinite_map();
    cbor_map_add(resp, (struct cbor_pair){cbor_move(cbor_build_string("Csrs")), cbor_move(csrs)});
    add_text_pair(resp, "SchemeVersion", "0.0.1");
    add_text_pair(resp, "SID", sid ? sid : "");
    cbor_map_add(resp, (struct cbor_pair){cbor_move(cbor_build_string("ReturnStatus")),
                                          cbor_move(cbor_build_uint8(0))});
    add_text_pair(resp, "InfoMessage", "The Factory process succeeded\n");
    unsigned char *bytes = NULL;
    size_t cap = 0;
    size_t n = cbor_serialize_alloc(resp, &bytes, &cap);
    fcu_device_response_status s;
    rc = fcu_verify_device_response(f, "ep-1", bytes, n, req.operation_ctx, &s);
    take_first_error(r, rc, &s.errors);
    fcu_device_response_status_free(&s);
    free(bytes);
    cbor_decref(&resp);
    OPENSSL_free(csr);
    EVP_PKEY_free(key);
    free(sid);
    fcu_device_request_free(&req);
    return 0;
}

static int run_action(fcu *f, const char *home, char *action, result *r)
{
    char *words[8] = {0};
    int nw = 0;
    for (char *tok = strtok(action, " "); tok && nw < 8; tok = strtok(NULL, " "))
        words[nw++] = tok;
    if (nw == 0)
        return -1;
    if (strcmp(words[0], "setup") == 0 || strcmp(words[0], "setup-force") == 0 ||
        strcmp(words[0], "status") == 0 || strcmp(words[0], "setup-then-status") == 0) {
        fcu_setup_status s;
        int rc;
        if (strcmp(words[0], "status") == 0) {
            rc = fcu_get_setup_status(f, &s);
        } else {
            rc = fcu_setup(f, strcmp(words[0], "setup-force") == 0, &s);
            if (strcmp(words[0], "setup-then-status") == 0) {
                fcu_setup_status_free(&s);
                rc = fcu_get_setup_status(f, &s);
            }
        }
        if (rc != s.status)
            return -1;
        take_first_error(r, rc, &s.errors);
        fcu_setup_status_free(&s);
        return 0;
    }
    if (strcmp(words[0], "prepare") == 0 && nw >= 3) {
        fx_unescape(words[1]);
        const char *ep = strcmp(words[1], "-") == 0 ? "" : words[1];
        const char *sn = strcmp(words[2], "-") == 0 ? "" : words[2];
        char *dir = nw > 3 ? fx_path(home, words[3]) : NULL;
        fcu_device_request req;
        int rc = fcu_prepare_device_configuration(f, ep, sn, dir, &req);
        free(dir);
        if (rc != req.status || (rc != 0) != (req.config_data == NULL))
            return -1;
        take_first_error(r, rc, &req.errors);
        fcu_device_request_free(&req);
        return 0;
    }
    if (strcmp(words[0], "verify") == 0 && nw == 2) {
        size_t hlen = strlen(words[1]);
        uint8_t *bytes = malloc(hlen / 2 + 1);
        for (size_t i = 0; i < hlen / 2; i++) {
            char hex[3] = {words[1][2 * i], words[1][2 * i + 1], 0};
            bytes[i] = (uint8_t)strtoul(hex, NULL, 16);
        }
        fcu_device_response_status s;
        int rc = fcu_verify_device_response(f, "ep-1", bytes, hlen / 2, NULL, &s);
        free(bytes);
        take_first_error(r, rc, &s.errors);
        fcu_device_response_status_free(&s);
        return 0;
    }
    if (strcmp(words[0], "bydevice-badsig") == 0)
        return by_device_bad_signature(f, r);
    return -1;
}

/* Error texts end up in terminals and JSON lines: an argument with control bytes must not be
 * echoed into them. */
static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* Runs one case; returns 0 when the expected code and message came out. */
static int run_case(int expected, char *ops, char *action, char *why, size_t why_size)
{
    char *home = fx_home_create(g_base_yml, g_pki);
    if (!home) {
        snprintf(why, why_size, "cannot create the FCU home");
        return -1;
    }
    const char *cfg_rel = "config/fcu.yml";
    char *config_path = NULL;
    int no_setup = 0, fail_point = 0, rc = 0;
    char *env_names[4];
    int nenv = 0;
    fcu_options opts = {.home_dir = home};
    for (char *op = ops; *op; op++)
        if (strncmp(op, "nosetup", 7) == 0)
            no_setup = 1;
    if (!no_setup) {
        fcu *setup_handle = fcu_open(&opts);
        fcu_setup_status s;
        if (fcu_setup(setup_handle, false, &s) != 0)
            rc = -1;
        fcu_setup_status_free(&s);
        fcu_close(setup_handle);
    }
    for (char *op = strtok(ops, ";"); op; op = strtok(NULL, ";")) {
        op = trim(op);
        if (!*op || strcmp(op, "nosetup") == 0)
            continue;
        if (strncmp(op, "yml ", 4) == 0)
            rc |= yml_set(home, cfg_rel, op + 4);
        else if (strncmp(op, "replace ", 8) == 0)
            rc |= text_replace(home, cfg_rel, op + 8);
        else if (strncmp(op, "append ", 7) == 0)
            rc |= append_text(home, cfg_rel, op + 7);
        else if (strncmp(op, "env ", 4) == 0 && nenv < 4) {
            char *eq = strchr(op + 4, '=');
            *eq = 0;
            setenv(op + 4, eq + 1, 1);
            env_names[nenv++] = op + 4;
        } else if (strncmp(op, "config ", 7) == 0)
            config_path = fx_path(home, op + 7);
        else if (strncmp(op, "fail ", 5) == 0)
            fail_point = atoi(op + 5);
        else if (strncmp(op, "write ", 6) == 0) {
            char *eq = strstr(op, " = ");
            *eq = 0;
            size_t n = fx_unescape(eq + 3);
            rc |= fx_write(home, op + 6, eq + 3, n);
        } else if (strncmp(op, "rm ", 3) == 0) {
            char *p = fx_path(home, op + 3);
            rc |= unlink(p);
            free(p);
        } else if (strncmp(op, "chmod ", 6) == 0) {
            char *sp = strchr(op + 6, ' ');
            *sp = 0;
            char *p = fx_path(home, sp + 1);
            rc |= chmod(p, (mode_t)strtoul(op + 6, NULL, 8));
            free(p);
        } else if (strncmp(op, "devcreds ", 9) == 0) {
            rc |= fx_devcreds(home, op + 9, "ep-1");
        } else if (strcmp(op, "chainca") == 0) {
            rc |= fx_chainca(home);
        } else if (strncmp(op, "newkey ", 7) == 0) {
            EVP_PKEY *k = fx_p256();
            char *p = fx_path(home, op + 7);
            rc |= fx_write_key_pem(p, k);
            free(p);
            EVP_PKEY_free(k);
        } else {
            rc = -1;
        }
    }
    result r = {0};
    if (rc != 0) {
        snprintf(why, why_size, "fixture operations failed");
    } else {
        opts.config_file = config_path;
        fcu *f = fcu_open(&opts);
        fcu__fail_point = fail_point;
        rc = run_action(f, home, action, &r);
        fcu__fail_point = 0;
        if (rc != 0)
            snprintf(why, why_size, "bad action \"%s\"", action);
        fcu_close(f);
    }
    if (rc == 0) {
        const char *tmpl = fcu_status_template(expected);
        size_t prefix = strcspn(tmpl, "%");
        if (r.code != expected) {
            snprintf(why, why_size, "got %d (%s), expected %d", r.code, r.message, expected);
            rc = -1;
        } else if (strncmp(r.message, tmpl, prefix) != 0) {
            snprintf(why, why_size, "message \"%s\" does not follow the template", r.message);
            rc = -1;
        } else if ((expected >= 190 && expected <= 201 && expected != 198) &&
                   !strstr(r.message, config_path ? config_path : "config/fcu.yml")) {
            snprintf(why, why_size, "message \"%s\" does not name the file", r.message);
            rc = -1;
        } else if ((expected == 200 || expected == 201) && !strstr(r.message, "line ")) {
            snprintf(why, why_size, "message \"%s\" does not name the line", r.message);
            rc = -1;
        } else if (has_control(r.message)) {
            snprintf(why, why_size, "message carries a control byte (an echoed argument?)");
            rc = -1;
        } else {
            snprintf(why, why_size, "%s", r.message);
        }
    }
    for (int i = 0; i < nenv; i++)
        unsetenv(env_names[i]);
    free(config_path);
    char *cfg = fx_path(home, cfg_rel);
    chmod(cfg, 0644);
    free(cfg);
    fx_rm_rf(home);
    free(home);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s error_cases.txt base.yml PKI_DIR\n", argv[0]);
        return 2;
    }
    g_base_yml = argv[2];
    g_pki = argv[3];
    unsetenv("FCU_HOME_DIR");
    unsetenv("FCU_RESOURCES_DIR");
    unsetenv("FCU_KEYSTORE_DIR");
    FILE *table = fopen(argv[1], "r");
    if (!table) {
        perror(argv[1]);
        return 2;
    }
    static const int all_codes[] = {
#define CODE(name, code, text) code,
        FCU_STATUS_MAP(CODE)
#undef CODE
    };
    int covered[sizeof(all_codes) / sizeof(all_codes[0])] = {0};
    char line[4096];
    int passed = 0, failed = 0, n = 0;
    while (fgets(line, sizeof(line), table)) {
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *fields[4] = {0};
        int nf = 0;
        for (char *p = s; p && nf < 4; nf++) {
            fields[nf] = p;
            char *bar = strchr(p, '|');
            if (bar)
                *bar++ = 0;
            p = bar;
        }
        if (nf != 4) {
            printf("not ok %d - malformed table line: %s\n", ++n, s);
            failed++;
            continue;
        }
        int expected = atoi(fields[0]);
        char why[2300];
        char *name = trim(fields[1]);
        int rc = run_case(expected, fields[2], trim(fields[3]), why, sizeof(why));
        printf("%s %d - %d %s: %s\n", rc == 0 ? "ok" : "not ok", ++n, expected, name, why);
        if (rc == 0) {
            passed++;
            for (size_t i = 0; i < sizeof(all_codes) / sizeof(all_codes[0]); i++)
                if (all_codes[i] == expected)
                    covered[i] = 1;
        } else {
            failed++;
        }
    }
    fclose(table);
    for (size_t i = 0; i < sizeof(all_codes) / sizeof(all_codes[0]); i++) {
        /* 400-449: the factory_tool ca commands and the external CA, which need the tool or a
         * device round trip: tests/fcu/ca.sh and device.sh provoke each of them. */
        bool tool_level = all_codes[i] >= 400 && all_codes[i] < 450;
        if (all_codes[i] != 0 && !covered[i] && !tool_level) {
            printf("not ok %d - code %d (%s) is provoked by no passing case\n", ++n, all_codes[i],
                   fcu_status_name(all_codes[i]));
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
