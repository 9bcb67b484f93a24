/*
 * quota-nolease.c - the lease source (quota.h) of a libmigshim built without migd's lease
 * client: it refuses, with a message saying what to do instead. The build picks
 * quota-lease.c instead when the lease client (src/lease) is part of it.
 */
#include <errno.h>
#include <stdio.h>

#include "shim/quota.h"

int mk__shim_quota_lease(struct quota_source *ret, char *msg, size_t n)
{
    (void)ret;
    snprintf(msg, n,
             "this libmigshim was built without migd's lease client; set "
             "MIGKIT_SHIM_MODE=standalone to use a quota file (%s)",
             MK_SHIM_STANDALONE_FILE_DEFAULT);
    return -ENOTSUP;
}
