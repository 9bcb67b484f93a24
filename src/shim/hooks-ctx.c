/*
 * hooks-ctx.c - libmigshim's hooks for the end of a context: cuCtxDestroy, and a device's
 * primary context reset (cuDevicePrimaryCtxReset) or released for the last time
 * (cuDevicePrimaryCtxRelease). The driver frees every allocation made in the context then;
 * the shim gives their charges back at once (account.c sweeps the entries that remember the
 * context), instead of waiting for the driver to hand their addresses out again.
 *
 * Which context an allocation belongs to: the one current on the allocating thread
 * (mk__shim_context, asked of the driver at each allocation). Which context is a device's
 * primary one: the handle cuDevicePrimaryCtxRetain returned, remembered per device (the CUDA
 * runtime reaches the primary context only through it).
 *
 * Only linear memory, managed memory, pitched memory and arrays are swept. cuMemCreate
 * handles belong to the process, not a context; stream-ordered allocations belong to their
 * memory pool, a device object (docs/shim.md, "Contexts"). Both keep their charges until
 * freed.
 *
 * These rows are HOOK, not MEM: a version of them the shim does not know is handed out as the
 * driver gave it, and then a destroyed context's charges come back only when the driver reuses
 * their addresses (the charge stays high, never low).
 */
#include <stdatomic.h>

#include "shim/shim.h"

/* Devices whose primary context the shim remembers. A node carries at most 16 GPUs today
 * (HGX and DGX boards carry 8); 64 leaves room. A device beyond it is never swept: its
 * primary context's charges come back when their addresses are reused. */
#define MAX_DEVICES 64
static _Atomic uint64_t primary[MAX_DEVICES];

uint64_t mk__shim_context(void)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUcontext c = NULL;
    if (!cu->cuCtxGetCurrent || cu->cuCtxGetCurrent(&c) != CUDA_SUCCESS)
        return 0;
    return (uint64_t)(uintptr_t)c;
}

MK_SHIM_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (!cu->cuDevicePrimaryCtxRetain)
        return MK_SHIM_MISSING;
    r = cu->cuDevicePrimaryCtxRetain(pctx, dev);
    if (r == CUDA_SUCCESS && dev >= 0 && dev < MAX_DEVICES)
        atomic_store_explicit(&primary[dev], (uint64_t)(uintptr_t)*pctx, memory_order_relaxed);
    return r;
}

/* After a context's end (or a primary context's release) that returned r: the devices' graph
 * reservations are read again, as the driver may have released them with the context. */
static CUresult ended(CUresult r)
{
    if (r == CUDA_SUCCESS)
        mk__shim_graph_context_ended();
    return r;
}

/* ---- cuCtxDestroy ---- */

struct destroy_args {
    __typeof__(cuCtxDestroy_v2) *fn;
    CUcontext ctx;
};

static CUresult destroy_op(void *arg, bool *ret_gone)
{
    struct destroy_args *a = arg;
    *ret_gone = true;
    return a->fn(a->ctx);
}

MK_SHIM_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
    struct destroy_args a = {mk__shim_cuda()->cuCtxDestroy_v2, ctx};
    if (!a.fn)
        return MK_SHIM_MISSING;
    return ended(mk__shim_context_end((uint64_t)(uintptr_t)ctx, destroy_op, &a));
}

/* ---- primary contexts ---- */

struct primary_args {
    CUresult (*fn)(CUdevice);
    CUdevice dev;
    bool release; /* cuDevicePrimaryCtxRelease: gone only if that was the last reference */
};

/* Whether dev's primary context is gone: inactive, as the driver reports it. When the driver
 * cannot tell, it is taken to live on (its charges stay). */
static bool primary_gone(CUdevice dev)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    unsigned int flags;
    int active = 1;
    if (!cu->cuDevicePrimaryCtxGetState ||
        cu->cuDevicePrimaryCtxGetState(dev, &flags, &active) != CUDA_SUCCESS)
        return false;
    return active == 0;
}

static CUresult primary_op(void *arg, bool *ret_gone)
{
    struct primary_args *a = arg;
    CUresult r = a->fn(a->dev);
    if (r == CUDA_SUCCESS)
        *ret_gone = !a->release || primary_gone(a->dev);
    return r;
}

static CUresult primary_end(CUresult (*fn)(CUdevice), CUdevice dev, bool release)
{
    struct primary_args a = {fn, dev, release};
    uint64_t ctx = 0;
    if (!fn)
        return MK_SHIM_MISSING;
    if (dev >= 0 && dev < MAX_DEVICES)
        ctx = atomic_load_explicit(&primary[dev], memory_order_relaxed);
    return ended(mk__shim_context_end(ctx, primary_op, &a));
}

MK_SHIM_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    return primary_end(mk__shim_cuda()->cuDevicePrimaryCtxRelease_v2, dev, true);
}

MK_SHIM_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    return primary_end(mk__shim_cuda()->cuDevicePrimaryCtxReset_v2, dev, false);
}
