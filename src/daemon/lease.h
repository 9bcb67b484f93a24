/*
 * lease.h - migd's lease server: RUN_DIR/lease.sock, served by its own thread with epoll and
 * non-blocking sockets (protocol: docs/lease-protocol.md, client: include/migkit/lease.h).
 *
 * The server knows nothing of instances or quotas. It owns connections: their identity (pid,
 * uid from SO_PEERCRED at accept), their instance (from the hello callback) and what each
 * holds. Every decision about memory goes through struct lease_ops, implemented by migd's
 * registry (and by a test double in tests/lease/quota.c):
 *
 *   - a HELLO calls ops->hello, which finds the instance of the peer's pid and, when the
 *     client re-registers what it held before a migd restart (held > 0), adds that to the
 *     instance's sum if it fits;
 *   - a GRANT calls ops->grant, which adds the bytes to the instance's sum if it stays within
 *     the quota;
 *   - an INFO calls ops->info for the instance's quota and sum now;
 *   - a RELEASE, a closed connection (exit, crash, kill -9 of the process, a protocol error)
 *     and lease_server_stop() call ops->release for what the connection gives back.
 *
 * So at every moment, for every instance, the registry's sum equals the sum of held over the
 * server's connections of that instance, and the grant callback alone decides that the sum
 * never exceeds the quota. Callbacks run on the server thread, one at a time; the implementer
 * makes its sums safe against its own other threads (migd: the registry mutex, shared with the
 * HTTP API's resize). They must not block for long: every connection waits meanwhile.
 */
#ifndef MIGD_LEASE_H
#define MIGD_LEASE_H

#include <stdint.h>
#include <sys/types.h>

#include "migkit/common.h"
#include "migkit/lease.h"

/* What a HELLO reply tells the client; filled by ops->hello. Strings are NUL-terminated;
 * the server replaces bytes outside printable ASCII (and, in instance, spaces) with '?'. */
struct lease_limits {
    char instance[MK_LEASE_INSTANCE_MAX]; /* the instance's UUID, "MIG-..." */
    char name[MK_LEASE_NAME_MAX];         /* its display name */
    uint64_t quota_bytes;                 /* its quota */
    uint32_t sms;                         /* its SM count */
    uint64_t chunk_bytes;                 /* suggested GRANT size; 0 lets the client choose */
};

struct lease_ops {
    /*
     * A connection from pid (running as uid) says HELLO and asks to re-register held bytes
     * (0 on a first connection; 1 .. MK_LEASE_BYTES_MAX after a migd restart). Find the
     * instance of pid (or of its closest registered ancestor), add held to its sum when
     * sum + held <= quota, fill *out. Returns 0; -ESRCH when pid is in no instance; -ENOSPC
     * when held does not fit; another -errno for anything else. On failure nothing changes.
     */
    int (*hello)(void *ctx, pid_t pid, uid_t uid, uint64_t held, struct lease_limits *out);
    /*
     * pid asks for bytes (1 .. MK_LEASE_BYTES_MAX) more for instance (the one hello gave;
     * borrowed for the call). Returns 0 and adds bytes to the sum when sum + bytes <= quota;
     * -ENOSPC and *ret_free = quota - sum (0 when over) when not; -ENOENT when the instance
     * no longer exists; another -errno for anything else. Only 0 changes anything.
     */
    int (*grant)(void *ctx, const char *instance, pid_t pid, uint64_t bytes, uint64_t *ret_free);
    /*
     * pid gives back bytes (1 .. what it holds through this connection) of instance: subtract
     * them from the sum. Cannot fail: an instance destroyed meanwhile is a no-op.
     */
    void (*release)(void *ctx, const char *instance, pid_t pid, uint64_t bytes);
    /*
     * INFO (protocol version 2): the instance's quota now and the sum of what is granted to
     * all its connections. Returns 0; -ENOENT when the instance no longer exists. Changes
     * nothing.
     */
    int (*info)(void *ctx, const char *instance, uint64_t *ret_quota, uint64_t *ret_granted);
    /*
     * Optional (may be NULL). During the re-registration grace: true when nobody is left to
     * wait for (every process that survived the restart has said HELLO again or is dead), and
     * the grace ends at once. Called after each accepted HELLO and every SWEEP interval
     * (100 ms) while the grace runs; never after it ended.
     */
    bool (*grace_over)(void *ctx);
};

/* Defaults of struct lease_options; a field left 0 takes its default. */
/* Connections at once: one per process using a software instance (the shim keeps one), and
 * a node runs a few hundred GPU processes at most (each CUDA context costs the GPU hundreds of
 * MiB). Each connection costs the server one fd and about 1.3 KiB, taken only when used; the
 * limit must stay below migd's RLIMIT_NOFILE (if fds run out first, the server still refuses
 * new connections cleanly with "ERR busy" instead of spinning on accept). */
#define LEASE_MAX_CONNS_DEFAULT 4096
/* Connections of one uid other than root, so that one user cannot take every slot: a quarter
 * of the total. */
#define LEASE_MAX_CONNS_PER_UID_DEFAULT (LEASE_MAX_CONNS_DEFAULT / 4)
/* A connection that has not said HELLO after this long is closed ("ERR timeout"): a slot is
 * only held by a registered process, never by an idle stranger. */
#define LEASE_HELLO_TIMEOUT_MS_DEFAULT 5000
/* Mode of the socket: any local user may connect; what a connection may do is decided by its
 * peer's membership (SO_PEERCRED), not by the file mode. */
#define LEASE_SOCKET_MODE_DEFAULT 0666

struct lease_options {
    unsigned max_conns;         /* 0: LEASE_MAX_CONNS_DEFAULT */
    unsigned max_conns_per_uid; /* 0: LEASE_MAX_CONNS_PER_UID_DEFAULT; root is not limited */
    unsigned hello_timeout_ms;  /* 0: LEASE_HELLO_TIMEOUT_MS_DEFAULT */
    /*
     * Re-registration grace after a restart, in milliseconds (0: none). For this long after
     * the start, or until lease_server_end_grace(), GRANTs wait (unanswered, the connection's
     * input paused) while HELLOs, RELEASEs and PINGs are served. It lets every process that
     * survived the restart re-register what it holds before anyone can take that memory, so
     * re-registration never fails for lack of room. migd sets it when processes survived
     * reconciliation; ops->grace_over ends it once all of them have said HELLO again or
     * died. Must stay below the
     * clients' reply timeout (MK_LEASE_TIMEOUT_MS_DEFAULT).
     */
    unsigned grace_ms;
    unsigned mode; /* socket file mode; 0: LEASE_SOCKET_MODE_DEFAULT */
};

struct lease_server;

/*
 * Creates the socket at socket_path (replacing a stale socket file left by a dead migd,
 * never a live one: -EADDRINUSE, nor a file of another kind: -EEXIST), and starts the server
 * thread. ops and ctx are borrowed until lease_server_stop returns; opts may be NULL
 * (defaults) and is copied. Returns 0 and *ret, or -errno with err set.
 */
int lease_server_start(const char *socket_path, const struct lease_ops *ops, void *ctx,
                       const struct lease_options *opts, struct lease_server **ret,
                       struct mk_error *err);

/*
 * Ends the re-registration grace now: waiting GRANTs are served. Safe from any thread,
 * including from inside a callback. A no-op when no grace is running.
 */
void lease_server_end_grace(struct lease_server *s);

/*
 * Stops the thread (joined before returning), closes every connection, releasing what each
 * held through ops->release (on the calling thread, after the server thread has exited),
 * removes the socket file (if it is still the one the server created) and frees s. NULL is a
 * no-op. Never call it from a callback (the server thread would join itself).
 */
void lease_server_stop(struct lease_server *s);

/* Counters, for tests and migd's /metrics. Read from any thread (relaxed atomics). */
struct lease_stats {
    uint64_t conns;    /* connections open now */
    uint64_t accepted; /* connections accepted since start */
    uint64_t refused;  /* connections refused at accept (limits) */
    uint64_t requests; /* request lines handled */
    uint64_t errors;   /* ERR replies sent */
    bool grace;        /* the re-registration grace is running */
};
void lease_server_stats(struct lease_server *s, struct lease_stats *ret);

#endif /* MIGD_LEASE_H */
