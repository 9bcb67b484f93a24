# migctl apply / assert / export on software instances (tests/soft/golden-soft.sh): the same
# configuration file as tests/golden/apply.cmd, on two H100 SXM5 80GB GPUs served by migd.
# simulate: h100-sxm5-80gb,h100-sxm5-80gb
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced --dry-run -i 0
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced
migctl assert -f $TESTDATA/apply/layouts.yaml -c balanced
migctl mig -lgi
# applying it again changes nothing
migctl apply -f $TESTDATA/apply/layouts.yaml -c balanced
# balanced -> 4 x 1g + 3g: the 3g and both 1g stay, only the 2g goes (its destroy-ci is
# accepted, the destroy-gi takes the instance)
migctl apply -f $TESTDATA/apply/layouts.yaml -c small-and-big --json -i 0
migctl -L
# a busy instance in the way stops the apply; --force cannot make a software instance's
# processes stop, so migd refuses the destroy and the GPU is rolled back
! sleep 120 & echo $! >"$STATE/sleep.pid"
! migd_call POST /v1/instances/$(uuid_of 1 2)/processes "{\"pid\": $(cat "$STATE/sleep.pid")}"
migctl apply -f $TESTDATA/apply/layouts.yaml -c full -i 1
migctl apply -f $TESTDATA/apply/layouts.yaml -c full -i 1 --force
migctl mig -lgi -i 1
! migd_call DELETE /v1/instances/$(uuid_of 1 2)/processes/$(cat "$STATE/sleep.pid"); kill $(cat "$STATE/sleep.pid")
migctl apply -f $TESTDATA/apply/layouts.yaml -c full -i 1
# a CI profile other than the default, and MIG mode off, are not for software instances: the
# GPU is rolled back
migctl apply -f $TESTDATA/apply/layouts.yaml -c split-compute
migctl export
# the export re-applies to the same machine without a change
! "$migctl" export > "$STATE/exported.yaml"
migctl apply -f - < $STATE/exported.yaml
migctl status
migctl status --json -i 1
