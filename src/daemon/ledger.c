/*
 * ledger.c - per-process lease grants and the grant counters (ledger.h).
 *
 * An unsorted array of (pid, held) searched linearly: it holds one entry per process that
 * holds memory now, at most the lease server's connection limit (4096), and it is touched once
 * per GRANT (a chunk of tens of MiB) and once per watchdog look-up, so a scan of a few
 * thousand entries is never the cost that matters.
 */
#include <errno.h>
#include <pthread.h>

#include "ledger.h"
#include "migkit/common.h"

struct entry {
    pid_t pid;
    uint64_t held;
};

struct ledger {
    pthread_mutex_t lock;
    struct entry *e;
    size_t n, cap;
    uint64_t grants, denials;
};

struct ledger *ledger_new(void)
{
    struct ledger *l = mk__calloc(1, sizeof(*l));
    if (l)
        pthread_mutex_init(&l->lock, NULL);
    return l;
}

void ledger_free(struct ledger *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    mk__free(l->e);
    mk__free(l);
}

/* The entry of pid, or NULL. The caller holds the lock. */
static struct entry *find(struct ledger *l, pid_t pid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i].pid == pid)
            return &l->e[i];
    return NULL;
}

/* The entry of pid, added when missing; NULL when out of memory. The caller holds the lock. */
static struct entry *find_or_add(struct ledger *l, pid_t pid)
{
    struct entry *e = find(l, pid);
    if (e)
        return e;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct entry *ne = mk__realloc(l->e, cap * sizeof(*ne));
        if (!ne)
            return NULL;
        l->e = ne;
        l->cap = cap;
    }
    l->e[l->n] = (struct entry){.pid = pid, .held = 0};
    return &l->e[l->n++];
}

void ledger_grant(struct ledger *l, pid_t pid, uint64_t bytes, bool granted)
{
    struct entry *e;
    pthread_mutex_lock(&l->lock);
    if (!granted) {
        l->denials++;
    } else {
        l->grants++;
        /* Out of memory loses the per-process figure only (the watchdog then sees less
         * granted than there is, and logs or kills a process it should not): never the
         * quota, which the registry keeps. */
        if ((e = find_or_add(l, pid)))
            e->held += bytes;
    }
    pthread_mutex_unlock(&l->lock);
}

void ledger_release(struct ledger *l, pid_t pid, uint64_t bytes)
{
    struct entry *e;
    pthread_mutex_lock(&l->lock);
    if ((e = find(l, pid))) {
        e->held -= bytes < e->held ? bytes : e->held;
        if (e->held == 0)
            *e = l->e[--l->n];
    }
    pthread_mutex_unlock(&l->lock);
}

uint64_t ledger_held(struct ledger *l, pid_t pid)
{
    struct entry *e;
    uint64_t held;
    pthread_mutex_lock(&l->lock);
    held = (e = find(l, pid)) ? e->held : 0;
    pthread_mutex_unlock(&l->lock);
    return held;
}

void ledger_stats(struct ledger *l, struct ledger_stats *ret)
{
    pthread_mutex_lock(&l->lock);
    *ret = (struct ledger_stats){.grants = l->grants, .denials = l->denials, .processes = l->n};
    pthread_mutex_unlock(&l->lock);
}
