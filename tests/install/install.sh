#!/bin/sh
# Installs the build into a temporary prefix and uses only the installed files.
# usage: install.sh BUILD_DIR THIS_DIR FCU_TEST_DIR VECTORS FAKE_DEVICE LINE_TEST_DIR
BUILD=$1 HERE=$2 SRC=$3 VECTORS=$4 FAKE=$5 LINE_SRC=$6
. "$SRC/lib.sh"
P="$TMP_ROOT/prefix"

check "cmake --install into a temporary prefix" cmake --install "$BUILD" --prefix "$P"
for f in bin/factory_tool bin/factory_client bin/factory_service include/fcu/fcu.h \
    include/kiln/device.h include/fcc_status.h include/key_config_manager.h \
    lib/libkiln-fcu.so.0 lib/libkiln-fcu.a lib/libkiln-device.so.0 lib/libkiln-device.a \
    lib/libkiln-line.so.0 lib/pkgconfig/kiln-fcu.pc lib/pkgconfig/kiln-line.pc \
    include/kiln/line/line_engine.h lib/pkgconfig/kiln-device.pc \
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

check "the line engine's own test program builds against pkg-config kiln-line" sh -c \
    "cc -std=c11 -Wall -Werror -o '$TMP_ROOT/engine_api' '$LINE_SRC/engine_api.c' \$(pkg-config --cflags --libs kiln-line)"
check "libkiln-line takes the configurator from libkiln-fcu" sh -c "ldd '$TMP_ROOT/engine_api' | grep -q libkiln-fcu.so.0"
check "the line engine runs from the installed library (engine_api.sh)" \
    sh "$LINE_SRC/engine_api.sh" "$TMP_ROOT/engine_api" "$P/bin/factory_tool" "$P/bin/factory_client" "$FAKE" "$LINE_SRC" "$VECTORS"

HOME_DIR=$(newhome python)
check "python3 -m unittest: the fcu module against a real factory_client" env \
    PYTHONPATH="$P/lib/python3/dist-packages" FCU_HOME_DIR="$HOME_DIR" KILN_TMP="$TMP_ROOT" \
    KILN_FACTORY_CLIENT="$P/bin/factory_client" KILN_C_SIZES="$(cat "$TMP_ROOT/sizes" 2>/dev/null)" \
    $PY "$HERE/test_fcu_module.py"
check "the module loads the library beside it, not one from LD_LIBRARY_PATH" env -u LD_LIBRARY_PATH \
    PYTHONPATH="$P/lib/python3/dist-packages" $PY -c "import fcu; assert fcu.__version__"
# Man pages: every installed page renders without a warning and has a NAME line; every command
# factory_tool --help lists is in the SYNOPSIS of one of the factory_tool pages.
pages=$(ls "$P"/share/man/man1/*.1 "$P"/share/man/man3/*.3 2>/dev/null)
check "man pages are installed (section 1 and 3)" sh -c "ls '$P/share/man/man1/factory_tool.1' '$P/share/man/man1/factory_client.1' '$P/share/man/man3/kiln-fcu.3' '$P/share/man/man3/kiln-device.3'"
for page in $pages; do
    page_name=$(basename "$page")
    check "man -l $page_name renders without warnings" sh -c "test -z \"\$(MANWIDTH=100 man --warnings -l '$page' 2>&1 >/dev/null)\""
    check "man -l $page_name has a non-empty NAME section" sh -c \
        "MANWIDTH=100 man -l '$page' 2>/dev/null | sed -n '/^NAME/,/^[A-Z]/p' | sed '1d;\$d' | grep -Eq '[a-z0-9_] +- +[A-Za-z]'"
done
synopses="$TMP_ROOT/synopses"
for page in "$P"/share/man/man1/factory_tool*.1; do
    MANWIDTH=200 man -l "$page" 2>/dev/null | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p'
done > "$synopses"
ft_commands=$("$P/bin/factory_tool" --help | sed -n '/^commands:/,/^$/p' | grep '^  [a-z]' | sed 's/^  //; s/  .*//' |
    awk '/,/ { gsub(/,/, " "); print; next } { print $1 }' | tr ' ' '\n' | grep -x '[a-z][a-z_-]*' | sort -u)
check "factory_tool --help lists its commands" test "$(echo "$ft_commands" | wc -l)" -ge 15
for c in $ft_commands; do
    check "factory_tool $c has a man page that shows it" grep -qw -- "factory_tool.* $c" "$synopses"
done
# --version and --help of every installed program and subcommand: exit 0, print, act on nothing
# (run in an empty folder with no station, home or storage: anything acting would fail or write).
EMPTY="$TMP_ROOT/empty"
mkdir -p "$EMPTY"
version=$(sed -n 's/^Version: //p' "$P/lib/pkgconfig/kiln-fcu.pc")
for prog in factory_tool factory_client factory_service; do
    check "$prog --version prints $version" sh -c "cd '$EMPTY' && '$P/bin/$prog' --version | grep -q ' $version\$'"
done
fc_commands=$("$P/bin/factory_client" --help | sed -n '/^commands:/,/^$/p' | grep -o '^  [a-z]*' | tr -d ' ')
fs_commands=$("$P/bin/factory_service" --help 2>&1 | grep -o 'factory_service [a-z][a-z-]*' | awk '{print $2}' | sort -u)
for c in $ft_commands; do echo "factory_tool $c"; done > "$TMP_ROOT/help-list"
for c in $fc_commands; do echo "factory_client $c"; done >> "$TMP_ROOT/help-list"
for c in $fs_commands; do echo "factory_service $c"; done >> "$TMP_ROOT/help-list"
check "every subcommand of the three programs is listed ($(wc -l < "$TMP_ROOT/help-list"))" test "$(wc -l < "$TMP_ROOT/help-list")" -ge 30
while read -r prog c; do
    check "$prog $c --help exits 0 with its usage and acts on nothing" sh -c \
        "cd '$EMPTY' && '$P/bin/$prog' $c --help > '$TMP_ROOT/h.out' 2>&1 && grep -qi usage '$TMP_ROOT/h.out' && test -z \"\$(ls -A '$EMPTY')\""
done < "$TMP_ROOT/help-list"
check "man pages name the exit statuses" sh -c "for p in '$P'/share/man/man1/*.1; do MANWIDTH=100 man -l \"\$p\" 2>/dev/null | grep -q '^EXIT STATUS' || exit 1; done"
check "bash completion is installed and completes a command" bash -c \
    ". '$P/share/bash-completion/completions/factory_tool'; COMP_WORDS=(factory_tool prepare-b); COMP_CWORD=1; _kiln_factory_tool; test \"\${COMPREPLY[*]}\" = prepare-batch"
finish
