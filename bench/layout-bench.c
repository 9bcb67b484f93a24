/*
 * layout-bench.c - migkit's minimal-disruption planner (src/core/layout.c) against the
 * clear-and-recreate strategy of nvidia-mig-parted, on simulated multi-GPU machines.
 *
 * For each model, a machine of G GPUs (default 8) goes through N random configuration
 * transitions (default 1000). A configuration gives every GPU a spec, as a mig-parted label
 * does: the GPUs are split into 1 to 3 groups of consecutive indices, each group gets a random
 * target (MIG off one time in ten; otherwise the MIG devices of a random valid layout, each
 * device with its default CI mostly and another CI profile the GI offers one time in eight).
 * With -p P, transitions draw from a fixed pool of P such configurations instead, as an
 * operator switching between the labels of one file does.
 *
 * Per transition and summed over the machine's GPUs, it counts:
 *   - migkit: the operations of mk_layout_plan() and the disrupted GPU instances (destroyed,
 *     or kept with their CIs replaced);
 *   - clear-and-recreate (mig-parted's SetMigConfig): a GPU whose config already matches is
 *     skipped; any other GPU has every CI and GI destroyed, then everything created. Its
 *     disrupted instances are all the GIs of such a GPU. MIG mode changes count one
 *     operation for both (mig-parted additionally resets GPUs for them; not counted).
 * It times mk_layout_plan() per GPU, and carrying out the operations on the in-memory
 * geometry per transition (both strategies), with clock_gettime(CLOCK_MONOTONIC).
 *
 * Both strategies start each transition from the same state (migkit's result). That is exact
 * for clear-and-recreate: after any apply each GI holds one CI, so its counts depend only on
 * the multiset of devices, which both strategies produce alike.
 *
 * Output: markdown tables on stdout. Deterministic for a given seed (timings aside).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migkit/layout.h"

/* Upper bound of -g: a large HGX/DGX machine has 8 GPUs, 16 leaves room. */
#define MAX_GPUS 16

static const char *const default_models[] = {
    "h100-sxm5-80gb", "a100-sxm4-40gb", "a30-24gb", "rtx-pro-6000-96gb", "b200-180gb",
};

/* xorshift64: fixed seed, same transitions on every run and machine. */
static uint64_t rng_state;

static int rnd_below(int n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int)(rng_state % (uint64_t)n);
}

/* The random stream of one model: the seed mixed with the slug (FNV-1a, then the splitmix64
 * finaliser), so a model's transitions do not depend on which other models run. Never 0,
 * which would stall xorshift. */
static uint64_t model_seed(uint64_t seed, const char *slug)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (const char *c = slug; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

struct config {
    struct mk_layout_spec spec[MAX_GPUS];
};

static void die(const char *what, const struct mk_error *err)
{
    fprintf(stderr, "layout-bench: %s%s%s\n", what, err ? ": " : "", err ? mk_strerror(err) : "");
    exit(1);
}

/* Adds one MIG device to s, merged with an identical want. */
static void spec_put(struct mk_layout_spec *s, const struct mk_gi_profile *p, int ci)
{
    for (int w = 0; w < s->nwant; w++)
        if (s->want[w].profile == p && s->want[w].ci_profile == ci) {
            s->want[w].count++;
            return;
        }
    s->want[s->nwant++] = (struct mk_layout_want){.profile = p, .ci_profile = ci, .count = 1};
}

/* A random target for one GPU of model m: MIG off one time in ten, otherwise the devices
 * of a random valid layout (random profiles at random placements until 4 x max_gis
 * attempts are spent, which fills most GPUs). */
static void random_spec(struct mk_layout_spec *s, const struct mk_model *m)
{
    static struct mk_gpu g;
    memset(s, 0, sizeof(*s));
    if (rnd_below(10) == 0)
        return;
    s->mig_enabled = true;
    mk_gpu_init(&g, m, 0);
    mk_gpu_set_mig(&g, true);
    for (int t = 0; t < 4 * m->max_gis; t++) {
        const struct mk_gi_profile *p = &m->profiles[rnd_below(m->nprofiles)];
        (void)mk_gpu_gi_create(&g, p, p->starts[rnd_below(p->nstarts)], NULL);
    }
    for (int i = 0; i < g.ngi; i++) {
        const struct mk_gi_profile *p = g.gi[i].profile;
        int ci = rnd_below(8) == 0 ? p->ci[rnd_below(p->nci)] : p->ci_default;
        spec_put(s, p, ci);
    }
}

/* A random machine configuration: 1 to 3 groups of consecutive GPUs, one spec each. */
static void random_config(struct config *c, const struct mk_model *m, int ngpus)
{
    int ngroups = 1 + rnd_below(ngpus < 3 ? ngpus : 3), first = 0;
    for (int k = 0; k < ngroups; k++) {
        int left = ngpus - first, groups_left = ngroups - k;
        int size = groups_left == 1 ? left : 1 + rnd_below(left - groups_left + 1);
        random_spec(&c->spec[first], m);
        for (int i = first + 1; i < first + size; i++)
            c->spec[i] = c->spec[first];
        first += size;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Carries out one planned operation on g; the plan must be executable as it stands. */
static void apply_op(struct mk_gpu *g, const struct mk_op *op)
{
    int r = 0;
    switch (op->kind) {
    case MK_OP_DESTROY_CI:
        r = mk_gpu_ci_destroy(g, op->gi_id, op->ci_id);
        break;
    case MK_OP_DESTROY_GI:
        r = mk_gpu_gi_destroy(g, op->gi_id);
        break;
    case MK_OP_SET_MIG:
        r = mk_gpu_set_mig(g, op->mig_enabled);
        break;
    case MK_OP_CREATE_GI:
        r = mk_gpu_gi_create(g, op->profile, op->start, NULL);
        break;
    case MK_OP_CREATE_CI:
        r = mk_gpu_ci_create(g, op->gi_id, op->ci_profile, "(new)", NULL);
        break;
    }
    if (r < 0)
        die("a planned operation failed", NULL);
}

/*
 * Clear-and-recreate on g towards target (the layout migkit reached, so the GIs and CIs
 * created are the same multiset mig-parted would create): nothing when g already matches
 * spec; otherwise destroy every CI and GI, change the MIG mode if needed, create every GI
 * and its CI. Returns the operations done; *ret_disrupted gets the GIs destroyed.
 */
static int clear_and_recreate(struct mk_gpu *g, const struct mk_gpu *target,
                              const struct mk_layout_spec *spec, int *ret_disrupted)
{
    int ops = 0;
    *ret_disrupted = 0;
    if (mk_layout_matches(g, spec))
        return 0;
    *ret_disrupted = g->ngi;
    while (g->ngi > 0) {
        struct mk_gi *gi = &g->gi[g->ngi - 1];
        while (gi->nci > 0) {
            if (mk_gpu_ci_destroy(g, gi->id, gi->ci[gi->nci - 1].id) < 0)
                die("clear: destroying a CI failed", NULL);
            ops++;
        }
        if (mk_gpu_gi_destroy(g, gi->id) < 0)
            die("clear: destroying a GI failed", NULL);
        ops++;
    }
    if (g->mig_enabled != target->mig_enabled) {
        mk_gpu_set_mig(g, target->mig_enabled);
        ops++;
    }
    for (int i = 0; i < target->ngi; i++) {
        const struct mk_gi *gi = &target->gi[i];
        int id;
        if (mk_gpu_gi_create(g, gi->profile, gi->start, &id) < 0)
            die("recreate: creating a GI failed", NULL);
        ops++;
        for (int c = 0; c < gi->nci; c++, ops++)
            if (mk_gpu_ci_create(g, id, gi->ci[c].profile_id, "(new)", NULL) < 0)
                die("recreate: creating a CI failed", NULL);
    }
    return ops;
}

/* Per-transition samples of one model's run. */
struct samples {
    int n;
    double *mk_ops, *cr_ops, *mk_dis, *cr_dis, *kept;
    double *mk_apply_us, *cr_apply_us; /* per transition */
    int nplan;
    double *plan_us; /* per GPU plan */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return n ? s / n : 0;
}

/* 95th percentile by nearest rank: the smallest value with at least 95% of the samples at
 * or below it. Sorts v. */
static double p95(double *v, int n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    int rank = (95 * n + 99) / 100;
    return v[rank - 1];
}

/*
 * Runs one model: a warm-up transition from MIG off (not counted), then n transitions, each
 * to a fresh random configuration (pool == 0) or to a different one of a pool of random
 * configurations. Fills st (arrays of n transitions and n * ngpus plans).
 */
static void run_model(const struct mk_model *m, int n, int ngpus, int pool, struct samples *st)
{
    static struct mk_gpu gpus[MAX_GPUS], work;
    static struct mk_layout_plan plan;
    static struct config cfg;
    struct config *pool_cfg = NULL;
    struct mk_error err = {0};
    int cur_cfg = -1;

    if (pool > 0) {
        pool_cfg = mk__calloc((size_t)pool, sizeof(*pool_cfg));
        if (!pool_cfg)
            die("out of memory", NULL);
        for (int k = 0; k < pool; k++)
            random_config(&pool_cfg[k], m, ngpus);
    }
    for (int i = 0; i < ngpus; i++)
        mk_gpu_init(&gpus[i], m, i);
    for (int t = -1; t < n; t++) {
        double mk_ops = 0, cr_ops = 0, mk_dis = 0, cr_dis = 0, kept = 0;
        uint64_t mk_apply = 0, cr_apply = 0;
        if (pool > 0) {
            int next = rnd_below(pool);
            if (pool > 1 && next == cur_cfg)
                next = (next + 1 + rnd_below(pool - 1)) % pool;
            cfg = pool_cfg[next];
            cur_cfg = next;
        } else {
            random_config(&cfg, m, ngpus);
        }
        for (int i = 0; i < ngpus; i++) {
            uint64_t t0 = now_ns(), t1;
            int dis;
            if (mk_layout_plan(&gpus[i], &cfg.spec[i], false, &plan, &err) < 0)
                die("mk_layout_plan", &err);
            t1 = now_ns();
            if (!plan.feasible)
                die(plan.why, NULL);
            if (t >= 0)
                st->plan_us[st->nplan++] = (double)(t1 - t0) / 1e3;

            work = gpus[i];
            t0 = now_ns();
            cr_ops += clear_and_recreate(&work, &plan.target, &cfg.spec[i], &dis);
            cr_apply += now_ns() - t0;
            cr_dis += dis;

            t0 = now_ns();
            for (int k = 0; k < plan.nops; k++)
                apply_op(&gpus[i], &plan.ops[k]);
            mk_apply += now_ns() - t0;
            if (!mk_layout_matches(&gpus[i], &cfg.spec[i]))
                die("the plan did not reach its spec", NULL);
            mk_ops += plan.nops;
            mk_dis += plan.destroyed + plan.reused;
            kept += plan.kept;
        }
        if (t < 0)
            continue;
        st->mk_ops[t] = mk_ops;
        st->cr_ops[t] = cr_ops;
        st->mk_dis[t] = mk_dis;
        st->cr_dis[t] = cr_dis;
        st->kept[t] = kept;
        st->mk_apply_us[t] = (double)mk_apply / 1e3;
        st->cr_apply_us[t] = (double)cr_apply / 1e3;
    }
    st->n = n;
    mk__free(pool_cfg);
}

static double *samples_array(size_t n)
{
    double *v = mk__calloc(n ? n : 1, sizeof(double));
    if (!v)
        die("out of memory", NULL);
    return v;
}

static void samples_free(struct samples *st)
{
    double **all[] = {&st->mk_ops, &st->cr_ops,      &st->mk_dis,      &st->cr_dis,
                      &st->kept,   &st->mk_apply_us, &st->cr_apply_us, &st->plan_us};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        mk__free(*all[i]);
        *all[i] = NULL;
    }
}

/* One row of each table, kept until all models ran so the tables print whole. */
struct row {
    const char *slug;
    double mk_ops, mk_ops95, cr_ops, cr_ops95, mk_dis, mk_dis95, cr_dis, cr_dis95, kept;
    double plan, plan95, plan_max, mk_apply, mk_apply95, cr_apply, cr_apply95;
};

static void summarise(struct samples *st, const char *slug, struct row *r)
{
    int n = st->n;
    r->slug = slug;
    r->mk_ops = mean(st->mk_ops, n), r->mk_ops95 = p95(st->mk_ops, n);
    r->cr_ops = mean(st->cr_ops, n), r->cr_ops95 = p95(st->cr_ops, n);
    r->mk_dis = mean(st->mk_dis, n), r->mk_dis95 = p95(st->mk_dis, n);
    r->cr_dis = mean(st->cr_dis, n), r->cr_dis95 = p95(st->cr_dis, n);
    r->kept = mean(st->kept, n);
    r->plan = mean(st->plan_us, st->nplan), r->plan95 = p95(st->plan_us, st->nplan);
    r->plan_max = st->nplan ? st->plan_us[st->nplan - 1] : 0; /* sorted by p95() */
    r->mk_apply = mean(st->mk_apply_us, n), r->mk_apply95 = p95(st->mk_apply_us, n);
    r->cr_apply = mean(st->cr_apply_us, n), r->cr_apply95 = p95(st->cr_apply_us, n);
}

static void print_tables(const struct row *rows, int nrows)
{
    printf("\nOperations and disrupted GPU instances per transition of the whole machine "
           "(migkit / clear-and-recreate):\n\n");
    printf("| model | ops mean | ops p95 | disrupted GIs mean | disrupted GIs p95 "
           "| GIs kept mean (migkit) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        printf("| %s | %.1f / %.1f | %.0f / %.0f | %.2f / %.2f | %.0f / %.0f | %.2f |\n", r->slug,
               r->mk_ops, r->cr_ops, r->mk_ops95, r->cr_ops95, r->mk_dis, r->cr_dis, r->mk_dis95,
               r->cr_dis95, r->kept);
    }
    printf("\nTimes in microseconds: planning one GPU (mk_layout_plan), and carrying out one "
           "transition's operations on the in-memory geometry:\n\n");
    printf("| model | plan/GPU mean | plan/GPU p95 | plan/GPU max | apply migkit mean "
           "| apply migkit p95 | apply clear-and-recreate mean | apply clear-and-recreate "
           "p95 |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        printf("| %s | %.2f | %.2f | %.1f | %.2f | %.2f | %.2f | %.2f |\n", r->slug, r->plan,
               r->plan95, r->plan_max, r->mk_apply, r->mk_apply95, r->cr_apply, r->cr_apply95);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: layout-bench [-s SEED] [-n TRANSITIONS] [-g GPUS] [-p POOL] "
            "[-m MODEL]...\n"
            "  -s SEED         random seed (default 1)\n"
            "  -n TRANSITIONS  transitions per model (default 1000)\n"
            "  -g GPUS         GPUs per machine, 1..%d (default 8)\n"
            "  -p POOL         draw targets from a pool of POOL configurations "
            "(default 0: a fresh random one each time)\n"
            "  -m MODEL        catalog slug, repeatable (default: h100-sxm5-80gb "
            "a100-sxm4-40gb a30-24gb rtx-pro-6000-96gb b200-180gb)\n",
            MAX_GPUS);
}

/* Parses a decimal option value in [lo, hi]; exits with usage on anything else. */
static unsigned long parse_num(const char *s, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "layout-bench: bad number '%s' (%lu..%lu)\n", s, lo, hi);
        usage(stderr);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct mk_catalog *cat;
    struct mk_error err = {0};
    const char *models[32];
    const struct mk_model *found[32];
    int nmodels = 0, n = 1000, ngpus = 8, pool = 0, opt;
    uint64_t seed = 1;
    struct row rows[32];
    uint64_t start = now_ns();

    while ((opt = getopt(argc, argv, "s:n:g:p:m:h")) != -1) {
        switch (opt) {
        case 's':
            seed = parse_num(optarg, 0, ~0ul);
            break;
        case 'n':
            n = (int)parse_num(optarg, 1, 1000000);
            break;
        case 'g':
            ngpus = (int)parse_num(optarg, 1, MAX_GPUS);
            break;
        case 'p':
            pool = (int)parse_num(optarg, 0, 100000);
            break;
        case 'm':
            if (nmodels == (int)(sizeof(models) / sizeof(models[0])))
                die("too many -m", NULL);
            models[nmodels++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (nmodels == 0)
        for (size_t i = 0; i < sizeof(default_models) / sizeof(default_models[0]); i++)
            models[nmodels++] = default_models[i];
    if (mk_catalog_new(&cat, &err) < 0)
        die("mk_catalog_new", &err);
    for (int k = 0; k < nmodels; k++)
        if (!(found[k] = mk_catalog_find(cat, models[k]))) {
            fprintf(stderr, "layout-bench: no model '%s' in the catalog\n", models[k]);
            return 2;
        }

    printf("layout-bench: seed %llu, %d transitions per model, %d GPUs per machine, targets: ",
           (unsigned long long)seed, n, ngpus);
    if (pool > 0)
        printf("a pool of %d random configurations\n", pool);
    else
        printf("a fresh random configuration each time\n");
    for (int k = 0; k < nmodels; k++) {
        const struct mk_model *m = found[k];
        struct samples st = {0};
        rng_state = model_seed(seed, m->slug);
        st.mk_ops = samples_array((size_t)n), st.cr_ops = samples_array((size_t)n);
        st.mk_dis = samples_array((size_t)n), st.cr_dis = samples_array((size_t)n);
        st.kept = samples_array((size_t)n);
        st.mk_apply_us = samples_array((size_t)n), st.cr_apply_us = samples_array((size_t)n);
        st.plan_us = samples_array((size_t)n * (size_t)ngpus);
        run_model(m, n, ngpus, pool, &st);
        summarise(&st, m->slug, &rows[k]);
        samples_free(&st);
    }
    print_tables(rows, nmodels);
    printf("\nWall time of the whole run: %.2f s\n", (double)(now_ns() - start) / 1e9);
    mk_catalog_free(cat);
    return 0;
}
