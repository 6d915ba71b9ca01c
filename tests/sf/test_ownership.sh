#!/bin/sh
# A session belongs to the station (and batch) that created it. Another station's steps and
# report_error on it are refused with 102, exactly the answer (HTTP status and body) a session
# that does not exist gets; new_device on it answers 127; every refusal leaves a row in the
# refusals table and nothing else changes (session columns, quota). A station replaying an old,
# valid device answer into another session is refused. Real service, mutual TLS, curl.
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
ST1=$STATION
ST2=$WORK/station2.pem
ST3=$WORK/station3.pem
"$BIN/factory_service" add-station "$DIR" station2 "$ST2" >/dev/null
"$BIN/factory_service" add-station "$DIR" station3 "$ST3" --batch lot-b >/dev/null
"$BIN/factory_service" set-quota "$DIR" default 100
start_service "$DIR" "$PORT" "$WORK/service.log"

# refused_like_missing WHAT ANSWER-OF-THE-FOREIGN-SESSION ANSWER-OF-A-MISSING-ONE
refused_like_missing() {
    echo "$2" | grep -q '^404 {"error":102,' || fail "$1: not refused with 102: $2"
    [ "$2" = "$3" ] || fail "$1: 'not yours' ($2) differs from 'does not exist' ($3)"
}
refusals() { sqlite3 "$DIR/factory.db" "SELECT COUNT(*) FROM refusals"; }

# station2 opens a session; its device answers.
p2=$("$BIN/factory_tool" new_device own-2 --station "$ST2" | payload)
r2=$("$BIN/factory_client" --storage "$WORK/dev2" sf "$p2" --factory-trust "$TRUST")
before=$(session_row own-2)
[ -n "$before" ] || fail "no session own-2"

# new_device with another station's session ID: 127, the session keeps its station and payload.
a=$(post "$ST1" new_device '{"session_id":"own-2"}')
echo "$a" | grep -q '^409 {"error":127,' || fail "new_device on station2's session: $a"
echo "$a" | grep -q payload && fail "new_device revealed station2's payload"
a=$(post "$ST3" new_device '{"session_id":"own-2"}')
echo "$a" | grep -q '^409 {"error":127,' || fail "new_device from another batch: $a"
[ "$(session_row own-2)" = "$before" ] || fail "new_device of station1 changed the session"

# get_device_configuration with the device's real answer, from station1 and from the other batch.
for st in "$ST1" "$ST3"; do
    a=$(post "$st" get_device_configuration "{\"session_id\":\"own-2\",\"response\":\"$r2\"}")
    b=$(post "$st" get_device_configuration "{\"session_id\":\"ghost-1\",\"response\":\"$r2\"}")
    refused_like_missing "get_device_configuration" "$a" "$b"
done
[ "$(session_row own-2)" = "$before" ] || fail "get_device_configuration of another station changed the session"
"$BIN/factory_service" stats "$DIR" | grep -q "^quota default 0/100$" || fail "a refused step consumed quota"
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 0$" || fail "a refused step issued a certificate"
a=$(post "$ST1" report_error '{"session_id":"own-2","code":3,"reason":"x"}')
b=$(post "$ST1" report_error '{"session_id":"ghost-2","code":3,"reason":"x"}')
refused_like_missing "report_error (init-sent)" "$a" "$b"
[ "$(session_row own-2)" = "$before" ] || fail "report_error of another station changed the session"

# station2 carries on: its session is intact.
c2=$("$BIN/factory_tool" get_device_configuration own-2 "$r2" --station "$ST2" | payload)
[ -n "$c2" ] || fail "station2 cannot carry on its own session"
f2=$("$BIN/factory_client" --storage "$WORK/dev2" sf "$c2" --factory-trust "$TRUST")
mid=$(session_row own-2)
a=$(post "$ST1" handle_device_response "{\"session_id\":\"own-2\",\"response\":\"$f2\"}")
b=$(post "$ST1" handle_device_response "{\"session_id\":\"ghost-3\",\"response\":\"$f2\"}")
refused_like_missing "handle_device_response" "$a" "$b"
a=$(post "$ST1" report_error '{"session_id":"own-2","code":3}')
b=$(post "$ST1" report_error '{"session_id":"ghost-4","code":3}')
refused_like_missing "report_error (config-sent)" "$a" "$b"
[ "$(session_row own-2)" = "$mid" ] || fail "another station changed the configured session"

# Every refusal above has its row, naming the station that asked, whatever the reason.
[ "$(refusals)" -eq 12 ] || fail "$(refusals) refusal rows: $(sqlite3 "$DIR/factory.db" 'SELECT * FROM refusals')"
# The operator sees them through the service, not only with sqlite3: audit --refusals.
"$BIN/factory_service" audit "$DIR" --refusals >"$WORK/refusals.csv" || fail "audit --refusals failed"
[ "$(head -n 1 "$WORK/refusals.csv")" = "at,station,batch,session_id,request,error_code,reason" ] ||
    fail "refusals header: $(head -n 1 "$WORK/refusals.csv")"
[ "$(grep -c ',own-2,' "$WORK/refusals.csv")" -eq "$(sqlite3 "$DIR/factory.db" "SELECT COUNT(*) FROM refusals WHERE sid='own-2'")" ] ||
    fail "audit --refusals rows of own-2: $(cat "$WORK/refusals.csv")"
"$BIN/factory_service" audit "$DIR" --refusals --json | /usr/bin/python3 -c '
import json,sys; a=json.load(sys.stdin); assert len(a)==12, len(a)
assert all(isinstance(r["error_code"], int) and r["station"] and r["request"] for r in a)' ||
    fail "audit --refusals --json"
[ "$(sqlite3 "$DIR/factory.db" "SELECT COUNT(*) FROM refusals WHERE sid = 'own-2' AND station = 'station1' AND error_code = 102")" -eq 4 ] ||
    fail "refusals of station1 on own-2"
[ "$(sqlite3 "$DIR/factory.db" "SELECT COUNT(*) FROM refusals WHERE station = 'station3' AND batch = 'lot-b'")" -eq 3 ] ||
    fail "refusals of station3"
grep "session=own-2" "$WORK/service.log" | grep "station=station1" | grep -q "status=102" ||
    fail "the log does not show station1's refused requests"
# No ghost session was created by the refused steps.
[ "$(sqlite3 "$DIR/factory.db" "SELECT COUNT(*) FROM sessions WHERE sid LIKE 'ghost-%'")" -eq 0 ] ||
    fail "a refused step created a session"

# Replay: station1 offers device 2's old, valid answers in its own session and in station2's.
p1=$("$BIN/factory_tool" new_device own-1 | payload)
r1=$("$BIN/factory_client" --storage "$WORK/dev1" sf "$p1" --factory-trust "$TRUST")
"$BIN/factory_tool" get_device_configuration own-1 "$r2" 2>"$WORK/err" &&
    fail "device 2's init answer accepted for own-1"
grep -q "error 107" "$WORK/err" || fail "replayed init answer: $(cat "$WORK/err")"
c1=$("$BIN/factory_tool" get_device_configuration own-1 "$r1" | payload)
"$BIN/factory_tool" handle_device_response own-1 "$f2" 2>"$WORK/err" &&
    fail "device 2's final answer accepted for own-1"
grep -q "error 108" "$WORK/err" || fail "replayed final answer: $(cat "$WORK/err")"
f1=$("$BIN/factory_client" --storage "$WORK/dev1" sf "$c1" --factory-trust "$TRUST")
a=$(post "$ST1" handle_device_response "{\"session_id\":\"own-2\",\"response\":\"$f1\"}")
echo "$a" | grep -q '^404 {"error":102,' || fail "device 1's answer into station2's session: $a"
"$BIN/factory_tool" handle_device_response own-1 "$f1" | grep -q FINGERPRINT || fail "own-1 not completed"
"$BIN/factory_tool" handle_device_response own-2 "$f2" --station "$ST2" | grep -q FINGERPRINT ||
    fail "own-2 not completed by its station"
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 2$" || fail "certificate count"
# Done sessions stay the owner's: another station learns nothing about them.
a=$(post "$ST1" handle_device_response "{\"session_id\":\"own-2\",\"response\":\"$f2\"}")
b=$(post "$ST1" handle_device_response "{\"session_id\":\"ghost-5\",\"response\":\"$f2\"}")
refused_like_missing "handle_device_response (done)" "$a" "$b"
echo "$a" | grep -q fingerprint && fail "another station got station2's fingerprint"

# A session ID is unique per service: the key of the sessions table is the session ID alone.
[ "$(sqlite3 "$DIR/factory.db" "SELECT name FROM pragma_table_info('sessions') WHERE pk > 0")" = sid ] ||
    fail "sessions key: $(sqlite3 "$DIR/factory.db" "SELECT name, pk FROM pragma_table_info('sessions')")"
echo "sf ownership: 1 passed, 0 failed"
