#!/bin/sh
# The libraries only some commands need (libpq, libcurl, libmicrohttpd) are opened at their first
# call: factory_tool does not link them, prepare-batch never loads them, --metrics-listen and a
# PostgreSQL URL do, and when one cannot be loaded the command fails with a numbered error that
# names the library.
# Usage: lazy_libs.sh FT FC FAKE SRC VECTORS SONAME...
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
shift 5
. "$SRC/lib.sh"

home=$(newhome lazy)
printf 'endpoint_name,serial_number,address\nep-1,SN-1,tcp:127.0.0.1:1\nep-2,SN-2,tcp:127.0.0.1:1\n' \
    > "$TMP_ROOT/devices.csv"

needed=$(readelf -d "$FT" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for soname in "$@"; do
    check "factory_tool does not link $soname" sh -c "! echo '$needed' | grep -qx '$soname'"
done

LD_DEBUG=libs "$FT" --home-dir "$home" prepare-batch --devices "$TMP_ROOT/devices.csv" \
    --out "$TMP_ROOT/bundles" > "$TMP_ROOT/prepare.out" 2> "$TMP_ROOT/prepare.libs"
check "prepare-batch prepared both devices" \
    sh -c "[ \$(grep -c '\"result\": \"prepared\"' '$TMP_ROOT/prepare.out') -eq 2 ]"
check "the loader trace names libcrypto (it is a trace of loading)" \
    grep -q 'libcrypto.so' "$TMP_ROOT/prepare.libs"
for soname in "$@"; do
    check "prepare-batch does not load $soname" sh -c "! grep -q '$soname' '$TMP_ROOT/prepare.libs'"
done

# --metrics-listen opens libmicrohttpd when the listener starts; the devices then fail (port 1).
mhd=$(printf '%s\n' "$@" | grep microhttpd)
LD_DEBUG=libs "$FT" --home-dir "$home" inject-batch --devices "$TMP_ROOT/devices.csv" \
    --no-records --metrics-listen 127.0.0.1:0 > "$TMP_ROOT/inject.out" 2> "$TMP_ROOT/inject.libs" || true
check "--metrics-listen loads $mhd" grep -q "$mhd" "$TMP_ROOT/inject.libs"
check "the batch ran with the listener up" grep -q '"endpoint": "ep-2"' "$TMP_ROOT/inject.out"

# A library that is there but cannot be loaded (here: an empty file of its soname).
mkdir -p "$TMP_ROOT/broken"
for soname in "$@"; do : > "$TMP_ROOT/broken/$soname"; done
out=$(LD_LIBRARY_PATH="$TMP_ROOT/broken" "$FT" --home-dir "$home" records \
    --records-db postgresql://127.0.0.1:1/kiln list 2>&1) && rc=0 || rc=$?
check "without libpq: records fails (exit $rc)" [ "$rc" -ne 0 ]
check "without libpq: the error is numbered and names the library" sh -c \
    "echo '$out' | grep -q '\"status\": 1000, .*PostgreSQL (libpq) cannot be loaded: .*file too short'"
out=$(LD_LIBRARY_PATH="$TMP_ROOT/broken" "$FT" --home-dir "$home" inject-batch \
    --devices "$TMP_ROOT/devices.csv" --no-records --metrics-listen 127.0.0.1:0 2>&1) && rc=0 || rc=$?
check "without libmicrohttpd: inject-batch --metrics-listen fails (exit $rc)" [ "$rc" -ne 0 ]
check "without libmicrohttpd: the error is numbered and names the library" sh -c \
    "echo '$out' | grep -q '\"status\": 1000, .*cannot serve metrics .*the HTTP server (libmicrohttpd) cannot be loaded'"
check "without libmicrohttpd: no device was started" sh -c "! echo '$out' | grep -q '\"endpoint\"'"
finish
