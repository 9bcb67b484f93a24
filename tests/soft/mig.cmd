# nvidia-smi's MIG verbs on software instances: migctl --backend soft against a real migd
# (tests/soft/golden-soft.sh), an H100 SXM5 80GB as GPU 0 and an A100 SXM4 40GB as GPU 1.
# simulate: h100-sxm5-80gb,a100-sxm4-40gb
migctl -L
migctl mig -lgi
migctl mig -lgip -i 1
# profile instances are GPU instances with their default compute instance, at the placements
# and GI IDs the hardware would give
migctl -i 0 mig -cgi 9,19,19 -C
migctl -i 1 mig -cgi 3g.20gb
migctl mig -lgi
migctl mig -lci
migctl -L
# the CI comes with its instance: creating the default one again is accepted and changes
# nothing, another CI profile is Not Supported
migctl -i 1 mig -cci -gi 2
migctl -i 0 mig -cci 1c.3g.40gb -gi 2
migctl -i 0 mig -lcip -gi 2
# migd's refusals come out as nvidia-smi's classes, with migd's reason after them
migctl -i 0 mig -cgi 9:4
migctl -i 0 mig -cgi 7g.80gb
migctl -i 0 mig -cgi 9:1
migctl -i 0 mig -dgi -gi 5
# -dci is accepted and changes nothing in migd: the CI is listed again afterwards
migctl -i 0 mig -dci -gi 7
migctl -i 0 mig -lci -gi 7
# a registered process makes its instance busy: -dci and -dgi are In use
! sleep 120 & echo $! >"$STATE/sleep.pid"
! migd_call POST /v1/instances/$(uuid_of 0 2)/processes "{\"pid\": $(cat "$STATE/sleep.pid")}"
migctl -i 0 mig -dci -gi 2
migctl -i 0 mig -dgi -gi 2
! migd_call DELETE /v1/instances/$(uuid_of 0 2)/processes/$(cat "$STATE/sleep.pid"); kill $(cat "$STATE/sleep.pid")
# -dgi takes the instance with its CI; nvidia-smi's -dci then -dgi works too
migctl -i 0 mig -dgi -gi 2
migctl -i 0 mig -dci -gi 8
migctl -i 0 mig -dgi -gi 8
migctl mig -lgi
# software instances have no MIG mode: -mig 1 is accepted, -mig 0 is Not Supported
migctl -i 0 -mig 1
migctl -i 0 -mig 0
# custom instances (any memory and SM count, no placement) are listed after the MIG devices
! migd_call POST /v1/instances '{"gpu": 1, "memory_bytes": 12884901888, "sms": 32}'
migctl -i 1 -L
migctl -i 1 -L --json
migctl status -i 1
# -lgip's Free counts the memory custom instances hold: the 3g.20gb (19968 MiB) and the
# custom 12 GiB leave 8704 MiB of the A100's 40960: one more 1g.5gb, no larger profile
migctl -i 1 mig -lgip
# a profile instance grown beyond its profile holds memory outside its slices too: the 3g.20gb
# at 24 GiB and the custom 12 GiB leave 4096 MiB, less than one 1g.5gb (4864 MiB)
! migd_call PATCH /v1/instances/$(uuid_of 1 2) '{"quota_bytes": 25769803776}' >/dev/null
migctl -i 1 mig -lgip
migctl mig -dgi
migctl -L
# what the listings do when migd is not there
migctl --run-dir /nonexistent/run -L
