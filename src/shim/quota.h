/*
 * quota.h - where libmigshim's memory comes from: a quota source grants bytes to the process
 * and takes them back; the accounting (account.c) serves allocations from what it was
 * granted.
 *
 * Two sources:
 *   lease       migd's lease socket (docs/lease-protocol.md): grants are leases held by the
 *               process's connection, exact across every process of the instance, released
 *               by the kernel when the process dies. The default.
 *   standalone  a quota read from a root-owned file, for trying the shim without migd. Each
 *               process gets the whole quota for itself (processes do not share it), and
 *               nothing stops a process from bypassing the shim: it is NOT tamper-proof, and
 *               says so on stderr when it starts.
 *
 * A source is set up once (state.c) and then called under the accounting lock, so its
 * functions need not be thread-safe among themselves; they must not allocate after hello.
 */
#ifndef MIGKIT_SHIM_QUOTA_H
#define MIGKIT_SHIM_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The instance's limits, as a source learns them. */
struct quota_limits {
    char instance[48]; /* "MIG-..." UUID, or "" (keep the GPU's) */
    char name[96];     /* full device name, or "" */
    char profile[32];  /* standalone: the "<profile>" of "<product> MIG <profile>", or "" */
    uint64_t quota;    /* bytes, for the whole instance */
    uint32_t sms;      /* 0 when unknown */
    uint64_t chunk;    /* grant size the source suggests; 0: ask for exactly what is needed */
};

struct quota_source {
    const char *kind; /* "lease" or "standalone" */
    /* Learns the limits (connects, reads the file). 0 or -errno with a message in msg. */
    int (*hello)(struct quota_source *s, struct quota_limits *ret, char *msg, size_t n);
    /* Asks for bytes more: 0 when granted, -ENOSPC when the instance has no room, other
     * -errno when the source cannot answer (the caller refuses the allocation either way). */
    int (*grant)(struct quota_source *s, uint64_t bytes);
    /* Gives bytes back (never more than granted). */
    void (*release)(struct quota_source *s, uint64_t bytes);
    /* The instance now: the bytes it has free outside what this process holds, and its
     * quota (a resize through migd shows here, so the accounting follows it). Returns 0 and
     * both, or -ENOTSUP (or another -errno) when the source cannot tell, leaving both
     * untouched. */
    int (*instance)(struct quota_source *s, uint64_t *ret_free, uint64_t *ret_quota);
    /* fork: prepare/parent bracket the fork in the parent; child forgets every grant. */
    void (*atfork_prepare)(struct quota_source *s);
    void (*atfork_parent)(struct quota_source *s);
    void (*atfork_child)(struct quota_source *s);
    void *ctx;
};

/* Where the standalone file is read from when MIGKIT_SHIM_STANDALONE_FILE is unset. */
#define MK_SHIM_STANDALONE_FILE_DEFAULT "/etc/migkit/shim-standalone.conf"

/*
 * The standalone source for the file at path (copied). The file must be a regular file owned
 * by root (or, with allow_own_uid, by the process's own uid: for tests and trials, and said
 * so), writable by its owner only. Lines "key=value", '#' comments: quota (required; bytes or
 * with KiB, MiB, GiB, TiB), profile (default "custom"), uuid (default: the GPU's), sms.
 * Fills *ret; the file is read by hello. Returns 0 or -ENAMETOOLONG.
 */
int mk__shim_quota_standalone(struct quota_source *ret, const char *path, bool allow_own_uid);

/* The lease source for migd's socket (mk_lease_default_path). Returns 0, or -ENOTSUP when
 * this build has no lease client, -errno otherwise, with a message in msg. */
int mk__shim_quota_lease(struct quota_source *ret, char *msg, size_t n);

/* Parses "1073741824", "64MiB", "10GiB" (KiB, MiB, GiB, TiB) into *ret. 0 or -EINVAL. */
int mk__shim_parse_size(const char *s, uint64_t *ret);

#endif /* MIGKIT_SHIM_QUOTA_H */
