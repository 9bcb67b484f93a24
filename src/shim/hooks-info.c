/*
 * hooks-info.c - libmigshim's hooks for initialisation, entry-point lookup, identity and
 * kernel launch.
 *
 * Identity: the device looks like the instance. cuMemGetInfo reports the instance's free and
 * total memory (never more than the driver reports), cuDeviceTotalMem the instance's total,
 * cuDeviceGetName "<product> MIG <profile>" (or migd's name for the instance), cuDeviceGetUuid
 * the instance's UUID. cuDeviceGetAttribute is not interposed: MULTIPROCESSOR_COUNT stays the
 * GPU's until SM confinement exists (a later issue). Every identity hook first calls the real
 * entry point, so arguments are checked and errors reported exactly as the driver does; then
 * it rewrites the answer. The identity applies to every device the process sees: migctl exec
 * makes the instance's GPU the only visible one.
 *
 * cuGetProcAddress (both versions): the driver answers, and an answer that is the real version
 * of a hooked entry point is replaced by its hook (load.c). An answer for the name of a memory
 * entry point that is no version the shim knows (a newer driver's new cuMemAlloc, say) is
 * refused as "not found": handing it out would let allocations past the quota, or frees past
 * the accounting. Unknown versions of the other hooked names (identity, launch) are handed out
 * as the driver gave them: the program works, with the GPU's identity for that call.
 *
 * Launch: cuLaunchKernel and its per-thread-stream variant only forward; they are interposed
 * so the launch path exists and is measured (bench/shim-bench.c). Their cost is the table
 * load and an indirect call: no lock, no system call.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "shim/shim.h"

/* The quota state, as a CUDA result for hooks that need it. */
static CUresult need_state(void)
{
    return mk__shim_state() == 0 ? CUDA_SUCCESS : CUDA_ERROR_NOT_PERMITTED;
}

/* ---- initialisation ---- */

MK_SHIM_EXPORT CUresult cuInit(unsigned int Flags)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (!cu->cuInit)
        return MK_SHIM_MISSING;
    if ((r = cu->cuInit(Flags)) != CUDA_SUCCESS)
        return r;
    /* Set the quota up now, so a missing migd shows at cuInit, not at some allocation. */
    return need_state();
}

/* ---- cuGetProcAddress ---- */

/* Replaces the driver's answer *pfn by its hook, or refuses an unknown version of a memory
 * entry point. r is the driver's result. */
static CUresult interpose(const char *symbol, void **pfn, CUresult r,
                          CUdriverProcAddressQueryResult *status)
{
    void *hook;
    if (r != CUDA_SUCCESS || !pfn || !*pfn)
        return r;
    if ((hook = mk__shim_hook_for(*pfn))) {
        *pfn = hook;
        return CUDA_SUCCESS;
    }
    if (!mk__shim_guarded_name(symbol))
        return CUDA_SUCCESS;
    *pfn = NULL;
    if (status)
        *status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
    return CUDA_ERROR_NOT_FOUND;
}

MK_SHIM_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                            cuuint64_t flags,
                                            CUdriverProcAddressQueryResult *symbolStatus)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (cu->cuGetProcAddress_v2)
        r = cu->cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, symbolStatus);
    else if (cu->cuGetProcAddress_v1)
        r = cu->cuGetProcAddress_v1(symbol, pfn, cudaVersion, flags);
    else
        return MK_SHIM_MISSING;
    return interpose(symbol, pfn, r, symbolStatus);
}

MK_SHIM_EXPORT CUresult cuGetProcAddress_v1(const char *symbol, void **pfn, int cudaVersion,
                                            cuuint64_t flags)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (cu->cuGetProcAddress_v1)
        r = cu->cuGetProcAddress_v1(symbol, pfn, cudaVersion, flags);
    else if (cu->cuGetProcAddress_v2)
        r = cu->cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
    else
        return MK_SHIM_MISSING;
    return interpose(symbol, pfn, r, NULL);
}

/* ---- identity ---- */

/* Longest device name the driver reports, NUL included (nvidia-smi's and NVML's bound). */
#define NAME_LEN 256

MK_SHIM_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    const struct mk_shim_identity *id;
    char real[NAME_LEN];
    CUresult r;
    if (!cu->cuDeviceGetName)
        return MK_SHIM_MISSING;
    if ((r = cu->cuDeviceGetName(real, sizeof(real), dev)) != CUDA_SUCCESS)
        return r;
    if (!name || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = need_state()) != CUDA_SUCCESS)
        return r;
    id = mk__shim_identity();
    /* Truncated to len, as the driver truncates. */
    if (id->name[0])
        snprintf(name, (size_t)len, "%s", id->name);
    else if (id->profile[0])
        snprintf(name, (size_t)len, "%s MIG %s", real, id->profile);
    else
        snprintf(name, (size_t)len, "%s", real);
    return CUDA_SUCCESS;
}

/* The instance's UUID over the driver's answer r in *uuid. */
static CUresult instance_uuid(CUresult r, CUuuid *uuid)
{
    const struct mk_shim_identity *id;
    if (r != CUDA_SUCCESS || (r = need_state()) != CUDA_SUCCESS)
        return r;
    id = mk__shim_identity();
    if (id->has_uuid)
        *uuid = id->uuid;
    return CUDA_SUCCESS;
}

MK_SHIM_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    return cu->cuDeviceGetUuid_v2 ? instance_uuid(cu->cuDeviceGetUuid_v2(uuid, dev), uuid)
                                  : MK_SHIM_MISSING;
}

MK_SHIM_EXPORT CUresult cuDeviceGetUuid_v1(CUuuid *uuid, CUdevice dev)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    return cu->cuDeviceGetUuid_v1 ? instance_uuid(cu->cuDeviceGetUuid_v1(uuid, dev), uuid)
                                  : MK_SHIM_MISSING;
}

MK_SHIM_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t free_bytes, total;
    CUresult r;
    if (!cu->cuDeviceTotalMem_v2)
        return MK_SHIM_MISSING;
    if ((r = cu->cuDeviceTotalMem_v2(bytes, dev)) != CUDA_SUCCESS ||
        (r = need_state()) != CUDA_SUCCESS)
        return r;
    mk__shim_meminfo(&free_bytes, &total);
    if (total < *bytes)
        *bytes = total;
    return CUDA_SUCCESS;
}

MK_SHIM_EXPORT CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t f, t;
    CUresult r;
    if (!cu->cuMemGetInfo_v2)
        return MK_SHIM_MISSING;
    if ((r = cu->cuMemGetInfo_v2(free_bytes, total)) != CUDA_SUCCESS ||
        (r = need_state()) != CUDA_SUCCESS)
        return r;
    /* The instance's view, bounded by the device's: free memory the GPU does not have is no
     * use to the program whatever the quota says. */
    mk__shim_meminfo(&f, &t);
    if (t < *total)
        *total = t;
    if (f < *free_bytes)
        *free_bytes = f;
    return CUDA_SUCCESS;
}

/* The pre-3.2 versions: the same answers in 32 bits, clamped. */
static unsigned int clamp32(size_t v)
{
    return v > UINT_MAX ? UINT_MAX : (unsigned int)v;
}

MK_SHIM_EXPORT CUresult cuMemGetInfo_v1(unsigned int *free_bytes, unsigned int *total)
{
    size_t f, t;
    CUresult r;
    if (!free_bytes || !total)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = cuMemGetInfo_v2(&f, &t)) == CUDA_SUCCESS) {
        *free_bytes = clamp32(f);
        *total = clamp32(t);
    }
    return r;
}

MK_SHIM_EXPORT CUresult cuDeviceTotalMem_v1(unsigned int *bytes, CUdevice dev)
{
    size_t total;
    CUresult r;
    if (!bytes)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = cuDeviceTotalMem_v2(&total, dev)) == CUDA_SUCCESS)
        *bytes = clamp32(total);
    return r;
}

/* ---- launch ---- */

MK_SHIM_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                       unsigned int gridDimZ, unsigned int blockDimX,
                                       unsigned int blockDimY, unsigned int blockDimZ,
                                       unsigned int sharedMemBytes, CUstream hStream,
                                       void **kernelParams, void **extra)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    if (__builtin_expect(!cu->cuLaunchKernel, 0))
        return MK_SHIM_MISSING;
    return cu->cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                              sharedMemBytes, hStream, kernelParams, extra);
}

MK_SHIM_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX,
                                            unsigned int gridDimY, unsigned int gridDimZ,
                                            unsigned int blockDimX, unsigned int blockDimY,
                                            unsigned int blockDimZ, unsigned int sharedMemBytes,
                                            CUstream hStream, void **kernelParams, void **extra)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    if (__builtin_expect(!cu->cuLaunchKernel_ptsz, 0))
        return MK_SHIM_MISSING;
    return cu->cuLaunchKernel_ptsz(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                                   sharedMemBytes, hStream, kernelParams, extra);
}
