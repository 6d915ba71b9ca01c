/* factory_tool ledger, and the hooks the line and setup commands call. */
#ifndef KILN_FT_LEDGER_CMD_H
#define KILN_FT_LEDGER_CMD_H

#include "ft.h"
#include "fcu/fcu.h"
#include "line_records.h"

/** factory_tool ledger verify|export|pubkey. */
int ft_cmd_ledger(const ft_globals *g, int argc, char **argv);
/** Keeps the home's ledger in rec (key <keystore>/ledger.key, created 0600 at first use);
 *  nothing when the home has no keystore yet. -1 (printed) when the key cannot be used. */
int ft_ledger_attach(const fcu *f, line_records *rec);
/** Appends a CA event ("created", "replaced") to the home's ledger and signs it. */
int ft_ledger_note_ca(fcu *f, const char *event);

#endif
