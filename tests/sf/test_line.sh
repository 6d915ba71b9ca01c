#!/bin/sh
# Seed 001's flow over the factory line: the station's `factory_tool relay` carries every payload
# in a request frame to factory_client listeners, on TCP (several devices in one process) and on
# a serial line (socat pseudo-terminal pair). Payloads altered in transit are refused by the
# device and the refusal reaches the service; a firmware without keys answers "unknown factory
# ID". Real service (mutual TLS, SQLite), real sockets and pseudo-terminals.
BIN=$1
. "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat missing (scripts/install-deps.sh installs it)"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"

# alter HEX OFFSET: flips the lowest bit of byte OFFSET of a hex payload.
alter() {
    /usr/bin/python3 -c 'import sys; b=bytearray.fromhex(sys.argv[1]); b[int(sys.argv[2])]^=1; print(b.hex())' "$1" "$2"
}
# audit_has PATTERN: the audit CSV has a line matching PATTERN.
audit_has() {
    "$BIN/factory_service" audit "$DIR" | grep -Eq "$1"
}

# ---- TCP: three devices in one listener, one session each; each completed SF session counts
# as one device, so the listener ends on its own once all three are done.
start_bg tcp "$BIN/factory_client" -v --storage "$WORK/tcp" --devices 3 \
    --factory-trust "$TRUST" tcp --port 0
TCP_PID=$LAST_PID
n=0
for p in $(device_ports tcp 3); do
    sid=$(printf 'e78d9c272156fb9b1a%02x' $n)
    fp=$(provision_over "$sid" --tcp "127.0.0.1:$p") || fail "tcp device $n: flow failed"
    check_provisioned "$fp" "$WORK/tcp/dev-$n" "$sid"
    n=$((n + 1))
done
[ $n -eq 3 ] || fail "tcp listener announced $n ports"
wait $TCP_PID || fail "tcp listener exit status $? after three sessions: $(cat "$WORK/tcp.err")"
grep -q "sessions 3, messages 6, rejected 0" "$WORK/tcp.out" ||
    fail "tcp statistics: $(tail -1 "$WORK/tcp.out")"
grep -q "secure-factory messages 6 (device errors 0)" "$WORK/tcp.out" ||
    fail "tcp statistics: $(tail -1 "$WORK/tcp.out")"
[ "$(grep -c "Successfully completed factory flow" "$WORK/tcp.out")" -eq 3 ] ||
    fail "tcp: three completed flows expected"

# ---- Serial: one device on a pseudo-terminal, --forever: two devices one after the other; each
# new device (start) erases the storage on its first frame, never between INIT and CONFIG.
mkdir -p "$WORK/tty"
start_bg socat socat pty,raw,echo=0,link="$WORK/tty/device" pty,raw,echo=0,link="$WORK/tty/tool"
i=0
while [ ! -e "$WORK/tty/device" ] || [ ! -e "$WORK/tty/tool" ]; do
    i=$((i + 1))
    [ $i -lt 200 ] || fail "socat did not create the pseudo-terminals"
    sleep 0.05
done
start_bg serial "$BIN/factory_client" -v --forever --storage "$WORK/serial" serial \
    --port "$WORK/tty/device" --baud 115200 --factory-trust "$TRUST"
SERIAL_PID=$LAST_PID
wait_for "$WORK/serial.out" "waiting for incoming data"
for n in 0 1; do
    sid=serial-$n
    fp=$(provision_over "$sid" --serial "$WORK/tty/tool" --baud 115200 -t 20) ||
        fail "serial device $n: flow failed"
    check_provisioned "$fp" "$WORK/serial" "$sid"
done
[ "$(grep -c "Storage is erased" "$WORK/serial.out")" -eq 2 ] ||
    fail "serial: storage erased $(grep -c "Storage is erased" "$WORK/serial.out") times for 2 devices"

# ---- Altered in transit, over TCP (one --forever device). The station flips one bit of the
# CONFIG_REQUEST: the device refuses it (DEVICE_ERROR), the relay carries the refusal back, and
# handle_device_response records the device's code in the service (error 118).
start_bg forever "$BIN/factory_client" -v --forever --storage "$WORK/forever" \
    --factory-trust "$TRUST" tcp --port 0
FOREVER_PID=$LAST_PID
FP=$(device_ports forever 1)
AT="--tcp 127.0.0.1:$FP"

# tamper SID OFFSET CODE: a session whose CONFIG_REQUEST has byte OFFSET altered; the device
# must answer DEVICE_ERROR with CODE.
tamper() {
    sid=$1 offset=$2 code=$3
    out=$("$BIN/factory_tool" new_device "$sid") || fail "$sid: new_device"
    resp=$(relay $AT "$(echo "$out" | payload)") || fail "$sid: relay INIT"
    out=$("$BIN/factory_tool" get_device_configuration "$sid" "$resp") || fail "$sid: configuration"
    bad=$(alter "$(echo "$out" | payload)" "$offset")
    "$BIN/factory_tool" relay $AT "$bad" >"$WORK/relay.out" 2>"$WORK/relay.err" ||
        fail "$sid: relaying a device error is not a relay failure: $(cat "$WORK/relay.err")"
    resp=$(sed -n 's/^RESPONSE //p' "$WORK/relay.out")
    expect=$(printf '017f0005%02x' "$code")
    case $resp in "$expect"*) ;; *) fail "$sid: altered payload answered '$resp', not device error $code" ;; esac
    grep -q "device reported error $code" "$WORK/relay.err" || fail "$sid: relay note: $(cat "$WORK/relay.err")"
    "$BIN/factory_tool" handle_device_response "$sid" "$resp" 2>"$WORK/err" &&
        fail "$sid: a device error was accepted as a final answer"
    grep -q "error 118" "$WORK/err" || fail "$sid: device error not surfaced: $(cat "$WORK/err")"
    audit_has "^$sid,1,station1,.*,error,$code," || fail "$sid: audit lacks device error $code"
}
tamper altered-sig 200 6   # ciphertext: the service signature no longer verifies
tamper altered-bind 5 8    # binding: the message looks like another session's
kill -0 $FOREVER_PID 2>/dev/null || fail "the device stopped after refusing a payload"
# The service closed both sessions; new_device starts a second attempt, which completes on the
# same device (the new INIT replaces the session the device still held).
for sid in altered-sig altered-bind; do
    fp=$(provision_over "$sid" $AT) || fail "$sid: second attempt failed"
    check_provisioned "$fp" "$WORK/forever" "$sid"
    audit_has "^$sid,2,station1,[0-9a-f]{64},$fp,done," || fail "$sid: audit lacks attempt 2"
done
# An altered INIT_REQUEST is answered, but the answer proves possession over the altered bytes:
# the service refuses it (107).
out=$("$BIN/factory_tool" new_device altered-init) || fail "altered-init: new_device"
resp=$(relay $AT "$(alter "$(echo "$out" | payload)" 10)") || fail "altered-init: relay"
"$BIN/factory_tool" get_device_configuration altered-init "$resp" 2>"$WORK/err" &&
    fail "an INIT_RESPONSE to an altered request was accepted"
grep -q "error 107" "$WORK/err" || fail "altered INIT: $(cat "$WORK/err")"

# ---- A firmware without keys (no --factory-trust) answers "unknown factory ID" (device error
# 2, detail = the factory ID), and keeps listening.
start_bg nokeys "$BIN/factory_client" --storage "$WORK/nokeys" tcp --port 0
NOKEYS_PID=$LAST_PID
NP=$(device_ports nokeys 1)
out=$("$BIN/factory_tool" new_device nokeys-1)
"$BIN/factory_tool" relay --tcp "127.0.0.1:$NP" "$(echo "$out" | payload)" >"$WORK/relay.out" \
    2>"$WORK/relay.err" || fail "relay to a device without keys: $(cat "$WORK/relay.err")"
resp=$(sed -n 's/^RESPONSE //p' "$WORK/relay.out")
factory_id=$(sed -n 's/^Factory-ID: 0x//p' "$TRUST")
[ "$resp" = "017f000502$factory_id" ] || fail "device without keys answered '$resp'"
grep -q "device reported error 2: device does not know the factory ID" "$WORK/relay.err" ||
    fail "no unknown-factory note: $(cat "$WORK/relay.err")"
"$BIN/factory_tool" get_device_configuration nokeys-1 "$resp" 2>"$WORK/err" &&
    fail "unknown factory ID accepted by the service"
grep -q "error 118" "$WORK/err" || fail "unknown factory ID not surfaced: $(cat "$WORK/err")"
audit_has "^nokeys-1,1,station1,.*,error,2," || fail "audit lacks the unknown factory ID"
kill -0 $NOKEYS_PID 2>/dev/null || fail "the device without keys stopped listening"

# ---- The erase of a start happens on its first frame: a listener restarted between INIT and
# CONFIG has erased the device's session (device error 7) unless it keeps its storage.
# restarted_session SID STORAGE [--keep-storage]: RESTART_ANSWER is the answer to the
# CONFIG_REQUEST relayed to the restarted listener (whose process ID is LAST_PID).
restarted_session() {
    sid=$1 storage=$2
    shift 2
    start_bg "$sid-a" "$BIN/factory_client" --storage "$storage" --factory-trust "$TRUST" \
        tcp --port 0 "$@"
    rp=$(device_ports "$sid-a" 1)
    out=$("$BIN/factory_tool" new_device "$sid") || fail "$sid: new_device"
    resp=$(relay --tcp "127.0.0.1:$rp" "$(echo "$out" | payload)") || fail "$sid: relay INIT"
    kill "$LAST_PID"
    wait "$LAST_PID" 2>/dev/null || true
    out=$("$BIN/factory_tool" get_device_configuration "$sid" "$resp") || fail "$sid: configuration"
    start_bg "$sid-b" "$BIN/factory_client" --storage "$storage" --factory-trust "$TRUST" \
        tcp --port 0 "$@"
    rp=$(device_ports "$sid-b" 1)
    RESTART_ANSWER=$(relay --tcp "127.0.0.1:$rp" "$(echo "$out" | payload)" 2>/dev/null) ||
        fail "$sid: relay CONFIG"
}
restarted_session restart-erased "$WORK/restart-erased"
case $RESTART_ANSWER in 017f000507*) ;; *) fail "a restarted listener kept the session: '$RESTART_ANSWER'" ;; esac
kill "$LAST_PID"
restarted_session restart-kept "$WORK/restart-kept" --keep-storage
wait "$LAST_PID" || fail "restart-kept: the listener did not complete its flow"
fp=$("$BIN/factory_tool" handle_device_response restart-kept "$RESTART_ANSWER" |
    sed -n 's/^FINGERPRINT //p') || fail "restart-kept: final answer refused"
check_provisioned "$fp" "$WORK/restart-kept" restart-kept

# ---- The file listener answers a secure-factory frame like a bundle's.
out=$("$BIN/factory_tool" new_device file-1)
/usr/bin/python3 -c '
import hashlib, struct, sys
p = bytes.fromhex(sys.argv[1])
open(sys.argv[2], "wb").write(b"mbedprov" + struct.pack("<I", len(p)) + p + hashlib.sha256(p).digest())
' "$(echo "$out" | payload)" "$WORK/file.in"
"$BIN/factory_client" --storage "$WORK/file" --factory-trust "$TRUST" file --input "$WORK/file.in" \
    --output "$WORK/file.out" >/dev/null || fail "file listener failed"
resp=$(/usr/bin/python3 -c '
import hashlib, struct, sys
f = open(sys.argv[1], "rb").read()
assert f[:8] == b"mbedprov" and struct.unpack("<I", f[8:12])[0] == 0, f[:12]
n = struct.unpack("<I", f[12:16])[0]
p = f[16:16 + n]
assert len(f) == 16 + n + 32 and hashlib.sha256(p).digest() == f[16 + n:], "bad frame"
print(p.hex())
' "$WORK/file.out") || fail "file listener: no response frame"
"$BIN/factory_tool" get_device_configuration file-1 "$resp" >/dev/null ||
    fail "file listener: the service refused its INIT_RESPONSE"

# ---- Relay errors are the factory line's numbered errors.
"$BIN/factory_tool" relay --tcp "127.0.0.1:$FP" 0181001906 2>"$WORK/err" &&
    fail "relay of a payload whose length does not match its header succeeded"
grep -q "error 1000: .*not a secure-factory request" "$WORK/err" || fail "cut payload: $(cat "$WORK/err")"
# A well-formed header with a body the device cannot parse (the seed's literal example payload):
# the relay carries it, the device answers "malformed message" (5).
[ "$(relay --tcp "127.0.0.1:$FP" 01810000 2>/dev/null)" = 017f00050500000000 ] ||
    fail "the seed's example payload was not answered with device error 5"
"$BIN/factory_tool" relay --tcp "127.0.0.1:$FP" 0g 2>"$WORK/err" && fail "bad hex relayed"
grep -q "error 1000: .*not an even-length hex string" "$WORK/err" || fail "bad hex: $(cat "$WORK/err")"
out=$("$BIN/factory_tool" new_device refused-1)
"$BIN/factory_tool" relay --tcp "127.0.0.1:$(free_port)" "$(echo "$out" | payload)" 2>"$WORK/err" &&
    fail "relay to a closed port succeeded"
grep -q "error 1021" "$WORK/err" || fail "closed port: $(cat "$WORK/err")"
"$BIN/factory_tool" relay --serial "$WORK/tty/none" "$(echo "$out" | payload)" 2>"$WORK/err" &&
    fail "relay to a missing serial port succeeded"
grep -Eq "error 101[34]" "$WORK/err" || fail "missing serial port: $(cat "$WORK/err")"
"$BIN/factory_tool" relay "$(echo "$out" | payload)" 2>"$WORK/err" && fail "relay without a transport"
grep -q "error 1000" "$WORK/err" || fail "no transport: $(cat "$WORK/err")"

# The listeners stop cleanly on SIGTERM; under ASan+UBSan nothing was reported by any program.
for pid in $SERIAL_PID $FOREVER_PID $NOKEYS_PID; do
    kill "$pid"
    wait "$pid" || true
done
for f in "$WORK"/*.err; do
    if grep -Eq "Sanitizer|runtime error" "$f"; then fail "sanitizer report in $f: $(cat "$f")"; fi
done
assert_no_secrets_in "$WORK/service.log" "$DIR"/keys/*.key "$STATION"
echo "sf line: 1 passed, 0 failed"
