#!/usr/bin/env python3
"""exec.py - `migctl exec` end to end: a real migd --simulate for software instances, the
simulator for hardware MIG devices (docs/soft.md).

Usage: exec.py MIGD MIGCTL FAKE_SHIM
  FAKE_SHIM is tests/soft/fake-shim.c built as a shared object: preloaded, it writes its pid
  to $MK_FAKE_SHIM_MARK, which proves the loader took what migctl put in LD_PRELOAD.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import migdtest  # noqa: E402

MIGD, MIGCTL, FAKE_SHIM = sys.argv[1:4]
del sys.argv[1:4]
TIMEOUT_S = 60


class Exec(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = migdtest.Migd(MIGD, simulate="h100-sxm5-80gb").start()
        cls.state = tempfile.mkdtemp(prefix="migkit-exec-sim-")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.d.tmp, ignore_errors=True)
        shutil.rmtree(cls.state, ignore_errors=True)

    def setUp(self):
        r = self.d.request("POST", "/v1/instances", {"profile": "1g.10gb"})
        self.assertEqual(r.status, 201, r)
        self.inst = r.json
        self.uuid = r.json["uuid"]

    def tearDown(self):
        for p in self.instance()["processes"]:
            self.d.request("DELETE", "/v1/instances/%s/processes/%d" % (self.uuid, p["pid"]))
        self.assertEqual(self.d.request("DELETE", "/v1/instances/" + self.uuid).status, 204)

    def env(self, **kw):
        e = dict(os.environ)
        for k in ("MIGKIT_BACKEND", "MIGKIT_SHIM", "LD_PRELOAD", "CUDA_VISIBLE_DEVICES",
                  "MIGKIT_STATE_DIR"):
            e.pop(k, None)
        e["MIGKIT_RUN_DIR"] = self.d.run_dir
        e.update(kw)
        return e

    def migctl(self, *args, **env):
        return subprocess.run([MIGCTL] + list(args), env=self.env(**env), capture_output=True,
                              text=True, timeout=TIMEOUT_S)

    def instance(self):
        return self.d.get("/v1/instances/" + self.uuid).json

    def test_registers_itself_then_becomes_cmd(self):
        """CMD runs in migctl's own process, registered in the instance before it starts."""
        p = subprocess.Popen([MIGCTL, "exec", "--no-shim", self.uuid, "--", "sh", "-c",
                              "echo $$; read line"], env=self.env(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            pid = int(p.stdout.readline())
            self.assertEqual(pid, p.pid)  # exec, not fork: the registered pid is CMD's
            procs = self.instance()["processes"]
            self.assertEqual([q["pid"] for q in procs], [pid])
            self.assertEqual(procs[0]["uid"], os.geteuid())
        finally:
            _, err = p.communicate("done\n", timeout=TIMEOUT_S)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--no-shim", err)  # the warning that nothing limits CMD's memory

    def test_exit_status_passes_through(self):
        for code in (0, 1, 42, 255):
            r = self.migctl("exec", "--no-shim", self.uuid, "--", "sh", "-c", "exit %d" % code)
            self.assertEqual(r.returncode, code, r.stderr)

    def test_signal_death_is_cmds(self):
        r = self.migctl("exec", "--no-shim", self.uuid, "--", "sh", "-c", "kill -9 $$")
        self.assertEqual(r.returncode, -9)

    def test_environment(self):
        """The shim is preloaded first, CUDA_VISIBLE_DEVICES names the instance's GPU, and no
        limit travels in the environment."""
        mark = os.path.join(self.d.tmp, "shim-mark")
        r = self.migctl("exec", self.uuid, "--", "sh", "-c",
                        'echo "$LD_PRELOAD"; echo "$CUDA_VISIBLE_DEVICES"; '
                        'echo "$MIGKIT_INSTANCE"; env',
                        MIGKIT_SHIM=FAKE_SHIM, MK_FAKE_SHIM_MARK=mark,
                        LD_PRELOAD="libpreloaded-before.so")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], FAKE_SHIM + ":libpreloaded-before.so")
        self.assertEqual(lines[1], self.inst["gpu_uuid"])
        self.assertEqual(lines[2], self.uuid)
        self.assertNotIn(str(self.inst["quota_bytes"]), r.stdout)
        with open(mark) as f:
            self.assertTrue(f.read().strip())  # the loader ran the fake shim's constructor

    def test_missing_shim_refuses(self):
        r = self.migctl("exec", self.uuid, "--", "true",
                        MIGKIT_SHIM=os.path.join(self.d.tmp, "no-such-shim.so"))
        self.assertEqual(r.returncode, 255)
        self.assertIn("no-such-shim.so is missing", r.stderr)
        self.assertIn("--no-shim", r.stderr)
        self.assertEqual(self.instance()["processes"], [])  # refused before registering

    def test_cmd_not_found_unregisters(self):
        r = self.migctl("exec", "--no-shim", self.uuid, "--", "/nonexistent/cmd")
        self.assertEqual(r.returncode, 127)
        self.assertIn("/nonexistent/cmd", r.stderr)
        self.assertEqual(self.instance()["processes"], [])

    def test_cmd_options_are_cmds(self):
        """Words after "--" are CMD's, --backend included; options before INSTANCE are
        migctl's."""
        r = self.migctl("--backend", "soft", "exec", "--no-shim", self.uuid, "--", "sh", "-c",
                        'echo "$@"', "sh", "--backend", "nvml", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "--backend nvml --json\n")

    def test_unknown_instance(self):
        missing = "MIG-00000000-0000-4000-8000-000000000000"
        r = self.migctl("--backend", "soft", "exec", "--no-shim", missing, "--", "true")
        self.assertEqual(r.returncode, 6)
        self.assertIn("no MIG device or software instance " + missing, r.stderr)
        r = self.migctl("exec", "--no-shim", missing, "--", "true", MIGKIT_STATE_DIR=self.state)
        self.assertEqual(r.returncode, 6, r.stderr)

    def test_usage_errors(self):
        for args in (["exec"], ["exec", self.uuid], ["exec", self.uuid, "--"],
                     ["exec", "not-a-uuid", "--", "true"], ["exec", "--bogus", self.uuid, "true"]):
            r = self.migctl(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))

    def test_migd_not_running(self):
        r = self.migctl("--backend", "soft", "exec", "--no-shim", self.uuid, "--", "true",
                        MIGKIT_RUN_DIR="/nonexistent/run")
        self.assertEqual(r.returncode, 255)
        self.assertIn("migd is not running", r.stderr)


class Hardware(unittest.TestCase):
    """A MIG device of the simulator: CUDA_VISIBLE_DEVICES=MIG-<uuid>, and no lock or socket
    of migctl's reaches CMD."""

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="migkit-exec-hw-")
        self.env = dict(os.environ, MIGKIT_STATE_DIR=self.state, MIGKIT_BACKEND="sim",
                        MIGKIT_RUN_DIR="/nonexistent/run")
        self.env.pop("CUDA_VISIBLE_DEVICES", None)
        for args in (["sim", "init", "--gpu", "a100-sxm4-40gb"], ["mig", "-cgi", "19,19", "-C"]):
            subprocess.run([MIGCTL] + args, env=self.env, check=True, capture_output=True)
        out = subprocess.run([MIGCTL, "-L", "--json"], env=self.env, check=True,
                             capture_output=True, text=True).stdout
        self.uuids = [d["uuid"] for d in json.loads(out)[0]["mig_devices"]]

    def tearDown(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def test_cuda_visible_devices(self):
        r = subprocess.run([MIGCTL, "exec", self.uuids[1], "--", "sh", "-c",
                            'echo "$CUDA_VISIBLE_DEVICES $MIGKIT_INSTANCE"; exit 3'], env=self.env,
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "%s %s\n" % (self.uuids[1], self.uuids[1]))

    def test_no_lock_reaches_cmd(self):
        """CMD can change the simulated machine: migctl's state lock died with the exec."""
        r = subprocess.run([MIGCTL, "exec", self.uuids[0], "--", MIGCTL, "mig", "-cgi", "19"],
                           env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Successfully created GPU instance", r.stdout)

    def test_auto_looks_in_migd_first_then_the_backend(self):
        """With migd running but not knowing the UUID, the default backend is asked."""
        d = migdtest.Migd(MIGD, simulate="h100-sxm5-80gb").start()
        try:
            env = dict(self.env, MIGKIT_RUN_DIR=d.run_dir)
            env.pop("MIGKIT_BACKEND")
            r = subprocess.run([MIGCTL, "--state", self.state, "exec", self.uuids[0], "--",
                                "sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES"'], env=env,
                               capture_output=True, text=True, timeout=TIMEOUT_S)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, self.uuids[0] + "\n")
        finally:
            d.stop()
            shutil.rmtree(d.tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
