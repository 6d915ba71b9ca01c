#!/usr/bin/env python3
"""The bundle made by Arm's own tool (PelionIoT/mbed-edge) is accepted with the warnings the
original gives, every item reads back, and a copy with a corrupted device certificate is
refused exactly as the original refuses it while the storage stays untouched."""
import os
import subprocess
import sys
import tempfile

import cbor2

client, bundle_path = sys.argv[1], sys.argv[2]
bundle = open(bundle_path, "rb").read()
failures = []


def handle(storage, data, *extra):
    with tempfile.NamedTemporaryFile(suffix=".cbor") as req:
        req.write(data)
        req.flush()
        resp = os.path.join(storage, "..", os.path.basename(storage) + ".resp")
        p = subprocess.run([client, "--storage", storage, *extra, "handle", req.name, resp],
                           capture_output=True)
        ans = cbor2.loads(open(resp, "rb").read()) if os.path.exists(resp) else None
        return p.returncode, ans


def expect(what, got, want):
    if got != want:
        failures.append("%s: got %r, expected %r" % (what, got, want))


def stored_items(storage):
    p = subprocess.run([client, "--storage", storage, "list"], capture_output=True, text=True)
    return sorted(p.stdout.split("\n"))


with tempfile.TemporaryDirectory() as tmp:
    # 1. No clock: the original's recorded answer (vectors README).
    dev = os.path.join(tmp, "noclock")
    rc, ans = handle(dev, bundle)
    expect("no clock: status", (rc, ans["ReturnStatus"]), (0, 0))
    expect("no clock: info", ans["InfoMessage"], "The Factory process succeeded\n")
    expect("no clock: warnings", ans["WarningInfo"],
           "Item not set:mbed.CurrentTime\nItem not set:mbed.Timezone\n"
           "Item not set:mbed.UTCOffset\nCertificate is self signed:mbed.BootstrapDeviceCert\n"
           "Certificate validity cannot be checked:mbed.BootstrapDeviceCert\n"
           "Certificate validity cannot be checked:mbed.UpdateAuthCert\n"
           "Item not set:mbed.ClassId\n")

    # 2. Device time inside the certificates' validity (2023-02-16..2033-02-16).
    dev = os.path.join(tmp, "clock")
    rc, ans = handle(dev, bundle, "--time", "1767225600")
    expect("with time: status", (rc, ans["ReturnStatus"]), (0, 0))
    expect("with time: warnings", ans["WarningInfo"],
           "Item not set:mbed.Timezone\nItem not set:mbed.UTCOffset\n"
           "Certificate is self signed:mbed.BootstrapDeviceCert\n"
           "Certificate validity is less than 10 years:mbed.BootstrapDeviceCert\n"
           "Item not set:mbed.ClassId\n")
    decoded = cbor2.loads(bundle)
    items = []
    for group, kind in (("Keys", "private-key"), ("Certificates", "certificate"),
                        ("ConfigParams", "config")):
        for item in decoded.get(group, []):
            items.append((kind, item["Name"], item.get("Data")))
    for kind, name, data in items:
        p = subprocess.run([client, "--storage", dev, "get", name, "--type", kind],
                           capture_output=True)
        if isinstance(data, int):
            width = 4 if name in ("mbed.UseBootstrap", "mbed.MemoryTotalKB",
                                  "mbed.FirstToClaim") else 8
            data = data.to_bytes(8, "little", signed=data < 0)[:width]
        elif isinstance(data, str):
            data = data.encode()
        expect("read back %s" % name, (p.returncode, p.stdout), (0, data))
    p = subprocess.run([client, "--storage", dev, "verify"], capture_output=True, text=True)
    expect("verify after provisioning", p.returncode, 0)

    # 3. Corrupted device certificate: refused as the original refuses it, nothing stored.
    for item in decoded["Certificates"]:
        if item["Name"] == "mbed.BootstrapDeviceCert":
            # the outer SEQUENCE length no longer matches the data
            item["Data"] = item["Data"][:3] + bytes([item["Data"][3] ^ 0x01]) + item["Data"][4:]
    corrupted = cbor2.dumps(decoded)
    dev = os.path.join(tmp, "corrupted")
    rc, ans = handle(dev, bundle, "--time", "1767225600")  # an earlier good state
    before = stored_items(dev)
    subprocess.run([client, "--storage", dev, "delete"], check=True)
    rc, ans = handle(dev, corrupted, "--time", "1767225600")
    expect("corrupted: status", (rc, ans["ReturnStatus"]), (18, 18))
    expect("corrupted: info", ans["InfoMessage"], "Certificate parse failed:mbed.BootstrapDeviceCert")
    expect("corrupted: nothing stored", stored_items(dev), [""])
    expect("good state had items", len(before) > 10, True)

for f in failures:
    print("FAIL", f)
print("edge_bundle: %d failures" % len(failures))
sys.exit(1 if failures else 0)
