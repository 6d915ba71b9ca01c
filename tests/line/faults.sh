#!/bin/sh
# factory_client --faults on each transport: every fault kind happens and the tool reports it
# with its numbered code (TCP, a serial pty pair from socat, files).
# usage: faults.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
N=0

# tcp_expect CODE SPEC [STORAGE-OPTIONS...]: one device with --faults SPEC (storage: a fresh
# directory unless given); inject must end with CODE.
tcp_expect() {
    code=$1 spec=$2; shift 2
    N=$((N + 1))
    [ $# -gt 0 ] || set -- --storage "$TMP_ROOT/t$N"
    start "t$N" "$FC" "$@" --faults "$spec" tcp --port 0
    p=$(ports "t$N")
    ft inject --endpoint-name "ep-t$N" --serial-number "SN-t$N" tcp --ip 127.0.0.1 --port "$p" -t 2 >"$TMP_ROOT/t$N.json" 2>"$TMP_ROOT/t$N.ierr" || true
    got=$(status_of "$TMP_ROOT/t$N.json" 2>/dev/null || echo none)
    if [ "$got" = "$code" ]; then pass "tcp $spec: error $code"; else fail "tcp $spec: got $got, expected $code"; cat "$TMP_ROOT/t$N.json" "$TMP_ROOT/t$N.err"; fi
    eval "kill \$PID_t$N" 2>/dev/null || true
}

tcp_expect 1002 corrupt=1,seed=3
check "tcp corrupt: the device says which byte it flipped" grep -q "fault: byte [0-9]* of the answer flipped" "$TMP_ROOT/t$N.err"
tcp_expect 1003 drop=1
check "tcp drop: the device dropped the answer" grep -q "fault: answer dropped" "$TMP_ROOT/t$N.err"
tcp_expect 1022 close=1
check "tcp close: the device closed mid-frame" grep -q "fault: link closed after [0-9]* of [0-9]* bytes" "$TMP_ROOT/t$N.err"
tcp_expect 1004 reject=16:1
check "tcp reject: the device's own status 16 is reported" test "$(json_get "$TMP_ROOT/t$N.json" 'j["deviceResponse"]["status"]')" = 16
tcp_expect 1003 delay=3000
tcp_expect 0 delay=300-400
check "tcp delay: a short delay still provisions" grep -q "Successfully completed factory flow" "$TMP_ROOT/t$N.out"
tcp_expect 1022 power-cut=1 --flash "$TMP_ROOT/pc.flash"
check "tcp power-cut: the device lost power and restarted" grep -q "fault: power cut while writing storage; the device restarts" "$TMP_ROOT/t$N.err"
check "tcp power-cut: the storage mounts again" "$FC" --flash "$TMP_ROOT/pc.flash" list
check "power-cut without --flash is refused with its number" sh -c "! '$FC' --storage '$TMP_ROOT/x' --faults power-cut=0.5 tcp --port 0 2>'$TMP_ROOT/pcx.err' && grep -q 'error 3: --faults: power-cut: needs --flash' '$TMP_ROOT/pcx.err'"

# Power cut half the time: the line retries the same bundle until a run completes; afterwards
# the flash mounts and holds the items.
N=$((N + 1))
start "t$N" "$FC" --flash "$TMP_ROOT/pc2.flash" --faults power-cut=0.5,seed=11 tcp --port 0
p=$(ports "t$N")
check "tcp power-cut=0.5: inject succeeds after retries" sh -c "'$FT' --home-dir '$HOME_DIR' inject --retries 20 --endpoint-name ep-pc --serial-number SN-pc tcp --ip 127.0.0.1 --port $p -t 5 > '$TMP_ROOT/pc2.json' 2>'$TMP_ROOT/pc2.ierr'"
eval "wait \$PID_t$N" 2>/dev/null || true
check "tcp power-cut=0.5: at least one power cut happened" grep -q "fault: power cut" "$TMP_ROOT/t$N.err"
check "tcp power-cut=0.5: the remounted flash is fully configured" "$FC" --flash "$TMP_ROOT/pc2.flash" verify

# --- serial: the same faults on a pty pair -------------------------------------------------
if command -v socat >/dev/null; then
    L="$TMP_ROOT/links"
    mkdir -p "$L"
    S=0
    serial_expect() {
        code=$1 spec=$2
        S=$((S + 1))
        start "sx$S" socat pty,raw,echo=0,link="$L/dev$S" pty,raw,echo=0,link="$L/tool$S"
        i=0; while [ ! -e "$L/tool$S" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
        start "s$S" "$FC" --storage "$TMP_ROOT/s$S" --faults "$spec" serial --port "$L/dev$S"
        i=0; while ! grep -q "waiting for incoming data" "$TMP_ROOT/s$S.out" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
        ft inject --endpoint-name "ep-s$S" --serial-number "SN-s$S" serial --port "$L/tool$S" -t 2 >"$TMP_ROOT/s$S.json" 2>/dev/null || true
        got=$(status_of "$TMP_ROOT/s$S.json" 2>/dev/null || echo none)
        if [ "$got" = "$code" ]; then pass "serial $spec: error $code"; else fail "serial $spec: got $got, expected $code"; cat "$TMP_ROOT/s$S.json" "$TMP_ROOT/s$S.err"; fi
        eval "kill \$PID_s$S \$PID_sx$S" 2>/dev/null || true
    }
    serial_expect 1002 corrupt=1,seed=3
    serial_expect 1003 drop=1
    serial_expect 1003 close=1
    check "serial close: the device cut the frame" grep -q "fault: link closed after" "$TMP_ROOT/s$S.err"
    serial_expect 1004 reject=16:1
else
    fail "socat missing: the serial cases did not run"
fi

# --- file: the answer file shows the fault ----------------------------------------------------
ft inject --endpoint-name ep-f --serial-number SN-f to_file --output "$TMP_ROOT/req.bin" >/dev/null
"$FC" --storage "$TMP_ROOT/f0" file --input "$TMP_ROOT/req.bin" --output "$TMP_ROOT/clean.bin"
file_run() { # file_run NAME SPEC: answers req.bin with --faults SPEC; exit status in NAME.rc
    "$FC" --storage "$TMP_ROOT/f-$1" --faults "$2" file --input "$TMP_ROOT/req.bin" --output "$TMP_ROOT/$1.bin" 2>"$TMP_ROOT/$1.ferr" && echo 0 >"$TMP_ROOT/$1.rc" || echo $? >"$TMP_ROOT/$1.rc"
}
# frame_info FILE: "<length> <status> <digest ok> <ReturnStatus in the CBOR>" of an answer file.
frame_info() {
    $PY - "$1" <<'PYEOF'
import hashlib, struct, sys
b = open(sys.argv[1], 'rb').read()
st = struct.unpack('<I', b[8:12])[0] if len(b) >= 12 else -1
ok, rs = '-', '-'
if st == 0 and len(b) >= 16:
    n = struct.unpack('<I', b[12:16])[0]
    c, d = b[16:16 + n], b[16 + n:16 + n + 32]
    ok = 'ok' if hashlib.sha256(c).digest() == d else 'bad'
    i = c.find(b'ReturnStatus')
    if i >= 0:
        rs = str(c[i + 12] & 0x1f)
print(len(b), st, ok, rs)
PYEOF
}
check "file: a clean answer verifies" test "$(frame_info "$TMP_ROOT/clean.bin" | cut -d' ' -f2-)" = "0 ok 0"
file_run drop drop=1
check "file drop: nothing is written" test ! -s "$TMP_ROOT/drop.bin"
file_run corrupt corrupt=1,seed=3
check "file corrupt: exactly one byte differs from the clean answer" test "$(cmp -l "$TMP_ROOT/clean.bin" "$TMP_ROOT/corrupt.bin" | wc -l)" = 1
file_run close close=1
check "file close: a cut answer and exit 1" sh -c "test \$(stat -c %s '$TMP_ROOT/close.bin') -lt \$(stat -c %s '$TMP_ROOT/clean.bin') && test \$(cat '$TMP_ROOT/close.rc') = 1"
file_run reject reject=16:1
check "file reject: a sealed answer with ReturnStatus 16" test "$(frame_info "$TMP_ROOT/reject.bin" | cut -d' ' -f2-)" = "0 ok 16"

finish
