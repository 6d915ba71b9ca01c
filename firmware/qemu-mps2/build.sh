#!/bin/sh
# Builds the kiln firmware for QEMU's mps2-an386 (Cortex-M4) with arm-none-eabi-gcc:
# Mbed TLS and libcbor from Debian's source packages (fetch-sources.sh) built for the target,
# the kiln device library, its Cortex-M port and main.c. Sources outside the tree go only to
# BUILD_DIR.
#
#   build.sh SOURCE_ROOT BUILD_DIR     -> BUILD_DIR/kiln-qemu-mps2.elf
set -eu

ROOT=$(cd "${1:?source root}" && pwd)
BUILD=${2:?build folder}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
HERE="$ROOT/firmware/qemu-mps2"
CC=${ARM_CC:-arm-none-eabi-gcc}
AR=${ARM_AR:-arm-none-eabi-ar}
JOBS=${JOBS:-2}
command -v "$CC" >/dev/null 2>&1 || { echo "firmware: $CC not found (gcc-arm-none-eabi)" >&2; exit 2; }

eval "$("$HERE/fetch-sources.sh" "$BUILD" | grep -E '^(MBEDTLS|CBOR)_DIR=')"

ARCH="-mcpu=cortex-m4 -mthumb -mfloat-abi=soft"
BASE_CFLAGS="$ARCH -Os -g -ffunction-sections -fdata-sections"
mkdir -p "$BUILD/inc/cbor" "$BUILD/obj"
cp "$ROOT/bench/footprint/mbedtls_baremetal.h" "$BUILD/inc/kiln_mbedtls_baremetal.h"
cp "$HERE/mbedtls_target.h" "$BUILD/inc/kiln_mbedtls_target.h"
MBED_CONFIG='-DMBEDTLS_USER_CONFIG_FILE="kiln_mbedtls_target.h"'
# What libcbor's CMake would generate.
cat >"$BUILD/inc/cbor/configuration.h" <<CFG
#ifndef LIBCBOR_CONFIGURATION_H
#define LIBCBOR_CONFIGURATION_H
#define CBOR_MAJOR_VERSION 0
#define CBOR_MINOR_VERSION 10
#define CBOR_PATCH_VERSION 2
#define CBOR_BUFFER_GROWTH 2
#define CBOR_MAX_STACK_SIZE 2048
#define CBOR_PRETTY_PRINTER 0
#define CBOR_RESTRICT_SPECIFIER restrict
#define CBOR_INLINE_SPECIFIER inline
#endif
CFG
cat >"$BUILD/inc/cbor/cbor_export.h" <<CFG
#ifndef CBOR_EXPORT_H
#define CBOR_EXPORT_H
#define CBOR_EXPORT
#endif
CFG

# compile_all LIST_FILE FLAGS...: compiles each "source object" line of LIST_FILE, JOBS at once,
# skipping objects newer than their source.
compile_all() {
    list=$1
    shift
    # Rewritten only when the flags change, so that unchanged objects are kept.
    printf '%s\n' "$*" >"$list.flags.new"
    if cmp -s "$list.flags.new" "$list.flags"; then rm -f "$list.flags.new"; else mv "$list.flags.new" "$list.flags"; fi
    # No header dependencies are tracked: a changed kiln header rebuilds every kiln object.
    if [ -n "$(find "$ROOT/include" "$ROOT/src" "$HERE" -name '*.h' -newer "$list.flags" | head -n 1)" ]; then
        touch "$list.flags"
    fi
    xargs -P "$JOBS" -L 1 sh -c '
        src=$1 obj=$2 flags=$3
        [ "$obj" -nt "$src" ] && [ "$obj" -nt "$flags" ] && exit 0
        exec '"$CC"' $(cat "$flags") -c "$src" -o "$obj"' sh <"$list"
}

listing() { # name dir files...
    name=$1
    shift
    mkdir -p "$BUILD/obj/$name"
    for src in "$@"; do
        echo "$src $BUILD/obj/$name/$(echo "$src" | sed 's|.*/||; s|\.c$|.o|') $BUILD/obj/$name.list.flags"
    done >"$BUILD/obj/$name.list"
}

listing mbedtls "$MBEDTLS_DIR"/library/*.c
compile_all "$BUILD/obj/mbedtls.list" $BASE_CFLAGS -I"$BUILD/inc" -I"$MBEDTLS_DIR/include" "$MBED_CONFIG"
rm -f "$BUILD/libmbedtls-target.a"
"$AR" rcs "$BUILD/libmbedtls-target.a" "$BUILD"/obj/mbedtls/*.o

listing cbor "$CBOR_DIR"/src/cbor.c "$CBOR_DIR"/src/allocators.c "$CBOR_DIR"/src/cbor/*.c \
    "$CBOR_DIR"/src/cbor/internal/*.c
compile_all "$BUILD/obj/cbor.list" $BASE_CFLAGS -std=c99 -I"$BUILD/inc" -I"$CBOR_DIR/src"
rm -f "$BUILD/libcbor-target.a"
"$AR" rcs "$BUILD/libcbor-target.a" "$BUILD"/obj/cbor/*.o

# kiln: the device library without the Linux port and the RAM test backend, the common files,
# the Cortex-M port and the firmware. Kept apart so that bench/firmware can size kiln's part.
KILN_SOURCES=$(cd "$ROOT" && find src/device src/common -name '*.c' -not -path 'src/device/port/*' | sort)
listing kiln $(for s in $KILN_SOURCES src/device/port/cortex-m/*.c; do echo "$ROOT/$s"; done)
listing app "$HERE/main.c"
KILN_CFLAGS="$BASE_CFLAGS -std=c99 -Wall -Wextra -Werror -I$ROOT/include -I$ROOT/src/common \
 -I$ROOT/src/device -I$ROOT/src/device/sf -I$ROOT/src/device/port/cortex-m -I$BUILD/inc \
 -I$MBEDTLS_DIR/include -I$CBOR_DIR/src $MBED_CONFIG"
# Files with the same base name in different folders would clash.
dups=$(awk '{print $2}' "$BUILD/obj/kiln.list" | sort | uniq -d)
[ -z "$dups" ] || { echo "firmware: object name clash: $dups" >&2; exit 1; }
compile_all "$BUILD/obj/kiln.list" $KILN_CFLAGS
compile_all "$BUILD/obj/app.list" $KILN_CFLAGS
rm -f "$BUILD/libkiln-target.a"
"$AR" rcs "$BUILD/libkiln-target.a" "$BUILD"/obj/kiln/*.o

"$CC" $ARCH -nostartfiles --specs=nano.specs -T "$HERE/mps2-an386.ld" -Wl,--gc-sections \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free \
    -Wl,-Map="$BUILD/kiln-qemu-mps2.map" -o "$BUILD/kiln-qemu-mps2.elf" \
    "$BUILD"/obj/app/*.o "$BUILD/libkiln-target.a" "$BUILD/libcbor-target.a" \
    "$BUILD/libmbedtls-target.a" -Wl,--start-group -lc_nano -lnosys -lgcc -Wl,--end-group
echo "firmware: $BUILD/kiln-qemu-mps2.elf"
