#!/bin/sh
# Seed 001's flow, end to end, for several devices: real service on loopback (mutual TLS,
# SQLite), the station commands of factory_tool, and simulated devices (factory_client sf).
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"
[ "$(stat -c %a "$STATION")" = 600 ] || fail "station file is not 0600"
[ "$(stat -c %a "$DIR/keys/signing.key")" = 600 ] || fail "signing key is not 0600"

n=0
while [ $n -lt 5 ]; do
    sid=$(printf 'e78d9c272156fb9b%04x' $n)
    fp=$(provision "$sid" "$WORK/dev$n") || fail "device $n flow failed"
    echo "$fp" | grep -Eq '^[0-9a-f]{40}$' || fail "FINGERPRINT '$fp' is not 40 hex digits"
    stored=$(stored_fingerprint "$WORK/dev$n") || fail "device $n has no certificate"
    [ "$fp" = "$stored" ] || fail "FINGERPRINT $fp != openssl's $stored"
    # The device certificate: CN = session ID, clientAuth, issued by the service's device CA,
    # valid at least 10 years; the key stayed on the device and matches it.
    openssl x509 -inform DER -in "$WORK/cert.der" -noout -subject | grep -q "CN = $sid" ||
        fail "certificate CN is not the endpoint name"
    openssl x509 -inform DER -in "$WORK/cert.der" -noout -text | grep -q "TLS Web Client Authentication" ||
        fail "certificate lacks clientAuth"
    openssl x509 -inform DER -in "$WORK/cert.der" -noout -checkend $((10 * 365 * 86400)) >/dev/null ||
        fail "certificate valid for less than 10 years"
    openssl x509 -inform DER -in "$WORK/cert.der" -out "$WORK/cert.pem"
    openssl verify -CAfile "$DIR/device-ca.pem" "$WORK/cert.pem" >/dev/null ||
        fail "certificate not issued by the device CA"
    "$BIN/factory_client" --storage "$WORK/dev$n" get mbed.EndpointName | grep -q "$sid" ||
        fail "endpoint name not stored"
    "$BIN/factory_client" --storage "$WORK/dev$n" verify >/dev/null 2>&1 ||
        fail "device $n does not verify as configured"
    n=$((n + 1))
done

# Retrying a step returns the same answer and never a second certificate.
sid=retry-0001
out1=$("$BIN/factory_tool" new_device $sid)
out2=$("$BIN/factory_tool" new_device $sid)
[ "$out1" = "$out2" ] || fail "new_device retry gave a different answer"
resp=$("$BIN/factory_client" --storage "$WORK/devr" sf "$(echo "$out1" | payload)" --factory-trust "$TRUST")
c1=$("$BIN/factory_tool" get_device_configuration $sid "$resp")
c2=$("$BIN/factory_tool" get_device_configuration $sid "$resp")
[ "$c1" = "$c2" ] || fail "get_device_configuration retry gave a different answer"
final=$("$BIN/factory_client" --storage "$WORK/devr" sf "$(echo "$c1" | payload)" --factory-trust "$TRUST")
f1=$("$BIN/factory_tool" handle_device_response $sid "$final")
f2=$("$BIN/factory_tool" handle_device_response $sid "$final")
[ "$f1" = "$f2" ] || fail "handle_device_response retry differs"
"$BIN/factory_tool" new_device $sid 2>"$WORK/err" && fail "new_device on a finished device succeeded"
grep -q "error 105" "$WORK/err" || fail "finished device: $(cat "$WORK/err")"

# A device error reaches the service, closes the session, and new_device may start again.
sid=err-0001
out=$("$BIN/factory_tool" new_device $sid)
printf 'Factory-ID: 0x00000001\n' >"$WORK/other-trust.pem"
# Whole armour lines only: the random base64 may contain "BEGIN" or "END".
sed -n '/^-----BEGIN [A-Z0-9 ]*-----$/,/^-----END [A-Z0-9 ]*-----$/p' "$TRUST" >>"$WORK/other-trust.pem"
resp=$("$BIN/factory_client" --storage "$WORK/deve" sf "$(echo "$out" | payload)" \
    --factory-trust "$WORK/other-trust.pem" 2>"$WORK/err") && fail "unknown factory ID accepted"
grep -q "device error 2" "$WORK/err" || fail "unknown factory ID: $(cat "$WORK/err")"
"$BIN/factory_tool" get_device_configuration $sid "$resp" 2>"$WORK/err" && fail "device error not reported"
grep -q "error 118" "$WORK/err" || fail "device error not surfaced: $(cat "$WORK/err")"
"$BIN/factory_tool" report_error $sid 2 "unknown factory ID" >/dev/null || fail "report_error failed"
fp=$(provision $sid "$WORK/deve") || fail "new flow after an error failed"
[ -n "$fp" ] || fail "no fingerprint after restart"

# A provisioned device refuses a second identity at INIT (device error 9, detail KCM 8 "file
# exists"), before the service issues a certificate, and keeps the identity it has.
"$BIN/factory_client" --storage "$WORK/devr" get mbed.BootstrapDevicePrivateKey --type private-key >"$WORK/key-before" \
    2>/dev/null || fail "provisioned device has no key"
out=$("$BIN/factory_tool" new_device second-0001)
resp=$("$BIN/factory_client" --storage "$WORK/devr" sf "$(echo "$out" | payload)" \
    --factory-trust "$TRUST" 2>"$WORK/err") && fail "provisioned device accepted a second identity"
grep -q "device error 9" "$WORK/err" || fail "second identity: $(cat "$WORK/err")"
"$BIN/factory_tool" get_device_configuration second-0001 "$resp" 2>"$WORK/err" &&
    fail "configuration issued for a device that refused"
grep -q "error 118" "$WORK/err" || fail "refusal not surfaced: $(cat "$WORK/err")"
"$BIN/factory_client" --storage "$WORK/devr" get mbed.BootstrapDevicePrivateKey --type private-key >"$WORK/key-after" \
    2>/dev/null || fail "refusal lost the device key"
cmp -s "$WORK/key-before" "$WORK/key-after" || fail "refusal changed the device key"
"$BIN/factory_client" --storage "$WORK/devr" verify >/dev/null 2>&1 ||
    fail "device no longer verifies after refusing a second identity"

# Usage errors are numbered and go to stderr.
"$BIN/factory_tool" new_device 'bad id!' 2>"$WORK/err" && fail "bad session id accepted"
grep -q "error 101" "$WORK/err" || fail "bad session id: $(cat "$WORK/err")"
"$BIN/factory_tool" get_device_configuration x 0g 2>"$WORK/err" && fail "bad hex accepted"
grep -q "error 121" "$WORK/err" || fail "bad hex: $(cat "$WORK/err")"
FACTORY_STATION= "$BIN/factory_tool" new_device x 2>"$WORK/err" && fail "no station file accepted"
grep -q "error 117" "$WORK/err" || fail "no station: $(cat "$WORK/err")"

# Audit: one record per finished session, CSV and JSON.
"$BIN/factory_service" audit "$DIR" >"$WORK/audit.csv"
[ "$(grep -c ",done," "$WORK/audit.csv")" -eq 7 ] || fail "audit: $(cat "$WORK/audit.csv")"
grep -q "second-0001,1,station1,.*,error,9," "$WORK/audit.csv" || fail "audit lacks the refusal"
grep -q "err-0001,1,station1,.*,error,2," "$WORK/audit.csv" || fail "audit lacks the device error"
"$BIN/factory_service" audit "$DIR" --format json | /usr/bin/python3 -c '
import json,sys; a=json.load(sys.stdin); assert len(a)==9, len(a)
assert all(len(r["device_key_sha256"])==64 for r in a if r["result"]=="done")'
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 7$" || fail "certificate count"
"$BIN/factory_service" stats "$DIR" --format json | /usr/bin/python3 -c '
import json,sys; s=json.load(sys.stdin)
assert s["certificates"]==7 and s["batch"]=="default", s' || fail "stats --format json"
"$BIN/factory_service" stats "$DIR" --json | grep -q '^{"certificates": 7,' || fail "stats --json"

# --json on the station commands: one JSON object, the payload or the numbered error.
"$BIN/factory_tool" --json new_device json-0001 >"$WORK/nd.json" || fail "new_device --json failed"
/usr/bin/python3 -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["status"]==0 and isinstance(j["scp"], int) and len(j["payload"]) > 0, j' "$WORK/nd.json" ||
    fail "new_device --json: $(cat "$WORK/nd.json")"
"$BIN/factory_tool" --json get_device_configuration json-0001 0g >"$WORK/gc.json" && fail "bad hex accepted (--json)"
/usr/bin/python3 -c '
import json,sys; j=json.load(open(sys.argv[1])); assert j["status"]==121 and j["message"], j' "$WORK/gc.json" ||
    fail "get_device_configuration --json error: $(cat "$WORK/gc.json")"

assert_no_secrets_in "$WORK/service.log" "$DIR"/keys/*.key "$STATION"
echo "sf flow: 1 passed, 0 failed"
