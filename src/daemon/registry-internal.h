/*
 * registry-internal.h - the registry's in-memory state, shared by registry.c (changes,
 * restore) and registry-view.c (JSON views, lease operations). Nothing outside the registry
 * includes it.
 */
#ifndef MIGD_REGISTRY_INTERNAL_H
#define MIGD_REGISTRY_INTERNAL_H

#include <pthread.h>

#include "lease-sums.h"
#include "migkit/geometry.h"
#include "registry.h"

struct reg_gpu {
    struct store_gpu rec;
    const struct mk_model *model; /* NULL when the GPU is not in the catalog */
    struct mk_gpu geo;            /* profile instances as GIs (catalog models only) */
    uint64_t allocated;           /* sum of the quotas of its instances */
    int ninstances;
};

struct reg_instance {
    struct store_instance rec; /* its lease total is in reg->sums, under the UUID */
    int ngrants;
    uid_t grants[REGISTRY_MAX_GRANTS]; /* sorted ascending */
};

/*
 * Locks. reg->lock guards everything below but sums, and is held across store commits.
 * reg->sums has its own lock (lease-sums.h) so that GRANT, RELEASE and INFO never wait for a
 * commit. Lock order: reg->lock, then the sums' lock. A change of quota or of the instance
 * list updates the sums around its commit so that grants are always checked against the
 * smaller of the old and the new quota (registry.c: resize_locked, destroy_locked).
 */
struct registry {
    pthread_mutex_t lock;
    struct lease_sums *sums;
    struct store *store;
    const struct mk_catalog *cat;
    char proc_root[64];
    struct reg_gpu *gpus;
    int ngpus;
    struct reg_instance **inst; /* creation order */
    size_t ninst, cap_inst;
    struct store_process *procs; /* registered processes, unordered */
    size_t nprocs, cap_procs;
    /* Registered processes that survived the last restart and have not said HELLO on the
     * lease socket since (registry_survivors_pending), unordered; allocated at open. */
    struct store_process *survivors;
    size_t nsurvivors;
};

/* Lookups; the caller holds reg->lock. */
struct reg_instance *reg_find(struct registry *reg, const char *uuid);
struct store_process *reg_find_process(struct registry *reg, pid_t pid, uint64_t start_time);
bool reg_instance_granted(const struct reg_instance *in, uid_t uid);
/* The instance's JSON view (docs/api.md); NULL on allocation failure. */
json_t *reg_instance_json(struct registry *reg, const struct reg_instance *in);

#endif /* MIGD_REGISTRY_INTERNAL_H */
