#!/bin/sh
# A station host that loses power in the middle of a batch (its network gone at once, no FIN,
# no RST) must not hold its PostgreSQL session, and with it the ledger chain's advisory lock,
# for the operating system's two hours: the session asks the server for keepalives and a user
# timeout (kiln_ledger_pg_guard_session), so the server drops it within about 30 s. The station
# runs in a network namespace of its own behind a veth pair; the power cut is the link going
# down, then SIGKILL. Then a new station of the same name gets the chain's own name back (not
# NAME/2) and the whole ledger verifies. Needs root for the namespace (77 without).
# usage: records_pg_host_lost.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
BIN=$(dirname "$FT")
NS=kiln-lost-$$
NET=10.$((200 + $$ % 50)).$(($$ / 50 % 250)).
if ! ip netns add "$NS" 2>/dev/null; then
    echo "cannot create a network namespace (needs root and iproute2)"
    exit 77
fi
ip netns del "$NS"
PG_LISTEN="127.0.0.1,${NET}1"
. "$SRC/../sf/lib.sh"
. "$SRC/lib.sh"
drop_net() {
    ip link del "kv$$" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap 'cleanup; drop_net; pg_stop; rm -rf "$WORK"' EXIT
ip netns add "$NS"
ip link add "kv$$" type veth peer name "kp$$"
ip link set "kp$$" netns "$NS"
ip addr add "${NET}1/30" dev "kv$$"
ip link set "kv$$" up
ip netns exec "$NS" ip addr add "${NET}2/30" dev "kp$$"
ip netns exec "$NS" ip link set "kp$$" up
start_postgres
echo "host all all ${NET}0/30 trust" >> "$PG_DATA/pg_hba.conf"
$RUN "$PGBIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
sleep 0.5
REMOTE=postgresql://kiln@${NET}1:$PG_PORT/factory
HOME_DIR=$(newhome home)

$PY -c 'import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1])): print("%s-%06d,SN-%d,tcp:127.0.0.1:1" % (sys.argv[2], i, i))' 200000 lost \
    > "$TMP_ROOT/lost.csv"
$PY -c 'import sys
print("endpoint_name,serial_number,address")
for i in range(int(sys.argv[1])): print("%s-%06d,SN-%d,tcp:127.0.0.1:1" % (sys.argv[2], i, i))' 50 after \
    > "$TMP_ROOT/after.csv"
from_station() { q "SELECT count(*) FROM pg_stat_activity WHERE client_addr = '${NET}2'"; }

ip netns exec "$NS" "$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/lost.csv" \
    --out "$TMP_ROOT/b1" --jobs 1 --station st-lost --records-db "$REMOTE" > "$TMP_ROOT/a.out" 2>&1 &
PA=$!
i=0
while ! grep -q '"result": "prepared"' "$TMP_ROOT/a.out" 2>/dev/null && [ $i -lt 1000 ]; do
    sleep 0.01; i=$((i + 1))
done
check "the station works over the namespace's link" test "$(from_station)" -ge 1
check "it owns its ledger chain" test "$(q "SELECT count(*) FROM ledger WHERE chain = 'st-lost'")" -ge 1
# The power cut: the station's link goes first, so nothing it does after reaches the server.
ip link set "kv$$" down
kill -9 $PA 2>/dev/null || true
wait $PA 2>/dev/null || true
start=$(date +%s)
while [ "$(from_station)" -gt 0 ] && [ $(($(date +%s) - start)) -lt 90 ]; do sleep 1; done
held=$(($(date +%s) - start))
echo "the server held the lost station's sessions for ${held} s"
check "the server drops the lost host's sessions within a minute" test "$(from_station)" -eq 0 -a "$held" -lt 60

"$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$TMP_ROOT/after.csv" --out "$TMP_ROOT/b2" \
    --jobs 1 --station st-lost --records-db "$DB" > "$TMP_ROOT/b.out" 2>&1
check "a new station of that name prepares its batch" test "$(grep -c '"result": "prepared"' "$TMP_ROOT/b.out")" -eq 50
check "and writes the chain of the name itself, not st-lost/2" test \
    "$(q "SELECT count(*) FROM ledger WHERE chain = 'st-lost/2'")" -eq 0 -a \
    "$(q "SELECT count(*) FROM ledger WHERE chain = 'st-lost' AND endpoint LIKE 'after-%'")" -ge 50
check "the ledger verifies, the lost station's entries included" ft ledger verify --records-db "$DB"
finish
