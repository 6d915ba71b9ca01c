#!/bin/sh
# The engine's turn rule and start order (line_engine.c), through line_engine.h from a program
# of its own, against real simulated devices and a real records file:
# - the batch's tail commits once half of those in flight finished, not once per device (32 in
#   flight at the end: one turn per device was 16 or more turns of one device each);
# - the first job of every free address starts, in list order, however far down the list it is
#   (a long run of one address first used to hold back every other address behind it).
# usage: engine_turns.sh PROGRAM FT FC FAKE SRC VECTORS
PROG=$1; shift
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
start devs "$FC" --storage "$TMP_ROOT/devs" --devices 32 --forever tcp --port 0
PORTS=$(ports devs 32 | tr '\n' ' ')

# --- the tail: 96 devices over the 32 addresses, 32 in flight -------------------------------
$PY - 96 $PORTS > "$TMP_ROOT/tail.csv" <<'PY'
import sys
n, ports = int(sys.argv[1]), sys.argv[2:]
print("endpoint_name,serial_number,address")
for i in range(n):
    print("tl-%d,SN-%d,tcp:127.0.0.1:%s" % (i, i, ports[i % len(ports)]))
PY
"$PROG" "$HOME_DIR" "$TMP_ROOT/tail.csv" "$TMP_ROOT/tail.db" 32 > "$TMP_ROOT/tail.out" 2>&1 && rc=0 || rc=$?
check "every device of the tail run succeeds" sh -c "test $rc = 0 && grep -q '^total 96 succeeded 96 failed 0 ' '$TMP_ROOT/tail.out'"
check "every device is reported in a turn" test "$(grep '^turn ' "$TMP_ROOT/tail.out" | awk '{s += $2} END {print s}')" = 96
# The tail halves (32 -> 16 -> ... -> 1): two turns of one device, a few more when the 50 ms
# delay or a slow device splits a turn; one turn per device gave one for each of the last 16
# or more (22 of 36 turns in a run of the earlier rule).
check "few turns of a single device" sh -c "n=\$(grep -c '^turn 1\$' '$TMP_ROOT/tail.out'); echo \$n single-device turns of \$(grep -c '^turn ' '$TMP_ROOT/tail.out'); test \$n -le 10"

# --- start order: 300 devices of one address, then one device on each of 4 others ----------
set -- $PORTS
$PY - $1 $2 $3 $4 $5 > "$TMP_ROOT/order.csv" <<'PY'
import sys
a, others = sys.argv[1], sys.argv[2:]
print("endpoint_name,serial_number,address")
for i in range(300):
    print("or-a-%d,SN-%d,tcp:127.0.0.1:%s" % (i, i, a))
for k, p in enumerate(others):
    print("or-b-%d,SN-B%d,tcp:127.0.0.1:%s" % (k, k, p))
PY
"$PROG" "$HOME_DIR" "$TMP_ROOT/order.csv" "$TMP_ROOT/order.db" 8 > "$TMP_ROOT/order.out" 2>&1 && rc=0 || rc=$?
check "every device of the order run succeeds" sh -c "test $rc = 0 && grep -q '^total 304 succeeded 304 failed 0 ' '$TMP_ROOT/order.out'"
# Started rows are inserted as jobs start: the first turn starts or-a-0 and the four others (their
# addresses are free), in list order, before the second device of the busy address.
check "the other addresses' devices start in the first turn, in list order" sh -c "test \"\$(sqlite3 '$TMP_ROOT/order.db' \"SELECT group_concat(endpoint, ' ') FROM (SELECT endpoint FROM attempts ORDER BY id LIMIT 6)\")\" = 'or-a-0 or-b-0 or-b-1 or-b-2 or-b-3 or-a-1'"
check "the busy address's devices start in list order" sh -c "sqlite3 '$TMP_ROOT/order.db' \"SELECT endpoint FROM attempts WHERE endpoint LIKE 'or-a-%' ORDER BY id\" | $PY -c 'import sys; e=[int(l.split(\"-\")[2]) for l in sys.stdin]; sys.exit(e != list(range(300)))'"
finish
