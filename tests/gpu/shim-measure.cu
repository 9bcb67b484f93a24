/*
 * shim-measure.cu - what the real driver does with memory, measured without libmigshim.so, to
 * check the shim's charging policies (docs/shim.md, "On a real GPU"). Needs a GPU;
 * run by tests/gpu/device-run.sh, never by ctest. Prints one "name: values" line per fact.
 *
 *     shim-measure            every measurement below, then exits
 *     shim-measure hold MIB   makes a context, allocates MIB MiB, prints "ready" and sleeps
 *                             until stdin closes: what NVML's running-processes query (the
 *                             watchdog's view) reports for a context and its allocations
 *
 * Every delta is cuMemGetInfo's free memory before minus after, so it is what the whole GPU
 * lost; the shim charges what the call asked for (or the descriptor's size), and the
 * difference is the driver's rounding and bookkeeping.
 */
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

static const size_t MiB = size_t(1) << 20;

static long long free_now()
{
    size_t f = 0, t = 0;
    cuMemGetInfo(&f, &t);
    return (long long)f;
}

/* The same rule as hooks-array.c: width x height x depth x bytes per element, layers included,
 * every mipmap level; printed next to what the GPU lost. */
static size_t bytes_per_elem(CUarray_format f, unsigned ch)
{
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
        return 1 * ch;
    case CU_AD_FORMAT_HALF:
        return 2 * ch;
    case CU_AD_FORMAT_FLOAT:
        return 4 * ch;
    default:
        return 4 * ch;
    }
}

static void array(const char *name, size_t w, size_t h, size_t d, CUarray_format f, unsigned ch,
                  unsigned flags)
{
    CUDA_ARRAY3D_DESCRIPTOR a = {};
    CUarray arr;
    a.Width = w, a.Height = h, a.Depth = d, a.Format = f, a.NumChannels = ch, a.Flags = flags;
    long long before = free_now();
    CUresult r = cuArray3DCreate(&arr, &a);
    long long lost = before - free_now();
    size_t desc = (w ? w : 1) * (h ? h : 1) * (d ? d : 1) * bytes_per_elem(f, ch);
    printf("array %-26s %zux%zux%zu: result %d, descriptor %zu, GPU lost %lld (%.3fx)\n", name,
           w, h, d, (int)r, desc, lost, desc ? (double)lost / desc : 0.0);
    if (r == CUDA_SUCCESS)
        cuArrayDestroy(arr);
}

static void mipmap(size_t w, size_t h, unsigned levels)
{
    CUDA_ARRAY3D_DESCRIPTOR a = {};
    CUmipmappedArray m;
    a.Width = w, a.Height = h, a.Format = CU_AD_FORMAT_FLOAT, a.NumChannels = 4;
    size_t desc = 0;
    for (unsigned l = 0; l < levels; l++)
        desc += (w >> l ? w >> l : 1) * (h >> l ? h >> l : 1) * 16;
    long long before = free_now();
    CUresult r = cuMipmappedArrayCreate(&m, &a, levels);
    long long lost = before - free_now();
    printf("mipmap float4 %zux%zu, %u levels: result %d, descriptor %zu, GPU lost %lld (%.3fx)\n",
           w, h, levels, (int)r, desc, lost, (double)lost / desc);
    if (r == CUDA_SUCCESS)
        cuMipmappedArrayDestroy(m);
}

static void linear()
{
    const size_t sizes[] = {256, MiB, 2 * MiB + 1, 64 * MiB, 1000 * MiB + 3};
    for (size_t s : sizes) {
        CUdeviceptr p;
        long long before = free_now();
        CUresult r = cuMemAlloc(&p, s);
        printf("cuMemAlloc %zu: result %d, GPU lost %lld\n", s, (int)r, before - free_now());
        cuMemFree(p);
        printf("cuMemFree %zu: GPU lost %lld after the free\n", s, before - free_now());
    }
    /* Many small allocations: does the driver pack them into shared pages? */
    const size_t small[] = {256, 4096, 65536, 512 * 1024, MiB, 3 * MiB / 2, 2 * MiB};
    for (size_t s : small) {
        CUdeviceptr p[64];
        long long before = free_now();
        for (int i = 0; i < 64; i++)
            cuMemAlloc(&p[i], s);
        long long lost = before - free_now();
        for (int i = 0; i < 64; i++)
            cuMemFree(p[i]);
        printf("64 x cuMemAlloc %zu: asked %zu, GPU lost %lld (%.3fx)\n", s, 64 * s, lost,
               (double)lost / (64.0 * s));
    }
    const size_t widths[] = {1, 100, 512, 513, 1000, 4096, 5000};
    for (size_t w : widths)
        for (unsigned el : {4u, 16u}) {
            CUdeviceptr p;
            size_t pitch = 0;
            long long before = free_now();
            CUresult r = cuMemAllocPitch(&p, &pitch, w, 1000, el);
            printf("cuMemAllocPitch width %zu height 1000 element %u: result %d, pitch %zu, "
                   "pitch x height %zu, GPU lost %lld\n",
                   w, el, (int)r, pitch, pitch * 1000, before - free_now());
            cuMemFree(p);
        }
}

/* What a stream-ordered pool keeps after a free, with the release threshold at 0 (the
 * default) and at the maximum, and after cuMemPoolTrimTo. */
static void pools()
{
    CUmemoryPool pool;
    CUstream s;
    CUdeviceptr p;
    cuDeviceGetDefaultMemPool(&pool, 0);
    cuStreamCreate(&s, CU_STREAM_NON_BLOCKING);
    for (int keep = 0; keep < 2; keep++) {
        cuuint64_t thr = keep ? ~cuuint64_t(0) : 0;
        cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &thr);
        long long before = free_now();
        cuMemAllocAsync(&p, 256 * MiB, s);
        cuStreamSynchronize(s);
        long long alloc = before - free_now();
        cuMemFreeAsync(p, s);
        long long freed_unsynced = before - free_now();
        cuStreamSynchronize(s);
        long long synced = before - free_now();
        cuCtxSynchronize();
        long long ctxsync = before - free_now();
        printf("pool threshold %s: 256 MiB alloc lost %lld; after cuMemFreeAsync %lld; after "
               "cuStreamSynchronize %lld; after cuCtxSynchronize %lld\n",
               keep ? "max" : "0", alloc, freed_unsynced, synced, ctxsync);
        if (keep) {
            cuMemPoolTrimTo(pool, 64 * MiB);
            printf("pool trim to 64 MiB: GPU lost %lld\n", before - free_now());
            cuMemPoolTrimTo(pool, 0);
            printf("pool trim to 0: GPU lost %lld\n", before - free_now());
        }
        cuuint64_t used = 0, reserved = 0;
        cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used);
        cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved);
        printf("pool attributes at the end: used %llu reserved %llu\n", (unsigned long long)used,
               (unsigned long long)reserved);
    }
    cuuint64_t zero = 0;
    cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &zero);
    /* A free on a blocking synchronisation elsewhere: does another stream's sync release it? */
    long long before = free_now();
    cuMemAllocAsync(&p, 128 * MiB, s);
    cuMemFreeAsync(p, s);
    sleep(1);
    printf("pool threshold 0, 128 MiB alloc+free, no synchronisation, 1 s later: GPU lost %lld\n",
           before - free_now());
    cuStreamSynchronize(s);
    printf("  after cuStreamSynchronize: %lld\n", before - free_now());
    cuStreamDestroy(s);
}

/* Graph memory nodes through stream capture (how PyTorch's CUDA graphs allocate). */
static void graphs()
{
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t x;
    void *p;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    long long before = free_now();
    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
    cudaMallocAsync(&p, 128 * MiB, s);
    cudaMemsetAsync(p, 0, 128 * MiB, s);
    cudaFreeAsync(p, s);
    cudaStreamEndCapture(s, &g);
    printf("graph captured: GPU lost %lld\n", before - free_now());
    cudaError_t e = cudaGraphInstantiate(&x, g, 0);
    printf("graph instantiated (%s): GPU lost %lld\n", cudaGetErrorName(e), before - free_now());
    cuuint64_t v = 0;
    cudaGraphLaunch(x, s);
    cuDeviceGetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &v);
    printf("graph launch returned (no sync): reserved attribute %llu, GPU lost %lld\n",
           (unsigned long long)v, before - free_now());
    cudaStreamSynchronize(s);
    printf("graph launched: GPU lost %lld\n", before - free_now());
    cuDeviceGetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &v);
    printf("graph mem attribute reserved current %llu\n", (unsigned long long)v);
    cudaGraphExecDestroy(x);
    cudaGraphDestroy(g);
    printf("graph destroyed: GPU lost %lld\n", before - free_now());
    cudaDeviceGraphMemTrim(0);
    printf("cudaDeviceGraphMemTrim: GPU lost %lld\n", before - free_now());
    /* Does an upload reserve as a launch does? */
    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
    cudaMallocAsync(&p, 64 * MiB, s);
    cudaFreeAsync(p, s);
    cudaStreamEndCapture(s, &g);
    cudaGraphInstantiate(&x, g, 0);
    before = free_now();
    e = cudaGraphUpload(x, s);
    cudaStreamSynchronize(s);
    cuDeviceGetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &v);
    printf("cudaGraphUpload (%s) of a 64 MiB graph: reserved attribute %llu, GPU lost %lld\n",
           cudaGetErrorName(e), (unsigned long long)v, before - free_now());
    cudaGraphExecDestroy(x);
    cudaGraphDestroy(g);
    cudaDeviceGraphMemTrim(0);
    cudaStreamDestroy(s);
}

static void managed()
{
    void *p;
    long long before = free_now();
    cudaMallocManaged(&p, 256 * MiB);
    printf("cudaMallocManaged 256 MiB untouched: GPU lost %lld\n", before - free_now());
    cudaMemset(p, 1, 256 * MiB);
    cudaDeviceSynchronize();
    printf("cudaMallocManaged 256 MiB after a device memset: GPU lost %lld\n",
           before - free_now());
    cudaFree(p);
}

static void contexts()
{
    /* A second context on the same device: what creating and destroying one costs, and
     * whether destroying it frees its allocations. */
    CUcontext c, prev;
    CUdeviceptr p;
    cuCtxGetCurrent(&prev);
    long long before = free_now();
    cuCtxCreate(&c, nullptr, 0, 0);
    long long made = before - free_now();
    cuMemAlloc(&p, 64 * MiB);
    long long alloc = before - free_now();
    cuCtxDestroy(c);
    cuCtxSetCurrent(prev);
    printf("second context: made %lld, +64 MiB %lld, after cuCtxDestroy without cuMemFree %lld\n",
           made, alloc, before - free_now());
}

int main(int argc, char **argv)
{
    int version = 0;
    cudaFree(0); /* the primary context */
    cuDriverGetVersion(&version);
    if (argc > 2 && strcmp(argv[1], "hold") == 0) {
        CUdeviceptr p = 0;
        size_t mib = strtoull(argv[2], nullptr, 10);
        if (mib && cuMemAlloc(&p, mib * MiB) != CUDA_SUCCESS)
            return 1;
        printf("ready pid %d holding %zu MiB\n", (int)getpid(), mib);
        fflush(stdout);
        char buf[16];
        while (read(0, buf, sizeof(buf)) > 0)
            ;
        return 0;
    }
    size_t f = 0, t = 0;
    cuMemGetInfo(&f, &t);
    printf("driver CUDA %d, runtime %d; cuMemGetInfo with the primary context: free %zu total "
           "%zu\n",
           version, CUDART_VERSION, f, t);
    linear();
    array("float4 2D", 1000, 1000, 0, CU_AD_FORMAT_FLOAT, 4, 0);
    array("float4 2D", 4096, 4096, 0, CU_AD_FORMAT_FLOAT, 4, 0);
    array("u8 2D", 17, 3, 0, CU_AD_FORMAT_UNSIGNED_INT8, 1, 0);
    array("u8 1D", 65536, 0, 0, CU_AD_FORMAT_UNSIGNED_INT8, 1, 0);
    array("float4 3D", 256, 256, 16, CU_AD_FORMAT_FLOAT, 4, 0);
    array("half2 3D", 333, 77, 9, CU_AD_FORMAT_HALF, 2, 0);
    array("float layered", 1024, 1024, 8, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_LAYERED);
    array("float surface", 2048, 2048, 0, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_SURFACE_LDST);
    mipmap(1024, 1024, 11);
    mipmap(1000, 600, 4);
    managed();
    pools();
    graphs();
    contexts();
    return 0;
}
