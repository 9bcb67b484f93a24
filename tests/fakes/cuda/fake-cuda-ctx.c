/*
 * fake-cuda-ctx.c - the fake libcuda.so.1's contexts: created ones (cuCtxCreate) and each
 * device's primary one (cuDevicePrimaryCtxRetain / Release / Reset), the current context of
 * each thread, and what the driver does when a context ends: it frees every allocation made
 * in it (fake_mem_free_context).
 *
 * The fake needs no context to allocate: a thread with none current works in an implicit
 * context of device 0, whose allocations belong to no context and are never swept. Created
 * contexts are heap objects (so a handle may be reused after a destroy, as the driver's may);
 * primary contexts are fixed objects, one per device, alive while retained.
 */
#include <pthread.h>
#include <stdlib.h>

#include "fake-cuda.h"

struct fake_ctx {
    struct fake_ctx *next; /* created contexts: the live list */
    CUdevice dev;
};

static struct {
    pthread_mutex_t lock;
    struct fake_ctx *created;
    struct fake_ctx primary[FAKE_MAX_DEVICES];
    int refs[FAKE_MAX_DEVICES];
} ctxs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread struct fake_ctx *current;

void *fake_current_ctx(void)
{
    return current;
}

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    struct fake_ctx *c;
    CUresult r = fake_check_device(dev);
    (void)flags;
    if (r != CUDA_SUCCESS)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (!(c = calloc(1, sizeof(*c))))
        return CUDA_ERROR_OUT_OF_MEMORY;
    c->dev = dev;
    pthread_mutex_lock(&ctxs.lock);
    c->next = ctxs.created;
    ctxs.created = c;
    pthread_mutex_unlock(&ctxs.lock);
    current = c; /* the driver makes a new context current */
    *pctx = (CUcontext)(void *)c;
    return CUDA_SUCCESS;
}

/* Unlinks created context c; false when it is not a live one. Called with ctxs.lock held. */
static bool unlink_created(struct fake_ctx *c)
{
    for (struct fake_ctx **p = &ctxs.created; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return true;
        }
    return false;
}

CUresult cuCtxDestroy_v2(CUcontext ctx)
{
    struct fake_ctx *c = (struct fake_ctx *)(void *)ctx;
    bool live;
    CUresult r = fake_ready();
    if (r != CUDA_SUCCESS)
        return r;
    pthread_mutex_lock(&ctxs.lock);
    live = c && unlink_created(c);
    pthread_mutex_unlock(&ctxs.lock);
    if (!live)
        return CUDA_ERROR_INVALID_CONTEXT; /* unknown, destroyed, or a primary context */
    fake_mem_free_context(c);
    if (current == c)
        current = NULL;
    free(c);
    return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *pctx)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && !pctx)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *pctx = (CUcontext)(void *)current;
    return r;
}

CUresult cuCtxSetCurrent(CUcontext ctx)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS)
        current = (struct fake_ctx *)(void *)ctx;
    return r;
}

CUresult cuCtxGetDevice(CUdevice *device)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && !device)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *device = current ? current->dev : 0; /* none current: the implicit context */
    return r;
}

/* ---- primary contexts ---- */

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
    CUresult r = fake_check_device(dev);
    if (r == CUDA_SUCCESS && !pctx)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r != CUDA_SUCCESS)
        return r;
    pthread_mutex_lock(&ctxs.lock);
    ctxs.refs[dev]++;
    ctxs.primary[dev].dev = dev;
    pthread_mutex_unlock(&ctxs.lock);
    *pctx = (CUcontext)(void *)&ctxs.primary[dev];
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    bool last = false;
    CUresult r = fake_check_device(dev);
    if (r != CUDA_SUCCESS)
        return r;
    pthread_mutex_lock(&ctxs.lock);
    if (ctxs.refs[dev] == 0)
        r = CUDA_ERROR_INVALID_CONTEXT;
    else
        last = --ctxs.refs[dev] == 0;
    pthread_mutex_unlock(&ctxs.lock);
    if (last) /* the last reference: the driver resets the context */
        fake_mem_free_context(&ctxs.primary[dev]);
    return r;
}

CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    CUresult r = fake_check_device(dev);
    if (r == CUDA_SUCCESS)
        fake_mem_free_context(&ctxs.primary[dev]);
    return r;
}

CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
    CUresult r = fake_check_device(dev);
    if (r == CUDA_SUCCESS && (!flags || !active))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r != CUDA_SUCCESS)
        return r;
    pthread_mutex_lock(&ctxs.lock);
    *flags = 0;
    *active = ctxs.refs[dev] > 0;
    pthread_mutex_unlock(&ctxs.lock);
    return CUDA_SUCCESS;
}
