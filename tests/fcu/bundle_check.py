"""Independent checks of an FCU bundle with cbor2 (not the project's decoder) and openssl.

usage: bundle_check.py BUNDLE CA_CERT MODE ENDPOINT [EXPECTATIONS...]
MODE: bootstrap | lwm2m | csr (by_device first step)
EXPECTATIONS: key=value checks: ou=..., entropy=1, ftc=1, chain=N, prkn=1, nokeys=1, verify=0|1
"""
import subprocess, sys, tempfile, time, os
import cbor2

path, ca, mode, endpoint = sys.argv[1:5]
exp = dict(a.split("=", 1) for a in sys.argv[5:])
raw = open(path, "rb").read()
errors = []
def need(cond, what):
    if not cond:
        errors.append(what)

need(raw[0] >> 5 == 5 and (raw[0] & 0x1f) != 31, "top-level map must be definite")
b = cbor2.loads(raw)
need(isinstance(b, dict) and len(b) <= 12, "at most 12 top-level keys")
need(b.get("SchemeVersion") == "0.0.1", "SchemeVersion 0.0.1")

if mode == "csr":
    need(set(b) == {"SchemeVersion", "SID", "KpAlvSess", "Verify", "CsrReqs"}, f"CSR bundle keys {sorted(b)}")
    need(b.get("KpAlvSess") == 1 and b.get("Verify") == 0, "KpAlvSess 1, Verify 0")
    req = b["CsrReqs"][0]
    need(req["MD"] == 1 and req["Ext"] == {"KU": 1, "EKU": 4}, "CSR request MD/Ext")
    need(req["Subj"].startswith("CN=" + endpoint), "CSR subject starts with CN=endpoint")
    need(req["PrKN"] == "mbed.BootstrapDevicePrivateKey", "PrKN")
else:
    prefix = "mbed.Bootstrap" if mode == "bootstrap" else "mbed.LwM2M"
    params = {p["Name"]: p["Data"] for p in b["ConfigParams"]}
    need(params.get("mbed.UseBootstrap") == (1 if mode == "bootstrap" else 0), "UseBootstrap int")
    need(params.get("mbed.EndpointName") == endpoint, "EndpointName")
    need(isinstance(params.get("mbed.MemoryTotalKB"), int), "MemoryTotalKB int")
    need(isinstance(params.get("mbed.CurrentTime"), int) and abs(params["mbed.CurrentTime"] - time.time()) < 300, "CurrentTime int, now")
    need((prefix + "ServerURI") in params, "server URI")
    need(b.get("Verify") == int(exp.get("verify", "1")), "Verify flag")
    if exp.get("nokeys"):
        need("Keys" not in b, "no Keys in the second by_device bundle")
    else:
        keys = {k["Name"]: k for k in b["Keys"]}
        k = keys.get(prefix + "DevicePrivateKey")
        need(k is not None and k["Type"] == "ECCPrivate" and k["Format"] == "der", "device key item")
    certs = {c["Name"]: c for c in b.get("Certificates", [])}
    need((prefix + "ServerCACert") in certs, "server CA certificate")
    chains = {c["Name"]: c for c in b.get("CertificateChains", [])}
    if "chain" in exp:
        ders = chains[prefix + "DeviceCert"]["DataArray"]
        need(len(ders) == int(exp["chain"]), f"chain of {exp['chain']}")
        device_der = ders[0]
    else:
        device_der = certs[prefix + "DeviceCert"]["Data"]
    if exp.get("prkn"):
        item = chains[prefix + "DeviceCert"] if "chain" in exp else certs[prefix + "DeviceCert"]
        need(item.get("PrKN") == prefix + "DevicePrivateKey", "PrKN on certificate")
    if exp.get("entropy"):
        need(isinstance(b.get("Entropy"), bytes) and len(b["Entropy"]) == 48, "Entropy 48 bytes")
    if exp.get("ftc"):
        need(params.get("mbed.FirstToClaim") == 1, "FirstToClaim int 1")
    if "classid" in exp:
        need(len(params.get("mbed.ClassId", b"")) == 16 and len(params.get("mbed.VendorId", b"")) == 16, "16-byte ids")
        need("mbed.UpdateAuthCert" in certs, "update authority certificate")
    if "custom" in exp:
        need(params.get(exp["custom"]) is not None, "custom property")
    with tempfile.TemporaryDirectory() as d:
        der = os.path.join(d, "dev.der")
        open(der, "wb").write(device_der)
        pem = subprocess.run(["openssl", "x509", "-inform", "der", "-in", der], capture_output=True, check=True).stdout
        open(os.path.join(d, "dev.pem"), "wb").write(pem)
        untrusted = []
        if "chain" in exp and int(exp["chain"]) > 1:
            with open(os.path.join(d, "chain.pem"), "wb") as f:
                for c in ders[1:]:
                    f.write(subprocess.run(["openssl", "x509", "-inform", "der"], input=c, capture_output=True, check=True).stdout)
            untrusted = ["-untrusted", os.path.join(d, "chain.pem")]
        v = subprocess.run(["openssl", "verify", "-CAfile", ca, *untrusted, os.path.join(d, "dev.pem")], capture_output=True, text=True)
        need(v.returncode == 0, "openssl verify: " + v.stdout + v.stderr)
        text = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "dev.pem"), "-noout", "-text", "-nameopt", "sep_comma_plus_space"], capture_output=True, text=True).stdout
        need("TLS Web Client Authentication" in text, "EKU clientAuth")
        need("Digital Signature" in text, "keyUsage digitalSignature")
        need(f"CN={endpoint}" in text.replace(" = ", "="), "CN = endpoint")
        if "ou" in exp:
            need(f"OU={exp['ou']}" in text.replace(" = ", "="), "OU = account id")
        end = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "dev.pem"), "-noout", "-checkend", str(10 * 365 * 86400)], capture_output=True)
        need(end.returncode == 0, "valid for at least 10 years")

if errors:
    print("\n".join(errors))
    sys.exit(1)
