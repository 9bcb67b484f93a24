#!/usr/bin/env python3
"""Check the GPU catalog files in data/gpus/*.json.

Checks (see docs/catalog.md and shared/reference/mig-gpus.md §2.4):
  * required fields and their types, model and profile level;
  * slug matches the file name, PCI IDs in 0xDDDD10DE form;
  * the total memory fits the name base: (base-1)*1024 < T <= base*1024, T >= every profile MiB;
  * every profile name follows the naming rule:
        frac = ceil(memory_mib / T * 8) / 8
        N    = round_half_away(frac * name_base_gib)
        name = "<g>g.<N>gb" + suffix of the NVML constant
    (names_alt, e.g. early GB200 board names, are exempt);
  * g of the name matches compute_slices and the NVML constant;
  * every start + mem_slices fits the grid and every start is aligned (multiple of mem_slices);
  * auto_order is a permutation of starts;
  * ci entries name CI profiles of the model, ci_default is one of ci;
  * profile IDs and names are unique, unverified lists use known field names;
  * counts and string lengths fit the loader's fixed buffers (include/migkit/catalog.h).

Memory alternatives (memory_mib_alt) come from other drivers whose totals may differ, so a
name mismatch there is only reported as a warning.

Usage: python3 data/check_names.py [FILE.json ...]   (default: every data/gpus/*.json)
Exit status 0 when every file passes, 1 otherwise.
"""
import glob
import json
import os
import re
import sys

NVML = {  # constant -> (g, suffix)
    "1_SLICE": (1, ""), "1_SLICE_REV1": (1, "+me"), "1_SLICE_REV2": (1, ""),
    "1_SLICE_GFX": (1, "+gfx"), "1_SLICE_NO_ME": (1, "-me"), "1_SLICE_ALL_ME": (1, "+me.all"),
    "2_SLICE": (2, ""), "2_SLICE_REV1": (2, "+me"), "2_SLICE_GFX": (2, "+gfx"),
    "2_SLICE_NO_ME": (2, "-me"), "2_SLICE_ALL_ME": (2, "+me.all"),
    "3_SLICE": (3, ""), "3_SLICE_GFX": (3, "+gfx"),
    "4_SLICE": (4, ""), "4_SLICE_GFX": (4, "+gfx"),
    "6_SLICE": (6, ""), "7_SLICE": (7, ""), "8_SLICE": (8, ""),
}

MODEL_FIELDS = {
    "slug": str, "name": str, "names_alt": list, "pci_device_ids": list, "arch": str,
    "chip": str, "compute_capability": str, "min_driver": str, "memory_mib": int,
    "name_base_gib": int, "sm_total": int, "grid": int, "compute_slices": int, "max_gis": int,
    "gi_id_unit": int, "pcie_board": bool, "unverified": list, "notes": list,
    "ci_profiles": list, "gi_profiles": list,
}
PROFILE_FIELDS = {
    "name": str, "id": int, "nvml": str, "mem_slices": int, "compute_slices": int, "sms": int,
    "memory_mib": int, "dec": int, "enc": int, "ce": int, "jpeg": int, "ofa": int, "max": int,
    "starts": list, "auto_order": list, "ci": list, "ci_default": int,
    "memory_mib_alt": list, "names_alt": list, "unverified": list,
}
PROFILE_UNVERIFIED = {"id", "sms", "memory_mib", "engines", "starts", "auto_order", "max", "ci"}
# Model-level unverified names: model fields plus "gi_ids" (driver-assigned GI IDs, PCIe boards).
MODEL_UNVERIFIED = set(MODEL_FIELDS) | {"gi_ids"}
# Sizes of the loader's fixed buffers (include/migkit/catalog.h); longer strings would be cut.
LIMITS = {"notes": 8, "note_bytes": 255, "alts": 4, "alt_note_bytes": 95, "pci_ids": 8,
          "profiles": 24, "starts": 16, "ci_profiles": 10, "profile_name_bytes": 63,
          "model_name_bytes": 95, "min_driver_bytes": 63, "arch_bytes": 31, "cc_bytes": 7}
PCI_RE = re.compile(r"^0x[0-9A-F]{4}10DE$")


def ceil_div(a, b):
    return -(-a // b)


def expected_name(memory_mib, total_mib, base, nvml):
    """Name rule of reference §2.4, in exact integer arithmetic."""
    g, suffix = NVML[nvml]
    eighths = ceil_div(memory_mib * 8, total_mib)        # frac = eighths / 8
    # N = round_half_away(eighths * base / 8) = floor((eighths*base + 4) / 8) for positive values
    n = (eighths * base + 4) // 8
    return "%dg.%dgb%s" % (g, n, suffix)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Checker:
    def __init__(self, path):
        self.path = path
        self.errors = []
        self.warnings = []

    def err(self, where, msg):
        self.errors.append("%s: %s: %s" % (self.path, where, msg))

    def warn(self, where, msg):
        self.warnings.append("%s: %s: %s" % (self.path, where, msg))

    def limit(self, where, n, most, what="entries"):
        if n > most:
            self.err(where, "%d %s, more than the loader's limit of %d" % (n, what, most))

    def types(self, obj, fields, where):
        ok = True
        for k, t in fields.items():
            if k not in obj:
                self.err(where, "missing field '%s'" % k)
                ok = False
            elif t is int and not is_int(obj[k]):
                self.err(where + "." + k, "expected an integer, got %r" % (obj[k],))
                ok = False
            elif t is not int and not isinstance(obj[k], t):
                self.err(where + "." + k, "expected %s, got %r" % (t.__name__, obj[k]))
                ok = False
        for k in obj:
            if k not in fields:
                self.err(where, "unknown field '%s'" % k)
        return ok

    def run(self):
        try:
            with open(self.path) as f:
                m = json.load(f)
        except (OSError, ValueError) as e:
            self.err("file", "cannot load JSON: %s" % e)
            return
        if not isinstance(m, dict):
            self.err("file", "top level is not an object")
            return
        if not self.types(m, MODEL_FIELDS, "model"):
            return

        slug = os.path.splitext(os.path.basename(self.path))[0]
        if m["slug"] != slug:
            self.err("slug", "'%s' does not match the file name '%s'" % (m["slug"], slug))
        if not m["pci_device_ids"]:
            self.err("pci_device_ids", "empty")
        for p in m["pci_device_ids"]:
            if not isinstance(p, str) or not PCI_RE.match(p):
                self.err("pci_device_ids", "%r is not of the form 0xDDDD10DE (uppercase hex)" % (p,))
        if len(set(m["pci_device_ids"])) != len(m["pci_device_ids"]):
            self.err("pci_device_ids", "duplicate IDs")
        if m["name"] in m["names_alt"]:
            self.err("names_alt", "repeats the name")
        for k in m["unverified"]:
            if k not in MODEL_UNVERIFIED:
                self.err("unverified", "'%s' is not a model field (or gi_ids)" % (k,))
        for n in m["notes"]:
            if not isinstance(n, str):
                self.err("notes", "%r is not a string" % (n,))
            elif len(n.encode()) > LIMITS["note_bytes"]:
                self.err("notes", "a note is %d bytes, more than %d: %.40s..."
                         % (len(n.encode()), LIMITS["note_bytes"], n))
        self.limit("notes", len(m["notes"]), LIMITS["notes"])
        self.limit("names_alt", len(m["names_alt"]), LIMITS["alts"])
        self.limit("pci_device_ids", len(m["pci_device_ids"]), LIMITS["pci_ids"])
        self.limit("gi_profiles", len(m["gi_profiles"]), LIMITS["profiles"])
        self.limit("ci_profiles", len(m["ci_profiles"]), LIMITS["ci_profiles"])
        for k, lim in (("name", "model_name_bytes"), ("min_driver", "min_driver_bytes"),
                       ("arch", "arch_bytes"), ("chip", "arch_bytes"),
                       ("compute_capability", "cc_bytes"), ("slug", "profile_name_bytes")):
            self.limit(k, len(m[k].encode()), LIMITS[lim], "bytes")
        for n in m["names_alt"]:
            self.limit("names_alt", len(str(n).encode()), LIMITS["model_name_bytes"], "bytes")
        if m["grid"] not in (4, 8, 12):
            self.err("grid", "%d is not 4, 8 or 12" % m["grid"])
        if m["grid"] % m["gi_id_unit"] or m["gi_id_unit"] < 1:
            self.err("gi_id_unit", "%d does not divide the grid %d" % (m["gi_id_unit"], m["grid"]))

        total, base = m["memory_mib"], m["name_base_gib"]
        if not ((base - 1) * 1024 < total <= base * 1024):
            self.err("memory_mib", "%d MiB is outside the name base %d GiB: need %d < T <= %d"
                     % (total, base, (base - 1) * 1024, base * 1024))

        ci_ids = {}
        for i, c in enumerate(m["ci_profiles"]):
            w = "ci_profiles[%d]" % i
            if not isinstance(c, dict) or set(c) != {"id", "slices"} or not is_int(c["id"]) \
                    or not is_int(c["slices"]):
                self.err(w, "expected {\"id\": int, \"slices\": int}, got %r" % (c,))
                continue
            if c["id"] in ci_ids:
                self.err(w, "duplicate CI profile id %d" % c["id"])
            ci_ids[c["id"]] = c["slices"]

        if not m["gi_profiles"]:
            self.err("gi_profiles", "empty")
        ids, names = set(), set()
        for i, p in enumerate(m["gi_profiles"]):
            w = "gi_profiles[%d]" % i
            if not isinstance(p, dict):
                self.err(w, "not an object")
                continue
            if isinstance(p.get("name"), str):
                w = "gi_profiles[%d] %s" % (i, p["name"])
            if not self.types(p, PROFILE_FIELDS, w):
                continue
            self.profile(m, p, w, ci_ids)
            if p["id"] in ids:
                self.err(w + ".id", "duplicate profile id %d" % p["id"])
            ids.add(p["id"])
            for n in [p["name"]] + p["names_alt"]:
                if n in names:
                    self.err(w + ".name", "duplicate profile name '%s'" % n)
                names.add(n)

        full = max((p["memory_mib"] for p in m["gi_profiles"] if is_int(p.get("memory_mib"))),
                   default=0)
        if total < full:
            self.err("memory_mib", "total %d MiB is below the largest profile (%d MiB)" % (total, full))

    def profile(self, m, p, w, ci_ids):
        grid, total, base = m["grid"], m["memory_mib"], m["name_base_gib"]
        if p["nvml"] not in NVML:
            self.err(w + ".nvml", "unknown NVML constant '%s'" % p["nvml"])
            return
        g, _ = NVML[p["nvml"]]
        if p["compute_slices"] != g:
            self.err(w + ".compute_slices", "%d, but %s gives %d" % (p["compute_slices"], p["nvml"], g))
        if not 1 <= g <= m["compute_slices"]:
            self.err(w + ".compute_slices", "%d exceeds the GPU's %d" % (g, m["compute_slices"]))

        want = expected_name(p["memory_mib"], total, base, p["nvml"])
        if p["name"] != want:
            self.err(w + ".name", "naming rule gives '%s' (memory %d MiB, total %d MiB, base %d)"
                     % (want, p["memory_mib"], total, base))
        if p["memory_mib"] <= 0 or p["memory_mib"] % 64:
            self.err(w + ".memory_mib", "%d is not a positive multiple of 64 MiB" % p["memory_mib"])
        for j, a in enumerate(p["memory_mib_alt"]):
            if not isinstance(a, dict) or set(a) != {"mib", "note"} or not is_int(a["mib"]) \
                    or not isinstance(a["note"], str) or not a["note"]:
                self.err("%s.memory_mib_alt[%d]" % (w, j), "expected {\"mib\": int, \"note\": str}")
                continue
            self.limit("%s.memory_mib_alt[%d].note" % (w, j), len(a["note"].encode()),
                       LIMITS["alt_note_bytes"], "bytes")
            alt = expected_name(a["mib"], total, base, p["nvml"])
            if alt != p["name"] and alt not in p["names_alt"]:
                self.warn("%s.memory_mib_alt[%d]" % (w, j),
                          "%d MiB would be named '%s' with this total" % (a["mib"], alt))

        for k in ("sms", "dec", "enc", "ce", "jpeg", "ofa"):
            if p[k] < 0:
                self.err(w + "." + k, "negative")
        if p["sms"] <= 0 or p["sms"] > m["sm_total"]:
            self.err(w + ".sms", "%d is not in 1..sm_total (%d)" % (p["sms"], m["sm_total"]))
        if not 1 <= p["max"] <= m["max_gis"]:
            self.err(w + ".max", "%d is not in 1..max_gis (%d)" % (p["max"], m["max_gis"]))

        self.limit(w + ".memory_mib_alt", len(p["memory_mib_alt"]), LIMITS["alts"])
        self.limit(w + ".names_alt", len(p["names_alt"]), LIMITS["alts"])
        self.limit(w + ".starts", len(p["starts"]), LIMITS["starts"])
        for n in [p["name"]] + p["names_alt"]:
            self.limit(w + ".name", len(str(n).encode()), LIMITS["profile_name_bytes"], "bytes")
        size = p["mem_slices"]
        if not 1 <= size <= grid:
            self.err(w + ".mem_slices", "%d is not in 1..grid (%d)" % (size, grid))
            return
        starts = p["starts"]
        if not starts:
            self.err(w + ".starts", "empty")
        for s in starts:
            if not is_int(s) or s < 0 or s + size > grid:
                self.err(w + ".starts", "start %r + size %d does not fit the grid of %d" % (s, size, grid))
            elif s % size:
                self.err(w + ".starts", "start %d is not a multiple of the size %d" % (s, size))
        if len(set(starts)) != len(starts) or starts != sorted(starts):
            self.err(w + ".starts", "%r is not strictly increasing" % (starts,))
        if sorted(p["auto_order"]) != sorted(starts):
            self.err(w + ".auto_order", "%r is not a permutation of starts %r" % (p["auto_order"], starts))
        if p["max"] > len(starts):
            self.err(w + ".max", "%d exceeds the %d possible placements" % (p["max"], len(starts)))

        if not p["ci"]:
            self.err(w + ".ci", "empty")
        for c in p["ci"]:
            if c not in ci_ids:
                self.err(w + ".ci", "CI profile %r is not in the model's ci_profiles" % (c,))
            elif ci_ids[c] > g:
                self.err(w + ".ci", "CI profile %d has %d slices, more than the GI's %d" % (c, ci_ids[c], g))
        if len(set(p["ci"])) != len(p["ci"]):
            self.err(w + ".ci", "duplicate entries")
        if p["ci_default"] not in p["ci"]:
            self.err(w + ".ci_default", "%d is not one of ci %r" % (p["ci_default"], p["ci"]))

        for k in p["unverified"]:
            if k not in PROFILE_UNVERIFIED:
                self.err(w + ".unverified", "'%s' is not one of %s" % (k, sorted(PROFILE_UNVERIFIED)))
        if len(set(p["unverified"])) != len(p["unverified"]):
            self.err(w + ".unverified", "duplicate entries")
        if "starts" in p["unverified"] and "auto_order" not in p["unverified"]:
            self.err(w + ".unverified", "starts is unverified but auto_order is not")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    files = argv[1:] or sorted(glob.glob(os.path.join(here, "gpus", "*.json")))
    if not files:
        print("check_names: no catalog files found", file=sys.stderr)
        return 1
    nerr = nwarn = 0
    for path in files:
        c = Checker(os.path.relpath(path))
        c.run()
        for w in c.warnings:
            print("WARNING " + w)
        for e in c.errors:
            print("ERROR " + e)
        nerr += len(c.errors)
        nwarn += len(c.warnings)
        if not c.errors:
            print("ok      %s" % os.path.relpath(path))
    print("%d file(s), %d error(s), %d warning(s)" % (len(files), nerr, nwarn))
    return 1 if nerr else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
