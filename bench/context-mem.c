/*
 * context-mem.c - what NVML says one process holds on GPU 0 once it has a CUDA context, and
 * what a 1 GiB cuMemAlloc adds: the numbers behind the watchdog's slack
 * (WATCHDOG_SLACK_DEFAULT, src/daemon/watchdog.h; bench/README.md, "Watchdog slack").
 *
 * Needs a real GPU and driver. It reads its own memory the way migd's watchdog does
 * (src/vendor/nvml-procs.c: nvmlDeviceGetComputeRunningProcesses_v3) and creates the
 * context the way the CUDA runtime does (the primary context). CUDA_MODULE_LOADING
 * (LAZY, the default since CUDA 12.2, or EAGER) is passed through to the driver.
 *
 * Usage: context-mem   (prints one line per measurement, in MiB)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include <cuda.h>

#include "vendor/nvml-procs.h"

#define MIB (1024.0 * 1024.0)
/* The allocation whose NVML footprint we compare with its size. */
#define ALLOC_BYTES ((size_t)1 << 30)

/* What NVML reports this process holds on GPU 0, or -1 when it does not list it. */
static double own_mib(void)
{
    struct mk_gpu_proc p[256];
    struct mk_error err = {0};
    int n = mk__gpu_procs_read(0, p, 256, &err);
    if (n < 0) {
        fprintf(stderr, "context-mem: %s\n", mk_strerror(&err));
        return -1;
    }
    for (int i = 0; i < n && i < 256; i++)
        if (p[i].pid == getpid())
            return p[i].used_bytes == MK_GPU_PROC_USED_UNKNOWN ? -2 : (double)p[i].used_bytes / MIB;
    return -1;
}

int main(void)
{
    struct mk_error err = {0};
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    __typeof__(cuInit) *init;
    __typeof__(cuDeviceGet) *device_get;
    __typeof__(cuDevicePrimaryCtxRetain) *retain;
    __typeof__(cuCtxSetCurrent) *set_current;
    __typeof__(cuMemAlloc_v2) *alloc;
    CUdevice dev;
    CUcontext ctx;
    CUdeviceptr ptr;
    double ctx_mib, all_mib;
    if (!lib || mk__gpu_procs_open(&err) < 0) {
        fprintf(stderr, "context-mem: %s\n", lib ? mk_strerror(&err) : dlerror());
        return 1;
    }
    *(void **)&init = dlsym(lib, "cuInit");
    *(void **)&device_get = dlsym(lib, "cuDeviceGet");
    *(void **)&retain = dlsym(lib, "cuDevicePrimaryCtxRetain");
    *(void **)&set_current = dlsym(lib, "cuCtxSetCurrent");
    *(void **)&alloc = dlsym(lib, "cuMemAlloc_v2");
    if (!init || !device_get || !retain || !set_current || !alloc || init(0) != CUDA_SUCCESS ||
        device_get(&dev, 0) != CUDA_SUCCESS || retain(&ctx, dev) != CUDA_SUCCESS ||
        set_current(ctx) != CUDA_SUCCESS) {
        fputs("context-mem: cannot create a CUDA context on GPU 0\n", stderr);
        return 1;
    }
    ctx_mib = own_mib();
    if (alloc(&ptr, ALLOC_BYTES) != CUDA_SUCCESS) {
        fputs("context-mem: cuMemAlloc of 1 GiB failed\n", stderr);
        return 1;
    }
    all_mib = own_mib();
    printf("context only:        %.0f MiB\n", ctx_mib);
    printf("context + 1 GiB:     %.0f MiB\n", all_mib);
    printf("1 GiB allocation:    %.0f MiB as NVML counts it\n", all_mib - ctx_mib);
    mk__gpu_procs_close();
    return 0;
}
