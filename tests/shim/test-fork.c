/*
 * test-fork.c - libmigshim across fork(): the child holds nothing, the parent keeps what it
 * holds, and a fork in the middle of other threads' allocations never deadlocks or leaves
 * the child a half-made state.
 *
 *   basic:  the parent holds 100 MiB of a 128 MiB quota; its child sees the whole quota free
 *           (memory is not inherited; in standalone mode each process has its own quota),
 *           allocates all of it, frees it and exits; the parent still sees 28 MiB free.
 *   stress: 4 threads allocate and free without pause while the main thread forks 200
 *           children; each child allocates 1 MiB and must see exactly quota - 1 MiB free
 *           (nothing of the parent's threads' allocations, charges in flight included).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#define ST_QUOTA (128 * ST_MIB)
#include "shim-test.h"

#define THREADS  4
#define CHILDREN 200

static atomic_bool running;
static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static uint64_t shim_free(void)
{
    size_t f, t;
    return cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && t == ST_QUOTA ? f : UINT64_MAX;
}

/* The child's side of "basic": exit status 0 when everything held. */
static int basic_child(void)
{
    CUdeviceptr p;
    if (shim_free() != ST_QUOTA)
        return 1;
    if (cuMemAlloc_v2(&p, ST_QUOTA) != CUDA_SUCCESS || shim_free() != 0)
        return 2;
    if (cuMemAlloc_v2(&p, 1) != CUDA_ERROR_OUT_OF_MEMORY)
        return 3;
    return cuMemFree_v2(p) == CUDA_SUCCESS && shim_free() == ST_QUOTA ? 0 : 4;
}

static void basic(void)
{
    CUdeviceptr a;
    int status;
    pid_t pid;
    CHECK(cuMemAlloc_v2(&a, 100 * ST_MIB) == CUDA_SUCCESS, "parent allocation");
    pid = fork();
    if (pid == 0)
        _exit(basic_child());
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child status %d", status);
    CHECK(shim_free() == 28 * ST_MIB, "parent sees %llu free", (unsigned long long)shim_free());
    CHECK(cuMemFree_v2(a) == CUDA_SUCCESS && shim_free() == ST_QUOTA, "parent free");
    printf("basic: the child saw the whole quota, the parent kept its 100 MiB\n");
}

static void *churn(void *arg)
{
    (void)arg;
    while (atomic_load(&running)) {
        CUdeviceptr p;
        if (cuMemAlloc_v2(&p, 4 * ST_MIB) == CUDA_SUCCESS)
            cuMemFree_v2(p);
    }
    return NULL;
}

static int stress_child(void)
{
    CUdeviceptr p;
    if (cuMemAlloc_v2(&p, ST_MIB) != CUDA_SUCCESS)
        return 1;
    if (shim_free() != ST_QUOTA - ST_MIB)
        return 2;
    return cuMemFree_v2(p) == CUDA_SUCCESS && shim_free() == ST_QUOTA ? 0 : 3;
}

static void stress(void)
{
    pthread_t t[THREADS];
    int bad = 0;
    atomic_store(&running, true);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < CHILDREN; i++) {
        int status;
        pid_t pid = fork();
        if (pid == 0)
            _exit(stress_child());
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    }
    atomic_store(&running, false);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(bad == 0, "%d of %d children failed", bad, CHILDREN);
    CHECK(shim_free() == ST_QUOTA, "parent not empty");
    printf("stress: %d forks during allocation churn, every child started from zero\n", CHILDREN);
}

int main(void)
{
    if (st_init("quota=128MiB\n") < 0)
        return 1;
    basic();
    stress();
    return failures ? 1 : 0;
}
