/* factory_tool ledger: the configurator's tamper-evident ledger, kept in the records database
 * of the home (tables ledger, ledger_checkpoint) and signed by <keystore>/ledger.key, or when
 * the CA key is in a PKCS#11 token by the token key "kiln-ledger" beside it. Also what attaches
 * that ledger to the records of a line run and notes CA events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "kiln_ledger.h"
#include "ledger_tool.h"
#include "ledger_cmd.h"
#include "line_cli.h"

#define LEDGER_KEY_FILE     "ledger.key"
#define CA_CERT_FILE        "fcu.crt"
#define CA_KEY_URI_FILE     "fcu_key.uri" /* setup --key-uri: the CA key's URI, no PIN */
#define LEDGER_TOKEN_OBJECT "kiln-ledger"
#define LEDGER_URI_FILE     "ledger.uri" /* the token ledger key's URI, no PIN */

static char *keystore_file(const fcu *f, const char *name)
{
    const char *dir = fcu_keystore_dir(f);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path != NULL) {
        snprintf(path, n, "%s/%s", dir, name);
    }
    return path;
}

/* The issuing CA as the ledger names it: the SHA-256 of its certificate's DER. False when
 * there is no CA certificate yet. */
static bool ca_hash(const fcu *f, uint8_t hash[KILN_LEDGER_HASH_SIZE])
{
    char *path = keystore_file(f, CA_CERT_FILE);
    FILE *in = path ? fopen(path, "r") : NULL;
    X509 *cert = in ? PEM_read_X509(in, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int len = cert ? i2d_X509(cert, &der) : -1;
    if (len > 0) {
        SHA256(der, (size_t)len, hash);
    }
    OPENSSL_free(der);
    X509_free(cert);
    if (in != NULL) {
        fclose(in);
    }
    free(path);
    return len > 0;
}

static void ca_name(const fcu *f, char out[2 * KILN_LEDGER_HASH_SIZE + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t hash[KILN_LEDGER_HASH_SIZE];
    out[0] = '\0';
    if (!ca_hash(f, hash)) { /* once: it reads and parses the CA certificate */
        return;
    }
    for (size_t i = 0; i < sizeof(hash); i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[2 * sizeof(hash)] = '\0';
}

/* The first line of a keystore file into buf; false when there is none. */
static bool keystore_line(const fcu *f, const char *name, char *buf, size_t size)
{
    char *path = keystore_file(f, name);
    FILE *in = path ? fopen(path, "r") : NULL;
    free(path);
    bool ok = in != NULL && fgets(buf, (int)size, in) != NULL;
    if (in != NULL) {
        fclose(in);
    }
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    return ok && buf[0] != '\0';
}

static bool keystore_has(const fcu *f, const char *name)
{
    char *path = keystore_file(f, name);
    struct stat sb;
    bool has = path != NULL && stat(path, &sb) == 0;
    free(path);
    return has;
}

/* The ledger key's URI when it is a token key, else NULL. A ledger keeps the key it started
 * with across CA rotations: ledger.uri once a token key signs it, ledger.key once a file key
 * does. A new ledger beside a CA key in a token gets the CA's URI with object=kiln-ledger and
 * no id (same token, module and PIN source). */
static char *token_ledger_uri(const fcu *f)
{
    char ca_uri[2048];
    if (keystore_line(f, LEDGER_URI_FILE, ca_uri, sizeof(ca_uri))) {
        return kiln_pki_is_key_uri(ca_uri) ? strdup(ca_uri) : NULL;
    }
    if (keystore_has(f, LEDGER_KEY_FILE) ||
        !keystore_line(f, CA_KEY_URI_FILE, ca_uri, sizeof(ca_uri))) {
        return NULL;
    }
    char *query = strchr(ca_uri, '?');
    size_t size = sizeof(ca_uri) + sizeof(LEDGER_TOKEN_OBJECT) + 16;
    char *uri = kiln_pki_is_key_uri(ca_uri) ? malloc(size) : NULL;
    if (uri == NULL) {
        return NULL;
    }
    if (query != NULL) {
        *query++ = '\0';
    }
    snprintf(uri, size, "pkcs11:");
    char *save = NULL;
    for (char *a = strtok_r(ca_uri + 7, ";", &save); a != NULL; a = strtok_r(NULL, ";", &save)) {
        if (strncmp(a, "object=", 7) != 0 && strncmp(a, "id=", 3) != 0) {
            strcat(strcat(uri, a), ";");
        }
    }
    strcat(uri, "object=" LEDGER_TOKEN_OBJECT);
    if (query != NULL) {
        strcat(strcat(uri, "?"), query);
    }
    return uri;
}

static int remember_uri(const fcu *f, const char *uri)
{
    /* 0600 like the key files: a URI given with pin-value carries the PIN */
    char *path = keystore_file(f, LEDGER_URI_FILE);
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
    free(path);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && out == NULL) {
        close(fd);
    }
    int rc = out != NULL && fprintf(out, "%s\n", uri) > 0 ? 0 : -1;
    if (out != NULL && fclose(out) != 0) {
        rc = -1;
    }
    return rc;
}

/* The ledger's signer: the token key (made non-extractable on first use) or the file key. */
static int ledger_signer(const fcu *f, kiln_pki_signer **key)
{
    char *uri = token_ledger_uri(f);
    if (uri != NULL) {
        kiln_pki_status st = kiln_pki_signer_from_uri(uri, key);
        if (st == KILN_PKI_PKCS11_KEY_NOT_FOUND) {
            st = kiln_pki_signer_generate_in_token(uri, key);
        }
        if (st == KILN_PKI_OK && !keystore_has(f, LEDGER_URI_FILE) && remember_uri(f, uri) != 0) {
            fprintf(stderr, "factory_tool: cannot write %s/%s\n", fcu_keystore_dir(f),
                    LEDGER_URI_FILE);
            kiln_pki_signer_free(*key);
            *key = NULL;
            free(uri);
            return -1;
        }
        if (st != KILN_PKI_OK) {
            char shown[600];
            kiln_pki_uri_redact(uri, shown, sizeof(shown));
            fprintf(stderr, "factory_tool: cannot open or create the ledger key %s: %s\n", shown,
                    kiln_pki_strerror(st));
        }
        free(uri);
        return st == KILN_PKI_OK ? 0 : -1;
    }
    char *path = keystore_file(f, LEDGER_KEY_FILE);
    if (path == NULL || kiln_ledger_key_open(path, key) != KILN_LEDGER_OK) {
        fprintf(stderr, "factory_tool: cannot open or create the ledger key %s\n",
                path ? path : "(out of memory)");
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

int ft_ledger_attach(const fcu *f, line_records *rec)
{
    struct stat sb;
    if (stat(fcu_keystore_dir(f), &sb) != 0) {
        return 0; /* no CA, so nothing can be issued: nothing to keep */
    }
    kiln_pki_signer *key = NULL;
    if (ledger_signer(f, &key) != 0) {
        return -1;
    }
    char issuer[65];
    ca_name(f, issuer);
    return line_records_attach_ledger(rec, key, issuer, 0);
}

int ft_ledger_note_ca(fcu *f, const char *event)
{
    char *db_path = line_cli_default_records(f);
    char why[600];
    line_records *rec = db_path ? line_records_open(db_path, why, sizeof(why)) : NULL;
    free(db_path);
    int rc = rec != NULL && ft_ledger_attach(f, rec) == 0 ? 0 : -1;
    if (rc == 0) {
        char issuer[2 * KILN_LEDGER_HASH_SIZE + 1];
        uint8_t hash[KILN_LEDGER_HASH_SIZE];
        bool has_cert = ca_hash(f, hash);
        ca_name(f, issuer);
        kiln_ledger_record r = {
            KILN_LEDGER_KIND_CA, "", "", has_cert ? hash : NULL, issuer, "", event};
        rc = line_records_ledger_append(rec, &r);
    }
    line_records_close(rec);
    return rc;
}

int ft_cmd_ledger(const ft_globals *g, int argc, char **argv)
{
    fcu *f = line_cli_open_fcu(g);
    if (f == NULL) {
        fprintf(stderr, "factory_tool: out of memory\n");
        return FT_EXIT_FAILED;
    }
    char *db_path = line_cli_default_records(f);
    char *key_path = keystore_file(f, LEDGER_KEY_FILE);
    int rc = FT_EXIT_FAILED;
    /* A token key's public half comes from the token; a file key's from ledger.key. */
    char *uri = token_ledger_uri(f);
    kiln_pki_signer *token_key = NULL;
    bool token_ok = uri == NULL || ledger_signer(f, &token_key) == 0;
    free(uri);
    if (db_path != NULL && key_path != NULL && token_ok) {
        ledger_tool_place place = {
            "factory_tool", db_path, key_path, g->json != 0,
            NULL,           NULL,    NULL,     token_key ? kiln_pki_signer_point(token_key) : NULL};
        rc = ledger_tool_main(&place, argc, argv);
    }
    kiln_pki_signer_free(token_key);
    free(db_path);
    free(key_path);
    fcu_close(f);
    return rc;
}
