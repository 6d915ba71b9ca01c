#!/bin/sh
# A device killed (SIGKILL) in the middle of a secure-factory exchange over the factory line:
# after INIT, before it got its configuration; and while it holds the configuration request
# unanswered. Restarted on the same storage, it completes the same session (same configuration,
# one certificate), or the session fails cleanly and restarts as a new attempt; never is a
# second certificate issued for a session that was completed.
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"

# listener NAME [--keep-storage]: a factory_client TCP listener on storage $WORK/dev (kept across
# restarts, as a device's flash is, or erased on its first frame, as the original example does);
# its pid in LISTENER, its port in port.
listener() {
    name=$1
    shift
    start_bg "$name" "$BIN/factory_client" -v --forever --storage "$WORK/dev" --factory-trust "$TRUST" \
        tcp --port 0 "$@"
    LISTENER=$LAST_PID
    port=$(device_ports "$name" 1 | head -1)
}
kill_listener() { kill -9 "$LISTENER"; wait "$LISTENER" 2>/dev/null || true; }
certs() { "$BIN/factory_service" stats "$DIR" | sed -n 's/^certificates //p'; }

# 1. Killed after answering INIT: the station got its configuration, the device is gone.
sid=kill-1
listener l1 --keep-storage
p=$("$BIN/factory_tool" new_device $sid | payload)
r=$(relay --tcp "127.0.0.1:$port" "$p") || fail "INIT relay"
c=$("$BIN/factory_tool" get_device_configuration $sid "$r" | payload)
kill_listener
relay --tcp "127.0.0.1:$port" -t 2 "$c" >/dev/null 2>&1 && fail "relay to a killed device"
[ "$(session_row $sid | cut -d'|' -f4)" = config-sent ] || fail "session state after the kill"
# The device comes back on the same storage: the station asks again, gets the same
# configuration, and the session completes with the one certificate.
listener l2 --keep-storage
c2=$("$BIN/factory_tool" get_device_configuration $sid "$r" | payload)
[ "$c" = "$c2" ] || fail "the configuration changed after the device was killed"
f=$(relay --tcp "127.0.0.1:$port" "$c2") || fail "CONFIG relay after restart"
fp=$("$BIN/factory_tool" handle_device_response $sid "$f" | sed -n 's/^FINGERPRINT //p')
[ -n "$fp" ] || fail "session not completed after the restart"
[ "$(certs)" -eq 1 ] || fail "$(certs) certificates for one session"
kill_listener
"$BIN/factory_client" --storage "$WORK/dev/dev-0" get mbed.BootstrapDeviceCert >"$WORK/cert.der" 2>/dev/null ||
    "$BIN/factory_client" --storage "$WORK/dev" get mbed.BootstrapDeviceCert >"$WORK/cert.der" ||
    fail "the device stored no certificate"
stored=$(openssl x509 -inform DER -in "$WORK/cert.der" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
[ "$fp" = "$stored" ] || fail "fingerprint $fp, device holds $stored"
# The completed session cannot be started again: no second certificate for it.
"$BIN/factory_tool" new_device $sid 2>"$WORK/err" && fail "new_device on a completed session"
grep -q "error 105" "$WORK/err" || fail "completed session: $(cat "$WORK/err")"
"$BIN/factory_tool" get_device_configuration $sid "$r" 2>"$WORK/err" && fail "configuration of a completed session"
[ "$(certs)" -eq 1 ] || fail "certificates after retries: $(certs)"

# 2. A device that erases its storage when it starts again answers the old configuration with
# "no session" (7): the session fails cleanly, and a new attempt completes it.
sid=kill-2
rm -rf "$WORK/dev"
listener l3
p=$("$BIN/factory_tool" new_device $sid | payload)
r=$(relay --tcp "127.0.0.1:$port" "$p") || fail "INIT relay (2)"
c=$("$BIN/factory_tool" get_device_configuration $sid "$r" | payload)
kill_listener
listener l4
f=$("$BIN/factory_tool" relay --tcp "127.0.0.1:$port" "$c" 2>/dev/null | sed -n 's/^RESPONSE //p')
[ -n "$f" ] || fail "no answer from the restarted device"
"$BIN/factory_tool" handle_device_response $sid "$f" >/dev/null 2>"$WORK/err" &&
    fail "a device without the session completed it"
grep -q "error 118" "$WORK/err" || fail "answer of a device without the session: $(cat "$WORK/err")"
grep -q "device error 7" "$WORK/err" || fail "device code: $(cat "$WORK/err")"
[ "$(session_row $sid | cut -d'|' -f4)" = error ] || fail "session not failed cleanly: $(session_row $sid)"
fp=$(provision_over $sid --tcp "127.0.0.1:$port") || fail "new attempt after the failure"
[ -n "$fp" ] || fail "no fingerprint for the new attempt"
[ "$(session_row $sid | cut -d'|' -f2)" -eq 2 ] || fail "attempt number: $(session_row $sid)"
# The failed attempt's certificate was never delivered; the audit shows one error, one done.
"$BIN/factory_service" audit "$DIR" | grep -c "^$sid,1,.*,error," | grep -q '^1$' || fail "audit of attempt 1"
"$BIN/factory_service" audit "$DIR" | grep -c "^$sid,2,.*,done," | grep -q '^1$' || fail "audit of attempt 2"
[ "$("$BIN/factory_service" audit "$DIR" | grep -c ",done,")" -eq 2 ] || fail "done rows"
echo "sf kill: 1 passed, 0 failed"
