# A100-SXM4-40GB: the MIG User Guide's examples, which are real driver output.
migctl sim init --gpu a100-sxm4-40gb
migctl -L
migctl mig -lgip
migctl mig -lgipp
# UG Example 1: 1g -> GI 13, 2g -> GI 5, 4g -> GI 1
migctl mig -cgi 19,14,5
migctl mig -lgi
migctl mig -dgi
# UG known issue: without the 3g first, it no longer fits
migctl mig -cgi 19,19,14,9
migctl mig -lgi
migctl mig -dgi
migctl mig -cgi 9,19,14,19
migctl mig -lgi
migctl mig -dgi
# UG getting started: two 3g.20gb with default CIs (GI 2 then GI 1)
migctl mig -cgi 9,3g.20gb -C
migctl mig -lgi
migctl mig -lcip -gi 2
migctl mig -dci -ci 0 -gi 2
migctl mig -cci 0,0,0 -gi 2
migctl mig -lci
migctl -L
migctl mig -dgi
migctl mig -dci -ci 0,1,2 -gi 2
migctl mig -dci
migctl mig -dgi
# full GPU
migctl mig -cgi 0 -C
migctl mig -lgip
migctl mig -lcip
migctl mig -cci 0,1,2 -gi 0
migctl -L
