#!/bin/sh
# The line engine as a library (line_engine.h) from a program of its own: three simulated
# devices and one unreachable address; every device gets one result, the reachable ones are
# verified and recorded with the certificate the engine reported, a second run skips them.
# usage: engine_api.sh PROGRAM FT FC FAKE SRC VECTORS
API=$1; shift
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
DB="$TMP_ROOT/api.db"
three_devices_and_a_closed_port
set -- $DEV1 $DEV2 $DEV3
{
    echo "endpoint_name,serial_number,address"
    echo "api-1,SN-1,tcp:127.0.0.1:$1"
    echo "api-2,SN-2,tcp:127.0.0.1:$2"
    echo "api-3,SN-3,tcp:127.0.0.1:$3"
    echo "api-4,SN-4,tcp:127.0.0.1:$GONE"
} > "$TMP_ROOT/devices.csv"

"$API" "$HOME_DIR" "$TMP_ROOT/devices.csv" "$DB" > "$TMP_ROOT/run1.out" 2>&1 && rc=0 || rc=$?
cat "$TMP_ROOT/run1.out"
check "the run fails because one device is unreachable" test "$rc" = 1
check "one result per device and the totals" sh -c "grep -q '^total 4 succeeded 3 failed 1 skipped 0 lines 4 verified 3\$' '$TMP_ROOT/run1.out'"
check "the unreachable device failed with 1021 after two tries" grep -q '^api-4 failed 1021 2 ' "$TMP_ROOT/run1.out"
for ep in api-1 api-2 api-3; do
    sha=$(grep "^$ep success 0 1 " "$TMP_ROOT/run1.out" | cut -d' ' -f5)
    check "$ep is recorded as success with the certificate the engine reported" test -n "$sha" -a "$(sqlite3 "$DB" "SELECT cert_sha256 FROM attempts WHERE endpoint='$ep' AND state='success' AND station='api-test'")" = "$sha"
done
"$API" "$HOME_DIR" "$TMP_ROOT/devices.csv" "$DB" > "$TMP_ROOT/run2.out" 2>&1 || true
check "a second run skips the provisioned devices" grep -q '^total 4 succeeded 0 failed 1 skipped 3 ' "$TMP_ROOT/run2.out"
finish
