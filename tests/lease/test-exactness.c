/*
 * test-exactness.c - the exactness proof of issue 6: 16 processes x 8 threads of lease
 * clients race grants and releases of random sizes on one instance; the instance's sum never
 * exceeds its quota, and it ends at zero once every client has exited.
 *
 * Two independent witnesses:
 *   - the server side: the test registry (quota.c) re-checks sum <= quota after every grant
 *     and counts releases that would take the sum below zero;
 *   - the client side: every process adds what it was granted to a counter in shared memory
 *     only after the grant was acknowledged, and subtracts before it releases. That counter
 *     is a lower bound of what the server counts at every instant, so it must never exceed
 *     the quota either, whatever the server's bookkeeping claims. Each client also asks the
 *     server (PING) what it holds for its connection and compares with its own count.
 * Half the threads give everything back at the end; the others leave it to the connection's
 * close (half the processes close the client, the others just exit), which must release it.
 *
 * MK_LEASE_EXACT_OPS sets the operations per thread (default 2000).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "migkit/lease.h"
#include "quota.h"

#define PROCS       16
#define THREADS     8
#define OPS_DEFAULT 2000
#define MiB         (UINT64_C(1) << 20)
/* The quota is small against the demand (128 threads holding up to SLOTS grants of up to
 * 32 MiB each), so most of the run is spent at the edge of the quota, where it matters. */
#define QUOTA (256 * MiB)
#define SLOTS 16
/* Grant sizes are log-uniform from 4 KiB (2^12) to 32 MiB (2^25). */
#define SIZE_MIN_SHIFT 12
#define SIZE_SHIFTS    14

/* Shared by all processes (MAP_SHARED before fork). */
struct shared {
    _Atomic int64_t client_total; /* what the clients believe they hold, all together */
    _Atomic int64_t client_max;
    _Atomic uint64_t client_violations, grants, denials, releases, errors, mismatches;
};

static struct shared *sh;
static struct mk_lease_client *cl;
static unsigned ops_per_thread = OPS_DEFAULT;

static void note_error(const char *what, int r, const struct mk_error *err)
{
    if (atomic_fetch_add(&sh->errors, 1) < 5)
        fprintf(stderr, "pid %d: %s: %d (%s)\n", (int)getpid(), what, r, mk_strerror(err));
}

static void client_add(int64_t bytes)
{
    int64_t now = atomic_fetch_add(&sh->client_total, bytes) + bytes, max;
    if (now > (int64_t)QUOTA)
        atomic_fetch_add(&sh->client_violations, 1);
    max = atomic_load(&sh->client_max);
    while (now > max && !atomic_compare_exchange_weak(&sh->client_max, &max, now))
        ;
}

static uint64_t random_size(unsigned *seed)
{
    uint64_t base = UINT64_C(1) << (SIZE_MIN_SHIFT + rand_r(seed) % SIZE_SHIFTS);
    return base + (uint64_t)rand_r(seed) % base;
}

static void release_one(uint64_t *held, int *n, int i)
{
    struct mk_error err = {0};
    uint64_t b = held[i];
    int r;
    held[i] = held[--*n];
    client_add(-(int64_t)b);
    if ((r = mk_lease_release(cl, b, &err)) < 0)
        note_error("release", r, &err);
    atomic_fetch_add(&sh->releases, 1);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u + (unsigned)getpid();
    uint64_t held[SLOTS];
    int n = 0;
    for (unsigned op = 0; op < ops_per_thread; op++) {
        struct mk_error err = {0};
        uint64_t bytes, avail = 0;
        int r;
        if (n > 0 && (n == SLOTS || rand_r(&seed) % 2)) {
            release_one(held, &n, rand_r(&seed) % n);
            continue;
        }
        bytes = random_size(&seed);
        r = mk_lease_grant(cl, bytes, &avail, &err);
        if (r == 0) {
            held[n++] = bytes;
            client_add((int64_t)bytes);
            atomic_fetch_add(&sh->grants, 1);
        } else if (r == -ENOSPC) {
            atomic_fetch_add(&sh->denials, 1);
            if (avail >= bytes) /* denied although the reply says it fitted */
                note_error("denial with enough free", (int)avail, &err);
        } else {
            note_error("grant", r, &err);
        }
    }
    if ((uintptr_t)arg % 2 == 0)
        while (n > 0)
            release_one(held, &n, n - 1);
    return NULL;
}

/* One client process: waits for the go, races, checks its lease with the server, exits. */
static void child(int index, int go_fd, const char *path)
{
    pthread_t t[THREADS];
    struct mk_error err = {0};
    uint64_t server_held = 0, held;
    char c;
    if (read(go_fd, &c, 1) != 0 || mk_lease_client_new(path, 0, &cl, &err) < 0)
        _exit(2);
    for (uintptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            _exit(3);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    held = mk_lease_held(cl);
    if (mk_lease_ping(cl, &server_held, &err) < 0 || server_held != held) {
        fprintf(stderr, "pid %d: server holds %llu for us, we hold %llu (%s)\n", (int)getpid(),
                (unsigned long long)server_held, (unsigned long long)held, mk_strerror(&err));
        atomic_fetch_add(&sh->mismatches, 1);
    }
    /* What is still held goes back when the connection closes. */
    client_add(-(int64_t)held);
    if (index % 2)
        mk_lease_client_free(cl);
    _exit(0);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failed = 1;                                                                            \
        }                                                                                          \
    } while (0)

/* Prints what happened and checks it. Returns 1 when a check failed. */
static int report(struct tq *q, uint64_t ms)
{
    struct tq_instance *in = &q->inst[0];
    int failed = 0;
    CHECK(WAIT_UNTIL(tq_sum(q, 0) == 0), "sum %llu after every client exited",
          (unsigned long long)tq_sum(q, 0));
    printf("%d processes x %d threads x %u operations in %llu ms (%.0f requests/s)\n", PROCS,
           THREADS, ops_per_thread, (unsigned long long)ms,
           (double)(PROCS * THREADS * ops_per_thread) * 1000.0 / (double)(ms ? ms : 1));
    printf("grants %llu, denials %llu, releases %llu (server: %llu grants, %llu denials, %llu "
           "releases incl. closes)\n",
           (unsigned long long)sh->grants, (unsigned long long)sh->denials,
           (unsigned long long)sh->releases, (unsigned long long)in->grants,
           (unsigned long long)in->denials, (unsigned long long)in->releases);
    printf("quota %llu, highest sum %llu (server) / %lld (clients), final sum %llu\n",
           (unsigned long long)QUOTA, (unsigned long long)in->max_sum, (long long)sh->client_max,
           (unsigned long long)tq_sum(q, 0));
    CHECK(in->violations == 0, "%llu server-side violations", (unsigned long long)in->violations);
    CHECK(in->max_sum <= QUOTA, "server sum reached %llu", (unsigned long long)in->max_sum);
    CHECK(sh->client_violations == 0, "%llu client-side violations",
          (unsigned long long)sh->client_violations);
    CHECK(sh->client_total == 0, "clients still count %lld", (long long)sh->client_total);
    CHECK(sh->errors == 0, "%llu errors", (unsigned long long)sh->errors);
    CHECK(sh->mismatches == 0, "%llu clients disagree with the server",
          (unsigned long long)sh->mismatches);
    CHECK(sh->grants == in->grants, "grants: clients %llu, server %llu",
          (unsigned long long)sh->grants, (unsigned long long)in->grants);
    CHECK(sh->denials > 0 && in->max_sum > QUOTA / 2, "the race never reached the quota");
    return failed;
}

int main(void)
{
    char dir[] = "/tmp/mk-lease-exact-XXXXXX", path[96];
    struct tq *q = calloc(1, sizeof(*q));
    struct lease_server *srv;
    struct mk_error err = {0};
    pid_t pids[PROCS];
    int go[2], failed = 0;
    uint64_t t0, ms;
    const char *env = getenv("MK_LEASE_EXACT_OPS");
    if (env && atoi(env) > 0)
        ops_per_thread = (unsigned)atoi(env);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!q || sh == MAP_FAILED || !mkdtemp(dir) || pipe(go) < 0)
        return 2;
    snprintf(path, sizeof(path), "%s/lease.sock", dir);
    /* Children first, while this process has no thread and no server fd to leak. */
    for (int i = 0; i < PROCS; i++) {
        if ((pids[i] = fork()) == 0) {
            close(go[1]);
            child(i, go[0], path);
        }
        if (pids[i] < 0)
            return 2;
    }
    close(go[0]);
    tq_init(q, true);
    tq_add_instance(q, QUOTA);
    tq_add_member(q, getpid(), 0); /* the children belong through their parent */
    if (lease_server_start(path, &tq_ops, q, NULL, &srv, &err) < 0) {
        fprintf(stderr, "lease_server_start: %s\n", mk_strerror(&err));
        return 2;
    }
    t0 = test_now_ms();
    close(go[1]); /* go */
    for (int i = 0; i < PROCS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %#x", i, status);
    }
    ms = test_now_ms() - t0;
    failed |= report(q, ms);
    lease_server_stop(srv);
    free(q);
    rmdir(dir);
    printf("%s\n", failed ? "FAILED" : "PASSED");
    return failed;
}
