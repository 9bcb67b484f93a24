/*
 * nvml-procs.h - per-process GPU memory as NVML reports it, for migd's watchdog.
 *
 * A small door into NVML that hands out plain types only, so that migd (which is not part of
 * the vendor layer) never sees an NVML declaration (shared/style.md: vendor access sits behind
 * one internal header per library). It loads libnvidia-ml.so.1 through mk__nvml_load() (the
 * one symbol list, dlopen once) and holds one nvmlInit reference while open.
 */
#ifndef MIGKIT_VENDOR_NVML_PROCS_H
#define MIGKIT_VENDOR_NVML_PROCS_H

#include <stdint.h>
#include <sys/types.h>

#include "migkit/common.h"

/* used_bytes of a process whose memory the driver does not report (NVML's
 * NVML_VALUE_NOT_AVAILABLE_ULL: no permission, or a MIG parent device). */
#define MK_GPU_PROC_USED_UNKNOWN UINT64_MAX

struct mk_gpu_proc {
    pid_t pid;           /* in the pid namespace of the caller's NVML (the host's for migd) */
    uint64_t used_bytes; /* "all of the memory used by the application", or ..._UNKNOWN */
};

/* Loads NVML and initialises it (nvmlInit_v2). Returns 0, -ELIBACC when there is no
 * libnvidia-ml.so.1, -ENOSYS when it lacks nvmlDeviceGetComputeRunningProcesses_v3 (before
 * driver R470/CUDA 11.6), or the mapped NVML error of nvmlInit. Thread-safe. */
int mk__gpu_procs_open(struct mk_error *err);
/* Drops the nvmlInit reference taken by a successful open. */
void mk__gpu_procs_close(void);

/*
 * The compute processes on GPU gpu (NVML index) into out[0..max). Returns how many there are
 * (which may exceed max: call again with room for that many; the list may change between the
 * calls, as it does on a real driver), or -errno with err. Only after a successful open.
 */
int mk__gpu_procs_read(unsigned int gpu, struct mk_gpu_proc *out, size_t max, struct mk_error *err);

#endif /* MIGKIT_VENDOR_NVML_PROCS_H */
