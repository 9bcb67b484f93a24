/*
 * mini-migd.c - lease-mini-migd, the server half of the crash test: the real lease server
 * (src/daemon/lease.c) behind the test registry (quota.c), whose state lives in a file shared
 * with the test harness (crash.h), and nothing else of migd. Leases are connection-bound, so
 * like migd it keeps no lease on disk: each start resets the sums, and the clients that
 * survived re-register what they hold.
 *
 *     lease-mini-migd SOCKET SHARED_FILE GENERATION
 *
 * It runs a re-registration grace that ends once every client of the test (nclients distinct
 * pids) has said HELLO, publishes GENERATION once it listens, and serves until SIGTERM or
 * SIGINT (clean stop) or SIGKILL (the point of the test).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crash.h"

static struct crash_shared *sh;
static struct lease_server *_Atomic srv;

/* End the grace once every client re-registered. Called on the server thread, possibly
 * before lease_server_start has returned the server (main checks again after). */
static void maybe_end_grace(void)
{
    struct lease_server *s = atomic_load(&srv);
    if (s && atomic_load(&sh->tq.nhello_pids) >= sh->nclients)
        lease_server_end_grace(s);
}

static int hello(void *ctx, pid_t pid, uid_t uid, uint64_t held, struct lease_limits *out)
{
    int r = tq_ops.hello(ctx, pid, uid, held, out);
    if (r == 0)
        maybe_end_grace();
    return r;
}

int main(int argc, char **argv)
{
    struct lease_ops ops = tq_ops;
    struct lease_options opt = {.grace_ms = CRASH_GRACE_MS};
    struct lease_server *s;
    struct mk_error err = {0};
    sigset_t set;
    int fd, sig;
    if (argc != 4) {
        fprintf(stderr, "usage: lease-mini-migd SOCKET SHARED_FILE GENERATION\n");
        return 2;
    }
    fd = open(argv[2], O_RDWR | O_CLOEXEC);
    sh = fd < 0 ? MAP_FAILED : mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (sh == MAP_FAILED) {
        perror(argv[2]);
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before the server thread exists */
    tq_reset(&sh->tq);
    ops.hello = hello;
    if (lease_server_start(argv[1], &ops, &sh->tq, &opt, &s, &err) < 0) {
        fprintf(stderr, "lease-mini-migd: %s\n", mk_strerror(&err));
        return 1;
    }
    atomic_store(&srv, s);
    maybe_end_grace();
    atomic_store(&sh->server_gen, atoi(argv[3]));
    sigwait(&set, &sig);
    lease_server_stop(s);
    return 0;
}
