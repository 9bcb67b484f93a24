/*
 * lease.h - the lease protocol between a process of a software instance (through the shim)
 * and migd: its wire constants, shared by the client and the server, and the client library.
 *
 * The protocol is specified in docs/lease-protocol.md. In short: one Unix stream connection
 * per lease holder to RUN_DIR/lease.sock; ASCII lines, one request, one reply;
 *
 *     HELLO 1 held=0         ->  OK 1 held=0 quota=... sms=... chunk=... instance=MIG-... name=...
 *     GRANT 67108864         ->  OK held=67108864           or  NO free=... held=0
 *     RELEASE 67108864       ->  OK held=0
 *     PING                   ->  OK held=0
 *     INFO (version 2)       ->  OK held=0 quota=... granted=...
 *     anything wrong         ->  ERR <code> <text>, and the server closes the connection
 *
 * The server takes the caller's identity from SO_PEERCRED, never from a message. Everything
 * a connection holds is released when it closes, so a crashed process leaks nothing.
 *
 * The client (struct mk_lease_client) is meant for the preloaded shim: it allocates only in
 * mk_lease_client_new, calls no stdio and takes no lock but its own on the success paths, and
 * never raises SIGPIPE. Threads: one client is one connection, shared by all threads of the
 * process and serialised by a mutex inside the client (a request is one round trip of a few
 * microseconds, and the shim only asks when its local reserve runs out). A process may own
 * several clients; each is an independent lease holder with its own connection (the
 * benchmark gives each thread its own).
 */
#ifndef MIGKIT_LEASE_H
#define MIGKIT_LEASE_H

#include <stdint.h>

#include "migkit/common.h"

/* ---------------------------------------------------------------------------------------------
 * Wire constants (docs/lease-protocol.md)
 * ------------------------------------------------------------------------------------------- */

/* The newest protocol version this code speaks, and the oldest. Version 2 adds INFO; the
 * server speaks both and answers each connection in the version its HELLO named, so a
 * version-1 client is served as before. A HELLO of a version outside [MIN, VERSION] gets
 * "ERR version" and is closed; a client checks the version echoed in the HELLO reply, and
 * the client library falls back to version 1 with a server that speaks only that. */
#define MK_LEASE_VERSION     2
#define MK_LEASE_VERSION_MIN 1

/* Name of the socket in the run directory, and the run directory when neither the caller nor
 * the environment (MIGKIT_RUN_DIR) says otherwise. */
#define MK_LEASE_SOCKET_NAME     "lease.sock"
#define MK_LEASE_RUN_DIR_DEFAULT "/run/migkit"
#define MK_LEASE_RUN_DIR_ENV     "MIGKIT_RUN_DIR"

/* Longest request line, newline included. The longest valid request is
 * "RELEASE 18446744073709551615\n" (29 bytes); 128 leaves room for a later version's fields
 * while keeping the server's per-connection input buffer small. A longer line is
 * "ERR toolong". */
#define MK_LEASE_REQUEST_MAX 128

/* Longest reply line, newline included: the HELLO reply with a 47-byte instance id, a 95-byte
 * name and five 20-digit numbers is about 260 bytes. */
#define MK_LEASE_REPLY_MAX 384

/* Sizes of the identity fields in a HELLO reply, NUL included: a "MIG-" UUID is 40 bytes; a
 * name is "<product> MIG <profile>", under 96 for every catalog product. */
#define MK_LEASE_INSTANCE_MAX 48
#define MK_LEASE_NAME_MAX     96

/* Largest byte count in any message (1 PiB): far above any GPU's memory, and small enough
 * that the sum of 16384 such values still fits in 64 bits, so no sum of leases can wrap. */
#define MK_LEASE_BYTES_MAX (UINT64_C(1) << 50)

/* ---------------------------------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------------------------------- */

/* What the HELLO reply says about the caller's instance. */
struct mk_lease_limits {
    char instance[MK_LEASE_INSTANCE_MAX]; /* the instance's UUID ("MIG-...") */
    char name[MK_LEASE_NAME_MAX];         /* its display name, printable ASCII */
    uint64_t quota_bytes;                 /* memory quota of the whole instance */
    uint32_t sms;                         /* SMs the instance may use */
    uint64_t chunk_bytes;                 /* granularity migd suggests for GRANT */
    uint64_t held;                        /* what migd recorded for this connection */
    uint32_t version;                     /* the protocol version the connection speaks */
};

/* What INFO says about the caller's instance now (version 2). */
struct mk_lease_info {
    uint64_t quota_bytes; /* the instance's quota now: a resize shows at once */
    uint64_t granted;     /* granted to the whole instance, every process included */
    uint64_t held;        /* granted to this connection (the process, for the shim) */
};

/* How long a client waits for one reply (and for a blocked send) when the caller does not say:
 * longer than any re-registration grace migd applies after a restart (it defers GRANTs during
 * that window, docs/lease-protocol.md), short enough that a hung migd fails an allocation
 * rather than hanging the application for good. */
#define MK_LEASE_TIMEOUT_MS_DEFAULT 10000

struct mk_lease_client;

/*
 * Allocates a client for the socket at path (copied; at most 107 bytes, -ENAMETOOLONG
 * otherwise) that waits at most timeout_ms for a reply (0: MK_LEASE_TIMEOUT_MS_DEFAULT). Does
 * not connect: the first call that needs the server does. This is the only allocation the
 * client ever makes. Returns 0 and *ret, or -errno.
 */
int mk_lease_client_new(const char *path, unsigned timeout_ms, struct mk_lease_client **ret,
                        struct mk_error *err);

/* Closes the connection (which releases, on the server, everything it holds) and frees c.
 * NULL is a no-op. No other thread may use c during or after the call. */
void mk_lease_client_free(struct mk_lease_client *c);

/*
 * Writes "$MIGKIT_RUN_DIR/lease.sock", or "/run/migkit/lease.sock" when the variable is unset
 * or empty, into buf. Returns 0, or -ENAMETOOLONG when it does not fit in n bytes or in a Unix
 * socket address. No allocation, no stdio.
 */
int mk_lease_default_path(char *buf, size_t n);

/*
 * Connects when not connected and says HELLO with what the client holds (0 for a new client,
 * more after a reconnection), then copies the instance's limits to *ret_limits (may be NULL).
 * Already connected: only the copy. Errors: -ENOENT/-ECONNREFUSED (no server), -ESRCH (this
 * process is in no instance), -EDQUOT (re-registering what it holds would exceed the quota
 * because others took the memory meanwhile: the client stays disconnected and its holdings
 * unregistered; retry later), -EPROTONOSUPPORT (the server speaks another version), -ETIMEDOUT,
 * -EBUSY (the server's connection limit), other -errno.
 */
int mk_lease_connect(struct mk_lease_client *c, struct mk_lease_limits *ret_limits,
                     struct mk_error *err);

/*
 * Asks for bytes (1 .. MK_LEASE_BYTES_MAX) more. Returns 0 when granted (what the client holds
 * grows by bytes); -ENOSPC when denied, with what the instance has free in *ret_free (may be
 * NULL), the connection staying open; or the errors of mk_lease_connect. A connection found
 * broken (migd restarted) is re-established once, re-registering what the client holds, and
 * the request is retried; an outcome that cannot be known (the server died mid-request) counts
 * as not granted, which is exact since the dead server's leases died with it.
 */
int mk_lease_grant(struct mk_lease_client *c, uint64_t bytes, uint64_t *ret_free,
                   struct mk_error *err);

/*
 * Gives back bytes (1 .. what the client holds; -ERANGE otherwise, nothing changed). What the
 * client holds drops at once, whatever the server's fate: if the connection is broken and
 * cannot be re-established, the release is still effective (the server's leases died with
 * the connection, and the next HELLO re-registers the lower amount), and the call returns the
 * connection error so the caller may log it. Returns 0 when the server acknowledged.
 */
int mk_lease_release(struct mk_lease_client *c, uint64_t bytes, struct mk_error *err);

/*
 * Round trip that makes sure the client is connected and registered (reconnecting if needed)
 * and returns what the server records for this connection in *ret_server_held (may be NULL).
 * It equals mk_lease_held() unless something is wrong; the tests check exactly that.
 */
int mk_lease_ping(struct mk_lease_client *c, uint64_t *ret_server_held, struct mk_error *err);

/*
 * Asks migd for the instance's quota and what is granted now (INFO, protocol version 2),
 * connecting and re-registering first if needed. Returns 0 and *ret; -EPROTONOSUPPORT when
 * the server speaks only version 1 (the caller must do without, e.g. with a probing GRANT);
 * or the errors of mk_lease_connect.
 */
int mk_lease_info(struct mk_lease_client *c, struct mk_lease_info *ret, struct mk_error *err);

/* What the client holds: the sum of its grants minus its releases. */
uint64_t mk_lease_held(struct mk_lease_client *c);

/* Times the client had to (re)connect to the server after its first connection. */
uint64_t mk_lease_reconnects(struct mk_lease_client *c);

/*
 * fork() support, for pthread_atfork(prepare, parent, child) in the shim: prepare takes the
 * client's lock so no request is half-done across the fork, parent releases it, child releases
 * it and forgets the parent's lease (closes its copy of the fd, which leaves the parent's
 * connection open, and holds 0: memory is not inherited). The child reconnects on its first
 * call with its own pid.
 */
void mk_lease_client_atfork_prepare(struct mk_lease_client *c);
void mk_lease_client_atfork_parent(struct mk_lease_client *c);
void mk_lease_client_atfork_child(struct mk_lease_client *c);

#endif /* MIGKIT_LEASE_H */
