/*
 * load.c - the real libcuda.so.1 behind libmigshim: opened by soname once, every entry point
 * of MK_CUDA_SYMBOLS resolved into the typed table, and the map from the driver's entry
 * points to the hooks that stand for them.
 *
 * The map is by address, not by name: cuGetProcAddress and dlsym return whatever version of
 * an entry point the caller's CUDA version selects, and the hook that may stand for it is the
 * hook of exactly that version (cuMemAlloc for a CUDA 2.0 caller is the 32-bit cuMemAlloc,
 * not cuMemAlloc_v2). Each row has two known addresses: what dlsym returns for its exported
 * name, and what the driver's own cuGetProcAddress returns for its name at its version and
 * flavor (the two are equal in every driver we know; comparing both costs nothing and covers
 * one where they are not).
 *
 * Thread-safety: loading runs once under pthread_once; afterwards everything here is
 * read-only. The thread that is loading sees an all-NULL table and no hooks, so a library
 * constructor that calls back into the shim cannot deadlock on the once.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "shim/shim.h"

/* The hooks of the list, indexed like it; NULL for PASS rows. -Bsymbolic-functions makes
 * these the shim's own functions. */
#define HOOK_ADDR_HOOK(sym) (void *)sym
#define HOOK_ADDR_MEM(sym)  (void *)sym
#define HOOK_ADDR_PASS(sym) NULL
static void *const hooks[] = {
#define X(sym, export, name, since, flavor, role) HOOK_ADDR_##role(sym),
    MK_CUDA_SYMBOLS(X)
#undef X
};
#define NROWS (sizeof(hooks) / sizeof(hooks[0]))

static struct {
    struct mk_cuda table;
    void *dl[NROWS];  /* what dlsym returns for each row's exported name */
    void *gpa[NROWS]; /* what the driver's cuGetProcAddress returns for each row */
    char error[256];  /* why the library could not be loaded, or "" */
} loaded;
static const struct mk_cuda empty;
static atomic_bool ready;
static pthread_once_t load_control = PTHREAD_ONCE_INIT;
static __thread bool loading __attribute__((tls_model("initial-exec")));

bool mk__shim_loading(void)
{
    return loading;
}

/* The flags that select row i's flavor in a cuGetProcAddress query. */
static cuuint64_t flavor_flags(const struct mk_cuda_sym *row)
{
    return row->flavor == MK_CUDA_PTSZ ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
                                       : CU_GET_PROC_ADDRESS_LEGACY_STREAM;
}

/* Asks the driver's cuGetProcAddress (either version) for every row. */
static void resolve_gpa(const struct mk_cuda_sym *rows)
{
    for (size_t i = 0; i < NROWS; i++) {
        void *p = NULL;
        CUdriverProcAddressQueryResult st;
        if (loaded.table.cuGetProcAddress_v2)
            loaded.table.cuGetProcAddress_v2(rows[i].name, &p, rows[i].since,
                                             flavor_flags(&rows[i]), &st);
        else if (loaded.table.cuGetProcAddress_v1)
            loaded.table.cuGetProcAddress_v1(rows[i].name, &p, rows[i].since,
                                             flavor_flags(&rows[i]));
        loaded.gpa[i] = p;
    }
}

/* Whether addr is what dlsym found for some row. */
static bool exported(const void *addr)
{
    for (size_t i = 0; i < NROWS; i++)
        if (loaded.dl[i] == addr)
            return true;
    return false;
}

/* A row the driver does not export but gives through cuGetProcAddress is still real: the
 * table takes it, unless it is another row's exported function (a driver that answers an old
 * version's name with its newer function, whose signature differs). */
static void fill_from_gpa(void)
{
    for (size_t i = 0; i < NROWS; i++)
        if (!loaded.dl[i] && loaded.gpa[i] && !exported(loaded.gpa[i]))
            mk__cuda_store(&loaded.table, i, loaded.gpa[i]);
}

static void load_once(void)
{
    const struct mk_cuda_sym *rows = mk__cuda_syms(NULL);
    void *lib;
    loading = true;
    dlerror();
    /* RTLD_NODELETE: the table must outlive any dlclose the program makes of its own handle. */
    lib = dlopen(MK_SHIM_CUDA_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!lib) {
        const char *why = dlerror();
        snprintf(loaded.error, sizeof(loaded.error), "cannot load %s: %s", MK_SHIM_CUDA_SONAME,
                 why ? why : "unknown dlopen error");
    } else {
        for (size_t i = 0; i < NROWS; i++) {
            loaded.dl[i] = mk__shim_real_dlsym(lib, rows[i].export);
            mk__cuda_store(&loaded.table, i, loaded.dl[i]);
        }
        resolve_gpa(rows);
        fill_from_gpa();
    }
    loading = false;
    atomic_store_explicit(&ready, true, memory_order_release);
}

const struct mk_cuda *mk__shim_cuda(void)
{
    if (__builtin_expect(atomic_load_explicit(&ready, memory_order_acquire), 1))
        return &loaded.table;
    if (loading)
        return &empty;
    pthread_once(&load_control, load_once);
    return &loaded.table;
}

const char *mk__shim_load_error(void)
{
    mk__shim_cuda();
    return loaded.error[0] ? loaded.error : NULL;
}

void *mk__shim_hook_for(void *addr)
{
    const struct mk_cuda_sym *rows = mk__cuda_syms(NULL);
    int best = -1;
    if (!addr || loading)
        return NULL;
    mk__shim_cuda();
    /* dlsym's addresses first: they name the exact exported version. */
    for (size_t i = 0; i < NROWS; i++)
        if (hooks[i] && loaded.dl[i] == addr)
            return hooks[i];
    /* Then cuGetProcAddress's: where several rows got the same answer (a driver that answers
     * an old version's name with its newest function), the newest row's hook. */
    for (size_t i = 0; i < NROWS; i++)
        if (hooks[i] && loaded.gpa[i] == addr && (best < 0 || rows[i].since > rows[best].since))
            best = (int)i;
    return best < 0 ? NULL : hooks[best];
}

bool mk__shim_hooked_export(const char *name)
{
    const struct mk_cuda_sym *rows = mk__cuda_syms(NULL);
    if (!name || name[0] != 'c' || name[1] != 'u')
        return false;
    for (size_t i = 0; i < NROWS; i++)
        if (hooks[i] && strcmp(rows[i].export, name) == 0)
            return true;
    return false;
}

bool mk__shim_guarded_name(const char *name)
{
    const struct mk_cuda_sym *rows = mk__cuda_syms(NULL);
    if (!name || name[0] != 'c' || name[1] != 'u')
        return false;
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].role == MK_CUDA_MEM && strcmp(rows[i].name, name) == 0)
            return true;
    return false;
}
