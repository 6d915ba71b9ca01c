#!/bin/sh
# The configurator and the project's device library together: factory_client (the device)
# stores the bundles of every mode and factory_tool verify accepts its answers.
# usage: device.sh FT FC SRC VECTORS
FT=$1 FC=$2 SRC=$3 VECTORS=$4
. "$SRC/lib.sh"

# inject NAME BUNDLE: the device handles BUNDLE on storage NAME; verify must accept the answer.
inject() {
    "$FC" --storage "$TMP_ROOT/dev-$1" handle "$2" "$TMP_ROOT/$1.resp.cbor" &&
        ft --json verify --endpoint-name "$3" "$TMP_ROOT/$1.resp.cbor" > "$TMP_ROOT/$1.json" &&
        test "$(json_get "$TMP_ROOT/$1.json" '(j["status"], j["deviceResponse"]["status"])')" = "(0, 0)"
}
device_verify() { "$FC" --storage "$TMP_ROOT/dev-$1" verify; }

HOME_DIR=$(newhome main)
ft setup >/dev/null
ft prepare --endpoint-name ep-1 --serial-number SN-1 -o "$TMP_ROOT/b1.cbor" >/dev/null
check "device accepts a by_tool bootstrap bundle" inject bt "$TMP_ROOT/b1.cbor" ep-1
check "device is fully configured (by_tool)" device_verify bt
# The answer is tied to its endpoint (the bundle's SID, which the device echoes, is made from
# the endpoint name): verify under another name refuses it with a numbered error.
ft --json verify --endpoint-name other "$TMP_ROOT/bt.resp.cbor" > "$TMP_ROOT/other.json" && rc=0 || rc=$?
check "verify --endpoint-name other refuses ep-1's answer (100, exit 1)" sh -c "test $rc = 1 && test '$(json_get "$TMP_ROOT/other.json" 'j["status"]')' = 100 && grep -q 'not for this endpoint' '$TMP_ROOT/other.json'"
check "the bundle's SID is fcu- and 32 hex digits" $PY -c 'import cbor2,re,sys; sys.exit(0 if re.fullmatch("fcu-[0-9a-f]{32}", cbor2.load(open(sys.argv[1],"rb"))["SID"]) else 1)' "$TMP_ROOT/b1.cbor"

setkey "$HOME_DIR" use-bootstrap false
ft prepare --endpoint-name ep-2 --serial-number SN-2 -o "$TMP_ROOT/l1.cbor" >/dev/null
check "device accepts an LwM2M bundle" inject lwm2m "$TMP_ROOT/l1.cbor" ep-2
setkey "$HOME_DIR" use-bootstrap true

setkey "$HOME_DIR" first-to-claim true
setkey "$HOME_DIR" entropy-generation-mode by_tool
setkey "$HOME_DIR" update-auth-certificate-file "<%= ENV['FCU_RESOURCES_DIR'] %>/update.pem"
setkey "$HOME_DIR" vendor-id 6ba7b810-9dad-11d1-80b4-00c04fd430c8
setkey "$HOME_DIR" class-id 6ba7b811-9dad-11d1-80b4-00c04fd430c8
ft prepare --endpoint-name ep-3 --serial-number SN-3 -o "$TMP_ROOT/f1.cbor" >/dev/null
check "device accepts first-to-claim + update authority + entropy" inject ftc "$TMP_ROOT/f1.cbor" ep-3
check "the device answer has no warning left about update items" sh -c "! grep -q 'UpdateAuthCert' '$TMP_ROOT/ftc.json'"

# externally supplied: key and certificate made with the openssl command line
HOME_DIR=$(newhome external)
ft setup >/dev/null
setkey "$HOME_DIR" device-key-generation-mode externally_supplied
mkdir -p "$TMP_ROOT/keys-ep-4"
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP_ROOT/keys-ep-4/device.key" 2>/dev/null
openssl req -new -key "$TMP_ROOT/keys-ep-4/device.key" -subj "/C=FI/O=kiln test/CN=ep-4" -out "$TMP_ROOT/ep4.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$TMP_ROOT/dev.ext"
openssl x509 -req -in "$TMP_ROOT/ep4.csr" -CA "$HOME_DIR/keystore/fcu.crt" -CAkey "$HOME_DIR/keystore/fcu_key.pem" -CAcreateserial -days 4000 -extfile "$TMP_ROOT/dev.ext" -outform der -out "$TMP_ROOT/keys-ep-4/device_cert.der" 2>/dev/null
check "prepare with externally supplied credentials" ft prepare --endpoint-name ep-4 --serial-number SN-4 --device-keys-location "$TMP_ROOT/keys-ep-4" -o "$TMP_ROOT/e1.cbor"
check "device accepts an externally supplied bundle" inject ext "$TMP_ROOT/e1.cbor" ep-4
# the same with the issuer in the certificate file: the device gets the whole chain
mkdir -p "$TMP_ROOT/keys-ep-4-chain"
cp "$TMP_ROOT/keys-ep-4/device.key" "$TMP_ROOT/keys-ep-4-chain/device.key"
{ openssl x509 -inform der -in "$TMP_ROOT/keys-ep-4/device_cert.der"; cat "$HOME_DIR/keystore/fcu.crt"; } > "$TMP_ROOT/keys-ep-4-chain/device.crt"
check "prepare with an externally supplied chain" ft prepare --endpoint-name ep-4 --serial-number SN-4 --device-keys-location "$TMP_ROOT/keys-ep-4-chain" -o "$TMP_ROOT/e2.cbor"
check "the externally supplied chain is sent whole" $PY "$SRC/bundle_check.py" "$TMP_ROOT/e2.cbor" "$HOME_DIR/keystore/fcu.crt" bootstrap ep-4 chain=2
check "device accepts an externally supplied chain" inject extchain "$TMP_ROOT/e2.cbor" ep-4

# by_device: CSR request, the device's CSR signed, second bundle
HOME_DIR=$(newhome bydevice)
ft setup >/dev/null
setkey "$HOME_DIR" device-key-generation-mode by_device
ft prepare --endpoint-name ep-5 --serial-number SN-5 -o "$TMP_ROOT/d1.cbor" >/dev/null
check "device answers the CSR request" "$FC" --storage "$TMP_ROOT/dev-bd" handle "$TMP_ROOT/d1.cbor" "$TMP_ROOT/d1.resp.cbor"
check "verify signs the CSR into a second bundle" ft --json verify --endpoint-name ep-5 --context-file "$TMP_ROOT/d1.cbor.ctx" -o "$TMP_ROOT/d2.cbor" "$TMP_ROOT/d1.resp.cbor"
check "second bundle (cbor2 + openssl)" $PY "$SRC/bundle_check.py" "$TMP_ROOT/d2.cbor" "$HOME_DIR/keystore/fcu.crt" bootstrap ep-5 nokeys=1 prkn=1
check "device accepts the second bundle" inject bd "$TMP_ROOT/d2.cbor" ep-5
check "device is fully configured (by_device)" device_verify bd
check "a CSR answer without the context is refused" sh -c "'$FT' --home-dir '$HOME_DIR' verify --endpoint-name ep-5 '$TMP_ROOT/d1.resp.cbor' 2>&1 | grep -q 'error 100'"

# by_device with an external CA (--external-ca, KILN_EXTERNAL_CA, fcu.yml external-ca): kiln
# holds no CA at all; a command signs the device's CSR and verify checks what it returns.
HOME_DIR=$(newhome extca)
setkey "$HOME_DIR" device-key-generation-mode by_device
X=$TMP_ROOT/extca
mkdir -p "$X"
openssl ecparam -name prime256v1 -genkey -noout -out "$X/ca.key" 2>/dev/null
openssl req -x509 -new -key "$X/ca.key" -subj "/CN=customer device CA" -days 9000 -out "$X/ca.pem" 2>/dev/null
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$X/leaf.ext"
cat > "$X/sign.sh" <<EOS
#!/bin/sh
# CSR on stdin, the certificate and its issuer on stdout; \$1 picks a misbehaviour.
case "\$1" in
fail) cat >/dev/null; echo "CA offline" >&2; exit 3 ;;
hang) sleep 300 & echo \$! > "$X/hang.pid"; sleep 300; exit 0 ;;
other) cat >/dev/null; cat "$X/ca.pem"; exit 0 ;;
wrongcn) extra="-subj /CN=someone-else" ;;
esac
openssl x509 -req -CA "$X/ca.pem" -CAkey "$X/ca.key" -CAcreateserial -days 3700 \$extra \
    -extfile "$X/leaf.ext" 2>/dev/null && cat "$X/ca.pem"
EOS
chmod +x "$X/sign.sh"
check "by_device prepare needs no CA of kiln's with an external CA" ft --external-ca "$X/sign.sh" prepare --endpoint-name ep-x --serial-number SN-x -o "$TMP_ROOT/x1.cbor"
check "the keystore holds no CA key" sh -c "! ls '$HOME_DIR/keystore' 2>/dev/null | grep -q key"
check "device answers the CSR request (external CA)" "$FC" --storage "$TMP_ROOT/dev-x" handle "$TMP_ROOT/x1.cbor" "$TMP_ROOT/x1.resp.cbor"
ext_fails() { # CODE TEXT MODE: verify with the external CA misbehaving as MODE
    ! "$FT" --home-dir "$HOME_DIR" --external-ca "$X/sign.sh $3" verify --endpoint-name ep-x --context-file "$TMP_ROOT/x1.cbor.ctx" -o "$TMP_ROOT/x-bad.cbor" "$TMP_ROOT/x1.resp.cbor" > "$TMP_ROOT/x.err" 2>&1 &&
        grep -q "^error $1: .*$2" "$TMP_ROOT/x.err" && [ ! -e "$TMP_ROOT/x-bad.cbor" ] || { cat "$TMP_ROOT/x.err"; false; }
}
check "an external CA that fails is error 409 with its exit status, nothing written" ext_fails 409 "exit status 3" fail
check "a certificate for another key is error 410" ext_fails 410 "not for the key of the device's CSR" other
check "a certificate with another CN is error 410" ext_fails 410 "CN is not the endpoint name" wrongcn
# A CA that hangs: killed at the deadline with what it started (its own process group).
gone() { # PID: not running (a killed orphan may stay a zombie until init reaps it)
    ! kill -0 "$1" 2>/dev/null || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]
}
hung_ca_killed() {
    start=$(date +%s)
    (export KILN_EXTERNAL_CA_TIMEOUT=1 && ext_fails 409 "did not answer within 1 s (KILN_EXTERNAL_CA_TIMEOUT) and was killed" hang) &&
        [ $(($(date +%s) - start)) -lt 30 ] && [ -s "$X/hang.pid" ] &&
        for _ in 1 2 3 4 5 6 7 8 9 10; do gone "$(cat "$X/hang.pid")" && return 0; sleep 0.2; done &&
        { echo "the CA's own child $(cat "$X/hang.pid") still runs"; false; }
}
check "an external CA that hangs is error 409 at the deadline, its children killed" hung_ca_killed
bad_timeout() { (export KILN_EXTERNAL_CA_TIMEOUT=$1 && ext_fails 409 "KILN_EXTERNAL_CA_TIMEOUT must be whole seconds from 1 to 3600" ""); }
check "a KILN_EXTERNAL_CA_TIMEOUT of 0.5 is error 409" bad_timeout 0.5
check "a KILN_EXTERNAL_CA_TIMEOUT of 3601 is error 409" bad_timeout 3601
mv "$X/sign.sh" "$X/sign.sh.away"
check "a command that cannot start is error 409" ext_fails 409 "cannot start .*sign.sh" ""
mv "$X/sign.sh.away" "$X/sign.sh"
check "verify has the external CA sign the CSR" ft --external-ca "$X/sign.sh" --json verify --endpoint-name ep-x --context-file "$TMP_ROOT/x1.cbor.ctx" -o "$TMP_ROOT/x2.cbor" "$TMP_ROOT/x1.resp.cbor"
check "second bundle carries the external CA's certificate (cbor2 + openssl)" $PY "$SRC/bundle_check.py" "$TMP_ROOT/x2.cbor" "$X/ca.pem" bootstrap ep-x nokeys=1 prkn=1 chain=2
check "device accepts the externally signed certificate" inject x "$TMP_ROOT/x2.cbor" ep-x
check "device is fully configured (external CA)" device_verify x
"$FC" --storage "$TMP_ROOT/dev-x" get mbed.BootstrapDeviceCert > "$TMP_ROOT/x.der" 2>/dev/null
check "openssl verify: the device certificate is the external CA's" sh -c "openssl x509 -inform der -in '$TMP_ROOT/x.der' -out '$TMP_ROOT/x.pem' && openssl verify -CAfile '$X/ca.pem' '$TMP_ROOT/x.pem'"
printf 'external-ca: %s\n' "$X/sign.sh" >> "$HOME_DIR/config/fcu.yml"
ft prepare --endpoint-name ep-y --serial-number SN-y -o "$TMP_ROOT/y1.cbor" >/dev/null
"$FC" --storage "$TMP_ROOT/dev-y" handle "$TMP_ROOT/y1.cbor" "$TMP_ROOT/y1.resp.cbor" >/dev/null 2>&1
env_overrides() {
    ! KILN_EXTERNAL_CA="$X/sign.sh fail" "$FT" --home-dir "$HOME_DIR" verify --endpoint-name ep-y --context-file "$TMP_ROOT/y1.cbor.ctx" -o "$TMP_ROOT/y3.cbor" "$TMP_ROOT/y1.resp.cbor" > "$TMP_ROOT/y.err" 2>&1 &&
        grep -q '^error 409' "$TMP_ROOT/y.err" || { cat "$TMP_ROOT/y.err"; false; }
}
check "KILN_EXTERNAL_CA overrides fcu.yml" env_overrides
check "fcu.yml external-ca signs too" ft verify --endpoint-name ep-y --context-file "$TMP_ROOT/y1.cbor.ctx" -o "$TMP_ROOT/y2.cbor" "$TMP_ROOT/y1.resp.cbor"

# intermediate CA with a chain of depth 2 (intermediate + root)
HOME_DIR=$(newhome intermediate)
setkey "$HOME_DIR" setup-ca-as-intermediate true
ft setup >/dev/null 2>&1 || true
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP_ROOT/root.key" 2>/dev/null
openssl req -x509 -new -key "$TMP_ROOT/root.key" -subj "/CN=kiln test customer root" -days 9000 -out "$TMP_ROOT/root.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$TMP_ROOT/ca.ext"
openssl x509 -req -in "$HOME_DIR/keystore/fcu.csr" -CA "$TMP_ROOT/root.pem" -CAkey "$TMP_ROOT/root.key" -CAcreateserial -days 8000 -extfile "$TMP_ROOT/ca.ext" -out "$TMP_ROOT/inter.pem" 2>/dev/null
cat "$TMP_ROOT/inter.pem" "$TMP_ROOT/root.pem" > "$HOME_DIR/keystore/fcu.crt"
setkey "$HOME_DIR" device-certificate-chain-depth 2
ft prepare --endpoint-name ep-6 --serial-number SN-6 -o "$TMP_ROOT/c1.cbor" >/dev/null
check "device accepts a bundle with a certificate chain" inject chain "$TMP_ROOT/c1.cbor" ep-6
finish
