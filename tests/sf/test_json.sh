#!/bin/sh
# Request bodies: exactly one JSON object in UTF-8, no duplicate key, nothing after it (else 125),
# and exactly the route's members with their types (else 126); a refused body creates nothing.
# A session ID whose endpoint name breaks the shared rule is refused (101), and so is an
# endpoint-prefix that breaks it (122 at start).
# The cases are data: tests/sf/json_cases.txt (route, expected error, body; \xNN escapes).
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"
p=$("$BIN/factory_tool" new_device j-open | payload)
r=$("$BIN/factory_client" --storage "$WORK/dev" sf "$p" --factory-trust "$TRUST")
before=$(session_row j-open)

n=0
while IFS='|' read -r route expected body; do
    case $route in '' | '#'*) continue ;; esac
    body=$(printf '%s' "$body" | sed "s/@R@/$r/g")
    printf "$body" >"$WORK/body" # the cases' \xNN escapes become raw bytes
    a=$(post_file "$STATION" "$route" "$WORK/body") || fail "case $n: no answer"
    case $expected in
    ok) echo "$a" | grep -q '^200 ' || fail "case $n ($route $body): $a" ;;
    *) echo "$a" | grep -q "^400 {\"error\":$expected," || fail "case $n ($route $body): $a" ;;
    esac
    n=$((n + 1))
done <"$(dirname "$0")/json_cases.txt"
[ $n -ge 20 ] || fail "only $n cases"
# Nothing refused was created or changed: only the controls' sessions exist.
[ "$(sqlite3 "$DIR/factory.db" "SELECT sid FROM sessions ORDER BY sid" | tr '\n' ' ')" = "j-ok j-open " ] ||
    fail "sessions: $(sqlite3 "$DIR/factory.db" 'SELECT sid, state FROM sessions')"
[ "$(session_row j-open)" = "$before" ] || fail "a refused request changed j-open"
# endpoint-prefix is checked with the shared endpoint-name rule when the configuration loads.
kill "$LAST_PID"
wait "$LAST_PID" 2>/dev/null || true
for prefix in '=cmd|x!A1' '@sum' "$(printf 'dev\001')" "$(printf 'caf\351-')"; do
    cp "$DIR/service.conf" "$WORK/service.conf.saved"
    sed -i "s/^endpoint-prefix = .*/endpoint-prefix = $prefix/" "$DIR/service.conf"
    "$BIN/factory_service" run "$DIR" --listen "127.0.0.1:$PORT" >/dev/null 2>"$WORK/run.err" &&
        fail "service started with endpoint-prefix $prefix"
    grep -q "endpoint-prefix" "$WORK/run.err" && grep -q "error 122" "$WORK/run.err" ||
        fail "endpoint-prefix $prefix: $(cat "$WORK/run.err")"
    cp "$WORK/service.conf.saved" "$DIR/service.conf"
done
echo "sf json: $n passed, 0 failed"
