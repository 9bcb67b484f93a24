/*
 * test-families.c - every allocation family counted exactly, every free giving back exactly
 * what it took, over quota answered like a full GPU, and the instance's identity; by a program
 * linked against libcuda.so.1 (the fake) and calling it directly, as a CUDA C program does, so
 * LD_PRELOAD interposes the calls.
 *
 * After every step the shim's charge (quota - cuMemGetInfo's free) and the fake driver's own
 * count of bytes in use must both equal the size worked out by hand in the test: the driver's
 * 2 MiB pages for arrays and for linear memory above 1 MiB, the size asked for below
 * (docs/shim.md, "Charging"; test-pages.c tests the rule's edges).
 *
 * The fake pads pitched rows to 1024 bytes here (MIGKIT_FAKE_CUDA_PITCH_ALIGN, set by ctest),
 * more than the shim's 512-byte estimate, so the pitch test covers the settle-up path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ST_QUOTA ST_GIB
#include "shim-test.h"

#define UUID    "MIG-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
#define PRODUCT "NVIDIA H100 80GB HBM3" /* the fake's default device */
#define GRAN    (2 * ST_MIB)            /* the fake's VMM granularity, and its page */

static int group_setup(void **state)
{
    (void)state;
    /* The instance's UUID in cuDeviceGetUuid is opt-in (test-lease checks the default). */
    setenv("MIGKIT_SHIM_UUID", "instance", 1);
    return st_setup("# test quota\nquota=1GiB\nprofile=3g.40gb\nuuid=" UUID "\n");
}

/* ---- identity ---- */

static void identity(void **state)
{
    char name[256], small[10];
    CUuuid want, got;
    size_t total;
    unsigned int total32, free32;
    int sms;
    (void)state;
    CK(cuDeviceGetName(name, sizeof(name), 0));
    assert_string_equal(name, PRODUCT " MIG 3g.40gb");
    CK(cuDeviceGetName(small, sizeof(small), 0));
    assert_string_equal(small, "NVIDIA H1"); /* truncated to len, as the driver does */
    assert_int_equal(cuDeviceGetName(name, sizeof(name), 7), CUDA_ERROR_INVALID_DEVICE);
    assert_int_equal(cuDeviceGetName(NULL, 8, 0), CUDA_ERROR_INVALID_VALUE);

    assert_int_equal(mk__cuda_uuid_parse(UUID, &want), 0);
    CK(cuDeviceGetUuid_v2(&got, 0));
    assert_memory_equal(got.bytes, want.bytes, sizeof(want.bytes));
    memset(&got, 0, sizeof(got));
    CK(cuDeviceGetUuid_v1(&got, 0));
    assert_memory_equal(got.bytes, want.bytes, sizeof(want.bytes));

    CK(cuDeviceTotalMem_v2(&total, 0));
    assert_int_equal(total, ST_QUOTA);
    CK(cuDeviceTotalMem_v1(&total32, 0));
    assert_int_equal(total32, ST_QUOTA);
    CK(cuMemGetInfo_v1(&free32, &total32));
    assert_int_equal(free32, ST_QUOTA);
    assert_int_equal(total32, ST_QUOTA);

    /* The GPU's SM count until SM confinement exists (the fake's default: 132). */
    CK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
    assert_int_equal(sms, 132);
}

/* ---- linear memory ---- */

static void linear(void **state)
{
    CUdeviceptr a, b, m;
    uint32_t word = 0x6d69676b, back = 0;
    (void)state;
    CK(cuMemAlloc_v2(&a, ST_MIB + 3)); /* above half a page: one whole page */
    EXPECT_USED(2 * ST_MIB);
    CK(cuMemAlloc_v2(&b, 4096)); /* up to half a page: as asked */
    EXPECT_USED(2 * ST_MIB + 4096);
    CK(cuMemAllocManaged(&m, 5 * ST_MIB, CU_MEM_ATTACH_GLOBAL)); /* three pages */
    EXPECT_USED(8 * ST_MIB + 4096);
    /* The memory is usable (the fake serves it from host memory). */
    CK(cuMemcpyHtoD_v2(b, &word, sizeof(word)));
    CK(cuMemcpyDtoH_v2(&back, b, sizeof(back)));
    assert_int_equal(back, word);
    CK(cuMemFree_v2(a));
    EXPECT_USED(6 * ST_MIB + 4096);
    CK(cuMemFree_v2(m));
    CK(cuMemFree_v2(b));
    EXPECT_USED(0);
    /* A pointer the driver does not know: its error, and nothing changes. */
    assert_int_equal(cuMemFree_v2(a), CUDA_ERROR_INVALID_VALUE);
    EXPECT_USED(0);
}

static void pitch(void **state)
{
    CUdeviceptr p;
    size_t pitch;
    (void)state;
    /* 1030-byte rows: the shim estimates 1536, the fake pads to 2048; 14336 bytes in all, under
     * half a page: as asked. */
    CK(cuMemAllocPitch_v2(&p, &pitch, 1030, 7, 4));
    assert_int_equal(pitch, 2048);
    EXPECT_USED(2048 * 7);
    CK(cuMemFree_v2(p));
    EXPECT_USED(0);
}

static void async(void **state)
{
    CUdeviceptr a, b, c, d;
    CUmemoryPool pool;
    (void)state;
    CK(cuDeviceGetDefaultMemPool(&pool, 0));
    CK(cuMemAllocAsync(&a, 3 * ST_MIB, NULL));
    CK(cuMemAllocAsync_ptsz(&b, ST_MIB, NULL));
    CK(cuMemAllocFromPoolAsync(&c, 100, pool, NULL));
    CK(cuMemAllocFromPoolAsync_ptsz(&d, 200, pool, NULL));
    EXPECT_USED(4 * ST_MIB + 300);
    CK(cuMemPoolTrimTo(pool, 0)); /* the fake's pool caches nothing: no change */
    EXPECT_USED(4 * ST_MIB + 300);
    CK(cuMemFreeAsync(a, NULL));
    EXPECT_USED(4 * ST_MIB + 300); /* the pool holds it until the stream synchronises */
    CK(cuStreamSynchronize(NULL));
    EXPECT_USED(ST_MIB + 300);
    CK(cuMemFreeAsync_ptsz(b, NULL));
    CK(cuMemFree_v2(c)); /* stream-ordered memory may be freed synchronously too: at once */
    CK(cuMemFreeAsync(d, NULL));
    EXPECT_USED(ST_MIB + 200);
    /* The legacy stream's synchronisation: the fake releases everything (it runs no work),
     * the shim only what was freed on that stream. Never below the driver. */
    CK(cuStreamSynchronize(CU_STREAM_LEGACY));
    assert_int_equal(shim_used(), ST_MIB);
    assert_int_equal(st_fake().used, 0);
    CK(cuStreamSynchronize_ptsz(NULL)); /* this thread's per-thread stream: b */
    EXPECT_USED(0);
}

/* ---- arrays ---- */

static void arrays(void **state)
{
    CUDA_ARRAY_DESCRIPTOR d2 = {
        .Width = 100, .Height = 50, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4};
    CUDA_ARRAY3D_DESCRIPTOR d3 = {.Width = 64,
                                  .Height = 32,
                                  .Depth = 8,
                                  .Format = CU_AD_FORMAT_UNSIGNED_INT8,
                                  .NumChannels = 2};
    CUDA_ARRAY3D_DESCRIPTOR layered = {.Width = 16,
                                       .Height = 16,
                                       .Depth = 10,
                                       .Format = CU_AD_FORMAT_HALF,
                                       .NumChannels = 1,
                                       .Flags = CUDA_ARRAY3D_LAYERED};
    CUDA_ARRAY3D_DESCRIPTOR bc1 = {
        .Width = 10, .Height = 10, .Format = CU_AD_FORMAT_BC1_UNORM, .NumChannels = 4};
    CUDA_ARRAY3D_DESCRIPTOR sparse = {.Width = 1024,
                                      .Height = 1024,
                                      .Format = CU_AD_FORMAT_FLOAT,
                                      .NumChannels = 1,
                                      .Flags = CUDA_ARRAY3D_SPARSE};
    CUarray a, b, c, e, s;
    (void)state;
    /* Each array takes its descriptor's size in whole 2 MiB pages: one page each here. */
    CK(cuArrayCreate_v2(&a, &d2));
    EXPECT_USED(2 * ST_MIB); /* 100 x 50 x 4 floats: 80000 bytes */
    CK(cuArray3DCreate_v2(&b, &d3));
    EXPECT_USED(4 * ST_MIB); /* 64 x 32 x 8 x 2: 32768 */
    CK(cuArray3DCreate_v2(&c, &layered));
    EXPECT_USED(6 * ST_MIB); /* 16 x 16 x 10 halves: 5120 */
    CK(cuArray3DCreate_v2(&e, &bc1));
    EXPECT_USED(8 * ST_MIB); /* 3 x 3 4x4 blocks of 8 bytes: 72 */
    CK(cuArray3DCreate_v2(&s, &sparse));
    EXPECT_USED(8 * ST_MIB); /* sparse: memory comes with cuMemCreate */
    CK(cuArrayDestroy(b));
    EXPECT_USED(6 * ST_MIB);
    CK(cuArrayDestroy(a));
    CK(cuArrayDestroy(c));
    CK(cuArrayDestroy(e));
    CK(cuArrayDestroy(s));
    EXPECT_USED(0);
}

static void mipmapped(void **state)
{
    CUDA_ARRAY3D_DESCRIPTOR d = {
        .Width = 64, .Height = 32, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 1};
    CUDA_ARRAY3D_DESCRIPTOR unknown = d;
    CUmipmappedArray m;
    CUarray a;
    uint64_t allocs = st_fake().allocs;
    (void)state;
    CK(cuMipmappedArrayCreate(&m, &d, 4));
    /* 64x32 + 32x16 + 16x8 + 8x4 floats: 10880 bytes, one page */
    EXPECT_USED(2 * ST_MIB);
    CK(cuMipmappedArrayDestroy(m));
    EXPECT_USED(0);
    /* A format the shim cannot size is refused before the driver sees it. */
    unknown.Format = (CUarray_format)0x42;
    assert_int_equal(cuArray3DCreate_v2(&a, &unknown), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(st_fake().allocs, allocs + 1);
}

/* ---- virtual memory management ---- */

static void vmm(void **state)
{
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemAccessDesc access = {.location = prop.location,
                              .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CUmemGenericAllocationHandle h1, h2, again;
    CUdeviceptr va;
    size_t gran;
    (void)state;
    CK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    assert_int_equal(gran, GRAN);
    CK(cuMemAddressReserve(&va, 8 * GRAN, 0, 0, 0));
    CK(cuMemCreate(&h1, 2 * GRAN, &prop, 0));
    CK(cuMemCreate(&h2, GRAN, &prop, 0));
    EXPECT_USED(3 * GRAN);
    CK(cuMemMap(va, 2 * GRAN, 0, h1, 0));
    CK(cuMemMap(va + 2 * GRAN, GRAN, 0, h2, 0));
    CK(cuMemSetAccess(va, 3 * GRAN, &access, 1));
    /* Released while mapped: the memory lives on through the mapping, and so does the charge. */
    CK(cuMemRelease(h1));
    EXPECT_USED(3 * GRAN);
    /* A retained handle needs one more release. */
    CK(cuMemRetainAllocationHandle(&again, (void *)(uintptr_t)(va + GRAN)));
    assert_true(again == h1);
    CK(cuMemRelease(again));
    EXPECT_USED(3 * GRAN);
    /* One unmap of both mappings: h1 has no reference left and goes; h2 keeps its own. */
    CK(cuMemUnmap(va, 3 * GRAN));
    EXPECT_USED(GRAN);
    CK(cuMemRelease(h2));
    EXPECT_USED(0);
    /* Map and unmap one at a time, release last. */
    CK(cuMemCreate(&h1, GRAN, &prop, 0));
    CK(cuMemMap(va, GRAN, 0, h1, 0));
    CK(cuMemMap(va + GRAN, GRAN, 0, h1, 0));
    CK(cuMemUnmap(va, GRAN));
    CK(cuMemUnmap(va + GRAN, GRAN));
    EXPECT_USED(GRAN);
    CK(cuMemRelease(h1));
    EXPECT_USED(0);
    assert_int_equal(cuMemRelease(h1), CUDA_ERROR_INVALID_VALUE);
    EXPECT_USED(0);
    CK(cuMemAddressFree(va, 8 * GRAN));
}

/* ---- over quota ---- */

/* Each family's allocation beyond the quota fails like a full GPU, reaching no driver. */
static void over_quota(void **state)
{
    CUdeviceptr big, p;
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUDA_ARRAY3D_DESCRIPTOR arr = {.Width = 1024,
                                   .Height = 1024,
                                   .Depth = 2,
                                   .Format = CU_AD_FORMAT_UNSIGNED_INT8,
                                   .NumChannels = 1};
    CUmemGenericAllocationHandle h;
    CUmipmappedArray mm;
    CUarray a;
    size_t pitch_bytes;
    uint64_t allocs;
    (void)state;
    /* Exactly the quota fits: 1022 MiB - 1 takes 511 pages, 1 MiB + 1 the last one... */
    CK(cuMemAlloc_v2(&big, ST_QUOTA - 2 * ST_MIB - 1));
    CK(cuMemAlloc_v2(&p, ST_MIB + 1));
    EXPECT_USED(ST_QUOTA);
    allocs = st_fake().allocs;
    /* ...and then not one byte more, by any family. */
    assert_int_equal(cuMemAlloc_v2(&p, 1), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuMemAllocManaged(&p, 1, CU_MEM_ATTACH_GLOBAL), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuMemAllocPitch_v2(&p, &pitch_bytes, 1, 1, 4), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuMemAllocAsync(&p, 1, NULL), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuMemCreate(&h, GRAN, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuArray3DCreate_v2(&a, &arr), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuMipmappedArrayCreate(&mm, &arr, 1), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(st_fake().allocs, allocs);
    EXPECT_USED(ST_QUOTA);
    CK(cuMemFree_v2(p));
    CK(cuMemAlloc_v2(&p, 2 * ST_MIB)); /* the freed page is usable again */
    CK(cuMemFree_v2(p));
    CK(cuMemFree_v2(big));
    EXPECT_USED(0);
    /* One allocation larger than the quota. */
    assert_int_equal(cuMemAlloc_v2(&big, ST_QUOTA + 1), CUDA_ERROR_OUT_OF_MEMORY);
    EXPECT_USED(0);
}

/* A driver failure after the charge gives the charge back. */
static void driver_failure(void **state)
{
    CUdeviceptr p;
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemGenericAllocationHandle h;
    (void)state;
    assert_int_equal(cuMemAllocManaged(&p, 4096, 0x77), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(cuMemCreate(&h, GRAN + 1, &prop, 0), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(cuMemAllocFromPoolAsync(&p, 4096, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_USED(0);
}

/* The 32-bit entry points are refused by the shim; the driver never sees them. */
static void v1_refused(void **state)
{
    mk_cu_deviceptr_v1 p;
    unsigned int pitch_bytes;
    (void)state;
    assert_int_equal(cuMemAlloc_v1(&p, 4096), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(cuMemAllocPitch_v1(&p, &pitch_bytes, 64, 64, 4), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(cuArrayCreate_v1(NULL, NULL), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(cuArray3DCreate_v1(NULL, NULL), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(st_fake().v1_calls, 0);
}

/* Launches go through to the driver. */
static void launch(void **state)
{
    uint64_t before = st_fake().launches;
    (void)state;
    CK(cuLaunchKernel((CUfunction)(uintptr_t)1, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    CK(cuLaunchKernel_ptsz((CUfunction)(uintptr_t)1, 2, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
    assert_int_equal(cuLaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL),
                     CUDA_ERROR_INVALID_HANDLE);
    assert_int_equal(st_fake().launches, before + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(identity, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(linear, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(pitch, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(async, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(arrays, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(mipmapped, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(vmm, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(over_quota, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(driver_failure, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(v1_refused, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(launch, st_clean, st_clean),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
