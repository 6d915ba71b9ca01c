#!/bin/sh
# A real PostgreSQL (as tests/sf/test_postgres.sh starts it) for test_ledger_pg or
# test_ledger_chains_pg; with TOOL (factory_tool) the exports BIN leaves next to the key are
# verified offline too.  usage: test_ledger_pg.sh BIN [TOOL]
BIN=$1
TOOL=$2
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 is not installed"; exit 77; }
ROOT=$(mktemp -d /tmp/kiln-ledger-pg.XXXXXX)
chmod 755 "$ROOT"
RUN=""
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "no postgres user"; exit 77; }
    chown postgres "$ROOT"
    RUN="runuser -u postgres --"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    $RUN "$PGBIN/pg_ctl" -D "$ROOT/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
$RUN "$PGBIN/initdb" -D "$ROOT/data" -A trust -U kiln --no-sync >"$ROOT/initdb.log" 2>&1 ||
    { cat "$ROOT/initdb.log"; exit 1; }
$RUN "$PGBIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/server.log" -w -t 60 \
    -o "-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
    { cat "$ROOT/server.log"; exit 1; }
$RUN "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U kiln ledger || exit 1
KEYDIR=$(mktemp -d)
"$BIN" "postgresql://kiln@127.0.0.1:$PORT/ledger" "$KEYDIR/ledger.key"
rc=$?
[ -n "$TOOL" ] && [ $rc -eq 0 ] && { . "$(dirname "$0")/offline_chains.sh" || rc=1; }
rm -rf "$KEYDIR"
exit $rc
