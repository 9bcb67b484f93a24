#!/usr/bin/env python3
"""crash.py - kill -9 migd at random moments during instance-creation storms, restart it, and
check that the state is consistent. Driven by crash.sh (200 rounds in CI; more for a soak).

Each round: THREADS client threads create (profile and custom), resize and destroy instances
as fast as migd answers; after a random delay migd gets SIGKILL; it is restarted and checked:

  - every instance whose creation was acknowledged (201) is there, with the quota of its last
    acknowledged resize; none whose destruction was acknowledged (204) is;
  - no phantom: every instance there was asked for by some client (an unacknowledged request
    may or may not have happened, never half: it is there whole, or not at all);
  - no duplicates; on each GPU the quotas add up to its allocated bytes and fit its memory;
  - the database passes PRAGMA integrity_check and foreign_key_check, holds exactly the
    instances the API lists, and exactly one instance.create event for each.

Some rounds kill migd during its own start-up (restore and reconciliation) instead.

Then lease rounds, on a migd of their own: LEASE_PROCS processes x LEASE_THREADS threads of
lease clients (tests/daemon/lease-storm.c), each process registered through the API, grant
and release on one instance while migd gets SIGKILL at random moments (some rounds again
during its start-up). After each restart, while the storm goes on, migd's sum stays within
the quota; then the storm pauses, and every client must have reconnected and re-registered
what it holds: migd's sum equals the clients' count exactly, and each process's record equals
its own. At the end every process exits, migd's sum returns to 0, and the instance can be
destroyed (nothing leaked).
"""
import argparse
import os
import random
import shutil
import signal
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migdtest  # noqa: E402

GIB = 1 << 30
THREADS = 4
# The longest storm before the kill: long enough for tens of fsync'ed changes, short enough
# for 200 rounds in about half a minute.
MAX_STORM_S = 0.06
# Instances a thread keeps before it destroys one: the GPUs fill up, and destroys happen.
KEEP = 5
PROFILES = {0: [19, 15, 14, 9], 1: [19, 15, 14, 9]}  # 1g, 1g (2 slices), 2g, 3g on both
MIB = 1 << 20
# The lease storm: smaller than lease.py's 16 x 8 since every round restarts migd (a few
# hundred ms under ASan), but still several threads on each connection.
LEASE_PROCS, LEASE_THREADS = 8, 4
# Small against the storm's demand, so that grants are refused and the sum sits at the quota.
LEASE_QUOTA = 256 * MIB
# The longest storm before a kill, and after a restart before the pause: long enough for
# thousands of requests, short enough to keep CI's lease rounds to a few seconds.
MAX_LEASE_STORM_S = 0.1
# Lease rounds per instance-storm round when --lease-rounds is not given: 10 in CI's 200.
LEASE_ROUND_EVERY = 20


class Tracked:
    """What the clients know about one instance."""

    def __init__(self, state, quota):
        self.state = state      # "live", "deleted", "maybe" (a destroy's outcome unknown)
        self.quota = quota      # None while a resize's outcome is unknown


class Client(threading.Thread):
    """One client of the storm: creates instances, then resizes and destroys its own (so the
    operations on one instance are sequential, and at most its last one has an unknown
    outcome when migd dies)."""

    def __init__(self, d, mine, rng):
        super().__init__(daemon=True)
        self.d, self.mine, self.rng = d, mine, rng
        self.unknown_creates = 0
        self.error = None

    def op(self, method, url, body=None):
        try:
            return migdtest.call(self.d.conn, method, url, body)
        except (OSError, ValueError, migdtest.http.client.HTTPException):
            return None  # migd died: the outcome is unknown

    def create(self):
        gpu = self.rng.choice([0, 1])
        if self.rng.random() < 0.5:
            body = {"gpu": gpu, "profile": self.rng.choice(PROFILES[gpu])}
        else:
            body = {"gpu": gpu, "memory_bytes": self.rng.randint(1, 8) * GIB,
                    "sms": self.rng.randint(1, 32)}
        r = self.op("POST", "/v1/instances", body)
        if r is None:
            self.unknown_creates += 1
            return False
        if r.status == 201:
            self.mine[r.json["uuid"]] = Tracked("live", r.json["quota_bytes"])
        elif r.status != 409:
            raise AssertionError("create %s: %s" % (body, r))
        return True

    def resize(self, uuid, t):
        quota, old = self.rng.randint(1, 8) * GIB, t.quota
        t.quota = None
        r = self.op("PATCH", "/v1/instances/" + uuid, {"quota_bytes": quota})
        if r is None:
            return False
        if r.status not in (200, 409):
            raise AssertionError("resize: %s" % r)
        t.quota = quota if r.status == 200 else old
        return True

    def destroy(self, uuid, t):
        t.state = "maybe"
        r = self.op("DELETE", "/v1/instances/" + uuid)
        if r is None:
            return False
        if r.status != 204:
            raise AssertionError("destroy: %s" % r)
        t.state = "deleted"
        return True

    def run(self):
        try:
            while True:
                live = [u for u, t in self.mine.items() if t.state == "live"]
                if live and (len(live) >= KEEP or self.rng.random() < 0.3):
                    u = self.rng.choice(live)
                    step = self.resize if self.rng.random() < 0.3 else self.destroy
                    ok = step(u, self.mine[u])
                else:
                    ok = self.create()
                if not ok:
                    return
        except Exception as e:  # reported by the main thread
            self.error = e


def check(d, clients):
    """The consistency checks of the module docstring. Returns the instances found."""
    inst = d.get("/v1/instances").json["instances"]
    gpus = d.get("/v1/gpus").json["gpus"]
    found = {i["uuid"]: i for i in inst}
    assert len(found) == len(inst), "duplicate instances"
    known, unknown_creates = {}, 0
    for c in clients:
        known.update(c.mine)
        unknown_creates += c.unknown_creates
    for u, t in known.items():
        if t.state == "live":
            assert u in found, "acknowledged instance %s lost" % u
            if t.quota is not None:
                assert found[u]["quota_bytes"] == t.quota, "quota of %s: %d, not %d" % (
                    u, found[u]["quota_bytes"], t.quota)
        elif t.state == "deleted":
            assert u not in found, "destroyed instance %s came back" % u
    phantoms = [u for u in found if u not in known]
    assert len(phantoms) <= unknown_creates, "phantom instances %s" % phantoms
    for g in gpus:
        quotas = sum(i["quota_bytes"] for i in inst if i["gpu"] == g["index"])
        assert quotas == g["allocated_bytes"] <= g["memory_bytes"], "GPU %d sums" % g["index"]
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = {r[0] for r in db.execute("SELECT uuid FROM instances")}
        assert rows == set(found), "database and API disagree"
        creates = dict(db.execute("SELECT subject, count(*) FROM events WHERE action = "
                                  "'instance.create' GROUP BY subject").fetchall())
        for u in found:
            assert creates.get(u) == 1, "instance %s has %s create events" % (u, creates.get(u))
    finally:
        db.close()
    return found


def redistribute(found, n):
    """After a check, what is there is live again and shared out among the next clients."""
    mines = [{} for _ in range(n)]
    for k, (u, i) in enumerate(sorted(found.items())):
        mines[k % n][u] = Tracked("live", i["quota_bytes"])
    return mines


class LeaseRounds:
    """The lease rounds of the module docstring, on a migd of their own."""

    def __init__(self, migd, rng):
        self.rng = rng
        self.d = migdtest.Migd(migd)
        self.storm = None
        self.startup_kills = 0

    def begin(self, storm):
        """Starts migd and the storm on a new instance, and checks once."""
        self.d.start()
        r = self.d.request("POST", "/v1/instances", {"gpu": 0, "memory_bytes": LEASE_QUOTA,
                                                      "sms": 8})
        assert r.status == 201, r
        self.u = r.json["uuid"]
        self.storm = migdtest.LeaseStorm(storm, self.d, LEASE_PROCS, LEASE_THREADS, LEASE_QUOTA)
        # Each process registered itself: those are the survivors a restarted migd waits for
        # before it grants again (its re-registration grace).
        for pid in self.storm.pids:
            r = self.d.request("POST", "/v1/instances/%s/processes" % self.u, {"pid": pid})
            assert r.status == 201, r
        self.storm.go()
        # Every process connected before the first kill, so that each kill costs each process
        # one reconnection at least (finish() counts them).
        time.sleep(MAX_LEASE_STORM_S)
        self.check()

    def leased(self):
        return self.d.get("/v1/instances/" + self.u).json["leased_bytes"]

    def round(self, rnd):
        d, rng = self.d, self.rng
        time.sleep(rng.uniform(0, MAX_LEASE_STORM_S))
        d.kill9()
        # One round in 5 also kills migd during its start-up, as the instance rounds do (one in
        # 10 there; here the clients may have said HELLO to it already). migd starts in about
        # 20 ms, so the kill falls anywhere from restore to serving.
        if rnd % 5 == 4:
            d.start(wait=False)
            time.sleep(rng.uniform(0, 0.02))
            d.kill9()
            self.startup_kills += 1
        d.start()
        end = time.monotonic() + rng.uniform(0, MAX_LEASE_STORM_S)
        while time.monotonic() < end:  # the grace, then the storm again
            leased = self.leased()
            assert leased <= LEASE_QUOTA, "migd's sum %d above the quota" % leased
        self.check()

    def check(self):
        """Pauses the storm (every client re-registered), compares, goes on."""
        s = self.storm.pause()
        leased = self.leased()
        assert s["held"] == leased <= LEASE_QUOTA, "clients hold %d, migd counts %d (%s)" % (
            s["held"], leased, s)
        for k in ("violations", "over", "mismatches"):
            assert s[k] == 0, "lease round: %s (%s)" % (k, s)
        self.storm.go()

    def finish(self, rounds):
        """Everyone exits: the sum returns to 0 and the instance is free. Returns the stats."""
        s = self.storm.quit()
        for k in ("held", "violations", "over", "mismatches"):
            assert s[k] == 0, "lease end: %s (%s)" % (k, s)
        # Every process re-registered after every restart (a pause PINGs), and once more when
        # it said HELLO to a migd killed during its start-up. Fewer would mean a client went
        # on with a dead connection, or never came back.
        assert s["reconnects"] >= rounds * LEASE_PROCS, "reconnects: %s" % s
        deadline = time.monotonic() + 5
        while self.leased() != 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.leased() == 0, "migd still counts %d after every client left" % self.leased()
        r = self.d.request("DELETE", "/v1/instances/" + self.u)
        assert r.status == 204, "the instance is still in use: %s" % r
        return s

    def close(self):
        if self.storm:
            self.storm.kill()
        self.d.kill9()
        shutil.rmtree(self.d.tmp, ignore_errors=True)


def run_lease_rounds(args, rng):
    """Returns 0, or 1 after printing what failed."""
    if not args.lease_storm or args.lease_rounds == 0:
        return 0
    t0 = time.monotonic()
    lr = LeaseRounds(os.path.abspath(args.migd), rng)
    rnd = 0
    try:
        lr.begin(os.path.abspath(args.lease_storm))
        for rnd in range(args.lease_rounds):
            lr.round(rnd)
        s = lr.finish(args.lease_rounds)
    except (AssertionError, RuntimeError) as e:
        print("crash: lease round %d FAILED: %s" % (rnd, e))
        print(lr.d.read_log()[-6000:])
        lr.close()
        return 1
    lr.close()
    print("crash: %d lease rounds (%d kills during start-up), %d x %d clients, %d reconnects, "
          "%d denials, migd's sum equal to the clients' after every restart and 0 at the end, "
          "%.1f s" % (args.lease_rounds, lr.startup_kills, LEASE_PROCS, LEASE_THREADS,
                      s["reconnects"], s["denials"], time.monotonic() - t0))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("migd")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--lease-storm", help="tests/daemon/lease-storm: run the lease rounds")
    ap.add_argument("--lease-rounds", type=int, default=None)
    args = ap.parse_args()
    if args.lease_rounds is None:
        args.lease_rounds = max(1, args.rounds // LEASE_ROUND_EVERY)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    d = migdtest.Migd(os.path.abspath(args.migd))
    print("crash: %d rounds, seed %d, state in %s" % (args.rounds, seed, d.tmp), flush=True)
    t0 = time.monotonic()
    mines = [{} for _ in range(THREADS)]
    changes = startup_kills = 0
    try:
        d.start()
        for rnd in range(args.rounds):
            if rnd % 10 == 9:  # kill during start-up: restore and reconciliation
                d.kill9()
                d.start(wait=False)
                time.sleep(rng.uniform(0, 0.02))
                d.kill9()
                startup_kills += 1
                d.start()
            clients = [Client(d, mines[i], random.Random(rng.random())) for i in range(THREADS)]
            for c in clients:
                c.start()
            time.sleep(rng.uniform(0, MAX_STORM_S))
            d.kill9()
            for c in clients:
                c.join(30)
                if c.error:
                    raise c.error
            d.start()
            found = check(d, clients)
            changes += sum(len(c.mine) for c in clients)
            mines = redistribute(found, THREADS)
    except (AssertionError, RuntimeError) as e:
        print("crash: FAILED in round %d (seed %d): %s" % (rnd, seed, e))
        print(d.read_log()[-3000:])
        d.kill9()
        return 1
    d.stop()
    shutil.rmtree(d.tmp, ignore_errors=True)
    print("crash: %d rounds (%d kills during start-up), %d instances tracked, consistent every "
          "time, %.1f s" % (args.rounds, startup_kills, changes, time.monotonic() - t0),
          flush=True)
    return run_lease_rounds(args, rng)


if __name__ == "__main__":
    sys.exit(main())
