/*
 * hooks-graph.c - libmigshim's hooks for CUDA graphs: the device memory a graph's memory
 * alloc nodes take is charged.
 *
 * What the driver does (measured on an H200, driver 580.159.04; docs/shim.md, "Graph memory"):
 * building or capturing a graph costs nothing; the first launch of an executable graph with
 * alloc nodes reserves their memory on the device, and CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT
 * then reads exactly their sum; later launches reuse the reservation; destroying the
 * executable graph or the graph gives nothing back; only cuDeviceGraphMemTrim does. So the
 * reservation belongs to the device, and the policy is:
 *   instantiation (every cuGraphInstantiate* entry point)  walks the graph, child graphs
 *          included, and records an executable graph with alloc nodes with their sum;
 *   cuGraphLaunch, cuGraphUpload (both stream flavors) of such a graph  charge the sum first
 *          (refused: CUDA_ERROR_OUT_OF_MEMORY, the launch not made), then settle the device's
 *          charge to the reservation the driver reports (account.c), which mostly returns the
 *          launch's charge: the reservation is reused;
 *   cuDeviceGraphMemTrim  settles the device's charge to the reservation again;
 *   cuGraphExecDestroy    forgets the executable graph; the reservation, and its charge, stay.
 * Any other graph's launch costs one atomic load (mk__shim_graph_maybe) on top of the call.
 *
 * The walk needs room for the graph's nodes: one buffer of WALK_MAX handles, mapped at the
 * first instantiation (MAP_NORESERVE: untouched pages cost nothing) and used under a mutex.
 * Instantiation is not the launch path, and graphs are instantiated rarely.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include "shim/shim.h"

/* Nodes one walk can hold, child graphs' included: 2^20 handles, 8 MiB of address space. Large
 * captured graphs (a model's whole forward pass) have tens of thousands of nodes. A graph
 * beyond it is refused (CUDA_ERROR_OUT_OF_MEMORY) rather than run uncounted. */
#define WALK_MAX ((size_t)1 << 20)

static struct {
    pthread_mutex_t lock;
    CUgraphNode *nodes; /* NULL: the mapping failed */
} walk = {.lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t walk_once = PTHREAD_ONCE_INIT;

static void walk_init(void)
{
    void *p = mmap(NULL, WALK_MAX * sizeof(CUgraphNode), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    walk.nodes = p == MAP_FAILED ? NULL : p;
}

/* What a walk found: the alloc nodes' bytes, and their devices (bit d: device d). */
struct graph_mem {
    uint64_t bytes, mask;
};

/* Appends graph g's nodes to the walk's buffer, after the *n there. */
static CUresult append(const struct mk_cuda *cu, CUgraph g, size_t *n)
{
    size_t count = 0;
    CUresult r = cu->cuGraphGetNodes(g, NULL, &count);
    if (r != CUDA_SUCCESS)
        return r;
    if (count > WALK_MAX - *n)
        return CUDA_ERROR_OUT_OF_MEMORY;
    /* In: room; out: the nodes returned (the graph may have lost some meanwhile). */
    if ((r = cu->cuGraphGetNodes(g, walk.nodes + *n, &count)) == CUDA_SUCCESS)
        *n += count;
    return r;
}

/* Adds node h's memory to *m: an alloc node's size, or a child graph's nodes to the walk. */
static CUresult visit(const struct mk_cuda *cu, CUgraphNode h, size_t *n, struct graph_mem *m)
{
    CUDA_MEM_ALLOC_NODE_PARAMS p;
    CUgraphNodeType type;
    CUgraph child;
    CUresult r;
    if (!h)
        return CUDA_SUCCESS;
    if ((r = cu->cuGraphNodeGetType(h, &type)) != CUDA_SUCCESS)
        return r;
    if (type == CU_GRAPH_NODE_TYPE_GRAPH) {
        /* A child graph may hold alloc nodes when its ownership moved into the parent. */
        if (!cu->cuGraphChildGraphNodeGetGraph)
            return MK_SHIM_MISSING;
        if ((r = cu->cuGraphChildGraphNodeGetGraph(h, &child)) != CUDA_SUCCESS)
            return r;
        return append(cu, child, n);
    }
    /* Conditional nodes' bodies cannot hold alloc nodes (the driver refuses them there). */
    if (type != CU_GRAPH_NODE_TYPE_MEM_ALLOC)
        return CUDA_SUCCESS;
    if (!cu->cuGraphMemAllocNodeGetParams)
        return MK_SHIM_MISSING;
    if ((r = cu->cuGraphMemAllocNodeGetParams(h, &p)) != CUDA_SUCCESS)
        return r;
    if (p.poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_SUCCESS; /* host memory: not charged, as cuMemAllocHost is not */
    if (p.poolProps.location.id < 0 || p.poolProps.location.id >= MK_SHIM_GRAPH_DEVICES)
        return CUDA_ERROR_NOT_SUPPORTED; /* a device whose reservation the shim cannot keep */
    if (p.bytesize > UINT64_MAX - m->bytes)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->bytes += p.bytesize;
    m->mask |= UINT64_C(1) << p.poolProps.location.id;
    return CUDA_SUCCESS;
}

/* Sums graph g's alloc nodes, breadth first through its child graphs. */
static CUresult graph_walk(CUgraph g, struct graph_mem *ret)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    struct graph_mem m = {0, 0};
    size_t n = 0;
    CUresult r;
    if (!cu->cuGraphGetNodes || !cu->cuGraphNodeGetType)
        return MK_SHIM_MISSING;
    pthread_once(&walk_once, walk_init);
    if (!walk.nodes)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&walk.lock);
    r = append(cu, g, &n);
    for (size_t i = 0; r == CUDA_SUCCESS && i < n; i++)
        r = visit(cu, walk.nodes[i], &n, &m);
    pthread_mutex_unlock(&walk.lock);
    if (r == CUDA_SUCCESS && m.bytes && mk__shim_state() < 0)
        r = CUDA_ERROR_NOT_PERMITTED; /* no quota: no graph memory either */
    if (r == CUDA_SUCCESS)
        *ret = m;
    return r;
}

/* After an instantiation that returned r: records *exec when its graph has alloc nodes. With
 * no room to record it, the executable graph is destroyed and the instantiation refused. */
static CUresult instantiated(CUresult r, CUgraphExec *exec, const struct graph_mem *m)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    int rc;
    if (r != CUDA_SUCCESS || !exec)
        return r;
    if ((rc = mk__shim_graph_record((uint64_t)(uintptr_t)*exec, m->bytes, m->mask)) == 0)
        return CUDA_SUCCESS;
    if (cu->cuGraphExecDestroy)
        cu->cuGraphExecDestroy(*exec);
    return rc == -EMFILE ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_NOT_PERMITTED;
}

/* ---- the reservation ---- */

static CUresult reserved(int dev, uint64_t *ret)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    cuuint64_t v;
    CUresult r;
    if (!cu->cuDeviceGetGraphMemAttribute)
        return MK_SHIM_MISSING;
    r = cu->cuDeviceGetGraphMemAttribute(dev, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &v);
    if (r == CUDA_SUCCESS)
        *ret = v;
    return r;
}

/* Charges a launch (or upload) of m's bytes. Over quota, or no room to track it, is what a
 * full GPU answers; no quota at all is "not permitted". */
static CUresult charge(uint64_t bytes)
{
    int r = mk__shim_charge(bytes, false);
    if (r == 0)
        return CUDA_SUCCESS;
    return r == -ENOSPC || r == -EMFILE ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_NOT_PERMITTED;
}

/* One launch or upload of exec through fn (either stream flavor). The launch path: for a graph
 * without alloc nodes, one atomic load before the driver's call. */
static CUresult launch(__typeof__(cuGraphLaunch) *fn, CUgraphExec exec, CUstream s)
{
    uint64_t key = (uint64_t)(uintptr_t)exec, bytes, mask;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    if (__builtin_expect(!mk__shim_graph_maybe(key), 1) || !mk__shim_graph_find(key, &bytes, &mask))
        return fn(exec, s);
    if ((r = charge(bytes)) != CUDA_SUCCESS)
        return r;
    if ((r = fn(exec, s)) != CUDA_SUCCESS) {
        mk__shim_uncharge(bytes, false);
        return r;
    }
    mk__shim_graph_settle(mask, bytes, NULL, NULL, reserved);
    return CUDA_SUCCESS;
}

MK_SHIM_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
    return launch(mk__shim_cuda()->cuGraphLaunch, hGraphExec, hStream);
}

MK_SHIM_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return launch(mk__shim_cuda()->cuGraphLaunch_ptsz, hGraphExec, hStream);
}

/* An upload maps the graph's memory as a launch does, without running it. */
MK_SHIM_EXPORT CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
    return launch(mk__shim_cuda()->cuGraphUpload, hGraphExec, hStream);
}

MK_SHIM_EXPORT CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
    return launch(mk__shim_cuda()->cuGraphUpload_ptsz, hGraphExec, hStream);
}

/* ---- instantiation ---- */

/* The two forms with an error node and a log buffer (CUDA 10 and 11): the same arguments. */
static CUresult instantiate_logged(__typeof__(cuGraphInstantiate_v2) *fn, CUgraphExec *phGraphExec,
                                   CUgraph hGraph, CUgraphNode *phErrorNode, char *logBuffer,
                                   size_t bufferSize)
{
    struct graph_mem m;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    if ((r = graph_walk(hGraph, &m)) != CUDA_SUCCESS)
        return r;
    return instantiated(fn(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize), phGraphExec,
                        &m);
}

MK_SHIM_EXPORT CUresult cuGraphInstantiate_v1(CUgraphExec *phGraphExec, CUgraph hGraph,
                                              CUgraphNode *phErrorNode, char *logBuffer,
                                              size_t bufferSize)
{
    return instantiate_logged(mk__shim_cuda()->cuGraphInstantiate_v1, phGraphExec, hGraph,
                              phErrorNode, logBuffer, bufferSize);
}

MK_SHIM_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
                                              CUgraphNode *phErrorNode, char *logBuffer,
                                              size_t bufferSize)
{
    return instantiate_logged(mk__shim_cuda()->cuGraphInstantiate_v2, phGraphExec, hGraph,
                              phErrorNode, logBuffer, bufferSize);
}

MK_SHIM_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                    unsigned long long flags)
{
    __typeof__(cuGraphInstantiateWithFlags) *fn = mk__shim_cuda()->cuGraphInstantiateWithFlags;
    struct graph_mem m;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    if ((r = graph_walk(hGraph, &m)) != CUDA_SUCCESS)
        return r;
    return instantiated(fn(phGraphExec, hGraph, flags), phGraphExec, &m);
}

/* With CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD the driver uploads the new executable graph, which
 * maps its memory as cuGraphUpload does: charged like a launch. */
static CUresult with_params(__typeof__(cuGraphInstantiateWithParams) *fn, CUgraphExec *exec,
                            CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
    bool upload = params && (params->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD);
    struct graph_mem m;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    if ((r = graph_walk(g, &m)) != CUDA_SUCCESS)
        return r;
    if (!upload || !m.bytes)
        return instantiated(fn(exec, g, params), exec, &m);
    if ((r = charge(m.bytes)) != CUDA_SUCCESS)
        return r;
    if ((r = instantiated(fn(exec, g, params), exec, &m)) != CUDA_SUCCESS) {
        mk__shim_uncharge(m.bytes, false);
        return r;
    }
    mk__shim_graph_settle(m.mask, m.bytes, NULL, NULL, reserved);
    return CUDA_SUCCESS;
}

MK_SHIM_EXPORT CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                     CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
    return with_params(mk__shim_cuda()->cuGraphInstantiateWithParams, phGraphExec, hGraph, params);
}

MK_SHIM_EXPORT CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                                          CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
    return with_params(mk__shim_cuda()->cuGraphInstantiateWithParams_ptsz, phGraphExec, hGraph,
                       params);
}

/* ---- the end of an executable graph, and of the reservation ---- */

/* The entry goes before the driver's call, and comes back if it fails, so that a handle the
 * driver hands out again at once never meets the old entry. */
MK_SHIM_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    __typeof__(cuGraphExecDestroy) *fn = mk__shim_cuda()->cuGraphExecDestroy;
    uint64_t key = (uint64_t)(uintptr_t)hGraphExec, bytes = 0, mask = 0;
    bool had;
    CUresult r;
    if (!fn)
        return MK_SHIM_MISSING;
    had = mk__shim_graph_maybe(key) && mk__shim_graph_forget(key, &bytes, &mask);
    if ((r = fn(hGraphExec)) != CUDA_SUCCESS && had)
        mk__shim_graph_record(key, bytes, mask);
    return r;
}

struct trim_args {
    __typeof__(cuDeviceGraphMemTrim) *fn;
    CUdevice dev;
};

static CUresult trim_op(void *arg)
{
    struct trim_args *a = arg;
    return a->fn(a->dev);
}

/* The trim runs under the accounting lock, so no other settle reads the reservation between
 * the driver's release and this one's. */
MK_SHIM_EXPORT CUresult cuDeviceGraphMemTrim(CUdevice device)
{
    struct trim_args a = {mk__shim_cuda()->cuDeviceGraphMemTrim, device};
    if (!a.fn)
        return MK_SHIM_MISSING;
    if (device < 0 || device >= MK_SHIM_GRAPH_DEVICES)
        return a.fn(device); /* no charge is kept for it */
    return mk__shim_graph_settle(UINT64_C(1) << device, 0, trim_op, &a, reserved);
}

void mk__shim_graph_context_ended(void)
{
    mk__shim_graph_settle(UINT64_MAX, 0, NULL, NULL, reserved);
}
