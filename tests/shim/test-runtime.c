/*
 * test-runtime.c - a small CUDA-runtime-style client: it links nothing from CUDA and reaches
 * the driver the way cudart does, dlopen("libcuda.so.1") then dlsym for cuGetProcAddress, then
 * cuGetProcAddress for everything else (by name, CUDA version and stream flavor), and also
 * straight through dlsym on the driver's handle, as older runtimes did.
 *
 * Checks: every hooked entry point comes back as libmigshim's hook by both paths and in both
 * stream flavors, every other one as the driver's own; versions select the right hook (a
 * CUDA 2.0 caller gets the refusing 32-bit cuMemAlloc); unknown names and too-old versions
 * fail as the driver says; and allocations through the pointers obtained this way are counted
 * like direct calls.
 *
 * It also runs against the real driver (tests/gpu/shim-check.sh): then the fake's own counters
 * are not there, and only the shim's side of the accounting is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shim-test.h"
#include "vendor/cuda-syms.h"

#define QUOTA    (64 * ST_MIB)
#define CUDA_NOW 13000 /* what a CUDA 13.0 runtime asks for */
#define SHIM     "libmigshim.so"
#define FAKE     "libcuda.so.1"

static void *lib;
static bool fake; /* the driver is tests/fakes/cuda's (it has the statistics function) */
static __typeof__(cuGetProcAddress_v2) *gpa;

/* cuGetProcAddress_v2 through the client's pointer; NULL when not found. */
static void *proc(const char *name, int version, cuuint64_t flags)
{
    void *p = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (gpa(name, &p, version, flags, &st) != CUDA_SUCCESS)
        return NULL;
    assert_int_equal(st, CU_GET_PROC_ADDRESS_SUCCESS);
    return p;
}

/* Sets the typed function pointer var to proc(...)'s answer. */
#define PROC(var, ...)                                                                             \
    do {                                                                                           \
        void *p_ = proc(__VA_ARGS__);                                                              \
        memcpy(&(var), &p_, sizeof(p_));                                                           \
    } while (0)

static int group_setup(void **state)
{
    __typeof__(cuInit) *init;
    void *p;
    (void)state;
    st_standalone("quota=64MiB\n");
    if (!(lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)))
        return -1;
    fake = dlsym(lib, MK_FAKE_CUDA_STATS_SYMBOL) != NULL;
    if (!(p = dlsym(lib, "cuGetProcAddress_v2")))
        return -1;
    memcpy(&gpa, &p, sizeof(gpa));
    PROC(init, "cuInit", CUDA_NOW, CU_GET_PROC_ADDRESS_DEFAULT);
    if (!init || init(0) != CUDA_SUCCESS)
        return -1;
    /* The real driver allocates in the current context only (the fake needs none). */
    if (!fake) {
        __typeof__(cuDevicePrimaryCtxRetain) *retain;
        __typeof__(cuCtxSetCurrent) *set_current;
        CUcontext ctx;
        PROC(retain, "cuDevicePrimaryCtxRetain", CUDA_NOW, 0);
        PROC(set_current, "cuCtxSetCurrent", CUDA_NOW, 0);
        if (!retain || !set_current || retain(&ctx, 0) != CUDA_SUCCESS ||
            set_current(ctx) != CUDA_SUCCESS)
            return -1;
    }
    return 0;
}

/* The entry points found through dlopen + dlsym: hooks where the shim hooks. */
static void through_dlsym(void **state)
{
    (void)state;
    assert_string_equal(st_owner(dlsym(lib, "cuGetProcAddress_v2")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuGetProcAddress")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuMemAlloc_v2")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuMemAlloc")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuMemAllocAsync_ptsz")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuMemCreate")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuMemGetInfo_v2")), SHIM);
    assert_string_equal(st_owner(dlsym(lib, "cuLaunchKernel")), SHIM);
    /* Not hooked: the driver's own. */
    assert_string_equal(st_owner(dlsym(lib, "cuDeviceGetAttribute")), FAKE);
    assert_string_equal(st_owner(dlsym(lib, "cuMemcpyHtoD_v2")), FAKE);
    if (fake)
        assert_string_equal(st_owner(dlsym(lib, MK_FAKE_CUDA_STATS_SYMBOL)), FAKE);
    assert_null(dlsym(lib, "cuNoSuchEntryPoint"));
    /* The same hooks through the global scope. */
    assert_ptr_equal(dlsym(RTLD_DEFAULT, "cuMemAlloc_v2"), dlsym(lib, "cuMemAlloc_v2"));
}

/* Every row of the list through cuGetProcAddress: hooks exactly where the list says HOOK. */
static void through_gpa(void **state)
{
    size_t n;
    const struct mk_cuda_sym *rows = mk__cuda_syms(&n);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        cuuint64_t flags = rows[i].flavor == MK_CUDA_PTSZ
                               ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
                               : CU_GET_PROC_ADDRESS_LEGACY_STREAM;
        void *p = proc(rows[i].name, rows[i].since, flags);
        void *want = dlsym(lib, rows[i].export); /* the hook, or the driver's */
        print_message("%-32s %5d %s\n", rows[i].name, rows[i].since, st_owner(p));
        assert_non_null(p);
        assert_ptr_equal(p, want);
        assert_string_equal(st_owner(p), rows[i].role != MK_CUDA_PASS ? SHIM : FAKE);
    }
}

/* Versions and flavors select the hook of exactly that entry point. */
static void versions(void **state)
{
    CUresult r;
    void *p;
    CUdriverProcAddressQueryResult st;
    __typeof__(cuGetProcAddress_v1) *gpa1;
    (void)state;
    assert_ptr_equal(proc("cuMemAlloc", CUDA_NOW, 0), dlsym(lib, "cuMemAlloc_v2"));
    assert_ptr_equal(proc("cuMemAlloc", 2000, 0), dlsym(lib, "cuMemAlloc"));
    assert_ptr_equal(
        proc("cuMemAllocAsync", CUDA_NOW, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM),
        dlsym(lib, "cuMemAllocAsync_ptsz"));
    assert_ptr_equal(proc("cuMemAllocAsync", CUDA_NOW, CU_GET_PROC_ADDRESS_DEFAULT),
                     dlsym(lib, "cuMemAllocAsync"));
    assert_ptr_equal(proc("cuGetProcAddress", 11030, 0), dlsym(lib, "cuGetProcAddress"));
    assert_ptr_equal(proc("cuGetProcAddress", CUDA_NOW, 0), dlsym(lib, "cuGetProcAddress_v2"));
    /* Unknown names and versions older than the entry point: the driver's answers. */
    /* The fake answers CUDA_ERROR_NOT_FOUND; the real driver (580.159) CUDA_SUCCESS, with
     * the status and a NULL pointer saying what happened. Either way the shim passes it on. */
    r = gpa("cuNoSuchEntryPoint", &p, CUDA_NOW, 0, &st);
    assert_true(r == CUDA_ERROR_NOT_FOUND || (!fake && r == CUDA_SUCCESS));
    assert_int_equal(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    assert_null(p);
    /* A version older than the entry point: the fake refuses it; the real driver (580.159)
     * hands out its only cuMemCreate, which must then come back as the hook. */
    if (gpa("cuMemCreate", &p, 10000, 0, &st) == CUDA_SUCCESS && p) {
        assert_int_equal(st, CU_GET_PROC_ADDRESS_SUCCESS);
        assert_ptr_equal(p, dlsym(lib, "cuMemCreate"));
        assert_string_equal(st_owner(p), SHIM);
    } else {
        assert_int_equal(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
        assert_null(p);
    }
    /* The CUDA 11.3-11.8 entry point answers the same. */
    PROC(gpa1, "cuGetProcAddress", 11030, 0);
    p = NULL;
    assert_int_equal(gpa1("cuMemFree", &p, CUDA_NOW, 0), CUDA_SUCCESS);
    assert_ptr_equal(p, dlsym(lib, "cuMemFree_v2"));
    assert_string_equal(st_owner(p), SHIM);
}

/* Allocations through pointers from cuGetProcAddress are counted like direct calls. */
static void counted(void **state)
{
    __typeof__(cuMemAlloc_v2) *alloc;
    __typeof__(cuMemAlloc_v1) *alloc_v1;
    __typeof__(cuMemFree_v2) *free_fn;
    __typeof__(cuMemGetInfo_v2) *info;
    __typeof__(cuMemAllocAsync_ptsz) *alloc_async;
    CUdeviceptr a, b;
    mk_cu_deviceptr_v1 old;
    size_t f, t;
    (void)state;
    PROC(alloc, "cuMemAlloc", CUDA_NOW, 0);
    PROC(alloc_v1, "cuMemAlloc", 2000, 0);
    PROC(free_fn, "cuMemFree", CUDA_NOW, 0);
    PROC(info, "cuMemGetInfo", CUDA_NOW, 0);
    PROC(alloc_async, "cuMemAllocAsync", CUDA_NOW, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
    assert_int_equal(alloc(&a, 10 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(alloc_async(&b, 20 * ST_MIB, NULL), CUDA_SUCCESS);
    assert_int_equal(info(&f, &t), CUDA_SUCCESS);
    assert_int_equal(t, QUOTA);
    assert_int_equal(f, QUOTA - 30 * ST_MIB);
    if (fake)
        assert_int_equal(st_fake().used, 30 * ST_MIB);
    assert_int_equal(alloc(&a, QUOTA), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(alloc_v1(&old, 4096), CUDA_ERROR_NOT_SUPPORTED);
    assert_int_equal(free_fn(b), CUDA_SUCCESS);
    assert_int_equal(free_fn(a), CUDA_SUCCESS);
    assert_int_equal(info(&f, &t), CUDA_SUCCESS);
    assert_int_equal(f, QUOTA);
    if (fake)
        assert_int_equal(st_fake().used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(through_dlsym),
        cmocka_unit_test(through_gpa),
        cmocka_unit_test(versions),
        cmocka_unit_test(counted),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
