/*
 * sock.c - Unix and loopback socket helpers for migd (see sock.h), after redis anet.c: every
 * path is length-checked before it can be truncated, every fd is CLOEXEC, permissions are set
 * by the code that creates the socket, and errors say which path and why.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock.h"

/* Length of the listen queue: the kernel caps it at net.core.somaxconn anyway. A burst of
 * launchers (a job array starting 512 processes) should not see ECONNREFUSED. */
#define SOCK_BACKLOG 512

/* Buffer for getgrnam_r: the glibc default (sysconf(_SC_GETGR_R_SIZE_MAX)) is 1 KiB, too
 * small for a group with many members; 16 KiB holds a few hundred member names. */
#define GROUP_BUF_LEN 16384

/* Fills addr for path; -ENAMETOOLONG when it does not fit with its NUL (108 bytes on Linux). */
static int unix_addr(const char *path, struct sockaddr_un *addr, struct mk_error *err)
{
    size_t n = strlen(path);
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof(addr->sun_path))
        return mk_error_set(err, -ENAMETOOLONG,
                            "socket path %s is %zu bytes; a Unix socket path holds at most %zu",
                            path, n, sizeof(addr->sun_path) - 1);
    memcpy(addr->sun_path, path, n + 1);
    return 0;
}

/* Removes a socket file left by a daemon that died. A live listener there is -EADDRINUSE; a
 * file that is not a socket is never removed (-EEXIST): it is not ours. */
static int remove_stale(const char *path, const struct sockaddr_un *addr, struct mk_error *err)
{
    struct stat st;
    int fd, r;
    if (lstat(path, &st) < 0)
        return errno == ENOENT
                   ? 0
                   : mk_error_set(err, -errno, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return mk_error_set(err, -EEXIST, "%s exists and is not a socket; not replacing it", path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return mk_error_set(err, -errno, "socket: %s", strerror(errno));
    r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    close(fd);
    if (r == 0)
        return mk_error_set(err, -EADDRINUSE, "%s is served by another process", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return mk_error_set(err, -errno, "cannot remove stale socket %s: %s", path,
                            strerror(errno));
    return 0;
}

/* Gives path the group named group when it exists. Returns 1 when set, 0 when there is no
 * such group, -errno on failure. */
static int set_group(const char *path, const char *group, struct mk_error *err)
{
    char buf[GROUP_BUF_LEN];
    struct group gr, *found = NULL;
    int r = getgrnam_r(group, &gr, buf, sizeof(buf), &found);
    if (r != 0 && r != ENOENT && r != ESRCH)
        return mk_error_set(err, -r, "cannot look up group %s: %s", group, strerror(r));
    if (!found)
        return 0;
    if (chown(path, (uid_t)-1, gr.gr_gid) < 0)
        return mk_error_set(err, -errno, "cannot give %s to group %s: %s", path, group,
                            strerror(errno));
    return 1;
}

/*
 * The socket is bound under a umask of 0177, so between bind() and chmod() nobody but the
 * owner can connect; then it gets mode and group. umask is per process: call this before
 * starting threads that create files (migd creates its sockets at start-up).
 */
int sock_unix_listen(const char *path, mode_t mode, const char *group, bool nonblock,
                     bool *ret_group_set, struct mk_error *err)
{
    struct sockaddr_un addr;
    int fd, r, flags = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    mode_t old;
    if ((r = unix_addr(path, &addr, err)) < 0 || (r = remove_stale(path, &addr, err)) < 0)
        return r;
    if ((fd = socket(AF_UNIX, flags, 0)) < 0)
        return mk_error_set(err, -errno, "socket: %s", strerror(errno));
    old = umask(0177);
    r = bind(fd, (const struct sockaddr *)&addr, sizeof(addr));
    umask(old);
    if (r < 0) {
        r = mk_error_set(err, -errno, "cannot bind %s: %s", path, strerror(errno));
        goto fail;
    }
    if (group && (r = set_group(path, group, err)) < 0)
        goto fail_unlink;
    if (ret_group_set)
        *ret_group_set = group && r == 1;
    if (chmod(path, mode) < 0) {
        r = mk_error_set(err, -errno, "cannot chmod %s: %s", path, strerror(errno));
        goto fail_unlink;
    }
    if (listen(fd, SOCK_BACKLOG) < 0) {
        r = mk_error_set(err, -errno, "cannot listen on %s: %s", path, strerror(errno));
        goto fail_unlink;
    }
    return fd;
fail_unlink:
    unlink(path);
fail:
    close(fd);
    return r;
}

int sock_tcp_loopback_listen(int port, bool nonblock, struct mk_error *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    int fd, one = 1, flags = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    if (port <= 0 || port > 65535)
        return mk_error_set(err, -EINVAL, "TCP port %d is not between 1 and 65535", port);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, flags, 0)) < 0)
        return mk_error_set(err, -errno, "socket: %s", strerror(errno));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, SOCK_BACKLOG) < 0) {
        int r =
            mk_error_set(err, -errno, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        close(fd);
        return r;
    }
    return fd;
}

int sock_unix_connect(const char *path, struct mk_error *err)
{
    struct sockaddr_un addr;
    int fd, r;
    if ((r = unix_addr(path, &addr, err)) < 0)
        return r;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return mk_error_set(err, -errno, "socket: %s", strerror(errno));
    do
        r = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        r = mk_error_set(err, -errno, "cannot connect to %s: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    return fd;
}

int sock_peer(int fd, struct sock_peer *ret, struct mk_error *err)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    gid_t groups[SOCK_MAX_GROUPS];
    socklen_t glen = sizeof(groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return mk_error_set(err, -errno, "SO_PEERCRED: %s", strerror(errno));
    if (len != sizeof(cred) || cred.pid <= 0)
        return mk_error_set(err, -EINVAL, "SO_PEERCRED: no credentials on this socket");
    ret->pid = cred.pid;
    ret->uid = cred.uid;
    ret->gid = cred.gid;
    ret->ngroups = 0;
    /* ERANGE (more groups than fit) leaves glen at the size needed and nothing copied: the
     * peer keeps its primary group only, which can only deny admin rights. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
        ret->ngroups = (int)(glen / sizeof(gid_t));
        memcpy(ret->groups, groups, (size_t)ret->ngroups * sizeof(gid_t));
    }
    return 0;
}

bool sock_peer_in_group(const struct sock_peer *p, gid_t gid)
{
    if (p->gid == gid)
        return true;
    for (int i = 0; i < p->ngroups; i++)
        if (p->groups[i] == gid)
            return true;
    return false;
}
