#!/bin/sh
# Seed 001's flow with every service key in a PKCS#11 token (a SoftHSM2 token made by
# tests/pki/with_softhsm.sh): init makes the signing, device CA, station CA and TLS key pairs
# and the database wrap secret there, keys/ holds only their URIs (no PIN) and no file of the
# state folder holds key material; the service signs its messages, its TLS handshakes (mTLS,
# TLS 1.2 and 1.3) and the station and device certificates in the token, and derives the
# database wrap key there, also across a restart in the middle of a session. Token failures at
# run (wrong PIN, missing object, missing module) are numbered errors naming the URI, never the
# PIN.
# usage: with_softhsm.sh sh test_hsm.sh BIN
BIN=$1
. "$(dirname "$0")/lib.sh"
M=$KILN_TEST_P11_MODULE
PIN_FILE="$KILN_TEST_P11_DIR/pin"
printf '%s\n' "$KILN_TEST_PIN" > "$PIN_FILE"
chmod 600 "$PIN_FILE"
PREFIX="pkcs11:token=$KILN_TEST_TOKEN?module-path=$M&pin-source=file:$PIN_FILE"

DIR=$WORK/service
PORT=$(free_port)
"$BIN/factory_service" init "$DIR" --listen "127.0.0.1:$PORT" --key-uri-prefix "$PREFIX" >/dev/null ||
    fail "init with the keys in the token failed"
for name in signing device-ca station-ca tls db-wrap ledger; do
    [ ! -e "$DIR/keys/$name.key" ] || fail "keys/$name.key exists: the key should be in the token"
    grep -qx "pkcs11:token=$KILN_TEST_TOKEN;object=kiln-sf-$name?module-path=$M&pin-source=file:$PIN_FILE" \
        "$DIR/keys/$name.uri" || fail "keys/$name.uri does not name the token key"
    [ "$(stat -c %a "$DIR/keys/$name.uri")" = 600 ] || fail "keys/$name.uri is not 0600"
done
[ "$(ls "$DIR/keys" | sort | tr '\n' ' ')" = "db-wrap.uri device-ca.uri ledger.uri signing.uri station-ca.uri tls.uri " ] ||
    fail "unexpected files in keys/: $(ls "$DIR/keys")"
grep -rq "$KILN_TEST_PIN" "$DIR" && fail "the PIN is in the state folder"
[ -z "$(find "$DIR" -type f \( -name '*.key' -o -name tls.key -o -name db-wrap.key \))" ] ||
    fail "key files in the state folder: $(find "$DIR" -type f -name '*.key')"
for f in $(find "$DIR" -type f); do
    ! grep -q "PRIVATE KEY" "$f" || fail "$f holds a private key"
done
objects=$(pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --list-objects --type privkey 2>/dev/null)
for name in signing device-ca station-ca tls ledger; do
    echo "$objects" | grep -A8 "label:      kiln-sf-$name" | grep -q "never extractable" ||
        fail "kiln-sf-$name is not a never-extractable key in the token"
done
pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --list-objects --type secrkey 2>/dev/null | grep -A8 "label:      kiln-sf-db-wrap" |
    grep -q "never extractable" || fail "kiln-sf-db-wrap is not a never-extractable secret in the token"
openssl x509 -in "$DIR/tls.pem" -noout -ext extendedKeyUsage | grep -q "TLS Web Server" ||
    fail "tls.pem is not a server certificate"
! "$BIN/factory_service" init "$WORK/again" --key-uri-prefix "$PREFIX" >/dev/null 2>&1 ||
    fail "a second init over the same token keys should be refused"

TRUST=$DIR/device-trust.pem
STATION=$WORK/station1.pem
"$BIN/factory_service" add-station "$DIR" station1 "$STATION" >/dev/null ||
    fail "add-station with the station CA key in the token failed"
openssl verify -CAfile "$DIR/station-ca.pem" "$STATION" >/dev/null || fail "station certificate does not verify"
export FACTORY_STATION=$STATION
start_service "$DIR" "$PORT" "$WORK/service.log"
n=0
while [ $n -lt 3 ]; do
    sid=$(printf 'e78d9c272156fb9c%04x' $n)
    fp=$(provision "$sid" "$WORK/dev$n") || fail "device $n flow failed with the keys in the token"
    stored=$(stored_fingerprint "$WORK/dev$n") || fail "device $n has no certificate"
    [ "$fp" = "$stored" ] || fail "FINGERPRINT $fp != openssl's $stored"
    openssl x509 -inform DER -in "$WORK/cert.der" -out "$WORK/cert.pem"
    openssl verify -CAfile "$DIR/device-ca.pem" "$WORK/cert.pem" >/dev/null ||
        fail "device certificate not issued by the device CA"
    "$BIN/factory_client" --storage "$WORK/dev$n" verify >/dev/null 2>&1 ||
        fail "device $n does not verify as configured"
    n=$((n + 1))
done
# The handshake is signed by the token key, in TLS 1.2 and 1.3, and still asks for the station.
for v in -tls1_2 -tls1_3; do
    openssl s_client -connect "127.0.0.1:$PORT" $v -CAfile "$DIR/station-ca.pem" -verify_return_error \
        -cert "$STATION" -key "$STATION" </dev/null >"$WORK/s_client" 2>&1 ||
        fail "TLS $v handshake with the token key failed: $(tail -5 "$WORK/s_client")"
    grep -q "Verification: OK" "$WORK/s_client" || fail "TLS $v: server certificate not verified"
done
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DIR/station-ca.pem" </dev/null \
    >"$WORK/s_client" 2>&1
grep -q "Acceptable client certificate CA names" "$WORK/s_client" ||
    grep -q "Requested Signature Algorithms" "$WORK/s_client" ||
    fail "the service does not ask for a station certificate"

# Restart in the middle of a session: the new process derives the same wrap key in the token
# and unwraps the session's confirmation key.
sid=e78d9c2721560000restart
p1=$("$BIN/factory_tool" new_device $sid | payload)
r1=$("$BIN/factory_client" --storage "$WORK/devr" sf "$p1" --factory-trust "$TRUST")
c1=$("$BIN/factory_tool" get_device_configuration $sid "$r1" | payload)
kill -9 "$LAST_PID"
wait "$LAST_PID" 2>/dev/null || true
start_service "$DIR" "$PORT" "$WORK/service.log"
final=$("$BIN/factory_client" --storage "$WORK/devr" sf "$c1" --factory-trust "$TRUST")
fp=$("$BIN/factory_tool" handle_device_response $sid "$final" | sed -n 's/^FINGERPRINT //p')
[ -n "$fp" ] && [ "$fp" = "$(stored_fingerprint "$WORK/devr")" ] ||
    fail "session did not complete across a restart with the keys in the token"
kill "$LAST_PID"
wait "$LAST_PID" 2>/dev/null || true
grep -q "$KILN_TEST_PIN" "$WORK/service.log" && fail "the PIN is in the service log"
# The ledger's checkpoints are signed by the token key kiln-sf-ledger: the chain holds (the
# SIGKILL left an unsigned tail that the next run signed) and verifies with its public key.
"$BIN/factory_service" ledger verify "$DIR" >"$WORK/ledger.out" || fail "ledger: $(cat "$WORK/ledger.out")"
"$BIN/factory_service" ledger pubkey "$DIR" >"$WORK/ledger.pub" || fail "ledger pubkey"
"$BIN/factory_service" ledger export "$DIR" --format cbor -o "$WORK/ledger.cbor" || fail "ledger export"
"$BIN/factory_tool" ledger verify "$WORK/ledger.cbor" --pubkey "$WORK/ledger.pub" >/dev/null ||
    fail "the token-signed export does not verify"

# expect_token_error WHAT REASON: run fails with the numbered error, the reason and the URI.
expect_token_error() {
    ! "$BIN/factory_service" run "$1" --listen "127.0.0.1:$PORT" >/dev/null 2>"$WORK/err" ||
        fail "run started with $2"
    grep -q "^factory_service: error 122: .*key pkcs11:token=$KILN_TEST_TOKEN;object=kiln-sf-.*: .*$3" \
        "$WORK/err" || fail "run with $2: $(cat "$WORK/err")"
    ! grep -q "$KILN_TEST_PIN" "$WORK/err" || fail "the PIN is in the error text"
}
printf 'wrong-%s\n' "$KILN_TEST_PIN" >"$PIN_FILE"
expect_token_error "$DIR" "a wrong PIN" "PKCS11_LOGIN_FAILED"
grep -q "wrong-" "$WORK/err" && fail "the wrong PIN is in the error text"
printf '%s\n' "$KILN_TEST_PIN" >"$PIN_FILE"
cp -a "$DIR" "$WORK/nomodule"
sed -i "s|module-path=$M|module-path=/nonexistent/libnone.so|" "$WORK/nomodule/keys/"*.uri
expect_token_error "$WORK/nomodule" "a missing module" "PKCS11_MODULE_FAILED"
cp -a "$DIR" "$WORK/notoken"
sed -i "s|token=$KILN_TEST_TOKEN;|token=$KILN_TEST_TOKEN;serial=0000;|" "$WORK/notoken/keys/"*.uri
! "$BIN/factory_service" run "$WORK/notoken" >/dev/null 2>"$WORK/err" || fail "run without the token"
grep -q "error 122: .*PKCS11_TOKEN_NOT_FOUND" "$WORK/err" || fail "missing token: $(cat "$WORK/err")"
pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --delete-object --type secrkey --label kiln-sf-db-wrap >/dev/null 2>&1 ||
    fail "could not delete the wrap secret"
expect_token_error "$DIR" "the wrap secret missing" "PKCS11_SECRET_NOT_FOUND"
echo "sf_hsm: 4 devices provisioned with every service key in the token"
