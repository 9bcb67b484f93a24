/*
 * shim-bench.c - what libmigshim adds to a kernel launch and to an allocation, measured against
 * the fake libcuda.so.1 of tests/fakes/cuda (bench/README.md, "libmigshim").
 *
 *     shim-bench -m none|standalone|lease [-n ITERATIONS] [-p launch|alloc|miss|all]
 *
 * The program reaches the driver as cudart does: dlopen("libcuda.so.1"), dlsym for
 * cuGetProcAddress_v2, cuGetProcAddress for the rest. Run it with the fake first on
 * LD_LIBRARY_PATH, and with LD_PRELOAD=libmigshim.so for the modes that use the shim:
 *
 *   none        no shim (the baseline; LD_PRELOAD must not name it);
 *   standalone  the shim with a standalone quota file the bench writes (1 TiB);
 *   lease       the shim with migd's real lease server (src/daemon/lease.c) on a thread of
 *               this process, behind a registry of one 1 TiB instance with 64 MiB chunks.
 *
 * Phases, each a loop in a function of its own (so `valgrind --tool=callgrind
 * --toggle-collect=loop_launch` counts exactly one phase's instructions):
 *   launch  cuLaunchKernel;
 *   alloc   cuMemAlloc_v2(256 bytes) + cuMemFree_v2: with the shim, a reserve hit each time;
 *   miss    (lease only) cuMemAlloc_v2(3 chunks) + cuMemFree_v2: the allocation misses the
 *           reserve (one GRANT round trip) and the free gives two chunks back (one RELEASE).
 * Each prints nanoseconds per iteration (CLOCK_MONOTONIC around the loop). Every mode runs with
 * a second, idle thread (the lease mode has the server's): glibc's mutexes and malloc take
 * cheaper paths in a single-threaded process, which would flatter the modes without a server,
 * and a CUDA program is never single-threaded anyway. The fake's
 * cuMemAlloc maps and unmaps memory, so the alloc phase's wall time is mostly system calls
 * the shim does not add; the instruction counts isolate the shim's cost (bench/shim-bench.sh).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h>

#include "daemon/lease.h"
#include "migkit/lease.h"

#define ITERATIONS_DEFAULT 1000000
#define SMALL              256                  /* bytes: a reserve hit */
#define CHUNK              (UINT64_C(64) << 20) /* the bench instance's grant size */
#define QUOTA              (UINT64_C(1) << 40)  /* 1 TiB: never the limit */
#define CUDA_NOW           13000                /* what a CUDA 13.0 runtime asks for */

static struct {
    __typeof__(cuInit) *init;
    __typeof__(cuLaunchKernel) *launch;
    __typeof__(cuMemAlloc_v2) *alloc;
    __typeof__(cuMemFree_v2) *free;
} cu;

/* ---- the bench's lease registry: any process, one instance ---- */

static int b_hello(void *ctx, pid_t pid, uid_t uid, uint64_t held, struct lease_limits *out)
{
    (void)ctx, (void)pid, (void)uid, (void)held;
    snprintf(out->instance, sizeof(out->instance), "MIG-00000000-0000-0000-0000-000000000001");
    snprintf(out->name, sizeof(out->name), "bench MIG custom");
    out->quota_bytes = QUOTA;
    out->sms = 1;
    out->chunk_bytes = CHUNK;
    return 0;
}

static int b_grant(void *ctx, const char *instance, pid_t pid, uint64_t n, uint64_t *ret_free)
{
    (void)ctx, (void)instance, (void)pid, (void)n, (void)ret_free;
    return 0;
}

static void b_release(void *ctx, const char *instance, pid_t pid, uint64_t n)
{
    (void)ctx, (void)instance, (void)pid, (void)n;
}

/* Nothing is ever counted: the instance is always empty. */
static int b_info(void *ctx, const char *instance, uint64_t *ret_quota, uint64_t *ret_granted)
{
    (void)ctx, (void)instance;
    *ret_quota = QUOTA;
    *ret_granted = 0;
    return 0;
}

static const struct lease_ops bench_ops = {b_hello, b_grant, b_release, b_info, NULL};

/* ---- set-up ---- */

static char dir[] = "/tmp/mk-shim-bench-XXXXXX";
static char path[128];

static int set_up_standalone(void)
{
    FILE *f;
    snprintf(path, sizeof(path), "%s/quota.conf", dir);
    if (!(f = fopen(path, "w")) || fputs("quota=1TiB\n", f) < 0 || fclose(f) != 0)
        return -errno;
    chmod(path, 0644);
    setenv("MIGKIT_SHIM_MODE", "standalone", 1);
    setenv("MIGKIT_SHIM_STANDALONE_FILE", path, 1);
    setenv("MIGKIT_SHIM_STANDALONE_INSECURE", "1", 1);
    return 0;
}

static int set_up_lease(struct lease_server **srv)
{
    struct mk_error err = {0};
    snprintf(path, sizeof(path), "%s/%s", dir, MK_LEASE_SOCKET_NAME);
    if (lease_server_start(path, &bench_ops, NULL, NULL, srv, &err) < 0) {
        fprintf(stderr, "shim-bench: %s\n", mk_strerror(&err));
        return -1;
    }
    setenv("MIGKIT_RUN_DIR", dir, 1);
    unsetenv("MIGKIT_SHIM_MODE");
    return 0;
}

/* Resolves the entry points as cudart does, and checks the shim is there or not. */
static int resolve(bool want_shim)
{
    __typeof__(cuGetProcAddress_v2) *gpa;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL), *p;
    Dl_info info;
    bool shim;
    if (!lib || !(p = dlsym(lib, "cuGetProcAddress_v2"))) {
        fprintf(stderr, "shim-bench: no libcuda.so.1 (LD_LIBRARY_PATH?): %s\n", dlerror());
        return -1;
    }
    memcpy(&gpa, &p, sizeof(p));
#define GET(field, name)                                                                           \
    if (gpa(name, &p, CUDA_NOW, CU_GET_PROC_ADDRESS_DEFAULT, NULL) != CUDA_SUCCESS)                \
        return -1;                                                                                 \
    memcpy(&cu.field, &p, sizeof(p));
    GET(init, "cuInit")
    GET(launch, "cuLaunchKernel")
    GET(alloc, "cuMemAlloc")
    GET(free, "cuMemFree")
#undef GET
    shim = dladdr((void *)cu.alloc, &info) && strstr(info.dli_fname, "libmigshim");
    if (shim != want_shim) {
        fprintf(stderr, "shim-bench: libmigshim.so is %spreloaded, as this mode requires\n",
                want_shim ? "not " : "");
        return -1;
    }
    return cu.init(0) == CUDA_SUCCESS ? 0 : -1;
}

/* ---- the loops ---- */

__attribute__((noinline)) static int loop_launch(long n)
{
    int errors = 0;
    for (long i = 0; i < n; i++)
        errors += cu.launch((CUfunction)(uintptr_t)1, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL) !=
                  CUDA_SUCCESS;
    return errors;
}

__attribute__((noinline)) static int loop_alloc(long n, size_t size)
{
    int errors = 0;
    for (long i = 0; i < n; i++) {
        CUdeviceptr p;
        if (cu.alloc(&p, size) != CUDA_SUCCESS || cu.free(p) != CUDA_SUCCESS)
            errors++;
    }
    return errors;
}

__attribute__((noinline)) static int loop_miss(long n)
{
    return loop_alloc(n, 3 * CHUNK);
}

/* The idle second thread: blocks until the bench ends. */
static void *idle(void *arg)
{
    char c;
    return read(*(int *)arg, &c, 1) < 0 ? NULL : NULL;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Runs one phase and prints its time per iteration. */
static int phase(const char *mode, const char *name, long n)
{
    double t0 = now_ns(), dt;
    int errors = strcmp(name, "launch") == 0  ? loop_launch(n)
                 : strcmp(name, "alloc") == 0 ? loop_alloc(n, SMALL)
                                              : loop_miss(n);
    dt = now_ns() - t0;
    printf("%-10s %-7s %9ld iterations %9.1f ns each%s\n", mode, name, n, dt / (double)n,
           errors ? "  (ERRORS)" : "");
    return errors ? -1 : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: shim-bench -m none|standalone|lease [-n ITERATIONS] "
                    "[-p launch|alloc|miss|all]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *mode = NULL, *which = "all";
    long n = ITERATIONS_DEFAULT;
    struct lease_server *srv = NULL;
    pthread_t idler;
    int c, r = 0, hold[2];
    while ((c = getopt(argc, argv, "m:n:p:")) != -1) {
        if (c == 'm')
            mode = optarg;
        else if (c == 'n')
            n = atol(optarg);
        else if (c == 'p')
            which = optarg;
        else
            return usage();
    }
    if (!mode || n <= 0 || !mkdtemp(dir) || pipe(hold) < 0)
        return usage();
    pthread_create(&idler, NULL, idle, &hold[0]);
    if (strcmp(mode, "standalone") == 0)
        r = set_up_standalone();
    else if (strcmp(mode, "lease") == 0)
        r = set_up_lease(&srv);
    else if (strcmp(mode, "none") != 0)
        return usage();
    if (r == 0)
        r = resolve(strcmp(mode, "none") != 0);
    for (const char *p = "launch\0alloc\0miss\0"; r == 0 && *p; p += strlen(p) + 1)
        if (strcmp(which, "all") == 0 ? strcmp(p, "miss") != 0 || srv : strcmp(which, p) == 0)
            r = phase(mode, p, strcmp(p, "miss") == 0 ? n / 100 + 1 : n);
    if (srv)
        lease_server_stop(srv);
    close(hold[1]);
    pthread_join(idler, NULL);
    unlink(path);
    rmdir(dir);
    return r == 0 ? 0 : 1;
}
