#!/usr/bin/env bash
# golden-nvml.sh - runs a migctl golden case (tests/golden/CASE.cmd) through the NVML backend
# against the fake libnvidia-ml.so.1, and requires the transcript the simulator gave:
# CASE.out, byte for byte.
#
# Usage: golden-nvml.sh MIGCTL FAKE_NVML_DIR GOLDEN_SH CASE.cmd
#
# tests/cli/golden.sh does the running and comparing; this script sets the environment
# (LD_LIBRARY_PATH at the fake, MIGKIT_BACKEND=nvml) and makes two changes to a copy of the
# case, both for things only the simulator can do:
#   - A "! SHELL" line that writes state.json (to damage it) is left out, with the command
#     after it and that command's block of CASE.out. A damaged state file is a simulator
#     matter NVML has no word for (the fake fails nvmlInit with NVML_ERROR_UNKNOWN and says
#     why on stderr; the nvml-errors test shows it).
#   - Before `migctl apply ... --force`, the processes of busy GPU instances are stopped (a
#     hidden step clears the busy marks). The simulator's --force stops them itself
#     (cmd-apply.c, release_busy); no NVML call can, so on hardware the operator must, and
#     without it the driver answers "In use" (the nvml-errors test shows that too).
# Everything else must match CASE.out.
set -euo pipefail
migctl=$1 fake_dir=$2 golden_sh=$3 case_file=$4
name=$(basename "${case_file%.cmd}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# golden.sh finds the fixtures in ../data next to the case's directory: so must the copy.
mkdir "$work/golden"
ln -s "$(cd "$(dirname "$case_file")/../data" && pwd)" "$work/data"

# The copy of the commands, and the numbers (1-based, counting the steps that print a "$ "
# header: migctl and sh lines) of those left out.
awk -v skipped="$work/skipped" '
    /^! .*state\.json/ { drop = 1; next }
    /^(migctl|sh )/ { n++; if (drop) { print n > skipped; drop = 0; next } }
    /^migctl apply .*--force/ {
        print "! sed -i \047s/\"busy\": true/\"busy\": false/\047 \"$STATE/state.json\""
    }
    { print }
' "$case_file" >"$work/golden/$name.cmd"
touch "$work/skipped"

# The copy of the expected transcript without those steps' blocks (a block starts at its
# "$ " header and runs to the next one).
awk -v skipped="$work/skipped" '
    BEGIN { while ((getline line < skipped) > 0) drop[line] = 1 }
    /^\$ / { n++; keep = !(n in drop) }
    keep { print }
' "${case_file%.cmd}.out" >"$work/golden/$name.out"

echo "golden-nvml.sh: $name: $(wc -l <"$work/skipped") state-damage step(s) left out"
LD_LIBRARY_PATH=$fake_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} MIGKIT_BACKEND=nvml \
    "$golden_sh" "$migctl" "$work/golden/$name.cmd"
