#!/bin/sh
# The command line of issue 13 on real devices (factory_client tcp) and a real records database:
# --version of the three programs, the records command's errors and --json, one default records
# database for every command, write refusing a corrupt bundle, verify-batch carrying the
# device's text and recording an answer once, options after factory_client's command, and
# Ctrl-C on a batch.
# usage: cli.sh FT FC FAKE SRC VECTORS [FACTORY_SERVICE]
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5 FS=${6:-}
. "$SRC/lib.sh"

# --- --version -----------------------------------------------------------------------------
for prog in "$FT" "$FC" $FS; do
    name=$(basename "$prog")
    "$prog" --version > "$TMP_ROOT/v.out" 2> "$TMP_ROOT/v.err" && rc=0 || rc=$?
    check "$name --version prints its name and version, exits 0" sh -c "test $rc = 0 && grep -Eqx '$name \\(kiln\\) [0-9]+\\.[0-9]+\\.[0-9]+' '$TMP_ROOT/v.out' && test ! -s '$TMP_ROOT/v.err'"
done

HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"

# --- records: bad state, unknown endpoint, --json ----------------------------------------------
ft records list --state bogus > "$TMP_ROOT/st.out" 2> "$TMP_ROOT/st.err" && rc=0 || rc=$?
check "records list --state bogus is a usage error (2) listing the states" sh -c "test $rc = 2 && grep -q 'unknown state bogus' '$TMP_ROOT/st.out' && grep -q 'started, success, failed, interrupted, written, prepared, skipped' '$TMP_ROOT/st.out' && grep -q '^usage:' '$TMP_ROOT/st.err'"
help_rc() { "$@" > "$TMP_ROOT/h.out" 2>&1 && echo 0 || echo $?; }
check "records list --help prints the records usage" sh -c "test $(help_rc ft records list --help) = 0 && grep -q '^usage: .*records' '$TMP_ROOT/h.out'"

# --- the split steps on three simulated devices, no --records-db anywhere, from another folder --
start devs "$FC" --storage "$TMP_ROOT/devs" tcp --port 0 --forever --devices 3
set -- $(ports devs 3)
{
    echo "endpoint_name,serial_number,address"
    echo "c-1,SN-1,tcp:127.0.0.1:$1"
    echo "c-2,SN-2,tcp:127.0.0.1:$2"
    echo "c-3,SN-3,tcp:127.0.0.1:$3"
} > "$TMP_ROOT/devices.csv"
mkdir "$TMP_ROOT/elsewhere"
cd "$TMP_ROOT/elsewhere"
export FCU_HOME_DIR="$HOME_DIR"
"$FT" prepare-batch --devices "$TMP_ROOT/devices.csv" --out "$TMP_ROOT/bundles" > "$TMP_ROOT/p.out"
# c-2's bundle cut short, c-3's replaced by a CBOR map of another scheme
head -c 200 "$TMP_ROOT/bundles/c-2.cbor" > "$TMP_ROOT/cut" && cat "$TMP_ROOT/cut" > "$TMP_ROOT/bundles/c-2.cbor"
printf '\241\155SchemeVersion\1450.0.9' > "$TMP_ROOT/bundles/c-3.cbor"
"$FT" write --devices "$TMP_ROOT/devices.csv" --bundles "$TMP_ROOT/bundles" --answers "$TMP_ROOT/answers" > "$TMP_ROOT/w.out" 2>/dev/null && rc=0 || rc=$?
check "write keeps its rows in \$FCU_HOME_DIR/kiln-records.db like prepare-batch" sh -c "test ! -e kiln-records.db && test \"\$(sqlite3 '$DB' \"SELECT COUNT(*) FROM attempts WHERE state='written'\")\" = 1"
check "write counts the corrupt bundles failed and the good one written" sh -c "test $rc = 1 && tail -n 1 '$TMP_ROOT/w.out' | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())[\"summary\"]; sys.exit(0 if (s[\"succeeded\"], s[\"failed\"]) == (1, 2) else 1)'"
check "the truncated bundle is refused with 1000 naming the file" sh -c "grep '\"c-2\"' '$TMP_ROOT/w.out' | grep '\"status\": 1000' | grep -q 'bundles/c-2.cbor is not a bundle: not well-formed CBOR'"
check "the foreign bundle is refused for its SchemeVersion" sh -c "grep '\"c-3\"' '$TMP_ROOT/w.out' | grep -q 'c-3.cbor is not a bundle: no SchemeVersion 0.0.1'"
check "nothing was sent for the refused bundles" sh -c "test -s '$TMP_ROOT/answers/c-1.cbor' && test ! -e '$TMP_ROOT/answers/c-2.cbor' && test ! -e '$TMP_ROOT/answers/c-3.cbor'"

# verify-batch twice over the same answer: one success row, the second run says so
printf 'endpoint_name,serial_number,address\nc-1,SN-1,tcp:127.0.0.1:%s\n' "$1" > "$TMP_ROOT/one.csv"
"$FT" verify-batch --devices "$TMP_ROOT/one.csv" --answers "$TMP_ROOT/answers" > "$TMP_ROOT/v1.out"
"$FT" verify-batch --devices "$TMP_ROOT/one.csv" --answers "$TMP_ROOT/answers" > "$TMP_ROOT/v2.out" && rc=0 || rc=$?
check "a second verify-batch of the same answer adds no success row" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts WHERE endpoint='c-1' AND state='success'")" = 1
check "and reports it as already verified (status 0)" sh -c "test $rc = 0 && grep '\"c-1\"' '$TMP_ROOT/v2.out' | grep '\"status\": 0' | grep -q 'already verified'"
check "the records file has one schema_version row, 3, after several opens" test "$(sqlite3 "$DB" "SELECT group_concat(version) FROM schema_version")" = 3
# a file with main's schema before the version table (attempts only) is upgraded in place
sqlite3 "$TMP_ROOT/old.db" "CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, serial TEXT NOT NULL, address TEXT, station TEXT, batch TEXT, host TEXT, pid INTEGER, cert_sha256 TEXT, cert_sha1 TEXT, bundle_sha256 TEXT, state TEXT NOT NULL, error_code INTEGER NOT NULL DEFAULT 0, error_text TEXT, device_status INTEGER, tries INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL, finished_at TEXT); INSERT INTO attempts(endpoint, serial, state, started_at) VALUES('old-1', 'SN-O', 'success', '2026-01-01T00:00:00Z');"
"$FT" records --records-db "$TMP_ROOT/old.db" list > "$TMP_ROOT/old.out"
check "an old records file keeps its row and is migrated to schema version 3" sh -c "grep -q 'old-1' '$TMP_ROOT/old.out' && test \"\$(sqlite3 '$TMP_ROOT/old.db' 'SELECT group_concat(version) FROM schema_version')\" = 3"
check "with the issuer_ca column" sh -c "sqlite3 '$TMP_ROOT/old.db' 'SELECT issuer_ca FROM attempts' >/dev/null"
check "with the endpoint_claims.bundles column" sh -c "sqlite3 '$TMP_ROOT/old.db' 'SELECT bundles FROM endpoint_claims' >/dev/null"

# a device failure carries the device's text: an answer to the cut bundle from a device
"$FC" --storage "$TMP_ROOT/dev-cut" handle "$TMP_ROOT/cut" "$TMP_ROOT/cut.answers.c-2" 2>/dev/null || true
mkdir "$TMP_ROOT/cut-answers" && cp "$TMP_ROOT/cut.answers.c-2" "$TMP_ROOT/cut-answers/c-2.cbor"
printf 'endpoint_name,serial_number,address\nc-2,SN-2,tcp:127.0.0.1:%s\n' "$2" > "$TMP_ROOT/two.csv"
"$FT" verify-batch --devices "$TMP_ROOT/two.csv" --answers "$TMP_ROOT/cut-answers" > "$TMP_ROOT/v3.out" 2>&1 || true
check "verify-batch's 1004 names what the device's bare 'General error:' meant" sh -c "grep '\"c-2\"' '$TMP_ROOT/v3.out' | grep '\"status\": 1004' | grep -q 'error #20: General error: Protocol layer general error (malformed bundle)'"

# records show / list --json on that database
"$FT" records show nope > "$TMP_ROOT/nope.out" 2> "$TMP_ROOT/nope.err" && rc=0 || rc=$?
check "records show of an unknown endpoint: exit 1, the error alone (no [])" sh -c "test $rc = 1 && test \$(wc -l < '$TMP_ROOT/nope.out') = 1 && grep -q 'no attempts for endpoint nope' '$TMP_ROOT/nope.out' && ! grep -q '^\\[' '$TMP_ROOT/nope.out'"
"$FT" --json records list --state written > "$TMP_ROOT/list.json"
check "records list --json prints a JSON array of the rows asked for" sh -c "$PY -c 'import json,sys; rows=json.load(open(sys.argv[1])); sys.exit(0 if len(rows)==1 and rows[0][\"endpoint\"]==\"c-1\" and rows[0][\"state\"]==\"written\" else 1)' '$TMP_ROOT/list.json'"
cd "$TMP_ROOT"
unset FCU_HOME_DIR

# --- factory_client: options after the command ------------------------------------------------
start late "$FC" --storage "$TMP_ROOT/late" tcp --port 0 --devices 2
check "factory_client tcp --devices 2 serves two devices" test "$(ports late 2 | wc -l)" = 2
check "factory_client tcp --help prints the tcp usage, exits 0" sh -c "'$FC' tcp --help | grep -q '^usage: factory_client .*tcp'"

# --- Ctrl-C on a batch: 130 after the summary -------------------------------------------------
start slow "$FAKE" silent
SLOW=$(ports slow)
printf 'endpoint_name,serial_number,address\ns-1,SN-1,tcp:127.0.0.1:%s\n' "$SLOW" > "$TMP_ROOT/slow.csv"
"$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/slow.csv" -t 20 --retries 0 --records-db "$TMP_ROOT/slow.db" > "$TMP_ROOT/int.out" 2> "$TMP_ROOT/int.err" &
BATCH=$!
i=0; until [ "$(sqlite3 "$TMP_ROOT/slow.db" "SELECT COUNT(*) FROM attempts WHERE state='started'" 2>/dev/null)" = 1 ]; do i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05; done
kill -INT $BATCH
wait $BATCH && rc=0 || rc=$?
check "Ctrl-C on inject-batch exits 130 after its summary" sh -c "test $rc = 130 && tail -n 1 '$TMP_ROOT/int.out' | grep -q '\"interrupted\": 1'"
finish
