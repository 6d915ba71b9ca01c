#!/bin/sh
# A real PostgreSQL (tests/sf/lib.sh start_postgres) for test_ledger_pg or
# test_ledger_chains_pg; with TOOL (factory_tool) the exports BIN leaves next to the key are
# verified offline too.  usage: test_ledger_pg.sh BIN [TOOL]
BIN=$1
TOOL=$2
. "$(dirname "$0")/../sf/lib.sh" # start_postgres, stopped when the test ends
set +e
start_postgres
KEYDIR=$(mktemp -d)
"$BIN" "$DB" "$KEYDIR/ledger.key"
rc=$?
[ -n "$TOOL" ] && [ $rc -eq 0 ] && { . "$(dirname "$0")/offline_chains.sh" || rc=1; }
rm -rf "$KEYDIR"
exit $rc
