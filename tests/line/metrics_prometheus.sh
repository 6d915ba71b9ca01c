#!/bin/sh
# inject-batch --metrics-listen scraped by a real Prometheus (temp storage, loopback, 1 s
# scrapes): the totals Prometheus holds (devices by outcome and code, durations counted,
# remaining, build info) equal the batch's; /metrics answers text 0.0.4, other paths 404, POST
# 405. --metrics-linger keeps the final numbers up until Prometheus has them.
# usage: metrics_prometheus.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
[ -x "$FT" ] || { echo "skip: no factory_tool"; exit 77; }
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)

seven_jobs_one_unreachable "$TMP_ROOT/devices.csv"

# Prometheus is ready before the first device, so the run is scraped from its start.
. "$SRC/../common/prometheus.sh"
prometheus_start "$TMP_ROOT" line "$MPORT"
PIDS="$PIDS $PROM_PID"

ft inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 2 --retries 0 -t 10 \
    --metrics-listen "127.0.0.1:$MPORT" --metrics-linger 30 >"$TMP_ROOT/b.out" 2>"$TMP_ROOT/b.err" &
PID_ft=$!
PIDS="$PIDS $PID_ft"

n=0
until [ "$(prom_query 'sum(kiln_line_devices_total)')" = 7 ] && [ "$(prom_query 'kiln_line_devices_remaining')" = 0 ]; do
    n=$((n + 1)); [ $n -lt 100 ] || break; sleep 0.25
done

check "the batch is over (7 JSON lines and a summary)" sh -c "n=0; until [ \$(wc -l < '$TMP_ROOT/b.out') -ge 8 ]; do n=\$((n+1)); [ \$n -lt 100 ] || exit 1; sleep 0.1; done"
summary=$(tail -n 1 "$TMP_ROOT/b.out" | $PY -c 'import json,sys; s=json.loads(sys.stdin.read())["summary"]; print(s["devices"], s["succeeded"], s["failed"])')
check "the batch's own summary: 7 devices, 6 ok, 1 failed" test "$summary" = "7 6 1"
check "Prometheus: 7 devices done" test "$(prom_query 'sum(kiln_line_devices_total)')" = 7
check "Prometheus: 6 succeeded with code 0" test "$(prom_query 'kiln_line_devices_total{outcome="succeeded",code="0"}')" = 6
check "Prometheus: 1 failed with 1021" test "$(prom_query 'kiln_line_devices_total{outcome="failed",code="1021"}')" = 1
check "Prometheus: no other failure" test "$(prom_query 'sum(kiln_line_devices_total{outcome="failed"})')" = 1
check "Prometheus: 7 device durations" test "$(prom_query 'kiln_line_device_seconds_count')" = 7
check "Prometheus: the +Inf bucket holds them all" test "$(prom_query 'kiln_line_device_seconds_bucket{le="+Inf"}')" = 7
check "Prometheus: nothing remaining, nothing in flight" test "$(prom_query 'kiln_line_devices_remaining + kiln_line_in_flight')" = 0
check "Prometheus: build info with the version" test "$(prom_query 'kiln_build_info{version="'"$("$FT" --version | awk '{print $3}')"'"}')" = 1
check "Prometheus scraped the target as up" test "$(prom_query 'up{job="line"}')" = 1

M="http://127.0.0.1:$MPORT"
check "/metrics is text 0.0.4" sh -c "curl -sfi '$M/metrics' | grep -qi '^content-type: text/plain; version=0.0.4'"
check "/metrics has HELP and TYPE" sh -c "curl -sf '$M/metrics' | grep -qx '# TYPE kiln_line_device_seconds histogram'"
check "/status.json has the counts" sh -c "curl -sf '$M/status.json' | $PY -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if (s[\"done\"],s[\"ok\"],s[\"failed\"])==(7,6,1) and s[\"failures\"][0][\"code\"]==1021 and len(s[\"last\"])==7 else 1)'"
check "another path is 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$M/nothing")" = 404
check "POST is 405" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$M/metrics")" = 405
check "a taken port is refused with 1000" sh -c "! '$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/devices.csv' --metrics-listen 127.0.0.1:$MPORT > '$TMP_ROOT/taken.json' 2>/dev/null && grep -q '\"status\": 1000' '$TMP_ROOT/taken.json'"
check "a bad address is refused" sh -c "! '$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/devices.csv' --metrics-listen nowhere > /dev/null 2>&1"

kill $PID_ft 2>/dev/null || true
finish
