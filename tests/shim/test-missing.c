/*
 * test-missing.c - a hook whose real entry point is missing answers with a CUDA error and never
 * calls NULL.
 *
 *   test-shim-missing old    libcuda.so.1 is tests/fakes/cuda's old driver, which lacks VMM,
 *                            stream-ordered allocation, arrays, launches...: every hook for
 *                            those returns CUDA_ERROR_NOT_FOUND, and what the driver has still
 *                            works and is counted. Its cuGetProcAddress also has versions the
 *                            shim's list does not know: of a memory entry point, refused; of an
 *                            identity one, handed out as the driver gave it.
 *   test-shim-missing none   no libcuda.so.1 at all: every hook returns CUDA_ERROR_NOT_FOUND.
 *                            Skipped where the system has a driver of its own (a GPU machine).
 *
 * The hooks are reached as a program built against a newer cuda.h reaches them: by name, in
 * the global scope (the shim exports them whether or not the driver has them).
 */
#include <stdint.h>

#include "shim-test.h"
#include "vendor/cuda-syms.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* The shim's hook for export name, typed as var. */
#define HOOK(var, name)                                                                            \
    do {                                                                                           \
        void *p_ = dlsym(RTLD_DEFAULT, name);                                                      \
        memcpy(&(var), &p_, sizeof(p_));                                                           \
        CHECK(p_ &&strstr(st_owner(p_), "libmigshim"), "%s is not the shim's", name);              \
    } while (0)

/* Hooks whose driver entry point the old driver lacks: all answer CUDA_ERROR_NOT_FOUND. */
static void lacking(void)
{
    __typeof__(cuMemCreate) *create;
    __typeof__(cuMemAllocAsync) *alloc_async;
    __typeof__(cuMemAllocFromPoolAsync_ptsz) *alloc_pool;
    __typeof__(cuArray3DCreate_v2) *array3d;
    __typeof__(cuMipmappedArrayCreate) *mipmap;
    __typeof__(cuLaunchKernel) *launch;
    __typeof__(cuDeviceGetUuid_v2) *uuid;
    __typeof__(cuMemRelease) *release;
    __typeof__(cuMemUnmap) *unmap;
    __typeof__(cuCtxDestroy_v2) *ctx_destroy;
    __typeof__(cuDevicePrimaryCtxReset_v2) *ctx_reset;
    __typeof__(cuGraphInstantiateWithFlags) *instantiate;
    __typeof__(cuGraphLaunch) *graph_launch;
    __typeof__(cuDeviceGraphMemTrim) *graph_trim;
    CUgraphExec e;
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED};
    CUDA_ARRAY3D_DESCRIPTOR d = {.Width = 8, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 1};
    CUmemGenericAllocationHandle h;
    CUdeviceptr p;
    CUarray a;
    CUmipmappedArray m;
    CUuuid u;
    HOOK(create, "cuMemCreate");
    HOOK(alloc_async, "cuMemAllocAsync");
    HOOK(alloc_pool, "cuMemAllocFromPoolAsync_ptsz");
    HOOK(array3d, "cuArray3DCreate_v2");
    HOOK(mipmap, "cuMipmappedArrayCreate");
    HOOK(launch, "cuLaunchKernel");
    HOOK(uuid, "cuDeviceGetUuid_v2");
    HOOK(release, "cuMemRelease");
    HOOK(unmap, "cuMemUnmap");
    HOOK(ctx_destroy, "cuCtxDestroy_v2");
    HOOK(ctx_reset, "cuDevicePrimaryCtxReset_v2");
    HOOK(instantiate, "cuGraphInstantiateWithFlags");
    HOOK(graph_launch, "cuGraphLaunch");
    HOOK(graph_trim, "cuDeviceGraphMemTrim");
    CHECK(create(&h, 1 << 21, &prop, 0) == CUDA_ERROR_NOT_FOUND, "cuMemCreate");
    CHECK(alloc_async(&p, 64, NULL) == CUDA_ERROR_NOT_FOUND, "cuMemAllocAsync");
    CHECK(alloc_pool(&p, 64, NULL, NULL) == CUDA_ERROR_NOT_FOUND, "cuMemAllocFromPoolAsync");
    CHECK(array3d(&a, &d) == CUDA_ERROR_NOT_FOUND, "cuArray3DCreate_v2");
    CHECK(mipmap(&m, &d, 2) == CUDA_ERROR_NOT_FOUND, "cuMipmappedArrayCreate");
    CHECK(launch((CUfunction)(uintptr_t)1, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL) ==
              CUDA_ERROR_NOT_FOUND,
          "cuLaunchKernel");
    CHECK(uuid(&u, 0) == CUDA_ERROR_NOT_FOUND, "cuDeviceGetUuid_v2");
    CHECK(release(1) == CUDA_ERROR_NOT_FOUND, "cuMemRelease");
    CHECK(unmap(1 << 21, 1 << 21) == CUDA_ERROR_NOT_FOUND, "cuMemUnmap");
    CHECK(ctx_destroy(NULL) == CUDA_ERROR_NOT_FOUND, "cuCtxDestroy_v2");
    CHECK(ctx_reset(0) == CUDA_ERROR_NOT_FOUND, "cuDevicePrimaryCtxReset_v2");
    CHECK(instantiate(&e, (CUgraph)(uintptr_t)1, 0) == CUDA_ERROR_NOT_FOUND,
          "cuGraphInstantiateWithFlags");
    CHECK(graph_launch((CUgraphExec)(uintptr_t)1, NULL) == CUDA_ERROR_NOT_FOUND, "cuGraphLaunch");
    CHECK(graph_trim(0) == CUDA_ERROR_NOT_FOUND, "cuDeviceGraphMemTrim");
}

/* Versions the shim's list does not know, through cuGetProcAddress (old-cuda.c). */
static void unknown_versions(__typeof__(cuGetProcAddress_v2) *gpa)
{
    __typeof__(cuMemAllocManaged) *managed;
    __typeof__(cuDeviceGetName) *name;
    __typeof__(cuMemFree_v2) *free_fn;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
    CUdeviceptr p;
    char buf[64] = "";
    void *q = NULL;
    CHECK(gpa("cuMemAllocManaged", &q, 13000, 0, &st) == CUDA_ERROR_NOT_FOUND && !q &&
              st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT,
          "an unknown cuMemAllocManaged is refused");
    CHECK(gpa("cuMemAllocManaged", &q, 6000, 0, NULL) == CUDA_SUCCESS &&
              strstr(st_owner(q), "libmigshim"),
          "the known cuMemAllocManaged is the hook (%s)", st_owner(q));
    memcpy(&managed, &q, sizeof(q));
    CHECK(managed && managed(&p, ST_MIB, CU_MEM_ATTACH_GLOBAL) == CUDA_SUCCESS,
          "cuMemAllocManaged, found only through cuGetProcAddress, works");
    CHECK(gpa("cuDeviceGetName", &q, 13000, 0, NULL) == CUDA_SUCCESS &&
              strcmp(st_owner(q), "libcuda.so.1") == 0,
          "an unknown cuDeviceGetName is the driver's (%s)", st_owner(q));
    memcpy(&name, &q, sizeof(q));
    CHECK(name && name(buf, sizeof(buf), 0) == CUDA_SUCCESS && !strcmp(buf, "Old GPU next"),
          "it answers for itself: %s", buf);
    CHECK(gpa("cuDeviceGetName", &q, 2000, 0, NULL) == CUDA_SUCCESS, "cuDeviceGetName");
    memcpy(&name, &q, sizeof(q));
    CHECK(name && name(buf, sizeof(buf), 0) == CUDA_SUCCESS && !strcmp(buf, "Old GPU MIG custom"),
          "the known cuDeviceGetName is the hook: %s", buf);
    HOOK(free_fn, "cuMemFree_v2");
    CHECK(free_fn(p) == CUDA_SUCCESS, "cuMemFree_v2");
}

static int old_driver(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    __typeof__(cuInit) *init;
    __typeof__(cuMemAlloc_v2) *alloc;
    __typeof__(cuMemFree_v2) *free_fn;
    __typeof__(cuMemGetInfo_v2) *info;
    __typeof__(cuGetProcAddress_v2) *gpa;
    CUdeviceptr p;
    size_t f, t;
    void *q;
    if (!lib || dlsym(lib, "cuMemCreate") || dlsym(lib, MK_FAKE_CUDA_STATS_SYMBOL)) {
        fprintf(stderr, "libcuda.so.1 is not tests/fakes/cuda's old driver\n");
        return 1;
    }
    HOOK(init, "cuInit");
    HOOK(info, "cuMemGetInfo_v2");
    HOOK(gpa, "cuGetProcAddress_v2");
    q = dlsym(lib, "cuMemAlloc_v2"); /* through the driver's handle: the hook */
    memcpy(&alloc, &q, sizeof(q));
    q = dlsym(lib, "cuMemFree_v2");
    memcpy(&free_fn, &q, sizeof(q));
    CHECK(init(0) == CUDA_SUCCESS, "cuInit");
    CHECK(alloc && alloc(&p, 10 * ST_MIB) == CUDA_SUCCESS, "cuMemAlloc_v2");
    CHECK(info(&f, &t) == CUDA_SUCCESS && t == 64 * ST_MIB && f == 54 * ST_MIB,
          "counted: %zu of %zu free", f, t);
    CHECK(free_fn && free_fn(p) == CUDA_SUCCESS, "cuMemFree_v2");
    lacking();
    unknown_versions(gpa);
    CHECK(gpa("cuMemCreate", &q, 13000, 0, NULL) == CUDA_ERROR_NOT_FOUND && !q, "gpa");
    printf("old driver: what it has works and is counted, every missing entry point is "
           "CUDA_ERROR_NOT_FOUND\n");
    return failures ? 1 : 0;
}

static int no_driver(void)
{
    __typeof__(cuInit) *init;
    __typeof__(cuMemAlloc_v2) *alloc;
    __typeof__(cuGetProcAddress_v2) *gpa;
    CUdeviceptr p;
    void *q;
    if (dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
        printf("this machine has a libcuda.so.1 of its own: nothing to test\n");
        return ST_SKIP;
    }
    HOOK(init, "cuInit");
    HOOK(alloc, "cuMemAlloc_v2");
    HOOK(gpa, "cuGetProcAddress_v2");
    CHECK(init(0) == CUDA_ERROR_NOT_FOUND, "cuInit");
    CHECK(alloc(&p, 4096) == CUDA_ERROR_NOT_FOUND, "cuMemAlloc_v2");
    CHECK(gpa("cuInit", &q, 13000, 0, NULL) == CUDA_ERROR_NOT_FOUND, "gpa");
    lacking();
    printf("no driver: every hook answers CUDA_ERROR_NOT_FOUND\n");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (!st_shim_loaded()) {
        fprintf(stderr, "libmigshim.so is not preloaded\n");
        return 1;
    }
    st_standalone("quota=64MiB\n");
    if (argc == 2 && strcmp(argv[1], "old") == 0)
        return old_driver();
    if (argc == 2 && strcmp(argv[1], "none") == 0)
        return no_driver();
    fprintf(stderr, "usage: test-shim-missing old|none\n");
    return 2;
}
