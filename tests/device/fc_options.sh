#!/bin/sh
# factory_client's command line: global options before or after the command, every option in
# its --name VALUE and --name=VALUE forms, clear refusals (exit 2) for the rest.
# usage: fc_options.sh FACTORY_CLIENT VECTORS
set -u
FC=$1 VECTORS=$2
WORK=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$WORK"' EXIT INT TERM
pid=
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_rc() { # RC DESCRIPTION COMMAND...
    want=$1 what=$2
    shift 2
    "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    [ "$rc" = "$want" ] || fail "$what: exit $rc, want $want: $(cat "$WORK/err")"
}

BUNDLE=$VECTORS/fcc-oracle/ok_bootstrap_full.req.cbor
expect_rc 0 "handle with --storage first" "$FC" --storage "$WORK/a" handle "$BUNDLE" "$WORK/a.resp"
expect_rc 0 "handle with --storage after the command" "$FC" handle "$BUNDLE" "$WORK/b.resp" --storage "$WORK/b"
cmp -s "$WORK/a.resp" "$WORK/b.resp" || fail "the two orders give different answers"
expect_rc 0 "list --storage=DIR" "$FC" list --storage="$WORK/b"
grep -q "mbed.BootstrapServerURI" "$WORK/out" || fail "list after the command did not read storage b"
expect_rc 0 "get NAME --type T" "$FC" --storage "$WORK/b" get mbed.EndpointName --type config
expect_rc 0 "get --type T NAME" "$FC" --storage "$WORK/b" get --type=config mbed.EndpointName
expect_rc 0 "--help" "$FC" --help
grep -q "^usage: factory_client" "$WORK/out" || fail "--help prints no usage on stdout"
expect_rc 0 "COMMAND --help" "$FC" tcp --help
expect_rc 2 "an unknown option" "$FC" tcp --bogus
grep -q "tcp \[--bind ADDR\]" "$WORK/err" || fail "tcp's usage not shown: $(cat "$WORK/err")"
expect_rc 2 "an option of another command" "$FC" tcp --baud 9600
grep -q -- "--baud does not apply" "$WORK/err" || fail "misplaced option: $(cat "$WORK/err")"
expect_rc 2 "a missing value" "$FC" serial --port
expect_rc 2 "a bad --devices" "$FC" tcp --devices 0
expect_rc 2 "a bad --port" "$FC" tcp --port 70000
expect_rc 2 "a bad --max-length" "$FC" file --input x --output y --max-length=0
expect_rc 2 "--storage and --flash" "$FC" list --storage "$WORK/a" --flash "$WORK/f"
expect_rc 2 "an operand too many" "$FC" list extra

# tcp --devices 2 (global option after the command): two listeners on free ports.
"$FC" --storage "$WORK/many" tcp --devices 2 --port=0 >"$WORK/tcp.out" 2>&1 &
pid=$!
for _ in $(seq 50); do
    [ "$(grep -c "IP Address and Port" "$WORK/tcp.out")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -c "^\[dev [01]\] Factory Client IP Address and Port : 127.0.0.1:[0-9]*$" "$WORK/tcp.out")" = 2 ] ||
    fail "tcp --devices 2: $(cat "$WORK/tcp.out")"
kill "$pid"
wait "$pid" 2>/dev/null
pid=

[ "$failures" = 0 ] && echo "fc_options: ok" || exit 1
