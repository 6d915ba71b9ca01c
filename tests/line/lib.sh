# Shared helpers of the line shell tests. Sourced; expects FT (factory_tool), FC
# (factory_client), FAKE (fake_device), SRC (tests/line) and VECTORS to be set.
set -eu
PY=/usr/bin/python3
TMP_ROOT=$(mktemp -d /tmp/kiln-line-sh-XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP_ROOT"
}
trap cleanup EXIT
PASSED=0
FAILED=0
unset FCU_HOME_DIR FCU_RESOURCES_DIR FCU_KEYSTORE_DIR KILN_RECORDS_DB KILN_RECORDS_URL

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }
check() { # check NAME COMMAND...: passes when the command succeeds
    name=$1; shift
    if "$@" >"$TMP_ROOT/check.out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$TMP_ROOT/check.out"; fi
}
finish() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; }

# newhome NAME: a configured FCU home (test PKI server CAs) with its CA set up.
newhome() {
    h="$TMP_ROOT/$1"
    mkdir -p "$h/config" "$h/resources"
    cp "$SRC/../fcu/data/base.yml" "$h/config/fcu.yml"
    pki="$VECTORS/fcc-oracle/pki"
    cp "$pki/test-bootstrap-server-ca.pem" "$h/resources/bootstrap_server_ca_cert.pem"
    cp "$pki/test-lwm2m-server-ca.pem" "$h/resources/lwm2m_server_ca_cert.pem"
    cp "$pki/test-update-authority.pem" "$h/resources/update.pem"
    "$FT" --home-dir "$h" setup >/dev/null
    echo "$h"
}

# start NAME COMMAND...: runs a device in the background; its stdout goes to $TMP_ROOT/NAME.out.
start() {
    name=$1; shift
    "$@" >"$TMP_ROOT/$name.out" 2>"$TMP_ROOT/$name.err" &
    PIDS="$PIDS $!"
    eval "PID_$name=$!"
}

# ports NAME: waits until the device announced its ports; prints them, one a line.
ports() {
    i=0
    while ! grep -q "IP Address and Port" "$TMP_ROOT/$1.out" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 400 ] || { echo "device $1 did not start" >&2; cat "$TMP_ROOT/$1.err" >&2; return 1; }
        sleep 0.05
    done
    # With --devices N every device prints its line before the loop starts.
    want=${2:-1}
    while [ "$(grep -c "IP Address and Port" "$TMP_ROOT/$1.out")" -lt "$want" ]; do sleep 0.05; done
    grep "IP Address and Port" "$TMP_ROOT/$1.out" | sed 's/.*://'
}

ft() { "$FT" --home-dir "$HOME_DIR" "$@"; }

# json_get FILE EXPR: evaluates a Python expression on the JSON document "j".
json_get() { $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# status_of FILE: the "status" of the last JSON line of FILE.
status_of() { tail -n 1 "$1" | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())["status"])'; }

# three_devices_and_a_closed_port: three simulated devices on TCP (their ports in DEV1..DEV3)
# and GONE, a port nothing listens on any more, for runs with one unreachable device.
three_devices_and_a_closed_port() {
    start devs "$FC" --storage "$TMP_ROOT/devs" --devices 3 --forever tcp --port 0
    set -- $(ports devs 3)
    DEV1=$1 DEV2=$2 DEV3=$3
    start gone "$FAKE" close
    GONE=$(ports gone)
    kill $PID_gone
    wait $PID_gone 2>/dev/null || true
}

# seven_jobs_one_unreachable CSV: the metrics and dashboard runs' list, ep-1..ep-6 over the three
# devices twice and ep-7 on the closed port (6 succeed, 1 fails with 1021).
seven_jobs_one_unreachable() {
    three_devices_and_a_closed_port
    {
        echo "endpoint_name,serial_number,address"
        i=0
        for p in $DEV1 $DEV2 $DEV3 $DEV1 $DEV2 $DEV3; do
            i=$((i + 1))
            echo "ep-$i,SN-$i,tcp:127.0.0.1:$p"
        done
        echo "ep-7,SN-7,tcp:127.0.0.1:$GONE"
    } > "$1"
}
