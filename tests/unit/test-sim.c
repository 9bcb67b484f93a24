/*
 * test-sim.c - unit tests of the simulator backend (src/backend/sim.c, src/backend/backend.c)
 * through the public backend API: first use, commit and rollback, mk_sim_init, damaged state
 * files, concurrent writers in separate processes, and allocation-failure injection
 * (mk__alloc_fail_after) on the catalog and the backend constructors.
 *
 * Every test works in its own directory made with mkdtemp() under /tmp and removes it after.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "migkit/backend.h"
#include "migkit/uuid.h"

/* Per-test fixture: a catalog and an empty temporary directory. */
struct fixture {
    struct mk_catalog *cat;
    char dir[64];
    char state_dir[128]; /* dir/sim: does not exist until the backend creates it */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct mk_error err = {0};
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/migkit-test-sim-XXXXXX");
    if (!mkdtemp(f->dir) || mk_catalog_new(&f->cat, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg[0] ? err.msg : strerror(errno));
        free(f);
        return -1;
    }
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/sim", f->dir);
    *state = f;
    return 0;
}

/* Removes a directory tree of plain files and directories. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char sub[512];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    remove_tree(f->dir);
    mk_catalog_free(f->cat);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static int open_sim(struct fixture *f, bool writable, struct mk_backend **ret, struct mk_error *err)
{
    struct mk_backend_config cfg = {.name = "sim", .state_dir = f->state_dir, .writable = writable};
    return mk_backend_open(&cfg, f->cat, ret, err);
}

/* Opens the simulator and fails the test on error. */
static struct mk_backend *must_open(struct fixture *f, bool writable)
{
    struct mk_backend *b = NULL;
    struct mk_error err = {0};
    if (open_sim(f, writable, &b, &err) < 0)
        fail_msg("mk_backend_open(%s): %s", f->state_dir, err.msg);
    return b;
}

static const struct mk_gi_profile *prof(const struct mk_backend *b, int gpu, int id)
{
    const struct mk_gi_profile *p = mk_model_profile_by_id(mk_backend_gpu(b, gpu)->model, id);
    assert_non_null(p);
    return p;
}

static void state_path(const struct fixture *f, char *buf, size_t len)
{
    snprintf(buf, len, "%s/state.json", f->state_dir);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Open file descriptors of this process, to catch a leaked lock. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void assert_gpu_valid(const struct mk_gpu *g)
{
    struct mk_error err = {0};
    if (mk_gpu_validate(g, &err) < 0)
        fail_msg("mk_gpu_validate: %s", err.msg);
}

/* ---- first use, commit, rollback ---- */

static void test_first_open_creates_default_machine(void **state)
{
    struct fixture *f = *state;
    struct mk_backend *b;
    const struct mk_gpu *g;
    char path[256];
    struct stat st;

    state_path(f, path, sizeof(path));
    assert_int_equal(stat(path, &st), -1);
    b = must_open(f, false);
    assert_string_equal(mk_backend_name(b), "sim");
    assert_int_equal(mk_backend_gpu_count(b), 1);
    g = mk_backend_gpu(b, 0);
    assert_non_null(g);
    assert_null(mk_backend_gpu(b, 1));
    assert_null(mk_backend_gpu(b, -1));
    assert_string_equal(g->model->slug, "h100-sxm5-80gb");
    assert_true(g->mig_enabled);
    assert_int_equal(g->ngi, 0);
    assert_true(mk_uuid_valid("GPU-", g->uuid));
    assert_string_equal(g->pci_bus_id, "00000000:01:00.0");
    mk_backend_close(b);
    assert_int_equal(stat(path, &st), 0);
}

static void test_commit_persists_across_reopen(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b = must_open(f, true);
    char gpu_uuid[MK_UUID_LEN], ci_uuid[MK_UUID_LEN];
    const struct mk_gpu *g;
    int gi = -1, ci = -1;

    snprintf(gpu_uuid, sizeof(gpu_uuid), "%s", mk_backend_gpu(b, 0)->uuid);
    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 9), -1, &gi, &err), 0);
    assert_int_equal(gi, 2);
    assert_int_equal(mk_backend_ci_create(b, 0, gi, 2, &ci, &err), 0);
    assert_int_equal(ci, 0);
    g = mk_backend_gpu(b, 0);
    assert_true(mk_uuid_valid("MIG-", g->gi[0].ci[0].uuid));
    snprintf(ci_uuid, sizeof(ci_uuid), "%s", g->gi[0].ci[0].uuid);
    assert_int_equal(mk_backend_commit(b, &err), 0);
    mk_backend_close(b);

    b = must_open(f, false);
    g = mk_backend_gpu(b, 0);
    assert_string_equal(g->uuid, gpu_uuid);
    assert_int_equal(g->ngi, 1);
    assert_int_equal(g->gi[0].id, 2);
    assert_int_equal(g->gi[0].start, 4);
    assert_int_equal(g->gi[0].nci, 1);
    assert_string_equal(g->gi[0].ci[0].uuid, ci_uuid);
    assert_gpu_valid(g);
    mk_backend_close(b);
}

static void test_uncommitted_changes_are_dropped(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b = must_open(f, true);
    int id = -1;

    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 19), -1, &id, &err), 0);
    assert_int_equal(id, 13);
    assert_int_equal(mk_backend_commit(b, &err), 0);
    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 19), -1, &id, &err), 0);
    assert_int_equal(id, 11);
    assert_int_equal(mk_backend_gpu(b, 0)->ngi, 2);
    mk_backend_close(b); /* the second GI is never committed */

    b = must_open(f, false);
    assert_int_equal(mk_backend_gpu(b, 0)->ngi, 1);
    assert_int_equal(mk_backend_gpu(b, 0)->gi[0].id, 13);
    mk_backend_close(b);
}

static void test_read_only_open_refuses_changes(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b = must_open(f, false);
    int id = -1;
    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 19), -1, &id, &err), -EPERM);
    assert_int_equal(id, -1);
    assert_int_equal(mk_backend_set_mig(b, 0, false, &err), -EPERM);
    assert_int_equal(mk_backend_gpu(b, 0)->ngi, 0);
    assert_int_equal(mk_backend_commit(b, &err), 0); /* nothing to write */
    mk_backend_close(b);
}

static void test_backend_operation_errors(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b = must_open(f, true), *none = NULL;
    struct mk_backend_config cfg = {.name = "bogus", .state_dir = f->state_dir};
    int id = -1, n = -1;

    assert_int_equal(mk_backend_gi_create(b, 1, prof(b, 0, 19), -1, &id, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "GPU 1"));
    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 19), 7, &id, &err), -EINVAL);
    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 19), 6, &id, &err), 0);
    assert_int_equal(mk_backend_set_busy(b, 0, id, true, &err), 0);
    assert_int_equal(mk_backend_gi_destroy(b, 0, id, &err), -EBUSY);
    assert_string_equal(mk_strerror(&err), "In use by another client");
    assert_int_equal(mk_backend_set_mig(b, 0, false, &err), -EBUSY);
    assert_int_equal(mk_backend_set_busy(b, 0, 3, true, &err), -ENOENT);
    assert_int_equal(mk_backend_set_busy(b, 0, id, false, &err), 0);
    assert_int_equal(mk_backend_ci_create(b, 0, id, 7, &n, &err), -EINVAL);
    assert_int_equal(mk_backend_ci_destroy(b, 0, id, 0, &err), -ENOENT);
    assert_int_equal(mk_backend_gi_destroy(b, 0, id, &err), 0);
    assert_int_equal(mk_backend_gi_destroy(b, 0, id, &err), -ENOENT);
    assert_string_equal(mk_strerror(&err), "Not Found");
    mk_backend_close(b);

    assert_int_equal(mk_backend_open(&cfg, f->cat, &none, &err), -EINVAL);
    assert_null(none);
    assert_non_null(strstr(err.msg, "nvml"));
}

/* ---- mk_sim_init and damaged files ---- */

static void test_sim_init_two_models(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    const struct mk_model *models[2] = {mk_catalog_find(f->cat, "a100-sxm4-40gb"),
                                        mk_catalog_find(f->cat, "rtx-pro-6000-96gb")};
    struct mk_backend *b = must_open(f, true);
    int id;

    /* a machine with a committed GI, which the init must replace */
    assert_int_equal(mk_backend_gi_create(b, 0, prof(b, 0, 19), -1, &id, &err), 0);
    assert_int_equal(mk_backend_commit(b, &err), 0);
    mk_backend_close(b);

    assert_non_null(models[0]);
    assert_non_null(models[1]);
    if (mk_sim_init(f->state_dir, f->cat, models, 2, false, &err) < 0)
        fail_msg("mk_sim_init: %s", err.msg);
    b = must_open(f, false);
    assert_int_equal(mk_backend_gpu_count(b), 2);
    for (int i = 0; i < 2; i++) {
        const struct mk_gpu *g = mk_backend_gpu(b, i);
        char bus[32];
        snprintf(bus, sizeof(bus), "00000000:%02X:00.0", i + 1);
        assert_ptr_equal(g->model, models[i]);
        assert_false(g->mig_enabled);
        assert_int_equal(g->ngi, 0);
        assert_int_equal(g->index, i);
        assert_true(mk_uuid_valid("GPU-", g->uuid));
        assert_string_equal(g->pci_bus_id, bus);
    }
    assert_string_not_equal(mk_backend_gpu(b, 0)->uuid, mk_backend_gpu(b, 1)->uuid);
    mk_backend_close(b);

    assert_int_equal(mk_sim_init(f->state_dir, f->cat, models, 0, true, &err), -EINVAL);
}

static void test_damaged_state_fails_with_ebadmsg(void **state)
{
    static const char *const garbage[] = {
        "\x01\x02 not json at all",
        "{\"version\": 1, \"gpus\": [",
        "{\"version\": 1, \"gpus\": [{\"model\": \"h100-sxm5-80gb\"}]}",
    };
    struct fixture *f = *state;
    char path[256];
    int fds;

    mk_backend_close(must_open(f, false)); /* first use creates the directory and file */
    state_path(f, path, sizeof(path));
    fds = count_fds();
    for (size_t i = 0; i < MK_ELEMENTSOF(garbage); i++) {
        struct mk_backend *b = NULL;
        struct mk_error err = {0};
        write_file(path, garbage[i]);
        assert_int_equal(open_sim(f, true, &b, &err), -EBADMSG);
        assert_null(b);
        if (!strstr(err.msg, path))
            fail_msg("message \"%s\" does not name %s", err.msg, path);
        assert_int_equal(count_fds(), fds); /* the lock was released */
    }
}

/* Sets or unsets an environment variable. */
static void set_env(const char *name, const char *value)
{
    if (value)
        assert_int_equal(setenv(name, value, 1), 0);
    else
        assert_int_equal(unsetenv(name), 0);
}

static void test_default_dir_follows_environment(void **state)
{
    static const char *const names[] = {"MIGKIT_STATE_DIR", "XDG_STATE_HOME", "HOME"};
    char *saved[3], buf[256];
    (void)state;
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    set_env("MIGKIT_STATE_DIR", "/srv/sim");
    set_env("XDG_STATE_HOME", "/xdg");
    set_env("HOME", "/home/u");
    assert_string_equal(mk_sim_default_dir(buf, sizeof(buf)), "/srv/sim");
    set_env("MIGKIT_STATE_DIR", "");
    assert_string_equal(mk_sim_default_dir(buf, sizeof(buf)), "/xdg/migkit/sim");
    set_env("XDG_STATE_HOME", NULL);
    assert_string_equal(mk_sim_default_dir(buf, sizeof(buf)), "/home/u/.local/state/migkit/sim");
    set_env("HOME", NULL);
    set_env("MIGKIT_STATE_DIR", NULL);
    assert_null(mk_sim_default_dir(buf, sizeof(buf)));
    for (int i = 0; i < 3; i++) {
        set_env(names[i], saved[i]);
        free(saved[i]);
    }
}

/* ---- concurrency ---- */

/* Child exit codes of the concurrent-writer tests. */
enum { CHILD_CREATED = 0, CHILD_ENOSPC = 10, CHILD_OPEN_FAILED = 20, CHILD_OTHER = 30 };

/* Runs in a forked child, so it reports through its exit code and never uses cmocka. */
static int child_create_1g(struct fixture *f)
{
    struct mk_backend *b = NULL;
    struct mk_error err = {0};
    const struct mk_gi_profile *p;
    int id, r;
    if (open_sim(f, true, &b, &err) < 0)
        return CHILD_OPEN_FAILED;
    if (!(p = mk_model_profile_by_id(mk_backend_gpu(b, 0)->model, 19))) {
        mk_backend_close(b);
        return CHILD_OTHER;
    }
    r = mk_backend_gi_create(b, 0, p, -1, &id, &err);
    if (r == 0)
        r = mk_backend_commit(b, &err);
    mk_backend_close(b);
    return r == 0 ? CHILD_CREATED : r == -ENOSPC ? CHILD_ENOSPC : CHILD_OTHER;
}

/*
 * Forks 8 writers that each add one automatic 1g GI; an H100 has room for 7. The writers wait
 * on a pipe and start together when the parent closes it, so their opens really overlap.
 */
static void run_eight_writers(struct fixture *f)
{
    pid_t pids[8];
    int created = 0, enospc = 0, gate[2];
    struct mk_backend *b;
    const struct mk_gpu *g;
    unsigned ids = 0;

    assert_int_equal(pipe(gate), 0);
    fflush(NULL);
    for (int i = 0; i < 8; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            close(gate[1]);
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(child_create_1g(f));
        }
    }
    close(gate[0]);
    close(gate[1]); /* start */
    for (int i = 0; i < 8; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        switch (WEXITSTATUS(status)) {
        case CHILD_CREATED:
            created++;
            break;
        case CHILD_ENOSPC:
            enospc++;
            break;
        default:
            fail_msg("writer %d exited with %d", i, WEXITSTATUS(status));
        }
    }
    assert_int_equal(created, 7);
    assert_int_equal(enospc, 1);

    b = must_open(f, false);
    g = mk_backend_gpu(b, 0);
    assert_int_equal(g->ngi, 7);
    for (int i = 0; i < g->ngi; i++)
        ids |= 1u << g->gi[i].id;
    assert_int_equal(ids, 0x3f80u); /* GI IDs 7..13: every 1g slot 0-6 is used */
    assert_gpu_valid(g);
    mk_backend_close(b);
}

static void test_concurrent_writers_lose_no_update(void **state)
{
    struct fixture *f = *state;
    mk_backend_close(must_open(f, false)); /* the machine exists before the race */
    run_eight_writers(f);
}

static void test_concurrent_first_use_creates_one_machine(void **state)
{
    run_eight_writers(*state); /* the writers also race to create the default machine */
}

/* ---- allocation failures ---- */

static void test_catalog_new_survives_alloc_failures(void **state)
{
    static char sentinel; /* *ret_catalog must stay untouched on failure */
    long n;
    (void)state;
    for (n = 1; n < 10000; n++) {
        struct mk_catalog *cat = (struct mk_catalog *)&sentinel;
        struct mk_error err = {0};
        int r;
        mk__alloc_fail_after(n);
        r = mk_catalog_new(&cat, &err);
        mk__alloc_fail_after(0);
        if (r == 0) {
            assert_int_equal(mk_catalog_count(cat), 13);
            mk_catalog_free(cat);
            break;
        }
        assert_int_equal(r, -ENOMEM);
        assert_int_equal(err.code, -ENOMEM);
        assert_ptr_equal(cat, (struct mk_catalog *)&sentinel);
    }
    assert_true(n > 1); /* at least one failure was injected */
    assert_true(n < 10000);
}

static void test_backend_open_survives_alloc_failures(void **state)
{
    struct fixture *f = *state;
    int fds, failures = 0;
    long n;

    for (n = 1; n < 1000; n++) {
        struct mk_backend *b = NULL;
        struct mk_error err = {0};
        int r;
        fds = count_fds();
        mk__alloc_fail_after(n);
        r = open_sim(f, true, &b, &err); /* the first success also creates the machine */
        mk__alloc_fail_after(0);
        if (r == 0) {
            assert_int_equal(mk_backend_gpu_count(b), 1);
            mk_backend_close(b);
            break;
        }
        failures++;
        assert_int_equal(r, -ENOMEM);
        assert_null(b);
        assert_int_equal(count_fds(), fds); /* no lock fd left behind */
    }
    assert_true(failures >= 3);
    assert_true(n < 1000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_first_open_creates_default_machine),
        T(test_commit_persists_across_reopen),
        T(test_uncommitted_changes_are_dropped),
        T(test_read_only_open_refuses_changes),
        T(test_backend_operation_errors),
        T(test_sim_init_two_models),
        T(test_damaged_state_fails_with_ebadmsg),
        T(test_default_dir_follows_environment),
        T(test_concurrent_writers_lose_no_update),
        T(test_concurrent_first_use_creates_one_machine),
        T(test_catalog_new_survives_alloc_failures),
        T(test_backend_open_survives_alloc_failures),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
