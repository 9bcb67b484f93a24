"""migdtest.py - what the migd tests share: start a real migd in a temporary state and run
directory, and talk HTTP to it over its Unix socket (or the test TCP port) with the standard
library only.

Used by api.py, crash.py and schemathesis.sh's runs.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

# How long a start may take before the test fails: migd is ready in ~20 ms, an ASan build in a
# few hundred; 20 s also covers a loaded CI machine.
START_TIMEOUT_S = 20


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over AF_UNIX: what `curl --unix-socket` does."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.json = None
        if raw and not headers.get("Content-Type", "").startswith("text/plain"):
            self.json = json.loads(raw)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:200])


def call(conn_factory, method, url, body=None, raw=None, headers=None):
    """One request on a fresh connection. body is JSON-encoded; raw is sent as it is."""
    conn = conn_factory()
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = dict(headers or {})
        if data is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, url, body=data, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            # migd answers an oversized body (413) and closes before reading all of it; on a
            # Unix socket its answer is still there to read.
            pass
        r = conn.getresponse()
        return Response(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


class Migd:
    """A migd process with its own state and run directories under a temporary directory."""

    def __init__(self, binary, simulate="h100-sxm5-80gb,a100-sxm4-40gb", base=None,
                 tcp_port=None, test_uid=None, extra=()):
        self.binary = binary
        self.simulate = simulate
        self.tmp = base or tempfile.mkdtemp(prefix="migd-test-")
        self.state_dir = os.path.join(self.tmp, "state")
        self.run_dir = os.path.join(self.tmp, "run")
        self.sock = os.path.join(self.run_dir, "migd.sock")
        self.db = os.path.join(self.state_dir, "migd.db")
        self.log = os.path.join(self.tmp, "migd.log")
        self.tcp_port = tcp_port
        self.test_uid = test_uid
        self.extra = list(extra)
        self.proc = None

    def argv(self):
        a = [self.binary, "--foreground", "--state-dir", self.state_dir, "--run-dir",
             self.run_dir]
        if self.simulate:  # None: the GPUs NVML reports
            a += ["--simulate", self.simulate]
        if self.tcp_port:
            a += ["--test-tcp", str(self.tcp_port), "--test-uid", str(self.test_uid)]
        return a + self.extra

    def start(self, wait=True):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=logf, stderr=logf)
        logf.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        """Until the API answers: migd starts its lease server before the API, so by then
        lease.sock accepts too (api.py Lifetime.test_health_implies_lease checks it)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("migd exited with %d: %s" % (self.proc.returncode,
                                                               self.read_log()))
            try:
                if self.get("/v1/health").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError("migd not ready after %d s: %s" % (START_TIMEOUT_S, self.read_log()))

    def lease_ready(self):
        """True when lease.sock accepts a connection (closed at once: migd drops it), or when
        this migd was built without the lease server."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(os.path.join(self.run_dir, "lease.sock"))
            return True
        except OSError:
            return "lease server not built in" in self.read_log()
        finally:
            s.close()

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def conn(self):
        return UnixHTTPConnection(self.sock)

    def tcp_conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.tcp_port, timeout=10)

    def request(self, method, url, body=None, raw=None, headers=None):
        return call(self.conn, method, url, body, raw, headers)

    def get(self, url):
        return self.request("GET", url)

    def stop(self, sig=signal.SIGTERM):
        """Stops migd with sig (SIGKILL for a crash); returns its exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30) if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)


class LeaseStorm:
    """tests/daemon/lease-storm.c: PROCS processes x THREADS threads of lease clients on migd's
    lease socket, driven over the storm's stdin and stdout (its header comment says what each
    command does and what its report line counts)."""

    def __init__(self, binary, d, procs, threads, quota):
        self.p = subprocess.Popen([binary, os.path.join(d.run_dir, "lease.sock"), str(procs),
                                   str(threads), str(quota)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        words = self.p.stdout.readline().split()
        assert words[:1] == ["pids"] and len(words) == procs + 1, words
        self.pids = [int(w) for w in words[1:]]

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline()

    @staticmethod
    def stats(line):
        w = line.split()
        assert len(w) % 2 == 0 and w[:1] == ["held"], line
        return dict(zip(w[0::2], (int(x) for x in w[1::2])))

    def go(self):
        assert self.ask("go") == "ok\n"

    def pause(self):
        """Every thread idle and every process re-registered: the storm's counts."""
        return self.stats(self.ask("pause"))

    def quit(self):
        """Every process exited (their connections closed): the final counts."""
        s = self.stats(self.ask("quit"))
        assert self.p.wait(30) == 0
        return s

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
