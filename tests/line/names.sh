#!/bin/sh
# Endpoint names from the device CSV follow the shared rule (src/common/kiln_endpoint_name.h)
# and the exports stay safe to open: every case of tests/data/endpoint_names.txt through
# prepare-batch (refused names: error 1000 naming the line and the reason, the name hex-escaped,
# nothing written, nothing recorded), inject-batch refusing a formula and a non-UTF-8 name
# before any device is contacted, `records export --format csv` quoting every field and
# neutralising formula prefixes, and `records export --format json` keeping the "endpoint" of a
# row whose name is not UTF-8.
# usage: names.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
CASES="$SRC/../data/endpoint_names.txt"
sql() { sqlite3 "$DB" "$1"; }

# One prepare-batch per case of the rule's data file. The CSV quotes the name (so commas, quotes
# and line ends stay inside the field); names with a NUL or surrounding blanks are left out: a
# device list cannot hold a NUL, and the CSV reader trims blanks around fields.
$PY - "$FT" "$HOME_DIR" "$CASES" "$TMP_ROOT" > "$TMP_ROOT/cases.out" 2>&1 <<'PYEOF' && rc=0 || rc=$?
import json, os, subprocess, sys
ft, home, cases, tmp = sys.argv[1:5]
texts = {"EMPTY": "is empty", "TOO_LONG": "is longer than 64 bytes",
         "NOT_UTF8": "is not valid UTF-8", "CONTROL": "contains a control character",
         "FORMULA_PREFIX": "starts with = + - or @"}
bad = 0
ran = 0
for n, raw in enumerate(open(cases, encoding="utf-8")):
    raw = raw.strip()
    if not raw or raw.startswith("#"):
        continue
    verdict, hexname = raw.split()
    name = b"" if hexname == "-" else bytes.fromhex(hexname)
    if b"\0" in name or name != name.strip(b" \t"):
        continue
    ran += 1
    csv = os.path.join(tmp, "case%d.csv" % n)
    out = os.path.join(tmp, "out%d" % n)
    with open(csv, "wb") as f:
        f.write(b"endpoint_name,serial_number\n\"" + name.replace(b'"', b'""') + b"\",SN-%d\n" % n)
    p = subprocess.run([ft, "--home-dir", home, "prepare-batch", "--devices", csv, "--out", out],
                       capture_output=True)
    file_name_ok = name and not name.startswith(b".") and b"/" not in name and b"\\" not in name
    if verdict == "OK" and file_name_ok:
        ok = p.returncode == 0 and os.path.exists(os.path.join(out, name.decode() + ".cbor"))
        why = "accepted"
    else:
        try:
            msg = json.loads(p.stdout.decode("utf-8"))["message"]
        except (ValueError, KeyError):
            msg = None
        reason = texts[verdict] if verdict != "OK" else "is not usable as a file name"
        raw_bytes = any(b < 0x20 or b == 0x7f for b in p.stdout.rstrip(b"\n")) or \
            (verdict == "NOT_UTF8" and any(b >= 0x80 for b in p.stdout))
        ok = (p.returncode == 1 and msg is not None and msg.startswith("General error") and
              "line 2: endpoint name" in msg and reason in msg and not raw_bytes and
              not os.path.exists(out))
        if verdict in ("NOT_UTF8", "CONTROL"):
            ok = ok and "\\x" in msg
        why = "refused (%s)" % reason
    print("%s - %s %s %s" % ("ok" if ok else "not ok", verdict, hexname, why))
    if not ok:
        print("    rc=%d out=%r err=%r" % (p.returncode, p.stdout, p.stderr))
        bad += 1
print("%d cases run" % ran)
sys.exit(1 if bad or ran < 20 else 0)
PYEOF
cat "$TMP_ROOT/cases.out"
check "prepare-batch applies the endpoint-name rule to every case of the data file" test "$rc" = 0
check "refused device lists recorded nothing" test "$(sql 'SELECT COUNT(*) FROM attempts WHERE state != "prepared"')" = 0

# inject-batch refuses the same names before any device is contacted (nothing listens on :1).
printf 'endpoint_name,serial_number,address\nok-1,SN-1,tcp:127.0.0.1:1\n=cmd|x!A1,SN-2,tcp:127.0.0.1:1\n' > "$TMP_ROOT/formula.csv"
ft inject-batch --devices "$TMP_ROOT/formula.csv" > "$TMP_ROOT/formula.out" 2>/dev/null && rc=0 || rc=$?
check "inject-batch refuses a formula endpoint with 1000 and the reason" sh -c "test $rc = 1 && grep -q '\"status\": 1000' '$TMP_ROOT/formula.out' && grep -q 'line 3: endpoint name .=cmd|x!A1. starts with = + - or @' '$TMP_ROOT/formula.out'"
printf 'endpoint_name,serial_number,address\nZ\374rich,SN-1,tcp:127.0.0.1:1\n' > "$TMP_ROOT/latin1.csv"
ft inject-batch --devices "$TMP_ROOT/latin1.csv" > "$TMP_ROOT/latin1.out" 2>/dev/null && rc=0 || rc=$?
check "inject-batch refuses a non-UTF-8 endpoint, the byte hex-escaped" sh -c "test $rc = 1 && grep -qF 'Z\\\\xfcrich' '$TMP_ROOT/latin1.out' && grep -q 'is not valid UTF-8' '$TMP_ROOT/latin1.out' && ! LC_ALL=C grep -q \"\$(printf '\\374')\" '$TMP_ROOT/latin1.out'"
check "no device was contacted" test "$(sql "SELECT COUNT(*) FROM attempts WHERE endpoint IN ('ok-1', 'SN-1')")" = 0

# Duplicates are found with a hash set: 100,000 rows with a repeat on the last line are refused at
# once (every earlier row compared by strcmp took ~20 s; 5 s leaves room for a loaded machine).
$PY -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write("endpoint_name,serial_number\n")
    f.writelines("big-%d,SN-%d\n" % (i, i) for i in range(100000))
    f.write("big-17,SN-again\n")' "$TMP_ROOT/big.csv"
t0=$(date +%s.%N)
ft verify-batch --devices "$TMP_ROOT/big.csv" --answers "$TMP_ROOT/none" --no-records > "$TMP_ROOT/big.out" 2>&1 || true
t1=$(date +%s.%N)
check "a duplicate on line 100,002 is found (the first on line 19)" grep -q 'line 100002: endpoint big-17 already listed on line 19' "$TMP_ROOT/big.out"
check "100,000 rows are checked for duplicates in under 5 s" $PY -c 'import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) < 5 else 1)' "$t0" "$t1"

# An older database may hold any name: the exports must still be safe. Rows written the way an
# earlier version (or another tool) could have.
sql "INSERT INTO attempts(endpoint, serial, state, error_code, error_text, started_at) VALUES('=cmd|x!A1', '+SN', 'failed', 1000, '@SUM(A1)', '2026-01-01T00:00:00Z')"
sql "INSERT INTO attempts(endpoint, serial, state, started_at) VALUES(CAST(X'5afc72696368' AS TEXT), 'SN-z', 'failed', '2026-01-01T00:00:00Z')"
ft records export --format csv > "$TMP_ROOT/export.csv"
check "records export csv quotes every field of every line" $PY -c '
import re, sys
lines = open(sys.argv[1], "rb").read().decode("utf-8", "replace").splitlines()
field = r"\"(?:[^\"]|\"\")*\""
sys.exit(0 if len(lines) >= 3 and all(re.fullmatch(field + "(," + field + ")*", l) for l in lines) else 1)' "$TMP_ROOT/export.csv"
check "formula prefixes are neutralised with a quote inside the field" $PY -c '
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1], encoding="utf-8", errors="replace")) if r["serial"] == "'"'"'+SN"]
sys.exit(0 if len(rows) == 1 and rows[0]["endpoint"] == "'"'"'=cmd|x!A1" and rows[0]["error_text"] == "'"'"'@SUM(A1)" else 1)' "$TMP_ROOT/export.csv"
check "no field of the export starts with a formula character" $PY -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", errors="replace")))
sys.exit(0 if all(not f or f[0] not in "=+-@\t\r" for r in rows for f in r) else 1)' "$TMP_ROOT/export.csv"
ft records export --format json > "$TMP_ROOT/export.json"
check "records export json keeps the endpoint of a non-UTF-8 name, escaped" $PY -c '
import json, sys
rows = json.load(open(sys.argv[1]))
sys.exit(0 if all("endpoint" in r for r in rows) and any(r["endpoint"] == "Z\\xfcrich" for r in rows) else 1)' "$TMP_ROOT/export.json"

finish
