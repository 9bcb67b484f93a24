/*
 * hooks-pool.c - libmigshim's hooks for stream-ordered allocation and memory pools: what a
 * pool keeps cached after frees is charged as long as the driver may keep it.
 *
 * The policy (docs/shim.md, "Memory pools"): the charge is never below what the driver could
 * hold for the process, and comes back when the driver gives memory back.
 *   cuMemAllocAsync, cuMemAllocFromPoolAsync  charge the size, the pool's cached charge first;
 *   cuMemFreeAsync      the size into the pool's cached charge, kept up to the pool's
 *                       release threshold; the rest stays charged until a synchronisation
 *                       completes the free's stream (account.c), when the driver releases it;
 *   cuMemFree of such memory  the same, the rest returned at once;
 *   cuStreamSynchronize, cuStreamQuery (when it answers "complete"), cuCtxSynchronize  return
 *                       what awaited them; one atomic load when nothing does;
 *   cuMemPoolSetAttribute(CU_MEMPOOL_ATTR_RELEASE_THRESHOLD)  recorded; a lower threshold
 *                       returns the cache above it (cuMemPoolGetAttribute records what the
 *                       driver says, too); a pool's threshold is 0 until set;
 *   cuMemPoolTrimTo(pool, keep)  the cached charge above keep returned;
 *   cuMemPoolDestroy    all of its cached charge returned.
 *
 * Which pool cuMemAllocAsync draws from: the current pool of the stream's device. For the
 * default streams (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD) that is the current context's
 * device, known before the call, so the allocation may use that pool's cached charge. For any
 * other stream the shim charges the size in full first, then asks the driver which pool served
 * the pointer (CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE) and returns what that pool's cache held of
 * it: never too little, at the price of needing quota room for the size for a moment.
 */
#include <errno.h>
#include <pthread.h>

#include "shim/shim.h"

/* The pool cuMemAllocAsync on stream s draws from, when known beforehand; else 0. */
static uint64_t stream_pool(CUstream s)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUmemoryPool pool = NULL;
    CUdevice dev;
    if (s != NULL && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD)
        return 0;
    if (!cu->cuCtxGetDevice || !cu->cuDeviceGetMemPool ||
        cu->cuCtxGetDevice(&dev) != CUDA_SUCCESS ||
        cu->cuDeviceGetMemPool(&pool, dev) != CUDA_SUCCESS)
        return 0;
    return (uint64_t)(uintptr_t)pool;
}

/* The pool the driver served device pointer p from, or 0 when it cannot tell. */
static uint64_t pool_of(CUdeviceptr p)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUmemoryPool pool = NULL;
    if (!cu->cuPointerGetAttribute ||
        cu->cuPointerGetAttribute(&pool, CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, p) != CUDA_SUCCESS)
        return 0;
    return (uint64_t)(uintptr_t)pool;
}

/* Charges bytes from pool (0: not known). Over quota, or no room to track it, is what a full
 * GPU answers; no quota at all is "not permitted". */
static CUresult charge(uint64_t pool, uint64_t bytes, uint64_t *ret_reused)
{
    int r;
    if (mk__shim_state() < 0)
        return CUDA_ERROR_NOT_PERMITTED;
    r = mk__shim_pool_charge(pool, bytes, ret_reused);
    if (r == 0)
        return CUDA_SUCCESS;
    return r == -ENOSPC || r == -EMFILE ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_NOT_PERMITTED;
}

/* One cuMemAllocAsync through entry point fn (either stream flavor). */
static CUresult alloc_async(__typeof__(cuMemAllocAsync) *fn, CUdeviceptr *dptr, size_t bytesize,
                            CUstream hStream)
{
    uint64_t guess, reused, actual;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    guess = stream_pool(hStream);
    if ((r = charge(guess, bytesize, &reused)) != CUDA_SUCCESS)
        return r;
    if ((r = fn(dptr, bytesize, hStream)) != CUDA_SUCCESS) {
        mk__shim_pool_uncharge(guess, bytesize, reused);
        return r;
    }
    actual = pool_of(*dptr);
    if (!guess && actual)
        mk__shim_pool_reused(actual, bytesize); /* charged in full: its cache's part back */
    mk__shim_commit(MK_SHIM_POOLED, *dptr, bytesize, actual ? actual : guess);
    return CUDA_SUCCESS;
}

/* One cuMemAllocFromPoolAsync through entry point fn (either stream flavor). */
static CUresult alloc_pool(__typeof__(cuMemAllocFromPoolAsync) *fn, CUdeviceptr *dptr,
                           size_t bytesize, CUmemoryPool pool, CUstream hStream)
{
    uint64_t reused, key = (uint64_t)(uintptr_t)pool;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    if ((r = charge(key, bytesize, &reused)) != CUDA_SUCCESS)
        return r;
    if ((r = fn(dptr, bytesize, pool, hStream)) != CUDA_SUCCESS) {
        mk__shim_pool_uncharge(key, bytesize, reused);
        return r;
    }
    mk__shim_commit(MK_SHIM_POOLED, *dptr, bytesize, key);
    return CUDA_SUCCESS;
}

MK_SHIM_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return alloc_async(mk__shim_cuda()->cuMemAllocAsync, dptr, bytesize, hStream);
}

MK_SHIM_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return alloc_async(mk__shim_cuda()->cuMemAllocAsync_ptsz, dptr, bytesize, hStream);
}

MK_SHIM_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize,
                                                CUmemoryPool pool, CUstream hStream)
{
    return alloc_pool(mk__shim_cuda()->cuMemAllocFromPoolAsync, dptr, bytesize, pool, hStream);
}

MK_SHIM_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
                                                     CUmemoryPool pool, CUstream hStream)
{
    return alloc_pool(mk__shim_cuda()->cuMemAllocFromPoolAsync_ptsz, dptr, bytesize, pool, hStream);
}

/* ---- the pool's cache ---- */

struct set_args {
    __typeof__(cuMemPoolSetAttribute) *fn;
    CUmemoryPool pool;
    CUmemPool_attribute attr;
    void *value;
};

static CUresult set_op(void *arg)
{
    struct set_args *a = arg;
    return a->fn(a->pool, a->attr, a->value);
}

MK_SHIM_EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr,
                                              void *value)
{
    struct set_args a = {mk__shim_cuda()->cuMemPoolSetAttribute, pool, attr, value};
    if (!a.fn)
        return MK_SHIM_MISSING;
    if (attr != CU_MEMPOOL_ATTR_RELEASE_THRESHOLD || !value)
        return a.fn(pool, attr, value);
    return mk__shim_pool_threshold((uint64_t)(uintptr_t)pool, *(const cuuint64_t *)value, set_op,
                                   &a);
}

MK_SHIM_EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr,
                                              void *value)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUresult r;
    if (!cu->cuMemPoolGetAttribute)
        return MK_SHIM_MISSING;
    r = cu->cuMemPoolGetAttribute(pool, attr, value);
    /* The driver's word on the threshold is recorded: it settles any difference. */
    if (r == CUDA_SUCCESS && attr == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD && value)
        mk__shim_pool_threshold((uint64_t)(uintptr_t)pool, *(const cuuint64_t *)value, NULL, NULL);
    return r;
}

MK_SHIM_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    if (!cu->cuMemPoolTrimTo)
        return MK_SHIM_MISSING;
    return mk__shim_pool_trim((uint64_t)(uintptr_t)pool, minBytesToKeep, cu->cuMemPoolTrimTo);
}

MK_SHIM_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    if (!cu->cuMemPoolDestroy)
        return MK_SHIM_MISSING;
    return mk__shim_pool_destroy((uint64_t)(uintptr_t)pool, cu->cuMemPoolDestroy);
}

/* ---- synchronisation: the excess over a pool's threshold goes back ---- */

struct mk_shim_stream mk__shim_stream(CUstream h, bool ptsz)
{
    uint64_t key = (uint64_t)(uintptr_t)h;
    if (!h)
        key = (uint64_t)(uintptr_t)(ptsz ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY);
    /* pthread_self is a read of the thread pointer in glibc: no system call. */
    return (struct mk_shim_stream){
        key, key == (uint64_t)(uintptr_t)CU_STREAM_PER_THREAD ? (uint64_t)pthread_self() : 0};
}

/* One stream synchronisation (or query) through fn: what was freed on h before it started is
 * returned once the driver says h is complete. A stream's synchronisation returns only its own
 * frees' excess: the legacy stream's also waits for other streams, but the shim does not know
 * which, so their excess waits (charged) for their own synchronisation or the context's. */
static CUresult stream_sync(__typeof__(cuStreamSynchronize) *fn, CUstream h, bool ptsz)
{
    struct mk_shim_stream s;
    uint64_t seq;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    if (!mk__shim_sync_pending(&seq))
        return fn(h);
    if ((r = fn(h)) == CUDA_SUCCESS) {
        s = mk__shim_stream(h, ptsz);
        mk__shim_synced(&s, 0, seq);
    }
    return r;
}

MK_SHIM_EXPORT CUresult cuStreamSynchronize(CUstream hStream)
{
    return stream_sync(mk__shim_cuda()->cuStreamSynchronize, hStream, false);
}

MK_SHIM_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
    return stream_sync(mk__shim_cuda()->cuStreamSynchronize_ptsz, hStream, true);
}

/* CUDA_SUCCESS from a query means the stream's work is complete, as after a synchronisation;
 * CUDA_ERROR_NOT_READY changes nothing. */
MK_SHIM_EXPORT CUresult cuStreamQuery(CUstream hStream)
{
    return stream_sync(mk__shim_cuda()->cuStreamQuery, hStream, false);
}

MK_SHIM_EXPORT CUresult cuStreamQuery_ptsz(CUstream hStream)
{
    return stream_sync(mk__shim_cuda()->cuStreamQuery_ptsz, hStream, true);
}

/* A context synchronisation completes every stream of the context: what was freed in it
 * before it started is returned. */
MK_SHIM_EXPORT CUresult cuCtxSynchronize(void)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t seq;
    CUresult r;
    if (!cu->cuCtxSynchronize)
        return MK_SHIM_MISSING;
    if (!mk__shim_sync_pending(&seq))
        return cu->cuCtxSynchronize();
    if ((r = cu->cuCtxSynchronize()) == CUDA_SUCCESS)
        mk__shim_synced(NULL, mk__shim_context(), seq);
    return r;
}

/* CUDA 13's version names the context; NULL is the current one. */
MK_SHIM_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    uint64_t seq;
    CUresult r;
    if (!cu->cuCtxSynchronize_v2)
        return MK_SHIM_MISSING;
    if (!mk__shim_sync_pending(&seq))
        return cu->cuCtxSynchronize_v2(ctx);
    if ((r = cu->cuCtxSynchronize_v2(ctx)) == CUDA_SUCCESS)
        mk__shim_synced(NULL, ctx ? (uint64_t)(uintptr_t)ctx : mk__shim_context(), seq);
    return r;
}
