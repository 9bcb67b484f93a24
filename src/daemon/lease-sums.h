/*
 * lease-sums.h - the lease totals of migd's instances, under their own lock: for each
 * instance, the quota that grants are checked against and the sum of what its processes
 * were granted (docs/lease-protocol.md, "Accounting and the exactness guarantee").
 *
 * Why a module of its own: the registry's mutex is held across SQLite commits (fsync, several
 * milliseconds), and a GRANT must not wait for those. Grants, releases and INFO take only
 * this module's lock, for a lookup and an add; the registry changes a quota or an instance
 * here at the right moments of its own changes (registry.c: create, resize, destroy), so that
 * at every instant and for every instance
 *
 *     granted <= quota,
 *
 * where quota is what grants are checked against, and quota is never above what the store
 * says (during a commit that changes it, the smaller of the old and the new quota applies).
 *
 * Lock order: the registry's mutex, then this one; never the other way round (nothing here
 * calls out, and no function takes the registry's lock while holding this one). Every
 * function takes the lock itself. Entries are identified by the instance's UUID and copied
 * in; nothing borrowed outlives a call.
 */
#ifndef MIGD_LEASE_SUMS_H
#define MIGD_LEASE_SUMS_H

#include <stdint.h>

struct lease_sums;

/* Returns 0 and an empty table, or -ENOMEM. */
int lease_sums_new(struct lease_sums **ret);
void lease_sums_free(struct lease_sums *s);

/* Adds an instance with quota and nothing granted. -EEXIST when it is there, -ENOMEM,
 * -EINVAL for a UUID too long for an entry. */
int lease_sums_add(struct lease_sums *s, const char *uuid, uint64_t quota);

/* Removes an instance (a no-op when it is not there). Grants on it are -ENOENT from then on,
 * releases no-ops. */
void lease_sums_remove(struct lease_sums *s, const char *uuid);

/*
 * Sets the quota grants are checked against, if what is granted fits under it: 0, or -EBUSY
 * (nothing changed) with what is granted in *ret_granted (may be NULL; set either way);
 * -ENOENT. Raising a quota always succeeds. Setting it to 0 freezes an unused instance: no
 * grant fits any more (destroy does this before its commit).
 */
int lease_sums_set_quota(struct lease_sums *s, const char *uuid, uint64_t quota,
                         uint64_t *ret_granted);

/* Adds bytes when granted + bytes <= quota: 0; else -ENOSPC. *ret_free (may be NULL) is
 * quota - granted afterwards either way. -ENOENT when the instance is gone. */
int lease_sums_grant(struct lease_sums *s, const char *uuid, uint64_t bytes, uint64_t *ret_free);

/* Subtracts bytes (never below 0); a gone instance is a no-op. */
void lease_sums_release(struct lease_sums *s, const char *uuid, uint64_t bytes);

/* The quota and what is granted now: 0, or -ENOENT. Outputs are set only on success. */
int lease_sums_info(struct lease_sums *s, const char *uuid, uint64_t *ret_quota,
                    uint64_t *ret_granted);

#endif /* MIGD_LEASE_SUMS_H */
