/*
 * layout.c - minimal-disruption reconfiguration of one GPU (see layout.h).
 *
 * The search is exhaustive, so the plan is optimal by construction: every existing GI is
 * either kept untouched, kept with new CIs, or destroyed (at most 3^7 choices on the largest
 * GPUs, pruned by a bound on what can still be kept), and for each choice the GIs still to
 * create are placed by backtracking over their possible placements. A GPU holds at most 7
 * GIs, so planning one GPU takes microseconds (bench/README.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migkit/layout.h"

const char *mk_op_kind_name(enum mk_op_kind k)
{
    switch (k) {
#define X(n, s)                                                                                    \
    case MK_OP_##n:                                                                                \
        return s;
        MK_OP_KIND_MAP(X)
#undef X
    }
    return "?";
}

/* What the search decides for an existing GI. */
enum fate { FATE_DESTROY, FATE_KEEP, FATE_REUSE };

struct search {
    const struct mk_gpu *cur;
    bool force;
    /* The desired MIG devices, one per GI, larger placements first. */
    int nd;
    const struct mk_gi_profile *dprof[MK_MAX_GIS];
    int dci[MK_MAX_GIS];
    /* Current choice. */
    enum fate fate[MK_MAX_GIS];
    int match[MK_MAX_GIS]; /* desired index an existing GI serves, -1 when destroyed */
    bool taken[MK_MAX_GIS];
    int start[MK_MAX_GIS]; /* placement of each desired device that is created */
    /* Best plan so far. */
    bool found;
    int best_kept, best_ops;
    enum fate best_fate[MK_MAX_GIS];
    int best_match[MK_MAX_GIS];
    int best_start[MK_MAX_GIS];
};

/* A GI serves a MIG device untouched when it holds exactly one CI, of the wanted profile. */
static bool cis_match(const struct mk_gi *gi, int ci_profile)
{
    return gi->nci == 1 && gi->ci[0].profile_id == ci_profile;
}

/* Places desired devices k.. that no existing GI serves, on g. Identical devices take
 * non-decreasing starts so each set of placements is tried once. Returns true when all fit;
 * s->start[] then holds their placements. */
static bool place(struct search *s, struct mk_gpu *g, int k, int min_start)
{
    while (k < s->nd && s->taken[k])
        k++;
    if (k == s->nd)
        return true;
    const struct mk_gi_profile *p = s->dprof[k];
    int next = k + 1;
    while (next < s->nd && s->taken[next])
        next++;
    bool same_next = next < s->nd && s->dprof[next] == p && s->dci[next] == s->dci[k];
    for (int i = 0; i < p->nauto; i++) {
        int st = p->auto_order[i], id;
        if (st < min_start || mk_gpu_gi_check(g, p, st) < 0)
            continue;
        if (mk_gpu_gi_create(g, p, st, &id) < 0)
            continue;
        s->start[k] = st;
        bool ok = place(s, g, next, same_next ? st : 0);
        mk_gpu_gi_destroy(g, id);
        if (ok)
            return true;
    }
    return false;
}

static int count_ops(const struct search *s, int *ret_kept)
{
    const struct mk_gpu *g = s->cur;
    int ops = 0, kept = 0, served = 0;
    for (int i = 0; i < g->ngi; i++) {
        if (s->fate[i] == FATE_DESTROY)
            ops += g->gi[i].nci + 1;
        else if (s->fate[i] == FATE_REUSE)
            ops += g->gi[i].nci + 1, served++;
        else
            kept++, served++;
    }
    ops += 2 * (s->nd - served);
    *ret_kept = kept;
    return ops;
}

/* Leaf of the search: the fates of all existing GIs are chosen; place the rest. */
static void evaluate(struct search *s)
{
    struct mk_gpu g = *s->cur;
    int kept, ops = count_ops(s, &kept);
    if (s->found && (kept < s->best_kept || (kept == s->best_kept && ops >= s->best_ops)))
        return;
    /* Keep only the surviving GIs; their CIs do not matter for placement. */
    g.ngi = 0;
    for (int i = 0; i < s->cur->ngi; i++)
        if (s->fate[i] != FATE_DESTROY)
            g.gi[g.ngi++] = s->cur->gi[i];
    g.mig_enabled = true;
    if (!place(s, &g, 0, 0))
        return;
    s->found = true;
    s->best_kept = kept;
    s->best_ops = ops;
    memcpy(s->best_fate, s->fate, sizeof(s->fate));
    memcpy(s->best_match, s->match, sizeof(s->match));
    memcpy(s->best_start, s->start, sizeof(s->start));
}

/* True when a free desired device before d is identical to it (same GI and CI profile):
 * serving either leaves the same devices to place, so only the first is tried. Devices that
 * differ only in CI profile are not interchangeable: which of them an existing GI serves
 * decides which others can still be kept. */
static bool tried_identical(const struct search *s, int d)
{
    for (int e = 0; e < d; e++)
        if (!s->taken[e] && s->dprof[e] == s->dprof[d] && s->dci[e] == s->dci[d])
            return true;
    return false;
}

/* Chooses the fate of existing GI i and recurses. Branches that cannot keep as many GIs
 * as the best plan found so far are cut. */
static void choose(struct search *s, int i, int kept_so_far)
{
    const struct mk_gpu *g = s->cur;
    if (i == g->ngi) {
        evaluate(s);
        return;
    }
    const struct mk_gi *gi = &g->gi[i];
    if (s->found && kept_so_far + (g->ngi - i) < s->best_kept)
        return;
    for (int d = 0; d < s->nd; d++) {
        if (s->taken[d] || s->dprof[d] != gi->profile || tried_identical(s, d))
            continue;
        bool full = cis_match(gi, s->dci[d]);
        if (!full && gi->busy && !s->force)
            continue;
        s->taken[d] = true;
        s->match[i] = d;
        s->fate[i] = full ? FATE_KEEP : FATE_REUSE;
        choose(s, i + 1, kept_so_far + full);
        s->taken[d] = false;
    }
    if (!gi->busy || s->force) {
        s->match[i] = -1;
        s->fate[i] = FATE_DESTROY;
        choose(s, i + 1, kept_so_far);
    }
}

static void add_op(struct mk_layout_plan *p, struct mk_op op)
{
    p->ops[p->nops++] = op;
}

/* Turns the best choice into the ordered operations (destroy CIs, destroy GIs, MIG mode,
 * create GIs at explicit placements, create CIs) and the target layout. */
static void build(const struct search *s, const struct mk_layout_spec *spec,
                  struct mk_layout_plan *p)
{
    const struct mk_gpu *cur = s->cur;
    struct mk_gpu *t = &p->target;
    int ci_gi[MK_MAX_GIS], ci_dev[MK_MAX_GIS], nci = 0; /* GIs that get a new CI */
    bool served[MK_MAX_GIS] = {false};

    *t = *cur;
    for (int i = 0; i < cur->ngi; i++)
        if (s->best_fate[i] != FATE_KEEP)
            for (int c = 0; c < cur->gi[i].nci; c++)
                add_op(p, (struct mk_op){.kind = MK_OP_DESTROY_CI,
                                         .gi_id = cur->gi[i].id,
                                         .ci_id = cur->gi[i].ci[c].id,
                                         .ci_profile = cur->gi[i].ci[c].profile_id});
    for (int i = 0; i < cur->ngi; i++) {
        const struct mk_gi *gi = &cur->gi[i];
        struct mk_gi *tg = mk_gpu_gi_find(t, gi->id);
        if (s->best_fate[i] == FATE_KEEP) {
            p->kept++;
            served[s->best_match[i]] = true;
            continue;
        }
        p->forced += gi->busy;
        tg->nci = 0;
        tg->busy = false;
        if (s->best_fate[i] == FATE_REUSE) {
            served[s->best_match[i]] = true;
            ci_gi[nci] = gi->id;
            ci_dev[nci++] = s->best_match[i];
            p->reused++;
        } else {
            add_op(p, (struct mk_op){.kind = MK_OP_DESTROY_GI,
                                     .gi_id = gi->id,
                                     .profile = gi->profile,
                                     .start = gi->start});
            mk_gpu_gi_destroy(t, gi->id);
            p->destroyed++;
        }
    }
    if (cur->mig_enabled != spec->mig_enabled) {
        add_op(p, (struct mk_op){.kind = MK_OP_SET_MIG, .mig_enabled = spec->mig_enabled});
        t->mig_enabled = spec->mig_enabled;
    }
    for (int d = 0; d < s->nd; d++) {
        int id;
        if (served[d])
            continue;
        mk_gpu_gi_create(t, s->dprof[d], s->best_start[d], &id);
        add_op(p, (struct mk_op){.kind = MK_OP_CREATE_GI,
                                 .gi_id = id,
                                 .profile = s->dprof[d],
                                 .start = s->best_start[d]});
        ci_gi[nci] = id;
        ci_dev[nci++] = d;
        p->created++;
    }
    for (int k = 0; k < nci; k++) {
        int ci_id;
        mk_gpu_ci_create(t, ci_gi[k], s->dci[ci_dev[k]], "(new)", &ci_id);
        add_op(p, (struct mk_op){.kind = MK_OP_CREATE_CI,
                                 .gi_id = ci_gi[k],
                                 .ci_id = ci_id,
                                 .ci_profile = s->dci[ci_dev[k]]});
    }
}

/* Expands the spec into one desired device per GI, larger placements first (they are the
 * hardest to place, so the backtracking fails early), and checks it against the model. */
static int expand(struct search *s, const struct mk_gpu *cur, const struct mk_layout_spec *spec,
                  struct mk_layout_plan *p, struct mk_error *err)
{
    const struct mk_model *m = cur->model;
    int total = 0;
    for (int w = 0; w < spec->nwant; w++) {
        const struct mk_layout_want *want = &spec->want[w];
        const struct mk_gi_profile *gp = want->profile;
        bool offered = false;
        if (gp < m->profiles || gp >= m->profiles + m->nprofiles)
            return mk_error_set(err, -EINVAL, "profile is not one of %s's", m->slug);
        for (int c = 0; c < gp->nci; c++)
            offered = offered || gp->ci[c] == want->ci_profile;
        if (want->count < 0)
            return mk_error_set(err, -EINVAL, "negative count %d for MIG %s", want->count,
                                gp->name);
        if (!offered)
            return mk_error_set(err, -EINVAL, "MIG %s has no compute instance profile %d", gp->name,
                                want->ci_profile);
        int same = 0;
        for (int v = 0; v < spec->nwant; v++)
            same += spec->want[v].profile == gp ? spec->want[v].count : 0;
        if (same > gp->max) {
            snprintf(p->why, sizeof(p->why), "%d x MIG %s exceed its maximum of %d on %s", same,
                     gp->name, gp->max, m->name);
            return 0;
        }
        total += want->count;
    }
    if (total > m->max_gis) {
        snprintf(p->why, sizeof(p->why), "%d GPU instances exceed the maximum of %d on %s", total,
                 m->max_gis, m->name);
        return 0;
    }
    for (int w = 0; w < spec->nwant; w++)
        for (int k = 0; k < spec->want[w].count; k++) {
            s->dprof[s->nd] = spec->want[w].profile;
            s->dci[s->nd++] = spec->want[w].ci_profile;
        }
    /* stable sort by placement size, descending; identical devices stay adjacent */
    for (int a = 1; a < s->nd; a++)
        for (int b = a; b > 0 && (s->dprof[b]->mem_slices > s->dprof[b - 1]->mem_slices ||
                                  (s->dprof[b]->mem_slices == s->dprof[b - 1]->mem_slices &&
                                   s->dprof[b] < s->dprof[b - 1]));
             b--) {
            const struct mk_gi_profile *tp = s->dprof[b];
            int tc = s->dci[b];
            s->dprof[b] = s->dprof[b - 1], s->dci[b] = s->dci[b - 1];
            s->dprof[b - 1] = tp, s->dci[b - 1] = tc;
        }
    return 1;
}

static void run(struct search *s)
{
    memset(s->taken, 0, sizeof(s->taken));
    s->found = false;
    choose(s, 0, 0);
}

/* Names the busy GIs a forced plan would destroy or change. */
static void busy_reason(const struct search *s, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "in use:");
    for (int i = 0; i < s->cur->ngi && off < len; i++) {
        const struct mk_gi *gi = &s->cur->gi[i];
        if (gi->busy && s->best_fate[i] != FATE_KEEP)
            off += (size_t)snprintf(buf + off, len - off, " GI %d (MIG %s)", gi->id,
                                    gi->profile->name);
    }
    if (off < len)
        snprintf(buf + off, len - off, " would be %s; --force allows it", "destroyed or changed");
}

int mk_layout_plan(const struct mk_gpu *cur, const struct mk_layout_spec *spec, bool force,
                   struct mk_layout_plan *ret, struct mk_error *err)
{
    struct search s = {0};
    struct mk_layout_spec none = {.mig_enabled = false};
    int r;
    mk_assert_return(cur && spec && ret, -EINVAL);
    memset(ret, 0, sizeof(*ret));
    if (!spec->mig_enabled)
        spec = &none; /* MIG off: no instances can exist */
    s.cur = cur;
    s.force = force;
    if ((r = expand(&s, cur, spec, ret, err)) <= 0)
        return r;
    run(&s);
    if (!s.found && !force) {
        s.force = true;
        run(&s);
        if (s.found) {
            busy_reason(&s, ret->why, sizeof(ret->why));
            return 0;
        }
    }
    if (!s.found) {
        snprintf(ret->why, sizeof(ret->why),
                 "no placement of the requested GPU instances fits %s's %d memory slices",
                 cur->model->name, cur->model->grid);
        return 0;
    }
    ret->feasible = true;
    build(&s, spec, ret);
    return 0;
}

bool mk_layout_matches(const struct mk_gpu *g, const struct mk_layout_spec *spec)
{
    int left[MK_MAX_GIS], total = 0;
    if (g->mig_enabled != spec->mig_enabled)
        return false;
    if (!spec->mig_enabled)
        return g->ngi == 0;
    for (int w = 0; w < spec->nwant; w++)
        left[w] = spec->want[w].count, total += spec->want[w].count;
    if (total != g->ngi)
        return false;
    for (int i = 0; i < g->ngi; i++) {
        int w;
        for (w = 0; w < spec->nwant; w++)
            if (left[w] > 0 && spec->want[w].profile == g->gi[i].profile &&
                cis_match(&g->gi[i], spec->want[w].ci_profile))
                break;
        if (w == spec->nwant)
            return false;
        left[w]--;
    }
    return true;
}

int mk_layout_spec_from_entry(const struct mk_config_entry *e, const struct mk_model *m,
                              struct mk_layout_spec *ret, int *ret_bad, struct mk_error *err)
{
    mk_assert_return(e && m && ret && ret_bad, -EINVAL);
    memset(ret, 0, sizeof(*ret));
    ret->mig_enabled = e->mig_enabled;
    for (int k = 0; k < e->nmigdevs; k++) {
        const struct mk_config_migdev *md = &e->migdevs[k];
        const struct mk_gi_profile *p;
        int ci, w, r;
        if (md->count == 0)
            continue;
        *ret_bad = k;
        if ((r = mk_config_resolve(m, md->name, &p, &ci, err)) < 0)
            return r;
        for (w = 0; w < ret->nwant; w++)
            if (ret->want[w].profile == p && ret->want[w].ci_profile == ci)
                break;
        if (w == ret->nwant) {
            if (ret->nwant == MK_MAX_GIS)
                return mk_error_set(err, -E2BIG, "too many profiles");
            ret->want[ret->nwant++] = (struct mk_layout_want){p, ci, 0};
        }
        ret->want[w].count += md->count;
    }
    return 0;
}
