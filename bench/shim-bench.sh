#!/usr/bin/env bash
# shim-bench.sh - runs bench/shim-bench.c in every mode, for wall time and for instruction
# counts (valgrind --tool=callgrind), and prints what libmigshim adds per kernel launch and per
# allocation against the fake libcuda.so.1 (bench/README.md, "libmigshim").
#
#     bench/shim-bench.sh [BUILD_DIR] [ITERATIONS] [CALLGRIND_ITERATIONS]
#
# Defaults: build, 1000000 iterations for wall time, 20000 under callgrind. Instruction counts
# are per iteration of a phase's loop (shim-bench.c's loop_<phase>, callees included), so they
# are exact and do not depend on the machine; wall times do.
set -euo pipefail
build=${1:-build}
n=${2:-1000000}
ncg=${3:-20000}
bench=$build/bench/shim-bench
shim=$(realpath "$build/libmigshim.so")
fake=$(realpath "$build/tests/fakes/cuda/lib")
for f in "$bench" "$shim" "$fake/libcuda.so.1"; do
    [ -e "$f" ] || { echo "shim-bench.sh: $f is missing: build the project first" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run MODE ARGS...: the bench with the fake first on the library path and, unless MODE is
# none, the shim preloaded.
run() {
    local mode=$1
    shift
    if [ "$mode" = none ]; then
        LD_LIBRARY_PATH=$fake "$@"
    else
        LD_LIBRARY_PATH=$fake LD_PRELOAD=$shim "$@"
    fi
}

echo "== wall time ($n iterations; miss: $((n / 100 + 1)))"
for mode in none standalone lease; do
    run $mode "$bench" -m $mode -n "$n" -p all 2>/dev/null
done
run lease "$bench" -m lease -n "$n" -p miss 2>/dev/null

if ! command -v valgrind >/dev/null; then
    echo "valgrind is not installed: no instruction counts"
    exit 0
fi
echo "== instructions per iteration (callgrind, $ncg iterations)"
printf '%-8s %12s %12s %12s %12s\n' phase none standalone lease "added (lease)"
for phase in launch alloc; do
    declare -A ir=()
    for mode in none standalone lease; do
        out=$tmp/cg.$phase.$mode
        run $mode valgrind --tool=callgrind --toggle-collect="loop_$phase" \
            --callgrind-out-file="$out" "$bench" -m $mode -n "$ncg" -p $phase >/dev/null 2>&1
        total=$(awk '/^totals:/ {print $2}' "$out")
        ir[$mode]=$(awk -v t="$total" -v n="$ncg" 'BEGIN {printf "%.1f", t / n}')
    done
    added=$(awk -v a="${ir[lease]}" -v b="${ir[none]}" 'BEGIN {printf "%.1f", a - b}')
    printf '%-8s %12s %12s %12s %12s\n' $phase "${ir[none]}" "${ir[standalone]}" "${ir[lease]}" "$added"
done
