#!/bin/sh
# Eight stations (processes, distinct --station) on one PostgreSQL records database (a real
# server, started as its own user by tests/sf/lib.sh) prepare overlapping device lists at once,
# 4,000 distinct endpoints in all: every endpoint gets exactly one certificate (SQL count per
# endpoint), the counts per station add up to 4,000, the contended ones are refused with 1031,
# the ledger holds (factory_tool ledger verify --records-db URL), records list/show/export work.
# usage: records_pg.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/pg_begin.sh"

# Station k takes endpoints [500k-200, 500k+700) within [0, 4000), odd stations backwards:
# each neighbour pair contends for 400 endpoints, each station has 100 of its own (so each
# station issues some, whatever the order the eight run in).
STATIONS="0 1 2 3 4 5 6 7"
for k in $STATIONS; do
    $PY -c 'import sys
k = int(sys.argv[1])
r = range(max(0, 500 * k - 200), min(4000, 500 * k + 700))
print("endpoint_name,serial_number,address")
for i in (r[::-1] if k % 2 else r): print("pg-%05d,SN-%d,tcp:127.0.0.1:1" % (i, i))' "$k" \
        > "$TMP_ROOT/s$k.csv"
done
ASKED=$(cat "$TMP_ROOT"/s*.csv | grep -c '^pg-')

START=$(date +%s)
BG=""
for k in $STATIONS; do
    "$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/s$k.csv" \
        --out "$TMP_ROOT/b$k" --jobs 1 --station "st-$k" --records-db "$DB" \
        > "$TMP_ROOT/s$k.out" 2>&1 &
    BG="$BG $!"
done
for p in $BG; do wait "$p" || true; done
echo "8 stations, $ASKED requests: $(($(date +%s) - START)) s"

check "every endpoint has exactly one certificate (SQL count per endpoint)" test \
    "$(q "SELECT count(*) FROM (SELECT endpoint FROM attempts WHERE state='prepared'
          GROUP BY endpoint HAVING count(*) = 1) o")" -eq 4000
check "no endpoint has two" test "$(q "SELECT count(*) FROM (SELECT endpoint FROM attempts
          WHERE state='prepared' GROUP BY endpoint HAVING count(*) > 1) o")" -eq 0
q "SELECT station, count(*) FROM attempts WHERE state='prepared' GROUP BY station ORDER BY 1" |
    tr '\n' ' '
echo
check "8 stations, per-station counts add up to 4,000" test \
    "$(q "SELECT count(*) || ' ' || sum(n) FROM (SELECT count(*) n FROM attempts
          WHERE state='prepared' GROUP BY station) s")" = "8 4000"
REFUSED=$(q "SELECT count(*) FROM attempts WHERE error_code=1031")
echo "$REFUSED refused with 1031"
check "the contended ones refused with 1031, nothing else lost" test \
    "$REFUSED" -gt 0 -a "$((REFUSED + 4000))" -eq "$ASKED"
check "each certificate issued by the claim's holder" test "$(q "SELECT count(*) FROM attempts a
          JOIN endpoint_claims c USING (endpoint) WHERE a.state='prepared'
          AND a.station = c.station")" -eq 4000
check "1031 names the other station" grep -q 'in progress on station st-' "$TMP_ROOT"/s*.out
check "schema_version 3" test "$(q "SELECT version FROM schema_version")" = 3
check "every certificate names its issuing CA (issuer_ca)" test "$(q "SELECT count(*) FROM attempts
          WHERE state='prepared' AND (issuer_ca IS NULL OR issuer_ca !~ '^[0-9a-f]{64}$')")" = 0
check "ledger verify --records-db URL holds" \
    "$FT" --home-dir "$HOME_DIR" ledger verify --records-db "$DB"
check "ledger verify with KILN_RECORDS_URL holds" \
    env KILN_RECORDS_URL="$DB" "$FT" --home-dir "$HOME_DIR" ledger verify
check "ledger export has an entry per certificate and outcome" sh -c \
    "test \$(\"$FT\" --home-dir \"$HOME_DIR\" ledger export --records-db \"$DB\" --format jsonl |
     grep -c '\"kind\":\"certificate\"') -eq 4000"
check "records export csv: a line per attempt" sh -c \
    "test \$(\"$FT\" records --records-db \"$DB\" export --format csv | grep -c '\"pg-') -eq $ASKED"
check "records export json parses, states and integers kept" sh -c \
    "\"$FT\" records --records-db \"$DB\" export --format json | $PY -c 'import json, sys
rows = json.load(sys.stdin)
ok = len(rows) == $ASKED and sum(r[\"state\"] == \"prepared\" for r in rows) == 4000
sys.exit(0 if ok and all(isinstance(r[\"id\"], int) for r in rows) else 1)'"
check "records list --endpoint (table)" sh -c \
    "\"$FT\" records --records-db \"$DB\" list --endpoint pg-00300 | grep -q prepared"
check "records show (JSON) from KILN_RECORDS_URL" sh -c \
    "KILN_RECORDS_URL=\"$DB\" \"$FT\" records show pg-03999 | grep -q '\"station\": \"st-7\"'"

# A station's rerun resumes its own claims and issues nothing for another station's endpoints.
"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/s1.csv" --out "$TMP_ROOT/b1" \
    --jobs 1 --station st-1 --records-db "$DB" > "$TMP_ROOT/r1.out" 2>&1 || true
check "rerun: no endpoint issued by two stations" test "$(q "SELECT count(*) FROM (SELECT endpoint
          FROM attempts WHERE state='prepared' GROUP BY endpoint
          HAVING count(DISTINCT station) > 1) o")" -eq 0
# inject-batch (the engine's claim) over the URL: another station's endpoints are refused with
# 1031 before any connection, and their claims stay with their holders.
head -n 101 "$TMP_ROOT/s0.csv" > "$TMP_ROOT/s0-100.csv"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/s0-100.csv" --retries 0 -t 2 \
    --station st-9 --records-db "$DB" > "$TMP_ROOT/ib.out" 2>&1 || true
check "inject-batch on other stations' endpoints: 100 refusals (1031)" \
    test "$(grep -c 'in progress on station st-[01]' "$TMP_ROOT/ib.out")" -eq 100
check "no claim moved to st-9" test "$(q "SELECT count(*) FROM endpoint_claims
          WHERE station = 'st-9'")" -eq 0
# Real devices over the URL (the engine's begin/finish rows, the ledger in their transaction).
start devs "$FC" --storage "$TMP_ROOT/devs" --devices 3 --forever tcp --port 0
set -- $(ports devs 3)
{
    echo "endpoint_name,serial_number,address"
    echo "dev-1,SN-d1,tcp:127.0.0.1:$1"; echo "dev-2,SN-d2,tcp:127.0.0.1:$2"
    echo "dev-3,SN-d3,tcp:127.0.0.1:$3"
} > "$TMP_ROOT/devs.csv"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/devs.csv" --retries 1 -t 10 \
    --station st-9 --records-db "$DB" > "$TMP_ROOT/dev.out" 2>&1 || true
check "inject-batch of 3 devices over the URL: 3 successes, certificate and end recorded" test \
    "$(q "SELECT count(*) FROM attempts WHERE state='success' AND station='st-9'
          AND cert_sha256 IS NOT NULL AND finished_at IS NOT NULL")" -eq 3
KILN_RECORDS_URL=$DB "$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/devs.csv" \
    --retries 0 -t 10 --station st-9 > "$TMP_ROOT/dev2.out" 2>&1 || true
check "again (KILN_RECORDS_URL): the 3 are skipped" test \
    "$(q "SELECT count(*) FROM attempts WHERE state='skipped' AND station='st-9'")" -eq 3
check "ledger still holds" "$FT" --home-dir "$HOME_DIR" ledger verify --records-db "$DB"
# records-url: in fcu.yml and the station from KILN_STATION, with neither option nor variable
printf 'endpoint_name,serial_number,address\nyml-1,SN-y1,tcp:127.0.0.1:1\nyml-2,SN-y2,tcp:127.0.0.1:1\n' > "$TMP_ROOT/yml.csv"
printf 'records-url: %s\n' "$DB" >> "$HOME_DIR/config/fcu.yml"
env -u KILN_RECORDS_URL -u KILN_RECORDS_DB KILN_STATION=st-env "$FT" --home-dir "$HOME_DIR" \
    prepare-batch --devices "$TMP_ROOT/yml.csv" --out "$TMP_ROOT/yml" > "$TMP_ROOT/yml.out" 2>&1 || true
check "fcu.yml records-url: the rows go to PostgreSQL, station from KILN_STATION" test \
    "$(q "SELECT count(*) FROM attempts WHERE endpoint LIKE 'yml-%' AND state='prepared'
          AND station='st-env'")" -eq 2
check "and none went to the home's SQLite file" test \
    "$(sqlite3 "$HOME_DIR/kiln-records.db" "SELECT count(*) FROM attempts WHERE endpoint LIKE 'yml-%'" 2>/dev/null || echo 0)" = 0
check "KILN_RECORDS_DB still comes before fcu.yml" sh -c "KILN_RECORDS_DB='$TMP_ROOT/local.db' \
    '$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/yml.csv' --out '$TMP_ROOT/yml2' \
    --station st-local >/dev/null 2>&1; test -s '$TMP_ROOT/local.db'"
check "an unreachable database: a clear error, no password in it" sh -c \
    "! \"$FT\" records --records-db postgresql://kiln:s3cretpw@127.0.0.1:1/x list \
        > \"$TMP_ROOT/bad.out\" 2>&1 && grep -q 'cannot connect to the PostgreSQL' \
        \"$TMP_ROOT/bad.out\" && ! grep -q s3cretpw \"$TMP_ROOT/bad.out\""
finish
