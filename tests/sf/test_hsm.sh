#!/bin/sh
# Seed 001's flow with the service's signing, device CA and station CA keys in a PKCS#11 token
# (a SoftHSM2 token made by tests/pki/with_softhsm.sh): init makes them there, keys/ holds
# only their URIs (no PIN), the TLS key and the database wrap key; the service signs its
# messages and issues station and device certificates in the token, and the device
# certificates verify against device-ca.pem.
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
for name in signing device-ca station-ca; do
    [ ! -e "$DIR/keys/$name.key" ] || fail "keys/$name.key exists: the key should be in the token"
    grep -qx "pkcs11:token=$KILN_TEST_TOKEN;object=kiln-sf-$name?module-path=$M&pin-source=file:$PIN_FILE" \
        "$DIR/keys/$name.uri" || fail "keys/$name.uri does not name the token key"
    [ "$(stat -c %a "$DIR/keys/$name.uri")" = 600 ] || fail "keys/$name.uri is not 0600"
done
[ "$(ls "$DIR/keys" | sort | tr '\n' ' ')" = "db-wrap.key device-ca.uri ledger.key signing.uri station-ca.uri tls.key " ] ||
    fail "unexpected files in keys/: $(ls "$DIR/keys")"
grep -rq "$KILN_TEST_PIN" "$DIR" && fail "the PIN is in the state folder"
objects=$(pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --list-objects --type privkey 2>/dev/null)
for name in signing device-ca station-ca; do
    echo "$objects" | grep -A8 "label:      kiln-sf-$name" | grep -q "never extractable" ||
        fail "kiln-sf-$name is not a never-extractable key in the token"
done
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
grep -q "$KILN_TEST_PIN" "$WORK/service.log" && fail "the PIN is in the service log"
echo "sf_hsm: 3 devices provisioned with the service keys in the token"
