#!/bin/sh
# The dashboard of inject-batch --metrics-listen in headless chromium: after the page's fetch()
# of /status.json the DOM shows the run's numbers (devices done, yield, the failure's code, name
# and text, the last devices) and a screenshot is a non-empty PNG.
# usage: dashboard.sh FT FC FAKE SRC VECTORS [SCREENSHOT]
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5 SHOT=${6:-}
[ -x "$FT" ] || { echo "skip: no factory_tool"; exit 77; }
command -v chromium >/dev/null || { echo "chromium missing: scripts/install-deps.sh"; exit 1; }
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
MPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

seven_jobs_one_unreachable "$TMP_ROOT/devices.csv"

ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 2 --retries 0 -t 10 \
    --metrics-listen "127.0.0.1:$MPORT" --metrics-linger 120 >"$TMP_ROOT/b.out" 2>"$TMP_ROOT/b.err" &
PID_ft=$!
PIDS="$PIDS $PID_ft"
URL="http://127.0.0.1:$MPORT"
n=0
until curl -sf "$URL/status.json" 2>/dev/null | grep -q '"done":7'; do
    n=$((n + 1)); [ $n -lt 200 ] || { cat "$TMP_ROOT/b.err"; exit 1; }; sleep 0.1
done

chrome() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$TMP_ROOT/chrome-XXXXXX")" "$@" 2>>"$TMP_ROOT/chrome.err"
}
chrome --virtual-time-budget=5000 --dump-dom "$URL/" > "$TMP_ROOT/dom.html" || true
dom() { grep -q "$1" "$TMP_ROOT/dom.html"; }
check "the DOM shows 7 devices done" dom 'id="done">7<'
check "the DOM shows the yield" dom 'id="yield">85.7 %<'
check "the DOM shows 1 failed" dom 'id="failed">1<'
check "the DOM shows nothing remaining" dom 'id="remaining">0<'
check "the failure's code, name and text" dom '<td>1021</td><td>LINE_E_TCP_CONNECT</td><td>Error connecting to device on IP ... port ...</td><td>1</td>'
check "the last devices, the failed one among them" dom '<td>ep-7</td><td class="failed">failed</td><td>1021</td>'
check "six succeeded rows among the last devices" test "$(grep -o '<td class="ok">succeeded</td>' "$TMP_ROOT/dom.html" | wc -l)" = 6
check "the page loads nothing from outside" sh -c "! grep -Eq '(src|href)=\"(https?:)?//' '$TMP_ROOT/dom.html'"

PNG="$TMP_ROOT/dashboard.png"
chrome --virtual-time-budget=5000 --window-size=1200,900 --screenshot="$PNG" "$URL/" >/dev/null || true
check "the screenshot is a non-empty PNG" sh -c "[ -s '$PNG' ] && head -c 8 '$PNG' | od -An -tx1 | tr -d ' ' | grep -qx 89504e470d0a1a0a"
[ -z "$SHOT" ] || cp "$PNG" "$SHOT"
kill $PID_ft 2>/dev/null || true
finish
