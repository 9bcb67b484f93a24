#!/usr/bin/env python3
"""metrics.py - GET /metrics (docs/api.md, "Metrics"): the Prometheus text format, parsed
strictly, and values that follow what happens: an instance appears with its quota, a lease
grant raises its granted bytes and the grant counter, a refused one the denial counter, and a
closed lease gives the bytes back. Non-admins get 403; other methods 405.

Usage: metrics.py MIGD
"""
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migdtest  # noqa: E402

GIB = 1 << 30
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+]+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')


def parse(text):
    """{(name, frozenset(labels)): value}; fails on anything outside the text format."""
    types, out = {}, {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter"), line
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample: %r" % line
        name, labels = m.group(1), {}
        assert name in types, "sample before its # TYPE: %r" % line
        rest = m.group(3) or ""
        while rest:
            lm = LABEL.match(rest)
            assert lm, "bad labels: %r" % line
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        out[(name, frozenset(labels.items()))] = float(m.group(4))
    return out


class Metrics(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="migd-metrics-")
        self.port = free_port()
        self.d = migdtest.Migd(MIGD, simulate="h100-sxm5-80gb", base=self.tmp,
                               tcp_port=self.port, test_uid=1000,
                               extra=["--watchdog-interval", "0"]).start()

    def tearDown(self):
        self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def metrics(self):
        r = self.d.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return parse(r.raw.decode())

    def value(self, m, family, **labels):
        return m[(family, frozenset(labels.items()))]

    def test_values_follow_state(self):
        m = self.metrics()
        self.assertEqual(self.value(m, "migd_gpus"), 1)
        self.assertEqual(self.value(m, "migd_instances"), 0)
        self.assertEqual(self.value(m, "migd_lease_grants_total"), 0)
        self.assertGreaterEqual(self.value(m, "migd_uptime_seconds"), 0)
        self.assertEqual(self.value(m, "migd_watchdog_actions_total", reason="over_quota"), 0)
        inst = self.d.request("POST", "/v1/instances",
                              {"gpu": 0, "memory_bytes": 4 * GIB, "sms": 8}).json
        lab = {"instance": inst["uuid"], "gpu": "0", "name": inst["name"]}
        m = self.metrics()
        self.assertEqual(self.value(m, "migd_instances"), 1)
        self.assertEqual(self.value(m, "migd_instance_quota_bytes", **lab), 4 * GIB)
        self.assertEqual(self.value(m, "migd_instance_granted_bytes", **lab), 0)
        lease_sock = os.path.join(self.d.run_dir, "lease.sock")
        if not os.path.exists(lease_sock):
            self.skipTest("migd built without the lease server")
        self.assertEqual(self.d.request("POST", "/v1/instances/%s/processes" % inst["uuid"],
                                        {}).status, 201)
        s = socket.socket(socket.AF_UNIX)
        s.connect(lease_sock)
        f = s.makefile("rwb")
        f.write(b"HELLO 1 held=0\nGRANT %d\nGRANT %d\n" % (GIB, 8 * GIB))
        f.flush()
        f.readline()
        self.assertEqual(f.readline().split()[0], b"OK")
        self.assertEqual(f.readline().split()[0], b"NO")
        m = self.metrics()
        self.assertEqual(self.value(m, "migd_instance_granted_bytes", **lab), GIB)
        self.assertEqual(self.value(m, "migd_instance_processes", **lab), 1)
        self.assertEqual(self.value(m, "migd_registered_processes"), 1)
        self.assertEqual(self.value(m, "migd_lease_grants_total"), 1)
        self.assertEqual(self.value(m, "migd_lease_denials_total"), 1)
        self.assertEqual(self.value(m, "migd_lease_holders"), 1)
        f.close()
        s.close()
        for _ in range(500):
            m = self.metrics()
            if self.value(m, "migd_lease_holders") == 0:
                break
            time.sleep(0.01)
        self.assertEqual(self.value(m, "migd_instance_granted_bytes", **lab), 0)
        self.assertEqual(self.value(m, "migd_lease_grants_total"), 1)  # counters only grow

    def test_escaping_and_access(self):
        self.assertEqual(self.d.request("POST", "/metrics").status, 405)
        self.assertEqual(self.d.get("/metrics?x=1").status, 400)
        r = migdtest.call(self.d.tcp_conn, "GET", "/metrics")
        self.assertEqual(r.status, 403)  # uid 1000 is not an admin


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    MIGD = sys.argv[1]
    unittest.main(argv=sys.argv[:1], verbosity=2)
