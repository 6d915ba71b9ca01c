# Shared helpers of the FCU shell tests. Sourced; expects FT (factory_tool), SRC (tests/fcu)
# and VECTORS (tests/data/vectors) to be set.
set -eu
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TMP_ROOT=$(mktemp -d /tmp/kiln-fcu-sh-XXXXXX)
trap 'rm -rf "$TMP_ROOT"' EXIT
PASSED=0
FAILED=0
unset FCU_HOME_DIR FCU_RESOURCES_DIR FCU_KEYSTORE_DIR
# Sanitizer reports (sanitizer build) go to files, so that a leak in a command expected to
# fail is not hidden by its exit status; finish() fails when any report exists.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=$TMP_ROOT/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$TMP_ROOT/sanitizer"

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }
check() { # check NAME COMMAND...: passes when the command succeeds
    name=$1; shift
    if "$@" >"$TMP_ROOT/check.out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$TMP_ROOT/check.out"; fi
}
finish() {
    for report in "$TMP_ROOT"/sanitizer.*; do
        [ -e "$report" ] || continue
        fail "sanitizer report $(basename "$report")"
        sed 's/^/    /' "$report" | head -40
    done
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# newhome NAME: a fresh FCU home with the base configuration and the test PKI's server CAs.
newhome() {
    h="$TMP_ROOT/$1"
    mkdir -p "$h/config" "$h/resources"
    cp "$SRC/data/base.yml" "$h/config/fcu.yml"
    pki="$VECTORS/fcc-oracle/pki"
    cp "$pki/test-bootstrap-server-ca.pem" "$h/resources/bootstrap_server_ca_cert.pem"
    cp "$pki/test-lwm2m-server-ca.pem" "$h/resources/lwm2m_server_ca_cert.pem"
    cp "$pki/test-update-authority.pem" "$h/resources/update.pem"
    echo "$h"
}

# setkey HOME KEY VALUE: sets a top-level key of HOME's fcu.yml.
setkey() {
    $PY - "$1/config/fcu.yml" "$2" "$3" <<'PYEOF'
import sys, re
path, key, value = sys.argv[1:]
text = open(path).read()
line = f"{key}: {value}\n"
pat = re.compile(rf"^{re.escape(key)}:.*\n", re.M)
text = pat.sub(lambda m: line, text, count=1) if pat.search(text) else text + line
open(path, "w").write(text)
PYEOF
}

ft() { "$FT" --home-dir "$HOME_DIR" "$@"; }

# json_get FILE EXPR: evaluates a Python expression on the JSON document "j".
json_get() { $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
