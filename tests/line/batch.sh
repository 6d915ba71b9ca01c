#!/bin/sh
# inject-batch against several simulated devices in one factory_client process: one JSON line
# per device, a summary, retries, no second certificate, the split sub-steps, the records
# commands, and a batch killed with SIGKILL that resumes.
# usage: batch.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"

start devs "$FC" --storage "$TMP_ROOT/devs" --devices 3 --forever tcp --port 0
set -- $(ports devs 3)
P1=$1 P2=$2 P3=$3
start gone "$FAKE" close
GONE=$(ports gone)
kill $PID_gone; wait $PID_gone 2>/dev/null || true

{
    echo "endpoint_name,serial_number,address"
    i=0
    for p in $P1 $P2 $P3 $P1 $P2 $P3; do i=$((i + 1)); echo "ep-$i,SN-$i,tcp:127.0.0.1:$p"; done
    echo "\"ep-7\",\"SN, with comma\",tcp:127.0.0.1:$GONE"
} > "$TMP_ROOT/devices.csv"

ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 4 --retries 2 -t 10 >"$TMP_ROOT/b1.out" 2>"$TMP_ROOT/b1.err" && rc=0 || rc=$?
check "the batch fails because one device is unreachable" test "$rc" = 1
check "one JSON line per device plus a summary" test "$(wc -l < "$TMP_ROOT/b1.out")" = 8
check "summary counts" test "$(tail -n 1 "$TMP_ROOT/b1.out" | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())["summary"]; print(s["devices"], s["succeeded"], s["failed"], s["skipped"])')" = "7 6 1 0"
check "the unreachable device was retried and reported with 1021" sh -c "grep '\"ep-7\"' '$TMP_ROOT/b1.out' | $PY -c 'import json,sys; j=json.loads(sys.stdin.read()); sys.exit(0 if j[\"status\"]==1021 and j[\"tries\"]==3 and j[\"serial\"]==\"SN, with comma\" else 1)'"
# Device lines without text to escape are written directly: byte for byte jansson's layout.
check "every device line is laid out as json.dumps writes it" $PY -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()[:-1]
dr = [l for l in lines if "deviceResponse" in l and "certSha256" in l]
sys.exit(len(dr) < 6 or any(json.dumps(json.loads(l)) != l for l in lines))' "$TMP_ROOT/b1.out"
check "no progress bar when stderr is not a terminal" sh -c "! grep -q '\[#' '$TMP_ROOT/b1.err'"
check "the records path is printed" grep -q "records: $DB" "$TMP_ROOT/b1.err"

# Again: the six provisioned devices are skipped (no second certificate), ep-7 is tried again.
ft inject-batch --devices "$TMP_ROOT/devices.csv" --retries 0 -t 10 >"$TMP_ROOT/b2.out" 2>/dev/null || true
check "provisioned endpoints are skipped" test "$(tail -n 1 "$TMP_ROOT/b2.out" | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())["summary"]; print(s["succeeded"], s["failed"], s["skipped"])')" = "0 1 6"
check "skipped lines are laid out as json.dumps writes them" $PY -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()[:-1]
sys.exit(len(lines) != 7 or any(json.dumps(json.loads(l)) != l for l in lines))' "$TMP_ROOT/b2.out"
check "one certificate per endpoint so far" test "$(sqlite3 "$DB" "SELECT COUNT(DISTINCT cert_sha256) FROM attempts WHERE state='success'")" = 6

# --reprovision issues new certificates.
head -n 2 "$TMP_ROOT/devices.csv" > "$TMP_ROOT/one.csv"
check "--reprovision provisions again" sh -c "'$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/one.csv' --reprovision > '$TMP_ROOT/b3.out' 2>/dev/null"
check "ep-1 now has two verified certificates" test "$(sqlite3 "$DB" "SELECT COUNT(DISTINCT cert_sha256) FROM attempts WHERE endpoint='ep-1' AND state='success'")" = 2
# On a terminal (a pty from script(1)) the batch draws its progress bar on stderr; ep-1 is
# skipped this time, so nothing is provisioned again.
script -qec "'$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/one.csv'" /dev/null >"$TMP_ROOT/tty.out" 2>&1 || true
check "a progress bar is drawn when stderr is a terminal" grep -q '\[#\{30\}\] 1/1 ok 0 failed 0 skipped 1' "$TMP_ROOT/tty.out"

# records commands
check "records list shows every attempt" sh -c "'$FT' --home-dir '$HOME_DIR' records list | grep -c ' success ' | grep -qx 7"
check "records show gives one device's attempts" sh -c "'$FT' --home-dir '$HOME_DIR' records show ep-7 | $PY -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if len(r)==2 and all(x[\"state\"]==\"failed\" and x[\"error_code\"]==1021 for x in r) else 1)'"
check "records export csv has a header and every row" sh -c "'$FT' --home-dir '$HOME_DIR' records export --format csv | $PY -c 'import csv,sys; r=list(csv.DictReader(sys.stdin)); sys.exit(0 if len(r)==int(sys.argv[1]) and r[0][\"cert_sha1\"] else 1)' \$(sqlite3 '$DB' 'SELECT COUNT(*) FROM attempts')"
check "records show of an unknown endpoint fails with 1000" sh -c "! '$FT' --home-dir '$HOME_DIR' records show nobody > '$TMP_ROOT/nobody.json' && grep -q '\"status\": 1000' '$TMP_ROOT/nobody.json'"
check "the database is in WAL mode" test "$(sqlite3 "$DB" 'PRAGMA journal_mode')" = wal

# Bad device lists: numbered error naming the line.
printf 'endpoint_name,serial_number,address\nep-a,SN-a,tcp:127.0.0.1:1\nep-a,SN-b,tcp:127.0.0.1:1\n' > "$TMP_ROOT/dup.csv"
check "a duplicate endpoint is refused with 1000 and its line" sh -c "! '$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/dup.csv' > '$TMP_ROOT/dup.json' 2>/dev/null && grep -q 'line 3: endpoint ep-a already listed on line 2' '$TMP_ROOT/dup.json'"
printf 'endpoint_name,serial_number,address\nep-a,SN-a,udp:x:1\n' > "$TMP_ROOT/badaddr.csv"
check "a bad address fails that device only" sh -c "! '$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/badaddr.csv' > '$TMP_ROOT/badaddr.out' 2>/dev/null && grep -q 'must start with tcp:, serial: or file:' '$TMP_ROOT/badaddr.out'"

# --- split sub-steps: prepare-batch, write, verify-batch -------------------------------------
{
    echo "endpoint_name,serial_number,address"
    echo "sp-1,SN-s1,tcp:127.0.0.1:$P1"
    echo "sp-2,SN-s2,tcp:127.0.0.1:$P2"
    echo "sp-3,SN-s3,tcp:127.0.0.1:$P3"
} > "$TMP_ROOT/split.csv"
check "prepare-batch makes one bundle per device" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/split.csv' --out '$TMP_ROOT/bundles' --jobs 2 > '$TMP_ROOT/p.out' && test \$(ls '$TMP_ROOT/bundles' | wc -l) = 3 && test \"\$(stat -c %a '$TMP_ROOT/bundles/sp-2.cbor')\" = 600"
check "write carries them and stores the answers" sh -c "'$FT' --home-dir '$HOME_DIR' write --devices '$TMP_ROOT/split.csv' --bundles '$TMP_ROOT/bundles' --answers '$TMP_ROOT/answers' > '$TMP_ROOT/w.out' 2>/dev/null && test \$(ls '$TMP_ROOT/answers' | wc -l) = 3"
check "nothing is a success before verify-batch" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts WHERE endpoint LIKE 'sp-%' AND state='success'")" = 0
check "verify-batch verifies every answer" sh -c "'$FT' --home-dir '$HOME_DIR' verify-batch --devices '$TMP_ROOT/split.csv' --answers '$TMP_ROOT/answers' > '$TMP_ROOT/v.out'"
check "verified devices carry the prepared certificate's fingerprint" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts a WHERE a.endpoint LIKE 'sp-%' AND a.state='success' AND a.cert_sha256 = (SELECT cert_sha256 FROM attempts p WHERE p.endpoint=a.endpoint AND p.state='prepared')")" = 3
cp "$VECTORS/fcc-oracle/env_scheme_wrong.resp.cbor" "$TMP_ROOT/answers/sp-3.cbor"
check "a failed answer is not recorded as success" sh -c "! '$FT' --home-dir '$HOME_DIR' verify-batch --devices '$TMP_ROOT/split.csv' --answers '$TMP_ROOT/answers' > '$TMP_ROOT/v2.out' && grep '\"sp-3\"' '$TMP_ROOT/v2.out' | grep -q '\"status\": 1004'"
check "prepare-batch skips provisioned devices" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/split.csv' --out '$TMP_ROOT/b2' > '$TMP_ROOT/p2.out' && tail -n 1 '$TMP_ROOT/p2.out' | grep -q '\"skipped\": 3'"

# --- SIGKILL in the middle of a batch, then resume ------------------------------------------
start silent "$FAKE" silent
S=$(ports silent)
{
    echo "endpoint_name,serial_number,address"
    echo "k-1,SN-k1,tcp:127.0.0.1:$P1"
    echo "k-2,SN-k2,tcp:127.0.0.1:$P2"
    echo "k-3,SN-k3,tcp:127.0.0.1:$S"
    echo "k-4,SN-k4,tcp:127.0.0.1:$P3"
} > "$TMP_ROOT/kill.csv"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/kill.csv" --parallel 1 -t 600 >"$TMP_ROOT/k1.out" 2>/dev/null &
KPID=$!
i=0
until [ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts WHERE endpoint='k-3' AND state='started'" 2>/dev/null)" = 1 ]; do
    i=$((i + 1)); [ $i -lt 600 ] || break
    sleep 0.05
done
kill -KILL $KPID; wait $KPID 2>/dev/null || true
check "k-3 was in progress when the batch was killed" test "$(sqlite3 "$DB" "SELECT state FROM attempts WHERE endpoint='k-3'")" = started
sed "s/127.0.0.1:$S\$/127.0.0.1:$P3/" "$TMP_ROOT/kill.csv" > "$TMP_ROOT/kill2.csv"
check "the restarted batch finishes" sh -c "'$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/kill2.csv' > '$TMP_ROOT/k2.out' 2>/dev/null"
check "finished devices are skipped, the interrupted one is redone" test "$(tail -n 1 "$TMP_ROOT/k2.out" | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())["summary"]; print(s["succeeded"], s["skipped"])')" = "2 2"
check "the interrupted attempt is marked, never as success" test "$(sqlite3 "$DB" "SELECT group_concat(state, ',') FROM (SELECT state FROM attempts WHERE endpoint='k-3' ORDER BY id)")" = "interrupted,success"
check "each k- device has exactly one verified certificate" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts WHERE endpoint LIKE 'k-%' AND state='success'")" = 4
check "the database is consistent" test "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok

# factory_client --threads: the devices are served by that many processes, each device by one.
start th "$FC" -v --storage "$TMP_ROOT/th" --devices 4 --threads 2 tcp --port 0
set -- $(ports th 4)
{
    echo "endpoint_name,serial_number,address"
    i=0
    for p in "$@"; do i=$((i + 1)); echo "th-$i,TH-$i,tcp:127.0.0.1:$p"; done
} > "$TMP_ROOT/th.csv"
check "--threads 2 serves from two processes" test "$(pgrep -P $PID_th | wc -l)" = 1
check "inject-batch provisions the 4 devices of 2 processes" sh -c "'$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/th.csv' --parallel 4 -t 20 > '$TMP_ROOT/th.json' 2>/dev/null"
wait $PID_th && rc=0 || rc=$?
check "factory_client --threads 2 ends with 0 once every device finished" test "$rc" = 0
check "the statistics add up both processes" grep -q "statistics: devices 4, sessions 4," "$TMP_ROOT/th.out"
start thf "$FC" --storage "$TMP_ROOT/thf" --devices 3 --threads 3 --forever tcp --port 0
ports thf 3 >/dev/null
KIDS=$(pgrep -P $PID_thf | tr '\n' ' ')
check "--threads 3 forks two serving processes" test "$(echo $KIDS | wc -w)" = 2
kill -TERM $PID_thf; wait $PID_thf && rc=0 || rc=$?
check "SIGTERM stops every serving process, exit 0" sh -c "test $rc = 0 && ! kill -0 $(echo $KIDS | sed 's/ / \&\& ! kill -0 /g') 2>/dev/null"
check "--threads 0 is a usage error" sh -c "'$FC' --devices 2 --threads 0 tcp --port 0; test \$? = 2"

finish
