/*
 * test-crash.c - the crash test of issue 6 for leases: a lease storm against lease-mini-migd
 * (the real server, mini-migd.c), which is killed with SIGKILL at random moments and
 * restarted, round after round.
 *
 *     test-lease-crash PATH/TO/lease-mini-migd      (MK_LEASE_CRASH_ROUNDS=N: N rounds, 200)
 *
 * CLIENTS processes of THREADS threads each share one lease client per process and grant and
 * release random sizes without pause. Each round: the storm runs a random time, mini-migd is
 * killed with SIGKILL and restarted after a random delay (one round in four kills the new
 * server again within half a millisecond, in the middle of the re-registrations), the storm
 * goes on against the new server, and then the harness checks consistency: every client parks its
 * threads, makes sure it is registered with the new server (PING) and reports what it holds; the
 * new server's sum for the instance must equal the sum of what the clients hold (no leak, no loss),
 * and each client's count must equal what the server records for its connection. Throughout, the
 * clients' own total (counted after a grant is acknowledged, before a release is sent) must never
 * exceed the quota, across restarts too, which is what the re-registration grace guarantees. At the
 * end, every client exits and the sum returns to 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "crash.h"
#include "migkit/lease.h"

#define CLIENTS        6
#define THREADS        4
#define ROUNDS_DEFAULT 200
#define MiB            (UINT64_C(1) << 20)
#define QUOTA          (128 * MiB)
#define SLOTS          8
/* Grant sizes are log-uniform from 64 KiB (2^16) to 16 MiB (2^24). */
#define SIZE_MIN_SHIFT 16
#define SIZE_SHIFTS    9
/* Pause of a client thread after a connection error (server down), in microseconds. */
#define RETRY_US 200
/* Storm before a kill: up to 8 ms; one round in four adds a kill at most 0.5 ms after the
 * restart, while the clients re-register. */
#define STORM_US       8000
#define STORM_SHORT_US 500
/* Down time between the kill and the restart, and storm after the restart: up to 3 / 5 ms. */
#define DOWN_US  3000
#define AFTER_US 5000
/* Longest wait for a server to listen or for the clients to check in. */
#define WAIT_LONG_MS 15000

static struct crash_shared *sh;
static struct mk_lease_client *cl;
static struct crash_client *me;

static void client_add(int64_t bytes)
{
    if (atomic_fetch_add(&sh->client_total, bytes) + bytes > (int64_t)QUOTA)
        atomic_fetch_add(&sh->client_violations, 1);
}

static void note_error(const char *what, int r, const struct mk_error *err)
{
    if (atomic_fetch_add(&me->errors, 1) < 5)
        fprintf(stderr, "pid %d: %s: %d (%s)\n", (int)getpid(), what, r, mk_strerror(err));
}

/* Errors that only mean the server is down or was killed under the request. */
static bool server_gone(int r)
{
    return r == -ECONNREFUSED || r == -ENOENT || r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN;
}

static void release_one(uint64_t *held, int *n, int i)
{
    struct mk_error err = {0};
    uint64_t b = held[i];
    int r;
    held[i] = held[--*n];
    client_add(-(int64_t)b);
    /* Effective whatever happens; an error only says the server was down. */
    if ((r = mk_lease_release(cl, b, &err)) < 0 && !server_gone(r))
        note_error("release", r, &err);
}

static void grant_one(uint64_t *held, int *n, unsigned *seed)
{
    struct mk_error err = {0};
    uint64_t base = UINT64_C(1) << (SIZE_MIN_SHIFT + rand_r(seed) % SIZE_SHIFTS);
    uint64_t bytes = base + (uint64_t)rand_r(seed) % base;
    int r = mk_lease_grant(cl, bytes, NULL, &err);
    if (r == 0) {
        held[(*n)++] = bytes;
        client_add((int64_t)bytes);
        atomic_fetch_add(&me->grants, 1);
    } else if (r == -ENOSPC) {
        atomic_fetch_add(&me->denials, 1);
    } else if (server_gone(r)) {
        atomic_fetch_add(&me->refused, 1);
        test_sleep_us(RETRY_US);
    } else {
        note_error("grant", r, &err);
        test_sleep_us(RETRY_US);
    }
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 104729u + (unsigned)getpid();
    uint64_t held[SLOTS];
    int n = 0;
    while (!atomic_load(&sh->stop)) {
        if (atomic_load(&sh->pause)) {
            atomic_fetch_add(&me->parked, 1);
            while (atomic_load(&sh->pause) && !atomic_load(&sh->stop))
                test_sleep_us(100);
            atomic_fetch_sub(&me->parked, 1);
            continue;
        }
        if (n > 0 && (n == SLOTS || rand_r(&seed) % 2))
            release_one(held, &n, rand_r(&seed) % n);
        else
            grant_one(held, &n, &seed);
    }
    if ((uintptr_t)arg % 2 == 0)
        while (n > 0)
            release_one(held, &n, n - 1);
    return NULL;
}

/* Checks in for a round: with every thread parked, registers with the server now running
 * (PING reconnects if needed) and compares its count with the server's. */
static void check_in(int round)
{
    struct mk_error err = {0};
    uint64_t server_held = 0, held;
    int r;
    while (atomic_load(&me->parked) < THREADS)
        test_sleep_us(100);
    while ((r = mk_lease_ping(cl, &server_held, &err)) < 0) {
        if (!server_gone(r))
            note_error("ping", r, &err);
        test_sleep_us(RETRY_US);
    }
    held = mk_lease_held(cl);
    if (server_held != held) {
        fprintf(stderr, "pid %d round %d: server holds %llu for us, we hold %llu\n", (int)getpid(),
                round, (unsigned long long)server_held, (unsigned long long)held);
        atomic_fetch_add(&me->mismatches, 1);
    }
    atomic_store(&me->held, held);
    atomic_store(&me->reconnects, mk_lease_reconnects(cl));
    atomic_store(&me->acked, round);
}

static void client_main(int index, const char *path)
{
    pthread_t t[THREADS];
    struct mk_error err = {0};
    uint64_t held;
    me = &sh->client[index];
    if (mk_lease_client_new(path, CRASH_CLIENT_TIMEOUT_MS, &cl, &err) < 0)
        _exit(2);
    for (uintptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            _exit(3);
    while (!atomic_load(&sh->stop)) {
        int round = atomic_load(&sh->round);
        if (atomic_load(&sh->pause) && round != atomic_load(&me->acked))
            check_in(round);
        else
            test_sleep_us(100);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    held = mk_lease_held(cl);
    atomic_store(&me->held, held);
    client_add(-(int64_t)held); /* the close releases it */
    if (index % 2)
        mk_lease_client_free(cl);
    _exit(0);
}

/* ------------------------------------------------------------------------------------------ */

static const char *mini_migd, *sock_path, *shared_path;
static int failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failed = 1;                                                                            \
        }                                                                                          \
    } while (0)

/* Starts generation gen of mini-migd and waits until it listens. */
static pid_t server_start(int gen)
{
    char g[16];
    pid_t pid;
    snprintf(g, sizeof(g), "%d", gen);
    if ((pid = fork()) == 0) {
        execl(mini_migd, mini_migd, sock_path, shared_path, g, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || !WAIT_UNTIL(atomic_load(&sh->server_gen) == gen)) {
        fprintf(stderr, "FAIL: generation %d of %s did not start\n", gen, mini_migd);
        exit(1);
    }
    return pid;
}

static void server_kill(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "FAIL: mini-migd ended with status %#x before it was killed\n", status);
        exit(1);
    }
}

/* Parks the clients, checks the sum against what they hold, lets them go on. */
static void check_round(int round)
{
    uint64_t held = 0, s;
    atomic_store(&sh->round, round);
    atomic_store(&sh->pause, 1);
    for (int k = 0; k < CLIENTS; k++) {
        uint64_t end = test_now_ms() + WAIT_LONG_MS;
        while (atomic_load(&sh->client[k].acked) != round && test_now_ms() < end)
            test_sleep_us(100);
        if (atomic_load(&sh->client[k].acked) != round) {
            fprintf(stderr, "FAIL: round %d: client %d did not check in\n", round, k);
            exit(1);
        }
        held += atomic_load(&sh->client[k].held);
    }
    s = tq_sum(&sh->tq, 0);
    CHECK(s == held, "round %d: the server counts %llu, the clients hold %llu", round,
          (unsigned long long)s, (unsigned long long)held);
    atomic_store(&sh->pause, 0);
}

static void sleep_random(unsigned *seed, long max_us)
{
    test_sleep_us(rand_r(seed) % max_us);
}

static void final_checks(int rounds, pid_t *clients, uint64_t ms)
{
    uint64_t grants = 0, denials = 0, refused = 0, errors = 0, mismatches = 0;
    for (int k = 0; k < CLIENTS; k++) {
        struct crash_client *c = &sh->client[k];
        int status;
        waitpid(clients[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client %d: status %#x", k, status);
        CHECK(c->reconnects >= (uint64_t)rounds, "client %d reconnected %llu times in %d rounds", k,
              (unsigned long long)c->reconnects, rounds);
        grants += c->grants, denials += c->denials, refused += c->refused;
        errors += c->errors, mismatches += c->mismatches;
    }
    CHECK(WAIT_UNTIL(tq_sum(&sh->tq, 0) == 0), "sum %llu after every client exited",
          (unsigned long long)tq_sum(&sh->tq, 0));
    printf("%d rounds (SIGKILL + restart) in %llu ms; %d processes x %d threads\n", rounds,
           (unsigned long long)ms, CLIENTS, THREADS);
    printf("grants %llu, denials %llu, requests refused while down %llu, reconnects >= %d "
           "per client\n",
           (unsigned long long)grants, (unsigned long long)denials, (unsigned long long)refused,
           rounds);
    printf("quota %llu, highest sum %llu, final sum %llu\n", (unsigned long long)QUOTA,
           (unsigned long long)sh->tq.inst[0].max_sum, (unsigned long long)tq_sum(&sh->tq, 0));
    CHECK(errors == 0, "%llu unexpected client errors", (unsigned long long)errors);
    CHECK(mismatches == 0, "%llu client/server disagreements", (unsigned long long)mismatches);
    CHECK(sh->client_violations == 0, "the clients held more than the quota %llu times",
          (unsigned long long)sh->client_violations);
    CHECK(sh->tq.inst[0].violations == 0, "%llu server-side violations",
          (unsigned long long)sh->tq.inst[0].violations);
    CHECK(sh->client_total == 0, "clients still count %lld", (long long)sh->client_total);
    CHECK(grants > 0 && denials > 0, "the storm never reached the quota");
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/mk-lease-crash-XXXXXX", sp[96], fp[96];
    const char *env = getenv("MK_LEASE_CRASH_ROUNDS");
    int rounds = env && atoi(env) > 0 ? atoi(env) : ROUNDS_DEFAULT, fd, status;
    unsigned seed = (unsigned)getpid();
    pid_t clients[CLIENTS], server;
    uint64_t t0;
    if (argc != 2 || !mkdtemp(dir)) {
        fprintf(stderr, "usage: test-lease-crash PATH/TO/lease-mini-migd\n");
        return 2;
    }
    mini_migd = argv[1];
    snprintf(sp, sizeof(sp), "%s/lease.sock", dir);
    snprintf(fp, sizeof(fp), "%s/shared", dir);
    sock_path = sp;
    shared_path = fp;
    fd = open(fp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, sizeof(*sh)) < 0 ||
        (sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        return 2;
    tq_init(&sh->tq, true);
    tq_add_instance(&sh->tq, QUOTA);
    tq_add_member(&sh->tq, getpid(), 0); /* clients belong through their parent, us */
    sh->nclients = CLIENTS;
    server = server_start(1);
    for (int k = 0; k < CLIENTS; k++)
        if ((clients[k] = fork()) == 0)
            client_main(k, sp);
    t0 = test_now_ms();
    for (int r = 1, gen = 1; r <= rounds; r++) {
        sleep_random(&seed, STORM_US);
        server_kill(server);
        sleep_random(&seed, DOWN_US);
        server = server_start(++gen);
        if (r % 4 == 0) { /* one more kill, in the middle of the re-registrations */
            sleep_random(&seed, STORM_SHORT_US);
            server_kill(server);
            server = server_start(++gen);
        }
        sleep_random(&seed, AFTER_US);
        check_round(r);
    }
    atomic_store(&sh->stop, 1);
    final_checks(rounds, clients, test_now_ms() - t0);
    kill(server, SIGTERM);
    waitpid(server, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "mini-migd stop: status %#x", status);
    unlink(sp);
    unlink(fp);
    rmdir(dir);
    printf("%s\n", failed ? "FAILED" : "PASSED");
    return failed;
}
