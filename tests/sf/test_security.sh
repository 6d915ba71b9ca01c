#!/bin/sh
# Refusals: stations without a valid certificate, revoked stations, payloads altered by the
# station, replayed and spliced messages.
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"

# No client certificate: TLS works (the service CA is trusted) but nothing is served.
body='{"session_id":"nocert"}'
printf 'POST /v1/new_device HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    ${#body} "$body" |
    openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DIR/station-ca.pem" -verify_return_error \
        -quiet >"$WORK/body" 2>/dev/null || true
grep -q "^HTTP/1.1 403" "$WORK/body" || fail "no client certificate: $(cat "$WORK/body")"
grep -q '"error":112' "$WORK/body" || fail "no client certificate: $(cat "$WORK/body")"
grep -q payload "$WORK/body" && fail "payload served without a certificate"

# A station of another service (its certificate from another station CA).
"$BIN/factory_service" init "$WORK/other" >/dev/null
"$BIN/factory_service" add-station "$WORK/other" intruder "$WORK/intruder.pem" \
    --url "https://127.0.0.1:$PORT" >/dev/null
# Keep the intruder's own certificate and key but trust the real service's CA.
{
    sed -n '1,/^-----END PRIVATE KEY-----/p' "$WORK/intruder.pem"
    cat "$DIR/station-ca.pem"
} >"$WORK/intruder2.pem"
"$BIN/factory_tool" new_device intruder-1 --station "$WORK/intruder2.pem" >"$WORK/out" 2>"$WORK/err" &&
    fail "foreign station served"
grep -q "error 112" "$WORK/err" || fail "foreign station: $(cat "$WORK/err")"
[ -s "$WORK/out" ] && fail "foreign station got output"

# A revoked station.
"$BIN/factory_service" add-station "$DIR" station2 "$WORK/station2.pem" >/dev/null
"$BIN/factory_tool" new_device s2-ok --station "$WORK/station2.pem" >/dev/null || fail "station2 refused"
"$BIN/factory_service" revoke-station "$DIR" station2
"$BIN/factory_tool" new_device s2-revoked --station "$WORK/station2.pem" 2>"$WORK/err" &&
    fail "revoked station served"
grep -q "error 111" "$WORK/err" || fail "revoked: $(cat "$WORK/err")"
# The service's TLS certificate is checked by the station too.
sed 's#^service-url: .*#service-url: https://127.0.0.2:'"$PORT"'#' "$STATION" >"$WORK/wronghost.pem"
"$BIN/factory_tool" new_device host-1 --station "$WORK/wronghost.pem" 2>"$WORK/err" &&
    fail "service reached under a name its certificate does not carry"
grep -q "error 116" "$WORK/err" || fail "wrong host: $(cat "$WORK/err")"

# Two sessions in parallel on two devices.
init_device() { # SID STORAGE -> prints the device's INIT_RESPONSE
    p=$("$BIN/factory_tool" new_device "$1" | payload)
    "$BIN/factory_client" --storage "$2" sf "$p" --factory-trust "$TRUST"
}
ra=$(init_device sess-a "$WORK/dev-a")
rb=$(init_device sess-b "$WORK/dev-b")
# Splice: A's answer offered for session B proves nothing for B.
"$BIN/factory_tool" get_device_configuration sess-b "$ra" 2>"$WORK/err" && fail "spliced init answer accepted"
grep -q "error 107" "$WORK/err" || fail "splice: $(cat "$WORK/err")"
ca=$("$BIN/factory_tool" get_device_configuration sess-a "$ra" | payload)
cb=$("$BIN/factory_tool" get_device_configuration sess-b "$rb" | payload)
# Splice: A's configuration sent to device B.
"$BIN/factory_client" --storage "$WORK/dev-b" sf "$ca" --factory-trust "$TRUST" >"$WORK/resp" 2>"$WORK/err" &&
    fail "device B accepted session A's configuration"
grep -q "device error 8" "$WORK/err" || fail "device splice: $(cat "$WORK/err")"

# Altered by the station: one bit anywhere in the ciphertext, tag or signature.
len=${#ca}
for pos in 200 $((len - 140)) $((len - 10)); do
    bad=$(echo "$ca" | /usr/bin/python3 -c "
import sys; s=sys.stdin.read().strip(); p=$pos
print(s[:p] + format(int(s[p],16)^1,'x') + s[p+1:])")
    "$BIN/factory_client" --storage "$WORK/dev-a" sf "$bad" --factory-trust "$TRUST" >/dev/null 2>"$WORK/err" &&
        fail "altered payload (hex digit $pos) accepted"
    grep -q "device error 6" "$WORK/err" || fail "altered payload: $(cat "$WORK/err")"
done
"$BIN/factory_client" --storage "$WORK/dev-a" get mbed.BootstrapDeviceCert >/dev/null 2>&1 &&
    fail "altered payload stored something"

# The genuine payloads still work after the refusals.
fa=$("$BIN/factory_client" --storage "$WORK/dev-a" sf "$ca" --factory-trust "$TRUST") || fail "device A"
fb=$("$BIN/factory_client" --storage "$WORK/dev-b" sf "$cb" --factory-trust "$TRUST") || fail "device B"
# Splice of final answers: A's answer does not finish session B.
"$BIN/factory_tool" handle_device_response sess-b "$fa" 2>"$WORK/err" && fail "spliced final answer accepted"
grep -q "error 108" "$WORK/err" || fail "final splice: $(cat "$WORK/err")"
# A forged final answer (the right binding, a wrong MAC).
forged=$(echo "$fb" | sed 's/.$/0/;s/.$/1/')
[ "$forged" != "$fb" ] || forged=$(echo "$fb" | sed 's/.$/2/')
"$BIN/factory_tool" handle_device_response sess-b "$forged" 2>"$WORK/err" && fail "forged final answer accepted"
grep -q "error 108" "$WORK/err" || fail "forged: $(cat "$WORK/err")"
"$BIN/factory_tool" handle_device_response sess-a "$fa" | grep -q '^FINGERPRINT ' || fail "session A"
"$BIN/factory_tool" handle_device_response sess-b "$fb" | grep -q '^FINGERPRINT ' || fail "session B"

# Replay to the device after its session ended.
"$BIN/factory_client" --storage "$WORK/dev-a" sf "$ca" --factory-trust "$TRUST" >/dev/null 2>"$WORK/err" &&
    fail "replayed configuration accepted"
grep -q "device error 7" "$WORK/err" || fail "replay: $(cat "$WORK/err")"
# A replayed init answer for a finished session is refused by the service.
"$BIN/factory_tool" get_device_configuration sess-a "$ra" 2>"$WORK/err" && fail "replayed init answer accepted"
grep -q "error 105" "$WORK/err" || fail "replayed init: $(cat "$WORK/err")"

assert_no_secrets_in "$WORK/service.log" "$DIR"/keys/*.key "$STATION" "$WORK/station2.pem"
echo "sf security: 1 passed, 0 failed"
