#!/usr/bin/env bash
# status-picture.sh - tests of `migctl status`: the plain-ASCII picture (byte for byte, UUIDs
# masked), the terminal rendering, --json, --svg and the errors.
#
# Usage: status-picture.sh MIGCTL
# Runs in a fresh simulator state directory. Checks that need python3 (JSON and XML parsing)
# or script(1) (a pseudo-terminal) are skipped, with a message, where those are missing.
set -u
migctl=$1
STATE=$(mktemp -d)
export MIGKIT_STATE_DIR=$STATE
unset MIGKIT_CATALOG NO_COLOR
trap 'rm -rf "$STATE"' EXIT
failures=0

fail() {
    echo "status-picture.sh: FAIL: $*" >&2
    failures=$((failures + 1))
}

mask() {
    sed -E 's/(GPU|MIG)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/\1-UUID/g'
}

# The machine: the issue's H100 example on GPU 0, a 2g.48gb with two 1c CIs (busy) on GPU 1.
"$migctl" sim init --gpu h100-sxm5-80gb,rtx-pro-6000-96gb >/dev/null || fail "sim init"
"$migctl" -i 0 mig -cgi 9,14,19,19 -C >/dev/null || fail "create GIs on GPU 0"
"$migctl" -i 1 mig -cgi 5 >/dev/null || fail "create a GI on GPU 1"
"$migctl" -i 1 mig -cci 0,0 -gi 1 >/dev/null || fail "create CIs on GPU 1"
"$migctl" -i 1 sim busy 1 >/dev/null || fail "mark GI 1 busy"

# ---- plain ASCII (stdout is not a terminal) ----
expected=$(
    cat <<'EOF'
GPU 0: NVIDIA H100 80GB HBM3 (h100-sxm5-80gb), MIG Enabled, backend sim
           0       1       2       3       4       5       6       7
         +---------------+-------+-------+-------------------------------+
MEMORY   | GI 3    GI 3  | GI 9  | GI 10 | GI 2    GI 2    GI 2    GI 2  |
         +---------------+-------+-------+-----------------------+-------+
COMPUTE  | 3/0     3/0   | 9/0   | 10/0  | 2/0     2/0     2/0   |
         +---------------+-------+-------+-----------------------+
           0       1       2       3       4       5       6

   GI 9   MIG 1g.10gb         placement 2:1    9984 MiB   16 SMs
          CI 0   MIG 1g.10gb         compute 0:1  MIG-UUID
   GI 10  MIG 1g.10gb         placement 3:1    9984 MiB   16 SMs
          CI 0   MIG 1g.10gb         compute 0:1  MIG-UUID
   GI 3   MIG 2g.20gb         placement 0:2   20096 MiB   32 SMs
          CI 0   MIG 2g.20gb         compute 0:2  MIG-UUID
   GI 2   MIG 3g.40gb         placement 4:4   40448 MiB   60 SMs
          CI 0   MIG 3g.40gb         compute 0:3  MIG-UUID
   Memory slices used 8/8, compute slices used 7/7
   Free/Total now: 1g.10gb 0/7, 1g.10gb+me 0/1, 1g.20gb 0/4, 2g.20gb 0/3, 3g.40gb 0/2, 4g.40gb 0/1,
                   7g.80gb 0/1

GPU 1: NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition (rtx-pro-6000-96gb), MIG Enabled, backend sim
           0       1       2       3       4       5       6       7       8       9       10      11
         +-----------------------------------------------+-------+-------+-------+-------+-------+-------+
MEMORY   | GI 1    GI 1    GI 1    GI 1    GI 1    GI 1  | free  | free  | free  | free  | free  | free  |
         +-----------------------+-----------------------+-------+-------+-------+-------+-------+-------+
COMPUTE  | 1/0                   : 1/1                   | free                  | free                  |
         +-----------------------+-----------------------+-----------------------+-----------------------+
           0                       1                       2                       3

   GI 1   MIG 2g.48gb         placement 0:6   48512 MiB   94 SMs  [busy]
          CI 0   MIG 1c.2g.48gb      compute 0:1  MIG-UUID
          CI 1   MIG 1c.2g.48gb      compute 1:1  MIG-UUID
   Memory slices used 6/12, compute slices used 2/4
   Free/Total now: 1g.24gb 2/4, 1g.24gb+me 1/1, 1g.24gb+gfx 2/4, 1g.24gb+me.all 0/1, 1g.24gb-me 2/4,
                   2g.48gb 1/2, 2g.48gb+gfx 1/2, 2g.48gb+me.all 0/1, 2g.48gb-me 1/2, 4g.96gb 0/1,
                   4g.96gb+gfx 0/1
EOF
)
actual=$("$migctl" status 2>&1 | mask)
if [ "$actual" != "$expected" ]; then
    fail "status (ASCII) differs:"
    diff -u <(echo "$expected") <(echo "$actual") >&2
fi
raw=$("$migctl" status 2>&1)
if printf '%s' "$raw" | LC_ALL=C grep -q '[^ -~]'; then
    fail "status (not a TTY) printed escape codes or non-ASCII characters"
fi
# -i selects one GPU: GPU 1's block alone.
actual=$("$migctl" -i 1 status 2>&1 | mask)
[ "$actual" = "$(echo "$expected" | sed -n '/^GPU 1:/,$p')" ] || fail "-i 1 status differs"

# ---- errors ----
out=$("$migctl" -i 5 status 2>&1)
rc=$?
[ "$rc" -eq 6 ] || fail "-i 5 status: exit $rc, expected 6 (as nvidia-smi's not found)"
[ "$out" = "No devices were found" ] || fail "-i 5 status: message \"$out\""
"$migctl" status extra >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "status extra: exit $rc, expected 2"
"$migctl" status --bogus >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "status --bogus: exit $rc, expected 2"
out=$("$migctl" status --svg "$STATE/no/such/dir/x.svg" 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 255 ] || fail "--svg into a missing directory: exit $rc, expected 255"
case "$out" in
"migctl: cannot write $STATE/no/such/dir/x.svg: No such file or directory") ;;
*) fail "--svg into a missing directory: message \"$out\"" ;;
esac

# ---- --svg ----
svg=$STATE/picture.svg
"$migctl" status --svg "$svg" >/dev/null || fail "status --svg: non-zero exit"
[ -s "$svg" ] || fail "status --svg wrote nothing"
[ -e "$svg.tmp" ] && fail "status --svg left $svg.tmp behind"
[ "$(grep -c '<g id="gpu' "$svg")" -eq 2 ] || fail "the SVG should hold one group per GPU"
grep -q 'viewBox="0 0 ' "$svg" || fail "the SVG has no viewBox"

# ---- JSON and XML, with python3 ----
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$svg" ||
        fail "the SVG is not well-formed XML"
    "$migctl" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [g["index"] for g in d] == [0, 1], "GPUs"
g = d[0]
assert g["backend"] == "sim" and g["model"] == "h100-sxm5-80gb" and g["mig_enabled"]
mem = [s["gpu_instance_id"] for s in g["memory_slices"]]
assert mem == [3, 3, 9, 10, 2, 2, 2, 2], mem
comp = [(s["gpu_instance_id"], s["compute_instance_id"]) for s in g["compute_slices"]]
assert comp == [(3, 0), (3, 0), (9, 0), (10, 0), (2, 0), (2, 0), (2, 0)], comp
assert [gi["id"] for gi in g["gpu_instances"]] == [9, 10, 3, 2]
g = d[1]
assert [s["gpu_instance_id"] for s in g["memory_slices"]] == [1] * 6 + [None] * 6
comp = [(s["gpu_instance_id"], s["compute_instance_id"]) for s in g["compute_slices"]]
assert comp == [(1, 0), (1, 1), (None, None), (None, None)], comp
assert g["gpu_instances"][0]["busy"] is True
' || fail "status --json"
else
    echo "status-picture.sh: python3 missing: JSON and XML checks skipped" >&2
fi

# ---- terminal rendering, with script(1) ----
if command -v script >/dev/null 2>&1; then
    tty_out=$(script -qc "'$migctl' -i 0 status" /dev/null 2>&1)
    case "$tty_out" in
    *"┌"*"│"*) ;;
    *) fail "status on a terminal should use box drawing" ;;
    esac
    case "$tty_out" in
    *$'\033['*) ;;
    *) fail "status on a terminal should use colour" ;;
    esac
    tty_out=$(NO_COLOR=1 script -qc "'$migctl' -i 0 status" /dev/null 2>&1)
    case "$tty_out" in
    *$'\033'*) fail "NO_COLOR: status printed escape codes" ;;
    esac
else
    echo "status-picture.sh: script(1) missing: terminal checks skipped" >&2
fi

# ---- MIG mode disabled ----
"$migctl" sim init --gpu a30-24gb --mig-disabled >/dev/null || fail "sim init --mig-disabled"
out=$("$migctl" status 2>&1)
case "$out" in
*"MIG Disabled"*"MEMORY   | -     | -     | -     | -     |"*"MIG mode is disabled"*) ;;
*) fail "status of a GPU with MIG disabled: $out" ;;
esac

if [ "$failures" -ne 0 ]; then
    echo "status-picture.sh: $failures failure(s)" >&2
    exit 1
fi
echo "status-picture.sh: ok"
