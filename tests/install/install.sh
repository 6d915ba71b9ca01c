#!/bin/sh
# Installs the build into a temporary prefix and uses only the installed files.
# usage: install.sh BUILD_DIR THIS_DIR FCU_TEST_DIR VECTORS
BUILD=$1 HERE=$2 SRC=$3 VECTORS=$4
. "$SRC/lib.sh"
P="$TMP_ROOT/prefix"

check "cmake --install into a temporary prefix" cmake --install "$BUILD" --prefix "$P"
for f in bin/factory_tool bin/factory_client bin/factory_service include/fcu/fcu.h \
    include/kiln/device.h include/fcc_status.h include/key_config_manager.h \
    lib/libkiln-fcu.so.0 lib/libkiln-fcu.a lib/libkiln-device.so.0 lib/libkiln-device.a \
    lib/libkiln-line.so.0 lib/pkgconfig/kiln-fcu.pc lib/pkgconfig/kiln-device.pc \
    lib/python3/dist-packages/fcu/__init__.py; do
    check "installed $f" test -e "$P/$f"
done
check "the .pc files name the prefix given at install time" grep -qx "prefix=$P" "$P/lib/pkgconfig/kiln-fcu.pc"
# Only the API is exported: no internal fcu__ or line-engine helpers leak from libkiln-fcu.
check "libkiln-fcu exports fcu_* and nothing internal" sh -c \
    "nm -D --defined-only '$P/lib/libkiln-fcu.so.0' | awk '{print \$3}' | grep -v '^fcu_[a-z]' | grep -v '^\$' | grep -v '^KILN' ; test \$? -eq 1"
check "libkiln-fcu exports fcu_prepare_device_configuration" sh -c \
    "nm -D --defined-only '$P/lib/libkiln-fcu.so.0' | grep -q ' T fcu_prepare_device_configuration$'"

export PKG_CONFIG_PATH="$P/lib/pkgconfig"
export LD_LIBRARY_PATH="$P/lib"
# shellcheck disable=SC2046
check "a C program builds against pkg-config kiln-fcu" sh -c \
    "cc -std=c11 -Wall -Werror -o '$TMP_ROOT/use_fcu' '$HERE/use_fcu.c' \$(pkg-config --cflags --libs kiln-fcu)"
check "a C program builds against pkg-config kiln-device" sh -c \
    "cc -std=c99 -Wall -Werror -o '$TMP_ROOT/use_device' '$HERE/use_device.c' \$(pkg-config --cflags --libs kiln-device)"
check "a C program links libkiln-fcu statically (pkg-config --static)" sh -c \
    "cc -std=c11 -o '$TMP_ROOT/use_fcu_static' '$HERE/use_fcu.c' \$(pkg-config --cflags kiln-fcu) '$P/lib/libkiln-fcu.a' \$(pkg-config --static --libs-only-l kiln-fcu | sed 's/-lkiln-fcu//')"
check "a device program links libkiln-device statically (pkg-config --static)" sh -c \
    "cc -std=c99 -o '$TMP_ROOT/use_device_static' '$HERE/use_device.c' \$(pkg-config --cflags kiln-device) '$P/lib/libkiln-device.a' \$(pkg-config --static --libs kiln-device | sed 's/-lkiln-device//')"
check "the static program does not need libkiln-fcu.so" sh -c "! ldd '$TMP_ROOT/use_fcu_static' | grep -q kiln"

HOME_DIR=$(newhome c)
check "the C program sets up a CA and prepares a bundle" sh -c "'$TMP_ROOT/use_fcu' '$HOME_DIR' '$TMP_ROOT/c.cbor' > '$TMP_ROOT/sizes'"
check "the installed factory_client accepts that bundle" "$P/bin/factory_client" --storage "$TMP_ROOT/dev-c" handle "$TMP_ROOT/c.cbor" "$TMP_ROOT/c.resp.cbor"
check "the installed factory_tool verifies its answer" sh -c "'$P/bin/factory_tool' --home-dir '$HOME_DIR' verify --endpoint-name c-ep-1 '$TMP_ROOT/c.resp.cbor'"
HOME_DIR=$(newhome static)
check "the static C program works too" "$TMP_ROOT/use_fcu_static" "$HOME_DIR" "$TMP_ROOT/s.cbor"
check "the static device program finds the Linux default device" sh -c "KILN_STORAGE_DIR='$TMP_ROOT/dev-ds' '$TMP_ROOT/use_device_static'"
check "the device program runs on the installed libkiln-device" sh -c "KILN_STORAGE_DIR='$TMP_ROOT/dev-d' '$TMP_ROOT/use_device'"

HOME_DIR=$(newhome python)
check "python3 -m unittest: the fcu module against a real factory_client" env \
    PYTHONPATH="$P/lib/python3/dist-packages" FCU_HOME_DIR="$HOME_DIR" KILN_TMP="$TMP_ROOT" \
    KILN_FACTORY_CLIENT="$P/bin/factory_client" KILN_C_SIZES="$(cat "$TMP_ROOT/sizes" 2>/dev/null)" \
    $PY "$HERE/test_fcu_module.py"
check "the module loads the library beside it, not one from LD_LIBRARY_PATH" env -u LD_LIBRARY_PATH \
    PYTHONPATH="$P/lib/python3/dist-packages" $PY -c "import fcu; assert fcu.__version__"
finish
