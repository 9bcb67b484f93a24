/*
 * shim-test.h - helpers shared by libmigshim's tests (tests/shim, docs/shim.md "Tests").
 *
 * Every test runs with LD_PRELOAD=libmigshim.so and the fake libcuda.so.1 first on
 * LD_LIBRARY_PATH (ctest sets both). A test gives the shim its quota through the standalone
 * source: it writes the quota file and sets the MIGKIT_SHIM_* variables before its first CUDA
 * call, which is when the shim reads them. The driver's truth comes from the fake's own
 * mk_fake_cuda_stats; the shim's view from cuMemGetInfo (free = quota - charged, for a
 * single process in standalone mode).
 *
 * A test that calls the driver defines ST_QUOTA (its standalone quota, bytes) before including
 * this header and gets st_init and st_charged; one that also includes cmocka.h first gets CK,
 * shim_used, EXPECT_USED, st_setup and st_clean (the preamble every cmocka test shared).
 *
 * Test programs are built with _GNU_SOURCE (dladdr, RTLD_DEFAULT).
 */
#ifndef MIGKIT_SHIM_TEST_H
#define MIGKIT_SHIM_TEST_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-cuda-stats.h"

#define ST_MIB (UINT64_C(1) << 20)
#define ST_GIB (UINT64_C(1) << 30)

/* Exit status ctest reads as "skipped" (SKIP_RETURN_CODE). */
#define ST_SKIP 77

static char st_dir[] = "/tmp/migshim-test-XXXXXX";
static char st_path[sizeof(st_dir) + 32];

/* Removes the quota file and its directory (atexit: the test leaves nothing behind). */
static inline void st_cleanup(void)
{
    unlink(st_path);
    rmdir(st_dir);
}

/* Writes text as the standalone quota file (in a fresh temporary directory, removed at exit)
 * and points the shim at it. Exits the test with status 2 when the file cannot be written. */
static inline void st_standalone(const char *text)
{
    char *path = st_path;
    FILE *f;
    if (!mkdtemp(st_dir)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(st_path, sizeof(st_path), "%s/quota.conf", st_dir);
    atexit(st_cleanup);
    if (!(f = fopen(path, "w")) || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    chmod(path, 0644);
    setenv("MIGKIT_SHIM_MODE", "standalone", 1);
    setenv("MIGKIT_SHIM_STANDALONE_FILE", path, 1);
    /* Not root in CI: the file is ours, which the shim accepts only when told. */
    setenv("MIGKIT_SHIM_STANDALONE_INSECURE", "1", 1);
}

/* The fake driver's counters. Exits with status 2 when the fake is not the loaded libcuda. */
static inline struct mk_fake_cuda_stats st_fake(void)
{
    static mk_fake_cuda_stats_fn *fn;
    struct mk_fake_cuda_stats s;
    if (!fn) {
        /* The driver may be loaded RTLD_LOCAL (as cudart loads it): ask its own handle. */
        void *lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
        void *p = dlsym(lib ? lib : RTLD_DEFAULT, MK_FAKE_CUDA_STATS_SYMBOL);
        if (!p) {
            fprintf(stderr, "the fake libcuda.so.1 is not loaded (LD_LIBRARY_PATH?)\n");
            exit(2);
        }
        memcpy(&fn, &p, sizeof(fn));
    }
    fn(&s);
    return s;
}

/* Whether libmigshim is preloaded (it defines the fake-free symbol dlsym and the hooks). */
static inline int st_shim_loaded(void)
{
    Dl_info info;
    void *p = dlsym(RTLD_DEFAULT, "cuMemAlloc_v2");
    return p && dladdr(p, &info) && info.dli_fname && strstr(info.dli_fname, "libmigshim");
}

/* The shared object that defines address p ("libmigshim.so", "libcuda.so.1"), or "?". */
static inline const char *st_owner(const void *p)
{
    Dl_info info;
    const char *slash;
    if (!p || !dladdr(p, &info) || !info.dli_fname)
        return "?";
    slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

#ifdef ST_QUOTA
#include "vendor/cuda-syms.h"

/* Sets the shim up for a test: checks it is preloaded, writes conf as the standalone quota
 * file, runs cuInit. Variables the test wants the shim to read must be set before. Returns 0,
 * or -1 after saying why on stderr. */
static inline int st_init(const char *conf)
{
    CUresult r;
    if (!st_shim_loaded()) {
        fprintf(stderr, "libmigshim.so is not preloaded\n");
        return -1;
    }
    st_standalone(conf);
    if ((r = cuInit(0)) != CUDA_SUCCESS) {
        fprintf(stderr, "cuInit failed: %d\n", (int)r);
        return -1;
    }
    return 0;
}

/* Bytes the shim has charged: ST_QUOTA minus the free memory it reports (a single process in
 * standalone mode); UINT64_MAX when cuMemGetInfo fails or reports another total. */
static inline uint64_t st_charged(void)
{
    size_t free_bytes, total;
    if (cuMemGetInfo_v2(&free_bytes, &total) != CUDA_SUCCESS || total != ST_QUOTA)
        return UINT64_MAX;
    return ST_QUOTA - free_bytes;
}

#ifdef cmocka_unit_test /* cmocka.h included first */
#define CK(call) assert_int_equal((call), CUDA_SUCCESS)

/* st_charged, asserted: the total is the quota. */
static inline uint64_t shim_used(void)
{
    size_t free_bytes, total;
    CK(cuMemGetInfo_v2(&free_bytes, &total));
    assert_int_equal(total, ST_QUOTA);
    return ST_QUOTA - free_bytes;
}

/* Both views, the shim's charge and the fake driver's bytes in use, equal n. */
#define EXPECT_USED(n)                                                                             \
    do {                                                                                           \
        assert_int_equal(shim_used(), (n));                                                        \
        assert_int_equal(st_fake().used, (n));                                                     \
    } while (0)

/* A group set-up: st_init(conf) as cmocka wants it. */
static inline int st_setup(const char *conf)
{
    return st_init(conf) == 0 ? 0 : -1;
}

/* A per-test set-up and teardown: nothing charged, nothing held by the driver. */
static inline int st_clean(void **state)
{
    (void)state;
    return st_charged() == 0 && st_fake().used == 0 ? 0 : -1;
}
#endif /* cmocka_unit_test */
#endif /* ST_QUOTA */

#endif /* MIGKIT_SHIM_TEST_H */
