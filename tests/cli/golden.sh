#!/usr/bin/env bash
# golden.sh - runs a CLI transcript and compares it with its golden file.
#
# Usage: golden.sh MIGCTL CASE.cmd
#   Each line of CASE.cmd is either
#     migctl ARGS...   run the binary under test with ARGS (word-split by the shell)
#     ! SHELL...       run a shell command (to damage state files and the like); not echoed
#     sh SHELL...      run a shell command and show it and its output (to show files)
#     # ...            a comment, skipped
#   $STATE is the case's state directory and $TESTDATA the tests/data directory.
#   The transcript holds "$ migctl ARGS", the command's stdout and stderr, and "[exit N]"
#   when N is not 0. UUIDs are replaced by GPU-UUID / MIG-UUID since the simulator makes
#   random ones. The result must equal CASE.out byte for byte.
#   UPDATE_GOLDEN=1 rewrites CASE.out instead (review the diff before committing).
# Every case runs in a fresh state directory, $STATE.
set -u
migctl=$1
case_file=$2
expected=${case_file%.cmd}.out
STATE=$(mktemp -d)
# Fixture files live in tests/data; cases name them as $TESTDATA/...
TESTDATA=$(cd "$(dirname "$case_file")/../data" && pwd)
export STATE MIGKIT_STATE_DIR=$STATE TESTDATA
unset MIGKIT_CATALOG NO_COLOR MIGKIT_CONFIG_FILE MIGKIT_SELECTED_CONFIG
trap 'rm -rf "$STATE"' EXIT

transcript() {
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
        '' | '#'*) continue ;;
        '! '*) (eval "${line#! }") >/dev/null 2>&1 ;;
        'sh '*)
            printf '$ %s\n' "${line#sh }"
            (eval "${line#sh }") 2>&1
            ;;
        migctl*)
            printf '$ %s\n' "$line"
            eval "\"\$migctl\" ${line#migctl}" 2>&1
            rc=$?
            [ "$rc" -ne 0 ] && printf '[exit %d]\n' "$rc"
            ;;
        *) echo "golden.sh: $case_file: bad line: $line" >&2; exit 2 ;;
        esac
    done <"$case_file" | sed -E 's/(GPU|MIG)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/\1-UUID/g;'"s|$STATE|\$STATE|g;s|$TESTDATA|\$TESTDATA|g"
}

actual=$(mktemp)
trap 'rm -rf "$STATE" "$actual"' EXIT
transcript >"$actual"
if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
    cp "$actual" "$expected"
    echo "updated $expected"
    exit 0
fi
if ! diff -u "$expected" "$actual"; then
    echo "golden.sh: $case_file: output differs from $expected (UPDATE_GOLDEN=1 to accept)" >&2
    exit 1
fi
