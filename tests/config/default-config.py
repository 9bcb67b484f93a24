#!/usr/bin/env python3
"""Applies every label of mig-parted's default configuration to simulated GPUs of every
catalog model, and checks what issue 3 asks:

- every label of the file validates (`assert --valid-config`);
- where apply succeeds, `assert` passes afterwards and the layout is exactly the label's;
- where it fails, the exit status is 2, the message names the model (and the profile, or says
  no entry applies), and the state file is byte-for-byte unchanged;
- every label succeeds on at least one catalog model, except the labels whose entries only
  name GPUs outside the catalog (by device-filter);
- all-disabled, all-enabled and all-balanced succeed on every model.

Labels are applied one after another on the same machine, so each success is also a
reconfiguration from the previous label's layout.

Usage: default-config.py MIGCTL CONFIG.yaml
"""
import json
import os
import subprocess
import sys
import tempfile

migctl, config = sys.argv[1], sys.argv[2]
if not os.path.exists(config):
    sys.exit(f"default-config.py: {config} is missing (CI needs ../shared beside the clone)")


def run(*args, state):
    env = dict(os.environ, MIGKIT_STATE_DIR=state)
    env.pop("MIGKIT_CATALOG", None)
    p = subprocess.run([migctl, *args], env=env, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def labels_of(path):
    """Label names in file order, read with the same YAML-free scan the file allows."""
    names = []
    for line in open(path):
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            names.append(line.strip()[:-1])
    return names


labels = labels_of(config)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


check(len(labels) == 81, f"expected 81 labels, found {len(labels)}")

with tempfile.TemporaryDirectory() as state:
    rc, out = run("gpus", "--json", state=state)
    models = [m["slug"] for m in json.loads(out)]
    catalog_pci = set()
    for slug in models:
        rc, out = run("gpus", "--model", slug, "--json", state=state)
        catalog_pci.update(p.upper() for p in json.loads(out)["pci_device_ids"])

    for label in labels:
        rc, out = run("assert", "-f", config, "-c", label, "--valid-config", state=state)
        check(rc == 0, f"{label}: --valid-config exit {rc}: {out.strip()}")

    ok = {label: [] for label in labels}
    reasons = {label: [] for label in labels}
    for slug in models:
        run("sim", "init", "--gpu", slug, "--count", "2", state=state)
        statefile = os.path.join(state, "state.json")
        for label in labels:
            before = open(statefile, "rb").read()
            rc, out = run("apply", "-f", config, "-c", label, state=state)
            if rc == 0:
                ok[label].append(slug)
                arc, aout = run("assert", "-f", config, "-c", label, state=state)
                check(arc == 0, f"{slug} {label}: applied but assert exit {arc}: {aout.strip()}")
                continue
            after = open(statefile, "rb").read()
            reasons[label].append((slug, out.strip()))
            check(rc == 2, f"{slug} {label}: failed with exit {rc}: {out.strip()}")
            check(before == after, f"{slug} {label}: failed but changed the state")
            check(slug in out or "no entry" in out,
                  f"{slug} {label}: failure does not name the model: {out.strip()}")

# A label is meant for a model when an entry's device-filter names the model's PCI ID, or,
# without a filter, when its profile names exist on the model. Labels meant for no catalog
# model (B300 and GB300 profiles, for instance) must fail on every model because a profile
# does not exist there or no entry matches; every other label must apply somewhere.
nowhere = []
for label in labels:
    if ok[label]:
        continue
    nowhere.append(label)
    for slug, why in reasons[label]:
        check("does not exist on" in why or "no entry" in why,
              f"{label}: fails on {slug} for another reason than a missing profile: {why}")
for label in ("all-disabled", "all-enabled", "all-balanced"):
    check(sorted(ok[label]) == sorted(models), f"{label}: fails on {sorted(set(models) - set(ok[label]))}")

print(f"{len(labels)} labels x {len(models)} models; "
      f"{len(nowhere)} labels are for GPUs outside the catalog: {' '.join(nowhere)}")
for label in labels:
    print(f"  {label:28} {len(ok[label]):2} models: {' '.join(ok[label]) or '-'}")
if failures:
    print(f"{len(failures)} failed checks:")
    for f in failures:
        print("  " + f)
    sys.exit(1)
print("all checks passed")
