/*
 * fake-cuda-graph.c - the fake libcuda.so.1's CUDA graphs, as far as their memory goes: graphs
 * of empty, child graph, memory alloc and memory free nodes (edges are accepted and ignored),
 * instantiation, launch and upload, and each device's graph memory reservation.
 *
 * The reservation follows what the real driver was measured doing (an H200, driver 580; see
 * docs/shim.md, "Graph memory"): instantiation reserves nothing; a launch (or an upload) of an
 * executable graph makes the device's reservation at least the sum of its alloc nodes there,
 * reusing what is reserved already; CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT reads it; destroying
 * an executable graph or a graph releases nothing; cuDeviceGraphMemTrim releases all of it (the
 * fake runs no work, so no graph is ever executing). The reservation counts as device memory in
 * use (mk_fake_cuda_stats' used and graph); a launch whose reservation does not fit the device
 * fails with CUDA_ERROR_OUT_OF_MEMORY.
 *
 * Simplifications: every graph's allocations are taken to be freed by the end of its launch,
 * so a reservation is never in use between launches; a child graph node clones its graph with
 * its alloc nodes (the real driver takes those only when the child's ownership moves into the
 * parent, through cuGraphAddNode); a graph holds at most NODES_MAX nodes.
 *
 * Graph objects are guarded by their own mutex; the reservation by the memory registry's lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fake-cuda.h"

/* Nodes per graph: the tests build graphs of a handful. */
#define NODES_MAX 64
/* Where alloc nodes' fixed addresses start: far from host mappings, never dereferenced. */
#define GRAPH_VA_BASE UINT64_C(0x700000000000)
/* Their spacing: the driver maps graph memory in 2 MiB pages. */
#define GRAPH_VA_ALIGN (UINT64_C(2) << 20)

struct fake_graph;

struct fake_node {
    CUgraphNodeType type;
    uint64_t bytes;           /* MEM_ALLOC */
    CUdevice dev;             /* MEM_ALLOC */
    CUdeviceptr dptr;         /* MEM_ALLOC, MEM_FREE */
    struct fake_graph *child; /* GRAPH: owned by the node */
};

struct fake_graph {
    unsigned n;
    struct fake_node *nodes[NODES_MAX];
};

struct fake_exec {
    uint64_t bytes[FAKE_MAX_DEVICES]; /* alloc nodes' sums per device */
};

static pthread_mutex_t graph_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_va = GRAPH_VA_BASE;
static uint64_t reserved[FAKE_MAX_DEVICES], reserved_high[FAKE_MAX_DEVICES];
static atomic_ullong graph_launches;

uint64_t fake_graph_launches(void)
{
    return atomic_load(&graph_launches);
}

static void graph_free(struct fake_graph *g)
{
    if (!g)
        return;
    for (unsigned i = 0; i < g->n; i++) {
        graph_free(g->nodes[i]->child);
        free(g->nodes[i]);
    }
    free(g);
}

/* A deep copy of g, or NULL (out of host memory). Called with graph_lock held. */
static struct fake_graph *graph_clone(const struct fake_graph *g)
{
    struct fake_graph *c = calloc(1, sizeof(*c));
    for (unsigned i = 0; c && i < g->n; i++) {
        struct fake_node *n = malloc(sizeof(*n));
        if (!n) {
            graph_free(c);
            return NULL;
        }
        *n = *g->nodes[i];
        c->nodes[c->n++] = n;
        if (n->child && !(n->child = graph_clone(g->nodes[i]->child))) {
            graph_free(c);
            return NULL;
        }
    }
    return c;
}

CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
    struct fake_graph *g;
    CUresult r = fake_ready();
    if (r != CUDA_SUCCESS)
        return r;
    if (!phGraph || flags)
        return CUDA_ERROR_INVALID_VALUE;
    if (!(g = calloc(1, sizeof(*g))))
        return CUDA_ERROR_OUT_OF_MEMORY;
    *phGraph = (CUgraph)(void *)g;
    return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph hGraph)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && !hGraph)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        graph_free((struct fake_graph *)(void *)hGraph);
    return r;
}

/* Adds node n (a template) to graph h; dependencies are accepted and ignored. */
static CUresult add_node(CUgraphNode *ret, CUgraph h, const struct fake_node *n)
{
    struct fake_graph *g = (struct fake_graph *)(void *)h;
    struct fake_node *copy;
    CUresult r = fake_ready();
    if (r != CUDA_SUCCESS)
        return r;
    if (!ret || !g)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&graph_lock);
    if (g->n == NODES_MAX || !(copy = malloc(sizeof(*copy)))) {
        pthread_mutex_unlock(&graph_lock);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *copy = *n;
    g->nodes[g->n++] = copy;
    pthread_mutex_unlock(&graph_lock);
    *ret = (CUgraphNode)(void *)copy;
    return CUDA_SUCCESS;
}

CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                             const CUgraphNode *dependencies, size_t numDependencies)
{
    struct fake_node n = {.type = CU_GRAPH_NODE_TYPE_EMPTY};
    (void)dependencies, (void)numDependencies;
    return add_node(phGraphNode, hGraph, &n);
}

CUresult cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                  const CUgraphNode *dependencies, size_t numDependencies,
                                  CUgraph childGraph)
{
    struct fake_node n = {.type = CU_GRAPH_NODE_TYPE_GRAPH};
    CUresult r;
    (void)dependencies, (void)numDependencies;
    if (!childGraph)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&graph_lock);
    n.child = graph_clone((struct fake_graph *)(void *)childGraph);
    pthread_mutex_unlock(&graph_lock);
    if (!n.child)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if ((r = add_node(phGraphNode, hGraph, &n)) != CUDA_SUCCESS)
        graph_free(n.child);
    return r;
}

CUresult cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                const CUgraphNode *dependencies, size_t numDependencies,
                                CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams)
{
    struct fake_node n = {.type = CU_GRAPH_NODE_TYPE_MEM_ALLOC};
    CUresult r;
    (void)dependencies, (void)numDependencies;
    if (!nodeParams || nodeParams->bytesize == 0 ||
        nodeParams->poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        fake_check_device(nodeParams->poolProps.location.id) != CUDA_SUCCESS)
        return CUDA_ERROR_INVALID_VALUE;
    n.bytes = nodeParams->bytesize;
    n.dev = nodeParams->poolProps.location.id;
    pthread_mutex_lock(&graph_lock);
    n.dptr = next_va;
    next_va += (n.bytes + GRAPH_VA_ALIGN - 1) / GRAPH_VA_ALIGN * GRAPH_VA_ALIGN;
    pthread_mutex_unlock(&graph_lock);
    if ((r = add_node(phGraphNode, hGraph, &n)) == CUDA_SUCCESS)
        nodeParams->dptr = n.dptr;
    return r;
}

CUresult cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                               const CUgraphNode *dependencies, size_t numDependencies,
                               CUdeviceptr dptr)
{
    struct fake_node n = {.type = CU_GRAPH_NODE_TYPE_MEM_FREE, .dptr = dptr};
    (void)dependencies, (void)numDependencies;
    return dptr ? add_node(phGraphNode, hGraph, &n) : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
    struct fake_graph *g = (struct fake_graph *)(void *)hGraph;
    CUresult r = fake_ready();
    size_t got;
    if (r != CUDA_SUCCESS)
        return r;
    if (!g || !numNodes)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&graph_lock);
    if (!nodes) {
        *numNodes = g->n;
    } else {
        /* As the driver: up to *numNodes handles, the rest of the array NULL. */
        for (got = 0; got < *numNodes; got++)
            nodes[got] = got < g->n ? (CUgraphNode)(void *)g->nodes[got] : NULL;
        *numNodes = *numNodes < g->n ? *numNodes : g->n;
    }
    pthread_mutex_unlock(&graph_lock);
    return CUDA_SUCCESS;
}

CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && (!hNode || !type))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *type = ((struct fake_node *)(void *)hNode)->type;
    return r;
}

CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph)
{
    struct fake_node *n = (struct fake_node *)(void *)hNode;
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && (!n || !phGraph || n->type != CU_GRAPH_NODE_TYPE_GRAPH))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *phGraph = (CUgraph)(void *)n->child;
    return r;
}

CUresult cuGraphMemAllocNodeGetParams(CUgraphNode hNode, CUDA_MEM_ALLOC_NODE_PARAMS *params_out)
{
    struct fake_node *n = (struct fake_node *)(void *)hNode;
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && (!n || !params_out || n->type != CU_GRAPH_NODE_TYPE_MEM_ALLOC))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *params_out = (CUDA_MEM_ALLOC_NODE_PARAMS){
            .poolProps = {.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
                          .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = n->dev}},
            .bytesize = n->bytes,
            .dptr = n->dptr};
    return r;
}

/* ---- executable graphs ---- */

/* Adds graph g's alloc nodes, its children's included, to e. Called with graph_lock held. */
static void sum_allocs(const struct fake_graph *g, struct fake_exec *e)
{
    for (unsigned i = 0; i < g->n; i++) {
        if (g->nodes[i]->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC)
            e->bytes[g->nodes[i]->dev] += g->nodes[i]->bytes;
        else if (g->nodes[i]->child)
            sum_allocs(g->nodes[i]->child, e);
    }
}

static CUresult instantiate(CUgraphExec *ret, CUgraph h)
{
    struct fake_exec *e;
    CUresult r = fake_ready();
    if (r != CUDA_SUCCESS)
        return r;
    if (!ret || !h)
        return CUDA_ERROR_INVALID_VALUE;
    if (!(e = calloc(1, sizeof(*e))))
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&graph_lock);
    sum_allocs((struct fake_graph *)(void *)h, e);
    pthread_mutex_unlock(&graph_lock);
    *ret = (CUgraphExec)(void *)e;
    return CUDA_SUCCESS;
}

/* A launch or upload of e: each device's reservation grows to what e's alloc nodes need
 * there, all or nothing. */
static CUresult reserve(CUgraphExec h)
{
    struct fake_exec *e = (struct fake_exec *)(void *)h;
    uint64_t grow = 0;
    CUresult r = fake_ready();
    if (r != CUDA_SUCCESS)
        return r;
    if (!e)
        return CUDA_ERROR_INVALID_VALUE;
    fake_mem_lock();
    for (int d = 0; d < FAKE_MAX_DEVICES; d++)
        grow += e->bytes[d] > reserved[d] ? e->bytes[d] - reserved[d] : 0;
    if (!fake_mem_graph(grow, 0)) {
        r = CUDA_ERROR_OUT_OF_MEMORY;
    } else {
        for (int d = 0; d < FAKE_MAX_DEVICES; d++) {
            if (e->bytes[d] > reserved[d])
                reserved[d] = e->bytes[d];
            if (reserved[d] > reserved_high[d])
                reserved_high[d] = reserved[d];
        }
    }
    fake_mem_unlock();
    return r;
}

CUresult cuGraphInstantiate_v1(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize)
{
    (void)phErrorNode, (void)logBuffer, (void)bufferSize;
    return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize)
{
    (void)phErrorNode, (void)logBuffer, (void)bufferSize;
    return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                     unsigned long long flags)
{
    (void)flags;
    return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                      CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
    CUresult r;
    if (!instantiateParams)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = instantiate(phGraphExec, hGraph)) != CUDA_SUCCESS) {
        instantiateParams->result_out = CUDA_GRAPH_INSTANTIATE_ERROR;
        return r;
    }
    if ((instantiateParams->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) &&
        (r = reserve(*phGraphExec)) != CUDA_SUCCESS) {
        free((void *)*phGraphExec);
        instantiateParams->result_out = CUDA_GRAPH_INSTANTIATE_ERROR;
        return r;
    }
    instantiateParams->result_out = CUDA_GRAPH_INSTANTIATE_SUCCESS;
    return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                           CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
    return cuGraphInstantiateWithParams(phGraphExec, hGraph, instantiateParams);
}

CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
    (void)hStream;
    return reserve(hGraphExec);
}

CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return cuGraphUpload(hGraphExec, hStream);
}

CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
    CUresult r = reserve(hGraphExec);
    (void)hStream;
    if (r == CUDA_SUCCESS)
        atomic_fetch_add(&graph_launches, 1);
    return r;
}

CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return cuGraphLaunch(hGraphExec, hStream);
}

CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && !hGraphExec)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        free((void *)hGraphExec); /* the reservation stays until a trim */
    return r;
}

/* ---- the reservation ---- */

CUresult cuDeviceGraphMemTrim(CUdevice device)
{
    CUresult r = fake_check_device(device);
    if (r != CUDA_SUCCESS)
        return r;
    fake_mem_lock();
    fake_mem_graph(0, reserved[device]);
    reserved[device] = 0;
    fake_mem_unlock();
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetGraphMemAttribute(CUdevice device, CUgraphMem_attribute attr, void *value)
{
    CUresult r = fake_check_device(device);
    if (r != CUDA_SUCCESS)
        return r;
    if (!value)
        return CUDA_ERROR_INVALID_VALUE;
    fake_mem_lock();
    switch (attr) {
    case CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT:
        *(cuuint64_t *)value = reserved[device];
        break;
    case CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH:
    case CU_GRAPH_MEM_ATTR_USED_MEM_HIGH:
        *(cuuint64_t *)value = reserved_high[device];
        break;
    case CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT:
        *(cuuint64_t *)value = 0; /* every allocation freed by its graph's end */
        break;
    default:
        r = CUDA_ERROR_INVALID_VALUE;
        break;
    }
    fake_mem_unlock();
    return r;
}
