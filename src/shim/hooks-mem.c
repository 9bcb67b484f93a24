/*
 * hooks-mem.c - libmigshim's hooks for linear memory and arrays: every allocation is charged
 * before the driver is asked (so no process ever holds memory it was not granted), every free
 * gives back exactly what its allocation was charged.
 *
 * What each family is charged (docs/shim.md, "Policies" and "Charging"): what the driver takes,
 * in its pages (state.c's charging rule):
 *   cuMemAlloc          the size asked for, rounded up to whole pages above half a page (the
 *                       stream-ordered allocations, charged as asked: hooks-pool.c);
 *   cuMemAllocManaged   the same, in full, whatever the attach flags: managed memory may live
 *                       on the device in full, so it may not exceed the quota (on a whole GPU
 *                       it could oversubscribe; inside an instance it cannot);
 *   cuMemAllocPitch     pitch x height as the driver returns it, rounded the same way: an
 *                       estimate (rows rounded up to 512 bytes) is charged first and settled
 *                       to the exact size after;
 *   arrays              the size their descriptor describes in whole pages (hooks-array.c);
 *   the 32-bit (pre-CUDA 3.2) allocation entry points are refused: their sizes and pointers
 *                       cannot describe today's memory, and no runtime since 2010 calls them.
 * A stream-ordered free (or a cuMemFree of stream-ordered memory) moves its charge into its
 * pool's cache when it is enqueued, up to the pool's release threshold (hooks-pool.c).
 * Over quota, an allocation fails with CUDA_ERROR_OUT_OF_MEMORY, as on a full GPU.
 */
#include <errno.h>

#include "shim/shim.h"

/* The CUDA result for a failed charge: over quota (or no room to track it) is what a full GPU
 * answers; no quota at all is "not permitted". */
static CUresult charge_error(int r)
{
    return r == -ENOSPC || r == -EMFILE ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_NOT_PERMITTED;
}

/* Charges linear memory of `asked` bytes (with a table entry) before an allocation: what the
 * driver will take (mk__shim_linear_charge), which goes to *ret. */
static CUresult charge(uint64_t asked, uint64_t *ret)
{
    int r;
    if (mk__shim_state() < 0)
        return CUDA_ERROR_NOT_PERMITTED;
    *ret = mk__shim_linear_charge(asked);
    r = mk__shim_charge(*ret, true);
    return r == 0 ? CUDA_SUCCESS : charge_error(r);
}

/* Records or undoes a charge once the driver answered r; aux as for mk__shim_commit. */
static CUresult settle(CUresult r, enum mk_shim_kind kind, uint64_t key, uint64_t bytes,
                       uint64_t aux)
{
    if (r == CUDA_SUCCESS)
        mk__shim_commit(kind, key, bytes, aux);
    else
        mk__shim_uncharge(bytes, true);
    return r;
}

/* Frees (kind, key) with the driver's free, giving its charge back on success. The entry is
 * removed first, so a pointer the driver hands out again at once cannot meet a stale one.
 * s: the stream of a stream-ordered free (NULL for the others). */
static CUresult release_on(enum mk_shim_kind kind, uint64_t key, CUresult (*do_free)(void *),
                           void *arg, const struct mk_shim_stream *s)
{
    struct mk_shim_entry e;
    bool counted = key && mk__shim_forget(kind, key, &e);
    CUresult r = do_free(arg);
    /* A pooled allocation's into its pool's cache, or awaiting s's synchronisation. */
    if (counted && r == CUDA_SUCCESS)
        mk__shim_freed(&e, s, s && e.kind == MK_SHIM_POOLED ? mk__shim_context() : 0);
    else if (counted)
        mk__shim_restore(&e);
    return r;
}

static CUresult release(enum mk_shim_kind kind, uint64_t key, CUresult (*do_free)(void *),
                        void *arg)
{
    return release_on(kind, key, do_free, arg, NULL);
}

/* ---- linear memory ---- */

MK_SHIM_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t bytes;
    CUresult r;
    if (!cu->cuMemAlloc_v2)
        return MK_SHIM_MISSING;
    if ((r = charge(bytesize, &bytes)) != CUDA_SUCCESS)
        return r;
    r = cu->cuMemAlloc_v2(dptr, bytesize);
    return settle(r, MK_SHIM_LINEAR, r == CUDA_SUCCESS ? *dptr : 0, bytes, mk__shim_context());
}

MK_SHIM_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t bytes;
    CUresult r;
    if (!cu->cuMemAllocManaged)
        return MK_SHIM_MISSING;
    if ((r = charge(bytesize, &bytes)) != CUDA_SUCCESS)
        return r;
    r = cu->cuMemAllocManaged(dptr, bytesize, flags);
    return settle(r, MK_SHIM_LINEAR, r == CUDA_SUCCESS ? *dptr : 0, bytes, mk__shim_context());
}

/* The size estimated before cuMemAllocPitch: each row rounded up to 512 bytes, the pitch
 * alignment of every GPU since Fermi. It is charged (by the linear rule), and the driver's
 * answer settles the charge. Saturates rather than wrapping (the driver refuses such sizes
 * anyway). */
#define PITCH_ESTIMATE_ALIGN 512u
static uint64_t pitch_estimate(size_t width, size_t height)
{
    uint64_t row = ((uint64_t)width + PITCH_ESTIMATE_ALIGN - 1) / PITCH_ESTIMATE_ALIGN *
                   PITCH_ESTIMATE_ALIGN,
             bytes;
    return __builtin_mul_overflow(row, (uint64_t)height, &bytes) ? UINT64_MAX : bytes;
}

MK_SHIM_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
                                           size_t Height, unsigned int ElementSizeBytes)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t est, actual;
    CUresult r;
    if (!cu->cuMemAllocPitch_v2)
        return MK_SHIM_MISSING;
    if ((r = charge(pitch_estimate(WidthInBytes, Height), &est)) != CUDA_SUCCESS)
        return r;
    r = cu->cuMemAllocPitch_v2(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
    if (r != CUDA_SUCCESS)
        return settle(r, MK_SHIM_LINEAR, 0, est, 0);
    /* Pitched memory is linear memory of pitch x height bytes (measured, docs/shim.md). */
    if (__builtin_mul_overflow((uint64_t)*pPitch, (uint64_t)Height, &actual))
        actual = UINT64_MAX;
    actual = mk__shim_linear_charge(actual);
    if (actual > est && mk__shim_charge(actual - est, false) < 0) {
        /* The driver padded more than estimated and the difference is over quota. */
        if (cu->cuMemFree_v2)
            cu->cuMemFree_v2(*dptr);
        mk__shim_uncharge(est, true);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (actual < est)
        mk__shim_credit(est - actual);
    mk__shim_commit(MK_SHIM_LINEAR, *dptr, actual, mk__shim_context());
    return CUDA_SUCCESS;
}

static CUresult free_sync(void *arg)
{
    return mk__shim_cuda()->cuMemFree_v2(*(CUdeviceptr *)arg);
}

MK_SHIM_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    if (!mk__shim_cuda()->cuMemFree_v2)
        return MK_SHIM_MISSING;
    return release(MK_SHIM_LINEAR, dptr, free_sync, &dptr);
}

/* ---- stream-ordered frees (the allocations are in hooks-pool.c) ---- */

struct async_free {
    __typeof__(cuMemFreeAsync) *fn;
    CUdeviceptr dptr;
    CUstream stream;
};

static CUresult free_async(void *arg)
{
    struct async_free *a = arg;
    return a->fn(a->dptr, a->stream);
}

MK_SHIM_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    struct async_free a = {mk__shim_cuda()->cuMemFreeAsync, dptr, hStream};
    struct mk_shim_stream s = mk__shim_stream(hStream, false);
    return a.fn ? release_on(MK_SHIM_LINEAR, dptr, free_async, &a, &s) : MK_SHIM_MISSING;
}

MK_SHIM_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
    struct async_free a = {mk__shim_cuda()->cuMemFreeAsync_ptsz, dptr, hStream};
    struct mk_shim_stream s = mk__shim_stream(hStream, true);
    return a.fn ? release_on(MK_SHIM_LINEAR, dptr, free_async, &a, &s) : MK_SHIM_MISSING;
}

/* ---- the 32-bit entry points: refused ---- */

MK_SHIM_EXPORT CUresult cuMemAlloc_v1(mk_cu_deviceptr_v1 *dptr, unsigned int bytesize)
{
    (void)dptr, (void)bytesize;
    return CUDA_ERROR_NOT_SUPPORTED;
}

MK_SHIM_EXPORT CUresult cuMemAllocPitch_v1(mk_cu_deviceptr_v1 *dptr, unsigned int *pPitch,
                                           unsigned int WidthInBytes, unsigned int Height,
                                           unsigned int ElementSizeBytes)
{
    (void)dptr, (void)pPitch, (void)WidthInBytes, (void)Height, (void)ElementSizeBytes;
    return CUDA_ERROR_NOT_SUPPORTED;
}

MK_SHIM_EXPORT CUresult cuArrayCreate_v1(CUarray *pHandle,
                                         const struct mk_cu_array_descriptor_v1 *desc)
{
    (void)pHandle, (void)desc;
    return CUDA_ERROR_NOT_SUPPORTED;
}

MK_SHIM_EXPORT CUresult cuArray3DCreate_v1(CUarray *pHandle,
                                           const struct mk_cu_array3d_descriptor_v1 *desc)
{
    (void)pHandle, (void)desc;
    return CUDA_ERROR_NOT_SUPPORTED;
}
