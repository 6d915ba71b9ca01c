#!/bin/sh
# PostgreSQL restarted (pg_ctl restart -m fast, as its own user) in the middle of an
# inject-batch whose records are on it: the station's connections reconnect once (PQreset)
# and send the broken statement again, so every device is recorded exactly once, none failed,
# the ledger holds.
# usage: records_pg_restart.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/pg_begin.sh"
N=900
start devs "$FC" --storage "$TMP_ROOT/devs" --devices 16 --forever tcp --port 0
ports devs 16 > "$TMP_ROOT/ports"
$PY - "$TMP_ROOT/ports" $N > "$TMP_ROOT/list.csv" <<'PY'
import sys
ports = open(sys.argv[1]).read().split()
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[2])):
    print("rs-%05d,SN-%d,tcp:127.0.0.1:%s" % (i, i, ports[i % len(ports)]))
PY
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/list.csv" --parallel 16 \
    --retries 1 -t 30 --station st-r --records-db "$DB" > "$TMP_ROOT/b.out" 2>&1 &
PB=$!
i=0
while [ "$(q "SELECT count(*) FROM attempts WHERE state='success'" 2>/dev/null || echo 0)" -lt 150 ] &&
    [ $i -lt 600 ]; do
    sleep 0.05; i=$((i + 1))
done
BEFORE=$(q "SELECT count(*) FROM attempts WHERE state='success'")
$RUN "$PGBIN/pg_ctl" -D "$PG_DATA" -w -t 60 -m fast restart >/dev/null 2>&1 || echo "restart failed"
echo "PostgreSQL restarted after $BEFORE of $N devices"
wait $PB && RC=0 || RC=$?
check "the restart came mid-run" test "$BEFORE" -lt $N
check "inject-batch ended with exit 0" test "$RC" -eq 0
check "every endpoint has exactly one success row" test "$(q "SELECT count(*) FROM (SELECT endpoint
      FROM attempts WHERE state='success' GROUP BY endpoint HAVING count(*) = 1) o")" -eq $N
check "no attempt row twice, none failed or left started" test \
    "$(q "SELECT count(*) FROM attempts")" -eq $N -a \
    "$(q "SELECT count(*) FROM attempts WHERE state <> 'success'")" -eq 0
check "every device in the summary succeeded" grep -q "\"succeeded\": $N, \"failed\": 0" "$TMP_ROOT/b.out"
check "ledger verify holds" "$FT" --home-dir "$HOME_DIR" ledger verify --records-db "$DB"
# prepare-batch writes many devices' rows in one transaction: a restart under it loses the
# open group, and those devices must be reported failed, never prepared without their row.
M=6000
$PY - $M > "$TMP_ROOT/prep.csv" <<'PY'
import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1])):
    print("pp-%05d,SN-P%d,tcp:127.0.0.1:1" % (i, i))
PY
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/prep.csv" --out "$TMP_ROOT/prep" \
    --jobs 1 --station st-p --records-db "$DB" > "$TMP_ROOT/p.out" 2>&1 &
PB=$!
i=0
while [ "$(q "SELECT count(*) FROM attempts WHERE endpoint LIKE 'pp-%'" 2>/dev/null || echo 0)" \
    -lt 300 ] && [ $i -lt 600 ]; do
    sleep 0.02; i=$((i + 1))
done
kill -0 $PB 2>/dev/null && RUNNING=yes || RUNNING=no
$RUN "$PGBIN/pg_ctl" -D "$PG_DATA" -w -t 60 -m fast restart >/dev/null 2>&1 || echo "restart failed"
wait $PB || true
REPORTED=$(grep -c '"result": "prepared"' "$TMP_ROOT/p.out")
STORED=$(q "SELECT count(DISTINCT endpoint) FROM attempts WHERE endpoint LIKE 'pp-%' AND state='prepared'")
echo "prepare-batch: $REPORTED of $M reported prepared, $STORED with a prepared row"
check "prepare-batch: the restart came mid-run" test "$RUNNING" = yes
grep '"result": "prepared"' "$TMP_ROOT/p.out" | sed 's/.*"endpoint": "\([^"]*\)".*/\1/' |
    sort > "$TMP_ROOT/p.reported"
q "SELECT DISTINCT endpoint FROM attempts WHERE endpoint LIKE 'pp-%' AND state='prepared'" |
    sort > "$TMP_ROOT/p.stored"
check "prepare-batch: every device reported prepared has its row" \
    test -z "$(comm -23 "$TMP_ROOT/p.reported" "$TMP_ROOT/p.stored")"
if [ "$FAILED" -ne 0 ]; then # what went wrong: the first failed lines, the states
    grep -v '"status": 0' "$TMP_ROOT/b.out" | head -5
    q "SELECT state, error_code, count(*) FROM attempts GROUP BY 1, 2"
fi
finish
