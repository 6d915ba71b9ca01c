/* Secure factory service: state folder and service context (see sf_service.h). */
#include "sf_service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kiln_endpoint_name.h"
#include "sf_crypto.h"
#include "sf_identity.h"
#include "sf_ledger.h"
#include "sf_store.h"
#include "sf_tls.h"

#define DEFAULT_LISTEN "127.0.0.1:8443"

static void path_of(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void config_defaults(sf_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "%s", DEFAULT_LISTEN);
    cfg->session_ttl = 600;
    cfg->cert_years = 20;
    snprintf(cfg->bootstrap_uri, sizeof(cfg->bootstrap_uri), "%s",
             "coaps://bootstrap.example.invalid:5684?aid=00000000000000000000000000000000");
    snprintf(cfg->manufacturer, sizeof(cfg->manufacturer), "%s", "kiln");
    snprintf(cfg->model_number, sizeof(cfg->model_number), "%s", "kiln-device");
    snprintf(cfg->device_type, sizeof(cfg->device_type), "%s", "sensor");
    snprintf(cfg->hardware_version, sizeof(cfg->hardware_version), "%s", "1.0");
    cfg->memory_total_kb = 512;
    snprintf(cfg->timezone, sizeof(cfg->timezone), "%s", "UTC");
    snprintf(cfg->utc_offset, sizeof(cfg->utc_offset), "%s", "+00:00");
    snprintf(cfg->tls_priorities, sizeof(cfg->tls_priorities), "%s", SF_TLS_DEFAULT_PRIORITIES);
}

/* The values that must satisfy a rule beyond their syntax: the endpoint prefix (the shared
 * endpoint-name rule, with room for a session ID) and the TLS policy. */
static sf_status config_check(const sf_config *cfg)
{
    char why[160] = "";
    size_t prefix_len = strlen(cfg->endpoint_prefix);
    if (prefix_len > 0 && (kiln_endpoint_name_check_str(cfg->endpoint_prefix) != 0 ||
                           prefix_len >= KILN_ENDPOINT_NAME_MAX)) {
        snprintf(why, sizeof(why), "endpoint-prefix: %s",
                 prefix_len >= KILN_ENDPOINT_NAME_MAX
                     ? "leaves no room for a session ID"
                     : kiln_endpoint_name_verdict_text(
                           kiln_endpoint_name_check_str(cfg->endpoint_prefix)));
    } else if (sf_tls_priorities_check(cfg->tls_priorities, why, sizeof(why)) == SF_OK) {
        return SF_OK;
    }
    fprintf(stderr, "factory_service: service.conf: %s\n", why);
    return SF_CONFIG;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

/* A whole decimal (or 0x hex) number within [min, max]; nonzero when it is not one. */
static int parse_number(const char *text, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    int hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    long long v = strtoll(text, &end, hex ? 16 : 10); /* never octal: "0600" is 600 */
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        return 1;
    }
    *out = v;
    return 0;
}

sf_status sf_config_load(const char *dir, sf_config *cfg)
{
    config_defaults(cfg);
    char path[1100];
    path_of(path, sizeof(path), dir, "service.conf");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return SF_CONFIG;
    }
    char line[1200];
    int have_id = 0, bad = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = trim(line);
        if (*s == '#' || *s == '\0') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
#define TEXT(name, field)                                                                          \
    if (strcmp(key, name) == 0) {                                                                  \
        snprintf(cfg->field, sizeof(cfg->field), "%s", value);                                     \
        continue;                                                                                  \
    }
        TEXT("listen", listen)
        TEXT("db", db)
        TEXT("endpoint-prefix", endpoint_prefix)
        TEXT("bootstrap-server-uri", bootstrap_uri)
        TEXT("manufacturer", manufacturer)
        TEXT("model-number", model_number)
        TEXT("device-type", device_type)
        TEXT("hardware-version", hardware_version)
        TEXT("timezone", timezone)
        TEXT("utc-offset", utc_offset)
        TEXT("tls-san", san)
        TEXT("tls-priorities", tls_priorities)
#undef TEXT
        long long n = 0;
        if (strcmp(key, "factory-id") == 0) {
            bad |= parse_number(value, 0, 0xffffffffLL, &n);
            cfg->factory_id = (uint32_t)n;
            have_id = 1;
        } else if (strcmp(key, "session-ttl") == 0) {
            bad |= parse_number(value, 1, 365LL * 24 * 3600, &n);
            cfg->session_ttl = (long)n;
        } else if (strcmp(key, "device-cert-years") == 0) {
            bad |= parse_number(value, 10, 100, &n);
            cfg->cert_years = (int)n;
        } else if (strcmp(key, "memory-total-kb") == 0) {
            bad |= parse_number(value, 0, 0xffffffffLL, &n);
            cfg->memory_total_kb = (long)n;
        }
    }
    fclose(f);
    if (bad || !have_id) {
        return SF_CONFIG;
    }
    return config_check(cfg);
}

static sf_status write_secret_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return SF_CONFIG;
    }
    ssize_t n = write(fd, data, len);
    int rc = close(fd);
    return n == (ssize_t)len && rc == 0 ? SF_OK : SF_CONFIG;
}

static sf_status write_text_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return SF_CONFIG;
    }
    (void)fchmod(fd, mode);
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int rc = close(fd);
    return n == (ssize_t)len && rc == 0 ? SF_OK : SF_CONFIG;
}

/* Generates a key, writes it to keys/<name>.key, and optionally makes a certificate. */
static sf_status new_key(const char *dir, const char *name, EVP_PKEY **key)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/keys/%s.key", dir, name);
    sf_status st = sfc_generate_key(key);
    return st == SF_OK ? sfc_write_key(path, *key) : st;
}

bool sf_service_key_ref(const char *dir, const char *name, char *out, size_t size)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/keys/%s.uri", dir, name);
    char *text = NULL;
    size_t len = 0;
    if (sfc_read_file(path, &text, &len) == SF_OK && len > 0 && len < size) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
            len--;
        }
        memcpy(out, text, len);
        out[len] = '\0';
    } else {
        snprintf(out, size, "%s/keys/%s.key", dir, name);
    }
    free(text);
    return kiln_pki_is_key_uri(out);
}

/* The URI of the token key <name>: the prefix's token part, object=kiln-sf-<name>, its query. */
static void token_key_uri(const char *prefix, const char *name, char *out, size_t size)
{
    size_t path_len = strcspn(prefix, "?");
    const char *sep = path_len > 0 && prefix[path_len - 1] != ':' ? ";" : "";
    snprintf(out, size, "%.*s%sobject=kiln-sf-%s%s", (int)path_len, prefix, sep, name,
             prefix + path_len);
}

/* keys/<name>.uri: the token key's URI without any pin-value. */
static sf_status write_uri_file(const char *dir, const char *name, const char *uri)
{
    char shown[1200], path[1200];
    kiln_pki_uri_redact(uri, shown, sizeof(shown) - 1);
    strcat(shown, "\n");
    snprintf(path, sizeof(path), "%s/keys/%s.uri", dir, name);
    return write_text_file(path, shown, 0600);
}

/* A service key: a new file key keys/<name>.key, or with a prefix a new key pair in the token
 * (never extractable) named in keys/<name>.uri (without any pin-value). */
static sf_status new_signer(const char *dir, const char *prefix, const char *name,
                            kiln_pki_signer **out)
{
    if (prefix == NULL) {
        EVP_PKEY *key = NULL;
        sf_status st = new_key(dir, name, &key);
        if (st == SF_OK && kiln_pki_signer_from_pkey(key, out) != KILN_PKI_OK) {
            st = SF_CRYPTO;
        }
        EVP_PKEY_free(key);
        return st;
    }
    char uri[1200];
    token_key_uri(prefix, name, uri, sizeof(uri));
    kiln_pki_status ps = kiln_pki_signer_generate_in_token(uri, out);
    sf_status st = ps == KILN_PKI_OK ? write_uri_file(dir, name, uri) : sfc_token_error(uri, ps);
    OPENSSL_cleanse(uri, sizeof(uri));
    return st;
}

static sf_status check_private(const char *path, int must_exist);

/* mkdir -p; the state folder itself 0700. */
static int make_dirs(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0700) == 0) {
        return 0;
    }
    /* An existing folder is never chmod-ed (it may be anything): it must be private already. */
    return errno == EEXIST && check_private(path, 1) == SF_OK ? 0 : -1;
}

/* The state folder and its keys folder, both 0700; refuses a folder that holds a state already. */
static sf_status make_state_dirs(const char *dir)
{
    char path[1200];
    if (make_dirs(dir) != 0) {
        return SF_CONFIG;
    }
    path_of(path, sizeof(path), dir, "service.conf");
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "factory_service: %s already exists; refusing to overwrite\n", path);
        return SF_CONFIG;
    }
    path_of(path, sizeof(path), dir, "keys");
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return SF_CONFIG;
    }
    return chmod(path, 0700) == 0 ? SF_OK : SF_CONFIG;
}

/* The HMAC input from which a token secret gives the database wrap key. */
#define WRAP_KEY_LABEL "kiln-sf database wrap key v1"

/* The 32-byte key that wraps the session confirmation keys in the database: random in
 * keys/db-wrap.key, or with a prefix derived from a new token secret kiln-sf-db-wrap named in
 * keys/db-wrap.uri. */
static sf_status make_wrap_key(const char *dir, const char *prefix)
{
    uint8_t wrap[32];
    char path[1200];
    if (prefix != NULL) {
        char uri[1200];
        token_key_uri(prefix, "db-wrap", uri, sizeof(uri));
        kiln_pki_status ps = kiln_pki_token_secret_generate(uri, (const uint8_t *)WRAP_KEY_LABEL,
                                                            strlen(WRAP_KEY_LABEL), wrap);
        OPENSSL_cleanse(wrap, sizeof(wrap));
        sf_status st =
            ps == KILN_PKI_OK ? write_uri_file(dir, "db-wrap", uri) : sfc_token_error(uri, ps);
        OPENSSL_cleanse(uri, sizeof(uri));
        return st;
    }
    sf_status st = sfc_random(wrap, sizeof(wrap));
    if (st == SF_OK) {
        path_of(path, sizeof(path), dir, "keys/db-wrap.key");
        st = write_secret_file(path, wrap, sizeof(wrap));
    }
    OPENSSL_cleanse(wrap, sizeof(wrap));
    return st;
}

/* device-trust.pem: what a device firmware must hold to trust this service. */
static sf_status write_device_trust(const char *dir, uint32_t factory_id,
                                    const kiln_pki_signer *signing)
{
    EVP_PKEY *public_key = NULL;
    char *pub = sfc_point_to_key(kiln_pki_signer_point(signing), &public_key) == SF_OK
                    ? sfc_pubkey_pem(public_key)
                    : NULL;
    EVP_PKEY_free(public_key);
    if (pub == NULL) {
        return SF_CRYPTO;
    }
    char text[2048], path[1200];
    snprintf(text, sizeof(text),
             "# kiln secure factory: the service public key a device firmware must hold,\n"
             "# by factory ID (factory_client --factory-trust FILE).\n"
             "Factory-ID: 0x%08x\n%s",
             factory_id, pub);
    free(pub);
    path_of(path, sizeof(path), dir, "device-trust.pem");
    return write_text_file(path, text, 0644);
}

/* The ledger key and the ledger's first entries: the CAs this init created. */
static sf_status ledger_init(const char *dir, sf_db *db)
{
    static const char *const cas[] = {"device-ca", "station-ca", "signing"};
    kiln_pki_signer *key = NULL;
    sf_status st = sf_ledger_key_load(dir, &key);
    if (st == SF_OK) {
        char replica[200];
        sf_service_default_replica(replica, sizeof(replica));
        st = sf_db_ledger_attach(db, key, SF_LEDGER_CHECKPOINT_EVERY, replica);
    }
    for (int i = 0; i < 3 && st == SF_OK; i++) {
        st = sf_ledger_ca_event(db, cas[i], "created");
    }
    if (st == SF_OK) {
        st = kiln_ledger_checkpoint_now(sf_db_ledger(db)) == KILN_LEDGER_OK ? SF_OK : SF_DATABASE;
    }
    sf_db_ledger_detach(db); /* before the key it borrows goes */
    kiln_pki_signer_free(key);
    return st;
}

/* service.conf (0600: it may name a database with its password) and an empty database. */
static sf_status write_config_and_db(const char *dir, uint32_t factory_id, const char *listen)
{
    char text[2048], path[1200];
    snprintf(text, sizeof(text),
             "# kiln secure factory service configuration\n"
             "factory-id = 0x%08x\n"
             "listen = %s\n"
             "# db = postgresql://user@host/dbname   (default: SQLite in factory.db)\n"
             "session-ttl = 600\n"
             "device-cert-years = 20\n"
             "endpoint-prefix = \n"
             "bootstrap-server-uri = "
             "coaps://bootstrap.example.invalid:5684?aid=00000000000000000000000000000000\n"
             "manufacturer = kiln\nmodel-number = kiln-device\ndevice-type = sensor\n"
             "hardware-version = 1.0\nmemory-total-kb = 512\ntimezone = UTC\n"
             "utc-offset = +00:00\n"
             "# TLS of the station port (GnuTLS priorities; TLS 1.2/1.3, ECDHE, AEAD only):\n"
             "# tls-priorities = %s\n",
             factory_id, listen != NULL ? listen : DEFAULT_LISTEN, SF_TLS_DEFAULT_PRIORITIES);
    path_of(path, sizeof(path), dir, "service.conf");
    sf_status st = write_text_file(path, text, 0600);
    if (st == SF_OK) {
        sf_db *db = NULL;
        st = sf_db_open(NULL, dir, &db);
        if (st == SF_OK) {
            st = sf_store_migrate(db);
        }
        if (st == SF_OK) {
            st = ledger_init(dir, db);
        }
        sf_db_close(db);
    }
    return st;
}

/* The public certificates of a new state folder, in this order. */
static sf_status write_certs(const char *dir, X509 *const certs[4])
{
    static const char *const names[] = {"device-ca.pem", "station-ca.pem", "tls.pem",
                                        "bootstrap-server-ca.pem"};
    char path[1200];
    sf_status st = SF_OK;
    for (size_t i = 0; i < 4 && st == SF_OK; i++) {
        path_of(path, sizeof(path), dir, names[i]);
        st = sfc_write_cert(path, certs[i]);
    }
    return st;
}

typedef struct init_keys {
    kiln_pki_signer *signing, *device_ca, *station_ca;
    EVP_PKEY *tls, *bootstrap;
    X509 *certs[4]; /* device CA, station CA, TLS, bootstrap placeholder */
} init_keys;

static sf_status init_certificates(init_keys *k, const char *san)
{
    kiln_pki_signer *bootstrap_signer = NULL, *station_signer = NULL;
    kiln_pki_ca *station_issuer = NULL;
    sf_status st =
        sfc_ca_certificate(k->device_ca, "kiln secure factory device CA", 35, &k->certs[0]);
    if (st == SF_OK) {
        st = sfc_ca_certificate(k->station_ca, "kiln secure factory station CA", 35, &k->certs[1]);
    }
    if (st == SF_OK && kiln_pki_signer_from_pkey(k->bootstrap, &bootstrap_signer) != KILN_PKI_OK) {
        st = SF_CRYPTO;
    }
    if (st == SF_OK) {
        st = sfc_ca_certificate(bootstrap_signer, "kiln placeholder bootstrap server CA", 35,
                                &k->certs[3]);
    }
    if (st == SF_OK) {
        station_signer = k->station_ca; /* the issuer takes it */
        k->station_ca = NULL;
        st = sfc_issuer_open(station_signer, k->certs[1], &station_issuer);
    }
    if (st == SF_OK) {
        st = sfc_leaf_certificate(station_issuer, k->tls, "kiln secure factory service",
                                  KILN_PKI_USAGE_SERVER, san, 10, &k->certs[2]);
    }
    kiln_pki_signer_free(bootstrap_signer);
    kiln_pki_ca_free(station_issuer);
    return st;
}

/* The TLS key: a file keys/tls.key, or with a prefix the token key kiln-sf-tls (its public
 * half in *key, for the certificate). */
static sf_status new_tls_key(const char *dir, const char *prefix, EVP_PKEY **key)
{
    if (prefix == NULL) {
        return new_key(dir, "tls", key);
    }
    kiln_pki_signer *tls = NULL;
    sf_status st = new_signer(dir, prefix, "tls", &tls);
    if (st == SF_OK) {
        st = sfc_point_to_key(kiln_pki_signer_point(tls), key);
    }
    kiln_pki_signer_free(tls);
    return st;
}

sf_status sf_service_init_dir(const char *dir, const char *listen, const char *extra_san)
{
    return sf_service_init_dir_keys(dir, listen, extra_san, NULL);
}

sf_status sf_service_init_dir_keys(const char *dir, const char *listen, const char *extra_san,
                                   const char *key_uri_prefix)
{
    if (key_uri_prefix != NULL && !kiln_pki_is_key_uri(key_uri_prefix)) {
        return SF_CONFIG;
    }
    sf_status made = make_state_dirs(dir);
    if (made != SF_OK) {
        return made;
    }
    init_keys k = {0};
    uint32_t factory_id = 0;
    char san[700];
    snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
             extra_san != NULL ? "," : "", extra_san != NULL ? extra_san : "");
    sf_status st = sfc_random((uint8_t *)&factory_id, sizeof(factory_id));
    factory_id |= 1u; /* never 0 */
    const char *names[] = {"signing", "device-ca", "station-ca"};
    kiln_pki_signer **signers[] = {&k.signing, &k.device_ca, &k.station_ca};
    for (int i = 0; i < 3 && st == SF_OK; i++) {
        st = new_signer(dir, key_uri_prefix, names[i], signers[i]);
    }
    if (st == SF_OK && key_uri_prefix != NULL) { /* else keys/ledger.key, made by ledger_init */
        kiln_pki_signer *ledger = NULL;
        st = new_signer(dir, key_uri_prefix, "ledger", &ledger);
        kiln_pki_signer_free(ledger);
    }
    if (st == SF_OK) {
        st = new_tls_key(dir, key_uri_prefix, &k.tls);
    }
    if (st == SF_OK) {
        st = sfc_generate_key(&k.bootstrap);
    }
    if (st == SF_OK) {
        st = init_certificates(&k, san);
    }
    if (st == SF_OK) {
        st = write_certs(dir, k.certs);
    }
    if (st == SF_OK) {
        st = make_wrap_key(dir, key_uri_prefix);
    }
    if (st == SF_OK) {
        st = write_device_trust(dir, factory_id, k.signing);
    }
    if (st == SF_OK) {
        st = write_config_and_db(dir, factory_id, listen);
    }
    for (int i = 0; i < 3; i++) {
        kiln_pki_signer_free(*signers[i]);
    }
    EVP_PKEY_free(k.tls);
    EVP_PKEY_free(k.bootstrap);
    for (int i = 0; i < 4; i++) {
        X509_free(k.certs[i]);
    }
    return st;
}

/* A file or folder holding secrets or the factory's records: group and others have no access. */
static sf_status check_private(const char *path, int must_exist)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        return errno == ENOENT && !must_exist ? SF_OK : SF_CONFIG;
    }
    if ((info.st_mode & 077) != 0) {
        int is_dir = S_ISDIR(info.st_mode);
        fprintf(stderr,
                "factory_service: %s is mode %04o: group and others must have no access "
                "(chmod %s %s)\n",
                path, (unsigned)(info.st_mode & 07777), is_dir ? "700" : "600", path);
        return SF_CONFIG;
    }
    return SF_OK;
}

/* Checked at every start: the folders 0700, the keys, configuration and database 0600. */
static sf_status check_state_modes(const char *dir)
{
    static const char *const required[] = {"", "keys", "service.conf"};
    static const char *const signers[] = {"signing", "device-ca", "station-ca", "tls", "db-wrap"};
    static const char *const optional[] = {"factory.db", "factory.db-wal", "factory.db-shm",
                                           "keys/ledger.key"};
    char path[1200];
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        path_of(path, sizeof(path), dir, required[i]);
        if (check_private(path, 1) != SF_OK) {
            return SF_CONFIG;
        }
    }
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        path_of(path, sizeof(path), dir, optional[i]);
        if (check_private(path, 0) != SF_OK) {
            return SF_CONFIG;
        }
    }
    for (size_t i = 0; i < sizeof(signers) / sizeof(signers[0]); i++) {
        snprintf(path, sizeof(path), "%s/keys/%s.uri", dir, signers[i]);
        if (access(path, F_OK) != 0) {
            snprintf(path, sizeof(path), "%s/keys/%s.key", dir, signers[i]);
        }
        if (check_private(path, 1) != SF_OK) {
            return SF_CONFIG;
        }
    }
    return SF_OK;
}

sf_status sf_service_open_log(const char *path, FILE **out)
{
    *out = NULL;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return SF_CONFIG;
    }
    if (check_private(path, 1) != SF_OK) {
        close(fd);
        return SF_CONFIG;
    }
    *out = fdopen(fd, "a");
    if (*out == NULL) {
        close(fd);
        return SF_CONFIG;
    }
    return SF_OK;
}

/* keys/db-wrap.key, or the HMAC of WRAP_KEY_LABEL under the token secret keys/db-wrap.uri
 * names. */
static sf_status load_wrap_key(const char *dir, uint8_t wrap_key[32])
{
    char path[1200];
    if (sf_service_key_ref(dir, "db-wrap", path, sizeof(path))) {
        kiln_pki_status ps = kiln_pki_token_secret_hmac(path, (const uint8_t *)WRAP_KEY_LABEL,
                                                        strlen(WRAP_KEY_LABEL), wrap_key);
        return ps == KILN_PKI_OK ? SF_OK : sfc_token_error(path, ps);
    }
    char *wrap = NULL;
    size_t len = 0;
    sf_status st = sfc_read_file(path, &wrap, &len) == SF_OK && len == 32 ? SF_OK : SF_CONFIG;
    if (st == SF_OK) {
        memcpy(wrap_key, wrap, 32);
    }
    if (wrap != NULL) {
        OPENSSL_cleanse(wrap, len);
        free(wrap);
    }
    return st;
}

void sf_service_default_replica(char *out, size_t size)
{
    out[0] = '\0';
    if (gethostname(out, size - 1) != 0 || out[0] == '\0') {
        snprintf(out, size, "factory_service");
    }
    out[size - 1] = '\0';
}

sf_status sf_service_open(const char *dir, const char *db_url, sf_service **out)
{
    return sf_service_open_as(dir, db_url, NULL, out);
}

sf_status sf_service_open_as(const char *dir, const char *db_url, const char *replica,
                             sf_service **out)
{
    *out = NULL;
    sf_service *svc = calloc(1, sizeof(*svc));
    if (svc == NULL) {
        return SF_INTERNAL;
    }
    if (replica != NULL && *replica) {
        snprintf(svc->replica, sizeof(svc->replica), "%s", replica);
    } else {
        sf_service_default_replica(svc->replica, sizeof(svc->replica));
    }
    pthread_mutex_init(&svc->pool_lock, NULL);
    snprintf(svc->dir, sizeof(svc->dir), "%s", dir);
    sf_status st = check_state_modes(dir);
    if (st == SF_OK) {
        st = sf_config_load(dir, &svc->cfg);
    }
    snprintf(svc->db_url, sizeof(svc->db_url), "%s", db_url != NULL ? db_url : svc->cfg.db);
    char path[1200];
    X509 *bootstrap = NULL;
    if (st == SF_OK) {
        sf_service_key_ref(dir, "signing", path, sizeof(path));
        st = sfc_key_signer(path, &svc->signing);
    }
    X509 *device_ca = NULL;
    if (st == SF_OK) {
        path_of(path, sizeof(path), dir, "device-ca.pem");
        st = sfc_read_cert(path, &device_ca);
    }
    if (st == SF_OK) {
        sf_service_key_ref(dir, "device-ca", path, sizeof(path));
        st = sfc_issuer_load(path, device_ca, &svc->device_issuer);
    }
    X509_free(device_ca);
    if (st == SF_OK) {
        path_of(path, sizeof(path), dir, "bootstrap-server-ca.pem");
        st = sfc_read_cert(path, &bootstrap);
    }
    if (st == SF_OK) {
        st = sfc_cert_der(bootstrap, &svc->bootstrap_ca_der, &svc->bootstrap_ca_len);
    }
    X509_free(bootstrap);
    if (st == SF_OK) {
        st = load_wrap_key(dir, svc->wrap_key);
    }
    if (st == SF_OK) {
        st = sf_ledger_key_load(dir, &svc->ledger_key);
    }
    if (st == SF_OK) {
        sf_db *db = sf_service_db_acquire(svc);
        st = db != NULL ? sf_store_migrate(db) : SF_DATABASE;
        if (st == SF_OK) {
            st = sf_identity_check(db, dir, svc->wrap_key); /* replicas: one folder's copies */
        }
        if (st == SF_OK) {
            st = sf_ledger_ca_first(db);
        }
        if (db != NULL) {
            sf_service_db_release(svc, db);
        }
    }
    if (st != SF_OK) {
        sf_service_close(svc);
        return st;
    }
    *out = svc;
    return SF_OK;
}

void sf_service_close(sf_service *svc)
{
    if (svc == NULL) {
        return;
    }
    for (int i = 0; i < svc->pool_count; i++) {
        sf_db_close(svc->pool[i]);
    }
    kiln_pki_signer_free(svc->signing);
    kiln_pki_signer_free(svc->ledger_key);
    kiln_pki_ca_free(svc->device_issuer);
    OPENSSL_free(svc->bootstrap_ca_der);
    OPENSSL_cleanse(svc->wrap_key, sizeof(svc->wrap_key));
    pthread_mutex_destroy(&svc->pool_lock);
    free(svc);
}

void sf_service_db_drop_pool(sf_service *svc)
{
    pthread_mutex_lock(&svc->pool_lock);
    while (svc->pool_count > 0) {
        sf_db_close(svc->pool[--svc->pool_count]);
    }
    pthread_mutex_unlock(&svc->pool_lock);
}

sf_db *sf_service_db_acquire(sf_service *svc)
{
    sf_db *db = NULL;
    pthread_mutex_lock(&svc->pool_lock);
    if (svc->pool_count > 0) {
        db = svc->pool[--svc->pool_count];
    }
    pthread_mutex_unlock(&svc->pool_lock);
    if (db == NULL && sf_db_open(svc->db_url[0] ? svc->db_url : NULL, svc->dir, &db) != SF_OK) {
        return NULL;
    }
    if (svc->ledger_key != NULL &&
        sf_db_ledger_attach(db, svc->ledger_key, SF_LEDGER_CHECKPOINT_EVERY, svc->replica) !=
            SF_OK) {
        fprintf(stderr, "factory_service: error %d: %s: %s\n", SF_DATABASE,
                sf_status_text(SF_DATABASE), sf_db_last_error(db));
        sf_db_close(db);
        return NULL;
    }
    return db;
}

void sf_service_db_release(sf_service *svc, sf_db *db)
{
    if (db != NULL && sf_db_broken(db)) {
        /* The server went away (restart, failover): the pooled connections went with it, so
         * the next request opens a new one instead of failing on a dead one. */
        sf_db_close(db);
        sf_service_db_drop_pool(svc);
        return;
    }
    pthread_mutex_lock(&svc->pool_lock);
    if (svc->pool_count < SF_POOL_MAX) {
        svc->pool[svc->pool_count++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&svc->pool_lock);
    sf_db_close(db);
}

/* A wildcard listen address is no URL a station can reach: the station file needs --url. */
static int listens_on_every_address(const char *listen)
{
    return listen[0] == ':' || strncmp(listen, "0.0.0.0:", 8) == 0 ||
           strncmp(listen, "[::]:", 5) == 0;
}

sf_status sf_service_add_station(sf_service *svc, const char *name, const char *batch,
                                 const char *url, const char *outfile)
{
    char path[1200];
    EVP_PKEY *key = NULL;
    X509 *ca = NULL, *cert = NULL;
    kiln_pki_ca *issuer = NULL;
    char *cert_pem = NULL, *key_pem = NULL, *ca_pem = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (url == NULL && listens_on_every_address(svc->cfg.listen)) {
        return SF_CONFIG;
    }
    path_of(path, sizeof(path), svc->dir, "station-ca.pem");
    sf_status st = sfc_read_cert(path, &ca);
    if (st == SF_OK) {
        sf_service_key_ref(svc->dir, "station-ca", path, sizeof(path));
        st = sfc_issuer_load(path, ca, &issuer);
    }
    if (st == SF_OK) {
        st = sfc_generate_key(&key);
    }
    if (st == SF_OK) {
        st = sfc_leaf_certificate(issuer, key, name, KILN_PKI_USAGE_CLIENT, NULL, 5, &cert);
    }
    if (st == SF_OK) {
        st = sfc_cert_der(cert, &der, &der_len);
    }
    if (st == SF_OK) {
        char fp[65];
        sfc_sha256_hex(der, der_len, fp);
        sf_db *db = sf_service_db_acquire(svc);
        st = db != NULL ? sf_store_station_add(db, name, fp, batch) : SF_DATABASE;
        if (db != NULL) {
            sf_service_db_release(svc, db);
        }
    }
    if (st == SF_OK) {
        cert_pem = sfc_cert_pem(cert);
        key_pem = sfc_key_pem(key);
        ca_pem = sfc_cert_pem(ca);
        st = cert_pem && key_pem && ca_pem ? SF_OK : SF_CRYPTO;
    }
    if (st == SF_OK) {
        size_t size = strlen(cert_pem) + strlen(key_pem) + strlen(ca_pem) + 2048;
        char *text = malloc(size);
        if (text == NULL) {
            st = SF_INTERNAL;
        } else {
            char default_url[200];
            snprintf(default_url, sizeof(default_url), "https://%s", svc->cfg.listen);
            snprintf(text, size,
                     "# kiln secure factory station file: keep it secret (it holds the station "
                     "key)\n"
                     "service-url: %s\nstation: %s\n%s%s%s",
                     url != NULL ? url : default_url, name, cert_pem, key_pem, ca_pem);
            unlink(outfile);
            st = write_text_file(outfile, text, 0600);
            OPENSSL_cleanse(text, size);
            free(text);
        }
    }
    if (key_pem != NULL) {
        OPENSSL_cleanse(key_pem, strlen(key_pem));
    }
    free(cert_pem);
    free(key_pem);
    free(ca_pem);
    OPENSSL_free(der);
    kiln_pki_ca_free(issuer);
    EVP_PKEY_free(key);
    X509_free(ca);
    X509_free(cert);
    return st;
}
