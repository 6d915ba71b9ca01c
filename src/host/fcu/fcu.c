/* The FCU handle: its directories, the cached configuration, CA setup, and the entry point
 * that prepares a device's bundle (the parts are in the files fcu_prepare.h lists). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fcu_prepare.h"
#include "kiln_endpoint_name.h"

/* ---- handle ---- */

/* Absolute, because fcu.yml's relative file names are taken from the home directory: a
 * relative home would otherwise be applied twice to <%= ENV['FCU_RESOURCES_DIR'] %>/... */
static char *absolute_dir(const char *dir)
{
    char cwd[4096];
    if (dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return fcu__strdup(dir);
    if (strcmp(dir, ".") == 0)
        return fcu__strdup(cwd);
    return fcu__path_join(cwd, strncmp(dir, "./", 2) == 0 ? dir + 2 : dir);
}

static char *choose_dir(const char *given, const char *env, const char *base, const char *sub)
{
    if (given && *given)
        return absolute_dir(given);
    const char *e = env ? getenv(env) : NULL;
    if (e && *e)
        return absolute_dir(e);
    if (sub)
        return fcu__path_join(base, sub);
    return absolute_dir(".");
}

fcu *fcu_open(const fcu_options *opts)
{
    fcu_options none = {0};
    if (!opts)
        opts = &none;
    fcu *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->home = choose_dir(opts->home_dir, "FCU_HOME_DIR", NULL, NULL);
    f->resources =
        f->home ? choose_dir(opts->resources_dir, "FCU_RESOURCES_DIR", f->home, "resources") : NULL;
    f->keystore =
        f->home ? choose_dir(opts->keystore_dir, "FCU_KEYSTORE_DIR", f->home, "keystore") : NULL;
    f->config_explicit = opts->config_file && *opts->config_file;
    f->config = f->config_explicit ? fcu__strdup(opts->config_file)
                                   : (f->home ? fcu__path_join(f->home, "config/fcu.yml") : NULL);
    if (!f->home || !f->resources || !f->keystore || !f->config) {
        fcu_close(f);
        return NULL;
    }
    return f;
}

void fcu_close(fcu *f)
{
    if (!f)
        return;
    fcu__ca_clear(&f->ca);
    EVP_PKEY_CTX_free(f->keygen);
    fcu__config_free(&f->cfg);
    fcu__free_wiped(f->cfg_bytes, f->cfg_len);
    fcu__resources_free(f);
    free(f->external_ca);
    free(f->home);
    free(f->resources);
    free(f->keystore);
    free(f->config);
    free(f);
}

const char *fcu_home_dir(const fcu *f)
{
    return f->home;
}
const char *fcu_resources_dir(const fcu *f)
{
    return f->resources;
}
const char *fcu_keystore_dir(const fcu *f)
{
    return f->keystore;
}
const char *fcu_config_file(const fcu *f)
{
    return f->config;
}

static bool config_unchanged(const fcu *f)
{
    if (!f->cfg_valid)
        return false;
    uint8_t *data;
    size_t len;
    mode_t mode = 0;
    if (fcu__read_file_mode(f->config, &data, &len, &mode) != 0)
        return false;
    bool same = len == f->cfg_len && memcmp(data, f->cfg_bytes, len) == 0;
    fcu__free_wiped(data, len);
    if ((mode & 0444) == 0)
        same = false; /* let the full load report the permission problem */
    for (size_t i = 0; same && i < f->cfg.env_count; i++) {
        const char *now = getenv(f->cfg.env_names[i]);
        same = now && strcmp(now, f->cfg.env_values[i]) == 0;
    }
    return same;
}

/* The configuration for this call: re-read from the file every time (it may be edited between
 * calls), parsed again only when its bytes or the environment it uses changed. */
int fcu__load_config(fcu *f, const fcu_config **out, fcu_error *err)
{
    if (config_unchanged(f)) {
        *out = &f->cfg;
        return 0;
    }
    fcu__config_free(&f->cfg);
    fcu__free_wiped(f->cfg_bytes, f->cfg_len);
    f->cfg_bytes = NULL;
    f->cfg_valid = false;
    fcu_dirs dirs = {f->home, f->resources, f->keystore};
    int rc = fcu__config_load(f->config, f->config_explicit, &dirs, &f->cfg, err, &f->cfg_bytes,
                              &f->cfg_len);
    if (rc == 0)
        rc = fcu__config_decode(&f->cfg, err);
    f->cfg_valid = rc == 0;
    *out = &f->cfg;
    return rc;
}

/* ---- setup ---- */

static int setup_common(fcu *f, const setup_key_source *do_setup, bool override,
                        fcu_setup_status *out)
{
    memset(out, 0, sizeof(*out));
    const fcu_config *cfg;
    fcu_error err = {0};
    int rc = fcu__load_config(f, &cfg, &err);
    if (rc) {
        fcu__ca_details_fill(&out->ca_details, f->keystore, false);
        out->status = rc;
        fcu__notice_add_text(&out->errors, rc, err.message);
    } else if (do_setup) {
        rc = fcu__setup(cfg, f->keystore, do_setup, override, out);
        fcu__ca_clear(&f->ca);
    } else {
        rc = fcu__setup_status(cfg, f->keystore, out);
    }
    return rc;
}

int fcu_setup(fcu *f, bool override_existing_ca, fcu_setup_status *out)
{
    setup_key_source key = {NULL, false};
    return setup_common(f, &key, override_existing_ca, out);
}

int fcu_setup_with_key(fcu *f, const char *key_uri, bool generate, bool override_existing_ca,
                       fcu_setup_status *out)
{
    setup_key_source key = {key_uri, generate};
    return setup_common(f, &key, override_existing_ca, out);
}

int fcu_get_setup_status(fcu *f, fcu_setup_status *out)
{
    return setup_common(f, NULL, false, out);
}

bool fcu__valid_argument(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int check_arguments(const char *endpoint, const char *serial, fcu_error *err)
{
    if (!endpoint || !*endpoint)
        return fcu__fail(err, FCU_STATUS_MANDATORY_ARGUMENT, "endpoint name");
    if (!serial || !*serial)
        return fcu__fail(err, FCU_STATUS_MANDATORY_ARGUMENT, "serial number");
    /* The verdict says why; the name itself is not echoed, it may hold control bytes. */
    kiln_endpoint_name_verdict verdict = kiln_endpoint_name_check_str(endpoint);
    if (verdict != KILN_ENDPOINT_NAME_OK)
        return fcu__fail_detail(err, kiln_endpoint_name_verdict_text(verdict),
                                FCU_STATUS_BAD_ARGUMENT_TYPE, "endpoint_name");
    if (!fcu__valid_argument(serial))
        return fcu__fail(err, FCU_STATUS_BAD_ARGUMENT_TYPE, "serial_number");
    return 0;
}

void fcu_device_request_free(fcu_device_request *r)
{
    if (!r)
        return;
    if (r->config_data) {
        OPENSSL_cleanse(r->config_data, r->config_size);
        free(r->config_data);
    }
    fcu__notice_list_free(&r->errors);
    fcu__notice_list_free(&r->warnings);
    free(r->enrollment_id);
    fcu_operation_context_free(r->operation_ctx);
    memset(r, 0, sizeof(*r));
}

static int request_fail(fcu_device_request *out, const fcu_error *err)
{
    if (out->config_data) {
        OPENSSL_cleanse(out->config_data, out->config_size);
        free(out->config_data);
        out->config_data = NULL;
        out->config_size = 0;
    }
    fcu_operation_context_free(out->operation_ctx);
    out->operation_ctx = NULL;
    free(out->enrollment_id);
    out->enrollment_id = NULL;
    out->status = err->code;
    fcu__notice_add_text(&out->errors, err->code, err->message);
    return err->code;
}

int fcu_prepare_device_configuration(fcu *f, const char *endpoint_name, const char *serial_number,
                                     const char *device_keys_location, fcu_device_request *out)
{
    return fcu_prepare_device_configuration_ex(f, endpoint_name, serial_number,
                                               device_keys_location, NULL, 0, out);
}

int fcu_prepare_device_configuration_ex(fcu *f, const char *endpoint_name,
                                        const char *serial_number, const char *device_keys_location,
                                        const fcu_extra_property *props, size_t props_count,
                                        fcu_device_request *out)
{
    memset(out, 0, sizeof(*out));
    fcu_error err = {0};
    const fcu_config *cfg = NULL;
    int rc = check_arguments(endpoint_name, serial_number, &err);
    if (rc)
        return request_fail(out, &err);
    bool checked = f->batch && f->batch_checked;
    rc = checked ? 0 : fcu__load_config(f, &cfg, &err);
    if (checked)
        cfg = &f->cfg;
    const fcu_device_names *names = fcu__names_of(cfg);
    /* externally supplied, or by_device with an external CA: no CA of kiln's signs */
    bool own_ca = rc == 0 && cfg->keygen != FCU_KEYGEN_EXTERNAL &&
                  !(cfg->keygen == FCU_KEYGEN_BY_DEVICE && fcu__external_ca(f, cfg) != NULL);
    if (checked && own_ca) {
        fcu__ca_loaded_key_warning(&f->ca, f->keystore, &out->warnings);
    } else if (own_ca) {
        rc = fcu__ca_load(&f->ca, f->keystore, cfg, &err);
        if (rc == 0)
            rc = fcu__check_ca_chain(f, cfg, names, &err);
        if (rc == 0)
            fcu__ca_loaded_key_warning(&f->ca, f->keystore, &out->warnings);
    }
    fcu_prepare_input in = {.endpoint = endpoint_name,
                            .serial = serial_number,
                            .keys_location = device_keys_location,
                            .extra = props,
                            .extra_count = props_count};
    if (rc == 0 && cfg->keygen == FCU_KEYGEN_BY_DEVICE && props_count)
        rc = fcu__fail(&err, FCU_STATUS_VALIDATION, props[0].name ? props[0].name : "",
                       "per-device properties need a one-step key-generation-mode "
                       "(by_tool or externally_supplied)");
    if (rc == 0 && cfg->keygen == FCU_KEYGEN_BY_DEVICE) {
        rc = fcu__validate_mandatory(cfg, &err);
        if (rc == 0)
            rc = fcu__build_csr_request(cfg, &in, out, &err);
    } else if (rc == 0) {
        /* The device echoes the SID: verify then knows which endpoint an answer is for. */
        char *sid = fcu__session_id_new(endpoint_name);
        in.session_id = sid;
        rc = sid ? fcu__build_bundle(f, cfg, &in, out, &err)
                 : fcu__fail(&err, FCU_STATUS_GENERAL, "out of memory");
        free(sid);
    }
    if (rc)
        return request_fail(out, &err);
    f->batch_checked = f->batch;
    return 0;
}

int fcu_set_external_ca(fcu *f, const char *command)
{
    char *copy = command != NULL && *command ? fcu__strdup(command) : NULL;
    if (command != NULL && *command && copy == NULL)
        return -1;
    free(f->external_ca);
    f->external_ca = copy;
    f->batch_checked = false;
    return 0;
}

const char *fcu_records_url(fcu *f)
{
    const fcu_config *cfg = NULL;
    fcu_error err = {0};
    return fcu__load_config(f, &cfg, &err) == 0 ? cfg->records_url.text : NULL;
}

const char *fcu__external_ca(const fcu *f, const fcu_config *cfg)
{
    if (f->external_ca != NULL)
        return f->external_ca;
    const char *env = getenv("KILN_EXTERNAL_CA");
    if (env != NULL && *env)
        return env;
    return cfg != NULL ? cfg->external_ca.text : NULL;
}

void fcu_set_batch_mode(fcu *f, bool on)
{
    f->batch = on;
    f->batch_checked = false;
}

void fcu_batch_recheck(fcu *f)
{
    f->batch_checked = false;
}
