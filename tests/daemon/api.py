#!/usr/bin/env python3
"""api.py - migd's HTTP API end to end: a real migd per test (simulated H100 SXM5 80GB as GPU 0,
A100 SXM4 40GB as GPU 1), driven over its Unix socket as `curl --unix-socket` would.

Covers: profile and custom instances created, listed, resized and destroyed; the geometry and
memory rules; bad requests (malformed JSON, unknown fields, wrong types, oversized bodies,
unauthorised uids) answered 4xx with a message and changing nothing; process registration and
"in use"; state surviving kill -9; clean shutdown; start-up errors.

Usage: api.py PATH/TO/migd [unittest options]
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

MIGD = None
GIB = 1 << 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Base(unittest.TestCase):
    tcp_uid = None

    def setUp(self):
        port = free_port() if self.tcp_uid is not None else None
        self.d = migdtest.Migd(MIGD, tcp_port=port, test_uid=self.tcp_uid).start()

    def tearDown(self):
        # 0 also means no sanitizer report: ASan/LSan make the exit status non-zero
        rc = self.d.stop()
        log = self.d.read_log()
        shutil.rmtree(self.d.tmp, ignore_errors=True)
        self.assertEqual(rc, 0, log)

    def create(self, body, status=201):
        r = self.d.request("POST", "/v1/instances", body)
        self.assertEqual(r.status, status, r)
        return r.json

    def snapshot(self):
        """Everything a bad request must not change: instances and the event log."""
        inst = self.d.get("/v1/instances").json
        ev = self.d.get("/v1/events?limit=1000").json
        return inst, ev

    def assert_error(self, r, status, field=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("Content-Type"), "application/json")
        self.assertIsInstance(r.json.get("error"), str)
        self.assertTrue(r.json["error"])
        if field is not None:
            self.assertEqual(r.json.get("field"), field, r)

    def check(self, method, url, status, field=None, **kw):
        before = self.snapshot()
        r = self.d.request(method, url, **kw)
        self.assert_error(r, status, field)
        self.assertEqual(self.snapshot(), before, "%s %s changed the state" % (method, url))
        return r


class Lifecycle(Base):
    def test_gpu_pci_bus_ids(self):
        """--simulate numbers PCI bus IDs as the simulator backend does (simstate.c)."""
        gpus = self.d.get("/v1/gpus").json["gpus"]
        self.assertEqual([g["pci_bus_id"] for g in gpus], ["00000000:01:00.0", "00000000:02:00.0"])

    def test_profile_instance(self):
        a = self.create({"gpu": 0, "profile": "1g.10gb"})
        self.assertEqual(a["kind"], "profile")
        self.assertEqual((a["placement"], a["gi_id"], a["profile_id"]), (6, 13, 19))
        self.assertEqual(a["name"], "NVIDIA H100 80GB HBM3 MIG 1g.10gb")
        self.assertTrue(a["uuid"].startswith("MIG-"))
        got = self.d.get("/v1/instances/" + a["uuid"])
        self.assertEqual(got.status, 200)
        self.assertEqual(got.json, a)
        listed = self.d.get("/v1/instances").json["instances"]
        self.assertEqual([i["uuid"] for i in listed], [a["uuid"]])
        gpu0 = self.d.get("/v1/gpus").json["gpus"][0]
        self.assertEqual(gpu0["allocated_bytes"], a["quota_bytes"])
        r = self.d.request("PATCH", "/v1/instances/" + a["uuid"], {"quota_bytes": 8 * GIB})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["quota_bytes"], 8 * GIB)
        r = self.d.request("DELETE", "/v1/instances/" + a["uuid"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.raw, b"")
        self.assert_error(self.d.get("/v1/instances/" + a["uuid"]), 404)
        actions = [e["action"] for e in self.d.get("/v1/events").json["events"]]
        self.assertEqual(actions, ["daemon.start", "instance.create", "instance.resize",
                                   "instance.destroy"])

    def test_custom_instance(self):
        c = self.create({"gpu": 1, "memory_bytes": 12 * GIB, "sms": 32})
        self.assertEqual((c["kind"], c["quota_bytes"], c["sms"]), ("custom", 12 * GIB, 32))
        self.assertNotIn("placement", c)
        r = self.d.request("PATCH", "/v1/instances/" + c["uuid"], {"quota_bytes": 20 * GIB})
        self.assertEqual(r.status, 200, r)
        # the profiles' free counts see the memory the custom instance holds: no more of a
        # profile than fit in what is left (1g.5gb: 7 placements, but 20 GiB for 4.75 each)
        g = self.d.get("/v1/gpus").json["gpus"][1]
        for p in g["profiles"]:
            self.assertLessEqual(p["free"] * p["memory_bytes"], g["free_bytes"], p)
        small = min(g["profiles"], key=lambda p: p["memory_bytes"])
        self.assertEqual(small["free"], min(7, g["free_bytes"] // small["memory_bytes"]))
        self.assertLess(small["free"], 7)
        # 40 GiB of GPU 1 minus 20 leaves less than the 30 GiB asked for
        self.assert_error(self.d.request("POST", "/v1/instances",
                                         {"gpu": 1, "memory_bytes": 30 * GIB, "sms": 8}), 409)
        self.assert_error(self.d.request("PATCH", "/v1/instances/" + c["uuid"],
                                         {"quota_bytes": 60 * GIB}), 409)

    def test_geometry(self):
        for _ in range(7):
            self.create({"profile": 19})
        self.assert_error(self.d.request("POST", "/v1/instances", {"profile": 19}), 409)
        # the 7 x 1g.10gb took every slice: not even a placement-less custom one shares
        # slices, but custom instances are bounded by memory only
        self.create({"memory_bytes": 4 * GIB, "sms": 4})
        self.assert_error(self.d.request("POST", "/v1/instances",
                                         {"gpu": 1, "profile": 9, "placement": 1}), 400,
                          "placement")
        b = self.create({"gpu": 1, "profile": "3g.20gb", "placement": 4})
        self.assertEqual((b["gi_id"], b["placement"]), (2, 4))
        self.assert_error(self.d.request("POST", "/v1/instances",
                                         {"gpu": 1, "profile": "3g.20gb", "placement": 4}), 409)
        self.assert_error(self.d.request("POST", "/v1/instances", {"gpu": 1, "profile": "9g.9gb"}),
                          400, "profile")
        self.assert_error(self.d.request("POST", "/v1/instances", {"gpu": 7, "profile": 19}), 400,
                          "gpu")

    def test_process_in_use(self):
        a = self.create({"memory_bytes": 2 * GIB, "sms": 4})
        url = "/v1/instances/%s/processes" % a["uuid"]
        child = subprocess.Popen(["sleep", "30"])
        try:
            r = self.d.request("POST", url, {"pid": child.pid})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["pid"], child.pid)
            self.assertEqual(self.d.request("POST", url, {"pid": child.pid}).status, 200)
            # the caller itself (no pid: SO_PEERCRED's)
            r = self.d.request("POST", url, {})
            self.assertEqual(r.status, 201, r)
            self.assert_error(self.d.request("DELETE", "/v1/instances/" + a["uuid"]), 409)
            self.assertEqual(self.d.request("DELETE", "%s/%d" % (url, r.json["pid"])).status,
                             204)
            self.assert_error(self.d.request("DELETE", "/v1/instances/" + a["uuid"]), 409)
        finally:
            child.kill()
            child.wait()
        # the child is gone: the instance is no longer in use
        self.assertEqual(self.d.request("DELETE", "/v1/instances/" + a["uuid"]).status, 204)
        actions = [e["action"] for e in self.d.get("/v1/events").json["events"]]
        self.assertIn("process.gone", actions)

    def test_grants(self):
        a = self.create({"memory_bytes": 2 * GIB, "sms": 4})
        url = "/v1/instances/%s/grants" % a["uuid"]
        r = self.d.request("POST", url, {"uid": 1000})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["grants"], [1000])
        self.assertEqual(self.d.request("DELETE", url + "/1000").status, 204)
        self.assert_error(self.d.request("DELETE", url + "/1000"), 404)


class Leases(Base):
    """The lease server wired to the registry (when migd is built with it): grants count
    against the quota, block shrinking and destroying, and go when the connection does."""

    def test_lease_rules(self):
        lease_sock = os.path.join(self.d.run_dir, "lease.sock")
        if not os.path.exists(lease_sock):
            self.skipTest("migd built without the lease server")
        u = self.create({"memory_bytes": 4 * GIB, "sms": 8})["uuid"]
        self.assertEqual(self.d.request("POST", "/v1/instances/%s/processes" % u, {}).status, 201)
        s = socket.socket(socket.AF_UNIX)
        s.connect(lease_sock)
        f = s.makefile("rwb")
        try:
            f.write(b"HELLO 1 held=0\nGRANT %d\nGRANT %d\n" % (3 * GIB, 2 * GIB))
            f.flush()
            self.assertIn(b"quota=%d" % (4 * GIB), f.readline())
            self.assertEqual(f.readline().split()[0], b"OK")
            self.assertEqual(f.readline().split()[:2], [b"NO", b"free=%d" % GIB])
            self.assertEqual(self.d.get("/v1/instances/" + u).json["leased_bytes"], 3 * GIB)
            r = self.d.request("PATCH", "/v1/instances/" + u, {"quota_bytes": 2 * GIB})
            self.assert_error(r, 409)
            self.assertIn("(2147483648 bytes): its processes hold 3.0 GiB (3221225472 bytes)",
                          r.json["error"])
            self.assert_error(self.d.request("DELETE", "/v1/instances/" + u), 409)
        finally:
            f.close()
            s.close()
        for _ in range(500):
            if self.d.get("/v1/instances/" + u).json["leased_bytes"] == 0:
                break
            time.sleep(0.01)
        self.assertEqual(self.d.get("/v1/instances/" + u).json["leased_bytes"], 0)


class BadRequests(Base):
    """Every bad request gets a 4xx with a message, and changes nothing."""

    def test_malformed_json(self):
        self.create({"profile": 19})
        for raw in [b"{", b"", b"nul", b"{\"profile\": 19,}", b"\xff\xfe", b"[]", b"19",
                    b"{\"profile\": 19, \"profile\": 19}", b"{\"profile\": 19} x"]:
            self.check("POST", "/v1/instances", 400, raw=raw)

    def test_unknown_fields(self):
        self.check("POST", "/v1/instances", 400, "color", body={"profile": 19, "color": 1})
        self.check("POST", "/v1/instances", 400, "Profile", body={"Profile": 19})
        a = self.create({"profile": 19})
        u = "/v1/instances/" + a["uuid"]
        self.check("PATCH", u, 400, "sms", body={"quota_bytes": GIB, "sms": 3})
        self.check("POST", u + "/grants", 400, "gid", body={"gid": 1})

    def test_wrong_types(self):
        for body, field in [({"gpu": "0", "profile": 19}, "gpu"),
                            ({"gpu": 0.0, "profile": 19}, "gpu"),
                            ({"gpu": True, "profile": 19}, "gpu"),
                            ({"gpu": None, "profile": 19}, "gpu"),
                            ({"profile": [19]}, "profile"),
                            ({"profile": 19.5}, "profile"),
                            ({"profile": ""}, "profile"),
                            ({"memory_bytes": "1GiB", "sms": 4}, "memory_bytes"),
                            ({"memory_bytes": GIB, "sms": -1}, "sms"),
                            ({"memory_bytes": 2 ** 70, "sms": 1}, None),
                            ({"gpu": -1, "profile": 19}, "gpu"),
                            ({"profile": 19, "placement": "6"}, "placement")]:
            self.check("POST", "/v1/instances", 400, field, body=body)

    def test_missing_and_conflicting_fields(self):
        self.check("POST", "/v1/instances", 400, "profile", body={})
        self.check("POST", "/v1/instances", 400, "sms", body={"memory_bytes": GIB})
        self.check("POST", "/v1/instances", 400, "sms", body={"profile": 19, "sms": 4})
        self.check("POST", "/v1/instances", 400, "placement",
                   body={"memory_bytes": GIB, "sms": 4, "placement": 0})
        a = self.create({"profile": 19})
        self.check("PATCH", "/v1/instances/" + a["uuid"], 400, "quota_bytes", body={})
        self.check("PATCH", "/v1/instances/" + a["uuid"], 400, "quota_bytes",
                   body={"quota_bytes": 1})

    def test_oversized_bodies(self):
        big = b"{\"profile\": 19" + b" " * (64 * 1024) + b"}"
        self.check("POST", "/v1/instances", 413, raw=big)
        # without Content-Length: the limit applies as the body arrives
        conn = self.d.conn()
        conn.putrequest("POST", "/v1/instances")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for _ in range(20):
                chunk = b" " * 8192
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # migd stopped reading at the limit and answered; the answer is checked below
        r = conn.getresponse()
        self.assertEqual(r.status, 413)
        conn.close()
        # exactly at the limit is still parsed (and here valid)
        body = b"{\"profile\": 19}"
        self.create_raw = self.d.request("POST", "/v1/instances",
                                         raw=body + b" " * (64 * 1024 - len(body)))
        self.assertEqual(self.create_raw.status, 201, self.create_raw)

    def test_routes_and_methods(self):
        self.check("GET", "/v1/nothing", 404)
        self.check("GET", "/v2/instances", 404)
        self.check("GET", "/v1/instances/", 404)
        self.check("GET", "/v1/instances/MIG-not-a-uuid", 404)
        self.check("GET", "/v1/instances/MIG-00000000-0000-4000-8000-000000000000", 404)
        r = self.check("PUT", "/v1/instances", 405)
        self.assertEqual(r.headers.get("Allow"), "GET, POST")
        self.check("GET", "/v1/instances?x=1", 400, "x")
        self.check("GET", "/v1/events?limit=0", 400, "limit")
        self.check("GET", "/v1/events?since=-1", 400, "since")
        self.check("GET", "/v1/gpus", 400, raw=b"{}")
        self.check("DELETE", "/v1/instances/MIG-00000000-0000-4000-8000-000000000000/grants/x",
                   404)


DESIRED = """version: v1
mig-configs:
  balanced:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 2
        "3g.40gb": 1
  empty:
    - devices: all
      mig-enabled: true
      mig-devices: {}
"""


class Desired(Base):
    """GET and PUT /v1/desired: what migctl apply records, checked before it is kept."""

    def test_set_get_event(self):
        self.assert_error(self.d.get("/v1/desired"), 404)
        body = {"config": DESIRED, "label": "balanced"}
        r = self.d.request("PUT", "/v1/desired", body)
        self.assertEqual((r.status, r.json), (200, body))
        self.assertEqual(self.d.get("/v1/desired").json, body)
        ev = self.d.get("/v1/events").json["events"][-1]
        self.assertEqual((ev["action"], ev["subject"]), ("desired.set", "balanced"))
        # replaced as a whole
        body = {"config": DESIRED, "label": "empty"}
        self.assertEqual(self.d.request("PUT", "/v1/desired", body).status, 200)
        self.assertEqual(self.d.get("/v1/desired").json, body)

    def test_bad_candidates_change_nothing(self):
        self.d.request("PUT", "/v1/desired", {"config": DESIRED, "label": "balanced"})
        before = self.d.get("/v1/desired").json
        for body, field in [
                ({"config": DESIRED}, "label"),
                ({"label": "balanced"}, "config"),
                ({"config": DESIRED, "label": "balanced", "x": 1}, "x"),
                ({"config": 1, "label": "balanced"}, "config"),
                ({"config": DESIRED, "label": ["balanced"]}, "label"),
                ({"config": "", "label": "balanced"}, "config"),
                ({"config": DESIRED, "label": ""}, "label"),
                ({"config": DESIRED, "label": "x" * 64}, "label"),
                ({"config": DESIRED + "#" * 32768, "label": "balanced"}, "config"),
                ({"config": "version: v1\nmig-configs: [", "label": "balanced"}, "config"),
                ({"config": "version: v2\nmig-configs: {}\n", "label": "balanced"}, "config"),
                ({"config": "{", "label": "balanced"}, "config"),
                ({"config": DESIRED, "label": "unbalanced"}, "label"),
                ({"config": DESIRED.replace("1g.10gb", "1g.10gb\u0000"), "label": "balanced"},
                 None)]:
            self.check("PUT", "/v1/desired", 400, field, body=body)
        self.check("PUT", "/v1/desired", 400, raw=b"{")
        self.check("PUT", "/v1/desired", 413, raw=b"{\"config\": \"" + b"#" * 70000 + b"\"}")
        r = self.check("POST", "/v1/desired", 405, body={"config": DESIRED, "label": "balanced"})
        self.assertEqual(r.headers.get("Allow"), "GET, PUT, DELETE")
        self.check("DELETE", "/v1/desired?x=1", 400, "x")
        self.check("GET", "/v1/desired?x=1", 400, "x")
        self.assertEqual(self.d.get("/v1/desired").json, before)

    def test_clear(self):
        """DELETE: 204 and a desired.clear event; then as if nothing had been recorded."""
        never = self.d.get("/v1/desired")
        self.assert_error(never, 404)
        self.assertEqual(self.d.request("PUT", "/v1/desired",
                                        {"config": DESIRED, "label": "balanced"}).status, 200)
        r = self.d.request("DELETE", "/v1/desired")
        self.assertEqual((r.status, r.raw), (204, b""), r)
        cleared = self.d.get("/v1/desired")
        self.assert_error(cleared, 404)
        self.assertEqual(cleared.json, never.json)
        ev = self.d.get("/v1/events").json["events"]
        self.assertEqual([(e["action"], e["subject"]) for e in ev[-2:]],
                         [("desired.set", "balanced"), ("desired.clear", "balanced")])
        self.assertEqual(ev[-1]["detail"], "label=balanced bytes=%d" % len(DESIRED))
        self.assertEqual(ev[-1]["uid"], os.geteuid())
        # a second clear finds nothing: 404 with a message, no event
        r = self.check("DELETE", "/v1/desired", 404)
        self.assertEqual(r.json["error"], "no desired configuration is recorded")
        # it can be set again, and the clear survives a restart
        body = {"config": DESIRED, "label": "empty"}
        self.assertEqual(self.d.request("PUT", "/v1/desired", body).status, 200)
        self.assertEqual(self.d.get("/v1/desired").json, body)
        self.assertEqual(self.d.request("DELETE", "/v1/desired").status, 204)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertIn("desired configuration: none recorded",
                      self.d.read_log().split("SIGTERM")[-1])
        self.assert_error(self.d.get("/v1/desired"), 404)

    def test_survives_restart_and_is_reported(self):
        self.d.request("PUT", "/v1/desired", {"config": DESIRED, "label": "balanced"})
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertIn("desired configuration: 2 of 2 GPUs do not match label balanced",
                      self.d.read_log())
        self.assertEqual(self.d.get("/v1/desired").json["label"], "balanced")
        for gpu in (0, 1):
            self.create({"gpu": gpu, "profile": "3g.%dgb" % (40 if gpu == 0 else 20)})
            self.create({"gpu": gpu, "profile": "1g.%dgb" % (10 if gpu == 0 else 5)})
            self.create({"gpu": gpu, "profile": "1g.%dgb" % (10 if gpu == 0 else 5)})
        # GPU 1 (A100 40GB) has no 1g.10gb: it cannot match this label
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        log = self.d.read_log()
        self.assertIn("GPU 1 (a100-sxm4-40gb) does not match label balanced", log)
        self.assertNotIn("GPU 0 (h100-sxm5-80gb) does not match", log.split("SIGTERM")[-1])
        self.d.request("PUT", "/v1/desired", {"config": DESIRED.replace(
            "    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g",
            "    - devices: [0]\n      mig-enabled: true\n      mig-devices:\n        \"1g",
            1), "label": "balanced"})
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertIn("desired configuration: label balanced; the restored instances match it",
                      self.d.read_log().split("SIGTERM")[-1])


class Unauthorised(Base):
    """uid 1000 on the test TCP listener: sees and uses only what it was granted."""
    tcp_uid = 1000

    def tcp(self, method, url, body=None):
        return migdtest.call(self.d.tcp_conn, method, url, body)

    def test_uid_1000(self):
        a = self.create({"memory_bytes": 2 * GIB, "sms": 4})
        b = self.create({"memory_bytes": 2 * GIB, "sms": 4})
        before = self.snapshot()
        for method, url, body, status in [
                ("POST", "/v1/instances", {"profile": 19}, 403),
                ("DELETE", "/v1/instances/" + a["uuid"], None, 403),
                ("PATCH", "/v1/instances/" + a["uuid"], {"quota_bytes": GIB}, 403),
                ("POST", "/v1/instances/%s/grants" % a["uuid"], {"uid": 1000}, 403),
                ("GET", "/v1/instances/" + a["uuid"], None, 404),
                ("POST", "/v1/instances/%s/processes" % a["uuid"], {"pid": os.getpid()}, 404)]:
            self.assert_error(self.tcp(method, url, body), status)
        self.assertEqual(self.snapshot(), before)
        self.assert_error(self.tcp("PUT", "/v1/desired", {"config": DESIRED,
                                                          "label": "balanced"}), 403)
        self.assert_error(self.tcp("GET", "/v1/desired"), 404)
        self.assert_error(self.tcp("DELETE", "/v1/desired"), 403)
        self.assertEqual(self.tcp("GET", "/v1/instances").json["instances"], [])
        self.assertEqual(self.tcp("GET", "/v1/events").json["events"], [])
        self.assertEqual(self.d.request("POST", "/v1/instances/%s/grants" % b["uuid"],
                                        {"uid": 1000}).status, 200)
        seen = self.tcp("GET", "/v1/instances").json["instances"]
        self.assertEqual([i["uuid"] for i in seen], [b["uuid"]])
        url = "/v1/instances/%s/processes" % b["uuid"]
        # no peer pid on TCP; and this test process runs as root, not as uid 1000
        self.assert_error(self.tcp("POST", url, {}), 400, "pid")
        if os.geteuid() != 1000:
            self.assert_error(self.tcp("POST", url, {"pid": os.getpid()}), 403)

    def test_clear_desired_forbidden(self):
        """Only admins clear the desired configuration: 403, and it stays, with no event."""
        body = {"config": DESIRED, "label": "balanced"}
        self.assertEqual(self.d.request("PUT", "/v1/desired", body).status, 200)
        before = self.snapshot()
        r = self.tcp("DELETE", "/v1/desired")
        self.assert_error(r, 403)
        self.assertIn("may not clear the desired configuration", r.json["error"])
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.d.get("/v1/desired").json, body)
        self.assertEqual(self.tcp("GET", "/v1/desired").json, body)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to act as another uid")
    def test_unix_socket_peer_uid(self):
        """SO_PEERCRED on the Unix socket: nobody (65534) may list, not create."""
        os.chmod(self.d.sock, 0o666)
        os.chmod(self.d.run_dir, 0o755)
        os.chmod(self.d.tmp, 0o755)
        code = ("import sys; sys.path.insert(0, %r); import migdtest; d = migdtest.Migd('x', base='/'); "
                "d.sock = %r; print(d.get('/v1/instances').status, "
                "d.request('POST', '/v1/instances', {'profile': 19}).status)"
                % (os.path.dirname(os.path.abspath(__file__)), self.d.sock))
        # the system interpreter: a per-user one (pyenv under /root) is not readable by nobody
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        out = subprocess.run([python, "-c", code], user=65534, group=65534,
                             capture_output=True, text=True, cwd="/")
        self.assertEqual(out.stdout.split(), ["200", "403"], out.stderr)


class Lifetime(unittest.TestCase):
    def setUp(self):
        self.d = migdtest.Migd(MIGD)

    def tearDown(self):
        self.d.stop()
        shutil.rmtree(self.d.tmp, ignore_errors=True)

    def test_kill9_restart(self):
        self.d.start()
        a = self.d.request("POST", "/v1/instances", {"profile": "3g.40gb"}).json
        self.d.request("POST", "/v1/instances", {"gpu": 1, "memory_bytes": 5 * GIB, "sms": 9})
        self.d.request("POST", "/v1/instances/%s/grants" % a["uuid"], {"uid": 1234})
        before = self.d.get("/v1/instances").json
        gpus = self.d.get("/v1/gpus").json
        self.assertEqual(self.d.kill9(), -9)
        self.d.start()
        self.assertEqual(self.d.get("/v1/instances").json, before)
        self.assertEqual(self.d.get("/v1/gpus").json, gpus)
        starts = [e for e in self.d.get("/v1/events").json["events"]
                  if e["action"] == "daemon.start"]
        self.assertEqual(len(starts), 2)

    def test_health_implies_lease(self):
        """The lease server listens before the API answers: right after a restart (kill -9
        leaves the dead daemon's lease.sock file behind, refusing connections), the first
        200 from /v1/health means lease.sock accepts."""
        self.d.start()
        for _ in range(5):
            self.assertEqual(self.d.kill9(), -9)
            self.d.start(wait=False)
            deadline = time.monotonic() + migdtest.START_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    if self.d.get("/v1/health").status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.001)
            self.assertTrue(self.d.lease_ready(), self.d.read_log())

    def test_sigterm_cleans_up(self):
        self.d.start()
        self.assertEqual(self.d.stop(), 0)
        self.assertFalse(os.path.exists(self.d.sock))
        self.assertFalse(os.path.exists(os.path.join(self.d.run_dir, "migd.pid")))

    def test_single_instance(self):
        self.d.start()
        other = subprocess.run(self.d.argv(), capture_output=True, text=True, timeout=30)
        self.assertEqual(other.returncode, 1)
        self.assertIn("another migd (pid %d)" % self.d.proc.pid, other.stderr)

    def test_startup_errors(self):
        r = subprocess.run([MIGD, "--foreground", "--state-dir", self.d.state_dir, "--run-dir",
                            self.d.run_dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no GPUs: NVML backend not available", r.stderr)
        self.assertIn("use --simulate", r.stderr)
        r = subprocess.run([MIGD, "--simulate", "nope-80gb", "--state-dir", self.d.state_dir,
                            "--run-dir", self.d.run_dir], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn('no model "nope-80gb"', r.stderr)
        r = subprocess.run([MIGD, "--test-tcp", "1"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        # the same state on other GPUs is refused while instances live there
        self.d.start()
        self.d.request("POST", "/v1/instances", {"profile": 19})
        self.d.stop()
        self.d.simulate = "a100-sxm4-40gb"
        with self.assertRaises(RuntimeError) as e:
            self.d.start()
        self.assertIn("was h100-sxm5-80gb and is now a100-sxm4-40gb", str(e.exception))

    def test_daemonizes(self):
        """Without --foreground the starting process returns once the socket is ready."""
        argv = [a for a in self.d.argv() if a != "--foreground"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.d.get("/v1/health").status, 200)
        with open(os.path.join(self.d.run_dir, "migd.pid")) as f:
            pid = int(f.read())
        os.kill(pid, 15)
        for _ in range(1000):
            if not os.path.exists(self.d.sock):
                break
            time.sleep(0.01)
        self.assertFalse(os.path.exists(self.d.sock))


if __name__ == "__main__":
    MIGD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
