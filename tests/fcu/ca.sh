#!/bin/sh
# factory_tool ca with file keys: csr (the intermediate CA CSR), import-cert (checks: key, CA,
# chain), trust (current + previous CA
# certificates), rotate (history + ledger), backup/restore (AES-256-GCM under an scrypt key) with numbered refusals that
# write nothing. usage: ca.sh FT SRC VECTORS
FT=$1 SRC=$2 VECTORS=$3
. "$SRC/lib.sh"
CHECK="$PY $SRC/bundle_check.py"
unset KILN_BACKUP_PASSPHRASE
fails_with() { # fails_with CODE COMMAND...: exit != 0 and "error CODE:" on stderr
    code=$1; shift
    ! "$@" > "$TMP_ROOT/f.out" 2>&1 && grep -q "^error $code:" "$TMP_ROOT/f.out" || { cat "$TMP_ROOT/f.out"; false; }
}

# --- csr ---
HOME_DIR=$(newhome inter)
setkey "$HOME_DIR" setup-ca-as-intermediate true
ft setup > /dev/null 2>&1 || true
check "ca csr prints the setup CSR" sh -c "'$FT' --home-dir '$HOME_DIR' ca csr | cmp - '$HOME_DIR/keystore/fcu.csr'"
check "ca csr -o writes a CSR openssl accepts" sh -c "'$FT' --home-dir '$HOME_DIR' ca csr -o '$TMP_ROOT/ca.csr' && openssl req -in '$TMP_ROOT/ca.csr' -noout -verify"
check "ca trust before the intermediate is imported fails with 401" fails_with 401 ft ca trust
# --- import-cert: the customer's root signs the CSR ---
INTER=$HOME_DIR
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP_ROOT/root.key" 2>/dev/null
openssl req -x509 -new -key "$TMP_ROOT/root.key" -subj "/CN=kiln test customer root" -days 9000 -out "$TMP_ROOT/root.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$TMP_ROOT/ca.ext"
openssl x509 -req -in "$TMP_ROOT/ca.csr" -CA "$TMP_ROOT/root.pem" -CAkey "$TMP_ROOT/root.key" -CAcreateserial -days 8000 -extfile "$TMP_ROOT/ca.ext" -out "$TMP_ROOT/inter.pem" 2>/dev/null
openssl x509 -req -in "$TMP_ROOT/ca.csr" -CA "$TMP_ROOT/root.pem" -CAkey "$TMP_ROOT/root.key" -CAcreateserial -days 8000 -out "$TMP_ROOT/notca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP_ROOT/other.key" 2>/dev/null
openssl req -x509 -new -key "$TMP_ROOT/other.key" -subj "/CN=other" -days 100 -addext basicConstraints=critical,CA:TRUE -out "$TMP_ROOT/other.pem" 2>/dev/null
check "import-cert of a certificate of another key fails with 406" fails_with 406 ft ca import-cert "$TMP_ROOT/other.pem" --chain "$TMP_ROOT/root.pem"
check "import-cert of a non-CA certificate fails with 407" fails_with 407 ft ca import-cert "$TMP_ROOT/notca.pem" --chain "$TMP_ROOT/root.pem"
check "import-cert without the root fails with 408" fails_with 408 ft ca import-cert "$TMP_ROOT/inter.pem"
check "import-cert of a non-certificate fails with 390" fails_with 390 ft ca import-cert "$TMP_ROOT/ca.ext"
check "and nothing was installed" test ! -e "$HOME_DIR/keystore/fcu.crt"
check "import-cert with the chain" ft ca import-cert "$TMP_ROOT/inter.pem" --chain "$TMP_ROOT/root.pem"
check "fcu.crt is the intermediate then the root" sh -c "test \"\$(openssl x509 -in '$HOME_DIR/keystore/fcu.crt' -noout -fingerprint)\" = \"\$(openssl x509 -in '$TMP_ROOT/inter.pem' -noout -fingerprint)\" && test \$(grep -c BEGIN '$HOME_DIR/keystore/fcu.crt') = 2"
check "the import is in the ledger" test "$(sqlite3 "$HOME_DIR/kiln-records.db" "SELECT outcome FROM ledger WHERE kind='ca' ORDER BY seq DESC LIMIT 1")" = imported
setkey "$HOME_DIR" device-certificate-chain-depth 1
check "prepare with the imported intermediate" ft prepare --endpoint-name ep-i --serial-number SN-i -o "$TMP_ROOT/i1.cbor"
check "its device verifies against the customer root" $CHECK "$TMP_ROOT/i1.cbor" "$TMP_ROOT/root.pem" bootstrap ep-i chain=2

HOME_DIR=$(newhome plain)
check "setup" ft setup
check "ca csr without an intermediate CA fails with 400" fails_with 400 ft ca csr

# --- trust: current + history ---
ft prepare --endpoint-name ep-1 --serial-number SN-1 -o "$TMP_ROOT/b1.cbor" > /dev/null
cp "$HOME_DIR/keystore/fcu.crt" "$TMP_ROOT/ca1.crt"
cp "$HOME_DIR/keystore/fcu_key.pem" "$TMP_ROOT/ca1.key"
check "ca rotate" ft ca rotate
check "the CA key changed" sh -c "! cmp -s '$HOME_DIR/keystore/fcu_key.pem' '$TMP_ROOT/ca1.key'"
check "the old CA certificate is in the history" cmp "$HOME_DIR/keystore/ca-history/0001.crt" "$TMP_ROOT/ca1.crt"
check "the rotation is in the ledger" test "$(sqlite3 "$HOME_DIR/kiln-records.db" "SELECT outcome FROM ledger WHERE kind='ca' ORDER BY seq DESC LIMIT 1")" = rotated
ft prepare --endpoint-name ep-2 --serial-number SN-2 -o "$TMP_ROOT/b2.cbor" > /dev/null
check "ca trust -o" ft ca trust -o "$TMP_ROOT/trust.pem"
check "trust holds two CA certificates" test "$(grep -c 'BEGIN CERTIFICATE' "$TMP_ROOT/trust.pem")" = 2
check "device of the old CA verifies against the trust" $CHECK "$TMP_ROOT/b1.cbor" "$TMP_ROOT/trust.pem" bootstrap ep-1
check "device of the new CA verifies against the trust" $CHECK "$TMP_ROOT/b2.cbor" "$TMP_ROOT/trust.pem" bootstrap ep-2
check "the old device does not verify against the new CA alone" sh -c "! $CHECK '$TMP_ROOT/b1.cbor' '$HOME_DIR/keystore/fcu.crt' bootstrap ep-1"

# --- backup / restore ---
printf 'correct horse\n' > "$TMP_ROOT/pass"
printf 'wrong horse\n' > "$TMP_ROOT/bad"
check "backup without a passphrase fails with 403" fails_with 403 ft ca backup -o "$TMP_ROOT/x.kcab"
check "and writes nothing" test ! -e "$TMP_ROOT/x.kcab"
ft ledger pubkey > "$TMP_ROOT/ledger-before.pub"
check "ca backup" ft ca backup -o "$TMP_ROOT/ca.kcab" --passphrase-file "$TMP_ROOT/pass"
check "archive is 0600" test "$(stat -c %a "$TMP_ROOT/ca.kcab")" = 600
check "archive holds no plain key" sh -c "! grep -aq 'PRIVATE KEY' '$TMP_ROOT/ca.kcab'"
check "restore over an existing key fails with 290" fails_with 290 ft ca restore "$TMP_ROOT/ca.kcab" --passphrase-file "$TMP_ROOT/pass"
cp -r "$HOME_DIR/keystore" "$TMP_ROOT/ks-orig"
rm -rf "$HOME_DIR/keystore"
check "wrong passphrase fails with 405" fails_with 405 ft ca restore "$TMP_ROOT/ca.kcab" --passphrase-file "$TMP_ROOT/bad"
check "and writes nothing" sh -c "test ! -e '$HOME_DIR/keystore/fcu_key.pem'"
cp "$TMP_ROOT/ca.kcab" "$TMP_ROOT/corrupt.kcab"
printf 'X' | dd of="$TMP_ROOT/corrupt.kcab" bs=1 seek=60 conv=notrunc 2> /dev/null
check "a corrupt archive fails with 405" fails_with 405 env KILN_BACKUP_PASSPHRASE='correct horse' "$FT" --home-dir "$HOME_DIR" ca restore "$TMP_ROOT/corrupt.kcab"
check "and writes nothing" sh -c "test ! -e '$HOME_DIR/keystore/fcu_key.pem'"
mkdir -p "$HOME_DIR/keystore" && : > "$HOME_DIR/keystore/ca-history"
check "a restore failing half way fails with 402" fails_with 402 env KILN_BACKUP_PASSPHRASE='correct horse' "$FT" --home-dir "$HOME_DIR" ca restore "$TMP_ROOT/ca.kcab"
check "and takes back what it wrote" sh -c "test ! -e '$HOME_DIR/keystore/fcu_key.pem' && test ! -e '$HOME_DIR/keystore/fcu.crt'"
rm -rf "$HOME_DIR/keystore"
check "restore (passphrase from KILN_BACKUP_PASSPHRASE)" env KILN_BACKUP_PASSPHRASE='correct horse' "$FT" --home-dir "$HOME_DIR" ca restore "$TMP_ROOT/ca.kcab"
check "restored key equals the original" cmp "$HOME_DIR/keystore/fcu_key.pem" "$TMP_ROOT/ks-orig/fcu_key.pem"
check "restored key is 0600" test "$(stat -c %a "$HOME_DIR/keystore/fcu_key.pem")" = 600
check "history restored" cmp "$HOME_DIR/keystore/ca-history/0001.crt" "$TMP_ROOT/ks-orig/ca-history/0001.crt"
check "the ledger key restored with the CA" cmp "$HOME_DIR/keystore/ledger.key" "$TMP_ROOT/ks-orig/ledger.key"
check "restored ledger key is 0600" test "$(stat -c %a "$HOME_DIR/keystore/ledger.key")" = 600
check "the restore is in the ledger" test "$(sqlite3 "$HOME_DIR/kiln-records.db" "SELECT outcome FROM ledger WHERE kind='ca' ORDER BY seq DESC LIMIT 1")" = restored
check "prepare after restore" ft prepare --endpoint-name ep-3 --serial-number SN-3 -o "$TMP_ROOT/b3.cbor"
check "its device certificate verifies against the restored CA" $CHECK "$TMP_ROOT/b3.cbor" "$HOME_DIR/keystore/fcu.crt" bootstrap ep-3
check "the ledger, signed on both sides of the restore, verifies with the public key from before" ft ledger verify --pubkey "$TMP_ROOT/ledger-before.pub"
check "passphrase never in the output" sh -c "! grep -rq 'horse' '$TMP_ROOT/f.out' '$TMP_ROOT/check.out'"
finish
