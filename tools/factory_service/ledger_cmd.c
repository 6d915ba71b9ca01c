/* factory_service ledger verify|export|pubkey DIR: the service's ledger
 * (tools/common/ledger_tool.c) read through the service's own database connection (SQLite or
 * PostgreSQL, service.conf's db or
 * --db URL). It never writes: no checkpoint is added, so a verify reports what is stored. */
#include "ledger_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln_ledger.h"
#include "ledger_tool.h"
#include "sf_db.h"
#include "sf_ledger.h"
#include "sf_service.h"

static int verify_db(void *ctx, const uint8_t *point, struct kiln_ledger_verdict *verdict)
{
    return sf_db_ledger_verify(ctx, point, verdict);
}

static int export_db(void *ctx, FILE *out, int format)
{
    return sf_db_ledger_export(ctx, out, format);
}

static bool is_dir(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static bool takes_value(const char *arg)
{
    static const char *const opts[] = {"--pubkey", "--format", "--output", "-o", "--db"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (strcmp(arg, opts[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Copies argv to out without the state folder (set in *dir) and --db URL (in *db_url). */
static int split_args(int argc, char **argv, char **out, const char **dir, const char **db_url)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            *db_url = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            *db_url = argv[i] + 5;
        } else if (takes_value(argv[i]) && i + 1 < argc) {
            out[n++] = argv[i];
            out[n++] = argv[++i];
        } else if (i >= 2 && *dir == NULL && argv[i][0] != '-' && is_dir(argv[i])) {
            *dir = argv[i];
        } else {
            out[n++] = argv[i];
        }
    }
    out[n] = NULL;
    return n;
}

static int run_ledger(char **args, int n, const char *dir, const char *db_url);

int factory_service_ledger(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (args == NULL) {
        fprintf(stderr, "factory_service: error %d: %s\n", SF_INTERNAL,
                sf_status_text(SF_INTERNAL));
        return 1;
    }
    const char *dir = NULL, *db_url = NULL;
    int n = split_args(argc, argv, args, &dir, &db_url);
    int rc = run_ledger(args, n, dir, db_url);
    free(args);
    return rc;
}

/* The command over args (the state folder and --db taken out). */
static int run_ledger(char **args, int n, const char *dir, const char *db_url)
{
    char key_path[1200];
    snprintf(key_path, sizeof(key_path), "%s/keys/ledger.key", dir != NULL ? dir : ".");
    ledger_tool_place place = {"factory_service", NULL, key_path, false, NULL, NULL, NULL, NULL};
    if (dir == NULL) {
        return ledger_tool_main(&place, n, args); /* usage, help, or an exported file */
    }
    sf_config cfg;
    sf_status st = sf_config_load(dir, &cfg);
    sf_db *db = NULL;
    if (st == SF_OK) {
        const char *url = db_url != NULL ? db_url : cfg.db;
        st = sf_db_open(url[0] ? url : NULL, dir, &db);
    }
    if (st != SF_OK) {
        fprintf(stderr, "factory_service: error %d: %s: %s\n", st, sf_status_text(st), dir);
        return 1;
    }
    /* The public half of the ledger key, a file or a token key (keys/ledger.uri); never made
     * here: a folder without one cannot be verified without --pubkey. */
    char ref[1200];
    uint8_t point[KILN_PKI_POINT_SIZE];
    kiln_pki_signer *key = NULL;
    bool token = sf_service_key_ref(dir, "ledger", ref, sizeof(ref));
    if ((token || access(ref, F_OK) == 0) && sf_ledger_key_load(dir, &key) == SF_OK) {
        memcpy(point, kiln_pki_signer_point(key), KILN_PKI_POINT_SIZE);
        place.point = point;
    }
    kiln_pki_signer_free(key);
    place.verify = verify_db;
    place.export_to = export_db;
    place.ctx = db;
    int rc = ledger_tool_main(&place, n, args);
    sf_db_close(db);
    return rc;
}
