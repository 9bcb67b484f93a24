/*
 * test-contexts.c - the end of a context gives back the charges of the allocations made in
 * it, at once: cuCtxDestroy, and a primary context reset or released for the last time. A
 * program linked against libcuda.so.1 (the fake), calling it directly.
 *
 * After every step the shim's charge (quota - cuMemGetInfo's free) and the fake driver's own
 * count of bytes in use must both equal the size worked out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ST_QUOTA ST_GIB
#include "shim-test.h"

#define GRAN (2 * ST_MIB) /* the fake's VMM granularity */

static int group_setup(void **state)
{
    (void)state;
    return st_setup("quota=1GiB\n");
}

/* Every test starts and ends with nothing allocated and no context current. */
static int clean(void **state)
{
    (void)state;
    if (cuCtxSetCurrent(NULL) != CUDA_SUCCESS)
        return -1;
    return st_clean(state);
}

/* cuCtxDestroy frees the context's linear, managed and pitched memory and its arrays; what
 * belongs to no context or to the process (a cuMemCreate handle) stays. */
static void destroy(void **state)
{
    CUDA_ARRAY_DESCRIPTOR d = {
        .Width = 100, .Height = 50, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4};
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemGenericAllocationHandle h;
    CUdeviceptr outside, big, small, managed, pitched, again;
    CUcontext ctx, cur;
    CUarray a;
    size_t pitch;
    (void)state;
    CK(cuMemAlloc_v2(&outside, ST_MIB)); /* no context current: the fake's implicit one */
    CK(cuCtxCreate_v2(&ctx, 0, 0));
    CK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(cur, ctx);
    CK(cuMemAlloc_v2(&big, 3 * ST_MIB));
    CK(cuMemAlloc_v2(&small, 4096));
    CK(cuMemAllocManaged(&managed, 2 * ST_MIB, CU_MEM_ATTACH_GLOBAL));
    CK(cuMemAllocPitch_v2(&pitched, &pitch, 1000, 10, 4));
    assert_int_equal(pitch, 1024);
    CK(cuArrayCreate_v2(&a, &d));
    CK(cuMemCreate(&h, GRAN, &prop, 0));
    /* 1 MiB and 4096 and 10240 bytes as asked (up to half a 2 MiB page); 3 MiB in two pages,
     * the 80000-byte array in one. */
    EXPECT_USED(ST_MIB + 4 * ST_MIB + 4096 + 2 * ST_MIB + 10240 + 2 * ST_MIB + GRAN);
    CK(cuCtxDestroy_v2(ctx));
    EXPECT_USED(ST_MIB + GRAN);
    /* The context's pointers are gone in the driver: freeing one changes nothing. */
    assert_int_equal(cuMemFree_v2(big), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(cuCtxDestroy_v2(ctx), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_USED(ST_MIB + GRAN);
    /* The driver hands one of the context's small blocks out again (the fake reuses its
     * last freed small block, and which of the two the context's end freed last depends on
     * the addresses): charged once. */
    CK(cuMemAlloc_v2(&again, 4096));
    assert_true(again == small || again == pitched);
    EXPECT_USED(ST_MIB + GRAN + 4096);
    CK(cuMemFree_v2(again));
    CK(cuMemFree_v2(outside));
    CK(cuMemRelease(h));
    EXPECT_USED(0);
}

/* Two contexts: destroying one leaves the other's charges. */
static void two_contexts(void **state)
{
    CUcontext c1, c2;
    CUdeviceptr p1, p2;
    (void)state;
    CK(cuCtxCreate_v2(&c1, 0, 0));
    CK(cuMemAlloc_v2(&p1, 5 * ST_MIB));
    CK(cuCtxCreate_v2(&c2, 0, 0));
    CK(cuMemAlloc_v2(&p2, 7 * ST_MIB));
    EXPECT_USED(14 * ST_MIB); /* whole 2 MiB pages: 6 MiB and 8 MiB */
    CK(cuCtxDestroy_v2(c1));
    EXPECT_USED(8 * ST_MIB);
    CK(cuMemFree_v2(p2));
    EXPECT_USED(0);
    CK(cuCtxDestroy_v2(c2));
    EXPECT_USED(0);
}

/* A primary context's allocations go with its last release, not before. */
static void primary_release(void **state)
{
    CUcontext p, q;
    CUdeviceptr a, b;
    unsigned int flags;
    int active;
    (void)state;
    CK(cuDevicePrimaryCtxRetain(&p, 0));
    CK(cuDevicePrimaryCtxRetain(&q, 0));
    assert_ptr_equal(p, q);
    CK(cuCtxSetCurrent(p));
    CK(cuMemAlloc_v2(&a, 4 * ST_MIB));
    CK(cuMemAlloc_v2(&b, 8192));
    EXPECT_USED(4 * ST_MIB + 8192);
    CK(cuDevicePrimaryCtxRelease_v2(0));
    EXPECT_USED(4 * ST_MIB + 8192); /* one reference left */
    CK(cuDevicePrimaryCtxRelease_v2(0));
    CK(cuDevicePrimaryCtxGetState(0, &flags, &active));
    assert_int_equal(active, 0);
    EXPECT_USED(0);
    assert_int_equal(cuDevicePrimaryCtxRelease_v2(0), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_USED(0);
}

/* A reset frees the primary context's allocations whatever its references. */
static void primary_reset(void **state)
{
    CUcontext p;
    CUdeviceptr a;
    (void)state;
    CK(cuDevicePrimaryCtxRetain(&p, 0));
    CK(cuCtxSetCurrent(p));
    CK(cuMemAlloc_v2(&a, 6 * ST_MIB));
    EXPECT_USED(6 * ST_MIB);
    CK(cuDevicePrimaryCtxReset_v2(0));
    EXPECT_USED(0);
    CK(cuMemAlloc_v2(&a, ST_MIB)); /* the context lives on after a reset */
    EXPECT_USED(ST_MIB);
    CK(cuDevicePrimaryCtxRelease_v2(0));
    EXPECT_USED(0);
    assert_int_equal(cuDevicePrimaryCtxReset_v2(9), CUDA_ERROR_INVALID_DEVICE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(destroy, clean, clean),
        cmocka_unit_test_setup_teardown(two_contexts, clean, clean),
        cmocka_unit_test_setup_teardown(primary_release, clean, clean),
        cmocka_unit_test_setup_teardown(primary_reset, clean, clean),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
