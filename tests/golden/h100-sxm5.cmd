# H100 SXM5 80GB: every listing, the driver's automatic placement and GI IDs, teardown.
migctl sim init --gpu h100-sxm5-80gb
migctl -L
migctl mig -lgip
migctl mig -lgipp
migctl mig -lgi
migctl mig -lci
# 7 x 1g.10gb: the driver assigns GI IDs 13, 11, 12, 7, 8, 9, 10 (real output)
migctl mig -i 0 -cgi 19,19,19,19,19,19,19 -C
migctl mig -lgi
migctl mig -lci
migctl mig -lgip
migctl -L
migctl mig -cgi 19
migctl mig -dgi -gi 13
migctl mig -dci -gi 13
migctl mig -dgi -gi 13
migctl mig -dci
migctl mig -dgi
migctl mig -lgi
# the issue's example: 3g, 2g and two 1g with default compute instances
migctl mig -cgi 9,14,19,19 -C
migctl mig -lgi
migctl mig -lcip
migctl mig -lcip -gi 2
migctl mig -lci -gi 2
migctl mig -lgip
migctl -L
# explicit placement, long option names, full profile names
migctl mig -dci
migctl mig -dgi
migctl mig --create-gpu-instance "MIG 1g.20gb:6,2g.20gb:0,3g.40gb" --default-compute-instance
# fragmentation: 3g needs 0:4 or 4:4, both now blocked
migctl mig -cgi 1g.10gb:2,19
migctl mig --list-gpu-instances
migctl mig -cci -gi 9
migctl mig -cci
migctl mig --list-compute-instances
migctl mig -lci
migctl mig -dci -gi 3
migctl mig -cci 0,0 -gi 3
migctl mig -lcip -gi 3
migctl mig -lci
