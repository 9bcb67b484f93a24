#!/usr/bin/env python3
"""watchdog.py - migd's watchdog against real processes (docs/migd.md, "Watchdog").

migd runs with --simulate and finds NVML through LD_LIBRARY_PATH: the fake libnvidia-ml.so.1
of tests/fakes, whose script (nvml-fake.json, "processes") declares which real pids of this
test use which GPU and how much memory NVML sees each hold. The processes are children of
this test: some registered in a software instance and holding lease grants (each child
connects to the lease socket itself, so SO_PEERCRED names it), some not.

  kill policy: the child over its grants plus the slack and the unregistered child on a GPU
               with instances are killed (SIGKILL); the child within its grants plus the
               slack, and the child on a GPU without instances, live.
  log policy:  the same offences are logged and recorded once each, and every child lives.

Usage: watchdog.py MIGD FAKE_NVML_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migdtest  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
# What the watchdog allows beyond a process's grants (WATCHDOG_SLACK_DEFAULT).
SLACK = 1024 * MIB
# Seconds to wait for the watchdog (interval 1 s) to have acted: several scans, with room
# for a loaded machine and an ASan build.
ACT_TIMEOUT_S = 15

# A lease client run as a child: waits for "go" (the test registers it first), says HELLO,
# asks for the grant, reports the answer and then holds the connection (and the grant) until
# it is killed or its stdin closes.
CHILD = r"""
import os, socket, sys
sys.stdin.readline()
grant = int(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
f.write(b"HELLO 1 held=0\n" + (b"GRANT %d\n" % grant if grant else b""))
f.flush()
print(f.readline().split()[0].decode(), f.readline().decode().strip() if grant else "", flush=True)
sys.stdin.readline()
"""


class Child:
    """A child process, optionally registered in an instance and holding a grant."""

    def __init__(self, d, instance=None, grant=0):
        lease = os.path.join(d.run_dir, "lease.sock")
        self.p = subprocess.Popen([sys.executable, "-c", CHILD, lease, str(grant)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = self.p.pid
        if instance:
            r = d.request("POST", "/v1/instances/%s/processes" % instance, {"pid": self.pid})
            assert r.status == 201, r
            self.p.stdin.write(b"go\n")
            self.p.stdin.flush()
            self.answer = self.p.stdout.readline().decode()
            assert self.answer.startswith("OK OK"), self.answer

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            self.p.kill()
        self.p.wait()


class Watchdog(unittest.TestCase):
    policy = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="migd-watchdog-")
        self.nvml_state = os.path.join(self.tmp, "nvml")
        os.makedirs(self.nvml_state)
        os.environ["MIGKIT_STATE_DIR"] = self.nvml_state
        os.environ["LD_LIBRARY_PATH"] = FAKE_NVML_DIR
        self.script({})
        # GPU 0: the fake's default simulated H100; GPU 1: a non-MIG GPU of the script. migd
        # simulates the same two, matched by index.
        self.d = migdtest.Migd(MIGD, simulate="h100-sxm5-80gb,h100-sxm5-80gb", base=self.tmp,
                               extra=["--watchdog-interval", "1",
                                      "--watchdog-policy", self.policy]).start()
        self.children = []

    def tearDown(self):
        for c in self.children:
            c.stop()
        self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def script(self, processes):
        conf = {"non_mig_gpus": [{"name": "NVIDIA L4", "pci_device_id": "0x27B810DE",
                                  "memory_mib": 23034}],
                "processes": processes}
        path = os.path.join(self.nvml_state, "nvml-fake.json")
        with open(path + ".tmp", "w") as f:
            json.dump(conf, f)
        os.rename(path + ".tmp", path)  # the fake never reads half a file

    def child(self, **kw):
        c = Child(self.d, **kw)
        self.children.append(c)
        return c

    def events(self, action):
        ev = self.d.get("/v1/events?limit=1000").json["events"]
        return [e for e in ev if e["action"] == action]

    def wait_for(self, cond):
        deadline = time.monotonic() + ACT_TIMEOUT_S
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.05)
        return False

    def run_case(self):
        inst = self.d.request("POST", "/v1/instances",
                              {"gpu": 0, "memory_bytes": 4 * GIB, "sms": 8}).json["uuid"]
        within = self.child(instance=inst, grant=GIB)
        over = self.child(instance=inst, grant=GIB)
        stranger = self.child()
        elsewhere = self.child()
        self.script([
            {"gpu": 0, "pid": within.pid, "used_memory_bytes": GIB + SLACK},
            # one 2 MiB page beyond what is allowed
            {"gpu": 0, "pid": over.pid, "used_memory_bytes": GIB + SLACK + 2 * MIB},
            {"gpu": 0, "pid": stranger.pid, "used_memory_bytes": 300 * MIB},
            {"gpu": 1, "pid": elsewhere.pid, "used_memory_bytes": 8 * GIB},
        ])
        self.assertTrue(self.wait_for(lambda: self.events("watchdog.over_quota") and
                                      self.events("watchdog.unregistered")), self.d.read_log())
        return inst, within, over, stranger, elsewhere


class KillPolicy(Watchdog):
    policy = "kill"

    def test_kill(self):
        inst, within, over, stranger, elsewhere = self.run_case()
        self.assertTrue(self.wait_for(lambda: not over.alive() and not stranger.alive()))
        self.assertEqual(over.p.returncode, -signal.SIGKILL)
        self.assertEqual(stranger.p.returncode, -signal.SIGKILL)
        self.assertTrue(within.alive())
        self.assertTrue(elsewhere.alive())
        [e] = self.events("watchdog.over_quota")
        self.assertEqual(e["subject"], inst)
        self.assertIn("pid %d " % over.pid, e["detail"])
        self.assertIn("killed (SIGKILL)", e["detail"])
        [e] = self.events("watchdog.unregistered")
        self.assertIn("pid %d " % stranger.pid, e["detail"])
        # Both actions are in the API's schema of an event (docs/openapi.yaml).
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                               "openapi.yaml")) as f:
            schema = f.read()
        enum = schema[schema.index("enum: [daemon.start"):]
        enum = enum[:enum.index("]")]
        for action in ("watchdog.over_quota", "watchdog.unregistered"):
            self.assertIn(action, enum)
        self.assertIn("killed", self.d.read_log())
        # the killed child's lease died with it: the instance holds only the survivor's grant
        self.assertTrue(self.wait_for(
            lambda: self.d.get("/v1/instances/" + inst).json["leased_bytes"] == GIB))


class LogPolicy(Watchdog):
    policy = "log"

    def test_log(self):
        inst, within, over, stranger, elsewhere = self.run_case()
        time.sleep(3)  # three more scans: each offence is still reported once
        for c in (within, over, stranger, elsewhere):
            self.assertTrue(c.alive())
        [e] = self.events("watchdog.over_quota")
        self.assertIn("pid %d " % over.pid, e["detail"])
        self.assertIn("holds 2.00 GiB", e["detail"])
        self.assertIn("logged", e["detail"])
        [e] = self.events("watchdog.unregistered")
        self.assertIn("pid %d " % stranger.pid, e["detail"])
        # Both actions are in the API's schema of an event (docs/openapi.yaml).
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                               "openapi.yaml")) as f:
            schema = f.read()
        enum = schema[schema.index("enum: [daemon.start"):]
        enum = enum[:enum.index("]")]
        for action in ("watchdog.over_quota", "watchdog.unregistered"):
            self.assertIn(action, enum)


class Off(unittest.TestCase):
    def test_interval_zero_and_bad_options(self):
        tmp = tempfile.mkdtemp(prefix="migd-watchdog-")
        d = migdtest.Migd(MIGD, base=tmp, extra=["--watchdog-interval", "0"]).start()
        d.stop()
        log = d.read_log()
        shutil.rmtree(tmp, ignore_errors=True)
        self.assertIn("watchdog off (--watchdog-interval 0)", log)
        for bad in (["--watchdog-interval", "-1"], ["--watchdog-policy", "term"]):
            r = subprocess.run([MIGD] + bad, capture_output=True)
            self.assertEqual(r.returncode, 2, bad)

    def test_simulate_needs_the_option(self):
        """Simulated GPUs are not NVML's: without --watchdog-interval the watchdog stays off
        before it ever looks for NVML."""
        tmp = tempfile.mkdtemp(prefix="migd-watchdog-")
        d = migdtest.Migd(MIGD, base=tmp).start()
        d.stop()
        log = d.read_log()
        shutil.rmtree(tmp, ignore_errors=True)
        self.assertIn("watchdog off: --simulate without --watchdog-interval", log)


if __name__ == "__main__":
    MIGD, FAKE_NVML_DIR = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
