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
