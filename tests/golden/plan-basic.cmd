# migctl plan on a fleet file (tests/data/plan/inference.yaml), then the configuration it
# writes applied to a simulated machine of that fleet and asserted.
! cp "$(dirname "$case_file")"/../data/plan/*.yaml "$(dirname "$case_file")"/../data/plan/*.json $STATE/
migctl plan -f $STATE/inference.yaml -o $STATE/plan.yaml
migctl sim init --gpu h100-sxm5-80gb,h100-sxm5-80gb,h100-sxm5-80gb,a100-sxm4-40gb
migctl apply -f $STATE/plan.yaml
migctl assert -f $STATE/plan.yaml
migctl -L
# without -o: the configuration on standard output (the report goes to standard error)
migctl plan -f $STATE/inference.json --label inference 2>/dev/null
# another headroom and label, and the fleet from --fleet (it replaces the file's)
migctl plan -f $STATE/inference.yaml --fleet $STATE/small-fleet.yaml --headroom 0 --label small 2>/dev/null
migctl plan -f $STATE/inference.yaml --fleet $STATE/small-fleet.yaml --headroom 0 -o $STATE/small.yaml
migctl sim init --gpu h100-sxm5-80gb,a30-24gb
migctl apply -f $STATE/small.yaml
migctl assert -f $STATE/small.yaml
