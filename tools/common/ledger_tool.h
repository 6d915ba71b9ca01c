/* The `ledger` command of factory_tool and factory_service: verify (the live ledger, or an
 * exported file with --pubkey), export and pubkey, over a ledger kept by src/host/ledger in a
 * SQLite database. */
#ifndef KILN_LEDGER_TOOL_H
#define KILN_LEDGER_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct kiln_ledger_verdict;

typedef struct ledger_tool_place {
    const char *program;  /* "factory_tool", for messages */
    const char *db_path;  /* the database holding tables ledger and ledger_checkpoint */
    const char *key_path; /* the ledger key (its public half verifies the live ledger) */
    bool json;            /* print the verdict as one JSON object */
    /* When set, the live ledger is read through these instead of the SQLite file db_path (the
     * service's own connection, SQLite or PostgreSQL); they return a KILN_LEDGER_* status. */
    int (*verify)(void *ctx, const uint8_t *point, struct kiln_ledger_verdict *verdict);
    int (*export_to)(void *ctx, FILE *out, int format);
    void *ctx;
    const uint8_t *point; /* when set, the ledger's public key (key_path is then not read) */
} ledger_tool_place;

/** argv[0] is "ledger", argv[1] the subcommand. Returns the exit status: 0 when the ledger
 *  holds (or the export / pubkey was written), 1 when it does not or on an error, 2 on a
 *  usage error. */
int ledger_tool_main(const ledger_tool_place *place, int argc, char **argv);

#endif
