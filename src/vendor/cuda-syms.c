/*
 * cuda-syms.c - MK_CUDA_SYMBOLS (vendor/cuda-syms.h) as data: the dlsym names, and the
 * choice cuGetProcAddress makes between the versions and stream flavors of one name.
 *
 * Compiled into libmigshim and the fake libcuda.so.1 alike, so the fake resolves names by
 * exactly the rule the shim's list describes. Pure functions over static tables: thread-safe,
 * no allocation.
 */
#include <errno.h>
#include <string.h>

#include "vendor/cuda-syms.h"

static const struct mk_cuda_sym syms[] = {
#define X(sym, export_, name_, since_, flavor_, role_)                                             \
    {.export = export_,                                                                            \
     .name = name_,                                                                                \
     .since = since_,                                                                              \
     .flavor = MK_CUDA_##flavor_,                                                                  \
     .role = MK_CUDA_##role_,                                                                      \
     .offset = offsetof(struct mk_cuda, sym)},
    MK_CUDA_SYMBOLS(X)
#undef X
};

const struct mk_cuda_sym *mk__cuda_syms(size_t *ret_n)
{
    if (ret_n)
        *ret_n = sizeof(syms) / sizeof(syms[0]);
    return syms;
}

int mk__cuda_sym_by_export(const char *export)
{
    if (!export)
        return -1;
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
        if (strcmp(syms[i].export, export) == 0)
            return (int)i;
    return -1;
}

/* Whether a row of flavor f answers a query with these CU_GET_PROC_ADDRESS_* flags: the
 * per-thread flag selects PTSZ rows, anything else (DEFAULT, LEGACY_STREAM) LEGACY rows. */
static bool flavor_fits(enum mk_cuda_flavor f, cuuint64_t flags)
{
    bool ptsz = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    return f == MK_CUDA_ANY || (f == MK_CUDA_PTSZ) == ptsz;
}

int mk__cuda_sym_lookup(const char *name, int version, cuuint64_t flags,
                        CUdriverProcAddressQueryResult *ret_status)
{
    bool known = false;
    int best = -1;
    for (size_t i = 0; name && i < sizeof(syms) / sizeof(syms[0]); i++) {
        if (strcmp(syms[i].name, name) != 0 || !flavor_fits(syms[i].flavor, flags))
            continue;
        known = true;
        if (syms[i].since <= version && (best < 0 || syms[i].since > syms[best].since))
            best = (int)i;
    }
    if (best < 0 && ret_status)
        *ret_status = known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                            : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return best;
}

void mk__cuda_store(struct mk_cuda *t, size_t i, void *addr)
{
    memcpy((char *)t + syms[i].offset, &addr, sizeof(addr));
}

void *mk__cuda_load(const struct mk_cuda *t, size_t i)
{
    void *addr;
    memcpy(&addr, (const char *)t + syms[i].offset, sizeof(addr));
    return addr;
}

/* The value of hex digit c, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mk__cuda_uuid_parse(const char *s, CUuuid *ret)
{
    CUuuid u;
    size_t n = 0;
    if (!s || !ret)
        return -EINVAL;
    if (strncmp(s, "GPU-", 4) == 0 || strncmp(s, "MIG-", 4) == 0)
        s += 4;
    /* 32 hex digits in the 8-4-4-4-12 groups; dashes are checked by position. */
    for (size_t i = 0; s[i]; i++) {
        int hi, lo;
        if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
            continue;
        if (n == sizeof(u.bytes) || (hi = hex_value(s[i])) < 0 || (lo = hex_value(s[i + 1])) < 0)
            return -EINVAL;
        u.bytes[n++] = (char)(hi << 4 | lo);
        i++;
    }
    if (n != sizeof(u.bytes))
        return -EINVAL;
    *ret = u;
    return 0;
}
