/*
 * alloc.c - the one allocator of libmigkit.
 *
 * Everything allocates through mk__malloc and friends so tests can make the n-th allocation
 * fail and check that every error path frees what it took and leaves state unchanged.
 */
#include <string.h>

#include "migkit/common.h"

/* Countdown to an injected failure; 0 means injection is off. Tests are single-threaded,
 * so a plain static is enough (the CLI never turns injection on). */
static long fail_countdown;

static bool should_fail(void)
{
    if (fail_countdown <= 0)
        return false;
    return --fail_countdown == 0;
}

void mk__alloc_fail_after(long n)
{
    fail_countdown = n > 0 ? n : 0;
}

void *mk__malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *mk__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *mk__realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *mk__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = mk__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void mk__free(void *p)
{
    free(p);
}
