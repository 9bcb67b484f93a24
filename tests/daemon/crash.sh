#!/usr/bin/env bash
# crash.sh - kill -9 migd at random moments during instance-creation storms (and during its
# start-up), restart it and check that the state is consistent; then kill it during lease
# storms and check that the clients' re-registrations rebuild its sums exactly
# (tests/daemon/crash.py says exactly what is checked).
#
# Usage: crash.sh PATH/TO/migd [PATH/TO/lease-storm]
#   MIGD_CRASH_ROUNDS        rounds (default 200, what CI runs; e.g. 5000 for a soak)
#   MIGD_CRASH_LEASE_ROUNDS  lease rounds (default one per 20 rounds: 10 in CI, 250 in a
#                            5000-round soak); needs lease-storm
#   MIGD_CRASH_SEED          seed of a failing run, printed by every run, to replay it
set -euo pipefail
migd=${1:?usage: crash.sh PATH/TO/migd [PATH/TO/lease-storm]}
args=(--rounds "${MIGD_CRASH_ROUNDS:-200}")
[ -n "${2:-}" ] && args+=(--lease-storm "$2")
[ -n "${MIGD_CRASH_LEASE_ROUNDS:-}" ] && args+=(--lease-rounds "$MIGD_CRASH_LEASE_ROUNDS")
[ -n "${MIGD_CRASH_SEED:-}" ] && args+=(--seed "$MIGD_CRASH_SEED")
exec python3 "$(dirname "$0")/crash.py" "$migd" "${args[@]}"
