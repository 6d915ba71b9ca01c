#!/bin/sh
# The offline split steps with a two-step mode (device-key-generation-mode: by_device) against
# simulated devices (factory_client tcp): prepare-batch, write, verify-batch --bundles (the CSR
# answers become second bundles, devices "prepared"), write, verify-batch (success, and the
# certificate each device stored is the one of its second bundle). Then a one-step batch in the
# same bundles directory: a stale context is not applied and verify-batch succeeds at once.
# usage: two_step.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
B="$TMP_ROOT/bundles"
A="$TMP_ROOT/answers"
setmode() { sed -i "s/^device-key-generation-mode:.*/device-key-generation-mode: $1/" "$HOME_DIR/config/fcu.yml"; }
# line_of FILE EP EXPR: EXPR on the JSON line of endpoint EP ("j"); summary_of FILE EXPR: on "s".
line_of() { grep "\"endpoint\": \"$2\"" "$1" | $PY -c 'import json,sys; j=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$3"; }
summary_of() { tail -n 1 "$1" | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())["summary"]; print(eval(sys.argv[1]))' "$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
sql() { sqlite3 "$DB" "$1"; }

setmode by_device
check "the configuration is by_device" grep -qx 'device-key-generation-mode: by_device' "$HOME_DIR/config/fcu.yml"
start devs "$FC" --storage "$TMP_ROOT/devs" --devices 2 --forever tcp --port 0
set -- $(ports devs 2)
{
    echo "endpoint_name,serial_number,address"
    echo "bd-0,SN-b0,tcp:127.0.0.1:$1"
    echo "bd-1,SN-b1,tcp:127.0.0.1:$2"
} > "$TMP_ROOT/bd.csv"
head -n 2 "$TMP_ROOT/bd.csv" > "$TMP_ROOT/bd0.csv"

# --- first exchange ---------------------------------------------------------------------------
check "prepare-batch writes a bundle and an operation context per device" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/bd.csv' --out '$B' > '$TMP_ROOT/p1.out' && test -s '$B/bd-0.ctx' && test -s '$B/bd-1.ctx' && test \"\$(stat -c %a '$B/bd-1.cbor')\" = 600"
FIRST0=$(sha "$B/bd-0.cbor")
FIRST1=$(sha "$B/bd-1.cbor")
check "write carries the first bundles" sh -c "'$FT' --home-dir '$HOME_DIR' write --devices '$TMP_ROOT/bd.csv' --bundles '$B' --answers '$A' > '$TMP_ROOT/w1.out' 2>/dev/null && test -s '$A/bd-0.cbor' && test -s '$A/bd-1.cbor'"
# Without the bundles directory the contexts are not found: the CSR answer cannot be verified.
check "without --bundles a CSR answer is refused" sh -c "! '$FT' --home-dir '$HOME_DIR' verify-batch --devices '$TMP_ROOT/bd0.csv' --answers '$A' > '$TMP_ROOT/v0.out'"
check "... and nothing was rewritten" test "$(sha "$B/bd-0.cbor")" = "$FIRST0"

"$FT" --home-dir "$HOME_DIR" verify-batch --devices "$TMP_ROOT/bd.csv" --answers "$A" --bundles "$B" > "$TMP_ROOT/v1.out" && rc=0 || rc=$?
check "verify-batch --bundles succeeds (exit 0)" test "$rc" = 0
check "each device is reported prepared, status 0" test "$(line_of "$TMP_ROOT/v1.out" bd-0 '(j["status"], j["result"])') $(line_of "$TMP_ROOT/v1.out" bd-1 '(j["status"], j["result"])')" = "(0, 'prepared') (0, 'prepared')"
check "the line says a second exchange is needed" sh -c "grep '\"bd-1\"' '$TMP_ROOT/v1.out' | grep -q 'Second exchange needed: .*bd-1.cbor; run write and verify-batch again'"
check "the device's answer is in the line" test "$(line_of "$TMP_ROOT/v1.out" bd-0 'j["deviceResponse"]["status"]')" = 0
check "summary: 2 prepared, none succeeded or failed" test "$(summary_of "$TMP_ROOT/v1.out" '(s["succeeded"], s["failed"], s["prepared"])')" = "(0, 0, 2)"
check "the second bundles replace the first ones" sh -c "test \"\$(sha256sum < '$B/bd-0.cbor' | cut -d' ' -f1)\" != '$FIRST0' && test \"\$(sha256sum < '$B/bd-1.cbor' | cut -d' ' -f1)\" != '$FIRST1'"
check "the second bundles are 0600" test "$(stat -c %a "$B/bd-0.cbor") $(stat -c %a "$B/bd-1.cbor")" = "600 600"
check "the used contexts are removed, no temporary files left" test "$(ls "$B")" = "$(printf 'bd-0.cbor\nbd-1.cbor')"
check "the second bundle carries a certificate for the device key (PrKN, no private key)" $PY "$SRC/../fcu/bundle_check.py" "$B/bd-0.cbor" "$HOME_DIR/keystore/fcu.crt" bootstrap bd-0 nokeys=1 prkn=1
check "nothing is a success yet" test "$(sql "SELECT COUNT(*) FROM attempts WHERE state='success'")" = 0
check "the records hold the second bundle's fingerprints as prepared" test "$(sql "SELECT bundle_sha256 FROM attempts WHERE endpoint='bd-1' AND state='prepared' ORDER BY id DESC LIMIT 1")" = "$(sha "$B/bd-1.cbor")"

# The CSR answer again: its context is gone, so no second certificate is made from it.
SECOND0=$(sha "$B/bd-0.cbor")
check "a CSR answer verified twice is refused the second time" sh -c "! '$FT' --home-dir '$HOME_DIR' verify-batch --devices '$TMP_ROOT/bd0.csv' --answers '$A' --bundles '$B' > '$TMP_ROOT/v1b.out'"
check "... and the second bundle is unchanged" test "$(sha "$B/bd-0.cbor")" = "$SECOND0"

# --- second exchange --------------------------------------------------------------------------
check "write carries the second bundles" sh -c "'$FT' --home-dir '$HOME_DIR' write --devices '$TMP_ROOT/bd.csv' --bundles '$B' --answers '$A' > '$TMP_ROOT/w2.out' 2>/dev/null"
check "verify-batch completes both devices" sh -c "'$FT' --home-dir '$HOME_DIR' verify-batch --devices '$TMP_ROOT/bd.csv' --answers '$A' --bundles '$B' > '$TMP_ROOT/v2.out'"
check "both devices are reported success" test "$(line_of "$TMP_ROOT/v2.out" bd-0 'j["result"]') $(line_of "$TMP_ROOT/v2.out" bd-1 'j["result"]')" = "success success"
check "summary: 2 succeeded, none prepared" test "$(summary_of "$TMP_ROOT/v2.out" '(s["succeeded"], s["failed"], s["prepared"])')" = "(2, 0, 0)"
kill "$PID_devs"; wait "$PID_devs" 2>/dev/null || true
for n in 0 1; do
    "$FC" --storage "$TMP_ROOT/devs/dev-$n" get mbed.BootstrapDeviceCert > "$TMP_ROOT/dev$n.der" 2>/dev/null || true
    check "bd-$n: the device stores a certificate" test -s "$TMP_ROOT/dev$n.der"
    check "bd-$n: the device's certificate is the one of its second bundle" test "$(sha "$TMP_ROOT/dev$n.der")" = "$(sql "SELECT cert_sha256 FROM attempts WHERE endpoint='bd-$n' AND state='prepared' ORDER BY id DESC LIMIT 1")"
    check "bd-$n: the success record carries that certificate" test "$(sha "$TMP_ROOT/dev$n.der")" = "$(sql "SELECT cert_sha256 FROM attempts WHERE endpoint='bd-$n' AND state='success'")"
    check "bd-$n: the certificate is signed by the factory CA for the endpoint" sh -c "openssl x509 -inform der -in '$TMP_ROOT/dev$n.der' -out '$TMP_ROOT/dev$n.pem' && openssl verify -CAfile '$HOME_DIR/keystore/fcu.crt' -purpose any '$TMP_ROOT/dev$n.pem' && openssl x509 -in '$TMP_ROOT/dev$n.pem' -noout -subject | grep -q 'CN *= *bd-$n'"
    check "bd-$n: the device is fully configured" "$FC" --storage "$TMP_ROOT/devs/dev-$n" verify
done
check "one certificate per device (the first bundle had none)" test "$(sql "SELECT COUNT(DISTINCT cert_sha256) FROM attempts WHERE cert_sha256 != ''")" = 2

# --- a one-step batch in the same directory: as before --------------------------------------
start devs2 "$FC" --storage "$TMP_ROOT/devs2" --devices 2 --forever tcp --port 0
set -- $(ports devs2 2)
printf 'endpoint_name,serial_number,address\nos-0,SN-o0,tcp:127.0.0.1:%s\nos-1,SN-o1,tcp:127.0.0.1:%s\n' "$1" "$2" > "$TMP_ROOT/os.csv"
check "a by_device prepare-batch leaves contexts" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/os.csv' --out '$B' > /dev/null && test -s '$B/os-0.ctx'"
setmode by_tool
check "a one-step prepare-batch removes the stale contexts" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/os.csv' --out '$B' > /dev/null && ! test -e '$B/os-0.ctx' && ! test -e '$B/os-1.ctx'"
check "write carries the one-step bundles" sh -c "'$FT' --home-dir '$HOME_DIR' write --devices '$TMP_ROOT/os.csv' --bundles '$B' --answers '$A' > /dev/null 2>&1"
ONE0=$(sha "$B/os-0.cbor")
check "verify-batch --bundles verifies one-step answers at once" sh -c "'$FT' --home-dir '$HOME_DIR' verify-batch --devices '$TMP_ROOT/os.csv' --answers '$A' --bundles '$B' > '$TMP_ROOT/v3.out'"
check "summary: 2 succeeded, none prepared" test "$(summary_of "$TMP_ROOT/v3.out" '(s["succeeded"], s["failed"], s["prepared"])')" = "(2, 0, 0)"
check "the one-step lines are unchanged (success, the seed's message)" test "$(line_of "$TMP_ROOT/v3.out" os-1 '(j["status"], j["result"], j["message"])')" = "(0, 'success', 'Command executed successfully')"
check "one-step bundles are left as they were" test "$(sha "$B/os-0.cbor")" = "$ONE0"
check "verify-batch does not take --bundles for prepare-batch" sh -c "! '$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/os.csv' --out '$B' --bundles '$B' > /dev/null 2>&1"
check "the database is consistent" test "$(sql 'PRAGMA integrity_check')" = ok

finish
