/*
 * fake-cuda-pool.c - the fake libcuda.so.1's memory pools and stream-ordered allocation.
 *
 * Each device has a default pool, which is its current pool until cuDeviceSetMemPool; more
 * come from cuMemPoolCreate. A pool keeps the bytes freed into it cached, up to its release
 * threshold (CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, 0 by default). What a stream-ordered free
 * (cuMemFreeAsync) puts above the threshold stays held, pending, until the next
 * synchronisation (cuStreamSynchronize of any stream, cuStreamQuery, cuCtxSynchronize), as a
 * real driver holds it (measured on an H200, driver 580); the fake runs no work, so every
 * synchronisation completes every free. A synchronous free (cuMemFree) releases the excess at
 * once. Allocations use a pool's cached, then its pending bytes first. cuMemPoolTrimTo
 * follows the driver's documented rule: it releases cached bytes until the pool reserves no
 * more than minBytesToKeep, its outstanding allocations counted. cuMemPoolDestroy releases the
 * cache; a pool with outstanding allocations goes when the last is freed, as the driver's does.
 * Cached and pending bytes count as used (mk_fake_cuda_stats' used and cached).
 *
 * Pool state is guarded by the memory registry's lock (fake_mem_lock).
 */
#include <stdlib.h>

#include "fake-cuda.h"

struct fake_pool {
    uint64_t threshold, cached, live; /* bytes */
    uint64_t pending;                 /* freed above the threshold, until a synchronisation */
    CUdevice dev;
    bool is_default, destroyed;
    struct fake_pool *next; /* created pools, for the synchronisations */
};

static struct fake_pool defaults[FAKE_MAX_DEVICES];
static struct fake_pool *current_pool[FAKE_MAX_DEVICES]; /* NULL: the default */
static struct fake_pool *created;                        /* every created pool not yet freed */

/* Frees created pool p once it is destroyed and holds nothing. */
static void maybe_free(struct fake_pool *p)
{
    if (p->is_default || !p->destroyed || p->live || p->pending)
        return;
    for (struct fake_pool **pp = &created; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p);
}

static struct fake_pool *default_pool(CUdevice dev)
{
    defaults[dev].dev = dev;
    defaults[dev].is_default = true;
    return &defaults[dev];
}

/* ---- with the registry's lock held (fake-cuda-mem.c) ---- */

uint64_t fake_pool_take(struct fake_pool *p, uint64_t bytes)
{
    uint64_t t = p->cached < bytes ? p->cached : bytes;
    uint64_t u = p->pending < bytes - t ? p->pending : bytes - t;
    p->cached -= t;
    p->pending -= u;
    p->live += bytes;
    return t + u;
}

uint64_t fake_pool_give(struct fake_pool *p, uint64_t bytes, uint64_t back, bool async)
{
    uint64_t room = p->destroyed ? 0 : p->threshold - p->cached;
    uint64_t kept = back < room ? back : room;
    p->live -= bytes;
    p->cached += kept;
    if (async) { /* the rest is held until the next synchronisation */
        p->pending += back - kept;
        kept = back;
    }
    maybe_free(p);
    return kept;
}

/* A synchronisation: every pool releases its pending bytes. */
static CUresult sync_all(void)
{
    CUresult rc = fake_ready();
    struct fake_pool *next;
    if (rc != CUDA_SUCCESS)
        return rc;
    fake_mem_lock();
    for (int d = 0; d < FAKE_MAX_DEVICES; d++)
        defaults[d].pending -= fake_mem_uncache(defaults[d].pending);
    for (struct fake_pool *p = created; p; p = next) {
        next = p->next;
        p->pending -= fake_mem_uncache(p->pending);
        maybe_free(p);
    }
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream hStream)
{
    (void)hStream;
    return sync_all();
}

CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
    (void)hStream;
    return sync_all();
}

/* The fake runs no work: every stream is always complete. */
CUresult cuStreamQuery(CUstream hStream)
{
    (void)hStream;
    return sync_all();
}

CUresult cuStreamQuery_ptsz(CUstream hStream)
{
    (void)hStream;
    return sync_all();
}

CUresult cuCtxSynchronize(void)
{
    return sync_all();
}

CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
    (void)ctx;
    return sync_all();
}

/* ---- the API ---- */

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice d)
{
    CUresult rc = fake_check_device(d);
    if (rc == CUDA_SUCCESS && !pool_out)
        rc = CUDA_ERROR_INVALID_VALUE;
    if (rc == CUDA_SUCCESS)
        *pool_out = (CUmemoryPool)(void *)default_pool(d);
    return rc;
}

CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
    CUresult rc = fake_check_device(dev);
    if (rc == CUDA_SUCCESS && !pool)
        rc = CUDA_ERROR_INVALID_VALUE;
    if (rc != CUDA_SUCCESS)
        return rc;
    fake_mem_lock();
    *pool = (CUmemoryPool)(void *)(current_pool[dev] ? current_pool[dev] : default_pool(dev));
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
    struct fake_pool *p = (struct fake_pool *)(void *)pool;
    CUresult rc = fake_check_device(dev);
    if (rc == CUDA_SUCCESS && (!p || p->dev != dev))
        rc = CUDA_ERROR_INVALID_VALUE;
    if (rc != CUDA_SUCCESS)
        return rc;
    fake_mem_lock();
    current_pool[dev] = p;
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props)
{
    struct fake_pool *p;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!pool || !props || props->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        fake_check_device(props->location.id) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_VALUE;
    if (!(p = calloc(1, sizeof(*p))))
        return CUDA_ERROR_OUT_OF_MEMORY;
    p->dev = props->location.id;
    fake_mem_lock();
    p->next = created;
    created = p;
    fake_mem_unlock();
    *pool = (CUmemoryPool)(void *)p;
    return CUDA_SUCCESS;
}

CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
    struct fake_pool *p = (struct fake_pool *)(void *)pool;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!p || p->is_default || p->destroyed)
        return CUDA_ERROR_INVALID_VALUE;
    fake_mem_lock();
    fake_mem_uncache(p->cached);
    p->cached = 0;
    p->destroyed = true;
    if (current_pool[p->dev] == p)
        current_pool[p->dev] = NULL;
    maybe_free(p);
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
    struct fake_pool *p = (struct fake_pool *)(void *)pool;
    uint64_t keep;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    fake_mem_lock();
    /* What may stay cached: minBytesToKeep less the outstanding allocations. */
    keep = minBytesToKeep > p->live ? minBytesToKeep - p->live : 0;
    if (p->cached > keep)
        p->cached -= fake_mem_uncache(p->cached - keep);
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    struct fake_pool *p = (struct fake_pool *)(void *)pool;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!p || !value)
        return CUDA_ERROR_INVALID_VALUE;
    if (attr != CU_MEMPOOL_ATTR_RELEASE_THRESHOLD)
        return CUDA_SUCCESS; /* the reuse policies: nothing to model */
    fake_mem_lock();
    p->threshold = *(const cuuint64_t *)value;
    if (p->cached > p->threshold) { /* released at the next synchronisation, as any excess */
        p->pending += p->cached - p->threshold;
        p->cached = p->threshold;
    }
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    struct fake_pool *p = (struct fake_pool *)(void *)pool;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!p || !value)
        return CUDA_ERROR_INVALID_VALUE;
    fake_mem_lock();
    switch (attr) {
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        *(cuuint64_t *)value = p->threshold;
        break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
        *(cuuint64_t *)value = p->live + p->cached + p->pending;
        break;
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
        *(cuuint64_t *)value = p->live;
        break;
    default:
        rc = CUDA_ERROR_NOT_SUPPORTED; /* not modelled */
        break;
    }
    fake_mem_unlock();
    return rc;
}

/* The pool cuMemAllocAsync draws from: the current pool of the current context's device. */
static struct fake_pool *stream_pool(void)
{
    CUdevice dev = 0;
    struct fake_pool *p;
    cuCtxGetDevice(&dev);
    fake_mem_lock();
    p = current_pool[dev] ? current_pool[dev] : default_pool(dev);
    fake_mem_unlock();
    return p;
}

CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    CUresult rc = fake_ready();
    (void)hStream;
    return rc == CUDA_SUCCESS ? fake_mem_alloc_pooled(dptr, bytesize, stream_pool()) : rc;
}

CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    return cuMemAllocAsync(dptr, bytesize, hStream);
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                 CUstream hStream)
{
    struct fake_pool *p = (struct fake_pool *)(void *)pool;
    (void)hStream;
    if (!p || p->destroyed)
        return CUDA_ERROR_INVALID_VALUE;
    return fake_mem_alloc_pooled(dptr, bytesize, p);
}

CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                      CUstream hStream)
{
    return cuMemAllocFromPoolAsync(dptr, bytesize, pool, hStream);
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    (void)hStream;
    return dptr ? fake_mem_free(dptr, true) : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
    return cuMemFreeAsync(dptr, hStream);
}
