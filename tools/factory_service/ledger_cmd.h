/* factory_service ledger ...: see ledger_cmd.c. */
#ifndef KILN_FACTORY_SERVICE_LEDGER_CMD_H
#define KILN_FACTORY_SERVICE_LEDGER_CMD_H

/** argv[0] is "ledger"; returns the exit status. */
int factory_service_ledger(int argc, char **argv);

#endif
