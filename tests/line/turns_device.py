"""Fake devices for line_turns_commit_before_send: listens on N loopback ports (one endpoint
each), prints the ports, and on every connection reads the request frame, then checks in the
records database (a separate read-only connection: only committed rows) that the endpoint has
an attempts row with its certificate hash. Writes "ENDPOINT ok|missing" a line, then closes the
connection without answering (the device fails). Exits once every port was seen (or after a
generous timeout).
usage: turns_device.py N DB PORTS_OUT VERDICTS_OUT"""
import select, socket, sqlite3, struct, sys, time

n, db, ports_out, verdicts_out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
socks = {}
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    socks[s] = "tc-%03d" % i
with open(ports_out + ".tmp", "w") as f:
    for s, ep in socks.items():
        f.write("%s %d\n" % (ep, s.getsockname()[1]))
import os
os.rename(ports_out + ".tmp", ports_out)


def read_frame(c):
    c.settimeout(20)
    buf = b""
    while True:
        k = buf.find(b"mbedprov")
        if k >= 0 and len(buf) >= k + 12:
            (length,) = struct.unpack("<I", buf[k + 8:k + 12])
            if len(buf) >= k + 12 + length + 32:
                return True
        d = c.recv(65536)
        if not d:
            return False
        buf += d


def committed(ep):
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        row = con.execute("SELECT count(*) FROM attempts WHERE endpoint=? AND cert_sha256 IS NOT"
                          " NULL AND cert_sha256 <> ''", (ep,)).fetchone()
        con.close()
        return row[0] > 0
    except sqlite3.Error as e:
        print("sqlite:", e, file=sys.stderr)
        return False


seen = {}
deadline = time.time() + 60
with open(verdicts_out, "w") as out:
    while len(seen) < n and time.time() < deadline:
        ready, _, _ = select.select(list(socks), [], [], 1.0)
        for s in ready:
            c, _ = s.accept()
            ep = socks[s]
            if read_frame(c):
                v = "ok" if committed(ep) else "missing"
            else:
                v = "noframe"
            c.close()
            if ep not in seen:
                seen[ep] = v
                out.write("%s %s\n" % (ep, v))
                out.flush()
