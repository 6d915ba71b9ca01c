#!/bin/sh
# Service replicas: two `factory_service run` processes on one PostgreSQL serve the same
# stations. 16 concurrent station clients (sf_replica_load, real devices in RAM) spread over both
# run 528 sessions against a quota of 500: exactly 500 complete, the other 28 get error 109. One
# replica is killed with SIGKILL in the middle, with one session paused after its configuration
# step on it: the clients carry on with the other replica (the station's URL list), which
# finishes their sessions without a second certificate. Then the audit, the sessions table, the
# quota counter and the certificates the devices stored all agree. factory_tool's own failover
# (several service URLs in the station file, --service-url) is checked first.
BIN=$1
. "$(dirname "$0")/lib.sh"
start_postgres

DIR=$WORK/service
PORT_A=$(free_port)
PORT_B=$(free_port)
URL_A=https://127.0.0.1:$PORT_A
URL_B=https://127.0.0.1:$PORT_B
DEAD=https://127.0.0.1:$(free_port) # nothing listens there
"$BIN/factory_service" init "$DIR" --listen "127.0.0.1:$PORT_A" >/dev/null
sed -i "s|^# db = .*|db = $DB|" "$DIR/service.conf"
TRUST=$DIR/device-trust.pem
STATION=$WORK/station1.pem
"$BIN/factory_service" add-station "$DIR" station1 "$STATION" --batch lot-r >/dev/null
"$BIN/factory_service" add-station "$DIR" station2 "$WORK/station2.pem" --batch cli >/dev/null
"$BIN/factory_service" set-quota "$DIR" lot-r 500
start_service "$DIR" "$PORT_A" "$WORK/a.log"
PID_A=$LAST_PID
start_service "$DIR" "$PORT_B" "$WORK/b.log"
PID_B=$LAST_PID
grep -q "database postgresql" "$WORK/a.log.out" || fail "replica A is not on PostgreSQL"

# A replica needs a copy of the same state folder: another folder's keys and CAs could not finish
# the sessions this one configured, so the database refuses it (error 122), at run and admin.
"$BIN/factory_service" init "$WORK/other" --listen "127.0.0.1:$(free_port)" >/dev/null
"$BIN/factory_service" run "$WORK/other" --db "$DB" --listen "127.0.0.1:$(free_port)" \
    >/dev/null 2>"$WORK/other.err" && fail "a replica of another state folder ran"
grep -q "error 122: .*belongs to another state folder" "$WORK/other.err" ||
    fail "other folder: $(cat "$WORK/other.err")"
"$BIN/factory_service" add-station "$WORK/other" intruder "$WORK/intruder.pem" --db "$DB" \
    >/dev/null 2>"$WORK/other.err" && fail "another folder added a station"
grep -q "error 122: .*belongs to another state folder" "$WORK/other.err" ||
    fail "add-station of another folder: $(cat "$WORK/other.err")"
[ "$(q "SELECT COUNT(*) FROM stations WHERE name = 'intruder'")" -eq 0 ] || fail "intruder station stored"

# ---- factory_tool: a station file with several service URLs, tried in order ----
# (station2, batch "cli" without a quota: the load below has lot-r's 500 to itself.)
sed "s|^service-url: .*|service-url: $DEAD $URL_A\nservice-url: $URL_B|" "$WORK/station2.pem" \
    >"$WORK/multi.pem"
chmod 600 "$WORK/multi.pem"
export FACTORY_STATION=$WORK/multi.pem
fp=$(provision cli-1 "$WORK/cli1" 2>"$WORK/cli1.err") || fail "provision over a URL list: $(cat "$WORK/cli1.err")"
check_provisioned "$fp" "$WORK/cli1" cli-1
grep -q "note: $DEAD: .*answered by $URL_A" "$WORK/cli1.err" ||
    fail "no failover note: $(cat "$WORK/cli1.err")"
# --service-url replaces the file's list (repeatable, in order).
out=$("$BIN/factory_tool" new_device cli-2 --service-url "$DEAD" --service-url "$URL_B" 2>"$WORK/err") ||
    fail "--service-url: $(cat "$WORK/err")"
grep -q "answered by $URL_B" "$WORK/err" || fail "--service-url note: $(cat "$WORK/err")"
[ "$(q "SELECT station FROM sessions WHERE sid = 'cli-2'")" = station2 ] || fail "cli-2 not stored"
grep -q "session=cli-2 " "$WORK/b.log" || fail "cli-2 did not reach replica B"
# Bad lists are refused before anything is sent, with a numbered error.
"$BIN/factory_tool" new_device cli-3 --service-url "http://127.0.0.1:$PORT_A" 2>"$WORK/err" &&
    fail "an http:// service URL was accepted"
grep -q "error 100: .*not https://" "$WORK/err" || fail "http URL: $(cat "$WORK/err")"
sed "s|^service-url: .*|service-url: $URL_A, ftp://x|" "$WORK/station2.pem" >"$WORK/bad.pem"
"$BIN/factory_tool" new_device cli-3 --station "$WORK/bad.pem" 2>"$WORK/err" &&
    fail "a station file with an ftp URL was accepted"
grep -q "error 117: .*'ftp://x' is not https://" "$WORK/err" || fail "bad file URL: $(cat "$WORK/err")"
[ "$(q "SELECT COUNT(*) FROM sessions WHERE sid = 'cli-3'")" -eq 0 ] || fail "a refused list sent a request"
# Every URL down: error 116 naming the count.
"$BIN/factory_tool" new_device cli-4 --service-url "$DEAD" --service-url "$DEAD/" 2>"$WORK/err" &&
    fail "no replica, yet success"
grep -q "error 116: all 2 service URLs failed" "$WORK/err" || fail "all down: $(cat "$WORK/err")"
unset FACTORY_STATION

# ---- 16 station clients on both replicas, quota 500, replica A killed in the middle ----
mkdir "$WORK/pause"
KILN_LOAD_PAUSE=$WORK/pause "$BIN/sf_replica_load" "$STATION" "$TRUST" 16 33 r "$WORK/load.out" \
    "$URL_A" "$URL_B" 2>"$WORK/load.err" &
LOAD=$!
i=0
while [ ! -f "$WORK/pause/paused" ] || [ "$(wc -l <"$WORK/load.out")" -lt 200 ]; do
    i=$((i + 1))
    [ $i -lt 1200 ] || fail "the load did not reach 200 sessions: $(cat "$WORK/load.err")"
    kill -0 $LOAD 2>/dev/null || fail "the load ended early: $(cat "$WORK/load.err")"
    sleep 0.05
done
read -r PAUSED PAUSED_URL <"$WORK/pause/paused"
[ "$PAUSED_URL" = "$URL_A" ] || fail "the paused session was configured by $PAUSED_URL"
kill -9 "$PID_A"
before_kill=$(wc -l <"$WORK/load.out")
touch "$WORK/pause/go"
wait $LOAD || fail "sessions failed: $(grep failed "$WORK/load.out" | head -5) $(cat "$WORK/load.err")"

# Every session ended, 500 with a certificate and 28 refused by the quota, none failed.
[ "$(wc -l <"$WORK/load.out")" -eq 528 ] || fail "$(wc -l <"$WORK/load.out") of 528 sessions ended"
done_n=$(grep -c " done " "$WORK/load.out" || true)
[ "$done_n" -eq 500 ] || fail "$done_n sessions done with a quota of 500"
[ "$(grep -c " refused 109$" "$WORK/load.out" || true)" -eq 28 ] ||
    fail "refusals: $(grep -v " done " "$WORK/load.out" | head)"
# The replica that answered each last step: both served, A only before it was killed.
on_a=$(grep " done .* $URL_A$" "$WORK/load.out" | wc -l)
on_b=$(grep " done .* $URL_B$" "$WORK/load.out" | wc -l)
[ "$on_a" -gt 0 ] && [ "$on_b" -gt 0 ] || fail "sessions done on A: $on_a, on B: $on_b"
[ "$on_a" -le "$before_kill" ] || fail "$on_a sessions done on A, $before_kill ended before the kill"

# The paused session: configured by A, which died; its retry and its final step went to B, which
# answered A's configuration (same payload, checked by the client) and recorded A's certificate.
grep -q "request=get_device_configuration session=$PAUSED status=0 " "$WORK/a.log" ||
    fail "A did not configure $PAUSED"
grep -q "request=get_device_configuration session=$PAUSED status=0 " "$WORK/b.log" ||
    fail "B did not answer the retried configuration of $PAUSED"
grep -q "request=handle_device_response session=$PAUSED status=0 " "$WORK/b.log" ||
    fail "B did not finish $PAUSED"
grep -q "^$PAUSED done .* $URL_B$" "$WORK/load.out" || fail "$PAUSED: $(grep "^$PAUSED " "$WORK/load.out")"
# Sessions opened on A and finished on B: at least the paused one.
started_a=$(sed -n 's/.*request=new_device session=\(r-[0-9-]*\) status=0 .*/\1/p' "$WORK/a.log" | sort -u)
finished_b=$(sed -n 's/.*request=handle_device_response session=\(r-[0-9-]*\) status=0 .*/\1/p' "$WORK/b.log" | sort -u)
printf '%s\n' "$finished_b" >"$WORK/finished_b"
moved=$(printf '%s\n' "$started_a" | grep -Fxc -f "$WORK/finished_b" || true)
[ "$moved" -ge 1 ] || fail "no session opened on A was finished on B"

# One certificate per done session, the one its device stored (the client compared the service's
# fingerprint with the SHA-1 of the stored certificate); the database agrees with the clients.
sed -n 's/^\(r-[0-9-]*\) done \([0-9a-f]*\) .*/\1 \2/p' "$WORK/load.out" | sort >"$WORK/clients.txt"
[ "$(cut -d' ' -f2 "$WORK/clients.txt" | sort -u | wc -l)" -eq 500 ] || fail "fingerprints are not distinct"
q "SELECT sid || ' ' || fingerprint FROM sessions WHERE batch = 'lot-r' AND state = 'done'" |
    sort >"$WORK/db.txt"
cmp -s "$WORK/clients.txt" "$WORK/db.txt" || fail "sessions table and clients differ: $(diff "$WORK/clients.txt" "$WORK/db.txt" | head)"
[ "$(q "SELECT COUNT(*) FROM (SELECT fingerprint FROM sessions WHERE batch = 'lot-r' AND cert IS NOT NULL UNION SELECT a.fingerprint FROM audit a WHERE a.station = 'station1' AND a.fingerprint IS NOT NULL) f")" -eq 500 ] ||
    fail "more certificates than done sessions in lot-r"
[ "$(q "SELECT COUNT(*) FROM sessions WHERE batch = 'lot-r' AND state = 'refused-quota' AND error_code = 109")" -eq 28 ] ||
    fail "refused sessions: $(q "SELECT state, COUNT(*) FROM sessions WHERE batch = 'lot-r' GROUP BY state")"
"$BIN/factory_service" stats "$DIR" --batch lot-r | grep -q "^quota lot-r 500/500$" ||
    fail "quota counter: $("$BIN/factory_service" stats "$DIR" --batch lot-r)"
# The audit: one done row per session, with its fingerprint; one refused-quota row per refusal.
"$BIN/factory_service" audit "$DIR" --format json >"$WORK/audit.json"
if /usr/bin/python3 - "$WORK/audit.json" "$WORK/clients.txt" <<'EOF'
import json, sys
audit = [r for r in json.load(open(sys.argv[1])) if r["station"] == "station1"]
clients = dict(line.split() for line in open(sys.argv[2]))
done = {r["session_id"]: r["fingerprint"] for r in audit if r["result"] == "done"}
assert len([r for r in audit if r["result"] == "done"]) == 500, "done rows"
assert done == clients, "audit fingerprints differ from the clients'"
refused = [r for r in audit if r["result"] == "refused-quota"]
assert len(refused) == 28 and all(r["error_code"] == 109 and r["fingerprint"] is None for r in refused)
assert len(audit) == 528, "%d audit rows" % len(audit)
EOF
then :; else fail "audit and clients disagree"; fi

# PostgreSQL restarts under the surviving replica: the request that meets a dead pooled
# connection fails with 113 (database error), nothing else does, and the replica goes on
# without a restart of its own.
$RUN "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w restart >/dev/null || fail "pg_ctl restart"
export FACTORY_STATION=$WORK/station2.pem
sed -i "s|^service-url: .*|service-url: $URL_B|" "$FACTORY_STATION"
"$BIN/factory_tool" new_device after-restart >/dev/null 2>"$WORK/err" ||
    grep -q "error 113" "$WORK/err" || fail "first request after the restart: $(cat "$WORK/err")"
fp=$(provision after-restart "$WORK/ar") || fail "replica B after the database restarted"
check_provisioned "$fp" "$WORK/ar" after-restart

# The ledger and the audit agree: with A SIGKILLed mid-load, the chain still holds once B stops
# (it signs the head), and its certificate entries are the 500 of the sessions table and audit.
kill -TERM "$PID_B"
wait "$PID_B" 2>/dev/null || true
"$BIN/factory_service" ledger verify "$DIR" >"$WORK/ledger.out" || fail "ledger verify: $(cat "$WORK/ledger.out")"
entries=$(q "SELECT COUNT(*) FROM ledger WHERE kind = 'certificate' AND station = 'station1'")
certs=$(q "SELECT COUNT(*) FROM sessions WHERE batch = 'lot-r' AND cert IS NOT NULL")
audit=$(q "SELECT COUNT(*) FROM audit WHERE station = 'station1' AND result = 'done' AND fingerprint IS NOT NULL")
[ "$entries" -eq 500 ] && [ "$certs" -eq 500 ] && [ "$audit" -eq 500 ] ||
    fail "ledger $entries, sessions $certs, audit $audit certificates (500 each)"
[ "$(q "SELECT COUNT(*) FROM ledger WHERE kind = 'outcome' AND station = 'station1' AND outcome = 'done'")" -eq 500 ] ||
    fail "done outcome entries"

assert_no_secrets_in "$WORK/a.log" "$DIR"/keys/*.key "$STATION"
assert_no_secrets_in "$WORK/b.log" "$DIR"/keys/*.key "$STATION"
echo "sf replicas: 1 passed, 0 failed (A done $on_a, B done $on_b, $moved moved from A to B)"
