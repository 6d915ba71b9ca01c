#!/bin/sh
# factory_service run --metrics-listen scraped by a real Prometheus (temp storage, loopback, 1 s
# scrapes): sessions done per batch, quota remaining, requests per station and code and the
# session durations equal what the test did; the admin port answers /metrics, /, /status.json.
BIN=$1
[ -x "$BIN/factory_service" ] || { echo "skip: no factory_service"; exit 77; }
. "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null || fail "prometheus missing: scripts/install-deps.sh"
init_service --batch lot-1
"$BIN/factory_service" set-quota "$DIR" lot-1 10
MPORT=$(free_port)
PPORT=$(free_port)
cat > "$WORK/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sf
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOC
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
DEVICE_PIDS="$DEVICE_PIDS $!"
start_service "$DIR" "$PORT" "$WORK/service.log" --metrics-listen "127.0.0.1:$MPORT"
M="http://127.0.0.1:$MPORT"

for d in 1 2 3; do
    provision "m-$d" "$WORK/dev$d" >/dev/null || fail "device $d not provisioned"
done
query() {
    curl -sf "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r)==1 else "")'
}
i=0
until [ "$(query 'sum(kiln_sf_station_requests_total)')" = 9 ]; do
    i=$((i + 1)); [ $i -lt 120 ] || fail "Prometheus never saw 9 requests: $(curl -s "$M/metrics")"; sleep 0.25
done
[ "$(query 'kiln_sf_sessions_total{batch="lot-1",outcome="done"}')" = 3 ] || fail "sessions done"
[ "$(query 'sum(kiln_sf_sessions_total)')" = 3 ] || fail "no other session outcome"
[ "$(query 'kiln_sf_session_seconds_count')" = 3 ] || fail "session durations"
[ "$(query 'kiln_sf_quota_remaining{batch="lot-1"}')" = 7 ] || fail "quota remaining"
[ "$(query 'kiln_sf_station_requests_total{station="station1",code="0"}')" = 9 ] || fail "requests by station and code"
[ "$(query 'count(kiln_build_info)')" = 1 ] || fail "build info"
curl -sfi "$M/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' || fail "content type"
curl -sf "$M/" | grep -q "fetch('/status.json'" || fail "dashboard page"
curl -sf "$M/status.json" | grep -q '"done":3' || fail "status.json"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$M/x")" = 404 ] || fail "404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$M/metrics")" = 405 ] || fail "405"
# The station port is not the admin port: /metrics there is no plain HTTP answer.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" != 200 ] || fail "metrics on the station port"
echo "sf_metrics: ok"
