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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("migd")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
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
          "time, %.1f s" % (args.rounds, startup_kills, changes, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
