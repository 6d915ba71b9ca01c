#!/bin/sh
# The device library on an emulated Cortex-M4 (QEMU mps2-an386), provisioned over its UART:
# factory_tool inject over the serial line, a second device on the same line, and the answers
# to the same frames (a good bundle, a corrupted frame, a frame cut in half, an oversized bundle) byte for byte
# against factory_client, the Linux device, after each of which the firmware keeps serving.
# usage: qemu_device.sh FT FC IMAGE SRC VECTORS
FT=$1 FC=$2 IMAGE=$3 SRC=$4 VECTORS=$5
. "$SRC/../line/lib.sh"
SRC="$SRC/../line" # newhome() finds the configurator data from there
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
command -v qemu-system-arm >/dev/null || { echo "qemu-system-arm missing"; exit 1; }
HOME_DIR=$(newhome home)

start qemu "$ROOT/scripts/qemu-device.sh" --image "$IMAGE" --log "$TMP_ROOT/uart1.log"
i=0
until grep -q '^SERIAL ' "$TMP_ROOT/qemu.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 200 ] || { cat "$TMP_ROOT/qemu.err"; exit 1; }; sleep 0.05
done
PTS=$(sed -n 's/^SERIAL //p' "$TMP_ROOT/qemu.out")
check "qemu-device.sh prints SERIAL /dev/pts/N first" sh -c "head -n 1 '$TMP_ROOT/qemu.out' | grep -qx 'SERIAL /dev/pts/[0-9]*'"
i=0
until grep -q "kiln: ready" "$TMP_ROOT/uart1.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05
done
check "the firmware boots" grep -q "kiln: ready" "$TMP_ROOT/uart1.log"

inject() { # NAME: provisions the QEMU device as endpoint ep-NAME
    ft inject --endpoint-name "ep-$1" --serial-number "SN-$1" serial --port "$PTS" --baud 115200 \
        -t 30 >"$TMP_ROOT/$1.json" 2>"$TMP_ROOT/$1.err"
}
check "factory_tool inject over the UART provisions the device" inject first
check "factory_tool accepted the device's answer (status 0, device status 0)" \
    test "$(json_get "$TMP_ROOT/first.json" '(j["status"], j["deviceResponse"]["status"])')" = "(0, 0)"
check "the record says success" test "$(sqlite3 "$HOME_DIR/kiln-records.db" "SELECT state FROM attempts WHERE endpoint='ep-first'")" = success
check "the device handled one bundle" test "$(grep -c '^handled ' "$TMP_ROOT/uart1.log")" = 1
# The Linux device serving the next device on the same line (serial --forever) starts a new run:
# the next bundle erases storage and provisions again.
check "a second device on the same line is provisioned as on Linux" inject second
check "second answer: status 0" \
    test "$(json_get "$TMP_ROOT/second.json" '(j["status"], j["deviceResponse"]["status"])')" = "(0, 0)"

# The same frames to both devices: factory_client file gives the Linux answer.
ft inject --endpoint-name ep-same --serial-number SN-same to_file --output "$TMP_ROOT/good.req" \
    >"$TMP_ROOT/tofile.json" 2>&1
$PY - "$TMP_ROOT/good.req" "$TMP_ROOT/corrupt.req" <<'PYEOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x55  # inside the bundle: the digest no longer matches
open(sys.argv[2], "wb").write(data)
PYEOF
# A frame cut in half, then the whole frame: the cut frame's announced length swallows the start
# of the next one, so its digest fails.
$PY - "$TMP_ROOT/good.req" "$TMP_ROOT/cut.req" <<'PYEOF'
import sys
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(data[:len(data) // 2] + data)
PYEOF
# A bundle larger than the firmware's 8 KiB request buffer (its own valid-digest frame).
$PY - "$TMP_ROOT/good.req" "$TMP_ROOT/big.req" <<'PYEOF'
import hashlib, struct, sys
good = open(sys.argv[1], "rb").read()
# The request frame: 8-byte token, 4-byte little-endian length, payload, its SHA-256.
token, (n,) = good[:8], struct.unpack("<I", good[8:12])
payload = good[12:12 + n] + bytes(9000)
open(sys.argv[2], "wb").write(token + struct.pack("<I", len(payload)) + payload +
                              hashlib.sha256(payload).digest())
PYEOF
for case in good corrupt cut good; do
    "$FC" --storage "$TMP_ROOT/linux-$case" file --input "$TMP_ROOT/$case.req" \
        --output "$TMP_ROOT/$case.linux" >/dev/null 2>&1 || true
    $PY "$HERE/uart_exchange.py" "$PTS" "$TMP_ROOT/$case.req" "$TMP_ROOT/$case.qemu" || true
    check "$case frame: the QEMU device answers byte for byte as factory_client" \
        cmp "$TMP_ROOT/$case.qemu" "$TMP_ROOT/$case.linux"
done
status_frame() { printf mbedprov | od -An -tx1 | tr -d ' \n'; echo "$1"; }
hex_of() { od -An -tx1 "$1" | tr -d ' \n'; echo; }
for case in corrupt cut; do
    check "$case frame: the status-only frame 8 (digest mismatch)" \
        test "$(hex_of "$TMP_ROOT/$case.qemu")" = "$(status_frame 08000000)"
done
# factory_client's buffer is larger, so here the documented answer is the reference: a
# status-only frame with FTCD status 4 (message too big).
$PY "$HERE/uart_exchange.py" "$PTS" "$TMP_ROOT/big.req" "$TMP_ROOT/big.qemu" || true
check "a bundle over the firmware's buffer gets the status-only frame 4" \
    test "$(hex_of "$TMP_ROOT/big.qemu")" = "$(status_frame 04000000)"
check "the good frame's answer is a success frame, not a status-only one" \
    test "$(stat -c %s "$TMP_ROOT/good.linux")" -gt 100
check "after the bad frames the firmware still provisions" inject third
kill "$PID_qemu"
wait "$PID_qemu" 2>/dev/null || true

# --storage FILE: the flash outlives QEMU, and it is factory_client --flash's format: with the
# board's root key (port/cortex-m/device_keys.c) the Linux device reads what the firmware stored.
boot() { # NAME ARGS...: starts the device, sets PTS once it is ready
    name=$1
    shift
    start "$name" "$ROOT/scripts/qemu-device.sh" --image "$IMAGE" --log "$TMP_ROOT/$name.log" "$@"
    i=0
    # The firmware may be ready before the script has printed the line's name.
    until grep -q "kiln: ready" "$TMP_ROOT/$name.log" 2>/dev/null &&
        grep -q '^SERIAL ' "$TMP_ROOT/$name.out" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 200 ] || break; sleep 0.05
    done
    PTS=$(sed -n 's/^SERIAL //p' "$TMP_ROOT/$name.out")
}
boot stored --storage "$TMP_ROOT/flash.bin"
check "the storage file is attached" grep -q "storage file attached" "$TMP_ROOT/stored.log"
check "a device with a storage file is provisioned" inject stored
kill "$PID_stored"
wait "$PID_stored" 2>/dev/null || true
printf 'kiln qemu-mps2 board root key..\0' >"$TMP_ROOT/flash.bin.rootkey"
chmod 600 "$TMP_ROOT/flash.bin.rootkey"
check "factory_client --flash finds the QEMU device fully configured" \
    "$FC" --flash "$TMP_ROOT/flash.bin" verify
check "and reads the endpoint name the firmware stored" \
    test "$("$FC" --flash "$TMP_ROOT/flash.bin" get mbed.EndpointName)" = ep-stored
boot restarted --storage "$TMP_ROOT/flash.bin"
check "a restarted device attaches the same storage file" grep -q "storage file attached" "$TMP_ROOT/restarted.log"
check "and is provisioned again over it" inject again
kill "$PID_restarted"
wait "$PID_restarted" 2>/dev/null || true
check "the flash now holds the new endpoint" \
    test "$("$FC" --flash "$TMP_ROOT/flash.bin" get mbed.EndpointName)" = ep-again
finish
