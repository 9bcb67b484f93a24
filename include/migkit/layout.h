/*
 * layout.h - from the layout a GPU has to the layout it should have, with the least
 * disruption: which instances to keep, where to put the new ones, and the shortest ordered
 * list of operations that gets there.
 *
 * Pure computation on struct mk_gpu values (geometry.h); no I/O, no allocation.
 *
 * The desired layout is a multiset of MIG devices, each one GPU instance (GI) holding one
 * compute instance (CI) of a given CI profile (the mig-parted meaning of "mig-devices"). For
 * one GPU the planner searches every choice of existing GIs to keep untouched, keep with new
 * CIs ("reuse"), or destroy, and every placement of the GIs still to create, and returns the
 * best plan by, in order:
 *   1. most GIs kept untouched (with their CIs, so the work on them goes on);
 *   2. fewest operations.
 * GIs marked busy are never destroyed or changed unless force is set; a target that would
 * need that is reported as blocked, naming the GI.
 */
#ifndef MIGKIT_LAYOUT_H
#define MIGKIT_LAYOUT_H

#include "migkit/config.h"
#include "migkit/geometry.h"

struct mk_layout_want {
    const struct mk_gi_profile *profile; /* borrowed from the GPU's model */
    int ci_profile;                      /* CI profile ID of the MIG device's one CI */
    int count;
};

struct mk_layout_spec {
    bool mig_enabled;
    int nwant;
    struct mk_layout_want want[MK_MAX_GIS];
};

#define MK_OP_KIND_MAP(X)                                                                          \
    X(DESTROY_CI, "destroy-ci")                                                                    \
    X(DESTROY_GI, "destroy-gi")                                                                    \
    X(SET_MIG, "set-mig-mode")                                                                     \
    X(CREATE_GI, "create-gi")                                                                      \
    X(CREATE_CI, "create-ci")

enum mk_op_kind {
#define X(n, s) MK_OP_##n,
    MK_OP_KIND_MAP(X)
#undef X
};

/* Text of an operation kind ("create-gi"). */
const char *mk_op_kind_name(enum mk_op_kind k);

struct mk_op {
    enum mk_op_kind kind;
    int gi_id;                           /* the GI acted on (for creates: the ID it will get) */
    int ci_id;                           /* DESTROY_CI: the CI; CREATE_CI: the ID it will get */
    const struct mk_gi_profile *profile; /* CREATE_GI/DESTROY_GI */
    int start;                           /* CREATE_GI: explicit placement */
    int ci_profile;                      /* CREATE_CI/DESTROY_CI */
    bool mig_enabled;                    /* SET_MIG */
};

/* Upper bound of a plan's operations: destroy up to 15 GIs with 8 CIs each, one mode change,
 * create up to 15 GIs with one CI each. */
#define MK_LAYOUT_MAX_OPS (MK_MAX_GIS * (MK_MAX_CIS + 1) + 1 + 2 * MK_MAX_GIS)

struct mk_layout_plan {
    bool feasible; /* false: see why */
    char why[MK_ERROR_LEN];
    int kept;      /* existing GIs kept with their CIs untouched */
    int reused;    /* existing GIs kept, their CIs replaced */
    int destroyed; /* existing GIs destroyed */
    int created;   /* GIs created */
    int forced;    /* busy GIs destroyed or changed because force was set */
    int nops;
    struct mk_op ops[MK_LAYOUT_MAX_OPS];
    struct mk_gpu target; /* the layout after the plan (new CIs have the UUID "(new)") */
};

/* Plans the change of cur to spec. Returns 0 with *ret filled (ret->feasible tells whether
 * the target can be reached; when not, ret->why says why: a profile over its max count,
 * no placement for the set, or a busy GI in the way), or -EINVAL for a malformed spec (a
 * profile of another model, a CI profile the GI does not offer) with detail in err. */
int mk_layout_plan(const struct mk_gpu *cur, const struct mk_layout_spec *spec, bool force,
                   struct mk_layout_plan *ret, struct mk_error *err);

/* Turns configuration entry e's mig-devices into the layout spec for model m (entries with a
 * count of 0 are skipped; repeated MIG devices add up). Returns 0, or -EINVAL (a name m does
 * not have) or -E2BIG (more distinct MIG devices than MK_MAX_GIS) with detail in err and
 * *ret_bad set to the index of the mig-device at fault in e->migdevs; *ret is then
 * unspecified. Shared by migctl apply/assert and migd's start-up check. */
int mk_layout_spec_from_entry(const struct mk_config_entry *e, const struct mk_model *m,
                              struct mk_layout_spec *ret, int *ret_bad, struct mk_error *err);

/* True when g already has exactly the layout spec asks for (mode, and the multiset of
 * (GI profile, single CI profile) MIG devices). */
bool mk_layout_matches(const struct mk_gpu *g, const struct mk_layout_spec *spec);

#endif /* MIGKIT_LAYOUT_H */
