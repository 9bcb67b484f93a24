/*
 * test-threads.c - quota exactness under threads: 8 threads race allocations and frees of
 * every family against a 256 MiB quota.
 *
 *   fill:  every thread allocates 1 MiB blocks until the shim says out of memory; together
 *          they must get exactly 256 blocks, and the fake driver must hold exactly 256 MiB.
 *   storm: every thread runs 20,000 random operations over 64 slots of its own: a free when
 *          the slot is full, else an allocation of a random family and size (linear, managed,
 *          async and pool in both stream flavors, pitched, 2D arrays, cuMemCreate handles).
 *          Allocations beyond the quota must fail and nothing else. A watcher samples the
 *          fake's bytes in use all along: never above the quota. At the end, what the threads
 *          think they hold = the shim's charge = the fake's bytes in use; after freeing all,
 *          0 = 0 = 0.
 *
 * The fake pads pitched rows to 256 bytes here (MIGKIT_FAKE_CUDA_PITCH_ALIGN, set by ctest),
 * less than the shim's 512-byte estimate, so pitched allocations take the settle-down path.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define ST_QUOTA (256 * ST_MIB)
#include "shim-test.h"

#define THREADS 8
#define SLOTS   64
#define OPS     20000
/* Sizes 1 B .. 4 MiB, 2 MiB on average: with about half of the 8 x 64 slots live, the threads
 * ask for about twice the quota, so every run meets it (at 2 MiB the demand was the quota
 * itself, and a run could stay just below it). */
#define MAX_SIZE (4 * ST_MIB)
#define ROW      256u         /* the fake's pitch alignment in this test */
#define GRAN     (2 * ST_MIB) /* the fake's VMM granularity, and its page */

/* What the driver takes (docs/shim.md, "Charging"): arrays, and linear memory above half a
 * page, in whole pages; smaller linear memory as asked; stream-ordered memory as asked. */
static uint64_t pages(uint64_t n)
{
    return (n + GRAN - 1) / GRAN * GRAN;
}

static uint64_t linear(uint64_t n)
{
    return n <= GRAN / 2 ? n : pages(n);
}

static atomic_int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            atomic_fetch_add(&failures, 1);                                                        \
        }                                                                                          \
    } while (0)

enum family { LINEAR, MANAGED, ASYNC, ASYNC_PTSZ, POOL, POOL_PTSZ, PITCH, ARRAY, HANDLE, NFAM };

struct slot {
    bool live;
    enum family fam;
    uint64_t key; /* pointer, array or handle */
    uint64_t bytes;
};

struct worker {
    pthread_t tid;
    unsigned seed;
    struct slot slots[SLOTS];
    uint64_t held;
    unsigned long ooms, allocs;
    CUdeviceptr blocks[256];
    int nblocks;
};

static CUmemoryPool pool;
static atomic_bool storming;

/* ---- fill ---- */

static void *fill(void *arg)
{
    struct worker *w = arg;
    CUdeviceptr p;
    CUresult r;
    while ((r = cuMemAlloc_v2(&p, ST_MIB)) == CUDA_SUCCESS)
        w->blocks[w->nblocks++] = p;
    CHECK(r == CUDA_ERROR_OUT_OF_MEMORY, "fill ended with %d", r);
    return NULL;
}

static void run_fill(struct worker *ws)
{
    int total = 0;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&ws[i].tid, NULL, fill, &ws[i]);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ws[i].tid, NULL);
        total += ws[i].nblocks;
    }
    CHECK(total == 256, "%d blocks of 1 MiB under a 256 MiB quota", total);
    CHECK(st_charged() == ST_QUOTA, "shim charged %llu", (unsigned long long)st_charged());
    CHECK(st_fake().used == ST_QUOTA, "driver holds %llu", (unsigned long long)st_fake().used);
    for (int i = 0; i < THREADS; i++)
        for (int b = 0; b < ws[i].nblocks; b++)
            CHECK(cuMemFree_v2(ws[i].blocks[b]) == CUDA_SUCCESS, "free");
    CHECK(st_charged() == 0 && st_fake().used == 0, "not empty after fill");
    printf("fill: %d x 1 MiB blocks by %d threads, exactly the quota\n", total, THREADS);
}

/* ---- storm ---- */

/* Allocates a random family into s; returns the CUDA result. */
static CUresult alloc_one(struct worker *w, struct slot *s)
{
    static const CUmemAllocationProp prop = {
        .type = CU_MEM_ALLOCATION_TYPE_PINNED,
        .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    uint64_t size = 1 + (uint64_t)rand_r(&w->seed) % MAX_SIZE;
    CUdeviceptr p = 0;
    CUresult r;
    s->fam = (enum family)(rand_r(&w->seed) % NFAM);
    s->bytes = size;
    switch (s->fam) {
    case LINEAR:
        r = cuMemAlloc_v2(&p, size);
        s->bytes = linear(size);
        break;
    case MANAGED:
        r = cuMemAllocManaged(&p, size, CU_MEM_ATTACH_GLOBAL);
        s->bytes = linear(size);
        break;
    case ASYNC:
        r = cuMemAllocAsync(&p, size, NULL);
        break;
    case ASYNC_PTSZ:
        r = cuMemAllocAsync_ptsz(&p, size, NULL);
        break;
    case POOL:
        r = cuMemAllocFromPoolAsync(&p, size, pool, NULL);
        break;
    case POOL_PTSZ:
        r = cuMemAllocFromPoolAsync_ptsz(&p, size, pool, NULL);
        break;
    case PITCH: {
        size_t pitch, width = 1 + size % 4096, height = 1 + size % 64;
        r = cuMemAllocPitch_v2(&p, &pitch, width, height, 4);
        s->bytes = (width + ROW - 1) / ROW * ROW * height;
        CHECK(r != CUDA_SUCCESS || pitch * height == s->bytes, "pitch %zu", pitch);
        s->bytes = linear(s->bytes); /* at most 4096 x 64: always as asked */
        break;
    }
    case ARRAY: {
        CUDA_ARRAY_DESCRIPTOR d = {.Width = 1 + size % 512,
                                   .Height = 1 + size % 256,
                                   .Format = CU_AD_FORMAT_FLOAT,
                                   .NumChannels = 1};
        CUarray a = NULL;
        r = cuArrayCreate_v2(&a, &d);
        s->bytes = pages(d.Width * d.Height * 4);
        p = (CUdeviceptr)(uintptr_t)a;
        break;
    }
    default: { /* HANDLE */
        CUmemGenericAllocationHandle h = 0;
        r = cuMemCreate(&h, GRAN, &prop, 0);
        s->bytes = GRAN;
        p = h;
        break;
    }
    }
    s->key = p;
    return r;
}

static CUresult free_one(struct slot *s)
{
    switch (s->fam) {
    case ASYNC:
        return cuMemFreeAsync(s->key, NULL);
    case ASYNC_PTSZ:
        return cuMemFreeAsync_ptsz(s->key, NULL);
    case POOL_PTSZ:
        return cuMemFreeAsync(s->key, NULL);
    case ARRAY:
        return cuArrayDestroy((CUarray)(uintptr_t)s->key);
    case HANDLE:
        return cuMemRelease(s->key);
    default:
        return cuMemFree_v2(s->key);
    }
}

static void *storm(void *arg)
{
    struct worker *w = arg;
    for (int op = 0; op < OPS; op++) {
        struct slot *s = &w->slots[rand_r(&w->seed) % SLOTS];
        CUresult r;
        if (s->live) {
            r = free_one(s);
            CHECK(r == CUDA_SUCCESS, "free of family %d: %d", s->fam, r);
            s->live = false;
            w->held -= s->bytes;
            continue;
        }
        r = alloc_one(w, s);
        if (r == CUDA_SUCCESS) {
            s->live = true;
            w->held += s->bytes;
            w->allocs++;
        } else {
            CHECK(r == CUDA_ERROR_OUT_OF_MEMORY, "allocation of family %d: %d", s->fam, r);
            w->ooms++;
        }
    }
    return NULL;
}

/* Samples the driver's bytes in use while the storm runs: never above the quota. */
static void *watch(void *arg)
{
    uint64_t most = 0;
    (void)arg;
    while (atomic_load(&storming)) {
        uint64_t used = st_fake().used;
        most = used > most ? used : most;
    }
    CHECK(most <= ST_QUOTA, "the driver held %llu bytes", (unsigned long long)most);
    printf("storm: the driver held at most %llu of %llu bytes\n", (unsigned long long)most,
           (unsigned long long)ST_QUOTA);
    return NULL;
}

static void run_storm(struct worker *ws)
{
    pthread_t watcher;
    uint64_t held = 0;
    unsigned long allocs = 0, ooms = 0;
    atomic_store(&storming, true);
    pthread_create(&watcher, NULL, watch, NULL);
    for (int i = 0; i < THREADS; i++) {
        ws[i].seed = 1234u + (unsigned)i;
        pthread_create(&ws[i].tid, NULL, storm, &ws[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ws[i].tid, NULL);
        held += ws[i].held;
        allocs += ws[i].allocs;
        ooms += ws[i].ooms;
    }
    atomic_store(&storming, false);
    pthread_join(watcher, NULL);
    /* Stream-ordered frees are held by their pools until a synchronisation. */
    CHECK(cuCtxSynchronize() == CUDA_SUCCESS, "cuCtxSynchronize");
    CHECK(st_charged() == held, "shim %llu, threads %llu", (unsigned long long)st_charged(),
          (unsigned long long)held);
    CHECK(st_fake().used == held, "driver %llu, threads %llu", (unsigned long long)st_fake().used,
          (unsigned long long)held);
    printf("storm: %lu allocations, %lu refused over quota, %llu bytes live at the end\n", allocs,
           ooms, (unsigned long long)held);
    CHECK(ooms > 0, "the storm never reached the quota");
    for (int i = 0; i < THREADS; i++)
        for (int s = 0; s < SLOTS; s++)
            if (ws[i].slots[s].live)
                CHECK(free_one(&ws[i].slots[s]) == CUDA_SUCCESS, "final free");
    CHECK(cuCtxSynchronize() == CUDA_SUCCESS, "cuCtxSynchronize");
    CHECK(st_charged() == 0 && st_fake().used == 0, "not empty after the storm: %llu, %llu",
          (unsigned long long)st_charged(), (unsigned long long)st_fake().used);
}

int main(void)
{
    static struct worker ws[THREADS];
    if (st_init("quota=256MiB\n") < 0)
        return 1;
    if (cuDeviceGetDefaultMemPool(&pool, 0) != CUDA_SUCCESS) {
        fprintf(stderr, "cuDeviceGetDefaultMemPool failed\n");
        return 1;
    }
    run_fill(ws);
    run_storm(ws);
    return atomic_load(&failures) ? 1 : 0;
}
