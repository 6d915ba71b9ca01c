#!/bin/sh
# The serial line for real: factory_client and factory_tool on the two ends of socat
# pseudo-terminal pairs, with a relay in the middle that adds noise between frames and corrupts
# the first request, so the device refuses it (status 8) and the tool resends.
# usage: serial.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
command -v socat >/dev/null || { echo "socat missing"; exit 1; }
HOME_DIR=$(newhome home)
L="$TMP_ROOT/tty"
mkdir -p "$L"
# device <-> relay-a  and  relay-b <-> tool
start socat1 socat pty,raw,echo=0,link="$L/device" pty,raw,echo=0,link="$L/relay-a"
start socat2 socat pty,raw,echo=0,link="$L/relay-b" pty,raw,echo=0,link="$L/tool"
i=0
while [ ! -e "$L/device" ] || [ ! -e "$L/relay-a" ] || [ ! -e "$L/relay-b" ] || [ ! -e "$L/tool" ]; do
    i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05
done

# Plain line first: no relay needed for this check, but the same pair is used.
start relay $PY "$SRC/noisy_relay.py" "$L/relay-a" "$L/relay-b"
start dev "$FC" -v --storage "$TMP_ROOT/dev" serial --port "$L/device" --baud 115200
i=0
until grep -q "waiting for incoming data" "$TMP_ROOT/dev.out" 2>/dev/null && grep -q ready "$TMP_ROOT/relay.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05
done
check "inject over a noisy serial line succeeds after a resend" sh -c "'$FT' --home-dir '$HOME_DIR' inject --retries 3 --endpoint-name ep-s --serial-number SN-s serial --port '$L/tool' --baud 115200 -t 10 > '$TMP_ROOT/s.json'"
check "final JSON status 0 from the device" test "$(json_get "$TMP_ROOT/s.json" '(j["status"], j["deviceResponse"]["status"])')" = "(0, 0)"
wait $PID_dev || true
check "the device refused the corrupted frame and went on" grep -q "rejected 1" "$TMP_ROOT/dev.out"
check "the device skipped the noise" grep -q "Successfully completed factory flow" "$TMP_ROOT/dev.out"
check "the record says two tries" test "$(sqlite3 "$HOME_DIR/kiln-records.db" "SELECT state || ' ' || tries FROM attempts WHERE endpoint='ep-s'")" = "success 2"

# A line where nobody answers: 1003 with a short -t.
start socat3 socat pty,raw,echo=0,link="$L/lonely" pty,raw,echo=0,link="$L/nobody"
i=0
while [ ! -e "$L/lonely" ]; do i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05; done
start sink sh -c "cat '$L/nobody' > '$TMP_ROOT/sink.bin'"
ft inject --endpoint-name ep-s2 --serial-number SN-s2 serial --port "$L/lonely" -t 1 > "$TMP_ROOT/s2.json" 2>&1 || true
check "a silent serial line times out with 1003" test "$(status_of "$TMP_ROOT/s2.json")" = 1003

# The line goes away while the tool waits for the answer: 1012.
before=$(stat -c %s "$TMP_ROOT/sink.bin")
"$FT" --home-dir "$HOME_DIR" inject --endpoint-name ep-s3 --serial-number SN-s3 serial --port "$L/lonely" -t 60 > "$TMP_ROOT/s3.json" 2>&1 &
TPID=$!
i=0
until [ "$(stat -c %s "$TMP_ROOT/sink.bin")" -gt "$before" ]; do i=$((i + 1)); [ $i -lt 400 ] || break; sleep 0.05; done
kill $PID_socat3
wait $TPID || true
check "a serial line that goes away gives 1012" test "$(status_of "$TMP_ROOT/s3.json")" = 1012
finish
