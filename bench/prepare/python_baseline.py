#!/usr/bin/python3
"""The Python configurator-equivalent of one prepare-batch device, for bench_prepare_batch:
a P-256 device key, a device certificate signed by a P-256 CA, the bundle as CBOR (cbor2), one
file per device written to a temporary name and renamed, and the record prepare-batch keeps with
records on: SHA-256 and SHA-1 of the certificate, SHA-256 of the bundle, one row in an SQLite
attempts table like kiln's (same columns and indexes), committed every 256 devices after their
files are written. Debian's python3-cryptography and python3-cbor2; sqlite3 from the standard
library. Prints "DEVICES SECONDS CPU_SECONDS".
usage: python_baseline.py DEVICES OUT_DIR"""
import datetime
import hashlib
import os
import sqlite3
import sys
import time

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kiln"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "FI")])


SCHEMA = """CREATE TABLE IF NOT EXISTS attempts (
 id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, serial TEXT NOT NULL,
 address TEXT, station TEXT, batch TEXT, host TEXT, pid INTEGER, cert_sha256 TEXT,
 cert_sha1 TEXT, bundle_sha256 TEXT, state TEXT NOT NULL, error_code INTEGER NOT NULL DEFAULT 0,
 error_text TEXT, device_status INTEGER, tries INTEGER NOT NULL DEFAULT 0,
 started_at TEXT NOT NULL, finished_at TEXT);
CREATE INDEX IF NOT EXISTS attempts_endpoint ON attempts(endpoint, state);
CREATE INDEX IF NOT EXISTS attempts_state ON attempts(state);"""
INSERT = ("INSERT INTO attempts(endpoint, serial, address, station, batch, host, pid,"
          " cert_sha256, cert_sha1, bundle_sha256, state, error_code, error_text,"
          " device_status, tries, started_at, finished_at)"
          " VALUES(?,?,NULL,NULL,?,?,?,?,?,?,'prepared',0,NULL,NULL,0,"
          "strftime('%Y-%m-%dT%H:%M:%fZ','now'),strftime('%Y-%m-%dT%H:%M:%fZ','now'))")


def main():
    devices, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("bench CA")
    server_ca = os.urandom(700)  # stands for the server CA certificate the bundle carries
    now = datetime.datetime.now(datetime.timezone.utc)
    der = serialization.Encoding.DER
    db = sqlite3.connect(os.path.join(out, "records.db"), isolation_level=None)
    db.executescript(SCHEMA)
    host, pid = os.uname().nodename, os.getpid()
    t0, c0 = time.monotonic(), time.process_time()
    db.execute("BEGIN IMMEDIATE")
    for i in range(devices):
        ep = "ep-%06d" % i
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(ep)).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        bundle = cbor2.dumps({
            "SchemeVersion": "0.0.1",
            "Keys": [{"Name": "mbed.BootstrapDevicePrivateKey", "Format": "der",
                      "Data": key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())}],
            "Certificates": [{"Name": "mbed.BootstrapDeviceCert", "Format": "der",
                              "Data": cert.public_bytes(der)},
                             {"Name": "mbed.BootstrapServerCACert", "Format": "der",
                              "Data": server_ca}],
            "ConfigParams": [{"Name": "mbed.EndpointName", "Data": ep},
                             {"Name": "mbed.SerialNumber", "Data": "SN-%d" % i},
                             {"Name": "mbed.UseBootstrap", "Data": 1}],
        })
        path = os.path.join(out, ep + ".cbor")
        with open(path + ".tmp", "wb") as f:
            f.write(bundle)
        os.rename(path + ".tmp", path)
        cert_der = cert.public_bytes(der)
        db.execute(INSERT, (ep, "SN-%d" % i, "bench", host, pid,
                            hashlib.sha256(cert_der).hexdigest(),
                            hashlib.sha1(cert_der).hexdigest(),
                            hashlib.sha256(bundle).hexdigest()))
        if i % 256 == 255:
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
    db.execute("COMMIT")
    db.close()
    print(devices, time.monotonic() - t0, time.process_time() - c0)


main()
