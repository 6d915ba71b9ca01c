#!/bin/sh
# Starts the kiln firmware on QEMU's mps2-an386 (Cortex-M4) with its factory UART (UART0) on a
# pseudo-terminal. The first line printed is `SERIAL /dev/pts/N`; it then runs until killed.
#
#   qemu-device.sh [--image ELF] [--log FILE] [--icount] [--storage FILE]
#
# --log FILE   UART1, the firmware's log (one line per handled bundle with its cost)
# --icount     deterministic instruction counting (-icount shift=0: 1 instruction = 1 ns of
#              virtual time, so a tick of the 25 MHz timer is 40 instructions)
# --storage    not available: the firmware's flash lives in RAM and is erased at each start.
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
IMAGE="$HERE/build-firmware/kiln-qemu-mps2.elf"
LOG=null
ICOUNT=
STORAGE=
while [ $# -gt 0 ]; do
    case "$1" in
    --image) IMAGE=${2:?--image ELF}; shift 2 ;;
    --log) LOG="file:${2:?--log FILE}"; shift 2 ;;
    --icount) ICOUNT="-icount shift=0"; shift ;;
    --storage)
        file=${2:?--storage FILE}
        dir=$(cd "$(dirname "$file")" && pwd) || exit 2
        STORAGE="$dir/$(basename "$file")"
        shift 2 ;;
    *) echo "qemu-device: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -f "$IMAGE" ] || { echo "qemu-device: no image $IMAGE (make firmware)" >&2; exit 2; }
command -v qemu-system-arm >/dev/null 2>&1 || { echo "qemu-device: qemu-system-arm not found" >&2; exit 2; }

TMP=$(mktemp -d)
QEMU_PID=
cleanup() {
    # Waited for, so that the storage file is closed and the line gone when this script ends.
    [ -z "$QEMU_PID" ] || { kill "$QEMU_PID" 2>/dev/null; wait "$QEMU_PID" 2>/dev/null; } || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

set --
if [ -n "$STORAGE" ]; then
    # Semihosting carries the path (its command line's second word); the loader's word tells
    # the firmware that semihosting is on (see port/cortex-m/flash_ram.c).
    set -- -semihosting-config "enable=on,target=native,arg=kiln,arg=$STORAGE" \
        -device loader,addr=0x203FFFF0,data=0x6B696C6E,data-len=4
fi
# shellcheck disable=SC2086
qemu-system-arm "$@" -machine mps2-an386 -cpu cortex-m4 -display none -monitor none $ICOUNT \
    -kernel "$IMAGE" -serial pty -serial "$LOG" >"$TMP/stderr" 2>&1 &
QEMU_PID=$!
pts=
for _ in $(seq 1 100); do
    pts=$(sed -n 's|.*char device redirected to \(/dev/pts/[0-9]*\).*|\1|p' "$TMP/stderr" | head -n 1)
    [ -z "$pts" ] || break
    kill -0 "$QEMU_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$pts" ]; then
    cat "$TMP/stderr" >&2
    echo "qemu-device: QEMU did not open its serial pseudo-terminal" >&2
    exit 1
fi
echo "SERIAL $pts"
wait "$QEMU_PID" || true
QEMU_PID=
