/*
 * test-next.c - libmigshim's dlsym override keeps RTLD_NEXT relative to its caller.
 *
 * glibc answers dlsym(RTLD_NEXT, name) from the object that called dlsym, which it finds by
 * the return address. The shim's override tail-calls glibc's dlsym for every name it does not
 * hook, so glibc still sees the real caller. The program links libmk-next-a.so then
 * libmk-next-b.so, both defining mk_next_probe; a's dlsym(RTLD_NEXT) must find b's (2). An
 * override that called glibc from its own frame would make glibc search after the shim and
 * find a's own (1).
 */
#include <stdio.h>

#include "shim-test.h"

int mk_next_probe(void);
void *mk_next_lookup(void);

int main(void)
{
    int (*next)(void);
    void *p;
    if (!st_shim_loaded()) {
        fprintf(stderr, "libmigshim.so is not preloaded\n");
        return 1;
    }
    p = mk_next_lookup();
    if (!p) {
        fprintf(stderr, "dlsym(RTLD_NEXT) found nothing\n");
        return 1;
    }
    memcpy(&next, &p, sizeof(next));
    printf("RTLD_NEXT from libmk-next-a.so found %s's mk_next_probe (returns %d)\n", st_owner(p),
           next());
    if (next() != 2)
        return 1;
    /* RTLD_DEFAULT and plain lookups still work through the override. */
    return mk_next_probe() == 1 && dlsym(RTLD_DEFAULT, "mk_next_probe") == (void *)mk_next_probe
               ? 0
               : 1;
}
