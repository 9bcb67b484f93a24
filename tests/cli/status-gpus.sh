#!/usr/bin/env bash
# status-gpus.sh - tests of `migctl gpus`: the model list, one model's facts and profile
# tables with their unverified markers, the JSON forms and the unknown-model error.
#
# Usage: status-gpus.sh MIGCTL
# Uses only the built-in catalog. The JSON checks need python3 and are skipped without it.
set -u
migctl=$1
unset MIGKIT_CATALOG
failures=0

fail() {
    echo "status-gpus.sh: FAIL: $*" >&2
    failures=$((failures + 1))
}

# ---- the list ----
out=$("$migctl" gpus 2>&1) || fail "gpus: non-zero exit"
[ "$(echo "$out" | grep -c '^  [a-z0-9-]*  ')" -eq 13 ] || fail "gpus should list 13 models"
echo "$out" | grep -q '^  SLUG  *NAME  *GRID  *COMPUTE  *MAX GIS  *MEMORY GIB  *PROFILES  *UNVERIFIED$' ||
    fail "gpus: header"
echo "$out" | grep -Eq '^  rtx-pro-6000-96gb  +NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition +12 +4 +4 +95\.59 +11  \?$' ||
    fail "gpus: the RTX PRO 6000 row"
echo "$out" | grep -q '^? = inferred, not observed on hardware (unverified)' || fail "gpus: legend"

# ---- one model ----
expected=$(
    cat <<'EOF'
Model:               h100-sxm5-80gb
Name:                NVIDIA H100 80GB HBM3
Also reported as:    -
PCI IDs:             0x233010DE
Architecture:        Hopper (GH100), compute capability 9.0
Minimum driver:      R525 (>= 525.85.12)
Total memory:        81559 MiB (79.65 GiB)?
Name base:           80 GiB (the base of the profile names)
SMs:                 132
Slices:              8 memory slices (placement grid), 7 compute slices
Max GPU instances:   7
GPU instance IDs:    verified (binary-tree numbering)
CI profiles:         0=1c, 1=2c, 2=3c, 3=4c, 4=7c, 7=1c

GPU instance profiles:
  NAME        ID  NVML          MSL  CSL   SM    MIB    GIB  DEC  ENC  CE  JPEG  OFA  MAX
  1g.10gb     19  1_SLICE         1    1   16   9984   9.75    1    0   1     1    0    7
  1g.10gb+me  20  1_SLICE_REV1    1    1   16   9984   9.75    1    0   1     1    1    1
  1g.20gb     15  1_SLICE_REV2    2    1   26  20096  19.62    1    0   1     1    0    4
  2g.20gb     14  2_SLICE         2    2   32  20096  19.62    2    0   2     2    0    3
  3g.40gb      9  3_SLICE         4    3   60  40448  39.50    3    0   3     3    0    2
  4g.40gb      5  4_SLICE         4    4   64  40448  39.50    4    0   4     4    0    1
  7g.80gb      0  7_SLICE         8    7  132  81152  79.25    7    0   8     7    1    1

Placements and compute instances:
  NAME        ID  PLACEMENTS         AUTO ORDER     CI           OTHER NAMES  MEMORY ALTERNATIVES
  1g.10gb     19  {0,1,2,3,4,5,6}:1  6,4,5,0,1,2,3  0*           -            9856 MiB (driver 525.125.06 (9.62 GiB))
  1g.10gb+me  20  {0,1,2,3,4,5,6}:1  6,4,5,0,1,2,3  0*           -            -
  1g.20gb     15  {0,2,4,6}:2        4,6,0,2?       7*?          -            19968 MiB (driver 525.125.06 (19.50 GiB))
  2g.20gb     14  {0,2,4}:2          4,0,2          0,1*         -            19968 MiB (driver 525.125.06 (19.50 GiB))
  3g.40gb      9  {0,4}:4            4,0            0,1,2*       -            40192 MiB (driver 525.125.06 (39.25 GiB))
  4g.40gb      5  {0}:4              0              0,1,3*       -            -
  7g.80gb      0  {0}:8              0              0,1,2,3,4*?  -            -

MSL/CSL = memory/compute slices; PLACEMENTS = {starts}:size; CI = CI profile IDs offered, * = default (-C).
? = inferred, not observed on hardware (unverified)

Unverified:
  model: memory_mib
  1g.20gb: auto_order, ci
  7g.80gb: ci
EOF
)
actual=$("$migctl" gpus --model h100-sxm5-80gb 2>&1 | sed '/^Notes:/,$d' | sed '$d')
if [ "$actual" != "$expected" ]; then
    fail "gpus --model h100-sxm5-80gb differs:"
    diff -u <(echo "$expected") <(echo "$actual") >&2
fi
"$migctl" gpus -model h100-sxm5-80gb | grep -q '^  - H100 has no NVENC' || fail "notes"
# A PCIe board: its GI IDs are unverified.
"$migctl" gpus --model h100-pcie-80gb | grep -q '^GPU instance IDs:  *unverified.*?$' ||
    fail "h100-pcie-80gb: GI IDs should be marked unverified"
# Engines unverified: each engine cell carries the marker.
"$migctl" gpus --model gh200-144gb | grep -Eq '^  3g\.72gb +9\? +3_SLICE +4 +3 +60\? +72192\? +70\.50\? +3\? +0\? +3\? +3\? +0\? +2$' ||
    fail "gh200-144gb: 3g.72gb's unverified cells"

# ---- errors ----
out=$("$migctl" gpus --model nope 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "unknown model: exit $rc, expected 2"
[ "$out" = "migctl: unknown GPU model \"nope\" (see 'migctl gpus')" ] ||
    fail "unknown model: message \"$out\""
"$migctl" gpus extra >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "gpus extra: exit $rc, expected 2"

# ---- JSON ----
if command -v python3 >/dev/null 2>&1; then
    "$migctl" gpus --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d) == 13, len(d)
m = {x["slug"]: x for x in d}["h100-sxm5-80gb"]
assert m["grid"] == 8 and m["compute_slices"] == 7 and m["gi_profile_count"] == 7
assert m["unverified"] == ["memory_mib"] and m["has_unverified"] is True
' || fail "gpus --json"
    "$migctl" gpus --model h100-pcie-80gb --json | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert m["slug"] == "h100-pcie-80gb" and m["pci_device_ids"] == ["0x233110DE"]
assert m["pcie_board"] is True and m["gi_ids_unverified"] is True
assert m["unverified"] == ["gi_ids"]
p = m["gi_profiles"][0]
assert p["name"] == "1g.10gb" and p["nvml"] == "1_SLICE" and p["media"] == "plain"
assert p["starts"] == [0, 1, 2, 3, 4, 5, 6] and p["unverified"] == ["starts", "auto_order"]
assert [c["slices"] for c in m["ci_profiles"]] == [1, 2, 3, 4, 7, 1]
' || fail "gpus --model h100-pcie-80gb --json"
    "$migctl" gpus --model nope --json >/dev/null 2>&1
    [ $? -eq 2 ] || fail "unknown model with --json: exit status"
else
    echo "status-gpus.sh: python3 missing: JSON checks skipped" >&2
fi

if [ "$failures" -ne 0 ]; then
    echo "status-gpus.sh: $failures failure(s)" >&2
    exit 1
fi
echo "status-gpus.sh: ok"
