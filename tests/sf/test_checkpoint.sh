#!/bin/sh
# The service's WAL checkpointer on SQLite: under concurrent stations, what was committed reaches
# the database file itself (checkpointed), and the log starts over instead of growing with every
# commit. Four station clients run 60 sessions each (sf_replica_load, devices in RAM).
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"
"$BIN/sf_replica_load" "$STATION" "$TRUST" 4 60 ckpt "$WORK/load.out" "https://127.0.0.1:$PORT" \
    >"$WORK/load.log" 2>&1 || fail "load: $(cat "$WORK/load.log") $(grep -v ' done ' "$WORK/load.out")"
[ "$(grep -c ' done ' "$WORK/load.out")" -eq 240 ] || fail "sessions: $(cat "$WORK/load.out")"
sleep 0.5 # the checkpointer runs every 100 ms

# The database file alone (no -wal) holds every session: the log was copied into it.
cp "$DIR/factory.db" "$WORK/copy.db"
n=$(sqlite3 "$WORK/copy.db" "SELECT COUNT(*) FROM sessions WHERE state = 'done'")
[ "$n" -eq 240 ] || fail "the database file holds $n of 240 sessions: the log is not checkpointed"

# 240 sessions wrote about 4,000 pages of 4 KiB to the log. Each time the log starts over, SQLite
# increments the checkpoint sequence number in its header (bytes 12-15, big-endian): it must have
# done so, and the log's high-water mark stays well below what the sessions wrote. How far below
# depends on how often a restart finds no reader (1-4 MB seen, more on a loaded machine).
seq=$(od -An -tu1 -j12 -N4 "$DIR/factory.db-wal" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}')
[ "$seq" -gt 0 ] || fail "the log never started over (checkpoint sequence $seq)"
wal=$(wc -c <"$DIR/factory.db-wal")
[ "$wal" -lt 12000000 ] || fail "the log grew to $wal bytes: it does not start over"
kill "$LAST_PID"
wait "$LAST_PID" 2>/dev/null || true
echo "sf checkpoint: 2 passed, 0 failed"
