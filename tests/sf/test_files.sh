#!/bin/sh
# Files the service creates are private even under a permissive umask: the state folder and
# keys/ 0700; keys, service.conf, factory.db with its -wal and -shm, and the request log 0600.
# At start the service refuses a state whose key, database or folder group or others can reach.
BIN=$1
. "$(dirname "$0")/lib.sh"
umask 022
init_service
mode() { stat -c %a "$1"; }
expect_mode() { # MODE PATH...
    m=$1
    shift
    for f in "$@"; do
        [ -e "$f" ] || fail "$f missing"
        [ "$(mode "$f")" = "$m" ] || fail "$f is $(mode "$f"), not $m"
    done
}
LOG=$WORK/svc.log
"$BIN/factory_service" run "$DIR" --listen "127.0.0.1:$PORT" --log "$LOG" >"$WORK/run.out" \
    2>"$WORK/run.err" &
pid=$!
SERVICE_PIDS="$SERVICE_PIDS $pid"
wait_for "$WORK/run.out" "listening on port"
provision files-1 "$WORK/dev" >/dev/null || fail "flow"
expect_mode 700 "$DIR" "$DIR/keys"
expect_mode 600 "$DIR"/keys/* "$DIR/service.conf" "$DIR/factory.db" "$DIR/factory.db-wal" \
    "$DIR/factory.db-shm" "$LOG" "$STATION"
[ "$(ls "$DIR/keys" | wc -l)" -eq 6 ] || fail "keys: $(ls "$DIR/keys")"
kill "$pid"
wait "$pid" 2>/dev/null || true

# refused_start WHAT: the service does not start, naming the file and error 122.
refused_start() {
    "$BIN/factory_service" run "$DIR" --listen "127.0.0.1:$PORT" --log "$LOG" >"$WORK/run.out" \
        2>"$WORK/run.err" && fail "service started with $1"
    grep -q "error 122" "$WORK/run.err" && grep -q "group and others must have no access" "$WORK/run.err" ||
        fail "$1: $(cat "$WORK/run.err")"
}
for f in factory.db factory.db-wal keys/tls.key keys/db-wrap.key keys/signing.key keys/ledger.key service.conf; do
    [ -e "$DIR/$f" ] || continue
    chmod 640 "$DIR/$f"
    refused_start "$f 0640"
    chmod 600 "$DIR/$f"
done
chmod 755 "$DIR/keys"
refused_start "keys/ 0755"
chmod 700 "$DIR/keys"
chmod 750 "$DIR"
refused_start "the state folder 0750"
chmod 700 "$DIR"
chmod 644 "$LOG"
refused_start "a log readable by others"
chmod 600 "$LOG"
# The other commands check too: they read the same keys and database.
chmod 604 "$DIR/factory.db"
"$BIN/factory_service" stats "$DIR" >/dev/null 2>"$WORK/err" && fail "stats on a 0604 database"
chmod 600 "$DIR/factory.db"
"$BIN/factory_service" stats "$DIR" | grep -q "^certificates 1$" || fail "stats after the fixes"
# init never loosens nor silently adopts an existing folder that others can reach.
mkdir -m 755 "$WORK/open"
"$BIN/factory_service" init "$WORK/open" >/dev/null 2>"$WORK/err" && fail "init into a 0755 folder"
grep -q "group and others must have no access" "$WORK/err" || fail "init into 0755: $(cat "$WORK/err")"
[ "$(mode "$WORK/open")" = 755 ] && [ ! -e "$WORK/open/keys" ] || fail "init touched the 0755 folder"
mkdir -m 700 "$WORK/private"
"$BIN/factory_service" init "$WORK/private" >/dev/null || fail "init into an existing 0700 folder"

# A station file must name a URL stations can reach: a wildcard listen address is not one.
"$BIN/factory_service" init "$WORK/wild" --listen 0.0.0.0:8443 >/dev/null || fail "init 0.0.0.0"
if "$BIN/factory_service" add-station "$WORK/wild" s1 "$WORK/wild.pem" 2>"$WORK/wild.err"; then
    fail "add-station wrote a station file with https://0.0.0.0"
fi
grep -q "error 122: .*--url" "$WORK/wild.err" || fail "add-station without --url: $(cat "$WORK/wild.err")"
[ ! -e "$WORK/wild.pem" ] || fail "a refused add-station left a station file"
"$BIN/factory_service" add-station "$WORK/wild" s1 "$WORK/wild.pem" --url https://sf.factory:8443 \
    >/dev/null || fail "add-station --url"
grep -q "^service-url: https://sf.factory:8443$" "$WORK/wild.pem" || fail "station file URL"
echo "sf files: 1 passed, 0 failed"
