#!/bin/sh
# inject-batch --parallel 8 over 12 devices that share 3 addresses (tests/line/busy_device.py,
# which serves overlapping connections if it gets them): the engine never has two exchanges
# with one address at a time (a device serves one exchange at a time; two writers on one serial
# line would interleave their frames), yet every device is sent to.
# usage: busy_address.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
N=12
$PY "$SRC/busy_device.py" $N "$TMP_ROOT/ports" "$TMP_ROOT/result" 2>"$TMP_ROOT/dev.err" &
DEV=$!
PIDS="$PIDS $DEV"
i=0
while [ ! -f "$TMP_ROOT/ports" ]; do
    i=$((i + 1)); [ $i -lt 400 ] || { echo "devices did not start" >&2; exit 1; }
    sleep 0.05
done
{ echo "endpoint_name,serial_number,address"
  k=0
  while [ $k -lt $N ]; do
      port=$(sed -n "$((k % 3 + 1))p" "$TMP_ROOT/ports")
      echo "busy-$k,SN-$k,tcp:127.0.0.1:$port"
      k=$((k + 1))
  done
} > "$TMP_ROOT/devices.csv"
ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 8 --retries 0 -t 20 \
    --no-records >"$TMP_ROOT/b.out" 2>"$TMP_ROOT/b.err" || true
wait $DEV || true
read -r served most < "$TMP_ROOT/result"
echo "connections served: $served of $N, most open on one address at once: $most"
check "all $N devices were sent to" test "$served" -eq $N
check "never two exchanges with one address at a time" test "$most" -eq 1
check "inject-batch: 12 devices, 12 failed (1022)" grep -q '"devices": 12, "succeeded": 0, "failed": 12' "$TMP_ROOT/b.out"
finish
