/*
 * planner-exact.c - exhaustive search for small fleets: proves the GPU count (and the
 * replicas placed per priority level) optimal, or finds a better plan than the heuristic's.
 *
 * Depth-first over the items, highest priority and largest first. Each item goes to one GPU
 * or, last, to none. What keeps the search small:
 *   - GPUs of one model holding the same multiset are interchangeable: only the first is
 *     tried (so an item opens at most one unused GPU per model);
 *   - items of one type are interchangeable: they take GPUs in non-decreasing fleet order,
 *     and once one is left out the rest of its type are too;
 *   - bounds: a branch is cut when even placing every remaining item cannot beat the best
 *     plan's placed counts, or, when it must place all of them to tie, when a weight bound
 *     (planner-model.c) shows it needs at least as many GPUs as the best plan.
 * The heuristic's plan is the starting incumbent, so the search only has to prove it or
 * beat it. A node budget bounds the time; when it runs out the answer is "not proven".
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "planner-internal.h"

#define EPS 1e-9
/* Weight vectors used for cutting: the few strongest on the whole instance. More cost time
 * at every node and rarely cut more. */
#define NW 4

/* The memo of explored subtrees: GPU multisets at type boundaries (see search()). Fleets
 * above MEMO_MAX_GPUS are searched without it; MEMO_SLOTS keys take 2^18 * 68 bytes at most
 * (17 MiB), and a full table stops remembering rather than growing. */
#define MEMO_MAX_GPUS 16
#define MEMO_SLOTS    (1u << 18)

struct exact {
    const struct pl_problem *pb;
    int n;           /* items */
    int *order;      /* search order of items */
    int *assign;     /* [n]: GPU of order[i], -1 when left out */
    uint32_t *state; /* [ngpus] */
    int *placed;     /* [nlevels] */
    int *rest;       /* [(n + 1) * nlevels]: items of each level at positions >= i */
    struct pl_weights W[NW];
    double *suffix; /* [NW * (n + 1)]: least weight of the items at positions >= i */
    double wplaced[NW];
    int used;
    long nodes, limit;
    bool aborted;
    struct pl_sol *best;
    struct pl_score best_score;
    int skipped;    /* items left out on the current path */
    int lb;         /* a lower bound on GPUs for every item: reaching it ends the search */
    bool done;      /* the incumbent places everything on lb GPUs: nothing can beat it */
    int keylen;     /* words per memo key: position, then one per GPU */
    uint32_t *memo; /* MEMO_SLOTS keys; a zero first word marks an empty slot */
    unsigned memo_used;
};

/* Chooses the NW weight vectors with the largest total over all items. */
static int pick_weights(struct exact *E)
{
    const struct pl_problem *pb = E->pb;
    double top[NW] = {0};
    int nw = pl_weights_count(pb), have = 0;
    for (int k = 0; k < nw; k++) {
        struct pl_weights w;
        double total = 0;
        int slot = -1;
        if (pl_weights_nth(pb, k, &w) < 0)
            return -ENOMEM;
        for (int i = 0; i < pb->nitems; i++)
            total += w.v[pb->item_type[i]];
        if (have < NW)
            slot = have++;
        else
            for (int s = 0; s < NW; s++)
                if (total > top[s] + EPS && (slot < 0 || top[s] < top[slot]))
                    slot = s;
        if (slot < 0) {
            pl_weights_free(&w);
            continue;
        }
        if (E->W[slot].v)
            pl_weights_free(&E->W[slot]);
        E->W[slot] = w;
        top[slot] = total;
    }
    return have == NW ? 0 : -EINVAL;
}

/* Search order: priority level, then size (first weight vector) descending, types kept
 * together. */
static void sort_items(struct exact *E)
{
    const struct pl_problem *pb = E->pb;
    const double *v = E->W[0].v;
    for (int i = 0; i < E->n; i++)
        E->order[i] = i;
    for (int a = 1; a < E->n; a++)
        for (int b = a; b > 0; b--) {
            int x = pb->item_type[E->order[b]], y = pb->item_type[E->order[b - 1]];
            const struct pl_type *tx = &pb->types[x], *ty = &pb->types[y];
            bool before =
                tx->level < ty->level ||
                (tx->level == ty->level && (v[x] > v[y] + EPS || (v[x] > v[y] - EPS && x < y)));
            if (!before)
                break;
            int t = E->order[b];
            E->order[b] = E->order[b - 1];
            E->order[b - 1] = t;
        }
}

static int exact_init(struct exact *E, const struct pl_problem *pb, struct pl_sol *best, long limit)
{
    size_t n = (size_t)pb->nitems, L = (size_t)pb->nlevels;
    memset(E, 0, sizeof(*E));
    E->pb = pb;
    E->n = pb->nitems;
    E->best = best;
    E->limit = limit;
    E->order = mk__malloc((n + 1) * sizeof(int));
    E->assign = mk__malloc((n + 1) * sizeof(int));
    E->state = mk__calloc((size_t)pb->ngpus + 1, sizeof(uint32_t));
    E->placed = mk__calloc(L + 1, sizeof(int));
    E->rest = mk__calloc((n + 1) * (L + 1), sizeof(int));
    E->suffix = mk__calloc(NW * (n + 1), sizeof(double));
    if (!E->order || !E->assign || !E->state || !E->placed || !E->rest || !E->suffix ||
        pick_weights(E) < 0 || pl_score_new(pb, best, &E->best_score) < 0)
        return -ENOMEM;
    if (pb->ngpus <= MEMO_MAX_GPUS) {
        E->keylen = 1 + pb->ngpus;
        if (!(E->memo = mk__calloc((size_t)MEMO_SLOTS * (size_t)E->keylen, sizeof(uint32_t))))
            return -ENOMEM;
    }
    sort_items(E);
    for (int i = E->n - 1; i >= 0; i--) {
        int t = pb->item_type[E->order[i]];
        memcpy(&E->rest[(size_t)i * L], &E->rest[(size_t)(i + 1) * L], L * sizeof(int));
        E->rest[(size_t)i * L + (size_t)pb->types[t].level]++;
        for (int w = 0; w < NW; w++)
            E->suffix[w * (E->n + 1) + i] = E->suffix[w * (E->n + 1) + i + 1] + E->W[w].v[t];
    }
    return 0;
}

static void exact_free(struct exact *E)
{
    mk__free(E->order);
    mk__free(E->assign);
    mk__free(E->state);
    mk__free(E->placed);
    mk__free(E->rest);
    mk__free(E->suffix);
    for (int w = 0; w < NW; w++)
        pl_weights_free(&E->W[w]);
    pl_score_free(&E->best_score);
    mk__free(E->memo);
}

/*
 * Remembers the node at position i; returns true when an equal node was seen before. A node
 * is its position and the multiset of (model, GPU multiset) over the fleet: GPUs of one model
 * are interchangeable, so two nodes with equal keys have the same completions. Only nodes at
 * a type boundary with nothing left out qualify: there the search below depends on nothing
 * else (no order constraint from an identical previous item, no placed counts but i).
 */
static bool memo_seen(struct exact *E, int i)
{
    uint32_t key[1 + MEMO_MAX_GPUS], h = 2166136261u;
    int n = E->pb->ngpus;
    key[0] = (uint32_t)i + 1;
    for (int g = 0; g < n; g++) { /* sorted (model, state) words: insertion sort, n <= 16 */
        uint32_t w = ((uint32_t)E->pb->gpu_model[g] << 24) | E->state[g];
        int k = g;
        for (; k > 0 && key[k] > w; k--)
            key[k + 1] = key[k];
        key[k + 1] = w;
    }
    for (int k = 0; k < E->keylen; k++)
        h = (h ^ key[k]) * 16777619u; /* FNV-1a over the words */
    for (unsigned probe = 0; probe < MEMO_SLOTS; probe++) {
        uint32_t *slot = &E->memo[(size_t)((h + probe) & (MEMO_SLOTS - 1)) * (size_t)E->keylen];
        if (slot[0] == 0) {
            if (E->memo_used * 4 < MEMO_SLOTS * 3) { /* keep a quarter free for probing */
                memcpy(slot, key, (size_t)E->keylen * sizeof(uint32_t));
                E->memo_used++;
            }
            return false;
        }
        if (memcmp(slot, key, (size_t)E->keylen * sizeof(uint32_t)) == 0)
            return true;
    }
    return false;
}

/* A complete assignment: keep it when it beats the best. */
static void leaf(struct exact *E)
{
    const struct pl_problem *pb = E->pb;
    struct pl_score s = {.placed = E->placed, .used = E->used};
    if (pl_score_cmp(pb, &s, &E->best_score) >= 0)
        return;
    memcpy(E->best_score.placed, E->placed, (size_t)pb->nlevels * sizeof(int));
    E->best_score.used = E->used;
    for (int i = 0; i < E->n; i++)
        E->best->item_gpu[E->order[i]] = E->assign[i];
    memcpy(E->best->state, E->state, (size_t)pb->ngpus * sizeof(uint32_t));
    E->done = E->used <= E->lb && E->skipped == 0;
}

/* True when no completion of position i can beat the best plan. */
static bool cut(const struct exact *E, int i)
{
    const struct pl_problem *pb = E->pb;
    const int *rest = &E->rest[(size_t)i * (size_t)pb->nlevels];
    for (int l = 0; l < pb->nlevels; l++) {
        int opt = E->placed[l] + rest[l];
        if (opt != E->best_score.placed[l])
            return opt < E->best_score.placed[l];
    }
    /* A tie on placements at best: everything left must be placed, on fewer GPUs. */
    if (E->used >= E->best_score.used)
        return true;
    for (int w = 0; w < NW; w++)
        if ((int)ceil(E->wplaced[w] + E->suffix[w * (E->n + 1) + i] - EPS) >= E->best_score.used)
            return true;
    return false;
}

/* True when GPU g is interchangeable with an earlier candidate (same model, same multiset)
 * at or after `from`. */
static bool twin_before(const struct exact *E, int g, int from)
{
    for (int h = from; h < g; h++)
        if (E->pb->gpu_model[h] == E->pb->gpu_model[g] && E->state[h] == E->state[g])
            return true;
    return false;
}

static void search(struct exact *E, int i);

/* Places position i's item on GPU g (new multiset ns) and searches on. */
static void branch(struct exact *E, int i, int g, uint32_t ns, int level)
{
    const struct pl_problem *pb = E->pb;
    int mi = pb->gpu_model[g], j = pb->types[pb->item_type[E->order[i]]].prof[mi];
    uint32_t old = E->state[g];
    E->used += old == 0;
    E->state[g] = ns;
    E->assign[i] = g;
    E->placed[level]++;
    for (int w = 0; w < NW; w++)
        E->wplaced[w] += E->W[w].w[mi][j];
    search(E, i + 1);
    for (int w = 0; w < NW; w++)
        E->wplaced[w] -= E->W[w].w[mi][j];
    E->placed[level]--;
    E->state[g] = old;
    E->used -= old == 0;
}

static void search(struct exact *E, int i)
{
    const struct pl_problem *pb = E->pb;
    int t, prev = -1;
    bool same;
    if (E->done || E->aborted)
        return;
    if (++E->nodes > E->limit) {
        E->aborted = true;
        return;
    }
    if (i == E->n) {
        leaf(E);
        return;
    }
    if (cut(E, i))
        return;
    t = pb->item_type[E->order[i]];
    same = i > 0 && pb->item_type[E->order[i - 1]] == t;
    if (same)
        prev = E->assign[i - 1];
    if (E->memo && !same && E->skipped == 0 && memo_seen(E, i))
        return;
    /* GPUs in use first (they fill up; a new GPU is the costly choice), then unused ones */
    for (int pass = 0; pass < 2 && (!same || prev >= 0); pass++)
        for (int g = same ? prev : 0; g < pb->ngpus; g++) {
            int mi = pb->gpu_model[g];
            int64_t ns;
            if ((E->state[g] == 0) != (pass == 1) || pb->types[t].prof[mi] == PL_NONE ||
                (ns = pl_add(&pb->models[mi], E->state[g], pb->types[t].prof[mi])) < 0 ||
                twin_before(E, g, same ? prev : 0))
                continue;
            branch(E, i, g, (uint32_t)ns, pb->types[t].level);
        }
    E->assign[i] = -1;
    E->skipped++;
    search(E, i + 1);
    E->skipped--;
}

int pl_exact(const struct pl_problem *pb, struct pl_sol *best, int lb, long node_limit,
             long *ret_nodes)
{
    struct exact E;
    int r = exact_init(&E, pb, best, node_limit);
    E.lb = lb;
    if (r == 0) {
        int placed = 0;
        for (int l = 0; l < pb->nlevels; l++)
            placed += E.best_score.placed[l];
        E.done = placed == pb->nitems && E.best_score.used <= lb;
        search(&E, 0);
    }
    *ret_nodes = E.nodes;
    if (r == 0)
        r = E.aborted ? 0 : 1;
    exact_free(&E);
    return r;
}

/* ---- the configuration search ---- */

/*
 * Branch and bound on the configuration LP (planner-lp.c): exact for the GPU count of a plan
 * that places given counts of items, whatever the fleet size, within a budget of LP effort. The
 * item search above branches on single items and drowns in symmetric choices once a fleet has more
 * than a handful of GPUs; this one branches on what the LP decides:
 *   - a model's GPU count, when the LP uses a fractional number of its GPUs: at least the
 *     next integer, or at most the one below (the nearer one first);
 *   - else a multiset the LP uses fractionally: one free GPU of its model fixed to it
 *     (first), or the multiset banned from the model's free GPUs.
 * Both branchings split the plans of a node in two, so the search is complete. A node whose
 * certified bound reaches the best plan known is cut; a node whose LP is integral is a plan
 * (the items are matched to the GIs by a max flow, which also checks the LP's solution
 * exactly). The bound of the search is the least bound over the nodes it left open.
 * Children differ from their node by right-hand sides or one ban, so their LPs start from
 * the node's optimum (a snapshot per depth, the dual simplex) and take a few pivots.
 */

#define CFG_INF 0x3fffffff
/* Tolerance of integrality of the LP's values (its values are exact to about 1e-12). */
#define CFG_INT_EPS 1e-6

struct cfg {
    const struct pl_problem *pb;
    const int *counts;
    struct pl_lp_work *w;
    struct pl_lp_node nd;
    uint8_t *banned;
    int nx;                      /* x columns */
    int xoff[PL_MAX_MODELS + 1]; /* model mi's x columns: [xoff[mi], xoff[mi + 1]) */
    int fixed;                   /* GPUs fixed */
    int depth;                   /* branchings on the path to the node */
    int *fix_k;                  /* [ngpus]: x column of each fixed GPU */
    int best;                    /* GPUs of the best plan known */
    struct pl_sol *out, tmp;     /* the best plan found; scratch for the next */
    bool found, aborted;
    long lps;
    long long limit; /* effort the LPs may take */
    int err;
    /* scratch of accept(): */
    int *gpu_k; /* [ngpus]: x column given to each GPU, or -1 */
    int *rem;   /* [ngpus * PL_MAX_PLAIN]: GIs of each profile still free */
    int nfl;    /* flow graph: nodes source, groups, (model, profile) pairs, sink */
    int *head, *enext, *eto, *ecap, *prev, *queue;
    int nedges;
};

/* The model of x column c. */
static int x_model(const struct cfg *C, int c)
{
    int mi = 0;
    while (c >= C->xoff[mi + 1])
        mi++;
    return mi;
}

static void flow_edge(struct cfg *C, int a, int b, int cap)
{
    C->eto[C->nedges] = b;
    C->ecap[C->nedges] = cap;
    C->enext[C->nedges] = C->head[a];
    C->head[a] = C->nedges++;
    C->eto[C->nedges] = a;
    C->ecap[C->nedges] = 0;
    C->enext[C->nedges] = C->head[b];
    C->head[b] = C->nedges++;
}

/* Max flow from node 0 to node nfl - 1 (Edmonds-Karp: shortest augmenting paths). */
static long flow_run(struct cfg *C)
{
    long total = 0;
    int sink = C->nfl - 1;
    for (;;) {
        int qh = 0, qt = 0, bottleneck = CFG_INF;
        for (int v = 0; v < C->nfl; v++)
            C->prev[v] = -1;
        C->queue[qt++] = 0;
        C->prev[0] = -2;
        while (qh < qt && C->prev[sink] == -1) {
            int v = C->queue[qh++];
            for (int e = C->head[v]; e >= 0; e = C->enext[e])
                if (C->ecap[e] > 0 && C->prev[C->eto[e]] == -1) {
                    C->prev[C->eto[e]] = e;
                    C->queue[qt++] = C->eto[e];
                }
        }
        if (C->prev[sink] == -1)
            return total;
        for (int v = sink; v != 0; v = C->eto[C->prev[v] ^ 1])
            bottleneck = C->ecap[C->prev[v]] < bottleneck ? C->ecap[C->prev[v]] : bottleneck;
        for (int v = sink; v != 0; v = C->eto[C->prev[v] ^ 1]) {
            C->ecap[C->prev[v]] -= bottleneck;
            C->ecap[C->prev[v] ^ 1] += bottleneck;
        }
        total += bottleneck;
    }
}

/*
 * An integral node: the fixed GPUs and round(x) GPUs of each multiset. Gives the multisets to
 * the fleet's GPUs of their models and matches the items to their GIs by a max flow (groups
 * to (model, profile) pairs). Returns true when every item found a GI: then the plan has
 * `value` GPUs at most, and is written to C->out.
 */
static bool accept(struct cfg *C, const struct pl_lp_sol *s)
{
    const struct pl_problem *pb = C->pb;
    int next[PL_MAX_MODELS] = {0}, nmod = pb->nmodels, npairs = nmod * PL_MAX_PLAIN;
    int cursor[PL_MAX_MODELS][PL_MAX_PLAIN] = {{0}}; /* GPUs before it have no free GI left */
    long need = 0;
    for (int g = 0; g < pb->ngpus; g++)
        C->gpu_k[g] = -1;
    /* multisets to GPUs: the fixed ones, then the LP's, each model's GPUs in fleet order */
    for (int f = 0; f < C->fixed + C->nx; f++) {
        int k = f < C->fixed ? C->fix_k[f] : f - C->fixed, mi = x_model(C, k), g;
        int n = f < C->fixed ? 1 : (int)floor(s->x[k] + 0.5);
        for (; n > 0; n--) {
            for (g = next[mi]; g < pb->ngpus && (pb->gpu_model[g] != mi || C->gpu_k[g] >= 0); g++)
                ;
            if (g == pb->ngpus)
                return false; /* more GPUs than the model has: cannot happen (caps) */
            next[mi] = g + 1;
            C->gpu_k[g] = k;
        }
    }
    /* the flow network */
    C->nfl = 1 + s->ngroups + npairs + 1;
    C->nedges = 0;
    for (int v = 0; v < C->nfl; v++)
        C->head[v] = -1;
    for (int g = 0; g < pb->ngpus; g++) {
        int mi = pb->gpu_model[g], k = C->gpu_k[g];
        const struct pl_model *pm = &pb->models[mi];
        for (int j = 0; j < PL_MAX_PLAIN; j++)
            C->rem[g * PL_MAX_PLAIN + j] =
                k >= 0 && j < pm->n ? pm->maxcnt[(k - C->xoff[mi]) * pm->n + j] : 0;
    }
    for (int mi = 0; mi < nmod; mi++)
        for (int j = 0; j < pb->models[mi].n; j++) {
            int sup = 0;
            for (int g = 0; g < pb->ngpus; g++)
                sup += pb->gpu_model[g] == mi ? C->rem[g * PL_MAX_PLAIN + j] : 0;
            if (sup > 0)
                flow_edge(C, 1 + s->ngroups + mi * PL_MAX_PLAIN + j, C->nfl - 1, sup);
        }
    for (int grp = 0; grp < s->ngroups; grp++) {
        int d = 0, t0 = -1;
        for (int t = 0; t < pb->ntypes; t++)
            if (s->type_group[t] == grp) {
                d += C->counts[t];
                t0 = t0 < 0 ? t : t0;
            }
        if (d == 0)
            continue;
        need += d;
        flow_edge(C, 0, 1 + grp, d);
        for (int mi = 0; mi < nmod; mi++)
            if (pb->types[t0].prof[mi] != PL_NONE)
                flow_edge(C, 1 + grp, 1 + s->ngroups + mi * PL_MAX_PLAIN + pb->types[t0].prof[mi],
                          d);
    }
    if (flow_run(C) < need)
        return false;
    if (!C->out)
        return true;
    /* the items: each group's flow to each model, on that model's GPUs with free GIs */
    for (int i = 0; i < pb->nitems; i++)
        C->tmp.item_gpu[i] = -1;
    memset(C->tmp.state, 0, (size_t)pb->ngpus * sizeof(uint32_t));
    for (int t = 0; t < pb->ntypes; t++) {
        int grp = s->type_group[t];
        for (int i = pb->types[t].first; i < pb->types[t].first + C->counts[t]; i++) {
            int e, mi = 0, j = PL_NONE, g;
            for (e = C->head[1 + grp]; e >= 0; e = C->enext[e]) /* an edge with flow left */
                if (!(e & 1) && C->ecap[e ^ 1] > 0)
                    break;
            if (e < 0)
                return false; /* cannot happen: the flow carries every item */
            C->ecap[e ^ 1]--;
            mi = (C->eto[e] - 1 - s->ngroups) / PL_MAX_PLAIN;
            j = (C->eto[e] - 1 - s->ngroups) % PL_MAX_PLAIN;
            for (g = cursor[mi][j]; g < pb->ngpus; g++)
                if (pb->gpu_model[g] == mi && C->rem[g * PL_MAX_PLAIN + j] > 0)
                    break;
            if (g == pb->ngpus)
                return false; /* cannot happen: the pair's flow is at most its GIs */
            cursor[mi][j] = g;
            C->rem[g * PL_MAX_PLAIN + j]--;
            C->tmp.item_gpu[i] = g;
            C->tmp.state[g] += pb->models[mi].stride[j];
        }
    }
    pl_sol_copy(pb, C->out, &C->tmp);
    return true;
}

static bool fractional(double v)
{
    return fabs(v - floor(v + 0.5)) > CFG_INT_EPS;
}

static int cfg_node(struct cfg *C, int parent);

/* Saves the LP's state at the node being branched on, so that its second branch starts warm
 * (a failure only costs a cold start there); enters the next depth. Returns the slot, or -1. */
static int save(struct cfg *C)
{
    int slot = C->depth++;
    return slot < PL_LP_SLOTS && pl_lp_work_save(C->w, slot) == 0 ? slot : -1;
}

static void restore(struct cfg *C, int slot)
{
    pl_lp_work_restore(C->w, slot);
}

/* The branch on model mi's count of free GPUs: at least lo + 1 (up), or at most lo. */
static int count_branch(struct cfg *C, int nb, int mi, int lo, bool up)
{
    int *v = up ? &C->nd.mins[mi] : &C->nd.caps[mi], keep = *v, r;
    *v = up ? lo + 1 : lo;
    r = cfg_node(C, nb);
    *v = keep;
    return r;
}

/* The branch that fixes one free GPU of model mi to multiset `col`. */
static int fix_branch(struct cfg *C, int nb, int mi, int col)
{
    const struct pl_model *pm = &C->pb->models[mi];
    const uint8_t *cnt = &pm->maxcnt[(col - C->xoff[mi]) * pm->n];
    int keep_min = C->nd.mins[mi], r;
    if (C->nd.caps[mi] <= 0)
        return CFG_INF; /* no free GPU of the model: no plan in this branch */
    C->fix_k[C->fixed++] = col;
    C->nd.caps[mi]--;
    C->nd.mins[mi] = keep_min > 0 ? keep_min - 1 : 0;
    for (int j = 0; j < pm->n; j++)
        C->nd.supply[mi][j] += cnt[j];
    r = cfg_node(C, nb);
    for (int j = 0; j < pm->n; j++)
        C->nd.supply[mi][j] -= cnt[j];
    C->nd.mins[mi] = keep_min;
    C->nd.caps[mi]++;
    C->fixed--;
    return r;
}

/* The branch that bans multiset `col` from the free GPUs of its model. */
static int ban_branch(struct cfg *C, int nb, int col)
{
    int r;
    C->banned[col] = 1;
    r = cfg_node(C, nb);
    C->banned[col] = 0;
    return r;
}

/* Searches the current node; parent is its parent's bound. Returns a lower bound on the GPUs
 * of the node's plans (CFG_INF: none), or one at least C->best when it was cut. */
static int cfg_node(struct cfg *C, int parent)
{
    const struct pl_problem *pb = C->pb;
    struct pl_lp_sol s;
    double tot[PL_MAX_MODELS] = {0}, frac = 0;
    int nb, a, b, mi = -1, col = -1, r;
    if (parent >= C->best || C->err)
        return parent;
    if (pl_lp_work_effort(C->w) >= C->limit) {
        C->aborted = true;
        return parent;
    }
    C->lps++;
    if ((r = pl_lp_work_solve(pb, C->w, &C->nd, &s)) < 0) {
        C->err = r;
        return parent;
    }
    if (s.infeasible)
        return CFG_INF;
    if (!s.ok) { /* the simplex gave up: nothing known below the parent */
        C->aborted = true;
        return parent;
    }
    nb = C->fixed + s.bound > parent ? C->fixed + s.bound : parent;
    if (nb >= C->best) {
        pl_lp_sol_free(&s);
        return nb;
    }
    for (int c = 0; c < C->nx; c++)
        tot[x_model(C, c)] += s.x[c];
    for (int m = 0; m < pb->nmodels; m++) /* the model count with the largest fraction */
        if (fractional(tot[m]) && tot[m] - floor(tot[m]) > frac) {
            frac = tot[m] - floor(tot[m]);
            mi = m;
        }
    if (mi >= 0) {
        int lo = (int)floor(tot[mi]), slot = save(C);
        bool up = frac >= 0.5; /* the nearer integer first */
        pl_lp_sol_free(&s);
        a = count_branch(C, nb, mi, lo, up);
        restore(C, slot);
        b = count_branch(C, nb, mi, lo, !up);
        C->depth--;
        return a < b ? (a > nb ? a : nb) : (b > nb ? b : nb);
    }
    for (int c = 0; c < C->nx; c++) /* the multiset with the largest fraction */
        if (fractional(s.x[c]) && s.x[c] - floor(s.x[c]) > frac) {
            frac = s.x[c] - floor(s.x[c]);
            col = c;
        }
    if (col < 0) { /* integral: a plan */
        int value = C->fixed;
        for (int c = 0; c < C->nx; c++)
            value += (int)floor(s.x[c] + 0.5);
        if (value < C->best && accept(C, &s)) {
            C->best = value;
            C->found = true;
        } else if (value < C->best) {
            C->aborted = true; /* the LP's solution did not check out: leave the node open */
        }
        pl_lp_sol_free(&s);
        return nb;
    }
    mi = x_model(C, col);
    pl_lp_sol_free(&s);
    {
        int slot = save(C);
        a = fix_branch(C, nb, mi, col);
        restore(C, slot);
        b = ban_branch(C, nb, col);
        C->depth--;
    }
    return a < b ? (a > nb ? a : nb) : (b > nb ? b : nb);
}

static void cfg_free(struct cfg *C)
{
    pl_lp_work_free(C->w);
    pl_sol_free(&C->tmp);
    mk__free(C->banned);
    mk__free(C->fix_k);
    mk__free(C->gpu_k);
    mk__free(C->rem);
    mk__free(C->head);
    mk__free(C->enext);
    mk__free(C->eto);
    mk__free(C->ecap);
    mk__free(C->prev);
    mk__free(C->queue);
}

int pl_cfg_search(const struct pl_problem *pb, const int *counts, int incumbent, long long effort,
                  struct pl_sol *out, struct pl_cfg_result *res)
{
    struct cfg C;
    size_t ng = (size_t)pb->ngpus + 1,
           nodes = (size_t)pb->ntypes + 2 + PL_MAX_MODELS * PL_MAX_PLAIN;
    size_t edges =
        2 * ((size_t)pb->ntypes * (size_t)(pb->nmodels + 1) + PL_MAX_MODELS * PL_MAX_PLAIN) + 2;
    int r = 0, root;
    memset(&C, 0, sizeof(C));
    memset(res, 0, sizeof(*res));
    C.pb = pb;
    C.counts = counts;
    C.best = incumbent;
    C.out = out;
    C.limit = effort;
    for (int mi = 0; mi < pb->nmodels; mi++)
        C.xoff[mi + 1] = C.xoff[mi] + pb->models[mi].nmax;
    C.nx = C.xoff[pb->nmodels];
    for (int g = 0; g < pb->ngpus; g++)
        C.nd.caps[pb->gpu_model[g]]++;
    C.banned = mk__calloc((size_t)C.nx + 1, 1);
    C.fix_k = mk__calloc(ng, sizeof(int));
    C.gpu_k = mk__calloc(ng, sizeof(int));
    C.rem = mk__calloc(ng * PL_MAX_PLAIN, sizeof(int));
    C.head = mk__calloc(nodes, sizeof(int));
    C.prev = mk__calloc(nodes, sizeof(int));
    C.queue = mk__calloc(nodes, sizeof(int));
    C.enext = mk__calloc(edges, sizeof(int));
    C.eto = mk__calloc(edges, sizeof(int));
    C.ecap = mk__calloc(edges, sizeof(int));
    if (!C.banned || !C.fix_k || !C.gpu_k || !C.rem || !C.head || !C.prev || !C.queue || !C.enext ||
        !C.eto || !C.ecap || (out && pl_sol_new(pb, &C.tmp) < 0) ||
        (r = pl_lp_work_new(pb, counts, true, &C.w)) < 0) {
        cfg_free(&C);
        return -ENOMEM;
    }
    C.nd.banned = C.banned;
    root = cfg_node(&C, 0);
    cfg_free(&C);
    if (C.err)
        return C.err;
    res->bound = root < C.best ? root : C.best;
    res->found = C.found;
    res->complete = !C.aborted;
    res->lps = C.lps;
    return 0;
}
