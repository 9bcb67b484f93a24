/*
 * shim.h - the inside of libmigshim.so, the CUDA driver interposer (docs/shim.md).
 *
 * Modules and what they own:
 *   load.c      the real libcuda.so.1: opened once, every entry point of MK_CUDA_SYMBOLS
 *               resolved into the typed table, and the map from a real entry point to the hook
 *               that stands for it (used by the cuGetProcAddress and dlsym interposition);
 *   dlsym.c     the dlsym override: the real dlsym, the recursion guard;
 *   state.c     the quota source and the instance's limits and identity, set up once;
 *               the driver's page and the charging rule; fork handlers;
 *   account.c   the process's memory accounting: the local reserve refilled by grants, the
 *               table of live allocations, exact charge and credit;
 *   quota-*.c   the quota sources (quota.h);
 *   hooks-*.c   the interposed entry points.
 *
 * Hot-path contract: after the first call, a hook reaches the real driver through the table
 * without allocation, getenv, logging, system calls or locks (cuLaunchKernel), or with one
 * uncontended mutex round trip per accounting step (allocations, frees). Everything that may
 * allocate, read the environment or print happens once, at set-up.
 */
#ifndef MIGKIT_SHIM_H
#define MIGKIT_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#include "vendor/cuda-syms.h"

/* Exported hooks carry this; everything else in the library is hidden. */
#define MK_SHIM_EXPORT __attribute__((visibility("default")))

/* The soname opened, as cudart and every CUDA program do; never linked. */
#define MK_SHIM_CUDA_SONAME "libcuda.so.1"

/* What a hook returns when the driver lacks the real entry point it needs: the CUDA code for
 * "a named symbol was not found" (cuda.h cites driver function names). Never a NULL call. */
#define MK_SHIM_MISSING CUDA_ERROR_NOT_FOUND

/* ---- load.c ---- */

/*
 * The typed table of the real driver's entry points, loaded on first use (pthread_once).
 * Never NULL; a member is NULL when the driver lacks it, or when libcuda.so.1 could not be
 * loaded at all (the reason is in mk__shim_load_error()). While the table is being loaded
 * (a library constructor calling back into a hook), this thread gets an all-NULL table
 * instead of a deadlock. Fast path: one acquire load.
 */
const struct mk_cuda *mk__shim_cuda(void);

/* Why libcuda.so.1 could not be loaded (dlerror's text, copied), or NULL. */
const char *mk__shim_load_error(void);

/* True on the thread that is loading the real library (the recursion guard). */
bool mk__shim_loading(void);

/*
 * The hook that stands for a real entry point: addr is what dlsym or cuGetProcAddress
 * returned from the driver. NULL when addr is not the real version of a hooked row. Loads the
 * table if needed (not from the loading thread: then NULL).
 */
void *mk__shim_hook_for(void *addr);

/* Whether name is the exported name (dlsym) of a hooked row. No loading, no locks. */
bool mk__shim_hooked_export(const char *name);
/* Whether name is the cuGetProcAddress name of a MEM row (one that allocates or frees). */
bool mk__shim_guarded_name(const char *name);

/* ---- dlsym.c ---- */

/* The real dlsym (glibc's, found with dlvsym), or NULL if it cannot be found. */
void *mk__shim_real_dlsym(void *handle, const char *name);

/* ---- state.c ---- */

/* The instance as the shim presents it. Set once by mk__shim_state(), then read-only. */
struct mk_shim_identity {
    char name[128];   /* full device name ("NVIDIA L4 MIG 1g.6gb"), or "" */
    char profile[32]; /* standalone: "<real product> MIG <profile>" is composed per call */
    bool has_uuid;
    CUuuid uuid;    /* the instance's UUID, when has_uuid */
    uint64_t quota; /* instance memory, bytes */
    uint32_t sms;   /* the instance's SMs (reported; confinement is a later issue) */
};

/*
 * Sets the shim up once (pthread_once): the quota source from the environment, its limits,
 * the accounting tables, the fork handlers. Returns 0, or a negative errno when the shim has
 * no quota (every allocation is then refused, and cuInit fails with CUDA_ERROR_NOT_PERMITTED;
 * the reason was printed once on stderr). Fast path: one acquire load.
 */
int mk__shim_state(void);

/* The identity, valid once mk__shim_state() returned 0. */
const struct mk_shim_identity *mk__shim_identity(void);

/*
 * The charging rule (docs/shim.md, "Charging"), valid once mk__shim_state() ran: what the
 * driver takes for an allocation, in its page (its allocation granularity, asked once at
 * set-up; 2 MiB when it cannot be asked). mk__shim_paged_charge: bytes rounded up to whole
 * pages (arrays, mipmapped arrays, and linear memory above half a page). mk__shim_linear_charge:
 * linear memory (cuMemAlloc, cuMemAllocPitch's pitch x height, cuMemAllocManaged): up to half
 * a page as asked (the driver packs such allocations into shared pages), above it whole pages.
 * Both saturate at UINT64_MAX. A variable read and some arithmetic: no lock, no driver call.
 */
uint64_t mk__shim_paged_charge(uint64_t bytes);
uint64_t mk__shim_linear_charge(uint64_t bytes);

/* ---- account.c ---- */

/* What a table entry records. */
enum mk_shim_kind {
    MK_SHIM_LINEAR = 1, /* cuMemAlloc, pitch, managed, async: key = device pointer */
    MK_SHIM_ARRAY,      /* key = CUarray */
    MK_SHIM_MIPMAP,     /* key = CUmipmappedArray */
    MK_SHIM_HANDLE,     /* cuMemCreate: key = handle; holds references and mappings */
    MK_SHIM_MAPPING,    /* cuMemMap: key = start; size = length; the handle it maps */
    MK_SHIM_POOLED,     /* cuMemAlloc*Async: key = device pointer; the pool it came from */
    MK_SHIM_POOL,       /* a memory pool: key = pool; size = its cached charge; its threshold */
    MK_SHIM_GRAPH,      /* an executable graph with memory alloc nodes: key = CUgraphExec;
                         * size = its alloc nodes' bytes (not a charge); aux = their devices */
};

/* One allocation's entry, as taken out of the table before its free. */
struct mk_shim_entry {
    enum mk_shim_kind kind;
    uint64_t key;
    uint64_t bytes; /* charged */
    uint64_t aux;   /* the context (LINEAR, ARRAY, MIPMAP) or the pool (POOLED) */
};

/*
 * Charges bytes against the quota before an allocation: served from the local reserve, or
 * after a grant from the quota source (which may block for one round trip to migd). With
 * slot, also reserves the table entry the allocation will take. Returns 0, -ENOSPC (over
 * quota: the caller answers CUDA_ERROR_OUT_OF_MEMORY), -EMFILE (the table of allocations is
 * full) or another negative errno (no quota source). Thread-safe.
 */
int mk__shim_charge(uint64_t bytes, bool slot);
/* Undoes a charge whose allocation failed. */
void mk__shim_uncharge(uint64_t bytes, bool slot);
/* Records the allocation a charge with slot paid for; aux is the context current at
 * allocation (LINEAR, ARRAY, MIPMAP; 0 when none is known) or the pool (POOLED). */
void mk__shim_commit(enum mk_shim_kind kind, uint64_t key, uint64_t bytes, uint64_t aux);
/* Removes the entry (kind, key) before its free is attempted, into *ret (a LINEAR key is also
 * looked up as POOLED: a device pointer may be freed by either free). False when the shim
 * never saw it (memory it does not count). */
bool mk__shim_forget(enum mk_shim_kind kind, uint64_t key, struct mk_shim_entry *ret);
/* Puts back an entry whose free failed. */
void mk__shim_restore(const struct mk_shim_entry *e);
/* Returns bytes to the reserve after a successful free (gives surplus back to the source). */
void mk__shim_credit(uint64_t bytes);

/* VMM: a handle created (one reference), retained, released; a mapping made, and a range
 * unmapped. Release and unmap call the real entry point under the accounting lock, so a
 * handle or address the driver reuses at once is never confused with the old one; they
 * return the driver's result. */
void mk__shim_vmm_created(CUmemGenericAllocationHandle h, uint64_t bytes);
void mk__shim_vmm_retained(CUmemGenericAllocationHandle h);
CUresult mk__shim_vmm_release(CUmemGenericAllocationHandle h, __typeof__(cuMemRelease) *real);
int mk__shim_vmm_mapped(CUdeviceptr ptr, uint64_t size, CUmemGenericAllocationHandle h);
CUresult mk__shim_vmm_unmap(CUdeviceptr ptr, uint64_t size, __typeof__(cuMemUnmap) *real);

/*
 * Memory pools (docs/shim.md, "Memory pools"). A pool's cached charge is what it may keep
 * after frees, up to its release threshold (0 unless set; the entry is made then).
 *
 * mk__shim_pool_charge: like mk__shim_charge (with a slot) for a stream-ordered allocation
 * from pool (0: not known beforehand), using the pool's cached charge first; *ret_reused is
 * how much of it was used. mk__shim_pool_uncharge undoes it when the driver refused.
 * mk__shim_pool_reused: an allocation of bytes charged in full turned out to come from pool:
 * what its cache held of it is returned. mk__shim_freed: a freed entry's charge back, into
 * its pool's cache (POOLED, up to the threshold) or to the reserve; a POOLED entry freed on
 * stream s (not NULL: cuMemFreeAsync, in context ctx) keeps what the cache cannot take
 * charged until a synchronisation covers s (mk__shim_synced), as the driver keeps it.
 * mk__shim_sync_pending: false when nothing awaits a synchronisation (one atomic load, the
 * synchronisation hooks' fast path), else true and the sequence number to hand to
 * mk__shim_synced after the driver's synchronisation succeeded: what was freed on s (NULL:
 * on any stream of context ctx) before the sequence number was read is returned.
 * mk__shim_pool_threshold: runs op(arg) (NULL: none, the driver already told) under the
 * accounting lock and records value as pool's threshold, returning the cache above it;
 * CUDA_ERROR_OUT_OF_MEMORY without running op when the table has no room for the pool.
 * mk__shim_pool_trim / _destroy: the driver's cuMemPoolTrimTo / cuMemPoolDestroy under the
 * lock; then the cache above keep / all of it is returned. All thread-safe.
 */
typedef CUresult mk_shim_pool_op(void *arg);
/* A stream as the pool accounting keys it (mk__shim_stream). */
struct mk_shim_stream {
    uint64_t stream; /* the handle; NULL made explicit: CU_STREAM_LEGACY or _PER_THREAD */
    uint64_t thread; /* the per-thread stream's thread (each has its own), else 0 */
};
int mk__shim_pool_charge(uint64_t pool, uint64_t bytes, uint64_t *ret_reused);
void mk__shim_pool_uncharge(uint64_t pool, uint64_t bytes, uint64_t reused);
void mk__shim_pool_reused(uint64_t pool, uint64_t bytes);
void mk__shim_freed(const struct mk_shim_entry *e, const struct mk_shim_stream *s, uint64_t ctx);
CUresult mk__shim_pool_threshold(uint64_t pool, uint64_t value, mk_shim_pool_op *op, void *arg);
CUresult mk__shim_pool_trim(uint64_t pool, uint64_t keep, __typeof__(cuMemPoolTrimTo) *real);
CUresult mk__shim_pool_destroy(uint64_t pool, __typeof__(cuMemPoolDestroy) *real);
bool mk__shim_sync_pending(uint64_t *ret_seq);
void mk__shim_synced(const struct mk_shim_stream *s, uint64_t ctx, uint64_t seq);
/* hooks-pool.c: the key of stream h as given to an entry point of flavor ptsz (in which NULL
 * is the per-thread stream). No lock, no system call. */
struct mk_shim_stream mk__shim_stream(CUstream h, bool ptsz);

/*
 * Context destruction: runs op(arg, &gone) (the driver's cuCtxDestroy, primary-context reset
 * or release) under the accounting lock and, when it succeeded and set gone (the context no
 * longer exists), returns the charge of every allocation made in context ctx. The lock held
 * across the driver's call means no allocation made in a new context that reuses the handle
 * can be committed before the sweep. Returns op's result.
 */
typedef CUresult mk_shim_ctx_op(void *arg, bool *ret_gone);
CUresult mk__shim_context_end(uint64_t ctx, mk_shim_ctx_op *op, void *arg);

/*
 * Graph memory (docs/shim.md, "Graph memory"). The driver keeps one reservation per device for
 * the memory alloc nodes of every executable graph, made when a graph is launched or uploaded,
 * reused by later launches, given back only by cuDeviceGraphMemTrim. The shim charges each
 * device's reservation as the driver reports it (CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT), and
 * remembers which executable graphs have alloc nodes.
 *
 * mk__shim_graph_record: exec (just instantiated) has alloc nodes of bytes on the devices of
 * mask (bit d: device d, below MK_SHIM_GRAPH_DEVICES); bytes 0 records nothing. Any older
 * entry under the same handle goes (the driver handed the handle out again). 0, -EMFILE (no
 * room in the table) or -ENODEV (no accounting). mk__shim_graph_maybe: false when exec
 * certainly has no entry: one atomic load, no lock (the launch path). mk__shim_graph_find /
 * _forget: exec's entry read, or taken out (before its destruction; mk__shim_graph_record puts
 * it back when that fails). mk__shim_graph_settle: runs op(arg) (NULL: none) under the
 * accounting lock; then, when it succeeded, returns tentative (a launch's charge, taken with
 * mk__shim_charge) and sets the charge of every device of mask that has one, or has a
 * tentative charge, to what reserved(dev) reports (growth beyond what the source grants is
 * charged up to the grant; a device the driver cannot report on keeps the tentative charge).
 * Returns op's result. All thread-safe.
 */
#define MK_SHIM_GRAPH_DEVICES 64 /* as hooks-ctx.c's primary contexts: a mask is 64 bits */
typedef CUresult mk_shim_graph_reserved(int dev, uint64_t *ret);
int mk__shim_graph_record(uint64_t exec, uint64_t bytes, uint64_t mask);
bool mk__shim_graph_maybe(uint64_t exec);
bool mk__shim_graph_find(uint64_t exec, uint64_t *ret_bytes, uint64_t *ret_mask);
bool mk__shim_graph_forget(uint64_t exec, uint64_t *ret_bytes, uint64_t *ret_mask);
CUresult mk__shim_graph_settle(uint64_t mask, uint64_t tentative, mk_shim_pool_op *op, void *arg,
                               mk_shim_graph_reserved *reserved);
/* hooks-graph.c: after a context ended, every device's graph charge is settled again (the
 * driver may have released its reservation with the context). */
void mk__shim_graph_context_ended(void);

/* The instance's memory as cuMemGetInfo reports it: total = quota; free = what the instance
 * has left (asking the quota source about other processes where it can). */
void mk__shim_meminfo(uint64_t *ret_free, uint64_t *ret_total);

/* Sets up the accounting (state.c, once): the quota source, the reserve chunk, the table for
 * max_allocs live allocations. Returns 0 or -ENOMEM. */
struct quota_source;
int mk__shim_account_init(struct quota_source *src, uint64_t quota, uint64_t chunk,
                          uint64_t max_allocs);
/* Fork handlers (state.c registers them): the child holds nothing. */
void mk__shim_account_prepare(void);
void mk__shim_account_parent(void);
void mk__shim_account_child(void);

/* Test and diagnostic view: bytes charged and bytes held from the source. */
void mk__shim_account_stats(uint64_t *ret_used, uint64_t *ret_held);

/* ---- hooks-ctx.c ---- */

/* The context current on this thread, as a table key (0 when there is none, or the driver
 * cannot tell): what a new allocation belongs to. One driver call, no lock. */
uint64_t mk__shim_context(void);

/* ---- hooks-mem.c ---- */

/* Bytes the descriptor a describes for an array of `levels` mip levels (1: a plain array),
 * charged in whole pages (mk__shim_paged_charge):
 * element size x width x height x depth summed over levels, block-compressed and YUV formats
 * by their bits per pixel. 0 for sparse and deferred-mapping arrays (their memory comes from
 * cuMemCreate, charged there). Returns 0 and *ret, -ENOTSUP for a format the shim does not
 * know, -EOVERFLOW for sizes that do not fit 64 bits. */
int mk__shim_array_bytes(const CUDA_ARRAY3D_DESCRIPTOR *a, unsigned int levels, uint64_t *ret);

#endif /* MIGKIT_SHIM_H */
