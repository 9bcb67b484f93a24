#!/usr/bin/env python3
"""grant.py - `migctl grant` and what a granted uid sees and may do through the soft backend
and `migctl exec`, against a real migd --simulate (docs/soft.md).

Usage: grant.py MIGD MIGCTL
  Acting as another uid (nobody, 65534) needs root: as anyone else the test says so and exits
  77, which ctest reports as skipped.
"""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
import migdtest  # noqa: E402

MIGD, MIGCTL = sys.argv[1:3]
del sys.argv[1:3]
NOBODY = 65534
TIMEOUT_S = 60
SKIP = 77


class Grant(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = migdtest.Migd(MIGD, simulate="h100-sxm5-80gb").start()
        # Without a migkit group the socket is root's only; the test opens it to nobody (as
        # docs/api.md's example does), and gives nobody a copy of migctl it can run.
        os.chmod(cls.d.sock, 0o666)
        os.chmod(cls.d.run_dir, 0o755)
        os.chmod(cls.d.tmp, 0o755)
        cls.migctl_copy = os.path.join(cls.d.tmp, "migctl")
        shutil.copy(MIGCTL, cls.migctl_copy)
        os.chmod(cls.migctl_copy, 0o755)
        mk = lambda body: cls.d.request("POST", "/v1/instances", body).json["uuid"]
        cls.a = mk({"profile": "1g.10gb"})
        cls.b = mk({"profile": "1g.10gb"})
        cls.c = mk({"memory_bytes": 8 << 30, "sms": 16})

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.d.tmp, ignore_errors=True)

    def env(self):
        e = {"PATH": "/usr/bin:/bin", "MIGKIT_RUN_DIR": self.d.run_dir,
             "MIGKIT_BACKEND": "soft"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        return e

    def root(self, *args):
        return subprocess.run([MIGCTL] + list(args), env=self.env(), capture_output=True,
                              text=True, timeout=TIMEOUT_S)

    def nobody(self, *args):
        return subprocess.run([self.migctl_copy] + list(args), env=self.env(), user=NOBODY,
                              group=NOBODY, extra_groups=[], cwd="/", capture_output=True,
                              text=True, timeout=TIMEOUT_S)

    def grants(self, uuid):
        return self.d.get("/v1/instances/" + uuid).json["grants"]

    def test_1_nobody_sees_nothing_before_a_grant(self):
        r = self.nobody("-L")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("MIG-", r.stdout)
        self.assertIn("GPU 0: NVIDIA H100 80GB HBM3", r.stdout)

    def test_2_grant_and_what_it_shows(self):
        r = self.root("grant", self.a, "--uid", str(NOBODY))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Granted %s to uid %d\n" % (self.a, NOBODY))
        self.assertEqual(self.grants(self.a), [NOBODY])
        # nobody sees exactly the granted instance, in every listing
        r = self.nobody("-L")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.a, r.stdout)
        self.assertNotIn(self.b, r.stdout)
        self.assertNotIn(self.c, r.stdout)
        r = self.nobody("mig", "-lgi", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 1)
        # and may run processes in it, as itself
        r = self.nobody("exec", "--no-shim", self.a, "--", "sh", "-c", "id -u; exit 5")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(r.stdout, "%d\n" % NOBODY)
        # not in the others, which do not exist for it
        r = self.nobody("exec", "--no-shim", self.b, "--", "true")
        self.assertEqual(r.returncode, 6, r.stderr)

    def test_3_nobody_may_not_change_or_grant(self):
        r = self.nobody("mig", "-cgi", "19")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("Insufficient Permissions", r.stdout)
        self.assertIn("requires root or group migkit", r.stderr)
        r = self.nobody("mig", "-dgi")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        r = self.nobody("grant", self.a, "--uid", str(NOBODY))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("granting requires root or group migkit", r.stderr)

    def test_4_revoke(self):
        self.assertEqual(self.root("grant", self.b, "--uid", "nobody").returncode, 0)
        self.assertEqual(self.grants(self.b), [NOBODY])
        r = self.root("grant", self.b, "--uid", str(NOBODY), "--revoke")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Revoked uid %d's grant of %s\n" % (NOBODY, self.b))
        self.assertEqual(self.grants(self.b), [])
        self.assertNotIn(self.b, self.nobody("-L").stdout)
        r = self.root("grant", self.b, "--uid", str(NOBODY), "--revoke")
        self.assertEqual(r.returncode, 6, r.stderr)

    def test_5_json_and_errors(self):
        r = self.root("grant", self.c, "--uid", "1234", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["grants"], [1234])
        r = self.root("grant", self.c, "--uid", "1234", "--revoke", "--json")
        self.assertEqual(json.loads(r.stdout), {"uuid": self.c, "uid": 1234, "granted": False})
        missing = "MIG-00000000-0000-4000-8000-000000000000"
        self.assertEqual(self.root("grant", missing, "--uid", "1").returncode, 6)
        for args in (["grant", self.a], ["grant", "--uid", "1"],
                     ["grant", self.a, "--uid", "no-such-user-here"], ["grant", "x", "--uid", "1"]):
            self.assertEqual(self.root(*args).returncode, 2, args)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("grant.py: SKIPPED: acting as uid %d (nobody) needs root" % NOBODY)
        sys.exit(SKIP)
    unittest.main(verbosity=2)
