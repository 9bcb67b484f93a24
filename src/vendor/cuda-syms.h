/*
 * cuda-syms.h - the one list of CUDA driver entry points migkit touches, and the typed table
 * it generates.
 *
 * Driver types come from the CUDA toolkit's own cuda.h, found at build time (CUDA_HOME,
 * default /usr/local/cuda): it is never copied into this tree. Only libmigshim (src/shim),
 * src/vendor/cuda-syms.c and the fake libcuda.so.1 (tests/fakes/cuda) include this header.
 *
 * MK_CUDA_SYMBOLS is the single list. Each row X(sym, export, name, since, flavor, role) is:
 *
 *   sym     the C identifier of the entry point: cuda.h's declaration types it (or, for the
 *           few older versions cuda.h declares only for NVIDIA's own build, the declarations
 *           below), so a hook or fake whose signature drifts from the driver's does not compile;
 *   export  the symbol libcuda.so.1 exports it under, which dlsym() takes: the same as sym
 *           except for the "_v1" rows, whose exported names carry no suffix;
 *   name    the name cuGetProcAddress() takes (always without a version suffix);
 *   since   the CUDA version, 1000 * major + 10 * minor, from which cuGetProcAddress(name)
 *           returns this entry point (cudaTypedefs.h's PFN_<name>_v<since> typedefs); a query
 *           with an older version gets the row of the same name with the next lower since;
 *   flavor  ANY, or LEGACY / PTSZ for the two default-stream variants of one name: a query with
 *           CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM gets the PTSZ row, any other the
 *           LEGACY row;
 *   role    PASS: libmigshim resolves and may call the driver's, but never interposes;
 *           HOOK: libmigshim defines it and interposes; MEM: the same, for an entry point that
 *           allocates or frees device memory, and a version of its name the shim does not
 *           know is refused rather than handed out (it would let memory past the quota, or
 *           never give a charge back). The fake defines every row.
 *
 * It generates the typed table struct mk_cuda (never untyped pointers), the dlsym names and
 * cuGetProcAddress lookup of src/vendor/cuda-syms.c, libmigshim's hook table, and the fake's
 * export list (a fake without a definition for some row fails to link).
 */
#ifndef MIGKIT_VENDOR_CUDA_SYMS_H
#define MIGKIT_VENDOR_CUDA_SYMS_H

#include <stdbool.h>
#include <stddef.h>

#include <cuda.h>

/* The identifiers below are the legacy-stream names: with per-thread default streams cuda.h
 * renames them (cuMemAllocAsync becomes cuMemAllocAsync_ptsz) and the list would describe
 * the wrong functions. */
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM) || defined(__CUDA_API_VERSION_INTERNAL)
#error "cuda-syms.h must be compiled without CUDA_API_PER_THREAD_DEFAULT_STREAM"
#endif
#if CUDA_VERSION < 12000
#error "libmigshim needs the cuda.h of CUDA 12.0 or later (cuGetProcAddress_v2)"
#endif

/* ---- declarations cuda.h gives only to NVIDIA's own build ----
 *
 * The per-thread-default-stream variants have the legacy variants' signatures. The "_v1" rows
 * are the first versions of entry points that cuda.h now maps to later ones; their exported
 * names carry no suffix, hence the asm labels (a definition of cuMemAlloc_v1 in libmigshim or
 * the fake is exported as "cuMemAlloc"). Their signatures are those of cudaTypedefs.h's
 * PFN_<name>_v2000 / _v9020 / _v11030 typedefs: 32-bit device pointers and sizes. The v1
 * array descriptors are never read here, so they stay incomplete types. */
extern __typeof__(cuMemAllocAsync) cuMemAllocAsync_ptsz;
extern __typeof__(cuMemFreeAsync) cuMemFreeAsync_ptsz;
extern __typeof__(cuMemAllocFromPoolAsync) cuMemAllocFromPoolAsync_ptsz;
extern __typeof__(cuLaunchKernel) cuLaunchKernel_ptsz;
extern __typeof__(cuStreamSynchronize) cuStreamSynchronize_ptsz;
extern __typeof__(cuStreamQuery) cuStreamQuery_ptsz;
extern __typeof__(cuGraphInstantiateWithParams) cuGraphInstantiateWithParams_ptsz;
extern __typeof__(cuGraphUpload) cuGraphUpload_ptsz;
extern __typeof__(cuGraphLaunch) cuGraphLaunch_ptsz;
#if CUDA_VERSION < 13000
/* CUDA 13's context synchronisation by handle: drivers that speak CUDA 13 export it, and the
 * list must compile against the cuda.h of CUDA 12 too. */
CUresult cuCtxSynchronize_v2(CUcontext ctx);
#endif

typedef unsigned int mk_cu_deviceptr_v1; /* CUdeviceptr before CUDA 3.2 */
struct mk_cu_array_descriptor_v1;
struct mk_cu_array3d_descriptor_v1;

CUresult cuGetProcAddress_v1(const char *symbol, void **pfn, int cudaVersion,
                             cuuint64_t flags) __asm__("cuGetProcAddress");
extern __typeof__(cuDeviceGetUuid_v2) cuDeviceGetUuid_v1 __asm__("cuDeviceGetUuid");
CUresult cuDeviceTotalMem_v1(unsigned int *bytes, CUdevice dev) __asm__("cuDeviceTotalMem");
CUresult cuMemGetInfo_v1(unsigned int *free, unsigned int *total) __asm__("cuMemGetInfo");
CUresult cuMemAlloc_v1(mk_cu_deviceptr_v1 *dptr, unsigned int bytesize) __asm__("cuMemAlloc");
CUresult cuMemAllocPitch_v1(mk_cu_deviceptr_v1 *dptr, unsigned int *pPitch,
                            unsigned int WidthInBytes, unsigned int Height,
                            unsigned int ElementSizeBytes) __asm__("cuMemAllocPitch");
/* cuCtxCreate before CUDA 11.4's execution-affinity version: cuda.h of CUDA 13 declares it only
 * for NVIDIA's own build, though every driver still exports it. */
CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuArrayCreate_v1(CUarray *pHandle,
                          const struct mk_cu_array_descriptor_v1 *desc) __asm__("cuArrayCreate");
CUresult
cuArray3DCreate_v1(CUarray *pHandle,
                   const struct mk_cu_array3d_descriptor_v1 *desc) __asm__("cuArray3DCreate");
/* Graph instantiation before CUDA 11.4's flags (PFN_cuGraphInstantiate_v10000 and _v11000):
 * cuda.h now maps cuGraphInstantiate to cuGraphInstantiateWithFlags, and declares these only
 * for NVIDIA's own build, though drivers still export both. */
CUresult cuGraphInstantiate_v1(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize) __asm__("cuGraphInstantiate");
CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize);

/* ---- the list ---- */

/* clang-format off */
#define MK_CUDA_SYMBOLS(X)                                                                         \
    /* errors and initialisation */                                                               \
    X(cuGetErrorString,             "cuGetErrorString",             "cuGetErrorString",     6000, ANY,    PASS) \
    X(cuGetErrorName,               "cuGetErrorName",               "cuGetErrorName",       6000, ANY,    PASS) \
    X(cuInit,                       "cuInit",                       "cuInit",               2000, ANY,    HOOK) \
    X(cuDriverGetVersion,           "cuDriverGetVersion",           "cuDriverGetVersion",   2020, ANY,    PASS) \
    X(cuGetProcAddress_v1,          "cuGetProcAddress",             "cuGetProcAddress",    11030, ANY,    HOOK) \
    X(cuGetProcAddress_v2,          "cuGetProcAddress_v2",          "cuGetProcAddress",    12000, ANY,    HOOK) \
    /* device identity */                                                                         \
    X(cuDeviceGet,                  "cuDeviceGet",                  "cuDeviceGet",          2000, ANY,    PASS) \
    X(cuDeviceGetCount,             "cuDeviceGetCount",             "cuDeviceGetCount",     2000, ANY,    PASS) \
    X(cuDeviceGetName,              "cuDeviceGetName",              "cuDeviceGetName",      2000, ANY,    HOOK) \
    X(cuDeviceGetUuid_v1,           "cuDeviceGetUuid",              "cuDeviceGetUuid",      9020, ANY,    HOOK) \
    X(cuDeviceGetUuid_v2,           "cuDeviceGetUuid_v2",           "cuDeviceGetUuid",     11040, ANY,    HOOK) \
    X(cuDeviceTotalMem_v1,          "cuDeviceTotalMem",             "cuDeviceTotalMem",     2000, ANY,    HOOK) \
    X(cuDeviceTotalMem_v2,          "cuDeviceTotalMem_v2",          "cuDeviceTotalMem",     3020, ANY,    HOOK) \
    X(cuDeviceGetAttribute,         "cuDeviceGetAttribute",         "cuDeviceGetAttribute", 2000, ANY,    PASS) \
    X(cuMemGetInfo_v1,              "cuMemGetInfo",                 "cuMemGetInfo",         2000, ANY,    HOOK) \
    X(cuMemGetInfo_v2,              "cuMemGetInfo_v2",              "cuMemGetInfo",         3020, ANY,    HOOK) \
    /* contexts: destroying one (or resetting or releasing a device's primary one) frees its      \
     * allocations; HOOK, not MEM: a version the shim does not know only delays a charge's return */ \
    X(cuCtxCreate_v2,               "cuCtxCreate_v2",               "cuCtxCreate",          3020, ANY,    PASS) \
    X(cuCtxDestroy_v2,              "cuCtxDestroy_v2",              "cuCtxDestroy",         4000, ANY,    HOOK) \
    X(cuCtxGetCurrent,              "cuCtxGetCurrent",              "cuCtxGetCurrent",      4000, ANY,    PASS) \
    X(cuCtxSetCurrent,              "cuCtxSetCurrent",              "cuCtxSetCurrent",      4000, ANY,    PASS) \
    X(cuCtxGetDevice,               "cuCtxGetDevice",               "cuCtxGetDevice",       2000, ANY,    PASS) \
    X(cuDevicePrimaryCtxRetain,     "cuDevicePrimaryCtxRetain",     "cuDevicePrimaryCtxRetain", 7000, ANY, HOOK) \
    X(cuDevicePrimaryCtxRelease_v2, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease", 11000, ANY, HOOK) \
    X(cuDevicePrimaryCtxReset_v2,   "cuDevicePrimaryCtxReset_v2",   "cuDevicePrimaryCtxReset", 11000, ANY, HOOK) \
    X(cuDevicePrimaryCtxGetState,   "cuDevicePrimaryCtxGetState",   "cuDevicePrimaryCtxGetState", 7000, ANY, PASS) \
    /* linear memory */                                                                           \
    X(cuMemAlloc_v1,                "cuMemAlloc",                   "cuMemAlloc",           2000, ANY,    MEM)  \
    X(cuMemAlloc_v2,                "cuMemAlloc_v2",                "cuMemAlloc",           3020, ANY,    MEM)  \
    X(cuMemAllocPitch_v1,           "cuMemAllocPitch",              "cuMemAllocPitch",      2000, ANY,    MEM)  \
    X(cuMemAllocPitch_v2,           "cuMemAllocPitch_v2",           "cuMemAllocPitch",      3020, ANY,    MEM)  \
    X(cuMemAllocManaged,            "cuMemAllocManaged",            "cuMemAllocManaged",    6000, ANY,    MEM)  \
    X(cuMemFree_v2,                 "cuMemFree_v2",                 "cuMemFree",            3020, ANY,    MEM)  \
    X(cuMemGetAddressRange_v2,      "cuMemGetAddressRange_v2",      "cuMemGetAddressRange", 3020, ANY,    PASS) \
    X(cuMemcpyHtoD_v2,              "cuMemcpyHtoD_v2",              "cuMemcpyHtoD",         3020, ANY,    PASS) \
    X(cuMemcpyDtoH_v2,              "cuMemcpyDtoH_v2",              "cuMemcpyDtoH",         3020, ANY,    PASS) \
    /* arrays */                                                                                  \
    X(cuArrayCreate_v1,             "cuArrayCreate",                "cuArrayCreate",        2000, ANY,    MEM)  \
    X(cuArrayCreate_v2,             "cuArrayCreate_v2",             "cuArrayCreate",        3020, ANY,    MEM)  \
    X(cuArray3DCreate_v1,           "cuArray3DCreate",              "cuArray3DCreate",      2000, ANY,    MEM)  \
    X(cuArray3DCreate_v2,           "cuArray3DCreate_v2",           "cuArray3DCreate",      3020, ANY,    MEM)  \
    X(cuArrayDestroy,               "cuArrayDestroy",               "cuArrayDestroy",       2000, ANY,    MEM)  \
    X(cuMipmappedArrayCreate,       "cuMipmappedArrayCreate",       "cuMipmappedArrayCreate", 5000, ANY,  MEM)  \
    X(cuMipmappedArrayDestroy,      "cuMipmappedArrayDestroy",      "cuMipmappedArrayDestroy", 5000, ANY, MEM)  \
    /* virtual memory management (cuMemCreate and friends) */                                     \
    X(cuMemGetAllocationGranularity, "cuMemGetAllocationGranularity", "cuMemGetAllocationGranularity", 10020, ANY, PASS) \
    X(cuMemAddressReserve,          "cuMemAddressReserve",          "cuMemAddressReserve", 10020, ANY,    PASS) \
    X(cuMemAddressFree,             "cuMemAddressFree",             "cuMemAddressFree",    10020, ANY,    PASS) \
    X(cuMemSetAccess,               "cuMemSetAccess",               "cuMemSetAccess",      10020, ANY,    PASS) \
    X(cuMemCreate,                  "cuMemCreate",                  "cuMemCreate",         10020, ANY,    MEM)  \
    X(cuMemRelease,                 "cuMemRelease",                 "cuMemRelease",        10020, ANY,    MEM)  \
    X(cuMemMap,                     "cuMemMap",                     "cuMemMap",            10020, ANY,    MEM)  \
    X(cuMemUnmap,                   "cuMemUnmap",                   "cuMemUnmap",          10020, ANY,    MEM)  \
    X(cuMemRetainAllocationHandle,  "cuMemRetainAllocationHandle",  "cuMemRetainAllocationHandle", 11000, ANY, MEM)  \
    /* stream-ordered allocation */                                                               \
    X(cuDeviceGetDefaultMemPool,    "cuDeviceGetDefaultMemPool",    "cuDeviceGetDefaultMemPool", 11020, ANY, PASS) \
    X(cuDeviceGetMemPool,           "cuDeviceGetMemPool",           "cuDeviceGetMemPool",  11020, ANY,    PASS) \
    X(cuDeviceSetMemPool,           "cuDeviceSetMemPool",           "cuDeviceSetMemPool",  11020, ANY,    PASS) \
    X(cuPointerGetAttribute,        "cuPointerGetAttribute",        "cuPointerGetAttribute", 4000, ANY,   PASS) \
    X(cuMemPoolCreate,              "cuMemPoolCreate",              "cuMemPoolCreate",     11020, ANY,    PASS) \
    /* a pool's cached memory: SetAttribute may raise the release threshold (MEM: an unknown   \
     * version could let the driver keep memory the shim has given back); the rest only give back */ \
    X(cuMemPoolSetAttribute,        "cuMemPoolSetAttribute",        "cuMemPoolSetAttribute", 11020, ANY,  MEM)  \
    X(cuMemPoolGetAttribute,        "cuMemPoolGetAttribute",        "cuMemPoolGetAttribute", 11020, ANY,  HOOK) \
    X(cuMemPoolTrimTo,              "cuMemPoolTrimTo",              "cuMemPoolTrimTo",     11020, ANY,    HOOK) \
    X(cuMemPoolDestroy,             "cuMemPoolDestroy",             "cuMemPoolDestroy",    11020, ANY,    HOOK) \
    X(cuMemAllocAsync,              "cuMemAllocAsync",              "cuMemAllocAsync",     11020, LEGACY, MEM)  \
    X(cuMemAllocAsync_ptsz,         "cuMemAllocAsync_ptsz",         "cuMemAllocAsync",     11020, PTSZ,   MEM)  \
    X(cuMemFreeAsync,               "cuMemFreeAsync",               "cuMemFreeAsync",      11020, LEGACY, MEM)  \
    X(cuMemFreeAsync_ptsz,          "cuMemFreeAsync_ptsz",          "cuMemFreeAsync",      11020, PTSZ,   MEM)  \
    X(cuMemAllocFromPoolAsync,      "cuMemAllocFromPoolAsync",      "cuMemAllocFromPoolAsync", 11020, LEGACY, MEM)  \
    X(cuMemAllocFromPoolAsync_ptsz, "cuMemAllocFromPoolAsync_ptsz", "cuMemAllocFromPoolAsync", 11020, PTSZ, MEM)  \
    /* synchronisation: a pool releases what its frees put above its release threshold here;  \
     * HOOK, not MEM: a version the shim does not know only delays a charge's return */          \
    X(cuStreamSynchronize,          "cuStreamSynchronize",          "cuStreamSynchronize",  2000, LEGACY, HOOK) \
    X(cuStreamSynchronize_ptsz,     "cuStreamSynchronize_ptsz",     "cuStreamSynchronize",  7000, PTSZ,   HOOK) \
    X(cuStreamQuery,                "cuStreamQuery",                "cuStreamQuery",        2000, LEGACY, HOOK) \
    X(cuStreamQuery_ptsz,           "cuStreamQuery_ptsz",           "cuStreamQuery",        7000, PTSZ,   HOOK) \
    X(cuCtxSynchronize,             "cuCtxSynchronize",             "cuCtxSynchronize",     2000, ANY,    HOOK) \
    X(cuCtxSynchronize_v2,          "cuCtxSynchronize_v2",          "cuCtxSynchronize",    13000, ANY,    HOOK) \
    /* graphs: building and reading them (PASS); an executable graph's memory alloc nodes take  \
     * device memory from the device's graph reservation when it is launched or uploaded, so   \
     * instantiation (where the shim sums them), upload and launch are MEM; destroying an      \
     * executable graph and trimming the reservation only give back (HOOK) */                  \
    X(cuGraphCreate,                "cuGraphCreate",                "cuGraphCreate",       10000, ANY,    PASS) \
    X(cuGraphDestroy,               "cuGraphDestroy",               "cuGraphDestroy",      10000, ANY,    PASS) \
    X(cuGraphAddEmptyNode,          "cuGraphAddEmptyNode",          "cuGraphAddEmptyNode", 10000, ANY,    PASS) \
    X(cuGraphAddChildGraphNode,     "cuGraphAddChildGraphNode",     "cuGraphAddChildGraphNode", 10000, ANY, PASS) \
    X(cuGraphAddMemAllocNode,       "cuGraphAddMemAllocNode",       "cuGraphAddMemAllocNode", 11040, ANY, PASS) \
    X(cuGraphAddMemFreeNode,        "cuGraphAddMemFreeNode",        "cuGraphAddMemFreeNode", 11040, ANY,  PASS) \
    X(cuGraphGetNodes,              "cuGraphGetNodes",              "cuGraphGetNodes",     10000, ANY,    PASS) \
    X(cuGraphNodeGetType,           "cuGraphNodeGetType",           "cuGraphNodeGetType",  10000, ANY,    PASS) \
    X(cuGraphChildGraphNodeGetGraph, "cuGraphChildGraphNodeGetGraph", "cuGraphChildGraphNodeGetGraph", 10000, ANY, PASS) \
    X(cuGraphMemAllocNodeGetParams, "cuGraphMemAllocNodeGetParams", "cuGraphMemAllocNodeGetParams", 11040, ANY, PASS) \
    X(cuDeviceGetGraphMemAttribute, "cuDeviceGetGraphMemAttribute", "cuDeviceGetGraphMemAttribute", 11040, ANY, PASS) \
    X(cuGraphInstantiate_v1,        "cuGraphInstantiate",           "cuGraphInstantiate",  10000, ANY,    MEM)  \
    X(cuGraphInstantiate_v2,        "cuGraphInstantiate_v2",        "cuGraphInstantiate",  11000, ANY,    MEM)  \
    X(cuGraphInstantiateWithFlags,  "cuGraphInstantiateWithFlags",  "cuGraphInstantiateWithFlags", 11040, ANY, MEM) \
    X(cuGraphInstantiateWithParams, "cuGraphInstantiateWithParams", "cuGraphInstantiateWithParams", 12000, LEGACY, MEM) \
    X(cuGraphInstantiateWithParams_ptsz, "cuGraphInstantiateWithParams_ptsz", "cuGraphInstantiateWithParams", 12000, PTSZ, MEM) \
    X(cuGraphUpload,                "cuGraphUpload",                "cuGraphUpload",       11010, LEGACY, MEM)  \
    X(cuGraphUpload_ptsz,           "cuGraphUpload_ptsz",           "cuGraphUpload",       11010, PTSZ,   MEM)  \
    X(cuGraphLaunch,                "cuGraphLaunch",                "cuGraphLaunch",       10000, LEGACY, MEM)  \
    X(cuGraphLaunch_ptsz,           "cuGraphLaunch_ptsz",           "cuGraphLaunch",       10000, PTSZ,   MEM)  \
    X(cuGraphExecDestroy,           "cuGraphExecDestroy",           "cuGraphExecDestroy",  10000, ANY,    HOOK) \
    X(cuDeviceGraphMemTrim,         "cuDeviceGraphMemTrim",         "cuDeviceGraphMemTrim", 11040, ANY,   HOOK) \
    /* kernel launch: interposed so the launch path exists (SM confinement, a later issue) */    \
    X(cuLaunchKernel,               "cuLaunchKernel",               "cuLaunchKernel",       4000, LEGACY, HOOK) \
    X(cuLaunchKernel_ptsz,          "cuLaunchKernel_ptsz",          "cuLaunchKernel",       7000, PTSZ,   HOOK)
/* clang-format on */

/* The typed table of real entry points. A NULL member is one the loaded library lacks: every
 * caller checks (libmigshim returns a CUDA error, never calls NULL). */
struct mk_cuda {
#define MK_CUDA_X_MEMBER(sym, export, name, since, flavor, role) __typeof__(sym) *sym;
    MK_CUDA_SYMBOLS(MK_CUDA_X_MEMBER)
#undef MK_CUDA_X_MEMBER
};

/* The list as data (src/vendor/cuda-syms.c). */
enum mk_cuda_flavor { MK_CUDA_ANY, MK_CUDA_LEGACY, MK_CUDA_PTSZ };
enum mk_cuda_role { MK_CUDA_PASS, MK_CUDA_HOOK, MK_CUDA_MEM };

struct mk_cuda_sym {
    const char *export; /* dlsym name */
    const char *name;   /* cuGetProcAddress name */
    int since;          /* 1000 * major + 10 * minor */
    enum mk_cuda_flavor flavor;
    enum mk_cuda_role role;
    size_t offset; /* of the member in struct mk_cuda */
};

/* The rows of MK_CUDA_SYMBOLS in order; *ret_n is the count. Static storage. */
const struct mk_cuda_sym *mk__cuda_syms(size_t *ret_n);

/* The index of the row exported as `export`, or -1. */
int mk__cuda_sym_by_export(const char *export);

/*
 * cuGetProcAddress's choice, as the driver makes it: among the rows named `name`, those whose
 * flavor fits `flags` (CU_GET_PROC_ADDRESS_*), the one with the largest since <= version.
 * Returns its index, or -1 with *ret_status (may be NULL) set to
 * CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT when the name is known but every row is newer
 * than version, else CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND.
 */
int mk__cuda_sym_lookup(const char *name, int version, cuuint64_t flags,
                        CUdriverProcAddressQueryResult *ret_status);

/* Row i's member of table t, as the untyped address dlsym returns: store fills it, load
 * reads it back (for comparing addresses). POSIX guarantees the conversion between void *
 * and the function type the list declares. */
void mk__cuda_store(struct mk_cuda *t, size_t i, void *addr);
void *mk__cuda_load(const struct mk_cuda *t, size_t i);

/*
 * Parses a device UUID as nvidia-smi prints it ("GPU-" or "MIG-", then 32 hex digits in
 * 8-4-4-4-12 groups; the prefix and the dashes are optional) into the 16 bytes of a CUuuid.
 * Returns 0, or -EINVAL (ret untouched).
 */
int mk__cuda_uuid_parse(const char *s, CUuuid *ret);

#endif /* MIGKIT_VENDOR_CUDA_SYMS_H */
