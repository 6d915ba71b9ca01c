#!/usr/bin/env python3
"""Replays the recorded FCC vectors (tests/data/vectors/fcc-oracle, the deterministic cases) into
the QEMU device over its UART and compares every answer frame byte for byte with factory_client's
(the Linux device) for the same frames.

usage: oracle_replay.py FACTORY_CLIENT QEMU_DEVICE_SH IMAGE VECTORS WORKDIR

Left out, and why: the CSR cases marked random (device-generated keys); disable_then_bundle,
whose second bundle starts a new run: factory_client file ends its stream after the first run,
while a UART device goes on to the next run (covered by qemu_device.sh's second device)."""
import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
import tty

SKIP = {"disable_then_bundle"}


def frame(cbor):
    return b"mbedprov" + struct.pack("<I", len(cbor)) + cbor + hashlib.sha256(cbor).digest()


def answer_length(buf):
    """Length of the complete answer frame at the start of buf, or None."""
    if len(buf) < 12:
        return None
    (status,) = struct.unpack("<I", buf[8:12])
    if status != 0:
        return 12
    if len(buf) < 16:
        return None
    (n,) = struct.unpack("<I", buf[12:16])
    return 16 + n + 32 if len(buf) >= 16 + n + 32 else None


class Device:
    def __init__(self, script, image, log):
        self.proc = subprocess.Popen([script, "--image", image, "--log", log],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("SERIAL "):
            raise RuntimeError("qemu-device.sh said %r" % line)
        self.fd = os.open(line.split()[1], os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def exchange(self, data, frames, timeout=20.0):
        os.write(self.fd, data)
        got = bytearray()
        answers = 0
        pos = 0
        deadline = time.monotonic() + timeout
        while answers < frames and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                got += os.read(self.fd, 65536)
            while answers < frames:
                n = answer_length(got[pos:])
                if n is None:
                    break
                pos += n
                answers += 1
        return bytes(got)

    def close(self):
        os.close(self.fd)
        self.proc.terminate()
        self.proc.wait()


def linux_answer(fc, work, name, data):
    req = os.path.join(work, name + ".frames")
    out = os.path.join(work, name + ".linux")
    with open(req, "wb") as f:
        f.write(data)
    subprocess.run([fc, "--storage", os.path.join(work, name + ".storage"), "file", "--input", req,
                    "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out, "rb") as f:
        return f.read()


def main():
    fc, script, image, vectors, work = sys.argv[1:6]
    shutil.rmtree(work, ignore_errors=True)  # every run from fresh storage
    os.makedirs(work)
    oracle = os.path.join(vectors, "fcc-oracle")
    cases = json.load(open(os.path.join(oracle, "index.json")))["cases"]
    device = None
    passed = failed = 0
    for case in cases:
        if case.get("random") or case["name"] in SKIP:
            continue
        data = b"".join(frame(open(os.path.join(oracle, m["request"]), "rb").read())
                        for m in case["messages"])
        want = linux_answer(fc, work, case["name"], data)
        if device is None:
            device = Device(script, image, os.path.join(work, "uart1-%s.log" % case["name"]))
        frames = 0
        pos = 0
        while answer_length(want[pos:]) is not None:
            pos += answer_length(want[pos:])
            frames += 1
        got = device.exchange(data, max(frames, 1))
        if got == want and frames > 0:
            passed += 1
            print("ok - %s: %d answer frame(s) as on Linux" % (case["name"], frames))
        else:
            failed += 1
            print("not ok - %s: QEMU %s, Linux %s" % (case["name"], got.hex()[:80], want.hex()[:80]))
        # A run still open (a keep-alive session) would take the next case's frames: new device.
        if not case["messages"][-1]["expected"]["session_finished"]:
            device.close()
            device = None
    if device is not None:
        device.close()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
