#!/bin/sh
# bench_stations: N stations (factory_tool processes, distinct --station, each its own share of
# distinct endpoints) on one real PostgreSQL records database (bench/secure_factory/pg.sh starts
# it as its own user), for N = 1, 2, 4, 8; next to it, from the same run, one station on a
# SQLite file and one with --no-records. Two line commands:
#   prepare: factory_tool prepare-batch (the configurator and the records, no device);
#   inject:  factory_tool inject-batch against factory_client's simulated devices over TCP
#            (each station its own devices), per-device time from the records' started_at and
#            finished_at (p50/p99).
# Prints devices/s in all and per station, and at the end of each PostgreSQL run checks in SQL
# that every endpoint has exactly one certificate row.
#
# Environment: KILN_BENCH_STATIONS (default "1 2 4 8"), KILN_BENCH_STATIONS_PREPARE (devices
# per run, default 4000), KILN_BENCH_STATIONS_INJECT (default 1200; 0 skips inject),
# KILN_BENCH_STATIONS_SIMULATED (simulated devices, default 64).
set -eu
BIN=$(cd "$(dirname "$0")" && pwd)
SRC=@KILN_SOURCE_DIR@
FT=$BIN/factory_tool
FC=$BIN/factory_client
PY=/usr/bin/python3
STATIONS=${KILN_BENCH_STATIONS:-1 2 4 8}
PREP=${KILN_BENCH_STATIONS_PREPARE:-4000}
INJ=${KILN_BENCH_STATIONS_INJECT:-1200}
SIM=${KILN_BENCH_STATIONS_SIMULATED:-64}
WORK=$(mktemp -d /tmp/kiln-bench-stations.XXXXXX)
chmod 755 "$WORK" # the postgres user (as root) reaches its data folder under it
PG_ROOT=$WORK/pg
DEV_PID=""
# The devices' storage on tmpfs when there is one: the line is measured, not the disk.
STORAGE=$WORK/devices
if [ -d /dev/shm ] && [ -w /dev/shm ]; then STORAGE=/dev/shm/kiln-bench-stations-$$; fi
done_() {
    [ -n "$DEV_PID" ] && kill "$DEV_PID" 2>/dev/null && wait "$DEV_PID" 2>/dev/null
    sh "$SRC/bench/secure_factory/pg.sh" stop "$PG_ROOT"
    rm -rf "$WORK" "$STORAGE"
}
trap done_ EXIT

HOME_DIR=$WORK/home
mkdir -p "$HOME_DIR/config" "$HOME_DIR/resources"
cp "$SRC/tests/fcu/data/base.yml" "$HOME_DIR/config/fcu.yml"
PKI=$SRC/tests/data/vectors/fcc-oracle/pki
cp "$PKI/test-bootstrap-server-ca.pem" "$HOME_DIR/resources/bootstrap_server_ca_cert.pem"
cp "$PKI/test-lwm2m-server-ca.pem" "$HOME_DIR/resources/lwm2m_server_ca_cert.pem"
cp "$PKI/test-update-authority.pem" "$HOME_DIR/resources/update.pem"
"$FT" --home-dir "$HOME_DIR" setup >/dev/null

DB=$(sh "$SRC/bench/secure_factory/pg.sh" start "$PG_ROOT")
case $DB in
postgresql://*) ;;
*) echo "no PostgreSQL ($DB): only the SQLite and no-records rows"; DB="" ;;
esac
PORT=${DB##*:}; PORT=${PORT%%/*}
q() { psql -At -h 127.0.0.1 -p "$PORT" -U kiln factory -c "$1"; }

# The simulated devices (inject): one factory_client, SIM devices, their ports in ports.txt.
if [ "$INJ" -gt 0 ]; then
    "$FC" --storage "$STORAGE" --devices "$SIM" --forever tcp --port 0 > "$WORK/dev.log" 2>&1 &
    DEV_PID=$!
    i=0
    while [ "$(grep -c 'IP Address and Port' "$WORK/dev.log" 2>/dev/null || true)" -lt "$SIM" ]; do
        i=$((i + 1)); [ $i -lt 600 ] || { echo "factory_client did not start"; exit 1; }
        sleep 0.05
    done
    grep 'IP Address and Port' "$WORK/dev.log" | sed 's/.*://' > "$WORK/ports.txt"
fi

# lists PREFIX TOTAL N: station k's CSV ($WORK/PREFIX-k.csv), endpoints PREFIX-k-i, and (inject)
# the addresses of its own devices: ports k, k+N, ...
lists() {
    $PY - "$WORK" "$1" "$2" "$3" <<'PY'
import os, sys
work, prefix, total, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ports_file = os.path.join(work, "ports.txt")
ports = open(ports_file).read().split() if os.path.exists(ports_file) else ["1"]
for k in range(n):
    mine = ports[k::n] or ports
    with open(os.path.join(work, "%s-%d.csv" % (prefix, k)), "w") as f:
        f.write("endpoint_name,serial_number,address\n")
        for i in range(total // n):
            f.write("%s-%d-%05d,SN-%s-%d-%d,tcp:127.0.0.1:%s\n"
                    % (prefix, k, i, prefix, k, i, mine[i % len(mine)]))
PY
}

# run MODE PREFIX N RECORDS: N stations at once; prints one line of figures.
run() {
    mode=$1 prefix=$2 n=$3 records=$4 total=$PREP
    [ "$mode" = inject ] && total=$INJ
    lists "$prefix" "$total" "$n"
    case $records in
    none) ropt="--no-records" ;;
    sqlite) ropt="--records-db $WORK/$prefix.db" ;;
    *) ropt="--records-db $DB" ;;
    esac
    sim=$(wc -l < "$WORK/ports.txt" 2>/dev/null || echo 64)
    par=$((sim / n)); [ $par -ge 1 ] || par=1
    t0=$($PY -c 'import time; print(time.time())')
    pids=""
    for k in $(seq 0 $((n - 1))); do
        if [ "$mode" = prepare ]; then
            "$FT" --home-dir "$HOME_DIR" prepare-batch --devices "$WORK/$prefix-$k.csv" \
                --out "$WORK/$prefix-$k.out.d" --jobs 1 --station "$prefix-st$k" $ropt \
                > "$WORK/$prefix-$k.out" 2>&1 &
        else
            "$FT" --home-dir "$HOME_DIR" inject-batch --devices "$WORK/$prefix-$k.csv" \
                --parallel "$par" --retries 2 -t 30 --station "$prefix-st$k" $ropt \
                > "$WORK/$prefix-$k.out" 2>&1 &
        fi
        pids="$pids $!"
    done
    for p in $pids; do wait "$p" || true; done
    t1=$($PY -c 'import time; print(time.time())')
    per=""
    if [ "$records" = pg ]; then
        q "SELECT started_at, finished_at FROM attempts WHERE endpoint LIKE '$prefix-%'
           AND state IN ('success', 'prepared')" > "$WORK/$prefix.times"
    elif [ "$records" = sqlite ]; then
        sqlite3 "$WORK/$prefix.db" "SELECT started_at, finished_at FROM attempts
           WHERE state IN ('success', 'prepared')" > "$WORK/$prefix.times"
    else
        : > "$WORK/$prefix.times"
    fi
    $PY - "$WORK" "$prefix" "$n" "$t0" "$t1" "$mode" "$records" <<'PY'
import datetime, json, os, sys
work, prefix, n, t0, t1, mode, records = sys.argv[1:8]
n, wall = int(n), float(sys.argv[5]) - float(sys.argv[4])
done, rates = 0, []
for k in range(n):
    summary = None
    for line in open(os.path.join(work, "%s-%d.out" % (prefix, k))):
        if line.startswith('{"summary"'):
            summary = json.loads(line)["summary"]
    if summary is None:
        rates.append(0.0)
        continue
    done += summary["succeeded"]
    rates.append(summary["succeeded"] / max(summary["seconds"], 1e-9))
def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
times = []
for line in open(os.path.join(work, prefix + ".times")):
    a, _, b = line.strip().partition("|")
    if a and b:
        times.append(ts(b) - ts(a))
times.sort()
def pct(p):
    return "%.1f" % (1000 * times[min(len(times) - 1, int(p * len(times)))]) if times else "-"
if mode == "inject":
    lat = "p50 %s ms, p99 %s ms" % (pct(0.50), pct(0.99)) if times else "p50/p99 n/a (no records)"
else:
    lat = "per-device time n/a (prepare-batch writes its rows in groups)"
print("%-7s %-9s %d station(s): %5d devices in %6.2f s = %7.1f devices/s; per station %s;"
      " %s" % (mode, records, n, done, wall, done / wall if wall else 0,
               " ".join("%.0f" % r for r in rates), lat))
PY
    if [ "$records" = pg ]; then
        one=$(q "SELECT count(*) FROM (SELECT endpoint FROM attempts WHERE endpoint LIKE '$prefix-%'
                 AND state IN ('success', 'prepared') GROUP BY endpoint HAVING count(*) = 1) o")
        more=$(q "SELECT count(*) FROM (SELECT endpoint FROM attempts WHERE endpoint LIKE '$prefix-%'
                  AND state IN ('success', 'prepared') GROUP BY endpoint HAVING count(*) > 1) o")
        want=$(( (total / n) * n ))
        if [ "$one" -eq "$want" ] && [ "$more" -eq 0 ]; then verdict=OK; else verdict=FAILED; fi
        echo "        check: $one of $want endpoints have exactly one certificate row, $more have more: $verdict"
        [ "$verdict" = OK ] || CHECK_FAILED=1
    fi
}

CHECK_FAILED=0
echo "bench_stations: $(nproc) CPUs; prepare $PREP devices per run, inject $INJ ($SIM simulated devices)"
for mode in prepare inject; do
    [ "$mode" = inject ] && [ "$INJ" -eq 0 ] && continue
    run "$mode" "${mode%?????}w" 1 none > /dev/null # warm-up (caches, CPU clock), not shown
    run "$mode" "${mode%?????}n" 1 none
    run "$mode" "${mode%?????}s" 1 sqlite
    if [ -n "$DB" ]; then
        for n in $STATIONS; do run "$mode" "${mode%?????}p$n" "$n" pg; done
    fi
done
exit $CHECK_FAILED
