#!/bin/sh
# The configurator's ledger over a real batch: setup and inject-batch append entries that agree
# with the records, the ledger verifies live and as exported files with only the public key,
# and a database changed with sqlite3 (a byte, a deleted row, two swapped rows, a fork, a forged
# tail, the last checkpoint dropped), a file checked with another key, or a whole ledger
# re-signed by another key, fails with its verdict and sequence number. 200 devices.
# usage: ledger.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$HOME_DIR/kiln-records.db"
N=200

start devs "$FC" --storage "$TMP_ROOT/devs" --devices 4 --forever tcp --port 0
set -- $(ports devs 4)
{
    echo "endpoint_name,serial_number,address"
    i=0
    while [ $i -lt $N ]; do
        i=$((i + 1))
        eval "p=\${$(( (i - 1) % 4 + 1 ))}"
        echo "ep-$i,SN-$i,tcp:127.0.0.1:$p"
    done
} > "$TMP_ROOT/devices.csv"
check "the batch provisions every device" sh -c "'$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/devices.csv' --parallel 4 -t 10 >'$TMP_ROOT/batch.out' 2>/dev/null"

# verdict FILE: "STATUS SEQ" of a --json verdict
verdict() { $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["verdict"], j["seq"])' "$1"; }
# expect NAME VERDICT SEQ ARGS...: ledger verify ARGS fails (exit 1) with VERDICT at SEQ
expect() {
    name=$1 want="$2 $3"; shift 3
    if "$FT" --home-dir "$HOME_DIR" --json ledger verify "$@" >"$TMP_ROOT/v.json" 2>&1; then
        fail "$name (verified)"; cat "$TMP_ROOT/v.json"
    elif [ "$(verdict "$TMP_ROOT/v.json")" = "$want" ]; then pass "$name"
    else fail "$name (got $(cat "$TMP_ROOT/v.json"))"; fi
}

check "the live ledger holds" ft ledger verify
ft --json ledger verify > "$TMP_ROOT/live.json"
check "one CA event, one certificate and one outcome per device" test "$(json_get "$TMP_ROOT/live.json" 'j["entries"], j["signed_seq"]')" = "($((2 * N + 1)), $((2 * N + 1)))"
check "the ledger key is 0600" test "$(stat -c %a "$HOME_DIR/keystore/ledger.key")" = 600
check "every verified certificate of the records is in the ledger" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts a WHERE state='success' AND EXISTS (SELECT 1 FROM ledger l WHERE l.kind='certificate' AND lower(hex(l.cert_sha256))=a.cert_sha256 AND l.endpoint=a.endpoint)")" = $N
check "every outcome of the records is in the ledger" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM ledger WHERE kind='outcome' AND outcome='success'")" = $N
check "the CA event names the CA certificate" test "$(sqlite3 "$DB" "SELECT outcome, lower(hex(cert_sha256)) = issuer_ca FROM ledger WHERE seq=1")" = "created|1"
check "every attempt names its issuing CA (records issuer_ca)" test "$(sqlite3 "$DB" "SELECT COUNT(*) FROM attempts WHERE issuer_ca IS NULL OR issuer_ca <> (SELECT issuer_ca FROM ledger WHERE seq=1)")" = 0

check "pubkey prints a PEM public key" sh -c "'$FT' --home-dir '$HOME_DIR' ledger pubkey > '$TMP_ROOT/ledger.pub' && openssl pkey -pubin -in '$TMP_ROOT/ledger.pub' -noout"
for fmt in jsonl cbor; do
    check "export --format $fmt" ft ledger export --format $fmt -o "$TMP_ROOT/ledger.$fmt"
    mkdir -p "$TMP_ROOT/alone"
    cp "$TMP_ROOT/ledger.$fmt" "$TMP_ROOT/ledger.pub" "$TMP_ROOT/alone/"
    check "the $fmt export verifies with the public key alone" sh -c "cd '$TMP_ROOT/alone' && '$FT' --home-dir /nonexistent ledger verify ledger.$fmt --pubkey ledger.pub"
done
check "the jsonl export has one line per entry and checkpoint" test "$(wc -l < "$TMP_ROOT/ledger.jsonl")" = "$(sqlite3 "$DB" "SELECT (SELECT COUNT(*) FROM ledger) + (SELECT COUNT(*) FROM ledger_checkpoint)")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP_ROOT/other.key" 2>/dev/null
expect "another key's public key: bad signature at the first checkpoint (setup signs its CA event)" BAD_SIGNATURE 1 "$TMP_ROOT/ledger.cbor" --pubkey "$TMP_ROOT/other.key"
check "verify FILE without --pubkey is a usage error" sh -c "'$FT' --home-dir '$HOME_DIR' ledger verify '$TMP_ROOT/ledger.cbor'; test \$? = 2"

# tamper NAME SQL VERDICT SEQ: on a copy of the database
tamper() {
    copy="$TMP_ROOT/copy.db"
    rm -f "$copy"
    sqlite3 "$DB" ".backup '$copy'"
    sqlite3 "$copy" "$2"
    expect "$1" "$3" "$4" --db "$copy"
}
tamper "a changed byte" "UPDATE ledger SET serial='SN-x' WHERE seq=12" CHANGED 12
tamper "a changed outcome of the last entry" "UPDATE ledger SET outcome='failed 6012' WHERE seq=$((2 * N + 1))" CHANGED $((2 * N + 1))
tamper "a deleted entry" "DELETE FROM ledger WHERE seq=7" MISSING 7
tamper "two swapped entries" "UPDATE ledger SET id=-1 WHERE seq=5; UPDATE ledger SET id=5 WHERE seq=6; UPDATE ledger SET id=6 WHERE seq=-1 OR id=-1" REORDERED 5
tamper "a fork" "INSERT INTO ledger (seq,time,kind,endpoint,serial,cert_sha256,issuer_ca,station,outcome,prev_hash) SELECT seq,time,kind,'ep-evil',serial,cert_sha256,issuer_ca,station,outcome,prev_hash FROM ledger WHERE seq=9" FORKED 9
tamper "a dropped tail" "DELETE FROM ledger WHERE seq > $((2 * N - 2))" MISSING $((2 * N - 1))
tamper "an entry added by hand after the last one (its prev_hash cannot match without the chain)" "INSERT INTO ledger (seq,time,kind,endpoint,serial,cert_sha256,issuer_ca,station,outcome,prev_hash) SELECT seq+1,time,kind,'ep-evil',serial,cert_sha256,issuer_ca,station,outcome,prev_hash FROM ledger WHERE seq=$((2 * N + 1))" CHANGED $((2 * N + 1))
PREV_CP=$(sqlite3 "$DB" "SELECT seq FROM ledger_checkpoint ORDER BY seq DESC LIMIT 1 OFFSET 1")
tamper "the last checkpoint dropped: the entries after the one before are unsigned" "DELETE FROM ledger_checkpoint WHERE seq = (SELECT max(seq) FROM ledger_checkpoint)" UNSIGNED_TAIL $((PREV_CP + 1))
# The whole ledger replaced by a consistent one under another key: only the public key kept
# apart (ledger.pub, printed at setup) tells.
OTHER=$(newhome other)
"$FT" --home-dir "$OTHER" prepare --endpoint-name ep-forged --serial-number SN-f -o "$TMP_ROOT/forged.cbor" >/dev/null
"$FT" --home-dir "$OTHER" ledger verify >/dev/null 2>&1 || fail "the forger's own ledger should hold under its own key"
expect "a whole ledger re-signed with another key, checked against the kept public key" BAD_SIGNATURE 1 --db "$OTHER/kiln-records.db" --pubkey "$TMP_ROOT/ledger.pub"
check "the untouched database still verifies" ft ledger verify

# A second batch of the same devices skips them: outcomes appended, signed, still holding.
ft inject-batch --devices "$TMP_ROOT/devices.csv" -t 10 >/dev/null 2>&1 || true
check "skips append outcomes and the ledger still holds" sh -c "'$FT' --home-dir '$HOME_DIR' ledger verify && test \$(sqlite3 '$DB' \"SELECT COUNT(*) FROM ledger WHERE outcome='skipped'\") = $N"
finish
