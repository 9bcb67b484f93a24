#!/usr/bin/env bash
# demo.sh - the quick start: install what is missing, build, and partition the default
# simulated H100 (3g + 2g + two 1g instances, each with its compute instance), then show it.
# The simulated machine lives in build/demo-state, so your own one is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target migctl >/dev/null

export MIGKIT_STATE_DIR=$PWD/build/demo-state
rm -rf "$MIGKIT_STATE_DIR"
run() { printf '\n$ migctl %s\n' "$*"; build/migctl "$@"; }

run sim init --gpu h100-sxm5-80gb
run mig -cgi 9,14,19,19 -C
run mig -lgi
run -L
run status
