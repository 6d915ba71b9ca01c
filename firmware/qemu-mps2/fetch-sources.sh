#!/bin/sh
# Fetches the Debian source packages of Mbed TLS and libcbor into DEST (the firmware's build
# folder), for building them for the target. Nothing is copied into the source tree.
#
#   fetch-sources.sh DEST
#
# deb-src is not enabled on the build machine, so this uses a private sources list, parts dir
# and lists dir under DEST (apt's own state is left alone) and runs its own `apt-get update`.
# Mbed TLS comes from bookworm (the version the host build uses). The bookworm libcbor source
# (0.8.0-2) is listed but not served by this machine's mirror; when it fails, the trixie source
# package's upstream tarball (0.10.2, checksum-verified by apt like any source file) is used.
# Prints MBEDTLS_DIR=... and CBOR_DIR=... as its last two lines.
set -eu

DEST=${1:?destination folder}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
APT="$DEST/apt"
mkdir -p "$APT/lists/partial" "$APT/parts" "$DEST/src"
cat >"$APT/sources.list" <<LIST
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
LIST
apt_private() {
    apt-get -q -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts="$APT/parts" \
        -o Dir::State::Lists="$APT/lists" -o APT::Sandbox::User=root "$@"
}

find_dir() { # pattern
    find "$DEST/src" -maxdepth 1 -type d -name "$1" | sort | tail -n 1
}

if [ -z "$(find_dir 'Mbed-TLS-*')$(find_dir 'mbedtls-*')" ] || [ -z "$(find_dir 'libcbor-*')" ]; then
    apt_private update >"$DEST/apt-update.log" 2>&1 ||
        { cat "$DEST/apt-update.log" >&2; exit 1; }
fi

cd "$DEST/src"
if [ -z "$(find_dir 'Mbed-TLS-*')$(find_dir 'mbedtls-*')" ]; then
    # --download-only then unpack the upstream tarball: no dpkg-source patches are needed for
    # the library sources, and the unpacked tree is the upstream one.
    apt_private source --download-only mbedtls/bookworm >"$DEST/mbedtls-source.log" 2>&1 ||
        { cat "$DEST/mbedtls-source.log" >&2; exit 1; }
    tar xzf mbedtls_*.orig.tar.gz
fi
if [ -z "$(find_dir 'libcbor-*')" ]; then
    if ! apt_private source --download-only libcbor/bookworm >"$DEST/libcbor-source.log" 2>&1; then
        echo "fetch-sources: libcbor/bookworm not served by the mirror (see $DEST/libcbor-source.log); using libcbor/trixie's upstream tarball" >&2
        apt_private source --download-only libcbor/trixie >"$DEST/libcbor-trixie.log" 2>&1 || true
    fi
    tarball=$(ls libcbor_*.orig.tar.gz 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$tarball" ]; then
        cat "$DEST/libcbor-source.log" "$DEST/libcbor-trixie.log" >&2 2>/dev/null || true
        echo "fetch-sources: no libcbor source could be fetched" >&2
        exit 1
    fi
    tar xzf "$tarball"
fi
mbed=$(find_dir 'Mbed-TLS-*')
[ -n "$mbed" ] || mbed=$(find_dir 'mbedtls-*')
echo "MBEDTLS_DIR=$mbed"
echo "CBOR_DIR=$(find_dir 'libcbor-*')"
