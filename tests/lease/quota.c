/*
 * quota.c - the test registry of the lease tests (quota.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "quota.h"

/* Deepest parent chain walked: test processes are children or grandchildren of a member. */
#define PARENT_DEPTH_MAX 8

void tq_init(struct tq *q, bool walk_parents)
{
    memset(q, 0, sizeof(*q));
    q->walk_parents = walk_parents;
}

int tq_add_instance(struct tq *q, uint64_t quota)
{
    int i = q->ninst++;
    struct tq_instance *in = &q->inst[i];
    snprintf(in->uuid, sizeof(in->uuid), "MIG-test-%d", i);
    snprintf(in->name, sizeof(in->name), "Test GPU MIG custom %d", i);
    in->quota = quota;
    in->sms = 16;
    in->chunk = UINT64_C(64) << 20;
    return i;
}

void tq_add_member(struct tq *q, pid_t pid, int inst)
{
    int n = atomic_load(&q->nmembers);
    q->members[n].pid = pid;
    q->members[n].inst = inst;
    atomic_store(&q->nmembers, n + 1);
}

uint64_t tq_sum(struct tq *q, int inst)
{
    return atomic_load(&q->inst[inst].sum);
}

void tq_reset(struct tq *q)
{
    for (int i = 0; i < q->ninst; i++) {
        struct tq_instance *in = &q->inst[i];
        atomic_store(&in->sum, 0);
        atomic_store(&in->grants, 0);
        atomic_store(&in->denials, 0);
        atomic_store(&in->releases, 0);
        atomic_store(&in->hellos, 0);
    }
    atomic_store(&q->nhello_pids, 0);
}

/* Parent of pid from /proc/PID/stat (field 4, after the parenthesised command name, which
 * may itself hold spaces and parentheses: hence the last ')'). 0 when unknown. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    ssize_t n;
    int fd, ppid = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

static int instance_of(struct tq *q, pid_t pid)
{
    for (int depth = 0; pid > 1 && depth < PARENT_DEPTH_MAX; depth++) {
        int n = atomic_load(&q->nmembers);
        for (int i = 0; i < n; i++)
            if (q->members[i].pid == pid)
                return q->members[i].inst;
        if (!q->walk_parents)
            break;
        pid = parent_of(pid);
    }
    return -1;
}

static struct tq_instance *find(struct tq *q, const char *uuid)
{
    for (int i = 0; i < q->ninst; i++)
        if (strcmp(q->inst[i].uuid, uuid) == 0)
            return &q->inst[i];
    return NULL;
}

/* Adds bytes to in's sum if it stays within the quota; counts a violation if, after the add,
 * the sum is above the quota anyway (a second, independent check of the invariant). */
static int reserve(struct tq_instance *in, uint64_t bytes, uint64_t *ret_free)
{
    uint64_t cur = atomic_load(&in->sum), max;
    do {
        if (bytes > in->quota || cur > in->quota - bytes) {
            if (ret_free)
                *ret_free = cur < in->quota ? in->quota - cur : 0;
            return -ENOSPC;
        }
    } while (!atomic_compare_exchange_weak(&in->sum, &cur, cur + bytes));
    cur += bytes;
    if (cur > in->quota)
        atomic_fetch_add(&in->violations, 1);
    max = atomic_load(&in->max_sum);
    while (cur > max && !atomic_compare_exchange_weak(&in->max_sum, &max, cur))
        ;
    return 0;
}

static void remember_hello(struct tq *q, pid_t pid)
{
    int n = atomic_load(&q->nhello_pids);
    for (int i = 0; i < n; i++)
        if (atomic_load(&q->hello_pids[i]) == pid)
            return;
    if (n < TQ_MAX_HELLO_PIDS) {
        atomic_store(&q->hello_pids[n], pid);
        atomic_store(&q->nhello_pids, n + 1);
    }
}

static int tq_hello(void *ctx, pid_t pid, uid_t uid, uint64_t held, struct lease_limits *out)
{
    struct tq *q = ctx;
    int fail = atomic_load(&q->fail_hello), i;
    struct tq_instance *in;
    (void)uid;
    if (fail)
        return fail;
    if ((i = instance_of(q, pid)) < 0)
        return -ESRCH;
    in = &q->inst[i];
    if (held > 0 && reserve(in, held, NULL) < 0)
        return -ENOSPC;
    atomic_fetch_add(&in->hellos, 1);
    remember_hello(q, pid);
    snprintf(out->instance, sizeof(out->instance), "%s", in->uuid);
    snprintf(out->name, sizeof(out->name), "%s", in->name);
    out->quota_bytes = in->quota;
    out->sms = in->sms;
    out->chunk_bytes = in->chunk;
    return 0;
}

static int tq_grant(void *ctx, const char *instance, pid_t pid, uint64_t bytes, uint64_t *ret_free)
{
    struct tq_instance *in = find(ctx, instance);
    int r;
    (void)pid;
    if (!in)
        return -ENOENT;
    r = reserve(in, bytes, ret_free);
    atomic_fetch_add(r == 0 ? &in->grants : &in->denials, 1);
    return r;
}

static void tq_release(void *ctx, const char *instance, pid_t pid, uint64_t bytes)
{
    struct tq_instance *in = find(ctx, instance);
    (void)pid;
    if (!in)
        return;
    /* Releasing more than the sum would wrap: count it as a violation. */
    if (atomic_fetch_sub(&in->sum, bytes) < bytes)
        atomic_fetch_add(&in->violations, 1);
    atomic_fetch_add(&in->releases, 1);
}

static int tq_info(void *ctx, const char *instance, uint64_t *ret_quota, uint64_t *ret_granted)
{
    struct tq_instance *in = find(ctx, instance);
    if (!in)
        return -ENOENT;
    *ret_quota = in->quota;
    *ret_granted = atomic_load(&in->sum);
    return 0;
}

static bool tq_grace_over(void *ctx)
{
    struct tq *q = ctx;
    return atomic_load(&q->track_survivors) && atomic_load(&q->survivors) == 0;
}

const struct lease_ops tq_ops = {
    .hello = tq_hello,
    .grant = tq_grant,
    .release = tq_release,
    .info = tq_info,
    .grace_over = tq_grace_over,
};
