#!/usr/bin/env bash
# shim-check.sh - libmigshim on a real GPU (docs/shim.md, "On a real GPU"). Needs an NVIDIA
# GPU, its driver and nvcc; never run by ctest. Read-only for the GPU: it allocates memory and
# launches a kernel, nothing else.
#
#     tests/gpu/shim-check.sh [BUILD_DIR] [QUOTA_GIB]
#
# 1. shim-check.cu without the shim: what the driver reports (for the record);
# 2. the same with the shim and a standalone quota of QUOTA_GIB (default 10): total, filling
#    up to the quota and out-of-memory beyond, every allocation family, identity, a launch;
# 3. the CUDA-runtime-style client of tests/shim against the real driver: every hooked entry
#    point resolves to the hook through dlsym and cuGetProcAddress;
# 4. PyTorch, if python3 can import torch: mem_get_info, allocation up to the quota and
#    torch.OutOfMemoryError beyond, with the default allocator, expandable segments and
#    cudaMallocAsync.
# Record the output with the date, host, GPU, driver and commit (docs/shim.md).
set -uo pipefail
build=$(realpath "${1:-build}")
gib=${2:-10}
quota=$((gib << 30))
here=$(dirname "$(realpath "$0")")
shim=$build/libmigshim.so
fail=0

nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total --format=csv || {
    echo "shim-check: no GPU (nvidia-smi failed)"; exit 77; }
case ":${LD_LIBRARY_PATH:-}:" in
*tests/fakes/cuda*) echo "shim-check: LD_LIBRARY_PATH names the fake libcuda: unset it"; exit 2 ;;
esac
[ -e "$shim" ] || { echo "shim-check: $shim missing: build first"; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'quota=%s\n' "$quota" >"$tmp/quota.conf"
chmod 644 "$tmp/quota.conf"
export MIGKIT_SHIM_MODE=standalone MIGKIT_SHIM_STANDALONE_FILE=$tmp/quota.conf
export MIGKIT_SHIM_STANDALONE_INSECURE=1
# A kit says which commit it was built from; a checkout, its HEAD.
commit=$(head -1 "$build/COMMIT" 2>/dev/null || git -C "$here" rev-parse --short HEAD 2>/dev/null)
echo "== $(date -u +%FT%TZ) $(hostname) commit $commit"

# A kit (tests/gpu/make-kit.sh) brings the program built, and the libraries of the test client.
if [ -x "$build/gpu/shim-check" ]; then
    cp "$build/gpu/shim-check" "$tmp/shim-check"
else
    nvcc -std=c++17 -O2 -o "$tmp/shim-check" "$here/shim-check.cu" -lcuda || exit 2
fi
kitlib=
[ -d "$build/lib" ] && kitlib=$build/lib:
echo "== 1. without the shim"
"$tmp/shim-check" 0
echo "== 2. with the shim, quota $gib GiB"
LD_PRELOAD=$shim "$tmp/shim-check" "$quota" || fail=1

echo "== 3. the runtime-style client against the real driver"
LD_LIBRARY_PATH=$kitlib${LD_LIBRARY_PATH:-} LD_PRELOAD=$shim "$build/tests/shim/test-shim-runtime" ||
    fail=1

echo "== 4. PyTorch"
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    for conf in "" "expandable_segments:True" "backend:cudaMallocAsync"; do
        echo "-- PYTORCH_CUDA_ALLOC_CONF=$conf"
        PYTORCH_CUDA_ALLOC_CONF=$conf LD_PRELOAD=$shim python3 - "$quota" <<'PY' || fail=1
import sys, torch
quota = int(sys.argv[1])
free, total = torch.cuda.mem_get_info()
print("mem_get_info", free, total, torch.cuda.get_device_name(0))
assert total == quota, (total, quota)
blocks, step = [], 256 << 20
try:
    while True:
        blocks.append(torch.empty(step, dtype=torch.uint8, device="cuda"))
except torch.OutOfMemoryError as e:
    got = len(blocks) * step
    print("allocated", got >> 20, "MiB before OutOfMemoryError")
    assert quota - 2 * step - (512 << 20) <= got <= quota, got
del blocks
torch.cuda.empty_cache()
print("PASS")
PY
    done
else
    echo "python3 cannot import torch with CUDA: skipped"
fi
[ $fail = 0 ] && echo "== all passed" || echo "== FAILURES above"
exit $fail
