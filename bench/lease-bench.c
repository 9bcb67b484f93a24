/*
 * lease-bench.c - throughput and latency of the lease protocol (docs/lease-protocol.md) over
 * its Unix socket: N client threads, each with its own connection (its own struct
 * mk_lease_client), loop GRANT b + RELEASE b as fast as the server answers, for a fixed time.
 *
 *     lease-bench [-t THREADS[,THREADS...]] [-d SECONDS] [-b BYTES]
 *
 * The server is the real one (src/daemon/lease.c) on its own thread in this process, behind
 * migd's own grant path: its callbacks call the lease totals of src/daemon/lease-sums.c, as
 * migd's registry does for GRANT, RELEASE and INFO (one small mutex, never the registry's). Clients
 * run in the same process as threads; on the wire and in the kernel that is the same as separate
 * processes (one connection each, SO_PEERCRED gives the same pid to all, which the bench's registry
 * ignores).
 *
 * Reported per thread count: requests per second (a GRANT or a RELEASE, each one round
 * trip), grant+release pairs per second, and the latency of single requests and of pairs
 * (p50, p99, p99.9, max), measured with CLOCK_MONOTONIC around each call. bench/README.md
 * has the numbers and how they were taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/lease-sums.h"
#include "daemon/lease.h"
#include "migkit/lease.h"

/* Latency histogram: 50 ns buckets up to 10 ms; slower samples land in the last bucket (the
 * maximum is tracked exactly). 200,000 buckets of 8 bytes: 1.6 MB per thread and kind. */
#define BUCKET_NS        50
#define BUCKETS          200000
#define THREADS_MAX      64
#define DURATION_DEFAULT 3
#define BYTES_DEFAULT    (UINT64_C(64) << 20)
/* Quota of the bench's instance: never the limit here, denials are not what is measured. */
#define BENCH_QUOTA (UINT64_C(1) << 48)

struct hist {
    uint64_t n, max_ns;
    uint64_t *b;
};

struct worker {
    pthread_t t;
    struct mk_lease_client *c;
    struct hist req, pair;
    uint64_t errors;
};

/* migd's lease totals (src/daemon/lease-sums.c): the bench's callbacks are migd's grant path. */
static struct lease_sums *sums;

#define BENCH_INSTANCE "MIG-bench"

static atomic_int go, stop;
static uint64_t bytes = BYTES_DEFAULT;

static int b_hello(void *ctx, pid_t pid, uid_t uid, uint64_t held, struct lease_limits *out)
{
    (void)ctx, (void)pid, (void)uid, (void)held;
    snprintf(out->instance, sizeof(out->instance), BENCH_INSTANCE);
    snprintf(out->name, sizeof(out->name), "bench MIG custom");
    out->quota_bytes = BENCH_QUOTA;
    out->sms = 1;
    return 0;
}

static int b_grant(void *ctx, const char *instance, pid_t pid, uint64_t n, uint64_t *ret_free)
{
    (void)ctx, (void)pid;
    return lease_sums_grant(sums, instance, n, ret_free);
}

static void b_release(void *ctx, const char *instance, pid_t pid, uint64_t n)
{
    (void)ctx, (void)pid;
    lease_sums_release(sums, instance, n);
}

static int b_info(void *ctx, const char *instance, uint64_t *ret_quota, uint64_t *ret_granted)
{
    (void)ctx;
    return lease_sums_info(sums, instance, ret_quota, ret_granted);
}

static const struct lease_ops bench_ops = {b_hello, b_grant, b_release, b_info, NULL};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void hist_add(struct hist *h, uint64_t ns)
{
    uint64_t i = ns / BUCKET_NS;
    h->b[i < BUCKETS ? i : BUCKETS - 1]++;
    h->n++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* Merges src into dst. */
static void hist_merge(struct hist *dst, const struct hist *src)
{
    for (size_t i = 0; i < BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->n += src->n;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

/* The q-quantile (nearest rank) in microseconds: the upper edge of its bucket. */
static double hist_quantile_us(const struct hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->n), seen = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank)
            return (double)((i + 1) * BUCKET_NS) / 1000.0;
    }
    return (double)h->max_ns / 1000.0;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&go))
        ;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t t0 = now_ns(), t1, t2;
        if (mk_lease_grant(w->c, bytes, NULL, NULL) < 0) {
            w->errors++;
            continue;
        }
        t1 = now_ns();
        if (mk_lease_release(w->c, bytes, NULL) < 0)
            w->errors++;
        t2 = now_ns();
        hist_add(&w->req, t1 - t0);
        hist_add(&w->req, t2 - t1);
        hist_add(&w->pair, t2 - t0);
    }
    return NULL;
}

static int hist_alloc(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->b = calloc(BUCKETS, sizeof(*h->b));
    return h->b ? 0 : -ENOMEM;
}

/* One run with n threads for secs seconds; prints one table row. */
static int run(const char *path, int n, int secs)
{
    struct worker w[THREADS_MAX];
    struct hist req, pair;
    struct mk_error err = {0};
    uint64_t errors = 0, t0, ns;
    atomic_store(&go, 0);
    atomic_store(&stop, 0);
    if (hist_alloc(&req) < 0 || hist_alloc(&pair) < 0)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        if (hist_alloc(&w[i].req) < 0 || hist_alloc(&w[i].pair) < 0 ||
            mk_lease_client_new(path, 0, &w[i].c, &err) < 0 ||
            mk_lease_connect(w[i].c, NULL, &err) < 0) {
            fprintf(stderr, "lease-bench: client %d: %s\n", i, mk_strerror(&err));
            return -EIO;
        }
        w[i].errors = 0;
        pthread_create(&w[i].t, NULL, work, &w[i]);
    }
    t0 = now_ns();
    atomic_store(&go, 1);
    sleep((unsigned)secs);
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        hist_merge(&req, &w[i].req);
        hist_merge(&pair, &w[i].pair);
        errors += w[i].errors;
        mk_lease_client_free(w[i].c);
        free(w[i].req.b);
        free(w[i].pair.b);
    }
    ns = now_ns() - t0;
    printf("| %d | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %llu |\n", n,
           (double)req.n * 1e9 / (double)ns, (double)pair.n * 1e9 / (double)ns,
           hist_quantile_us(&req, 0.5), hist_quantile_us(&req, 0.99), hist_quantile_us(&req, 0.999),
           (double)req.max_ns / 1000.0, hist_quantile_us(&pair, 0.5), hist_quantile_us(&pair, 0.99),
           hist_quantile_us(&pair, 0.999), (unsigned long long)errors);
    fflush(stdout);
    free(req.b);
    free(pair.b);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: lease-bench [-t THREADS[,THREADS...]] [-d SECONDS] [-b BYTES]\n");
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/mk-lease-bench-XXXXXX", path[96], list[256];
    const char *threads = "1,2,4,8";
    struct lease_server *srv;
    struct mk_error err = {0};
    int secs = DURATION_DEFAULT, opt, r = 0;
    while ((opt = getopt(argc, argv, "t:d:b:h")) != -1) {
        switch (opt) {
        case 't':
            threads = optarg;
            break;
        case 'd':
            secs = atoi(optarg);
            break;
        case 'b':
            bytes = strtoull(optarg, NULL, 10);
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (secs <= 0 || bytes == 0 || bytes > MK_LEASE_BYTES_MAX || !mkdtemp(dir)) {
        usage();
        return 2;
    }
    snprintf(path, sizeof(path), "%s/lease.sock", dir);
    if (lease_sums_new(&sums) < 0 || lease_sums_add(sums, BENCH_INSTANCE, BENCH_QUOTA) < 0) {
        fprintf(stderr, "lease-bench: out of memory\n");
        return 1;
    }
    if (lease_server_start(path, &bench_ops, NULL, NULL, &srv, &err) < 0) {
        fprintf(stderr, "lease-bench: %s\n", mk_strerror(&err));
        return 1;
    }
    printf("| threads | requests/s | pairs/s | request p50 us | p99 | p99.9 | max | "
           "pair p50 us | p99 | p99.9 | errors |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    snprintf(list, sizeof(list), "%s", threads);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && r == 0;
         tok = strtok_r(NULL, ",", &save)) {
        int n = atoi(tok);
        r = n < 1 || n > THREADS_MAX ? -EINVAL : run(path, n, secs);
    }
    lease_server_stop(srv);
    lease_sums_free(sums);
    rmdir(dir);
    return r < 0 ? 1 : 0;
}
