#!/bin/sh
# Runs "$@" with a fresh SoftHSM2 token: a temporary SOFTHSM2_CONF and token directory, one
# token labelled $KILN_TEST_TOKEN (default kiln) initialised with user PIN $KILN_TEST_PIN.
# Exports KILN_TEST_P11_MODULE, KILN_TEST_TOKEN, KILN_TEST_PIN, KILN_TEST_P11_DIR (scratch dir,
# removed afterwards). Extra tokens: KILN_TEST_EXTRA_TOKENS="a b".
set -eu
module=${KILN_TEST_P11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -r "$module" ] || ! command -v softhsm2-util >/dev/null; then
    echo "SoftHSM2 is missing (scripts/install-deps.sh installs softhsm2)" >&2
    exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/kiln-p11.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$dir" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
export KILN_TEST_P11_MODULE="$module" KILN_TEST_P11_DIR="$dir"
export KILN_TEST_TOKEN="${KILN_TEST_TOKEN:-kiln}" KILN_TEST_PIN="${KILN_TEST_PIN:-4711-kiln}"
for label in "$KILN_TEST_TOKEN" ${KILN_TEST_EXTRA_TOKENS:-}; do
    softhsm2-util --init-token --free --label "$label" --pin "$KILN_TEST_PIN" \
        --so-pin "so-$KILN_TEST_PIN" >/dev/null
done
"$@"
