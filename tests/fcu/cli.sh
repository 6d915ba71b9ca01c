#!/bin/sh
# factory_tool's configurator commands end to end: files, permissions, exit statuses, JSON,
# and the bundles checked by independent tools (cbor2, openssl). usage: cli.sh FT SRC VECTORS
FT=$1 SRC=$2 VECTORS=$3
. "$SRC/lib.sh"
CHECK="$PY $SRC/bundle_check.py"

# --- setup and status ---
HOME_DIR=$(newhome setup)
check "status before setup fails with 210" sh -c "! '$FT' --home-dir '$HOME_DIR' --json status > '$TMP_ROOT/s0.json'"
check "status JSON says 210" test "$(json_get "$TMP_ROOT/s0.json" 'j["status"]')" = 210
check "setup succeeds" ft --json setup
check "keystore is 0700" test "$(stat -c %a "$HOME_DIR/keystore")" = 700
check "CA key is 0600" test "$(stat -c %a "$HOME_DIR/keystore/fcu_key.pem")" = 600
check "CA certificate is a CA with the configured subject" sh -c "openssl x509 -in '$HOME_DIR/keystore/fcu.crt' -noout -subject -ext basicConstraints | grep -q 'CN = kiln test factory CA' && openssl x509 -in '$HOME_DIR/keystore/fcu.crt' -noout -ext basicConstraints | grep -q 'CA:TRUE'"
check "CA certificate verifies against itself" openssl verify -CAfile "$HOME_DIR/keystore/fcu.crt" "$HOME_DIR/keystore/fcu.crt"
ft --json status > "$TMP_ROOT/s1.json"
check "status JSON has the CA details" test "$(json_get "$TMP_ROOT/s1.json" 'j["status"], j["caDetails"]["private_key_file"].endswith("keystore/fcu_key.pem"), j["warnings"]')" = "(0, True, [])"
check "second setup refuses with 290" sh -c "! '$FT' --home-dir '$HOME_DIR' setup 2> '$TMP_ROOT/e290' && grep -q '^error 290: File .*fcu_key.pem already exists' '$TMP_ROOT/e290'"
check "and says how to replace the CA (-f, --force)" grep -q 'setup -f (--force)' "$TMP_ROOT/e290"
old=$(openssl x509 -in "$HOME_DIR/keystore/fcu.crt" -noout -fingerprint)
check "setup -f replaces the CA" ft setup -f
check "the CA changed" test "$old" != "$(openssl x509 -in "$HOME_DIR/keystore/fcu.crt" -noout -fingerprint)"
chmod 0644 "$HOME_DIR/keystore/fcu_key.pem"
ft --json status > "$TMP_ROOT/s2.json"
check "a CA key readable by others is a warning" test "$(json_get "$TMP_ROOT/s2.json" 'j["status"] == 0 and "readable" not in "" and any("0644" in w for w in j["warnings"])')" = True
chmod 0600 "$HOME_DIR/keystore/fcu_key.pem"
check "FCU_HOME_DIR is the default home" sh -c "cd / && FCU_HOME_DIR='$HOME_DIR' '$FT' status"
check "an explicit missing config gives 195" sh -c "! '$FT' --home-dir '$HOME_DIR' --json -c '$HOME_DIR/none.yml' status > '$TMP_ROOT/s3.json' && grep -q '\"status\": 195' '$TMP_ROOT/s3.json'"
check "--log-file records the run" sh -c "'$FT' --home-dir '$HOME_DIR' --log-file '$TMP_ROOT/ft.log' status >/dev/null && grep -q 'result 0' '$TMP_ROOT/ft.log'"

# --- prepare, by_tool, bootstrap ---
check "prepare by_tool" ft prepare --endpoint-name ep-1 --serial-number SN-1 -o "$TMP_ROOT/b1.cbor"
check "bundle file is 0600" test "$(stat -c %a "$TMP_ROOT/b1.cbor")" = 600
check "by_tool bootstrap bundle (cbor2 + openssl)" $CHECK "$TMP_ROOT/b1.cbor" "$HOME_DIR/keystore/fcu.crt" bootstrap ep-1
ft prepare --endpoint-name ep-2 --serial-number SN-2 -o "$TMP_ROOT/b2.cbor" >/dev/null
serials() { $PY -c 'import cbor2,sys,subprocess;b=cbor2.load(open(sys.argv[1],"rb"));d=[c["Data"] for c in b["Certificates"] if c["Name"].endswith("DeviceCert")][0];print(subprocess.run(["openssl","x509","-inform","der","-noout","-serial"],input=d,capture_output=True).stdout.decode())' "$1"; }
check "device certificates have random serials" test "$(serials "$TMP_ROOT/b1.cbor")" != "$(serials "$TMP_ROOT/b2.cbor")"
check "a relative --home-dir finds its resources (not <home>/<home>/resources)" sh -c "cd '$(dirname "$HOME_DIR")' && '$FT' --home-dir '$(basename "$HOME_DIR")' prepare --endpoint-name ep-rel --serial-number SN-rel -o '$TMP_ROOT/rel.cbor'"
check "a relative FCU_HOME_DIR too" sh -c "cd '$(dirname "$HOME_DIR")' && FCU_HOME_DIR='$(basename "$HOME_DIR")' '$FT' prepare --endpoint-name ep-rel2 --serial-number SN-rel -o '$TMP_ROOT/rel2.cbor'"
check "prepare without -o is a usage error (2)" sh -c "'$FT' --home-dir '$HOME_DIR' prepare --endpoint-name e --serial-number s; test \$? -eq 2"
check "unknown command is a usage error (2)" sh -c "'$FT' bogus; test \$? -eq 2"
check "prepare without endpoint fails with 101" sh -c "! '$FT' --home-dir '$HOME_DIR' --json prepare --serial-number s -o '$TMP_ROOT/x.cbor' > '$TMP_ROOT/p101.json'; grep -q '\"status\": 101' '$TMP_ROOT/p101.json'"

# --- LwM2M ---
setkey "$HOME_DIR" use-bootstrap false
check "prepare LwM2M" ft prepare --endpoint-name ep-3 --serial-number SN-3 -o "$TMP_ROOT/l1.cbor"
check "LwM2M bundle, OU = account id" $CHECK "$TMP_ROOT/l1.cbor" "$HOME_DIR/keystore/fcu.crt" lwm2m ep-3 ou=0123456789abcdef0123456789abcdef
setkey "$HOME_DIR" use-bootstrap true

# --- first-to-claim, update authority, entropy, custom property ---
setkey "$HOME_DIR" first-to-claim true
setkey "$HOME_DIR" entropy-generation-mode by_tool
setkey "$HOME_DIR" update-auth-certificate-file "<%= ENV['FCU_RESOURCES_DIR'] %>/update.pem"
setkey "$HOME_DIR" vendor-id 6ba7b810-9dad-11d1-80b4-00c04fd430c8
setkey "$HOME_DIR" class-id 6ba7b811-9dad-11d1-80b4-00c04fd430c8
printf 'custom-properties:\n  - name: acme.SiteCode\n    type: string\n    data: HEL-3\n' >> "$HOME_DIR/config/fcu.yml"
ft prepare --endpoint-name ep-4 --serial-number SN-4 -o "$TMP_ROOT/f1.cbor" > "$TMP_ROOT/f1.out"
enrollment_ok() { sed -n 's/^enrollment id: //p' "$1" | grep -Eq '^A-([0-9A-F]{2}:){31}[0-9A-F]{2}$'; }
check "first-to-claim prints a 97-character enrollment id" enrollment_ok "$TMP_ROOT/f1.out"
check "full bootstrap bundle" $CHECK "$TMP_ROOT/f1.cbor" "$HOME_DIR/keystore/fcu.crt" bootstrap ep-4 ftc=1 entropy=1 classid=1 custom=acme.SiteCode

# --- by_device first step ---
HOME_DIR=$(newhome bydevice)
ft setup >/dev/null
setkey "$HOME_DIR" device-key-generation-mode by_device
check "prepare by_device" ft prepare --endpoint-name ep-5 --serial-number SN-5 -o "$TMP_ROOT/d1.cbor"
check "by_device writes an operation context" test -s "$TMP_ROOT/d1.cbor.ctx"
check "by_device first bundle asks for a CSR" $CHECK "$TMP_ROOT/d1.cbor" "$HOME_DIR/keystore/fcu.crt" csr ep-5

# --- intermediate CA ---
HOME_DIR=$(newhome intermediate)
setkey "$HOME_DIR" setup-ca-as-intermediate true
ft --json setup > "$TMP_ROOT/i1.json" || true
check "intermediate setup reports 212" test "$(json_get "$TMP_ROOT/i1.json" 'j["status"], j["caDetails"]["csr_file"].endswith("fcu.csr")')" = "(212, True)"
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP_ROOT/root.key" 2>/dev/null
openssl req -x509 -new -key "$TMP_ROOT/root.key" -subj "/CN=kiln test customer root" -days 9000 -out "$TMP_ROOT/root.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$TMP_ROOT/ca.ext"
openssl x509 -req -in "$HOME_DIR/keystore/fcu.csr" -CA "$TMP_ROOT/root.pem" -CAkey "$TMP_ROOT/root.key" -CAcreateserial -days 8000 -extfile "$TMP_ROOT/ca.ext" -out "$TMP_ROOT/inter.pem" 2>/dev/null
cat "$TMP_ROOT/inter.pem" "$TMP_ROOT/root.pem" > "$HOME_DIR/keystore/fcu.crt"
check "prepare without chain depth fails with 112" sh -c "'$FT' --home-dir '$HOME_DIR' prepare --endpoint-name ep-6 --serial-number SN-6 -o '$TMP_ROOT/c0.cbor' 2>&1 | grep -q 'error 112'"
setkey "$HOME_DIR" device-certificate-chain-depth 1
check "prepare with the signed intermediate" ft prepare --endpoint-name ep-6 --serial-number SN-6 -o "$TMP_ROOT/c1.cbor"
check "intermediate bundle carries the chain" $CHECK "$TMP_ROOT/c1.cbor" "$TMP_ROOT/root.pem" bootstrap ep-6 chain=2

# --- a missing resource: 198 names the variable only when the user set it ---
HOME_DIR=$(newhome resources)
ft setup > /dev/null
rm "$HOME_DIR/resources/bootstrap_server_ca_cert.pem"
ft prepare --endpoint-name ep-r --serial-number SN-r -o "$TMP_ROOT/r.cbor" 2> "$TMP_ROOT/r.err" || true
check "FCU_RESOURCES_DIR unset: 199 says where the file was looked for, not the variable" sh -c "grep -q '^error 199: File $HOME_DIR/resources/bootstrap_server_ca_cert.pem not found in application home path $HOME_DIR' '$TMP_ROOT/r.err' && ! grep -q FCU_RESOURCES_DIR '$TMP_ROOT/r.err'"
mkdir "$TMP_ROOT/res-empty"
FCU_RESOURCES_DIR="$TMP_ROOT/res-empty" "$FT" --home-dir "$HOME_DIR" prepare --endpoint-name ep-r --serial-number SN-r -o "$TMP_ROOT/r.cbor" 2> "$TMP_ROOT/r2.err" || true
check "FCU_RESOURCES_DIR set: 198 names it" grep -q "^error 198: File $TMP_ROOT/res-empty/bootstrap_server_ca_cert.pem defined in environment variable FCU_RESOURCES_DIR does not exist" "$TMP_ROOT/r2.err"

# --- verify on recorded answers of the original device ---
HOME_DIR=$(newhome verify)
ft --json verify --endpoint-name kiln-ep-0001 "$VECTORS/fcc-oracle/ok_bootstrap_full.resp.cbor" > "$TMP_ROOT/v1.json"
check "verify of a success answer" test "$(json_get "$TMP_ROOT/v1.json" '(j["status"], j["message"], j["deviceResponse"]["status"], j["deviceResponse"]["message"], len(j["deviceResponse"]["warnings"]), j["deviceResponse"]["warnings"][0])')" = "(0, 'Command executed successfully', 0, 'The Factory process succeeded', 5, 'Item not set:mbed.Timezone')"
check "verify of a failure answer exits 1" sh -c "! '$FT' --home-dir '$HOME_DIR' --json verify --endpoint-name kiln-ep-0001 '$VECTORS/fcc-oracle/missing_EndpointName.resp.cbor' > '$TMP_ROOT/v2.json'"
check "failure answer is 1004 with the device status" test "$(json_get "$TMP_ROOT/v2.json" '(j["status"], j["message"], j["deviceResponse"]["status"])')" = "(1004, 'Execution failed on device with error #25', 25)"
printf 'garbage' > "$TMP_ROOT/garbage.cbor"
check "verify of garbage fails with 100" sh -c "'$FT' --home-dir '$HOME_DIR' verify --endpoint-name e '$TMP_ROOT/garbage.cbor' 2>&1 | grep -q '^error 100: General error'"
finish
