/*
 * quota.h - a test double of migd's registry for the lease server (src/daemon/lease.h): a few
 * instances with exact, atomic per-instance sums, and membership by a table of pids (with an
 * optional walk up the parent chain, as migd resolves children of registered processes).
 *
 * Every grant re-checks the invariant the lease protocol promises, sum <= quota, and counts
 * violations instead of trusting the compare-and-swap that enforces it; the tests assert the
 * count is 0. A struct tq holds no pointers, so it can live in memory shared between the
 * processes of a test (MAP_SHARED), which is how the crash test reads the sums of a server
 * running in another process.
 */
#ifndef MK_TEST_LEASE_QUOTA_H
#define MK_TEST_LEASE_QUOTA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/lease.h"

#define TQ_MAX_INSTANCES 4
#define TQ_MAX_MEMBERS   64
/* Distinct pids remembered per server lifetime (for "everyone has said HELLO"). */
#define TQ_MAX_HELLO_PIDS 256

struct tq_instance {
    char uuid[MK_LEASE_INSTANCE_MAX];
    char name[MK_LEASE_NAME_MAX];
    uint64_t quota;
    uint32_t sms;
    uint64_t chunk;
    _Atomic uint64_t sum;        /* granted and re-registered, minus released */
    _Atomic uint64_t max_sum;    /* highest sum seen */
    _Atomic uint64_t violations; /* grants after which sum > quota: must stay 0 */
    _Atomic uint64_t grants, denials, releases, hellos;
};

struct tq {
    struct tq_instance inst[TQ_MAX_INSTANCES];
    int ninst;
    struct {
        pid_t pid;
        int inst;
    } members[TQ_MAX_MEMBERS];
    _Atomic int nmembers;
    bool walk_parents;      /* a pid not in the table belongs to its closest member ancestor */
    _Atomic int fail_hello; /* when set, hello fails with this negative errno (tests) */
    /* The grace_over callback: true once track_survivors is set and survivors is 0. */
    atomic_bool track_survivors;
    _Atomic int survivors;
    _Atomic int nhello_pids;
    _Atomic pid_t hello_pids[TQ_MAX_HELLO_PIDS]; /* distinct pids that said HELLO */
};

/* The callbacks; ctx is a struct tq *. */
extern const struct lease_ops tq_ops;

/* Empties q. */
void tq_init(struct tq *q, bool walk_parents);

/* Adds an instance with quota bytes; returns its index. The uuid is "MIG-test-<index>". */
int tq_add_instance(struct tq *q, uint64_t quota);

/* Makes pid a member of instance inst. */
void tq_add_member(struct tq *q, pid_t pid, int inst);

/* Sum of instance inst. */
uint64_t tq_sum(struct tq *q, int inst);

/* Zeroes the sums and counters and forgets the HELLO pids (a new server lifetime), keeping
 * instances and members, and keeping max_sum and violations: a violation in an earlier
 * lifetime is never forgiven. */
void tq_reset(struct tq *q);

#endif /* MK_TEST_LEASE_QUOTA_H */
