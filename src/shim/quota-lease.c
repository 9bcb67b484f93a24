/*
 * quota-lease.c - the lease quota source (quota.h): grants are leases from migd over its lease
 * socket (docs/lease-protocol.md), through the client library (include/migkit/lease.h).
 *
 * One client, one connection, for the whole process. The client allocates only when it is
 * made (here, at set-up), reconnects and re-registers what the process holds by itself after
 * a migd restart, and never raises SIGPIPE. The accounting calls it under its own lock, on a
 * reserve miss or surplus only, so the client's mutex is never contended by the shim.
 *
 * What the instance has free outside this process: INFO (lease protocol version 2) gives the
 * instance's quota now and what is granted to all its processes, so free = quota - granted,
 * one round trip that changes nothing. A migd that speaks only version 1 has no INFO; then a
 * GRANT that cannot fit is the question instead: it is answered with the instance's free
 * bytes (NO free=...), and a grant of quota - held + 1 bytes can never fit (the instance's
 * sum already includes what this process holds). A server that granted that probe anyway
 * (the instance grew) gets it back at once and the answer is "unknown".
 *
 * The quota: INFO's answer is the instance's quota now, so every INFO (each cuMemGetInfo, and
 * each allocation the accounting would refuse as larger than the quota it knows) hands the
 * accounting a resized quota. Version 1 has no way to tell: there the quota stays HELLO's. A
 * denied GRANT says what is free, not the quota, so it is no substitute.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migkit/lease.h"
#include "shim/quota.h"

static struct {
    struct mk_lease_client *client;
    uint64_t quota;
} ls;

static int ls_hello(struct quota_source *s, struct quota_limits *ret, char *msg, size_t n)
{
    struct mk_lease_limits l;
    struct mk_error err = {0};
    int r;
    (void)s;
    if ((r = mk_lease_connect(ls.client, &l, &err)) < 0) {
        snprintf(msg, n, "%s%s", mk_strerror(&err),
                 r == -ESRCH ? " (this process is in no software instance: start it with "
                               "migctl exec)"
                             : "");
        return r;
    }
    memset(ret, 0, sizeof(*ret));
    snprintf(ret->instance, sizeof(ret->instance), "%s", l.instance);
    snprintf(ret->name, sizeof(ret->name), "%s", l.name);
    ret->quota = ls.quota = l.quota_bytes;
    ret->sms = l.sms;
    ret->chunk = l.chunk_bytes;
    return 0;
}

static int ls_grant(struct quota_source *s, uint64_t bytes)
{
    (void)s;
    return mk_lease_grant(ls.client, bytes, NULL, NULL);
}

static void ls_release(struct quota_source *s, uint64_t bytes)
{
    (void)s;
    /* Effective whatever the connection's fate (lease.h): nothing to do on error. */
    mk_lease_release(ls.client, bytes, NULL);
}

/* Version 1 only: what is free, learnt from the denial of a GRANT that cannot fit. */
static int probe_free(uint64_t *ret)
{
    uint64_t held = mk_lease_held(ls.client), free_bytes = 0, probe;
    int r;
    if (held > ls.quota)
        return -ENOTSUP;
    probe = ls.quota - held + 1;
    r = mk_lease_grant(ls.client, probe, &free_bytes, NULL);
    if (r == 0) {
        mk_lease_release(ls.client, probe, NULL);
        return -ENOTSUP;
    }
    if (r != -ENOSPC)
        return r;
    *ret = free_bytes;
    return 0;
}

static int ls_instance(struct quota_source *s, uint64_t *ret_free, uint64_t *ret_quota)
{
    struct mk_lease_info info;
    int r;
    (void)s;
    if ((r = mk_lease_info(ls.client, &info, NULL)) == -EPROTONOSUPPORT) {
        if ((r = probe_free(ret_free)) == 0)
            *ret_quota = ls.quota; /* version 1: HELLO's is all there is */
        return r;
    }
    if (r < 0)
        return r;
    /* granted <= quota always holds on the server (a resize never shrinks below it); the
     * guard only keeps a confused reply from wrapping. */
    *ret_free = info.granted < info.quota_bytes ? info.quota_bytes - info.granted : 0;
    *ret_quota = ls.quota = info.quota_bytes;
    return 0;
}

static void ls_prepare(struct quota_source *s)
{
    (void)s;
    mk_lease_client_atfork_prepare(ls.client);
}

static void ls_parent(struct quota_source *s)
{
    (void)s;
    mk_lease_client_atfork_parent(ls.client);
}

static void ls_child(struct quota_source *s)
{
    (void)s;
    mk_lease_client_atfork_child(ls.client);
}

int mk__shim_quota_lease(struct quota_source *ret, char *msg, size_t n)
{
    char path[108]; /* sizeof(sockaddr_un.sun_path) */
    struct mk_error err = {0};
    int r;
    if ((r = mk_lease_default_path(path, sizeof(path))) < 0) {
        snprintf(msg, n, "the lease socket path ($MIGKIT_RUN_DIR/%s) is too long",
                 MK_LEASE_SOCKET_NAME);
        return r;
    }
    if ((r = mk_lease_client_new(path, 0, &ls.client, &err)) < 0) {
        snprintf(msg, n, "%s", mk_strerror(&err));
        return r;
    }
    *ret = (struct quota_source){.kind = "lease",
                                 .hello = ls_hello,
                                 .grant = ls_grant,
                                 .release = ls_release,
                                 .instance = ls_instance,
                                 .atfork_prepare = ls_prepare,
                                 .atfork_parent = ls_parent,
                                 .atfork_child = ls_child};
    return 0;
}
