# Every error path: the message, the exit status, and that nothing changed.
migctl sim init --gpu h100-sxm5-80gb
migctl mig -cgi 9 -C
# unknown profiles (ID, short name, another GPU's name) and bad placements
migctl mig -cgi 42
migctl mig -cgi 7g.40gb
migctl mig -cgi 3g.20gb
migctl mig -cgi 19:7
migctl mig -cgi 9:2
migctl mig -cgi 19,,19
migctl mig -cgi 9,9
migctl mig -lgi
# media-engine rule: one +me per GPU
migctl mig -cgi 20,20
migctl mig -dgi -gi 7
migctl mig -dci -gi 7
migctl mig -dgi -gi 7
migctl mig -dci -gi 7
# GPU and instance IDs that do not exist
migctl -i 3 mig -lgi
migctl -i 3 -L
migctl -i x mig -lgi
migctl mig -dgi -gi 5
migctl mig -dgi -gi 15
migctl mig -dci -ci 3 -gi 2
migctl mig -cci -gi 5
migctl mig -cci 9 -gi 2
migctl mig -cci 1c.3g.20gb -gi 2
migctl mig -lcip -gi 9
migctl mig -lci -gi 9
# in use
migctl mig -dgi
migctl sim busy 2
migctl mig -dci
migctl sim busy 2 --clear
migctl mig -dci
migctl mig -dgi
migctl mig -dgi
migctl mig -dci
# MIG mode: disabling with instances, operations with MIG off
migctl mig -cgi 19
migctl -mig 0
migctl mig -dgi
migctl -mig 0
migctl mig -lgi
migctl mig -cgi 19
migctl mig -lgip
migctl -i 0 -mig 1
migctl mig -lgi
# usage errors
migctl mig
migctl mig -lgi -lci
migctl mig -lgi -C
migctl mig -bogus
migctl frobnicate
migctl -mig 2
migctl sim init --gpu l4-24gb
# a damaged state file is reported, never a crash, and left for inspection
! echo '{"version": 1, "gpus": [' > "$STATE/state.json"
migctl mig -lgi
! echo '{"version": 1, "gpus": [{"model": "h100-sxm5-80gb", "uuid": "GPU-00000000-0000-0000-0000-000000000000", "pci_bus_id": "00000000:01:00.0", "mig_enabled": true, "gis": [{"id": 7, "profile_id": 9, "start": 0, "cis": []}]}]}' > "$STATE/state.json"
migctl mig -lgi
! echo '{"version": 7, "gpus": []}' > "$STATE/state.json"
migctl -L
# every command answers --help (gpus, sim, status and plan through the command table)
migctl gpus --help
migctl status -i 0 --help
migctl sim --help
migctl plan --help
