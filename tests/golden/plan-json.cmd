# migctl plan --json: the whole plan in one object (docs/json.md), and --svg.
! printf 'fleet:\n  - {model: h100-sxm5-80gb}\n  - {model: a30-24gb}\nworkloads:\n  - {name: chat, memory: 30GiB, priority: 2}\n  - {name: embed, memory: 4GiB, replicas: 2, compute: 20}\n  - {name: huge, memory: 90GiB}\n' > $STATE/w.yaml
migctl plan -f $STATE/w.yaml --json --svg $STATE/plan.svg
# the SVG is well-formed XML with a background, one rectangle per memory slice of the used
# GPU (8) and one per GI (3): checked here, then shown by planning from a copy of the input
# made only when the check passes
! python3 -c "import sys, xml.dom.minidom as d; x = d.parse(sys.argv[1]); assert len(x.getElementsByTagName('rect')) == 1 + 8 + 3" $STATE/plan.svg && cp $STATE/w.yaml $STATE/svg-ok.yaml
migctl plan -f $STATE/svg-ok.yaml -o $STATE/plan.yaml
