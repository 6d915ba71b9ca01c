#!/bin/sh
# The service's ledger (docs/ledger.md) on SQLite: sessions through the real service, then
# factory_service ledger verify holds, one certificate entry per certificate of the sessions
# table and the audit, exports verify with the public key alone (factory_tool), and tampered
# copies of the database fail naming the right sequence number.
BIN=$1
. "$(dirname "$0")/lib.sh"
FS=$BIN/factory_service
init_service
[ "$(stat -c %a "$DIR/keys/ledger.key")" = 600 ] || fail "ledger key is not 0600"
start_service "$DIR" "$PORT" "$WORK/service.log"
pid=$LAST_PID
N=6
n=0
while [ $n -lt $N ]; do
    provision "$(printf 'ledger-%04d' $n)" "$WORK/dev$n" >/dev/null || fail "device $n flow failed"
    n=$((n + 1))
done
# A session the station closes with report_error: an outcome entry with its code.
"$BIN/factory_tool" new_device ledger-err >/dev/null || fail "new_device failed"
"$BIN/factory_tool" report_error ledger-err 7 "station gave up" >/dev/null || fail "report_error failed"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
SERVICE_PIDS=""
DB=$DIR/factory.db

"$FS" ledger verify "$DIR" >"$WORK/verify.out" || fail "ledger verify: $(cat "$WORK/verify.out")"
grep -q "ledger holds" "$WORK/verify.out" || fail "verify output: $(cat "$WORK/verify.out")"
certs=$(sqlite3 "$DB" "SELECT COUNT(*) FROM ledger WHERE kind='certificate'")
sessions=$(sqlite3 "$DB" "SELECT COUNT(*) FROM sessions WHERE cert IS NOT NULL")
audit=$(sqlite3 "$DB" "SELECT COUNT(*) FROM audit WHERE fingerprint IS NOT NULL AND result='done'")
[ "$certs" = $N ] || fail "certificate entries $certs != $N"
[ "$sessions" = $N ] || fail "sessions with a certificate $sessions != $N"
[ "$audit" = $N ] || fail "audit rows with a certificate $audit != $N"
# Each entry names the stored certificate: the SHA-256 of the sessions table's DER.
for sid in $(sqlite3 "$DB" "SELECT sid FROM sessions WHERE cert IS NOT NULL"); do
    sqlite3 "$DB" "SELECT cert FROM sessions WHERE sid='$sid'" | xxd -r -p >"$WORK/c.der"
    h=$(openssl dgst -sha256 -r "$WORK/c.der" | cut -d' ' -f1)
    serial=$(openssl x509 -inform DER -in "$WORK/c.der" -noout -serial | sed 's/serial=//')
    # The issuer and subject CNs, read from the DER by the service: as OpenSSL reads them.
    issuer=$(openssl x509 -inform DER -in "$WORK/c.der" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=CN=//')
    subject=$(openssl x509 -inform DER -in "$WORK/c.der" -noout -subject -nameopt RFC2253 | sed 's/^subject=CN=//')
    [ "$subject" = "$sid" ] || fail "certificate subject of $sid: $subject"
    row=$(sqlite3 "$DB" "SELECT station || '|' || serial || '|' || issuer_ca || '|' || outcome FROM ledger WHERE kind='certificate' AND endpoint='$sid' AND lower(hex(cert_sha256))='$h'")
    [ "$row" = "station1|$serial|$issuer|issued" ] || fail "certificate entry of $sid: '$row' (serial $serial, issuer $issuer)"
done
[ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM ledger WHERE kind='outcome' AND outcome='done'")" = $N ] ||
    fail "done outcomes"
[ "$(sqlite3 "$DB" "SELECT outcome FROM ledger WHERE kind='outcome' AND endpoint='ledger-err'")" = "error 7" ] ||
    fail "report_error outcome: $(sqlite3 "$DB" "SELECT * FROM ledger WHERE endpoint='ledger-err'")"
[ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM ledger WHERE kind='ca' AND outcome='created'")" = 3 ] ||
    fail "CA events of init"
last=$(sqlite3 "$DB" "SELECT MAX(seq) FROM ledger")
[ "$(sqlite3 "$DB" "SELECT MAX(seq) FROM ledger_checkpoint")" = "$last" ] ||
    fail "service stop did not sign the head"

"$FS" ledger pubkey "$DIR" >"$WORK/ledger.pub" || fail "ledger pubkey"
openssl pkey -pubin -in "$WORK/ledger.pub" -noout || fail "pubkey is not a public key"
for fmt in jsonl cbor; do
    "$FS" ledger export "$DIR" --format $fmt -o "$WORK/ledger.$fmt" || fail "export $fmt"
    "$BIN/factory_tool" ledger verify "$WORK/ledger.$fmt" --pubkey "$WORK/ledger.pub" >/dev/null ||
        fail "factory_tool rejects the $fmt export"
done
[ "$(wc -l <"$WORK/ledger.jsonl")" = "$(sqlite3 "$DB" "SELECT (SELECT COUNT(*) FROM ledger) + (SELECT COUNT(*) FROM ledger_checkpoint)")" ] ||
    fail "jsonl export lines"

# tamper NAME SQL VERDICT SEQ: on a copy of the database
tamper() {
    copy=$WORK/copy.db
    rm -f "$copy"
    sqlite3 "$DB" ".backup '$copy'"
    sqlite3 "$copy" "$2"
    "$FS" ledger verify "$DIR" --db "sqlite:$copy" >"$WORK/t.out" 2>&1 && fail "$1: verify held"
    grep -q "does not hold: $3" "$WORK/t.out" || fail "$1: $(cat "$WORK/t.out")"
    grep -q "seq $4\b\|entry $4\b\|sequence number $4\b\| $4[ :,.)]" "$WORK/t.out" ||
        fail "$1: seq $4 not named: $(cat "$WORK/t.out")"
}
mid=$(sqlite3 "$DB" "SELECT MIN(seq) FROM ledger WHERE kind='certificate'")
tamper "a changed byte" "UPDATE ledger SET serial=serial || '0' WHERE seq=$mid" CHANGED $mid
tamper "a deleted row" "DELETE FROM ledger WHERE seq=$((mid + 1))" MISSING $((mid + 1))
tamper "two swapped entries" "UPDATE ledger SET id=-1 WHERE seq=$mid; UPDATE ledger SET id=$mid WHERE seq=$((mid + 1)); UPDATE ledger SET id=$((mid + 1)) WHERE id=-1" REORDERED $mid
# Without the last checkpoint, the entries after the one before it are unsigned: named by the first.
prev=$(sqlite3 "$DB" "SELECT MAX(seq) FROM ledger_checkpoint WHERE seq < $last")
tamper "a dropped last checkpoint" "DELETE FROM ledger_checkpoint WHERE seq=$last" UNSIGNED_TAIL $((prev + 1))
tamper "a dropped tail after the last checkpoint" "DELETE FROM ledger_checkpoint WHERE seq=$last; DELETE FROM ledger WHERE seq > $((last - 2))" UNSIGNED_TAIL $((prev + 1))
"$FS" ledger verify "$DIR" >/dev/null || fail "the untouched database no longer verifies"

# A state folder made before the ledger (no key, no tables) gets its key on the first run.
OLD=$WORK/old
"$FS" init "$OLD" --listen "127.0.0.1:$(free_port)" >/dev/null
rm "$OLD/keys/ledger.key"
sqlite3 "$OLD/factory.db" "DROP TABLE ledger; DROP TABLE ledger_checkpoint"
"$FS" stats "$OLD" >/dev/null || fail "an old folder does not open"
[ "$(stat -c %a "$OLD/keys/ledger.key")" = 600 ] || fail "old folder: no 0600 ledger key"
"$FS" ledger pubkey "$OLD" | grep -q "BEGIN PUBLIC KEY" || fail "old folder: no public key"
exit 0
