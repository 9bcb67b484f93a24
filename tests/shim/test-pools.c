/*
 * test-pools.c - memory pools: what a pool keeps cached after frees stays charged, up to its
 * release threshold, and comes back with cuMemPoolTrimTo, a lower threshold or
 * cuMemPoolDestroy; what a stream-ordered free puts above the threshold stays charged until a
 * synchronisation covers its stream; stream-ordered allocations use their pool's cached and
 * awaiting charge first. Several pools, and threads racing over them.
 *
 * After each step the shim's charge (quota - cuMemGetInfo's free) and the fake driver's bytes
 * in use (its pools' caches included) are compared with sizes worked out by hand.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ST_QUOTA ST_GIB
#include "shim-test.h"

#define MIB ST_MIB

static void set_threshold(CUmemoryPool pool, cuuint64_t v)
{
    CK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v));
}

static CUmemoryPool new_pool(void)
{
    CUmemPoolProps props = {.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
                            .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    CUmemoryPool p;
    CK(cuMemPoolCreate(&p, &props));
    return p;
}

static int group_setup(void **state)
{
    (void)state;
    return st_setup("quota=1GiB\n");
}

/* The default pool: threshold 0 keeps nothing; a threshold keeps up to it. */
static void default_pool(void **state)
{
    CUmemoryPool pool;
    CUdeviceptr a, b;
    cuuint64_t v = 1;
    (void)state;
    CK(cuDeviceGetMemPool(&pool, 0));
    CK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v));
    assert_int_equal(v, 0);
    CK(cuMemAllocAsync(&a, 4 * MIB, NULL));
    CK(cuMemFreeAsync(a, NULL));
    EXPECT_USED(4 * MIB); /* held until the stream synchronises */
    CK(cuStreamSynchronize(NULL));
    EXPECT_USED(0);
    set_threshold(pool, 8 * MIB);
    CK(cuMemAllocAsync(&a, 6 * MIB, NULL));
    CK(cuMemFreeAsync(a, NULL));
    EXPECT_USED(6 * MIB); /* cached */
    assert_int_equal(st_fake().cached, 6 * MIB);
    CK(cuMemAllocAsync_ptsz(&b, 4 * MIB, CU_STREAM_PER_THREAD));
    EXPECT_USED(6 * MIB); /* 4 from the cache, 2 still cached */
    CK(cuMemFree_v2(b));  /* a synchronous free of pool memory: into the pool too */
    EXPECT_USED(6 * MIB); /* all cached */
    CK(cuMemAllocAsync(&a, 9 * MIB, CU_STREAM_LEGACY));
    EXPECT_USED(9 * MIB); /* 6 from the cache, 3 new */
    CK(cuMemFreeAsync(a, NULL));
    EXPECT_USED(9 * MIB);    /* 9 offered, the threshold keeps 8, 1 until a synchronisation */
    CK(cuStreamQuery(NULL)); /* a query that finds the stream complete synchronises */
    EXPECT_USED(8 * MIB);
    assert_int_equal(st_fake().cached, 8 * MIB);
    set_threshold(pool, 3 * MIB);
    EXPECT_USED(8 * MIB); /* the excess goes at the next synchronisation, any stream's */
    CK(cuStreamSynchronize((CUstream)(uintptr_t)0x1000));
    EXPECT_USED(3 * MIB);
    CK(cuMemPoolTrimTo(pool, 0));
    EXPECT_USED(0);
    set_threshold(pool, 0);
}

/* A full quota held as cache: other families are refused, the pool's allocations reuse it. */
static void full_cache(void **state)
{
    CUmemoryPool pool;
    CUdeviceptr a, b;
    CUstream other = (CUstream)(uintptr_t)0x1000; /* not a default stream: pool not known */
    (void)state;
    CK(cuDeviceGetMemPool(&pool, 0));
    set_threshold(pool, UINT64_MAX);
    CK(cuMemAllocAsync(&a, ST_QUOTA, NULL));
    CK(cuMemFreeAsync(a, NULL));
    EXPECT_USED(ST_QUOTA);
    assert_int_equal(cuMemAlloc_v2(&b, 1), CUDA_ERROR_OUT_OF_MEMORY);
    CK(cuMemAllocAsync(&a, ST_QUOTA, NULL)); /* served from the cache */
    EXPECT_USED(ST_QUOTA);
    CK(cuMemFreeAsync(a, NULL));
    CK(cuMemPoolTrimTo(pool, 256 * MIB));
    EXPECT_USED(256 * MIB);
    /* On another stream the size is charged in full first, the cache's part returned after. */
    CK(cuMemAllocAsync(&a, 256 * MIB, other));
    EXPECT_USED(256 * MIB);
    CK(cuMemFreeAsync(a, other));
    EXPECT_USED(256 * MIB);
    set_threshold(pool, 0);
    CK(cuCtxSynchronize());
    EXPECT_USED(0);
}

/* Created pools: each its own threshold and cache; trim; destroy with an allocation live. */
static void created_pools(void **state)
{
    CUmemoryPool p1 = new_pool(), p2 = new_pool();
    CUdeviceptr a, b, c;
    (void)state;
    set_threshold(p1, 16 * MIB);
    set_threshold(p2, UINT64_MAX);
    CK(cuMemAllocFromPoolAsync(&a, 12 * MIB, p1, NULL));
    CK(cuMemAllocFromPoolAsync_ptsz(&b, 20 * MIB, p2, NULL));
    CK(cuMemAllocFromPoolAsync(&c, 2 * MIB, p1, NULL));
    EXPECT_USED(34 * MIB);
    CK(cuMemFreeAsync(a, NULL));
    CK(cuMemFreeAsync_ptsz(b, NULL));
    EXPECT_USED(34 * MIB); /* all cached: 12 in p1, 20 in p2, 2 live */
    CK(cuMemPoolTrimTo(p2, 4 * MIB));
    EXPECT_USED(18 * MIB);
    /* With an allocation live the driver counts it toward what it keeps (12 + 2 > 8: it keeps
     * 6 cached); the shim keeps charge for 8 cached bytes: never less than the driver holds. */
    CK(cuMemPoolTrimTo(p1, 8 * MIB));
    assert_int_equal(shim_used(), 2 * MIB + 8 * MIB + 4 * MIB);
    assert_int_equal(st_fake().used, 2 * MIB + 6 * MIB + 4 * MIB);
    /* Destroyed with c live: the cache goes now, c's bytes when c is freed. */
    CK(cuMemPoolDestroy(p1));
    EXPECT_USED(2 * MIB + 4 * MIB);
    CK(cuMemFreeAsync(c, NULL));
    EXPECT_USED(6 * MIB); /* the destroyed pool holds c until a synchronisation */
    CK(cuCtxSynchronize_v2(NULL));
    EXPECT_USED(4 * MIB);
    CK(cuMemPoolDestroy(p2));
    EXPECT_USED(0);
    assert_int_equal(st_fake().cached, 0);
}

/* ---- the excess over the threshold goes at a synchronisation ---- */

static void *free_on_own_stream(void *arg)
{
    /* This thread's per-thread default stream: nobody else's synchronisation covers it. */
    return (void *)(uintptr_t)cuMemFreeAsync_ptsz(*(CUdeviceptr *)arg, NULL);
}

/* With threshold 0 a freed block is held (and charged) until its stream synchronises; the
 * pool's own allocations reuse it meanwhile, as the driver's do. */
static void sync_release(void **state)
{
    CUdeviceptr a, b;
    pthread_t t;
    void *ret;
    (void)state;
    /* Allocate and free 600 MiB ten times with no synchronisation: one block, reused. */
    for (int i = 0; i < 10; i++) {
        CK(cuMemAllocAsync(&a, 600 * MIB, NULL));
        CK(cuMemFreeAsync(a, NULL));
    }
    EXPECT_USED(600 * MIB);
    /* Another family cannot have it until then: the GPU still holds it. */
    assert_int_equal(cuMemAlloc_v2(&b, 500 * MIB), CUDA_ERROR_OUT_OF_MEMORY);
    CK(cuStreamSynchronize(NULL));
    EXPECT_USED(0);
    CK(cuMemAlloc_v2(&b, 500 * MIB));
    CK(cuMemFree_v2(b));

    /* Another stream's synchronisation does not cover this one's free. */
    CK(cuMemAllocAsync(&a, 8 * MIB, NULL));
    CK(cuMemFreeAsync(a, (CUstream)(uintptr_t)0x1000));
    CK(cuStreamSynchronize((CUstream)(uintptr_t)0x2000));
    assert_int_equal(shim_used(), 8 * MIB); /* the fake released it: it runs no work */
    assert_int_equal(st_fake().used, 0);
    CK(cuStreamSynchronize((CUstream)(uintptr_t)0x1000));
    EXPECT_USED(0);

    /* Nor does this thread's per-thread stream cover another thread's; the context does. */
    CK(cuMemAllocAsync(&a, 8 * MIB, NULL));
    assert_int_equal(pthread_create(&t, NULL, free_on_own_stream, &a), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_null(ret);
    CK(cuStreamSynchronize_ptsz(NULL));
    assert_int_equal(shim_used(), 8 * MIB);
    CK(cuCtxSynchronize());
    EXPECT_USED(0);
}

/* More streams awaiting a synchronisation than the shim keeps records for (64): the excess
 * folds into a record only the context's synchronisation covers. */
static void many_streams(void **state)
{
    enum { STREAMS = 80 };
    CUdeviceptr a[STREAMS];
    (void)state;
    for (int i = 0; i < STREAMS; i++)
        CK(cuMemAllocAsync(&a[i], MIB, NULL));
    for (int i = 0; i < STREAMS; i++)
        CK(cuMemFreeAsync(a[i], (CUstream)(uintptr_t)(0x1000 + 0x100 * i)));
    EXPECT_USED(STREAMS * MIB);
    /* The first stream had a record of its own; the last was folded. */
    CK(cuStreamSynchronize((CUstream)(uintptr_t)0x1000));
    CK(cuStreamSynchronize((CUstream)(uintptr_t)(0x1000 + 0x100 * (STREAMS - 1))));
    assert_int_equal(shim_used(), (STREAMS - 1) * MIB);
    CK(cuCtxSynchronize());
    EXPECT_USED(0);
}

/* ---- threads ---- */

#define THREADS 4
#define ROUNDS  4000
#define NPOOLS  3

static CUmemoryPool pools[NPOOLS];
static _Atomic int finished;

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    CUdeviceptr held[16] = {0};
    for (int i = 0; i < ROUNDS; i++) {
        int k = (int)(rand_r(&seed) % 16);
        if (held[k]) {
            if (cuMemFreeAsync(held[k], NULL) != CUDA_SUCCESS)
                return (void *)1;
            held[k] = 0;
        } else {
            size_t size = (1 + (size_t)rand_r(&seed) % 4) * 8 * MIB; /* enough to fill the quota */
            int p = (int)(rand_r(&seed) % (NPOOLS + 1));
            CUresult r = p == NPOOLS ? cuMemAllocAsync(&held[k], size, NULL)
                                     : cuMemAllocFromPoolAsync(&held[k], size, pools[p], NULL);
            if (r == CUDA_ERROR_OUT_OF_MEMORY)
                held[k] = 0;
            else if (r != CUDA_SUCCESS)
                return (void *)2;
        }
    }
    for (int k = 0; k < 16; k++)
        if (held[k] && cuMemFreeAsync(held[k], NULL) != CUDA_SUCCESS)
            return (void *)3;
    finished++;
    return NULL;
}

/* Threads race allocations and frees over three pools and the default one: the driver never
 * holds more than the quota, and at the end, once the caches are trimmed, nothing is left. */
static void threads(void **state)
{
    pthread_t t[THREADS];
    CUmemoryPool def;
    uint64_t max_seen = 0;
    void *ret;
    (void)state;
    CK(cuDeviceGetMemPool(&def, 0));
    for (int p = 0; p < NPOOLS; p++)
        pools[p] = new_pool();
    set_threshold(pools[1], 64 * MIB);
    set_threshold(pools[2], UINT64_MAX);
    set_threshold(def, 32 * MIB);
    finished = 0;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)), 0);
    while (finished < THREADS) {
        uint64_t u = st_fake().used;
        max_seen = u > max_seen ? u : max_seen;
        assert_true(u <= ST_QUOTA);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    /* Quiet: the shim's charge is the pools' cached charge, never below what they hold. */
    assert_true(shim_used() >= st_fake().used);
    CK(cuCtxSynchronize());
    assert_true(shim_used() >= st_fake().used);
    for (int p = 0; p < NPOOLS; p++)
        CK(cuMemPoolTrimTo(pools[p], 0));
    CK(cuMemPoolTrimTo(def, 0));
    EXPECT_USED(0);
    for (int p = 0; p < NPOOLS; p++)
        CK(cuMemPoolDestroy(pools[p]));
    set_threshold(def, 0);
    print_message("threads: the driver held at most %llu MiB of %llu\n",
                  (unsigned long long)(max_seen / MIB), (unsigned long long)(ST_QUOTA / MIB));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(default_pool, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(full_cache, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(created_pools, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(sync_release, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(many_streams, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(threads, st_clean, st_clean),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
