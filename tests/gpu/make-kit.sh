#!/usr/bin/env bash
# make-kit.sh - gathers what tests/gpu/device-run.sh needs from a build into one folder, with
# the shared libraries the programs link (glibc's excepted), so the checks run on a GPU
# machine that has the driver, nvcc and PyTorch but none of migkit's build dependencies.
#
#     tests/gpu/make-kit.sh BUILD_DIR KIT_DIR
#
# KIT_DIR mirrors BUILD_DIR's layout for what it holds (migctl, migd, libmigshim.so,
# tests/shim/test-shim-runtime, bench/context-mem) and adds lib/ (the libraries), gpu/ (the CUDA programs of
# tests/gpu, built with nvcc for sm_90 when nvcc is here) and COMMIT.
set -euo pipefail
build=$(realpath "$1")
kit=$2
here=$(dirname "$(realpath "$0")")
rm -rf "$kit"
mkdir -p "$kit/lib" "$kit/tests/shim" "$kit/gpu" "$kit/bench"
for f in migctl migd libmigshim.so tests/shim/test-shim-runtime bench/context-mem; do
    [ -e "$build/$f" ] || { echo "make-kit.sh: $build/$f is missing: build first" >&2; exit 1; }
    cp "$build/$f" "$kit/$f"
done
# glibc's own libraries must come from the machine that runs them, never from here.
for f in migctl migd tests/shim/test-shim-runtime; do
    ldd "$build/$f" | awk '$3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
    case $(basename "$lib") in
    libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | \
        libutil.so.* | ld-linux*) ;;
    *) cp -L "$lib" "$kit/lib/" ;;
    esac
done
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    for p in shim-check shim-measure shim-overhead; do
        "$nvcc" -std=c++17 -O2 -arch=sm_90 -o "$kit/gpu/$p" "$here/$p.cu" -lcuda
    done
fi
git -C "$here" rev-parse --short HEAD >"$kit/COMMIT" 2>/dev/null || echo unknown >"$kit/COMMIT"
git -C "$here" status --porcelain | grep -q . && echo "+uncommitted changes" >>"$kit/COMMIT"
du -sh "$kit"
