#!/bin/sh
# factory_tool ca with the CA key in a SoftHSM2 token: backup refuses (404, the key lives in the
# token) and writes nothing; trust still exports the CA certificate.
# usage: with_softhsm.sh ca_hsm.sh FT SRC VECTORS
FT=$1 SRC=$2 VECTORS=$3
. "$SRC/lib.sh"
M=$KILN_TEST_P11_MODULE
PIN_FILE="$KILN_TEST_P11_DIR/pin"
printf '%s\n' "$KILN_TEST_PIN" > "$PIN_FILE"
chmod 600 "$PIN_FILE"
URI="pkcs11:token=$KILN_TEST_TOKEN;object=fcu-ca-ops;type=private?module-path=$M&pin-source=file:$PIN_FILE"
HOME_DIR=$(newhome hsm)
check "setup --key-uri --generate" ft setup --key-uri "$URI" --generate
export KILN_BACKUP_PASSPHRASE=pw
check "backup of a token key fails with 404" sh -c "! '$FT' --home-dir '$HOME_DIR' ca backup -o '$TMP_ROOT/b.kcab' 2> '$TMP_ROOT/e' && grep -q '^error 404: The CA key lives in the token' '$TMP_ROOT/e'"
check "and writes nothing" test ! -e "$TMP_ROOT/b.kcab"
check "ca trust exports the CA certificate" sh -c "'$FT' --home-dir '$HOME_DIR' ca trust | cmp - '$HOME_DIR/keystore/fcu.crt'"
finish
