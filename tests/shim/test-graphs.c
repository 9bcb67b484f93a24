/*
 * test-graphs.c - graph memory: an executable graph's memory alloc nodes are charged at its
 * first launch (or upload), not again when it is launched again, refused when they would not
 * fit, given back by cuDeviceGraphMemTrim and not by cuGraphExecDestroy; graphs without alloc
 * nodes cost nothing; threads launching at once. A program linked against libcuda.so.1 (the
 * fake), calling it directly.
 *
 * After every step the shim's charge (quota - cuMemGetInfo's free) and the fake driver's bytes
 * in use (its graph reservation included) must both equal the size worked out by hand.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ST_QUOTA ST_GIB
#include "shim-test.h"

#define MIB ST_MIB

static int group_setup(void **state)
{
    (void)state;
    return st_setup("quota=1GiB\n");
}

/* Adds an alloc node of bytes on device 0 to g, and with free, a node freeing it. */
static void add_alloc(CUgraph g, uint64_t bytes, bool free)
{
    CUDA_MEM_ALLOC_NODE_PARAMS p = {
        .poolProps = {.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
                      .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}},
        .bytesize = bytes};
    CUgraphNode a, f;
    CK(cuGraphAddMemAllocNode(&a, g, NULL, 0, &p));
    assert_true(p.dptr != 0);
    if (free)
        CK(cuGraphAddMemFreeNode(&f, g, &a, 1, p.dptr));
}

/* A graph of one alloc node of bytes and its free (what a captured cudaMallocAsync and
 * cudaFreeAsync make), instantiated. */
static CUgraphExec alloc_graph(uint64_t bytes, CUgraph *ret_graph)
{
    CUgraphExec e;
    CK(cuGraphCreate(ret_graph, 0));
    add_alloc(*ret_graph, bytes, true);
    CK(cuGraphInstantiateWithFlags(&e, *ret_graph, 0));
    return e;
}

static void trim(void)
{
    CK(cuDeviceGraphMemTrim(0));
}

/* First launch charges, relaunches do not, trim returns, exec destroy keeps the reservation. */
static void launch_and_trim(void **state)
{
    uint64_t launches = st_fake().graph_launches;
    cuuint64_t v = 1;
    CUgraphExec e;
    CUgraph g;
    (void)state;
    e = alloc_graph(128 * MIB, &g);
    EXPECT_USED(0); /* instantiation reserves nothing */
    CK(cuGraphLaunch(e, NULL));
    EXPECT_USED(128 * MIB);
    assert_int_equal(st_fake().graph, 128 * MIB);
    CK(cuGraphLaunch(e, NULL)); /* the reservation is reused: no second charge */
    CK(cuGraphLaunch_ptsz(e, NULL));
    EXPECT_USED(128 * MIB);
    assert_int_equal(st_fake().graph_launches, launches + 3);
    CK(cuDeviceGetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &v));
    assert_int_equal(v, 128 * MIB);
    trim();
    EXPECT_USED(0);
    CK(cuGraphLaunch(e, NULL)); /* reserved again */
    EXPECT_USED(128 * MIB);
    CK(cuGraphExecDestroy(e));
    CK(cuGraphDestroy(g));
    EXPECT_USED(128 * MIB); /* as measured: only a trim releases it */
    trim();
    EXPECT_USED(0);
}

/* A launch whose alloc nodes do not fit the quota is refused before the driver sees it. */
static void over_quota(void **state)
{
    uint64_t launches = st_fake().graph_launches;
    CUdeviceptr big;
    CUgraphExec e;
    CUgraph g;
    (void)state;
    e = alloc_graph(128 * MIB, &g);
    CK(cuMemAlloc_v2(&big, ST_QUOTA - 64 * MIB));
    assert_int_equal(cuGraphLaunch(e, NULL), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuGraphUpload(e, NULL), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(st_fake().graph_launches, launches);
    EXPECT_USED(ST_QUOTA - 64 * MIB);
    CK(cuMemFree_v2(big));
    EXPECT_USED(0);
    CK(cuGraphLaunch(e, NULL));
    EXPECT_USED(128 * MIB);
    /* With the reservation held, other families see the quota less it. */
    assert_int_equal(cuMemAlloc_v2(&big, ST_QUOTA - 64 * MIB), CUDA_ERROR_OUT_OF_MEMORY);
    CK(cuGraphExecDestroy(e));
    CK(cuGraphDestroy(g));
    trim();
    EXPECT_USED(0);
}

/* A graph without alloc nodes costs nothing, beside a graph that has some. */
static void no_alloc_nodes(void **state)
{
    uint64_t launches = st_fake().graph_launches;
    CUgraphExec plain, e;
    CUgraph pg, g;
    CUgraphNode n;
    (void)state;
    CK(cuGraphCreate(&pg, 0));
    CK(cuGraphAddEmptyNode(&n, pg, NULL, 0));
    CK(cuGraphInstantiateWithFlags(&plain, pg, 0));
    CK(cuGraphLaunch(plain, NULL));
    EXPECT_USED(0);
    e = alloc_graph(16 * MIB, &g);
    CK(cuGraphLaunch(plain, NULL));
    CK(cuGraphLaunch_ptsz(plain, NULL));
    EXPECT_USED(0);
    CK(cuGraphLaunch(e, NULL));
    CK(cuGraphLaunch(plain, NULL));
    EXPECT_USED(16 * MIB);
    assert_int_equal(st_fake().graph_launches, launches + 5);
    CK(cuGraphExecDestroy(plain));
    CK(cuGraphExecDestroy(e));
    CK(cuGraphDestroy(pg));
    CK(cuGraphDestroy(g));
    trim();
    EXPECT_USED(0);
}

/* Child graphs' alloc nodes count; every instantiation entry point records; an upload at
 * instantiation (CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) or by cuGraphUpload charges as a launch. */
static void children_and_entry_points(void **state)
{
    CUDA_GRAPH_INSTANTIATE_PARAMS ip = {.flags = CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD};
    CUgraphExec e1, e2, e3, e4;
    CUgraph g, child, grandchild;
    CUgraphNode n;
    (void)state;
    CK(cuGraphCreate(&grandchild, 0));
    add_alloc(grandchild, 8 * MIB, true);
    CK(cuGraphCreate(&child, 0));
    add_alloc(child, 32 * MIB, false); /* not freed in the graph: still reserved for it */
    CK(cuGraphAddChildGraphNode(&n, child, NULL, 0, grandchild));
    CK(cuGraphCreate(&g, 0));
    add_alloc(g, 16 * MIB, true);
    CK(cuGraphAddChildGraphNode(&n, g, NULL, 0, child));
    CK(cuGraphAddEmptyNode(&n, g, NULL, 0));

    CK(cuGraphInstantiate_v1(&e1, g, NULL, NULL, 0));
    CK(cuGraphInstantiate_v2(&e2, grandchild, NULL, NULL, 0));
    CK(cuGraphInstantiateWithParams_ptsz(&e3, child, &ip));
    EXPECT_USED(40 * MIB); /* the upload reserved child's 32 + 8 */
    CK(cuGraphLaunch(e2, NULL));
    EXPECT_USED(40 * MIB); /* 8 fits in what is reserved */
    CK(cuGraphUpload_ptsz(e1, NULL));
    EXPECT_USED(56 * MIB); /* 16 + 32 + 8 */
    ip.flags = 0;
    CK(cuGraphInstantiateWithParams(&e4, g, &ip));
    assert_int_equal(ip.result_out, CUDA_GRAPH_INSTANTIATE_SUCCESS);
    EXPECT_USED(56 * MIB);
    trim();
    EXPECT_USED(0);
    CK(cuGraphLaunch(e4, NULL));
    EXPECT_USED(56 * MIB);
    CK(cuGraphExecDestroy(e1));
    CK(cuGraphExecDestroy(e2));
    CK(cuGraphExecDestroy(e3));
    CK(cuGraphExecDestroy(e4));
    CK(cuGraphDestroy(g));
    CK(cuGraphDestroy(child));
    CK(cuGraphDestroy(grandchild));
    trim();
    EXPECT_USED(0);
}

/* ---- threads ---- */

#define THREADS  4
#define LAUNCHES 2000

struct worker {
    pthread_t tid;
    CUgraphExec exec, plain;
    unsigned failures;
};

static void *launcher(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < LAUNCHES; i++) {
        CUgraphExec e = i % 3 == 2 ? w->plain : w->exec;
        CUresult r = i & 1 ? cuGraphLaunch_ptsz(e, NULL) : cuGraphLaunch(e, NULL);
        if (r != CUDA_SUCCESS || st_fake().used > ST_QUOTA)
            w->failures++;
    }
    return NULL;
}

/* Four threads launch their own graphs (8 to 32 MiB of alloc nodes) and plain ones at once:
 * every launch succeeds, and at the end the charge is the reservation, the largest graph's. */
static void threads(void **state)
{
    struct worker ws[THREADS] = {{0}};
    CUgraph gs[THREADS], pg;
    CUgraphNode n;
    (void)state;
    CK(cuGraphCreate(&pg, 0));
    CK(cuGraphAddEmptyNode(&n, pg, NULL, 0));
    for (int i = 0; i < THREADS; i++) {
        ws[i].exec = alloc_graph((uint64_t)(i + 1) * 8 * MIB, &gs[i]);
        CK(cuGraphInstantiateWithFlags(&ws[i].plain, pg, 0));
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&ws[i].tid, NULL, launcher, &ws[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ws[i].tid, NULL);
        assert_int_equal(ws[i].failures, 0);
    }
    EXPECT_USED(THREADS * 8 * MIB);
    for (int i = 0; i < THREADS; i++) {
        CK(cuGraphExecDestroy(ws[i].exec));
        CK(cuGraphExecDestroy(ws[i].plain));
        CK(cuGraphDestroy(gs[i]));
    }
    CK(cuGraphDestroy(pg));
    EXPECT_USED(THREADS * 8 * MIB);
    trim();
    EXPECT_USED(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(launch_and_trim, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(over_quota, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(no_alloc_nodes, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(children_and_entry_points, st_clean, st_clean),
        cmocka_unit_test_setup_teardown(threads, st_clean, st_clean),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
