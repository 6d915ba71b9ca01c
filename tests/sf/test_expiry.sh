#!/bin/sh
# Session expiry (service.conf session-ttl): a session not finished within its TTL is closed as
# expired, its next step fails with error 104, the audit records it as expired, and new_device
# starts a fresh attempt that completes. The one test that sleeps: the TTL is counted in whole
# seconds of the service's clock, so a TTL of T lasts between T-1 and T seconds. T = 3 leaves
# the setup below (two steps, well under a second even under ASan) a wide margin; the fresh
# attempts then run under a restarted service with the default TTL, so their speed never
# matters.
BIN=$1
. "$(dirname "$0")/lib.sh"
TTL=3
init_service
grep -q "^session-ttl = 600$" "$DIR/service.conf" || fail "service.conf has no default session-ttl"
sed -i "s/^session-ttl = .*/session-ttl = $TTL/" "$DIR/service.conf"
start_service "$DIR" "$PORT" "$WORK/service.log"
SHORT_TTL_PID=$LAST_PID

device() { # device STORAGE HEX: the simulated device answers one message
    "$BIN/factory_client" --storage "$1" sf "$2" --factory-trust "$TRUST"
}
audit_has() {
    "$BIN/factory_service" audit "$DIR" | grep -Eq "$1"
}

# Three sessions left unfinished, one in each waiting state:
# exp-init waits for the device's first answer (init-sent);
out_init=$("$BIN/factory_tool" new_device exp-init)
resp_init=$(device "$WORK/dev-exp-init" "$(echo "$out_init" | payload)")
# exp-config waits for the device's final answer (config-sent; its certificate was issued);
out=$("$BIN/factory_tool" new_device exp-config)
resp=$(device "$WORK/dev-exp-config" "$(echo "$out" | payload)")
conf=$("$BIN/factory_tool" get_device_configuration exp-config "$resp") ||
    fail "exp-config did not reach config-sent within its TTL"
final_config=$(device "$WORK/dev-exp-config" "$(echo "$conf" | payload)")
# exp-idle is never heard of again until new_device.
out_idle=$("$BIN/factory_tool" new_device exp-idle)

sleep $((TTL + 1))

"$BIN/factory_tool" get_device_configuration exp-init "$resp_init" 2>"$WORK/err" &&
    fail "get_device_configuration on an expired session succeeded"
grep -q "error 104" "$WORK/err" || fail "expired init-sent session: $(cat "$WORK/err")"
"$BIN/factory_tool" handle_device_response exp-config "$final_config" 2>"$WORK/err" &&
    fail "handle_device_response on an expired session succeeded"
grep -q "error 104" "$WORK/err" || fail "expired config-sent session: $(cat "$WORK/err")"
# Expired means closed: the same answer again does not revive the session.
"$BIN/factory_tool" get_device_configuration exp-init "$resp_init" 2>"$WORK/err" &&
    fail "an expired session accepted its answer on a retry"
for sid in exp-init exp-config; do
    audit_has "^$sid,1,station1,.*,expired,104," || fail "audit does not record $sid as expired"
done

# The closed sessions survive a restart; the restarted service (default TTL) gives new_device a
# fresh attempt (a new request: new nonce), which completes.
kill "$SHORT_TTL_PID"
wait "$SHORT_TTL_PID" 2>/dev/null || true
sed -i "s/^session-ttl = .*/session-ttl = 600/" "$DIR/service.conf"
start_service "$DIR" "$PORT" "$WORK/service2.log"
out2=$("$BIN/factory_tool" new_device exp-idle) || fail "new_device after expiry failed"
[ "$(echo "$out2" | payload)" != "$(echo "$out_idle" | payload)" ] ||
    fail "new_device after expiry repeated the expired request"
audit_has "^exp-idle,1,station1,.*,expired,104," || fail "audit does not record exp-idle as expired"
# The exp-config device already stored the expired attempt's configuration and refuses a second
# identity at INIT (device error 9, test_flow checks it), so it is erased first, as the factory
# line's listener does for every new device.
"$BIN/factory_client" --storage "$WORK/dev-exp-config" delete || fail "cannot erase exp-config"
for sid in exp-idle exp-init exp-config; do
    fp=$(provision "$sid" "$WORK/dev-$sid") || fail "$sid: fresh attempt after expiry failed"
    check_provisioned "$fp" "$WORK/dev-$sid" "$sid"
    audit_has "^$sid,2,station1,[0-9a-f]{64},$fp,done," || fail "audit lacks $sid attempt 2 done"
done

# Certificates issued: the three fresh attempts and the expired attempt of exp-config, whose
# session row was replaced but whose audit row keeps its fingerprint.
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 4$" ||
    fail "certificate count: $("$BIN/factory_service" stats "$DIR")"

for log in "$WORK/service.log" "$WORK/service2.log"; do
    assert_no_secrets_in "$log" "$DIR"/keys/*.key "$STATION"
done
echo "sf expiry: 1 passed, 0 failed"
