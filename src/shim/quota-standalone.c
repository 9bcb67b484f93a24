/*
 * quota-standalone.c - the standalone quota source (quota.h): a quota read from a root-owned
 * file, for trying libmigshim without migd.
 *
 * What it is not: tamper-proof. The shim lives inside the process it limits, so a process can
 * unset LD_PRELOAD, call the driver past the shim, or (with the allow_own_uid escape) edit its
 * own quota. And each process gets the whole quota: there is no shared count, so N processes
 * may use N times the quota. migd's leases are the real thing; state.c prints this on stderr
 * whenever the standalone source is used.
 *
 * Grants are local arithmetic on `held`, called under the accounting lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/quota.h"
#include "vendor/cuda-syms.h"

/* The longest path and line the file format allows; longer ones are refused, not cut. */
#define PATH_LEN 512
#define LINE_LEN 256
/* The file is read whole into a fixed buffer: a few lines in practice. */
#define FILE_MAX 4096

static struct {
    char path[PATH_LEN];
    bool allow_own_uid;
    uint64_t quota, held;
} sa;

int mk__shim_parse_size(const char *s, uint64_t *ret)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
    uint64_t v = 0;
    const char *p = s;
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].suffix) != 0)
            continue;
        if (v > UINT64_MAX >> units[i].shift)
            return -EINVAL;
        *ret = v << units[i].shift;
        return 0;
    }
    return -EINVAL;
}

/* Applies one "key=value" line to *l. Returns 0 or -EINVAL. */
static int apply(struct quota_limits *l, const char *key, const char *value)
{
    uint64_t v;
    CUuuid u;
    if (strcmp(key, "quota") == 0)
        return mk__shim_parse_size(value, &l->quota) == 0 && l->quota > 0 ? 0 : -EINVAL;
    if (strcmp(key, "profile") == 0) {
        if (!*value || strlen(value) >= sizeof(l->profile))
            return -EINVAL;
        strcpy(l->profile, value);
        return 0;
    }
    if (strcmp(key, "uuid") == 0) {
        if (strlen(value) >= sizeof(l->instance) || mk__cuda_uuid_parse(value, &u) < 0)
            return -EINVAL;
        strcpy(l->instance, value);
        return 0;
    }
    if (strcmp(key, "sms") == 0) {
        if (mk__shim_parse_size(value, &v) < 0 || v == 0 || v > UINT32_MAX)
            return -EINVAL;
        l->sms = (uint32_t)v;
        return 0;
    }
    return -EINVAL;
}

/* Formats the reason into msg and returns code (a negative errno). */
__attribute__((format(printf, 4, 5))) static int fail(char *msg, size_t n, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return code;
}

/* Checks who may have written the file: a regular file, owned by root (or by us when
 * allowed), not writable by group or others. */
static int check_owner(int fd, char *msg, size_t n)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        return fail(msg, n, -e, "cannot stat %s: %s", sa.path, strerror(e));
    }
    if (!S_ISREG(st.st_mode))
        return fail(msg, n, -EINVAL, "%s is not a regular file", sa.path);
    if (st.st_uid != 0 && !(sa.allow_own_uid && st.st_uid == geteuid()))
        return fail(msg, n, -EPERM, "%s is owned by uid %u, not root: refused", sa.path,
                    (unsigned)st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return fail(msg, n, -EPERM, "%s is writable by group or others: refused", sa.path);
    return 0;
}

/* Parses the file's text into *l (NUL-terminated buf, modified in place). */
static int parse(char *buf, struct quota_limits *l, char *msg, size_t n)
{
    int lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        char *eq;
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strlen(line) >= LINE_LEN)
            return fail(msg, n, -EINVAL, "%s:%d: line too long", sa.path, lineno);
        if (line[0] == '#' || line[0] == '\0')
            continue;
        eq = strchr(line, '=');
        if (!eq)
            return fail(msg, n, -EINVAL, "%s:%d: not key=value", sa.path, lineno);
        *eq = '\0';
        if (apply(l, line, eq + 1) < 0)
            return fail(msg, n, -EINVAL, "%s:%d: bad %s (keys: quota, profile, uuid, sms)", sa.path,
                        lineno, line);
    }
    if (l->quota == 0)
        return fail(msg, n, -EINVAL, "%s: no quota= line", sa.path);
    return 0;
}

static int sa_hello(struct quota_source *s, struct quota_limits *ret, char *msg, size_t n)
{
    char buf[FILE_MAX + 1];
    struct quota_limits l = {.profile = "custom"};
    ssize_t len = 0;
    int r, fd = open(sa.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    (void)s;
    if (fd < 0) {
        int e = errno;
        return fail(msg, n, -e, "cannot open %s: %s", sa.path, strerror(e));
    }
    r = check_owner(fd, msg, n);
    if (r == 0 && ((len = read(fd, buf, sizeof(buf))) < 0 || len > FILE_MAX))
        r = fail(msg, n, -EINVAL, "cannot read %s: %s", sa.path,
                 len < 0 ? strerror(errno) : "longer than 4096 bytes");
    close(fd);
    if (r < 0)
        return r;
    buf[len] = '\0';
    if ((r = parse(buf, &l, msg, n)) < 0)
        return r;
    sa.quota = l.quota;
    *ret = l;
    return 0;
}

static int sa_grant(struct quota_source *s, uint64_t bytes)
{
    (void)s;
    if (bytes > sa.quota - sa.held)
        return -ENOSPC;
    sa.held += bytes;
    return 0;
}

static void sa_release(struct quota_source *s, uint64_t bytes)
{
    (void)s;
    sa.held -= bytes < sa.held ? bytes : sa.held;
}

/* The file is read once: its quota never changes while the process runs. */
static int sa_instance(struct quota_source *s, uint64_t *ret_free, uint64_t *ret_quota)
{
    (void)s;
    *ret_free = sa.quota - sa.held;
    *ret_quota = sa.quota;
    return 0;
}

static void sa_nothing(struct quota_source *s)
{
    (void)s;
}

static void sa_child(struct quota_source *s)
{
    (void)s;
    sa.held = 0; /* the child inherits no device memory */
}

int mk__shim_quota_standalone(struct quota_source *ret, const char *path, bool allow_own_uid)
{
    if (strlen(path) >= sizeof(sa.path))
        return -ENAMETOOLONG;
    strcpy(sa.path, path);
    sa.allow_own_uid = allow_own_uid;
    *ret = (struct quota_source){.kind = "standalone",
                                 .hello = sa_hello,
                                 .grant = sa_grant,
                                 .release = sa_release,
                                 .instance = sa_instance,
                                 .atfork_prepare = sa_nothing,
                                 .atfork_parent = sa_nothing,
                                 .atfork_child = sa_child};
    return 0;
}
