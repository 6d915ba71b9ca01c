/* fcu.yml: read with libyaml on every call, ENV substitution, typed decoding.
 * Errors 190-201 name the file and the line; 380 names the field, the file and the line. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "fcc_bundle_fields.h"
#include "fcu_internal.h"
#include "kiln_pki.h"

typedef struct key_slot {
    const char *key;
    size_t offset; /* of an fcu_value inside the struct being filled */
} key_slot;

#define CFG(field)  offsetof(fcu_config, field)
#define SUBJ(field) offsetof(fcu_subject_config, field)
#define PROP(field) offsetof(fcu_custom_property, field)

static const key_slot top_scalars[] = {
    {"setup-ca-as-intermediate", CFG(setup_ca_as_intermediate)},
    {"use-bootstrap", CFG(use_bootstrap)},
    {"first-to-claim", CFG(first_to_claim)},
    {"time-sync", CFG(time_sync)},
    {"verify-on-device", CFG(verify_on_device)},
    {"device-key-generation-mode", CFG(key_generation_mode)},
    {"entropy-generation-mode", CFG(entropy_generation_mode)},
    {"device-certificate-chain-depth", CFG(chain_depth)},
    {"bootstrap-server-uri", CFG(bootstrap_uri)},
    {"bootstrap-server-uri-first-to-claim", CFG(bootstrap_uri_ftc)},
    {"bootstrap-server-ca-certificate-file", CFG(bootstrap_ca_file)},
    {"bootstrap-server-crl-file", CFG(bootstrap_crl_file)},
    {"lwm2m-server-uri", CFG(lwm2m_uri)},
    {"lwm2m-server-ca-certificate-file", CFG(lwm2m_ca_file)},
    {"lwm2m-server-crl-file", CFG(lwm2m_crl_file)},
    {"update-auth-certificate-file", CFG(update_auth_file)},
    {"firmware-integrity-certificate-file", CFG(update_auth_file)},
    {"firmware-integrity-ca-certificate-file", CFG(fw_ca_file)},
    {"firmware-integrity-crl-file", CFG(fw_crl_file)},
    {"vendor-id", CFG(vendor_id)},
    {"class-id", CFG(class_id)},
    {"external-ca", CFG(external_ca)},
    {"records-url", CFG(records_url)},
};

static const key_slot ca_keys[] = {
    {"common-name", SUBJ(common_name)},
    {"organization-name", SUBJ(organization)},
    {"organizational-unit-name", SUBJ(organizational_unit)},
    {"locality-name", SUBJ(locality)},
    {"state-or-province-name", SUBJ(state)},
    {"country-name", SUBJ(country)},
    /* filled relative to cfg->ca, as the subject fields are */
    {"key-uri", offsetof(fcu_config, ca_key_uri) - offsetof(fcu_config, ca)},
};

static const key_slot device_info_keys[] = {
    {"manufacturer-name", CFG(manufacturer)}, {"device-type", CFG(device_type)},
    {"model-number", CFG(model_number)},      {"hardware-version", CFG(hardware_version)},
    {"memory-total", CFG(memory_total)},      {"timezone", CFG(timezone)},
    {"utc-offset", CFG(utc_offset)},
};

static const key_slot custom_keys[] = {
    {"name", PROP(name)},
    {"type", PROP(type)},
    {"data", PROP(data)},
    {"data-file", PROP(data_file)},
};

typedef struct parse_ctx {
    yaml_document_t *doc;
    fcu_config *cfg;
    const fcu_dirs *dirs;
    fcu_error *err;
} parse_ctx;

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int fail_at(parse_ctx *pc, int code, int line, const char *why)
{
    char detail[512];
    snprintf(detail, sizeof(detail), "line %d: %s", line, why);
    return fcu__fail_detail(pc->err, detail, code, pc->cfg->path);
}

static const char *reserved_env(const parse_ctx *pc, const char *name)
{
    if (strcmp(name, "FCU_HOME_DIR") == 0)
        return pc->dirs->home;
    if (strcmp(name, "FCU_RESOURCES_DIR") == 0)
        return pc->dirs->resources;
    if (strcmp(name, "FCU_KEYSTORE_DIR") == 0)
        return pc->dirs->keystore;
    return NULL;
}

static void remember_env(fcu_config *cfg, const char *name, const char *value)
{
    for (size_t i = 0; i < cfg->env_count; i++)
        if (strcmp(cfg->env_names[i], name) == 0)
            return;
    char **names = realloc(cfg->env_names, (cfg->env_count + 1) * sizeof(char *));
    if (!names)
        return;
    cfg->env_names = names;
    char **values = realloc(cfg->env_values, (cfg->env_count + 1) * sizeof(char *));
    if (!values)
        return;
    cfg->env_values = values;
    names[cfg->env_count] = fcu__strdup(name);
    values[cfg->env_count] = fcu__strdup(value);
    if (!names[cfg->env_count] || !values[cfg->env_count]) {
        free(names[cfg->env_count]);
        free(values[cfg->env_count]);
        return;
    }
    cfg->env_count++;
}

/* Parses the placeholder "<%= ENV['NAME'] %>" that starts at open: NAME into name (size
 * bytes) and the first byte after it into *next. -1 when it is malformed. */
static int placeholder_parse(const char *open, char *name, size_t size, const char **next)
{
    const char *q = open + 2;
    if (*q != '=')
        return -1;
    q++;
    while (*q == ' ' || *q == '\t')
        q++;
    if (strncmp(q, "ENV[", 4) != 0)
        return -1;
    q += 4;
    char quote = *q;
    if (quote != '\'' && quote != '"')
        return -1;
    const char *start = ++q;
    while (*q && (isalnum((unsigned char)*q) || *q == '_'))
        q++;
    if (q == start || *q != quote || q[1] != ']')
        return -1;
    size_t nlen = (size_t)(q - start);
    q += 2;
    while (*q == ' ' || *q == '\t')
        q++;
    if (q[0] != '%' || q[1] != '>' || nlen >= size)
        return -1;
    memcpy(name, start, nlen);
    name[nlen] = '\0';
    *next = q + 2;
    return 0;
}

/* The value of the variable (the FCU_*_DIR ones are the handle's directories); others are
 * remembered, so that a change of them invalidates the cached configuration. NULL when unset. */
static const char *placeholder_value(parse_ctx *pc, const char *name, fcu_value *out)
{
    const char *value = reserved_env(pc, name);
    if (!value) {
        value = getenv(name);
        if (value)
            remember_env(pc->cfg, name, value);
    }
    if (value && !out->env)
        out->env = fcu__strdup(name);
    return value;
}

/* Appends n bytes of s to the NUL-terminable buffer *res of *cap bytes. */
static bool append(char **res, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t bigger = (*len + n + 1) * 2;
        char *nr = realloc(*res, bigger);
        if (!nr)
            return false;
        *res = nr;
        *cap = bigger;
    }
    if (n)
        memcpy(*res + *len, s, n);
    *len += n;
    return true;
}

/* Replaces every <%= ENV['NAME'] %> (single or double quotes) in text. */
static int substitute(parse_ctx *pc, const char *text, int line, fcu_value *out)
{
    size_t cap = strlen(text) + 1, len = 0;
    char *res = malloc(cap);
    if (!res)
        return fail_at(pc, FCU_STATUS_CONFIG_LOAD, line, "out of memory");
    const char *p = text;
    while (*p) {
        const char *open = strstr(p, "<%");
        size_t lit = open ? (size_t)(open - p) : strlen(p);
        const char *next = p + lit, *value = NULL;
        char name[128];
        if (open && placeholder_parse(open, name, sizeof(name), &next) != 0) {
            free(res);
            return fail_at(pc, FCU_STATUS_CONFIG_LOAD, line,
                           "malformed substitution, expected <%= ENV['NAME'] %>");
        }
        if (open && !(value = placeholder_value(pc, name, out))) {
            char why[256];
            snprintf(why, sizeof(why), "environment variable %s is not set", name);
            free(res);
            return fail_at(pc, FCU_STATUS_CONFIG_LOAD, line, why);
        }
        if (!append(&res, &len, &cap, p, lit) ||
            (value && !append(&res, &len, &cap, value, strlen(value)))) {
            free(res);
            return fail_at(pc, FCU_STATUS_CONFIG_LOAD, line, "out of memory");
        }
        p = next;
    }
    res[len] = '\0';
    out->text = res;
    out->line = line;
    return 0;
}

static int take_scalar(parse_ctx *pc, yaml_node_t *node, const char *key, fcu_value *out)
{
    if (out->text || out->line) {
        char why[160];
        snprintf(why, sizeof(why), "key %s appears twice", key);
        return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(node), why);
    }
    if (node->type != YAML_SCALAR_NODE) {
        char why[160];
        snprintf(why, sizeof(why), "%s must be a single value", key);
        return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(node), why);
    }
    const char *text = (const char *)node->data.scalar.value;
    out->line = line_of(node);
    bool is_null =
        node->data.scalar.length == 0 || (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                                          (strcmp(text, "~") == 0 || strcmp(text, "null") == 0));
    if (is_null)
        return 0;
    return substitute(pc, text, out->line, out);
}

static const key_slot *find_slot(const key_slot *slots, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(slots[i].key, key) == 0)
            return &slots[i];
    return NULL;
}

static int unknown_key(parse_ctx *pc, yaml_node_t *keynode, const char *section)
{
    char why[256];
    if (keynode->type != YAML_SCALAR_NODE)
        snprintf(why, sizeof(why), "keys must be plain names");
    else if (section)
        snprintf(why, sizeof(why), "unknown key %s in section %s",
                 (const char *)keynode->data.scalar.value, section);
    else
        snprintf(why, sizeof(why), "unknown key %s", (const char *)keynode->data.scalar.value);
    return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(keynode), why);
}

/* Fills the fcu_values at base+slot offsets from a mapping node. */
static int fill_section(parse_ctx *pc, yaml_node_t *map, const char *section, const key_slot *slots,
                        size_t nslots, void *base)
{
    if (map->type == YAML_SCALAR_NODE && map->data.scalar.length == 0)
        return 0; /* "section:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE) {
        char why[160];
        snprintf(why, sizeof(why), "%s must be a section of keys", section);
        return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(map), why);
    }
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = yaml_document_get_node(pc->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(pc->doc, pair->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return unknown_key(pc, k ? k : map, section);
        const key_slot *slot = find_slot(slots, nslots, (const char *)k->data.scalar.value);
        if (!slot)
            return unknown_key(pc, k, section);
        int rc = take_scalar(pc, v, slot->key, (fcu_value *)((char *)base + slot->offset));
        if (rc)
            return rc;
    }
    return 0;
}

static int fill_custom(parse_ctx *pc, yaml_node_t *seq)
{
    if (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0)
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(seq),
                       "custom-properties must be a list");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    fcu_config *cfg = pc->cfg;
    if (cfg->custom) /* as take_scalar refuses a repeated key: the first list would be lost */
        return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(seq),
                       "key custom-properties appears twice");
    cfg->custom = calloc(n ? n : 1, sizeof(*cfg->custom));
    if (!cfg->custom)
        return fail_at(pc, FCU_STATUS_CONFIG_LOAD, line_of(seq), "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(pc->doc, seq->data.sequence.items.start[i]);
        cfg->custom_count = i + 1;
        if (!item)
            return fail_at(pc, FCU_STATUS_CONFIG_INVALID_ATTRIBUTES, line_of(seq),
                           "empty custom property");
        int rc = fill_section(pc, item, "custom-properties", custom_keys,
                              sizeof(custom_keys) / sizeof(custom_keys[0]), &cfg->custom[i]);
        if (rc)
            return rc;
        if (!cfg->custom[i].name.line)
            cfg->custom[i].name.line = line_of(item);
    }
    return 0;
}

static int fill_config(parse_ctx *pc, yaml_node_t *root)
{
    fcu_config *cfg = pc->cfg;
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(pc->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(pc->doc, pair->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return unknown_key(pc, k ? k : root, NULL);
        const char *key = (const char *)k->data.scalar.value;
        int rc;
        const key_slot *slot =
            find_slot(top_scalars, sizeof(top_scalars) / sizeof(top_scalars[0]), key);
        if (slot)
            rc = take_scalar(pc, v, key, (fcu_value *)((char *)cfg + slot->offset));
        else if (strcmp(key, "certificate-authority") == 0)
            rc = fill_section(pc, v, key, ca_keys, sizeof(ca_keys) / sizeof(ca_keys[0]), &cfg->ca);
        else if (strcmp(key, "device-certificate") == 0) {
            /* The device subject has no CN (it is the endpoint name); it may say how long
             * the certificates are valid. */
            static const key_slot device_cert_keys[] = {
                {"organization-name", SUBJ(organization)},
                {"organizational-unit-name", SUBJ(organizational_unit)},
                {"locality-name", SUBJ(locality)},
                {"state-or-province-name", SUBJ(state)},
                {"country-name", SUBJ(country)},
                {"validity-years",
                 offsetof(fcu_config, device_validity_years) - offsetof(fcu_config, device)},
            };
            rc = fill_section(pc, v, key, device_cert_keys,
                              sizeof(device_cert_keys) / sizeof(device_cert_keys[0]), &cfg->device);
        } else if (strcmp(key, "device-info") == 0)
            rc = fill_section(pc, v, key, device_info_keys,
                              sizeof(device_info_keys) / sizeof(device_info_keys[0]), cfg);
        else if (strcmp(key, "custom-properties") == 0)
            rc = fill_custom(pc, v);
        else if (strcmp(key, "trust-level") == 0)
            rc = 0; /* documented as "use the defaults"; the device ignores trust too */
        else
            rc = unknown_key(pc, k, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

int fcu__config_load(const char *path, bool explicit_path, const fcu_dirs *dirs, fcu_config *cfg,
                     fcu_error *err, uint8_t **raw, size_t *raw_len)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->path = fcu__strdup(path);
    cfg->chain_depth_value = -1;
    if (!cfg->path)
        return fcu__fail_detail(err, "out of memory", FCU_STATUS_CONFIG_LOAD, path);

    uint8_t *data;
    size_t len;
    int e = fcu__read_file(path, &data, &len);
    struct stat st;
    if (e == 0 && geteuid() == 0 && stat(path, &st) == 0 && (st.st_mode & 0444) == 0) {
        /* root ignores permission bits; a file nobody may read is still refused */
        fcu__free_wiped(data, len);
        e = EACCES;
    }
    if (e == ENOENT) {
        if (explicit_path)
            return fcu__fail(err, FCU_STATUS_CONFIG_NOT_FOUND, path);
        return fcu__fail(err, FCU_STATUS_HOME_FILE_MISSING, path, dirs->home);
    }
    if (e == EACCES || e == EPERM)
        return fcu__fail(err, FCU_STATUS_NO_PERMISSION, path);
    if (e != 0)
        return fcu__fail_detail(err, strerror(e), FCU_STATUS_CONFIG_LOAD, path);

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fcu__free_wiped(data, len);
        return fcu__fail_detail(err, "out of memory", FCU_STATUS_CONFIG_LOAD, path);
    }
    yaml_parser_set_input_string(&parser, data, len);
    parse_ctx pc = {.doc = &doc, .cfg = cfg, .dirs = dirs, .err = err};
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        char detail[512];
        snprintf(detail, sizeof(detail), "line %lu: %s",
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error");
        rc = fcu__fail_detail(err, detail, FCU_STATUS_CONFIG_NOT_YAML, path);
        yaml_parser_delete(&parser);
        fcu__free_wiped(data, len);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        rc = fail_at(&pc, FCU_STATUS_CONFIG_NOT_YAML, root ? line_of(root) : 1,
                     "the document must be a mapping of keys");
    else
        rc = fill_config(&pc, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc == 0 && raw) {
        *raw = data;
        *raw_len = len;
    } else {
        fcu__free_wiped(data, len);
    }
    return rc;
}

void fcu__free_wiped(void *p, size_t n)
{
    if (p != NULL)
        OPENSSL_cleanse(p, n);
    free(p);
}

static void value_free(fcu_value *v)
{
    fcu__free_wiped(v->text, v->text ? strlen(v->text) : 0);
    free(v->env);
    memset(v, 0, sizeof(*v));
}

static void subject_free(fcu_subject_config *s)
{
    value_free(&s->common_name);
    value_free(&s->organization);
    value_free(&s->organizational_unit);
    value_free(&s->locality);
    value_free(&s->state);
    value_free(&s->country);
}

void fcu__config_free(fcu_config *cfg)
{
    if (!cfg)
        return;
    fcu_value *all[] = {&cfg->setup_ca_as_intermediate,
                        &cfg->use_bootstrap,
                        &cfg->first_to_claim,
                        &cfg->time_sync,
                        &cfg->verify_on_device,
                        &cfg->key_generation_mode,
                        &cfg->entropy_generation_mode,
                        &cfg->chain_depth,
                        &cfg->device_validity_years,
                        &cfg->manufacturer,
                        &cfg->device_type,
                        &cfg->model_number,
                        &cfg->hardware_version,
                        &cfg->memory_total,
                        &cfg->timezone,
                        &cfg->utc_offset,
                        &cfg->bootstrap_uri,
                        &cfg->bootstrap_uri_ftc,
                        &cfg->bootstrap_ca_file,
                        &cfg->bootstrap_crl_file,
                        &cfg->lwm2m_uri,
                        &cfg->lwm2m_ca_file,
                        &cfg->lwm2m_crl_file,
                        &cfg->update_auth_file,
                        &cfg->vendor_id,
                        &cfg->class_id,
                        &cfg->fw_ca_file,
                        &cfg->ca_key_uri,
                        &cfg->external_ca,
                        &cfg->records_url,
                        &cfg->fw_crl_file};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        value_free(all[i]);
    subject_free(&cfg->ca);
    subject_free(&cfg->device);
    for (size_t i = 0; i < cfg->custom_count; i++) {
        value_free(&cfg->custom[i].name);
        value_free(&cfg->custom[i].type);
        value_free(&cfg->custom[i].data);
        value_free(&cfg->custom[i].data_file);
    }
    free(cfg->custom);
    for (size_t i = 0; i < cfg->env_count; i++) {
        free(cfg->env_names[i]);
        fcu__free_wiped(cfg->env_values[i], cfg->env_values[i] ? strlen(cfg->env_values[i]) : 0);
    }
    free(cfg->env_names);
    free(cfg->env_values);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

int fcu__config_invalid(const fcu_config *cfg, const char *field, const fcu_value *v,
                        const char *why, fcu_error *err)
{
    char msg[600];
    if (v && v->line)
        snprintf(msg, sizeof(msg), "%s (%s line %d)", why, cfg->path, v->line);
    else
        snprintf(msg, sizeof(msg), "%s (%s)", why, cfg->path);
    return fcu__fail(err, FCU_STATUS_VALIDATION, field, msg);
}

static int decode_bool(const fcu_config *cfg, const char *field, const fcu_value *v, bool dflt,
                       bool *out, fcu_error *err)
{
    if (!v->text) {
        *out = dflt;
        return 0;
    }
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v->text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v->text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return fcu__config_invalid(cfg, field, v, "must be true or false", err);
}

static int decode_int(const fcu_config *cfg, const char *field, const fcu_value *v, long long min,
                      long long max, long long *out, fcu_error *err)
{
    char *end;
    errno = 0;
    long long x = strtoll(v->text, &end, 10);
    if (errno || end == v->text || *end || x < min || x > max) {
        char why[128];
        snprintf(why, sizeof(why), "must be an integer from %lld to %lld", min, max);
        return fcu__config_invalid(cfg, field, v, why, err);
    }
    *out = x;
    return 0;
}

static int decode_flags(fcu_config *cfg, fcu_error *err)
{
    int rc;
    if ((rc = decode_bool(cfg, "setup-ca-as-intermediate", &cfg->setup_ca_as_intermediate, false,
                          &cfg->intermediate, err)) ||
        (rc = decode_bool(cfg, "use-bootstrap", &cfg->use_bootstrap, true, &cfg->bootstrap, err)) ||
        (rc = decode_bool(cfg, "first-to-claim", &cfg->first_to_claim, false, &cfg->ftc, err)) ||
        (rc = decode_bool(cfg, "time-sync", &cfg->time_sync, true, &cfg->sync_time, err)) ||
        (rc =
             decode_bool(cfg, "verify-on-device", &cfg->verify_on_device, true, &cfg->verify, err)))
        return rc;
    return 0;
}

/* One of three mode names; the first is the default. *out becomes the name's index, which is
 * the value of the mode's enum. */
static int decode_mode(const fcu_config *cfg, const char *field, const fcu_value *v,
                       const char *const names[3], int *out, fcu_error *err)
{
    for (int i = 0; i < 3; i++) {
        if ((i == 0 && !v->text) || (v->text && strcmp(v->text, names[i]) == 0)) {
            *out = i;
            return 0;
        }
    }
    char why[128];
    snprintf(why, sizeof(why), "must be %s, %s or %s", names[0], names[1], names[2]);
    return fcu__config_invalid(cfg, field, v, why, err);
}

static int decode_modes(fcu_config *cfg, fcu_error *err)
{
    static const char *const keygen[3] = {"by_tool", "by_device", "externally_supplied"};
    static const char *const entropy[3] = {"by_device", "by_tool", "externally_supplied"};
    int rc = decode_mode(cfg, "device-key-generation-mode", &cfg->key_generation_mode, keygen,
                         &cfg->keygen, err);
    if (rc == 0)
        rc = decode_mode(cfg, "entropy-generation-mode", &cfg->entropy_generation_mode, entropy,
                         &cfg->entropy, err);
    return rc;
}

static int decode_numbers(fcu_config *cfg, fcu_error *err)
{
    int rc;
    cfg->chain_depth_value = -1;
    if (cfg->chain_depth.text &&
        (rc = decode_int(cfg, "device-certificate-chain-depth", &cfg->chain_depth, 0,
                         FCC_MAX_CHAIN_LENGTH - 1, &cfg->chain_depth_value, err)))
        return rc;
    cfg->memory_total_kb = -1;
    if (cfg->memory_total.text && (rc = decode_int(cfg, "memory-total", &cfg->memory_total, 0,
                                                   0x7fffffff, &cfg->memory_total_kb, err)))
        return rc;
    long long years = 10;
    if (cfg->device_validity_years.text &&
        (rc = decode_int(cfg, "validity-years", &cfg->device_validity_years, 1, 100, &years, err)))
        return rc;
    cfg->validity_years = (int)years;
    return 0;
}

static int decode_consistency(fcu_config *cfg, fcu_error *err)
{
    const fcu_value *countries[] = {&cfg->ca.country, &cfg->device.country};
    for (size_t i = 0; i < 2; i++)
        if (countries[i]->text && strlen(countries[i]->text) != 2)
            return fcu__config_invalid(cfg, "country-name", countries[i],
                                       "must be a two-letter country code", err);
    if (cfg->ftc && !cfg->bootstrap)
        return fcu__config_invalid(cfg, "first-to-claim", &cfg->first_to_claim,
                                   "is only valid with use-bootstrap: true", err);
    if (cfg->ca_key_uri.text && !kiln_pki_is_key_uri(cfg->ca_key_uri.text))
        return fcu__config_invalid(cfg, "key-uri", &cfg->ca_key_uri,
                                   "must be a pkcs11: URI (RFC 7512)", err);
    return 0;
}

static int decode_custom(fcu_config *cfg, fcu_custom_property *p, fcu_error *err)
{
    if (!p->name.text)
        return fcu__config_invalid(cfg, "custom-properties", &p->name, "name is mandatory", err);
    if (strncmp(p->name.text, "mbed.", 5) == 0)
        return fcu__config_invalid(cfg, p->name.text, &p->name,
                                   "custom names must not use the mbed. prefix", err);
    static const char *types[] = {"certificate", "private-key", "public-key",
                                  "string",      "integer",     "binary"};
    p->type_code = -1;
    for (size_t t = 0; p->type.text && t < sizeof(types) / sizeof(types[0]); t++)
        if (strcmp(p->type.text, types[t]) == 0)
            p->type_code = (int)t;
    if (p->type_code < 0)
        return fcu__config_invalid(cfg, p->name.text, p->type.line ? &p->type : &p->name,
                                   "type must be certificate, private-key, public-key, "
                                   "string, integer or binary",
                                   err);
    if (!p->data.text == !p->data_file.text)
        return fcu__config_invalid(cfg, p->name.text, &p->name,
                                   "exactly one of data and data-file is needed", err);
    return 0;
}

int fcu__config_decode(fcu_config *cfg, fcu_error *err)
{
    int rc = decode_flags(cfg, err);
    if (rc == 0)
        rc = decode_modes(cfg, err);
    if (rc == 0)
        rc = decode_numbers(cfg, err);
    if (rc == 0)
        rc = decode_consistency(cfg, err);
    for (size_t i = 0; rc == 0 && i < cfg->custom_count; i++)
        rc = decode_custom(cfg, &cfg->custom[i], err);
    return rc;
}
