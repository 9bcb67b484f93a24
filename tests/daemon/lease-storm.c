/*
 * lease-storm.c - a storm of lease clients against a real migd, driven by a test script
 * (tests/daemon/lease.py, crash.py) over stdin and stdout.
 *
 *     lease-storm SOCKET PROCS THREADS QUOTA
 *
 * Forks PROCS processes, each with one lease client (the shim's model: one connection per
 * process) shared by THREADS threads that grant and release random sizes. Every process adds
 * a grant to a counter in shared memory only once it was acknowledged, and subtracts before it
 * releases: that counter never exceeds what migd counts, so it must never exceed QUOTA
 * whatever happens to migd (a "violation" otherwise). A migd that is down or restarting makes
 * calls fail; the threads wait a millisecond and go on, and the client re-registers by itself.
 *
 * Commands, one per line; each answer is one line:
 *   (at start)  -> "pids P1 P2 ..."          the processes, waiting for "go"
 *   go          -> "ok"                      (re)start the storm
 *   pause       -> "held H violations V mismatches M errors E reconnects R"
 *                  every thread idle, then each process PINGs (re-registering if migd
 *                  restarted) and compares migd's record for it with its own count
 *   quit        -> the same line as pause, after every process exited (closing its
 *                  connection: migd must then count 0 for them)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migkit/lease.h"

#define MAX_PROCS 64
/* Grants a thread keeps at most before it gives some back. */
#define SLOTS 8
/* Grant sizes are log-uniform from 4 KiB (2^12) to 16 MiB (2^24). */
#define SIZE_MIN_SHIFT 12
#define SIZE_SHIFTS    13

struct shared {
    atomic_int run;    /* 1: storm, 0: pause, -1: quit */
    atomic_uint epoch; /* bumped by every pause: each process acknowledges it once */
    _Atomic int64_t total;
    _Atomic uint64_t violations, mismatches, errors, reconnects;
    atomic_uint idle[MAX_PROCS];  /* threads of each process waiting */
    atomic_uint acked[MAX_PROCS]; /* epoch each process acknowledged */
};

static struct shared *sh;
static uint64_t quota;
static unsigned nthreads;
static struct mk_lease_client *cl;

static void nap(void)
{
    usleep(1000);
}

static void *storm(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg ^ (unsigned)getpid();
    uint64_t held[SLOTS] = {0};
    int n = 0, proc = (int)((uintptr_t)arg >> 16);
    while (atomic_load(&sh->run) >= 0) {
        if (atomic_load(&sh->run) == 0) {
            atomic_fetch_add(&sh->idle[proc], 1);
            while (atomic_load(&sh->run) == 0)
                nap();
            atomic_fetch_sub(&sh->idle[proc], 1);
            continue;
        }
        if (n < SLOTS && rand_r(&seed) % 2) {
            uint64_t b = UINT64_C(1) << (SIZE_MIN_SHIFT + rand_r(&seed) % SIZE_SHIFTS);
            int r = mk_lease_grant(cl, b, NULL, NULL);
            if (r == 0) {
                if (atomic_fetch_add(&sh->total, (int64_t)b) + (int64_t)b > (int64_t)quota)
                    atomic_fetch_add(&sh->violations, 1);
                held[n++] = b;
            } else if (r != -ENOSPC) {
                atomic_fetch_add(&sh->errors, 1);
                nap();
            }
        } else if (n > 0) {
            uint64_t b = held[--n];
            atomic_fetch_sub(&sh->total, (int64_t)b);
            if (mk_lease_release(cl, b, NULL) < 0) /* effective anyway (lease.h) */
                atomic_fetch_add(&sh->errors, 1), nap();
        }
    }
    atomic_fetch_add(&sh->idle[proc], 1);
    return NULL;
}

/* Answers each pause: once every thread is idle, PING (re-registering) and compare. */
static int child(int proc)
{
    pthread_t t[64];
    unsigned seen = 0;
    int r;
    char path[108];
    struct mk_error err = {0};
    snprintf(path, sizeof(path), "%s", getenv("LEASE_STORM_SOCKET"));
    if (mk_lease_client_new(path, 0, &cl, &err) < 0)
        return 1;
    while (atomic_load(&sh->run) == 0 && atomic_load(&sh->epoch) == 0)
        nap();
    for (unsigned i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, storm, (void *)(((uintptr_t)proc << 16) | i));
    for (;;) {
        unsigned e = atomic_load(&sh->epoch);
        if (e != seen && atomic_load(&sh->idle[proc]) == nthreads) {
            uint64_t server_held = 0;
            while ((r = mk_lease_ping(cl, &server_held, &err)) < 0 && atomic_load(&sh->run) == 0)
                nap(); /* migd still starting */
            if (r == 0 && server_held != mk_lease_held(cl))
                atomic_fetch_add(&sh->mismatches, 1);
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
    /* Half the processes close their client, the others just exit: both release. */
    if (proc % 2)
        mk_lease_client_free(cl);
    return 0;
}

static void report(void)
{
    printf("held %lld violations %llu mismatches %llu errors %llu reconnects %llu\n",
           (long long)atomic_load(&sh->total), (unsigned long long)atomic_load(&sh->violations),
           (unsigned long long)atomic_load(&sh->mismatches),
           (unsigned long long)atomic_load(&sh->errors),
           (unsigned long long)atomic_load(&sh->reconnects));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char line[64];
    pid_t pids[MAX_PROCS];
    int procs;
    if (argc != 5 || (procs = atoi(argv[2])) < 1 || procs > MAX_PROCS ||
        (nthreads = (unsigned)atoi(argv[3])) < 1 || nthreads > 64)
        return fprintf(stderr, "usage: lease-storm SOCKET PROCS THREADS QUOTA\n"), 2;
    quota = strtoull(argv[4], NULL, 10);
    setenv("LEASE_STORM_SOCKET", argv[1], 1);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    printf("pids");
    fflush(stdout);
    for (int i = 0; i < procs; i++) {
        if ((pids[i] = fork()) == 0)
            _exit(child(i));
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
    for (int i = 0; i < procs; i++)
        waitpid(pids[i], NULL, 0);
    report();
    return 0;
}
