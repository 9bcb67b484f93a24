/*
 * fake-cuda-stats.h - what the fake libcuda.so.1 tells tests about itself, beside the CUDA
 * API: the exported function mk_fake_cuda_stats, found with dlsym(RTLD_DEFAULT, ...). Tests
 * compare libmigshim's accounting with these numbers, the driver's truth.
 */
#ifndef MIGKIT_FAKE_CUDA_STATS_H
#define MIGKIT_FAKE_CUDA_STATS_H

#include <stdint.h>

struct mk_fake_cuda_stats {
    uint64_t total;    /* device memory, bytes */
    uint64_t used;     /* bytes held by live allocations of every family */
    uint64_t live;     /* live allocations: pointers, arrays and cuMemCreate handles */
    uint64_t allocs;   /* successful allocations since load */
    uint64_t frees;    /* successful frees since load (a VMM handle counts when its memory goes) */
    uint64_t launches; /* successful cuLaunchKernel / _ptsz calls */
    uint64_t v1_calls; /* calls of the pre-3.2 allocation entry points (always refused) */
    uint64_t cached;   /* bytes memory pools keep cached after frees (included in used) */
    uint64_t graph;    /* bytes reserved for graphs' alloc nodes, all devices (included in used) */
    uint64_t graph_launches; /* successful cuGraphLaunch / _ptsz calls */
};

/* Fills *s; returns 0. */
typedef int mk_fake_cuda_stats_fn(struct mk_fake_cuda_stats *s);
#define MK_FAKE_CUDA_STATS_SYMBOL "mk_fake_cuda_stats"

#endif /* MIGKIT_FAKE_CUDA_STATS_H */
