#!/usr/bin/env python3
"""test_pynvml.py - NVIDIA's own NVML bindings (nvidia-ml-py, import pynvml) against the fake.

A client migkit did not write must agree with the fake libnvidia-ml.so.1, and see what the
catalog and migctl show for the same machine. For every catalog model this script builds the
machine with `migctl sim init`, then through pynvml: lists GPUs (name, UUID, PCI), reads MIG
mode, asks every GPU-instance profile constant for its profile (v2 and v1 structs through
pynvml, v3 through the same library by hand), reads the possible placements and remaining
capacity, creates a GI at an explicit placement and its default CI, lists the MIG devices
(UUID, IDs, memory), sees a busy GI as a running process, checks two error codes, and
destroys it all -- comparing each value with `migctl --json` (docs/json.md) and the catalog
(`migctl gpus --model SLUG --json`).

Usage (the nvml-pynvml ctest, in the venv the nvml-pynvml-venv fixture makes):
    python test_pynvml.py MIGCTL FAKE_NVML_DIR
"""
import ctypes
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile

MIB = 1 << 20


def reexec_with_fake(fake_dir):
    """ctypes loads libnvidia-ml.so.1 with dlopen, which reads LD_LIBRARY_PATH only at start."""
    paths = os.environ.get("LD_LIBRARY_PATH", "").split(":")
    if fake_dir not in paths:
        os.environ["LD_LIBRARY_PATH"] = ":".join([fake_dir] + [p for p in paths if p])
        os.execv(sys.executable, [sys.executable] + sys.argv)


MIGCTL, FAKE = sys.argv[1], os.path.abspath(sys.argv[2])
reexec_with_fake(FAKE)
import pynvml  # noqa: E402  (after the re-exec: the library path must be set first)

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def migctl(*args, ok=True):
    """Runs migctl with the NVML backend; returns parsed JSON when --json is given."""
    env = dict(os.environ, MIGKIT_BACKEND="nvml")
    env.pop("MIGKIT_CATALOG", None)
    p = subprocess.run([MIGCTL] + list(args), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    if ok and p.returncode != 0:
        raise AssertionError("migctl %s: exit %d: %s%s" % (" ".join(args), p.returncode,
                                                            p.stdout, p.stderr))
    return json.loads(p.stdout) if "--json" in args and p.returncode == 0 else p


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def nvml_code(fn, *args):
    """The NVML return code of a pynvml call (0 for success)."""
    try:
        fn(*args)
        return 0
    except pynvml.NVMLError as e:
        return e.value


class ProfileInfoV3(ctypes.Structure):
    """nvmlGpuInstanceProfileInfo_v3_t (nvml-mig-api.md §5.4): pynvml has only v2."""
    _fields_ = [("version", ctypes.c_uint), ("id", ctypes.c_uint), ("sliceCount", ctypes.c_uint),
                ("instanceCount", ctypes.c_uint), ("multiprocessorCount", ctypes.c_uint),
                ("copyEngineCount", ctypes.c_uint), ("decoderCount", ctypes.c_uint),
                ("encoderCount", ctypes.c_uint), ("jpegCount", ctypes.c_uint),
                ("ofaCount", ctypes.c_uint), ("memorySizeMB", ctypes.c_ulonglong),
                ("name", ctypes.c_char * 96), ("capabilities", ctypes.c_uint)]


def profile_v3(dev, const):
    info = ProfileInfoV3(version=0x03000098)
    rc = pynvml.nvmlLib.nvmlDeviceGetGpuInstanceProfileInfoV(dev, ctypes.c_uint(const),
                                                             ctypes.byref(info))
    return rc, info


def driver_profiles(dev):
    """Every profile the driver reports, by constant (nvml-mig-api.md §7.2)."""
    found = {}
    for const in range(pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
        try:
            info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(dev, const)
        except pynvml.NVMLError as e:
            check(e.value in (pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVML_ERROR_INVALID_ARGUMENT),
                  "constant %d: unexpected %s" % (const, e))
            continue
        found[const] = info
    return found


def placements(dev, profile_id):
    count = ctypes.c_uint(0)
    pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(dev, profile_id, None, ctypes.byref(count))
    arr = (pynvml.c_nvmlGpuInstancePlacement_t * count.value)()
    pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(dev, profile_id, arr, ctypes.byref(count))
    return [(p.start, p.size) for p in arr[:count.value]]


def check_identity(slug, dev):
    gpu = migctl("-L", "--json")[0]
    model = migctl("gpus", "--model", slug, "--json")
    check(text(pynvml.nvmlDeviceGetName(dev)) == gpu["name"] == model["name"], "name")
    check(text(pynvml.nvmlDeviceGetUUID(dev)) == gpu["uuid"], "UUID")
    pci = pynvml.nvmlDeviceGetPciInfo(dev)
    check(text(pci.busId) == gpu["pci_bus_id"], "PCI bus ID")
    check("0x%08X" % pci.pciDeviceId == model["pci_device_ids"][0], "PCI device ID")
    check(pynvml.nvmlDeviceGetMigMode(dev) == [1, 1], "MIG mode")
    check(pynvml.nvmlDeviceGetMemoryInfo(dev).total == gpu["memory_mib"] * MIB, "memory")


def check_profiles(dev):
    """GI profile info by NVML constant -> the catalog's device-specific ID, memory, SMs."""
    rows = {p["id"]: p for p in migctl("mig", "-lgip", "--json")}
    found = driver_profiles(dev)
    check(sorted(i.id for i in found.values()) == sorted(rows), "the set of profile IDs")
    for const, info in found.items():
        row = rows[info.id]
        check(getattr(pynvml, "NVML_GPU_INSTANCE_PROFILE_" + row["nvml_profile"]) == const,
              "profile %d answers to constant %s" % (info.id, row["nvml_profile"]))
        check(info.memorySizeMB == row["memory_mib"], "profile %d memory" % info.id)
        check(info.multiprocessorCount == row["sm"], "profile %d SMs" % info.id)
        check(info.instanceCount == row["total"], "profile %d max" % info.id)
        check((info.decoderCount, info.encoderCount, info.copyEngineCount, info.jpegCount,
               info.ofaCount) == (row["dec"], row["enc"], row["ce"], row["jpeg"], row["ofa"]),
              "profile %d engines" % info.id)
        check(text(info.name) == row["name"], "profile %d name" % info.id)
        v1 = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(dev, const, version=1)
        check((v1.id, v1.memorySizeMB) == (info.id, info.memorySizeMB), "v1 struct")
        rc, v3 = profile_v3(dev, const)
        check(rc == 0 and (v3.id, v3.memorySizeMB, v3.multiprocessorCount, text(v3.name)) ==
              (info.id, info.memorySizeMB, info.multiprocessorCount, text(info.name)),
              "v3 struct of profile %d" % info.id)
        check(placements(dev, info.id) ==
              [(s, row["placement_size"]) for s in row["placement_starts"]],
              "profile %d placements" % info.id)
        check(pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(dev, info.id) == row["free"],
              "profile %d remaining capacity" % info.id)
    bad = ProfileInfoV3(version=0x01000098)
    rc = pynvml.nvmlLib.nvmlDeviceGetGpuInstanceProfileInfoV(dev, ctypes.c_uint(0),
                                                             ctypes.byref(bad))
    check(rc == pynvml.NVML_ERROR_INVALID_ARGUMENT, "a wrong version word is refused")
    return rows


def check_instances(dev, rows):
    """A GI at an explicit placement and its default CI; MIG devices; busy; teardown."""
    # the smallest profile, at its last possible placement (never the automatic choice)
    row = next(iter(rows.values()))
    start = row["placement_starts"][-1]
    # pynvml passes the placement through as given; the C function takes a pointer
    place = pynvml.c_nvmlGpuInstancePlacement_t(start, row["placement_size"])
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(dev, row["id"], ctypes.byref(place))
    info = pynvml.nvmlGpuInstanceGetInfo(gi)
    listed = migctl("mig", "-lgi", "--json")
    check(len(listed) == 1 and listed[0]["id"] == info.id, "migctl sees the GI")
    check((info.profileId, info.placement.start, info.placement.size) ==
          (listed[0]["profile_id"], listed[0]["placement_start"], listed[0]["placement_size"]),
          "GI info")
    check(nvml_code(pynvml.nvmlDeviceCreateGpuInstanceWithPlacement, dev, row["id"],
                    ctypes.byref(place)) ==
          pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES, "the same placement twice")
    default = [c for c in migctl("mig", "-lcip", "--json") if c["default"]][0]
    cprof = pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(
        gi, default["id"], pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
    check(cprof.id == default["id"] and cprof.multiprocessorCount == default["sm"], "CI profile")
    ci = pynvml.nvmlGpuInstanceCreateComputeInstance(gi, cprof.id)
    cinfo = pynvml.nvmlComputeInstanceGetInfo(ci)
    devs = migctl("-L", "--json")[0]["mig_devices"]
    check(len(devs) == 1 and devs[0]["id"] == cinfo.id, "migctl sees the MIG device")
    mig = None
    for k in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(dev)):
        try:
            mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(dev, k)
            break
        except pynvml.NVMLError_NotFound:
            continue
    check(mig is not None, "a MIG device handle")
    check(text(pynvml.nvmlDeviceGetUUID(mig)) == devs[0]["uuid"], "MIG device UUID")
    check(pynvml.nvmlDeviceGetGpuInstanceId(mig) == info.id, "MIG device GI ID")
    check(pynvml.nvmlDeviceGetComputeInstanceId(mig) == cinfo.id, "MIG device CI ID")
    check(pynvml.nvmlDeviceGetMemoryInfo(mig).total == row["memory_mib"] * MIB,
          "MIG device memory")
    check(pynvml.nvmlDeviceIsMigDeviceHandle(mig).value == 1, "is a MIG handle")
    check(pynvml.nvmlDeviceGetComputeRunningProcesses(mig) == [], "no processes")
    migctl("sim", "busy", str(info.id))
    procs = pynvml.nvmlDeviceGetComputeRunningProcesses(mig)
    check(len(procs) == 1 and procs[0].gpuInstanceId == info.id, "a busy GI runs a process")
    check(nvml_code(pynvml.nvmlComputeInstanceDestroy, ci) == pynvml.NVML_ERROR_IN_USE,
          "a CI with processes is in use")
    check(text(pynvml.nvmlErrorString(pynvml.NVML_ERROR_IN_USE)) == "In use by another client",
          "nvmlErrorString")
    migctl("sim", "busy", str(info.id), "--clear")
    check(nvml_code(pynvml.nvmlGpuInstanceDestroy, gi) == pynvml.NVML_ERROR_IN_USE,
          "a GI with a CI is in use")
    pynvml.nvmlComputeInstanceDestroy(ci)
    pynvml.nvmlGpuInstanceDestroy(gi)
    p = migctl("mig", "-lgi", ok=False)
    check(p.returncode == 6 and "No GPU instances found" in p.stdout, "all gone")


def main():
    env = dict(os.environ)
    env.pop("MIGKIT_CATALOG", None)
    slugs = [m["slug"] for m in json.loads(subprocess.run(
        [MIGCTL, "gpus", "--json"], env=env, check=True, stdout=subprocess.PIPE,
        text=True).stdout)]
    failed = 0
    for slug in slugs:
        with tempfile.TemporaryDirectory(prefix="migkit-pynvml-") as state:
            os.environ["MIGKIT_STATE_DIR"] = state  # read by the fake at nvmlInit
            migctl("sim", "init", "--gpu", slug)
            try:
                pynvml.nvmlInit()
                check(pynvml.nvmlDeviceGetCount() == 1, "one GPU")
                dev = pynvml.nvmlDeviceGetHandleByIndex(0)
                check_identity(slug, dev)
                check_instances(dev, check_profiles(dev))
                print("%-20s ok" % slug)
            except (AssertionError, pynvml.NVMLError) as e:
                failed += 1
                print("%-20s FAIL: %s" % (slug, e))
            finally:
                pynvml.nvmlShutdown()
    print("nvidia-ml-py %s: %d checks, %d of %d models failed" %
          (importlib.metadata.version("nvidia-ml-py"), checks, failed, len(slugs)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
