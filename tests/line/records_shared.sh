#!/bin/sh
# Two stations (processes, distinct --station) on one SQLite records file (WAL) prepare
# overlapping device lists at once: every endpoint gets exactly one certificate, the counts per
# station add up, a contended endpoint is refused with 1031 naming the other station, the ledger
# holds, and a station's own rerun resumes its claims.
# usage: records_shared.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
# A: 0..1199, B: 400..1599 (800 contended), 1600 endpoints in all.
$PY -c 'import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1]), int(sys.argv[2])): print("rs-%05d,SN-%d,tcp:127.0.0.1:1" % (i, i))' 0 1200 > "$TMP_ROOT/a.csv"
$PY -c 'import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1]), int(sys.argv[2]))[::-1]: print("rs-%05d,SN-%d,tcp:127.0.0.1:1" % (i, i))' 400 1600 > "$TMP_ROOT/b.csv"

"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/a.csv" --out "$TMP_ROOT/ba" \
    --jobs 1 --station st-a > "$TMP_ROOT/a.out" 2>&1 &
PA=$!
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/b.csv" --out "$TMP_ROOT/bb" \
    --jobs 1 --station st-b > "$TMP_ROOT/b.out" 2>&1 &
PB=$!
wait $PA || true
wait $PB || true

cat > "$TMP_ROOT/once.py" <<'PY'
import sqlite3, sys
db, total = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
rows = c.execute("SELECT endpoint, station FROM attempts WHERE state='prepared'").fetchall()
eps = [r[0] for r in rows]
per = {}
for _, st in rows: per[st] = per.get(st, 0) + 1
dup = len(eps) - len(set(eps))
refused = c.execute("SELECT count(*) FROM attempts WHERE error_code=1031").fetchone()[0]
print(len(eps), "certificates,", len(set(eps)), "endpoints,", dup, "duplicates,", per,
      refused, "refused")
ok = dup == 0 and len(set(eps)) == total and sum(per.values()) == total and len(per) == 2
sys.exit(0 if ok and refused > 0 and refused + len(eps) == 2400 else 1)
PY
$PY "$TMP_ROOT/once.py" "$DB" 1600 || true
check "every endpoint exactly once, counts per station add up" $PY "$TMP_ROOT/once.py" "$DB" 1600
check "1031 names the other station" grep -q 'error 1031\|"status": *1031.*in progress on station st-[ab]\|is in progress on station st-' "$TMP_ROOT/a.out" "$TMP_ROOT/b.out"
check "ledger holds" "$FT" --home-dir "$HOME_DIR" ledger verify
check "records export works" sh -c "\"$FT\" records --records-db \"$DB\" export --format csv | grep -c st-b"

# The same station's rerun resumes its own claims (refused ones stay refused; nothing reissued).
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/a.csv" --out "$TMP_ROOT/ba" \
    --jobs 1 --station st-a > "$TMP_ROOT/a2.out" 2>&1 || true
check "rerun of one station issues no second certificate to another's endpoint" sh -c \
    "$PY - \"$DB\" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute(\"SELECT count(*) FROM (SELECT endpoint FROM attempts WHERE state='prepared'\"
              \" GROUP BY endpoint HAVING count(DISTINCT station) > 1)\").fetchone()[0]
sys.exit(0 if n == 0 else 1)
PY"
# inject-batch claims too, before the configurator issues: station B's batch over A's endpoints
# (no device listens there) is refused with 1031 for all of them, before any connection.
head -n 101 "$TMP_ROOT/a.csv" > "$TMP_ROOT/a100.csv"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/a100.csv" --retries 0 -t 2 \
    --station st-b > "$TMP_ROOT/ib.out" 2>&1 || true
check "inject-batch on another station's endpoints: 100 refusals (1031)" \
    test "$(grep -c 'in progress on station st-a' "$TMP_ROOT/ib.out")" -eq 100
finish
