"""Relays bytes between two pseudo-terminals (socat pairs) like a bad cable: noise bytes before
every burst in both directions, and one flipped bit inside the first request frame."""
import os
import select
import sys
import tty

a = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
b = os.open(sys.argv[2], os.O_RDWR | os.O_NOCTTY)
for fd in (a, b):
    tty.setraw(fd)
print("ready", flush=True)
NOISE = bytes([0x00, 0xff, 0x55, 0x0d, 0x0a, 0x6d, 0x62, 0x65]) * 3  # includes a broken token
corrupted = False
seen_from_tool = 0
while True:
    ready, _, _ = select.select([a, b], [], [])
    for src in ready:
        dst = b if src == a else a
        try:
            data = os.read(src, 65536)
        except OSError:
            sys.exit(0)
        if not data:
            sys.exit(0)
        if src == b and not corrupted and seen_from_tool + len(data) > 100:
            i = max(0, 100 - seen_from_tool)
            data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
            corrupted = True
        if src == b:
            seen_from_tool += len(data)
        # Noise only where a frame starts, so that it lands between frames, never inside one.
        os.write(dst, (NOISE + data) if data.startswith(b"mbedprov") else data)
