/*
 * planner.c - the fleet planner's entry points (planner.h): turns a request into the packing
 * problem of planner-internal.h, runs the heuristic (and the exhaustive search on small
 * fleets), keeps existing GIs where that is free, lays each GPU out exactly as `migctl apply`
 * will (layout.c), and explains every replica it could not place.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "migkit/layout.h"
#include "planner-internal.h"

/* Nodes the exhaustive search may visit by default: a few seconds at most on one core
 * (about 8 million nodes a second); most small fleets finish in well under a million. */
#define DEFAULT_NODE_LIMIT 20000000L
/* The configuration search (planner-exact.c; AUTO only) runs when the LP bound does not prove
 * the heuristic's plan, on any fleet, until its LPs have updated CFG_EFFORT tableau entries:
 * about 30-45 ms on one core. Warm-started LPs of a 100-GPU fleet take a few hundredths of a
 * millisecond, so this is thousands of nodes on small fleets and some hundreds on 1,000 GPUs.
 * When the plan leaves replicas out for room, it only searches a bound for the replicas
 * placed, on fleets of at most CFG_OVERFULL_MAX_GPUS. */
#define CFG_EFFORT            100000000LL
#define CFG_OVERFULL_MAX_GPUS 16
/* The search only runs when every replica could fit the fleet (MK_MAX_GIS per GPU): with
 * more items than that it has no chance to finish. */
#define EXACT_MAX_ITEMS(ngpus) ((ngpus)*MK_MAX_GIS)

const char *mk_plan_reason_name(enum mk_plan_reason r)
{
    switch (r) {
#define X(n, s)                                                                                    \
    case MK_PLAN_REASON_##n:                                                                       \
        return s;
        MK_PLAN_REASON_MAP(X)
#undef X
    }
    return "?";
}

/* ---- building the problem ---- */

/* Scratch of one planning run, beside the problem itself. */
struct build {
    struct pl_problem pb;
    const struct mk_plan_request *req;
    int *wl_type;     /* [nworkloads]: type, or -1 when no fleet GPU can hold it */
    int *item_assign; /* [nitems]: index into the plan's assignments */
    int *wl_first;    /* [nworkloads]: its first assignment index */
    int *levels;      /* [nlevels]: the priorities, highest first */
};

static void build_free(struct build *b)
{
    for (int mi = 0; mi < b->pb.nmodels; mi++)
        pl_model_free(&b->pb.models[mi]);
    mk__free(b->pb.gpu_model);
    mk__free(b->pb.types);
    mk__free(b->pb.item_type);
    mk__free(b->wl_type);
    mk__free(b->item_assign);
    mk__free(b->wl_first);
    mk__free(b->levels);
}

/* The fleet's distinct models and each GPU's. */
static int build_models(struct build *b, struct mk_error *err)
{
    const struct mk_plan_request *req = b->req;
    int r;
    if (!(b->pb.gpu_model = mk__calloc((size_t)req->ngpus, sizeof(int))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    b->pb.ngpus = req->ngpus;
    for (int g = 0; g < req->ngpus; g++) {
        const struct mk_model *m = req->gpus[g].model;
        int mi;
        for (mi = 0; mi < b->pb.nmodels && b->pb.models[mi].m != m; mi++)
            ;
        if (mi == b->pb.nmodels) {
            if (mi == PL_MAX_MODELS)
                return mk_error_set(err, -EINVAL, "the fleet mixes more than %d GPU models",
                                    PL_MAX_MODELS);
            b->pb.nmodels++;
            if ((r = pl_model_init(&b->pb.models[mi], m, err)) < 0)
                return r;
        }
        b->pb.gpu_model[g] = mi;
    }
    return 0;
}

/* The priority level of each workload: index of its priority among the distinct ones,
 * highest first. */
static int build_levels(struct build *b, struct mk_error *err)
{
    const struct mk_plan_request *req = b->req;
    if (!(b->levels = mk__calloc((size_t)req->nworkloads + 1, sizeof(int))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (int w = 0; w < req->nworkloads; w++) {
        int p = req->workloads[w].priority, k, n = b->pb.nlevels;
        for (k = 0; k < n && b->levels[k] > p; k++)
            ;
        if (k < n && b->levels[k] == p)
            continue;
        memmove(&b->levels[k + 1], &b->levels[k], (size_t)(n - k) * sizeof(int));
        b->levels[k] = p;
        b->pb.nlevels++;
    }
    return 0;
}

static int level_of(const struct build *b, int priority)
{
    int k = 0;
    while (b->levels[k] != priority)
        k++;
    return k;
}

/* Groups the placeable workloads into types (same level, same profile on every model). */
static int build_types(struct build *b, struct mk_error *err)
{
    const struct mk_plan_request *req = b->req;
    struct pl_problem *pb = &b->pb;
    b->wl_type = mk__malloc(((size_t)req->nworkloads + 1) * sizeof(int));
    pb->types = mk__calloc((size_t)req->nworkloads + 1, sizeof(*pb->types));
    if (!b->wl_type || !pb->types)
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (int level = 0; level < pb->nlevels; level++) /* types sorted by level */
        for (int w = 0; w < req->nworkloads; w++) {
            const struct mk_plan_workload *wl = &req->workloads[w];
            struct pl_type ty = {.level = level_of(b, wl->priority)};
            bool any = false;
            int t;
            if (ty.level != level)
                continue;
            for (int mi = 0; mi < pb->nmodels; mi++) {
                const struct pl_model *pm = &pb->models[mi];
                const struct mk_gi_profile *p = mk_plan_profile_for(pm->m, wl, req->headroom_ppm);
                ty.prof[mi] = PL_NONE;
                for (int j = 0; p && j < pm->n; j++)
                    if (pm->prof[j] == p)
                        ty.prof[mi] = (int8_t)j;
                any = any || ty.prof[mi] != PL_NONE;
            }
            b->wl_type[w] = -1;
            if (!any)
                continue;
            for (t = 0; t < pb->ntypes; t++)
                if (pb->types[t].level == ty.level &&
                    memcmp(pb->types[t].prof, ty.prof, sizeof(ty.prof)) == 0)
                    break;
            if (t == pb->ntypes)
                pb->types[pb->ntypes++] = ty;
            b->wl_type[w] = t;
        }
    return 0;
}

/* Lays the items out by type and maps each to its assignment. counts (per workload, may be
 * NULL for all replicas) limits how many replicas become items. */
static int build_items(struct build *b, const int *counts, struct mk_error *err)
{
    const struct mk_plan_request *req = b->req;
    struct pl_problem *pb = &b->pb;
    int total = 0, n = 0;
    if (!(b->wl_first = mk__calloc((size_t)req->nworkloads + 1, sizeof(int))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (int w = 0; w < req->nworkloads; w++) {
        b->wl_first[w] = total;
        total += req->workloads[w].replicas;
    }
    for (int t = 0; t < pb->ntypes; t++)
        pb->types[t].count = 0;
    for (int w = 0; w < req->nworkloads; w++)
        if (b->wl_type[w] >= 0)
            pb->types[b->wl_type[w]].count += counts ? counts[w] : req->workloads[w].replicas;
    for (int t = 0; t < pb->ntypes; t++) {
        pb->types[t].first = pb->nitems;
        pb->nitems += pb->types[t].count;
    }
    pb->item_type = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int));
    b->item_assign = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int));
    if (!pb->item_type || !b->item_assign)
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (int t = 0; t < pb->ntypes; t++)
        for (int w = 0; w < req->nworkloads; w++) {
            int c = counts ? counts[w] : req->workloads[w].replicas;
            if (b->wl_type[w] != t)
                continue;
            for (int r = 0; r < c; r++, n++) {
                pb->item_type[n] = t;
                b->item_assign[n] = b->wl_first[w] + r;
            }
        }
    return 0;
}

static int build_all(struct build *b, const struct mk_plan_request *req, const int *counts,
                     struct mk_error *err)
{
    int r;
    memset(b, 0, sizeof(*b));
    b->req = req;
    if (!req || !req->gpus || req->ngpus <= 0 || req->nworkloads < 0 ||
        (req->nworkloads > 0 && !req->workloads))
        return mk_error_set(err, -EINVAL, "a plan needs a fleet of at least one GPU");
    for (int g = 0; g < req->ngpus; g++)
        if (!req->gpus[g].model)
            return mk_error_set(err, -EINVAL, "fleet GPU %d has no model", g);
    if ((r = build_models(b, err)) < 0 || (r = build_levels(b, err)) < 0 ||
        (r = build_types(b, err)) < 0 || (r = build_items(b, counts, err)) < 0)
        return r;
    return 0;
}

/* ---- the current layout ---- */

/* Index of GI profile p among model mi's plain profiles, or PL_NONE. */
static int plain_index(const struct pl_problem *pb, int mi, const struct mk_gi_profile *p)
{
    for (int j = 0; j < pb->models[mi].n; j++)
        if (pb->models[mi].prof[j] == p)
            return j;
    return PL_NONE;
}

/* Counts of the existing plain GIs of GPU g, per profile. */
static void current_counts(const struct build *b, int g, int *cnt)
{
    const struct mk_gpu *cur = &b->req->gpus[g];
    int mi = b->pb.gpu_model[g];
    memset(cnt, 0, PL_MAX_PLAIN * sizeof(int));
    for (int i = 0; i < cur->ngi; i++) {
        int j = plain_index(&b->pb, mi, cur->gi[i].profile);
        if (j != PL_NONE)
            cnt[j]++;
    }
}

/*
 * Seeds sol with the existing GIs: each existing plain GI takes an unplaced item that needs
 * its profile there, highest priority first. Returns the number of items seeded.
 */
static int seed(const struct build *b, struct pl_sol *sol)
{
    const struct pl_problem *pb = &b->pb;
    int seeded = 0;
    for (int g = 0; g < pb->ngpus; g++) {
        const struct mk_gpu *cur = &b->req->gpus[g];
        int mi = pb->gpu_model[g];
        for (int i = 0; i < cur->ngi; i++) {
            int j = plain_index(pb, mi, cur->gi[i].profile);
            for (int t = 0; j != PL_NONE && t < pb->ntypes; t++) {
                int item = -1;
                int64_t ns;
                if (pb->types[t].prof[mi] != j ||
                    (ns = pl_add(&pb->models[mi], sol->state[g], j)) < 0)
                    continue;
                for (int k = pb->types[t].first; k < pb->types[t].first + pb->types[t].count; k++)
                    if (sol->item_gpu[k] < 0) {
                        item = k;
                        break;
                    }
                if (item < 0)
                    continue;
                sol->item_gpu[item] = g;
                sol->state[g] = (uint32_t)ns;
                seeded++;
                break;
            }
        }
    }
    return seeded;
}

/* Existing plain GIs that solution s keeps (by profile counts), over the fleet. */
static int overlap_total(const struct build *b, const struct pl_sol *s)
{
    int total = 0, cnt[PL_MAX_PLAIN];
    for (int g = 0; g < b->pb.ngpus; g++) {
        const struct pl_model *pm = &b->pb.models[b->pb.gpu_model[g]];
        current_counts(b, g, cnt);
        for (int j = 0; j < pm->n; j++) {
            int c = pl_count(pm, s->state[g], j);
            total += c < cnt[j] ? c : cnt[j];
        }
    }
    return total;
}

static int overlap(const struct build *b, int g, uint32_t state)
{
    const struct pl_model *pm = &b->pb.models[b->pb.gpu_model[g]];
    int cnt[PL_MAX_PLAIN], total = 0;
    current_counts(b, g, cnt);
    for (int j = 0; j < pm->n; j++) {
        int c = pl_count(pm, state, j);
        total += c < cnt[j] ? c : cnt[j];
    }
    return total;
}

/*
 * GPUs of one model holding the same kind of multiset are interchangeable for objectives
 * 1-3, so the multisets ("bins") may move between them: each model's bins go to its GPUs
 * greedily by most existing GIs kept. Moves s's items along; keeps the result only when it
 * keeps more GIs than before.
 */
static int permute_bins(const struct build *b, struct pl_sol *s, struct pl_sol *tmp)
{
    const struct pl_problem *pb = &b->pb;
    int *dest = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(int));
    bool *taken = mk__calloc((size_t)pb->ngpus + 1, sizeof(bool));
    if (!dest || !taken) {
        mk__free(dest);
        mk__free(taken);
        return -ENOMEM;
    }
    for (int g = 0; g < pb->ngpus; g++)
        dest[g] = -1;
    for (;;) { /* best (bin, GPU) pair of one model, until no pair keeps anything */
        int bg = -1, bh = -1, best = 0;
        for (int g = 0; g < pb->ngpus; g++) {
            if (s->state[g] == 0 || dest[g] >= 0)
                continue;
            for (int h = 0; h < pb->ngpus; h++) {
                int o;
                if (taken[h] || pb->gpu_model[h] != pb->gpu_model[g] || b->req->gpus[h].ngi == 0)
                    continue;
                o = overlap(b, h, s->state[g]);
                if (o > best || (o == best && o > 0 && h == g)) {
                    best = o;
                    bg = g;
                    bh = h;
                }
            }
        }
        if (bg < 0)
            break;
        dest[bg] = bh;
        taken[bh] = true;
    }
    for (int g = 0; g < pb->ngpus; g++) /* the rest: own GPU if free, else the first free */
        if (s->state[g] != 0 && dest[g] < 0) {
            int h = g;
            if (taken[h])
                for (h = 0; taken[h] || pb->gpu_model[h] != pb->gpu_model[g]; h++)
                    ;
            dest[g] = h;
            taken[h] = true;
        }
    pl_sol_copy(pb, tmp, s);
    for (int g = 0; g < pb->ngpus; g++)
        tmp->state[g] = 0;
    for (int g = 0; g < pb->ngpus; g++)
        if (dest[g] >= 0)
            tmp->state[dest[g]] = s->state[g];
    for (int i = 0; i < pb->nitems; i++)
        if (s->item_gpu[i] >= 0)
            tmp->item_gpu[i] = dest[s->item_gpu[i]];
    if (overlap_total(b, tmp) > overlap_total(b, s))
        pl_sol_copy(pb, s, tmp);
    mk__free(dest);
    mk__free(taken);
    return 0;
}

/* Objectives 1-4 for choosing between the seeded and the unseeded plan: <0 when a is better. */
static int full_cmp(const struct build *b, const struct pl_sol *a, const struct pl_sol *c)
{
    struct pl_score sa = {0}, sc = {0};
    int r = 0;
    if (pl_score_new(&b->pb, a, &sa) == 0 && pl_score_new(&b->pb, c, &sc) == 0)
        r = pl_score_cmp(&b->pb, &sa, &sc);
    pl_score_free(&sa);
    pl_score_free(&sc);
    if (r == 0)
        r = pl_frag_cmp(&b->pb, a, c);
    if (r == 0)
        r = overlap_total(b, c) - overlap_total(b, a);
    return r;
}

/* ---- solving ---- */

static int used_gpus(const struct pl_problem *pb, const struct pl_sol *s)
{
    int n = 0;
    for (int g = 0; g < pb->ngpus; g++)
        n += s->state[g] != 0;
    return n;
}

static bool all_placed(const struct pl_problem *pb, const struct pl_sol *s)
{
    for (int i = 0; i < pb->nitems; i++)
        if (s->item_gpu[i] < 0)
            return false;
    return true;
}

static bool has_layout(const struct mk_plan_request *req)
{
    for (int g = 0; g < req->ngpus; g++)
        if (req->gpus[g].ngi > 0)
            return true;
    return false;
}

/* Bins move between GPUs only on fleets small enough for the quadratic matching: a node
 * (the only source of current layouts in migctl) has at most 64 GPUs. */
#define PERMUTE_MAX_GPUS 256

/* The existing-layout variants: the heuristic seeded with the current GIs, kept when it is
 * at least as good on objectives 1-3, then the bins matched to the GPUs that already hold
 * most of them. */
static int reuse_layout(const struct build *b, struct pl_sol *sol)
{
    const struct pl_problem *pb = &b->pb;
    struct pl_sol alt = {0}, tmp = {0};
    int r;
    if ((r = pl_sol_new(pb, &alt)) < 0 || (r = pl_sol_new(pb, &tmp)) < 0)
        goto out;
    if (seed(b, &alt) > 0 && (r = pl_heuristic(pb, &alt)) == 0 && full_cmp(b, &alt, sol) < 0)
        pl_sol_copy(pb, sol, &alt);
    if (r == 0 && pb->ngpus <= PERMUTE_MAX_GPUS)
        r = permute_bins(b, sol, &tmp);
out:
    pl_sol_free(&alt);
    pl_sol_free(&tmp);
    return r;
}

static int known_bound(const struct pl_problem *pb, const struct pl_sol *sol,
                       const struct mk_plan *plan);

static int run_exact(const struct build *b, struct pl_sol *sol, long limit, struct mk_plan *plan)
{
    const struct pl_problem *pb = &b->pb;
    const struct mk_plan_request *req = b->req;
    struct pl_sol ex = {0};
    struct pl_score a = {0}, c = {0};
    int r;
    if ((r = pl_sol_new(pb, &ex)) < 0)
        return r;
    pl_sol_copy(pb, &ex, sol);
    r = pl_exact(pb, &ex, known_bound(pb, sol, plan), limit, &plan->exact_nodes);
    plan->exact_done = r == 1;
    if (r >= 0 && (r = pl_score_new(pb, &ex, &a)) == 0 && (r = pl_score_new(pb, sol, &c)) == 0 &&
        pl_score_cmp(pb, &a, &c) < 0) {
        pl_sol_copy(pb, sol, &ex);
        if (has_layout(req) && pb->ngpus <= PERMUTE_MAX_GPUS)
            r = permute_bins(b, sol, &ex);
    }
    pl_score_free(&a);
    pl_score_free(&c);
    pl_sol_free(&ex);
    return r < 0 ? r : 0;
}

/*
 * The configuration search for every item, from the plan in sol: looks for a plan on fewer
 * GPUs (or, when sol leaves items out, any plan that places them all), which replaces sol,
 * and proves a bound. The bound counts only when the plan places every item.
 */
static int run_config(const struct build *b, struct pl_sol *sol, struct mk_plan *plan)
{
    const struct pl_problem *pb = &b->pb;
    struct pl_sol alt = {0}, tmp = {0};
    struct pl_cfg_result res;
    int *counts = mk__calloc((size_t)pb->ntypes + 1, sizeof(int));
    int r = counts ? pl_sol_new(pb, &alt) : -ENOMEM;
    if (r == 0) {
        for (int t = 0; t < pb->ntypes; t++)
            counts[t] = pb->types[t].count;
        r = pl_cfg_search(pb, counts, all_placed(pb, sol) ? used_gpus(pb, sol) : pb->ngpus + 1,
                          CFG_EFFORT, &alt, &res);
    }
    if (r == 0) {
        plan->config_lps = res.lps;
        if (res.found && (r = pl_improve(pb, &alt)) == 0) {
            pl_sol_copy(pb, sol, &alt);
            if (has_layout(b->req) && pb->ngpus <= PERMUTE_MAX_GPUS &&
                (r = pl_sol_new(pb, &tmp)) == 0)
                r = permute_bins(b, sol, &tmp);
        }
        if (all_placed(pb, sol))
            plan->config_bound = res.bound;
    }
    pl_sol_free(&alt);
    pl_sol_free(&tmp);
    mk__free(counts);
    return r;
}

/* The best bound known for every item, when sol places them all (else 0). */
static int known_bound(const struct pl_problem *pb, const struct pl_sol *sol,
                       const struct mk_plan *plan)
{
    int lb = pb->lp && pb->lp->ok ? pb->lp->bound : 0;
    if (!all_placed(pb, sol))
        return 0;
    return plan->config_bound > lb ? plan->config_bound : lb;
}

static int solve(const struct build *b, struct pl_sol *sol, struct mk_plan *plan)
{
    const struct pl_problem *pb = &b->pb;
    const struct mk_plan_request *req = b->req;
    long limit;
    int r;
    if ((r = pl_heuristic(pb, sol)) < 0)
        return r;
    plan->heuristic_gpus = used_gpus(pb, sol);
    if (has_layout(req) && (r = reuse_layout(b, sol)) < 0)
        return r;
    limit = req->exact_node_limit > 0 ? req->exact_node_limit : DEFAULT_NODE_LIMIT;
    if (used_gpus(pb, sol) <= known_bound(pb, sol, plan))
        return 0; /* everything placed on as few GPUs as the LP bound: nothing to search */
    if (req->mode == MK_PLAN_AUTO && pb->lp && pb->lp->ok && (r = run_config(b, sol, plan)) < 0)
        return r;
    if (used_gpus(pb, sol) <= known_bound(pb, sol, plan))
        return 0; /* proven by the configuration search */
    if (req->mode == MK_PLAN_EXACT ||
        (req->mode == MK_PLAN_AUTO && pb->ngpus <= MK_PLAN_EXACT_MAX_GPUS &&
         pb->nitems <= EXACT_MAX_ITEMS(pb->ngpus)))
        r = run_exact(b, sol, limit, plan);
    return r;
}

/* ---- the plan ---- */

/* The largest plain profile (memory, then compute) that can still be created on g. */
static const struct mk_gi_profile *largest_free(const struct mk_gpu *g)
{
    const struct mk_gi_profile *best = NULL;
    for (int i = 0; i < g->model->nprofiles; i++) {
        const struct mk_gi_profile *p = &g->model->profiles[i];
        bool fits = false;
        if (!mk_plan_profile_is_plain(p))
            continue;
        for (int k = 0; k < p->nstarts && !fits; k++)
            fits = mk_gpu_gi_check(g, p, p->starts[k]) == 0;
        if (fits &&
            (!best || p->memory_mib > best->memory_mib ||
             (p->memory_mib == best->memory_mib && p->compute_slices > best->compute_slices)))
            best = p;
    }
    return best;
}

/* Lays out GPU g for multiset `state` with layout.c, as `migctl apply` will. */
static int lay_out(const struct build *b, int g, uint32_t state, struct mk_layout_plan *lp,
                   struct mk_plan_gpu *pg, struct mk_error *err)
{
    const struct pl_model *pm = &b->pb.models[b->pb.gpu_model[g]];
    const struct mk_gpu *cur = &b->req->gpus[g];
    struct mk_layout_spec spec = {.mig_enabled = true};
    int r;
    for (int j = 0; j < pm->n; j++) {
        int c = pl_count(pm, state, j);
        if (c > 0)
            spec.want[spec.nwant++] =
                (struct mk_layout_want){pm->prof[j], pm->prof[j]->ci_default, c};
    }
    if ((r = mk_layout_plan(cur, &spec, true, lp, err)) < 0)
        return r;
    if (!lp->feasible) /* cannot happen: the multiset is in the model's table */
        return mk_error_set(err, -EBADMSG, "GPU %d: no layout for the planned instances: %s", g,
                            lp->why);
    pg->target = lp->target;
    pg->target.index = cur->index;
    pg->used = state != 0;
    pg->kept = lp->kept;
    pg->reused = lp->reused;
    pg->created = lp->created;
    pg->destroyed = lp->destroyed;
    pg->mode_change = !cur->mig_enabled;
    pg->largest_free = largest_free(&pg->target);
    return 0;
}

/* Gives each placed replica a GI of its profile in its GPU's target, by start, replicas in
 * workload order. claimed holds one bit per target GI of each GPU. */
static void bind_gis(struct mk_plan *plan, uint16_t *claimed)
{
    for (int a = 0; a < plan->nassign; a++) {
        struct mk_plan_assignment *as = &plan->assign[a];
        const struct mk_gpu *t;
        int best = -1;
        if (as->gpu < 0)
            continue;
        t = &plan->gpus[as->gpu].target;
        for (int i = 0; i < t->ngi; i++)
            if (!(claimed[as->gpu] & (1u << i)) && t->gi[i].profile == as->profile &&
                (best < 0 || t->gi[i].start < t->gi[best].start))
                best = i;
        if (best >= 0) { /* always: the target holds one GI per replica */
            claimed[as->gpu] |= (uint16_t)(1u << best);
            as->gi_id = t->gi[best].id;
            as->start = t->gi[best].start;
        }
    }
}

/* Writes the reason text of as (vsnprintf: a long model name is cut, never overflows). */
static void set_why(struct mk_plan_assignment *as, enum mk_plan_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(struct mk_plan_assignment *as, enum mk_plan_reason reason, const char *fmt, ...)
{
    va_list ap;
    as->reason = reason;
    va_start(ap, fmt);
    vsnprintf(as->why, sizeof(as->why), fmt, ap);
    va_end(ap);
}

/* "2g", "60 SMs" or "" for workload w's compute minimum. */
static const char *compute_text(const struct mk_plan_workload *w, char *buf, size_t len)
{
    if (w->compute_slices)
        snprintf(buf, len, " and %dg", w->compute_slices);
    else if (w->compute_sms)
        snprintf(buf, len, " and %d SMs", w->compute_sms);
    else
        buf[0] = '\0';
    return buf;
}

static bool in_fleet(const struct pl_problem *pb, const struct mk_model *m)
{
    for (int mi = 0; mi < pb->nmodels; mi++)
        if (pb->models[mi].m == m)
            return true;
    return false;
}

/* Why no fleet GPU can ever hold workload w: model restriction or too big. */
static void reason_unplaceable(const struct build *b, const struct mk_plan_workload *w,
                               struct mk_plan_assignment *as)
{
    const struct pl_problem *pb = &b->pb;
    struct mk_plan_workload any = *w;
    const struct mk_gi_profile *biggest = NULL;
    const struct mk_model *where = NULL;
    char ct[32];
    int allowed = 0;
    for (int k = 0; k < w->nallowed; k++)
        allowed += in_fleet(pb, w->allowed[k]);
    if (w->nallowed > 0 && allowed == 0) {
        set_why(as, MK_PLAN_REASON_MODEL, "none of its models (%s%s) is in the fleet",
                w->allowed[0]->slug, w->nallowed > 1 ? ", ..." : "");
        return;
    }
    any.nallowed = 0;
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        if (!mk_plan_profile_for(pm->m, &any, b->req->headroom_ppm) ||
            mk_plan_profile_for(pm->m, w, b->req->headroom_ppm))
            continue;
        set_why(as, MK_PLAN_REASON_MODEL, "fits only on models it may not use (%s)", pm->m->slug);
        return;
    }
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        bool ok = w->nallowed == 0;
        for (int k = 0; k < w->nallowed; k++)
            ok = ok || w->allowed[k] == pm->m;
        if (pm->n == 0 || !ok)
            continue;
        if (!biggest || pm->prof[pm->n - 1]->memory_mib > biggest->memory_mib) {
            biggest = pm->prof[pm->n - 1];
            where = pm->m;
        }
    }
    set_why(as, MK_PLAN_REASON_TOO_BIG,
            "needs %.2f GiB%s; the largest profile is %s on %s (%.2f GiB, %d SMs)",
            (double)as->need_bytes / MK_PLAN_GIB, compute_text(w, ct, sizeof(ct)),
            biggest ? biggest->name : "-", where ? where->slug : "-",
            biggest ? biggest->memory_mib / 1024.0 : 0.0, biggest ? biggest->sms : 0);
}

/* Why a placeable replica was left out: the GPUs that could hold it are full. */
static void reason_capacity(const struct build *b, int t, struct mk_plan_assignment *as)
{
    const struct pl_problem *pb = &b->pb;
    int gpus = 0;
    for (int g = 0; g < pb->ngpus; g++)
        gpus += pb->types[t].prof[pb->gpu_model[g]] != PL_NONE;
    set_why(as, MK_PLAN_REASON_CAPACITY,
            "no room: the %d GPU%s that could hold it %s full with replicas of the same or "
            "higher priority",
            gpus, gpus == 1 ? "" : "s", gpus == 1 ? "is" : "are");
}

/* Fills the plan from solution sol: assignments, reasons, per-GPU layouts and totals. */
static int materialize(const struct build *b, const struct pl_sol *sol, struct mk_plan *plan,
                       struct mk_error *err)
{
    const struct pl_problem *pb = &b->pb;
    const struct mk_plan_request *req = b->req;
    struct mk_layout_plan *lp = mk__malloc(sizeof(*lp));
    uint16_t *claimed = mk__calloc((size_t)pb->ngpus + 1, sizeof(uint16_t));
    int r = 0;
    if (!lp || !claimed) {
        r = mk_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int w = 0; w < req->nworkloads; w++)
        for (int k = 0; k < req->workloads[w].replicas; k++) {
            struct mk_plan_assignment *as = &plan->assign[b->wl_first[w] + k];
            as->workload = w;
            as->replica = k;
            as->gpu = as->gi_id = as->start = -1;
            as->need_bytes = mk_plan_need_bytes(&req->workloads[w], req->headroom_ppm);
            if (b->wl_type[w] < 0)
                reason_unplaceable(b, &req->workloads[w], as);
        }
    for (int i = 0; i < pb->nitems; i++) {
        struct mk_plan_assignment *as = &plan->assign[b->item_assign[i]];
        int t = pb->item_type[i], g = sol->item_gpu[i];
        if (g < 0) {
            reason_capacity(b, t, as);
            continue;
        }
        as->gpu = g;
        as->profile = pb->models[pb->gpu_model[g]].prof[pb->types[t].prof[pb->gpu_model[g]]];
        plan->placed++;
        plan->gpus[g].replicas++;
    }
    for (int g = 0; g < pb->ngpus && r == 0; g++) {
        struct mk_plan_gpu *pg = &plan->gpus[g];
        if ((r = lay_out(b, g, sol->state[g], lp, pg, err)) < 0)
            break;
        plan->gpus_used += pg->used;
        plan->kept += pg->kept;
        plan->reused += pg->reused;
        plan->created += pg->created;
        plan->destroyed += pg->destroyed;
        plan->mode_changes += pg->mode_change;
    }
    if (r == 0)
        bind_gis(plan, claimed);
out:
    mk__free(lp);
    mk__free(claimed);
    return r;
}

/* Solves the LP for every item; the heuristic rounds it (when the fleet can hold them). */
static int solve_lp(struct build *b, struct pl_lp_sol *lp)
{
    int *counts = mk__calloc((size_t)b->pb.ntypes + 1, sizeof(int)), r;
    if (!counts)
        return -ENOMEM;
    for (int t = 0; t < b->pb.ntypes; t++)
        counts[t] = b->pb.types[t].count;
    r = pl_lp_run(&b->pb, counts, NULL, lp);
    b->pb.lp = lp;
    mk__free(counts);
    return r;
}

/* The configuration search's bound for counts[t] items of each type, below `incumbent` (the
 * GPUs of a plan known to place them, or ngpus + 1); a plan it finds is not used. Adds its
 * LPs to *lps. Returns the bound or -ENOMEM. */
static int config_bound(const struct pl_problem *pb, const int *counts, int incumbent, long *lps)
{
    struct pl_cfg_result res;
    int r;
    if ((r = pl_cfg_search(pb, counts, incumbent, CFG_EFFORT, NULL, &res)) < 0)
        return r;
    *lps += res.lps;
    return res.bound;
}

/* The lower bound for the items sol placed: the best of the weight vectors and the LP (the
 * LP of every item serves when everything was placed). The configuration search's bound goes
 * to plan->config_bound: solve() found it when everything was placed; when not, it is
 * searched here (AUTO, small fleets) for the items placed. */
static int placed_bound(const struct build *b, const struct pl_sol *sol,
                        const struct pl_lp_sol *all, struct mk_plan *plan)
{
    const struct pl_problem *pb = &b->pb;
    int *counts = mk__calloc((size_t)pb->ntypes + 1, sizeof(int)), r, placed = 0;
    struct pl_lp_sol lp = {0};
    if (!counts)
        return -ENOMEM;
    for (int i = 0; i < pb->nitems; i++) {
        counts[pb->item_type[i]] += sol->item_gpu[i] >= 0;
        placed += sol->item_gpu[i] >= 0;
    }
    r = pl_bound(pb, counts);
    if (r >= 0 && placed == pb->nitems && all->ok) {
        r = all->bound > r ? all->bound : r;
    } else if (r >= 0 && placed > 0) {
        int lr = pl_lp_run(pb, counts, NULL, &lp);
        if (lr < 0)
            r = lr;
        else if (lp.ok && lp.bound > r)
            r = lp.bound;
        pl_lp_sol_free(&lp);
        if (r >= 0 && r < plan->gpus_used && b->req->mode == MK_PLAN_AUTO &&
            pb->ngpus <= CFG_OVERFULL_MAX_GPUS) {
            lr = config_bound(pb, counts, plan->gpus_used, &plan->config_lps);
            if (lr < 0)
                r = lr;
            else
                plan->config_bound = lr;
        }
    }
    mk__free(counts);
    return r;
}

void mk_plan_free(struct mk_plan *plan)
{
    if (!plan)
        return;
    mk__free(plan->assign);
    mk__free(plan->gpus);
    mk__free(plan);
}

static int plan_alloc(const struct mk_plan_request *req, struct mk_plan **ret, struct mk_error *err)
{
    struct mk_plan *plan = mk__calloc(1, sizeof(*plan));
    long total = 0;
    for (int w = 0; w < req->nworkloads; w++)
        total += req->workloads[w].replicas;
    if (plan) {
        plan->nassign = plan->replicas = (int)total;
        plan->ngpus = req->ngpus;
        plan->headroom_ppm = req->headroom_ppm;
        plan->assign = mk__calloc((size_t)total + 1, sizeof(*plan->assign));
        plan->gpus = mk__calloc((size_t)req->ngpus + 1, sizeof(*plan->gpus));
    }
    if (!plan || !plan->assign || !plan->gpus) {
        mk_plan_free(plan);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    *ret = plan;
    return 0;
}

int mk_plan_new(const struct mk_plan_request *req, struct mk_plan **ret, struct mk_error *err)
{
    struct build b;
    struct mk_plan *plan = NULL;
    struct pl_sol sol = {0};
    struct pl_lp_sol lp = {0};
    int r;
    mk_assert_return(req && ret, -EINVAL);
    if ((r = build_all(&b, req, NULL, err)) < 0 || (r = plan_alloc(req, &plan, err)) < 0)
        goto out;
    if ((r = solve_lp(&b, &lp)) < 0 || (r = pl_sol_new(&b.pb, &sol)) < 0 ||
        (r = solve(&b, &sol, plan)) < 0) {
        r = mk_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if ((r = materialize(&b, &sol, plan, err)) < 0)
        goto out;
    if ((r = placed_bound(&b, &sol, &lp, plan)) < 0) {
        r = mk_error_set(err, r, "out of memory");
        goto out;
    }
    plan->relaxation_bound = plan->lower_bound = r;
    if (plan->config_bound > plan->lower_bound)
        plan->lower_bound = plan->config_bound;
    if (plan->exact_done && plan->gpus_used > r) /* the search proved the count optimal */
        plan->lower_bound = plan->gpus_used;
    r = 0;
    *ret = plan;
    plan = NULL;
out:
    pl_sol_free(&sol);
    pl_lp_sol_free(&lp);
    mk_plan_free(plan);
    build_free(&b);
    return r;
}

bool mk_plan_is_optimal(const struct mk_plan *plan)
{
    return plan && (plan->exact_done || plan->gpus_used == plan->lower_bound);
}

int mk_plan_lower_bound(const struct mk_plan_request *req, const int *counts, struct mk_error *err)
{
    struct build b;
    int r;
    mk_assert_return(req, -EINVAL);
    if ((r = build_all(&b, req, counts, err)) == 0) {
        int *tc = mk__calloc((size_t)b.pb.ntypes + 1, sizeof(int));
        if (!tc) {
            r = mk_error_set(err, -ENOMEM, "out of memory");
        } else {
            struct pl_lp_sol lp = {0};
            long lps = 0;
            int any = 0, lr = 0;
            for (int t = 0; t < b.pb.ntypes; t++)
                any += tc[t] = b.pb.types[t].count;
            /* the weights, the LP, then the configuration search for more */
            if ((r = pl_bound(&b.pb, tc)) >= 0 && any > 0 &&
                (lr = pl_lp_run(&b.pb, tc, NULL, &lp)) == 0 && lp.ok && lp.bound > r)
                r = lp.bound;
            if (r >= 0 && lr == 0 && any > 0 &&
                (lr = config_bound(&b.pb, tc, b.pb.ngpus + 1, &lps)) >= 0 && lr > r)
                r = lr;
            if (r >= 0 && lr < 0)
                r = lr;
            if (r < 0)
                mk_error_set(err, r, "out of memory");
            pl_lp_sol_free(&lp);
            mk__free(tc);
        }
    }
    build_free(&b);
    return r;
}

/* ---- the configuration ---- */

/* Entry i: devices [i], MIG on, the target's GIs counted per profile in -lgip order. */
static void config_entry(const struct mk_plan_gpu *pg, int i, struct mk_config_entry *e)
{
    const struct mk_model *m = pg->target.model;
    e->ndevices = 1;
    e->devices[0] = i;
    e->mig_enabled = true;
    for (int k = 0; k < m->nprofiles && e->nmigdevs < MK_CONFIG_MAX_MIGDEVS; k++) {
        int n = 0;
        for (int g = 0; g < pg->target.ngi; g++)
            n += pg->target.gi[g].profile == &m->profiles[k];
        if (n == 0)
            continue;
        snprintf(e->migdevs[e->nmigdevs].name, MK_NAME_LEN, "%s", m->profiles[k].name);
        e->migdevs[e->nmigdevs++].count = n;
    }
}

int mk_plan_to_config(const struct mk_plan *plan, const char *label, struct mk_config **ret,
                      struct mk_error *err)
{
    struct mk_config *cfg;
    mk_assert_return(plan && label && ret, -EINVAL);
    if (plan->ngpus > MK_CONFIG_MAX_DEVICES)
        return mk_error_set(err, -E2BIG,
                            "a configuration covers one node of at most %d GPUs; "
                            "the fleet has %d",
                            MK_CONFIG_MAX_DEVICES, plan->ngpus);
    if (!*label || strlen(label) >= MK_NAME_LEN)
        return mk_error_set(err, -EINVAL, "label must have 1 to %d bytes", MK_NAME_LEN - 1);
    cfg = mk__calloc(1, sizeof(*cfg));
    if (cfg && (cfg->labels = mk__calloc(1, sizeof(*cfg->labels))))
        cfg->labels[0].entries = mk__calloc((size_t)plan->ngpus, sizeof(struct mk_config_entry));
    if (!cfg || !cfg->labels || !cfg->labels[0].entries) {
        mk_config_free(cfg);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    snprintf(cfg->origin, sizeof(cfg->origin), "plan");
    cfg->nlabels = 1;
    snprintf(cfg->labels[0].name, MK_NAME_LEN, "%s", label);
    cfg->labels[0].nentries = plan->ngpus;
    for (int i = 0; i < plan->ngpus; i++)
        config_entry(&plan->gpus[i], i, &cfg->labels[0].entries[i]);
    *ret = cfg;
    return 0;
}
