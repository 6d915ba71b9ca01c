#!/bin/sh
# The configurator's CA key in a PKCS#11 token (a SoftHSM2 token made by
# tests/pki/with_softhsm.sh): setup makes the key in the token, prepare and prepare-batch sign
# with it, the device accepts the bundle and verify its answer, openssl verifies the device
# certificate against fcu.crt, the keystore holds no private key, and every token failure is
# 225 naming the URI without the PIN, with nothing written.
# usage: with_softhsm.sh hsm.sh FT FC SRC VECTORS
FT=$1 FC=$2 SRC=$3 VECTORS=$4
. "$SRC/lib.sh"
M=$KILN_TEST_P11_MODULE
PIN_FILE="$KILN_TEST_P11_DIR/pin"
printf '%s\n' "$KILN_TEST_PIN" > "$PIN_FILE"
chmod 600 "$PIN_FILE"
URI="pkcs11:token=$KILN_TEST_TOKEN;object=fcu-ca;type=private?module-path=$M&pin-source=file:$PIN_FILE"
bundle_ok() { $PY "$SRC/bundle_check.py" "$1" "$HOME_DIR/keystore/fcu.crt" bootstrap "$2"; }
inject() {
    "$FC" --storage "$TMP_ROOT/dev-$1" handle "$2" "$TMP_ROOT/$1.resp.cbor" &&
        ft --json verify --endpoint-name "$3" "$TMP_ROOT/$1.resp.cbor" > "$TMP_ROOT/$1.json" &&
        test "$(json_get "$TMP_ROOT/$1.json" '(j["status"], j["deviceResponse"]["status"])')" = "(0, 0)"
}
# No private key on disk: neither the CA's nor the ledger's (its key is the token's kiln-ledger).
no_private_key_in() {
    ! grep -rlq "PRIVATE KEY" "$1" && ! ls "$1" | grep -Eq 'fcu_key.pem|ledger.key'
}
fails_225_without() { # fails_225_without SECRET REASON COMMAND...: exit != 0, 225, REASON, no SECRET
    secret=$1 reason=$2; shift 2
    ! "$@" > "$TMP_ROOT/f.out" 2>&1 && grep -q '"status": 225' "$TMP_ROOT/f.out" &&
        grep -q "$reason" "$TMP_ROOT/f.out" && ! grep -q -- "$secret" "$TMP_ROOT/f.out"
}

HOME_DIR=$(newhome main)
check "setup --key-uri --generate makes the CA key in the token" ft setup --key-uri "$URI" --generate
check "the keystore holds no private key" no_private_key_in "$HOME_DIR/keystore"
check "fcu_key.uri names the key" grep -qx "$URI" "$HOME_DIR/keystore/fcu_key.uri"
check "status says the key is in the token" sh -c "'$FT' --home-dir '$HOME_DIR' status | grep -q 'CA private key:     pkcs11:token=$KILN_TEST_TOKEN;object=fcu-ca.*(in a PKCS#11 token)'"
status_json_names_uri() {
    ft --json status > "$TMP_ROOT/st.json" &&
        test "$(json_get "$TMP_ROOT/st.json" '(j["caDetails"]["private_key_file"], j["caDetails"]["private_key_uri"])')" = "(None, '$(cat "$HOME_DIR/keystore/fcu_key.uri")')"
}
check "status --json gives the key URI and no key file" status_json_names_uri
ft prepare --endpoint-name ep-1 --serial-number SN-1 -o "$TMP_ROOT/b1.cbor" >/dev/null
check "the bundle's device certificate verifies against fcu.crt (openssl verify)" bundle_ok "$TMP_ROOT/b1.cbor" ep-1
check "the device accepts the bundle and verify accepts its answer" inject d1 "$TMP_ROOT/b1.cbor" ep-1
check "the device is fully configured" "$FC" --storage "$TMP_ROOT/dev-d1" verify
check "the ledger verifies, signed by the token's key" ft ledger verify
check "no ledger.key file: the ledger key is in the token" test ! -e "$HOME_DIR/keystore/ledger.key"
check "ledger.uri is 0600" test "$(stat -c %a "$HOME_DIR/keystore/ledger.uri")" = 600
pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" --list-objects --type privkey > "$TMP_ROOT/objs.txt" 2>/dev/null
check "the ledger key kiln-ledger is in the token, never extractable" sh -c "grep -A8 'label:.*kiln-ledger' '$TMP_ROOT/objs.txt' | grep -q 'never extractable'"
token_pub_is_ledger_pub() {
    pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --read-object --type pubkey --label kiln-ledger -o "$TMP_ROOT/lpub.der" >/dev/null 2>&1 &&
        ft ledger pubkey > "$TMP_ROOT/lpub.pem" &&
        test "$(openssl pkey -pubin -inform der -in "$TMP_ROOT/lpub.der" -outform der | sha256sum)" = "$(openssl pkey -pubin -in "$TMP_ROOT/lpub.pem" -outform der | sha256sum)"
}
check "ledger pubkey is the token key's public half" token_pub_is_ledger_pub
ft ledger export --format jsonl -o "$TMP_ROOT/ledger.jsonl" > /dev/null
check "the exported ledger verifies with that public key alone" ft ledger verify "$TMP_ROOT/ledger.jsonl" --pubkey "$TMP_ROOT/lpub.pem"

printf 'endpoint_name,serial_number,address\n' > "$TMP_ROOT/batch.csv"
for i in 1 2 3 4 5 6; do printf 'bt-%s,SN-b%s,tcp:127.0.0.1:1\n' "$i" "$i" >> "$TMP_ROOT/batch.csv"; done
check "prepare-batch --jobs 2 signs in the token from two threads" ft prepare-batch --devices "$TMP_ROOT/batch.csv" --out "$TMP_ROOT/batch" --jobs 2
for i in 1 2 3 4 5 6; do
    check "batch bundle bt-$i verifies" bundle_ok "$TMP_ROOT/batch/bt-$i.cbor" "bt-$i"
done

crt_sum=$(sha256sum < "$HOME_DIR/keystore/fcu.crt")
unchanged() { test "$(sha256sum < "$HOME_DIR/keystore/fcu.crt")" = "$crt_sum" && no_private_key_in "$HOME_DIR/keystore"; }
WRONG="pkcs11:token=$KILN_TEST_TOKEN;object=fcu-ca?module-path=$M&pin-value=wrong-9876"
check "a wrong PIN is 225 PKCS11_LOGIN_FAILED without the PIN" fails_225_without wrong-9876 PKCS11_LOGIN_FAILED ft --json setup --force --key-uri "$WRONG"
check "a missing token is 225 PKCS11_TOKEN_NOT_FOUND" fails_225_without "$KILN_TEST_PIN" PKCS11_TOKEN_NOT_FOUND ft --json setup --force --key-uri "pkcs11:token=absent;object=fcu-ca?module-path=$M&pin-value=$KILN_TEST_PIN"
check "a missing module is 225 PKCS11_MODULE_FAILED" fails_225_without "$KILN_TEST_PIN" PKCS11_MODULE_FAILED ft --json setup --force --key-uri "pkcs11:token=kiln;object=fcu-ca?module-path=/nonexistent/p11.so&pin-value=$KILN_TEST_PIN"
check "an absent object is 225 PKCS11_KEY_NOT_FOUND" fails_225_without "$KILN_TEST_PIN" PKCS11_KEY_NOT_FOUND ft --json setup --force --key-uri "pkcs11:token=$KILN_TEST_TOKEN;object=nothing?module-path=$M&pin-value=$KILN_TEST_PIN"
pkcs11-tool --module "$M" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --keypairgen --key-type EC:secp384r1 --label p384 >/dev/null 2>&1
check "a P-384 key is 225 KEY_UNSUPPORTED" fails_225_without "$KILN_TEST_PIN" KEY_UNSUPPORTED ft --json setup --force --key-uri "pkcs11:token=$KILN_TEST_TOKEN;object=p384?module-path=$M&pin-value=$KILN_TEST_PIN"
check "generating over the existing key is 225 PKCS11_KEY_EXISTS" fails_225_without "$KILN_TEST_PIN" PKCS11_KEY_EXISTS ft --json setup --force --key-uri "$URI" --generate
check "setup without --force keeps the CA (290)" sh -c "! '$FT' --home-dir '$HOME_DIR' setup --key-uri '$URI' >/dev/null 2>&1"
check "no failure changed the keystore" unchanged
check "--generate without --key-uri is a usage error" sh -c "'$FT' --home-dir '$HOME_DIR' setup --generate >/dev/null 2>&1; test \$? -eq 2"

# A second configurator on the same token key, named in fcu.yml with the PIN from the
# environment: setup makes its certificate from the key already there.
HOME_DIR=$(newhome second)
$PY - "$HOME_DIR/config/fcu.yml" "pkcs11:token=$KILN_TEST_TOKEN;object=fcu-ca?module-path=$M" <<'PYEOF'
import sys
path, uri = sys.argv[1:]
text = open(path).read().replace("  common-name:", '  key-uri: "%s"\n  common-name:' % uri, 1)
open(path, "w").write(text)
PYEOF
export KILN_PKCS11_PIN="$KILN_TEST_PIN"
check "setup with fcu.yml's key-uri uses the key in the token" ft setup
check "both CA certificates carry the token's public key" test "$(openssl x509 -in "$HOME_DIR/keystore/fcu.crt" -noout -pubkey)" = "$(openssl x509 -in "$TMP_ROOT/main/keystore/fcu.crt" -noout -pubkey)"
ft prepare --endpoint-name ep-2 --serial-number SN-2 -o "$TMP_ROOT/b2.cbor" >/dev/null
check "its bundle verifies" bundle_ok "$TMP_ROOT/b2.cbor" ep-2
check "the device accepts it" inject d2 "$TMP_ROOT/b2.cbor" ep-2
unset KILN_PKCS11_PIN
check "without a PIN the key is not found (225)" fails_225_without "$KILN_TEST_PIN" PKCS11_KEY_NOT_FOUND ft --json prepare --endpoint-name ep-3 --serial-number SN-3 -o "$TMP_ROOT/b3.cbor"
check "and no bundle is written" test ! -e "$TMP_ROOT/b3.cbor"
finish
