/*
 * planner-bench.c - the fleet planner on generated fleets: plan time, GPUs used against the
 * lower bound, replicas placed (bench/README.md, "Planner").
 *
 * Usage: planner-bench [-s SEED] [-r RUNS] [-n SIZE[,SIZE...]] [-w WORKLOADS_PER_GPU]
 *                      [-m planted|saturated] [-v] [-x NODES]
 *
 * Two kinds of instance, both over mixed fleets (H100 SXM5 80GB, A100 80GB, H200, A100 40GB,
 * A30, RTX PRO 6000 in fixed shares):
 *
 *   planted (default): on 90% of the GPUs a random maximal MIG layout is drawn with the
 *     geometry (small profiles more likely), and each of its GIs becomes a replica whose
 *     memory makes that profile the smallest fit on that model (with a compute minimum where
 *     a same-memory profile with fewer slices exists). Replicas of one (model, profile) are
 *     grouped into workloads of 1-3 replicas; priorities are 0-3 at random, and 10% of the
 *     workloads may run only on their planted model. A plan with the planted GPU count
 *     exists, so everything fits, and GPUs used / lower bound measures the plan.
 *   saturated: exactly W replicas per GPU (default 7, so 7N for N GPUs) of random sizes
 *     (mostly small models: 60% 1-8 GiB, 25% 8-16, 10% 16-35, 5% 35-70); this is more
 *     than the fleet holds, so it measures placement under priorities and speed.
 *
 * Time is the wall time of mk_plan_new() (building the tables, planning, the bound and every
 * GPU's layout), on the calling thread, and that thread's CPU time: run it pinned to one core
 * (taskset -c 0). -v prints every run; -x N plans in MK_PLAN_EXACT mode with N search nodes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migkit/planner.h"

/* Fleet shares in percent, and the models. */
static const struct {
    const char *slug;
    int share;
} mix[] = {
    {"h100-sxm5-80gb", 30}, {"a100-sxm4-80gb", 20}, {"h200-141gb", 15},
    {"a100-sxm4-40gb", 15}, {"a30-24gb", 10},       {"rtx-pro-6000-96gb", 10},
};
#define NMIX ((int)(sizeof(mix) / sizeof(mix[0])))
/* Share of GPUs that get a planted layout (percent), and of workloads restricted to their
 * planted model. */
#define PLANTED_PCT  90
#define RESTRICT_PCT 10
#define MAX_PRIORITY 3
#define MAX_GROUP    3
#define HEADROOM_PPM MK_PLAN_DEFAULT_HEADROOM_PPM

static uint64_t rng_state;

/* xorshift64*: deterministic across platforms for a given seed. */
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static int rnd_below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0; /* 2^53 */
}

static const struct mk_model *pick_model(const struct mk_catalog *cat)
{
    int x = rnd_below(100), acc = 0;
    for (int i = 0; i < NMIX; i++) {
        acc += mix[i].share;
        if (x < acc)
            return mk_catalog_find(cat, mix[i].slug);
    }
    return mk_catalog_find(cat, mix[0].slug);
}

struct instance {
    int ngpus;
    struct mk_gpu *gpus;
    int nw, cap;
    struct mk_plan_workload *w;
    int planted; /* GPUs with a planted layout (0 for saturated) */
    int replicas;
};

static struct mk_plan_workload *add_workload(struct instance *in)
{
    if (in->nw == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 1024;
        in->w = realloc(in->w, (size_t)in->cap * sizeof(*in->w));
        if (!in->w) {
            perror("realloc");
            exit(1);
        }
    }
    memset(&in->w[in->nw], 0, sizeof(in->w[0]));
    snprintf(in->w[in->nw].name, MK_NAME_LEN, "w%d", in->nw);
    in->w[in->nw].priority = rnd_below(MAX_PRIORITY + 1);
    return &in->w[in->nw++];
}

/* A random maximal layout of g's model: plain profiles drawn with weight 1/slices^2 at a
 * random free placement, until none fits. Returns the number of GIs. */
static int random_layout(struct mk_gpu *g)
{
    const struct mk_model *m = g->model;
    for (;;) {
        double total = 0, x;
        int cand[MK_MAX_GI_PROFILES], n = 0, k;
        for (int i = 0; i < m->nprofiles; i++)
            if (mk_plan_profile_is_plain(&m->profiles[i]) &&
                mk_gpu_gi_check(g, &m->profiles[i], -1) == 0)
                cand[n++] = i;
        if (n == 0)
            return g->ngi;
        for (k = 0; k < n; k++)
            total += 1.0 / (m->profiles[cand[k]].mem_slices * m->profiles[cand[k]].mem_slices);
        x = rnd_unit() * total;
        for (k = 0; k < n - 1; k++) {
            x -= 1.0 / (m->profiles[cand[k]].mem_slices * m->profiles[cand[k]].mem_slices);
            if (x < 0)
                break;
        }
        const struct mk_gi_profile *p = &m->profiles[cand[k]];
        int starts[MK_MAX_STARTS], ns = 0;
        for (int s = 0; s < p->nstarts; s++)
            if (mk_gpu_gi_check(g, p, p->starts[s]) == 0)
                starts[ns++] = p->starts[s];
        mk_gpu_gi_create(g, p, starts[rnd_below(ns)], NULL);
    }
}

/* Memory (and compute) for which p is the smallest fit on m. */
static void size_for(const struct mk_model *m, const struct mk_gi_profile *p,
                     struct mk_plan_workload *w)
{
    uint32_t below = 0;
    for (int i = 0; i < m->nprofiles; i++) {
        const struct mk_gi_profile *q = &m->profiles[i];
        if (!mk_plan_profile_is_plain(q))
            continue;
        if (q->memory_mib < p->memory_mib && q->memory_mib > below)
            below = q->memory_mib;
        if (q->memory_mib == p->memory_mib && q->compute_slices < p->compute_slices)
            w->compute_slices = p->compute_slices;
    }
    /* need in (below, p] MiB, memory = need / 1.2, rounded down to a MiB */
    double need = below + 1 + rnd_unit() * (p->memory_mib - below - 1);
    w->memory_bytes = (uint64_t)(need / 1.2) * MK_PLAN_MIB;
    snprintf(w->memory_text, sizeof(w->memory_text), "%lluMiB",
             (unsigned long long)(w->memory_bytes / MK_PLAN_MIB));
}

static void gen_planted(const struct mk_catalog *cat, int n, struct instance *in)
{
    struct mk_gpu *scratch = malloc(sizeof(*scratch));
    for (int g = 0; g < n; g++) {
        mk_gpu_init(&in->gpus[g], pick_model(cat), g);
        in->gpus[g].mig_enabled = true;
    }
    for (int g = 0; g < n; g++) {
        if (rnd_below(100) >= PLANTED_PCT)
            continue;
        in->planted++;
        *scratch = in->gpus[g];
        random_layout(scratch);
        for (int i = 0; i < scratch->ngi;) {
            const struct mk_gi_profile *p = scratch->gi[i].profile;
            struct mk_plan_workload *w = add_workload(in);
            int group = 1 + rnd_below(MAX_GROUP);
            size_for(scratch->model, p, w);
            if (rnd_below(100) < RESTRICT_PCT) {
                w->nallowed = 1;
                w->allowed[0] = scratch->model;
            }
            w->replicas = 0;
            for (; i < scratch->ngi && group > 0 && scratch->gi[i].profile == p; i++, group--)
                w->replicas++;
            in->replicas += w->replicas;
        }
    }
    free(scratch);
}

/* Memory of a saturated-mode workload, mostly small models. */
static uint64_t random_memory(void)
{
    int x = rnd_below(100);
    double lo = x < 60 ? 1 : x < 85 ? 8 : x < 95 ? 16 : 35;
    double hi = x < 60 ? 8 : x < 85 ? 16 : x < 95 ? 35 : 70;
    return (uint64_t)((lo + rnd_unit() * (hi - lo)) * 1024) * MK_PLAN_MIB;
}

static void gen_saturated(const struct mk_catalog *cat, int n, int per_gpu, struct instance *in)
{
    for (int g = 0; g < n; g++) {
        mk_gpu_init(&in->gpus[g], pick_model(cat), g);
        in->gpus[g].mig_enabled = true;
    }
    while (in->replicas < per_gpu * n) {
        struct mk_plan_workload *w = add_workload(in);
        w->memory_bytes = random_memory();
        w->replicas = 1 + rnd_below(MAX_GROUP);
        if (in->replicas + w->replicas > per_gpu * n)
            w->replicas = per_gpu * n - in->replicas;
        if (rnd_below(100) < RESTRICT_PCT) {
            w->nallowed = 1;
            w->allowed[0] = pick_model(cat);
        }
        in->replicas += w->replicas;
    }
}

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Aggregates over the runs of one size. */
struct agg {
    double ratio_sum, ratio_max, lp_ratio_sum, ms_sum, ms_max, cpu_sum, cpu_max, used_sum,
        bound_sum;
    double planted_sum, placed_sum, replicas_sum, workloads_sum;
    int optimal, exact;
};

static long exact_nodes; /* -x: exhaustive search with this node budget */

static int run_one(const struct mk_catalog *cat, int n, bool saturated, int per_gpu, bool verbose,
                   struct agg *a)
{
    struct instance in = {.ngpus = n, .gpus = calloc((size_t)n, sizeof(struct mk_gpu))};
    struct mk_plan_request req;
    struct mk_plan *plan;
    struct mk_error err = {0};
    double t0, c0, ms, cpu, ratio;
    if (saturated)
        gen_saturated(cat, n, per_gpu, &in);
    else
        gen_planted(cat, n, &in);
    req = (struct mk_plan_request){.workloads = in.w,
                                   .nworkloads = in.nw,
                                   .gpus = in.gpus,
                                   .ngpus = n,
                                   .headroom_ppm = HEADROOM_PPM};
    if (exact_nodes > 0) {
        req.mode = MK_PLAN_EXACT;
        req.exact_node_limit = exact_nodes;
    }
    t0 = clock_ms(CLOCK_MONOTONIC);
    c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    if (mk_plan_new(&req, &plan, &err) < 0) {
        fprintf(stderr, "mk_plan_new: %s\n", mk_strerror(&err));
        return -1;
    }
    cpu = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    ms = clock_ms(CLOCK_MONOTONIC) - t0;
    ratio = plan->lower_bound ? (double)plan->gpus_used / plan->lower_bound : 1.0;
    if (verbose)
        printf("  n=%d workloads=%d replicas=%d placed=%d used=%d bound=%d planted=%d "
               "ratio=%.4f %.2f ms (cpu %.2f) heuristic=%d lp-bound=%d config-bound=%d "
               "config-lps=%ld%s\n",
               n, in.nw, plan->replicas, plan->placed, plan->gpus_used, plan->lower_bound,
               in.planted, ratio, ms, cpu, plan->heuristic_gpus, plan->relaxation_bound,
               plan->config_bound, plan->config_lps, plan->exact_done ? " (exact)" : "");
    a->ratio_sum += ratio;
    a->lp_ratio_sum +=
        plan->relaxation_bound ? (double)plan->gpus_used / plan->relaxation_bound : 1.0;
    a->workloads_sum += in.nw;
    a->ratio_max = ratio > a->ratio_max ? ratio : a->ratio_max;
    a->ms_sum += ms;
    a->ms_max = ms > a->ms_max ? ms : a->ms_max;
    a->cpu_sum += cpu;
    a->cpu_max = cpu > a->cpu_max ? cpu : a->cpu_max;
    a->used_sum += plan->gpus_used;
    a->bound_sum += plan->lower_bound;
    a->planted_sum += in.planted;
    a->placed_sum += plan->placed;
    a->replicas_sum += plan->replicas;
    a->optimal += mk_plan_is_optimal(plan);
    a->exact += plan->exact_done;
    mk_plan_free(plan);
    free(in.gpus);
    free(in.w);
    return 0;
}

int main(int argc, char **argv)
{
    const char *sizes = "10,100,1000", *mode = "planted";
    int runs = 10, per_gpu = 7, c;
    bool verbose = false, saturated;
    struct mk_catalog *cat;
    struct mk_error err = {0};
    uint64_t seed = 1;
    while ((c = getopt(argc, argv, "s:r:n:w:m:vx:")) != -1) {
        switch (c) {
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'n':
            sizes = optarg;
            break;
        case 'w':
            per_gpu = atoi(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'x':
            exact_nodes = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: planner-bench [-s SEED] [-r RUNS] [-n SIZES] [-w PER_GPU] "
                            "[-m planted|saturated] [-v] [-x NODES]\n");
            return 2;
        }
    }
    saturated = strcmp(mode, "saturated") == 0;
    if (mk_catalog_new(&cat, &err) < 0) {
        fprintf(stderr, "catalog: %s\n", mk_strerror(&err));
        return 1;
    }
    printf("mode %s, seed %llu, %d runs per size, headroom 20%%; means over the runs\n\n", mode,
           (unsigned long long)seed, runs);
    printf("| GPUs | workloads | replicas | placed | %sGPUs used | lower bound | used / bound "
           "| (max) | used / LP bound | proven optimal | time ms | (max) | CPU ms | (max) |\n",
           saturated ? "" : "planted GPUs | ");
    printf("|---:|---:|---:|---:|%s---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           saturated ? "" : "---:|");
    for (const char *s = sizes; *s;) {
        int n = atoi(s);
        struct agg a = {0};
        rng_state = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)(unsigned)n;
        for (int r = 0; r < runs; r++)
            if (run_one(cat, n, saturated, per_gpu, verbose, &a) < 0)
                return 1;
        char planted[32] = "";
        if (!saturated)
            snprintf(planted, sizeof(planted), "%.1f | ", a.planted_sum / runs);
        printf("| %d | %.1f | %.1f | %.1f | %s%.1f | %.1f | %.4f | %.4f | %.4f | %d/%d | %.2f | "
               "%.2f | %.2f | %.2f |\n",
               n, a.workloads_sum / runs, a.replicas_sum / runs, a.placed_sum / runs, planted,
               a.used_sum / runs, a.bound_sum / runs, a.ratio_sum / runs, a.ratio_max,
               a.lp_ratio_sum / runs, a.optimal, runs, a.ms_sum / runs, a.ms_max, a.cpu_sum / runs,
               a.cpu_max);
        s = strchr(s, ',') ? strchr(s, ',') + 1 : s + strlen(s);
    }
    mk_catalog_free(cat);
    return 0;
}
