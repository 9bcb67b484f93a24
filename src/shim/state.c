/*
 * state.c - libmigshim's set-up, once per process: which quota source, the instance's limits
 * and identity, the accounting, the fork handlers.
 *
 * Environment, read here and nowhere else (once, at the first hook that needs a quota):
 *   MIGKIT_SHIM_MODE                  "lease" (default: migd's lease socket, found through
 *                                     MIGKIT_RUN_DIR) or "standalone";
 *   MIGKIT_SHIM_STANDALONE_FILE       the standalone quota file (default
 *                                     /etc/migkit/shim-standalone.conf);
 *   MIGKIT_SHIM_STANDALONE_INSECURE=1 accept a quota file owned by the process's own uid;
 *   MIGKIT_SHIM_MAX_ALLOCS            live allocations the shim can track (default 196608,
 *                                     in a table of 32-byte entries sized so they fill 3/4
 *                                     of it: 8 MiB of address space, mapped MAP_NORESERVE).
 * The outcome is printed on stderr when it matters: a failure (the process then gets no
 * device memory), and the standalone source (which is not tamper-proof).
 *
 * The driver's page, the unit in which it hands out device memory, is asked once here
 * (cuMemGetAllocationGranularity), so the charging rule (mk__shim_linear_charge,
 * mk__shim_paged_charge) costs allocations a variable read, never a driver call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/quota.h"
#include "shim/shim.h"

/* Live allocations tracked by default: far above what caching allocators keep (PyTorch holds
 * hundreds to a few thousand segments); 3/4 of a 2^18-entry (8 MiB) table. */
#define DEFAULT_MAX_ALLOCS 196608u
/* The reserve chunk when migd suggests none: small against a quota (64 MiB is the smallest
 * quota migd allows) and large against typical allocations, so most are reserve hits. */
#define DEFAULT_CHUNK (UINT64_C(64) << 20)
/* The driver's page when it cannot be asked: 2 MiB, the granularity the driver reports for
 * device memory and the page measured on an H200, driver 580 (docs/shim.md, "Charging"). */
#define DEFAULT_PAGE (UINT64_C(2) << 20)

static struct {
    struct quota_source src;
    struct mk_shim_identity id;
    const char *file; /* the standalone source's file (environment storage), or NULL */
    int result;
} st;
static pthread_once_t state_control = PTHREAD_ONCE_INIT;
static atomic_bool state_ready;
/* The driver's page: set once by set-up (before state_ready is published), then read-only. A
 * power of two. */
static uint64_t page = DEFAULT_PAGE;

/* One line on stderr, written with a single write(2) so lines of concurrent processes do not
 * interleave. Set-up only. */
__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
    char line[512];
    size_t n;
    va_list ap;
    va_start(ap, fmt);
    n = (size_t)vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    n = n < sizeof(line) - 1 ? n : sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nothing else to tell: stderr is gone */
    }
}

static void fork_prepare(void)
{
    mk__shim_account_prepare();
}

static void fork_parent(void)
{
    mk__shim_account_parent();
}

static void fork_child(void)
{
    mk__shim_account_child();
}

/* Picks the quota source the environment names. 0 or -errno with msg. */
static int pick_source(bool *standalone, char *msg, size_t n)
{
    const char *mode = getenv("MIGKIT_SHIM_MODE");
    const char *path = getenv("MIGKIT_SHIM_STANDALONE_FILE");
    const char *insecure = getenv("MIGKIT_SHIM_STANDALONE_INSECURE");
    *standalone = mode && strcmp(mode, "standalone") == 0;
    if (!mode || !*mode || strcmp(mode, "lease") == 0)
        return mk__shim_quota_lease(&st.src, msg, n);
    if (!*standalone) {
        snprintf(msg, n, "MIGKIT_SHIM_MODE=%.64s: expected lease or standalone", mode);
        return -EINVAL;
    }
    if (!path || !*path)
        path = MK_SHIM_STANDALONE_FILE_DEFAULT;
    st.file = path;
    if (mk__shim_quota_standalone(&st.src, path, insecure && strcmp(insecure, "1") == 0) < 0) {
        snprintf(msg, n, "MIGKIT_SHIM_STANDALONE_FILE: path too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

/* The identity the limits describe. */
static void set_identity(const struct quota_limits *l)
{
    snprintf(st.id.name, sizeof(st.id.name), "%s", l->name);
    snprintf(st.id.profile, sizeof(st.id.profile), "%s", l->profile);
    st.id.has_uuid = l->instance[0] && mk__cuda_uuid_parse(l->instance, &st.id.uuid) == 0;
    st.id.quota = l->quota;
    st.id.sms = l->sms;
}

/*
 * The driver's page: the minimum granularity of a pinned allocation on device 0, which is the
 * unit the driver takes whole for device memory (measured: docs/shim.md, "Charging"). Every
 * device of a GPU model has the same, and an instance is one GPU's. DEFAULT_PAGE when the
 * driver cannot tell (no driver, no such entry point, set-up before cuInit) or answers
 * something that is no power of two (the rounding masks with page - 1).
 */
static uint64_t query_page(void)
{
    const struct mk_cuda *cu = mk__shim_cuda();
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    size_t g = 0;
    if (!cu->cuMemGetAllocationGranularity ||
        cu->cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) !=
            CUDA_SUCCESS ||
        g == 0 || (g & (g - 1)) != 0)
        return DEFAULT_PAGE;
    return g;
}

static int set_up(bool *standalone, char *msg, size_t n)
{
    struct quota_limits l = {0};
    uint64_t max_allocs = DEFAULT_MAX_ALLOCS, chunk;
    const char *v = getenv("MIGKIT_SHIM_MAX_ALLOCS");
    int r;
    if (v && (mk__shim_parse_size(v, &max_allocs) < 0 || max_allocs == 0)) {
        snprintf(msg, n, "MIGKIT_SHIM_MAX_ALLOCS=%.32s: expected a positive count", v);
        return -EINVAL;
    }
    if ((r = pick_source(standalone, msg, n)) < 0 || (r = st.src.hello(&st.src, &l, msg, n)) < 0)
        return r;
    set_identity(&l);
    page = query_page();
    /* cuDeviceGetUuid keeps the GPU's own UUID unless MIGKIT_SHIM_UUID=instance: the CUDA
     * runtime checks the driver's UUID against its own record of the device, and on a real
     * driver (580.159) any other answer fails its initialisation with
     * cudaErrorSoftwareValidityNotEstablished (docs/shim.md, "Identity"). */
    v = getenv("MIGKIT_SHIM_UUID");
    if (v && *v && strcmp(v, "instance") != 0 && strcmp(v, "gpu") != 0) {
        snprintf(msg, n, "MIGKIT_SHIM_UUID=%.32s: expected gpu or instance", v);
        return -EINVAL;
    }
    if (!v || strcmp(v, "instance") != 0)
        st.id.has_uuid = false;
    /* Standalone grants are local arithmetic: no reserve needed, every charge is exact. */
    chunk = *standalone ? 0 : l.chunk ? l.chunk : DEFAULT_CHUNK;
    r = mk__shim_account_init(&st.src, l.quota, chunk, max_allocs);
    if (r < 0) {
        snprintf(msg, n, "cannot map the table of %llu allocations",
                 (unsigned long long)max_allocs);
        return r;
    }
    if ((r = pthread_atfork(fork_prepare, fork_parent, fork_child)) != 0) {
        snprintf(msg, n, "cannot register fork handlers");
        return -r;
    }
    return 0;
}

static void state_once(void)
{
    char msg[256] = "";
    bool standalone = false;
    st.result = set_up(&standalone, msg, sizeof(msg));
    if (st.result < 0)
        report("migshim: no memory quota, every device allocation is refused: %s", msg);
    else if (standalone)
        report("migshim: standalone mode, %llu bytes per process from %s. NOT tamper-proof: a "
               "process can bypass the shim, and processes do not share the quota; run the "
               "program under migd (migctl exec) for enforced quotas",
               (unsigned long long)st.id.quota, st.file);
    atomic_store_explicit(&state_ready, true, memory_order_release);
}

int mk__shim_state(void)
{
    if (!atomic_load_explicit(&state_ready, memory_order_acquire))
        pthread_once(&state_control, state_once);
    return st.result;
}

const struct mk_shim_identity *mk__shim_identity(void)
{
    return &st.id;
}

uint64_t mk__shim_paged_charge(uint64_t bytes)
{
    uint64_t end;
    if (__builtin_add_overflow(bytes, page - 1, &end))
        return UINT64_MAX; /* saturates: no quota is that large, the charge is refused */
    return end & ~(page - 1);
}

uint64_t mk__shim_linear_charge(uint64_t bytes)
{
    return bytes <= page / 2 ? bytes : mk__shim_paged_charge(bytes);
}
