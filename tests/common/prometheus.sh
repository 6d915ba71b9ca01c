# A real Prometheus for the metrics tests, sourced after the suite's lib.sh.
# prometheus_start DIR JOB TARGET_PORT: starts one scraping 127.0.0.1:TARGET_PORT every second
# (temp storage in DIR, loopback port) and waits until it is ready; sets PROM_PORT, PROM_PID.
# prom_query EXPR: the value of a one-element instant vector ("" when empty).
prometheus_start() {
    prom_dir=$1 prom_job=$2 prom_target=$3
    command -v prometheus >/dev/null || { echo "prometheus missing: scripts/install-deps.sh" >&2; exit 1; }
    PROM_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$prom_dir/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: $prom_job
    static_configs:
      - targets: ['127.0.0.1:$prom_target']
EOC
    prometheus --config.file="$prom_dir/prometheus.yml" --storage.tsdb.path="$prom_dir/tsdb" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$prom_dir/prometheus.log" 2>&1 &
    PROM_PID=$!
    prom_n=0
    until curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null; do
        prom_n=$((prom_n + 1))
        [ $prom_n -lt 100 ] || { cat "$prom_dir/prometheus.log" >&2; exit 1; }
        sleep 0.2
    done
}

prom_query() {
    curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
        /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r)==1 else "")'
}
