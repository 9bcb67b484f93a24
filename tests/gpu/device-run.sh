#!/usr/bin/env bash
# device-run.sh - every real-GPU check of tests/gpu in one run, for a GPU machine lent for a
# few minutes: read-only for the GPU (no MIG mode change, no reset, no clocks; it allocates
# memory and launches kernels, nothing else). Never run by ctest.
#
#     tests/gpu/device-run.sh KIT_DIR [PROFILE]
#
# KIT_DIR comes from tests/gpu/make-kit.sh (programs, their libraries, the CUDA programs
# prebuilt). PROFILE is the software instance made for the lease checks (default the
# smallest profile of the GPU's catalog model). Sections, each under a time limit so one hang
# cannot take the rest with it:
#   A. the machine: date, GPU, driver, toolkit;
#   B. shim-check.sh: libmigshim in standalone mode (10 GiB), the runtime-style client against
#      the real driver, PyTorch with three allocators;
#   C. migd on the real GPU (NVML): a software instance, `migctl exec` of shim-check inside it,
#      two PyTorch processes sharing its quota, what NVML and migd see of a process;
#   D. overhead: shim-overhead without the shim, standalone and under migd;
#   E. shim-measure: the driver's own rounding of every allocation family (no shim);
#   F. migctl's NVML backend against nvidia-smi (tests/gpu/README.md);
#   W. migd's watchdog on the real NVML: a bare context's memory (bench/context-mem), a
#      member within its grants, an unregistered process and a member without the shim under
#      the log policy, then an unregistered process under the kill policy;
#   U. which UUID the CUDA runtime accepts from cuDeviceGetUuid (docs/shim.md, "Identity"):
#      on driver 580.159 the cases with MIGKIT_SHIM_UUID=instance fail, the others pass.
# SECTIONS="A B C ..." runs only those (default: all).
# Record the output in tests/gpu/README.md or bench/README.md with the date, GPU and driver.
set -uo pipefail
kit=$(realpath "$1")
want_profile=${2:-}
here=$(dirname "$(realpath "$0")")
orig_ld=${LD_LIBRARY_PATH:-}
klib=$kit/lib${orig_ld:+:$orig_ld}
tmp=$(mktemp -d)
failed=()
# migctl and migd find the kit's libraries through wrappers on PATH (timeout needs programs,
# not functions); what they start gets the machine's own library path back (env below).
mkdir -p "$tmp/bin"
for p in migctl migd; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$klib" "$kit/$p" >"$tmp/bin/$p"
    chmod +x "$tmp/bin/$p"
done
export PATH=$tmp/bin:$PATH
section() { echo; echo "######## $*"; }
# step NAME SECONDS CMD...: runs CMD under a time limit and remembers a failure by name.
step() {
    local name=$1 secs=$2
    shift 2
    timeout -k 5 "$secs" "$@"
    local rc=$?
    [ $rc = 0 ] || { echo "!! $name: exit $rc"; failed+=("$name($rc)"); }
    return $rc
}
cleanup() {
    [ -f "$tmp/run/migd.pid" ] && kill -TERM "$(cat "$tmp/run/migd.pid")" 2>/dev/null
    touch "$tmp/share/stop" 2>/dev/null
    sleep 1
    rm -rf "$tmp"
}
trap cleanup EXIT

want() { [[ " ${SECTIONS:-A B U C W D E F} " == *" $1 "* ]]; }

if want A; then
section "A. the machine"
date -u +%FT%TZ
echo "kit commit: $(cat "$kit/COMMIT")"
uname -r
nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,pci.device_id,driver_version,memory.total,mig.mode.current --format=csv
nvcc --version | tail -2
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'

fi

if want B; then
section "B. shim-check.sh (standalone quota 10 GiB)"
step shim-check 240 "$here/shim-check.sh" "$kit" 10
fi

if want U; then
section "U. cuDeviceGetUuid and the CUDA runtime (standalone, 4 GiB)"
gpu_uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
gpu_uuid=${gpu_uuid:-GPU-unknown}
printf 'quota=4GiB\nuuid=MIG-5b1d6a4e-8d0c-4a53-9a43-0c5a1e1f2d3c\n' >"$tmp/u1.conf"
printf 'quota=4GiB\n' >"$tmp/u2.conf"
chmod 644 "$tmp/u1.conf" "$tmp/u2.conf"
for case in "u1.conf instance -" "u1.conf gpu -" "u2.conf instance $gpu_uuid" \
    "u1.conf instance $gpu_uuid" "u1.conf gpu $gpu_uuid"; do
    set -- $case
    echo "-- file $1 (uuid line: $(grep -c uuid "$tmp/$1")), MIGKIT_SHIM_UUID=$2, CUDA_VISIBLE_DEVICES=$3"
    (
        [ "$3" = - ] || export CUDA_VISIBLE_DEVICES=$3
        MIGKIT_SHIM_MODE=standalone MIGKIT_SHIM_STANDALONE_FILE=$tmp/$1 \
            MIGKIT_SHIM_STANDALONE_INSECURE=1 MIGKIT_SHIM_UUID=$2 LD_PRELOAD=$kit/libmigshim.so \
            timeout 60 "$kit/gpu/shim-check" $((4 << 30)) 2>&1 | grep -E "^(device|uuid|FAIL)|failure"
    )
done
fi

if want C; then
section "C. migd on the real GPU"
mkdir -p "$tmp/share"
export MIGKIT_RUN_DIR=$tmp/run MIGKIT_BACKEND=soft MIGKIT_SHIM=$kit/libmigshim.so
if ! migd --state-dir "$tmp/state" --run-dir "$tmp/run"; then
    echo "migd did not start on NVML; falling back to --simulate h200-141gb on the same GPU"
    migd --state-dir "$tmp/state" --run-dir "$tmp/run" --simulate h200-141gb
fi
migctl -L
migctl mig -lgip
profile=${want_profile:-$(migctl mig -lgip --json | python3 -c '
import json, sys
ps = [p for p in json.load(sys.stdin) if p["gpu"] == 0]
print(min(ps, key=lambda p: p["memory_mib"])["name"].replace("MIG ", ""))')}
echo "profile: ${profile:-?}"
step cgi 30 migctl -i 0 mig -cgi "${profile:-1g.18gb}" -C
migctl mig -lgi
read -r uuid mib < <(migctl mig -lgi --json | python3 -c '
import json, sys
gi = json.load(sys.stdin)[0]
print(gi["compute_instances"][0]["uuid"], gi.get("memory_mib", 0))')
curl -s --unix-socket "$tmp/run/migd.sock" http://localhost/v1/instances | head -c 2000; echo
quota=$(curl -s --unix-socket "$tmp/run/migd.sock" http://localhost/v1/instances/$uuid |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["quota_bytes"])' 2>/dev/null ||
    echo $((mib << 20)))
echo "instance $uuid quota $quota"
name=" MIG ${profile:-1g.18gb}"
step exec-shim-check 120 migctl exec "$uuid" -- env LD_LIBRARY_PATH="$orig_ld" \
    "$kit/gpu/shim-check" "$quota" "$name"
echo "-- two processes in one instance: the holder takes half, the filler gets the rest"
half=$((quota / 2 >> 20))
migctl exec "$uuid" -- env LD_LIBRARY_PATH="$orig_ld" python3 "$here/share.py" hold "$half" \
    "$tmp/share" &
holder=$!
for _ in $(seq 600); do [ -e "$tmp/share/ready" ] || ! kill -0 $holder 2>/dev/null && break; sleep 0.1; done
curl -s --unix-socket "$tmp/run/migd.sock" http://localhost/v1/instances/$uuid; echo
step share 120 migctl exec "$uuid" -- env LD_LIBRARY_PATH="$orig_ld" python3 "$here/share.py" \
    fill "$quota"
echo "-- what NVML reports for the holder (the watchdog's view) against its grants"
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv
touch "$tmp/share/stop"
wait $holder || failed+=("holder")
echo "-- a bare context and a 1 GiB allocation, under the shim: NVML against migd"
mkfifo "$tmp/hold.in"
migctl exec "$uuid" -- env LD_LIBRARY_PATH="$orig_ld" "$kit/gpu/shim-measure" hold 1024 \
    <"$tmp/hold.in" >"$tmp/hold.out" &
hp=$!
exec 9>"$tmp/hold.in"
for _ in $(seq 300); do grep -q ready "$tmp/hold.out" || ! kill -0 $hp 2>/dev/null && break; sleep 0.1; done
cat "$tmp/hold.out"
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv
python3 -c '
import pynvml
pynvml.nvmlInit()
h = pynvml.nvmlDeviceGetHandleByIndex(0)
for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
    print("nvml running process", p.pid, "usedGpuMemory", p.usedGpuMemory)
' 2>&1
curl -s --unix-socket "$tmp/run/migd.sock" http://localhost/v1/instances/$uuid; echo
exec 9>&-
wait $hp
fi

if want D; then
section "D. overhead (median ns per operation)"
printf 'quota=%s\n' $((100 << 30)) >"$tmp/q.conf"
chmod 644 "$tmp/q.conf"
# Interleaved, three rounds: the machine drifts over a minute, so each mode is compared with
# its neighbours, not with a run a minute earlier.
for round in 1 2 3; do
    echo -n "no shim:    "; step ovh-none 60 "$kit/gpu/shim-overhead"
    echo -n "standalone: "; step ovh-standalone 60 env MIGKIT_SHIM_MODE=standalone \
        MIGKIT_SHIM_STANDALONE_FILE="$tmp/q.conf" MIGKIT_SHIM_STANDALONE_INSECURE=1 \
        LD_PRELOAD="$kit/libmigshim.so" "$kit/gpu/shim-overhead" 2>/dev/null
    if want C; then
        echo -n "lease:      "; step ovh-lease 60 migctl exec "$uuid" -- env \
            LD_LIBRARY_PATH="$orig_ld" "$kit/gpu/shim-overhead"
    fi
done
fi

if want C; then
migctl -i 0 mig -dgi
migctl mig -lgi
curl -s --unix-socket "$tmp/run/migd.sock" "http://localhost/v1/events" | head -c 1500; echo
kill -TERM "$(cat "$tmp/run/migd.pid")"
unset MIGKIT_RUN_DIR MIGKIT_BACKEND MIGKIT_SHIM
fi

if want W; then
section "W. migd's watchdog on the real NVML"
"$kit/bench/context-mem"
python3 -c 'import pynvml; pynvml.nvmlInit(); h = pynvml.nvmlDeviceGetHandleByIndex(0);
print("NVML cores", pynvml.nvmlDeviceGetNumGpuCores(h), "compute capability",
      pynvml.nvmlDeviceGetCudaComputeCapability(h))' 2>&1
export MIGKIT_RUN_DIR=$tmp/wrun MIGKIT_BACKEND=soft MIGKIT_SHIM=$kit/libmigshim.so
events() { curl -s --unix-socket "$tmp/wrun/migd.sock" http://localhost/v1/events |
    python3 -c 'import json, sys
for e in json.load(sys.stdin)["events"]:
    if e["action"].startswith("watchdog"): print(e["action"], e["detail"])'; }
wstart() {
    migd --state-dir "$tmp/wstate" --run-dir "$tmp/wrun" --watchdog-interval 1 \
        --watchdog-policy "$1" ||
        migd --state-dir "$tmp/wstate" --run-dir "$tmp/wrun" --watchdog-interval 1 \
            --watchdog-policy "$1" --simulate h200-141gb ||
        { echo "!! migd --watchdog-policy $1 did not start"; return 1; }
}
wstop() { kill -TERM "$(cat "$tmp/wrun/migd.pid")"; sleep 1; }
mkfifo "$tmp/w1" "$tmp/w2" "$tmp/w3" "$tmp/w4"
if wstart log; then
    migctl -i 0 mig -cgi 1g.18gb -C >/dev/null
    wuuid=$(migctl mig -lgi --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["compute_instances"][0]["uuid"])')
    echo "-- a member within its grants (2 GiB through the shim), an unregistered process, a member without the shim (4 GiB, no grants)"
    migctl exec "$wuuid" -- env LD_LIBRARY_PATH="$orig_ld" "$kit/gpu/shim-measure" hold 2048 <"$tmp/w1" >"$tmp/w1.out" &
    env LD_LIBRARY_PATH="$orig_ld" "$kit/gpu/shim-measure" hold 256 <"$tmp/w2" >"$tmp/w2.out" &
    migctl exec --no-shim "$wuuid" -- env LD_LIBRARY_PATH="$orig_ld" "$kit/gpu/shim-measure" hold 4096 <"$tmp/w3" >"$tmp/w3.out" 2>/dev/null &
    exec 7>"$tmp/w1" 6>"$tmp/w2" 5>"$tmp/w3"
    sleep 6
    cat "$tmp/w1.out" "$tmp/w2.out" "$tmp/w3.out"
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv
    events
    curl -s --unix-socket "$tmp/wrun/migd.sock" http://localhost/metrics | grep -E "^migd_(watchdog|lease)" | head -20
    exec 7>&- 6>&- 5>&-
    wait
    wstop
    echo "-- the kill policy: an unregistered process"
    if wstart kill; then
        env LD_LIBRARY_PATH="$orig_ld" "$kit/gpu/shim-measure" hold 256 <"$tmp/w4" >"$tmp/w4.out" &
        kp=$!
        exec 4>"$tmp/w4"
        for _ in $(seq 100); do kill -0 $kp 2>/dev/null || break; sleep 0.1; done
        if kill -0 $kp 2>/dev/null; then echo "!! still alive after 10 s"; failed+=(watchdog-kill); exec 4>&-; else wait $kp; echo "unregistered process ended with status $? (137: SIGKILL)"; fi
        exec 4>&-
        events
        migctl -i 0 mig -dgi >/dev/null
        wstop
    fi
fi
unset MIGKIT_RUN_DIR MIGKIT_BACKEND MIGKIT_SHIM
fi

if want E; then
section "E. shim-measure (no shim)"
step measure 90 "$kit/gpu/shim-measure"

fi

if want F; then
section "F. migctl's NVML backend (read-only)"
migctl --backend nvml -L
migctl --backend nvml -L --json
migctl -L --json | grep -m1 backend
migctl --backend nvml status 2>&1 | head -20
for v in -lgip -lgipp; do
    echo "-- diff nvidia-smi mig $v / migctl"
    diff <(nvidia-smi mig $v 2>&1) <(migctl --backend nvml mig $v 2>&1)
done
echo "-- diff nvidia-smi -L / migctl -L"
diff <(nvidia-smi -L) <(migctl --backend nvml -L)
python3 - <<'PY' 2>&1
import ctypes, pynvml
pynvml.nvmlInit()
print("driver", pynvml.nvmlSystemGetDriverVersion())
h = pynvml.nvmlDeviceGetHandleByIndex(0)
pci = pynvml.nvmlDeviceGetPciInfo(h)
print(pynvml.nvmlDeviceGetName(h), pci.busId, "0x%08X" % pci.pciDeviceId)
try:
    print("MIG mode [current, pending]:", pynvml.nvmlDeviceGetMigMode(h))
except pynvml.NVMLError as e:
    print("MIG mode:", e)
for c in range(pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
    try:
        p = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h, c)
        print("profile", c, "id", p.id, "mem", p.memorySizeMB, "sm", p.multiprocessorCount,
              "max", p.instanceCount)
    except pynvml.NVMLError as e:
        print("profile", c, e)
# A wrong struct version word: INVALID_ARGUMENT (2) or ARGUMENT_VERSION_MISMATCH (25)?
bad = (ctypes.c_char * 152)()
ctypes.c_uint.from_buffer(bad).value = 0x01000098
print("bad version word ->", pynvml.nvmlLib.nvmlDeviceGetGpuInstanceProfileInfoV(h, 0, bad))
PY

fi

section "done"
if [ ${#failed[@]} = 0 ]; then echo "all steps passed"; else echo "failed: ${failed[*]}"; fi
