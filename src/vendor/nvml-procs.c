/*
 * nvml-procs.c - per-process GPU memory through NVML (nvml-procs.h).
 *
 * One query: nvmlDeviceGetComputeRunningProcesses_v3 (ref §6.8) on the physical device
 * handle. It fills a caller-sized array and answers INSUFFICIENT_SIZE with the count when the
 * array is too small (with a count of 0 it only counts); this wrapper turns that protocol into
 * "returns the count".
 */
#include "vendor/nvml-procs.h"
#include "vendor/nvml.h"

static const struct mk_nvml *nvml;

int mk__gpu_procs_open(struct mk_error *err)
{
    const struct mk_nvml *fn;
    nvmlReturn_t rc;
    int r;
    if ((r = mk__nvml_load(&fn, err)) < 0)
        return r;
    if (!fn->nvmlDeviceGetComputeRunningProcesses_v3)
        return mk_error_set(err, -ENOSYS,
                            "%s lacks nvmlDeviceGetComputeRunningProcesses_v3 (NVML 11.6)",
                            MK_NVML_SONAME);
    if ((rc = fn->nvmlInit_v2()) != NVML_SUCCESS)
        return mk__nvml_error(err, rc, "nvmlInit");
    nvml = fn;
    return 0;
}

void mk__gpu_procs_close(void)
{
    if (nvml)
        nvml->nvmlShutdown();
    nvml = NULL;
}

int mk__gpu_procs_read(unsigned int gpu, struct mk_gpu_proc *out, size_t max, struct mk_error *err)
{
    nvmlProcessInfo_t *info = NULL;
    unsigned int n;
    nvmlDevice_t dev;
    nvmlReturn_t rc;
    if (!nvml)
        return mk_error_set(err, -EIO, "NVML is not open");
    if (max > UINT16_MAX) /* far beyond any GPU's process table; keeps the sizes small */
        max = UINT16_MAX;
    if ((rc = nvml->nvmlDeviceGetHandleByIndex_v2(gpu, &dev)) != NVML_SUCCESS)
        return mk__nvml_error(err, rc, "GPU %u", gpu);
    if (max > 0 && !(info = mk__calloc(max, sizeof(*info))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    n = (unsigned int)max;
    rc = nvml->nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, info);
    if (rc == NVML_SUCCESS)
        for (unsigned int i = 0; i < n && i < max; i++)
            out[i] = (struct mk_gpu_proc){.pid = (pid_t)info[i].pid,
                                          .used_bytes =
                                              info[i].usedGpuMemory == NVML_VALUE_NOT_AVAILABLE_ULL
                                                  ? MK_GPU_PROC_USED_UNKNOWN
                                                  : (uint64_t)info[i].usedGpuMemory};
    mk__free(info);
    if (rc != NVML_SUCCESS && rc != NVML_ERROR_INSUFFICIENT_SIZE)
        return mk__nvml_error(err, rc, "running processes of GPU %u", gpu);
    return n > INT32_MAX ? -EOVERFLOW : (int)n;
}
