#!/bin/sh
# The production quota is reached with a clear error and never exceeded, even with several
# stations asking at once.
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service --batch lot-7
"$BIN/factory_service" add-station "$DIR" station2 "$WORK/station2.pem" --batch lot-7 >/dev/null
"$BIN/factory_service" add-station "$DIR" station3 "$WORK/station3.pem" --batch lot-7 >/dev/null
"$BIN/factory_service" set-quota "$DIR" lot-7 5
start_service "$DIR" "$PORT" "$WORK/service.log"

# Every station prepares devices first, then all ask for configurations at the same moment.
for s in 1 2 3; do
    f=$WORK/station$s.pem
    [ $s = 1 ] && f=$STATION
    for d in 1 2 3; do
        p=$("$BIN/factory_tool" new_device "q$s-$d" --station "$f" | payload)
        "$BIN/factory_client" --storage "$WORK/dev$s-$d" sf "$p" --factory-trust "$TRUST" \
            >"$WORK/resp$s-$d"
    done
done
workers=""
for s in 1 2 3; do
    f=$WORK/station$s.pem
    [ $s = 1 ] && f=$STATION
    (
        for d in 1 2 3; do
            if "$BIN/factory_tool" get_device_configuration "q$s-$d" "$(cat "$WORK/resp$s-$d")" \
                --station "$f" >"$WORK/conf$s-$d" 2>"$WORK/err$s-$d"; then
                echo ok >"$WORK/res$s-$d"
            else
                echo refused >"$WORK/res$s-$d"
            fi
        done
    ) &
    workers="$workers $!"
done
for w in $workers; do wait "$w"; done
ok=$(cat "$WORK"/res* | grep -c '^ok$')
[ "$ok" -eq 5 ] || fail "$ok configurations issued with a quota of 5"
refused=$(grep -l "error 109" "$WORK"/err* | wc -l)
[ "$refused" -eq 4 ] || fail "$refused refusals name the quota: $(cat "$WORK"/err*)"
"$BIN/factory_service" stats "$DIR" --batch lot-7 | grep -q "^quota lot-7 5/5$" || fail "quota counter"
# Each refusal is recorded: the session is refused-quota, and the audit has a row with code 109.
db=$DIR/factory.db
[ "$(sqlite3 "$db" "SELECT COUNT(*) FROM sessions WHERE state = 'refused-quota' AND error_code = 109")" -eq 4 ] ||
    fail "refused sessions: $(sqlite3 "$db" 'SELECT sid, state, error_code FROM sessions')"
"$BIN/factory_service" audit "$DIR" --format json | /usr/bin/python3 -c '
import json,sys; a=json.load(sys.stdin); r=[x for x in a if x["result"]=="refused-quota"]
assert len(r)==4, a
for x in r:
    assert x["error_code"]==109 and x["fingerprint"] is None and x["station"], x'
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 5$" || fail "certificate count"
# A session belongs to the station that created it: the retries go through that station.
owner() { # ID (station-device) -> that station's file
    case $1 in 1-*) echo "$STATION" ;; *) echo "$WORK/station${1%%-*}.pem" ;; esac
}
# Retrying an issued configuration does not consume quota.
for f in "$WORK"/res*; do
    if [ "$(cat "$f")" = ok ]; then
        id=${f##*/res}
        "$BIN/factory_tool" get_device_configuration "q$id" "$(cat "$WORK/resp$id")" \
            --station "$(owner "$id")" >/dev/null || fail "retry after quota reached"
    fi
done
"$BIN/factory_service" stats "$DIR" --batch lot-7 | grep -q "^quota lot-7 5/5$" || fail "retry consumed quota"
# Raising the quota lets the refused devices through.
"$BIN/factory_service" set-quota "$DIR" lot-7 9
for f in "$WORK"/res*; do
    if [ "$(cat "$f")" = refused ]; then
        id=${f##*/res}
        "$BIN/factory_tool" get_device_configuration "q$id" "$(cat "$WORK/resp$id")" \
            --station "$(owner "$id")" >/dev/null || fail "refused device after raising the quota"
    fi
done
"$BIN/factory_service" stats "$DIR" --batch lot-7 | grep -q "^quota lot-7 9/9$" || fail "quota 9/9"
# The configured attempts left their refused-quota rows in place: 4 refusals, 0 lost.
[ "$(sqlite3 "$db" "SELECT COUNT(*) FROM sessions WHERE state = 'config-sent'")" -eq 9 ] ||
    fail "sessions after raising the quota: $(sqlite3 "$db" 'SELECT sid, state, attempt FROM sessions')"
[ "$(sqlite3 "$db" "SELECT COUNT(*) FROM audit WHERE result = 'refused-quota' AND error_code = 109")" -eq 4 ] ||
    fail "refusal rows after raising the quota"
echo "sf quota: 1 passed, 0 failed"
