/*
 * fake-nvml.h - the inside of the fake libnvidia-ml.so.1 (tests/fakes, docs/nvml.md).
 *
 * The fake serves the simulated machine of the state directory (MIGKIT_STATE_DIR, as
 * `migctl sim init` makes it) through NVML's real ABI: the versioned symbol names and
 * signatures of MK_NVML_SYMBOLS (src/vendor/nvml.h, the list the backend resolves), the
 * struct layouts and version words of the reference, and the semantics of
 * shared/reference/nvml-mig-api.md §7, computed by migkit's own geometry (so the simulator
 * and the fake cannot disagree about a rule). Every call takes the state directory's lock,
 * reads state.json, and writes it back when it changed (src/backend/simstate.c, shared with
 * the simulator backend).
 *
 * $MIGKIT_STATE_DIR/nvml-fake.json, optional and read on every call, scripts what the
 * simulator has no notion of:
 *   {"inject": [{"function": "nvmlDeviceCreateGpuInstance", "error": "IN_USE",
 *                "count": 1, "gpu": 0},
 *               {"function": "nvmlDeviceSetMigMode", "activation_status": "RESET_REQUIRED"}],
 *    "non_mig_gpus": [{"name": "NVIDIA L4", "pci_device_id": "0x27B810DE",
 *                      "memory_mib": 23034, "uuid": "GPU-...", "sms": 58,
 *                      "compute_capability": "8.9"}],
 *    "gpus": [{"index": 0, "name": "...", "pci_device_id": "0x...",
 *              "profile_memory_mib": {"19": 9856}}],
 *    "processes": [{"gpu": 0, "pid": 4242, "used_memory_bytes": 1073741824}]}
 * "inject" entries fail the named function (optionally on one GPU) with "error", or, for
 * nvmlDeviceSetMigMode, return success with "activation_status" and leave the mode pending;
 * "count" uses an entry up that many times (the file is rewritten), none means always.
 * "non_mig_gpus" are GPUs after the simulated ones that answer NOT_SUPPORTED to every MIG
 * query. "gpus" overrides what the driver reports for a simulated GPU. "processes" are
 * compute processes on a whole GPU (simulated or not), after the simulator's busy GIs.
 */
#ifndef MIGKIT_FAKE_NVML_H
#define MIGKIT_FAKE_NVML_H

#include <jansson.h>

#include "migkit/geometry.h"
#include "vendor/nvml.h"

/* Every function of the list, exported (the library is built -fvisibility=hidden and with a
 * version script that keeps only nvml* global). Declaring them from the list is what makes
 * a fake definition with a drifted signature a compile error. */
#define FAKE_X_EXPORT(need, since, ret, name, params)                                              \
    __attribute__((visibility("default"))) ret name params;
MK_NVML_SYMBOLS(FAKE_X_EXPORT)
#undef FAKE_X_EXPORT

/* The most GPUs a state file holds (state.c's bound) plus non-MIG GPUs from the script. */
#define FAKE_MAX_GPUS 64
/* The pids the fake reports for the processes on a busy GPU instance start here: above
 * Linux's default pid_max (4194304 = 2^22 is the largest allowed), so they name no process
 * of the test machine; nothing signals them anyway. */
#define FAKE_PID_BASE 5000000u

/* A device handle points at one of these: a physical GPU (gi = ci = -1) or a MIG device. */
struct fake_dev {
    int gpu, gi, ci;
};
struct fake_gi {
    int gpu, gi;
};
struct fake_ci {
    int gpu, gi, ci;
};

/* A GPU outside the simulated machine: no MIG. */
struct fake_plain_gpu {
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[MK_UUID_LEN];
    unsigned int pci_id;
    unsigned long long memory_mib;
    int sms;                /* 0: the driver cannot tell (NOT_SUPPORTED) */
    int cc_major, cc_minor; /* compute capability, "8.9" unless the script says */
};

/* One call's view of the machine, between fake_begin() and fake_end(). */
struct fake_call {
    const char *fn;      /* the exported function's name, for injection */
    int lock_fd;         /* the state directory's lock, held exclusively */
    struct mk_gpu *gpus; /* the simulated GPUs, from state.json */
    int ngpus;
    json_t *conf; /* nvml-fake.json, or NULL */
    int nplain;   /* non-MIG GPUs from the script, indices ngpus.. */
    struct fake_plain_gpu plain[FAKE_MAX_GPUS];
    bool state_dirty, conf_dirty;
    /* The injection that matched: an error to return, or an activation status. */
    nvmlReturn_t inject_rc, inject_act;
    bool has_act;
};

/* Starts a call of function fn on GPU gpu (-1 when it has none): checks nvmlInit was called,
 * locks the state directory, reads the state and the script, and applies the injection that
 * matches. Returns NVML_SUCCESS, or the code to return (the call is then over). */
nvmlReturn_t fake_begin(struct fake_call *c, const char *fn, int gpu);
/* Ends a call: writes back what changed, unlocks. Returns rc (or UNKNOWN if saving failed). */
nvmlReturn_t fake_end(struct fake_call *c, nvmlReturn_t rc);

/* nvmlInit_v2/nvmlInitWithFlags and nvmlShutdown. */
nvmlReturn_t fake_init(void);
nvmlReturn_t fake_shutdown(void);

/* Handles. The *_of functions return NULL for a pointer that is not a fake handle. */
nvmlDevice_t fake_dev_handle(int gpu, int gi, int ci);
nvmlGpuInstance_t fake_gi_handle(int gpu, int gi);
nvmlComputeInstance_t fake_ci_handle(int gpu, int gi, int ci);
const struct fake_dev *fake_dev_of(nvmlDevice_t h);
const struct fake_gi *fake_gi_of(nvmlGpuInstance_t h);
const struct fake_ci *fake_ci_of(nvmlComputeInstance_t h);
/* The GPU index behind any handle, or -1: for fake_begin's "gpu" before the state is read. */
int fake_dev_gpu(nvmlDevice_t h);
int fake_gi_gpu(nvmlGpuInstance_t h);
int fake_ci_gpu(nvmlComputeInstance_t h);

/* The simulated GPU of a physical device handle (NULL for MIG devices, non-MIG GPUs and
 * stale handles). */
struct mk_gpu *fake_sim_gpu(struct fake_call *c, nvmlDevice_t h);
/* The GI and CI behind handles, NULL when the handle is stale. */
struct mk_gi *fake_gi(struct fake_call *c, nvmlGpuInstance_t h, struct mk_gpu **ret_gpu);
struct mk_ci *fake_ci(struct fake_call *c, nvmlComputeInstance_t h, struct mk_gpu **ret_gpu,
                      struct mk_gi **ret_gi);

/* Script overrides for simulated GPU i: the product name, the PCI device ID, and a
 * profile's memory. */
const char *fake_gpu_name(struct fake_call *c, int i);
unsigned int fake_gpu_pci_id(struct fake_call *c, int i);
uint32_t fake_profile_memory(struct fake_call *c, int i, const struct mk_gi_profile *p);

/* The pending MIG mode of GPU i (-1: none), kept for the life of the process: the fake's
 * pending state after an injected activation failure (docs/nvml.md). */
int fake_pending_mode(int i);
void fake_set_pending_mode(int i, int mode);

/* The NVML code for a negative errno from migkit's geometry. */
nvmlReturn_t fake_from_errno(int r);
/* Copies s into buf of length len: INSUFFICIENT_SIZE when it does not fit (ref §6.2). */
nvmlReturn_t fake_copy_string(char *buf, unsigned int len, const char *s);

#endif /* MIGKIT_FAKE_NVML_H */
