/*
 * geometry.h - the exact MIG partition model of one GPU: slices, placements, GPU instances
 * (GIs) and compute instances (CIs), with the driver's rules for IDs, automatic placement,
 * media-engine exclusivity, capacity and teardown order.
 *
 * Pure computation: no I/O, no allocation. A struct mk_gpu is a plain value that callers may
 * copy (the planner and reconfiguration engine do). Its model pointer is borrowed from a
 * struct mk_catalog that must outlive it. Not thread-safe; callers serialise access.
 *
 * Rules (docs/geometry.md gives the sources):
 *   - A GI occupies memory slices [start, start+mem_slices); GIs never overlap.
 *   - Starts come from the profile's possible placements; with no start given, the driver's
 *     preference order (profile auto_order) picks the first free one.
 *   - At most `max` GIs of a profile; at most one "+me" GI on the GPU; a "+me.all" GI
 *     excludes every GI except "-me" ones (and vice versa).
 *   - GI ID is a function of the placement: on a grid of G units, a GI of s units at start t
 *     gets (G/s - 1) + t/s (the binary-tree numbering behind gi0..gi14).
 *   - CIs occupy compute slices of their GI; CI placements are aligned to their size; CI IDs
 *     are the lowest free (0..7).
 *   - A GI with CIs, or marked busy, cannot be destroyed ("In use by another client").
 */
#ifndef MIGKIT_GEOMETRY_H
#define MIGKIT_GEOMETRY_H

#include "migkit/catalog.h"

/* GI IDs run 0..14 and CI IDs 0..7 per GI (the driver's mig-minors table: gpuN/gi0..gi14,
 * ci0..ci7), so these bounds are hard limits of the hardware, not tunables. */
#define MK_MAX_GIS 15
#define MK_MAX_CIS 8
/* "MIG-" + 36-character UUID + NUL, rounded up. */
#define MK_UUID_LEN 48

struct mk_ci {
    int id;
    int profile_id; /* CI profile ID (mk_ci_profile.id) */
    int start;      /* first compute slice inside the GI */
    int slices;
    char uuid[MK_UUID_LEN]; /* "MIG-xxxxxxxx-...", stable for the CI's life */
};

struct mk_gi {
    int id;
    const struct mk_gi_profile *profile; /* borrowed from the model */
    int start;                           /* first memory slice */
    bool busy;                           /* processes are running on it */
    int nci;
    struct mk_ci ci[MK_MAX_CIS];
};

/* Simulator fault hooks (`migctl sim fault`): kinds of operation that can be made to fail, as
 * they fail on hardware when another process holds the GPU's device node. */
#define MK_FAULT_MAP(X)                                                                       \
    X(CREATE_GI, "create-gi")                                                                 \
    X(CREATE_CI, "create-ci")                                                                 \
    X(DESTROY_GI, "destroy-gi")                                                               \
    X(DESTROY_CI, "destroy-ci")

enum mk_fault {
#define X(n, s) MK_FAULT_##n,
    MK_FAULT_MAP(X)
#undef X
        MK_FAULT__COUNT
};

/* Name of fault kind f ("create-gi"), or NULL. */
const char *mk_fault_name(int f);

struct mk_gpu {
    const struct mk_model *model; /* borrowed from the catalog */
    int index;
    char uuid[MK_UUID_LEN];
    char pci_bus_id[32];
    uint32_t pci_device_id;    /* 0xDDDDVVVV, as device-filter matches it */
    uint32_t pci_subsystem_id; /* 0xSSSSVVVV, 0 when unknown */
    bool mig_enabled;
    int faults[MK_FAULT__COUNT]; /* simulator: how many of the next operations of each kind
                                    fail with "In use by another client"; the geometry
                                    functions ignore them, the simulator backend applies them */
    int ngi;
    struct mk_gi gi[MK_MAX_GIS];
    /* Memory held outside the placement grid: by software instances without a placement
     * (migd's custom instances) or beyond their profile's size (a resized one); always 0 on
     * hardware, whose memory is all in slices. */
    uint64_t outside_bytes;
};

/* Sets g to an empty GPU of model m with MIG mode disabled; its PCI device ID is the
 * model's first (a backend that knows the real one overwrites it). */
void mk_gpu_init(struct mk_gpu *g, const struct mk_model *m, int index);

/* The GI ID a GI of profile p gets at placement start (see the rule above). */
int mk_gi_id_for(const struct mk_model *m, const struct mk_gi_profile *p, int start);

/* True when memory slices [start, start+size) hold no GI. */
bool mk_gpu_range_free(const struct mk_gpu *g, int start, int size);

/* Checks whether a GI of profile p may be created at start (a possible placement, or a
 * negative value for "any"). Returns 0, -ENOSPC (insufficient resources: overlap, count or media-engine rules),
 * or -EINVAL (start is not a possible placement of p). */
int mk_gpu_gi_check(const struct mk_gpu *g, const struct mk_gi_profile *p, int start);

/* Number of further GIs of profile p that can be created now: free placements, capped by
 * max minus existing, zero when the media-engine rules forbid the profile (-lgip's Free);
 * with outside_bytes, also capped by what the memory left outside holds. */
int mk_gpu_gi_remaining(const struct mk_gpu *g, const struct mk_gi_profile *p);

/* Creates a GI of profile p at start, or at the driver's automatic choice when start is
 * negative (-1 by convention).
 * On success stores the new GI's ID in *ret_id. Errors as mk_gpu_gi_check(); g is unchanged
 * on failure. Requires MIG mode (-ENOTSUP otherwise). */
int mk_gpu_gi_create(struct mk_gpu *g, const struct mk_gi_profile *p, int start, int *ret_id);

/* Returns the GI with this ID, or NULL. */
struct mk_gi *mk_gpu_gi_find(struct mk_gpu *g, int id);
const struct mk_gi *mk_gpu_gi_find_const(const struct mk_gpu *g, int id);

/* Destroys GI id: -ENOENT when absent, -EBUSY when it has CIs or is busy. */
int mk_gpu_gi_destroy(struct mk_gpu *g, int id);

/* Number of further CIs of CI profile ci_id that fit in gi now; -EINVAL when the GI does not
 * offer that CI profile. */
int mk_gi_ci_remaining(const struct mk_gi *gi, const struct mk_model *m, int ci_id);

/* Creates a CI of profile ci_id in GI gi_id with the given UUID (copied). Returns 0 and the
 * new CI ID in *ret_id, -ENOENT (no such GI), -EINVAL (profile not offered by the GI) or
 * -ENOSPC (no free compute slices / CI IDs). */
int mk_gpu_ci_create(struct mk_gpu *g, int gi_id, int ci_id, const char *uuid, int *ret_id);

/* Destroys CI ci_id of GI gi_id: -ENOENT when either is absent, -EBUSY when the GI is busy. */
int mk_gpu_ci_destroy(struct mk_gpu *g, int gi_id, int ci_id);

/* Turns MIG mode on or off. Turning it off with GIs present fails with -EBUSY. */
int mk_gpu_set_mig(struct mk_gpu *g, bool enabled);

/* Fills order[] with indices into g->gi in nvidia-smi's listing order: profiles in the
 * catalog's -lgip row order, then ascending GI ID. Returns the count. */
int mk_gpu_gi_order(const struct mk_gpu *g, int order[MK_MAX_GIS]);

/* Which compute slices a GI is drawn over in the slice map: [*ret_start, +g). The hardware
 * does not expose this; it is the layout consistent with the memory placement (docs). */
void mk_gi_compute_span(const struct mk_model *m, const struct mk_gi *gi, int *ret_start);

/* Memory slices used, and compute slices used, on g. */
int mk_gpu_mem_used(const struct mk_gpu *g);
int mk_gpu_compute_used(const struct mk_gpu *g);

/* Checks the invariants (no overlap, IDs unique and consistent with placements, counts
 * within max, CIs inside their GI without overlap). Returns 0 or -EBADMSG with a reason in
 * err. Used after loading state and by the randomised tests. */
int mk_gpu_validate(const struct mk_gpu *g, struct mk_error *err);

#endif /* MIGKIT_GEOMETRY_H */
