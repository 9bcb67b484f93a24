/*
 * test-pages.c - the charging rule at its edges (docs/shim.md, "Charging"): the driver takes
 * whole pages for arrays and for linear memory above half a page, and the shim charges what
 * it takes, so cuMemGetInfo's free and the out-of-memory decision follow the driver's.
 *
 * ctest runs the program twice: "2m" with the fake's default page (2 MiB, the driver's as
 * measured on an H200), "64k" with MIGKIT_FAKE_CUDA_GRANULARITY=65536, a page the shim can
 * only know by asking the driver at set-up. Each group's expected charges are worked out by
 * hand for its page; both views (the shim's charge, the fake's bytes in use) must equal them.
 *
 * The fake pads pitched rows to 1024 bytes (MIGKIT_FAKE_CUDA_PITCH_ALIGN, set by ctest), more
 * than the shim's 512-byte estimate, so an estimate under half a page can settle to whole
 * pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ST_QUOTA ST_GIB
#include "shim-test.h"

#define KIB          (UINT64_C(1) << 10)
#define MIB_AND_HALF (ST_MIB + ST_MIB / 2)
/* Enough slots for the buffers that fill 1 GiB here (at most 2048 of 512 KiB). */
#define MAX_BUFFERS 4096

static int group_setup(void **state)
{
    (void)state;
    return st_setup("quota=1GiB\n");
}

/* Allocates `size`-byte buffers until the shim refuses one (out of memory, as a full GPU
 * answers); returns how many it got, then checks both views hold `expect` bytes and frees
 * them all. */
static unsigned fill(uint64_t size, uint64_t expect)
{
    static CUdeviceptr p[MAX_BUFFERS];
    unsigned n = 0;
    CUresult r = CUDA_SUCCESS;
    while (n < MAX_BUFFERS && (r = cuMemAlloc_v2(&p[n], size)) == CUDA_SUCCESS)
        n++;
    assert_true(n < MAX_BUFFERS);
    assert_int_equal(r, CUDA_ERROR_OUT_OF_MEMORY);
    EXPECT_USED(expect);
    for (unsigned i = 0; i < n; i++)
        CK(cuMemFree_v2(p[i]));
    EXPECT_USED(0);
    return n;
}

/* A 2D array's charge, created and destroyed. */
static void array_2d(size_t w, size_t h, CUarray_format f, unsigned ch, uint64_t expect)
{
    CUDA_ARRAY_DESCRIPTOR d = {.Width = w, .Height = h, .Format = f, .NumChannels = ch};
    CUarray a;
    CK(cuArrayCreate_v2(&a, &d));
    EXPECT_USED(expect);
    CK(cuArrayDestroy(a));
    EXPECT_USED(0);
}

/* ---- the driver's page: 2 MiB ---- */

static void page_2m(void **state)
{
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    size_t gran;
    (void)state;
    CK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    assert_int_equal(gran, 2 * ST_MIB);
}

/* Half a page exactly is charged as asked; one byte more takes a whole page. */
static void threshold_2m(void **state)
{
    CUdeviceptr a, b, c, m;
    (void)state;
    CK(cuMemAlloc_v2(&a, ST_MIB));
    EXPECT_USED(ST_MIB);
    CK(cuMemAlloc_v2(&b, ST_MIB + 1));
    EXPECT_USED(3 * ST_MIB);
    CK(cuMemAlloc_v2(&c, 2 * ST_MIB + 1)); /* measured: 4 MiB */
    EXPECT_USED(7 * ST_MIB);
    CK(cuMemFree_v2(b));
    EXPECT_USED(5 * ST_MIB);
    CK(cuMemAllocManaged(&m, MIB_AND_HALF, CU_MEM_ATTACH_GLOBAL)); /* managed alike */
    EXPECT_USED(7 * ST_MIB);
    CK(cuMemFree_v2(a));
    CK(cuMemFree_v2(c));
    CK(cuMemFree_v2(m));
    EXPECT_USED(0);
    CK(cuMemAlloc_v2(&a, 1000 * ST_MIB + 3)); /* measured: 1002 MiB */
    EXPECT_USED(1002 * ST_MIB);
    CK(cuMemFree_v2(a));
    EXPECT_USED(0);
}

/* 1.5 MiB buffers fill a 1 GiB quota after 1 GiB / 2 MiB = 512 of them, as on a real GPU of
 * 1 GiB (measured: 64 x 1.5 MiB took 128 MiB); 512 KiB buffers, packed by the driver, after
 * 2048 (measured: 64 x 512 KiB took 32 MiB). */
static void fill_2m(void **state)
{
    (void)state;
    assert_int_equal(fill(MIB_AND_HALF, ST_GIB), 512);
    assert_int_equal(fill(512 * KIB, ST_GIB), 2048);
}

static void arrays_2m(void **state)
{
    CUDA_ARRAY3D_DESCRIPTOR half2 = {
        .Width = 333, .Height = 77, .Depth = 9, .Format = CU_AD_FORMAT_HALF, .NumChannels = 2};
    CUDA_ARRAY3D_DESCRIPTOR big = {
        .Width = 1024, .Height = 1024, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4};
    CUDA_ARRAY3D_DESCRIPTOR odd = {
        .Width = 1000, .Height = 600, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4};
    CUmipmappedArray m;
    CUarray a;
    (void)state;
    /* The measured cases: descriptor sizes, and what the driver took. */
    array_2d(1000, 1000, CU_AD_FORMAT_FLOAT, 4, 16777216);      /* 16000000 bytes */
    array_2d(17, 3, CU_AD_FORMAT_UNSIGNED_INT8, 1, 2097152);    /* 51 */
    array_2d(65536, 0, CU_AD_FORMAT_UNSIGNED_INT8, 1, 2097152); /* 65536, 1D */
    array_2d(1024, 1024, CU_AD_FORMAT_FLOAT, 4, 16777216);      /* a power of two: exact */
    CK(cuArray3DCreate_v2(&a, &half2)); /* 333 x 77 x 9 x 4 bytes = 923076 */
    EXPECT_USED(2097152);
    CK(cuArrayDestroy(a));
    /* 11 levels of 1024 x 1024 float4: 16 MiB x (1 + 1/4 + ... ) = 22369616 bytes */
    CK(cuMipmappedArrayCreate(&m, &big, 11));
    EXPECT_USED(23068672);
    CK(cuMipmappedArrayDestroy(m));
    /* 4 levels of 1000 x 600 float4: 9600000 + 2400000 + 600000 + 150000 = 12750000 */
    CK(cuMipmappedArrayCreate(&m, &odd, 4));
    EXPECT_USED(14680064);
    CK(cuMipmappedArrayDestroy(m));
    EXPECT_USED(0);
}

/* Pitched memory is linear memory of pitch x height bytes. */
static void pitched_2m(void **state)
{
    CUdeviceptr a, b, big, small;
    size_t pitch;
    (void)state;
    /* 1000 x 100: pitch 1024, 102400 bytes, under half a page: as asked. */
    CK(cuMemAllocPitch_v2(&a, &pitch, 1000, 100, 4));
    assert_int_equal(pitch, 1024);
    EXPECT_USED(102400);
    /* 1000 x 1025: 1049600 bytes, above half a page: one page. */
    CK(cuMemAllocPitch_v2(&b, &pitch, 1000, 1025, 4));
    EXPECT_USED(102400 + 2 * ST_MIB);
    CK(cuMemFree_v2(b));
    CK(cuMemFree_v2(a));
    EXPECT_USED(0);
    /* 1030 x 600: estimated 1536 x 600 = 921600 (as asked), padded by the fake to 2048 x 600 =
     * 1228800 bytes: settled up to one page... */
    CK(cuMemAllocPitch_v2(&a, &pitch, 1030, 600, 4));
    assert_int_equal(pitch, 2048);
    EXPECT_USED(2 * ST_MIB);
    CK(cuMemFree_v2(a));
    /* ...which is refused when only 1 MiB is left: the estimate fits, the page does not. */
    CK(cuMemAlloc_v2(&big, ST_GIB - 2 * ST_MIB));
    CK(cuMemAlloc_v2(&small, ST_MIB));
    EXPECT_USED(ST_GIB - ST_MIB);
    assert_int_equal(cuMemAllocPitch_v2(&a, &pitch, 1030, 600, 4), CUDA_ERROR_OUT_OF_MEMORY);
    EXPECT_USED(ST_GIB - ST_MIB);
    CK(cuMemFree_v2(small));
    CK(cuMemFree_v2(big));
    EXPECT_USED(0);
}

/* ---- another page: 64 KiB, learnt from the driver ---- */

static void page_64k(void **state)
{
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    size_t gran;
    (void)state;
    CK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    assert_int_equal(gran, 64 * KIB);
}

static void threshold_64k(void **state)
{
    CUdeviceptr a, b, c;
    (void)state;
    CK(cuMemAlloc_v2(&a, 32 * KIB));
    EXPECT_USED(32 * KIB);
    CK(cuMemAlloc_v2(&b, 32 * KIB + 1));
    EXPECT_USED(96 * KIB);
    CK(cuMemAlloc_v2(&c, ST_MIB + 1)); /* 17 pages */
    EXPECT_USED(96 * KIB + 17 * 64 * KIB);
    CK(cuMemFree_v2(a));
    CK(cuMemFree_v2(b));
    CK(cuMemFree_v2(c));
    EXPECT_USED(0);
}

/* 1.5 MiB is 24 whole pages of 64 KiB: nothing is rounded, and 1 GiB holds 682 of them
 * (1023 MiB), 1 MiB being too little for another. */
static void fill_64k(void **state)
{
    (void)state;
    assert_int_equal(fill(MIB_AND_HALF, 682 * MIB_AND_HALF), 682);
}

static void arrays_64k(void **state)
{
    (void)state;
    array_2d(1000, 1000, CU_AD_FORMAT_FLOAT, 4, 245 * 64 * KIB); /* 16000000: 244.1 pages */
    array_2d(17, 3, CU_AD_FORMAT_UNSIGNED_INT8, 1, 64 * KIB);    /* 51 */
}

static void pitched_64k(void **state)
{
    CUdeviceptr a;
    size_t pitch;
    (void)state;
    /* 1030 x 600: estimated 921600 (15 pages), 2048 x 600 = 1228800 (18.75): 19 pages. */
    CK(cuMemAllocPitch_v2(&a, &pitch, 1030, 600, 4));
    EXPECT_USED(19 * 64 * KIB);
    CK(cuMemFree_v2(a));
    /* 1000 x 20: 20480 bytes, under half a page: as asked. */
    CK(cuMemAllocPitch_v2(&a, &pitch, 1000, 20, 4));
    EXPECT_USED(20480);
    CK(cuMemFree_v2(a));
    EXPECT_USED(0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest at_2m[] = {
        cmocka_unit_test_setup_teardown(page_2m, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(threshold_2m, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(fill_2m, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(arrays_2m, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(pitched_2m, st_clean, st_clean),
    };
    const struct CMUnitTest at_64k[] = {
        cmocka_unit_test_setup_teardown(page_64k, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(threshold_64k, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(fill_64k, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(arrays_64k, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(pitched_64k, st_clean, st_clean),
    };
    if (argc == 2 && strcmp(argv[1], "2m") == 0)
        return cmocka_run_group_tests(at_2m, group_setup, NULL);
    if (argc == 2 && strcmp(argv[1], "64k") == 0)
        return cmocka_run_group_tests(at_64k, group_setup, NULL);
    fprintf(stderr, "usage: %s 2m|64k\n", argv[0]);
    return 2;
}
