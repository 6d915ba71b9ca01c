/* factory_tool ledger: the configurator's tamper-evident ledger, kept in the records database
 * of the home (tables ledger, ledger_checkpoint) and signed by <keystore>/ledger.key. Also
 * what attaches that ledger to the records of a line run and notes CA events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "kiln_ledger.h"
#include "ledger_tool.h"
#include "ledger_cmd.h"
#include "line_cli.h"

#define LEDGER_KEY_FILE "ledger.key"
#define CA_CERT_FILE    "fcu.crt"

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
    uint8_t hash[KILN_LEDGER_HASH_SIZE];
    out[0] = '\0';
    for (size_t i = 0; ca_hash(f, hash) && i < sizeof(hash); i++) {
        snprintf(out + 2 * i, 3, "%02x", hash[i]);
    }
}

int ft_ledger_attach(const fcu *f, line_records *rec)
{
    struct stat sb;
    if (stat(fcu_keystore_dir(f), &sb) != 0) {
        return 0; /* no CA, so nothing can be issued: nothing to keep */
    }
    char *path = keystore_file(f, LEDGER_KEY_FILE);
    kiln_pki_signer *key = NULL;
    if (path == NULL || kiln_ledger_key_open(path, &key) != KILN_LEDGER_OK) {
        fprintf(stderr, "factory_tool: cannot open or create the ledger key %s\n",
                path ? path : "(out of memory)");
        free(path);
        return -1;
    }
    free(path);
    char issuer[65];
    ca_name(f, issuer);
    return line_records_attach_ledger(rec, key, issuer, 0);
}

int ft_ledger_note_ca(const fcu *f, const char *event)
{
    char *db_path = line_records_default_path(fcu_home_dir(f));
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
    char *db_path = line_records_default_path(fcu_home_dir(f));
    char *key_path = keystore_file(f, LEDGER_KEY_FILE);
    int rc = FT_EXIT_FAILED;
    if (db_path != NULL && key_path != NULL) {
        ledger_tool_place place = {"factory_tool", db_path, key_path, g->json != 0,
                                   NULL,           NULL,    NULL,     NULL};
        rc = ledger_tool_main(&place, argc, argv);
    }
    free(db_path);
    free(key_path);
    fcu_close(f);
    return rc;
}
