# migctl apply / assert / export on two simulated H100 SXM5 GPUs.
migctl sim init --gpu h100-sxm5-80gb --count 2
migctl assert -f $TESTDATA/apply/layouts.yaml --valid-config
migctl assert -f $TESTDATA/apply/layouts.yaml -c full --valid-config
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced
# from empty to balanced: a plan first, then for real
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced --dry-run
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced
migctl mig -lgi
# applying it again changes nothing
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced
# balanced -> 4 x 1g + 3g: the 3g and both 1g stay, only the 2g goes
migctl apply -f $TESTDATA/apply/layouts.yaml -c small-and-big --dry-run -i 0
migctl apply -f $TESTDATA/apply/layouts.yaml -c small-and-big --json -i 0
migctl -L
# a busy instance in the way stops the apply before any change; --force goes ahead
migctl sim busy 2 -i 1
migctl apply -f $TESTDATA/apply/layouts.yaml -c full
migctl mig -lgi -i 1
migctl apply -f $TESTDATA/apply/layouts.yaml -c full --force
migctl sim busy 0 -i 1 --clear
migctl mig -lgi
# different entries per GPU, CI forms, and MIG mode off on one GPU only
migctl apply -f $TESTDATA/apply/layouts.yaml -c split-compute
migctl mig -lci
migctl -i 1 mig -lgi
migctl export
migctl export -o json -l snapshot -i 0
# the export re-applies to the same machine without a change
! "$migctl" export > "$STATE/exported.yaml"
migctl apply -f - < $STATE/exported.yaml
# labels that cannot fit fail before anything changes, naming the profile and the model
migctl apply -f $TESTDATA/apply/layouts.yaml -c too-many
migctl apply -f $TESTDATA/apply/layouts.yaml -c fragmented
migctl apply -f $TESTDATA/apply/layouts.yaml -c overlapping
migctl apply -f $TESTDATA/apply/layouts.yaml -c other-gpus
migctl apply -f $TESTDATA/apply/layouts.yaml -c no-such-label
migctl apply -f $TESTDATA/apply/layouts.yaml
migctl apply -f $TESTDATA/apply/bad-key.yaml
migctl apply -f $TESTDATA/apply/bad-filter.yaml
migctl assert -f $TESTDATA/apply/bad-key.yaml --valid-config
migctl apply
migctl mig -lgi
# hooks: run in order; a failing hook aborts before changes and apply-exit still runs
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced --hooks $TESTDATA/apply/hooks.yaml
sh cat "$STATE/hooks.log"
migctl apply -f $TESTDATA/apply/layouts.yaml -c full --hooks $TESTDATA/apply/hooks-fail.yaml
sh cat "$STATE/hooks.log"
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced
migctl apply -f $TESTDATA/apply/layouts.yaml -c full --hooks $TESTDATA/apply/hooks-bad.yaml
# an operation fails on GPU 1 (another process holds its device node): GPU 1 is rolled back
# to its old layout, GPU 0 is applied, the exit status says it failed
migctl sim fault create-ci -i 1
migctl apply -f $TESTDATA/apply/layouts.yaml -c small-and-big
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced -i 1
migctl assert -f $TESTDATA/apply/layouts.yaml -c small-and-big -i 0
# when the way back fails too, the GPU is reported as it is
migctl sim fault create-gi --count 2 -i 1
migctl apply -f $TESTDATA/apply/layouts.yaml -c small-and-big --json -i 1
migctl mig -lgi -i 1
migctl sim fault create-gi --count 0 -i 1
migctl apply -f $TESTDATA/apply/layouts.yaml -c small-and-big
migctl sim fault remove-gi
