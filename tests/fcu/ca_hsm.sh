#!/bin/sh
# factory_tool ca with the CA key in a SoftHSM2 token: rotate from a file key into a generated
# token key (devices of both CAs verify against ca trust); backup refuses (404, the key lives in the
# token) and writes nothing; trust still exports the CA certificate.
# usage: with_softhsm.sh ca_hsm.sh FT SRC VECTORS
FT=$1 SRC=$2 VECTORS=$3
. "$SRC/lib.sh"
CHECK="$PY $SRC/bundle_check.py"
M=$KILN_TEST_P11_MODULE
PIN_FILE="$KILN_TEST_P11_DIR/pin"
printf '%s\n' "$KILN_TEST_PIN" > "$PIN_FILE"
chmod 600 "$PIN_FILE"
URI="pkcs11:token=$KILN_TEST_TOKEN;object=fcu-ca-ops;type=private?module-path=$M&pin-source=file:$PIN_FILE"
HOME_DIR=$(newhome hsm)
check "setup (file key)" ft setup
ft prepare --endpoint-name ep-1 --serial-number SN-1 -o "$TMP_ROOT/b1.cbor" > /dev/null
check "ca rotate --key-uri --generate: the new CA key in the token" ft ca rotate --key-uri "$URI" --generate
check "no CA key file left" test ! -e "$HOME_DIR/keystore/fcu_key.pem"
ft prepare --endpoint-name ep-2 --serial-number SN-2 -o "$TMP_ROOT/b2.cbor" > /dev/null
ft ca trust -o "$TMP_ROOT/trust.pem"
check "device of CA 1 verifies against the trust" $CHECK "$TMP_ROOT/b1.cbor" "$TMP_ROOT/trust.pem" bootstrap ep-1
check "device of CA 2 (token) verifies against the trust" $CHECK "$TMP_ROOT/b2.cbor" "$TMP_ROOT/trust.pem" bootstrap ep-2
export KILN_BACKUP_PASSPHRASE=pw
check "backup of a token key fails with 404" sh -c "! '$FT' --home-dir '$HOME_DIR' ca backup -o '$TMP_ROOT/b.kcab' 2> '$TMP_ROOT/e' && grep -q '^error 404: The CA key lives in the token' '$TMP_ROOT/e'"
check "and writes nothing" test ! -e "$TMP_ROOT/b.kcab"
check "ca trust exports both CA certificates" test "$(grep -c 'BEGIN CERTIFICATE' "$TMP_ROOT/trust.pem")" = 2
check "the ledger keeps the file key it started with across the rotation into the token" ft ledger verify
check "so no token ledger key was made for it" test ! -e "$HOME_DIR/keystore/ledger.uri"
finish
