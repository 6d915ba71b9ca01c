#!/bin/sh
# --help on every factory_tool command and every factory_service command prints that command's
# usage on stdout and exits 0, and does nothing else: no station file is opened (new_device
# --help once sent "--help" to the service as a session id), no device is contacted (a TCP
# listener counts connections), no file or directory is created.
# usage: help.sh FT FC FAKE SRC VECTORS [FACTORY_SERVICE]
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5 FS=${6:-}
. "$SRC/lib.sh"
W="$TMP_ROOT/work"
mkdir -p "$W/home"
# A listener that counts the connections it accepts, one line each in $TMP_ROOT/accepted.
$PY -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); open(sys.argv[1], "a").write("accepted\n"); c.close()
' "$TMP_ROOT/accepted" > "$TMP_ROOT/port" &
PIDS="$PIDS $!"
i=0; until [ -s "$TMP_ROOT/port" ]; do i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05; done
P=$(cat "$TMP_ROOT/port")
printf 'endpoint_name,serial_number,address\nep-1,SN-1,tcp:127.0.0.1:%s\n' "$P" > "$TMP_ROOT/devices.csv"
export FACTORY_STATION="$TMP_ROOT/no-such-station-file"
SID=0123456789abcdef0123456789abcdef

# help_ok NAME WORD ARGS...: --help somewhere in ARGS; exit 0, usage naming WORD on stdout, no
# stderr.
help_ok() {
    name=$1 word=$2; shift 2
    "$@" > "$TMP_ROOT/h.out" 2> "$TMP_ROOT/h.err" && rc=0 || rc=$?
    check "$name: --help exits 0 with its usage" sh -c "test $rc = 0 && head -n 1 '$TMP_ROOT/h.out' | grep -q '^usage: .*$word' && test ! -s '$TMP_ROOT/h.err'"
}
ftw() { "$FT" --home-dir "$W/home" "$@"; }
help_ok "factory_tool" "COMMAND" "$FT" --help
help_ok "setup" "setup" ftw setup --help
help_ok "status" "status" ftw status --help
help_ok "prepare" "prepare" ftw prepare --endpoint-name e --serial-number s -o "$W/b.cbor" --help
help_ok "verify" "verify" ftw verify --endpoint-name e "$W/none.cbor" --help
help_ok "inject" "inject" ftw inject --endpoint-name e --serial-number s tcp --ip 127.0.0.1 --port "$P" --help
help_ok "inject-batch" "inject-batch" ftw inject-batch --devices "$TMP_ROOT/devices.csv" --records-db "$W/r.db" --help
help_ok "prepare-batch" "prepare-batch" ftw prepare-batch --devices "$TMP_ROOT/devices.csv" --out "$W/bundles" --help
help_ok "write" "write" ftw write --devices "$TMP_ROOT/devices.csv" --bundles "$W/bundles" --answers "$W/answers" --help
help_ok "verify-batch" "verify-batch" ftw verify-batch --devices "$TMP_ROOT/devices.csv" --answers "$W/answers" --help
help_ok "records" "records" ftw records --records-db "$W/r.db" export --format csv --help
help_ok "records list" "records" ftw records list --help
help_ok "records show" "records" ftw records show ep-1 --help
for cmd in handle get list verify reset delete tcp serial file sf; do
    help_ok "factory_client $cmd" "factory_client .*$cmd" "$FC" --storage "$W/home/dev" $cmd --help
done
help_ok "factory_client tcp (globals after)" "tcp" "$FC" tcp --port "$P" --devices 2 --help
help_ok "relay" "relay" ftw relay --tcp "127.0.0.1:$P" 0101 --help
help_ok "new_device" "new_device" ftw new_device --help
help_ok "new_device (after the id)" "new_device" ftw new_device "$SID" --help
help_ok "get_device_configuration" "get_device_configuration" ftw get_device_configuration "$SID" 00 --help
help_ok "handle_device_response" "handle_device_response" ftw handle_device_response "$SID" 00 --help
help_ok "report_error" "report_error" ftw report_error "$SID" 3 reason --help
check "no device was contacted" test ! -e "$TMP_ROOT/accepted"
check "nothing was created" sh -c "test -z \"\$(ls -A '$W/home')\" && test ! -e '$W/r.db' && test ! -e '$W/bundles' && test ! -e '$W/answers' && test ! -e '$W/b.cbor'"
# The station commands' usage errors stay usage errors (2), before any station file is read.
"$FT" new_device > /dev/null 2> "$TMP_ROOT/nd.err" && rc=0 || rc=$?
check "new_device without an id is a usage error (2), no station file opened" sh -c "test $rc = 2 && grep -q '^usage: factory_tool new_device' '$TMP_ROOT/nd.err' && ! grep -q 'station file' '$TMP_ROOT/nd.err'"
"$FT" records --bogus > "$TMP_ROOT/bogus.out" 2> "$TMP_ROOT/bogus.err" && rc=0 || rc=$?
"$FT" --home-dir "$W/home" prepare --bogus > /dev/null 2> "$TMP_ROOT/pb.err" && rc=0 || rc=$?
check "prepare --bogus: usage and a numbered error, exit 2" sh -c "test $rc = 2 && grep -q '^usage: factory_tool prepare' '$TMP_ROOT/pb.err' && grep -q '^error 1000: .*unknown option --bogus' '$TMP_ROOT/pb.err'"
"$FC" tcp --bogus > /dev/null 2> "$TMP_ROOT/fb.err" && rc=0 || rc=$?
check "factory_client tcp --bogus: usage and a numbered error, exit 2" sh -c "test $rc = 2 && grep -q 'error [0-9]*: --bogus is an unknown option' '$TMP_ROOT/fb.err' && grep -q '^usage: ' '$TMP_ROOT/fb.err'"
check "an unknown option is a usage error (2) naming it" sh -c "test $rc = 2 && grep -q 'unknown option --bogus' '$TMP_ROOT/bogus.out' && grep -q '^usage:' '$TMP_ROOT/bogus.err'"

if [ -n "$FS" ]; then
    for cmd in init add-station revoke-station set-quota audit stats run; do
        help_ok "factory_service $cmd" "factory_service" "$FS" $cmd "$W/state" --help
    done
    check "factory_service --help made no state folder" test ! -e "$W/state"
    "$FS" stats "$W/state" --bogus > /dev/null 2> "$TMP_ROOT/sb.err" && rc=0 || rc=$?
    check "factory_service stats --bogus: its usage and a numbered error, exit 2" sh -c "test $rc = 2 && grep -q '^usage: factory_service stats' '$TMP_ROOT/sb.err' && grep -q 'error [0-9]*: .*unknown option --bogus' '$TMP_ROOT/sb.err'"
    "$FS" init "$W/state" --json > /dev/null 2>&1 && rc=0 || rc=$?
    check "factory_service init --json is refused (2), nothing made" sh -c "test $rc = 2 && test ! -e '$W/state'"
    "$FS" run "$W/state" --threads x > /dev/null 2>&1 && rc=0 || rc=$?
    check "factory_service --threads needs a number (usage error 2)" test "$rc" = 2
fi
finish
