/*
 * planner-internal.h - what the planner's files share (planner.c, planner-model.c,
 * planner-pack.c, planner-exact.c, planner-lp.c). Not installed; nothing outside src/core
 * includes it.
 *
 * The planner works on an abstraction of the fleet that is exact for its purpose:
 *
 *   - Per GPU model, the plain profiles (mk_plan_profile_is_plain) and a table of every
 *     multiset of them that fits on one GPU. A multiset is a "state": the mixed-radix number
 *     of its per-profile counts. The table is built once per model by placing GIs with the
 *     geometry (mk_gpu_gi_check/create over every placement), so "fits" means what the
 *     hardware allows, and adding a replica to a GPU is one table lookup. Multisets that fit
 *     are closed under removal, which the packers rely on.
 *   - Replicas become items; items that get the same profile on every model and have the same
 *     priority are one "type" and interchangeable.
 *
 * A solution gives each item a GPU (or none) and each GPU its state. Where on the GPU the GIs
 * go is decided last, by layout.c, exactly as `migctl apply` will place them.
 */
#ifndef MIGKIT_PLANNER_INTERNAL_H
#define MIGKIT_PLANNER_INTERNAL_H

#include "migkit/planner.h"

/* Plain profiles per model: the catalog's largest model has 7 (RTX PRO 6000 has 3 plain of
 * its 11); 12 leaves room for --catalog models. */
#define PL_MAX_PLAIN 12
/* Distinct models in one fleet: the catalog has 13. */
#define PL_MAX_MODELS 16
/* A model's state table may hold at most this many multisets (the H100 needs 1,920). */
#define PL_MAX_STATES (1u << 22)
/* No profile on this model. */
#define PL_NONE (-1)

struct pl_model {
    const struct mk_model *m;
    int n;                                          /* plain profiles */
    const struct mk_gi_profile *prof[PL_MAX_PLAIN]; /* by memory, then compute, then size */
    int maxc[PL_MAX_PLAIN];                         /* count cap: min(max, max GIs) */
    uint32_t stride[PL_MAX_PLAIN];                  /* mixed-radix place values */
    uint32_t nstates;
    uint8_t *ok;       /* [nstates]: 1 when the multiset fits one GPU */
    int8_t *best_add;  /* [nstates]: largest profile that can still be added, or -1 */
    uint16_t *addable; /* [nstates]: bit j set when one more GI of profile j fits */
    int nmax;          /* maximal multisets (nothing can be added) */
    uint32_t *maximal; /* [nmax] */
    uint8_t *maxcnt;   /* [nmax * n]: their counts */
};

static inline int pl_count(const struct pl_model *pm, uint32_t s, int j)
{
    return (int)(s / pm->stride[j] % (uint32_t)(pm->maxc[j] + 1));
}

/* The state after adding one GI of profile j to s, or -1 when it does not fit. One table
 * lookup: the packers call this millions of times on large fleets. */
static inline int64_t pl_add(const struct pl_model *pm, uint32_t s, int j)
{
    if (j < 0 || !(pm->addable[s] & (1u << j)))
        return -1;
    return (int64_t)(s + pm->stride[j]);
}

struct pl_type {
    int level;                  /* priority level, 0 = highest */
    int8_t prof[PL_MAX_MODELS]; /* plain profile index per fleet model, or PL_NONE */
    int count;                  /* items of this type */
    int first;                  /* its first item (items are sorted by type) */
};

struct pl_problem {
    int nmodels;
    struct pl_model models[PL_MAX_MODELS];
    int ngpus;
    int *gpu_model; /* [ngpus]: index into models */
    int ntypes;
    struct pl_type *types;
    int nitems;
    int *item_type; /* [nitems], non-decreasing */
    int nlevels;
    const struct pl_lp_sol *lp; /* the LP for every item, when solved; NULL otherwise */
};

/* Per-item weights of one valid weight vector: every GPU's items weigh at most 1 in total,
 * so a set of items needs at least ceil(total weight) GPUs. */
struct pl_weights {
    double w[PL_MAX_MODELS][PL_MAX_PLAIN]; /* a GI of profile j on model m */
    double *v;                             /* [ntypes]: least weight over allowed models */
};

struct pl_sol {
    int *item_gpu;   /* [nitems]: fleet index, or -1 */
    uint32_t *state; /* [ngpus] */
};

/* The comparison key of a solution (objectives 1-3 of planner.h). */
struct pl_score {
    int *placed; /* [nlevels] */
    int used;
};

/* planner-model.c */
int pl_model_init(struct pl_model *pm, const struct mk_model *m, struct mk_error *err);
void pl_model_free(struct pl_model *pm);
/* Fills the weights of vector (a_mem, a_comp, a_gis, a_shape) for pb: shares of memory
 * slices, compute slices, GIs, and GIs of one shape (compute slices * 100 + eighths of
 * memory), scaled so that the heaviest multiset of each model weighs exactly 1. Returns 0 or
 * -ENOMEM; free ret->v with pl_weights_free(). */
int pl_weights_make(const struct pl_problem *pb, double a_mem, double a_comp, double a_gis,
                    double a_shape, int shape, struct pl_weights *ret);
void pl_weights_free(struct pl_weights *w);
/* Number of weight vectors pl_weights_nth() knows for pb, and the n-th of them. */
int pl_weights_count(const struct pl_problem *pb);
int pl_weights_nth(const struct pl_problem *pb, int n, struct pl_weights *ret);
/* The best lower bound on GPUs for counts[t] items of each type, over every weight vector. */
int pl_bound(const struct pl_problem *pb, const int *counts);

/* planner-pack.c */
int pl_sol_new(const struct pl_problem *pb, struct pl_sol *s);
void pl_sol_free(struct pl_sol *s);
void pl_sol_copy(const struct pl_problem *pb, struct pl_sol *dst, const struct pl_sol *src);
int pl_score_new(const struct pl_problem *pb, const struct pl_sol *s, struct pl_score *ret);
void pl_score_free(struct pl_score *s);
/* <0 when a is better than b, >0 when worse, 0 when equal on objectives 1 and 2. */
int pl_score_cmp(const struct pl_problem *pb, const struct pl_score *a, const struct pl_score *b);
/* Objective 3: <0 when a leaves larger free profiles than b. */
int pl_frag_cmp(const struct pl_problem *pb, const struct pl_sol *a, const struct pl_sol *b);
/* The heuristic. sol holds the seed on entry (items already on GPUs, with their states; all
 * -1 and 0 for none) and the result on return. Returns 0 or -ENOMEM. */
int pl_heuristic(const struct pl_problem *pb, struct pl_sol *sol);
/* The heuristic's local search on a complete plan s: empties partly filled GPUs by moving
 * their items to other used GPUs (directly or by one ejection). Returns 0 or -ENOMEM. */
int pl_improve(const struct pl_problem *pb, struct pl_sol *s);

/* planner-lp.c: the LP relaxation. */
struct pl_lp_sol {
    bool ok;         /* solved: the rest is valid */
    bool infeasible; /* not solved, and certified: no plan satisfies the LP's node */
    int bound;       /* certified lower bound on GPUs (the node's free GPUs) */
    double value;    /* the LP optimum as computed (for reports; not a certified bound) */
    double *x;       /* GPUs per maximal multiset: model mi's at [xoff[mi], xoff[mi + 1]) */
    int xoff[PL_MAX_MODELS + 1];
    int ngroups;
    int *type_group; /* [ntypes]: types with the same profile on every model share a group */
    double *y;       /* [ngroups * nmodels]: items of a group placed on a model */
};
int pl_lp_run(const struct pl_problem *pb, const int *counts, const int *caps,
              struct pl_lp_sol *out);
void pl_lp_sol_free(struct pl_lp_sol *s);
/* A node of the configuration search: the LP for its free GPUs, given the GIs of the GPUs it
 * fixed already. */
struct pl_lp_node {
    int caps[PL_MAX_MODELS];                 /* free GPUs of each model the LP may use */
    int mins[PL_MAX_MODELS];                 /* ... and must use at least */
    int supply[PL_MAX_MODELS][PL_MAX_PLAIN]; /* GIs of each profile on the fixed GPUs */
    const uint8_t *banned; /* [x columns]: 1 for a multiset the free GPUs may not take; or NULL */
};
/* The LP of counts[t] items of each type, built once and solved for many nodes; with
 * `search`, it has the rows for the nodes' mins (without, they must be 0). */
struct pl_lp_work;
int pl_lp_work_new(const struct pl_problem *pb, const int *counts, bool search,
                   struct pl_lp_work **ret);
void pl_lp_work_free(struct pl_lp_work *w);
/* The effort of every solve so far: tableau entries gone over by pivots, fills and
 * snapshots. A measure of time that does not depend on the machine or its load (about
 * 0.3-0.4 ns an entry on the benchmark's machine, bench/README.md). */
long long pl_lp_work_effort(const struct pl_lp_work *w);
/* Solves node nd into out (ok, or infeasible when certified, or neither when the simplex gave
 * up). When the last solve reached an optimum and nd only changes its caps, mins and supply
 * and adds bans, it starts from that optimum (the dual simplex); else from scratch. Returns
 * 0 or -ENOMEM. */
int pl_lp_work_solve(const struct pl_problem *pb, struct pl_lp_work *w, const struct pl_lp_node *nd,
                     struct pl_lp_sol *out);
/* Snapshots of the solver's state, so that a node's second branch starts warm too: save
 * after solving the node, restore before its second branch. Slots 0 .. PL_LP_SLOTS - 1; save
 * returns 0 or -ENOMEM; restoring a slot never saved makes the next solve start cold. */
#define PL_LP_SLOTS 48
int pl_lp_work_save(struct pl_lp_work *w, int slot);
void pl_lp_work_restore(struct pl_lp_work *w, int slot);
int pl_lp_round(const struct pl_problem *pb, const struct pl_lp_sol *lps, const double *v,
                struct pl_sol *s);

/* planner-exact.c */
/* Exhaustive search from the incumbent best (a full solution, e.g. the heuristic's), which it
 * replaces when it finds better; lb is a lower bound on GPUs for all items (0 if none).
 * Returns 1 when the search finished (best is optimal for objectives 1-2), 0 when it ran out
 * of nodes, or -ENOMEM. *ret_nodes counts nodes. */
int pl_exact(const struct pl_problem *pb, struct pl_sol *best, int lb, long node_limit,
             long *ret_nodes);

/* The configuration search: branch and bound on the configuration LP for counts[t] items of
 * each type (planner-exact.c). */
struct pl_cfg_result {
    int bound;     /* proven lower bound on the GPUs of any plan placing the counts; above
                      the fleet's GPUs when it proved that no plan does */
    bool found;    /* out holds a plan of the counts on fewer GPUs than the incumbent */
    bool complete; /* the search finished: bound is the optimum (or no plan exists) */
    long lps;      /* LPs solved */
};
/* Looks for a plan of the counts on fewer than `incumbent` GPUs (ngpus + 1: any plan), until
 * its LPs have cost `effort` (pl_lp_work_effort()). On success with res->found, out (may be
 * NULL: search for the bound only) holds the plan: the first counts[t] items of each type
 * placed, the rest not. Returns 0 or -ENOMEM. */
int pl_cfg_search(const struct pl_problem *pb, const int *counts, int incumbent, long long effort,
                  struct pl_sol *out, struct pl_cfg_result *res);

#endif /* MIGKIT_PLANNER_INTERNAL_H */
