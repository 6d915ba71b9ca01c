#!/bin/sh
# factory_tool inject against the real device (factory_client) and against misbehaving devices:
# the seed's JSON result and each of the demo error codes the line can produce.
# usage: inject.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
O="$VECTORS/ftcd-oracle"
HOME_DIR=$(newhome home)

# expect CODE NAME ARGS...: inject must fail with CODE in the seed's JSON shape.
expect() {
    code=$1 name=$2; shift 2
    if ft inject --endpoint-name "ep-$name" --serial-number "SN-$name" "$@" >"$TMP_ROOT/$name.json" 2>"$TMP_ROOT/$name.err"; then
        fail "$name: inject succeeded, expected $code"; return
    fi
    got=$(status_of "$TMP_ROOT/$name.json" 2>/dev/null || echo none)
    if [ "$got" = "$code" ]; then pass "$name: error $code"; else fail "$name: got $got, expected $code"; cat "$TMP_ROOT/$name.json" "$TMP_ROOT/$name.err"; fi
}

# --- success over TCP, the seed's final JSON ----------------------------------------------
start dev "$FC" --storage "$TMP_ROOT/dev" tcp --port 0
P=$(ports dev)
check "inject over TCP succeeds" sh -c "'$FT' --home-dir '$HOME_DIR' inject --endpoint-name ep-ok --serial-number SN-ok tcp --ip 127.0.0.1 --port $P -t 10 > '$TMP_ROOT/ok.json'"
check "final JSON has the seed's shape" test "$(json_get "$TMP_ROOT/ok.json" '(j["status"], j["message"], j["deviceResponse"]["status"], j["deviceResponse"]["message"], type(j["deviceResponse"]["warnings"]).__name__)')" = "(0, 'Command executed successfully', 0, 'The Factory process succeeded', 'list')"
wait $PID_dev
check "the device finished its flow" grep -q "Successfully completed factory flow" "$TMP_ROOT/dev.out"
check "the device is fully configured" "$FC" --storage "$TMP_ROOT/dev" verify
check "the success is recorded with the certificate fingerprints" sh -c "'$FT' --home-dir '$HOME_DIR' records export --format json > '$TMP_ROOT/r.json' && test \"\$($PY -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if x[\"endpoint\"]==\"ep-ok\"]; print(len(r), r[0][\"state\"], len(r[0][\"cert_sha256\"]), len(r[0][\"cert_sha1\"]), len(r[0][\"bundle_sha256\"]))' '$TMP_ROOT/r.json')\" = '1 success 64 40 64'"

# --- to_file, then the device reads the file ------------------------------------------------
check "inject to_file writes a request frame" sh -c "'$FT' --home-dir '$HOME_DIR' inject --endpoint-name ep-file --serial-number SN-file to_file --output '$TMP_ROOT/req.bin' > '$TMP_ROOT/file.json' && test \"\$(stat -c %a '$TMP_ROOT/req.bin')\" = 600"
check "factory_client file answers the frame" "$FC" --storage "$TMP_ROOT/dev-file" file --input "$TMP_ROOT/req.bin" --output "$TMP_ROOT/resp.bin"
check "the recorded bundle_sha256 is the SHA-256 of the bundle in the written frame" sh -c "'$FT' --home-dir '$HOME_DIR' records export --format json | $PY -c 'import hashlib,json,sys; f=open(sys.argv[1],\"rb\").read(); n=int.from_bytes(f[8:12],\"little\"); cbor=f[12:12+n]; r=[x for x in json.load(sys.stdin) if x[\"endpoint\"]==\"ep-file\"]; h=hashlib.sha256(cbor).hexdigest(); sys.exit(0 if f[:8]==b\"mbedprov\" and len(f)==12+n+32 and f[12+n:].hex()==h and len(r)==1 and r[0][\"bundle_sha256\"]==h else 1)' '$TMP_ROOT/req.bin'"
check "to_file is recorded as written, not as success" sh -c "'$FT' --home-dir '$HOME_DIR' records list --endpoint ep-file | grep -q ' written '"

# --- 1021: nobody listens --------------------------------------------------------------------
start gone "$FAKE" close
GONE=$(ports gone)
kill $PID_gone; wait $PID_gone 2>/dev/null || true
expect 1021 refused tcp --ip 127.0.0.1 --port "$GONE" -t 5

# --- 1022: the device closes without answering (as the original does for a bad frame) -------
start closer "$FAKE" close
expect 1022 closed tcp --ip 127.0.0.1 --port "$(ports closer)" -t 5
check "1022 says the device rejected the frame" grep -q "without answering" "$TMP_ROOT/closed.json"

# --- 1022: the device closes in the middle of its answer --------------------------------------
start halfer "$FAKE" half "$O/ok.response.bin"
expect 1022 mid_answer tcp --ip 127.0.0.1 --port "$(ports halfer)" -t 5
check "the mid-answer close is named" grep -q "in the middle of its answer" "$TMP_ROOT/mid_answer.json"

# --- 1003: the device never answers (short -t) -----------------------------------------------
start silent "$FAKE" silent
expect 1003 silent tcp --ip 127.0.0.1 --port "$(ports silent)" -t 1

# --- 1002: the answer's SHA-256 is wrong -----------------------------------------------------
start corrupt "$FAKE" corrupt "$O/ok.response.bin"
expect 1002 checksum tcp --ip 127.0.0.1 --port "$(ports corrupt)" -t 5

# --- 1001: the device sends a status-only error frame (bad checksum seen by the device) ------
start status8 "$FAKE" status 8
expect 1001 status8 tcp --ip 127.0.0.1 --port "$(ports status8)" -t 5
check "1001 names the device's transport status" grep -q "INCONSISTENT_MESSAGE_SIGNATURE" "$TMP_ROOT/status8.json"
start status9 "$FAKE" status 9
expect 1001 disabled tcp --ip 127.0.0.1 --port "$(ports status9)" -t 5

# --- 1004: the device answers with an FCC error (recorded original answer, ReturnStatus 24) --
start fccerr "$FAKE" replay "$O/fcc_error_in_ok_frame.response.bin"
expect 1004 device_error tcp --ip 127.0.0.1 --port "$(ports fccerr)" -t 5
check "1004 carries the device error number" grep -q "error #24" "$TMP_ROOT/device_error.json"
check "nothing failed is recorded as success" sh -c "'$FT' --home-dir '$HOME_DIR' records export --format csv | $PY -c 'import csv,sys; rows=list(csv.DictReader(sys.stdin)); bad=[r for r in rows if r[\"state\"]==\"success\" and r[\"endpoint\"]!=\"ep-ok\"]; sys.exit(1 if bad or len(rows)<9 else 0)'"

# --- retries: a status-only integrity error is resent, and the same certificate goes out -----
start status5 "$FAKE" status 5
ft inject --retries 2 --endpoint-name ep-retry --serial-number SN-r tcp --ip 127.0.0.1 --port "$(ports status5)" -t 5 >"$TMP_ROOT/retry.json" 2>&1 || true
check "three tries are recorded for one attempt" sh -c "'$FT' --home-dir '$HOME_DIR' records export --format json | $PY -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x[\"endpoint\"]==\"ep-retry\"]; sys.exit(0 if len(r)==1 and r[0][\"tries\"]==3 and r[0][\"error_code\"]==1001 else 1)'"

# --- serial and file errors ------------------------------------------------------------------
expect 1011 not_a_tty serial --port /dev/null -t 2
any_port=no
for t in /dev/ttyUSB* /dev/ttyACM* /dev/ttyS* /dev/ttyAMA*; do [ -e "$t" ] && any_port=yes; done
if [ $any_port = yes ]; then
    expect 1014 no_such_port serial --port "$TMP_ROOT/no-such-tty" -t 2
else
    expect 1013 no_such_port serial --port "$TMP_ROOT/no-such-tty" -t 2
fi
expect 1000 unwritable to_file --output "$TMP_ROOT/no-such-dir/out.bin"
check "usage errors exit 2" sh -c "'$FT' --home-dir '$HOME_DIR' inject --serial-number x tcp --ip 127.0.0.1 > /dev/null 2>&1; test \$? = 2"

finish
