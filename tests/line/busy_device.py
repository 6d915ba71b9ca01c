"""Fake devices for line_busy_address: listens on 3 loopback ports and serves every connection
in a thread of its own (so overlapping exchanges are possible and seen): reads the request
frame, holds it 0.15 s, then closes without answering. Writes the most connections that were
open on one port at once, then exits after TOTAL connections (or a generous timeout).
usage: busy_device.py TOTAL PORTS_OUT RESULT_OUT"""
import os, socket, struct, sys, threading, time

total, ports_out, result_out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
open_now, most, served = {}, [0], [0]


def read_frame(c):
    c.settimeout(20)
    buf = b""
    while True:
        k = buf.find(b"mbedprov")
        if k >= 0 and len(buf) >= k + 12:
            (length,) = struct.unpack("<I", buf[k + 8:k + 12])
            if len(buf) >= k + 12 + length + 32:
                return
        d = c.recv(65536)
        if not d:
            return
        buf += d


def serve(c, port):
    with lock:
        open_now[port] = open_now.get(port, 0) + 1
        most[0] = max(most[0], open_now[port])
    try:
        read_frame(c)
        time.sleep(0.15)
    finally:
        with lock:
            open_now[port] -= 1
            served[0] += 1
        c.close()


def listen(s):
    port = s.getsockname()[1]
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, port), daemon=True).start()


socks = []
for i in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    socks.append(s)
    threading.Thread(target=listen, args=(s,), daemon=True).start()
with open(ports_out + ".tmp", "w") as f:
    for s in socks:
        f.write("%d\n" % s.getsockname()[1])
os.rename(ports_out + ".tmp", ports_out)
deadline = time.time() + 60
while served[0] < total and time.time() < deadline:
    time.sleep(0.05)
with open(result_out, "w") as f:
    f.write("%d %d\n" % (served[0], most[0]))
