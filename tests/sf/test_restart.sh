#!/bin/sh
# The service is killed with SIGKILL in the middle of a session and restarted: the session
# completes with the same configuration, and no second certificate is issued.
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"
pid=$LAST_PID
sid=restart-0001
p1=$("$BIN/factory_tool" new_device $sid | payload)
r1=$("$BIN/factory_client" --storage "$WORK/dev" sf "$p1" --factory-trust "$TRUST")
c1=$("$BIN/factory_tool" get_device_configuration $sid "$r1" | payload)
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
"$BIN/factory_tool" get_device_configuration $sid "$r1" 2>"$WORK/err" && fail "served while down"
grep -q "error 116" "$WORK/err" || fail "service down: $(cat "$WORK/err")"

start_service "$DIR" "$PORT" "$WORK/service.log"
# The station lost the answer and asks again: the same configuration comes back.
c2=$("$BIN/factory_tool" get_device_configuration $sid "$r1" | payload)
[ "$c1" = "$c2" ] || fail "configuration changed across the restart"
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 1$" || fail "second certificate"
final=$("$BIN/factory_client" --storage "$WORK/dev" sf "$c2" --factory-trust "$TRUST")
fp=$("$BIN/factory_tool" handle_device_response $sid "$final" | sed -n 's/^FINGERPRINT //p')
[ "$fp" = "$(stored_fingerprint "$WORK/dev")" ] || fail "fingerprint after restart"

# Killed again right after the final answer was accepted: the retry gets the same fingerprint.
kill -9 "$LAST_PID"
wait "$LAST_PID" 2>/dev/null || true
start_service "$DIR" "$PORT" "$WORK/service.log"
fp2=$("$BIN/factory_tool" handle_device_response $sid "$final" | sed -n 's/^FINGERPRINT //p')
[ "$fp" = "$fp2" ] || fail "fingerprint changed after the second restart"
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 1$" || fail "certificate count"
[ "$("$BIN/factory_service" audit "$DIR" | grep -c "^$sid,")" -eq 1 ] || fail "audit duplicated"
echo "sf restart: 1 passed, 0 failed"
