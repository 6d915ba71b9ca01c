#!/usr/bin/env python3
"""Replays every case of the fcc-oracle vectors (answers recorded from the original device
client 4.13.4) through `factory_client handle` and compares ReturnStatus, InfoMessage,
WarningInfo, presence of an answer, number of CSRs, the handler's status, the session state
and the stored configuration bytes. Random (CSR) sessions are replayed by signing the CSRs
our device returned with the test root CA, as the vectors' README describes."""
import datetime
import json
import os
import subprocess
import sys
import tempfile

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

client, vectors = sys.argv[1], sys.argv[2]
only = sys.argv[3:]
# --flash: run every case on the raw-flash store (a file) instead of the directory store.
storage_flag = "--storage"
if only and only[0] == "--flash":
    storage_flag = "--flash"
    only = only[1:]
index = json.load(open(os.path.join(vectors, "index.json")))
pki = os.path.join(vectors, "pki")
root_cert = x509.load_pem_x509_certificate(open(os.path.join(pki, "test-root-ca.pem"), "rb").read())
root_key = serialization.load_pem_private_key(
    open(os.path.join(pki, "test-root-ca.key.pem"), "rb").read(), None)


def sign_csr(der):
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid, "CSR self-signature invalid"
    utc = datetime.timezone.utc
    cert = (x509.CertificateBuilder()
            .subject_name(csr.subject).issuer_name(root_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=utc))
            .not_valid_after(datetime.datetime(2060, 1, 1, tzinfo=utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def rebuild(request, replacements, csrs):
    bundle = cbor2.loads(request)
    for rep in replacements:
        der = sign_csr(csrs[rep["csr_index"]]["Data"])
        found = False
        for group in ("Certificates", "CertificateChains"):
            for item in bundle.get(group, []):
                if item.get("Name") == rep["certificate"]:
                    if "DataArray" in item:
                        item["DataArray"][0] = der
                    else:
                        item["Data"] = der
                    found = True
        assert found, rep
    return cbor2.dumps(bundle)


failures = []
checked = 0
for case in index["cases"]:
    if only and case["name"] not in only:
        continue
    with tempfile.TemporaryDirectory() as storage:
        csrs = []
        for m in case["messages"]:
            exp = m["expected"]
            req = open(os.path.join(vectors, m["request"]), "rb").read()
            if m.get("certificates_from_csrs"):
                req = rebuild(req, m["certificates_from_csrs"], csrs)
            req_path = os.path.join(storage, "req.cbor")
            resp_path = os.path.join(storage, "resp.cbor")
            open(req_path, "wb").write(req)
            p = subprocess.run([client, "-v", storage_flag, os.path.join(storage, "dev"),
                                "handle", req_path, resp_path], capture_output=True, text=True)
            where = "%s/%s" % (case["name"], m["request"])
            got = {}
            if os.path.exists(resp_path):
                raw = open(resp_path, "rb").read()
                ans = cbor2.loads(raw)
                got = {"return_status": ans.get("ReturnStatus"),
                       "info_message": ans.get("InfoMessage"),
                       "warning_info": ans.get("WarningInfo"),
                       "response": "present",
                       "csr_count": len(ans.get("Csrs", []))}
                csrs = ans.get("Csrs", [])
                if not case["random"] and m.get("response"):
                    want = open(os.path.join(vectors, m["response"]), "rb").read()
                    if raw != want:
                        failures.append("%s: answer bytes differ from the original's" % where)
                os.remove(resp_path)
            else:
                got = {"return_status": None, "info_message": None, "warning_info": None,
                       "response": "none", "csr_count": 0}
            got["handler_status"] = p.returncode
            got["session_finished"] = "session finished: yes" in p.stderr
            for k in ("return_status", "info_message", "warning_info", "response", "csr_count",
                      "handler_status", "session_finished"):
                checked += 1
                if got[k] != exp[k]:
                    failures.append("%s: %s = %r, expected %r" % (where, k, got[k], exp[k]))
        dev = os.path.join(storage, "dev")
        for name, hexval in (case.get("stored") or {}).items():
            p = subprocess.run([client, storage_flag, dev, "get", name], capture_output=True)
            checked += 1
            if hexval is None:
                continue
            if p.returncode != 0 or p.stdout.hex() != hexval:
                failures.append("%s: stored %s = %s, expected %s" % (
                    case["name"], name, p.stdout.hex() if p.returncode == 0 else "absent", hexval))
        last = case["messages"][-1]["expected"]
        if len(case["messages"]) == 1 and last["return_status"] not in (0, None):
            # A refused bundle leaves the storage exactly as it was: empty.
            p = subprocess.run([client, storage_flag, dev, "list"], capture_output=True, text=True)
            checked += 1
            if p.returncode != 0 or p.stdout.strip():
                failures.append("%s: refused bundle left items stored: %r" % (case["name"], p.stdout))

for f in failures:
    print("FAIL", f)
print("fcc_oracle: %d cases, %d checks, %d failures" % (
    len(only) if only else len(index["cases"]), checked, len(failures)))
sys.exit(1 if failures else 0)
