/*
 * test-lease.c - unit and integration tests of the lease protocol: the wire helpers
 * (src/lease/wire.c), the client (src/lease/client.c) and the server (src/daemon/lease.c),
 * with the test registry of quota.c behind the server, all in this process (the server on its
 * own thread, as in migd).
 *
 * Covered: HELLO / GRANT / denial / RELEASE / PING; protocol errors (version mismatch,
 * garbage, random bytes, oversized lines, out-of-order requests, bad ranges), each answered
 * with "ERR <code>" and a closed connection that leaves the sums unchanged; a closed
 * connection and a stopped server releasing everything; membership; re-registration after a
 * server restart (client reconnection, release while the server is down, a re-registration
 * that no longer fits); pipelining; a client that never reads not blocking others; connection
 * limits and the HELLO deadline; the re-registration grace; fork; server start errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common.h"
#include "lease/wire.h"
#include "migkit/lease.h"
#include "quota.h"

#define MiB   (UINT64_C(1) << 20)
#define QUOTA (100 * MiB)

/* The fixture: a socket in a fresh temporary directory, one instance of QUOTA bytes whose
 * member is this process (and, through the parent walk, its children), and a server. */
static struct {
    char dir[64];
    char path[96];
    struct tq q;
    struct lease_server *srv;
} fx;

static void start(const struct lease_options *o)
{
    struct mk_error err = {0};
    int r = lease_server_start(fx.path, &tq_ops, &fx.q, o, &fx.srv, &err);
    if (r < 0)
        fail_msg("lease_server_start: %s", mk_strerror(&err));
}

static void stop(void)
{
    lease_server_stop(fx.srv);
    fx.srv = NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/mk-lease-XXXXXX");
    /* 0755: the per-uid test connects as another user. */
    if (!mkdtemp(fx.dir) || chmod(fx.dir, 0755) < 0)
        return -1;
    snprintf(fx.path, sizeof(fx.path), "%s/lease.sock", fx.dir);
    tq_init(&fx.q, true);
    tq_add_instance(&fx.q, QUOTA);
    tq_add_member(&fx.q, getpid(), 0);
    start(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop();
    unlink(fx.path);
    rmdir(fx.dir);
    return 0;
}

static struct mk_lease_client *client(void)
{
    struct mk_lease_client *c;
    struct mk_error err = {0};
    assert_int_equal(mk_lease_client_new(fx.path, 2000, &c, &err), 0);
    return c;
}

static uint64_t sum(void)
{
    return tq_sum(&fx.q, 0);
}

/* Raw connection that has said HELLO. */
static int raw_hello(void)
{
    char line[MK_LEASE_REPLY_MAX];
    int fd = raw_open(fx.path);
    assert_true(fd >= 0);
    assert_true(raw_send(fd, "HELLO 1 held=0\n"));
    assert_true(raw_line(fd, line, sizeof(line)) > 0);
    assert_memory_equal(line, "OK 1 ", 5);
    return fd;
}

/* Sends req on fd and expects a reply starting with want. */
static void exchange(int fd, const char *req, const char *want)
{
    char line[MK_LEASE_REPLY_MAX];
    assert_true(raw_send(fd, req));
    assert_true(raw_line(fd, line, sizeof(line)) >= 0);
    if (strncmp(line, want, strlen(want)) != 0)
        fail_msg("sent %.*s: got \"%s\", want \"%s...\"", (int)strcspn(req, "\n"), req, line, want);
}

/* ------------------------------------------------------------------------------------------ */

static struct mk__lease_tok tok(const char *s)
{
    return (struct mk__lease_tok){s, strlen(s)};
}

static void test_wire_numbers(void **state)
{
    static const char *bad[] = {"",
                                "00",
                                "01",
                                "-1",
                                "+1",
                                "1a",
                                " 1",
                                "18446744073709551616",
                                "99999999999999999999",
                                "123456789012345678901"};
    char buf[64];
    struct mk__lease_line l;
    uint64_t v;
    (void)state;
    assert_int_equal(mk__lease_parse_u64(tok("0"), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(mk__lease_parse_u64(tok("18446744073709551615"), &v), 0);
    assert_true(v == UINT64_MAX);
    for (size_t i = 0; i < MK_ELEMENTSOF(bad); i++)
        if (mk__lease_parse_u64(tok(bad[i]), &v) != -EINVAL)
            fail_msg("\"%s\" parsed", bad[i]);
    mk__lease_line_init(&l, buf, sizeof(buf));
    mk__lease_line_put_u64(&l, 0);
    mk__lease_line_put(&l, " ");
    mk__lease_line_put_u64(&l, UINT64_MAX);
    assert_false(l.overflow);
    assert_memory_equal(buf, "0 18446744073709551615", l.len);
    mk__lease_line_init(&l, buf, 3);
    mk__lease_line_put(&l, "abcd");
    assert_true(l.overflow);
}

static void test_wire_tokens(void **state)
{
    static const char *bad[] = {"A  B", "A B ", " A", "A "};
    struct mk__lease_cursor c;
    struct mk__lease_tok t;
    (void)state;
    mk__lease_cursor_init(&c, "GRANT 5", 7);
    assert_int_equal(mk__lease_next(&c, &t), 1);
    assert_true(mk__lease_tok_is(t, "GRANT"));
    assert_int_equal(mk__lease_next(&c, &t), 1);
    assert_true(mk__lease_tok_is(t, "5"));
    assert_int_equal(mk__lease_next(&c, &t), 0);
    for (size_t i = 0; i < MK_ELEMENTSOF(bad); i++) {
        int r;
        mk__lease_cursor_init(&c, bad[i], strlen(bad[i]));
        while ((r = mk__lease_next(&c, &t)) == 1)
            ;
        if (r != -EINVAL)
            fail_msg("\"%s\" tokenised", bad[i]);
    }
    assert_true(mk__lease_tok_key(tok("held=12"), "held", &t));
    assert_true(mk__lease_tok_is(t, "12"));
    assert_false(mk__lease_tok_key(tok("held"), "held", &t));
    assert_false(mk__lease_tok_key(tok("heldx=1"), "held", &t));
}

static void test_default_path(void **state)
{
    char buf[128], longdir[200];
    (void)state;
    unsetenv(MK_LEASE_RUN_DIR_ENV);
    assert_int_equal(mk_lease_default_path(buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/run/migkit/lease.sock");
    setenv(MK_LEASE_RUN_DIR_ENV, "/tmp/x", 1);
    assert_int_equal(mk_lease_default_path(buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/tmp/x/lease.sock");
    assert_int_equal(mk_lease_default_path(buf, 10), -ENAMETOOLONG);
    memset(longdir, 'd', sizeof(longdir) - 1);
    longdir[sizeof(longdir) - 1] = '\0';
    setenv(MK_LEASE_RUN_DIR_ENV, longdir, 1);
    assert_int_equal(mk_lease_default_path(buf, sizeof(buf)), -ENAMETOOLONG);
    unsetenv(MK_LEASE_RUN_DIR_ENV);
}

static void test_client_args(void **state)
{
    char longpath[200];
    struct mk_lease_client *c;
    struct mk_error err = {0};
    (void)state;
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(mk_lease_client_new(longpath, 0, &c, &err), -ENAMETOOLONG);
    c = client();
    assert_int_equal(mk_lease_grant(c, 0, NULL, &err), -ERANGE);
    assert_int_equal(mk_lease_grant(c, MK_LEASE_BYTES_MAX + 1, NULL, &err), -ERANGE);
    assert_int_equal(mk_lease_release(c, 1, &err), -ERANGE);
    assert_int_equal(mk_lease_release(c, 0, &err), -ERANGE);
    mk_lease_client_free(c);
    mk_lease_client_free(NULL);
}

static void test_hello_grant_deny_release(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_lease_limits lim;
    struct mk_error err = {0};
    uint64_t avail = 0, held = 1;
    (void)state;
    assert_int_equal(mk_lease_connect(c, &lim, &err), 0);
    assert_string_equal(lim.instance, "MIG-test-0");
    assert_string_equal(lim.name, "Test GPU MIG custom 0");
    assert_true(lim.quota_bytes == QUOTA);
    assert_int_equal(lim.sms, 16);
    assert_true(lim.chunk_bytes == 64 * MiB);
    assert_true(lim.held == 0);
    assert_int_equal(mk_lease_grant(c, 60 * MiB, &avail, &err), 0);
    assert_int_equal(mk_lease_grant(c, 50 * MiB, &avail, &err), -ENOSPC);
    assert_true(avail == 40 * MiB);
    assert_int_equal(mk_lease_grant(c, 40 * MiB, &avail, &err), 0);
    assert_true(sum() == QUOTA);
    assert_int_equal(mk_lease_grant(c, 1, &avail, &err), -ENOSPC);
    assert_true(avail == 0);
    assert_int_equal(mk_lease_release(c, 30 * MiB, &err), 0);
    assert_true(sum() == 70 * MiB && mk_lease_held(c) == 70 * MiB);
    assert_int_equal(mk_lease_ping(c, &held, &err), 0);
    assert_true(held == 70 * MiB);
    assert_int_equal(mk_lease_release(c, 71 * MiB, &err), -ERANGE);
    assert_true(mk_lease_held(c) == 70 * MiB);
    assert_int_equal(mk_lease_release(c, 70 * MiB, &err), 0);
    assert_true(sum() == 0);
    assert_int_equal(mk_lease_reconnects(c), 0);
    mk_lease_client_free(c);
    assert_int_equal(atomic_load(&fx.q.inst[0].violations), 0);
}

static void test_two_clients_share_quota(void **state)
{
    struct mk_lease_client *a = client(), *b = client();
    struct mk_error err = {0};
    uint64_t avail = 0;
    (void)state;
    assert_int_equal(mk_lease_grant(a, 80 * MiB, NULL, &err), 0);
    assert_int_equal(mk_lease_grant(b, 30 * MiB, &avail, &err), -ENOSPC);
    assert_true(avail == 20 * MiB);
    assert_int_equal(mk_lease_grant(b, 20 * MiB, NULL, &err), 0);
    mk_lease_client_free(a);
    assert_true(WAIT_UNTIL(sum() == 20 * MiB));
    assert_int_equal(mk_lease_grant(b, 80 * MiB, NULL, &err), 0);
    mk_lease_client_free(b);
    assert_true(WAIT_UNTIL(sum() == 0));
}

/* Sends lines on a fresh raw connection (after HELLO when hello) and expects "ERR <code>"
 * then a closed connection. */
static void expect_error(bool hello, const char *lines, size_t n, const char *code)
{
    char line[MK_LEASE_REPLY_MAX], want[32];
    int fd = hello ? raw_hello() : raw_open(fx.path);
    assert_true(fd >= 0);
    assert_true(raw_sendn(fd, lines, n));
    if (raw_line(fd, line, sizeof(line)) < 0)
        fail_msg("no reply to \"%.*s\"", (int)strcspn(lines, "\n"), lines);
    snprintf(want, sizeof(want), "ERR %s ", code);
    if (strncmp(line, want, strlen(want)) != 0)
        fail_msg("sent \"%.*s\": got \"%s\", want \"%s...\"", (int)strcspn(lines, "\n"), lines,
                 line, want);
    assert_true(raw_eof(fd));
    close(fd);
}

#define EXPECT_ERROR(hello, lit, code) expect_error(hello, lit, sizeof(lit) - 1, code)

static void test_version_mismatch(void **state)
{
    (void)state;
    EXPECT_ERROR(false, "HELLO 3 held=0\n", "version");
    EXPECT_ERROR(false, "HELLO 0 held=0\n", "version");
    EXPECT_ERROR(false, "HELLO 3 a future hello with other fields\n", "version");
    EXPECT_ERROR(false, "HELLO 18446744073709551615\n", "version");
    assert_true(sum() == 0);
}

/* Version 2: INFO gives the quota and the instance's sum, changes nothing, takes no
 * argument; the HELLO reply echoes 2. On a version-1 connection INFO is unknown, as it was. */
static void test_info(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_lease_info in = {0};
    struct mk_error err = {0};
    int fd = raw_open(fx.path), v1;
    (void)state;
    assert_true(fd >= 0);
    exchange(fd, "HELLO 2 held=0\n", "OK 2 held=0 quota=104857600 ");
    exchange(fd, "INFO\n", "OK held=0 quota=104857600 granted=0");
    exchange(fd, "GRANT 1048576\n", "OK held=1048576");
    assert_int_equal(mk_lease_grant(c, 3 * MiB, NULL, &err), 0);
    exchange(fd, "INFO\n", "OK held=1048576 quota=104857600 granted=4194304");
    assert_int_equal(mk_lease_info(c, &in, &err), 0);
    assert_true(in.quota_bytes == QUOTA && in.granted == 4 * MiB && in.held == 3 * MiB);
    assert_true(sum() == 4 * MiB);
    v1 = raw_hello();
    exchange(v1, "INFO\n", "ERR syntax ");
    assert_true(raw_eof(v1));
    close(v1);
    exchange(fd, "INFO now\n", "ERR syntax ");
    close(fd);
    EXPECT_ERROR(false, "INFO\n", "order");
    mk_lease_client_free(c);
    assert_true(WAIT_UNTIL(sum() == 0));
}

/* A server that speaks version 1 only, on its own thread: answers "HELLO 2" as such a server
 * does ("ERR version", then close) and serves "HELLO 1" and "GRANT n" of one connection. */
static void *old_server(void *arg)
{
    int lfd = *(int *)arg;
    for (int i = 0; i < 2; i++) {
        char line[MK_LEASE_REQUEST_MAX];
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        if (raw_line(fd, line, sizeof(line)) > 0 && strncmp(line, "HELLO 1 ", 8) != 0) {
            raw_send(fd, "ERR version this migd speaks lease protocol version 1\n");
            close(fd);
            continue;
        }
        raw_send(fd, "OK 1 held=0 quota=1048576 sms=1 chunk=0 instance=MIG-old name=old\n");
        while (raw_line(fd, line, sizeof(line)) >= 0)
            raw_send(fd, strncmp(line, "GRANT ", 6) == 0 ? "OK held=4096\n" : "ERR syntax no\n");
        close(fd);
    }
    return NULL;
}

/* The client speaks version 1 to a server that knows nothing newer: everything but INFO
 * works, and INFO says so without a round trip. */
static void test_info_old_server(void **state)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct mk_lease_limits lim = {0};
    struct mk_lease_info in;
    struct mk_lease_client *c;
    struct mk_error err = {0};
    char path[100]; /* under sun_path's 108 */
    pthread_t t;
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    (void)state;
    snprintf(path, sizeof(path), "%s/old.sock", fx.dir);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(pthread_create(&t, NULL, old_server, &lfd), 0);
    assert_int_equal(mk_lease_client_new(path, 2000, &c, &err), 0);
    assert_int_equal(mk_lease_connect(c, &lim, &err), 0);
    assert_int_equal(lim.version, 1);
    assert_true(lim.quota_bytes == 1048576);
    assert_int_equal(mk_lease_info(c, &in, &err), -EPROTONOSUPPORT);
    assert_int_equal(mk_lease_grant(c, 4096, NULL, &err), 0);
    mk_lease_client_free(c);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(t, NULL);
    close(lfd);
    unlink(path);
}

static void test_garbage(void **state)
{
    (void)state;
    EXPECT_ERROR(false, "FOO\n", "syntax");
    EXPECT_ERROR(false, "\n", "syntax");
    EXPECT_ERROR(false, "hello 1 held=0\n", "syntax");
    EXPECT_ERROR(false, "HELLO\n", "syntax");
    EXPECT_ERROR(false, "HELLO x held=0\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1 held=0 extra\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1 held=00\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1  held=0\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1 held=0\r\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1 size=0\n", "syntax");
    EXPECT_ERROR(false, "\x01\x02\xff\n", "syntax");
    EXPECT_ERROR(false, "HELLO 1 held=\0\n", "syntax");
    EXPECT_ERROR(false, "GRANT 5\n", "order");
    EXPECT_ERROR(false, "PING\n", "order");
    EXPECT_ERROR(false, "RELEASE 5\n", "order");
    EXPECT_ERROR(true, "HELLO 1 held=0\n", "order");
    EXPECT_ERROR(true, "GRANT abc\n", "syntax");
    EXPECT_ERROR(true, "GRANT\n", "syntax");
    EXPECT_ERROR(true, "GRANT 1 2\n", "syntax");
    EXPECT_ERROR(true, "GRANT -1\n", "syntax");
    EXPECT_ERROR(true, "GRANT 99999999999999999999\n", "syntax");
    EXPECT_ERROR(true, "GRANT 0\n", "range");
    EXPECT_ERROR(true, "GRANT 18446744073709551615\n", "range");
    EXPECT_ERROR(true, "RELEASE 1\n", "range");
    EXPECT_ERROR(true, "RELEASE 0\n", "range");
    EXPECT_ERROR(true, "PING x\n", "syntax");
    /* An error after a grant: the connection closes and gives the grant back. */
    {
        int fd = raw_hello();
        exchange(fd, "GRANT 5\n", "OK held=5");
        exchange(fd, "RELEASE 6\n", "ERR range ");
        assert_true(raw_eof(fd));
        close(fd);
    }
    assert_true(WAIT_UNTIL(sum() == 0));
}

/* Random bytes, in random-length bursts, on many connections: the server answers or closes,
 * never crashes, never changes a sum, and keeps serving a normal client. */
static void test_random_bytes(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_error err = {0};
    unsigned seed = 12345;
    (void)state;
    for (int i = 0; i < 300; i++) {
        char buf[300];
        size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf)) + 1;
        int fd = i % 2 ? raw_hello() : raw_open(fx.path);
        for (size_t k = 0; k < n; k++)
            buf[k] = (char)(rand_r(&seed) % 4 == 0 ? '\n' : rand_r(&seed) % 256);
        (void)raw_sendn(fd, buf, n);
        close(fd);
    }
    assert_int_equal(mk_lease_grant(c, MiB, NULL, &err), 0);
    assert_true(WAIT_UNTIL(sum() == MiB));
    mk_lease_client_free(c);
    assert_true(WAIT_UNTIL(sum() == 0));
    assert_int_equal(atomic_load(&fx.q.inst[0].violations), 0);
}

static void test_oversized_line(void **state)
{
    char big[1000], line[MK_LEASE_REQUEST_MAX + 1];
    (void)state;
    memset(big, 'A', sizeof(big));
    expect_error(false, big, sizeof(big), "toolong");
    expect_error(true, big, sizeof(big), "toolong");
    /* The longest line that fits (127 bytes and the newline) is read, and is merely unknown;
     * one byte more is too long. */
    memset(line, 'A', sizeof(line));
    line[MK_LEASE_REQUEST_MAX - 1] = '\n';
    expect_error(false, line, MK_LEASE_REQUEST_MAX, "syntax");
    line[MK_LEASE_REQUEST_MAX - 1] = 'A';
    line[MK_LEASE_REQUEST_MAX] = '\n';
    expect_error(false, line, MK_LEASE_REQUEST_MAX + 1, "toolong");
}

static void test_close_releases(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_error err = {0};
    int fd = raw_hello();
    (void)state;
    exchange(fd, "GRANT 10485760\n", "OK held=10485760");
    exchange(fd, "GRANT 1\n", "OK held=10485761");
    assert_int_equal(mk_lease_grant(c, 20 * MiB, NULL, &err), 0);
    assert_true(sum() == 30 * MiB + 1);
    close(fd);
    assert_true(WAIT_UNTIL(sum() == 20 * MiB));
    mk_lease_client_free(c);
    assert_true(WAIT_UNTIL(sum() == 0));
}

static void test_stop_releases(void **state)
{
    struct mk_lease_client *c[3];
    struct mk_error err = {0};
    int fd = raw_hello();
    (void)state;
    for (int i = 0; i < 3; i++) {
        c[i] = client();
        assert_int_equal(mk_lease_grant(c[i], (uint64_t)(i + 1) * 10 * MiB, NULL, &err), 0);
    }
    exchange(fd, "GRANT 5\n", "OK held=5");
    assert_true(sum() == 60 * MiB + 5);
    stop();
    assert_true(sum() == 0);
    assert_true(raw_eof(fd));
    assert_int_equal(access(fx.path, F_OK), -1);
    close(fd);
    for (int i = 0; i < 3; i++)
        mk_lease_client_free(c[i]);
    start(NULL);
}

/* A child connects while the parent walk is off, so it is in no instance. */
static void test_not_member(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_error err = {0};
    pid_t pid;
    int status;
    (void)state;
    fx.q.walk_parents = false;
    pid = fork();
    if (pid == 0) {
        struct mk_lease_client *cc;
        if (mk_lease_client_new(fx.path, 2000, &cc, NULL) < 0)
            _exit(2);
        _exit(mk_lease_grant(cc, 1, NULL, &err) == -ESRCH && strstr(err.msg, "member") ? 0 : 1);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    fx.q.walk_parents = true;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    atomic_store(&fx.q.fail_hello, -EIO);
    assert_int_equal(mk_lease_connect(c, NULL, &err), -EIO);
    atomic_store(&fx.q.fail_hello, 0);
    assert_int_equal(mk_lease_connect(c, NULL, &err), 0);
    mk_lease_client_free(c);
    assert_true(sum() == 0);
}

static void test_reregister(void **state)
{
    char req[64];
    int fd = raw_open(fx.path);
    (void)state;
    exchange(fd, "HELLO 1 held=1048576\n", "OK 1 held=1048576 ");
    assert_true(sum() == MiB);
    exchange(fd, "PING\n", "OK held=1048576");
    snprintf(req, sizeof(req), "HELLO 1 held=%llu\n", (unsigned long long)QUOTA);
    expect_error(false, req, strlen(req), "quota");
    snprintf(req, sizeof(req), "HELLO 1 held=%llu\n", (unsigned long long)MK_LEASE_BYTES_MAX + 1);
    expect_error(false, req, strlen(req), "range");
    assert_true(sum() == MiB);
    close(fd);
    assert_true(WAIT_UNTIL(sum() == 0));
}

static void test_reconnect(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_error err = {0};
    uint64_t held = 0;
    (void)state;
    assert_int_equal(mk_lease_grant(c, 30 * MiB, NULL, &err), 0);
    stop(); /* migd dies: everything it knew is gone */
    assert_true(sum() == 0);
    tq_reset(&fx.q);
    start(NULL);
    /* The next request finds the connection broken, reconnects, re-registers 30 MiB, and is
     * retried. */
    assert_int_equal(mk_lease_grant(c, 10 * MiB, NULL, &err), 0);
    assert_true(sum() == 40 * MiB && mk_lease_held(c) == 40 * MiB);
    assert_int_equal(mk_lease_reconnects(c), 1);
    /* A release while migd is down is effective locally, and re-registered lower. */
    stop();
    assert_int_not_equal(mk_lease_release(c, 15 * MiB, &err), 0);
    assert_true(mk_lease_held(c) == 25 * MiB);
    start(NULL);
    assert_int_equal(mk_lease_ping(c, &held, &err), 0);
    assert_true(held == 25 * MiB && sum() == 25 * MiB);
    assert_int_equal(mk_lease_reconnects(c), 2);
    /* A restart during which others took the memory: re-registration does not fit. */
    stop();
    start(NULL);
    {
        struct mk_lease_client *other = client();
        assert_int_equal(mk_lease_grant(other, 80 * MiB, NULL, &err), 0);
        assert_int_equal(mk_lease_ping(c, NULL, &err), -EDQUOT);
        assert_true(mk_lease_held(c) == 25 * MiB);
        mk_lease_client_free(other);
    }
    assert_true(WAIT_UNTIL(sum() == 0));
    assert_int_equal(mk_lease_ping(c, &held, &err), 0);
    assert_true(held == 25 * MiB && sum() == 25 * MiB);
    mk_lease_client_free(c);
    assert_true(WAIT_UNTIL(sum() == 0));
}

static void test_pipelining(void **state)
{
    char req[64 * 8 + 16], line[MK_LEASE_REPLY_MAX];
    size_t n = 0;
    int fd = raw_open(fx.path);
    (void)state;
    n += (size_t)snprintf(req + n, sizeof(req) - n, "HELLO 1 held=0\n");
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "GRANT 1\n");
    n += (size_t)snprintf(req + n, sizeof(req) - n, "PING\n");
    assert_true(raw_sendn(fd, req, n));
    assert_true(raw_line(fd, line, sizeof(line)) > 0);
    for (int i = 1; i <= 50; i++) {
        char want[32];
        snprintf(want, sizeof(want), "OK held=%d", i);
        assert_true(raw_line(fd, line, sizeof(line)) > 0);
        assert_string_equal(line, want);
    }
    assert_true(raw_line(fd, line, sizeof(line)) > 0);
    assert_string_equal(line, "OK held=50");
    close(fd);
    assert_true(WAIT_UNTIL(sum() == 0));
}

/* A client that pipelines requests and never reads its replies fills its buffers; the
 * server stops reading it, and everyone else is served as usual. */
static void test_slow_reader(void **state)
{
    static const char ping[] = "PING\nPING\nPING\nPING\nPING\nPING\nPING\nPING\n";
    struct mk_lease_client *c = client();
    struct mk_error err = {0};
    int fd = raw_hello(), rounds = 0;
    uint64_t t0;
    (void)state;
    /* Until both the kernel's buffers and the server's are full. */
    while (send(fd, ping, sizeof(ping) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0 && rounds < 100000)
        rounds++;
    assert_true(rounds < 100000);
    t0 = test_now_ms();
    for (int i = 0; i < 200; i++) {
        assert_int_equal(mk_lease_grant(c, MiB, NULL, &err), 0);
        assert_int_equal(mk_lease_release(c, MiB, &err), 0);
    }
    assert_true(test_now_ms() - t0 < 2000);
    close(fd);
    mk_lease_client_free(c);
    assert_true(WAIT_UNTIL(sum() == 0));
}

static void test_conn_limit(void **state)
{
    struct lease_options o = {.max_conns = 2};
    char line[MK_LEASE_REPLY_MAX];
    int a, b, x;
    (void)state;
    stop();
    start(&o);
    a = raw_hello();
    b = raw_open(fx.path);
    x = raw_open(fx.path);
    assert_true(raw_line(x, line, sizeof(line)) > 0);
    assert_memory_equal(line, "ERR busy ", 9);
    assert_true(raw_eof(x));
    close(x);
    close(b);
    /* A freed slot is taken again. */
    assert_true(WAIT_UNTIL(({
        struct lease_stats st;
        lease_server_stats(fx.srv, &st);
        st.conns == 1;
    })));
    b = raw_hello();
    /* The client library reports the refusal as such. */
    {
        struct mk_lease_client *c = client();
        struct mk_error err = {0};
        assert_int_equal(mk_lease_connect(c, NULL, &err), -EBUSY);
        assert_non_null(strstr(err.msg, "too many connections"));
        mk_lease_client_free(c);
    }
    close(a);
    close(b);
    stop();
    start(NULL);
}

/* One uid other than root may hold max_conns_per_uid connections. Run as uid 65534 in a
 * child when we are root (root is not limited). */
static void test_conn_limit_per_uid(void **state)
{
    struct lease_options o = {.max_conns_per_uid = 1};
    pid_t pid;
    int status;
    (void)state;
    stop();
    start(&o);
    pid = fork();
    if (pid == 0) {
        char line[MK_LEASE_REPLY_MAX];
        int a, b;
        if (getuid() == 0 && setuid(65534) < 0)
            _exit(2);
        a = raw_open(fx.path);
        b = raw_open(fx.path);
        if (a < 0 || b < 0 || raw_line(b, line, sizeof(line)) < 0)
            _exit(3);
        _exit(strncmp(line, "ERR busy ", 9) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    stop();
    start(NULL);
}

static void test_hello_timeout(void **state)
{
    struct lease_options o = {.hello_timeout_ms = 100};
    char line[MK_LEASE_REPLY_MAX];
    uint64_t t0;
    int fd, ok;
    (void)state;
    stop();
    start(&o);
    fd = raw_open(fx.path);
    ok = raw_hello();
    t0 = test_now_ms();
    assert_true(raw_line(fd, line, sizeof(line)) > 0);
    assert_memory_equal(line, "ERR timeout ", 12);
    assert_true(test_now_ms() - t0 < 1000);
    assert_true(raw_eof(fd));
    exchange(ok, "PING\n", "OK held=0"); /* a registered connection has no deadline */
    close(fd);
    close(ok);
    stop();
    start(NULL);
}

struct grant_job {
    struct mk_lease_client *c;
    uint64_t bytes;
    _Atomic int done;
    int r;
};

static void *grant_thread(void *arg)
{
    struct grant_job *j = arg;
    j->r = mk_lease_grant(j->c, j->bytes, NULL, NULL);
    atomic_store(&j->done, 1);
    return NULL;
}

/* During the grace period GRANTs wait; HELLO (with re-registration), RELEASE and PING are
 * served. The grace ends on request, or when it runs out. */
static void test_grace(void **state)
{
    struct lease_options o = {.grace_ms = 60000};
    struct grant_job j = {0};
    struct mk_error err = {0};
    pthread_t t;
    int fd;
    (void)state;
    stop();
    start(&o);
    j.c = client();
    j.bytes = MiB;
    assert_int_equal(mk_lease_connect(j.c, NULL, &err), 0);
    fd = raw_open(fx.path);
    exchange(fd, "HELLO 1 held=2097152\n", "OK 1 held=2097152 ");
    exchange(fd, "RELEASE 1048576\n", "OK held=1048576");
    exchange(fd, "PING\n", "OK held=1048576");
    assert_int_equal(pthread_create(&t, NULL, grant_thread, &j), 0);
    test_sleep_us(200000);
    assert_int_equal(atomic_load(&j.done), 0);
    lease_server_end_grace(fx.srv);
    assert_true(WAIT_UNTIL(atomic_load(&j.done)));
    pthread_join(t, NULL);
    assert_int_equal(j.r, 0);
    assert_true(sum() == 2 * MiB);
    exchange(fd, "GRANT 1\n", "OK held=1048577");
    close(fd);
    mk_lease_client_free(j.c);
    stop();
    /* A grace that runs out by itself. */
    o.grace_ms = 300;
    start(&o);
    j.c = client();
    uint64_t t0 = test_now_ms();
    assert_int_equal(mk_lease_grant(j.c, MiB, NULL, &err), 0);
    assert_true(test_now_ms() - t0 >= 150);
    mk_lease_client_free(j.c);
    stop();
    start(NULL);
    assert_true(sum() == 0);
}

/* The client the fork handlers look after (the shim's would be its global client); the
 * handlers stay registered for the later forks of this test program, hence the NULL checks. */
static struct mk_lease_client *fork_client;
static void prepare(void)
{
    if (fork_client)
        mk_lease_client_atfork_prepare(fork_client);
}
static void parent(void)
{
    if (fork_client)
        mk_lease_client_atfork_parent(fork_client);
}
static void child(void)
{
    if (fork_client)
        mk_lease_client_atfork_child(fork_client);
}

/* A forked child starts with no lease and registers on its own; the parent's connection and
 * lease are untouched. */
static bool in_grace(void)
{
    struct lease_stats st;
    lease_server_stats(fx.srv, &st);
    return st.grace;
}

/* The grace ends as soon as ops->grace_over says nobody is left to wait for: checked after a
 * HELLO (the last survivor coming back) and periodically (a survivor dying). Judged by the
 * server's state, not by time. */
static void test_grace_over(void **state)
{
    struct lease_options o = {.grace_ms = 60000};
    int fd;
    (void)state;
    stop();
    atomic_store(&fx.q.track_survivors, true);
    atomic_store(&fx.q.survivors, 2);
    start(&o);
    assert_true(in_grace());
    fd = raw_open(fx.path);
    exchange(fd, "HELLO 2 held=1048576\n", "OK 2 held=1048576 ");
    assert_true(raw_send(fd, "GRANT 1\n")); /* waits: one survivor is still out */
    test_sleep_us(200000);
    assert_true(in_grace());
    atomic_store(&fx.q.survivors, 0);          /* the last one came back or died */
    exchange(fd, "PING\n", "OK held=1048577"); /* the GRANT was answered first */
    assert_false(in_grace());
    close(fd);
    stop();
    /* Nobody to wait for at the start: no grace at all in effect. */
    start(&o);
    assert_true(WAIT_UNTIL(!in_grace()));
    stop();
    atomic_store(&fx.q.track_survivors, false);
    start(NULL);
    assert_true(WAIT_UNTIL(sum() == 0));
}

static void test_fork(void **state)
{
    struct mk_error err = {0};
    uint64_t held = 0;
    pid_t pid;
    int status;
    (void)state;
    fork_client = client();
    assert_int_equal(pthread_atfork(prepare, parent, child), 0);
    assert_int_equal(mk_lease_grant(fork_client, 5 * MiB, NULL, &err), 0);
    pid = fork();
    if (pid == 0) {
        uint64_t h = 1;
        int ok = mk_lease_held(fork_client) == 0 && mk_lease_ping(fork_client, &h, NULL) == 0 &&
                 h == 0 && mk_lease_grant(fork_client, MiB, NULL, NULL) == 0;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(mk_lease_ping(fork_client, &held, &err), 0);
    assert_true(held == 5 * MiB);
    assert_true(WAIT_UNTIL(sum() == 5 * MiB));
    mk_lease_client_free(fork_client);
    fork_client = NULL;
    assert_true(WAIT_UNTIL(sum() == 0));
}

/* Names are sanitised: the reply stays one line of printable ASCII. */
static void test_sanitize(void **state)
{
    struct mk_lease_client *c = client();
    struct mk_lease_limits lim;
    struct mk_error err = {0};
    (void)state;
    snprintf(fx.q.inst[0].name, sizeof(fx.q.inst[0].name), "bad\tname\nwith newline");
    assert_int_equal(mk_lease_connect(c, &lim, &err), 0);
    assert_string_equal(lim.name, "bad?name?with newline");
    mk_lease_client_free(c);
    snprintf(fx.q.inst[0].name, sizeof(fx.q.inst[0].name), "Test GPU MIG custom 0");
}

static void test_start_errors(void **state)
{
    struct lease_server *s;
    struct mk_error err = {0};
    char longpath[200], file[160];
    int fd;
    (void)state;
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(lease_server_start(longpath, &tq_ops, &fx.q, NULL, &s, &err), -ENAMETOOLONG);
    assert_int_equal(lease_server_start(fx.path, &tq_ops, &fx.q, NULL, &s, &err), -EADDRINUSE);
    snprintf(file, sizeof(file), "%s/file", fx.dir);
    fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lease_server_start(file, &tq_ops, &fx.q, NULL, &s, &err), -EEXIST);
    unlink(file);
    /* A stale socket file (its server died without cleaning up) is replaced. */
    stop();
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        memcpy(a.sun_path, fx.path, strlen(fx.path) + 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    }
    close(fd);
    start(NULL);
    {
        struct stat st;
        assert_int_equal(stat(fx.path, &st), 0);
        assert_int_equal(st.st_mode & 0777, LEASE_SOCKET_MODE_DEFAULT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_numbers),
        cmocka_unit_test(test_wire_tokens),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test_setup_teardown(test_client_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_grant_deny_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_clients_share_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_old_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reregister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_limit_per_uid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sanitize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
