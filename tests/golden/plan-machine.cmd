# Without a fleet, plan for the machine the backend sees, keeping its current instances.
migctl sim init --gpu h100-sxm5-80gb,h100-sxm5-80gb,a30-24gb
migctl -i 1 mig -cgi 3g.40gb,1g.10gb,1g.10gb -C
migctl -i 0 mig -cgi 2g.20gb -C
! printf 'workloads:\n  - {name: chat, memory: 30GiB, priority: 1}\n  - {name: embed, memory: 6GiB, replicas: 2}\n  - {name: huge, memory: 90GiB}\n  - {name: h200-only, memory: 4GiB, models: [h200-141gb]}\n' > $STATE/w.yaml
migctl plan -f $STATE/w.yaml -o $STATE/plan.yaml
migctl apply -f $STATE/plan.yaml --dry-run
migctl apply -f $STATE/plan.yaml
migctl assert -f $STATE/plan.yaml
# planning again changes nothing
migctl plan -f $STATE/w.yaml -o $STATE/again.yaml
