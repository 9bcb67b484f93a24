#!/usr/bin/env bash
# golden-soft.sh - runs a CLI transcript (tests/soft/*.cmd) with tests/cli/golden.sh against a
# real migd, with MIGKIT_BACKEND=soft: migctl's soft backend end to end.
#
# Usage: golden-soft.sh MIGD MIGCTL CASE.cmd
#   The case's "# simulate: SLUG[,SLUG...]" line names migd's simulated GPUs (default one
#   h100-sxm5-80gb). migd runs daemonized with its state and run directories in a temporary
#   directory, and is stopped with SIGTERM when the case ends.
#   Besides golden.sh's $STATE and $TESTDATA, "!" and "sh" lines may use:
#     migd_call METHOD PATH [BODY]   one request to migd (curl over the Unix socket)
#     uuid_of GPU GI                 the UUID of the software instance shown as GPU's GI
set -u
migd=$1
migctl=$2
case_file=$3
here=$(cd "$(dirname "$0")" && pwd)
simulate=$(sed -n 's/^# simulate: *//p' "$case_file" | head -n 1)
tmp=$(mktemp -d /tmp/migkit-soft.XXXXXX)

stop_migd() {
    local pid
    pid=$(cat "$tmp/run/migd.pid" 2>/dev/null)
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
        # migd removes its sockets and closes the database in well under a second
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -rf "$tmp"
}
trap stop_migd EXIT

if ! "$migd" --state-dir "$tmp/state" --run-dir "$tmp/run" \
        --simulate "${simulate:-h100-sxm5-80gb}"; then
    echo "golden-soft.sh: migd did not start" >&2
    exit 1
fi
export MIGKIT_BACKEND=soft MIGKIT_RUN_DIR=$tmp/run MIGCTL=$migctl

migd_call() {
    curl -s --unix-socket "$MIGKIT_RUN_DIR/migd.sock" -X "$1" ${3:+-d "$3"} "http://localhost$2"
}
uuid_of() {
    "$MIGCTL" -i "$1" mig -lgi --json | python3 -c '
import json, sys
print([c["uuid"] for gi in json.load(sys.stdin) if gi["id"] == int(sys.argv[1])
       for c in gi["compute_instances"]][0])' "$2"
}
export -f migd_call uuid_of

"$here/../cli/golden.sh" "$migctl" "$case_file"
