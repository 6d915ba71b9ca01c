#!/bin/sh
# A TCP request goes out right after connect (line_conn.c): on loopback the handshake is over
# when connect returns, so the frame is sent at once and the fd is watched for reading only (no
# writable edge per device). A frame the socket does not take at once still goes out in full,
# through the writable edge asked for then. Seen in the tool's system calls (strace).
# usage: tcp_send.sh FT FC FAKE SRC VECTORS
FT=$1 FC=$2 FAKE=$3 SRC=$4 VECTORS=$5
. "$SRC/lib.sh"
command -v strace >/dev/null || { echo "strace is missing"; exit 1; }
# LeakSanitizer cannot run under ptrace (the sanitizer build's tool would fail at exit); the
# other checks of ASan and UBSan stay on.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
HOME_DIR=$(newhome home)
start devs "$FC" --storage "$TMP_ROOT/devs" --devices 4 --forever tcp --port 0
PORTS=$(ports devs 4 | tr '\n' ' ')
set -- $PORTS
{
    echo "endpoint_name,serial_number,address"
    for i in 1 2 3 4 5 6 7 8; do
        eval "p=\${$(( (i - 1) % 4 + 1 ))}"
        echo "ts-$i,SN-$i,tcp:127.0.0.1:$p"
    done
} > "$TMP_ROOT/devices.csv"

# trace.py TRACE N MODE: the connects to the devices and what followed them on their fds.
cat > "$TMP_ROOT/trace.py" <<'PY'
import re, sys
path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [re.sub(r"^\d+ +", "", l.rstrip("\n")) for l in open(path)]  # strace -f: pid first
calls = [l for l in lines if re.match(r"(connect|sendto|epoll_wait|epoll_ctl)\(", l)]
conns = [i for i, l in enumerate(calls) if l.startswith("connect(") and "127.0.0.1" in l]
bad = []
for i in conns:
    fd = re.match(r"connect\((\d+),", calls[i]).group(1)
    after = calls[i + 1:]
    first_send = next(k for k, l in enumerate(after) if l.startswith("sendto(%s," % fd))
    before = after[:first_send]
    add = [l for l in before if l.startswith("epoll_ctl(") and "EPOLL_CTL_ADD, %s," % fd in l]
    sent = int(after[first_send].rsplit("= ", 1)[1].split()[0]) if "= -1" not in after[first_send] else -1
    if mode == "at-once":
        # sent in full before any wait, then watched without EPOLLOUT
        ok = not any(l.startswith("epoll_wait(") for l in before) and sent > 0
        ok = ok and not add and any("EPOLL_CTL_ADD, %s," % fd in l and "EPOLLOUT" not in l
                                    for l in after[first_send:first_send + 3])
        ok = ok and "EPOLL_CTL_MOD" not in " ".join(after[first_send:first_send + 3])
    else:
        # the first send is partial: the fd is watched for EPOLLOUT, the rest goes after a wait
        size = int(mode)
        sends = [l for l in after if l.startswith("sendto(%s," % fd)]
        total = sum(int(l.rsplit("= ", 1)[1].split()[0]) for l in sends if "= -1" not in l)
        outs = [l for l in after if "EPOLL_CTL_" in l and ", %s," % fd in l and "EPOLLOUT" in l]
        ok = 0 < sent < size and total == size and bool(outs)
    if not ok:
        bad.append(calls[i])
print(len(conns), "connects,", len(bad), "bad", bad[:2])
sys.exit(1 if bad or len(conns) != n else 0)
PY

strace -f -qq -s 0 -e trace=connect,sendto,epoll_wait,epoll_ctl -o "$TMP_ROOT/inject.trace" \
    "$FT" --home-dir "$HOME_DIR" inject-batch --devices "$TMP_ROOT/devices.csv" --parallel 4 \
    -t 10 > "$TMP_ROOT/inject.out" 2>/dev/null && rc=0 || rc=$?
check "every device succeeds" sh -c "test $rc = 0 && tail -n 1 '$TMP_ROOT/inject.out' | grep -q '\"succeeded\": 8, \"failed\": 0'"
check "each request is sent in full right after its connect, the fd then watched for reading only" \
    $PY "$TMP_ROOT/trace.py" "$TMP_ROOT/inject.trace" 8 at-once

# An 8 MB frame (tcp_wmem's send buffer is at most 4 MB) to a device that waits before it reads,
# with a small receive buffer: more than the socket takes at once. The device checks the frame's
# SHA-256 and answers.
cat > "$TMP_ROOT/slow_device.py" <<'PY'
import hashlib, socket, struct, sys, time
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print("Factory Client IP Address and Port : 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
c, _ = ls.accept()
time.sleep(0.3)
data = bytearray()
while len(data) < 12 or len(data) < 12 + struct.unpack("<I", data[8:12])[0] + 32:
    more = c.recv(65536)
    if not more:
        sys.exit(1)
    data += more
n = struct.unpack("<I", data[8:12])[0]
ok = data[:8] == b"mbedprov" and hashlib.sha256(data[12:12 + n]).digest() == data[12 + n:12 + n + 32]
open(sys.argv[1], "w").write("intact %d\n" % n if ok else "damaged\n")
answer = b"\xa1\x6cReturnStatus\x00"
c.sendall(b"mbedprov" + struct.pack("<II", 0, len(answer)) + answer + hashlib.sha256(answer).digest())
c.close()
PY
start slow $PY "$TMP_ROOT/slow_device.py" "$TMP_ROOT/slow.result"
BIG=$(ports slow)
mkdir "$TMP_ROOT/bundles" "$TMP_ROOT/answers"
$PY -c 'import cbor2, sys
b = cbor2.dumps({"SchemeVersion": "0.0.1", "ConfigParams": [{"Name": "pad", "Data": b"x" * 8000000}]})
open(sys.argv[1], "wb").write(b)
print(len(b) + 44)' "$TMP_ROOT/bundles/big-1.cbor" > "$TMP_ROOT/frame.size"
{ echo "endpoint_name,serial_number,address"; echo "big-1,SN-B,tcp:127.0.0.1:$BIG"; } > "$TMP_ROOT/big.csv"
strace -f -qq -s 0 -e trace=connect,sendto,epoll_wait,epoll_ctl -o "$TMP_ROOT/big.trace" \
    "$FT" write --devices "$TMP_ROOT/big.csv" --bundles "$TMP_ROOT/bundles" \
    --answers "$TMP_ROOT/answers" -t 10 > "$TMP_ROOT/big.out" 2>/dev/null && rc=0 || rc=$?
check "the large frame reaches the device intact and its answer is stored" sh -c "test $rc = 0 && test -s '$TMP_ROOT/answers/big-1.cbor' && grep -qx \"intact \$(( \$(cat '$TMP_ROOT/frame.size') - 44 ))\" '$TMP_ROOT/slow.result'"
check "the large frame went in parts, through the writable edge asked for when the socket was full" \
    $PY "$TMP_ROOT/trace.py" "$TMP_ROOT/big.trace" 1 "$(cat "$TMP_ROOT/frame.size")"
finish
