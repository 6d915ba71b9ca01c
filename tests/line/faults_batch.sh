#!/bin/sh
# inject-batch of COUNT devices against 32 simulated devices with faults (issue 15):
# factory_client --devices 32 --faults drop=0.02,corrupt=0.02,close=0.01,power-cut=0.01,seed=7.
# At the end every device is provisioned once (records, ledger and device storage agree) or
# recorded failed with its numbered code; no endpoint has two certificates.
# usage: faults_batch.sh FT FC FAKE SRC VECTORS COUNT
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5 COUNT=${6:-200}
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
sql() { sqlite3 "$DB" "$1"; }
SPEC=${KILN_TEST_FAULTS:-drop=0.02,corrupt=0.02,close=0.01,power-cut=0.01,seed=7}

start devs "$FC" --flash "$TMP_ROOT/flash" --devices 32 --forever --faults "$SPEC" tcp --port 0
PORTS=$(ports devs 32 | tr '\n' ' ')
$PY - "$COUNT" $PORTS > "$TMP_ROOT/devices.csv" <<'PYEOF'
import sys
n, ports = int(sys.argv[1]), sys.argv[2:]
print("endpoint_name,serial_number,address")
for i in range(n):
    print("fb-%d,SN-fb-%d,tcp:127.0.0.1:%s" % (i, i, ports[i % len(ports)]))
PYEOF
ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 32 --retries 4 -t 2 >"$TMP_ROOT/b.out" 2>"$TMP_ROOT/b.err" || true
kill "$PID_devs"; wait "$PID_devs" 2>/dev/null || true

check "one JSON line per device plus a summary" test "$(wc -l < "$TMP_ROOT/b.out")" = $((COUNT + 1))
check "the faults happened" sh -c "grep -q 'answer dropped' '$TMP_ROOT/devs.err' && grep -q 'flipped' '$TMP_ROOT/devs.err' && grep -q 'link closed after' '$TMP_ROOT/devs.err' && grep -q 'power cut' '$TMP_ROOT/devs.err'"
$PY - "$TMP_ROOT/b.out" "$COUNT" > "$TMP_ROOT/outcomes" <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[-1]["summary"]
ok = [j["endpoint"] for j in lines[:-1] if j["status"] == 0]
bad = [(j["endpoint"], j["status"]) for j in lines[:-1] if j["status"] != 0]
assert s["devices"] == int(sys.argv[2]) and s["succeeded"] == len(ok) and s["failed"] == len(bad), s
assert all(code >= 1000 for _, code in bad), bad
for e in ok: print(e, 0)
for e, c in bad: print(e, c)
PYEOF
check "every device is succeeded or failed with a numbered code" test "$(wc -l < "$TMP_ROOT/outcomes")" = "$COUNT"
SUCC=$(awk '$2 == 0' "$TMP_ROOT/outcomes" | wc -l)
echo "# $SUCC of $COUNT provisioned; failures by code: $(awk '$2 != 0 {print $2}' "$TMP_ROOT/outcomes" | sort | uniq -c | tr '\n' ' ')"
# The CSV sends ~COUNT/32 endpoints to each simulated device, so jobs queue behind a held
# (dropped) answer and on a loaded machine some run out of tries (1003, 1021): the yield is not
# the point here (a quiet run provisions 1,999 of 2,000), only that the line does not give up.
check "at least half the devices are provisioned despite the faults" test "$SUCC" -ge $((COUNT / 2))
check "the records agree: one success row per provisioned endpoint" test "$(sql "SELECT COUNT(*) FROM attempts WHERE state='success'")" = "$SUCC"
check "no endpoint has two success rows" test "$(sql "SELECT COUNT(*) FROM (SELECT endpoint FROM attempts WHERE state='success' GROUP BY endpoint HAVING COUNT(*) > 1)")" = 0
check "every failed endpoint is recorded failed with its code" sh -c "awk '\$2 != 0 {print \$1, \$2}' '$TMP_ROOT/outcomes' | sort > '$TMP_ROOT/f1' && sqlite3 -separator ' ' '$DB' \"SELECT endpoint, error_code FROM attempts a WHERE state='failed' AND id = (SELECT MAX(id) FROM attempts b WHERE b.endpoint=a.endpoint)\" | sort > '$TMP_ROOT/f2' && cmp '$TMP_ROOT/f1' '$TMP_ROOT/f2'"
check "no row was lost: every endpoint has its final row" test "$(sql "SELECT COUNT(DISTINCT endpoint) FROM attempts WHERE state IN ('success','failed')")" = "$COUNT"
check "the ledger verifies" ft ledger verify
check "no endpoint has two certificates in the ledger" test "$(sql "SELECT COUNT(*) FROM (SELECT endpoint FROM ledger WHERE kind='certificate' GROUP BY endpoint HAVING COUNT(DISTINCT cert_sha256) > 1)")" = 0
check "each provisioned endpoint's certificate is in the ledger" test "$(sql "SELECT COUNT(*) FROM attempts a WHERE state='success' AND EXISTS (SELECT 1 FROM ledger l WHERE l.kind='certificate' AND l.endpoint=a.endpoint AND lower(hex(l.cert_sha256))=a.cert_sha256)")" = "$SUCC"
check "one success outcome in the ledger per provisioned endpoint" test "$(sql "SELECT COUNT(DISTINCT endpoint) FROM ledger WHERE kind='outcome' AND outcome='success'")" = "$SUCC"

# Device storage: each of the 32 flash stores mounts again and holds the last device it served;
# a configured one carries the certificate of its endpoint's last attempt in the records (a
# success, or a failure whose answer was lost after the device stored it).
agree=0 configured=0
for i in $(seq 0 31); do
    f="$TMP_ROOT/flash.$i"
    "$FC" --flash "$f" list >/dev/null 2>&1 || { fail "flash.$i does not mount"; continue; }
    "$FC" --flash "$f" verify >/dev/null 2>&1 || continue
    configured=$((configured + 1))
    "$FC" --flash "$f" get mbed.BootstrapDeviceCert > "$TMP_ROOT/c.der" 2>/dev/null || continue
    cn=$(openssl x509 -inform der -in "$TMP_ROOT/c.der" -noout -subject | sed 's/.*CN *= *//')
    h=$(sha256sum "$TMP_ROOT/c.der" | cut -d' ' -f1)
    last=$(sql "SELECT state || ' ' || cert_sha256 FROM attempts WHERE endpoint='$cn' AND state IN ('success','failed') ORDER BY id DESC LIMIT 1")
    case "$last" in "success $h" | "failed $h") agree=$((agree + 1)) ;; esac
done
echo "# $configured of 32 device stores configured, $agree agree with the records"
check "every configured device store agrees with the records" test "$agree" = "$configured"
check "most device stores are configured" test "$configured" -ge 24

finish
