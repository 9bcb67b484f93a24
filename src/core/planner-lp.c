/*
 * planner-lp.c - the LP relaxation of the fleet problem: a small dense simplex, the
 * configuration LP built on it, the lower bound it certifies, and an LP-rounding start for
 * the heuristic (docs/planner.md, "Lower bound").
 *
 * The LP (the cutting-stock relaxation, one column per maximal multiset of each model):
 *
 *   minimise    sum x[m,c]                            GPUs, fractionally
 *   subject to  sum_m y[k,m]            >= d[k]       every item group k is placed
 *               sum_{k: prof(k,m)=j} y[k,m] <= sum_c cnt(c,j) x[m,c]
 *                                                     model m's GIs of profile j suffice
 *               sum_c x[m,c]            <= N[m]       the fleet has N[m] GPUs of model m
 *               x, y >= 0
 *
 * Items that get the same profile on every model form one group (priorities play no part
 * in a bound). The bound is not read off the simplex's objective: floating-point error could
 * push it over an integer. Instead the simplex's dual values become per-(model, profile)
 * weights pi, and the bound is recomputed from them as a dual-feasible point: with
 * h[m] = the heaviest multiset of model m under pi and s[m] = max(0, h[m] - 1),
 *
 *   sum_k d[k] * min_m pi[m, prof(k,m)]  -  sum_m N[m] * s[m]
 *
 * is below the LP optimum for any pi >= 0, hence a valid bound on GPUs whatever the
 * precision of pi.
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
};

#define T(lp, i, j) ((lp)->t[(size_t)(i) * (size_t)((lp)->cols + 1) + (size_t)(j)])

static void pivot(struct lp *lp, int r, int c)
{
    double p = T(lp, r, c);
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
            if (fabs(T(lp, i, j)) > PIV_EPS) {
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

/* Column and row layout of the fleet LP. */
struct layout {
    int ngroups;
    int *type_group;             /* [ntypes] */
    int xoff[PL_MAX_MODELS + 1]; /* x columns of model mi: [xoff[mi], xoff[mi + 1]) */
    int *ycol;                   /* [ngroups * nmodels]: y column, or -1 */
    int rows_demand, rows_cover, rows_cap;
    int cover_row[PL_MAX_MODELS][PL_MAX_PLAIN];
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

static int plan_layout(const struct pl_problem *pb, struct layout *L)
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
    L->rows_demand = L->ngroups;
    row = L->ngroups;
    for (int mi = 0; mi < pb->nmodels; mi++)
        for (int j = 0; j < pb->models[mi].n; j++)
            L->cover_row[mi][j] = row++;
    L->rows_cover = row - L->rows_demand;
    L->rows_cap = pb->nmodels;
    /* slacks: surplus per demand row, slack per cover and cap row; then artificials */
    L->first_slack = col;
    L->first_art = col + row + pb->nmodels;
    L->cols = L->first_art + L->ngroups;
    return 0;
}

/* Fills the tableau for group demands d (groups with d = 0 get a zero row). */
static void fill(const struct pl_problem *pb, const struct layout *L, const double *d,
                 const int *caps, struct lp *lp)
{
    int rows = lp->rows;
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        int cap = rows - pb->nmodels + mi, n = caps[mi];
        for (int k = 0; k < pm->nmax; k++) {
            int c = L->xoff[mi] + k;
            for (int j = 0; j < pm->n; j++)
                T(lp, L->cover_row[mi][j], c) = -pm->maxcnt[k * pm->n + j];
            T(lp, cap, c) = 1;
        }
        T(lp, cap, L->first_slack + cap) = 1;
        T(lp, cap, lp->cols) = n;
        lp->basis[cap] = L->first_slack + cap;
        for (int j = 0; j < pm->n; j++) {
            int r = L->cover_row[mi][j];
            T(lp, r, L->first_slack + r) = 1;
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
        T(lp, g, lp->cols) = d[g];
        lp->basis[g] = L->first_art + g;
    }
}

/* The bound certified by weights pi (see the top of this file). */
static int certify(const struct pl_problem *pb, const struct layout *L, const double *d,
                   const int *caps, double pi[PL_MAX_MODELS][PL_MAX_PLAIN])
{
    double total = 0;
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
        total += d[L->type_group[t]] * (isinf(best) ? 0 : best);
    }
    for (int mi = 0; mi < pb->nmodels; mi++) {
        const struct pl_model *pm = &pb->models[mi];
        double h = 0;
        for (int k = 0; k < pm->nmax; k++) {
            double w = 0;
            for (int j = 0; j < pm->n; j++)
                w += pm->maxcnt[k * pm->n + j] * pi[mi][j];
            h = w > h ? w : h;
        }
        total -= caps[mi] * (h > 1 ? h - 1 : 0);
    }
    /* 1e-6 absorbs the rounding of a sum of a few thousand terms */
    return total > 0 ? (int)ceil(total - 1e-6) : 0;
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

/*
 * Solves the fleet LP for counts[t] items of each type on caps[mi] GPUs of each model (NULL:
 * the whole fleet). On success out->ok is set with the certified bound and the primal
 * solution; when the LP cannot be solved (infeasible: the GPUs cannot hold the items; or the
 * simplex gave up) out->ok stays false. Returns 0 or -ENOMEM.
 */
int pl_lp_run(const struct pl_problem *pb, const int *counts, const int *caps,
              struct pl_lp_sol *out)
{
    int fleet[PL_MAX_MODELS] = {0};
    struct layout L;
    struct lp lp = {0};
    double *d = NULL, *cost = NULL, *scratch = NULL;
    double pi[PL_MAX_MODELS][PL_MAX_PLAIN] = {{0}};
    int r;
    memset(out, 0, sizeof(*out));
    if ((r = plan_layout(pb, &L)) < 0)
        goto out;
    lp.rows = L.ngroups + L.rows_cover + L.rows_cap;
    lp.cols = L.cols;
    lp.t = mk__calloc((size_t)(lp.rows + 1) * (size_t)(lp.cols + 1), sizeof(double));
    lp.basis = mk__calloc((size_t)lp.rows + 1, sizeof(int));
    lp.banned = mk__calloc((size_t)lp.cols + 1, sizeof(bool));
    d = mk__calloc((size_t)L.ngroups + 1, sizeof(double));
    cost = mk__calloc((size_t)lp.cols + 1, sizeof(double));
    scratch = mk__calloc((size_t)lp.cols + 1, sizeof(double));
    if (!lp.t || !lp.basis || !lp.banned || !d || !cost || !scratch) {
        r = -ENOMEM;
        goto out;
    }
    for (int t = 0; t < pb->ntypes; t++)
        d[L.type_group[t]] += counts[t];
    for (int j = 0; j < L.xoff[pb->nmodels]; j++)
        cost[j] = 1;
    for (int g = 0; g < pb->ngpus; g++)
        fleet[pb->gpu_model[g]]++;
    if (!caps)
        caps = fleet;
    fill(pb, &L, d, caps, &lp);
    if (lp_solve(&lp, cost, L.first_art, scratch) < 0)
        goto out; /* r == 0, out->ok false */
    /* pi: minus the duals of the cover rows, the reduced costs of their slacks */
    for (int mi = 0; mi < pb->nmodels; mi++)
        for (int j = 0; j < pb->models[mi].n; j++) {
            double rc = T(&lp, lp.rows, L.first_slack + L.cover_row[mi][j]);
            pi[mi][j] = rc > 0 ? rc : 0;
        }
    out->bound = certify(pb, &L, d, caps, pi);
    out->value = -T(&lp, lp.rows, lp.cols);
    if ((r = read_primal(pb, &L, &lp, out)) == 0)
        out->ok = true;
out:
    if (r < 0)
        pl_lp_sol_free(out);
    mk__free(L.type_group);
    mk__free(L.ycol);
    mk__free(lp.t);
    mk__free(lp.basis);
    mk__free(lp.banned);
    mk__free(d);
    mk__free(cost);
    mk__free(scratch);
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
