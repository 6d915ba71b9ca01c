#!/bin/sh
# prepare-batch at scale: a batch killed with SIGKILL in the middle loses nothing it reported
# (every reported device has its bundle and its row, bundles written before their rows commit)
# and resumes; --out FILE.tar holds the same bundles per-file output does, unpacked with tar.
# usage: prepare_batch.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
N=20000
$PY -c 'import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1])): print("pb-%06d,SN-%d,tcp:127.0.0.1:1" % (i, i))' $N > "$TMP_ROOT/many.csv"

# The bundles on disk against the records: every reported device has a file and a row with the
# file's SHA-256; with "all", every file has such a row too (after a resume).
cat > "$TMP_ROOT/agree.py" <<'PY'
import hashlib, json, os, sqlite3, sys
db, out, report, mode = sys.argv[1:5]
rows = {}
for ep, sha in sqlite3.connect(db).execute(
        "SELECT endpoint, bundle_sha256 FROM attempts WHERE state='prepared' ORDER BY id"):
    rows.setdefault(ep, set()).add(sha)
reported = [json.loads(l)["endpoint"] for l in open(report) if l.startswith('{"endpoint"')]
files = {f[:-5]: hashlib.sha256(open(os.path.join(out, f), "rb").read()).hexdigest()
         for f in os.listdir(out) if f.endswith(".cbor")}
bad = [ep for ep in reported if ep not in files or files[ep] not in rows.get(ep, ())]
if mode == "all":
    bad += [ep for ep in files if files[ep] not in rows.get(ep, ())]
print(len(reported), "reported,", len(files), "files,", len(rows), "with rows,", len(bad), "bad")
sys.exit(1 if bad or not reported or (mode == "all" and len(files) != int(sys.argv[5])) else 0)
PY

"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/many.csv" --out "$TMP_ROOT/b" \
    --jobs 2 >"$TMP_ROOT/k1.out" 2>/dev/null &
KPID=$!
i=0
until [ "$(grep -c '"endpoint"' "$TMP_ROOT/k1.out" 2>/dev/null)" -ge 1000 ]; do
    i=$((i + 1)); [ $i -lt 1200 ] || break
    sleep 0.05
done
kill -KILL $KPID; wait $KPID 2>/dev/null || true
check "the batch was killed before it finished" sh -c "! grep -q summary '$TMP_ROOT/k1.out'"
check "every device reported before the kill has its bundle and its row" \
    $PY "$TMP_ROOT/agree.py" "$DB" "$TMP_ROOT/b" "$TMP_ROOT/k1.out" reported
check "the resumed batch prepares every device" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/many.csv' --out '$TMP_ROOT/b' > '$TMP_ROOT/k2.out' && tail -n 1 '$TMP_ROOT/k2.out' | grep -q '\"succeeded\": $N, \"failed\": 0'"
check "after the resume every bundle file has its row" \
    $PY "$TMP_ROOT/agree.py" "$DB" "$TMP_ROOT/b" "$TMP_ROOT/k2.out" all $N
# The rows are inserted many to a statement: each row's certificate hashes and serial are those of
# the device certificate inside its own bundle (a column or row shifted in the statement fails).
check "every row's certificate hashes and serial are its own bundle's" $PY -c '
import cbor2, hashlib, os, sqlite3, sys
db, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ("mbed.BootstrapDeviceCert", "mbed.LwM2MDeviceCert")
bad = checked = 0
for ep, serial, sha256, sha1, bsha in sqlite3.connect(db).execute(
        "SELECT endpoint, serial, cert_sha256, cert_sha1, bundle_sha256 FROM attempts"
        " WHERE state=?", ("prepared",)):
    raw = open(os.path.join(out, ep + ".cbor"), "rb").read()
    if hashlib.sha256(raw).hexdigest() != bsha:
        continue  # an earlier attempt of the device (killed batch): its bundle was replaced
    der = next(c["Data"] for c in cbor2.loads(raw)["Certificates"] if c["Name"] in names)
    checked += 1
    bad += ((hashlib.sha256(der).hexdigest(), hashlib.sha1(der).hexdigest()) != (sha256, sha1)
            or serial != "SN-%d" % int(ep[3:]))
print(checked, "rows checked,", bad, "bad")
sys.exit(1 if bad or checked != n else 0)' "$DB" "$TMP_ROOT/b" $N
# The device lines are written directly (not through jansson): byte for byte jansson's layout.
check "every device line is laid out as json.dumps writes it" $PY -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()[:-1]
sys.exit(not lines or any(json.dumps(json.loads(l)) != l for l in lines))' "$TMP_ROOT/k2.out"
check "no stale .tmp file is left" sh -c "! ls '$TMP_ROOT/b' | grep -q tmp"

# --- one archive per batch ------------------------------------------------------------------
head -n 301 "$TMP_ROOT/many.csv" > "$TMP_ROOT/some.csv"
ft prepare-batch --devices "$TMP_ROOT/some.csv" --out "$TMP_ROOT/files" --no-records >/dev/null
check "--out FILE.tar writes one archive" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/some.csv' --out '$TMP_ROOT/some.tar' > '$TMP_ROOT/t.out' && test \$(ls '$TMP_ROOT' | grep -c '^pb-') = 0 && test \"\$(stat -c %a '$TMP_ROOT/some.tar')\" = 600"
mkdir "$TMP_ROOT/unpacked"
check "tar lists one 0600 entry per device" sh -c "tar -tvf '$TMP_ROOT/some.tar' | grep -c '^-rw------- .* pb-[0-9]*\.cbor\$' | grep -qx 300"
check "tar unpacks it" tar -xf "$TMP_ROOT/some.tar" -C "$TMP_ROOT/unpacked"
check "the archive holds the bundles per-file output has" sh -c "cd '$TMP_ROOT' && ls files > f.txt && ls unpacked > u.txt && cmp f.txt u.txt"
check "each archived bundle is the one recorded" \
    $PY "$TMP_ROOT/agree.py" "$DB" "$TMP_ROOT/unpacked" "$TMP_ROOT/t.out" all 300
check "archived and per-file bundles carry the same items and configuration" $PY -c '
import cbor2, os, sys
a, b = sys.argv[1:3]
def shape(path):
    d = cbor2.loads(open(path, "rb").read())
    # Keys and device certificates are new per run, the time is the time of preparing.
    same = lambda e, g: (g == "ConfigParams" and e["Name"] != "mbed.CurrentTime") or "Server" in e["Name"]
    return {g: sorted((e["Name"], e["Data"] if same(e, g) else type(e["Data"]).__name__)
                      for e in v) if isinstance(v, list)
            else v[:20] if g == "SID" else v for g, v in d.items()}  # SID: fcu-, endpoint hash, random
bad = [f for f in os.listdir(a) if shape(os.path.join(a, f)) != shape(os.path.join(b, f))]
print(len(bad), "differ"); sys.exit(1 if bad else 0)' "$TMP_ROOT/files" "$TMP_ROOT/unpacked"
check "an existing archive is not overwritten" sh -c "! '$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/some.csv' --out '$TMP_ROOT/some.tar' > '$TMP_ROOT/t2.out' 2>&1 && grep -q 'File exists' '$TMP_ROOT/t2.out' && tar -tf '$TMP_ROOT/some.tar' | wc -l | grep -qx 300"
finish
