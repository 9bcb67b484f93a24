/*
 * lease-sums.c - per-instance lease totals under one small lock (lease-sums.h).
 *
 * A flat array searched by UUID: a node keeps at most a few hundred instances (64 per GPU),
 * a lookup compares a few dozen bytes per entry and stays far below the round trip of a
 * request (about 10 microseconds), and the array is the whole data structure. The lock is a
 * mutex, held only for a lookup and an add; it is never held across anything that can block.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "migkit/common.h"
#include "migkit/geometry.h"
#include "lease-sums.h"

struct entry {
    char uuid[MK_UUID_LEN];
    uint64_t quota;   /* what grants are checked against */
    uint64_t granted; /* sum of the grants of the instance's connections */
};

struct lease_sums {
    pthread_mutex_t lock;
    struct entry *e;
    size_t n, cap;
};

/* First capacity of the table: room for a node's usual instances without a realloc. */
#define FIRST_CAP 16

int lease_sums_new(struct lease_sums **ret)
{
    struct lease_sums *s = mk__calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    *ret = s;
    return 0;
}

void lease_sums_free(struct lease_sums *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    mk__free(s->e);
    mk__free(s);
}

/* The entry of uuid, or NULL; s->lock held. */
static struct entry *find(struct lease_sums *s, const char *uuid)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].uuid, uuid))
            return &s->e[i];
    return NULL;
}

int lease_sums_add(struct lease_sums *s, const char *uuid, uint64_t quota)
{
    size_t len = strlen(uuid);
    int r = 0;
    if (len >= MK_UUID_LEN)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    if (find(s, uuid)) {
        r = -EEXIST;
    } else if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : FIRST_CAP;
        struct entry *e = mk__realloc(s->e, cap * sizeof(*e));
        if (!e)
            r = -ENOMEM;
        else
            s->e = e, s->cap = cap;
    }
    if (r == 0) {
        struct entry *e = &s->e[s->n++];
        memcpy(e->uuid, uuid, len + 1);
        e->quota = quota;
        e->granted = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

void lease_sums_remove(struct lease_sums *s, const char *uuid)
{
    struct entry *e;
    pthread_mutex_lock(&s->lock);
    if ((e = find(s, uuid)))
        *e = s->e[--s->n];
    pthread_mutex_unlock(&s->lock);
}

int lease_sums_set_quota(struct lease_sums *s, const char *uuid, uint64_t quota,
                         uint64_t *ret_granted)
{
    struct entry *e;
    int r = 0;
    pthread_mutex_lock(&s->lock);
    if (!(e = find(s, uuid))) {
        r = -ENOENT;
    } else {
        if (e->granted > quota)
            r = -EBUSY;
        else
            e->quota = quota;
        if (ret_granted)
            *ret_granted = e->granted;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int lease_sums_grant(struct lease_sums *s, const char *uuid, uint64_t bytes, uint64_t *ret_free)
{
    struct entry *e;
    int r = 0;
    pthread_mutex_lock(&s->lock);
    if (!(e = find(s, uuid))) {
        r = -ENOENT;
    } else {
        /* granted <= quota holds (set_quota never lowers the quota below it), so the
         * subtraction cannot wrap, and comparing bytes against it cannot overflow. */
        if (bytes > e->quota - e->granted)
            r = -ENOSPC;
        else
            e->granted += bytes;
        if (ret_free)
            *ret_free = e->quota - e->granted;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

void lease_sums_release(struct lease_sums *s, const char *uuid, uint64_t bytes)
{
    struct entry *e;
    pthread_mutex_lock(&s->lock);
    if ((e = find(s, uuid)))
        e->granted -= bytes < e->granted ? bytes : e->granted;
    pthread_mutex_unlock(&s->lock);
}

int lease_sums_info(struct lease_sums *s, const char *uuid, uint64_t *ret_quota,
                    uint64_t *ret_granted)
{
    struct entry *e;
    int r = -ENOENT;
    pthread_mutex_lock(&s->lock);
    if ((e = find(s, uuid))) {
        *ret_quota = e->quota;
        *ret_granted = e->granted;
        r = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}
