/*
 * dlsym.c - libmigshim's dlsym override.
 *
 * Why: LD_PRELOAD interposes a program's direct calls to the driver, but cudart (and any
 * program that loads the driver at run time) finds entry points with
 * dlsym(dlopen("libcuda.so.1"), name), which searches libcuda.so.1 itself and never sees the
 * shim. So the shim defines dlsym: a lookup that would return a real entry point the shim
 * hooks returns the hook instead; every other lookup is glibc's, untouched.
 *
 * Rules this file keeps (shared/style.md, "Shim rules"):
 *   - The real dlsym is found once with dlvsym (which the shim does not override), by the
 *     versions glibc has exported it under, newest first.
 *   - RTLD_NEXT and RTLD_DEFAULT are relative to the *caller*: glibc looks at dlsym's return
 *     address. Every call that is not a hooked name is therefore a tail call to the real
 *     dlsym, so the return address glibc sees is still the caller's. This file is built with
 *     -O2 and without sanitizers in every build type (CMakeLists.txt) so that the compiler
 *     emits that tail call, and so that it can run before a sanitizer runtime has started.
 *     tests/shim checks RTLD_NEXT from a library loaded after the shim.
 *   - Recursion guard: while the shim loads libcuda.so.1 (load.c), a dlsym from that thread
 *     (a library constructor) goes straight to glibc instead of waiting for the load.
 *
 * Thread-safety: the real dlsym's address is published with an atomic store; every thread
 * that races to find it finds the same one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>

#include "shim/shim.h"

typedef void *dlsym_fn(void *handle, const char *name);

static _Atomic(dlsym_fn *) real_dlsym;

/* glibc's dlsym: GLIBC_2.34 moved it into libc.so.6; older glibcs only have the base
 * versions of each architecture (2.2.5 on x86-64, 2.17 on aarch64). */
static dlsym_fn *find_real(void)
{
    static const char *const versions[] = {"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.17"};
    dlsym_fn *f = atomic_load_explicit(&real_dlsym, memory_order_acquire);
    for (size_t i = 0; !f && i < sizeof(versions) / sizeof(versions[0]); i++) {
        void *p = dlvsym(RTLD_NEXT, "dlsym", versions[i]);
        memcpy(&f, &p, sizeof(f)); /* POSIX: a void * from dlsym converts to its function */
    }
    if (f)
        atomic_store_explicit(&real_dlsym, f, memory_order_release);
    return f;
}

void *mk__shim_real_dlsym(void *handle, const char *name)
{
    dlsym_fn *f = find_real();
    return f ? f(handle, name) : NULL;
}

/* The lookup of a hooked name: glibc's answer, replaced by the hook when it is the real
 * driver's entry point (any other answer, such as the shim's own definition found through
 * RTLD_DEFAULT, is returned as is). Not a tail position, which is fine: a lookup through a
 * handle does not depend on the caller, and RTLD_DEFAULT finds the preloaded shim first from
 * any caller. */
static void *hooked_lookup(dlsym_fn *real, void *handle, const char *name)
{
    void *p = real(handle, name);
    void *hook = mk__shim_hook_for(p);
    return hook ? hook : p;
}

MK_SHIM_EXPORT void *dlsym(void *handle, const char *name);
void *dlsym(void *handle, const char *name)
{
    dlsym_fn *real = find_real();
    if (!real)
        return NULL; /* no glibc dlsym to be found: nothing can be looked up */
    /* Only "cu" names reach the rest of the shim: a sanitizer runtime resolves its
     * interceptors through here before it is ready to run instrumented code. */
    if (handle == RTLD_NEXT || name[0] != 'c' || name[1] != 'u' || mk__shim_loading() ||
        !mk__shim_hooked_export(name))
        return real(handle, name); /* tail call: the caller's return address is kept */
    return hooked_lookup(real, handle, name);
}
