#!/bin/sh
# Installs the Debian packages kiln needs, only those missing. Safe to run repeatedly.
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libssl-dev openssl libmbedtls-dev libcbor-dev libyaml-dev libsqlite3-dev sqlite3
libpq-dev postgresql libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libcmocka-dev
libp11-kit-dev softhsm2 libengine-pkcs11-openssl opensc socat python3 python3-cbor2 python3-cryptography python3-cffi dpkg-dev valgrind man-db
prometheus chromium curl
gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
