#!/bin/sh
# PostgreSQL: a real server started by the test (initdb/pg_ctl in a temporary folder, as the
# postgres user when run as root); two service instances share it. Seed 001's flow crosses
# instances, one instance is killed mid-session, and the quota holds across instances.
BIN=$1
. "$(dirname "$0")/lib.sh"
start_postgres

DIR=$WORK/service
PORT_A=$(free_port)
PORT_B=$(free_port)
"$BIN/factory_service" init "$DIR" --listen "127.0.0.1:$PORT_A" >/dev/null
sed -i "s|^# db = .*|db = $DB|" "$DIR/service.conf"
TRUST=$DIR/device-trust.pem
STATION=$WORK/station-a.pem
"$BIN/factory_service" add-station "$DIR" station1 "$STATION" >/dev/null
sed "s|^service-url: .*|service-url: https://127.0.0.1:$PORT_B|" "$STATION" >"$WORK/station-b.pem"
export FACTORY_STATION=$STATION
start_service "$DIR" "$PORT_A" "$WORK/a.log"
PID_A=$LAST_PID
start_service "$DIR" "$PORT_B" "$WORK/b.log" --db "$DB" --replica sf-b
grep -q "database postgresql" "$WORK/a.log.out" || fail "instance A is not on PostgreSQL"

# Full flow for several devices, every step alternating between the instances.
n=0
while [ $n -lt 4 ]; do
    sid=pg-dev-$n
    out=$("$BIN/factory_tool" new_device $sid)
    resp=$("$BIN/factory_client" --storage "$WORK/dev$n" sf "$(echo "$out" | payload)" --factory-trust "$TRUST")
    out=$("$BIN/factory_tool" get_device_configuration $sid "$resp" --station "$WORK/station-b.pem") ||
        fail "configuration via instance B"
    resp=$("$BIN/factory_client" --storage "$WORK/dev$n" sf "$(echo "$out" | payload)" --factory-trust "$TRUST")
    fp=$("$BIN/factory_tool" handle_device_response $sid "$resp" | sed -n 's/^FINGERPRINT //p')
    [ "$fp" = "$(stored_fingerprint "$WORK/dev$n")" ] || fail "fingerprint of device $n"
    n=$((n + 1))
done

# Instance A dies mid-session; instance B completes it with the same configuration.
p=$("$BIN/factory_tool" new_device pg-kill | payload)
r=$("$BIN/factory_client" --storage "$WORK/devk" sf "$p" --factory-trust "$TRUST")
c1=$("$BIN/factory_tool" get_device_configuration pg-kill "$r" | payload)
kill -9 "$PID_A"
c2=$("$BIN/factory_tool" get_device_configuration pg-kill "$r" --station "$WORK/station-b.pem" | payload)
[ "$c1" = "$c2" ] || fail "instance B answered differently"
f=$("$BIN/factory_client" --storage "$WORK/devk" sf "$c2" --factory-trust "$TRUST")
"$BIN/factory_tool" handle_device_response pg-kill "$f" --station "$WORK/station-b.pem" | grep -q FINGERPRINT ||
    fail "session not completed on instance B"
start_service "$DIR" "$PORT_A" "$WORK/a.log"

# Ownership on PostgreSQL: station2 cannot touch station1's session through either instance; its
# refusals are rows of the shared database, the same answer as a missing session's.
"$BIN/factory_service" add-station "$DIR" station2 "$WORK/station2.pem" >/dev/null
q() { psql -At -h 127.0.0.1 -p "$PG_PORT" -U kiln factory -c "$1"; }
# The ledger: a chain per pooled connection, B's named after its --replica (sf-b, sf-b/2 ..),
# A's after the host name; none in the unnamed chain, whose appends all queued on one lock.
[ "$(q "SELECT COUNT(*) FROM ledger WHERE kind = 'certificate' AND (chain = 'sf-b' OR chain LIKE 'sf-b/%')")" -gt 0 ] ||
    fail "no certificate entry in B's chains: $(q "SELECT string_agg(DISTINCT chain, ' ') FROM ledger")"
[ "$(q "SELECT COUNT(*) FROM ledger WHERE chain = ''")" -eq 0 ] || fail "entries in the unnamed chain"
p=$("$BIN/factory_tool" new_device pg-own | payload)
r=$("$BIN/factory_client" --storage "$WORK/devo" sf "$p" --factory-trust "$TRUST")
before=$(q "SELECT * FROM sessions WHERE sid = 'pg-own'")
"$BIN/factory_tool" new_device pg-own --station "$WORK/station2.pem" 2>"$WORK/err" &&
    fail "station2 got station1's session"
grep -q "error 127" "$WORK/err" || fail "new_device of station2: $(cat "$WORK/err")"
for sid in pg-own pg-ghost; do
    "$BIN/factory_tool" get_device_configuration $sid "$r" --station "$WORK/station2.pem" \
        >/dev/null 2>"$WORK/err-$sid" && fail "station2 configured $sid"
    "$BIN/factory_tool" report_error $sid 3 x --station "$WORK/station2.pem" \
        >/dev/null 2>>"$WORK/err-$sid" && fail "station2 closed $sid"
done
grep -q "error 102" "$WORK/err-pg-own" || fail "station2 on pg-own: $(cat "$WORK/err-pg-own")"
[ "$(sed 's/pg-own/SID/g' "$WORK/err-pg-own")" = "$(sed 's/pg-ghost/SID/g' "$WORK/err-pg-ghost")" ] ||
    fail "'not yours' and 'does not exist' differ on PostgreSQL"
[ "$(q "SELECT * FROM sessions WHERE sid = 'pg-own'")" = "$before" ] || fail "station2 changed pg-own"
[ "$(q "SELECT COUNT(*) FROM refusals WHERE station = 'station2'")" -eq 5 ] || fail "refusal rows on PostgreSQL"
[ "$(q "SELECT COUNT(*) FROM sessions WHERE sid = 'pg-ghost'")" -eq 0 ] || fail "a refusal created a session"
# The session ID alone is the key of the sessions table (unique per service, not per station).
[ "$(q "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'sessions'::regclass AND i.indisprimary")" = sid ] ||
    fail "sessions key on PostgreSQL"
"$BIN/factory_tool" report_error pg-own 3 "not needed" >/dev/null || fail "station1 closes its session"

# Quota across instances: 8 devices ask at once through both instances; the quota is 3 more.
"$BIN/factory_service" set-quota "$DIR" default 8 --db "$DB"
for d in 1 2 3 4 5 6 7 8; do
    p=$("$BIN/factory_tool" new_device "pq-$d" | payload)
    "$BIN/factory_client" --storage "$WORK/q$d" sf "$p" --factory-trust "$TRUST" >"$WORK/resp$d"
done
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 5$" || fail "certificates before quota"
"$BIN/factory_service" set-quota "$DIR" default 3
workers=""
for d in 1 2 3 4 5 6 7 8; do
    st=$STATION
    [ $((d % 2)) -eq 0 ] && st=$WORK/station-b.pem
    ("$BIN/factory_tool" get_device_configuration "pq-$d" "$(cat "$WORK/resp$d")" --station "$st" \
        >/dev/null 2>"$WORK/err$d" && echo ok >"$WORK/res$d" || echo refused >"$WORK/res$d") &
    workers="$workers $!"
done
for w in $workers; do wait "$w"; done
ok=$(cat "$WORK"/res* | grep -c '^ok$')
[ "$ok" -eq 3 ] || fail "$ok configurations with a quota of 3"
[ "$(grep -l "error 109" "$WORK"/err* | wc -l)" -eq 5 ] || fail "quota refusals: $(cat "$WORK"/err*)"
"$BIN/factory_service" stats "$DIR" | grep -q "^quota default 3/3$" || fail "quota counter"
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 8$" || fail "certificate count"
"$BIN/factory_service" audit "$DIR" --format json | /usr/bin/python3 -c '
import json,sys; a=json.load(sys.stdin); done=[r for r in a if r["result"]=="done"]
assert len(done)==5, a
for r in done:
    assert r["error_code"] is None and r["error_reason"] is None, r
    assert len(r["fingerprint"])==40 and len(r["device_key_sha256"])==64, r
    assert r["station"], r
    assert 0 < r["started"] <= r["finished"], r
refused=[r for r in a if r["result"]=="refused-quota"]
assert len(refused)==5 and all(r["error_code"]==109 and r["fingerprint"] is None for r in refused), a'
[ "$(psql -At -h 127.0.0.1 -p "$PG_PORT" -U kiln factory -c \
    "SELECT COUNT(*) FROM sessions WHERE state = 'refused-quota' AND error_code = 109")" -eq 5 ] ||
    fail "refused sessions on PostgreSQL"

# The ledger in the same database: one certificate entry per stored certificate (the stats'
# count, killed instance included), committed with it; the instances sign their heads at stop.
for p in $SERVICE_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
for p in $SERVICE_PIDS; do wait "$p" 2>/dev/null || true; done
SERVICE_PIDS=""
"$BIN/factory_service" ledger verify "$DIR" >"$WORK/ledger.out" || fail "ledger verify: $(cat "$WORK/ledger.out")"
qq() { psql -At -h 127.0.0.1 -p "$PG_PORT" -U kiln factory -c "$1"; }
[ "$(qq "SELECT COUNT(*) FROM ledger WHERE kind = 'certificate'")" -eq 8 ] ||
    fail "certificate entries: $(qq "SELECT COUNT(*) FROM ledger WHERE kind = 'certificate'")"
[ "$(qq "SELECT COUNT(*) FROM ledger WHERE kind = 'outcome' AND outcome = 'done'")" -eq 5 ] ||
    fail "done outcome entries"
[ "$(qq "SELECT COUNT(*) FROM ledger WHERE kind = 'outcome' AND outcome = 'refused-quota 109'")" -eq 5 ] ||
    fail "refused-quota outcome entries"
[ "$(qq "SELECT string_agg(issuer_ca || ' ' || outcome, ',' ORDER BY seq) FROM ledger WHERE kind = 'ca'")" = "device-ca in-use,station-ca in-use,signing in-use" ] ||
    fail "CA events: $(qq "SELECT issuer_ca, outcome FROM ledger WHERE kind = 'ca'")"
"$BIN/factory_service" ledger pubkey "$DIR" >"$WORK/ledger.pub" || fail "ledger pubkey"
"$BIN/factory_service" ledger export "$DIR" --format cbor -o "$WORK/ledger.cbor" || fail "export"
"$BIN/factory_tool" ledger verify "$WORK/ledger.cbor" --pubkey "$WORK/ledger.pub" >/dev/null ||
    fail "factory_tool rejects the PostgreSQL export"
# Each pooled connection of each replica appends to a chain of its own: the verdict names it.
set -- $(qq "SELECT id, seq, chain FROM ledger WHERE kind = 'certificate' ORDER BY id LIMIT 1" | tr '|' ' ')
id=$1 seq=$2 chain=$3
qq "UPDATE ledger SET serial = serial || '0' WHERE id = $id" >/dev/null
"$BIN/factory_service" ledger verify "$DIR" >"$WORK/ledger.out" && fail "a changed entry verified"
grep -qF "does not hold: CHANGED: chain $chain seq $seq: " "$WORK/ledger.out" || fail "tamper: $(cat "$WORK/ledger.out")"
qq "UPDATE ledger SET serial = left(serial, -1) WHERE id = $id" >/dev/null
"$BIN/factory_service" ledger verify "$DIR" >/dev/null || fail "the restored ledger does not hold"

assert_no_secrets_in "$WORK/a.log" "$DIR"/keys/*.key "$STATION"
assert_no_secrets_in "$WORK/b.log" "$DIR"/keys/*.key "$STATION"
echo "sf postgres: 1 passed, 0 failed"
