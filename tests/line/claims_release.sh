#!/bin/sh
# A station that is gone: its claims on the records database (SQLite file or a real PostgreSQL
# started as its own user) go to another station only for endpoints no certificate went out
# for. A prepare-batch killed (SIGKILL) mid-run: another station on this host takes over its
# unissued endpoints by itself and is refused (1031) the issued ones; `records release` gives
# the rest back and keeps the issued ones (1032). An inject-batch killed while its certificate
# is on the way to a device: kept (1033) by release and by the takeover; while it still runs,
# release refuses (1034); an endpoint the station does not hold: 1035. A claim of another host
# is never taken over by itself, but release gives it back. Every endpoint keeps exactly one
# certificate row.
# usage: claims_release.sh FT FC FAKE SRC VECTORS sqlite|pg
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5 MODE=$6
if [ "$MODE" = pg ]; then
    BIN=$(dirname "$FT")
    . "$SRC/../sf/lib.sh"
fi
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
if [ "$MODE" = pg ]; then
    trap 'cleanup; pg_stop; rm -rf "$WORK"' EXIT
    start_postgres
    sql() { q "$1"; }
else
    DB="$HOME_DIR/kiln-records.db"
    sql() { sqlite3 "$DB" "$1"; }
fi
N=6000
$PY -c 'import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1])): print("cr-%05d,SN-%d,tcp:127.0.0.1:1" % (i, i))' $N \
    > "$TMP_ROOT/all.csv"
head -n $((N / 2 + 1)) "$TMP_ROOT/all.csv" > "$TMP_ROOT/half.csv"
prepared() { sql "SELECT count(*) FROM attempts WHERE state='prepared' AND station='$1'"; }

# Station A claims in chunks ahead of its worker, and is killed once its first rows are
# committed: every device it issued is claimed, the rest of the list partly or not at all.
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/all.csv" --out "$TMP_ROOT/ba" \
    --jobs 1 --station st-a --records-db "$DB" > "$TMP_ROOT/a.out" 2>&1 &
PA=$!
i=0
while ! grep -q '"result": "prepared"' "$TMP_ROOT/a.out" 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.01; i=$((i + 1))
done
kill -9 $PA 2>/dev/null || true
wait $PA 2>/dev/null || true
A=$(prepared st-a)
echo "station A killed after $A of $N prepared"
CLAIMED_A=$(sql "SELECT count(*) FROM endpoint_claims WHERE station='st-a'")
echo "station A held $CLAIMED_A claims"
check "A was killed mid-run: some but not all issued, each issued one claimed" test \
    "$CLAIMED_A" -ge "$A" -a "$A" -gt 0 -a "$A" -lt $N -a \
    "$(sql "SELECT count(*) FROM attempts a WHERE a.station='st-a' AND a.state='prepared'
            AND NOT EXISTS (SELECT 1 FROM endpoint_claims c WHERE c.endpoint=a.endpoint
                            AND c.station='st-a')")" -eq 0
ISSUED=$(sql "SELECT endpoint FROM attempts WHERE state='prepared' AND station='st-a' LIMIT 1")

ft records --records-db "$DB" release --station st-a --endpoint "$ISSUED" > "$TMP_ROOT/r1.out" 2>&1 \
    && fail "release of an issued endpoint exits 0" || true
check "release of an issued endpoint is refused with 1032, the claim stays" grep -q \
    '"status": 1032.*"result": "kept"' "$TMP_ROOT/r1.out"
check "the claim of the issued endpoint is still A's" test \
    "$(sql "SELECT station FROM endpoint_claims WHERE endpoint='$ISSUED'")" = st-a
ft --json records --records-db "$DB" release --station st-a --endpoint cr-nope > "$TMP_ROOT/r2.out" 2>&1 || true
check "an endpoint A does not hold: 1035" grep -q '"status": 1035' "$TMP_ROOT/r2.out"
ft records --records-db "$DB" release > "$TMP_ROOT/r3.out" 2>&1 || true
check "release without --station: usage error" grep -q 'release needs --station' "$TMP_ROOT/r3.out"

# A's bundle files whose row never committed (written before their group's commit when A was
# killed): claims that look unissued while a certificate is in A's --out. One more is planted
# (a claimed, unprepared endpoint of the first half) so that the case is never empty.
PLANT=$(sql "SELECT endpoint FROM endpoint_claims c WHERE station='st-a' AND endpoint <=
             'cr-$(printf %05d $((N / 2 - 1)))' AND NOT EXISTS (SELECT 1 FROM attempts a
             WHERE a.endpoint=c.endpoint) ORDER BY endpoint DESC LIMIT 1")
echo "planted bundle" > "$TMP_ROOT/ba/$PLANT.cbor"
sql "SELECT endpoint FROM attempts WHERE state='prepared' AND station='st-a'" | sort \
    > "$TMP_ROOT/a_rows.txt"
ls "$TMP_ROOT/ba" | sed -n 's/\.cbor$//p' | sort > "$TMP_ROOT/a_files.txt"
comm -13 "$TMP_ROOT/a_rows.txt" "$TMP_ROOT/a_files.txt" > "$TMP_ROOT/a_left.txt"
LEFT=$(wc -l < "$TMP_ROOT/a_left.txt")
LEFT_HALF=$(awk -v last="cr-$(printf %05d $((N / 2 - 1)))" '$0 <= last' "$TMP_ROOT/a_left.txt" |
    wc -l)
echo "A left $LEFT bundle(s) without a row ($LEFT_HALF in the first half, 1 planted: $PLANT)"

# Station B on this host, same list's first half: takes A's unissued claims over by itself,
# but neither those A issued nor those whose bundle may be in A's --out.
A_HALF=$(sql "SELECT count(*) FROM attempts WHERE state='prepared' AND station='st-a'
              AND endpoint <= 'cr-$(printf %05d $((N / 2 - 1)))'")
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/half.csv" --out "$TMP_ROOT/bb" \
    --jobs 1 --station st-b --records-db "$DB" > "$TMP_ROOT/b.out" 2>&1 || true
check "B took over A's unissued half ($((N / 2 - A_HALF - LEFT_HALF)) prepared by B)" test \
    "$(prepared st-b)" -eq $((N / 2 - A_HALF - LEFT_HALF))
check "B was refused (1031) the $A_HALF A had issued and the $LEFT_HALF bundles A left" test \
    "$(grep -c '"status": 1031' "$TMP_ROOT/b.out")" -eq $((A_HALF + LEFT_HALF))
check "the planted endpoint is still A's" test \
    "$(sql "SELECT station FROM endpoint_claims WHERE endpoint='$PLANT'")" = st-a

# The operator releases the rest of A's claims: the unissued go, the issued stay (1032), and so
# do those with a bundle in A's --out (1036).
BEFORE=$(sql "SELECT count(*) FROM endpoint_claims WHERE station='st-a'")
ft records --records-db "$DB" release --station st-a > "$TMP_ROOT/r4.out" 2>&1 && RC=0 || RC=$?
REL=$(grep -c '"result": "released"' "$TMP_ROOT/r4.out" || true)
KEPT=$(grep -c '"status": 1032, .*"result": "kept"' "$TMP_ROOT/r4.out" || true)
KEPT_LEFT=$(grep -c '"status": 1036, .*"result": "kept"' "$TMP_ROOT/r4.out" || true)
echo "release --station st-a: $REL released, $KEPT kept (issued), $KEPT_LEFT kept (bundle), exit $RC"
check "release: exit 1 (some kept), released + kept = the claims A held" test "$RC" -eq 1 \
    -a "$((REL + KEPT + KEPT_LEFT))" -eq "$BEFORE" -a "$KEPT" -eq "$A" -a "$KEPT_LEFT" -eq "$LEFT"
check "1036 names the endpoint and A's --out" grep -q \
    "Claim of endpoint $PLANT kept: a stopped prepare-batch of station st-a may have left its bundle in [^ ]*/ba;" \
    "$TMP_ROOT/r4.out"
check "A keeps exactly the claims it issued or left a bundle of" test "$(sql "SELECT count(*)
      FROM endpoint_claims c WHERE station='st-a' AND EXISTS (SELECT 1 FROM attempts a
      WHERE a.endpoint=c.endpoint AND a.state='prepared' AND a.station='st-a')")" -eq "$A" -a \
    "$(sql "SELECT count(*) FROM endpoint_claims WHERE station='st-a'")" -eq $((A + LEFT))
check "the summary line names the counts" grep -q \
    "$REL claim(s) of station st-a released, $((KEPT + KEPT_LEFT)) kept" "$TMP_ROOT/r4.out"
# As 1036 says: the operator deletes A's --out, and the release gives those claims back.
rm -rf "$TMP_ROOT/ba"
ft records --records-db "$DB" release --station st-a > "$TMP_ROOT/r4b.out" 2>&1 || true
check "with A's --out gone, its $LEFT left claims are released" test \
    "$(grep -c '"result": "released"' "$TMP_ROOT/r4b.out" || true)" -eq "$LEFT"
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/all.csv" --out "$TMP_ROOT/bc" \
    --jobs 1 --station st-c --records-db "$DB" > "$TMP_ROOT/c.out" 2>&1 || true
check "every endpoint has exactly one certificate row" test "$(sql "SELECT count(*) FROM (SELECT
      endpoint FROM attempts WHERE state='prepared' GROUP BY endpoint HAVING count(*) = 1) o")" \
    -eq $N -a "$(sql "SELECT count(*) FROM attempts WHERE state='prepared'")" -eq $N

# Crash mid-device: inject-batch's certificate is on the way to a device that never answers.
cat > "$TMP_ROOT/silent.py" <<'PY'
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
$PY "$TMP_ROOT/silent.py" > "$TMP_ROOT/silent.port" &
PIDS="$PIDS $!"
i=0; while [ ! -s "$TMP_ROOT/silent.port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
printf 'endpoint_name,serial_number,address\nhang-1,SN-h1,tcp:127.0.0.1:%s\n' \
    "$(cat "$TMP_ROOT/silent.port")" > "$TMP_ROOT/hang.csv"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/hang.csv" --retries 0 -t 60 \
    --station st-h --records-db "$DB" > "$TMP_ROOT/h.out" 2>&1 &
PH=$!
i=0
while [ "$(sql "SELECT count(*) FROM attempts WHERE endpoint='hang-1' AND state='started'
            AND cert_sha256 IS NOT NULL")" != 1 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
ft records --records-db "$DB" release --station st-h > "$TMP_ROOT/r5.out" 2>&1 || true
check "release while the station still runs here: 1034" grep -q '"status": 1034' "$TMP_ROOT/r5.out"
kill -9 $PH 2>/dev/null || true
wait $PH 2>/dev/null || true
ft records --records-db "$DB" release --station st-h > "$TMP_ROOT/r6.out" 2>&1 || true
check "release after the crash mid-device: kept with 1033" grep -q '"status": 1033' "$TMP_ROOT/r6.out"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/hang.csv" --retries 0 -t 2 \
    --station st-i --records-db "$DB" > "$TMP_ROOT/i.out" 2>&1 || true
check "another station here is refused (1031), no takeover" grep -q \
    'in progress on station st-h' "$TMP_ROOT/i.out"
check "the claim is still st-h's" test \
    "$(sql "SELECT station FROM endpoint_claims WHERE endpoint='hang-1'")" = st-h

# A dead station on another PC: never taken over by itself (its pid means nothing here); the
# operator's release gives it back.
sql "INSERT INTO endpoint_claims(endpoint, station, host, pid, claimed_at)
     VALUES('far-1', 'st-far', 'another-pc', 1, '2026-01-01T00:00:00.000Z')" >/dev/null
printf 'endpoint_name,serial_number,address\nfar-1,SN-f1,tcp:127.0.0.1:1\n' > "$TMP_ROOT/far.csv"
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/far.csv" --out "$TMP_ROOT/bf" \
    --station st-b --records-db "$DB" > "$TMP_ROOT/f1.out" 2>&1 || true
check "another host's claim: refused (1031), not taken over" grep -q '"status": 1031' \
    "$TMP_ROOT/f1.out"
check "release of another host's claim: released, exit 0" \
    "$FT" --home-dir "$HOME_DIR" records --records-db "$DB" release --station st-far
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/far.csv" --out "$TMP_ROOT/bf" \
    --station st-b --records-db "$DB" > "$TMP_ROOT/f2.out" 2>&1 || true
check "then another station issues it" test "$(prepared st-b | tr -d ' ')" -eq \
    $((N / 2 - A_HALF - LEFT_HALF + 1))
# A dead-looking pid of this host name but another PID namespace (a second container with host
# networking): that pid means nothing here, so no automatic takeover either.
sh -c 'exit 0' & DEAD=$!
wait $DEAD
sql "INSERT INTO endpoint_claims(endpoint, station, host, pid, claimed_at, pid_ns)
     VALUES('ns-1', 'st-ns', '$(hostname)', $DEAD, '2026-01-01T00:00:00.000Z', 'pid:[1]')" >/dev/null
printf 'endpoint_name,serial_number,address\nns-1,SN-n1,tcp:127.0.0.1:1\n' > "$TMP_ROOT/ns.csv"
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/ns.csv" --out "$TMP_ROOT/bn" \
    --station st-b --records-db "$DB" > "$TMP_ROOT/n1.out" 2>&1 || true
check "same host name, another PID namespace: refused (1031), not taken over" grep -q \
    '"status": 1031' "$TMP_ROOT/n1.out"
sql "UPDATE endpoint_claims SET pid_ns='$(readlink /proc/self/ns/pid)' WHERE endpoint='ns-1'" \
    >/dev/null
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/ns.csv" --out "$TMP_ROOT/bn" \
    --station st-b --records-db "$DB" > "$TMP_ROOT/n2.out" 2>&1 || true
check "the same claim in this namespace: taken over and issued" grep -q \
    '"endpoint": "ns-1".*"result": "prepared"' "$TMP_ROOT/n2.out"
check "ledger holds" "$FT" --home-dir "$HOME_DIR" ledger verify --records-db "$DB"
finish
