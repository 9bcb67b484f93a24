/*
 * sock.h - the daemon's socket helpers, in the style of redis anet.c: listening Unix sockets
 * with a checked path length, a chosen mode and group, CLOEXEC everywhere; a loopback TCP
 * listener for tests; and the peer's identity from SO_PEERCRED / SO_PEERGROUPS. Both of
 * migd's listening sockets come from here: the API's (api.c) and the lease server's
 * (lease.c), so this is a library of its own (migd-sock) that the lease library links.
 *
 * Every function returns a file descriptor or 0 on success and -errno on failure, with the
 * detail in err (a fixed-size buffer: failure paths never allocate).
 */
#ifndef MIGD_SOCK_H
#define MIGD_SOCK_H

#include <sys/types.h>

#include "migkit/common.h"

/* Groups of a peer we look at: enough for any real account (Linux allows 65536, but a member
 * of more than 256 groups is not an account that administers GPUs through a local socket;
 * the rest are ignored, which can only deny admin rights, never grant them). */
#define SOCK_MAX_GROUPS 256

/* Who is on the other end of a connected Unix socket, as the kernel recorded it at connect(). */
struct sock_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    int ngroups;                   /* supplementary groups in groups[], possibly truncated */
    gid_t groups[SOCK_MAX_GROUPS]; /* from SO_PEERGROUPS; empty where the kernel lacks it */
};

/* Creates a listening, CLOEXEC Unix stream socket at path: refuses a path that does not fit in
 * sun_path (-ENAMETOOLONG), replaces a stale socket file (but never another kind of file:
 * -EEXIST), binds, sets the mode and, when group is non-NULL and exists, the group (a missing
 * group is not an error: *ret_group_set tells whether it was applied). nonblock makes the
 * socket non-blocking. Returns the fd or -errno. */
int sock_unix_listen(const char *path, mode_t mode, const char *group, bool nonblock,
                     bool *ret_group_set, struct mk_error *err);

/* Creates a listening, CLOEXEC TCP socket bound to 127.0.0.1:port (never another address:
 * it exists for tests only). Returns the fd or -errno. */
int sock_tcp_loopback_listen(int port, bool nonblock, struct mk_error *err);

/* Connects to the Unix socket at path (CLOEXEC). Returns the fd or -errno. */
int sock_unix_connect(const char *path, struct mk_error *err);

/* Reads the peer's pid, uid, gid (SO_PEERCRED) and supplementary groups (SO_PEERGROUPS, Linux
 * 4.13+) of a connected Unix socket. Returns 0 or -errno (-ENOTSOCK/-EINVAL on TCP sockets). */
int sock_peer(int fd, struct sock_peer *ret, struct mk_error *err);

/* True when gid is the peer's primary or one of its supplementary groups. */
bool sock_peer_in_group(const struct sock_peer *p, gid_t gid);

#endif /* MIGD_SOCK_H */
