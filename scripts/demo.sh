#!/bin/sh
# The main job end to end on this machine: a configurator that is its own CA, simulated
# devices listening on TCP, and the factory tool provisioning them one after another, each
# attempt recorded. Everything lives under build/demo/.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
demo="$root/build/demo"
rm -rf "$demo"
mkdir -p "$demo/home/config" "$demo/home/resources" "$demo/devices"
export FCU_HOME_DIR="$demo/home"
cp "$root/config/fcu.yml" "$demo/home/config/fcu.yml"

echo "== server CA certificates the devices will trust (made with openssl)"
for name in bootstrap_server_ca_cert lwm2m_server_ca_cert; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=demo $name" -keyout "$demo/home/resources/$name.key" \
        -out "$demo/home/resources/$name.pem" 2>/dev/null
done

echo "== factory_tool setup: the configurator becomes a CA"
"$bin/factory_tool" setup

pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

count=${DEMO_DEVICES:-3}
i=1
while [ "$i" -le "$count" ]; do
    ep="demo-ep-$(printf %04d "$i")"
    log="$demo/devices/$ep.log"
    "$bin/factory_client" --storage "$demo/devices/$ep" tcp --bind 127.0.0.1 --port 0 >"$log" 2>&1 &
    pids="$pids $!"
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*Factory Client IP Address and Port : [0-9.]*:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "device $ep did not start"; cat "$log"; exit 1; }
    echo "== device $ep listening on 127.0.0.1:$port; factory_tool inject"
    "$bin/factory_tool" inject --endpoint-name "$ep" --serial-number "SN-$i" \
        tcp --ip 127.0.0.1 --port "$port" -t 10
    echo
    echo "== what the device stored ($ep):"
    "$bin/factory_client" --storage "$demo/devices/$ep" list
    "$bin/factory_client" --storage "$demo/devices/$ep" verify
    i=$((i + 1))
done

echo
echo "Demo done: $count devices provisioned over TCP."
echo "  configurator home and CA:  $demo/home (keystore/fcu.crt)"
echo "  device storage:            $demo/devices/<endpoint>"
for db in "$demo/home"/*.db "$demo/home"/*/*.db; do
    [ -f "$db" ] && echo "  device records (SQLite):   $db"
done
if "$bin/factory_tool" records list >/dev/null 2>&1; then
    "$bin/factory_tool" records list
fi
