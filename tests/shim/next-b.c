/*
 * next-b.c - libmk-next-b.so, for test-next.c: the second definition of mk_next_probe, which
 * libmk-next-a.so's dlsym(RTLD_NEXT) must find.
 */
int mk_next_probe(void);

int mk_next_probe(void)
{
    return 2;
}
