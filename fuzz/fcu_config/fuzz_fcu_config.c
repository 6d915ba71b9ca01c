/* libFuzzer target: the configurator's reading of fcu.yml (libyaml, <%= ENV['NAME'] %>
 * substitution, sections, custom properties) and the typed decoding after it.
 *
 * fcu__config_load reads a file, so each input is written to one file on tmpfs first. Checked
 * for every input: reading the same file twice gives the same result (status, message, every
 * value with its line and variable); a refusal is one of the parse errors with a message that
 * names the file; an accepted file is handed back byte for byte, has no substitution left in
 * any value, names only variables it really read, and decodes to values in their ranges or is
 * refused with error 380. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcc_bundle_fields.h"
#include "fcu_internal.h"

/* The substitutions an input can resolve besides the three directories. */
static const char *const variables[][2] = {
    {"KILN_FUZZ_NAME", "sensor-7"},
    {"KILN_FUZZ_EMPTY", ""},
    {"KILN_FUZZ_LONG", "a value that is longer than the substitution text it replaces"},
};

static const fcu_dirs dirs = {"/fuzz/home", "/fuzz/home/resources", "/fuzz/home/keystore"};
static char path[64];

/* Every fcu_value of fcu_config lies between these two members (subjects included). */
#define FIRST_VALUE offsetof(fcu_config, setup_ca_as_intermediate)
#define VALUE_COUNT ((offsetof(fcu_config, custom) - FIRST_VALUE) / sizeof(fcu_value))

static const fcu_value *value_at(const fcu_config *cfg, size_t i)
{
    return (const fcu_value *)((const char *)cfg + FIRST_VALUE) + i;
}

static void remove_input(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if ((offsetof(fcu_config, custom) - FIRST_VALUE) % sizeof(fcu_value) != 0) {
        abort(); /* something other than values came between them: fix the walk */
    }
    for (size_t i = 0; i < sizeof(variables) / sizeof(variables[0]); i++) {
        setenv(variables[i][0], variables[i][1], 1);
    }
    snprintf(path, sizeof(path), "%s/kiln-fuzz-fcu-%ld.yml",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    atexit(remove_input);
    return 0;
}

static int same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_value(const fcu_value *a, const fcu_value *b)
{
    return a->line == b->line && same_text(a->text, b->text) && same_text(a->env, b->env);
}

static int same_config(const fcu_config *a, const fcu_config *b)
{
    for (size_t i = 0; i < VALUE_COUNT; i++) {
        if (!same_value(value_at(a, i), value_at(b, i))) {
            return 0;
        }
    }
    if (a->custom_count != b->custom_count || a->env_count != b->env_count) {
        return 0;
    }
    for (size_t i = 0; i < a->custom_count; i++) {
        const fcu_custom_property *p = &a->custom[i], *q = &b->custom[i];
        if (!same_value(&p->name, &q->name) || !same_value(&p->type, &q->type) ||
            !same_value(&p->data, &q->data) || !same_value(&p->data_file, &q->data_file)) {
            return 0;
        }
    }
    for (size_t i = 0; i < a->env_count; i++) {
        if (strcmp(a->env_names[i], b->env_names[i]) != 0 ||
            strcmp(a->env_values[i], b->env_values[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static int is_directory_variable(const char *name)
{
    return strcmp(name, "FCU_HOME_DIR") == 0 || strcmp(name, "FCU_RESOURCES_DIR") == 0 ||
           strcmp(name, "FCU_KEYSTORE_DIR") == 0;
}

/* A value of an accepted file: nothing left to substitute, its variable one that was read. */
static void check_value(const fcu_config *cfg, const fcu_value *v)
{
    if (v->text != NULL && strstr(v->text, "<%") != NULL) {
        abort();
    }
    if (v->env == NULL || is_directory_variable(v->env)) {
        return;
    }
    for (size_t i = 0; i < cfg->env_count; i++) {
        if (strcmp(cfg->env_names[i], v->env) == 0) {
            const char *now = getenv(v->env);
            if (now == NULL || strcmp(now, cfg->env_values[i]) != 0) {
                abort();
            }
            return;
        }
    }
    abort();
}

static void check_accepted(fcu_config *cfg, const uint8_t *data, size_t size, const uint8_t *raw,
                           size_t raw_len)
{
    if (raw_len != size || (size > 0 && memcmp(raw, data, size) != 0)) {
        abort();
    }
    for (size_t i = 0; i < VALUE_COUNT; i++) {
        check_value(cfg, value_at(cfg, i));
    }
    for (size_t i = 0; i < cfg->custom_count; i++) {
        check_value(cfg, &cfg->custom[i].name);
        check_value(cfg, &cfg->custom[i].type);
        check_value(cfg, &cfg->custom[i].data);
        check_value(cfg, &cfg->custom[i].data_file);
    }
    fcu_error err = {0};
    int rc = fcu__config_decode(cfg, &err);
    if (rc != 0) {
        if (rc != FCU_STATUS_VALIDATION || err.code != rc || err.message[0] == '\0') {
            abort();
        }
        return;
    }
    if (cfg->keygen < FCU_KEYGEN_BY_TOOL || cfg->keygen > FCU_KEYGEN_EXTERNAL ||
        cfg->entropy < FCU_ENTROPY_BY_DEVICE || cfg->entropy > FCU_ENTROPY_EXTERNAL ||
        cfg->validity_years < 1 || cfg->validity_years > 100 || cfg->chain_depth_value < -1 ||
        cfg->chain_depth_value >= FCC_MAX_CHAIN_LENGTH || (cfg->ftc && !cfg->bootstrap)) {
        abort();
    }
    for (size_t i = 0; i < cfg->custom_count; i++) {
        if (cfg->custom[i].type_code < FCU_CUSTOM_CERTIFICATE ||
            cfg->custom[i].type_code > FCU_CUSTOM_BINARY) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
    fcu_config first, second;
    fcu_error err1 = {0}, err2 = {0};
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int rc1 = fcu__config_load(path, true, &dirs, &first, &err1, &raw, &raw_len);
    int rc2 = fcu__config_load(path, true, &dirs, &second, &err2, NULL, NULL);
    if (rc1 != rc2 || err1.code != err2.code || strcmp(err1.message, err2.message) != 0) {
        abort(); /* the same file read twice */
    }
    if (rc1 == 0) {
        if (!same_config(&first, &second)) {
            abort();
        }
        check_accepted(&first, data, size, raw, raw_len);
        free(raw);
    } else if ((rc1 != FCU_STATUS_CONFIG_LOAD && rc1 != FCU_STATUS_CONFIG_NOT_YAML &&
                rc1 != FCU_STATUS_CONFIG_INVALID_ATTRIBUTES) ||
               err1.code != rc1 || strstr(err1.message, path) == NULL) {
        abort();
    }
    fcu__config_free(&first);
    fcu__config_free(&second);
    return 0;
}
