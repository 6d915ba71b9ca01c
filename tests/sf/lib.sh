# Shared helpers of the secure-factory shell tests. Sourced with BIN (build/bin) set.
set -eu
WORK=$(mktemp -d /tmp/kiln-sf-test.XXXXXX)
SERVICE_PIDS=""
cleanup() {
    for pid in $SERVICE_PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    if [ -n "${PG_DATA:-}" ]; then pg_stop || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_service DIR PORT LOG [extra args]: runs the service and waits until it listens.
start_service() {
    dir=$1 port=$2 log=$3
    shift 3
    "$BIN/factory_service" run "$dir" --listen "127.0.0.1:$port" --log "$log" "$@" \
        >"$log.out" 2>>"$log" &
    LAST_PID=$!
    SERVICE_PIDS="$SERVICE_PIDS $LAST_PID"
    i=0
    while ! grep -q "listening on port" "$log.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "service did not start: $(cat "$log")"
        kill -0 "$LAST_PID" 2>/dev/null || fail "service exited: $(cat "$log")"
        sleep 0.05
    done
}

payload() { sed -n 's/^PAYLOAD //p'; }

# provision SID STORAGE: plays seed 001's flow; prints the FINGERPRINT line's value.
provision() {
    sid=$1 storage=$2
    out=$("$BIN/factory_tool" new_device "$sid") || return 1
    [ "$(echo "$out" | head -1)" = "SCP 256" ] || { echo "bad new_device output: $out" >&2; return 1; }
    resp=$("$BIN/factory_client" --storage "$storage" sf "$(echo "$out" | payload)" \
        --factory-trust "$TRUST") || return 1
    out=$("$BIN/factory_tool" get_device_configuration "$sid" "$resp") || return 1
    [ "$(echo "$out" | head -1)" = "SCP 257" ] || { echo "bad configuration output" >&2; return 1; }
    resp=$("$BIN/factory_client" --storage "$storage" sf "$(echo "$out" | payload)" \
        --factory-trust "$TRUST") || return 1
    out=$("$BIN/factory_tool" handle_device_response "$sid" "$resp") || return 1
    echo "$out" | sed -n 's/^FINGERPRINT //p'
}

# The SHA-1 fingerprint of the certificate the device stored, computed by openssl.
stored_fingerprint() {
    "$BIN/factory_client" --storage "$1" get mbed.BootstrapDeviceCert >"$WORK/cert.der" 2>/dev/null \
        || return 1
    openssl x509 -inform DER -in "$WORK/cert.der" -noout -fingerprint -sha1 |
        sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}

# Private material of the state folder and the station file must never reach a log.
assert_no_secrets_in() {
    log=$1
    shift
    grep -q "PRIVATE KEY" "$log" && fail "PEM private key in $log"
    for keyfile in "$@"; do
        sed -n '/BEGIN/,/END/p' "$keyfile" | grep -v -- ----- | while read -r line; do
            [ ${#line} -ge 16 ] || continue
            if grep -qF "$line" "$log"; then fail "key material of $keyfile in $log"; fi
        done
    done
    wrap=$(od -An -tx1 "$DIR/keys/db-wrap.key" | tr -d ' \n')
    grep -qi "$wrap" "$log" && fail "database wrapping key in $log"
    return 0
}

# init_service: state folder in $DIR, one station file in $STATION, service on $PORT.
init_service() {
    DIR=$WORK/service
    PORT=$(free_port)
    "$BIN/factory_service" init "$DIR" --listen "127.0.0.1:$PORT" >/dev/null
    TRUST=$DIR/device-trust.pem
    STATION=$WORK/station1.pem
    "$BIN/factory_service" add-station "$DIR" station1 "$STATION" "$@" >/dev/null
    export FACTORY_STATION=$STATION
}
