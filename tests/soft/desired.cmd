# migd's desired configuration (docs/migd.md): apply records it, --dry-run and -i do not, and
# assert without -f checks the machine against it.
# simulate: h100-sxm5-80gb,h100-sxm5-80gb
migctl assert
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced --dry-run -i 0
migctl assert
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced -i 0
migctl assert
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced
sh migd_call GET /v1/desired; echo
migctl assert
migctl assert -c small-and-big
# an instance changes: the machine no longer matches
! "$MIGCTL" -i 1 mig -dci -gi 9; "$MIGCTL" -i 1 mig -dgi -gi 9
migctl assert
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced
# a failed apply records nothing: the desired configuration stays balanced
migctl apply -f $TESTDATA/apply/layouts.yaml -c split-compute
sh migd_call GET /v1/desired | python3 -c 'import json,sys; print(json.load(sys.stdin)["label"])'
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced --json -i 1
migctl assert
