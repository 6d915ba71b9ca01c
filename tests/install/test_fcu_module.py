"""The installed Python module `fcu` (the seed's FactoryToolApi) against a real device."""
import os
import subprocess
import sys
import unittest

import fcu

FC = os.environ["KILN_FACTORY_CLIENT"]
TMP = os.environ["KILN_TMP"]
HOME = os.environ["FCU_HOME_DIR"]


class FactoryToolApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = fcu.FactoryToolApi()  # from FCU_HOME_DIR, like the command line
        st = cls.api.setup_factory_configurator_utility(override_existing_ca=False)
        cls.setup_status = st

    def test_setup_made_a_ca(self):
        self.assertEqual(self.setup_status.status, 0)
        crt = self.setup_status.ca_details.certificate_file
        self.assertTrue(os.path.isfile(crt), crt)
        key = self.setup_status.ca_details.private_key_file
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)

    def test_setup_twice_raises_290(self):
        with self.assertRaises(fcu.FcuError) as cm:
            self.api.setup_factory_configurator_utility()
        self.assertEqual(cm.exception.code, 290)
        self.assertIn("already exists", cm.exception.message)

    def test_prepare_inject_verify_with_a_real_device(self):
        req = self.api.prepare_device_configuration("py-ep-1", "PY-SN-1")
        self.assertIsInstance(req.config_data, bytes)
        self.assertGreater(len(req.config_data), 500)
        self.assertIsInstance(req.warning_list, list)
        bundle = os.path.join(TMP, "py-ep-1.cbor")
        answer = os.path.join(TMP, "py-ep-1.resp.cbor")
        with open(bundle, "wb") as f:
            f.write(req.config_data)
        subprocess.run([FC, "--storage", os.path.join(TMP, "dev-py"), "handle", bundle, answer],
                       check=True, stdout=subprocess.DEVNULL)
        with open(answer, "rb") as f:
            st = self.api.verify_device_response("py-ep-1", f.read())
        self.assertEqual(st.status, 0)
        self.assertEqual(st.errors, [])
        subprocess.run([FC, "--storage", os.path.join(TMP, "dev-py"), "verify"], check=True,
                       stdout=subprocess.DEVNULL)

    def test_device_failure_raises_with_the_device_code(self):
        req = self.api.prepare_device_configuration("py-ep-2", "PY-SN-2")
        bad = req.config_data[: len(req.config_data) // 2]  # the device cannot parse it
        bundle = os.path.join(TMP, "py-ep-2.cbor")
        answer = os.path.join(TMP, "py-ep-2.resp.cbor")
        with open(bundle, "wb") as f:
            f.write(bad)
        subprocess.run([FC, "--storage", os.path.join(TMP, "dev-py2"), "handle", bundle, answer],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(answer, "rb") as f:
            data = f.read()
        with self.assertRaises(fcu.FcuError) as cm:
            self.api.verify_device_response("py-ep-2", data)
        self.assertNotEqual(cm.exception.code, 0)
        self.assertIsInstance(cm.exception.result, fcu.DeviceResponseStatus)
        self.assertEqual(cm.exception.result.status, cm.exception.code)

    def test_inject_over_tcp_to_a_real_listener(self):
        storage = os.path.join(TMP, "dev-inject")
        listener = subprocess.Popen([FC, "--storage", storage, "tcp", "--port", "0"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            port = None
            for line in listener.stdout:
                if "IP Address and Port" in line:
                    port = int(line.rstrip().rsplit(":", 1)[1])
                    break
            self.assertIsNotNone(port, "the listener printed no port")
            st = self.api.inject("py-inj-1", "PY-SN-I", transport="tcp", ip="127.0.0.1",
                                 port=port, timeout=20)
            self.assertEqual(st.status, 0)
            self.assertEqual(st.device_status, 0)
        finally:
            listener.kill()
            listener.wait()
            listener.stdout.close()
        subprocess.run([FC, "--storage", storage, "verify"], check=True,
                       stdout=subprocess.DEVNULL)

    def test_inject_to_nobody_raises_a_line_error(self):
        with self.assertRaises(fcu.FcuError) as cm:
            self.api.inject("py-inj-2", "PY-SN-J", port=1, timeout=2, retries=0)
        self.assertGreaterEqual(cm.exception.code, 1000)
        self.assertLessEqual(cm.exception.code, 1023)
        with self.assertRaises(ValueError):
            self.api.inject("py-inj-3", "SN", transport="usb")

    def test_bad_arguments_raise_numbered_errors(self):
        with self.assertRaises(fcu.FcuError) as cm:
            self.api.prepare_device_configuration("", "SN")
        self.assertEqual(cm.exception.code, 101)
        with self.assertRaises(fcu.FcuError) as cm:
            self.api.verify_device_response("py-ep-3", b"\xa0")
        self.assertGreaterEqual(cm.exception.code, 100)
        with self.assertRaises(TypeError):
            self.api.prepare_device_configuration(b"ep", "SN")

    def test_layout_matches_the_c_headers(self):
        sizes = os.environ["KILN_C_SIZES"].split()
        c = {sizes[i]: int(sizes[i + 1]) for i in range(1, len(sizes), 2)}
        for name, size in c.items():
            self.assertEqual(fcu._ffi.sizeof(name), size, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
