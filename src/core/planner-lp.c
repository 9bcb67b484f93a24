/*
 * planner-lp.c - the LP relaxation of the fleet problem: a small dense simplex, the
 * configuration LP built on it, the lower bound it certifies, and an LP-rounding start for
 * the heuristic (docs/planner.md, "Lower bound").
 *
 * The LP (Gilmore and Gomory's configuration LP of cutting stock, one column per maximal
 * multiset of each model):
 *
 *   minimise    sum x[m,c]                            GPUs, fractionally
 *   subject to  sum_m y[k,m]            >= d[k]       every item group k is placed
 *               sum_{k: prof(k,m)=j} y[k,m] <= S[m,j] + sum_c cnt(c,j) x[m,c]
 *                                                     model m's GIs of profile j suffice
 *               L[m] <= sum_c x[m,c]    <= N[m]       GPUs of model m
 *               x, y >= 0
 *
 * Items that get the same profile on every model form one group (priorities play no part
 * in a bound); an item may go to any model it has a profile on, so y splits each group over
 * its models. For the plain relaxation S = 0, L = 0 and N[m] is the fleet's GPUs of model m.
 * The configuration search (planner-exact.c) solves it for nodes of its branch and bound:
 * GPUs fixed to a multiset add their GIs to S and leave N, a branch on a model's GPU count
 * sets L or N, and a multiset may be banned from the free GPUs of its model.
 *
 * The bound is not read off the simplex's objective: floating-point error could push it
 * over an integer. Instead the simplex's dual values become per-(model, profile) weights pi,
 * and the bound is recomputed from them as a dual-feasible point: with h[m] = the heaviest
 * multiset of model m under pi (banned ones left out),
 *
 *   sum_k d[k] * min_m pi[m, prof(k,m)] - sum_{m,j} S[m,j] pi[m,j]
 *     - sum_m N[m] * max(0, h[m] - 1) + sum_m L[m] * max(0, 1 - h[m])
 *
 * is below the GPUs of any plan of the node for any pi >= 0 (each placed item takes a GI of
 * weight at least its minimum; a GPU of model m holds at most h[m]; and n GPUs of model m
 * with L <= n <= N carry n * h <= n + N max(0, h - 1) - L max(0, 1 - h)), hence a valid
 * bound whatever the precision of pi. When phase 1 ends with artificials left, its duals
 * give weights under which the items outweigh everything the node's GPUs can hold (sum_m
 * N[m] h[m] plus the fixed GIs): that proves that no plan exists, again recomputed from pi.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "planner-internal.h"

#define EPS 1e-9
/* Pivot tolerance: entries smaller than this are treated as zero in ratio tests. */
#define PIV_EPS 1e-9
/* After this many pivots without progress the simplex switches to Bland's rule, which
 * cannot cycle; after MAX_PIVOTS it gives up (the bound then falls back to the weights). */
#define STALL_PIVOTS 50
#define MAX_PIVOTS   20000

/* ---- a dense two-phase simplex ---- */

/*
 * The tableau of min c.x, A x = b, x >= 0, b >= 0, with an artificial variable in every row
 * that has no natural basic column. Row `rows` is the objective (reduced costs); column
 * `cols` is the right-hand side.
 */
struct lp {
    int rows, cols; /* constraints; columns without the right-hand side */
    double *t;      /* (rows + 1) x (cols + 1) */
    int *basis;     /* [rows] */
    bool *banned;   /* [cols]: may not enter (artificials in phase 2) */
    long long work; /* tableau entries gone over (pivots, fills, copies): the effort */
};

#define T(lp, i, j) ((lp)->t[(size_t)(i) * (size_t)((lp)->cols + 1) + (size_t)(j)])

static void pivot(struct lp *lp, int r, int c)
{
    double p = T(lp, r, c);
    lp->work += (long long)(lp->rows + 1) * (lp->cols + 1);
    for (int j = 0; j <= lp->cols; j++)
        T(lp, r, j) /= p;
    for (int i = 0; i <= lp->rows; i++) {
        double f = T(lp, i, c);
        if (i == r || f == 0)
            continue;
        for (int j = 0; j <= lp->cols; j++)
            T(lp, i, j) -= f * T(lp, r, j);
    }
    lp->basis[r] = c;
}

/* Runs the simplex on the current objective row. Returns 0 at an optimum, -ERANGE when
 * unbounded, -ETIME after MAX_PIVOTS. Entering column: most negative reduced cost (Dantzig),
 * or the first negative one (Bland) once the objective has stalled. */
static int simplex(struct lp *lp)
{
    double last = INFINITY;
    int stall = 0;
    for (int it = 0; it < MAX_PIVOTS; it++) {
        bool bland = stall > STALL_PIVOTS;
        int c = -1, r = -1;
        double best = -EPS, ratio = INFINITY;
        for (int j = 0; j < lp->cols; j++) {
            double rc = T(lp, lp->rows, j);
            if (lp->banned[j] || rc >= best)
                continue;
            c = j;
            if (bland)
                break;
            best = rc;
        }
        if (c < 0)
            return 0;
        for (int i = 0; i < lp->rows; i++) {
            double a = T(lp, i, c), q;
            if (a <= PIV_EPS)
                continue;
            q = T(lp, i, lp->cols) / a;
            if (q < ratio - EPS || (q < ratio + EPS && r >= 0 && lp->basis[i] < lp->basis[r])) {
                ratio = q;
                r = i;
            }
        }
        if (r < 0)
            return -ERANGE;
        pivot(lp, r, c);
        if (T(lp, lp->rows, lp->cols) < last - EPS || T(lp, lp->rows, lp->cols) > last + EPS)
            stall = 0;
        else
            stall++;
        last = T(lp, lp->rows, lp->cols);
    }
    return -ETIME;
}

/* Sets the objective row to cost (per column) minus the basic rows, so that its entries are
 * reduced costs and its right-hand side is minus the objective value. */
static void set_objective(struct lp *lp, const double *cost)
{
    for (int j = 0; j <= lp->cols; j++)
        T(lp, lp->rows, j) = j < lp->cols ? cost[j] : 0;
    for (int i = 0; i < lp->rows; i++) {
        double cb = cost[lp->basis[i]];
        if (cb == 0)
            continue;
        for (int j = 0; j <= lp->cols; j++)
            T(lp, lp->rows, j) -= cb * T(lp, i, j);
    }
}

/*
 * Solves: phase 1 minimises the artificials (columns >= first_art, basic in the rows that
 * have them), phase 2 minimises cost. Returns 0 with lp at the optimum, -EDOM when
 * infeasible, or the simplex's error.
 */
static int lp_solve(struct lp *lp, const double *cost, int first_art, double *phase1)
{
    int r;
    for (int j = 0; j < lp->cols; j++)
        phase1[j] = j >= first_art;
    set_objective(lp, phase1);
    if ((r = simplex(lp)) < 0)
        return r;
    if (-T(lp, lp->rows, lp->cols) > 1e-7)
        return -EDOM;
    for (int i = 0; i < lp->rows; i++) { /* drive zero artificials out where possible */
        if (lp->basis[i] < first_art)
            continue;
        for (int j = 0; j < first_art; j++)
            if (!lp->banned[j] && fabs(T(lp, i, j)) > PIV_EPS) {
                pivot(lp, i, j);
                break;
            }
    }
    for (int j = first_art; j < lp->cols; j++)
        lp->banned[j] = true;
    set_objective(lp, cost);
    return simplex(lp);
}

/* ---- the fleet LP ---- */

/*
 * Column and row layout of the fleet LP. Rows: one demand row per item group, one cover row
 * per (model, profile), then per model a cap row (sum_c x[m,c] <= caps[m]) and a min row
 * (sum_c x[m,c] >= mins[m], for the configuration search). Columns: x, y, one slack or
 * surplus per row, then an artificial per demand row and per min row.
 */
struct layout {
    int ngroups;
    int *type_group;             /* [ntypes] */
    int xoff[PL_MAX_MODELS + 1]; /* x columns of model mi: [xoff[mi], xoff[mi + 1]) */
    int *ycol;                   /* [ngroups * nmodels]: y column, or -1 */
    int cover_row[PL_MAX_MODELS][PL_MAX_PLAIN];
    int cap_row, min_row; /* model mi's cap row is cap_row + mi, its min row min_row + mi */
    int nmins;            /* min rows: one per model for the search, else none */
    int rows;
    int first_slack, first_art, cols;
};

/* Groups types that get the same profile on every model. */
static int group_types(const struct pl_problem *pb, struct layout *L)
{
    if (!(L->type_group = mk__malloc(((size_t)pb->ntypes + 1) * sizeof(int))))
        return -ENOMEM;
    for (int t = 0; t < pb->ntypes; t++) {
        int u;
        for (u = 0; u < t; u++)
            if (memcmp(pb->types[u].prof, pb->types[t].prof, sizeof(pb->types[t].prof)) == 0)
                break;
        L->type_group[t] = u < t ? L->type_group[u] : L->ngroups++;
    }
    return 0;
}

static int plan_layout(const struct pl_problem *pb, bool mins, struct layout *L)
{
    int col = 0, row = 0;
    memset(L, 0, sizeof(*L));
    if (group_types(pb, L) < 0 ||
        !(L->ycol = mk__malloc(((size_t)L->ngroups * (size_t)pb->nmodels + 1) * sizeof(int))))
        return -ENOMEM;
    for (int mi = 0; mi < pb->nmodels; mi++) {
        L->xoff[mi] = col;
        col += pb->models[mi].nmax;
    }
    L->xoff[pb->nmodels] = col;
    for (int g = 0; g < L->ngroups; g++)
        for (int mi = 0; mi < pb->nmodels; mi++)
            L->ycol[g * pb->nmodels + mi] = -1;
    for (int t = 0; t < pb->ntypes; t++)
        for (int mi = 0; mi < pb->nmodels; mi++) {
            int *yc = &L->ycol[L->type_group[t] * pb->nmodels + mi];
            if (pb->types[t].prof[mi] != PL_NONE && *yc < 0)
                *yc = col++;
        }
    row = L->ngroups;
    for (int mi = 0; mi < pb->nmodels; mi++)
        for (int j = 0; j < pb->models[mi].n; j++)
            L->cover_row[mi][j] = row++;
    L->nmins = mins ? pb->nmodels : 0;
    L->cap_row = row;
    L->min_row = row + pb->nmodels;
    L->rows = row + pb->nmodels + L->nmins;
    L->first_slack = col;
    L->first_art = col + L->rows;
    L->cols = L->first_art + L->ngroups + L->nmins;
    return 0;
}

/* A fleet LP and its scratch, built once for a set of counts and solved for many nodes. */
struct snapshot {
    double *t;
    int *basis;
    bool *banned;
    struct pl_lp_node cur;
    bool warm;
};

struct pl_lp_work {
    struct layout L;
    struct lp lp;
    double *d;       /* [ngroups]: items per group */
    double *cost;    /* [cols] */
    double *scratch; /* [cols] */
    /* Warm start: the tableau is optimal for node `cur` (its bans are lp.banned's x columns) */
    bool warm;
    struct pl_lp_node cur;
    struct snapshot snap[PL_LP_SLOTS];
};

void pl_lp_work_free(struct pl_lp_work *w)
{
    if (!w)
        return;
    for (int k = 0; k < PL_LP_SLOTS; k++) {
        mk__free(w->snap[k].t);
        mk__free(w->snap[k].basis);
        mk__free(w->snap[k].banned);
    }
    mk__free(w->L.type_group);
    mk__free(w->L.ycol);
    mk__free(w->lp.t);
    mk__free(w->lp.basis);
    mk__free(w->lp.banned);
    mk__free(w->d);
    mk__free(w->cost);
    mk__free(w->scratch);
    mk__free(w);
}

int pl_lp_work_new(const struct pl_problem *pb, const int *counts, bool search,
                   struct pl_lp_work **ret)
{
    struct pl_lp_work *w = mk__calloc(1, sizeof(*w));
    if (!w || plan_layout(pb, search, &w->L) < 0)
        goto fail;
    w->lp.rows = w->L.rows;
    w->lp.cols = w->L.cols;
    w->lp.t = mk__calloc((size_t)(w->lp.rows + 1) * (size_t)(w->lp.cols + 1), sizeof(double));
    w->lp.basis = mk__calloc((size_t)w->lp.rows + 1, sizeof(int));
    w->lp.banned = mk__calloc((size_t)w->lp.cols + 1, sizeof(bool));
    w->d = mk__calloc((size_t)w->L.ngroups + 1, sizeof(double));
    w->cost = mk__calloc((size_t)w->lp.cols + 1, sizeof(double));
    w->scratch = mk__calloc((size_t)w->lp.cols + 1, sizeof(double));
    if (!w->lp.t || !w->lp.basis || !w->lp.banned || !w->d || !w->cost || !w->scratch)
        goto fail;
    for (int t = 0; t < pb->ntypes; t++)
        w->d[w->L.type_group[t]] += counts[t];
    for (int j = 0; j < w->L.xoff[pb->nmodels]; j++)
        w->cost[j] = 1;
    *ret = w;
    return 0;
fail:
    pl_lp_work_free(w);
    return -ENOMEM;
}

long long pl_lp_work_effort(const struct pl_lp_work *w)
{
    return w->lp.work;
}

static size_t tableau_size(const struct lp *lp)
{
    return (size_t)(lp->rows + 1) * (size_t)(lp->cols + 1) * sizeof(double);
}

int pl_lp_work_save(struct pl_lp_work *w, int slot)
{
    struct snapshot *sn = &w->snap[slot];
    mk_assert_return(slot >= 0 && slot < PL_LP_SLOTS, -EINVAL);
    if (!sn->t) {
        sn->t = mk__malloc(tableau_size(&w->lp));
        sn->basis = mk__malloc(((size_t)w->lp.rows + 1) * sizeof(int));
        sn->banned = mk__malloc(((size_t)w->lp.cols + 1) * sizeof(bool));
        if (!sn->t || !sn->basis || !sn->banned) {
            mk__free(sn->t);
            mk__free(sn->basis);
            mk__free(sn->banned);
            memset(sn, 0, sizeof(*sn));
            return -ENOMEM;
        }
    }
    memcpy(sn->t, w->lp.t, tableau_size(&w->lp));
    w->lp.work += (long long)(w->lp.rows + 1) * (w->lp.cols + 1);
    memcpy(sn->basis, w->lp.basis, (size_t)w->lp.rows * sizeof(int));
    memcpy(sn->banned, w->lp.banned, (size_t)w->lp.cols * sizeof(bool));
    sn->cur = w->cur;
    sn->warm = w->warm;
    return 0;
}

void pl_lp_work_restore(struct pl_lp_work *w, int slot)
{
    const struct snapshot *sn = &w->snap[slot];
    if (slot < 0 || slot >= PL_LP_SLOTS || !sn->t) {
        w->warm = false; /* nothing saved: the next solve starts cold */
        return;
    }
    memcpy(w->lp.t, sn->t, tableau_size(&w->lp));
    w->lp.work += (long long)(w->lp.rows + 1) * (w->lp.cols + 1);
    memcpy(w->lp.basis, sn->basis, (size_t)w->lp.rows * sizeof(int));
    memcpy(w->lp.banned, sn->banned, (size_t)w->lp.cols * sizeof(bool));
    w->cur = sn->cur;
    w->warm = sn->warm;
}

/* Fills the tableau for node nd (groups with d = 0 get a zero row). */
static void fill(const struct pl_problem *pb, struct pl_lp_work *w, const struct pl_lp_node *nd)
{
    const struct layout *L = &w->L;
    struct lp *lp = &w->lp;
    memset(lp->t, 0, (size_t)(lp->rows + 1) * (size_t)(lp->cols + 1) * sizeof(double));
    memset(lp->banned, 0, (size_t)lp->cols * sizeof(bool));
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        int cap = L->cap_row + mi, mn = L->min_row + mi, art = L->first_art + L->ngroups + mi;
        bool has_min = nd->mins[mi] > 0;
        for (int k = 0; k < pm->nmax; k++) {
            int c = L->xoff[mi] + k;
            for (int j = 0; j < pm->n; j++)
                T(lp, L->cover_row[mi][j], c) = -pm->maxcnt[k * pm->n + j];
            T(lp, cap, c) = 1;
            if (L->nmins) /* without a minimum: -x + surplus = 0 */
                T(lp, mn, c) = has_min ? 1 : -1;
            lp->banned[c] = nd->banned && nd->banned[c];
        }
        T(lp, cap, L->first_slack + cap) = 1;
        T(lp, cap, lp->cols) = nd->caps[mi];
        lp->basis[cap] = L->first_slack + cap;
        if (L->nmins && has_min) { /* without min rows, nd->mins is 0 */
            T(lp, mn, L->first_slack + mn) = -1;
            T(lp, mn, art) = 1;
            T(lp, mn, lp->cols) = nd->mins[mi];
            lp->basis[mn] = art;
        } else if (L->nmins) {
            T(lp, mn, L->first_slack + mn) = 1;
            lp->basis[mn] = L->first_slack + mn;
            lp->banned[art] = true;
        }
        for (int j = 0; j < pm->n; j++) {
            int r = L->cover_row[mi][j];
            T(lp, r, L->first_slack + r) = 1;
            T(lp, r, lp->cols) = nd->supply[mi][j];
            lp->basis[r] = L->first_slack + r;
        }
    }
    for (int t = 0; t < pb->ntypes; t++)
        for (int mi = 0; mi < pb->nmodels; mi++) {
            int g = L->type_group[t], yc = L->ycol[g * pb->nmodels + mi];
            if (yc < 0)
                continue;
            T(lp, g, yc) = 1;
            T(lp, L->cover_row[mi][pb->types[t].prof[mi]], yc) = 1;
        }
    for (int g = 0; g < L->ngroups; g++) {
        T(lp, g, L->first_slack + g) = -1;
        T(lp, g, L->first_art + g) = 1;
        T(lp, g, lp->cols) = w->d[g];
        lp->basis[g] = L->first_art + g;
    }
}

/* The weight terms of a dual point pi: *ret_items, the items' weight (each group at its
 * lightest model); *ret_supply, the fixed GIs' weight; h[mi], the heaviest multiset model mi's
 * free GPUs may take. */
static void weigh(const struct pl_problem *pb, const struct pl_lp_work *w,
                  const struct pl_lp_node *nd, double pi[PL_MAX_MODELS][PL_MAX_PLAIN],
                  double *ret_items, double *ret_supply, double h[PL_MAX_MODELS])
{
    const struct layout *L = &w->L;
    double items = 0, supply = 0;
    for (int t = 0; t < pb->ntypes; t++) {
        double best = INFINITY;
        bool first = true;
        for (int u = 0; u < t && first; u++)
            first = L->type_group[u] != L->type_group[t];
        if (!first)
            continue; /* one term per group */
        for (int mi = 0; mi < pb->nmodels; mi++) {
            int j = pb->types[t].prof[mi];
            if (j != PL_NONE && pi[mi][j] < best)
                best = pi[mi][j];
        }
        items += w->d[L->type_group[t]] * (isinf(best) ? 0 : best);
    }
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        h[mi] = 0;
        for (int j = 0; j < pm->n; j++)
            supply += nd->supply[mi][j] * pi[mi][j];
        for (int k = 0; k < pm->nmax; k++) {
            double x = 0;
            if (nd->banned && nd->banned[L->xoff[mi] + k])
                continue;
            for (int j = 0; j < pm->n; j++)
                x += pm->maxcnt[k * pm->n + j] * pi[mi][j];
            h[mi] = x > h[mi] ? x : h[mi];
        }
    }
    *ret_items = items;
    *ret_supply = supply;
}

/* The bound on the node's free GPUs certified by weights pi (see the top of this file). */
static int certify(const struct pl_problem *pb, const struct pl_lp_work *w,
                   const struct pl_lp_node *nd, double pi[PL_MAX_MODELS][PL_MAX_PLAIN])
{
    double items, supply, h[PL_MAX_MODELS], total;
    weigh(pb, w, nd, pi, &items, &supply, h);
    total = items - supply;
    for (int mi = 0; mi < pb->nmodels; mi++)
        total += -nd->caps[mi] * (h[mi] > 1 ? h[mi] - 1 : 0) +
                 nd->mins[mi] * (h[mi] < 1 ? 1 - h[mi] : 0);
    /* 1e-6 absorbs the rounding of a sum of a few thousand terms */
    return total > 0 ? (int)ceil(total - 1e-6) : 0;
}

/* True when weights pi prove that no plan satisfies the node: the items weigh more than the
 * fixed GIs and the heaviest multisets of all free GPUs together (a Farkas certificate). */
static bool certify_infeasible(const struct pl_problem *pb, const struct pl_lp_work *w,
                               const struct pl_lp_node *nd, double pi[PL_MAX_MODELS][PL_MAX_PLAIN])
{
    double items, supply, h[PL_MAX_MODELS], room = 0;
    weigh(pb, w, nd, pi, &items, &supply, h);
    for (int mi = 0; mi < pb->nmodels; mi++)
        room += nd->caps[mi] * h[mi];
    /* a relative margin far above the rounding of these sums (about 1e-13 of them) */
    return items - supply - room > 1e-9 * (items + supply + room);
}

void pl_lp_sol_free(struct pl_lp_sol *s)
{
    mk__free(s->x);
    mk__free(s->y);
    mk__free(s->type_group);
    memset(s, 0, sizeof(*s));
}

/* Reads the primal values (x per model multiset, y per group and model) off the optimum. */
static int read_primal(const struct pl_problem *pb, const struct layout *L, const struct lp *lp,
                       struct pl_lp_sol *out)
{
    double *val = mk__calloc((size_t)lp->cols + 1, sizeof(double));
    out->x = mk__calloc((size_t)L->xoff[pb->nmodels] + 1, sizeof(double));
    out->y = mk__calloc((size_t)L->ngroups * (size_t)pb->nmodels + 1, sizeof(double));
    out->type_group = mk__malloc(((size_t)pb->ntypes + 1) * sizeof(int));
    if (!val || !out->x || !out->y || !out->type_group) {
        mk__free(val);
        return -ENOMEM;
    }
    for (int i = 0; i < lp->rows; i++)
        val[lp->basis[i]] = T(lp, i, lp->cols);
    memcpy(out->x, val, (size_t)L->xoff[pb->nmodels] * sizeof(double));
    for (int k = 0; k < L->ngroups * pb->nmodels; k++)
        out->y[k] = L->ycol[k] >= 0 ? val[L->ycol[k]] : 0;
    memcpy(out->type_group, L->type_group, (size_t)pb->ntypes * sizeof(int));
    memcpy(out->xoff, L->xoff, sizeof(out->xoff));
    out->ngroups = L->ngroups;
    mk__free(val);
    return 0;
}

/* pi from row `row` of the tableau, times sign: in the objective row, minus the duals of the
 * cover rows, the reduced costs of their slacks (phase 1's after an infeasible phase 1, else
 * phase 2's); in a row the dual simplex found infeasible, that row's multipliers of the cover
 * rows (its entries under their slacks), a Farkas certificate. */
static void read_weights(const struct pl_problem *pb, const struct pl_lp_work *w, int row,
                         double sign, double pi[PL_MAX_MODELS][PL_MAX_PLAIN])
{
    const struct lp *lp = &w->lp;
    for (int mi = 0; mi < pb->nmodels; mi++)
        for (int j = 0; j < pb->models[mi].n; j++) {
            double v = sign * T(lp, row, w->L.first_slack + w->L.cover_row[mi][j]);
            pi[mi][j] = v > 0 ? v : 0;
        }
}

/* ---- warm start: the dual simplex from a parent node's optimum ---- */

/* Pivots the dual simplex may take before the solve starts over cold. */
#define DUAL_MAX_PIVOTS 2000
/* A warm solve that found no plan: the row whose multipliers, times sign, certify it. */
struct farkas {
    int row;
    double sign;
};

/* Adds f times column c to the right-hand side (objective row included): the tableau's
 * answer to adding f to the right-hand side of the row whose slack is c with coefficient 1
 * (B^-1 e_r is that slack's column). */
static void shift_rhs(struct lp *lp, int c, double f)
{
    for (int i = 0; i <= lp->rows; i++)
        T(lp, i, lp->cols) += f * T(lp, i, c);
}

/* The row where column c is basic, or -1. */
static int basic_row(const struct lp *lp, int c)
{
    for (int i = 0; i < lp->rows; i++)
        if (lp->basis[i] == c)
            return i;
    return -1;
}

/* Bans column c: when it is basic, pivots it out for the entering column that keeps the
 * reduced costs non-negative. Returns 0, -EDOM with *fk when the row proves that c cannot be
 * zero, or -EAGAIN when this basis cannot tell (start over cold). */
static int ban_column(struct lp *lp, int c, struct farkas *fk)
{
    int r = basic_row(lp, c), e = -1;
    double best = INFINITY;
    lp->banned[c] = true;
    if (r < 0)
        return 0;
    for (int j = 0; j < lp->cols; j++) {
        double a = T(lp, r, j);
        if (lp->banned[j] || a <= PIV_EPS)
            continue;
        if (T(lp, lp->rows, j) / a < best - EPS) {
            best = T(lp, lp->rows, j) / a;
            e = j;
        }
    }
    if (e >= 0) {
        pivot(lp, r, e);
        return 0;
    }
    if (T(lp, r, lp->cols) > 1e-7) { /* c = value - (non-positive) * x >= value > 0 */
        *fk = (struct farkas){r, -1};
        return -EDOM;
    }
    return -EAGAIN;
}

/* The dual simplex: the basis is dual feasible (reduced costs >= 0), some right-hand sides may
 * be negative. Returns 0 at the optimum, -EDOM with *fk when a row proves the LP infeasible,
 * -EAGAIN when it gave up or an artificial is left non-zero. */
static int dual_simplex(struct lp *lp, int first_art, struct farkas *fk)
{
    for (int it = 0; it < DUAL_MAX_PIVOTS; it++) {
        int r = -1, e = -1;
        double worst = -1e-9, best = INFINITY;
        for (int i = 0; i < lp->rows; i++)
            if (T(lp, i, lp->cols) < worst) {
                worst = T(lp, i, lp->cols);
                r = i;
            }
        if (r < 0) {
            for (int i = 0; i < lp->rows; i++)
                if (lp->basis[i] >= first_art && fabs(T(lp, i, lp->cols)) > 1e-7)
                    return -EAGAIN;
            return 0;
        }
        for (int j = 0; j < lp->cols; j++) {
            double a = T(lp, r, j);
            if (lp->banned[j] || a >= -PIV_EPS)
                continue;
            if (T(lp, lp->rows, j) / -a < best - EPS) {
                best = T(lp, lp->rows, j) / -a;
                e = j;
            }
        }
        if (e < 0) { /* row r: non-negative terms summing to a negative value */
            *fk = (struct farkas){r, 1};
            return -EDOM;
        }
        pivot(lp, r, e);
    }
    return -EAGAIN;
}

/* Moves the tableau from the optimum of node w->cur to node nd: right-hand sides by the
 * slack columns, new bans pivoted out, then the dual simplex. Only bans may be added. */
static int warm_solve(const struct pl_problem *pb, struct pl_lp_work *w,
                      const struct pl_lp_node *nd, struct farkas *fk)
{
    const struct layout *L = &w->L;
    struct lp *lp = &w->lp;
    int r;
    for (int c = 0; c < L->xoff[pb->nmodels]; c++)
        if (lp->banned[c] && !(nd->banned && nd->banned[c]))
            return -EAGAIN; /* a ban lifted: not a dual feasible start */
    for (int mi = 0; mi < pb->nmodels; mi++) {
        int dcap = nd->caps[mi] - w->cur.caps[mi], dmin = nd->mins[mi] - w->cur.mins[mi];
        if (dcap)
            shift_rhs(lp, L->first_slack + L->cap_row + mi, dcap);
        if (dmin && L->nmins) /* either form of the min row: B^-1 (change) = -dmin x slack col */
            shift_rhs(lp, L->first_slack + L->min_row + mi, -dmin);
        for (int j = 0; j < pb->models[mi].n; j++) {
            int ds = nd->supply[mi][j] - w->cur.supply[mi][j];
            if (ds)
                shift_rhs(lp, L->first_slack + L->cover_row[mi][j], ds);
        }
    }
    for (int c = 0; c < L->xoff[pb->nmodels]; c++)
        if (nd->banned && nd->banned[c] && !lp->banned[c] && (r = ban_column(lp, c, fk)) < 0)
            return r;
    return dual_simplex(lp, L->first_art, fk);
}

/* The node's bans as the tableau's: x columns banned by nd, the rest free. */
static void set_cur(const struct pl_problem *pb, struct pl_lp_work *w, const struct pl_lp_node *nd)
{
    w->cur = *nd;
    w->cur.banned = NULL; /* the tableau's banned flags hold them */
    (void)pb;
}

int pl_lp_work_solve(const struct pl_problem *pb, struct pl_lp_work *w, const struct pl_lp_node *nd,
                     struct pl_lp_sol *out)
{
    double pi[PL_MAX_MODELS][PL_MAX_PLAIN] = {{0}};
    struct farkas fk = {0};
    int r = -EAGAIN;
    memset(out, 0, sizeof(*out));
    w->lp.work += 4 * (long long)(w->lp.rows + w->lp.cols); /* reading the result, at least */
    if (w->warm)
        r = warm_solve(pb, w, nd, &fk);
    if (r == -EAGAIN) {
        w->lp.work += (long long)(w->lp.rows + 1) * (w->lp.cols + 1);
        fill(pb, w, nd);
        r = lp_solve(&w->lp, w->cost, w->L.first_art, w->scratch);
        fk = (struct farkas){w->lp.rows, 1}; /* phase 1's objective row */
    }
    set_cur(pb, w, nd);
    w->warm = r == 0;
    if (r == -EDOM) { /* no feasible point: try to prove there is no plan at all */
        read_weights(pb, w, fk.row, fk.sign, pi);
        out->infeasible = certify_infeasible(pb, w, nd, pi);
        return 0;
    }
    if (r < 0)
        return 0; /* the simplex gave up: out->ok stays false */
    read_weights(pb, w, w->lp.rows, 1, pi);
    out->bound = certify(pb, w, nd, pi);
    out->value = -T(&w->lp, w->lp.rows, w->lp.cols);
    if ((r = read_primal(pb, &w->L, &w->lp, out)) < 0) {
        pl_lp_sol_free(out);
        return r;
    }
    out->ok = true;
    return 0;
}

/*
 * Solves the fleet LP for counts[t] items of each type on caps[mi] GPUs of each model (NULL:
 * the whole fleet). On success out->ok is set with the certified bound and the primal
 * solution; when the LP cannot be solved (infeasible: the GPUs cannot hold the items; or the
 * simplex gave up) out->ok stays false. Returns 0 or -ENOMEM.
 */
int pl_lp_run(const struct pl_problem *pb, const int *counts, const int *caps,
              struct pl_lp_sol *out)
{
    struct pl_lp_node nd;
    struct pl_lp_work *w = NULL;
    int r;
    memset(out, 0, sizeof(*out));
    memset(&nd, 0, sizeof(nd));
    if (caps)
        memcpy(nd.caps, caps, (size_t)pb->nmodels * sizeof(int));
    else
        for (int g = 0; g < pb->ngpus; g++)
            nd.caps[pb->gpu_model[g]]++;
    if ((r = pl_lp_work_new(pb, counts, false, &w)) == 0)
        r = pl_lp_work_solve(pb, w, &nd, out);
    pl_lp_work_free(w);
    return r;
}

/* The unplaced item of type t with the lowest index, or -1. */
static int next_item(const struct pl_problem *pb, const struct pl_sol *s, int t)
{
    for (int i = pb->types[t].first; i < pb->types[t].first + pb->types[t].count; i++)
        if (s->item_gpu[i] < 0)
            return i;
    return -1;
}

/* Fills GPU g with multiset k of its model from the LP's assignment budgets. */
static void round_gpu(const struct pl_problem *pb, const struct pl_lp_sol *lps, double *budget,
                      const double *v, struct pl_sol *s, int g, int k)
{
    int mi = pb->gpu_model[g];
    const struct pl_model *pm = &pb->models[mi];
    for (int j = 0; j < pm->n; j++)
        for (int c = 0; c < pm->maxcnt[k * pm->n + j]; c++) {
            int best = -1, item;
            double bb = 0;
            for (int t = 0; t < pb->ntypes; t++) {
                double b = budget[lps->type_group[t] * pb->nmodels + mi];
                if (pb->types[t].prof[mi] != j || next_item(pb, s, t) < 0)
                    continue;
                if (best < 0 || b > bb + EPS || (b > bb - EPS && v[t] > v[best]))
                    best = t, bb = b;
            }
            if (best < 0 || (item = next_item(pb, s, best)) < 0)
                continue;
            s->item_gpu[item] = g;
            s->state[g] += pm->stride[j];
            budget[lps->type_group[best] * pb->nmodels + mi] -= 1;
        }
}

/*
 * LP rounding: opens floor(x) unused GPUs of each model for each multiset the LP uses (or,
 * when no x reaches 1, one GPU for the largest x: a dive) and fills them from the LP's
 * assignment of item groups to models. Returns the number of GPUs opened, or -ENOMEM.
 */
int pl_lp_round(const struct pl_problem *pb, const struct pl_lp_sol *lps, const double *v,
                struct pl_sol *s)
{
    double *budget = mk__malloc(((size_t)lps->ngroups * (size_t)pb->nmodels + 1) * sizeof(double));
    int next = 0, opened = 0, dive_mi = -1, dive_k = -1;
    double dive = 0;
    if (!budget)
        return -ENOMEM;
    memcpy(budget, lps->y, (size_t)lps->ngroups * (size_t)pb->nmodels * sizeof(double));
    for (int mi = 0; mi < pb->nmodels; mi++)
        for (int k = 0; k < pb->models[mi].nmax; k++)
            if (lps->x[lps->xoff[mi] + k] > dive + 1e-7) {
                dive = lps->x[lps->xoff[mi] + k];
                dive_mi = mi;
                dive_k = k;
            }
    for (int mi = 0; mi < pb->nmodels; mi++) {
        next = 0;
        for (int k = 0; k < pb->models[mi].nmax; k++) {
            int n = (int)floor(lps->x[lps->xoff[mi] + k] + 1e-7);
            if (dive < 1 - 1e-7 && mi == dive_mi && k == dive_k)
                n = 1;
            for (; n > 0; n--) {
                while (next < pb->ngpus && (pb->gpu_model[next] != mi || s->state[next] != 0))
                    next++;
                if (next == pb->ngpus)
                    break;
                round_gpu(pb, lps, budget, v, s, next, k);
                if (s->state[next] == 0)
                    break; /* nothing left for this multiset */
                opened++;
            }
        }
    }
    mk__free(budget);
    return opened;
}
