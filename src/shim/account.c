/*
 * account.c - libmigshim's memory accounting: exact, per process, against a local reserve.
 *
 * Two numbers and a table, under one mutex:
 *   used  bytes charged to the process's live allocations (every family, as hooks-*.c size
 *         them), plus charges in flight;
 *   held  bytes the quota source granted the process: migd's leases, or the standalone quota;
 *   the table of live allocations: (kind, device pointer or handle) -> bytes charged, so that
 *         every free returns exactly what its allocation took.
 * Invariant: used <= held, and held is what the source granted (so, with leases, the sum over
 * an instance's processes never exceeds its quota). An allocation that fits in held - used is
 * a reserve hit: no round trip. A miss asks the source for the shortfall rounded up to the
 * chunk (migd suggests one in HELLO), or for the exact shortfall if the chunk is denied; a
 * refusal is CUDA_ERROR_OUT_OF_MEMORY. Frees give surplus back once the reserve exceeds two
 * chunks, keeping one, so allocation churn does not turn into lease traffic.
 *
 * The quota starts as the source's HELLO said, and follows the source's later answers (a
 * resize through migd): every cuMemGetInfo asks the source, and so does a grant larger than
 * the quota known allows, before it is refused.
 *
 * The table is an open-addressing hash table (linear probing, backward-shift deletion, no
 * tombstones) of fixed capacity, mapped once at set-up: no allocation afterwards. Charges
 * reserve their entry up front, so an allocation the driver made can always be recorded; a
 * full table refuses new allocations (-EMFILE, reported as out of memory) rather than
 * losing track of one. A fork child forgets every entry at once by bumping the table's
 * generation: an entry of an older generation is an empty slot.
 *
 * Every linear allocation, array and mipmapped array remembers the context that was current
 * when it was made: destroying that context (cuCtxDestroy, a primary context's reset or last
 * release) frees them in the driver, and their charges come back at once.
 *
 * Graph memory: each device's graph reservation is charged as the driver reports it, and the
 * table remembers the executable graphs that have memory alloc nodes (hooks-graph.c).
 *
 * The mutex is held across quota-source calls (one lease round trip on a reserve miss) and
 * across the driver's cuMemRelease, cuMemUnmap, context destruction, cuDeviceGraphMemTrim and
 * graph-reservation queries, but never across cuMemAlloc or cuMemFree.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "shim/quota.h"
#include "shim/shim.h"

/* One table entry: 32 bytes. */
struct slot {
    uint64_t key;  /* device pointer, array, handle or mapping start */
    uint64_t size; /* bytes charged (mappings: the length mapped, charged to their handle) */
    uint64_t aux;  /* MK_SHIM_LINEAR, _ARRAY, _MIPMAP: the context current at allocation (0:
                    * none known); MK_SHIM_HANDLE: references (low 32 bits), mappings (high
                    * 32); MK_SHIM_MAPPING: the handle mapped */
    uint32_t gen;  /* the table generation that wrote it */
    uint8_t kind;  /* enum mk_shim_kind; 0: empty */
};

/* Fibonacci hashing's multiplier, 2^64 / golden ratio: spreads aligned addresses. */
#define HASH_MUL UINT64_C(0x9E3779B97F4A7C15)
/* Smallest table, in entries. */
#define MIN_CAPACITY 1024u
/* Charges may fill the table to 3/4 (probe sequences stay short); VMM mappings and restored
 * entries may go to 7/8, and at least one slot always stays empty, which ends every probe. */
#define LIMIT_NUM 3u
#define LIMIT_DEN 4u
#define HARD_NUM  7u
#define HARD_DEN  8u
#define REFS_MASK UINT64_C(0xFFFFFFFF)
#define MAPS_ONE  (UINT64_C(1) << 32)

static struct {
    pthread_mutex_t lock;
    bool ready;
    struct quota_source *src;
    uint64_t quota, chunk;
    uint64_t used, held;
    struct slot *slots;
    uint64_t mask;    /* capacity - 1 (a power of two) */
    unsigned shift;   /* 64 - log2(capacity) */
    uint64_t count;   /* live entries */
    uint64_t pending; /* entries reserved by charges in flight */
    uint64_t limit, hard;
    uint32_t gen;
} acct = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- pool memory freed but not yet released (all under acct.lock, but for the atomics) ----
 *
 * The driver releases what a stream-ordered free puts above a pool's release threshold only
 * at the next synchronisation (measured on an H200, driver 580: not at the free, not a second
 * later). Until then the bytes stay charged, as a record (pool, stream, context) -> bytes; a
 * synchronisation that completes the stream returns the records it covers. PENDING_MAX records
 * are kept: a program rarely has frees awaiting a synchronisation on more than a few streams
 * at once. When they are all taken, the new bytes fold into the last record, whose differing
 * fields become "any" (the bytes then wait for a wider synchronisation, never a narrower one).
 *
 * seq numbers every record update: a synchronisation returns only the records last updated
 * before it started (their frees were enqueued before it), so a free enqueued by another
 * thread while it waited keeps its charge. pend_n mirrors the number of records, so the
 * synchronisation hooks cost one atomic load when nothing awaits (the usual case). */
#define PENDING_MAX 64
/* Stream keys that are no handle (handles are pointers; CU_STREAM_LEGACY and _PER_THREAD are
 * 1 and 2): bytes any synchronisation releases (a pool's cache above a lowered threshold:
 * those frees completed long ago), and bytes only a context synchronisation releases. */
#define STREAM_ANY_SYNC UINT64_MAX
#define STREAM_CTX_SYNC (UINT64_MAX - 1)
/* A pool or context field that no longer names one (a folded record). */
#define ANY_KEY 0

struct pending {
    uint64_t pool, stream, thread, ctx, bytes, seq;
};

static struct pending pend[PENDING_MAX];
static unsigned npend;
static _Atomic unsigned pend_n;
static _Atomic uint64_t pend_seq;

/* ---- the table (all under acct.lock) ---- */

static bool empty_at(uint64_t i)
{
    return acct.slots[i].kind == 0 || acct.slots[i].gen != acct.gen;
}

static uint64_t home(enum mk_shim_kind kind, uint64_t key)
{
    return ((key ^ (uint64_t)kind) * HASH_MUL) >> acct.shift;
}

/* The index of (kind, key), or -1. */
static int64_t find(enum mk_shim_kind kind, uint64_t key)
{
    for (uint64_t i = home(kind, key);; i = (i + 1) & acct.mask) {
        if (empty_at(i))
            return -1;
        if (acct.slots[i].kind == kind && acct.slots[i].key == key)
            return (int64_t)i;
    }
}

/* Inserts a new entry; the caller made sure the table has room and the key is absent. */
static void insert(enum mk_shim_kind kind, uint64_t key, uint64_t size, uint64_t aux)
{
    uint64_t i = home(kind, key);
    while (!empty_at(i))
        i = (i + 1) & acct.mask;
    acct.slots[i] =
        (struct slot){.key = key, .size = size, .aux = aux, .gen = acct.gen, .kind = (uint8_t)kind};
    acct.count++;
}

/* Removes entry i, shifting later entries of its probe run back (Knuth's Algorithm R), so
 * lookups never need tombstones. */
static void remove_at(uint64_t i)
{
    for (uint64_t j = i;;) {
        uint64_t k;
        j = (j + 1) & acct.mask;
        if (empty_at(j))
            break;
        k = home((enum mk_shim_kind)acct.slots[j].kind, acct.slots[j].key);
        /* Entry j may move to i unless its home lies cyclically in (i, j]. */
        if (((j - k) & acct.mask) >= ((j - i) & acct.mask)) {
            acct.slots[i] = acct.slots[j];
            i = j;
        }
    }
    acct.slots[i].kind = 0;
    acct.count--;
}

/* ---- quota (all under acct.lock) ---- */

/* Asks the source about the instance; its quota now replaces the one known (a resize). The
 * free bytes go to *ret_free (may be NULL). 0, or the source's error (nothing changed). */
static int refresh(uint64_t *ret_free)
{
    uint64_t others, quota;
    int r = acct.src->instance(acct.src, &others, &quota);
    if (r == 0) {
        acct.quota = quota;
        if (ret_free)
            *ret_free = others;
    }
    return r;
}

/* What the source could still grant this process under the quota known. A quota below what
 * is held (never from migd: a resize does not shrink below the grants) leaves no room. */
static uint64_t grantable(void)
{
    return acct.quota > acct.held ? acct.quota - acct.held : 0;
}

/* Gets need more bytes from the source: a chunk-rounded grant if possible, else the exact
 * shortfall. 0, -ENOSPC or the source's error. More than the quota known could grant asks
 * the source for the quota first: the instance may have grown since. */
static int refill(uint64_t need)
{
    uint64_t ask = need;
    int r;
    if (need > grantable() && (refresh(NULL) < 0 || need > grantable()))
        return -ENOSPC; /* more than the whole instance could grant this process */
    if (acct.chunk && grantable() >= acct.chunk && need <= grantable() - acct.chunk)
        ask = (need + acct.chunk - 1) / acct.chunk * acct.chunk;
    r = acct.src->grant(acct.src, ask);
    if (r == -ENOSPC && ask > need)
        r = acct.src->grant(acct.src, ask = need);
    if (r == 0)
        acct.held += ask;
    return r;
}

/* Gives surplus back: keeps at most one chunk spare once two have gathered. */
static void trim(void)
{
    uint64_t spare = acct.held - acct.used;
    if (spare > 2 * acct.chunk) {
        uint64_t give = spare - acct.chunk;
        acct.src->release(acct.src, give);
        acct.held -= give;
    }
}

/* Takes bytes off used and gives back what is surplus. */
static void give_back(uint64_t bytes)
{
    acct.used -= bytes;
    trim();
}

/* ---- the interface (shim.h) ---- */

int mk__shim_charge(uint64_t bytes, bool slot)
{
    int r = 0;
    pthread_mutex_lock(&acct.lock);
    if (!acct.ready)
        r = -ENODEV;
    else if (slot && acct.count + acct.pending >= acct.limit)
        r = -EMFILE;
    else if (bytes > acct.held - acct.used)
        r = refill(bytes - (acct.held - acct.used));
    if (r == 0) {
        acct.used += bytes;
        acct.pending += slot;
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

void mk__shim_uncharge(uint64_t bytes, bool slot)
{
    pthread_mutex_lock(&acct.lock);
    acct.pending -= slot;
    give_back(bytes);
    pthread_mutex_unlock(&acct.lock);
}

/* Drops a stale entry (kind, key), returning its charge: the driver handed out a key the
 * table still holds, so that allocation went away by a path the shim does not see, and the
 * driver has evidently reused the memory. */
static void heal(enum mk_shim_kind kind, uint64_t key)
{
    int64_t old;
    if ((old = find(kind, key)) >= 0) {
        acct.used -= acct.slots[old].size;
        remove_at((uint64_t)old);
    }
}

void mk__shim_commit(enum mk_shim_kind kind, uint64_t key, uint64_t bytes, uint64_t aux)
{
    pthread_mutex_lock(&acct.lock);
    acct.pending--;
    heal(kind, key);
    /* A device pointer is one allocation whichever way it was made. */
    if (kind == MK_SHIM_LINEAR || kind == MK_SHIM_POOLED)
        heal(kind == MK_SHIM_LINEAR ? MK_SHIM_POOLED : MK_SHIM_LINEAR, key);
    insert(kind, key, bytes, kind == MK_SHIM_HANDLE ? 1 : aux);
    trim();
    pthread_mutex_unlock(&acct.lock);
}

bool mk__shim_forget(enum mk_shim_kind kind, uint64_t key, struct mk_shim_entry *ret)
{
    int64_t i = -1;
    pthread_mutex_lock(&acct.lock);
    if (acct.ready && (i = find(kind, key)) < 0 && kind == MK_SHIM_LINEAR)
        i = find(kind = MK_SHIM_POOLED, key);
    if (i >= 0) {
        *ret = (struct mk_shim_entry){
            .kind = kind, .key = key, .bytes = acct.slots[i].size, .aux = acct.slots[i].aux};
        remove_at((uint64_t)i);
    }
    pthread_mutex_unlock(&acct.lock);
    return i >= 0;
}

void mk__shim_restore(const struct mk_shim_entry *e)
{
    pthread_mutex_lock(&acct.lock);
    if (find(e->kind, e->key) < 0)
        insert(e->kind, e->key, e->bytes, e->aux);
    pthread_mutex_unlock(&acct.lock);
}

void mk__shim_credit(uint64_t bytes)
{
    pthread_mutex_lock(&acct.lock);
    give_back(bytes);
    pthread_mutex_unlock(&acct.lock);
}

/* ---- memory pools ----
 *
 * A pool the shim knows of has an entry (MK_SHIM_POOL): size is its cached charge, bytes the
 * pool may keep after frees; aux its release threshold. cached <= threshold always. A pool
 * without an entry has threshold 0 and nothing cached (every pool starts so), and a freed
 * allocation's charge goes straight back. Entries are made only when a threshold is set. */

static int64_t pool_at(uint64_t pool)
{
    return pool ? find(MK_SHIM_POOL, pool) : -1;
}

/* Drops pool entry i once it says no more than a missing one would. */
static void pool_settle(int64_t i)
{
    if (acct.slots[i].size == 0 && acct.slots[i].aux == 0)
        remove_at((uint64_t)i);
}

static void pend_add(uint64_t pool, const struct mk_shim_stream *s, uint64_t ctx, uint64_t bytes);

/* The stream key of bytes only a context synchronisation releases. */
static const struct mk_shim_stream ctx_sync = {STREAM_CTX_SYNC, 0};

/* Bytes of pool freed on stream s: the pool's cache takes them up to its threshold, the rest
 * stays charged until a synchronisation covers s. */
static void pool_keep(uint64_t pool, uint64_t bytes, const struct mk_shim_stream *s, uint64_t ctx)
{
    int64_t i = pool_at(pool);
    if (i >= 0) {
        uint64_t room = acct.slots[i].aux - acct.slots[i].size;
        uint64_t keep = bytes < room ? bytes : room;
        acct.slots[i].size += keep;
        bytes -= keep;
    }
    pend_add(pool, s, ctx, bytes);
}

/* A pooled allocation of bytes went back to pool by a synchronous free (cuMemFree): the pool
 * keeps up to its threshold, the rest is returned. */
static void pool_freed(uint64_t pool, uint64_t bytes)
{
    int64_t i = pool_at(pool);
    if (i >= 0) {
        uint64_t room = acct.slots[i].aux - acct.slots[i].size;
        uint64_t keep = bytes < room ? bytes : room;
        acct.slots[i].size += keep;
        bytes -= keep;
    }
    give_back(bytes);
}

/* Adds bytes freed into pool on stream s (in context ctx) to the records awaiting a
 * synchronisation. */
static void pend_add(uint64_t pool, const struct mk_shim_stream *s, uint64_t ctx, uint64_t bytes)
{
    struct pending *p = NULL;
    uint64_t seq = atomic_fetch_add(&pend_seq, 1) + 1;
    if (bytes == 0)
        return;
    for (unsigned i = 0; i < npend && !p; i++)
        if (pend[i].pool == pool && pend[i].stream == s->stream && pend[i].thread == s->thread &&
            pend[i].ctx == ctx)
            p = &pend[i];
    if (!p && npend < PENDING_MAX) {
        p = &pend[npend++];
        *p = (struct pending){pool, s->stream, s->thread, ctx, 0, 0};
        atomic_store(&pend_n, npend);
    } else if (!p) {
        p = &pend[PENDING_MAX - 1]; /* full: fold, widening what must synchronise */
        if (p->pool != pool)
            p->pool = ANY_KEY;
        if (p->stream != s->stream || p->thread != s->thread)
            p->stream = STREAM_CTX_SYNC, p->thread = 0;
        if (p->ctx != ctx)
            p->ctx = ANY_KEY;
    }
    p->bytes += bytes;
    p->seq = seq;
}

/* Drops record i (swap with the last). */
static void pend_drop(unsigned i)
{
    pend[i] = pend[--npend];
    atomic_store(&pend_n, npend);
}

/* Takes up to bytes from pool's awaiting records, for an allocation from that pool (the pool
 * hands freed blocks out again before it releases them). Returns the bytes taken. */
static uint64_t pend_take(uint64_t pool, uint64_t bytes)
{
    uint64_t got = 0;
    for (unsigned i = 0; i < npend && got < bytes && pool;) {
        if (pend[i].pool != pool) {
            i++;
            continue;
        }
        uint64_t t = pend[i].bytes < bytes - got ? pend[i].bytes : bytes - got;
        pend[i].bytes -= t;
        got += t;
        if (pend[i].bytes == 0)
            pend_drop(i);
        else
            i++;
    }
    return got;
}

/* Takes up to bytes of pool's cached charge, then of its awaiting records. */
static uint64_t pool_take(uint64_t pool, uint64_t bytes)
{
    int64_t i = pool_at(pool);
    uint64_t t = 0;
    if (i >= 0) {
        t = acct.slots[i].size < bytes ? acct.slots[i].size : bytes;
        acct.slots[i].size -= t;
    }
    return t + pend_take(pool, bytes - t);
}

bool mk__shim_sync_pending(uint64_t *ret_seq)
{
    if (atomic_load_explicit(&pend_n, memory_order_acquire) == 0)
        return false;
    *ret_seq = atomic_load(&pend_seq);
    return true;
}

/* Whether record p is released by a synchronisation of s (NULL: of context ctx). */
static bool pend_covered(const struct pending *p, const struct mk_shim_stream *s, uint64_t ctx)
{
    if (p->stream == STREAM_ANY_SYNC)
        return true;
    if (!s)
        return p->ctx == ctx || p->ctx == ANY_KEY;
    return p->stream == s->stream && p->thread == s->thread;
}

void mk__shim_synced(const struct mk_shim_stream *s, uint64_t ctx, uint64_t seq)
{
    pthread_mutex_lock(&acct.lock);
    for (unsigned i = 0; i < npend;) {
        if (pend[i].seq <= seq && pend_covered(&pend[i], s, ctx)) {
            acct.used -= pend[i].bytes;
            pend_drop(i);
        } else {
            i++;
        }
    }
    trim();
    pthread_mutex_unlock(&acct.lock);
}

int mk__shim_pool_charge(uint64_t pool, uint64_t bytes, uint64_t *ret_reused)
{
    uint64_t reuse = 0;
    int r = 0;
    pthread_mutex_lock(&acct.lock);
    if (!acct.ready) {
        r = -ENODEV;
    } else if (acct.count + acct.pending >= acct.limit) {
        r = -EMFILE;
    } else {
        /* The cached and awaiting charge becomes the allocation's; given back on a refusal. */
        reuse = pool_take(pool, bytes);
        if (bytes - reuse > acct.held - acct.used)
            r = refill(bytes - reuse - (acct.held - acct.used));
        if (r == 0) {
            acct.used += bytes - reuse;
            acct.pending++;
            *ret_reused = reuse;
        } else if (reuse) {
            pool_keep(pool, reuse, &ctx_sync, ANY_KEY);
        }
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

void mk__shim_pool_uncharge(uint64_t pool, uint64_t bytes, uint64_t reused)
{
    pthread_mutex_lock(&acct.lock);
    acct.pending--;
    /* What came from the pool goes back to it: the cache, or awaiting a synchronisation (it
     * may have come from a record whose stream is not known any more: a context's). */
    pool_keep(pool, reused, &ctx_sync, ANY_KEY);
    give_back(bytes - reused);
    pthread_mutex_unlock(&acct.lock);
}

void mk__shim_pool_reused(uint64_t pool, uint64_t bytes)
{
    pthread_mutex_lock(&acct.lock);
    give_back(pool_take(pool, bytes));
    pthread_mutex_unlock(&acct.lock);
}

void mk__shim_freed(const struct mk_shim_entry *e, const struct mk_shim_stream *s, uint64_t ctx)
{
    pthread_mutex_lock(&acct.lock);
    if (e->kind == MK_SHIM_POOLED && s)
        pool_keep(e->aux, e->bytes, s, ctx);
    else if (e->kind == MK_SHIM_POOLED)
        pool_freed(e->aux, e->bytes);
    else
        give_back(e->bytes);
    pthread_mutex_unlock(&acct.lock);
}

/* Pool's threshold is now value: an entry made if needed (false when the table has no room
 * for one), the cache above it returned. */
static bool pool_threshold(uint64_t pool, uint64_t value)
{
    int64_t i = pool_at(pool);
    if (i < 0) {
        if (value == 0)
            return true;
        if (acct.count >= acct.hard)
            return false;
        insert(MK_SHIM_POOL, pool, 0, value);
        return true;
    }
    acct.slots[i].aux = value;
    if (acct.slots[i].size > value) {
        /* The driver releases the excess at the next synchronisation, whichever stream's. */
        static const struct mk_shim_stream any = {STREAM_ANY_SYNC, 0};
        pend_add(pool, &any, ANY_KEY, acct.slots[i].size - value);
        acct.slots[i].size = value;
    }
    pool_settle(i);
    trim();
    return true;
}

CUresult mk__shim_pool_threshold(uint64_t pool, uint64_t value, mk_shim_pool_op *op, void *arg)
{
    CUresult r = CUDA_SUCCESS;
    pthread_mutex_lock(&acct.lock);
    if (!acct.ready || !pool) {
        r = op ? op(arg) : CUDA_SUCCESS;
    } else if (pool_at(pool) < 0 && value > 0 && acct.count >= acct.hard) {
        r = CUDA_ERROR_OUT_OF_MEMORY; /* no room to remember what the pool may keep */
    } else if (!op || (r = op(arg)) == CUDA_SUCCESS) {
        pool_threshold(pool, value);
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

CUresult mk__shim_pool_trim(uint64_t pool, uint64_t keep, __typeof__(cuMemPoolTrimTo) *real)
{
    CUresult r;
    int64_t i;
    pthread_mutex_lock(&acct.lock);
    r = real((CUmemoryPool)(uintptr_t)pool, keep);
    if (r == CUDA_SUCCESS && acct.ready && (i = pool_at(pool)) >= 0 && acct.slots[i].size > keep) {
        acct.used -= acct.slots[i].size - keep;
        acct.slots[i].size = keep;
        pool_settle(i);
        trim();
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

CUresult mk__shim_pool_destroy(uint64_t pool, __typeof__(cuMemPoolDestroy) *real)
{
    CUresult r;
    int64_t i;
    pthread_mutex_lock(&acct.lock);
    r = real((CUmemoryPool)(uintptr_t)pool);
    if (r == CUDA_SUCCESS && acct.ready && (i = pool_at(pool)) >= 0) {
        acct.used -= acct.slots[i].size;
        remove_at((uint64_t)i);
        trim();
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

/* ---- contexts ---- */

/* Returns the charge of every allocation made in context ctx: the linear memory, arrays and
 * mipmapped arrays the driver freed with it. A whole-table scan (the table's untouched pages
 * read as the shared zero page): contexts die rarely. An entry shifted back into the current
 * slot is looked at again before moving on. */
static void sweep_context(uint64_t ctx)
{
    for (uint64_t i = 0; i <= acct.mask;) {
        struct slot *s = &acct.slots[i];
        if (!empty_at(i) && s->aux == ctx &&
            (s->kind == MK_SHIM_LINEAR || s->kind == MK_SHIM_ARRAY || s->kind == MK_SHIM_MIPMAP)) {
            acct.used -= s->size;
            remove_at(i);
        } else {
            i++;
        }
    }
}

CUresult mk__shim_context_end(uint64_t ctx, mk_shim_ctx_op *op, void *arg)
{
    bool gone = false;
    CUresult r;
    pthread_mutex_lock(&acct.lock);
    r = op(arg, &gone);
    if (r == CUDA_SUCCESS && gone && ctx && acct.ready) {
        sweep_context(ctx);
        trim();
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

/* ---- graph memory ----
 *
 * graph_held[d] is the charge for device d's graph reservation, as the driver last reported
 * it. An executable graph with alloc nodes has an entry (MK_SHIM_GRAPH); graph_filter counts
 * those entries by a hash of their handle, so a launch of any other graph costs one atomic
 * load: 2^12 counters (16 KiB) keep a program's few such graphs apart from the rest. */
#define FILTER_BITS 12
static uint64_t graph_held[MK_SHIM_GRAPH_DEVICES];
static _Atomic uint32_t graph_filter[1u << FILTER_BITS];

static _Atomic uint32_t *filter_at(uint64_t exec)
{
    return &graph_filter[(exec * HASH_MUL) >> (64 - FILTER_BITS)];
}

bool mk__shim_graph_maybe(uint64_t exec)
{
    /* The program hands an executable graph to the launching thread with its own
     * synchronisation, which orders this load after the increment at instantiation. */
    return atomic_load_explicit(filter_at(exec), memory_order_acquire) != 0;
}

/* Drops graph entry i. */
static void graph_drop(int64_t i)
{
    atomic_fetch_sub(filter_at(acct.slots[i].key), 1);
    remove_at((uint64_t)i);
}

int mk__shim_graph_record(uint64_t exec, uint64_t bytes, uint64_t mask)
{
    int64_t i;
    int r = 0;
    if (bytes == 0 && !mk__shim_graph_maybe(exec))
        return 0;
    pthread_mutex_lock(&acct.lock);
    if (!acct.ready) {
        r = bytes ? -ENODEV : 0;
    } else {
        if ((i = find(MK_SHIM_GRAPH, exec)) >= 0)
            graph_drop(i);
        if (bytes && acct.count + acct.pending >= acct.limit) {
            r = -EMFILE;
        } else if (bytes) {
            insert(MK_SHIM_GRAPH, exec, bytes, mask);
            atomic_fetch_add(filter_at(exec), 1);
        }
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

/* Looks exec's entry up and, with take, removes it. */
static bool graph_lookup(uint64_t exec, bool take, uint64_t *ret_bytes, uint64_t *ret_mask)
{
    int64_t i = -1;
    pthread_mutex_lock(&acct.lock);
    if (acct.ready && (i = find(MK_SHIM_GRAPH, exec)) >= 0) {
        *ret_bytes = acct.slots[i].size;
        *ret_mask = acct.slots[i].aux;
        if (take)
            graph_drop(i);
    }
    pthread_mutex_unlock(&acct.lock);
    return i >= 0;
}

bool mk__shim_graph_find(uint64_t exec, uint64_t *ret_bytes, uint64_t *ret_mask)
{
    return graph_lookup(exec, false, ret_bytes, ret_mask);
}

bool mk__shim_graph_forget(uint64_t exec, uint64_t *ret_bytes, uint64_t *ret_mask)
{
    return graph_lookup(exec, true, ret_bytes, ret_mask);
}

/* Device d's graph charge becomes v. Growth needs grants like any charge; what the source
 * will not grant is not charged (the driver has the memory already: the next settle, or the
 * next launch's refusal, brings the two together). */
static void graph_set(int d, uint64_t v)
{
    uint64_t old = graph_held[d], grow;
    if (v <= old) {
        acct.used -= old - v;
        graph_held[d] = v;
        return;
    }
    grow = v - old;
    if (grow > acct.held - acct.used && refill(grow - (acct.held - acct.used)) < 0)
        grow = acct.held - acct.used;
    acct.used += grow;
    graph_held[d] = old + grow;
}

CUresult mk__shim_graph_settle(uint64_t mask, uint64_t tentative, mk_shim_pool_op *op, void *arg,
                               mk_shim_graph_reserved *reserved)
{
    CUresult r = CUDA_SUCCESS;
    pthread_mutex_lock(&acct.lock);
    if (op)
        r = op(arg);
    if (acct.ready && r == CUDA_SUCCESS) {
        acct.used -= tentative; /* the reservation, read below, takes its place */
        for (int d = 0; d < MK_SHIM_GRAPH_DEVICES; d++) {
            uint64_t v;
            if (!(mask >> d & 1) || (graph_held[d] == 0 && tentative == 0))
                continue;
            if (reserved(d, &v) == CUDA_SUCCESS) {
                graph_set(d, v);
            } else if (tentative) {
                /* The driver cannot tell: the launch's own charge stays, on this device. */
                graph_set(d, graph_held[d] + tentative);
                tentative = 0;
            }
        }
        trim();
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

/* ---- VMM: handles with references and mappings ---- */

void mk__shim_vmm_created(CUmemGenericAllocationHandle h, uint64_t bytes)
{
    mk__shim_commit(MK_SHIM_HANDLE, h, bytes, 0); /* one reference, no mapping */
}

void mk__shim_vmm_retained(CUmemGenericAllocationHandle h)
{
    int64_t i;
    pthread_mutex_lock(&acct.lock);
    if (acct.ready && (i = find(MK_SHIM_HANDLE, h)) >= 0)
        acct.slots[i].aux++;
    pthread_mutex_unlock(&acct.lock);
}

/* Handle entry i lost a reference or a mapping: when it has neither left, the driver has
 * freed its memory, and the charge comes back. */
static void settle_handle(int64_t i)
{
    if (acct.slots[i].aux == 0) {
        uint64_t bytes = acct.slots[i].size;
        remove_at((uint64_t)i);
        acct.used -= bytes;
    }
}

CUresult mk__shim_vmm_release(CUmemGenericAllocationHandle h, __typeof__(cuMemRelease) *real)
{
    int64_t i;
    CUresult r;
    pthread_mutex_lock(&acct.lock);
    r = real(h);
    if (r == CUDA_SUCCESS && acct.ready && (i = find(MK_SHIM_HANDLE, h)) >= 0 &&
        (acct.slots[i].aux & REFS_MASK) > 0) {
        acct.slots[i].aux--;
        settle_handle(i);
        trim();
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

int mk__shim_vmm_mapped(CUdeviceptr ptr, uint64_t size, CUmemGenericAllocationHandle h)
{
    int64_t i;
    int r = 0;
    pthread_mutex_lock(&acct.lock);
    if (!acct.ready || acct.count >= acct.hard) {
        r = -EMFILE;
    } else {
        /* Mappings of handles the shim does not count (imported ones) are recorded too, so
         * an unmap can walk a range mapping by mapping. */
        insert(MK_SHIM_MAPPING, ptr, size, h);
        if ((i = find(MK_SHIM_HANDLE, h)) >= 0)
            acct.slots[i].aux += MAPS_ONE;
    }
    pthread_mutex_unlock(&acct.lock);
    return r;
}

/* Drops mapping entry i and its hold on its handle. */
static void unmap_entry(int64_t i)
{
    uint64_t h = acct.slots[i].aux;
    int64_t j;
    remove_at((uint64_t)i);
    if ((j = find(MK_SHIM_HANDLE, h)) >= 0 && acct.slots[j].aux >= MAPS_ONE) {
        acct.slots[j].aux -= MAPS_ONE;
        settle_handle(j);
    }
}

/* Drops every mapping that starts in [ptr, end): the slow path, a whole-table scan, for a
 * range the walk could not follow. An entry shifted back into the current slot is looked at
 * again before moving on. */
static void unmap_scan(uint64_t ptr, uint64_t end)
{
    for (uint64_t i = 0; i <= acct.mask;) {
        struct slot *s = &acct.slots[i];
        if (!empty_at(i) && s->kind == MK_SHIM_MAPPING && s->key >= ptr && s->key < end)
            unmap_entry((int64_t)i);
        else
            i++;
    }
}

CUresult mk__shim_vmm_unmap(CUdeviceptr ptr, uint64_t size, __typeof__(cuMemUnmap) *real)
{
    CUresult r;
    uint64_t p = ptr, end = ptr + size;
    pthread_mutex_lock(&acct.lock);
    r = real(ptr, size);
    /* The driver unmaps whole mappings laid end to end: follow them from ptr. */
    while (r == CUDA_SUCCESS && acct.ready && p < end) {
        int64_t i = find(MK_SHIM_MAPPING, p);
        if (i < 0) {
            unmap_scan(p, end);
            break;
        }
        p += acct.slots[i].size ? acct.slots[i].size : end - p;
        unmap_entry(i);
    }
    if (r == CUDA_SUCCESS && acct.ready)
        trim();
    pthread_mutex_unlock(&acct.lock);
    return r;
}

/* ---- reporting ---- */

void mk__shim_meminfo(uint64_t *ret_free, uint64_t *ret_total)
{
    uint64_t others, mine, spare;
    bool known;
    pthread_mutex_lock(&acct.lock);
    /* The source's answer carries the quota now, so a resized instance shows its new total
     * (and its free memory is bounded by it) from this call on. */
    known = acct.ready && refresh(&others) == 0;
    spare = acct.held - acct.used;
    mine = acct.quota > acct.used ? acct.quota - acct.used : 0;
    /* What the instance has free: what the source says is free outside this process, plus
     * this process's unused reserve; never more than the quota minus this process's use. */
    if (known && mine >= spare && others <= mine - spare)
        *ret_free = others + spare;
    else
        *ret_free = mine;
    *ret_total = acct.quota;
    pthread_mutex_unlock(&acct.lock);
}

void mk__shim_account_stats(uint64_t *ret_used, uint64_t *ret_held)
{
    pthread_mutex_lock(&acct.lock);
    *ret_used = acct.used;
    *ret_held = acct.held;
    pthread_mutex_unlock(&acct.lock);
}

/* ---- set-up and fork ---- */

int mk__shim_account_init(struct quota_source *src, uint64_t quota, uint64_t chunk,
                          uint64_t max_allocs)
{
    uint64_t cap = MIN_CAPACITY;
    unsigned bits = 10; /* log2(MIN_CAPACITY) */
    void *p;
    while (cap / LIMIT_DEN * LIMIT_NUM < max_allocs && bits < 40) {
        cap <<= 1;
        bits++;
    }
    p = mmap(NULL, cap * sizeof(struct slot), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    pthread_mutex_lock(&acct.lock);
    acct.src = src;
    acct.quota = quota;
    acct.chunk = chunk;
    acct.slots = p;
    acct.mask = cap - 1;
    acct.shift = 64 - bits;
    acct.limit = cap / LIMIT_DEN * LIMIT_NUM;
    acct.hard = cap / HARD_DEN * HARD_NUM;
    acct.gen = 1;
    acct.ready = true;
    pthread_mutex_unlock(&acct.lock);
    return 0;
}

void mk__shim_account_prepare(void)
{
    pthread_mutex_lock(&acct.lock);
    if (acct.ready)
        acct.src->atfork_prepare(acct.src);
}

void mk__shim_account_parent(void)
{
    if (acct.ready)
        acct.src->atfork_parent(acct.src);
    pthread_mutex_unlock(&acct.lock);
}

/* The child holds no device memory and no grant: everything starts from zero. */
void mk__shim_account_child(void)
{
    if (acct.ready) {
        acct.src->atfork_child(acct.src);
        acct.used = acct.held = acct.count = acct.pending = 0;
        npend = 0;
        atomic_store(&pend_n, 0);
        memset(graph_held, 0, sizeof(graph_held));
        for (size_t i = 0; i < sizeof(graph_filter) / sizeof(graph_filter[0]); i++)
            atomic_store(&graph_filter[i], 0);
        acct.gen = acct.gen + 1 ? acct.gen + 1 : 1;
    }
    pthread_mutex_unlock(&acct.lock);
}
