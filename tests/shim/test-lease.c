/*
 * test-lease.c - libmigshim's default quota source, migd's leases, with several processes
 * sharing one instance.
 *
 * The lease server is the real one (src/daemon/lease.c) behind the lease tests' registry
 * (tests/lease/quota.c: exact per-instance sums, a count of violations of sum <= quota),
 * running in a child process of its own on a socket in a temporary MIGKIT_RUN_DIR. The test
 * process is the instance's registered member; its children belong to it through their
 * parent, as migd resolves them. The instance: 256 MiB, grants in 16 MiB chunks.
 *
 *   identity  the name, UUID and quota come from migd's HELLO;
 *   shared    two processes fill the instance exactly between them; each sees the other's use
 *             in cuMemGetInfo, and over the quota both get CUDA_ERROR_OUT_OF_MEMORY;
 *   storm     4 processes x 4 threads race allocations and frees against the one quota while
 *             one of them is killed with SIGKILL holding memory: the server never saw the
 *             instance's sum above the quota, and the killed process's leases came back;
 *   fork      a child of a lease holder starts with nothing and gets its own leases;
 *   restart   migd dies (SIGKILL) and comes back with no leases: the shim re-registers what
 *             the process holds on its next grant, and the sums are right again;
 *   resize    the instance grows, then shrinks, between calls (as migd's resize does: the
 *             registry's quota changes, nothing else): cuMemGetInfo and cuDeviceTotalMem
 *             report the new total at once, an allocation larger than the old quota succeeds
 *             after growth, and one the new quota cannot fit fails after the shrink.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "lease/quota.h"
#include "shim-test.h"
#include "vendor/cuda-syms.h"

#define QUOTA (256 * ST_MIB)
#define CHUNK (16 * ST_MIB)
#define UUID  "MIG-5a2c9f0e-1b2d-4c3e-8f4a-6b7c8d9e0f1a"
/* The fake driver's UUID for device 0, set by group_setup. */
#define GPU_UUID "GPU-7d3e8a90-2f14-4b6c-9a1e-0c5b7d2e4f60"
#define NAME     "NVIDIA L4 MIG 2g.12gb"

static char dir[] = "/tmp/migshim-lease-XXXXXX";
static char sock[128];
static struct tq *q; /* shared with the server process */
static pid_t server;
static uint64_t quota_now = QUOTA; /* the instance's quota as the registry has it */

/* ---- the lease server, in a process of its own ---- */

static void serve(int ready)
{
    struct lease_server *s;
    struct mk_error err = {0};
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    tq_reset(q); /* a new migd knows no leases */
    if (lease_server_start(sock, &tq_ops, q, NULL, &s, &err) < 0) {
        fprintf(stderr, "lease server: %s\n", mk_strerror(&err));
        _exit(1);
    }
    if (write(ready, "x", 1) != 1)
        _exit(1);
    sigwait(&set, &sig);
    lease_server_stop(s);
    _exit(0);
}

static void start_server(void)
{
    int p[2];
    char c;
    assert_int_equal(pipe(p), 0);
    server = fork();
    assert_true(server >= 0);
    if (server == 0) {
        close(p[0]);
        serve(p[1]);
    }
    close(p[1]);
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
}

static void kill_server(int sig)
{
    int status;
    kill(server, sig);
    assert_int_equal(waitpid(server, &status, 0), server);
}

/* Waits (up to 5 s) until the instance's sum is at most want: the server sees a closed
 * connection a moment after its process is gone. */
static uint64_t sum_settles(uint64_t want)
{
    for (int i = 0; i < 500 && tq_sum(q, 0) > want; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    return tq_sum(q, 0);
}

/* cuMemGetInfo asks migd with INFO (protocol version 2): no probing GRANT, so the server
 * counts neither a grant nor a denial for it. */
static uint64_t shim_free(void)
{
    uint64_t grants = atomic_load(&q->inst[0].grants), denials = atomic_load(&q->inst[0].denials);
    size_t f, t;
    assert_int_equal(cuMemGetInfo_v2(&f, &t), CUDA_SUCCESS);
    assert_int_equal(t, quota_now);
    assert_true(atomic_load(&q->inst[0].grants) == grants);
    assert_true(atomic_load(&q->inst[0].denials) == denials);
    return f;
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
    (void)state;
    if (!st_shim_loaded() || !mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof(sock), "%s/lease.sock", dir);
    q = mmap(NULL, sizeof(*q), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED)
        return -1;
    tq_init(q, true);
    tq_add_instance(q, QUOTA);
    snprintf(q->inst[0].uuid, sizeof(q->inst[0].uuid), "%s", UUID);
    snprintf(q->inst[0].name, sizeof(q->inst[0].name), "%s", NAME);
    q->inst[0].chunk = CHUNK;
    tq_add_member(q, getpid(), 0);
    start_server();
    setenv("MIGKIT_RUN_DIR", dir, 1);
    unsetenv("MIGKIT_SHIM_MODE");
    unsetenv("MIGKIT_SHIM_UUID");
    setenv("MIGKIT_FAKE_CUDA_UUID", GPU_UUID, 1);
    return cuInit(0) == CUDA_SUCCESS ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    kill_server(SIGTERM);
    unlink(sock);
    rmdir(dir);
    return atomic_load(&q->inst[0].violations) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void identity(void **state)
{
    char name[128];
    CUuuid want, got;
    size_t total;
    (void)state;
    assert_int_equal(cuDeviceGetName(name, sizeof(name), 0), CUDA_SUCCESS);
    assert_string_equal(name, NAME);
    /* By default the GPU's own UUID (the fake's), not the instance's: the CUDA runtime
     * refuses a device whose UUID changed (docs/shim.md, "Identity"). */
    assert_int_equal(mk__cuda_uuid_parse(GPU_UUID, &want), 0);
    assert_int_equal(cuDeviceGetUuid_v2(&got, 0), CUDA_SUCCESS);
    assert_memory_equal(got.bytes, want.bytes, sizeof(want.bytes));
    assert_int_equal(cuDeviceTotalMem_v2(&total, 0), CUDA_SUCCESS);
    assert_int_equal(total, QUOTA);
    assert_int_equal(shim_free(), QUOTA);
}

/* The child's side of "shared": takes the 192 MiB the parent left, reports, waits, frees. */
static int shared_child(int tell, int wait_fd)
{
    CUdeviceptr p, extra;
    char c = 0;
    size_t f, t;
    if (cuMemAlloc_v2(&p, 192 * ST_MIB) != CUDA_SUCCESS)
        return 1;
    if (cuMemAlloc_v2(&extra, 1) != CUDA_ERROR_OUT_OF_MEMORY)
        return 2;
    if (cuMemGetInfo_v2(&f, &t) != CUDA_SUCCESS || f != 0 || t != QUOTA)
        return 3;
    if (write(tell, "x", 1) != 1 || read(wait_fd, &c, 1) != 1)
        return 4;
    return cuMemFree_v2(p) == CUDA_SUCCESS ? 0 : 5;
}

static void shared(void **state)
{
    CUdeviceptr a, b;
    int up[2], down[2], status;
    char c;
    pid_t pid;
    (void)state;
    assert_int_equal(cuMemAlloc_v2(&a, 64 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(tq_sum(q, 0), 64 * ST_MIB);
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid = fork();
    if (pid == 0)
        _exit(shared_child(up[1], down[0]));
    assert_int_equal(read(up[0], &c, 1), 1);
    /* The child holds the rest: the instance is full, for this process too. */
    assert_int_equal(tq_sum(q, 0), QUOTA);
    assert_int_equal(shim_free(), 0);
    assert_int_equal(cuMemAlloc_v2(&b, 1), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(write(down[1], "x", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(sum_settles(64 * ST_MIB), 64 * ST_MIB);
    assert_int_equal(shim_free(), QUOTA - 64 * ST_MIB);
    assert_int_equal(cuMemAlloc_v2(&b, 192 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(tq_sum(q, 0), QUOTA);
    assert_int_equal(cuMemFree_v2(b), CUDA_SUCCESS);
    assert_int_equal(cuMemFree_v2(a), CUDA_SUCCESS);
    assert_true(tq_sum(q, 0) <= CHUNK); /* one chunk of reserve may stay */
    for (int i = 0; i < 2; i++) {
        close(up[i]);
        close(down[i]);
    }
}

/* ---- storm ---- */

#define WORKERS 4
#define THREADS 4
#define OPS     3000
#define SLOTS   16

static atomic_int worker_failures;

static void *storm_thread(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    CUdeviceptr slots[SLOTS] = {0};
    for (int op = 0; op < OPS; op++) {
        int i = rand_r(&seed) % SLOTS;
        CUresult r;
        if (slots[i]) {
            if (cuMemFree_v2(slots[i]) != CUDA_SUCCESS)
                atomic_fetch_add(&worker_failures, 1);
            slots[i] = 0;
            continue;
        }
        r = cuMemAlloc_v2(&slots[i], 1 + (size_t)rand_r(&seed) % (8 * ST_MIB));
        if (r != CUDA_SUCCESS && r != CUDA_ERROR_OUT_OF_MEMORY)
            atomic_fetch_add(&worker_failures, 1);
        if (r != CUDA_SUCCESS)
            slots[i] = 0;
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i] && cuMemFree_v2(slots[i]) != CUDA_SUCCESS)
            atomic_fetch_add(&worker_failures, 1);
    return NULL;
}

/* One worker process: THREADS threads; afterwards the shim must hold nothing. */
static int storm_worker(unsigned seed)
{
    pthread_t t[THREADS];
    size_t f, tot;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, storm_thread, (void *)(uintptr_t)(seed * 100 + (unsigned)i));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    if (cuMemGetInfo_v2(&f, &tot) != CUDA_SUCCESS || st_fake().used != 0)
        return 1;
    return atomic_load(&worker_failures) ? 2 : 0;
}

/* A worker that takes 100 MiB and waits to be killed. */
static int victim(int tell)
{
    CUdeviceptr p;
    if (cuMemAlloc_v2(&p, 100 * ST_MIB) != CUDA_SUCCESS || write(tell, "x", 1) != 1)
        return 1;
    pause();
    return 0;
}

static void storm(void **state)
{
    pid_t pids[WORKERS], doomed;
    int p[2], status;
    char c;
    uint64_t denials = atomic_load(&q->inst[0].denials);
    (void)state;
    assert_int_equal(pipe(p), 0);
    doomed = fork();
    if (doomed == 0)
        _exit(victim(p[1]));
    assert_int_equal(read(p[0], &c, 1), 1);
    for (int i = 0; i < WORKERS; i++)
        if ((pids[i] = fork()) == 0)
            _exit(storm_worker((unsigned)i + 1));
    kill(doomed, SIGKILL); /* mid-storm, holding 100 MiB */
    assert_int_equal(waitpid(doomed, &status, 0), doomed);
    for (int i = 0; i < WORKERS; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_true(sum_settles(CHUNK) <= CHUNK);
    assert_int_equal(atomic_load(&q->inst[0].violations), 0);
    assert_true(atomic_load(&q->inst[0].max_sum) <= QUOTA);
    assert_true(atomic_load(&q->inst[0].denials) > denials); /* the quota was reached */
    print_message("storm: %d processes x %d threads, %llu grants, %llu denials, the "
                  "instance's sum peaked at %llu of %llu bytes\n",
                  WORKERS, THREADS, (unsigned long long)atomic_load(&q->inst[0].grants),
                  (unsigned long long)atomic_load(&q->inst[0].denials),
                  (unsigned long long)atomic_load(&q->inst[0].max_sum), (unsigned long long)QUOTA);
    close(p[0]);
    close(p[1]);
}

static int fork_child(void)
{
    CUdeviceptr p;
    size_t f, t;
    /* The parent's 32 MiB are the instance's; this process holds nothing of its own. */
    if (cuMemGetInfo_v2(&f, &t) != CUDA_SUCCESS || f != QUOTA - 32 * ST_MIB)
        return 1;
    if (cuMemAlloc_v2(&p, 16 * ST_MIB) != CUDA_SUCCESS || tq_sum(q, 0) != 48 * ST_MIB)
        return 2;
    return cuMemFree_v2(p) == CUDA_SUCCESS ? 0 : 3;
}

static void forked(void **state)
{
    CUdeviceptr a;
    int status;
    pid_t pid;
    (void)state;
    /* What the storm's processes held is back; this process keeps at most a chunk of reserve,
     * which the 32 MiB below use up. */
    assert_true(sum_settles(CHUNK) <= CHUNK);
    assert_int_equal(cuMemAlloc_v2(&a, 32 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(tq_sum(q, 0), 32 * ST_MIB);
    pid = fork();
    if (pid == 0)
        _exit(fork_child());
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(sum_settles(32 * ST_MIB), 32 * ST_MIB);
    assert_int_equal(cuMemFree_v2(a), CUDA_SUCCESS);
}

static void restart(void **state)
{
    CUdeviceptr a, b;
    (void)state;
    assert_int_equal(cuMemAlloc_v2(&a, 64 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(tq_sum(q, 0), 64 * ST_MIB);
    kill_server(SIGKILL);
    start_server(); /* knows no leases */
    assert_int_equal(tq_sum(q, 0), 0);
    /* A reserve miss: the client reconnects, re-registers its 64 MiB, then is granted. */
    assert_int_equal(cuMemAlloc_v2(&b, 16 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(tq_sum(q, 0), 80 * ST_MIB);
    assert_int_equal(shim_free(), QUOTA - 80 * ST_MIB);
    assert_int_equal(cuMemFree_v2(b), CUDA_SUCCESS);
    assert_int_equal(cuMemFree_v2(a), CUDA_SUCCESS);
    assert_true(tq_sum(q, 0) <= CHUNK);
}

/* Resizes the instance as migd does: the registry's quota changes, and the lease server
 * checks every later GRANT and answers every INFO with it. The server is idle meanwhile. */
static void set_quota(uint64_t bytes)
{
    q->inst[0].quota = quota_now = bytes;
}

static void resize(void **state)
{
    CUdeviceptr a, b;
    size_t total;
    (void)state;
    assert_true(sum_settles(CHUNK) <= CHUNK);
    assert_int_equal(cuMemAlloc_v2(&a, 64 * ST_MIB), CUDA_SUCCESS);
    /* Growth: the new total shows at once; what the old quota could never hold is granted. */
    set_quota(2 * QUOTA);
    assert_int_equal(shim_free(), 2 * QUOTA - 64 * ST_MIB);
    assert_int_equal(cuDeviceTotalMem_v2(&total, 0), CUDA_SUCCESS);
    assert_int_equal(total, 2 * QUOTA);
    assert_int_equal(cuMemAlloc_v2(&b, QUOTA), CUDA_SUCCESS);
    assert_int_equal(tq_sum(q, 0), QUOTA + 64 * ST_MIB);
    assert_int_equal(shim_free(), QUOTA - 64 * ST_MIB);
    assert_int_equal(cuMemFree_v2(b), CUDA_SUCCESS);
    /* Shrink to 128 MiB, above the 64 MiB held (migd never shrinks below the grants): the
     * total follows, free is what the smaller instance has left, and 96 MiB more is refused. */
    assert_true(tq_sum(q, 0) <= 64 * ST_MIB + CHUNK);
    set_quota(QUOTA / 2);
    assert_int_equal(cuDeviceTotalMem_v2(&total, 0), CUDA_SUCCESS);
    assert_int_equal(total, QUOTA / 2);
    assert_int_equal(shim_free(), QUOTA / 2 - 64 * ST_MIB);
    assert_int_equal(cuMemAlloc_v2(&b, 96 * ST_MIB), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(cuMemAlloc_v2(&b, 64 * ST_MIB), CUDA_SUCCESS);
    assert_int_equal(shim_free(), 0);
    assert_int_equal(cuMemFree_v2(b), CUDA_SUCCESS);
    assert_int_equal(cuMemFree_v2(a), CUDA_SUCCESS);
    set_quota(QUOTA);
    assert_int_equal(shim_free(), QUOTA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity), cmocka_unit_test(shared),  cmocka_unit_test(storm),
        cmocka_unit_test(forked),   cmocka_unit_test(restart), cmocka_unit_test(resize),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
