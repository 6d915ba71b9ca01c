#!/bin/sh
# TLS of the station port: real openssl s_client handshakes. TLS 1.0, 1.1 and TLS 1.2 suites
# without ECDHE or AEAD fail; TLS 1.2 ECDHE-GCM and TLS 1.3 succeed. tls-priorities in
# service.conf is checked against that policy at start. The station client (libcurl) refuses a
# server that offers TLS 1.1 only.
BIN=$1
. "$(dirname "$0")/lib.sh"
init_service
start_service "$DIR" "$PORT" "$WORK/service.log"

# handshake ARGS...: 0 when openssl completes a handshake with those options.
handshake() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DIR/station-ca.pem" \
        -cert "$STATION" -key "$STATION" "$@" >"$WORK/hs.out" 2>&1 || return 1
    grep -Eq '^New, TLSv1\.[0-3], Cipher is [A-Z]' "$WORK/hs.out"
}
# SECLEVEL 0 lets this openssl offer what old clients offer: only the service may say no.
OLD='DEFAULT:@SECLEVEL=0'
for args in "-tls1 -cipher $OLD" "-tls1_1 -cipher $OLD" "-tls1_2 -cipher AES128-SHA:@SECLEVEL=0" \
    "-tls1_2 -cipher AES128-GCM-SHA256" "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256" \
    "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"; do
    # shellcheck disable=SC2086 # the options are words
    handshake $args && fail "handshake with $args succeeded: $(grep -E 'Protocol|Cipher' "$WORK/hs.out")"
done
handshake -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 || fail "TLS 1.2 ECDHE-GCM: $(cat "$WORK/hs.out")"
handshake -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 || fail "TLS 1.2 ECDHE-ChaCha20: $(cat "$WORK/hs.out")"
handshake -tls1_2 || fail "TLS 1.2: $(cat "$WORK/hs.out")"
grep -q "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" "$WORK/hs.out" || fail "TLS 1.2 default suite: $(grep Cipher "$WORK/hs.out")"
handshake -tls1_3 || fail "TLS 1.3: $(cat "$WORK/hs.out")"
# A station request over TLS 1.2 is served.
body='{"session_id":"tls-12"}'
printf 'POST /v1/new_device HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    ${#body} "$body" | openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DIR/station-ca.pem" \
    -cert "$STATION" -key "$STATION" -tls1_2 -quiet >"$WORK/body" 2>/dev/null || true
grep -q '"scp":256' "$WORK/body" || fail "request over TLS 1.2: $(cat "$WORK/body")"

# tls-priorities: a string outside the policy, or one that does not parse, stops the start (122).
stop_last() { kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null || true; }
stop_last
for bad in NORMAL "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1" \
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA:-CIPHER-ALL:+AES-128-GCM:-MAC-ALL:+AEAD" \
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+AES-128-CBC:+SHA1" "NOT-A-PRIORITY" \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE2048"; do
    cp "$DIR/service.conf" "$WORK/service.conf.saved"
    echo "tls-priorities = $bad" >>"$DIR/service.conf"
    "$BIN/factory_service" run "$DIR" --listen "127.0.0.1:$PORT" >"$WORK/run.out" 2>"$WORK/run.err" &&
        fail "service started with tls-priorities $bad"
    grep -q "error 122" "$WORK/run.err" && grep -q "tls-priorities" "$WORK/run.err" ||
        fail "tls-priorities $bad: $(cat "$WORK/run.err")"
    cp "$WORK/service.conf.saved" "$DIR/service.conf"
done
# A stricter string within the policy is used: TLS 1.3 only.
echo "tls-priorities = NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1" \
    >>"$DIR/service.conf"
start_service "$DIR" "$PORT" "$WORK/service.log"
handshake -tls1_2 && fail "TLS 1.2 with a TLS 1.3-only configuration"
handshake -tls1_3 || fail "TLS 1.3 with a TLS 1.3-only configuration"
"$BIN/factory_tool" new_device tls-13 >/dev/null || fail "station over TLS 1.3"
stop_last

# The station client pins TLS >= 1.2: a server (with the service's certificate) that speaks
# TLS 1.1 only gets no handshake from it.
openssl s_server -accept "$PORT" -cert "$DIR/tls.pem" -key "$DIR/keys/tls.key" -tls1_1 \
    -cipher "$OLD" -www >"$WORK/s_server.out" 2>&1 &
SERVICE_PIDS="$SERVICE_PIDS $!"
i=0
until grep -q ACCEPT "$WORK/s_server.out"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "s_server did not start: $(cat "$WORK/s_server.out")"
    sleep 0.05
done
# openssl itself reaches that server over TLS 1.1, so the refusal below is the station's own.
echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$DIR/station-ca.pem" \
    -tls1_1 -cipher "$OLD" >"$WORK/hs.out" 2>&1
grep -q "Protocol *: TLSv1.1" "$WORK/hs.out" || fail "s_server does not speak TLS 1.1: $(cat "$WORK/hs.out")"
"$BIN/factory_tool" new_device tls-11 >"$WORK/out" 2>"$WORK/err" && fail "station talked TLS 1.1"
grep -q "error 116" "$WORK/err" || fail "station over TLS 1.1: $(cat "$WORK/err")"
echo "sf tls: 1 passed, 0 failed"
