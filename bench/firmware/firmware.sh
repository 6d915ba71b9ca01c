#!/bin/sh
# The firmware's figures on QEMU's mps2-an386 (Cortex-M4): flash and RAM of the image and of
# kiln's part (from the link map), and per bundle the instructions spent handling it, the heap
# arena's high-water mark and the painted stack's, each bundle on a freshly booted device.
#
#   firmware.sh SOURCE_ROOT FIRMWARE_BUILD HOST_BUILD
#
# Instructions: QEMU runs with -icount shift=0 (one instruction per nanosecond of virtual time)
# and the firmware reads the 25 MHz CMSDK timer around the bundle handler, so instructions =
# ticks x 40 (to within 40). QEMU models neither cycle timing nor the DWT cycle counter: on a
# real Cortex-M4 at 0 wait states cycles are about 1.2-1.5x the instruction count.
set -eu

ROOT=$(cd "${1:?source root}" && pwd)
FW=$(cd "${2:?firmware build}" && pwd)
HOST=$(cd "${3:?host build}" && pwd)
IMAGE="$FW/kiln-qemu-mps2.elf"
VEC="$ROOT/tests/data/vectors/fcc-oracle"
HERE="$ROOT/bench/firmware"
[ -f "$IMAGE" ] || { echo "bench/firmware: no $IMAGE (make firmware)" >&2; exit 2; }

echo "image (arm-none-eabi-size):"
arm-none-eabi-size "$IMAGE" | sed 's/^/  /'
python3 "$HERE/map_sizes.py" "$FW/kiln-qemu-mps2.map"

TMP=$(mktemp -d)
QPID=
cleanup() {
    [ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# A bundle made by the tool itself: the by_tool bootstrap flow of factory_tool inject.
H="$TMP/home"
mkdir -p "$H/config" "$H/resources"
cp "$ROOT/tests/fcu/data/base.yml" "$H/config/fcu.yml"
cp "$VEC/pki/test-bootstrap-server-ca.pem" "$H/resources/bootstrap_server_ca_cert.pem"
cp "$VEC/pki/test-lwm2m-server-ca.pem" "$H/resources/lwm2m_server_ca_cert.pem"
cp "$VEC/pki/test-update-authority.pem" "$H/resources/update.pem"
"$HOST/bin/factory_tool" --home-dir "$H" setup >/dev/null
"$HOST/bin/factory_tool" --home-dir "$H" inject --endpoint-name ep-bench --serial-number SN-bench \
    to_file --output "$TMP/by_tool.req" >/dev/null

frame() { # CBOR FRAME: wraps a recorded bundle in an FTCD request frame
    python3 - "$1" "$2" <<'PY'
import hashlib, struct, sys
cbor = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(b"mbedprov" + struct.pack("<I", len(cbor)) + cbor +
                              hashlib.sha256(cbor).digest())
PY
}

measure() { # NAME FRAME
    log="$TMP/$1.log"
    "$ROOT/scripts/qemu-device.sh" --image "$IMAGE" --icount --log "$log" >"$TMP/$1.out" 2>&1 &
    QPID=$!
    i=0
    until grep -q '^SERIAL ' "$TMP/$1.out" 2>/dev/null && grep -q ready "$log" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 200 ] || { cat "$TMP/$1.out" >&2; exit 1; }; sleep 0.05
    done
    pts=$(sed -n 's/^SERIAL //p' "$TMP/$1.out")
    python3 "$ROOT/tests/firmware/uart_exchange.py" "$pts" "$2" "$TMP/$1.answer" --quiet 0.5
    kill "$QPID"
    wait "$QPID" 2>/dev/null || true
    QPID=
    ticks=$(sed -n 's/^handled ticks=//p' "$log")
    printf 'bundle %-26s bytes=%-5d status=%-3s instructions=%-9d heap_peak=%-6s stack_peak=%s\n' \
        "$1" "$(stat -c %s "$2")" "$(sed -n 's/^answered status=//p' "$log")" \
        $((ticks * 40)) "$(sed -n 's/^heap_peak=//p' "$log")" "$(sed -n 's/^stack_peak=//p' "$log")"
}

measure by_tool_bootstrap "$TMP/by_tool.req"
for name in ok_lwm2m_full chain_valid_3 chain_6; do
    frame "$VEC/$name.req.cbor" "$TMP/$name.req"
    measure "$name" "$TMP/$name.req"
done
echo "goals: kiln flash <= 32768 with the secure-factory client, stack <= 6144, heap <= 24576"
