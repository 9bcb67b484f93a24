/*
 * test-registry.c - unit tests of migd's registry (src/daemon/registry*.c) on a real store in
 * a temporary directory: the geometry of profile instances, the memory budget of custom ones,
 * resize and destroy rules, grants, process membership through the parent chain, restore
 * after reopening (with dead processes reconciled away), the exactness of lease sums
 * under 16 racing threads, and the process table: its index against a brute-force model, and
 * the sweep that removes dead processes a step per registration (on a fake /proc).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry-internal.h"

#define GIB (UINT64_C(1) << 30)
/* The exactness race: threads x rounds of grant/release, chunks up to 1 GiB against a
 * 10 GiB quota so that denials are frequent. */
#define RACE_THREADS 16
#define RACE_ROUNDS  4000
/* The index test: operations on the process table, and the pid range they draw from (small,
 * so that adds collide with rows already there and probe runs get long). */
#define INDEX_OPS  20000
#define INDEX_PIDS 3000
/* The sweep test: processes registered on the fake /proc, half of which then die. */
#define SWEEP_PROCS 200
/* Fake pids start here: above anything a test machine runs, below Linux's pid_max limit
 * (2^22), and each registered process's parent is pid 1, where membership walks stop. */
#define FAKE_PID_BASE 3000000

struct fixture {
    char dir[64];
    char db[128];
    struct mk_catalog *cat;
    const struct mk_model *models[2];
    struct registry *reg;
};

static const struct registry_who root = {0, 1};

static int open_reg(struct fixture *f)
{
    struct mk_error err = {0};
    struct registry_config cfg = {
        .db_path = f->db, .cat = f->cat, .models = f->models, .nmodels = 2};
    int r = registry_open(&cfg, &f->reg, &err);
    if (r < 0)
        fprintf(stderr, "registry_open: %s\n", err.msg);
    return r;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct mk_error err = {0};
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/migkit-test-registry-XXXXXX");
    if (!mkdtemp(f->dir) || mk_catalog_new(&f->cat, &err) < 0)
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/migd.db", f->dir);
    f->models[0] = mk_catalog_find(f->cat, "h100-sxm5-80gb");
    f->models[1] = mk_catalog_find(f->cat, "a100-sxm4-40gb");
    if (!f->models[0] || !f->models[1] || open_reg(f) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    registry_close(f->reg);
    mk_catalog_free(f->cat);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Creates an instance and returns its UUID in uuid (MK_UUID_LEN). */
static int create(struct fixture *f, struct registry_create *req, char *uuid, struct mk_error *err)
{
    json_t *o = NULL;
    int r = registry_instance_create(f->reg, &root, req, &o, err);
    if (r == 0) {
        snprintf(uuid, MK_UUID_LEN, "%s", json_string_value(json_object_get(o, "uuid")));
        json_decref(o);
    }
    return r;
}

static json_int_t instance_int(struct fixture *f, const char *uuid, const char *key)
{
    struct mk_error err = {0};
    json_t *o;
    json_int_t v;
    assert_int_equal(registry_instance_json(f->reg, uuid, (uid_t)-1, &o, &err), 0);
    v = json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* Profile instances follow the hardware: automatic placement order, GI IDs, capacity. */
static void test_profile_geometry(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char uuid[MK_UUID_LEN];
    struct registry_create req = {
        .gpu = 0, .kind = STORE_KIND_PROFILE, .profile_name = "1g.10gb", .placement = -1};
    /* H100: the driver places the first 1g.10gb at slot 6 (GI 13), then 4, 5, 2, ... */
    assert_int_equal(create(f, &req, uuid, &err), 0);
    assert_int_equal(instance_int(f, uuid, "placement"), 6);
    assert_int_equal(instance_int(f, uuid, "gi_id"), 13);
    for (int i = 1; i < 7; i++)
        assert_int_equal(create(f, &req, uuid, &err), 0);
    assert_int_equal(create(f, &req, uuid, &err), -ENOSPC);
    assert_null(req.bad_field);
    /* a placement the profile does not have names the field */
    req = (struct registry_create){
        .gpu = 1, .kind = STORE_KIND_PROFILE, .profile_id = 9, .placement = 1};
    assert_int_equal(create(f, &req, uuid, &err), -EINVAL);
    assert_string_equal(req.bad_field, "placement");
    req.placement = 4;
    assert_int_equal(create(f, &req, uuid, &err), 0);
    assert_int_equal(instance_int(f, uuid, "gi_id"), 2);
    /* unknown profile, unknown GPU */
    req.profile_id = 200;
    assert_int_equal(create(f, &req, uuid, &err), -EINVAL);
    assert_string_equal(req.bad_field, "profile");
    req.gpu = 5;
    assert_int_equal(create(f, &req, uuid, &err), -ENOENT);
    assert_string_equal(req.bad_field, "gpu");
}

/* Custom instances are bounded by the GPU's free memory, shared with profile instances. */
static void test_custom_memory(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char a[MK_UUID_LEN], b[MK_UUID_LEN];
    struct registry_create big = {
        .gpu = 1, .kind = STORE_KIND_CUSTOM, .quota_bytes = 36 * GIB, .sms = 50};
    struct registry_create prof = {
        .gpu = 1, .kind = STORE_KIND_PROFILE, .profile_id = 19, .placement = -1};
    assert_int_equal(create(f, &big, a, &err), 0);
    /* 40 GiB minus 36 leaves ~3.5 GiB: a 1g.5gb (4.75 GiB) no longer fits */
    assert_int_equal(create(f, &prof, b, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "free"));
    big.sms = 0;
    assert_int_equal(create(f, &big, b, &err), -EINVAL);
    assert_string_equal(big.bad_field, "sms");
    big.sms = 1;
    big.quota_bytes = 1;
    assert_int_equal(create(f, &big, b, &err), -EINVAL);
    assert_string_equal(big.bad_field, "memory_bytes");
}

/* Resize: growing needs free memory, shrinking below what is held is refused with both
 * numbers; destroying an instance in use is refused. */
static void test_resize_and_destroy(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char u[MK_UUID_LEN];
    uint64_t free_b;
    struct registry_create req = {
        .gpu = 1, .kind = STORE_KIND_CUSTOM, .quota_bytes = 8 * GIB, .sms = 20};
    assert_int_equal(create(f, &req, u, &err), 0);
    assert_int_equal(registry_instance_resize(f->reg, &root, u, 64 * GIB, NULL, &err), -ENOSPC);
    assert_int_equal(registry_instance_resize(f->reg, &root, u, 16 * GIB, NULL, &err), 0);
    assert_int_equal(instance_int(f, u, "quota_bytes"), 16 * GIB);
    assert_int_equal(registry_lease_grant(f->reg, u, 6 * GIB, &free_b), 0);
    assert_int_equal(free_b, 10 * GIB);
    assert_int_equal(registry_instance_resize(f->reg, &root, u, 4 * GIB, NULL, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "4294967296"));
    assert_non_null(strstr(err.msg, "6442450944"));
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), -EBUSY);
    registry_lease_release(f->reg, u, 6 * GIB);
    assert_int_equal(registry_instance_resize(f->reg, &root, u, 4 * GIB, NULL, &err), 0);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), 0);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), -ENOENT);
}

/* Membership: a registered process makes the instance in use; its children inherit it through
 * the parent chain; an unrelated process belongs nowhere. */
static void test_membership(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct registry_limits lim;
    char u[MK_UUID_LEN];
    struct registry_create req = {
        .gpu = 0, .kind = STORE_KIND_CUSTOM, .quota_bytes = 4 * GIB, .sms = 8};
    pid_t child;
    assert_int_equal(create(f, &req, u, &err), 0);
    assert_int_equal(registry_process_add(f->reg, &root, u, getpid(), getuid(), NULL, &err), 0);
    assert_int_equal(registry_process_add(f->reg, &root, u, getpid(), getuid(), NULL, &err), 1);
    assert_int_equal(registry_process_add(f->reg, &root, u, getpid(), getuid() + 1, NULL, &err),
                     -EPERM);
    assert_int_equal(registry_process_add(f->reg, &root, u, 4194303, (uid_t)-1, NULL, &err),
                     -ESRCH);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(registry_lease_hello(f->reg, child, getuid(), GIB, &lim), 0);
    assert_string_equal(lim.instance, u);
    assert_int_equal(lim.quota_bytes, 4 * GIB);
    assert_int_equal(lim.leased_bytes, GIB);
    assert_int_equal(registry_lease_hello(f->reg, child, getuid(), 4 * GIB, &lim), -ENOSPC);
    assert_int_equal(registry_lease_hello(f->reg, 1, 0, 0, &lim), -ENOENT);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    registry_lease_release(f->reg, u, GIB);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), -EBUSY);
    assert_int_equal(registry_process_remove(f->reg, &root, u, getpid(), (uid_t)-1, &err), 0);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), 0);
}

/* State survives close and reopen; a registered process that died meanwhile is reconciled
 * away with an event; grants persist. */
static void test_restore(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char a[MK_UUID_LEN], b[MK_UUID_LEN];
    json_t *before, *after, *events;
    struct registry_create pr = {
        .gpu = 0, .kind = STORE_KIND_PROFILE, .profile_name = "3g.40gb", .placement = 4};
    struct registry_create cu = {
        .gpu = 1, .kind = STORE_KIND_CUSTOM, .quota_bytes = 5 * GIB, .sms = 9};
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(create(f, &pr, a, &err), 0);
    assert_int_equal(create(f, &cu, b, &err), 0);
    assert_int_equal(registry_grant_add(f->reg, &root, b, 1000, &err), 0);
    assert_true(registry_granted(f->reg, b, 1000));
    assert_false(registry_granted(f->reg, a, 1000));
    assert_int_equal(registry_process_add(f->reg, &root, b, child, (uid_t)-1, NULL, &err), 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(registry_instances_json(f->reg, (uid_t)-1, &before, &err), 0);
    registry_close(f->reg);
    assert_int_equal(open_reg(f), 0);
    assert_int_equal(registry_process_count(f->reg), 0);
    assert_int_equal(registry_instances_json(f->reg, (uid_t)-1, &after, &err), 0);
    assert_int_equal(json_array_size(after), 2);
    /* the same instances, less the process that died */
    json_array_clear(json_object_get(json_array_get(before, 1), "processes"));
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    /* uid 1000 sees only its grant */
    assert_int_equal(registry_instances_json(f->reg, 1000, &after, &err), 0);
    assert_int_equal(json_array_size(after), 1);
    json_decref(after);
    assert_int_equal(registry_events_json(f->reg, 0, 100, (uid_t)-1, &events, &err), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(events, json_array_size(events) - 1), "action")),
                        "process.gone");
    json_decref(events);
}

struct race {
    struct registry *reg;
    const char *uuid;
    uint64_t quota;
    atomic_uint_fast64_t total; /* what the threads hold, summed */
    atomic_int over;            /* times total exceeded the quota */
};

static void *race_thread(void *arg)
{
    struct race *r = arg;
    uint64_t held = 0, free_b;
    unsigned seed = (unsigned)(uintptr_t)&held;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        uint64_t n = ((uint64_t)rand_r(&seed) % 1024 + 1) * (GIB / 1024);
        if (rand_r(&seed) % 2 && registry_lease_grant(r->reg, r->uuid, n, &free_b) == 0) {
            held += n;
            if (atomic_fetch_add(&r->total, n) + n > r->quota)
                atomic_fetch_add(&r->over, 1);
        } else if (held > 0) {
            uint64_t back = held / 2 + 1;
            atomic_fetch_sub(&r->total, back);
            registry_lease_release(r->reg, r->uuid, back);
            held -= back;
        }
    }
    atomic_fetch_sub(&r->total, held);
    registry_lease_release(r->reg, r->uuid, held);
    return NULL;
}

/* 16 threads race grants and releases: the sum never exceeds the quota and ends at zero. */
static void test_lease_exactness(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char u[MK_UUID_LEN];
    pthread_t t[RACE_THREADS];
    struct registry_create req = {
        .gpu = 0, .kind = STORE_KIND_CUSTOM, .quota_bytes = 10 * GIB, .sms = 8};
    struct race r = {.reg = f->reg, .uuid = u, .quota = 10 * GIB};
    assert_int_equal(create(f, &req, u, &err), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r.over), 0);
    assert_int_equal(atomic_load(&r.total), 0);
    assert_int_equal(instance_int(f, u, "leased_bytes"), 0);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), 0);
}

struct churn {
    struct registry *reg;
    const char *uuid;
    atomic_int stop;
    atomic_int bad;  /* info showed granted > quota, or the instance gone while bytes held */
    atomic_int gone; /* grants answered -ENOENT (after the destroy) */
};

/* Grants and releases everything again and again (so the instance is empty now and then),
 * checking after each grant, while it holds bytes, that the instance exists and that
 * granted <= quota in the sums' own snapshot. */
static void *churn_thread(void *arg)
{
    struct churn *c = arg;
    unsigned seed = (unsigned)(uintptr_t)&c;
    while (!atomic_load(&c->stop)) {
        uint64_t held = 0, free_b, q, g;
        for (int i = 0; i < 8; i++) {
            uint64_t n = ((uint64_t)rand_r(&seed) % 1024 + 1) * (GIB / 1024);
            int r = registry_lease_grant(c->reg, c->uuid, n, &free_b);
            if (r == -ENOENT) {
                atomic_fetch_add(&c->gone, 1);
                break;
            }
            if (r < 0)
                continue;
            held += n;
            if (registry_lease_info(c->reg, c->uuid, &q, &g) < 0 || g > q || g < held)
                atomic_fetch_add(&c->bad, 1);
        }
        registry_lease_release(c->reg, c->uuid, held);
        usleep(50); /* empty now and then, all threads at once, so a destroy can succeed */
    }
    return NULL;
}

/* Resizes and destroys race grants. Grants take only the sums' lock, so the checks of a
 * shrink and of a destroy must freeze the lease quota in the same critical section that saw
 * what is granted: granted never exceeds the quota, a shrink below it is refused, and a
 * destroy succeeds only while nothing is granted, after which every grant is -ENOENT. */
static void test_lease_race_resize_destroy(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char u[MK_UUID_LEN];
    pthread_t t[4];
    struct registry_create req = {
        .gpu = 0, .kind = STORE_KIND_CUSTOM, .quota_bytes = 4 * GIB, .sms = 8};
    struct churn c = {.reg = f->reg, .uuid = u};
    int resized = 0, refused = 0, destroyed = -EBUSY;
    assert_int_equal(create(f, &req, u, &err), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c), 0);
    for (int i = 0; i < 200; i++) {
        int r = registry_instance_resize(f->reg, &root, u, (uint64_t)(2 + i % 7) * GIB, NULL, &err);
        assert_true(r == 0 || r == -EBUSY);
        r == 0 ? resized++ : refused++;
    }
    /* 20 s at most; it takes milliseconds */
    for (int i = 0; i < 200000 && destroyed == -EBUSY; i++)
        destroyed = registry_instance_destroy(f->reg, &root, u, &err);
    for (int i = 0; i < 1000 && destroyed == 0 && atomic_load(&c.gone) < 4; i++)
        usleep(1000); /* the threads see the instance gone */
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(destroyed, 0);
    assert_true(atomic_load(&c.gone) >= 4);
    assert_int_equal(atomic_load(&c.bad), 0);
    assert_true(resized > 0);
    (void)refused; /* how many shrinks were refused depends on the timing */
}

struct held_lock {
    struct registry *reg;
    const char *uuid;
    atomic_int done;
};

static void *grant_thread(void *arg)
{
    struct held_lock *h = arg;
    uint64_t free_b, q, g;
    if (registry_lease_grant(h->reg, h->uuid, GIB, &free_b) == 0 &&
        registry_lease_info(h->reg, h->uuid, &q, &g) == 0 && g == GIB)
        registry_lease_release(h->reg, h->uuid, GIB);
    atomic_store(&h->done, 1);
    return NULL;
}

/* GRANT, INFO and RELEASE never take the registry's mutex, which a commit holds across its
 * fsync: with the mutex held here, a grant on another thread still completes. */
static void test_lease_without_registry_lock(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char u[MK_UUID_LEN];
    struct registry_create req = {
        .gpu = 0, .kind = STORE_KIND_CUSTOM, .quota_bytes = 4 * GIB, .sms = 8};
    struct held_lock h = {.reg = f->reg, .uuid = u};
    pthread_t t;
    assert_int_equal(create(f, &req, u, &err), 0);
    pthread_mutex_lock(&f->reg->lock);
    assert_int_equal(pthread_create(&t, NULL, grant_thread, &h), 0);
    for (int i = 0; i < 5000 && !atomic_load(&h.done); i++) /* 5 s at most */
        usleep(1000);
    pthread_mutex_unlock(&f->reg->lock);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&h.done), 1);
    assert_int_equal(instance_int(f, u, "leased_bytes"), 0);
}

/* The process table's index agrees with a linear search through INDEX_OPS random adds and
 * removals, growth included; removal shifts probe runs back, which this exercises hard. */
static void test_process_index(void **state)
{
    struct registry reg = {0};
    unsigned seed = 1;
    (void)state;
    for (int op = 0; op < INDEX_OPS; op++) {
        pid_t pid = (pid_t)(rand_r(&seed) % INDEX_PIDS + 2);
        uint64_t start = (uint64_t)(rand_r(&seed) % 3);
        struct store_process *found = reg_find_process(&reg, pid, start), *want = NULL;
        for (size_t i = 0; i < reg.nprocs; i++)
            if (reg.procs[i].pid == pid && reg.procs[i].start_time == start)
                want = &reg.procs[i];
        assert_ptr_equal(found, want);
        if (found) {
            reg_procs_remove_at(&reg, (size_t)(found - reg.procs));
            assert_null(reg_find_process(&reg, pid, start));
        } else {
            struct store_process p = {.pid = pid, .start_time = start};
            assert_int_equal(reg_procs_reserve(&reg), 0);
            reg_procs_add(&reg, &p);
            assert_ptr_equal(reg_find_process(&reg, pid, start), &reg.procs[reg.nprocs - 1]);
        }
    }
    assert_true(reg.nprocs > 0);
    for (size_t i = 0; i < reg.nprocs; i++)
        assert_ptr_equal(reg_find_process(&reg, reg.procs[i].pid, reg.procs[i].start_time),
                         &reg.procs[i]);
    reg_procs_free(&reg);
}

/* Writes the fake /proc entry of pid (stat and status), started at start; start 0 removes
 * it (the process exited). */
static void fake_proc(const char *proc_dir, pid_t pid, uint64_t start)
{
    char path[256];
    FILE *fp;
    snprintf(path, sizeof(path), "%s/%d", proc_dir, (int)pid);
    if (!start) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", path);
        assert_int_equal(system(cmd), 0);
        return;
    }
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%d/stat", proc_dir, (int)pid);
    assert_non_null(fp = fopen(path, "w"));
    /* field 4 is the parent (1), field 22 the start time */
    fprintf(fp, "%d (fake) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 %llu 0 0\n", (int)pid,
            (unsigned long long)start);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/%d/status", proc_dir, (int)pid);
    assert_non_null(fp = fopen(path, "w"));
    fprintf(fp, "Name:\tfake\nUid:\t0\t0\t0\t0\n");
    fclose(fp);
}

static size_t gone_events(struct registry *reg)
{
    struct mk_error err = {0};
    json_t *events, *e;
    size_t i, n = 0;
    assert_int_equal(registry_events_json(reg, 0, 100000, (uid_t)-1, &events, &err), 0);
    json_array_foreach(events, i, e) n +=
        !strcmp(json_string_value(json_object_get(e, "action")), "process.gone");
    json_decref(events);
    return n;
}

/*
 * Registering does not scan the table for the dead; the sweep still finds every one: half of
 * SWEEP_PROCS registered processes die (some exit, some have their pid reused with a new
 * start time), and registrations alone remove them all, each with a process.gone event,
 * while every live one stays found. Destroy then finds its instance's dead exactly.
 */
static void test_sweep(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    char proc[128], db[160], u[MK_UUID_LEN], g[MK_UUID_LEN];
    struct registry_create req = {
        .gpu = 0, .kind = STORE_KIND_CUSTOM, .quota_bytes = 4 * GIB, .sms = 8};
    struct registry_config cfg = {
        .db_path = db, .cat = f->cat, .models = f->models, .nmodels = 2, .proc_root = proc};
    struct registry *main_reg = f->reg;
    int gpu, extra = 0;
    snprintf(proc, sizeof(proc), "%s/proc", f->dir);
    snprintf(db, sizeof(db), "%s/sweep.db", f->dir);
    assert_int_equal(mkdir(proc, 0755), 0);
    assert_int_equal(registry_open(&cfg, &f->reg, &err), 0);
    assert_int_equal(create(f, &req, u, &err), 0);
    for (int i = 0; i < SWEEP_PROCS; i++) {
        fake_proc(proc, FAKE_PID_BASE + i, 1000);
        assert_int_equal(
            registry_process_add(f->reg, &root, u, FAKE_PID_BASE + i, (uid_t)-1, NULL, &err), 0);
    }
    for (int i = 0; i < SWEEP_PROCS; i += 2) /* every other one dies; a fourth are reused */
        fake_proc(proc, FAKE_PID_BASE + i, i % 4 ? 0 : 2000);
    assert_int_equal(registry_process_count(f->reg), SWEEP_PROCS);
    /* Each registration checks two rows, so a pass over the table takes about half its size
     * in registrations; rows moved behind the cursor by removals wait for the next pass:
     * allow four passes. */
    while (registry_process_count(f->reg) > (size_t)(SWEEP_PROCS / 2 + extra) &&
           extra < 2 * SWEEP_PROCS) {
        pid_t pid = FAKE_PID_BASE + SWEEP_PROCS + extra++;
        fake_proc(proc, pid, 1000);
        assert_int_equal(registry_process_add(f->reg, &root, u, pid, (uid_t)-1, NULL, &err), 0);
    }
    assert_int_equal(registry_process_count(f->reg), SWEEP_PROCS / 2 + extra);
    assert_int_equal(gone_events(f->reg), SWEEP_PROCS / 2);
    for (int i = 0; i < SWEEP_PROCS + extra; i++)
        assert_int_equal(registry_process_instance(f->reg, FAKE_PID_BASE + i, g, &gpu),
                         i < SWEEP_PROCS && i % 2 == 0 ? -ENOENT : 0);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), -EBUSY);
    for (int i = 0; i < SWEEP_PROCS + extra; i++)
        fake_proc(proc, FAKE_PID_BASE + i, 0);
    assert_int_equal(registry_instance_destroy(f->reg, &root, u, &err), 0);
    assert_int_equal(registry_process_count(f->reg), 0);
    registry_close(f->reg);
    f->reg = main_reg;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_profile_geometry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize_and_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_exactness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_race_resize_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_without_registry_lock, setup, teardown),
        cmocka_unit_test(test_process_index),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
