#!/usr/bin/env bash
# crash.sh - kill -9 migd at random moments during instance-creation storms (and during its
# start-up), restart it and check that the state is consistent (tests/daemon/crash.py says
# exactly what is checked).
#
# Usage: crash.sh PATH/TO/migd
#   MIGD_CRASH_ROUNDS  rounds (default 200, what CI runs; e.g. 5000 for a soak)
#   MIGD_CRASH_SEED    seed of a failing run, printed by every run, to replay it
set -euo pipefail
migd=${1:?usage: crash.sh PATH/TO/migd}
args=(--rounds "${MIGD_CRASH_ROUNDS:-200}")
[ -n "${MIGD_CRASH_SEED:-}" ] && args+=(--seed "$MIGD_CRASH_SEED")
exec python3 "$(dirname "$0")/crash.py" "$migd" "${args[@]}"
