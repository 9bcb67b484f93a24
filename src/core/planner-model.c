/*
 * planner-model.c - what the planner knows about one GPU model: which profile a replica gets
 * (smallest that covers it), which multisets of profiles fit one GPU (a table built with the
 * exact geometry), and the weights behind the lower bound (docs/planner.md, "Lower bound").
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "planner-internal.h"

/* Doubles are compared with this slack: weights are sums of a few fractions, so their error
 * is around 1e-15; a total within 1e-9 of an integer is that integer. */
#define EPS 1e-9

bool mk_plan_profile_is_plain(const struct mk_gi_profile *p)
{
    switch (p->nvml) {
    case MK_GI_CONST_1_SLICE:
    case MK_GI_CONST_2_SLICE:
    case MK_GI_CONST_3_SLICE:
    case MK_GI_CONST_4_SLICE:
    case MK_GI_CONST_6_SLICE:
    case MK_GI_CONST_7_SLICE:
    case MK_GI_CONST_8_SLICE:
    case MK_GI_CONST_1_SLICE_REV2: /* double-memory 1g: plain, only more memory */
        return true;
    default:
        return false;
    }
}

uint64_t mk_plan_need_bytes(const struct mk_plan_workload *w, uint32_t headroom_ppm)
{
    uint64_t factor = MK_PLAN_PPM + headroom_ppm;
    if (w->memory_bytes > (UINT64_MAX - MK_PLAN_PPM) / factor)
        return UINT64_MAX; /* beyond any GPU; only reachable through the API, not parsing */
    return (w->memory_bytes * factor + MK_PLAN_PPM - 1) / MK_PLAN_PPM;
}

/* Profile order of "smallest": memory, then compute slices, then memory slices. */
static bool smaller(const struct mk_gi_profile *a, const struct mk_gi_profile *b)
{
    if (a->memory_mib != b->memory_mib)
        return a->memory_mib < b->memory_mib;
    if (a->compute_slices != b->compute_slices)
        return a->compute_slices < b->compute_slices;
    return a->mem_slices < b->mem_slices;
}

static bool allows(const struct mk_plan_workload *w, const struct mk_model *m)
{
    for (int i = 0; i < w->nallowed; i++)
        if (w->allowed[i] == m || strcmp(w->allowed[i]->slug, m->slug) == 0)
            return true;
    return w->nallowed == 0;
}

const struct mk_gi_profile *mk_plan_profile_for(const struct mk_model *m,
                                                const struct mk_plan_workload *w,
                                                uint32_t headroom_ppm)
{
    const struct mk_gi_profile *best = NULL;
    uint64_t need;
    if (!m || !w || !allows(w, m))
        return NULL;
    need = mk_plan_need_bytes(w, headroom_ppm);
    for (int i = 0; i < m->nprofiles; i++) {
        const struct mk_gi_profile *p = &m->profiles[i];
        if (!mk_plan_profile_is_plain(p) || (uint64_t)p->memory_mib * MK_PLAN_MIB < need ||
            p->compute_slices < w->compute_slices || p->sms < w->compute_sms)
            continue;
        if (!best || smaller(p, best))
            best = p;
    }
    return best;
}

/* ---- the table of multisets that fit ---- */

/* Enumeration scratch: the GPU being filled, and which (occupied slices, state) pairs were
 * expanded already. The pair decides everything that can still be added (counts, GI total
 * and free slices), so each is expanded once. */
struct enum_ctx {
    struct pl_model *pm;
    struct mk_gpu *g;
    uint8_t *seen; /* bit (mask * nstates + state) */
};

static uint32_t occupied(const struct mk_gpu *g)
{
    uint32_t mask = 0;
    for (int i = 0; i < g->ngi; i++)
        for (int s = 0; s < g->gi[i].profile->mem_slices; s++)
            mask |= 1u << (g->gi[i].start + s);
    return mask;
}

static void enumerate(struct enum_ctx *e, uint32_t state)
{
    struct pl_model *pm = e->pm;
    size_t bit = (size_t)occupied(e->g) * pm->nstates + state;
    if (e->seen[bit / 8] & (1u << (bit % 8)))
        return;
    e->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
    pm->ok[state] = 1;
    for (int j = 0; j < pm->n; j++) {
        const struct mk_gi_profile *p = pm->prof[j];
        if (pl_count(pm, state, j) == pm->maxc[j])
            continue;
        for (int k = 0; k < p->nstarts; k++) {
            int id;
            if (mk_gpu_gi_create(e->g, p, p->starts[k], &id) < 0)
                continue; /* overlap, max count or GI limit: the geometry says no */
            enumerate(e, state + pm->stride[j]);
            mk_gpu_gi_destroy(e->g, id);
        }
    }
}

/* Collects the plain profiles of m, sorted "smallest first", with their count caps. */
static int collect(struct pl_model *pm, const struct mk_model *m, struct mk_error *err)
{
    uint64_t states = 1;
    pm->m = m;
    for (int i = 0; i < m->nprofiles; i++) {
        const struct mk_gi_profile *p = &m->profiles[i];
        int k;
        if (!mk_plan_profile_is_plain(p))
            continue;
        if (pm->n == PL_MAX_PLAIN)
            return mk_error_set(err, -EINVAL, "model %s has more than %d plain profiles", m->slug,
                                PL_MAX_PLAIN);
        for (k = pm->n; k > 0 && smaller(p, pm->prof[k - 1]); k--)
            pm->prof[k] = pm->prof[k - 1];
        pm->prof[k] = p;
        pm->n++;
    }
    for (int j = 0; j < pm->n; j++) {
        pm->maxc[j] = pm->prof[j]->max < m->max_gis ? pm->prof[j]->max : m->max_gis;
        pm->stride[j] = (uint32_t)states;
        states *= (uint64_t)pm->maxc[j] + 1;
        if (states > PL_MAX_STATES)
            return mk_error_set(err, -EINVAL,
                                "model %s has too many profile combinations "
                                "for the planner",
                                m->slug);
    }
    pm->nstates = (uint32_t)states;
    return 0;
}

/* Marks best_add and lists the maximal multisets. */
static int finish(struct pl_model *pm, struct mk_error *err)
{
    for (uint32_t s = 0; s < pm->nstates; s++) {
        pm->best_add[s] = -1;
        if (!pm->ok[s])
            continue;
        for (int j = 0; j < pm->n; j++)
            if (pl_count(pm, s, j) < pm->maxc[j] && pm->ok[s + pm->stride[j]]) {
                pm->addable[s] |= (uint16_t)(1u << j);
                pm->best_add[s] = (int8_t)j;
            }
        pm->nmax += pm->best_add[s] < 0;
    }
    pm->maximal = mk__calloc((size_t)pm->nmax, sizeof(*pm->maximal));
    pm->maxcnt = mk__calloc((size_t)pm->nmax * (size_t)pm->n, 1);
    if (!pm->maximal || !pm->maxcnt)
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (uint32_t s = 0, k = 0; s < pm->nstates; s++) {
        if (!pm->ok[s] || pm->best_add[s] >= 0)
            continue;
        pm->maximal[k] = s;
        for (int j = 0; j < pm->n; j++)
            pm->maxcnt[k * (uint32_t)pm->n + (uint32_t)j] = (uint8_t)pl_count(pm, s, j);
        k++;
    }
    return 0;
}

/*
 * Builds the table of model m. The enumeration places GIs at every possible placement
 * through the geometry, so the table holds exactly the multisets the hardware can hold.
 * On failure pm is left for pl_model_free().
 */
int pl_model_init(struct pl_model *pm, const struct mk_model *m, struct mk_error *err)
{
    struct enum_ctx e = {.pm = pm};
    size_t bits;
    int r;
    memset(pm, 0, sizeof(*pm));
    if ((r = collect(pm, m, err)) < 0)
        return r;
    if (m->grid > MK_MAX_STARTS || m->grid > 24)
        return mk_error_set(err, -EINVAL, "model %s: grid too large for the planner", m->slug);
    bits = ((size_t)1 << m->grid) * pm->nstates;
    pm->ok = mk__calloc(pm->nstates, 1);
    pm->best_add = mk__calloc(pm->nstates, 1);
    pm->addable = mk__calloc(pm->nstates, sizeof(*pm->addable));
    e.seen = mk__calloc(bits / 8 + 1, 1);
    e.g = mk__malloc(sizeof(*e.g));
    if (!pm->ok || !pm->best_add || !pm->addable || !e.seen || !e.g) {
        mk__free(e.seen);
        mk__free(e.g);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    mk_gpu_init(e.g, m, 0);
    e.g->mig_enabled = true;
    enumerate(&e, 0);
    mk__free(e.seen);
    mk__free(e.g);
    return finish(pm, err);
}

void pl_model_free(struct pl_model *pm)
{
    mk__free(pm->ok);
    mk__free(pm->best_add);
    mk__free(pm->addable);
    mk__free(pm->maximal);
    mk__free(pm->maxcnt);
    memset(pm, 0, sizeof(*pm));
}

/* ---- weights and the lower bound ---- */

/*
 * The weight vectors tried: coefficients of (memory slices, compute slices, one GI, one GI of
 * a given shape), each share taken of the model's total. Every vector is scaled so the
 * heaviest multiset that fits the model weighs 1, which makes each of them a valid bound; the
 * bound is the best of them. Small integer coefficients cover the combinations that matter:
 * memory binds for double-memory 1g profiles, compute for 7 x 1g, the GI count on small
 * grids, and a shape's count cap where it is tighter than its slices (3 x 2g on an H100
 * leave 2 memory slices that no fourth 2g can use).
 */
#define A_MEM   4
#define A_COMP  4
#define A_GIS   2
#define A_SHAPE 2
/* Shapes: compute slices and memory in eighths of the GPU, as one number. */
#define SHAPE(m, p) ((p)->compute_slices * 100 + (p)->mem_slices * 8 / (m)->grid)

/* Distinct shapes of the plain profiles in pb, at most max of them. */
static int shapes(const struct pl_problem *pb, int *out, int max)
{
    int n = 0;
    for (int mi = 0; mi < pb->nmodels; mi++)
        for (int j = 0; j < pb->models[mi].n; j++) {
            int s = SHAPE(pb->models[mi].m, pb->models[mi].prof[j]), k;
            for (k = 0; k < n && out[k] != s; k++)
                ;
            if (k == n && n < max)
                out[n++] = s;
        }
    return n;
}

int pl_weights_count(const struct pl_problem *pb)
{
    int sh[PL_MAX_MODELS * PL_MAX_PLAIN];
    int nshapes = shapes(pb, sh, (int)MK_ELEMENTSOF(sh));
    return A_MEM * A_COMP * A_GIS * (1 + (A_SHAPE - 1) * nshapes) - 1;
}

int pl_weights_nth(const struct pl_problem *pb, int n, struct pl_weights *ret)
{
    int sh[PL_MAX_MODELS * PL_MAX_PLAIN];
    int k = n + 1; /* skip the all-zero vector */
    int base = k % (A_MEM * A_COMP * A_GIS), extra = k / (A_MEM * A_COMP * A_GIS);
    int shape = 0, a_shape = 0;
    if (extra > 0) { /* extra - 1 = (shape index) * (A_SHAPE - 1) + (coefficient - 1) */
        shapes(pb, sh, (int)MK_ELEMENTSOF(sh));
        shape = sh[(extra - 1) / (A_SHAPE - 1)];
        a_shape = 1 + (extra - 1) % (A_SHAPE - 1);
    }
    return pl_weights_make(pb, base % A_MEM, base / A_MEM % A_COMP, base / (A_MEM * A_COMP),
                           a_shape, shape, ret);
}

int pl_weights_make(const struct pl_problem *pb, double a_mem, double a_comp, double a_gis,
                    double a_shape, int shape, struct pl_weights *ret)
{
    memset(ret->w, 0, sizeof(ret->w));
    if (!(ret->v = mk__calloc((size_t)pb->ntypes + 1, sizeof(double))))
        return -ENOMEM;
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        const struct mk_model *m = pm->m;
        double heaviest = 0;
        for (int j = 0; j < pm->n; j++) {
            const struct mk_gi_profile *p = pm->prof[j];
            ret->w[mi][j] = a_mem * p->mem_slices / m->grid +
                            a_comp * p->compute_slices / m->compute_slices + a_gis / m->max_gis +
                            a_shape * (SHAPE(m, p) == shape);
        }
        for (int k = 0; k < pm->nmax; k++) {
            double t = 0;
            for (int j = 0; j < pm->n; j++)
                t += pm->maxcnt[k * pm->n + j] * ret->w[mi][j];
            heaviest = t > heaviest ? t : heaviest;
        }
        for (int j = 0; j < pm->n; j++)
            ret->w[mi][j] = heaviest > 0 ? ret->w[mi][j] / heaviest : 0;
    }
    for (int t = 0; t < pb->ntypes; t++) {
        double best = INFINITY;
        for (int mi = 0; mi < pb->nmodels; mi++) {
            int j = pb->types[t].prof[mi];
            if (j != PL_NONE && ret->w[mi][j] < best)
                best = ret->w[mi][j];
        }
        ret->v[t] = isinf(best) ? 0 : best;
    }
    return 0;
}

void pl_weights_free(struct pl_weights *w)
{
    mk__free(w->v);
    w->v = NULL;
}

int pl_bound(const struct pl_problem *pb, const int *counts)
{
    int best = 0, any = 0, nw = pl_weights_count(pb);
    for (int t = 0; t < pb->ntypes; t++)
        any += counts[t];
    for (int n = 0; n < nw; n++) {
        struct pl_weights w;
        double total = 0;
        if (pl_weights_nth(pb, n, &w) < 0)
            return -ENOMEM;
        for (int t = 0; t < pb->ntypes; t++)
            total += counts[t] * w.v[t];
        pl_weights_free(&w);
        if ((int)ceil(total - EPS) > best)
            best = (int)ceil(total - EPS);
    }
    return any > 0 && best == 0 ? 1 : best;
}
