/*
 * test-planner.c - unit tests of the fleet planner (src/core/planner*.c): input parsing with
 * positioned errors, sizes and headroom, profile choice, the validity of every plan against
 * the geometry, the priority rule, reasons for replicas left out, the current layout, the
 * configuration it emits, allocation failures, the heuristic against the exhaustive
 * search on random small fleets (fixed seed), which also checks that the lower bounds never
 * exceed a proven optimum, and planted fleets of 10-16 GPUs for the configuration search.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "migkit/layout.h"
#include "migkit/planner.h"

/* ---- helpers ---- */

static struct mk_plan_input *parse_ok(const char *text, const char *origin, unsigned flags)
{
    struct mk_plan_input *in = NULL;
    struct mk_error err = {0};
    if (mk_plan_input_parse(text, strlen(text), origin, cat, flags, &in, &err) < 0)
        fail_msg("parse failed: %s", mk_strerror(&err));
    return in;
}

static void parse_fails(const char *text, const char *origin, unsigned flags, const char *msg)
{
    struct mk_plan_input *in = NULL;
    struct mk_error err = {0};
    int r = mk_plan_input_parse(text, strlen(text), origin, cat, flags, &in, &err);
    if (r != -EINVAL)
        fail_msg("expected -EINVAL for:\n%s\ngot %d (%s)", text, r, mk_strerror(&err));
    assert_null(in);
    assert_string_equal(mk_strerror(&err), msg);
}

/* A fleet of empty GPUs with MIG on: n GPUs of the given slugs, cycled. */
static struct mk_gpu *fleet(int n, const char *const *slugs, int nslugs)
{
    struct mk_gpu *g = test_calloc((size_t)n, sizeof(*g));
    for (int i = 0; i < n; i++) {
        mk_gpu_init(&g[i], model(slugs[i % nslugs]), i);
        g[i].mig_enabled = true;
    }
    return g;
}

static struct mk_plan_workload wl(const char *name, uint64_t mib, int replicas, int priority)
{
    struct mk_plan_workload w = {
        .memory_bytes = mib * MK_PLAN_MIB, .replicas = replicas, .priority = priority};
    snprintf(w.name, sizeof(w.name), "%s", name);
    snprintf(w.memory_text, sizeof(w.memory_text), "%lluMiB", (unsigned long long)mib);
    return w;
}

static struct mk_plan *plan_ok(const struct mk_plan_workload *w, int nw, const struct mk_gpu *g,
                               int ng, enum mk_plan_mode mode)
{
    struct mk_plan_request req = {.workloads = w,
                                  .nworkloads = nw,
                                  .gpus = g,
                                  .ngpus = ng,
                                  .headroom_ppm = MK_PLAN_DEFAULT_HEADROOM_PPM,
                                  .mode = mode};
    struct mk_plan *p = NULL;
    struct mk_error err = {0};
    if (mk_plan_new(&req, &p, &err) < 0)
        fail_msg("mk_plan_new: %s", mk_strerror(&err));
    return p;
}

/*
 * Checks everything a plan promises: valid target layouts (geometry), one GI per placed
 * replica of a profile that covers its need and compute, the GPU counts, and a configuration
 * that reads back with one entry per GPU.
 */
static void check_plan(const struct mk_plan *p, const struct mk_plan_workload *w)
{
    int used = 0, placed = 0;
    for (int g = 0; g < p->ngpus; g++) {
        struct mk_error err = {0};
        const struct mk_plan_gpu *pg = &p->gpus[g];
        int replicas = 0;
        if (mk_gpu_validate(&pg->target, &err) < 0)
            fail_msg("GPU %d: %s", g, mk_strerror(&err));
        for (int a = 0; a < p->nassign; a++)
            replicas += p->assign[a].gpu == g;
        assert_int_equal(replicas, pg->replicas);
        assert_int_equal(pg->target.ngi, replicas);
        assert_int_equal(pg->used, replicas > 0);
        used += pg->used;
        for (int i = 0; i < pg->target.ngi; i++) { /* each GI serves exactly one replica */
            int n = 0;
            for (int a = 0; a < p->nassign; a++)
                n += p->assign[a].gpu == g && p->assign[a].gi_id == pg->target.gi[i].id;
            assert_int_equal(n, 1);
        }
    }
    for (int a = 0; a < p->nassign; a++) {
        const struct mk_plan_assignment *as = &p->assign[a];
        const struct mk_plan_workload *x = &w[as->workload];
        if (as->gpu < 0) {
            assert_int_not_equal(as->reason, MK_PLAN_REASON_NONE);
            assert_true(strlen(as->why) > 0);
            continue;
        }
        placed++;
        assert_true(mk_plan_profile_is_plain(as->profile));
        assert_true((uint64_t)as->profile->memory_mib * MK_PLAN_MIB >= as->need_bytes);
        assert_true(as->profile->compute_slices >= x->compute_slices);
        assert_true(as->profile->sms >= x->compute_sms);
        assert_ptr_equal(as->profile,
                         mk_plan_profile_for(p->gpus[as->gpu].target.model, x, p->headroom_ppm));
        assert_non_null(mk_gpu_gi_find_const(&p->gpus[as->gpu].target, as->gi_id));
    }
    assert_int_equal(placed, p->placed);
    assert_int_equal(used, p->gpus_used);
    assert_true(p->gpus_used >= p->lower_bound || p->placed == 0);
    assert_true(p->lower_bound >= p->relaxation_bound);
    if (p->ngpus <= MK_CONFIG_MAX_DEVICES) {
        struct mk_config *cfg = NULL, *back = NULL;
        struct mk_error err = {0};
        char *yaml;
        assert_int_equal(mk_plan_to_config(p, "plan", &cfg, &err), 0);
        assert_int_equal(cfg->labels[0].nentries, p->ngpus);
        yaml = mk_config_emit_yaml(cfg, NULL);
        assert_non_null(yaml);
        assert_int_equal(mk_config_parse(yaml, strlen(yaml), "plan", &back, &err), 0);
        assert_true(mk_config_equal(cfg, back));
        free(yaml);
        mk_config_free(cfg);
        mk_config_free(back);
    }
}

/* ---- sizes and headroom ---- */

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        int r;
        uint64_t bytes;
    } cases[] = {
        {"18GiB", 0, 18ull << 30},   {"7.5 GB", 0, 7500000000ull},
        {"512MiB", 0, 512ull << 20}, {"1MB", 0, 1000000},
        {"0.5GiB", 0, 1ull << 29},   {"1.000000001GB", 0, 1000000001},
        {"0.1MiB", 0, 104858}, /* 104857.6 bytes, rounded up */
        {"1024GiB", 0, 1ull << 40},  {"1025GiB", -EOVERFLOW, 0},
        {"-4GiB", -ERANGE, 0},       {"18GiBx", -EINVAL, 0},
        {"18", -EINVAL, 0},          {"GiB", -EINVAL, 0},
        {"1.GiB", -EINVAL, 0},       {"1.0000000001GB", -EINVAL, 0}, /* more than 9 decimals */
        {"2TiB", -EINVAL, 0},        {"18gib", -EINVAL, 0},
        {"--4GiB", -EINVAL, 0},      {"", -EINVAL, 0},
    };
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(cases); i++) {
        uint64_t b = 0;
        int r = mk_plan_parse_size(cases[i].text, &b);
        if (r != cases[i].r || (r == 0 && b != cases[i].bytes))
            fail_msg("%s: got %d, %llu bytes", cases[i].text, r, (unsigned long long)b);
    }
}

static void test_parse_headroom(void **state)
{
    static const struct {
        const char *text;
        int r;
        uint32_t ppm;
    } cases[] = {
        {"0.2", 0, 200000},        {"20%", 0, 200000},   {"0", 0, 0},          {"10", 0, 10000000},
        {"0.000001", 0, 1},        {"12.5%", 0, 125000}, {"10.5", -EINVAL, 0}, {"-0.1", -EINVAL, 0},
        {"0.1234567", -EINVAL, 0}, {"abc", -EINVAL, 0},  {"", -EINVAL, 0},     {"20%%", -EINVAL, 0},
    };
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(cases); i++) {
        uint32_t ppm = 0;
        int r = mk_plan_parse_headroom(cases[i].text, &ppm);
        if (r != cases[i].r || (r == 0 && ppm != cases[i].ppm))
            fail_msg("%s: got %d, %u ppm", cases[i].text, r, ppm);
    }
}

/* ---- input files ---- */

#define W MK_PLAN_INPUT_WORKLOADS

static void test_input_errors(void **state)
{
    static const struct {
        const char *origin, *text, *msg;
        unsigned flags;
    } cases[] = {
        {"w.yaml", "workloads:\n  - {name: a, memory: 18GiB, color: red}\n",
         "w.yaml:2:30: found unknown key \"color\"; expected one of name, memory, replicas, "
         "priority, compute, models",
         W},
        {"w.yaml", "fleet:\n  - {model: h100, count: 2}\nworkloads:\n  - {name: a, memory: 1GiB}\n",
         "w.yaml:2:13: found unknown GPU model \"h100\"; expected a catalog slug such as "
         "h100-sxm5-80gb ('migctl gpus' lists them)",
         W},
        {"w.yaml",
         "workloads:\n  - name: a\n    memory: 1GiB\n    models: [h100-sxm5-80gb, a100]\n",
         "w.yaml:4:30: found unknown GPU model \"a100\"; expected a catalog slug such as "
         "h100-sxm5-80gb ('migctl gpus' lists them)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: -4GiB}\n",
         "w.yaml:2:23: found negative memory \"-4GiB\"; expected a size of at least 1 byte", W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 18GiBx}\n",
         "w.yaml:2:23: found \"18GiBx\"; expected a memory size such as 18GiB, 7.5GB or 512MiB "
         "(units GiB, GB, MiB, MB)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 2048GiB}\n",
         "w.yaml:2:23: found memory \"2048GiB\"; expected at most 1 TiB", W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, priority: high}\n",
         "w.yaml:2:39: found \"high\"; expected a priority (an integer from -1000000 to "
         "1000000)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, priority: \"3\"}\n",
         "w.yaml:2:39: found quoted \"3\"; expected a priority (an unquoted integer from "
         "-1000000 to 1000000)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, priority: 1.5}\n",
         "w.yaml:2:39: found \"1.5\"; expected a priority (an integer from -1000000 to 1000000)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, compute: 2x}\n",
         "w.yaml:2:38: found \"2x\"; expected a compute minimum: compute slices such as 2g "
         "(1-64), or an SM count (1-100000)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, compute: 0g}\n",
         "w.yaml:2:38: found \"0g\"; expected a compute minimum: compute slices such as 2g "
         "(1-64), or an SM count (1-100000)",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, replicas: 0}\n",
         "w.yaml:2:39: found \"0\"; expected a replica count (an integer from 1 to 70000)", W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, memory: 2GiB}\n",
         "w.yaml:2:29: found duplicate key \"memory\" (first at 2:15); expected each key once", W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB}\n  - {name: a, memory: 2GiB}\n",
         "w.yaml:3:5: found workload name \"a\" again (first at 2:5); expected each name once", W},
        {"w.yaml", "workloads: []\n",
         "w.yaml:1:12: found an empty list; expected a list of at least one workload", W},
        {"w.yaml", "fleet:\n  - {model: h100-sxm5-80gb}\n",
         "w.yaml:1:1: found no workloads; expected workloads: a list of {name, memory}", W},
        {"w.yaml", "workloads:\n  - {name: a}\n",
         "w.yaml:2:5: found workload a without memory; expected memory such as 18GiB", W},
        {"w.yaml", "headroom: 0.2.3\nworkloads:\n  - {name: a, memory: 1GiB}\n",
         "w.yaml:1:11: found \"0.2.3\"; expected a headroom from 0 to 10 such as 0.2 or 20%", W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB\n",
         "w.yaml:3:1: found invalid YAML (did not find expected ',' or '}'); expected "
         "well-formed YAML",
         W},
        {"w.yaml", "",
         "w.yaml:1:1: found an empty file; expected a mapping with workloads or "
         "fleet",
         W},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB}\n---\nfoo: 1\n",
         "w.yaml:3:1: found a second YAML document; expected one document per file", W},
        {"w.json", "{\"workloads\": [{\"name\": \"a\", \"memory\": \"1GiB\",}]}",
         "w.json:1:47: found invalid JSON (string or '}' expected near '}'); expected "
         "well-formed JSON",
         W},
        {"w.json", "{\n  \"workloads\": [\n    {\"name\": \"a\", \"memory\": \"-1GiB\"}\n  ]\n}\n",
         "w.json:3:29: found negative memory quoted \"-1GiB\"; expected a size of at least 1 "
         "byte",
         W},
        {"w.json",
         "{\"workloads\": [{\"name\": \"a\", \"memory\": \"1GiB\", \"priority\": \"1\"}]}",
         "w.json:1:60: found quoted \"1\"; expected a priority (an unquoted integer from "
         "-1000000 to 1000000)",
         W},
        {"f.yaml",
         "fleet:\n  - {model: a30-24gb, count: 2}\nworkloads:\n  - {name: a, memory: 1GiB}\n",
         "f.yaml:3:1: found unknown key \"workloads\"; expected one of fleet (this is a fleet "
         "file)",
         MK_PLAN_INPUT_FLEET_ONLY},
        {"f.yaml", "fleet:\n  - {model: a30-24gb, count: 0}\n",
         "f.yaml:2:30: found \"0\"; expected a GPU count (an integer from 1 to 100000)",
         MK_PLAN_INPUT_FLEET_ONLY},
        {"w.yaml", "workloads:\n  - {name: a, memory: 1GiB, models: [a30-24gb, a30-24gb]}\n",
         "w.yaml:2:48: found model a30-24gb twice; expected each model once", W},
        {"w.yaml", "- {name: a, memory: 1GiB}\n",
         "w.yaml:1:1: found a list; expected a mapping with workloads (and optionally fleet "
         "and headroom)",
         W},
    };
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(cases); i++)
        parse_fails(cases[i].text, cases[i].origin, cases[i].flags, cases[i].msg);
}

/* The same input as YAML and as JSON parses to the same workloads, defaults included. */
static void test_input_good(void **state)
{
    const char *yaml = "headroom: 25%\n"
                       "fleet:\n"
                       "  - {model: h100-sxm5-80gb, count: 4}\n"
                       "  - model: a30-24gb\n"
                       "workloads:\n"
                       "  - {name: llama-8b, memory: 18GiB, replicas: 2, priority: 10, "
                       "compute: 2g, models: [h100-sxm5-80gb]}\n"
                       "  - {name: tiny, memory: 512 MiB}\n"
                       "  - {name: sms, memory: 7.5GB, compute: 60, priority: -3}\n";
    const char *json = "{\"headroom\": 0.25, \"fleet\": [{\"model\": \"h100-sxm5-80gb\", "
                       "\"count\": 4}, {\"model\": \"a30-24gb\"}], \"workloads\": ["
                       "{\"name\": \"llama-8b\", \"memory\": \"18GiB\", \"replicas\": 2, "
                       "\"priority\": 10, \"compute\": \"2g\", \"models\": [\"h100-sxm5-80gb\"]},"
                       "{\"name\": \"tiny\", \"memory\": \"512 MiB\"},"
                       "{\"name\": \"sms\", \"memory\": \"7.5GB\", \"compute\": 60, "
                       "\"priority\": -3}]}";
    struct mk_plan_input *a = parse_ok(yaml, "w.yaml", W), *b = parse_ok(json, "w.txt", W);
    (void)state;
    for (int k = 0; k < 2; k++) {
        const struct mk_plan_input *in = k ? b : a;
        assert_true(in->has_headroom);
        assert_int_equal(in->headroom_ppm, 250000);
        assert_int_equal(in->nfleet, 2);
        assert_ptr_equal(in->fleet[0].model, model("h100-sxm5-80gb"));
        assert_int_equal(in->fleet[0].count, 4);
        assert_int_equal(in->fleet[1].count, 1);
        assert_int_equal(in->nworkloads, 3);
        assert_string_equal(in->workloads[0].name, "llama-8b");
        assert_int_equal(in->workloads[0].memory_bytes, 18ull << 30);
        assert_int_equal(in->workloads[0].replicas, 2);
        assert_int_equal(in->workloads[0].priority, 10);
        assert_int_equal(in->workloads[0].compute_slices, 2);
        assert_int_equal(in->workloads[0].nallowed, 1);
        assert_int_equal(in->workloads[1].memory_bytes, 512ull << 20);
        assert_int_equal(in->workloads[1].replicas, 1);
        assert_int_equal(in->workloads[1].priority, 0);
        assert_int_equal(in->workloads[1].nallowed, 0);
        assert_int_equal(in->workloads[2].compute_sms, 60);
        assert_int_equal(in->workloads[2].priority, -3);
        assert_int_equal(in->workloads[2].memory_bytes, 7500000000ull);
    }
    mk_plan_input_free(a);
    mk_plan_input_free(b);
    a = parse_ok("workloads:\n  - {name: x, memory: 1GiB}\n", "w.yaml", W);
    assert_false(a->has_headroom);
    assert_int_equal(a->headroom_ppm, MK_PLAN_DEFAULT_HEADROOM_PPM);
    assert_int_equal(a->nfleet, 0);
    mk_plan_input_free(a);
}

/* ---- profile choice ---- */

static void test_profile_choice(void **state)
{
    const struct mk_model *h100 = model("h100-sxm5-80gb"), *a40 = model("a100-sxm4-40gb");
    const struct mk_model *a30 = model("a30-24gb"), *rtx = model("rtx-pro-6000-96gb");
    static const struct {
        const char *slug;
        uint64_t mib;
        int slices, sms;
        uint32_t ppm;
        const char *want; /* NULL: none fits */
    } cases[] = {
        {"h100-sxm5-80gb", 8 * 1024, 0, 0, 200000, "1g.10gb"},
        {"h100-sxm5-80gb", 15 * 1024, 0, 0, 200000, "1g.20gb"}, /* 18 GiB: 1g.20gb, not 2g */
        {"h100-sxm5-80gb", 15 * 1024, 2, 0, 200000, "2g.20gb"}, /* compute 2g */
        {"h100-sxm5-80gb", 30 * 1024, 0, 0, 200000, "3g.40gb"},
        {"h100-sxm5-80gb", 30 * 1024, 4, 0, 200000, "4g.40gb"}, /* 4g: same memory as 3g */
        {"h100-sxm5-80gb", 5 * 1024, 0, 60, 200000, "3g.40gb"}, /* 60 SMs */
        {"h100-sxm5-80gb", 5 * 1024, 0, 61, 200000, "4g.40gb"},
        {"h100-sxm5-80gb", 70 * 1024, 0, 0, 200000, NULL}, /* 84 GiB > 7g.80gb */
        {"h100-sxm5-80gb", 66 * 1024, 0, 0, 200000, "7g.80gb"},
        {"h100-sxm5-80gb", 9984, 0, 0, 0, "1g.10gb"},          /* exactly the profile */
        {"h100-sxm5-80gb", 9984, 0, 0, 1, "1g.20gb"},          /* one ppm more */
        {"h100-sxm5-80gb", 1, 0, 200, 200000, NULL},           /* 200 SMs: none */
        {"a100-sxm4-40gb", 8 * 1024, 0, 0, 200000, "1g.10gb"}, /* the double-memory 1g */
        {"a100-sxm4-40gb", 3 * 1024, 0, 0, 200000, "1g.5gb"},
        {"a30-24gb", 4 * 1024, 0, 0, 200000, "1g.6gb"},
        {"a30-24gb", 5 * 1024, 0, 0, 200000, "2g.12gb"},           /* 6 GiB > 5.81 */
        {"rtx-pro-6000-96gb", 10 * 1024, 0, 0, 200000, "1g.24gb"}, /* never +gfx/-me/+me */
    };
    (void)state;
    (void)h100, (void)a40, (void)a30, (void)rtx;
    for (size_t i = 0; i < MK_ELEMENTSOF(cases); i++) {
        struct mk_plan_workload w = wl("w", cases[i].mib, 1, 0);
        const struct mk_gi_profile *p;
        w.compute_slices = cases[i].slices;
        w.compute_sms = cases[i].sms;
        p = mk_plan_profile_for(model(cases[i].slug), &w, cases[i].ppm);
        if (!cases[i].want ? p != NULL : !p || strcmp(p->name, cases[i].want) != 0)
            fail_msg("case %zu (%s %llu MiB): got %s, want %s", i, cases[i].slug,
                     (unsigned long long)cases[i].mib, p ? p->name : "none",
                     cases[i].want ? cases[i].want : "none");
    }
    { /* model restriction */
        struct mk_plan_workload w = wl("w", 1024, 1, 0);
        w.nallowed = 1;
        w.allowed[0] = a30;
        assert_null(mk_plan_profile_for(h100, &w, 0));
        assert_non_null(mk_plan_profile_for(a30, &w, 0));
    }
}

/* ---- plans ---- */

static uint64_t rng = 88172645463325252ull;

/* xorshift64: a fixed sequence, so failures reproduce. */
static int rnd(int n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (int)(rng % (uint64_t)n);
}

static const char *const mixed[] = {"h100-sxm5-80gb", "a100-sxm4-40gb",    "a30-24gb",
                                    "h200-141gb",     "rtx-pro-6000-96gb", "a100-sxm4-80gb"};

/* A random instance: up to maxw workloads of 1-4 replicas, mostly small, some with compute
 * minimums, priorities 0-2 and model restrictions. Returns the workload count. */
static int random_workloads(struct mk_plan_workload *w, int maxw, const struct mk_gpu *g, int ng)
{
    int n = 1 + rnd(maxw);
    for (int i = 0; i < n; i++) {
        static const int sizes[] = {2, 4, 6, 8, 12, 16, 20, 28, 36, 50, 70};
        char name[16];
        snprintf(name, sizeof(name), "w%d", i);
        w[i] =
            wl(name, (uint64_t)(sizes[rnd(rnd(2) ? 5 : 11)] * 1024 - rnd(512)), 1 + rnd(4), rnd(3));
        if (rnd(8) == 0)
            w[i].compute_slices = 1 + rnd(4);
        else if (rnd(10) == 0)
            w[i].compute_sms = 20 + rnd(60);
        if (rnd(8) == 0) {
            w[i].nallowed = 1;
            w[i].allowed[0] = g[rnd(ng)].model;
        }
    }
    return n;
}

/* Every plan of many random instances is valid, in every mode. */
static void test_plans_valid(void **state)
{
    (void)state;
    for (int it = 0; it < 60; it++) {
        int ng = 1 + rnd(12);
        struct mk_gpu *g = fleet(ng, mixed + rnd(3), 1 + rnd(3));
        struct mk_plan_workload w[12];
        int nw = random_workloads(w, 12, g, ng);
        struct mk_plan *p = plan_ok(w, nw, g, ng, it % 3 ? MK_PLAN_AUTO : MK_PLAN_HEURISTIC);
        check_plan(p, w);
        mk_plan_free(p);
        test_free(g);
    }
}

/* A higher-priority replica is never left out for a lower one. */
static void test_priority(void **state)
{
    const char *h100[] = {"h100-sxm5-80gb"};
    struct mk_gpu *g = fleet(1, h100, 1);
    struct mk_plan_workload w[2] = {wl("small", 4096, 7, 0), wl("big", 60 * 1024, 1, 5)};
    struct mk_plan *p = plan_ok(w, 2, g, 1, MK_PLAN_AUTO);
    (void)state;
    check_plan(p, w);
    assert_int_equal(p->placed, 1);
    assert_int_equal(p->assign[7].gpu, 0); /* big: 7g.80gb */
    assert_string_equal(p->assign[7].profile->name, "7g.80gb");
    for (int a = 0; a < 7; a++)
        assert_int_equal(p->assign[a].reason, MK_PLAN_REASON_CAPACITY);
    mk_plan_free(p);
    /* the other way round: the small ones win */
    w[0].priority = 9;
    p = plan_ok(w, 2, g, 1, MK_PLAN_AUTO);
    assert_int_equal(p->placed, 7);
    assert_int_equal(p->assign[7].gpu, -1);
    mk_plan_free(p);
    test_free(g);
}

/* True when the multiset of profiles fits one empty GPU of model m (with layout.c). */
static bool fits(const struct mk_model *m, const struct mk_gi_profile *const *prof, int n)
{
    struct mk_gpu g;
    struct mk_layout_spec spec = {.mig_enabled = true};
    struct mk_layout_plan *lp = test_malloc(sizeof(*lp));
    struct mk_error err = {0};
    bool ok;
    mk_gpu_init(&g, m, 0);
    g.mig_enabled = true;
    for (int i = 0; i < n; i++) {
        int k;
        for (k = 0; k < spec.nwant && spec.want[k].profile != prof[i]; k++)
            ;
        if (k == spec.nwant)
            spec.want[spec.nwant++] = (struct mk_layout_want){prof[i], prof[i]->ci_default, 0};
        spec.want[k].count++;
    }
    ok = mk_layout_plan(&g, &spec, false, lp, &err) == 0 && lp->feasible;
    test_free(lp);
    return ok;
}

/* On over-full random fleets: no unplaced replica could take the place of a placed one of
 * lower priority on the same GPU. */
static void test_priority_random(void **state)
{
    (void)state;
    for (int it = 0; it < 40; it++) {
        int ng = 1 + rnd(3);
        struct mk_gpu *g = fleet(ng, mixed + rnd(4), 1 + rnd(2));
        struct mk_plan_workload w[16];
        int nw = random_workloads(w, 16, g, ng);
        struct mk_plan *p;
        for (int i = 0; i < nw; i++)
            w[i].replicas += 3; /* more than fits */
        p = plan_ok(w, nw, g, ng, MK_PLAN_HEURISTIC);
        check_plan(p, w);
        for (int x = 0; x < p->nassign; x++) {
            const struct mk_plan_assignment *ax = &p->assign[x];
            if (ax->reason != MK_PLAN_REASON_CAPACITY)
                continue;
            for (int y = 0; y < p->nassign; y++) {
                const struct mk_plan_assignment *ay = &p->assign[y];
                const struct mk_gpu *t;
                const struct mk_gi_profile *prof[MK_MAX_GIS], *px;
                int n = 0;
                if (ay->gpu < 0 || w[ay->workload].priority >= w[ax->workload].priority)
                    continue;
                t = &p->gpus[ay->gpu].target;
                if (!(px = mk_plan_profile_for(t->model, &w[ax->workload], p->headroom_ppm)))
                    continue;
                for (int i = 0; i < t->ngi; i++)
                    if (t->gi[i].id != ay->gi_id)
                        prof[n++] = t->gi[i].profile;
                prof[n++] = px;
                if (fits(t->model, prof, n))
                    fail_msg("iteration %d: %s (priority %d) left out, but it could replace "
                             "%s (priority %d) on GPU %d",
                             it, w[ax->workload].name, w[ax->workload].priority,
                             w[ay->workload].name, w[ay->workload].priority, ay->gpu);
            }
        }
        mk_plan_free(p);
        test_free(g);
    }
}

static void test_reasons(void **state)
{
    const char *slugs[] = {"h100-sxm5-80gb", "a30-24gb"};
    struct mk_gpu *g = fleet(2, slugs, 2);
    struct mk_plan_workload w[4] = {wl("huge", 100 * 1024, 1, 0), wl("h200", 1024, 1, 0),
                                    wl("a30", 20 * 1024, 1, 0), wl("fill", 60 * 1024, 2, 0)};
    struct mk_plan *p;
    (void)state;
    w[1].nallowed = 1;
    w[1].allowed[0] = model("h200-141gb");
    w[2].nallowed = 1;
    w[2].allowed[0] = model("a30-24gb"); /* 24 GiB > any A30 profile but the H100 has room */
    p = plan_ok(w, 4, g, 2, MK_PLAN_AUTO);
    check_plan(p, w);
    assert_int_equal(p->assign[0].reason, MK_PLAN_REASON_TOO_BIG);
    assert_string_equal(p->assign[0].why, "needs 120.00 GiB; the largest profile is 7g.80gb on "
                                          "h100-sxm5-80gb (79.25 GiB, 132 SMs)");
    assert_int_equal(p->assign[1].reason, MK_PLAN_REASON_MODEL);
    assert_string_equal(p->assign[1].why, "none of its models (h200-141gb) is in the fleet");
    assert_int_equal(p->assign[2].reason, MK_PLAN_REASON_MODEL);
    assert_string_equal(p->assign[2].why, "fits only on models it may not use (h100-sxm5-80gb)");
    assert_int_equal(p->assign[3].gpu, 0);
    assert_int_equal(p->assign[4].reason, MK_PLAN_REASON_CAPACITY);
    assert_string_equal(p->assign[4].why, "no room: the 1 GPU that could hold it is full with "
                                          "replicas of the same or higher priority");
    mk_plan_free(p);
    test_free(g);
}

/* Existing GIs of the right profile are kept; the rest of the fleet is cleared. */
static void test_current_layout(void **state)
{
    const char *h100[] = {"h100-sxm5-80gb"};
    struct mk_gpu *g = fleet(2, h100, 1);
    struct mk_plan_workload w[2] = {wl("a", 30 * 1024, 1, 0), wl("b", 6 * 1024, 2, 0)};
    const struct mk_model *m = g[0].model;
    struct mk_plan *p;
    (void)state;
    /* GPU 1 (not 0) holds a 3g and two 1g, as the plan needs; GPU 0 a 2g nobody needs */
    assert_int_equal(mk_gpu_gi_create(&g[1], mk_model_profile_by_name(m, "3g.40gb"), 4, NULL), 0);
    assert_int_equal(mk_gpu_gi_create(&g[1], mk_model_profile_by_name(m, "1g.10gb"), 0, NULL), 0);
    assert_int_equal(mk_gpu_gi_create(&g[1], mk_model_profile_by_name(m, "1g.10gb"), 2, NULL), 0);
    assert_int_equal(mk_gpu_gi_create(&g[0], mk_model_profile_by_name(m, "2g.20gb"), 0, NULL), 0);
    p = plan_ok(w, 2, g, 2, MK_PLAN_AUTO);
    check_plan(p, w);
    assert_int_equal(p->gpus_used, 1);
    assert_true(p->gpus[1].used);
    assert_int_equal(p->kept + p->reused, 3);
    assert_int_equal(p->created, 0);
    assert_int_equal(p->destroyed, 1);
    assert_int_equal(p->gpus[1].target.gi[0].start, 4); /* kept where it was */
    mk_plan_free(p);
    test_free(g);
}

static void test_config(void **state)
{
    const char *slugs[] = {"h100-sxm5-80gb", "a30-24gb"};
    struct mk_gpu *g = fleet(3, slugs, 2);
    struct mk_plan_workload w[2] = {wl("a", 4 * 1024, 3, 0), wl("b", 30 * 1024, 1, 0)};
    struct mk_plan *p = plan_ok(w, 2, g, 3, MK_PLAN_AUTO);
    struct mk_config *cfg = NULL;
    struct mk_error err = {0};
    char *yaml;
    (void)state;
    assert_int_equal(mk_plan_to_config(p, "my-plan", &cfg, &err), 0);
    yaml = mk_config_emit_yaml(cfg, NULL);
    assert_string_equal(yaml, "version: v1\n"
                              "mig-configs:\n"
                              "  my-plan:\n"
                              "    - devices: [0]\n"
                              "      mig-enabled: true\n"
                              "      mig-devices:\n"
                              "        \"1g.10gb\": 3\n"
                              "        \"3g.40gb\": 1\n"
                              "    - devices: [1]\n"
                              "      mig-enabled: true\n"
                              "      mig-devices: {}\n"
                              "    - devices: [2]\n"
                              "      mig-enabled: true\n"
                              "      mig-devices: {}\n");
    free(yaml);
    mk_config_free(cfg);
    assert_int_equal(mk_plan_to_config(p, "", &cfg, &err), -EINVAL);
    mk_plan_free(p);
    test_free(g);
    g = fleet(MK_CONFIG_MAX_DEVICES + 1, slugs, 1);
    p = plan_ok(w, 2, g, MK_CONFIG_MAX_DEVICES + 1, MK_PLAN_AUTO);
    assert_int_equal(mk_plan_to_config(p, "plan", &cfg, &err), -E2BIG);
    mk_plan_free(p);
    test_free(g);
}

/* Successes in a row after which the allocation countdown is taken to be past the end. */
#define ALLOC_SUCCESSES 200

/* Every allocation of mk_plan_new and of the parser may fail: the error is -ENOMEM and
 * nothing leaks (ASan checks the leaks). */
static void test_alloc_failures(void **state)
{
    const char *slugs[] = {"h100-sxm5-80gb", "a30-24gb"};
    struct mk_gpu *g = fleet(3, slugs, 2);
    struct mk_plan_workload w[3] = {wl("a", 4 * 1024, 3, 0), wl("b", 30 * 1024, 1, 1),
                                    wl("c", 200 * 1024, 1, 0)};
    const char *text = "workloads:\n  - {name: a, memory: 1GiB, models: [a30-24gb]}\n";
    struct mk_plan_request req = {.workloads = w,
                                  .nworkloads = 3,
                                  .gpus = g,
                                  .ngpus = 3,
                                  .headroom_ppm = MK_PLAN_DEFAULT_HEADROOM_PPM};
    int ok_in_a_row = 0;
    (void)state;
    /* Some failures are absorbed (a comparison that cannot allocate calls plans equal), so a
     * success does not mean the countdown ran out: go on until many successes in a row. */
    for (long n = 1; ok_in_a_row < ALLOC_SUCCESSES; n++) {
        struct mk_plan *p = NULL;
        struct mk_error err = {0};
        int r;
        mk__alloc_fail_after(n);
        r = mk_plan_new(&req, &p, &err);
        mk__alloc_fail_after(0);
        if (r == 0) {
            check_plan(p, w);
            mk_plan_free(p);
            ok_in_a_row++;
            continue;
        }
        ok_in_a_row = 0;
        assert_int_equal(r, -ENOMEM);
        assert_null(p);
    }
    for (long n = 1;; n++) {
        struct mk_plan_input *in = NULL;
        struct mk_error err = {0};
        int r;
        mk__alloc_fail_after(n);
        r = mk_plan_input_parse(text, strlen(text), "w.yaml", cat, W, &in, &err);
        mk__alloc_fail_after(0);
        if (r == 0) {
            mk_plan_input_free(in);
            break;
        }
        assert_int_equal(r, -ENOMEM);
    }
    test_free(g);
}

/* ---- the heuristic against the exhaustive search ---- */

/* Random small instances (at most MK_PLAN_EXACT_MAX_GPUS GPUs): the search proves an
 * optimum; the heuristic must reach it on most, never beat it (that would make the search
 * wrong), and the lower bound must never exceed it. */
#define EXACT_CASES 200
#define EXACT_NODES 3000000L

/* Compares the replicas a and b place, priority by priority from the highest (objective 1):
 * >0 when a places more. Priorities in the random instances are 0-2. */
static int placed_cmp(const struct mk_plan *a, const struct mk_plan *b,
                      const struct mk_plan_workload *w)
{
    for (int prio = 2; prio >= 0; prio--) {
        int na = 0, nb = 0;
        for (int k = 0; k < a->nassign; k++) {
            na += a->assign[k].gpu >= 0 && w[a->assign[k].workload].priority == prio;
            nb += b->assign[k].gpu >= 0 && w[b->assign[k].workload].priority == prio;
        }
        if (na != nb)
            return na - nb;
    }
    return 0;
}

/* True when some replica was left out for lack of room (not for size or model). */
static bool left_for_room(const struct mk_plan *p)
{
    for (int k = 0; k < p->nassign; k++)
        if (p->assign[k].reason == MK_PLAN_REASON_CAPACITY)
            return true;
    return false;
}

/* counts[w]: replicas of workload w that plan p placed. */
static void placed_counts(const struct mk_plan *p, int *counts, int nw)
{
    memset(counts, 0, (size_t)nw * sizeof(int));
    for (int a = 0; a < p->nassign; a++)
        counts[p->assign[a].workload] += p->assign[a].gpu >= 0;
}

static void test_exact_vs_heuristic(void **state)
{
    int proven = 0, same_placed = 0, equal = 0, gap_gpus = 0, bound_tight = 0, lb_tight = 0;
    int all_placed = 0, auto_optimal = 0;
    (void)state;
    for (int it = 0; it < EXACT_CASES; it++) {
        /* half small fleets, half of 5-8 GPUs with more work (mostly fitting) */
        int ng = it % 2 ? 1 + rnd(MK_PLAN_EXACT_MAX_GPUS) : 5 + rnd(4);
        struct mk_gpu *g = fleet(ng, mixed + rnd(4), 1 + rnd(3));
        struct mk_plan_workload w[14];
        int nw = random_workloads(w, it % 2 ? 8 : 14, g, ng), lb, counts[14];
        struct mk_plan_request req = {.workloads = w,
                                      .nworkloads = nw,
                                      .gpus = g,
                                      .ngpus = ng,
                                      .headroom_ppm = MK_PLAN_DEFAULT_HEADROOM_PPM,
                                      .mode = MK_PLAN_EXACT,
                                      .exact_node_limit = EXACT_NODES};
        struct mk_plan *h = plan_ok(w, nw, g, ng, MK_PLAN_HEURISTIC), *e = NULL;
        struct mk_error err = {0};
        assert_int_equal(mk_plan_new(&req, &e, &err), 0);
        int c;
        check_plan(h, w);
        check_plan(e, w);
        c = placed_cmp(e, h, w);
        assert_true(c >= 0); /* the search starts from the heuristic's plan */
        /* proven: the search finished, or it was skipped because every replica that some
         * GPU can hold is placed, on as few GPUs as the bound */
        if (e->exact_done || (!left_for_room(e) && e->gpus_used == e->relaxation_bound)) {
            proven++;
            /* the heuristic cannot do better than a proven optimum */
            assert_true(c > 0 || e->gpus_used <= h->gpus_used);
            same_placed += c == 0;
            if (c == 0 && e->gpus_used == h->gpus_used)
                equal++;
            else if (c == 0)
                gap_gpus += h->gpus_used - e->gpus_used;
            /* the relaxation bound for what the optimum places is at most the optimum */
            assert_true(e->relaxation_bound <= e->gpus_used);
            bound_tight += e->relaxation_bound == e->gpus_used;
            /* and so is the full bound for those replicas (weights, configuration LP and the
             * configuration search's branch and bound), computed without the item search */
            placed_counts(e, counts, nw);
            lb = mk_plan_lower_bound(&req, counts, &err);
            assert_true(lb >= e->relaxation_bound && lb <= e->gpus_used);
            lb_tight += lb == e->gpus_used;
            if (!left_for_room(e)) {
                struct mk_plan *a = plan_ok(w, nw, g, ng, MK_PLAN_AUTO);
                lb = mk_plan_lower_bound(&req, NULL, &err);
                assert_true(lb >= 0 && lb <= e->gpus_used);
                /* AUTO places every replica some GPU can hold too, and its bound holds */
                check_plan(a, w);
                assert_int_equal(a->placed, e->placed);
                assert_true(a->lower_bound <= e->gpus_used && a->gpus_used >= e->gpus_used);
                all_placed++;
                auto_optimal += a->gpus_used == e->gpus_used;
                mk_plan_free(a);
            }
        }
        mk_plan_free(h);
        mk_plan_free(e);
        test_free(g);
    }
    print_message("exact vs heuristic: %d/%d cases proven optimal; the heuristic places as "
                  "many replicas per priority on %d of them, and on as few GPUs on %d of "
                  "those (%d GPUs over in all); the relaxation bound is tight on %d, the "
                  "lower bound with the configuration search on %d; of the %d where every "
                  "replica that fits is placed, AUTO is optimal on %d\n",
                  proven, EXACT_CASES, same_placed, equal, gap_gpus, bound_tight, lb_tight,
                  all_placed, auto_optimal);
    assert_true(proven >= EXACT_CASES * 9 / 10);
    assert_true(lb_tight >= bound_tight);
    assert_int_equal(auto_optimal, all_placed);
    assert_true(same_placed >= proven * 85 / 100); /* the misses: over-full fleets */
    assert_true(equal >= same_placed * 95 / 100);
}

/* ---- the configuration search ---- */

/* A fleet where the heuristic needs 3 GPUs and the configuration search finds 2 (a planted
 * instance of bench/planner-bench.c). */
static struct mk_gpu *two_gpu_case(struct mk_plan_workload w[6])
{
    const char *slugs[] = {"a30-24gb", "rtx-pro-6000-96gb", "a100-sxm4-80gb"};
    w[0] = wl("a", 1192, 3, 3);
    w[1] = wl("b", 4844, 1, 3);
    w[1].nallowed = 1;
    w[1].allowed[0] = model("a30-24gb");
    w[2] = wl("c", 6435, 1, 3);
    w[2].nallowed = 1;
    w[2].allowed[0] = model("a100-sxm4-80gb");
    w[3] = wl("d", 13303, 1, 2);
    w[3].compute_slices = 2;
    w[4] = wl("e", 6319, 3, 3);
    w[5] = wl("f", 644, 1, 3);
    return fleet(3, slugs, 3);
}

static void test_config_search(void **state)
{
    struct mk_plan_workload w[6];
    struct mk_gpu *g = two_gpu_case(w);
    struct mk_plan_request req = {.workloads = w,
                                  .nworkloads = 6,
                                  .gpus = g,
                                  .ngpus = 3,
                                  .headroom_ppm = MK_PLAN_DEFAULT_HEADROOM_PPM};
    struct mk_plan *h = plan_ok(w, 6, g, 3, MK_PLAN_HEURISTIC);
    struct mk_plan *p = plan_ok(w, 6, g, 3, MK_PLAN_AUTO);
    struct mk_error err = {0};
    int ok_in_a_row = 0;
    (void)state;
    check_plan(h, w);
    check_plan(p, w);
    assert_int_equal(h->gpus_used, 3);
    assert_int_equal(h->config_lps, 0); /* HEURISTIC: no search */
    assert_int_equal(p->placed, 10);
    assert_int_equal(p->heuristic_gpus, 3);
    assert_int_equal(p->gpus_used, 2);
    assert_true(p->config_lps > 0);
    assert_int_equal(p->config_bound, 2);
    assert_int_equal(p->lower_bound, 2);
    assert_int_equal(p->exact_nodes, 0); /* proven without the item search */
    assert_true(mk_plan_is_optimal(p));
    assert_int_equal(mk_plan_lower_bound(&req, NULL, &err), 2);
    mk_plan_free(h);
    mk_plan_free(p);
    /* every allocation of the search may fail too */
    for (long n = 1; ok_in_a_row < ALLOC_SUCCESSES; n++) {
        int r;
        p = NULL;
        mk__alloc_fail_after(n);
        r = mk_plan_new(&req, &p, &err);
        mk__alloc_fail_after(0);
        if (r == 0) {
            check_plan(p, w);
            mk_plan_free(p);
            ok_in_a_row++;
            continue;
        }
        ok_in_a_row = 0;
        assert_int_equal(r, -ENOMEM);
        assert_null(p);
    }
    test_free(g);
}

#define PLANTED_CASES 24

/* A random maximal layout of plain profiles on g (small ones more likely). */
static void random_layout(struct mk_gpu *g)
{
    const struct mk_model *m = g->model;
    for (;;) {
        int cand[MK_MAX_GI_PROFILES], n = 0, starts[MK_MAX_STARTS], ns = 0;
        const struct mk_gi_profile *p;
        for (int i = 0; i < m->nprofiles; i++)
            if (mk_plan_profile_is_plain(&m->profiles[i]) &&
                mk_gpu_gi_check(g, &m->profiles[i], -1) == 0)
                for (int k = 8 / m->profiles[i].mem_slices; k > 0 && n < MK_MAX_GI_PROFILES; k--)
                    cand[n++] = i;
        if (n == 0)
            return;
        p = &m->profiles[cand[rnd(n)]];
        for (int k = 0; k < p->nstarts; k++)
            if (mk_gpu_gi_check(g, p, p->starts[k]) == 0)
                starts[ns++] = p->starts[k];
        assert_int_equal(mk_gpu_gi_create(g, p, starts[rnd(ns)], NULL), 0);
    }
}

/* A workload whose replicas get exactly profile p on model m: memory just above the next
 * smaller plain profile's (with the default headroom), and p's compute where a profile of
 * the same memory has fewer slices. */
static struct mk_plan_workload sized_for(const struct mk_model *m, const struct mk_gi_profile *p,
                                         int n)
{
    uint64_t below = 0;
    int slices = 0;
    char name[16];
    struct mk_plan_workload w;
    for (int i = 0; i < m->nprofiles; i++) {
        const struct mk_gi_profile *q = &m->profiles[i];
        if (!mk_plan_profile_is_plain(q))
            continue;
        if (q->memory_mib < p->memory_mib && q->memory_mib > below)
            below = q->memory_mib;
        if (q->memory_mib == p->memory_mib && q->compute_slices < p->compute_slices)
            slices = p->compute_slices;
    }
    snprintf(name, sizeof(name), "w%d", n);
    w = wl(name, (below + 1 + (uint64_t)rnd((int)(p->memory_mib - below))) * 5 / 6, 1, rnd(3));
    w.compute_slices = slices;
    return w;
}

/*
 * Fleets of 10-16 mixed GPUs, too large for the item search: on most GPUs a random maximal
 * layout, each of its GIs a replica sized so that its profile is the smallest fit there (the
 * benchmark's planted instances). A plan on the planted GPUs exists, so AUTO must place every
 * replica on at most as many GPUs; with the configuration search it proves its GPU count
 * optimal on nearly all of them (before it, about one in six was one GPU above its bound).
 */
static void test_planted(void **state)
{
    int proven = 0, searched = 0;
    (void)state;
    for (int it = 0; it < PLANTED_CASES; it++) {
        int ng = 10 + rnd(7), nw = 0, planted = 0;
        struct mk_gpu *g = fleet(ng, mixed + rnd(3), 3 + rnd(2));
        struct mk_gpu *scratch = test_malloc(sizeof(*scratch));
        struct mk_plan_workload *w = test_calloc((size_t)ng * MK_MAX_GIS, sizeof(*w));
        struct mk_plan *p;
        for (int i = 0; i < ng; i++) {
            if (rnd(10) == 0)
                continue;
            planted++;
            *scratch = g[i];
            random_layout(scratch);
            for (int k = 0; k < scratch->ngi; k++) {
                w[nw] = sized_for(scratch->model, scratch->gi[k].profile, nw);
                if (rnd(10) == 0) {
                    w[nw].nallowed = 1;
                    w[nw].allowed[0] = scratch->model;
                }
                nw++;
            }
        }
        p = plan_ok(w, nw, g, ng, MK_PLAN_AUTO);
        check_plan(p, w);
        assert_int_equal(p->placed, p->replicas);
        assert_true(p->gpus_used <= planted);
        proven += mk_plan_is_optimal(p);
        searched += p->config_lps > 0;
        mk_plan_free(p);
        test_free(w);
        test_free(scratch);
        test_free(g);
    }
    print_message("planted fleets of 10-16 GPUs: %d/%d proven optimal (the configuration "
                  "search ran on %d)\n",
                  proven, PLANTED_CASES, searched);
    assert_true(proven >= PLANTED_CASES * 9 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_headroom),
        cmocka_unit_test(test_input_errors),
        cmocka_unit_test(test_input_good),
        cmocka_unit_test(test_profile_choice),
        cmocka_unit_test(test_plans_valid),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_priority_random),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_current_layout),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_exact_vs_heuristic),
        cmocka_unit_test(test_config_search),
        cmocka_unit_test(test_planted),
    };
    return cmocka_run_group_tests(tests, setup_catalog, teardown_catalog);
}
