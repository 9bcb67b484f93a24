#!/usr/bin/env bash
# schemathesis.sh - property-based tests of migd's API against its OpenAPI description: a test
# migd serves the API on a loopback TCP port (--test-tcp), and schemathesis sends it
# generated requests, valid and invalid, with every check on (no 5xx, statuses, content types
# and bodies as docs/openapi.yaml says, invalid data rejected, Allow headers, resources
# available after creation and gone after deletion). Two runs: as root (admin), and as
# uid 1000 (no rights). migd must also survive both and exit cleanly.
#
# Usage: schemathesis.sh PATH/TO/migd DOCS/openapi.yaml VENV_DIR
#   The venv is created and schemathesis installed from PyPI on first use. Without PyPI the
#   test FAILS (it never skips). MIGD_SCHEMATHESIS_EXAMPLES sets the examples per operation.
set -euo pipefail
migd=$1 spec=$2 venv=$3
here=$(cd "$(dirname "$0")" && pwd)
version=4.32.5 # the CLI and config format this script is written for
examples=${MIGD_SCHEMATHESIS_EXAMPLES:-30}

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    echo "schemathesis.sh: creating $venv and installing schemathesis $version from PyPI"
    rm -rf "$venv"
    python3 -m venv "$venv" || { echo "schemathesis.sh: FAILED: python3 -m venv (python3-venv missing? scripts/deps.sh installs it)" >&2; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" ||
        { echo "schemathesis.sh: FAILED: cannot install schemathesis from PyPI" >&2; exit 1; }
fi

tmp=$(mktemp -d /tmp/migd-schemathesis-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

run() { # run UID: one schemathesis run against a fresh migd acting as UID
    local uid=$1 port rc=0
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    rm -rf "$tmp/state" "$tmp/run"
    "$migd" --foreground --state-dir "$tmp/state" --run-dir "$tmp/run" \
        --simulate h100-sxm5-80gb,a100-sxm4-40gb --test-tcp "$port" --test-uid "$uid" \
        >"$tmp/migd-$uid.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 400); do
        python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/v1/health', timeout=1)" \
            2>/dev/null && break
        sleep 0.05
    done
    echo "== schemathesis as uid $uid, $examples examples per operation"
    (cd "$tmp" && "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$spec" \
        --url "http://127.0.0.1:$port" --checks all --max-examples "$examples" --no-color) || rc=$?
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "schemathesis.sh: FAILED: migd died during the run" >&2
        cat "$tmp/migd-$uid.log" >&2
        return 1
    fi
    kill "$pid"
    wait "$pid" || { echo "schemathesis.sh: FAILED: migd exited with $? (sanitizer report?)" >&2;
                     cat "$tmp/migd-$uid.log" >&2; return 1; }
    pid=
    return $rc
}

run 0
run 1000
echo "schemathesis.sh: 2 runs passed"
