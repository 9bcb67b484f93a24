/*
 * next-a.c - libmk-next-a.so, for test-next.c: defines mk_next_probe and looks the next
 * definition up with dlsym(RTLD_NEXT). Loaded after the preloaded shim, so a dlsym override
 * that loses its caller's identity answers with this library's own definition.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

int mk_next_probe(void);
void *mk_next_lookup(void);

int mk_next_probe(void)
{
    return 1;
}

/* The mk_next_probe after this library in the search order: libmk-next-b.so's. Not a tail
 * call: glibc must see this library as the caller, not whoever called us. */
void *mk_next_lookup(void)
{
    void *volatile p = dlsym(RTLD_NEXT, "mk_next_probe");
    return p;
}
