/*
 * shim-check.cu - libmigshim against the real driver (docs/shim.md, "On a real GPU"): a
 * CUDA C program that checks, through the CUDA runtime as ordinary programs use it, what the
 * fake-driver tests check in CI. Run it with tests/gpu/shim-check.sh, which builds it with
 * nvcc and runs it with and without the shim; it needs a GPU and is never run by ctest.
 *
 *     shim-check QUOTA_BYTES [NAME_SUFFIX]
 *
 * With the shim preloaded and a quota of QUOTA_BYTES: cudaMemGetInfo reports QUOTA_BYTES in
 * total; cudaMalloc of 256 MiB blocks succeeds up to the quota and then fails with
 * cudaErrorMemoryAllocation; each allocation family (cudaMalloc, cudaMallocManaged,
 * cudaMallocPitch, cudaMallocAsync, cudaMalloc3DArray, cuMemCreate) moves cudaMemGetInfo's free
 * memory by what the shim charges, and back when freed; the device name ends with NAME_SUFFIX
 * (" MIG custom" for a standalone quota file without a profile); pools keep a free charged
 * until a synchronisation (or their release threshold) gives it back; a context's end returns
 * its allocations; graph memory is charged from the first launch until a trim; a kernel launch
 * still runs. The driver's pages: allocations above 1 MiB and arrays move the free memory by
 * whole 2 MiB pages, without the shim (the driver's take) and with it (the shim's charge,
 * docs/shim.md "Charging"); with the shim, 1.5 MiB buffers fill the quota after quota / 2 MiB.
 * Every check prints one line, "PASS ..." or "FAIL ...", and the exit status is the number of
 * failures. Without the shim (QUOTA_BYTES 0) it prints what the driver reports, for the record.
 */
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        printf("%s ", ok_ ? "PASS" : "FAIL");                                                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        failures += !ok_;                                                                          \
    } while (0)

static const size_t MiB = size_t(1) << 20;

static size_t free_now()
{
    size_t f = 0, t = 0;
    cudaMemGetInfo(&f, &t);
    return f;
}

/* Writes each block's SM id: proof that kernels run under the shim. */
__global__ void smid(unsigned *out)
{
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    out[blockIdx.x] = id;
}

static void identity(size_t quota, const char *suffix)
{
    cudaDeviceProp p;
    size_t f, t;
    cudaGetDeviceProperties(&p, 0);
    cudaMemGetInfo(&f, &t);
    printf("device: %s, %d SMs, totalGlobalMem %zu, cudaMemGetInfo free %zu total %zu\n", p.name,
           p.multiProcessorCount, p.totalGlobalMem, f, t);
    printf("uuid: ");
    for (int i = 0; i < 16; i++)
        printf("%02x", (unsigned char)p.uuid.bytes[i]);
    printf("\n");
    if (!quota)
        return;
    CHECK(t == quota, "cudaMemGetInfo total %zu == quota %zu", t, quota);
    CHECK(p.totalGlobalMem == quota, "totalGlobalMem %zu == quota", p.totalGlobalMem);
    CHECK(strlen(p.name) >= strlen(suffix) &&
              strcmp(p.name + strlen(p.name) - strlen(suffix), suffix) == 0,
          "name \"%s\" ends with \"%s\"", p.name, suffix);
}

/* 256 MiB blocks up to the quota, then one more must fail. */
static void fill(size_t quota)
{
    std::vector<void *> blocks;
    void *p;
    cudaError_t e;
    size_t start = free_now();
    while ((e = cudaMalloc(&p, 256 * MiB)) == cudaSuccess)
        blocks.push_back(p);
    size_t got = blocks.size() * 256 * MiB;
    CHECK(e == cudaErrorMemoryAllocation, "after %zu MiB cudaMalloc says %s", got / MiB,
          cudaGetErrorName(e));
    cudaGetLastError(); /* clear the sticky-free error state of the runtime */
    CHECK(got <= quota && got + 256 * MiB > start,
          "filled %zu MiB of %zu MiB free at the start (quota %zu MiB)", got / MiB, start / MiB,
          quota / MiB);
    CHECK(free_now() < 256 * MiB, "free after filling: %zu bytes", free_now());
    for (void *b : blocks)
        cudaFree(b);
    CHECK(free_now() == start, "free after freeing all: %zu (was %zu)", free_now(), start);
}

/* One family: the free memory drops by `charged` after alloc() and comes back after release(). */
template <typename A, typename R>
static void family(const char *name, size_t charged, A alloc, R release)
{
    size_t before = free_now();
    cudaError_t e = alloc();
    size_t during = free_now();
    CHECK(e == cudaSuccess && before - during == charged, "%s: charged %zu, expected %zu (%s)",
          name, before - during, charged, cudaGetErrorName(e));
    release();
    CHECK(free_now() == before, "%s: returned", name);
}

/* The driver's pages (docs/shim.md, "Charging"): without the shim (quota 0) the free memory
 * is the driver's, with it the shim's, and both must move by the same whole 2 MiB pages.
 * Without the shim a failure is only printed (shim-check.sh records that run, not its status). */
static void pages(size_t quota)
{
    void *p = nullptr;
    size_t pitch = 0;
    cudaArray_t arr = nullptr;
    cudaChannelFormatDesc f = cudaCreateChannelDesc<float4>();
    std::vector<void *> bufs;
    cudaError_t e;
    size_t start;
    /* A first allocation and free, so lazy set-up inside the runtime is not measured. */
    cudaMalloc(&p, 64 * MiB);
    cudaFree(p);
    family(
        "cudaMalloc 1.5 MiB", 2 * MiB, [&] { return cudaMalloc(&p, 3 * MiB / 2); },
        [&] { cudaFree(p); });
    family(
        "cudaMalloc 2 MiB + 1", 4 * MiB, [&] { return cudaMalloc(&p, 2 * MiB + 1); },
        [&] { cudaFree(p); });
    family(
        "cudaMallocPitch 1000 x 1025 (1049600 bytes)", 2 * MiB,
        [&] { return cudaMallocPitch(&p, &pitch, 1000, 1025); }, [&] { cudaFree(p); });
    family(
        "cudaMallocArray 1000 x 1000 float4 (16000000 bytes)", 16777216,
        [&] { return cudaMallocArray(&arr, &f, 1000, 1000); }, [&] { cudaFreeArray(arr); });
    if (!quota)
        return; /* the driver takes managed memory only when touched */
    family(
        "cudaMallocManaged 1.5 MiB", 2 * MiB, [&] { return cudaMallocManaged(&p, 3 * MiB / 2); },
        [&] { cudaFree(p); });
    start = free_now();
    while ((e = cudaMalloc(&p, 3 * MiB / 2)) == cudaSuccess)
        bufs.push_back(p);
    CHECK(e == cudaErrorMemoryAllocation && bufs.size() == start / (2 * MiB),
          "1.5 MiB buffers: %zu in %zu MiB free, expected %zu (%s)", bufs.size(), start / MiB,
          start / (2 * MiB), cudaGetErrorName(e));
    for (void *b : bufs)
        cudaFree(b);
    CHECK(free_now() == start, "1.5 MiB buffers: all returned");
}

static void families()
{
    void *p = nullptr;
    size_t pitch = 0;
    cudaArray_t arr = nullptr;
    cudaStream_t s;
    cudaStreamCreate(&s);
    family(
        "cudaMalloc", 64 * MiB, [&] { return cudaMalloc(&p, 64 * MiB); }, [&] { cudaFree(p); });
    family(
        "cudaMallocManaged", 32 * MiB, [&] { return cudaMallocManaged(&p, 32 * MiB); },
        [&] { cudaFree(p); });
    /* The shim charges pitch x height as the driver returns it. */
    cudaMallocPitch(&p, &pitch, 1000, 100);
    cudaFree(p);
    printf("cudaMallocPitch(1000 x 100): pitch %zu\n", pitch);
    family(
        "cudaMallocPitch", pitch * 100, [&] { return cudaMallocPitch(&p, &pitch, 1000, 100); },
        [&] { cudaFree(p); });
    family(
        "cudaMallocAsync", 16 * MiB,
        [&] {
            cudaError_t e = cudaMallocAsync(&p, 16 * MiB, s);
            cudaStreamSynchronize(s);
            return e;
        },
        [&] {
            cudaFreeAsync(p, s);
            cudaStreamSynchronize(s);
        });
    cudaChannelFormatDesc f = cudaCreateChannelDesc<float4>();
    family(
        "cudaMalloc3DArray", size_t(256) * 256 * 16 * 16,
        [&] { return cudaMalloc3DArray(&arr, &f, make_cudaExtent(256, 256, 16)); },
        [&] { cudaFreeArray(arr); });
    cudaStreamDestroy(s);
}

/* The VMM path (PyTorch's expandable segments, NCCL) through the driver API. */
static void vmm()
{
    CUmemAllocationProp prop = {};
    CUmemGenericAllocationHandle h;
    CUdeviceptr va;
    size_t gran = 0;
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
    size_t size = 16 * gran, before = free_now();
    CUresult r = cuMemCreate(&h, size, &prop, 0);
    cuMemAddressReserve(&va, size, 0, 0, 0);
    cuMemMap(va, size, 0, h, 0);
    cuMemRelease(h); /* mapped: the memory lives on */
    CHECK(r == CUDA_SUCCESS && before - free_now() == size, "cuMemCreate: charged %zu of %zu",
          before - free_now(), size);
    cuMemUnmap(va, size);
    cuMemAddressFree(va, size);
    CHECK(free_now() == before, "cuMemCreate: returned after the unmap");
}

/* Stream-ordered pools as the driver keeps them (docs/shim.md, "Memory pools"): a free stays
 * charged until a synchronisation covers it, or while the release threshold keeps it. */
static void pools()
{
    CUmemoryPool pool;
    CUstream s;
    CUdeviceptr p;
    cuDeviceGetDefaultMemPool(&pool, 0);
    cuStreamCreate(&s, CU_STREAM_NON_BLOCKING);
    size_t before = free_now();
    cuMemAllocAsync(&p, 64 * MiB, s);
    cuMemFreeAsync(p, s);
    size_t pending = free_now();
    cuStreamSynchronize(s);
    CHECK(before - pending == 64 * MiB && free_now() == before,
          "pool, threshold 0: charged %zu after the free, %zu after cuStreamSynchronize",
          before - pending, before - free_now());
    cuuint64_t keep = ~cuuint64_t(0);
    cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep);
    cuMemAllocAsync(&p, 64 * MiB, s);
    cuMemFreeAsync(p, s);
    cuStreamSynchronize(s);
    size_t kept = before - free_now();
    cuMemPoolTrimTo(pool, 0);
    CHECK(kept == 64 * MiB && free_now() == before,
          "pool, threshold max: %zu kept after the sync, %zu after cuMemPoolTrimTo(0)", kept,
          before - free_now());
    keep = 0;
    cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep);
    cuStreamDestroy(s);
}

/* A context's end frees its allocations in the driver: the charges come back at once. */
static void context_end()
{
    CUcontext c, prev;
    CUdeviceptr p;
    CUdevice dev;
    cuCtxGetCurrent(&prev);
    cuDeviceGet(&dev, 0);
    size_t before = free_now();
    cuCtxCreate(&c, nullptr, 0, dev);
    CUresult r = cuMemAlloc(&p, 64 * MiB);
    size_t during = free_now();
    cuCtxDestroy(c);
    cuCtxSetCurrent(prev);
    CHECK(r == CUDA_SUCCESS && before - during == 64 * MiB && free_now() == before,
          "cuCtxDestroy without cuMemFree: %zu charged, %zu after the destroy", before - during,
          before - free_now());
}

/* Graph memory nodes (stream capture of cudaMallocAsync): the driver reserves the graph's
 * memory at its first launch and keeps it until cudaDeviceGraphMemTrim. */
static void graphs()
{
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t x;
    void *p;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    size_t before = free_now();
    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
    cudaMallocAsync(&p, 128 * MiB, s);
    cudaMemsetAsync(p, 0, 128 * MiB, s);
    cudaFreeAsync(p, s);
    cudaStreamEndCapture(s, &g);
    cudaGraphInstantiate(&x, g, 0);
    cudaError_t e = cudaGraphLaunch(x, s);
    cudaStreamSynchronize(s);
    size_t launched = before - free_now();
    cudaGraphLaunch(x, s);
    cudaStreamSynchronize(s);
    size_t again = before - free_now();
    cudaGraphExecDestroy(x);
    cudaGraphDestroy(g);
    size_t destroyed = before - free_now();
    cudaDeviceGraphMemTrim(0);
    CHECK(e == cudaSuccess && launched == 128 * MiB && again == launched &&
              destroyed == launched && free_now() == before,
          "graph memory: %zu charged at the first launch, %zu after the second, %zu after "
          "destroy, %zu after cudaDeviceGraphMemTrim (%s)",
          launched, again, destroyed, before - free_now(), cudaGetErrorName(e));
    cudaStreamDestroy(s);
}

static void launch()
{
    unsigned *d, h[4] = {0};
    cudaMalloc(&d, sizeof(h));
    smid<<<4, 32>>>(d);
    cudaError_t e = cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost);
    CHECK(e == cudaSuccess, "kernel launch: blocks ran on SMs %u %u %u %u (%s)", h[0], h[1], h[2],
          h[3], cudaGetErrorName(e));
    cudaFree(d);
}

int main(int argc, char **argv)
{
    size_t quota = argc > 1 ? strtoull(argv[1], nullptr, 10) : 0;
    const char *suffix = argc > 2 ? argv[2] : " MIG custom";
    int version = 0;
    cuDriverGetVersion(&version);
    printf("driver CUDA version %d, runtime %d\n", version, CUDART_VERSION);
    identity(quota, suffix);
    if (quota) {
        fill(quota);
        families();
        pages(quota);
        vmm();
        pools();
        context_end();
        graphs();
    } else {
        pages(0);
    }
    launch();
    printf("%d failure(s)\n", failures);
    return failures;
}
