# Shared helpers of the secure-factory shell tests. Sourced with BIN (build/bin) set.
set -eu
WORK=$(mktemp -d /tmp/kiln-sf-test.XXXXXX)
SERVICE_PIDS=""
DEVICE_PIDS=""
cleanup() {
    for pid in $SERVICE_PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in $DEVICE_PIDS; do kill "$pid" 2>/dev/null || true; done
    for pid in $DEVICE_PIDS; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${PG_DATA:-}" ]; then pg_stop || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_postgres: a PostgreSQL 15 server for this test (initdb and pg_ctl on a temporary folder,
# as the postgres user when run as root: initdb refuses root) on a free loopback port, with a
# database "factory"; DB is its URL, PG_PORT its port (PG_LISTEN: the addresses it listens on,
# default 127.0.0.1). Exits 77 when PostgreSQL is missing.
# Stopped (immediate) and removed when the test ends.
PGBIN=/usr/lib/postgresql/15/bin
start_postgres() {
    if [ ! -x "$PGBIN/initdb" ]; then
        echo "PostgreSQL 15 is not installed (scripts/install-deps.sh installs it)"
        exit 77
    fi
    PG_ROOT=$(mktemp -d /tmp/kiln-sf-pg.XXXXXX)
    chmod 755 "$PG_ROOT"
    RUN=""
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "no postgres user"; exit 77; }
        chown postgres "$PG_ROOT"
        RUN="runuser -u postgres --"
    fi
    PG_DATA=$PG_ROOT/data
    PG_PORT=$(free_port)
    $RUN "$PGBIN/initdb" -D "$PG_DATA" -A trust -U kiln --no-sync >"$WORK/initdb.log" 2>&1 ||
        fail "initdb: $(cat "$WORK/initdb.log")"
    $RUN "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_ROOT/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_ROOT -c listen_addresses=${PG_LISTEN:-127.0.0.1} -c fsync=off -c max_connections=200" \
        start >/dev/null || fail "pg_ctl start: $(cat "$PG_ROOT/server.log")"
    $RUN "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U kiln factory || fail "createdb"
    DB=postgresql://kiln@127.0.0.1:$PG_PORT/factory
    pg_watchdog
}
# The EXIT trap does not run when ctest's timeout SIGKILLs the test, and pg_ctl's server is not
# the test's child: a watchdog outside the test's process tree (ctest kills the tree) stops the
# server once the test's shell is gone.
pg_watchdog() {
    (setsid sh -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
        $2 "$3/pg_ctl" -D "$4" -m immediate stop; rm -rf "$5"' \
        pg-watchdog "$$" "$RUN" "$PGBIN" "$PG_DATA" "$PG_ROOT" >/dev/null 2>&1 </dev/null &)
}
pg_stop() {
    $RUN "$PGBIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_ROOT"
}
# q SQL: one query on the test's PostgreSQL database, unaligned (psql -At).
q() { psql -At -h 127.0.0.1 -p "$PG_PORT" -U kiln factory -c "$1"; }

# start_service DIR PORT LOG [extra args]: runs the service and waits until it listens.
start_service() {
    dir=$1 port=$2 log=$3
    shift 3
    # The shell creates the log (the service's stderr goes there too): private, as the service
    # requires of a log it did not create itself.
    rm -f "$log.out" # a previous run's "listening" line must not count (the child truncates late)
    old_umask=$(umask)
    umask 077
    "$BIN/factory_service" run "$dir" --listen "127.0.0.1:$port" --log "$log" "$@" \
        >"$log.out" 2>>"$log" &
    LAST_PID=$!
    umask "$old_umask"
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
        sed -n '/^-----BEGIN [A-Z0-9 ]*-----$/,/^-----END [A-Z0-9 ]*-----$/p' "$keyfile" | grep -v -- ----- | while read -r line; do
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

# ---- over the factory line (factory_client listeners, factory_tool relay) ----

# start_bg NAME COMMAND...: runs COMMAND in the background (stdout $WORK/NAME.out, stderr
# $WORK/NAME.err); LAST_PID is its process ID. Stopped with SIGTERM when the test ends.
start_bg() {
    name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    LAST_PID=$!
    DEVICE_PIDS="$DEVICE_PIDS $LAST_PID"
}

# wait_for FILE TEXT: waits until FILE contains TEXT (10 s at most).
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "no '$2' in $1: $(cat "$1" "${1%.out}.err" 2>/dev/null)"
        sleep 0.05
    done
}

# device_ports NAME N: waits until listener NAME announced N ports; prints them, one a line.
device_ports() {
    wait_for "$WORK/$1.out" "IP Address and Port"
    i=0
    while [ "$(grep -c "IP Address and Port" "$WORK/$1.out")" -lt "$2" ]; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "listener $1 announced fewer than $2 ports"
        sleep 0.05
    done
    grep "IP Address and Port" "$WORK/$1.out" | sed 's/.*://'
}

# relay TRANSPORT-ARGS... PAYLOAD: factory_tool relay; prints the answer's hex.
relay() {
    out=$("$BIN/factory_tool" relay "$@") || return 1
    echo "$out" | sed -n 's/^RESPONSE //p'
}

# provision_over SID TRANSPORT-ARGS...: seed 001's flow with every payload carried to the device
# by factory_tool relay; prints the FINGERPRINT line's value.
provision_over() {
    sid=$1
    shift
    out=$("$BIN/factory_tool" new_device "$sid") || return 1
    [ "$(echo "$out" | head -1)" = "SCP 256" ] || { echo "bad new_device output: $out" >&2; return 1; }
    resp=$(relay "$@" "$(echo "$out" | payload)") || return 1
    out=$("$BIN/factory_tool" get_device_configuration "$sid" "$resp") || return 1
    [ "$(echo "$out" | head -1)" = "SCP 257" ] || { echo "bad configuration output" >&2; return 1; }
    resp=$(relay "$@" "$(echo "$out" | payload)") || return 1
    out=$("$BIN/factory_tool" handle_device_response "$sid" "$resp") || return 1
    echo "$out" | sed -n 's/^FINGERPRINT //p'
}

# check_provisioned FINGERPRINT STORAGE SID: the station's FINGERPRINT is openssl's SHA-1 of the
# certificate the device stored, whose CN is the session ID; the device verifies as configured.
check_provisioned() {
    echo "$1" | grep -Eq '^[0-9a-f]{40}$' || fail "$3: FINGERPRINT '$1' is not 40 hex digits"
    stored=$(stored_fingerprint "$2") || fail "$3: the device stored no certificate"
    [ "$1" = "$stored" ] || fail "$3: FINGERPRINT $1 != openssl's $stored"
    openssl x509 -inform DER -in "$WORK/cert.der" -noout -subject | grep -q "CN = $3" ||
        fail "$3: certificate CN is not the session ID"
    "$BIN/factory_client" --storage "$2" verify >/dev/null 2>&1 ||
        fail "$3: device does not verify as configured"
}

# ---- raw requests (curl over mutual TLS) ----

# post STATIONFILE ROUTE BODY: one request to the service on $PORT with the station's
# certificate; prints "HTTPCODE BODY".
post() {
    printf '%s' "$3" >"$WORK/post.req"
    post_file "$1" "$2" "$WORK/post.req"
}

# post_file STATIONFILE ROUTE FILE: same with the body's bytes taken from FILE.
post_file() {
    curl -sS --max-time 20 --cert "$1" --key "$1" --cacert "$DIR/station-ca.pem" \
        -H 'Content-Type: application/json' --data-binary "@$3" -o "$WORK/post.body" \
        -w '%{http_code}' "https://127.0.0.1:$PORT/v1/$2" >"$WORK/post.code" || return 1
    echo "$(cat "$WORK/post.code") $(cat "$WORK/post.body")"
}

# session_row SID: the session's stored columns (SQLite), to compare before and after.
session_row() {
    sqlite3 "$DIR/factory.db" "SELECT * FROM sessions WHERE sid = '$1'"
}
