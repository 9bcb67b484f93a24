# Bad input to migctl plan: each error names its place, exits 2 and writes nothing.
! printf 'workloads:\n  - {name: a, memory: 8GiB, colour: red}\n' > $STATE/key.yaml
! printf 'fleet:\n  - {model: h100, count: 2}\nworkloads:\n  - {name: a, memory: 8GiB}\n' > $STATE/model.yaml
! printf 'workloads:\n  - {name: a, memory: -8GiB}\n' > $STATE/negative.yaml
! printf 'workloads:\n  - {name: a, memory: 18GiBx}\n' > $STATE/size.yaml
! printf 'workloads:\n  - {name: a, memory: 8GiB, priority: high}\n' > $STATE/priority.yaml
! printf 'workloads:\n  - {name: a, memory: 8GiB, compute: 2x}\n' > $STATE/compute.yaml
! printf 'workloads:\n  - {name: a, memory: 8GiB, models: [a100]}\n' > $STATE/allowed.yaml
! printf '{"workloads": [{"name": "a", "memory": "8GiB",}]}\n' > $STATE/syntax.json
! printf '{"workloads": [\n  {"name": "a", "memory": "8GiB", "replicas": "2"}]}\n' > $STATE/replicas.json
! printf 'fleet:\n  - {model: a30-24gb}\nworkloads:\n  - {name: a, memory: 1GiB}\n' > $STATE/fleet-and-work.yaml
! printf 'workloads:\n  - {name: a, memory: 1GiB}\n' > $STATE/ok.yaml
! printf 'fleet:\n  - {model: a30-24gb, count: 65}\nworkloads:\n  - {name: a, memory: 1GiB}\n' > $STATE/big.yaml
migctl plan -f $STATE/key.yaml
migctl plan -f $STATE/model.yaml
migctl plan -f $STATE/negative.yaml
migctl plan -f $STATE/size.yaml
migctl plan -f $STATE/priority.yaml
migctl plan -f $STATE/compute.yaml
migctl plan -f $STATE/allowed.yaml
migctl plan -f $STATE/syntax.json
migctl plan -f $STATE/replicas.json
migctl plan -f $STATE/ok.yaml --fleet $STATE/fleet-and-work.yaml
migctl plan -f $STATE/missing.yaml
# usage errors
migctl plan
migctl plan -f $STATE/ok.yaml --headroom 0.2x
migctl plan -f $STATE/ok.yaml --headroom 11
migctl plan -f $STATE/ok.yaml --label ""
migctl plan -f $STATE/ok.yaml -i 0
migctl plan -f $STATE/ok.yaml extra
migctl plan -f $STATE/ok.yaml --bogus
# a fleet larger than one node: only --json
migctl plan -f $STATE/big.yaml -o $STATE/big-plan.yaml
migctl plan -f $STATE/ok.yaml -o $STATE/nodir/plan.yaml
