/*
 * hooks-vmm.c - libmigshim's hooks for CUDA's virtual memory management API, the path NCCL and
 * PyTorch's expandable segments allocate through.
 *
 * The driver's rule (cuMemRelease, cuMemUnmap in cuda.h): the physical memory of a
 * cuMemCreate handle is freed when the handle has been released once per creation and per
 * cuMemRetainAllocationHandle, and no mapping of it remains. The shim keeps the same count
 * per handle (account.c): cuMemCreate charges the size, and the charge comes back when the
 * driver frees the memory, not at the first cuMemRelease (a mapped handle is usually released
 * at once and lives on through its mapping).
 *
 * Handles the shim did not see created (cuMemImportFromShareableHandle: memory exported by
 * another process) are not charged here: the exporter pays for them (docs/shim.md,
 * "Policies"). Their mappings are recorded all the same, so an unmap can walk a range that
 * mixes both.
 */
#include <errno.h>

#include "shim/shim.h"

MK_SHIM_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                                    const CUmemAllocationProp *prop, unsigned long long flags)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    int e;
    if (!cu->cuMemCreate)
        return MK_SHIM_MISSING;
    if (mk__shim_state() < 0)
        return CUDA_ERROR_NOT_PERMITTED;
    if ((e = mk__shim_charge(size, true)) < 0)
        return e == -ENOSPC || e == -EMFILE ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_NOT_PERMITTED;
    r = cu->cuMemCreate(handle, size, prop, flags);
    if (r == CUDA_SUCCESS)
        mk__shim_vmm_created(*handle, size);
    else
        mk__shim_uncharge(size, true);
    return r;
}

MK_SHIM_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle,
                                                    void *addr)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (!cu->cuMemRetainAllocationHandle)
        return MK_SHIM_MISSING;
    r = cu->cuMemRetainAllocationHandle(handle, addr);
    if (r == CUDA_SUCCESS)
        mk__shim_vmm_retained(*handle);
    return r;
}

MK_SHIM_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    if (!cu->cuMemRelease)
        return MK_SHIM_MISSING;
    return mk__shim_vmm_release(handle, cu->cuMemRelease);
}

MK_SHIM_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                                 CUmemGenericAllocationHandle handle, unsigned long long flags)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (!cu->cuMemMap || !cu->cuMemUnmap)
        return MK_SHIM_MISSING;
    if (mk__shim_state() < 0)
        return CUDA_ERROR_NOT_PERMITTED;
    if ((r = cu->cuMemMap(ptr, size, offset, handle, flags)) != CUDA_SUCCESS)
        return r;
    if (mk__shim_vmm_mapped(ptr, size, handle) < 0) {
        /* No room to remember the mapping: undone, so no memory outlives its charge. */
        cu->cuMemUnmap(ptr, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

MK_SHIM_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    if (!cu->cuMemUnmap)
        return MK_SHIM_MISSING;
    return mk__shim_vmm_unmap(ptr, size, cu->cuMemUnmap);
}
