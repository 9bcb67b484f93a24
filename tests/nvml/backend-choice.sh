#!/usr/bin/env bash
# backend-choice.sh - which backend answers (--backend, MIGKIT_BACKEND, auto, --state), that
# -L --json and status say so, and the NVML loader's failures: no library, and a library from
# a driver too old for MIG (tests/fakes/old-nvml.c).
#
# Usage: backend-choice.sh MIGCTL FAKE_NVML_DIR OLD_NVML_DIR
set -u
migctl=$1 fake=$2 old=$3
failures=0
STATE=$(mktemp -d)
EMPTY=$(mktemp -d)
trap 'rm -rf "$STATE" "$EMPTY"' EXIT
export MIGKIT_STATE_DIR=$STATE
unset MIGKIT_BACKEND MIGKIT_CATALOG

fail() {
    echo "backend-choice.sh: FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect NAME WANT_EXIT WANT_TEXT LIBDIR ARGS... : runs migctl with LD_LIBRARY_PATH=LIBDIR and
# checks the exit status and that the output (stdout and stderr) contains WANT_TEXT.
expect() {
    local name=$1 want_rc=$2 want=$3 lib=$4 out rc
    shift 4
    out=$(LD_LIBRARY_PATH=$lib "$migctl" "$@" 2>&1)
    rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "$name: exit $rc, expected $want_rc; output: $out"
    case "$out" in
    *"$want"*) ;;
    *) fail "$name: expected \"$want\" in: $out" ;;
    esac
}

"$migctl" sim init --gpu a100-sxm4-80gb >/dev/null || fail "sim init"

# ---- which backend answers ----
expect "auto finds the fake" 0 '"backend": "nvml"' "$fake" -L --json
expect "status names it" 0 'backend nvml' "$fake" status
expect "--backend sim" 0 '"backend": "sim"' "$fake" --backend sim -L --json
expect "--backend=sim after the command" 0 '"backend": "sim"' "$fake" -L --json --backend=sim
expect "-backend sim" 0 'backend sim' "$fake" status -backend sim
expect "--state means the simulator" 0 '"backend": "sim"' "$fake" --state "$STATE" -L --json
MIGKIT_BACKEND=sim expect "MIGKIT_BACKEND=sim" 0 '"backend": "sim"' "$fake" -L --json
MIGKIT_BACKEND=sim expect "--backend beats the environment" 0 '"backend": "nvml"' "$fake" \
    --backend nvml -L --json
MIGKIT_BACKEND=nvml expect "--backend auto" 0 '"backend": "nvml"' "$fake" --backend auto -L --json
LD_LIBRARY_PATH=$fake "$migctl" --backend nvml mig -cgi 0 -C >/dev/null || fail "-cgi 0 (nvml)"
expect "sim commands use the simulator" 0 'GPU instance 0 on GPU 0 is now busy' "$fake" \
    --backend nvml sim busy 0
expect "nvml sees it busy" 0 '"busy": true' "$fake" --backend nvml mig -lgi --json

# ---- usage errors ----
expect "bad --backend" 2 '--backend: expected one of auto, sim, nvml, soft, got "cuda"' "$fake" \
    --backend cuda -L
expect "--backend without a value" 2 '--backend needs a value' "$fake" -L --backend
MIGKIT_BACKEND=cuda expect "bad MIGKIT_BACKEND" 2 \
    'MIGKIT_BACKEND: expected one of auto, sim, nvml, soft, got "cuda"' "$fake" -L

# ---- the loader ----
lacks='libnvidia-ml.so.1 lacks nvmlDeviceGetHandleByIndex_v2 (NVML 11.0), '
lacks+='nvmlDeviceGetName (NVML 11.0), nvmlDeviceGetUUID (NVML 11.0) and '
expect "a driver too old for MIG" 255 "$lacks" "$old" --backend nvml -L
expect "  ... names the minimum" 255 'migkit needs the NVML of driver R470 (CUDA 11.4) or later' \
    "$old" --backend nvml -L
expect "  ... auto falls back" 0 '"backend": "sim"' "$old" -L --json
if ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml\.so\.1 '; then
    echo "backend-choice.sh: a real libnvidia-ml.so.1 is installed: the no-library checks" \
        "do not apply on this machine (they run where there is none)"
else
    expect "no library" 255 \
        'migctl: cannot load libnvidia-ml.so.1: libnvidia-ml.so.1: cannot open shared object' \
        "$EMPTY" --backend nvml -L
    expect "  ... auto falls back" 0 '"backend": "sim"' "$EMPTY" -L --json
fi

[ "$failures" -eq 0 ] || exit 1
echo "backend-choice.sh: all checks passed"
