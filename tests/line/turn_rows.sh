#!/bin/sh
# inject-batch's records turns write their started rows and their final rows many to a
# statement (line_records_begin_many, line_records_finish_many). Every row must still be its own
# device's: a mixed list (TCP devices that succeed, file devices whose request frame is on disk,
# devices on a closed port that fail after their retries) in turns of every size, and every row
# compared with the device's own frame or result line.
# usage: turn_rows.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
N=400

start devs "$FC" --storage "$TMP_ROOT/devs" --devices 8 --forever tcp --port 0
PORTS=$(ports devs 8 | tr '\n' ' ')
start gone "$FAKE" close
GONE=$(ports gone)
kill $PID_gone; wait $PID_gone 2>/dev/null || true
mkdir "$TMP_ROOT/frames"

# Every 5th device writes its frame to a file, every 7th (not 5th) is unreachable; the others
# go to the eight simulated devices in turn.
$PY - "$TMP_ROOT" $N $GONE $PORTS > "$TMP_ROOT/devices.csv" <<'PY'
import sys
root, n, gone, ports = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
print("endpoint_name,serial_number,address")
for i in range(n):
    if i % 5 == 0:
        addr = "file:%s/frames/tr-%d.bin" % (root, i)
    elif i % 7 == 0:
        addr = "tcp:127.0.0.1:" + gone
    else:
        addr = "tcp:127.0.0.1:" + ports[i % len(ports)]
    print("tr-%d,SN-%d,%s" % (i, i, addr))
PY

ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 24 --retries 1 -t 10 \
    >"$TMP_ROOT/b.out" 2>/dev/null && rc=0 || rc=$?
check "the batch ends with the unreachable devices failed" test "$rc" = 1
check "summary counts" test "$(tail -n 1 "$TMP_ROOT/b.out" | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())["summary"]; print(s["devices"], s["succeeded"], s["failed"])')" = "$N 354 46"

check "every row is its own device's: frame, result line, state, tries, error" $PY - "$DB" "$TMP_ROOT/b.out" $N <<'PY'
import cbor2, hashlib, sqlite3, sys
db, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
import json
lines = {j["endpoint"]: j for j in map(json.loads, open(out).read().splitlines()[:-1])}
names = ("mbed.BootstrapDeviceCert", "mbed.LwM2MDeviceCert")
rows = sqlite3.connect(db).execute(
    "SELECT endpoint, serial, address, cert_sha256, cert_sha1, bundle_sha256, state, error_code,"
    " error_text, device_status, tries, started_at, finished_at FROM attempts").fetchall()
bad = []
seen = set()
for (ep, serial, address, sha256, sha1, bsha, state, code, text, dstatus, tries, t0, t1) in rows:
    i = int(ep[3:])
    line = lines.get(ep)
    ok = ep not in seen and line is not None and serial == "SN-%d" % i and address == line["address"]
    ok = ok and t0 is not None and t1 is not None and t0 <= t1 and tries == line["tries"]
    seen.add(ep)
    if i % 5 == 0:  # the frame on disk: its bundle, and the device certificate inside it
        f = open(address[5:], "rb").read()
        size = int.from_bytes(f[8:12], "little")
        bundle = f[12:12 + size]
        der = next(c["Data"] for c in cbor2.loads(bundle)["Certificates"] if c["Name"] in names)
        ok = ok and (state, code, dstatus, tries) == ("written", 0, None, 1)
        ok = ok and bsha == hashlib.sha256(bundle).hexdigest() == f[12 + size:].hex()
        ok = ok and (sha256, sha1) == (hashlib.sha256(der).hexdigest(), hashlib.sha1(der).hexdigest())
        ok = ok and sha256 == line["certSha256"]
    elif i % 7 == 0:  # never reached: failed after its two tries, no device status
        ok = ok and (state, code, dstatus, tries) == ("failed", 1021, None, 2)
        ok = ok and text == line["message"] and line["status"] == 1021
    else:  # the device's own answer, as its result line reports it
        ok = ok and (state, code, tries) == ("success", 0, 1) and line["status"] == 0
        ok = ok and dstatus == line["deviceResponse"]["status"] and sha256 == line["certSha256"]
        ok = ok and text == line["message"] and len(sha1) == 40 and len(bsha) == 64
    if not ok:
        bad.append(ep)
print(len(rows), "rows,", len(bad), "bad", bad[:5])
sys.exit(1 if bad or len(rows) != n or len(seen) != n else 0)
PY
check "no row is left started" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts WHERE state='started'")" = 0
check "the ledger verifies (an issued and an outcome entry per device)" ft ledger verify
finish
