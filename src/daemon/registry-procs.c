/*
 * registry-procs.c - the registry's table of registered processes (registry-internal.h): an
 * unordered array, so that views and per-instance counts are plain scans, and an index by
 * (pid, start time), so that finding one process, adding one and removing one cost O(1)
 * whatever the number registered.
 *
 * The index is open addressing with linear probing. A slot holds an array position plus one
 * (0 is an empty slot), and the table has at least twice as many slots as the array has room
 * for rows, so it is never more than half full and probe sequences stay short. Removal shifts
 * the following entries of the probe sequence back (no tombstones), so lookups never degrade
 * however many processes come and go. Every function here runs with reg->lock held.
 */
#include <errno.h>
#include <string.h>

#include "registry-internal.h"

/* Rows of the array when the first process registers: one allocation covers a small node. */
#define PROCS_INITIAL 64

/* 2^64 / the golden ratio, the multiplier of Fibonacci hashing (Knuth, TAOCP 6.4): it spreads
 * consecutive pids, which is what a launcher registering a job array produces, over the
 * whole table. */
#define HASH_MULT UINT64_C(0x9E3779B97F4A7C15)

static size_t home_slot(const struct registry *reg, pid_t pid, uint64_t start_time)
{
    uint64_t h = (((uint64_t)(uint32_t)pid << 32) ^ start_time) * HASH_MULT;
    return (size_t)(h >> 32) & (reg->pindex_cap - 1);
}

static size_t home_of(const struct registry *reg, uint32_t entry)
{
    const struct store_process *p = &reg->procs[entry - 1];
    return home_slot(reg, p->pid, p->start_time);
}

/* Puts array position i in the index (there is a free slot: the index is at most half full). */
static void index_insert(struct registry *reg, size_t i)
{
    size_t mask = reg->pindex_cap - 1;
    size_t s = home_slot(reg, reg->procs[i].pid, reg->procs[i].start_time);
    while (reg->pindex[s])
        s = (s + 1) & mask;
    reg->pindex[s] = (uint32_t)(i + 1);
}

/* The slot that holds array position i (which is indexed). */
static size_t index_slot(const struct registry *reg, size_t i)
{
    size_t mask = reg->pindex_cap - 1;
    size_t s = home_slot(reg, reg->procs[i].pid, reg->procs[i].start_time);
    while (reg->pindex[s] != i + 1)
        s = (s + 1) & mask;
    return s;
}

/*
 * Empties slot s, then walks the rest of its probe run and moves back every entry whose home
 * slot does not lie (cyclically) between the hole and the entry's own slot: such an entry
 * would be unreachable from its home once the hole is empty.
 */
static void index_delete_slot(struct registry *reg, size_t s)
{
    size_t mask = reg->pindex_cap - 1, j = s;
    for (;;) {
        j = (j + 1) & mask;
        if (!reg->pindex[j])
            break;
        size_t h = home_of(reg, reg->pindex[j]);
        /* h in (s, j], cyclically: the entry is still reachable; leave it */
        if (s <= j ? (s < h && h <= j) : (s < h || h <= j))
            continue;
        reg->pindex[s] = reg->pindex[j];
        s = j;
    }
    reg->pindex[s] = 0;
}

/* Rebuilds the index from the array, into a table of cap slots (a power of two, at least twice
 * the rows). The old table is freed only on success. */
static int index_rebuild(struct registry *reg, size_t cap)
{
    uint32_t *t = mk__calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    mk__free(reg->pindex);
    reg->pindex = t;
    reg->pindex_cap = cap;
    for (size_t i = 0; i < reg->nprocs; i++)
        index_insert(reg, i);
    return 0;
}

int reg_procs_reserve(struct registry *reg)
{
    size_t cap;
    if (reg->nprocs < reg->cap_procs)
        return 0;
    cap = reg->cap_procs ? reg->cap_procs * 2 : PROCS_INITIAL;
    /* Positions are stored as uint32_t plus one: far beyond any pid space (Linux's pid_max is
     * at most 2^22), so only a runaway would reach this. */
    if (cap >= UINT32_MAX / 2)
        return -ENOMEM;
    struct store_process *n = mk__realloc(reg->procs, cap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    reg->procs = n;
    reg->cap_procs = cap;
    /* The index follows the array's capacity, so adding a row never needs to grow it. */
    return index_rebuild(reg, 2 * cap);
}

void reg_procs_add(struct registry *reg, const struct store_process *p)
{
    reg->procs[reg->nprocs] = *p;
    index_insert(reg, reg->nprocs++);
}

void reg_procs_remove_at(struct registry *reg, size_t i)
{
    size_t last = reg->nprocs - 1;
    index_delete_slot(reg, index_slot(reg, i));
    if (i != last) {
        /* the last row moves into the hole: its slot now names position i */
        reg->pindex[index_slot(reg, last)] = (uint32_t)(i + 1);
        reg->procs[i] = reg->procs[last];
    }
    reg->nprocs--;
}

void reg_procs_reindex(struct registry *reg)
{
    if (reg->pindex_cap) {
        memset(reg->pindex, 0, reg->pindex_cap * sizeof(*reg->pindex));
        for (size_t i = 0; i < reg->nprocs; i++)
            index_insert(reg, i);
    }
}

struct store_process *reg_find_process(struct registry *reg, pid_t pid, uint64_t start_time)
{
    size_t mask, s;
    if (!reg->pindex_cap)
        return NULL;
    mask = reg->pindex_cap - 1;
    for (s = home_slot(reg, pid, start_time); reg->pindex[s]; s = (s + 1) & mask) {
        struct store_process *p = &reg->procs[reg->pindex[s] - 1];
        if (p->pid == pid && p->start_time == start_time)
            return p;
    }
    return NULL;
}

void reg_procs_free(struct registry *reg)
{
    mk__free(reg->procs);
    mk__free(reg->pindex);
}
