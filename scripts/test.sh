#!/usr/bin/env bash
# test.sh - the whole test suite: install what is missing, then build and run every test
# twice, once as released (warnings are errors) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
jobs=$(nproc)

for variant in release asan; do
    dir=build-test-$variant
    extra=()
    [ "$variant" = asan ] && extra=(-DMK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
    echo "== $variant build"
    cmake -S . -B "$dir" -DMK_WERROR=ON "${extra[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs" >/dev/null
    echo "== $variant tests"
    (cd "$dir" && ctest --output-on-failure -j"$jobs")
done
