/*
 * old-cuda.c - a libcuda.so.1 from before most of the entry points libmigshim hooks: it has
 * initialisation, cuGetProcAddress for its own few functions, device identity and plain
 * cuMemAlloc/cuMemFree, and nothing newer (no VMM, no stream-ordered allocation, no arrays,
 * no launches). The shim's hooks for what it lacks must answer with a CUDA error, never call
 * NULL (tests/shim/test-missing.c). Device memory is plain malloc; nothing is accounted.
 *
 * Two entry points exist only through cuGetProcAddress, each in two versions, as a driver
 * newer than the shim's list would have them: cuMemAllocManaged and cuDeviceGetName from
 * CUDA 13.0 on are versions the shim does not know (it knows the older ones as rows of its
 * list). The shim must refuse the unknown memory entry point and pass the unknown identity one
 * through.
 */
#include <stdlib.h>
#include <string.h>

#include "vendor/cuda-syms.h"

#define OLD_EXPORT __attribute__((visibility("default")))
#define OLD_TOTAL  (UINT64_C(16) << 30) /* a 16 GiB device */

OLD_EXPORT CUresult cuInit(unsigned int Flags)
{
    return Flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

OLD_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
    if (!name || len <= 0 || dev != 0)
        return CUDA_ERROR_INVALID_VALUE;
    strncpy(name, "Old GPU", (size_t)len);
    name[len - 1] = '\0';
    return CUDA_SUCCESS;
}

OLD_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    if (!bytes || dev != 0)
        return CUDA_ERROR_INVALID_VALUE;
    *bytes = OLD_TOTAL;
    return CUDA_SUCCESS;
}

OLD_EXPORT CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    if (!free_bytes || !total)
        return CUDA_ERROR_INVALID_VALUE;
    *free_bytes = *total = OLD_TOTAL;
    return CUDA_SUCCESS;
}

OLD_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    void *p = bytesize ? malloc(bytesize) : NULL;
    if (!dptr || !p)
        return CUDA_ERROR_INVALID_VALUE;
    *dptr = (CUdeviceptr)(uintptr_t)p;
    return CUDA_SUCCESS;
}

OLD_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    free((void *)(uintptr_t)dptr);
    return CUDA_SUCCESS;
}

/* Versions reachable only through cuGetProcAddress (see the top). */
#define NEXT_VERSION 13000

static CUresult managed_first(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    (void)flags;
    return cuMemAlloc_v2(dptr, bytesize);
}

static CUresult managed_next(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    return managed_first(dptr, bytesize, flags);
}

static CUresult name_next(char *name, int len, CUdevice dev)
{
    CUresult r = cuDeviceGetName(name, len, dev);
    if (r == CUDA_SUCCESS)
        strncat(name, " next", (size_t)len - strlen(name) - 1);
    return r;
}

/* cuGetProcAddress knows the functions above, and the versions of the two above. */
OLD_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                        cuuint64_t flags,
                                        CUdriverProcAddressQueryResult *symbolStatus)
{
    static const struct {
        const char *name;
        void *fn;
    } known[] = {{"cuInit", (void *)cuInit},
                 {"cuDeviceGetName", (void *)cuDeviceGetName},
                 {"cuDeviceTotalMem", (void *)cuDeviceTotalMem_v2},
                 {"cuMemGetInfo", (void *)cuMemGetInfo_v2},
                 {"cuMemAlloc", (void *)cuMemAlloc_v2},
                 {"cuMemFree", (void *)cuMemFree_v2},
                 {"cuGetProcAddress", (void *)cuGetProcAddress_v2}};
    (void)flags;
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    if (strcmp(symbol, "cuMemAllocManaged") == 0 ||
        (strcmp(symbol, "cuDeviceGetName") == 0 && cudaVersion >= NEXT_VERSION)) {
        bool next = cudaVersion >= NEXT_VERSION;
        *pfn = symbol[2] == 'D' ? (void *)name_next
               : next           ? (void *)managed_next
                                : (void *)managed_first;
        if (symbolStatus)
            *symbolStatus = CU_GET_PROC_ADDRESS_SUCCESS;
        return CUDA_SUCCESS;
    }
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].name, symbol) == 0) {
            *pfn = known[i].fn;
            if (symbolStatus)
                *symbolStatus = CU_GET_PROC_ADDRESS_SUCCESS;
            return CUDA_SUCCESS;
        }
    *pfn = NULL;
    if (symbolStatus)
        *symbolStatus = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return CUDA_ERROR_NOT_FOUND;
}
