#!/bin/sh
# Device-list columns prop:NAME[:TYPE] become per-device custom properties: each device's
# bundle carries its own values (read back from a real factory_client's storage), a CSV value
# replaces fcu.yml's property of the same name for that device, and a bad header or cell is
# refused with 1000 naming the line and column before any bundle is made.
# usage: props.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
HOME_DIR=$(newhome home)
cat >> "$HOME_DIR/config/fcu.yml" <<'YML'
custom-properties:
  - name: batch
    type: string
    data: from-fcu-yml
  - name: region
    type: string
    data: eu
YML

# The test data: what each device must store, from a generated CSV (quotes, commas, empty cells).
cat > "$TMP_ROOT/devices.csv" <<'CSV'
endpoint_name,serial_number,prop:color,prop:count:integer,prop:blob:binary,prop:b64:base64,prop:batch
pr-1,SN-1,red,42,00ff10,aGVsbG8=,B-7
pr-2,SN-2,"blue, light",-3,0xDEADbeef,,
pr-3,SN-3,,0x10,,AAEC,B-9
CSV
check "prepare-batch with prop: columns makes the bundles" sh -c "'$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/devices.csv' --out '$TMP_ROOT/bundles' > '$TMP_ROOT/p.out' && test \$(ls '$TMP_ROOT/bundles' | wc -l) = 3"

# get NAME --type config prints the stored raw value. Compared as hex.
got() { # got DEVICE NAME: hex of the stored value, or "absent"
    "$FC" --storage "$TMP_ROOT/dev-$1" get "$2" --type config 2>/dev/null | od -An -tx1 | tr -d ' \n' || echo absent
}
for d in 1 2 3; do
    check "the device accepts pr-$d's bundle" "$FC" --storage "$TMP_ROOT/dev-$d" handle "$TMP_ROOT/bundles/pr-$d.cbor" "$TMP_ROOT/pr-$d.resp.cbor"
    check "the tool verifies pr-$d's answer" "$FT" --home-dir "$HOME_DIR" verify --endpoint-name "pr-$d" "$TMP_ROOT/pr-$d.resp.cbor"
done
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
expect() { # expect DEVICE NAME HEX
    check "pr-$1 stores $2 = $3" test "$(got "$1" "$2")" = "$3"
}
expect 1 color "$(hex red)"
expect 2 color "$(hex 'blue, light')"
expect 1 blob 00ff10
expect 2 blob deadbeef
expect 1 b64 "$(hex hello)"
expect 3 b64 000102
expect 1 batch "$(hex B-7)"
expect 3 batch "$(hex B-9)"
expect 2 batch "$(hex from-fcu-yml)"
expect 1 region "$(hex eu)"
check "an empty cell gives no property" sh -c "! '$FC' --storage '$TMP_ROOT/dev-3' get color --type config"
# Integers: the device stores 64-bit two's complement, little endian (as the original).
expect 1 count 2a00000000000000
expect 2 count fdffffffffffffff
expect 3 count 1000000000000000

# inject-batch (the engine) carries them too, to a device over TCP.
start dev "$FC" --storage "$TMP_ROOT/dev-tcp" tcp --port 0
PORT=$(ports dev)
printf 'endpoint_name,serial_number,address,prop:color\npr-tcp,SN-T,tcp:127.0.0.1:%s,green\n' "$PORT" > "$TMP_ROOT/tcp.csv"
check "inject-batch provisions a device with a property" sh -c "'$FT' --home-dir '$HOME_DIR' inject-batch --devices '$TMP_ROOT/tcp.csv' -t 20 > '$TMP_ROOT/tcp.out' 2>/dev/null"
wait "$PID_dev" 2>/dev/null || true
check "the injected device stores its property" test "$(got tcp color)" = "$(hex green)"

# Bad headers and cells: numbered error naming line and column; nothing is made.
bad() { # bad NAME CSV EXPECTED-TEXT
    printf '%b' "$2" > "$TMP_ROOT/bad.csv"
    rm -rf "$TMP_ROOT/badout"
    check "$1" sh -c "! '$FT' --home-dir '$HOME_DIR' prepare-batch --devices '$TMP_ROOT/bad.csv' --out '$TMP_ROOT/badout' > '$TMP_ROOT/bad.json' 2>/dev/null && grep -q '\"status\": 1000' '$TMP_ROOT/bad.json' && grep -qF \"\$1\" '$TMP_ROOT/bad.json' && test ! -e '$TMP_ROOT/badout/ok-1.cbor'" "$3"
}
bad "an unknown type is refused naming column 3" 'endpoint_name,serial_number,prop:x:float\nok-1,S,1\n' "line 1 column 3: 'prop:x:float' has an unknown type"
bad "a property without a name is refused" 'endpoint_name,serial_number,prop:\nok-1,S,1\n' "line 1 column 3: 'prop:' names no property"
bad "a property given twice is refused" 'endpoint_name,serial_number,prop:a,prop:a:int\nok-1,S,1,2\n' "line 1 column 4: 'prop:a:int' names a property given twice"
bad "a bad integer names line 3 column 3" 'endpoint_name,serial_number,prop:n:integer\nok-1,S,1\nok-2,S,12x\n' "line 3 column 3 (prop:n:integer): '12x' is not an integer"
bad "bad hex is refused" 'endpoint_name,serial_number,prop:h:binary\nok-1,S,abz0\n' "line 2 column 3 (prop:h:binary): 'abz0' is not hex"
bad "odd hex is refused" 'endpoint_name,serial_number,prop:h:hex\nok-1,S,abc\n' "has an odd number of hex digits"
bad "padding alone is not base64" 'endpoint_name,serial_number,prop:h:base64\nok-1,S,====\n' "'====' is not base64"
bad "bad base64 is refused" 'endpoint_name,serial_number,prop:h:base64\nok-1,S,abc\n' "'abc' is not base64"
bad "an unknown plain column is still refused" 'endpoint_name,serial_number,color\nok-1,S,1\n' "line 1: unknown column 'color'"
finish
