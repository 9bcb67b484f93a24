/*
 * test-store.c - unit tests of migd's SQLite store (src/daemon/store.c): schema creation and
 * its version, rows written in a transaction read back by store_load, rollback, constraints
 * (cascades, the one-GI-per-ID index), a database from a newer migd refused, events paging.
 *
 * Every test works in its own mkdtemp() directory under /tmp, removed after.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

#define UUID_A "MIG-11111111-1111-4111-8111-111111111111"
#define UUID_B "MIG-22222222-2222-4222-8222-222222222222"

struct fixture {
    char dir[64];
    char db[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/migkit-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof(f->db), "%s/migd.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char path[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", f->db, suffix[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* What store_load saw. */
struct seen {
    int gpus, instances, grants, processes;
    struct store_instance last;
};

static int on_gpu(void *ctx, const struct store_gpu *g, struct mk_error *err)
{
    (void)err;
    assert_string_equal(g->model, "h100-sxm5-80gb");
    ((struct seen *)ctx)->gpus++;
    return 0;
}

static int on_instance(void *ctx, const struct store_instance *in, struct mk_error *err)
{
    (void)err;
    ((struct seen *)ctx)->instances++;
    ((struct seen *)ctx)->last = *in;
    return 0;
}

static int on_grant(void *ctx, const char *instance, uid_t uid, struct mk_error *err)
{
    (void)err;
    (void)instance;
    assert_int_equal(uid, 1000);
    ((struct seen *)ctx)->grants++;
    return 0;
}

static int on_process(void *ctx, const struct store_process *p, struct mk_error *err)
{
    (void)err;
    assert_int_equal(p->pid, 4242);
    ((struct seen *)ctx)->processes++;
    return 0;
}

static const struct store_load_ops ops = {on_gpu, on_instance, on_grant, on_process};

static const struct store_gpu gpu0 = {.idx = 0,
                                      .uuid = "GPU-00000000-0000-4000-8000-000000000000",
                                      .model = "h100-sxm5-80gb",
                                      .name = "NVIDIA H100 80GB HBM3",
                                      .memory_bytes = 85520809984ULL,
                                      .sms = 132};

static struct store_instance instance(const char *uuid, int gi_id)
{
    struct store_instance in = {.gpu = 0, .kind = STORE_KIND_PROFILE, .profile_id = 19,
                                .gi_id = gi_id, .placement = 6, .quota_bytes = 10u << 30,
                                .sms = 16, .name = "x MIG 1g.10gb", .created_at = 1};
    snprintf(in.uuid, sizeof(in.uuid), "%s", uuid);
    return in;
}

/* Writes a GPU, an instance with a grant and a process; reads them back after reopening. */
static void test_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    struct mk_error err = {0};
    struct store_instance in = instance(UUID_A, 13);
    struct store_process p = {.pid = 4242, .start_time = 99, .instance = UUID_A, .uid = 1000};
    struct store_event e = {.at = 5, .uid = 0, .pid = 1, .action = "instance.create",
                            .subject = UUID_A, .detail = "d"};
    struct seen seen = {0};
    assert_int_equal(store_open(f->db, &s, &err), 0);
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_gpu_put(s, &gpu0, &err), 0);
    assert_int_equal(store_instance_insert(s, &in, &err), 0);
    assert_int_equal(store_grant_insert(s, UUID_A, 1000, &err), 0);
    assert_int_equal(store_grant_insert(s, UUID_A, 1000, &err), 0); /* idempotent */
    assert_int_equal(store_process_insert(s, &p, &err), 0);
    assert_true(store_event_add(s, &e, &err) > 0);
    assert_int_equal(store_commit(s, &err), 0);
    store_close(s);

    assert_int_equal(store_open(f->db, &s, &err), 0);
    assert_int_equal(store_load(s, &ops, &seen, &err), 0);
    assert_int_equal(seen.gpus, 1);
    assert_int_equal(seen.instances, 1);
    assert_int_equal(seen.grants, 1);
    assert_int_equal(seen.processes, 1);
    assert_string_equal(seen.last.uuid, UUID_A);
    assert_int_equal(seen.last.kind, STORE_KIND_PROFILE);
    assert_int_equal(seen.last.gi_id, 13);
    assert_int_equal(seen.last.quota_bytes, 10u << 30);

    /* Deleting the instance cascades to its grant and process. */
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_instance_delete(s, UUID_A, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_load(s, &ops, &seen, &err), 0);
    assert_int_equal(seen.instances + seen.grants + seen.processes, 0);
    store_close(s);
}

/* A rolled-back transaction leaves nothing; constraints fail with -EEXIST. */
static void test_rollback_and_constraints(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    struct mk_error err = {0};
    struct store_instance a = instance(UUID_A, 13), b = instance(UUID_B, 13);
    struct seen seen = {0};
    assert_int_equal(store_open(f->db, &s, &err), 0);
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_gpu_put(s, &gpu0, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);

    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_instance_insert(s, &a, &err), 0);
    store_rollback(s);
    assert_int_equal(store_load(s, &ops, &seen, &err), 0);
    assert_int_equal(seen.instances, 0);

    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_instance_insert(s, &a, &err), 0);
    /* the same GI ID twice on one GPU is refused by the schema itself */
    assert_int_equal(store_instance_insert(s, &b, &err), -EEXIST);
    store_rollback(s);
    /* a grant on a missing instance breaks the foreign key */
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_grant_insert(s, UUID_B, 7, &err), -EEXIST);
    store_rollback(s);
    store_close(s);
}

/* A database written by a newer migd is refused, naming both versions. */
static void test_newer_schema(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    struct mk_error err = {0};
    sqlite3 *db;
    assert_int_equal(store_open(f->db, &s, &err), 0);
    store_close(s);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(f->db, &s, &err), -EPROTONOSUPPORT);
    assert_non_null(strstr(err.msg, "99"));
}

/* A file that is not a database is reported, not crashed on. */
static void test_not_a_database(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    struct mk_error err = {0};
    FILE *fp = fopen(f->db, "w");
    assert_non_null(fp);
    for (int i = 0; i < 256; i++)
        fputs("this is not a database file ", fp);
    fclose(fp);
    assert_true(store_open(f->db, &s, &err) < 0);
    assert_non_null(strstr(err.msg, f->db));
}

static int count_event(void *ctx, const struct store_event *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

/* Events page by id and filter by uid. */
static void test_events(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    struct mk_error err = {0};
    int n = 0;
    assert_int_equal(store_open(f->db, &s, &err), 0);
    assert_int_equal(store_begin(s, &err), 0);
    for (int i = 0; i < 10; i++) {
        struct store_event e = {.at = i, .uid = (uid_t)(i % 2), .action = "a"};
        assert_true(store_event_add(s, &e, &err) > 0);
    }
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(store_events(s, 0, 100, (uid_t)-1, count_event, &n, &err), 10);
    assert_int_equal(store_events(s, 8, 100, (uid_t)-1, count_event, &n, &err), 2);
    assert_int_equal(store_events(s, 0, 3, (uid_t)-1, count_event, &n, &err), 3);
    assert_int_equal(store_events(s, 0, 100, 1, count_event, &n, &err), 5);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
