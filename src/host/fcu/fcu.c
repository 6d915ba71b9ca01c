/* The FCU handle and its three jobs: prepare a device's bundle, verify a device's answer and
 * (by_device) turn the answer's CSRs into the second bundle. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "fcc_bundle_fields.h"
#include "fcu_internal.h"

/* Certificates read from resource files, kept while the file is unchanged: parsing them is
 * a large share of a bundle's cost. */
#define FCU_RESOURCE_CACHE 8
typedef struct resource_entry {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint8_t *der;
    size_t der_len;
} resource_entry;

struct fcu {
    char *home, *resources, *keystore, *config;
    bool config_explicit;
    fcu_ca ca;
    resource_entry resources_cache[FCU_RESOURCE_CACHE];
    size_t next_cache_slot;
    /* The last configuration read, kept while the file's bytes and the environment variables
     * it used are the same: the file is still read on every call. */
    EVP_PKEY_CTX *keygen; /* P-256 generation from a parameter template, reused per device */
    fcu_config cfg;
    bool cfg_valid;
    uint8_t *cfg_bytes;
    size_t cfg_len;
};

struct fcu_operation_context {
    char *session_id;
    char *endpoint;
    char *serial;
    char *keys_location;
    char *key_name; /* PrKN the device generated */
};

/* ---- handle ---- */

static char *choose_dir(const char *given, const char *env, const char *base, const char *sub)
{
    if (given && *given)
        return fcu__strdup(given);
    const char *e = env ? getenv(env) : NULL;
    if (e && *e)
        return fcu__strdup(e);
    if (sub)
        return fcu__path_join(base, sub);
    char cwd[4096];
    return fcu__strdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
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
    free(f->cfg_bytes);
    for (size_t i = 0; i < FCU_RESOURCE_CACHE; i++) {
        free(f->resources_cache[i].path);
        free(f->resources_cache[i].der);
    }
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

/* A device key. Generating from a context whose template already holds the P-256 group saves
 * building the group (and its Montgomery constants) for every key, as EVP_EC_gen does. */
static EVP_PKEY *device_key_generate(fcu *f)
{
    if (FCU_FAIL_POINT(FCU_STATUS_DEVICE_KEY_CREATE))
        return NULL;
    if (!f->keygen) {
        EVP_PKEY *params = NULL;
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (pctx && EVP_PKEY_paramgen_init(pctx) == 1 &&
            EVP_PKEY_CTX_set_group_name(pctx, "P-256") == 1 &&
            EVP_PKEY_paramgen(pctx, &params) == 1) {
            f->keygen = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
            if (f->keygen && EVP_PKEY_keygen_init(f->keygen) != 1) {
                EVP_PKEY_CTX_free(f->keygen);
                f->keygen = NULL;
            }
        }
        EVP_PKEY_free(params);
        EVP_PKEY_CTX_free(pctx);
        ERR_clear_error();
    }
    EVP_PKEY *key = NULL;
    if (!f->keygen || EVP_PKEY_generate(f->keygen, &key) != 1) {
        ERR_clear_error();
        return fcu__p256_generate();
    }
    return key;
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
    free(data);
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
static int load_config(fcu *f, const fcu_config **out, fcu_error *err)
{
    if (config_unchanged(f)) {
        *out = &f->cfg;
        return 0;
    }
    fcu__config_free(&f->cfg);
    free(f->cfg_bytes);
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

static int setup_common(fcu *f, bool do_setup, bool override, fcu_setup_status *out)
{
    memset(out, 0, sizeof(*out));
    const fcu_config *cfg;
    fcu_error err = {0};
    int rc = load_config(f, &cfg, &err);
    if (rc) {
        fcu__ca_details_fill(&out->ca_details, f->keystore, false);
        out->status = rc;
        fcu__notice_add_text(&out->errors, rc, err.message);
    } else if (do_setup) {
        rc = fcu__setup(cfg, f->keystore, override, out);
        fcu__ca_clear(&f->ca);
    } else {
        rc = fcu__setup_status(cfg, f->keystore, out);
    }
    return rc;
}

int fcu_setup(fcu *f, bool override_existing_ca, fcu_setup_status *out)
{
    return setup_common(f, true, override_existing_ca, out);
}

int fcu_get_setup_status(fcu *f, fcu_setup_status *out)
{
    return setup_common(f, false, false, out);
}

/* ---- bundle assembly ---- */

typedef struct bundle {
    fcu_cbuf keys, certs, chains, params;
    size_t nkeys, ncerts, nchains, nparams;
} bundle;

static void bundle_free(bundle *b)
{
    /* key material passes through b->keys: wipe before freeing */
    if (b->keys.data)
        OPENSSL_cleanse(b->keys.data, b->keys.cap);
    fcu__cb_free(&b->keys);
    fcu__cb_free(&b->certs);
    fcu__cb_free(&b->chains);
    fcu__cb_free(&b->params);
}

static void add_key(bundle *b, const char *name, const char *type, const uint8_t *der, size_t len)
{
    fcu__cb_map(&b->keys, 4);
    fcu__cb_text(&b->keys, FCC_FIELD_NAME);
    fcu__cb_text(&b->keys, name);
    fcu__cb_text(&b->keys, FCC_FIELD_TYPE);
    fcu__cb_text(&b->keys, type);
    fcu__cb_text(&b->keys, FCC_FIELD_FORMAT);
    fcu__cb_text(&b->keys, FCC_FORMAT_DER);
    fcu__cb_text(&b->keys, FCC_FIELD_DATA);
    fcu__cb_bytes(&b->keys, der, len);
    b->nkeys++;
}

static void add_cert(bundle *b, const char *name, const uint8_t *der, size_t len,
                     const char *key_name)
{
    fcu__cb_map(&b->certs, key_name ? 4 : 3);
    fcu__cb_text(&b->certs, FCC_FIELD_NAME);
    fcu__cb_text(&b->certs, name);
    fcu__cb_text(&b->certs, FCC_FIELD_FORMAT);
    fcu__cb_text(&b->certs, FCC_FORMAT_DER);
    fcu__cb_text(&b->certs, FCC_FIELD_DATA);
    fcu__cb_bytes(&b->certs, der, len);
    if (key_name) {
        fcu__cb_text(&b->certs, FCC_FIELD_PRIVATE_KEY_NAME);
        fcu__cb_text(&b->certs, key_name);
    }
    b->ncerts++;
}

static void param_head(bundle *b, const char *name)
{
    fcu__cb_map(&b->params, 2);
    fcu__cb_text(&b->params, FCC_FIELD_NAME);
    fcu__cb_text(&b->params, name);
    fcu__cb_text(&b->params, FCC_FIELD_DATA);
    b->nparams++;
}

static void add_text(bundle *b, const char *name, const char *value)
{
    param_head(b, name);
    fcu__cb_text(&b->params, value);
}

static void add_bytes(bundle *b, const char *name, const uint8_t *p, size_t n)
{
    param_head(b, name);
    fcu__cb_bytes(&b->params, p, n);
}

static void add_int(bundle *b, const char *name, int64_t v)
{
    param_head(b, name);
    fcu__cb_int(&b->params, v);
}

/* ---- helpers for prepare ---- */

static int load_file_value(const fcu *f, const fcu_config *cfg, const char *field,
                           const fcu_value *v, uint8_t **data, size_t *len, fcu_error *err)
{
    (void)cfg;
    (void)field;
    char *path = fcu__path_join(f->home, v->text);
    if (!path)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    int e = fcu__read_file(path, data, len);
    int rc = 0;
    if (e == ENOENT && v->env)
        rc = fcu__fail(err, FCU_STATUS_ENV_FILE_MISSING, path, v->env);
    else if (e == EACCES)
        rc = fcu__fail(err, FCU_STATUS_NO_PERMISSION, path);
    else if (e)
        rc = fcu__fail_detail(err, strerror(e), FCU_STATUS_FILE_LOAD, path);
    free(path);
    return rc;
}

static resource_entry *cache_find(fcu *f, const char *path, const struct stat *st)
{
    for (size_t i = 0; i < FCU_RESOURCE_CACHE; i++) {
        resource_entry *e = &f->resources_cache[i];
        if (e->path && strcmp(e->path, path) == 0 && e->dev == st->st_dev && e->ino == st->st_ino &&
            e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
            e->mtime.tv_nsec == st->st_mtim.tv_nsec)
            return e;
    }
    return NULL;
}

static void cache_store(fcu *f, const char *path, const struct stat *st, const uint8_t *der,
                        size_t len)
{
    resource_entry *e = &f->resources_cache[f->next_cache_slot];
    f->next_cache_slot = (f->next_cache_slot + 1) % FCU_RESOURCE_CACHE;
    free(e->path);
    free(e->der);
    memset(e, 0, sizeof(*e));
    e->path = fcu__strdup(path);
    e->der = malloc(len);
    if (!e->path || !e->der) {
        free(e->path);
        free(e->der);
        memset(e, 0, sizeof(*e));
        return;
    }
    memcpy(e->der, der, len);
    e->der_len = len;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
}

/* Loads a certificate file named by the configuration; returns its first certificate as DER. */
static int load_cert_value(fcu *f, const fcu_config *cfg, const char *field, const fcu_value *v,
                           uint8_t **der, size_t *der_len, fcu_error *err)
{
    char *path = fcu__path_join(f->home, v->text);
    struct stat st;
    resource_entry *hit = path && stat(path, &st) == 0 ? cache_find(f, path, &st) : NULL;
    if (hit) {
        free(path);
        *der = malloc(hit->der_len);
        if (!*der)
            return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        memcpy(*der, hit->der, hit->der_len);
        *der_len = hit->der_len;
        return 0;
    }
    uint8_t *data;
    size_t len;
    int rc = load_file_value(f, cfg, field, v, &data, &len, err);
    if (rc) {
        free(path);
        return rc;
    }
    STACK_OF(X509) *certs = fcu__certs_parse(data, len);
    free(data);
    if (!certs) {
        rc = fcu__fail(err, FCU_STATUS_NOT_X509, path ? path : v->text);
        free(path);
        return rc;
    }
    if (fcu__x509_der(sk_X509_value(certs, 0), der, der_len) != 0)
        rc = fcu__fail(err, FCU_STATUS_GENERAL, "cannot encode certificate");
    else if (path && stat(path, &st) == 0)
        cache_store(f, path, &st, *der, *der_len);
    sk_X509_pop_free(certs, X509_free);
    free(path);
    return rc;
}

static int parse_uuid(const char *text, uint8_t out[16])
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '-')
            continue;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || n == 16)
            return -1;
        char hex[3] = {p[0], p[1], 0};
        out[n++] = (uint8_t)strtoul(hex, NULL, 16);
        p++;
    }
    return n == 16 ? 0 : -1;
}

/* The account id in an LwM2M/bootstrap URI ("...?aid=<id>&..."), or NULL. */
static char *uri_account_id(const char *uri)
{
    const char *q = strchr(uri, '?');
    while (q) {
        q++;
        if (strncmp(q, "aid=", 4) == 0) {
            const char *v = q + 4;
            size_t n = strcspn(v, "&");
            char *id = malloc(n + 1);
            if (id) {
                memcpy(id, v, n);
                id[n] = '\0';
            }
            return id;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

static bool valid_argument(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static char *enrollment_id(const uint8_t *der, size_t len)
{
    unsigned char md[32];
    if (!EVP_Digest(der, len, md, NULL, EVP_sha256(), NULL))
        return NULL;
    char *id = malloc(2 + 32 * 3);
    if (!id)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    id[n++] = 'A';
    id[n++] = '-';
    for (size_t i = 0; i < 32; i++) {
        if (i)
            id[n++] = ':';
        id[n++] = hex[md[i] >> 4];
        id[n++] = hex[md[i] & 15];
    }
    id[n] = '\0';
    return id;
}

typedef struct device_names {
    const char *key, *cert, *server_ca, *server_crl, *uri;
} device_names;

static const device_names bootstrap_names = {
    FCC_BOOTSTRAP_DEVICE_PRIVATE_KEY, FCC_BOOTSTRAP_DEVICE_CERT, FCC_BOOTSTRAP_SERVER_CA_CERT,
    FCC_BOOTSTRAP_SERVER_CRL, FCC_BOOTSTRAP_SERVER_URI};
static const device_names lwm2m_names = {FCC_LWM2M_DEVICE_PRIVATE_KEY, FCC_LWM2M_DEVICE_CERT,
                                         FCC_LWM2M_SERVER_CA_CERT, FCC_LWM2M_SERVER_CRL,
                                         FCC_LWM2M_SERVER_URI};

/* The device's credentials, however they were obtained. */
typedef struct device_creds {
    uint8_t *key_der; /* NULL for by_device (the key stays on the device) */
    size_t key_len;
    STACK_OF(X509) * chain;              /* certificate [, issuers...] (externally supplied) */
    const char *key_name_on_cert;        /* PrKN on the certificate item (by_device) */
    uint8_t *ders[FCC_MAX_CHAIN_LENGTH]; /* the chain in DER, device certificate first */
    size_t der_lens[FCC_MAX_CHAIN_LENGTH];
    int nders;
} device_creds;

static void creds_free(device_creds *c)
{
    if (c->key_der) {
        OPENSSL_cleanse(c->key_der, c->key_len);
        OPENSSL_free(c->key_der);
    }
    sk_X509_pop_free(c->chain, X509_free);
    for (int i = 0; i < c->nders; i++)
        free(c->ders[i]);
    memset(c, 0, sizeof(*c));
}

static bool is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t glen = 0;
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) &&
           (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

/* SEC1 ECPrivateKey of a P-256 key (the 121-byte form the device expects) and its public
 * point, exported in one call and written directly: i2d_PrivateKey goes through OpenSSL's
 * encoder framework, several times slower. */
static int p256_sec1(EVP_PKEY *key, uint8_t point[65], device_creds *c)
{
    static const unsigned char head[] = {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20};
    static const unsigned char mid[] = {0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                        0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42, 0x00};
    unsigned char native[32]; /* the scalar in host byte order, as OSSL_PARAM carries it */
    OSSL_PARAM params[] = {OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, 65),
                           OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, sizeof(native)),
                           OSSL_PARAM_END};
    if (EVP_PKEY_get_params(key, params) != 1 || params[0].return_size != 65 ||
        params[1].return_size > sizeof(native)) {
        OPENSSL_cleanse(native, sizeof(native));
        ERR_clear_error();
        return -1;
    }
    size_t total = sizeof(head) + 32 + sizeof(mid) + 65;
    unsigned char *der = OPENSSL_malloc(total);
    if (!der) {
        OPENSSL_cleanse(native, sizeof(native));
        return -1;
    }
    const uint16_t probe = 1;
    bool little = *(const uint8_t *)&probe == 1;
    unsigned char *scalar = der + sizeof(head);
    for (size_t i = 0; i < 32; i++)
        scalar[i] = little ? native[31 - i] : native[i];
    OPENSSL_cleanse(native, sizeof(native));
    memcpy(der, head, sizeof(head));
    memcpy(der + sizeof(head) + 32, mid, sizeof(mid));
    memcpy(der + sizeof(head) + 32 + sizeof(mid), point, 65);
    c->key_der = der;
    c->key_len = total;
    return 0;
}

static int key_der_sec1(EVP_PKEY *key, device_creds *c)
{
    uint8_t point[65];
    if (is_p256(key))
        return p256_sec1(key, point, c);
    {
        unsigned char *der = NULL;
        int n = i2d_PrivateKey(key, &der);
        if (n <= 0)
            return -1;
        c->key_der = der;
        c->key_len = (size_t)n;
    }
    return 0;
}

/* Device certificate signed by the CA for pubkey, followed by the configured chain depth of
 * fcu.crt's issuers. */
static int creds_from_ca(fcu *f, const fcu_config *cfg, const device_names *names,
                         const uint8_t point[65], const char *endpoint, const char *ou,
                         device_creds *c, fcu_error *err)
{
    if (fcu__device_cert_issue(&f->ca, cfg, point, endpoint, ou, &c->ders[0], &c->der_lens[0]) != 0)
        return fcu__fail(err, FCU_STATUS_DEVICE_CERT_CREATE, names->cert);
    c->nders = 1;
    /* The chain sent to the device: the device certificate, then the CA certificate and its
     * issuers from fcu.crt, device-certificate-chain-depth of them. */
    for (long long i = 0;
         i < cfg->chain_depth_value && i < f->ca.nders && c->nders < FCC_MAX_CHAIN_LENGTH; i++) {
        c->ders[c->nders] = malloc(f->ca.der_lens[i]);
        if (!c->ders[c->nders])
            return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        memcpy(c->ders[c->nders], f->ca.ders[i], f->ca.der_lens[i]);
        c->der_lens[c->nders] = f->ca.der_lens[i];
        c->nders++;
    }
    return 0;
}

static int check_ca_chain(const fcu *f, const fcu_config *cfg, const device_names *names,
                          fcu_error *err)
{
    int issuers = f->ca.chain ? sk_X509_num(f->ca.chain) : 0;
    if (issuers > 0 && cfg->chain_depth_value < 0)
        return fcu__fail(err, FCU_STATUS_CHAIN_DEPTH_UNDEFINED, names->cert);
    if (cfg->chain_depth_value > issuers + 1)
        return fcu__fail(err, FCU_STATUS_CHAIN_DEPTH_TOO_LARGE, names->cert);
    return 0;
}

static const char *const key_file_names[] = {"device.key", "device_key.pem", "device_key.der"};
static const char *const cert_file_names[] = {"device.crt", "device_cert.pem", "device_cert.der"};

static char *find_file(const char *dir, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = fcu__path_join(dir, names[i]);
        struct stat st;
        if (p && stat(p, &st) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static int creds_external(const fcu_config *cfg, const device_names *names, const char *location,
                          const char *endpoint, device_creds *c, fcu_notice_list *warnings,
                          fcu_error *err)
{
    (void)cfg;
    struct stat st;
    if (location && stat(location, &st) == 0 && !S_ISDIR(st.st_mode))
        return fcu__fail(err, FCU_STATUS_BAD_ARGUMENT_TYPE, "device_keys_location");
    char *key_path = location ? find_file(location, key_file_names, 3) : NULL;
    char *cert_path = location ? find_file(location, cert_file_names, 3) : NULL;
    int rc = 0;
    EVP_PKEY *key = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    if (!key_path && !cert_path) {
        rc = fcu__fail(err, FCU_STATUS_DEVICE_KEY_AND_CERT_MISSING, names->key);
        goto out;
    }
    if (!key_path) {
        rc = fcu__fail(err, FCU_STATUS_DEVICE_KEY_MISSING, names->key);
        goto out;
    }
    if (!cert_path) {
        rc = fcu__fail(err, FCU_STATUS_DEVICE_CERT_MISSING, names->cert);
        goto out;
    }
    if (fcu__read_file(key_path, &data, &len) == 0)
        key = fcu__key_parse(data, len);
    if (data)
        OPENSSL_cleanse(data, len);
    free(data);
    data = NULL;
    if (!key) {
        rc = fcu__fail(err, FCU_STATUS_KEY_FILE_LOAD, key_path);
        goto out;
    }
    if (fcu__read_file(cert_path, &data, &len) == 0)
        c->chain = fcu__certs_parse(data, len);
    free(data);
    if (!c->chain) {
        rc = fcu__fail(err, FCU_STATUS_CERT_FILE_LOAD, cert_path);
        goto out;
    }
    if (!is_p256(key)) {
        rc = fcu__fail(err, FCU_STATUS_VALIDATION, key_path, "the device key must be EC P-256");
        goto out;
    }
    X509 *leaf = sk_X509_value(c->chain, 0);
    if (X509_check_private_key(leaf, key) != 1) {
        rc = fcu__fail(err, FCU_STATUS_VALIDATION, cert_path,
                       "the certificate does not match the device private key");
        goto out;
    }
    if (sk_X509_num(c->chain) > FCC_MAX_CHAIN_LENGTH) {
        rc = fcu__fail(err, FCU_STATUS_VALIDATION, cert_path,
                       "a device certificate chain has at most 5 certificates");
        goto out;
    }
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
    if (strcmp(cn, endpoint) != 0) {
        char why[600];
        snprintf(why, sizeof(why), "the certificate CN (%s) is not the endpoint name (%s)", cn,
                 endpoint);
        rc = fcu__fail(err, FCU_STATUS_VALIDATION, cert_path, why);
        goto out;
    }
    time_t limit = time(NULL) + (time_t)3652 * 86400;
    if (X509_cmp_time(X509_get0_notAfter(leaf), &limit) < 0) {
        char text[600];
        snprintf(text, sizeof(text), "Certificate validity is less than 10 years: %s", cert_path);
        fcu__notice_add_text(warnings, 0, text);
    }
    if (key_der_sec1(key, c) != 0)
        rc = fcu__fail(err, FCU_STATUS_KEY_FILE_LOAD, key_path);
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    free(key_path);
    free(cert_path);
    return rc;
}

static int add_device_creds(bundle *b, const device_names *names, device_creds *c, fcu_error *err)
{
    if (c->key_der)
        add_key(b, names->key, FCC_KEY_TYPE_ECC_PRIVATE, c->key_der, c->key_len);
    for (int i = 0; c->nders == 0 && i < sk_X509_num(c->chain) && i < FCC_MAX_CHAIN_LENGTH; i++) {
        if (fcu__x509_der(sk_X509_value(c->chain, i), &c->ders[i], &c->der_lens[i]) != 0)
            return fcu__fail(err, FCU_STATUS_GENERAL, "cannot encode certificate");
        c->nders = i + 1;
    }
    if (c->nders == 1) {
        add_cert(b, names->cert, c->ders[0], c->der_lens[0], c->key_name_on_cert);
        return 0;
    }
    fcu__cb_map(&b->chains, c->key_name_on_cert ? 4 : 3);
    fcu__cb_text(&b->chains, FCC_FIELD_NAME);
    fcu__cb_text(&b->chains, names->cert);
    fcu__cb_text(&b->chains, FCC_FIELD_FORMAT);
    fcu__cb_text(&b->chains, FCC_FORMAT_DER);
    fcu__cb_text(&b->chains, FCC_FIELD_DATA_ARRAY);
    fcu__cb_array(&b->chains, (size_t)c->nders);
    for (int i = 0; i < c->nders; i++)
        fcu__cb_bytes(&b->chains, c->ders[i], c->der_lens[i]);
    if (c->key_name_on_cert) {
        fcu__cb_text(&b->chains, FCC_FIELD_PRIVATE_KEY_NAME);
        fcu__cb_text(&b->chains, c->key_name_on_cert);
    }
    b->nchains++;
    return 0;
}

static int add_custom_properties(const fcu *f, const fcu_config *cfg, bundle *b, fcu_error *err)
{
    for (size_t i = 0; i < cfg->custom_count; i++) {
        const fcu_custom_property *p = &cfg->custom[i];
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = 0;
        if (p->data_file.text) {
            rc = load_file_value(f, cfg, p->name.text, &p->data_file, &data, &len, err);
        } else {
            data = (uint8_t *)fcu__strdup(p->data.text);
            len = strlen(p->data.text);
            if (!data)
                rc = fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        }
        if (rc)
            return rc;
        switch (p->type_code) {
        case FCU_CUSTOM_CERTIFICATE: {
            STACK_OF(X509) *certs = fcu__certs_parse(data, len);
            uint8_t *der = NULL;
            size_t dlen = 0;
            if (!certs || fcu__x509_der(sk_X509_value(certs, 0), &der, &dlen) != 0)
                rc = fcu__fail(err, FCU_STATUS_NOT_X509, p->name.text);
            else
                add_cert(b, p->name.text, der, dlen, NULL);
            free(der);
            sk_X509_pop_free(certs, X509_free);
            break;
        }
        case FCU_CUSTOM_PRIVATE_KEY:
        case FCU_CUSTOM_PUBLIC_KEY: {
            bool priv = p->type_code == FCU_CUSTOM_PRIVATE_KEY;
            EVP_PKEY *key = priv ? fcu__key_parse(data, len) : NULL;
            if (!priv) {
                BIO *bio = BIO_new_mem_buf(data, (int)len);
                key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
                BIO_free(bio);
                if (!key) {
                    const unsigned char *q = data;
                    key = d2i_PUBKEY(NULL, &q, (long)len);
                }
                ERR_clear_error();
            }
            unsigned char *der = NULL;
            int n = key && EVP_PKEY_is_a(key, "EC")
                        ? (priv ? i2d_PrivateKey(key, &der) : i2d_PUBKEY(key, &der))
                        : -1;
            if (n <= 0)
                rc = fcu__fail(err, FCU_STATUS_KEY_FILE_LOAD, p->name.text);
            else
                add_key(b, p->name.text, priv ? FCC_KEY_TYPE_ECC_PRIVATE : FCC_KEY_TYPE_ECC_PUBLIC,
                        der, (size_t)n);
            if (der) {
                OPENSSL_cleanse(der, (size_t)n);
                OPENSSL_free(der);
            }
            EVP_PKEY_free(key);
            break;
        }
        case FCU_CUSTOM_STRING:
            if (strlen((const char *)data) != len)
                rc = fcu__config_invalid(cfg, p->name.text, &p->name,
                                         "a string must not contain NUL bytes", err);
            else
                add_text(b, p->name.text, (const char *)data);
            break;
        case FCU_CUSTOM_INTEGER: {
            char *end;
            errno = 0;
            long long v = strtoll((const char *)data, &end, 0);
            if (errno || end == (char *)data || *end)
                rc = fcu__config_invalid(cfg, p->name.text, &p->data, "must be an integer", err);
            else
                add_int(b, p->name.text, v);
            break;
        }
        default:
            add_bytes(b, p->name.text, data, len);
            break;
        }
        if (data)
            OPENSSL_cleanse(data, len);
        free(data);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- prepare ---- */

typedef struct prepare_input {
    const char *endpoint, *serial, *keys_location;
    /* by_device second step: */
    EVP_PKEY *csr_key;
    const char *csr_key_name;
    const char *session_id;
} prepare_input;

static int validate_mandatory(const fcu_config *cfg, fcu_error *err)
{
    if (!cfg->use_bootstrap.text)
        return fcu__config_invalid(cfg, "use-bootstrap", NULL, "is mandatory", err);
    struct {
        const char *field;
        const fcu_value *v;
    } info[] = {{"manufacturer-name", &cfg->manufacturer},
                {"device-type", &cfg->device_type},
                {"model-number", &cfg->model_number},
                {"hardware-version", &cfg->hardware_version},
                {"memory-total", &cfg->memory_total}};
    for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++)
        if (!info[i].v->text)
            return fcu__config_invalid(cfg, info[i].field, info[i].v,
                                       "is mandatory in section device-info", err);
    if (cfg->utc_offset.text) {
        const char *u = cfg->utc_offset.text;
        bool ok = strlen(u) == 6 && (u[0] == '+' || u[0] == '-') && isdigit((unsigned char)u[1]) &&
                  isdigit((unsigned char)u[2]) && u[3] == ':' && isdigit((unsigned char)u[4]) &&
                  isdigit((unsigned char)u[5]);
        if (!ok)
            return fcu__config_invalid(cfg, "utc-offset", &cfg->utc_offset,
                                       "must look like +HH:MM or -HH:MM", err);
    }
    return 0;
}

/* Builds a complete bundle (first and only, or by_device second) into out. */
static int build_bundle(fcu *f, const fcu_config *cfg, const prepare_input *in,
                        fcu_device_request *out, fcu_error *err)
{
    const device_names *names = cfg->bootstrap ? &bootstrap_names : &lwm2m_names;
    bundle b = {0};
    device_creds creds = {0};
    char *account_id = NULL;
    uint8_t *server_ca = NULL, *crl = NULL, *update_cert = NULL;
    size_t server_ca_len = 0, crl_len = 0, update_cert_len = 0;
    uint8_t entropy[FCC_ENTROPY_SIZE];
    bool have_entropy = false;
    int rc = validate_mandatory(cfg, err);
    if (rc)
        goto out;

    /* Server URI and CA. */
    const fcu_value *uri;
    const char *uri_field;
    if (cfg->bootstrap) {
        uri = cfg->ftc ? &cfg->bootstrap_uri_ftc : &cfg->bootstrap_uri;
        uri_field = cfg->ftc ? "bootstrap-server-uri-first-to-claim" : "bootstrap-server-uri";
    } else {
        uri = &cfg->lwm2m_uri;
        uri_field = "lwm2m-server-uri";
    }
    if (!uri->text) {
        rc = fcu__config_invalid(cfg, uri_field, uri, "is mandatory", err);
        goto out;
    }
    if (strncmp(uri->text, "coap://", 7) != 0 && strncmp(uri->text, "coaps://", 8) != 0) {
        rc = fcu__config_invalid(cfg, uri_field, uri, "must be a coap:// or coaps:// URI", err);
        goto out;
    }
    account_id = uri_account_id(uri->text);
    if (cfg->ftc && account_id) {
        rc = fcu__config_invalid(cfg, uri_field, uri,
                                 "must not carry an account id (aid=) with first-to-claim", err);
        goto out;
    }
    if (!cfg->ftc && (!account_id || !*account_id)) {
        rc = fcu__config_invalid(cfg, uri_field, uri, "must carry the account id (aid=...)", err);
        goto out;
    }
    const fcu_value *ca_file = cfg->bootstrap ? &cfg->bootstrap_ca_file : &cfg->lwm2m_ca_file;
    const char *ca_field = cfg->bootstrap ? "bootstrap-server-ca-certificate-file"
                                          : "lwm2m-server-ca-certificate-file";
    if (!ca_file->text) {
        rc = fcu__config_invalid(cfg, ca_field, ca_file, "is mandatory", err);
        goto out;
    }
    if ((rc = load_cert_value(f, cfg, ca_field, ca_file, &server_ca, &server_ca_len, err)))
        goto out;
    const fcu_value *crl_file = cfg->bootstrap ? &cfg->bootstrap_crl_file : &cfg->lwm2m_crl_file;
    if (crl_file->text && (rc = load_file_value(f, cfg, "crl", crl_file, &crl, &crl_len, err)))
        goto out;

    /* Device credentials. */
    const char *ou = cfg->bootstrap ? NULL : account_id;
    if (in->csr_key) {
        uint8_t point[65];
        if (fcu__p256_point(in->csr_key, point) != 0) {
            rc = fcu__fail(err, FCU_STATUS_VALIDATION, names->key, "the CSR key is not EC P-256");
            goto out;
        }
        if ((rc = creds_from_ca(f, cfg, names, point, in->endpoint, ou, &creds, err)))
            goto out;
        creds.key_name_on_cert = in->csr_key_name;
    } else if (cfg->keygen == FCU_KEYGEN_BY_TOOL) {
        EVP_PKEY *key = device_key_generate(f);
        if (!key) {
            rc = fcu__fail(err, FCU_STATUS_DEVICE_KEY_CREATE, names->key);
            goto out;
        }
        uint8_t point[65];
        rc = p256_sec1(key, point, &creds) == 0
                 ? creds_from_ca(f, cfg, names, point, in->endpoint, ou, &creds, err)
                 : fcu__fail(err, FCU_STATUS_DEVICE_KEY_CREATE, names->key);
        EVP_PKEY_free(key);
        if (rc)
            goto out;
    } else {
        rc = creds_external(cfg, names, in->keys_location, in->endpoint, &creds, &out->warnings,
                            err);
        if (rc)
            goto out;
    }
    if ((rc = add_device_creds(&b, names, &creds, err)))
        goto out;
    add_cert(&b, names->server_ca, server_ca, server_ca_len, NULL);

    /* Configuration parameters, in the order the original sends them. */
    add_int(&b, FCC_USE_BOOTSTRAP, cfg->bootstrap ? 1 : 0);
    add_text(&b, FCC_ENDPOINT_NAME, in->endpoint);
    add_text(&b, names->uri, uri->text);
    add_text(&b, FCC_MANUFACTURER, cfg->manufacturer.text);
    add_text(&b, FCC_MODEL_NUMBER, cfg->model_number.text);
    add_text(&b, FCC_SERIAL_NUMBER, in->serial);
    add_text(&b, FCC_DEVICE_TYPE, cfg->device_type.text);
    add_text(&b, FCC_HARDWARE_VERSION, cfg->hardware_version.text);
    add_int(&b, FCC_MEMORY_TOTAL_KB, cfg->memory_total_kb);
    if (cfg->sync_time)
        add_int(&b, FCC_CURRENT_TIME, (int64_t)time(NULL));
    if (cfg->ftc)
        add_int(&b, FCC_FIRST_TO_CLAIM, 1);
    if (cfg->sync_time) {
        const char *tz = cfg->timezone.text ? cfg->timezone.text : "UTC";
        add_text(&b, FCC_TIMEZONE, tz);
        if (cfg->utc_offset.text)
            add_text(&b, FCC_UTC_OFFSET, cfg->utc_offset.text);
        else if (strcmp(tz, "UTC") == 0 || strcmp(tz, "GMT") == 0)
            add_text(&b, FCC_UTC_OFFSET, "+00:00");
    }
    if (crl)
        add_bytes(&b, names->server_crl, crl, crl_len);

    /* Update authority. */
    if (cfg->update_auth_file.text) {
        if ((rc = load_cert_value(f, cfg, "update-auth-certificate-file", &cfg->update_auth_file,
                                  &update_cert, &update_cert_len, err)))
            goto out;
        add_cert(&b, FCC_UPDATE_AUTH_CERT, update_cert, update_cert_len, NULL);
        if (!cfg->class_id.text || !cfg->vendor_id.text) {
            rc = fcu__config_invalid(cfg, cfg->class_id.text ? "vendor-id" : "class-id", NULL,
                                     "is mandatory with update-auth-certificate-file", err);
            goto out;
        }
    }
    const struct {
        const char *field, *name;
        const fcu_value *v;
    } ids[] = {{"class-id", FCC_CLASS_ID, &cfg->class_id},
               {"vendor-id", FCC_VENDOR_ID, &cfg->vendor_id}};
    for (size_t i = 0; i < 2; i++) {
        uint8_t uuid[16];
        if (!ids[i].v->text)
            continue;
        if (parse_uuid(ids[i].v->text, uuid) != 0) {
            rc = fcu__config_invalid(cfg, ids[i].field, ids[i].v, "must be an RFC 4122 UUID", err);
            goto out;
        }
        add_bytes(&b, ids[i].name, uuid, sizeof(uuid));
    }
    if ((rc = add_custom_properties(f, cfg, &b, err)))
        goto out;

    /* Entropy. */
    if (cfg->entropy == FCU_ENTROPY_BY_TOOL) {
        have_entropy = RAND_priv_bytes(entropy, sizeof(entropy)) == 1;
        if (!have_entropy) {
            rc = fcu__fail(err, FCU_STATUS_ENTROPY_MISSING);
            goto out;
        }
    } else if (cfg->entropy == FCU_ENTROPY_EXTERNAL) {
        char *path = in->keys_location ? fcu__path_join(in->keys_location, "entropy.bin") : NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        if (path && fcu__read_file(path, &data, &len) == 0 && len == sizeof(entropy)) {
            memcpy(entropy, data, sizeof(entropy));
            have_entropy = true;
        }
        if (data)
            OPENSSL_cleanse(data, len);
        free(data);
        free(path);
        if (!have_entropy) {
            rc = fcu__fail(err, FCU_STATUS_ENTROPY_MISSING);
            goto out;
        }
    }

    if (cfg->ftc) {
        out->enrollment_id = enrollment_id(creds.ders[0], creds.der_lens[0]);
    }

    /* Top level. */
    fcu_cbuf top = {0};
    size_t pairs = 2 + (b.nkeys > 0) + (b.ncerts > 0) + (b.nchains > 0) + (b.nparams > 0) +
                   (have_entropy ? 1 : 0) + (in->session_id ? 1 : 0);
    fcu__cb_map(&top, pairs);
    fcu__cb_text(&top, FCC_GROUP_SCHEME_VERSION);
    fcu__cb_text(&top, FCC_BUNDLE_SCHEME_VERSION);
    if (in->session_id) {
        fcu__cb_text(&top, FCC_GROUP_SESSION_ID);
        fcu__cb_text(&top, in->session_id);
    }
    const struct {
        const char *name;
        fcu_cbuf *body;
        size_t n;
    } groups[] = {{FCC_GROUP_KEYS, &b.keys, b.nkeys},
                  {FCC_GROUP_CERTIFICATES, &b.certs, b.ncerts},
                  {FCC_GROUP_CERTIFICATE_CHAINS, &b.chains, b.nchains},
                  {FCC_GROUP_CONFIG_PARAMS, &b.params, b.nparams}};
    for (size_t i = 0; i < 4; i++) {
        if (!groups[i].n)
            continue;
        fcu__cb_text(&top, groups[i].name);
        fcu__cb_array(&top, groups[i].n);
        fcu__cb_raw(&top, groups[i].body->data, groups[i].body->len);
    }
    if (have_entropy) {
        fcu__cb_text(&top, FCC_GROUP_ENTROPY);
        fcu__cb_bytes(&top, entropy, sizeof(entropy));
    }
    fcu__cb_text(&top, FCC_GROUP_VERIFY);
    fcu__cb_uint(&top, cfg->verify ? 1 : 0);
    if (top.failed || b.keys.failed || b.certs.failed || b.chains.failed || b.params.failed) {
        if (top.data)
            OPENSSL_cleanse(top.data, top.cap);
        fcu__cb_free(&top);
        rc = fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
        goto out;
    }
    out->config_data = top.data;
    out->config_size = top.len;
out:
    OPENSSL_cleanse(entropy, sizeof(entropy));
    bundle_free(&b);
    creds_free(&creds);
    free(account_id);
    free(server_ca);
    free(crl);
    free(update_cert);
    return rc;
}

static char *new_session_id(void)
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return NULL;
    char *sid = malloc(4 + 32 + 1);
    if (!sid)
        return NULL;
    memcpy(sid, "fcu-", 4);
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(sid + 4 + i * 2, 3, "%02x", r[i]);
    return sid;
}

/* by_device first step: ask the device for a key and a CSR with the device subject. */
static int build_csr_request(const fcu_config *cfg, const prepare_input *in,
                             fcu_device_request *out, fcu_error *err)
{
    const device_names *names = cfg->bootstrap ? &bootstrap_names : &lwm2m_names;
    fcu_operation_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    out->operation_ctx = ctx;
    ctx->session_id = new_session_id();
    ctx->endpoint = fcu__strdup(in->endpoint);
    ctx->serial = fcu__strdup(in->serial);
    ctx->key_name = fcu__strdup(names->key);
    ctx->keys_location = in->keys_location ? fcu__strdup(in->keys_location) : NULL;
    if (!ctx->session_id || !ctx->endpoint || !ctx->serial || !ctx->key_name)
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");

    /* Subject as a DN string, the way the device parses it (CN first). */
    char subject[1024];
    size_t n = (size_t)snprintf(subject, sizeof(subject), "CN=%s", in->endpoint);
    const char *account_id = NULL;
    char *aid =
        (!cfg->bootstrap && cfg->lwm2m_uri.text) ? uri_account_id(cfg->lwm2m_uri.text) : NULL;
    account_id = aid;
    const struct {
        const char *attr;
        const char *value;
    } parts[] = {{"OU", account_id ? account_id : cfg->device.organizational_unit.text},
                 {"O", cfg->device.organization.text},
                 {"L", cfg->device.locality.text},
                 {"ST", cfg->device.state.text},
                 {"C", cfg->device.country.text}};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && n < sizeof(subject); i++)
        if (parts[i].value)
            n += (size_t)snprintf(subject + n, sizeof(subject) - n, ",%s=%s", parts[i].attr,
                                  parts[i].value);
    free(aid);
    if (n >= sizeof(subject))
        return fcu__fail(err, FCU_STATUS_CSR_CREATE, names->key);

    fcu_cbuf top = {0};
    fcu__cb_map(&top, 5);
    fcu__cb_text(&top, FCC_GROUP_SCHEME_VERSION);
    fcu__cb_text(&top, FCC_BUNDLE_SCHEME_VERSION);
    fcu__cb_text(&top, FCC_GROUP_SESSION_ID);
    fcu__cb_text(&top, ctx->session_id);
    fcu__cb_text(&top, FCC_GROUP_KEEP_ALIVE);
    fcu__cb_uint(&top, 1);
    fcu__cb_text(&top, FCC_GROUP_VERIFY);
    fcu__cb_uint(&top, 0);
    fcu__cb_text(&top, FCC_GROUP_CSR_REQUESTS);
    fcu__cb_array(&top, 1);
    fcu__cb_map(&top, 4);
    fcu__cb_text(&top, FCC_FIELD_PRIVATE_KEY_NAME);
    fcu__cb_text(&top, names->key);
    fcu__cb_text(&top, FCC_FIELD_SUBJECT);
    fcu__cb_text(&top, subject);
    fcu__cb_text(&top, FCC_FIELD_MD);
    fcu__cb_uint(&top, 1); /* SHA-256 */
    fcu__cb_text(&top, FCC_FIELD_EXTENSIONS);
    fcu__cb_map(&top, 2);
    fcu__cb_text(&top, FCC_FIELD_KEY_USAGE);
    fcu__cb_uint(&top, 1); /* digitalSignature */
    fcu__cb_text(&top, FCC_FIELD_EXT_KEY_USAGE);
    fcu__cb_uint(&top, 4); /* clientAuth */
    if (top.failed) {
        fcu__cb_free(&top);
        return fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    }
    out->config_data = top.data;
    out->config_size = top.len;
    return 0;
}

static int check_arguments(const char *endpoint, const char *serial, fcu_error *err)
{
    if (!endpoint || !*endpoint)
        return fcu__fail(err, FCU_STATUS_MANDATORY_ARGUMENT, "endpoint name");
    if (!serial || !*serial)
        return fcu__fail(err, FCU_STATUS_MANDATORY_ARGUMENT, "serial number");
    if (!valid_argument(endpoint))
        return fcu__fail(err, FCU_STATUS_BAD_ARGUMENT_TYPE, "endpoint_name");
    if (!valid_argument(serial))
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
    memset(out, 0, sizeof(*out));
    fcu_error err = {0};
    const fcu_config *cfg;
    int rc = check_arguments(endpoint_name, serial_number, &err);
    if (rc)
        return request_fail(out, &err);
    rc = load_config(f, &cfg, &err);
    const device_names *names = cfg->bootstrap ? &bootstrap_names : &lwm2m_names;
    if (rc == 0 && cfg->keygen != FCU_KEYGEN_EXTERNAL) {
        rc = fcu__ca_load(&f->ca, f->keystore, cfg->intermediate, &err);
        if (rc == 0)
            rc = check_ca_chain(f, cfg, names, &err);
        if (rc == 0)
            fcu__ca_loaded_key_warning(&f->ca, f->keystore, &out->warnings);
    }
    prepare_input in = {endpoint_name, serial_number, device_keys_location, NULL, NULL, NULL};
    if (rc == 0 && cfg->keygen == FCU_KEYGEN_BY_DEVICE) {
        rc = validate_mandatory(cfg, &err);
        if (rc == 0)
            rc = build_csr_request(cfg, &in, out, &err);
    } else if (rc == 0) {
        rc = build_bundle(f, cfg, &in, out, &err);
    }
    if (rc)
        return request_fail(out, &err);
    return 0;
}

/* ---- verify ---- */

void fcu_device_response_status_free(fcu_device_response_status *s)
{
    if (!s)
        return;
    free(s->message);
    fcu__notice_list_free(&s->errors);
    fcu__notice_list_free(&s->warnings);
    if (s->next_request) {
        fcu_device_request_free(s->next_request);
        free(s->next_request);
    }
    memset(s, 0, sizeof(*s));
}

static void split_warnings(const char *text, fcu_notice_list *warnings)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n > 0) {
            char *line = malloc(n + 1);
            if (line) {
                memcpy(line, p, n);
                line[n] = '\0';
                fcu__notice_add_text(warnings, 0, line);
                free(line);
            }
        }
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* by_device second step: checks the CSRs and builds the bundle with the signed certificates. */
static int sign_csrs(fcu *f, const char *endpoint, const fcu_response *resp,
                     const fcu_operation_context *ctx, fcu_device_response_status *out,
                     fcu_error *err)
{
    if (strcmp(endpoint, ctx->endpoint) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL,
                         "endpoint name differs from the one of the operation context");
    if (!resp->session_id)
        return fcu__fail(err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_GROUP_SESSION_ID);
    if (strcmp(resp->session_id, ctx->session_id) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL,
                         "the answer belongs to another session (SID differs)");
    if (resp->csr_count != 1 || strcmp(resp->csrs[0].key_name, ctx->key_name) != 0)
        return fcu__fail(err, FCU_STATUS_GENERAL, "the answer does not carry the requested CSR");
    const unsigned char *p = resp->csrs[0].der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)resp->csrs[0].der_len);
    if (!req || p != resp->csrs[0].der + resp->csrs[0].der_len) {
        X509_REQ_free(req);
        ERR_clear_error();
        return fcu__fail(err, FCU_STATUS_GENERAL, "the CSR is not valid DER");
    }
    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    int rc = 0;
    if (!pub || X509_REQ_verify(req, pub) != 1)
        rc = fcu__fail(err, FCU_STATUS_CSR_SIGNATURE);
    else if (!is_p256(pub))
        rc = fcu__fail(err, FCU_STATUS_VALIDATION, ctx->key_name, "the CSR key is not EC P-256");
    ERR_clear_error();
    const fcu_config *cfg = NULL;
    if (rc == 0)
        rc = load_config(f, &cfg, err);
    if (rc == 0)
        rc = fcu__ca_load(&f->ca, f->keystore, cfg->intermediate, err);
    if (rc == 0)
        rc = check_ca_chain(f, cfg, cfg->bootstrap ? &bootstrap_names : &lwm2m_names, err);
    if (rc == 0) {
        out->next_request = calloc(1, sizeof(*out->next_request));
        if (!out->next_request)
            rc = fcu__fail(err, FCU_STATUS_GENERAL, "out of memory");
    }
    if (rc == 0) {
        prepare_input in = {ctx->endpoint, ctx->serial,   ctx->keys_location,
                            pub,           ctx->key_name, ctx->session_id};
        rc = build_bundle(f, cfg, &in, out->next_request, err);
        if (rc) {
            fcu_device_request_free(out->next_request);
            free(out->next_request);
            out->next_request = NULL;
        }
    }
    X509_REQ_free(req);
    return rc;
}

int fcu_verify_device_response(fcu *f, const char *endpoint_name, const uint8_t *response,
                               size_t response_len, const fcu_operation_context *ctx,
                               fcu_device_response_status *out)
{
    memset(out, 0, sizeof(*out));
    fcu_error err = {0};
    fcu_response resp;
    int rc;
    if (!endpoint_name || !*endpoint_name)
        rc = fcu__fail(&err, FCU_STATUS_MANDATORY_ARGUMENT, "endpoint name");
    else if (!valid_argument(endpoint_name))
        rc = fcu__fail(&err, FCU_STATUS_BAD_ARGUMENT_TYPE, "endpoint_name");
    else
        rc = fcu__response_parse(response, response_len, &resp, &err);
    if (rc) {
        out->status = rc;
        fcu__notice_add_text(&out->errors, rc, err.message);
        return rc;
    }
    if (!resp.scheme_version)
        rc = fcu__fail(&err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_GROUP_SCHEME_VERSION);
    else if (strcmp(resp.scheme_version, FCC_BUNDLE_SCHEME_VERSION) != 0)
        rc = fcu__fail(&err, FCU_STATUS_PROTOCOL_MISMATCH, resp.scheme_version,
                       FCC_BUNDLE_SCHEME_VERSION);
    else if (!resp.has_status)
        rc = fcu__fail(&err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_RESP_RETURN_STATUS);
    else if (!resp.info_message)
        rc = fcu__fail(&err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_RESP_INFO_MESSAGE);
    if (rc == 0) {
        size_t n = strlen(resp.info_message);
        while (n > 0 && (resp.info_message[n - 1] == '\n' || resp.info_message[n - 1] == '\r'))
            resp.info_message[--n] = '\0';
        out->message = fcu__strdup(resp.info_message);
        if (resp.warning_info)
            split_warnings(resp.warning_info, &out->warnings);
        out->status = (int)resp.return_status;
        if (resp.return_status != 0) {
            fcu__notice_add_text(&out->errors, (int)resp.return_status, out->message);
            rc = (int)resp.return_status;
        } else if (ctx) {
            if (!resp.has_csrs)
                rc = fcu__fail(&err, FCU_STATUS_RESPONSE_FIELD_MISSING, FCC_RESP_CSRS);
            else
                rc = sign_csrs(f, endpoint_name, &resp, ctx, out, &err);
        } else if (resp.has_csrs && resp.csr_count > 0) {
            rc = fcu__fail(&err, FCU_STATUS_GENERAL,
                           "the answer carries CSRs but no operation context was given");
        }
    }
    if (err.code) {
        out->status = err.code;
        fcu__notice_add_text(&out->errors, err.code, err.message);
        rc = err.code;
    }
    fcu__response_free(&resp);
    return rc;
}

/* ---- operation context ---- */

void fcu_operation_context_free(fcu_operation_context *ctx)
{
    if (!ctx)
        return;
    free(ctx->session_id);
    free(ctx->endpoint);
    free(ctx->serial);
    free(ctx->keys_location);
    free(ctx->key_name);
    free(ctx);
}

static const char *const ctx_keys[] = {"SID", "EndpointName", "SerialNumber", "PrKN",
                                       "KeysLocation"};

int fcu_operation_context_save(const fcu_operation_context *ctx, uint8_t **out, size_t *out_len)
{
    const char *values[] = {ctx->session_id, ctx->endpoint, ctx->serial, ctx->key_name,
                            ctx->keys_location};
    fcu_cbuf b = {0};
    fcu__cb_map(&b, values[4] ? 5 : 4);
    for (size_t i = 0; i < 5; i++) {
        if (!values[i])
            continue;
        fcu__cb_text(&b, ctx_keys[i]);
        fcu__cb_text(&b, values[i]);
    }
    if (b.failed) {
        fcu__cb_free(&b);
        return FCU_STATUS_GENERAL;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}

int fcu_operation_context_load(const uint8_t *data, size_t len, fcu_operation_context **out)
{
    *out = NULL;
    if (len == 0 || len > 65536)
        return FCU_STATUS_GENERAL;
    size_t read = 0;
    cbor_item_t *root = fcu__cbor_load_bounded(data, len, &read);
    if (!root)
        return FCU_STATUS_GENERAL;
    fcu_operation_context *ctx = calloc(1, sizeof(*ctx));
    int rc = (ctx && read == len && cbor_isa_map(root) && cbor_map_is_definite(root))
                 ? 0
                 : FCU_STATUS_GENERAL;
    char **fields[] = {NULL, NULL, NULL, NULL, NULL};
    if (ctx) {
        fields[0] = &ctx->session_id;
        fields[1] = &ctx->endpoint;
        fields[2] = &ctx->serial;
        fields[3] = &ctx->key_name;
        fields[4] = &ctx->keys_location;
    }
    for (size_t i = 0; rc == 0 && i < cbor_map_size(root); i++) {
        struct cbor_pair pair = cbor_map_handle(root)[i];
        if (!cbor_isa_string(pair.key) || !cbor_string_is_definite(pair.key) ||
            !cbor_isa_string(pair.value) || !cbor_string_is_definite(pair.value)) {
            rc = FCU_STATUS_GENERAL;
            break;
        }
        for (size_t k = 0; k < 5; k++) {
            size_t klen = strlen(ctx_keys[k]);
            if (cbor_string_length(pair.key) == klen &&
                memcmp(cbor_string_handle(pair.key), ctx_keys[k], klen) == 0 && !*fields[k]) {
                size_t vlen = cbor_string_length(pair.value);
                char *v = malloc(vlen + 1);
                if (!v) {
                    rc = FCU_STATUS_GENERAL;
                    break;
                }
                if (vlen)
                    memcpy(v, cbor_string_handle(pair.value), vlen);
                v[vlen] = '\0';
                *fields[k] = v;
            }
        }
    }
    cbor_decref(&root);
    if (rc == 0 && (!ctx->session_id || !ctx->endpoint || !ctx->serial || !ctx->key_name))
        rc = FCU_STATUS_GENERAL;
    if (rc) {
        fcu_operation_context_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}
