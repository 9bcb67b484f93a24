/*
 * lease-storm.c - a storm of lease clients against a real migd, driven by a test script
 * (tests/daemon/lease.py, crash.py) over stdin and stdout.
 *
 *     lease-storm SOCKET PROCS THREADS QUOTA
 *
 * Forks PROCS processes, each with one lease client (the shim's model: one connection per
 * process) shared by THREADS threads that grant and release random sizes. Each thread's
 * requests come from a fixed seed (its process and thread index), so every run asks for the
 * same things; only the interleaving differs.
 *
 * The clients' count. Every process adds a grant to a counter in shared memory only once it
 * was acknowledged, subtracts before it releases, and subtracts what it still holds before
 * its connection closes (by mk_lease_client_free or by exiting: either way migd releases it
 * then). So at every instant the counter is at most what migd counts, which must never exceed
 * QUOTA whatever happens to migd: a count above QUOTA is a "violation". (Forgetting the last
 * subtraction makes the count include the grants of processes that have exited, which migd
 * rightly hands out again to the processes still running: a false violation.)
 *
 * migd's own view, inside the storm: every INFO_EVERY operations a thread asks INFO, whose
 * granted (the instance's sum) must not exceed QUOTA ("over"). A migd that is down or
 * restarting makes calls fail ("errors"); the threads wait a millisecond and go on, and the
 * client re-registers by itself.
 *
 * Commands, one per line; each answer is one line:
 *   (at start)  -> "pids P1 P2 ..."          the processes, waiting for "go"
 *   go          -> "ok"                      (re)start the storm
 *   pause       -> "held H violations V over O mismatches M errors E reconnects R denials D"
 *                  every thread idle, then each process PINGs (re-registering if migd
 *                  restarted) and compares migd's record for its connection, its client's
 *                  count and its threads' count ("mismatches" otherwise). H is then exactly
 *                  what migd must count for the instance.
 *   quit        -> the same line as pause, once every process has exited; H must be 0 (and
 *                  migd must then count 0 for them). The exit status is 1 when a process
 *                  did not exit with 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migkit/lease.h"

#define MAX_PROCS   64
#define MAX_THREADS 64
/* Grants a thread keeps at most before it gives some back. */
#define SLOTS 8
/* Grant sizes are log-uniform from 4 KiB (2^12) to 16 MiB (2^24): 128 threads holding up to
 * 8 of them (about 1.2 MiB on average each) ask several times a 256 MiB quota, so the storm
 * spends its time at the quota's edge, where exactness matters. */
#define SIZE_MIN_SHIFT 12
#define SIZE_SHIFTS    13
/* One operation in 16 is followed by an INFO: often enough to sample migd's sum thousands of
 * times a second, rarely enough to leave the storm mostly grants and releases. */
#define INFO_EVERY 16

struct shared {
    atomic_int run;    /* 1: storm, 0: pause, -1: quit */
    atomic_uint epoch; /* bumped by every pause: each process acknowledges it once */
    _Atomic int64_t total;
    _Atomic uint64_t violations, over, mismatches, errors, reconnects, denials;
    atomic_uint idle[MAX_PROCS];     /* threads of each process waiting */
    atomic_uint acked[MAX_PROCS];    /* epoch each process acknowledged */
    _Atomic int64_t mine[MAX_PROCS]; /* what the threads of each process hold */
};

static struct shared *sh;
static uint64_t quota;
static unsigned nthreads;
static struct mk_lease_client *cl;

static void nap(void)
{
    usleep(1000);
}

/* Counts bytes (negative: given back) for process proc, and checks the total. */
static void count(int proc, int64_t bytes)
{
    atomic_fetch_add(&sh->mine[proc], bytes);
    if (atomic_fetch_add(&sh->total, bytes) + bytes > (int64_t)quota)
        atomic_fetch_add(&sh->violations, 1);
}

/* migd's sum for the instance, through this process's connection. */
static void sample(void)
{
    struct mk_lease_info in;
    if (mk_lease_info(cl, &in, NULL) < 0)
        atomic_fetch_add(&sh->errors, 1), nap();
    else if (in.granted > quota || in.quota_bytes != quota)
        atomic_fetch_add(&sh->over, 1);
}

/* One grant or one release, chosen by the thread's seed. */
static void step(int proc, unsigned *seed, uint64_t *held, int *n)
{
    if (*n < SLOTS && rand_r(seed) % 2) {
        uint64_t b = UINT64_C(1) << (SIZE_MIN_SHIFT + rand_r(seed) % SIZE_SHIFTS);
        int r = mk_lease_grant(cl, b, NULL, NULL);
        if (r == 0) {
            count(proc, (int64_t)b);
            held[(*n)++] = b;
        } else if (r == -ENOSPC) {
            atomic_fetch_add(&sh->denials, 1);
        } else {
            atomic_fetch_add(&sh->errors, 1);
            nap();
        }
    } else if (*n > 0) {
        uint64_t b = held[--*n];
        count(proc, -(int64_t)b);
        if (mk_lease_release(cl, b, NULL) < 0) /* effective anyway (lease.h) */
            atomic_fetch_add(&sh->errors, 1), nap();
    }
}

/* A thread of the storm; arg is (process << 16) | thread. It keeps what it holds at the end:
 * the process gives it all back at once (its connection closes). */
static void *storm(void *arg)
{
    /* A fixed, distinct seed per thread: the same requests in every run. */
    unsigned seed = (unsigned)(uintptr_t)arg + 1;
    uint64_t held[SLOTS] = {0};
    int n = 0, proc = (int)((uintptr_t)arg >> 16);
    unsigned ops = 0;
    while (atomic_load(&sh->run) >= 0) {
        if (atomic_load(&sh->run) == 0) {
            atomic_fetch_add(&sh->idle[proc], 1);
            while (atomic_load(&sh->run) == 0)
                nap();
            atomic_fetch_sub(&sh->idle[proc], 1);
            continue;
        }
        step(proc, &seed, held, &n);
        if (++ops % INFO_EVERY == 0)
            sample();
    }
    atomic_fetch_add(&sh->idle[proc], 1);
    return NULL;
}

/* Answers a pause: PING until migd answers (re-registering after a restart), then compare
 * the three counts of what this process holds. */
static void check(int proc)
{
    uint64_t server_held = 0;
    int r;
    while ((r = mk_lease_ping(cl, &server_held, NULL)) < 0 && atomic_load(&sh->run) == 0)
        nap(); /* migd still starting */
    if (r == 0 &&
        (server_held != mk_lease_held(cl) || (int64_t)server_held != atomic_load(&sh->mine[proc])))
        atomic_fetch_add(&sh->mismatches, 1);
}

static int child(int proc)
{
    pthread_t t[MAX_THREADS];
    unsigned seen = 0;
    if (mk_lease_client_new(getenv("LEASE_STORM_SOCKET"), 0, &cl, NULL) < 0)
        return 1;
    while (atomic_load(&sh->run) == 0 && atomic_load(&sh->epoch) == 0)
        nap();
    for (unsigned i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, storm, (void *)(((uintptr_t)proc << 16) | i));
    for (;;) {
        unsigned e = atomic_load(&sh->epoch);
        if (e != seen && atomic_load(&sh->idle[proc]) == nthreads) {
            check(proc);
            seen = e;
            atomic_store(&sh->acked[proc], e);
        }
        if (atomic_load(&sh->run) < 0 && atomic_load(&sh->idle[proc]) == nthreads)
            break;
        nap();
    }
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    atomic_fetch_add(&sh->reconnects, mk_lease_reconnects(cl));
    if ((int64_t)mk_lease_held(cl) != atomic_load(&sh->mine[proc]))
        atomic_fetch_add(&sh->mismatches, 1);
    /* Out of the count before the connection closes, which releases it on migd's side. */
    count(proc, -atomic_load(&sh->mine[proc]));
    /* Half the processes close their client, the others just exit: both release. */
    if (proc % 2)
        mk_lease_client_free(cl);
    return 0;
}

static void report(void)
{
    printf("held %lld violations %llu over %llu mismatches %llu errors %llu reconnects %llu "
           "denials %llu\n",
           (long long)atomic_load(&sh->total), (unsigned long long)atomic_load(&sh->violations),
           (unsigned long long)atomic_load(&sh->over),
           (unsigned long long)atomic_load(&sh->mismatches),
           (unsigned long long)atomic_load(&sh->errors),
           (unsigned long long)atomic_load(&sh->reconnects),
           (unsigned long long)atomic_load(&sh->denials));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char line[64];
    pid_t pids[MAX_PROCS], parent;
    int procs, failed = 0;
    if (argc != 5 || strlen(argv[1]) == 0 || (procs = atoi(argv[2])) < 1 || procs > MAX_PROCS ||
        (nthreads = (unsigned)atoi(argv[3])) < 1 || nthreads > MAX_THREADS)
        return fprintf(stderr, "usage: lease-storm SOCKET PROCS THREADS QUOTA\n"), 2;
    quota = strtoull(argv[4], NULL, 10);
    setenv("LEASE_STORM_SOCKET", argv[1], 1);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    printf("pids");
    fflush(stdout);
    parent = getpid();
    for (int i = 0; i < procs; i++) {
        if ((pids[i] = fork()) == 0) {
            /* A test that fails kills the storm's parent: its processes go with it rather
             * than wait for commands for ever. */
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
            _exit(child(i));
        }
        printf(" %d", (int)pids[i]);
    }
    printf("\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        if (!strcmp(line, "go\n")) {
            atomic_store(&sh->run, 1);
            printf("ok\n");
            fflush(stdout);
        } else if (!strcmp(line, "pause\n")) {
            unsigned e = atomic_fetch_add(&sh->epoch, 1) + 1;
            atomic_store(&sh->run, 0);
            for (int i = 0; i < procs; i++)
                while (atomic_load(&sh->acked[i]) != e)
                    nap();
            report();
        } else if (!strcmp(line, "quit\n")) {
            break;
        }
    }
    atomic_store(&sh->run, -1);
    for (int i = 0; i < procs; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++; /* e.g. a sanitizer's report in the client library */
    }
    report();
    return failed ? 1 : 0;
}
