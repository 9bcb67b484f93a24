/*
 * registry-internal.h - the registry's in-memory state, shared by registry.c (changes,
 * restore) and registry-view.c (JSON views, lease operations). Nothing outside the registry
 * includes it.
 */
#ifndef MIGD_REGISTRY_INTERNAL_H
#define MIGD_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

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
    struct store_process *procs; /* registered processes, unordered (registry-procs.c) */
    size_t nprocs, cap_procs;
    uint32_t *pindex;  /* procs by (pid, start time): position + 1, 0 for an empty slot */
    size_t pindex_cap; /* slots of pindex: a power of two, twice cap_procs */
    size_t sweep_next; /* where the next registration resumes looking for dead processes */
    /* Registered processes that survived the last restart and have not said HELLO on the
     * lease socket since (registry_survivors_pending), unordered; allocated at open. */
    struct store_process *survivors;
    size_t nsurvivors;
};

/* Lookups; the caller holds reg->lock. */
struct reg_instance *reg_find(struct registry *reg, const char *uuid);
/* The registered process (pid, start_time), or NULL; O(1) through reg->pindex. The pointer is
 * valid until the table next changes. */
struct store_process *reg_find_process(struct registry *reg, pid_t pid, uint64_t start_time);

/*
 * The process table (registry-procs.c); reg->lock held. reserve makes room for one more row
 * (-ENOMEM otherwise), so that add, called after a commit, cannot fail. remove_at moves the
 * last row into position i. reindex rebuilds the index after the array was compacted in
 * place. Each is O(1) but reindex (O(n)) and a reserve that grows (amortised O(1)).
 */
int reg_procs_reserve(struct registry *reg);
void reg_procs_add(struct registry *reg, const struct store_process *p);
void reg_procs_remove_at(struct registry *reg, size_t i);
void reg_procs_reindex(struct registry *reg);
void reg_procs_free(struct registry *reg);
bool reg_instance_granted(const struct reg_instance *in, uid_t uid);
/* The instance's JSON view (docs/api.md); NULL on allocation failure. */
json_t *reg_instance_json(struct registry *reg, const struct reg_instance *in);

#endif /* MIGD_REGISTRY_INTERNAL_H */
