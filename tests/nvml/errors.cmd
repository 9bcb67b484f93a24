# NVML errors through migctl: each error the fake libnvidia-ml.so.1 is told to give (its
# script, $STATE/nvml-fake.json) must come out as nvidia-smi's text and exit status, and the
# ones that need more words get them on a "migctl:" line (docs/nvml.md). Run by
# tests/nvml/run-golden.sh with LD_LIBRARY_PATH at the fake and MIGKIT_BACKEND=nvml.
migctl sim init --gpu a100-sxm4-40gb
migctl -L --json
# IN_USE on creation, once (a profiler holding /dev/nvidia0); then it works
! echo '{"inject": [{"function": "nvmlDeviceCreateGpuInstance", "error": "IN_USE", "count": 1}]}' > "$STATE/nvml-fake.json"
migctl mig -cgi 19 -C
migctl mig -cgi 19 -C
# INSUFFICIENT_RESOURCES with an explicit placement
! echo '{"inject": [{"function": "nvmlDeviceCreateGpuInstanceWithPlacement", "error": "INSUFFICIENT_RESOURCES"}]}' > "$STATE/nvml-fake.json"
migctl mig -cgi 14:0
# NO_PERMISSION: nvidia-smi's text and exit status 4, and "requires root"
! echo '{"inject": [{"function": "nvmlDeviceCreateGpuInstance", "error": "NO_PERMISSION"}, {"function": "nvmlGpuInstanceCreateComputeInstance", "error": "NO_PERMISSION"}, {"function": "nvmlComputeInstanceDestroy", "error": "NO_PERMISSION"}, {"function": "nvmlDeviceSetMigMode", "error": "NO_PERMISSION"}]}' > "$STATE/nvml-fake.json"
migctl mig -cgi 14,19
migctl mig -cci -gi 13
migctl mig -dci
migctl -mig 0
# IN_USE from a process: "sim busy" shows as a running process on the GI's MIG device
! rm -f "$STATE/nvml-fake.json"
migctl sim busy 13
migctl mig -lgi --json
migctl mig -dci -gi 13
migctl mig -dgi -gi 13
migctl sim busy 13 --clear
migctl mig -dci
migctl mig -dgi
# MIG mode left pending: IN_USE (GPU busy, Ampere) and RESET_REQUIRED (VM passthrough)
! echo '{"inject": [{"function": "nvmlDeviceSetMigMode", "activation_status": "IN_USE", "count": 1}, {"function": "nvmlDeviceSetMigMode", "activation_status": "RESET_REQUIRED", "count": 1}]}' > "$STATE/nvml-fake.json"
migctl -mig 0
migctl -mig 0
migctl -mig 0
migctl -mig 1
# RESET_REQUIRED as the answer of an operation
! echo '{"inject": [{"function": "nvmlDeviceCreateGpuInstance", "error": "RESET_REQUIRED"}]}' > "$STATE/nvml-fake.json"
migctl mig -cgi 19
# NOT_SUPPORTED: an L4 beside the A100 has no MIG
! echo '{"non_mig_gpus": [{"name": "NVIDIA L4", "pci_device_id": "0x27B810DE", "memory_mib": 23034}]}' > "$STATE/nvml-fake.json"
migctl -L
migctl -i 1 -mig 1
migctl -i 1 mig -lgip
migctl -i 1 mig -cgi 19
migctl -i 1 -L --json
migctl mig -lgipp
# a function the driver lacks (FUNCTION_NOT_FOUND): the process query degrades, a create fails
! echo '{"inject": [{"function": "nvmlDeviceGetComputeRunningProcesses_v3", "error": "FUNCTION_NOT_FOUND"}, {"function": "nvmlDeviceCreateGpuInstanceWithPlacement", "error": "FUNCTION_NOT_FOUND"}]}' > "$STATE/nvml-fake.json"
migctl mig -lgi
migctl mig -cgi 19:0
# apply --force over a busy GI: the simulator stops its processes, no NVML call can; the
# driver answers "In use" and apply restores the GPU's old layout
! rm -f "$STATE/nvml-fake.json"
migctl sim init --gpu h100-sxm5-80gb
migctl mig -cgi 9 -C
migctl sim busy 2
migctl apply -f $TESTDATA/apply/layouts.yaml -c full --force
migctl mig -lgi --json
# the driver cannot be initialised (nvmlInit_v2 fails): --backend nvml says so, auto falls back
! echo '{"inject": [{"function": "nvmlInit_v2", "error": "DRIVER_NOT_LOADED"}]}' > "$STATE/nvml-fake.json"
migctl -L
migctl --backend auto -L --json
# a damaged state file: the fake cannot read its machine and says why
! rm -f "$STATE/nvml-fake.json"
! echo '{"version": 1, "gpus": [' > "$STATE/state.json"
migctl mig -lgi
