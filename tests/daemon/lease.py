#!/usr/bin/env python3
"""lease.py - the lease server inside a real migd (--simulate): INFO, resizes reaching running
processes, the end of the re-registration grace after a restart, and the exactness race of
16 processes x 8 threads (tests/daemon/lease-storm.c) checked from migd's side.

Usage: lease.py PATH/TO/migd PATH/TO/lease-storm
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migdtest  # noqa: E402

MIB = 1 << 20
MIGD = STORM = None
# The re-registration grace of migd (LEASE_GRACE_MS in src/daemon/main.c).
GRACE_S = 3.0
# The exactness storm: rounds of EXACT_STORM_S each, with a pause between two rounds where the
# clients' count and migd's must agree exactly. 3 x 0.5 s: tens of thousands of requests,
# some 2 s in all (more under ASan), well inside ctest's timeout on two cores.
EXACT_ROUNDS = 3
EXACT_STORM_S = 0.5


class Lease:
    """A raw lease connection of this process (protocol version 2)."""

    def __init__(self, d, held=0):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(10)
        self.s.connect(os.path.join(d.run_dir, "lease.sock"))
        self.f = self.s.makefile("rwb")
        self.hello = self.ask("HELLO 2 held=%d" % held)

    def send(self, line):
        self.f.write(line.encode() + b"\n")
        self.f.flush()

    def read(self):
        return self.f.readline().decode().rstrip("\n")

    def ask(self, line):
        self.send(line)
        return self.read()

    def info(self):
        r = self.ask("INFO").split()
        assert r[0] == "OK", r
        return {k: int(v) for k, v in (x.split("=") for x in r[1:])}

    def close(self):
        self.f.close()
        self.s.close()


class LeaseTest(unittest.TestCase):
    def setUp(self):
        self.d = migdtest.Migd(MIGD).start()

    def tearDown(self):
        self.d.kill9()
        shutil.rmtree(self.d.tmp, ignore_errors=True)

    def create(self, quota):
        r = self.d.request("POST", "/v1/instances", {"gpu": 0, "memory_bytes": quota, "sms": 8})
        self.assertEqual(r.status, 201, r)
        return r.json["uuid"]

    def register(self, u, pid=None):
        r = self.d.request("POST", "/v1/instances/%s/processes" % u,
                           {} if pid is None else {"pid": pid})
        self.assertEqual(r.status, 201, r)

    def resize(self, u, quota):
        return self.d.request("PATCH", "/v1/instances/" + u, {"quota_bytes": quota}).status

    def test_resize_reaches_running_process(self):
        u = self.create(256 * MIB)
        self.register(u)
        c = Lease(self.d)
        self.assertTrue(c.hello.startswith("OK 2 held=0 quota=%d " % (256 * MIB)), c.hello)
        self.assertEqual(c.info(), {"held": 0, "quota": 256 * MIB, "granted": 0})
        self.assertEqual(c.ask("GRANT %d" % (200 * MIB)), "OK held=%d" % (200 * MIB))
        self.assertEqual(self.resize(u, 512 * MIB), 200)
        self.assertEqual(c.info()["quota"], 512 * MIB)  # at once, same connection
        self.assertEqual(c.ask("GRANT %d" % (300 * MIB)), "OK held=%d" % (500 * MIB))
        self.assertEqual(self.resize(u, 256 * MIB), 409)  # below what is held: refused
        self.assertEqual(c.ask("RELEASE %d" % (400 * MIB)), "OK held=%d" % (100 * MIB))
        self.assertEqual(self.resize(u, 128 * MIB), 200)
        self.assertEqual(c.info(), {"held": 100 * MIB, "quota": 128 * MIB, "granted": 100 * MIB})
        self.assertEqual(c.ask("GRANT %d" % (29 * MIB)), "NO free=%d held=%d" % (28 * MIB,
                                                                                  100 * MIB))
        self.assertEqual(c.ask("GRANT %d" % (28 * MIB)), "OK held=%d" % (128 * MIB))
        c.close()

    def restart_with_lease(self, held):
        self.d.kill9()
        self.d.start()
        return Lease(self.d, held)

    def test_grace_ends_when_survivors_are_back(self):
        u = self.create(256 * MIB)
        self.register(u)
        c = Lease(self.d)
        self.assertEqual(c.ask("GRANT %d" % (64 * MIB)), "OK held=%d" % (64 * MIB))
        c = self.restart_with_lease(64 * MIB)  # the only survivor re-registers
        self.assertTrue(c.hello.startswith("OK 2 held=%d " % (64 * MIB)), c.hello)
        t0 = time.monotonic()
        self.assertEqual(c.ask("GRANT %d" % MIB), "OK held=%d" % (65 * MIB))
        # The grace ended because every survivor was back, not because it ran out.
        self.assertIn("grace over: every surviving process is back", self.d.read_log())
        self.assertLess(time.monotonic() - t0, GRACE_S / 2)
        c.close()

    def test_grace_ends_when_a_survivor_dies(self):
        u = self.create(256 * MIB)
        self.register(u)
        other = subprocess.Popen(["sleep", "600"])
        try:
            self.register(u, other.pid)  # a survivor that never says HELLO
            c = self.restart_with_lease(0)
            c.send("GRANT %d" % MIB)
            c.s.settimeout(0.3)
            with self.assertRaises(socket.timeout):  # waits: the other survivor is not back
                c.s.recv(64)
            self.assertNotIn("grace over", self.d.read_log())
            c.s.settimeout(10)
            other.kill()
            other.wait()
            self.assertEqual(c.s.recv(64).decode(), "OK held=%d\n" % MIB)
            self.assertIn("grace over: every surviving process is back", self.d.read_log())
            c.close()
        finally:
            other.kill()
            other.wait()

    def leased(self, u):
        return self.d.get("/v1/instances/" + u).json["leased_bytes"]

    def test_exactness_16_processes_8_threads(self):
        # 16 processes x 8 threads race grants and releases on one instance. Both views of the
        # sum stay within the quota throughout (migd's, sampled through the API here and through
        # INFO by the clients; the clients' count of acknowledged grants), agree exactly
        # whenever the storm pauses, and end at zero.
        quota = 256 * MIB
        u = self.create(quota)
        storm = migdtest.LeaseStorm(STORM, self.d, 16, 8, quota)
        samples = peak = 0
        try:
            self.register(u, storm.p.pid)  # its processes are members through their parent
            for rnd in range(EXACT_ROUNDS):
                if rnd > 0:
                    stats = storm.pause()
                    self.assertEqual(stats["held"], self.leased(u), stats)  # all idle: exact
                    self.assertLessEqual(stats["held"], quota, stats)
                storm.go()
                end = time.monotonic() + EXACT_STORM_S
                while time.monotonic() < end:  # migd's own view, during the storm
                    leased = self.leased(u)
                    self.assertLessEqual(leased, quota)
                    samples, peak = samples + 1, max(peak, leased)
            # Straight from the storm: processes exit while others still grant what the
            # exited ones released.
            stats = storm.quit()
        finally:
            storm.kill()
        for k in ("held", "violations", "over", "mismatches", "errors", "reconnects"):
            self.assertEqual(stats[k], 0, (k, stats))
        self.assertGreater(stats["denials"], 0, stats)  # the storm did reach the quota
        for _ in range(500):  # every connection closed: everything came back
            if self.leased(u) == 0:
                break
            time.sleep(0.01)
        self.assertEqual(self.leased(u), 0)
        print("exactness: %d samples of migd's sum, peak %d of %d, %d denials" %
              (samples, peak, quota, stats["denials"]), file=sys.stderr)


if __name__ == "__main__":
    MIGD, STORM = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1], verbosity=2)
