/*
 * planner-pack.c - the planner's heuristic: a greedy that fills one GPU at a time with the
 * best multiset its model can hold, a tiered mode for fleets too small for everything, a
 * repair that makes room for leftovers by moving one or two placed items, and an improvement
 * pass that empties lightly loaded GPUs (docs/planner.md, "How it plans").
 *
 * The greedy is the sequential heuristic of cutting-stock problems. Every item has a size,
 * its weight under a valid weight vector (planner-model.c): roughly the share of a GPU it
 * takes on the model where it is smallest. For each model with a GPU still unused, the greedy
 * scores every maximal multiset that model can hold by the sizes of the items it would take
 * (for each profile, the largest items that get that profile there), then fills a GPU of the
 * best model with the best multiset. Large items go first and each GPU is packed as full as
 * its geometry allows, so few GPUs stay partly used. It runs under a few weight vectors and
 * keeps the best result.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "planner-internal.h"

#define EPS 1e-9

/* ---- solutions and their scores ---- */

int pl_sol_new(const struct pl_problem *pb, struct pl_sol *s)
{
    s->item_gpu = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int));
    s->state = mk__calloc((size_t)pb->ngpus + 1, sizeof(uint32_t));
    if (!s->item_gpu || !s->state) {
        pl_sol_free(s);
        return -ENOMEM;
    }
    for (int i = 0; i < pb->nitems; i++)
        s->item_gpu[i] = -1;
    return 0;
}

void pl_sol_free(struct pl_sol *s)
{
    mk__free(s->item_gpu);
    mk__free(s->state);
    s->item_gpu = NULL;
    s->state = NULL;
}

void pl_sol_copy(const struct pl_problem *pb, struct pl_sol *dst, const struct pl_sol *src)
{
    memcpy(dst->item_gpu, src->item_gpu, (size_t)pb->nitems * sizeof(int));
    memcpy(dst->state, src->state, (size_t)pb->ngpus * sizeof(uint32_t));
}

int pl_score_new(const struct pl_problem *pb, const struct pl_sol *s, struct pl_score *ret)
{
    if (!(ret->placed = mk__calloc((size_t)pb->nlevels + 1, sizeof(int))))
        return -ENOMEM;
    ret->used = 0;
    for (int i = 0; i < pb->nitems; i++)
        if (s->item_gpu[i] >= 0)
            ret->placed[pb->types[pb->item_type[i]].level]++;
    for (int g = 0; g < pb->ngpus; g++)
        ret->used += s->state[g] != 0;
    return 0;
}

void pl_score_free(struct pl_score *s)
{
    mk__free(s->placed);
    s->placed = NULL;
}

int pl_score_cmp(const struct pl_problem *pb, const struct pl_score *a, const struct pl_score *b)
{
    for (int l = 0; l < pb->nlevels; l++)
        if (a->placed[l] != b->placed[l])
            return a->placed[l] > b->placed[l] ? -1 : 1;
    return (a->used > b->used) - (a->used < b->used);
}

/* Memory of the largest plain profile GPU g can still take in solution s (0: none). */
static uint32_t leftover(const struct pl_problem *pb, const struct pl_sol *s, int g)
{
    const struct pl_model *pm = &pb->models[pb->gpu_model[g]];
    int j = pm->best_add[s->state[g]];
    return j < 0 ? 0 : pm->prof[j]->memory_mib;
}

static int desc_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

/* Compares the GPUs' leftovers, largest first: one large hole beats several small ones. */
int pl_frag_cmp(const struct pl_problem *pb, const struct pl_sol *a, const struct pl_sol *b)
{
    uint32_t *la = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(uint32_t));
    uint32_t *lb = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(uint32_t));
    int r = 0;
    if (!la || !lb) { /* no memory to compare: call them equal */
        mk__free(la);
        mk__free(lb);
        return 0;
    }
    for (int g = 0; g < pb->ngpus; g++) {
        la[g] = leftover(pb, a, g);
        lb[g] = leftover(pb, b, g);
    }
    qsort(la, (size_t)pb->ngpus, sizeof(*la), desc_u32);
    qsort(lb, (size_t)pb->ngpus, sizeof(*lb), desc_u32);
    for (int g = 0; g < pb->ngpus && r == 0; g++)
        r = la[g] != lb[g] ? (la[g] > lb[g] ? -1 : 1) : 0;
    mk__free(la);
    mk__free(lb);
    return r;
}

/* ---- the greedy ---- */

struct greedy {
    const struct pl_problem *pb;
    const double *v; /* item sizes per type */
    struct pl_sol *sol;
    int *rem;    /* [ntypes]: items still to place in this run */
    int *cursor; /* [ntypes]: where to look for the type's next unplaced item */
    int *list;   /* per (model, profile), the types that get it, largest first */
    int off[PL_MAX_MODELS][PL_MAX_PLAIN + 1];
    int *bygpu;                              /* fleet GPUs grouped by model, in fleet order */
    int moff[PL_MAX_MODELS + 1];             /* model mi's GPUs: bygpu[moff[mi] .. moff[mi + 1]) */
    int mnext[PL_MAX_MODELS];                /* next candidate in bygpu for an unused GPU */
    double ts[PL_MAX_PLAIN][MK_MAX_GIS + 1]; /* best sizes of k items per profile */
};

static const double *sort_v; /* qsort has no context argument; set only inside greedy_init */

static int by_v_desc(const void *a, const void *b)
{
    double x = sort_v[*(const int *)a], y = sort_v[*(const int *)b];
    if (x != y)
        return x < y ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

/* Builds the per-(model, profile) type lists and the per-model GPU lists. */
static int greedy_init(struct greedy *G, const struct pl_problem *pb, const double *v,
                       struct pl_sol *sol)
{
    int n = 0;
    memset(G, 0, sizeof(*G));
    G->pb = pb;
    G->v = v;
    G->sol = sol;
    G->rem = mk__calloc((size_t)pb->ntypes + 1, sizeof(int));
    G->cursor = mk__calloc((size_t)pb->ntypes + 1, sizeof(int));
    G->list = mk__malloc(((size_t)pb->ntypes * (size_t)pb->nmodels + 1) * sizeof(int));
    G->bygpu = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(int));
    if (!G->rem || !G->cursor || !G->list || !G->bygpu)
        return -ENOMEM;
    for (int mi = 0; mi < pb->nmodels; mi++) {
        for (int j = 0; j < pb->models[mi].n; j++) {
            G->off[mi][j] = n;
            for (int t = 0; t < pb->ntypes; t++)
                if (pb->types[t].prof[mi] == j)
                    G->list[n++] = t;
            sort_v = v;
            qsort(G->list + G->off[mi][j], (size_t)(n - G->off[mi][j]), sizeof(int), by_v_desc);
            sort_v = NULL;
        }
        G->off[mi][pb->models[mi].n] = n;
    }
    n = 0;
    for (int mi = 0; mi < pb->nmodels; mi++) {
        G->moff[mi] = G->mnext[mi] = n;
        for (int g = 0; g < pb->ngpus; g++)
            if (pb->gpu_model[g] == mi)
                G->bygpu[n++] = g;
    }
    G->moff[pb->nmodels] = n;
    return 0;
}

static void greedy_free(struct greedy *G)
{
    mk__free(G->rem);
    mk__free(G->cursor);
    mk__free(G->list);
    mk__free(G->bygpu);
}

/* ts[j][k]: total size of the k largest remaining items that get profile j on model mi. */
static void top_sums(struct greedy *G, int mi)
{
    const struct pl_model *pm = &G->pb->models[mi];
    for (int j = 0; j < pm->n; j++) {
        int k = 0;
        G->ts[j][0] = 0;
        for (int x = G->off[mi][j]; x < G->off[mi][j + 1] && k < pm->maxc[j]; x++) {
            int t = G->list[x];
            for (int c = 0; c < G->rem[t] && k < pm->maxc[j]; c++, k++)
                G->ts[j][k + 1] = G->ts[j][k] + G->v[t];
        }
        for (; k < pm->maxc[j]; k++)
            G->ts[j][k + 1] = G->ts[j][k];
    }
}

/* The maximal multiset of model mi containing state s that takes the most item size, with
 * that size in *ret_val; -1 when none takes anything. top_sums(mi) must be current. */
static int best_config(const struct greedy *G, int mi, uint32_t s, double *ret_val)
{
    const struct pl_model *pm = &G->pb->models[mi];
    int have[PL_MAX_PLAIN], best = -1;
    double best_val = EPS;
    for (int j = 0; j < pm->n; j++)
        have[j] = pl_count(pm, s, j);
    for (int k = 0; k < pm->nmax; k++) {
        const uint8_t *c = &pm->maxcnt[k * pm->n];
        double val = 0;
        int j;
        for (j = 0; j < pm->n && c[j] >= have[j]; j++)
            val += G->ts[j][c[j] - have[j]];
        if (j == pm->n && val > best_val + EPS) {
            best_val = val;
            best = k;
        }
    }
    *ret_val = best_val;
    return best;
}

/* Puts on GPU g the items configuration k of its model calls for, largest first. */
static void take(struct greedy *G, int g, int k)
{
    const struct pl_problem *pb = G->pb;
    int mi = pb->gpu_model[g];
    const struct pl_model *pm = &pb->models[mi];
    for (int j = 0; j < pm->n; j++) {
        int want = pm->maxcnt[k * pm->n + j] - pl_count(pm, G->sol->state[g], j);
        for (int x = G->off[mi][j]; x < G->off[mi][j + 1] && want > 0; x++) {
            int t = G->list[x];
            while (G->rem[t] > 0 && want > 0) {
                int item = pb->types[t].first + G->cursor[t];
                while (G->sol->item_gpu[item] >= 0)
                    item = pb->types[t].first + ++G->cursor[t];
                G->sol->item_gpu[item] = g;
                G->sol->state[g] += pm->stride[j];
                G->rem[t]--;
                want--;
            }
        }
    }
}

/* Next GPU of model mi that holds nothing yet, or -1. */
static int next_unused(struct greedy *G, int mi)
{
    while (G->mnext[mi] < G->moff[mi + 1] && G->sol->state[G->bygpu[G->mnext[mi]]] != 0)
        G->mnext[mi]++;
    return G->mnext[mi] < G->moff[mi + 1] ? G->bygpu[G->mnext[mi]] : -1;
}

/*
 * Places the items of rem: first fills GPUs that already hold items (a seed), then opens
 * unused GPUs one at a time, each with the best multiset of the model whose best multiset
 * takes the most. Between equal models the one with less memory goes first, keeping larger
 * GPUs for what only they can hold.
 */
static void greedy_run(struct greedy *G)
{
    const struct pl_problem *pb = G->pb;
    double val;
    int k;
    for (int g = 0; g < pb->ngpus; g++) {
        if (G->sol->state[g] == 0)
            continue;
        top_sums(G, pb->gpu_model[g]);
        if ((k = best_config(G, pb->gpu_model[g], G->sol->state[g], &val)) >= 0)
            take(G, g, k);
    }
    for (;;) {
        int best_mi = -1, best_k = -1;
        double best = EPS;
        for (int mi = 0; mi < pb->nmodels; mi++) {
            if (next_unused(G, mi) < 0)
                continue;
            top_sums(G, mi);
            if ((k = best_config(G, mi, 0, &val)) < 0)
                continue;
            if (val > best + EPS ||
                (val > best - EPS && best_mi >= 0 &&
                 pb->models[mi].m->memory_mib < pb->models[best_mi].m->memory_mib)) {
                best = val;
                best_mi = mi;
                best_k = k;
            }
        }
        if (best_mi < 0)
            return;
        take(G, next_unused(G, best_mi), best_k);
    }
}

/* Runs the greedy for the unplaced items of levels < max_level on top of sol. */
static int greedy(const struct pl_problem *pb, const double *v, struct pl_sol *sol, int max_level)
{
    struct greedy G;
    int r = greedy_init(&G, pb, v, sol);
    if (r == 0) {
        for (int i = 0; i < pb->nitems; i++) {
            int t = pb->item_type[i];
            G.rem[t] += sol->item_gpu[i] < 0 && pb->types[t].level < max_level;
        }
        greedy_run(&G);
    }
    greedy_free(&G);
    return r;
}

/* ---- improvement: empty lightly loaded GPUs ---- */

/* Moves every item of GPU g to other used GPUs, first fit. On failure undoes its moves and
 * returns false. */
static bool try_empty(const struct pl_problem *pb, struct pl_sol *s, int g, const int *items,
                      int nitems)
{
    int target[MK_MAX_GIS], n = 0;
    uint32_t saved[MK_MAX_GIS];
    for (; n < nitems; n++) {
        const struct pl_type *ty = &pb->types[pb->item_type[items[n]]];
        int h;
        for (h = 0; h < pb->ngpus; h++) {
            int mi = pb->gpu_model[h];
            int64_t ns;
            if (h == g || s->state[h] == 0 || ty->prof[mi] == PL_NONE)
                continue;
            if ((ns = pl_add(&pb->models[mi], s->state[h], ty->prof[mi])) < 0)
                continue;
            saved[n] = s->state[h];
            s->state[h] = (uint32_t)ns;
            break;
        }
        if (h == pb->ngpus)
            break;
        target[n] = h;
    }
    if (n < nitems) { /* undo, last move first (two moves may share a target) */
        while (n-- > 0)
            s->state[target[n]] = saved[n];
        return false;
    }
    for (int i = 0; i < nitems; i++)
        s->item_gpu[items[i]] = target[i];
    s->state[g] = 0;
    return true;
}

/* Tries to empty each used GPU, lightest first, by moving its items to the others. Only
 * GPUs that can still take a profile are worth trying as targets, so it is cheap once the
 * greedy has packed most GPUs full. */
static int improve(const struct pl_problem *pb, struct pl_sol *s)
{
    int *head = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(int));
    int *next = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int));
    if (!head || !next) {
        mk__free(head);
        mk__free(next);
        return -ENOMEM;
    }
    for (int g = 0; g < pb->ngpus; g++)
        head[g] = -1;
    for (int i = pb->nitems - 1; i >= 0; i--)
        if (s->item_gpu[i] >= 0) {
            next[i] = head[s->item_gpu[i]];
            head[s->item_gpu[i]] = i;
        }
    for (int g = pb->ngpus - 1; g >= 0; g--) {
        int items[MK_MAX_GIS], n = 0;
        const struct pl_model *pm = &pb->models[pb->gpu_model[g]];
        if (s->state[g] == 0 || pm->best_add[s->state[g]] < 0)
            continue; /* empty, or packed full: emptying a full GPU rarely pays */
        for (int i = head[g]; i >= 0 && n < MK_MAX_GIS; i = next[i])
            items[n++] = i;
        if (try_empty(pb, s, g, items, n)) {
            /* the moved items now sit elsewhere; rebuild the lists lazily by full rescan */
            for (int h = 0; h < pb->ngpus; h++)
                head[h] = -1;
            for (int i = pb->nitems - 1; i >= 0; i--)
                if (s->item_gpu[i] >= 0) {
                    next[i] = head[s->item_gpu[i]];
                    head[s->item_gpu[i]] = i;
                }
        }
    }
    mk__free(head);
    mk__free(next);
    return 0;
}

/* ---- insertion (the tiered mode) ---- */

/* Puts one item of type t on the first used GPU with room, else on the first unused GPU of
 * the model where it weighs least. Returns false when no GPU takes it. */
static bool insert_one(const struct pl_problem *pb, const struct pl_weights *W, struct pl_sol *s,
                       int item)
{
    const struct pl_type *ty = &pb->types[pb->item_type[item]];
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++)
        for (int g = 0; g < pb->ngpus; g++) {
            int mi = pb->gpu_model[g];
            if ((s->state[g] != 0) != (pass == 0) || ty->prof[mi] == PL_NONE ||
                pl_add(&pb->models[mi], s->state[g], ty->prof[mi]) < 0)
                continue;
            if (pass == 0) {
                best = g;
                break;
            }
            if (best < 0 || W->w[mi][ty->prof[mi]] <
                                W->w[pb->gpu_model[best]][ty->prof[pb->gpu_model[best]]] - EPS)
                best = g;
        }
    if (best < 0)
        return false;
    int mi = pb->gpu_model[best];
    s->state[best] = (uint32_t)pl_add(&pb->models[mi], s->state[best], ty->prof[mi]);
    s->item_gpu[item] = best;
    return true;
}

/* Inserts the unplaced items of levels >= from_level, level by level, smallest first: what
 * counts within a level that does not fit is how many of its replicas are placed. */
static int insert_rest(const struct pl_problem *pb, const struct pl_weights *W, struct pl_sol *s,
                       int from_level)
{
    int *order = mk__malloc(((size_t)pb->ntypes + 1) * sizeof(int)), n = 0;
    if (!order)
        return -ENOMEM;
    for (int t = 0; t < pb->ntypes; t++)
        if (pb->types[t].level >= from_level)
            order[n++] = t;
    /* insertion sort by (level, size): types are few */
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0; b--) {
            const struct pl_type *x = &pb->types[order[b]], *y = &pb->types[order[b - 1]];
            if (x->level > y->level ||
                (x->level == y->level && W->v[order[b]] >= W->v[order[b - 1]]))
                break;
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    for (int k = 0; k < n; k++) {
        const struct pl_type *ty = &pb->types[order[k]];
        for (int i = ty->first; i < ty->first + ty->count; i++)
            if (s->item_gpu[i] < 0 && !insert_one(pb, W, s, i))
                break; /* its twins will not fit either */
    }
    mk__free(order);
    return 0;
}

/* ---- repair: place leftovers by moving one placed item ---- */

/* Which GPUs moves may use: not `excl`, and with used_only, only GPUs already in use. */
struct scope {
    int excl;
    bool used_only;
};

static bool in_scope(const struct pl_sol *s, struct scope sc, int g)
{
    return g != sc.excl && (!sc.used_only || s->state[g] != 0);
}

/* room[mi][j]: GPUs of model mi in scope that can take one more GI of profile j now. */
static void count_room(const struct pl_problem *pb, const struct pl_sol *s, struct scope sc,
                       int room[PL_MAX_MODELS][PL_MAX_PLAIN])
{
    memset(room, 0, sizeof(int) * PL_MAX_MODELS * PL_MAX_PLAIN);
    for (int g = 0; g < pb->ngpus; g++) {
        int mi = pb->gpu_model[g];
        for (int j = 0; in_scope(s, sc, g) && j < pb->models[mi].n; j++)
            room[mi][j] += pl_add(&pb->models[mi], s->state[g], j) >= 0;
    }
}

/* True when an item of type t could go to some GPU in scope other than h right now. */
static bool room_elsewhere(const struct pl_problem *pb, const struct pl_sol *s,
                           int room[PL_MAX_MODELS][PL_MAX_PLAIN], int t, int h)
{
    const struct pl_type *ty = &pb->types[t];
    int mh = pb->gpu_model[h];
    for (int mi = 0; mi < pb->nmodels; mi++) {
        int j = ty->prof[mi], n;
        if (j == PL_NONE)
            continue;
        n = room[mi][j] - (mi == mh && pl_add(&pb->models[mi], s->state[h], j) >= 0);
        if (n > 0)
            return true;
    }
    return false;
}

/* Puts item y on the first GPU in scope other than h that takes it (used ones first). */
static bool relocate(const struct pl_problem *pb, struct pl_sol *s, struct scope sc, int y, int h)
{
    const struct pl_type *ty = &pb->types[pb->item_type[y]];
    for (int pass = 0; pass < 2; pass++)
        for (int g = 0; g < pb->ngpus; g++) {
            int mi = pb->gpu_model[g];
            int64_t ns;
            if (g == h || !in_scope(s, sc, g) || (s->state[g] != 0) != (pass == 0) ||
                ty->prof[mi] == PL_NONE ||
                (ns = pl_add(&pb->models[mi], s->state[g], ty->prof[mi])) < 0)
                continue;
            s->state[g] = (uint32_t)ns;
            s->item_gpu[y] = g;
            return true;
        }
    return false;
}

/*
 * Tries to place unplaced item x by evicting one item y from a used GPU h in scope (h minus
 * y plus x must fit) and moving y to another GPU in scope with room. Nobody is left out by
 * this: y moves, it is not dropped. head/next list each GPU's items (stale entries are
 * skipped); room is count_room()'s. Returns true when x was placed.
 */
static bool eject_one(const struct pl_problem *pb, struct pl_sol *s, struct scope sc,
                      const int *head, const int *next, int room[PL_MAX_MODELS][PL_MAX_PLAIN],
                      int x)
{
    const struct pl_type *tx = &pb->types[pb->item_type[x]];
    for (int h = 0; h < pb->ngpus; h++) {
        int mh = pb->gpu_model[h], jx = tx->prof[mh];
        const struct pl_model *pm = &pb->models[mh];
        if (jx == PL_NONE || s->state[h] == 0 || !in_scope(s, sc, h))
            continue;
        for (int y = head[h]; y >= 0; y = next[y]) {
            int ty = pb->item_type[y], jy = pb->types[ty].prof[mh];
            int64_t ns;
            if (s->item_gpu[y] != h || (jy == jx && ty == pb->item_type[x]) ||
                (ns = pl_add(pm, s->state[h] - pm->stride[jy], jx)) < 0 ||
                !room_elsewhere(pb, s, room, ty, h))
                continue;
            s->state[h] = (uint32_t)ns;
            s->item_gpu[x] = h;
            s->item_gpu[y] = -1;
            if (!relocate(pb, s, sc, y, h)) { /* cannot happen: room_elsewhere said yes */
                s->state[h] = s->state[h] - pm->stride[jx] + pm->stride[jy];
                s->item_gpu[x] = -1;
                s->item_gpu[y] = h;
                continue;
            }
            return true;
        }
    }
    return false;
}

/*
 * Like eject_one(), with two items y1, y2 of one GPU h evicted for x (h minus both plus x
 * must fit), each moved to another GPU in scope. For a profile that needs the room of two
 * smaller GIs, such as a 2g where two 1g sit. Returns true when x was placed.
 */
static bool eject_two(const struct pl_problem *pb, struct pl_sol *s, struct scope sc,
                      const int *head, const int *next, int room[PL_MAX_MODELS][PL_MAX_PLAIN],
                      int x)
{
    const struct pl_type *tx = &pb->types[pb->item_type[x]];
    for (int h = 0; h < pb->ngpus; h++) {
        int mh = pb->gpu_model[h], jx = tx->prof[mh];
        const struct pl_model *pm = &pb->models[mh];
        if (jx == PL_NONE || s->state[h] == 0 || !in_scope(s, sc, h))
            continue;
        for (int y1 = head[h]; y1 >= 0; y1 = next[y1])
            for (int y2 = next[y1]; y2 >= 0 && s->item_gpu[y1] == h; y2 = next[y2]) {
                int t1 = pb->item_type[y1], t2 = pb->item_type[y2];
                int j1 = pb->types[t1].prof[mh], j2 = pb->types[t2].prof[mh], g1;
                uint32_t old = s->state[h];
                int64_t ns;
                if (s->item_gpu[y2] != h ||
                    (ns = pl_add(pm, old - pm->stride[j1] - pm->stride[j2], jx)) < 0 ||
                    !room_elsewhere(pb, s, room, t1, h) || !room_elsewhere(pb, s, room, t2, h))
                    continue;
                s->state[h] = (uint32_t)ns;
                s->item_gpu[x] = h;
                s->item_gpu[y1] = s->item_gpu[y2] = -1;
                if (relocate(pb, s, sc, y1, h)) {
                    if (relocate(pb, s, sc, y2, h))
                        return true;
                    g1 = s->item_gpu[y1]; /* undo y1's move */
                    s->state[g1] -=
                        pb->models[pb->gpu_model[g1]].stride[pb->types[t1].prof[pb->gpu_model[g1]]];
                }
                s->state[h] = old;
                s->item_gpu[x] = -1;
                s->item_gpu[y1] = s->item_gpu[y2] = h;
            }
    }
    return false;
}

/* Builds the per-GPU item lists of s. */
static void list_items(const struct pl_problem *pb, const struct pl_sol *s, int *head, int *next)
{
    for (int g = 0; g < pb->ngpus; g++)
        head[g] = -1;
    for (int i = pb->nitems - 1; i >= 0; i--)
        if (s->item_gpu[i] >= 0) {
            next[i] = head[s->item_gpu[i]];
            head[s->item_gpu[i]] = i;
        }
}

/* Places what it can of the unplaced items: first where there is room, then by one
 * ejection, then (when the LP says that everything fits, so that few items are left) by two.
 * Items are tried in priority order. */
static int repair(const struct pl_problem *pb, const struct pl_weights *W, struct pl_sol *s)
{
    bool two = pb->lp && pb->lp->ok;
    struct scope all = {.excl = -1};
    int room[PL_MAX_MODELS][PL_MAX_PLAIN];
    int *head = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(int));
    int *next = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int));
    bool lists = false;
    if (!head || !next) {
        mk__free(head);
        mk__free(next);
        return -ENOMEM;
    }
    /* An item that finds no place fails the same way for the rest of its type until the
     * solution changes: skip them (on over-full fleets this saves most of the work). */
    int failed_type = -1;
    for (int x = 0; x < pb->nitems; x++) {
        if (s->item_gpu[x] >= 0 || pb->item_type[x] == failed_type)
            continue;
        if (insert_one(pb, W, s, x)) {
            failed_type = -1;
            continue;
        }
        if (!lists) {
            list_items(pb, s, head, next);
            count_room(pb, s, all, room);
            lists = true;
        }
        if (eject_one(pb, s, all, head, next, room, x) ||
            (two && eject_two(pb, s, all, head, next, room, x))) {
            lists = false;
            failed_type = -1;
        } else {
            failed_type = pb->item_type[x];
        }
    }
    mk__free(head);
    mk__free(next);
    return 0;
}

/* Local search on the GPU count: empties GPU g by moving each of its items to another used
 * GPU, directly or by one ejection. Undoes everything and returns false when one item finds
 * no place. backup is scratch of the solution's size. */
static bool empty_gpu(const struct pl_problem *pb, struct pl_sol *s, struct pl_sol *backup,
                      int *head, int *next, int g)
{
    struct scope sc = {.excl = g, .used_only = true};
    int room[PL_MAX_MODELS][PL_MAX_PLAIN], items[MK_MAX_GIS], n = 0;
    pl_sol_copy(pb, backup, s);
    for (int i = 0; i < pb->nitems && n < MK_MAX_GIS; i++)
        if (s->item_gpu[i] == g)
            items[n++] = i;
    for (int k = 0; k < n; k++)
        s->item_gpu[items[k]] = -1;
    s->state[g] = 0;
    for (int k = 0; k < n; k++) {
        if (relocate(pb, s, sc, items[k], -1))
            continue;
        list_items(pb, s, head, next);
        count_room(pb, s, sc, room);
        if (!eject_one(pb, s, sc, head, next, room, items[k])) {
            pl_sol_copy(pb, s, backup);
            return false;
        }
    }
    return true;
}

/* Tries empty_gpu() on the GPUs that can still take a profile (the partly filled ones),
 * fewest items first; a full GPU is rarely worth emptying. Returns 0 or -ENOMEM. */
static int improve_eject(const struct pl_problem *pb, struct pl_sol *s)
{
    struct pl_sol backup = {0};
    int *head = mk__malloc(((size_t)pb->ngpus + 1) * sizeof(int));
    int *next = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int));
    int r = head && next ? pl_sol_new(pb, &backup) : -ENOMEM;
    for (int fill = 1; r == 0 && fill <= MK_MAX_GIS; fill++)
        for (int g = 0; g < pb->ngpus; g++) {
            const struct pl_model *pm = &pb->models[pb->gpu_model[g]];
            int items = 0;
            if (s->state[g] == 0 || pm->best_add[s->state[g]] < 0)
                continue;
            for (int j = 0; j < pm->n; j++)
                items += pl_count(pm, s->state[g], j);
            if (items == fill)
                empty_gpu(pb, s, &backup, head, next, g);
        }
    pl_sol_free(&backup);
    mk__free(head);
    mk__free(next);
    return r;
}

/*
 * The priority rule, made local: for each unplaced item, highest priority first, looks for a
 * placed item of lower priority whose GI it could take instead (same GPU, the multiset with
 * one swapped for the other fits), swaps them and tries to find the evicted item another
 * place. Afterwards no unplaced item could be placed by evicting one of lower priority.
 */
static void priority_repair(const struct pl_problem *pb, const struct pl_weights *W,
                            struct pl_sol *s)
{
    int failed_type = -1; /* as in repair(): a failure repeats for the rest of the type */
    for (int x = 0; x < pb->nitems; x++) {
        const struct pl_type *tx = &pb->types[pb->item_type[x]];
        bool done = false;
        if (s->item_gpu[x] >= 0 || pb->item_type[x] == failed_type)
            continue;
        /* lowest priority first; items are sorted by level, so stop at x's level */
        for (int y = pb->nitems - 1; y >= 0 && !done; y--) {
            const struct pl_type *ty = &pb->types[pb->item_type[y]];
            int g = s->item_gpu[y], mi;
            const struct pl_model *pm;
            int64_t ns;
            if (ty->level <= tx->level)
                break;
            if (g < 0)
                continue;
            mi = pb->gpu_model[g];
            pm = &pb->models[mi];
            if (tx->prof[mi] == PL_NONE ||
                (ns = pl_add(pm, s->state[g] - pm->stride[ty->prof[mi]], tx->prof[mi])) < 0)
                continue;
            s->state[g] = (uint32_t)ns;
            s->item_gpu[x] = g;
            s->item_gpu[y] = -1;
            insert_one(pb, W, s, y);
            done = true;
        }
        failed_type = done ? -1 : pb->item_type[x];
    }
}

int pl_improve(const struct pl_problem *pb, struct pl_sol *s)
{
    int r = improve(pb, s);
    return r < 0 ? r : improve_eject(pb, s);
}

/* ---- the heuristic ---- */

/* The weight vectors the greedy runs under: memory, compute, both, both plus GI count. */
static const double runs[][4] = {{1, 1, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0},
                                 {2, 1, 0, 0}, {1, 2, 0, 0}, {1, 1, 1, 0}};
#define NRUNS ((int)MK_ELEMENTSOF(runs))

static bool all_placed(const struct pl_problem *pb, const struct pl_sol *s, int max_level)
{
    for (int i = 0; i < pb->nitems; i++)
        if (s->item_gpu[i] < 0 && pb->types[pb->item_type[i]].level < max_level)
            return false;
    return true;
}

/* Keeps cand in best when it is better (objectives 1-3). */
static int keep_better(const struct pl_problem *pb, struct pl_sol *best, bool *have,
                       const struct pl_sol *cand)
{
    struct pl_score a, b;
    int c;
    if (!*have) {
        pl_sol_copy(pb, best, cand);
        *have = true;
        return 0;
    }
    if (pl_score_new(pb, cand, &a) < 0 || pl_score_new(pb, best, &b) < 0) {
        pl_score_free(&a);
        return -ENOMEM;
    }
    c = pl_score_cmp(pb, &a, &b);
    if (c < 0 || (c == 0 && pl_frag_cmp(pb, cand, best) < 0))
        pl_sol_copy(pb, best, cand);
    pl_score_free(&a);
    pl_score_free(&b);
    return 0;
}

/*
 * One attempt under weight run `run`: from the seed, the greedy for levels < max_level, then
 * insertion of the lower levels (when max_level < nlevels) and the improvement pass.
 */
static int attempt(const struct pl_problem *pb, const struct pl_sol *seed, int run, int max_level,
                   struct pl_sol *out)
{
    struct pl_weights W;
    int r = pl_weights_make(pb, runs[run][0], runs[run][1], runs[run][2], runs[run][3], 0, &W);
    if (r < 0)
        return r;
    pl_sol_copy(pb, out, seed);
    r = greedy(pb, W.v, out, max_level);
    if (r == 0 && max_level < pb->nlevels)
        r = insert_rest(pb, &W, out, max_level);
    if (r == 0)
        r = repair(pb, &W, out);
    if (r == 0)
        r = improve(pb, out);
    if (r == 0)
        r = improve_eject(pb, out);
    pl_weights_free(&W);
    return r;
}

/* Sort keys of the spread attempt, one per item (qsort has no context argument; set only
 * inside attempt_spread): level first; within the levels that fit, largest first (they must
 * all go in), within the others smallest first (as many as possible). Sizes are below 1, so
 * level * 4 keeps the levels apart. */
static const double *spread_key;

static int by_spread_key(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (spread_key[x] != spread_key[y])
        return spread_key[x] < spread_key[y] ? -1 : 1;
    return x - y;
}

/*
 * The spread attempt of the tiered mode: every item goes worst-fit, to the GPU that carries
 * the least weight so far and takes it, which leaves room on every GPU rather than whole
 * GPUs free. When the fleet is too small, room spread across GPUs often takes more of the
 * lower levels than room packed into a few of them.
 */
static int attempt_spread(const struct pl_problem *pb, const struct pl_sol *seed, int max_level,
                          struct pl_sol *out)
{
    struct pl_weights W;
    double *load = mk__calloc((size_t)pb->ngpus + 1, sizeof(double));
    double *key = mk__malloc(((size_t)pb->nitems + 1) * sizeof(double));
    int *order = mk__malloc(((size_t)pb->nitems + 1) * sizeof(int)), n = 0;
    int r = load && key && order ? pl_weights_make(pb, 1, 1, 0, 0, 0, &W) : -ENOMEM;
    if (r < 0) {
        mk__free(load);
        mk__free(key);
        mk__free(order);
        return r;
    }
    pl_sol_copy(pb, out, seed);
    for (int i = 0; i < pb->nitems; i++) {
        int t = pb->item_type[i], level = pb->types[t].level;
        key[i] = level * 4.0 + (level < max_level ? -W.v[t] : W.v[t]);
        if (out->item_gpu[i] < 0)
            order[n++] = i;
    }
    spread_key = key;
    qsort(order, (size_t)n, sizeof(int), by_spread_key);
    spread_key = NULL;
    for (int k = 0; k < n; k++) {
        const struct pl_type *ty = &pb->types[pb->item_type[order[k]]];
        int best = -1, mi;
        for (int g = 0; g < pb->ngpus; g++) {
            mi = pb->gpu_model[g];
            if (ty->prof[mi] != PL_NONE &&
                pl_add(&pb->models[mi], out->state[g], ty->prof[mi]) >= 0 &&
                (best < 0 || load[g] < load[best] - EPS))
                best = g;
        }
        if (best < 0)
            continue;
        mi = pb->gpu_model[best];
        out->state[best] = (uint32_t)pl_add(&pb->models[mi], out->state[best], ty->prof[mi]);
        out->item_gpu[order[k]] = best;
        load[best] += W.w[mi][ty->prof[mi]];
    }
    r = repair(pb, &W, out);
    pl_weights_free(&W);
    mk__free(load);
    mk__free(key);
    mk__free(order);
    return r;
}

/* Dives at most this many times: each dive solves an LP (about a millisecond). */
#define MAX_DIVES 64

/*
 * Iterated rounding: solves the LP of the items still unplaced on the GPUs still unused,
 * opens GPUs by its rounding (whole multisets, else the largest fraction), and repeats, so
 * the residual the greedy gets is small.
 */
static int dive(const struct pl_problem *pb, const double *v, struct pl_sol *s)
{
    int *counts = mk__calloc((size_t)pb->ntypes + 1, sizeof(int)), r = 0;
    if (!counts)
        return -ENOMEM;
    for (int it = 0; it < MAX_DIVES && r >= 0; it++) {
        int caps[PL_MAX_MODELS] = {0}, left = 0;
        struct pl_lp_sol lps;
        memset(counts, 0, (size_t)pb->ntypes * sizeof(int));
        for (int i = 0; i < pb->nitems; i++)
            if (s->item_gpu[i] < 0) {
                counts[pb->item_type[i]]++;
                left++;
            }
        for (int g = 0; g < pb->ngpus; g++)
            caps[pb->gpu_model[g]] += s->state[g] == 0;
        if (left == 0 || (r = pl_lp_run(pb, counts, caps, &lps)) < 0)
            break;
        r = lps.ok ? pl_lp_round(pb, &lps, v, s) : 0;
        pl_lp_sol_free(&lps);
        if (r <= 0)
            break;
    }
    mk__free(counts);
    return r < 0 ? r : 0;
}

/* The LP-rounding attempt: the LP's whole multisets first, then the greedy for the rest. */
static int attempt_lp(const struct pl_problem *pb, const struct pl_sol *seed, struct pl_sol *out)
{
    struct pl_weights W;
    int r = pl_weights_make(pb, 1, 1, 0, 0, 0, &W);
    if (r < 0)
        return r;
    pl_sol_copy(pb, out, seed);
    r = pl_lp_round(pb, pb->lp, W.v, out);
    if (r >= 0)
        r = dive(pb, W.v, out);
    if (r == 0)
        r = greedy(pb, W.v, out, pb->nlevels);
    if (r == 0)
        r = repair(pb, &W, out);
    if (r == 0)
        r = improve(pb, out);
    if (r == 0)
        r = improve_eject(pb, out);
    pl_weights_free(&W);
    return r;
}

/*
 * The heuristic. When everything fits, priorities do not constrain the packing and every
 * weight run packs all items; the best result wins. Otherwise the tiered mode finds, by
 * binary search, how many priority levels fit completely, packs those with the greedy, and
 * inserts the lower levels item by item into what is left: a higher-priority item is never
 * displaced by a lower one, because the lower ones only get what remains.
 */
int pl_heuristic(const struct pl_problem *pb, struct pl_sol *sol)
{
    struct pl_sol seed = {0}, cand = {0}, best = {0};
    bool have = false;
    int r, lo = 0, hi = pb->nlevels;
    if ((r = pl_sol_new(pb, &seed)) < 0 || (r = pl_sol_new(pb, &cand)) < 0 ||
        (r = pl_sol_new(pb, &best)) < 0)
        goto out;
    pl_sol_copy(pb, &seed, sol);
    for (int run = 0; run < NRUNS && r == 0; run++)
        if ((r = attempt(pb, &seed, run, pb->nlevels, &cand)) == 0)
            r = keep_better(pb, &best, &have, &cand);
    if (r == 0 && pb->lp && pb->lp->ok && (r = attempt_lp(pb, &seed, &cand)) == 0)
        r = keep_better(pb, &best, &have, &cand);
    if (r < 0 || all_placed(pb, &best, pb->nlevels))
        goto out;
    while (r == 0 && hi - lo > 1) { /* levels < lo fit; levels < hi do not */
        int mid = (lo + hi) / 2;
        pl_sol_copy(pb, &cand, &seed);
        if ((r = attempt(pb, &seed, 0, mid, &cand)) == 0 && all_placed(pb, &cand, mid))
            lo = mid;
        else
            hi = mid;
    }
    for (int run = 0; run < NRUNS && r == 0; run++)
        if ((r = attempt(pb, &seed, run, lo, &cand)) == 0)
            r = keep_better(pb, &best, &have, &cand);
    if (r == 0 && (r = attempt_spread(pb, &seed, lo, &cand)) == 0)
        r = keep_better(pb, &best, &have, &cand);
    if (r == 0) {
        struct pl_weights W;
        if ((r = pl_weights_make(pb, 1, 1, 0, 0, 0, &W)) == 0) {
            priority_repair(pb, &W, &best);
            pl_weights_free(&W);
        }
    }
out:
    if (r == 0)
        pl_sol_copy(pb, sol, &best);
    pl_sol_free(&seed);
    pl_sol_free(&cand);
    pl_sol_free(&best);
    return r;
}
