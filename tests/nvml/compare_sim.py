#!/usr/bin/env python3
"""compare_sim.py - the simulator and the NVML backend give the same output.

For every model of the catalog, runs one sequence of migctl commands twice, in two fresh
state directories: once with the simulator backend, once with the NVML backend against the
fake libnvidia-ml.so.1 (which serves the same kind of machine). Every command's output
(stdout and stderr) and exit status must be identical once the random UUIDs, the state
directory and the backend's own name are normalised.

The sequence covers every listing in text and JSON, the status picture, every profile created
with its default CI and torn down, every possible placement of every profile, filling the GPU
with automatic placement until it runs out, each CI profile of the largest GI, a GI marked
busy, MIG mode off and on, and bad input.

Usage: compare_sim.py MIGCTL FAKE_NVML_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

UUID = re.compile(r"(GPU|MIG)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BACKEND = re.compile(r'("backend": "|backend )(sim|nvml)')


class World:
    """One state directory and one backend."""

    def __init__(self, migctl, backend, fake_dir):
        self.migctl = migctl
        self.dir = tempfile.mkdtemp(prefix="migkit-compare-%s-" % backend)
        self.env = dict(os.environ, MIGKIT_STATE_DIR=self.dir, MIGKIT_BACKEND=backend,
                        NO_COLOR="1")
        self.env.pop("MIGKIT_CATALOG", None)
        if backend == "nvml":
            self.env["LD_LIBRARY_PATH"] = fake_dir

    def run(self, args):
        p = subprocess.run([self.migctl] + args, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        out = UUID.sub(r"\1-UUID", p.stdout).replace(self.dir, "$STATE")
        return p.returncode, BACKEND.sub(r"\1BACKEND", out)

    def json(self, args):
        rc, out = self.run(args + ["--json"])
        if rc != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(args), rc, out))
        return json.loads(out)

    def remove(self):
        subprocess.run(["rm", "-rf", self.dir], check=True)


def sequence(profiles, ci_profiles_of_largest, largest_gi):
    """The commands for a model, from its -lgip JSON (profiles in row order)."""
    cmds = [["-L"], ["-L", "--json"], ["mig", "-lgip"], ["mig", "-lgipp"],
            ["mig", "-lgip", "--json"], ["mig", "-lgi"], ["mig", "-lci"], ["status"],
            ["status", "--json"]]
    for p in profiles:
        cmds += [["mig", "-cgi", str(p["id"]), "-C"], ["mig", "-lgi"], ["mig", "-lcip"],
                 ["mig", "-lci"], ["-L"], ["mig", "-lgip"], ["status"], ["mig", "-dci"],
                 ["mig", "-dgi"]]
    for p in profiles:
        items = ",".join("%d:%d" % (p["id"], s) for s in p["placement_starts"])
        cmds += [["mig", "-cgi", items], ["mig", "-lgi", "--json"], ["mig", "-lgip", "--json"],
                 ["mig", "-dgi"]]
    smallest = profiles[0]
    cmds += [["mig", "-cgi", ",".join([str(smallest["id"])] * (smallest["total"] + 1)), "-C"],
             ["mig", "-lgi"], ["mig", "-lci", "--json"], ["mig", "-lcip", "--json"], ["-L"],
             ["status", "--json"], ["mig", "-cgi", str(profiles[-1]["id"])],
             ["mig", "-dgi"], ["mig", "-dci"], ["mig", "-dgi"]]
    # the largest GI: each of its CI profiles, then busy, then MIG mode off and on
    cmds += [["mig", "-cgi", str(largest_gi)]]
    for ci in ci_profiles_of_largest:
        cmds += [["mig", "-cci", str(ci), "-gi", "0"], ["mig", "-lci"], ["mig", "-lcip"]]
    cmds += [["mig", "-lci", "--json"], ["sim", "busy", "0"], ["mig", "-dci"], ["mig", "-dgi"],
             ["mig", "-lgi", "--json"], ["status"], ["sim", "busy", "0", "--clear"],
             ["mig", "-dci", "-ci", "0"], ["mig", "-dci"], ["mig", "-dgi"], ["-mig", "0"],
             ["mig", "-lgip"], ["mig", "-lgi"], ["mig", "-cgi", str(smallest["id"])], ["-L"],
             ["status"], ["-mig", "1"], ["mig", "-cgi", "99"], ["mig", "-dgi", "-gi", "3"],
             ["-i", "1", "mig", "-lgi"], ["mig", "-cci", "-gi", "5"]]
    return cmds


def compare_model(migctl, fake_dir, slug):
    sim, nvml = World(migctl, "sim", fake_dir), World(migctl, "nvml", fake_dir)
    diffs = []
    try:
        for w in (sim, nvml):
            rc, out = w.run(["sim", "init", "--gpu", slug])
            if rc != 0:
                raise RuntimeError("sim init %s: %s" % (slug, out))
        profiles = sim.json(["mig", "-lgip"])
        largest = profiles[-1]
        # the CI profiles of the largest GI, from a GI made and removed in the sim world
        sim.run(["mig", "-cgi", str(largest["id"])])
        cis = [c["id"] for c in sim.json(["mig", "-lcip"])]
        sim.run(["mig", "-dgi"])
        # the full-GPU GI has ID 0 on every model (mig-gpus §6.3)
        for cmd in sequence(profiles, cis, largest["id"]):
            a, b = sim.run(cmd), nvml.run(cmd)
            if a != b:
                diffs.append((cmd, a, b))
    finally:
        sim.remove()
        nvml.remove()
    return diffs


def main():
    migctl, fake_dir = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    env.pop("MIGKIT_CATALOG", None)
    slugs = [m["slug"] for m in json.loads(subprocess.run(
        [migctl, "gpus", "--json"], env=env, check=True, stdout=subprocess.PIPE,
        text=True).stdout)]
    failed = 0
    for slug in slugs:
        diffs = compare_model(migctl, fake_dir, slug)
        print("%-20s %s" % (slug, "same" if not diffs else "%d differences" % len(diffs)))
        for cmd, (rc_a, a), (rc_b, b) in diffs[:3]:
            print("  $ migctl %s\n  --- sim (exit %d)\n%s  --- nvml (exit %d)\n%s" %
                  (" ".join(cmd), rc_a, a, rc_b, b))
        failed += bool(diffs)
    print("%d of %d models differ" % (failed, len(slugs)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
