#!/usr/bin/env python3
"""generic.py - migd on a GPU outside the catalog (docs/geometry.md, "Generic geometry").

migd runs without --simulate against the fake libnvidia-ml.so.1 (LD_LIBRARY_PATH), whose
script adds an NVIDIA L4 after the simulated H100: no MIG, a PCI device ID the catalog lacks,
58 SMs (NVML: 7424 cores at compute capability 8.9) and 23034 MiB. migd must offer it the
generic geometry: the A100 layout with 2304 MiB memory slices and 8-SM compute slices.
Profile instances follow it, custom instances still work, and migctl --backend soft derives
the same model from what migd reports.

Usage: generic.py MIGD MIGCTL FAKE_NVML_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migdtest  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30


class Generic(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="migd-generic-")
        nvml = os.path.join(self.tmp, "nvml")
        os.makedirs(nvml)
        self.env = dict(os.environ, MIGKIT_STATE_DIR=nvml, LD_LIBRARY_PATH=FAKE_NVML_DIR)
        with open(os.path.join(nvml, "nvml-fake.json"), "w") as f:
            json.dump({"non_mig_gpus": [{"name": "NVIDIA L4", "pci_device_id": "0x27B810DE",
                                         "memory_mib": 23034, "sms": 58,
                                         "compute_capability": "8.9"}]}, f)
        os.environ.update(self.env)
        self.d = migdtest.Migd(MIGD, simulate=None, base=self.tmp,
                               extra=["--watchdog-interval", "0"]).start()

    def tearDown(self):
        self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def create(self, body, status=201):
        r = self.d.request("POST", "/v1/instances", body)
        self.assertEqual(r.status, status, r)
        return r.json

    def migctl(self, *args):
        env = dict(self.env, MIGKIT_BACKEND="soft", MIGKIT_RUN_DIR=self.d.run_dir)
        r = subprocess.run([MIGCTL] + list(args), env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_geometry(self):
        g = self.d.get("/v1/gpus").json["gpus"][1]
        self.assertEqual((g["model"], g["name"], g["sms"], g["memory_bytes"]),
                         ("generic-58sm-23034mib", "NVIDIA L4", 58, 23034 * MIB))
        self.assertEqual([(p["name"], p["id"], p["sms"], p["memory_bytes"] // MIB, p["free"])
                          for p in g["profiles"]],
                         [("1g.2gb", 19, 8, 2304, 7), ("2g.4gb", 14, 16, 4608, 3),
                          ("3g.9gb", 9, 24, 9216, 2), ("4g.9gb", 5, 32, 9216, 1),
                          ("7g.18gb", 0, 58, 18432, 1)])
        self.assertIn("generic geometry", self.d.read_log())

    def test_instances(self):
        first = self.create({"gpu": 1, "profile": "1g.2gb"})
        self.assertEqual((first["quota_bytes"], first["sms"], first["placement"]),
                         (2304 * MIB, 8, 6))
        self.assertEqual(first["name"], "NVIDIA L4 MIG 1g.2gb")
        for _ in range(6):
            self.create({"gpu": 1, "profile": 19})
        self.create({"gpu": 1, "profile": "1g.2gb"}, 409)  # seven compute slices, all taken
        # custom instances still work beside them, bounded by memory and the GPU's SMs
        c = self.create({"gpu": 1, "memory_bytes": GIB, "sms": 4})
        self.assertEqual((c["kind"], c["quota_bytes"], c["sms"]), ("custom", GIB, 4))
        self.create({"gpu": 1, "memory_bytes": GIB, "sms": 59}, 400)
        self.create({"gpu": 1, "memory_bytes": 8 * GIB, "sms": 4}, 409)
        # migctl derives the same model: the verbs work on the L4
        out = self.migctl("mig", "-lgip", "-i", "1")
        self.assertIn("MIG 1g.2gb", out)
        self.assertIn("MIG 7g.18gb", out)
        out = self.migctl("-L")
        self.assertIn("NVIDIA L4", out)
        self.assertEqual(out.count("MIG 1g.2gb"), 7)

    def test_restart_keeps_instances(self):
        u = self.create({"gpu": 1, "profile": "3g.9gb"})["uuid"]
        self.d.stop()
        self.d.start()
        self.assertEqual(self.d.get("/v1/instances/" + u).json["profile"], "3g.9gb")


if __name__ == "__main__":
    MIGD, MIGCTL, FAKE_NVML_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
    unittest.main(argv=sys.argv[:1], verbosity=2)
