/*
 * test-config.c - how libmigshim is set up, and how it refuses: every case runs in a fresh
 * child process (the shim sets itself up once per process), which calls cuInit and reports
 * its result and what the shim printed on stderr.
 *
 * Cases: the standalone source accepted and announced as not tamper-proof; the lease source
 * refused when it cannot work; an unknown mode; quota files missing, owned by someone else,
 * writable by others, malformed or without a quota; a bad MIGKIT_SHIM_MAX_ALLOCS; and a full
 * table of allocations, which refuses new allocations rather than losing track of one.
 * A refused set-up makes cuInit fail with CUDA_ERROR_NOT_PERMITTED and every allocation
 * after it as well.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "shim-test.h"
#include "vendor/cuda-syms.h"

static char dir[] = "/tmp/migshim-config-XXXXXX";

/* The files the cases write, removed at the end. */
static const char *const files[] = {"ok.conf",  "theirs.conf", "root.conf", "gw.conf",
                                    "bad.conf", "max.conf",    "table.conf"};

static void cleanup(void)
{
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

struct outcome {
    CUresult init;      /* cuInit's result */
    CUresult alloc;     /* a 1 MiB cuMemAlloc after it */
    long count;         /* what the case's body counted */
    char stderr_[1024]; /* what the shim printed */
};

/* Writes text to dir/name with the given mode; returns the path (static storage). */
static const char *quota_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

/* Runs cuInit, a 1 MiB allocation and body (may be NULL) in a child with the environment
 * env ("NAME=value" strings, NULL-terminated) added to a clean one. */
static struct outcome run(const char *const *env, long (*body)(void))
{
    struct outcome o = {0};
    int res[2], err[2], status;
    ssize_t n;
    size_t got = 0;
    pid_t pid;
    assert_int_equal(pipe(res), 0);
    assert_int_equal(pipe(err), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        CUdeviceptr p;
        close(res[0]);
        close(err[0]);
        dup2(err[1], STDERR_FILENO);
        unsetenv("MIGKIT_SHIM_MODE");
        unsetenv("MIGKIT_SHIM_STANDALONE_FILE");
        unsetenv("MIGKIT_SHIM_STANDALONE_INSECURE");
        unsetenv("MIGKIT_SHIM_MAX_ALLOCS");
        for (; env && *env; env++)
            putenv((char *)*env);
        o.init = cuInit(0);
        o.alloc = cuMemAlloc_v2(&p, ST_MIB);
        o.count = body ? body() : 0;
        n = write(res[1], &o, offsetof(struct outcome, stderr_));
        _exit(n < 0);
    }
    close(res[1]);
    close(err[1]);
    assert_int_equal(read(res[0], &o, offsetof(struct outcome, stderr_)),
                     offsetof(struct outcome, stderr_));
    while ((n = read(err[0], o.stderr_ + got, sizeof(o.stderr_) - 1 - got)) > 0)
        got += (size_t)n;
    o.stderr_[got] = '\0';
    close(res[0]);
    close(err[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    print_message("%s", o.stderr_);
    return o;
}

/* A refusal: cuInit and the allocation fail, and the message says why. */
static void refused(const char *const *env, const char *why)
{
    struct outcome o = run(env, NULL);
    assert_int_equal(o.init, CUDA_ERROR_NOT_PERMITTED);
    assert_int_equal(o.alloc, CUDA_ERROR_NOT_PERMITTED);
    assert_non_null(strstr(o.stderr_, "migshim: no memory quota"));
    if (!strstr(o.stderr_, why))
        fail_msg("expected \"%s\" in: %s", why, o.stderr_);
}

static char *var(const char *name, const char *value)
{
    static char buf[8][256];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof(buf[0]), "%s=%s", name, value);
    return b;
}

static void standalone_ok(void **state)
{
    const char *env[] = {
        "MIGKIT_SHIM_MODE=standalone", "MIGKIT_SHIM_STANDALONE_INSECURE=1",
        var("MIGKIT_SHIM_STANDALONE_FILE", quota_file("ok.conf", "quota=64MiB\n", 0644)), NULL};
    struct outcome o = run(env, NULL);
    (void)state;
    assert_int_equal(o.init, CUDA_SUCCESS);
    assert_int_equal(o.alloc, CUDA_SUCCESS);
    assert_non_null(strstr(o.stderr_, "NOT tamper-proof"));
    assert_non_null(strstr(o.stderr_, "67108864 bytes per process"));
}

static void lease_unavailable(void **state)
{
    /* The default mode is the lease source; no migd listens in this test's run directory. */
    const char *env[] = {var("MIGKIT_RUN_DIR", dir), NULL};
    (void)state;
    refused(env, "");
}

static void bad_mode(void **state)
{
    const char *env[] = {"MIGKIT_SHIM_MODE=bogus", NULL};
    (void)state;
    refused(env, "MIGKIT_SHIM_MODE=bogus: expected lease or standalone");
}

static void missing_file(void **state)
{
    const char *env[] = {"MIGKIT_SHIM_MODE=standalone",
                         var("MIGKIT_SHIM_STANDALONE_FILE", "/nonexistent/quota.conf"), NULL};
    (void)state;
    refused(env, "cannot open /nonexistent/quota.conf");
}

/* A file that root does not own is refused unless MIGKIT_SHIM_STANDALONE_INSECURE=1; run as
 * root, the test gives the file to nobody (65534) first. */
static void not_root(void **state)
{
    const char *path = quota_file("theirs.conf", "quota=64MiB\n", 0644);
    const char *env[] = {"MIGKIT_SHIM_MODE=standalone", var("MIGKIT_SHIM_STANDALONE_FILE", path),
                         NULL};
    (void)state;
    if (geteuid() == 0 && chown(path, 65534, 65534) < 0)
        skip();
    refused(env, "not root: refused");
}

/* Run as root, a root-owned file needs no escape hatch. */
static void root_owned(void **state)
{
    const char *env[] = {
        "MIGKIT_SHIM_MODE=standalone",
        var("MIGKIT_SHIM_STANDALONE_FILE", quota_file("root.conf", "quota=64MiB\n", 0644)), NULL};
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(run(env, NULL).init, CUDA_SUCCESS);
}

static void group_writable(void **state)
{
    const char *env[] = {
        "MIGKIT_SHIM_MODE=standalone", "MIGKIT_SHIM_STANDALONE_INSECURE=1",
        var("MIGKIT_SHIM_STANDALONE_FILE", quota_file("gw.conf", "quota=64MiB\n", 0664)), NULL};
    (void)state;
    refused(env, "writable by group or others");
}

static void malformed(void **state)
{
    static const struct {
        const char *text, *why;
    } cases[] = {{"quota=64MiB\nlimit=3\n", ":2: bad limit"},
                 {"quota=12parsecs\n", ":1: bad quota"},
                 {"quota=0\n", ":1: bad quota"},
                 {"quota=64MiB\nuuid=MIG-nothex\n", ":2: bad uuid"},
                 {"just words\n", ":1: not key=value"},
                 {"# nothing\nprofile=1g.10gb\n", "no quota= line"}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {
            "MIGKIT_SHIM_MODE=standalone", "MIGKIT_SHIM_STANDALONE_INSECURE=1",
            var("MIGKIT_SHIM_STANDALONE_FILE", quota_file("bad.conf", cases[i].text, 0644)), NULL};
        refused(env, cases[i].why);
    }
}

static void bad_max_allocs(void **state)
{
    const char *env[] = {
        "MIGKIT_SHIM_MODE=standalone", "MIGKIT_SHIM_STANDALONE_INSECURE=1",
        "MIGKIT_SHIM_MAX_ALLOCS=0",
        var("MIGKIT_SHIM_STANDALONE_FILE", quota_file("max.conf", "quota=64MiB\n", 0644)), NULL};
    (void)state;
    refused(env, "MIGKIT_SHIM_MAX_ALLOCS=0");
}

/* Allocates 1-byte blocks until refused; returns how many succeeded (after the one made by
 * run()), or -1 if the refusal was not CUDA_ERROR_OUT_OF_MEMORY. */
static long fill_table(void)
{
    CUdeviceptr p;
    CUresult r;
    long n = 0;
    while ((r = cuMemAlloc_v2(&p, 1)) == CUDA_SUCCESS)
        n++;
    return r == CUDA_ERROR_OUT_OF_MEMORY ? n : -1;
}

static void table_full(void **state)
{
    /* The smallest table has 1024 entries; allocations may fill 3/4 of it. */
    const char *env[] = {
        "MIGKIT_SHIM_MODE=standalone", "MIGKIT_SHIM_STANDALONE_INSECURE=1",
        "MIGKIT_SHIM_MAX_ALLOCS=10",
        var("MIGKIT_SHIM_STANDALONE_FILE", quota_file("table.conf", "quota=1GiB\n", 0644)), NULL};
    struct outcome o = run(env, fill_table);
    (void)state;
    assert_int_equal(o.init, CUDA_SUCCESS);
    assert_int_equal(o.count + 1, 768);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standalone_ok),  cmocka_unit_test(lease_unavailable),
        cmocka_unit_test(bad_mode),       cmocka_unit_test(missing_file),
        cmocka_unit_test(not_root),       cmocka_unit_test(root_owned),
        cmocka_unit_test(group_writable), cmocka_unit_test(malformed),
        cmocka_unit_test(bad_max_allocs), cmocka_unit_test(table_full),
    };
    int r;
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    r = cmocka_run_group_tests(tests, NULL, NULL);
    cleanup();
    return r;
}
