#!/bin/sh
# inject-batch --parallel 16 over 40 fake devices (tests/line/turns_device.py): when a bundle
# arrives, the device's 'started' row with its certificate hash is already committed in the
# records database (turns commit before they send). Each device then closes without answering.
# usage: turns_commit_before_send.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$TMP_ROOT/records.db"
N=40
$PY "$SRC/turns_device.py" $N "$DB" "$TMP_ROOT/ports" "$TMP_ROOT/verdicts" 2>"$TMP_ROOT/dev.err" &
DEV=$!
PIDS="$PIDS $DEV"
i=0
while [ ! -f "$TMP_ROOT/ports" ]; do
    i=$((i + 1)); [ $i -lt 400 ] || { echo "devices did not start" >&2; exit 1; }
    sleep 0.05
done
{ echo "endpoint_name,serial_number,address"
  while read -r ep port; do echo "$ep,SN-$ep,tcp:127.0.0.1:$port"; done < "$TMP_ROOT/ports"
} > "$TMP_ROOT/devices.csv"
ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 16 --retries 0 -t 20 \
    --records-db "$DB" >"$TMP_ROOT/b.out" 2>"$TMP_ROOT/b.err" || true
wait $DEV || true
seen=$(wc -l < "$TMP_ROOT/verdicts")
ok=$(grep -c ' ok$' "$TMP_ROOT/verdicts" || true)
echo "devices seen: $seen of $N, started row committed before the bundle: $ok"
grep -v ' ok$' "$TMP_ROOT/verdicts" | sed 's/^/    /' || true
check "all $N devices received a bundle" test "$seen" -eq $N
check "every bundle's started row (cert_sha256) was committed before the send" test "$ok" -eq $N
check "inject-batch: 40 devices, 40 failed (1022), none retried" sh -c "grep -q '\"devices\": 40, \"succeeded\": 0, \"failed\": 40' \"$TMP_ROOT/b.out\" && test \$(grep -c '\"status\": 1022.*\"tries\": 1,' \"$TMP_ROOT/b.out\") -eq 40"
finish
