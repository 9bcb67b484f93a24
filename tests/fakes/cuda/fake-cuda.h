/*
 * fake-cuda.h - the inside of the fake libcuda.so.1 (tests/fakes/cuda, docs/shim.md "Tests").
 *
 * The fake is a CUDA driver without a GPU: built against the toolkit's cuda.h, it defines and
 * exports every entry point of MK_CUDA_SYMBOLS (src/vendor/cuda-syms.h), resolves them through
 * cuGetProcAddress / cuGetProcAddress_v2 by name, version and stream flavor as the driver
 * does, and serves "device memory" from host memory (mmap'ed with MAP_NORESERVE, so an 80 GiB
 * device costs nothing until touched). It keeps the truth the shim's tests compare with: the
 * bytes in use by every allocation family, computed by its own code from sizes, pitches and
 * array descriptors.
 *
 * The device is configured when cuInit runs (see fake-cuda.c: MIGKIT_FAKE_CUDA_* variables,
 * or a key=value file named by MIGKIT_FAKE_CUDA_CONFIG). No context is needed: a thread without
 * one works in an implicit context of device 0 (fake-cuda-ctx.c). One mutex serialises the registry
 * of allocations.
 */
#ifndef MIGKIT_FAKE_CUDA_H
#define MIGKIT_FAKE_CUDA_H

#include <stdbool.h>
#include <stdint.h>

#include "fake-cuda-stats.h"
#include "vendor/cuda-syms.h"

/* Every entry point of the list, exported (the library is built -fvisibility=hidden, with a
 * version script keeping cu* and mk_fake_cuda_* global). */
#define FAKE_X_EXPORT(sym, export, name, since, flavor, role)                                      \
    extern __typeof__(sym) sym __attribute__((visibility("default")));
MK_CUDA_SYMBOLS(FAKE_X_EXPORT)
#undef FAKE_X_EXPORT

/* The most devices a configuration may describe. */
#define FAKE_MAX_DEVICES 8

/* The configured device (all devices are alike but for the UUID's last byte). */
struct fake_device {
    char name[256];
    uint64_t total;         /* bytes */
    int sms;                /* CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT */
    unsigned char uuid[16]; /* device 0's; device i adds i to the last byte */
    int count;              /* devices */
    uint64_t pitch_align;   /* cuMemAllocPitch rounds each row up to this */
    uint64_t granularity;   /* cuMemCreate's size unit (cuMemGetAllocationGranularity) */
};

/* The configuration, valid once fake_ready() returned CUDA_SUCCESS (static storage). */
const struct fake_device *fake_device(void);

/* CUDA_SUCCESS once cuInit succeeded, else CUDA_ERROR_NOT_INITIALIZED. */
CUresult fake_ready(void);
/* CUDA_SUCCESS when dev is a configured device (and cuInit ran). */
CUresult fake_check_device(CUdevice dev);

/* Counters of fake-cuda-mem.c, for mk_fake_cuda_stats. */
void fake_mem_stats(struct mk_fake_cuda_stats *s);
/* Sets up fake-cuda-mem.c (fork handlers); called once, by the first cuInit. */
void fake_mem_init(void);
/* The context current on this thread (fake-cuda-ctx.c), or NULL: the implicit context. */
void *fake_current_ctx(void);
/* Frees every allocation made in context ctx (linear, managed, pitched, arrays), as the
 * driver does when a context ends. */
void fake_mem_free_context(const void *ctx);
/* Pools (fake-cuda-pool.c). Take: an allocation of bytes from p, served first from its cache
 * and pending bytes; returns the bytes of those it used. Give: bytes of p's allocations
 * freed, `back` of them offered to its cache (async: a stream-ordered free, whose excess
 * stays pending until a synchronisation); returns how many it kept. Both with the registry's
 * lock held. */
struct fake_pool;
uint64_t fake_pool_take(struct fake_pool *p, uint64_t bytes);
uint64_t fake_pool_give(struct fake_pool *p, uint64_t bytes, uint64_t back, bool async);
/* The registry (fake-cuda-mem.c): a pooled allocation, a free, cached bytes released
 * (returns bytes; lock held), and the lock itself. */
CUresult fake_mem_alloc_pooled(CUdeviceptr *dptr, size_t bytesize, struct fake_pool *pool);
CUresult fake_mem_free(CUdeviceptr dptr, bool async);
uint64_t fake_mem_uncache(uint64_t bytes);
void fake_mem_lock(void);
void fake_mem_unlock(void);
/* Graph memory (fake-cuda-graph.c): device memory reserved (grow) or released (shrink) for
 * graphs; false, nothing changed, when grow does not fit the device. With the lock held. */
bool fake_mem_graph(uint64_t grow, uint64_t shrink);
/* Graph launches, for mk_fake_cuda_stats. */
uint64_t fake_graph_launches(void);
/* Counts one call of a v1 entry point (they all fail with CUDA_ERROR_NOT_SUPPORTED). */
void fake_count_v1(void);

#endif /* MIGKIT_FAKE_CUDA_H */
