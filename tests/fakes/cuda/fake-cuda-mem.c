/*
 * fake-cuda-mem.c - the fake libcuda.so.1's device memory: linear allocations (cuMemAlloc,
 * cuMemAllocPitch, cuMemAllocManaged, the stream-ordered cuMemAlloc*Async), arrays and
 * mipmapped arrays, and the virtual memory management API (cuMemCreate, cuMemMap, ...).
 *
 * Memory is host memory: each linear allocation and each reserved address range is its own
 * anonymous mapping (MAP_NORESERVE: a test may "allocate" 80 GiB), except small linear
 * allocations, which come from the heap so that a benchmark's allocation is not dominated by
 * mmap and munmap. Every allocation is
 * recorded in one registry, keyed by its kind and its device pointer or handle, with the bytes
 * it uses; `used` is their sum, what cuMemGetInfo reports and mk_fake_cuda_stats returns. The
 * sizes are computed here, independently of libmigshim: rows padded to the pitch alignment,
 * arrays from their descriptors (element size x width x height x depth, block-compressed
 * formats by 4x4 blocks, mip levels halving each dimension down to 1), cuMemCreate in whole
 * granules. Like the real driver, the fake takes device memory in pages (the configured
 * granularity): arrays, and linear allocations above half a page, use whole pages
 * (page_taken, linear_taken). Stream-ordered allocations come from pools (fake-cuda-pool.c),
 * which keep freed bytes cached up to their release threshold; cached bytes count as used.
 *
 * VMM follows the driver's rule: a cuMemCreate handle's memory goes when it has been released
 * as many times as it was created and retained, and no mapping of it remains.
 *
 * One mutex guards the registry; the device must be initialised (cuInit) for every call.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake-cuda.h"

enum kind {
    K_LINEAR,  /* cuMemAlloc, pitch, managed, async: key is the device pointer */
    K_ARRAY,   /* key is the CUarray */
    K_MIPMAP,  /* key is the CUmipmappedArray */
    K_HANDLE,  /* cuMemCreate: key is the handle */
    K_RESERVE, /* cuMemAddressReserve: key is the start; uses no memory */
    K_MAPPING, /* cuMemMap: key is the start; uses no memory of its own */
};

struct rec {
    struct rec *next;
    enum kind kind;
    uint64_t key;
    uint64_t size;   /* bytes of device memory it uses (K_RESERVE, K_MAPPING: range length) */
    uint64_t span;   /* K_LINEAR: the bytes asked for, its address range (size may be more) */
    void *host;      /* the host mapping behind it, or NULL */
    size_t hostlen;  /* its length; 0 when host came from the heap */
    uint64_t handle; /* K_MAPPING: the handle mapped */
    int refs, maps;  /* K_HANDLE: creations + retains - releases; live mappings */
    const void *ctx; /* K_LINEAR, K_ARRAY, K_MIPMAP: the context current at allocation */
    struct fake_pool *pool; /* K_LINEAR: the pool it came from, or NULL */
};

/* A chained hash table: enough for the tests' tens of thousands of live allocations. */
#define NBUCKETS 4096

static struct {
    pthread_mutex_t lock;
    struct rec *buckets[NBUCKETS];
    uint64_t used, live, allocs, frees, v1_calls, cached, graph;
    /* Freed records and small host blocks, reused LIFO: a benchmark's allocate-free loop then
     * costs the same every time, whatever malloc's state (shim-bench compares runs). */
    struct rec *spare_recs;
    void *spare_blocks;
    unsigned nspare_blocks;
} mem = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Array handles are addresses of these: stable and distinct from device memory. */
struct fake_array {
    uint64_t bytes;
};

/* ---- the registry (callers hold mem.lock) ---- */

static size_t bucket(enum kind k, uint64_t key)
{
    /* Fibonacci hashing of the key (addresses are aligned, so the low bits are poor). */
    return (size_t)(((key ^ (uint64_t)k) * UINT64_C(0x9E3779B97F4A7C15)) >> 52) % NBUCKETS;
}

static struct rec *find(enum kind k, uint64_t key)
{
    for (struct rec *r = mem.buckets[bucket(k, key)]; r; r = r->next)
        if (r->kind == k && r->key == key)
            return r;
    return NULL;
}

static struct rec *add(enum kind k, uint64_t key, uint64_t size)
{
    struct rec *r = mem.spare_recs;
    size_t b = bucket(k, key);
    if (r)
        mem.spare_recs = r->next;
    else if (!(r = calloc(1, sizeof(*r))))
        return NULL;
    *r = (struct rec){
        .next = mem.buckets[b], .kind = k, .key = key, .size = size, .ctx = fake_current_ctx()};
    mem.buckets[b] = r;
    if (k != K_RESERVE && k != K_MAPPING) {
        mem.used += size;
        mem.live++;
        mem.allocs++;
    }
    return r;
}

/* Small host blocks: all HEAP_MAX bytes, so any spare one serves any small allocation. At most
 * SPARE_BLOCKS are kept (4 MiB of address space); the rest go back to the heap. */
#define HEAP_MAX     (64u << 10)
#define HEAP_ALIGN   256u /* cudaMalloc's documented minimum alignment */
#define SPARE_BLOCKS 64u

static void *get_block(void)
{
    void *p = mem.spare_blocks;
    if (!p)
        return aligned_alloc(HEAP_ALIGN, HEAP_MAX);
    memcpy(&mem.spare_blocks, p, sizeof(void *));
    mem.nspare_blocks--;
    return p;
}

static void put_block(void *p)
{
    if (mem.nspare_blocks == SPARE_BLOCKS) {
        free(p);
        return;
    }
    memcpy(p, &mem.spare_blocks, sizeof(void *));
    mem.spare_blocks = p;
    mem.nspare_blocks++;
}

/* Unlinks r and puts it and its host memory back. */
static void drop(struct rec *r)
{
    struct rec **p = &mem.buckets[bucket(r->kind, r->key)];
    while (*p != r)
        p = &(*p)->next;
    *p = r->next;
    if (r->kind != K_RESERVE && r->kind != K_MAPPING) {
        mem.used -= r->size;
        mem.live--;
        mem.frees++;
    }
    if (r->host && r->hostlen)
        munmap(r->host, r->hostlen);
    else if (r->host)
        put_block(r->host);
    r->next = mem.spare_recs;
    mem.spare_recs = r;
}

/* Whether size more bytes fit on the device. */
static bool fits(uint64_t size)
{
    return size <= fake_device()->total - mem.used;
}

void fake_mem_stats(struct mk_fake_cuda_stats *s)
{
    pthread_mutex_lock(&mem.lock);
    s->used = mem.used;
    s->live = mem.live;
    s->allocs = mem.allocs;
    s->frees = mem.frees;
    s->v1_calls = mem.v1_calls;
    s->cached = mem.cached;
    s->graph = mem.graph;
    pthread_mutex_unlock(&mem.lock);
}

/* fork: the registry is locked across it, so the child gets a consistent, unlocked copy (a
 * test may use the driver in a child; the real driver forbids that, the fake tolerates it). */
static void fork_prepare(void)
{
    pthread_mutex_lock(&mem.lock);
}

static void fork_done(void)
{
    pthread_mutex_unlock(&mem.lock);
}

void fake_mem_init(void)
{
    pthread_atfork(fork_prepare, fork_done, fork_done);
}

void fake_mem_free_context(const void *ctx)
{
    pthread_mutex_lock(&mem.lock);
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct rec *r = mem.buckets[b], *next; r; r = next) {
            next = r->next;
            if (r->ctx != ctx || r->pool ||
                (r->kind != K_LINEAR && r->kind != K_ARRAY && r->kind != K_MIPMAP))
                continue;
            if (r->kind != K_LINEAR)
                free((void *)(uintptr_t)r->key); /* the array's handle (array_create) */
            drop(r);
        }
    pthread_mutex_unlock(&mem.lock);
}

void fake_count_v1(void)
{
    pthread_mutex_lock(&mem.lock);
    mem.v1_calls++;
    pthread_mutex_unlock(&mem.lock);
}

/* ---- linear memory ---- */

/* Host memory for size bytes: a small block up to HEAP_MAX, else a mapping of its own.
 * *ret_len is the mapping's length, or 0 for a block. Called with mem.lock held. */
static void *host_alloc(uint64_t size, size_t *ret_len)
{
    long page = sysconf(_SC_PAGESIZE);
    void *p;
    if (size <= HEAP_MAX) {
        *ret_len = 0;
        return get_block();
    }
    *ret_len = (size_t)((size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page);
    p = mmap(NULL, *ret_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/*
 * The device memory the real driver takes, as measured by cuMemGetInfo on an H200 (driver
 * 580.159.04; tests/gpu/README.md, "The driver's own rounding"), with the configured
 * granularity as its page (2 MiB there):
 *   page_taken    arrays and mipmapped arrays use their descriptor's size in whole pages
 *                 (1000x1000 float4: 16000000 -> 16777216; 17x3 u8 -> 2097152; 1024x1024
 *                 float4, 11 levels: 22369616 -> 23068672; power-of-two sizes exactly);
 *   linear_taken  cuMemAlloc, cuMemAllocPitch (pitch x height) and cuMemAllocManaged above
 *                 half a page use whole pages (1.5 MiB -> 2 MiB, 2 MiB + 1 -> 4 MiB, 1000 MiB
 *                 + 3 -> 1002 MiB, 64 x 1.5 MiB -> 128 MiB); up to half a page the driver
 *                 packs allocations into shared pages (64 x 512 KiB -> 32 MiB, 64 x 1 MiB ->
 *                 64 MiB), which the fake counts as asked.
 * Stream-ordered allocations are counted as asked (the pools' own granularity was not
 * measured). UINT64_MAX when the rounding does not fit: no device is that large.
 */
static uint64_t page_taken(uint64_t size)
{
    uint64_t page = fake_device()->granularity, pages = size / page + (size % page != 0), taken;
    return __builtin_mul_overflow(pages, page, &taken) ? UINT64_MAX : taken;
}

static uint64_t linear_taken(uint64_t size)
{
    return size <= fake_device()->granularity / 2 ? size : page_taken(size);
}

/* Allocates size bytes of "device memory" charged as `charge` bytes, from pool (or NULL),
 * whose cached bytes serve it first. */
static CUresult linear_alloc(CUdeviceptr *dptr, uint64_t size, uint64_t charge,
                             struct fake_pool *pool)
{
    size_t len;
    void *p;
    struct rec *r = NULL;
    uint64_t reuse;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!dptr || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&mem.lock);
    reuse = pool ? fake_pool_take(pool, charge) : 0;
    if (!fits(charge - reuse)) {
        if (pool)
            fake_pool_give(pool, charge, reuse, true); /* all back, as taken */
        pthread_mutex_unlock(&mem.lock);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if ((p = host_alloc(size, &len)) && (r = add(K_LINEAR, (uint64_t)(uintptr_t)p, charge))) {
        r->span = size;
        r->host = p;
        r->hostlen = len;
        *dptr = (CUdeviceptr)(uintptr_t)p;
        if (pool) {
            r->pool = pool;
            r->ctx = NULL; /* the pool's, not the context's */
            mem.used -= reuse;
            mem.cached -= reuse;
        }
    } else if (pool) {
        fake_pool_give(pool, charge, reuse, true); /* all back, as taken */
    }
    if (!r && p && len) {
        munmap(p, len);
    } else if (!r && p) {
        put_block(p);
    }
    pthread_mutex_unlock(&mem.lock);
    return r ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* Frees dptr; async: a stream-ordered free (its pool holds the excess until a
 * synchronisation). */
static CUresult linear_free(CUdeviceptr dptr, bool async)
{
    struct rec *r;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (dptr == 0)
        return CUDA_SUCCESS; /* freeing NULL is a no-op */
    pthread_mutex_lock(&mem.lock);
    r = find(K_LINEAR, dptr);
    if (r) {
        struct fake_pool *pool = r->pool;
        uint64_t size = r->size, kept;
        drop(r);
        if (pool) { /* back into its pool, which may keep it */
            kept = fake_pool_give(pool, size, size, async);
            mem.used += kept;
            mem.cached += kept;
        }
    }
    pthread_mutex_unlock(&mem.lock);
    return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- stream-ordered allocation (pools: fake-cuda-pool.c) ---- */

CUresult fake_mem_alloc_pooled(CUdeviceptr *dptr, size_t bytesize, struct fake_pool *pool)
{
    return linear_alloc(dptr, bytesize, bytesize, pool);
}

CUresult fake_mem_free(CUdeviceptr dptr, bool async)
{
    return linear_free(dptr, async);
}

uint64_t fake_mem_uncache(uint64_t bytes)
{
    mem.used -= bytes;
    mem.cached -= bytes;
    return bytes;
}

bool fake_mem_graph(uint64_t grow, uint64_t shrink)
{
    if (!fits(grow))
        return false;
    mem.used += grow - shrink;
    mem.graph += grow - shrink;
    return true;
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    struct rec *r;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!data)
        return CUDA_ERROR_INVALID_VALUE;
    if (attribute != CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE)
        return CUDA_ERROR_NOT_SUPPORTED; /* the only attribute the fake models */
    pthread_mutex_lock(&mem.lock);
    if ((r = find(K_LINEAR, ptr)))
        *(CUmemoryPool *)data = (CUmemoryPool)(void *)r->pool;
    pthread_mutex_unlock(&mem.lock);
    return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

void fake_mem_lock(void)
{
    pthread_mutex_lock(&mem.lock);
}

void fake_mem_unlock(void)
{
    pthread_mutex_unlock(&mem.lock);
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    return linear_alloc(dptr, bytesize, linear_taken(bytesize), NULL);
}

CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                            unsigned int ElementSizeBytes)
{
    uint64_t align = fake_device()->pitch_align, pitch, size;
    CUresult rc;
    if (!pPitch || WidthInBytes == 0 || Height == 0 ||
        (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16))
        return CUDA_ERROR_INVALID_VALUE;
    pitch = (WidthInBytes + align - 1) / align * align;
    if (__builtin_mul_overflow(pitch, (uint64_t)Height, &size))
        return CUDA_ERROR_OUT_OF_MEMORY;
    rc = linear_alloc(dptr, size, linear_taken(size), NULL);
    if (rc == CUDA_SUCCESS)
        *pPitch = pitch;
    return rc;
}

CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
        return CUDA_ERROR_INVALID_VALUE;
    return linear_alloc(dptr, bytesize, linear_taken(bytesize), NULL);
}

CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    return linear_free(dptr, false);
}

CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    pthread_mutex_lock(&mem.lock);
    rc = CUDA_ERROR_NOT_FOUND;
    for (size_t b = 0; b < NBUCKETS && rc != CUDA_SUCCESS; b++)
        for (struct rec *r = mem.buckets[b]; r; r = r->next)
            if (r->kind == K_LINEAR && dptr >= r->key && dptr < r->key + r->span) {
                if (pbase)
                    *pbase = r->key;
                if (psize)
                    *psize = r->span;
                rc = CUDA_SUCCESS;
                break;
            }
    pthread_mutex_unlock(&mem.lock);
    return rc;
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!free_bytes || !total)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&mem.lock);
    *free_bytes = fake_device()->total - mem.used;
    *total = fake_device()->total;
    pthread_mutex_unlock(&mem.lock);
    return CUDA_SUCCESS;
}

CUresult cuMemGetInfo_v1(unsigned int *free_bytes, unsigned int *total)
{
    size_t f, t;
    CUresult rc = free_bytes && total ? cuMemGetInfo_v2(&f, &t) : CUDA_ERROR_INVALID_VALUE;
    if (rc == CUDA_SUCCESS) {
        *free_bytes = f > UINT_MAX ? UINT_MAX : (unsigned int)f;
        *total = t > UINT_MAX ? UINT_MAX : (unsigned int)t;
    }
    return rc;
}

/* Device-to-host and host-to-device copies: plain memcpy within a live allocation. */
static bool inside_linear(CUdeviceptr p, size_t n)
{
    CUdeviceptr base;
    size_t size;
    return cuMemGetAddressRange_v2(&base, &size, p) == CUDA_SUCCESS && n <= base + size - p;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    if (!srcHost || !inside_linear(dstDevice, ByteCount))
        return CUDA_ERROR_INVALID_VALUE;
    memcpy((void *)(uintptr_t)dstDevice, srcHost, ByteCount);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    if (!dstHost || !inside_linear(srcDevice, ByteCount))
        return CUDA_ERROR_INVALID_VALUE;
    memcpy(dstHost, (const void *)(uintptr_t)srcDevice, ByteCount);
    return CUDA_SUCCESS;
}

/* ---- the pre-3.2 entry points: 32-bit pointers, refused ---- */

CUresult cuMemAlloc_v1(mk_cu_deviceptr_v1 *dptr, unsigned int bytesize)
{
    (void)dptr, (void)bytesize;
    fake_count_v1();
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult cuMemAllocPitch_v1(mk_cu_deviceptr_v1 *dptr, unsigned int *pPitch,
                            unsigned int WidthInBytes, unsigned int Height,
                            unsigned int ElementSizeBytes)
{
    (void)dptr, (void)pPitch, (void)WidthInBytes, (void)Height, (void)ElementSizeBytes;
    fake_count_v1();
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult cuArrayCreate_v1(CUarray *pHandle, const struct mk_cu_array_descriptor_v1 *desc)
{
    (void)pHandle, (void)desc;
    fake_count_v1();
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult cuArray3DCreate_v1(CUarray *pHandle, const struct mk_cu_array3d_descriptor_v1 *desc)
{
    (void)pHandle, (void)desc;
    fake_count_v1();
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* ---- arrays ---- */

/* Bytes of one element of format f with n channels, or 0 for a format the fake does not
 * model. Block-compressed formats return the bytes of one 4x4 block and set *block. */
static uint64_t element_bytes(CUarray_format f, unsigned int n, bool *block)
{
    *block = false;
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
        return n;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
        return 2u * n;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT:
        return 4u * n;
    case CU_AD_FORMAT_BC1_UNORM:
    case CU_AD_FORMAT_BC4_UNORM:
        *block = true;
        return 8;
    case CU_AD_FORMAT_BC2_UNORM:
    case CU_AD_FORMAT_BC3_UNORM:
    case CU_AD_FORMAT_BC5_UNORM:
    case CU_AD_FORMAT_BC7_UNORM:
        *block = true;
        return 16;
    default:
        return 0;
    }
}

/* Bytes of a w x h x d level of format f (dimensions already at least 1). */
static uint64_t level_bytes(const CUDA_ARRAY3D_DESCRIPTOR *a, uint64_t w, uint64_t h, uint64_t d)
{
    bool block;
    uint64_t e = element_bytes(a->Format, a->NumChannels, &block);
    if (block) {
        w = (w + 3) / 4;
        h = (h + 3) / 4;
    }
    return e * w * h * d;
}

static uint64_t dim(size_t v)
{
    return v ? v : 1;
}

/* Bytes of an array of `levels` mip levels (1: a plain array). 0 for a descriptor the fake
 * refuses. Layered arrays and cubemaps keep their depth at every level. */
static uint64_t array_bytes(const CUDA_ARRAY3D_DESCRIPTOR *a, unsigned int levels)
{
    bool block, layered = (a->Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP)) != 0;
    uint64_t total = 0;
    if (!element_bytes(a->Format, a->NumChannels, &block) || a->Width == 0 || a->NumChannels == 0 ||
        a->NumChannels > 4 || a->Width > (1u << 16) || a->Height > (1u << 16) ||
        a->Depth > (1u << 16))
        return 0;
    if (a->Flags & (CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING))
        return UINT64_MAX; /* no memory until mapped: the caller charges 0 */
    for (unsigned int l = 0; l < levels; l++)
        total += level_bytes(a, dim(a->Width >> l), dim(a->Height >> l),
                             layered ? dim(a->Depth) : dim(a->Depth >> l));
    return total;
}

static CUresult array_create(enum kind k, void **ret, const CUDA_ARRAY3D_DESCRIPTOR *a,
                             unsigned int levels)
{
    struct fake_array *h;
    uint64_t bytes;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!ret || !a || levels == 0 || (bytes = array_bytes(a, levels)) == 0)
        return CUDA_ERROR_INVALID_VALUE;
    bytes = bytes == UINT64_MAX ? 0 : page_taken(bytes);
    if (!(h = malloc(sizeof(*h))))
        return CUDA_ERROR_OUT_OF_MEMORY;
    h->bytes = bytes;
    pthread_mutex_lock(&mem.lock);
    if (!fits(bytes) || !add(k, (uint64_t)(uintptr_t)h, bytes)) {
        pthread_mutex_unlock(&mem.lock);
        free(h);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_unlock(&mem.lock);
    *ret = h;
    return CUDA_SUCCESS;
}

static CUresult array_destroy(enum kind k, void *h)
{
    struct rec *r;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    pthread_mutex_lock(&mem.lock);
    r = h ? find(k, (uint64_t)(uintptr_t)h) : NULL;
    if (r)
        drop(r);
    pthread_mutex_unlock(&mem.lock);
    if (!r)
        return CUDA_ERROR_INVALID_HANDLE;
    free(h);
    return CUDA_SUCCESS;
}

CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray)
{
    CUDA_ARRAY3D_DESCRIPTOR a;
    if (!pAllocateArray)
        return CUDA_ERROR_INVALID_VALUE;
    a = (CUDA_ARRAY3D_DESCRIPTOR){.Width = pAllocateArray->Width,
                                  .Height = pAllocateArray->Height,
                                  .Format = pAllocateArray->Format,
                                  .NumChannels = pAllocateArray->NumChannels};
    return array_create(K_ARRAY, (void **)pHandle, &a, 1);
}

CUresult cuArray3DCreate_v2(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray)
{
    return array_create(K_ARRAY, (void **)pHandle, pAllocateArray, 1);
}

CUresult cuArrayDestroy(CUarray hArray)
{
    return array_destroy(K_ARRAY, hArray);
}

CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                unsigned int numMipmapLevels)
{
    return array_create(K_MIPMAP, (void **)pHandle, pMipmappedArrayDesc, numMipmapLevels);
}

CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
    return array_destroy(K_MIPMAP, hMipmappedArray);
}

/* ---- virtual memory management ---- */

/* Handles are numbers, as the driver's are opaque 64-bit values; never 0. */
static uint64_t next_handle = 0x1000;

/* Whether prop asks for what the fake serves: pinned memory on a configured device. */
static bool prop_ok(const CUmemAllocationProp *prop)
{
    return prop && prop->type == CU_MEM_ALLOCATION_TYPE_PINNED &&
           prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE && prop->location.id >= 0 &&
           prop->location.id < fake_device()->count;
}

CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                       CUmemAllocationGranularity_flags option)
{
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!granularity || !prop_ok(prop) ||
        (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM &&
         option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
        return CUDA_ERROR_INVALID_VALUE;
    *granularity = fake_device()->granularity;
    return CUDA_SUCCESS;
}

static bool granular(uint64_t v)
{
    return v % fake_device()->granularity == 0;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                     const CUmemAllocationProp *prop, unsigned long long flags)
{
    struct rec *r = NULL;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!handle || size == 0 || !granular(size) || !prop_ok(prop) || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&mem.lock);
    if (fits(size) && (r = add(K_HANDLE, next_handle, size))) {
        r->refs = 1;
        *handle = next_handle++;
    }
    pthread_mutex_unlock(&mem.lock);
    return r ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* Frees handle record h once nothing holds it (callers hold mem.lock). */
static void handle_settle(struct rec *h)
{
    if (h->refs == 0 && h->maps == 0)
        drop(h);
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
    struct rec *h;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    pthread_mutex_lock(&mem.lock);
    h = find(K_HANDLE, handle);
    if (h && h->refs > 0) {
        h->refs--;
        handle_settle(h);
    }
    pthread_mutex_unlock(&mem.lock);
    return h ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags)
{
    uint64_t align = alignment ? alignment : fake_device()->granularity, start;
    size_t len;
    void *p;
    struct rec *r;
    CUresult rc = fake_ready();
    (void)addr; /* a hint only, as for the driver */
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!ptr || size == 0 || !granular(size) || (align & (align - 1)) != 0 || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    len = size + align;
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return CUDA_ERROR_OUT_OF_MEMORY;
    start = ((uint64_t)(uintptr_t)p + align - 1) / align * align;
    pthread_mutex_lock(&mem.lock);
    r = add(K_RESERVE, start, size);
    if (r) {
        r->host = p;
        r->hostlen = len;
    }
    pthread_mutex_unlock(&mem.lock);
    if (!r) {
        munmap(p, len);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *ptr = start;
    return CUDA_SUCCESS;
}

CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    struct rec *r;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    pthread_mutex_lock(&mem.lock);
    r = find(K_RESERVE, ptr);
    if (r && r->size == size)
        drop(r);
    else
        r = NULL;
    pthread_mutex_unlock(&mem.lock);
    return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* The record of kind k whose range [key, key + size) holds [p, p + n), or NULL. A linear scan:
 * the VMM calls are rare. */
static struct rec *covering(enum kind k, uint64_t p, uint64_t n)
{
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct rec *r = mem.buckets[b]; r; r = r->next)
            if (r->kind == k && p >= r->key && n <= r->size && p - r->key <= r->size - n)
                return r;
    return NULL;
}

/* Whether any mapping overlaps [p, p + n). */
static bool overlaps_mapping(uint64_t p, uint64_t n)
{
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct rec *r = mem.buckets[b]; r; r = r->next)
            if (r->kind == K_MAPPING && p < r->key + r->size && r->key < p + n)
                return true;
    return false;
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags)
{
    struct rec *h, *m = NULL;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (size == 0 || !granular(size) || !granular(offset) || !granular(ptr) || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&mem.lock);
    h = find(K_HANDLE, handle);
    if (h && h->refs > 0 && offset <= h->size && size <= h->size - offset &&
        covering(K_RESERVE, ptr, size) && !overlaps_mapping(ptr, size) &&
        (m = add(K_MAPPING, ptr, size))) {
        m->handle = handle;
        h->maps++;
    }
    pthread_mutex_unlock(&mem.lock);
    return m ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Unmaps [ptr, ptr + size), which must be covered exactly by whole mappings laid end to end.
 * Checked first, then done, so a refused unmap changes nothing. */
CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    uint64_t p, end = ptr + size;
    struct rec *m;
    bool ok = size > 0;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    pthread_mutex_lock(&mem.lock);
    for (p = ptr; ok && p < end; p += m->size)
        ok = (m = find(K_MAPPING, p)) && m->size <= end - p;
    for (p = ptr; ok && p < end;) {
        struct rec *h;
        m = find(K_MAPPING, p);
        h = find(K_HANDLE, m->handle);
        p += m->size;
        drop(m);
        if (h) {
            h->maps--;
            handle_settle(h);
        }
    }
    pthread_mutex_unlock(&mem.lock);
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!desc || count == 0 || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&mem.lock);
    rc = covering(K_RESERVE, ptr, size) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_unlock(&mem.lock);
    return rc;
}

CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr)
{
    struct rec *m, *h = NULL;
    CUresult rc = fake_ready();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!handle)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&mem.lock);
    m = covering(K_MAPPING, (uint64_t)(uintptr_t)addr, 1);
    if (m && (h = find(K_HANDLE, m->handle))) {
        h->refs++;
        *handle = m->handle;
    }
    pthread_mutex_unlock(&mem.lock);
    return h ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
