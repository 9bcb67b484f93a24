/*
 * test-layout.c - unit tests of the minimal-disruption planner (src/core/layout.c): worked
 * examples on an H100 (keep / reuse / destroy, operation order, explicit placements, MIG mode
 * changes), busy GIs with and without force, infeasible and malformed specs, and a proof by
 * brute force on every catalog model.
 *
 * Every plan a test obtains is also carried out: its operations are applied one by one with
 * the geometry functions (geometry.h) to a copy of the GPU, each must succeed, and the result
 * must equal the plan's target and satisfy the spec.
 *
 * The brute-force oracle shares no code with layout.c. For a spec it enumerates every target
 * layout (a valid placement for each desired MIG device, checked with the geometry), scores
 * each one the way issue 3 defines the objective (existing GIs at the same profile and
 * placement are kept when their CIs are exactly the wanted one, reused otherwise; all other
 * existing GIs are destroyed; busy GIs only kept unless force), and the planner must reach the
 * best score: the most GIs kept, then the fewest operations.
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


/* ---- helpers ---- */


static const struct mk_gi_profile *prof(const struct mk_model *m, const char *name)
{
    const struct mk_gi_profile *p = mk_model_profile_by_name(m, name);
    if (!p)
        fail_msg("%s has no GI profile %s", m->slug, name);
    return p;
}

/* An empty GPU of model m with MIG mode on. */
static void gpu_on(struct mk_gpu *g, const struct mk_model *m)
{
    mk_gpu_init(g, m, 0);
    assert_int_equal(mk_gpu_set_mig(g, true), 0);
}

/* Every CI the tests create gets a distinct UUID, so "kept untouched" can be checked by
 * UUID after a plan is applied (the planner's new CIs all read "(new)"). */
static unsigned uuid_seq;

static int add_ci(struct mk_gpu *g, int gi_id, int ci_profile)
{
    char uuid[MK_UUID_LEN];
    int id = -1;
    snprintf(uuid, sizeof(uuid), "MIG-test-%u", uuid_seq++);
    assert_int_equal(mk_gpu_ci_create(g, gi_id, ci_profile, uuid, &id), 0);
    return id;
}

/* Creates a GI of the named profile at start (-1: automatic); returns its ID. */
static int add_gi(struct mk_gpu *g, const char *name, int start)
{
    int id = -1;
    if (mk_gpu_gi_create(g, prof(g->model, name), start, &id) < 0)
        fail_msg("%s: cannot create %s at %d", g->model->slug, name, start);
    return id;
}

/* A MIG device as nvidia-smi -cgi ... -C makes it: a GI with its default CI. */
static int add_device(struct mk_gpu *g, const char *name, int start)
{
    int id = add_gi(g, name, start);
    add_ci(g, id, mk_gpu_gi_find(g, id)->profile->ci_default);
    return id;
}

static void spec_add(struct mk_layout_spec *s, const struct mk_gi_profile *p, int ci, int count)
{
    assert_true(s->nwant < MK_MAX_GIS);
    s->want[s->nwant++] = (struct mk_layout_want){.profile = p, .ci_profile = ci, .count = count};
}

/* Adds count MIG devices of the named profile with its default (full) CI. */
static void spec_dev(struct mk_layout_spec *s, const struct mk_model *m, const char *name,
                     int count)
{
    const struct mk_gi_profile *p = prof(m, name);
    spec_add(s, p, p->ci_default, count);
}

static int spec_total(const struct mk_layout_spec *s)
{
    int n = 0;
    if (!s->mig_enabled)
        return 0;
    for (int w = 0; w < s->nwant; w++)
        n += s->want[w].count;
    return n;
}

/* Two GPUs hold the same layout: mode, and the same GIs (by ID) at the same placements with
 * the same busy flag and the same CIs (ID, profile, placement). */
static void assert_same_gpu(const struct mk_gpu *a, const struct mk_gpu *b)
{
    assert_int_equal(a->mig_enabled, b->mig_enabled);
    assert_int_equal(a->ngi, b->ngi);
    for (int i = 0; i < a->ngi; i++) {
        const struct mk_gi *x = &a->gi[i], *y = mk_gpu_gi_find_const(b, x->id);
        if (!y)
            fail_msg("GI %d is missing", x->id);
        assert_ptr_equal(x->profile, y->profile);
        assert_int_equal(x->start, y->start);
        assert_int_equal(x->busy, y->busy);
        assert_int_equal(x->nci, y->nci);
        for (int c = 0; c < x->nci; c++) {
            int d;
            for (d = 0; d < y->nci && y->ci[d].id != x->ci[c].id; d++)
                ;
            if (d == y->nci)
                fail_msg("GI %d: CI %d is missing", x->id, x->ci[c].id);
            assert_int_equal(x->ci[c].profile_id, y->ci[d].profile_id);
            assert_int_equal(x->ci[c].start, y->ci[d].start);
        }
    }
}

/* Existing GIs of cur still present in g with exactly the same CIs (same IDs and UUIDs):
 * the "kept untouched" count, measured rather than taken from the plan. */
static int count_untouched(const struct mk_gpu *cur, const struct mk_gpu *g)
{
    int n = 0;
    for (int i = 0; i < cur->ngi; i++) {
        const struct mk_gi *x = &cur->gi[i], *y = mk_gpu_gi_find_const(g, x->id);
        bool same = y && y->profile == x->profile && y->start == x->start && y->nci == x->nci;
        for (int c = 0; same && c < x->nci; c++) {
            bool found = false;
            for (int d = 0; d < y->nci; d++)
                found = found ||
                        (y->ci[d].id == x->ci[c].id && strcmp(y->ci[d].uuid, x->ci[c].uuid) == 0);
            same = found;
        }
        n += same;
    }
    return n;
}

/* Makes GI gi_id writable for an operation: a busy GI may be touched only under force, and
 * then its processes are gone (what --force means), so the flag is cleared. */
static struct mk_gi *touch_gi(struct mk_gpu *g, int gi_id, bool force)
{
    struct mk_gi *gi = mk_gpu_gi_find(g, gi_id);
    if (!gi)
        fail_msg("operation on GI %d, which does not exist", gi_id);
    if (gi->busy && !force)
        fail_msg("operation on busy GI %d without force", gi_id);
    gi->busy = false;
    return gi;
}

/* Carries out one operation with the geometry functions; every one must succeed and give
 * the IDs the plan announced. */
static void apply_op(struct mk_gpu *g, const struct mk_op *op, bool force)
{
    struct mk_gi *gi;
    int id = -1;
    switch (op->kind) {
    case MK_OP_DESTROY_CI:
        touch_gi(g, op->gi_id, force);
        assert_int_equal(mk_gpu_ci_destroy(g, op->gi_id, op->ci_id), 0);
        break;
    case MK_OP_DESTROY_GI:
        gi = touch_gi(g, op->gi_id, force);
        assert_ptr_equal(gi->profile, op->profile);
        assert_int_equal(gi->start, op->start);
        assert_int_equal(mk_gpu_gi_destroy(g, op->gi_id), 0);
        break;
    case MK_OP_SET_MIG:
        assert_int_not_equal(g->mig_enabled, op->mig_enabled);
        assert_int_equal(mk_gpu_set_mig(g, op->mig_enabled), 0);
        break;
    case MK_OP_CREATE_GI:
        assert_true(op->start >= 0); /* explicit placement, never the driver's choice */
        assert_int_equal(mk_gpu_gi_create(g, op->profile, op->start, &id), 0);
        assert_int_equal(id, op->gi_id);
        break;
    case MK_OP_CREATE_CI:
        touch_gi(g, op->gi_id, force);
        assert_int_equal(mk_gpu_ci_create(g, op->gi_id, op->ci_profile, "(new)", &id), 0);
        assert_int_equal(id, op->ci_id);
        break;
    }
}

/*
 * Checks a feasible plan from cur to spec by carrying it out: operation kinds come in the
 * promised order (destroy CIs, destroy GIs, MIG mode, create GIs, create CIs), each succeeds
 * on a copy of cur, the result validates, equals plan->target and matches spec, and the
 * plan's counters agree with what happened. Stores the final GPU in *ret when ret is set.
 */
static void check_plan(const struct mk_gpu *cur, const struct mk_layout_spec *spec, bool force,
                       const struct mk_layout_plan *p, struct mk_gpu *ret)
{
    static struct mk_gpu g; /* static: large, and the tests are single-threaded */
    struct mk_error err = {0};
    int busy_touched = 0;

    assert_true(p->feasible);
    g = *cur;
    for (int k = 0; k < p->nops; k++) {
        if (k > 0 && p->ops[k].kind < p->ops[k - 1].kind)
            fail_msg("op %d (%s) after %s", k, mk_op_kind_name(p->ops[k].kind),
                     mk_op_kind_name(p->ops[k - 1].kind));
        apply_op(&g, &p->ops[k], force);
    }
    if (mk_gpu_validate(&g, &err) < 0)
        fail_msg("after the plan: %s", mk_strerror(&err));
    assert_same_gpu(&g, &p->target);
    assert_same_gpu(&p->target, &g);
    assert_true(mk_layout_matches(&g, spec));

    assert_int_equal(count_untouched(cur, &g), p->kept);
    assert_int_equal(p->kept + p->reused + p->destroyed, cur->ngi);
    assert_int_equal(p->kept + p->reused + p->created, spec_total(spec));
    for (int i = 0; i < cur->ngi; i++) {
        const struct mk_gi *y = mk_gpu_gi_find_const(&g, cur->gi[i].id);
        busy_touched += cur->gi[i].busy && !(y && y->busy);
    }
    assert_int_equal(p->forced, busy_touched);
    if (!force)
        assert_int_equal(p->forced, 0);
    if (ret)
        *ret = g;
}

static int plan(const struct mk_gpu *cur, const struct mk_layout_spec *spec, bool force,
                struct mk_layout_plan *p)
{
    struct mk_error err = {0};
    int r = mk_layout_plan(cur, spec, force, p, &err);
    if (r < 0)
        fail_msg("mk_layout_plan: %d %s", r, mk_strerror(&err));
    return r;
}

static int count_kind(const struct mk_layout_plan *p, enum mk_op_kind k)
{
    int n = 0;
    for (int i = 0; i < p->nops; i++)
        n += p->ops[i].kind == k;
    return n;
}

/* ---- worked examples ---- */

/* H100 3g + 2g + 1g + 1g, each made by -cgi ... -C (automatic placement, default CI): the
 * 3g lands at 4:4 (GI 2), the 2g at 0:2 (GI 3), the 1g at 2 and 3 (GIs 9 and 10). */
static void h100_3211(struct mk_gpu *g)
{
    gpu_on(g, model("h100-sxm5-80gb"));
    assert_int_equal(add_device(g, "3g.40gb", -1), 2);
    assert_int_equal(add_device(g, "2g.20gb", -1), 3);
    assert_int_equal(add_device(g, "1g.10gb", -1), 9);
    assert_int_equal(add_device(g, "1g.10gb", -1), 10);
}

static void spec_3g_4x1g(struct mk_layout_spec *s, const struct mk_model *m)
{
    memset(s, 0, sizeof(*s));
    s->mig_enabled = true;
    spec_dev(s, m, "3g.40gb", 1);
    spec_dev(s, m, "1g.10gb", 4);
}

static void test_h100_3211_to_3g_and_four_1g(void **state)
{
    static struct mk_gpu g, after;
    static struct mk_layout_plan p, again;
    struct mk_layout_spec s;
    bool starts[MK_MAX_STARTS] = {false};
    const int kept_ids[] = {2, 9, 10};
    (void)state;

    h100_3211(&g);
    spec_3g_4x1g(&s, g.model);
    assert_false(mk_layout_matches(&g, &s));
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.kept, 3);
    assert_int_equal(p.reused, 0);
    assert_int_equal(p.destroyed, 1);
    assert_int_equal(p.created, 2);
    assert_int_equal(p.forced, 0);
    /* destroy the 2g's CI, then the 2g; create two 1g at the freed slots 0 and 1, then CIs */
    assert_int_equal(p.nops, 6);
    assert_int_equal(p.ops[0].kind, MK_OP_DESTROY_CI);
    assert_int_equal(p.ops[0].gi_id, 3);
    assert_int_equal(p.ops[1].kind, MK_OP_DESTROY_GI);
    assert_int_equal(p.ops[1].gi_id, 3);
    for (int k = 2; k < 4; k++) {
        assert_int_equal(p.ops[k].kind, MK_OP_CREATE_GI);
        assert_ptr_equal(p.ops[k].profile, prof(g.model, "1g.10gb"));
        assert_in_range(p.ops[k].start, 0, 1);
        assert_int_equal(p.ops[k].gi_id, 7 + p.ops[k].start);
        starts[p.ops[k].start] = true;
    }
    assert_true(starts[0] && starts[1]);
    for (int k = 4; k < 6; k++) {
        assert_int_equal(p.ops[k].kind, MK_OP_CREATE_CI);
        assert_int_equal(p.ops[k].ci_profile, prof(g.model, "1g.10gb")->ci_default);
        assert_int_equal(p.ops[k].gi_id, p.ops[k - 2].gi_id);
    }
    assert_true(mk_layout_matches(&p.target, &s));
    check_plan(&g, &s, false, &p, &after);
    /* the 3g and both old 1g are still there, CIs untouched */
    for (size_t k = 0; k < MK_ELEMENTSOF(kept_ids); k++)
        assert_string_equal(mk_gpu_gi_find(&after, kept_ids[k])->ci[0].uuid,
                            mk_gpu_gi_find(&g, kept_ids[k])->ci[0].uuid);

    /* applying the same spec again is a no-op */
    assert_int_equal(plan(&after, &s, false, &again), 0);
    assert_true(again.feasible);
    assert_int_equal(again.nops, 0);
    assert_int_equal(again.kept, 5);
}

static void test_noop_when_current_matches(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    (void)state;

    h100_3211(&g);
    spec_dev(&s, g.model, "1g.10gb", 2); /* a different order and split than the GPU's */
    spec_dev(&s, g.model, "2g.20gb", 1);
    spec_dev(&s, g.model, "3g.40gb", 1);
    assert_true(mk_layout_matches(&g, &s));
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.nops, 0);
    assert_int_equal(p.kept, 4);
    assert_int_equal(p.reused + p.destroyed + p.created, 0);
    check_plan(&g, &s, false, &p, NULL);

    /* MIG off and wanted off: nothing either */
    mk_gpu_init(&g, g.model, 0);
    s.mig_enabled = false;
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.nops, 0);
}

static void test_mig_off_to_on(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    (void)state;

    mk_gpu_init(&g, model("h100-sxm5-80gb"), 0);
    spec_dev(&s, g.model, "1g.10gb", 7);
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.nops, 15);
    assert_int_equal(p.ops[0].kind, MK_OP_SET_MIG);
    assert_true(p.ops[0].mig_enabled);
    assert_int_equal(count_kind(&p, MK_OP_CREATE_GI), 7);
    assert_int_equal(count_kind(&p, MK_OP_CREATE_CI), 7);
    assert_int_equal(p.created, 7);
    check_plan(&g, &s, false, &p, NULL);

    /* on with no devices wanted: only the mode changes */
    s.nwant = 0;
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_int_equal(p.nops, 1);
    assert_int_equal(p.ops[0].kind, MK_OP_SET_MIG);
    check_plan(&g, &s, false, &p, NULL);
}

static void test_mig_on_to_off(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = false};
    int gi;
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    add_device(&g, "3g.40gb", -1);
    gi = add_gi(&g, "2g.20gb", -1); /* two 1c CIs */
    add_ci(&g, gi, 0);
    add_ci(&g, gi, 0);
    add_gi(&g, "1g.10gb", -1); /* no CI */
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.destroyed, 3);
    assert_int_equal(count_kind(&p, MK_OP_DESTROY_CI), 3);
    assert_int_equal(count_kind(&p, MK_OP_DESTROY_GI), 3);
    assert_int_equal(p.nops, 7);
    assert_int_equal(p.ops[6].kind, MK_OP_SET_MIG);
    assert_false(p.ops[6].mig_enabled);
    assert_false(p.target.mig_enabled);
    assert_int_equal(p.target.ngi, 0);
    check_plan(&g, &s, false, &p, NULL);
}

/* A 3g split into three 1c CIs, wanted as a 3g with its full CI: replacing the CIs (3
 * destroys + 1 create) beats destroying and recreating the GI (3 + 1 + 2). */
static void test_reuse_gi_with_new_cis(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    int gi;
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    gi = add_gi(&g, "3g.40gb", 4);
    for (int k = 0; k < 3; k++)
        add_ci(&g, gi, 0);
    spec_dev(&s, g.model, "3g.40gb", 1);
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.kept, 0);
    assert_int_equal(p.reused, 1);
    assert_int_equal(p.destroyed, 0);
    assert_int_equal(p.created, 0);
    assert_int_equal(p.nops, 4);
    assert_int_equal(count_kind(&p, MK_OP_DESTROY_CI), 3);
    assert_int_equal(count_kind(&p, MK_OP_CREATE_CI), 1);
    assert_int_equal(p.ops[3].gi_id, gi);
    assert_int_equal(p.ops[3].ci_profile, prof(g.model, "3g.40gb")->ci_default);
    assert_non_null(mk_gpu_gi_find(&p.target, gi));
    check_plan(&g, &s, false, &p, NULL);
}

/*
 * Regression: two 3g, one split into three 1c CIs (GI 1), one holding a single 1c CI (GI 2);
 * wanted: one 3g with a 1c CI and one 3g with its full CI. The best plan keeps GI 2 and
 * reuses GI 1 for the full CI (4 ops). The planner used to try reusing a GI for only one of
 * several devices of the same GI profile, even when their CI profiles differed, and so
 * destroyed and recreated GI 1 at the same place (6 ops).
 */
static void test_reuse_picks_the_ci_profile_that_lets_others_stay(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    const struct mk_gi_profile *p3;
    int a, b;
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    p3 = prof(g.model, "3g.40gb");
    a = add_gi(&g, "3g.40gb", 0);
    b = add_gi(&g, "3g.40gb", 4);
    for (int k = 0; k < 3; k++)
        add_ci(&g, a, 0);
    add_ci(&g, b, 0);
    spec_add(&s, p3, 0, 1);
    spec_add(&s, p3, p3->ci_default, 1);
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.kept, 1);
    assert_int_equal(p.reused, 1);
    assert_int_equal(p.destroyed, 0);
    assert_int_equal(p.nops, 4);
    check_plan(&g, &s, false, &p, NULL);

    /* the same with the wants listed the other way round */
    s.want[0].ci_profile = p3->ci_default;
    s.want[1].ci_profile = 0;
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_int_equal(p.kept, 1);
    assert_int_equal(p.nops, 4);
    check_plan(&g, &s, false, &p, NULL);
}

/* ---- busy GIs ---- */

static void test_busy_gi_blocks_without_force(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    (void)state;

    h100_3211(&g);
    mk_gpu_gi_find(&g, 2)->busy = true; /* the 3g */
    spec_dev(&s, g.model, "7g.80gb", 1);
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_false(p.feasible);
    assert_int_equal(p.nops, 0);
    if (!strstr(p.why, "GI 2 (MIG 3g.40gb)"))
        fail_msg("why does not name the busy GI: %s", p.why);
    assert_null(strstr(p.why, "GI 3 ")); /* idle GIs are not blamed */

    assert_int_equal(plan(&g, &s, true, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.forced, 1);
    assert_int_equal(p.destroyed, 4);
    assert_int_equal(p.created, 1);
    check_plan(&g, &s, true, &p, NULL);

    /* turning MIG off needs the busy GI gone too */
    s.mig_enabled = false;
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_false(p.feasible);
    assert_non_null(strstr(p.why, "GI 2 (MIG 3g.40gb)"));
}

static void test_busy_gi_not_reused_without_force(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    int gi;
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    gi = add_gi(&g, "3g.40gb", 4);
    for (int k = 0; k < 3; k++)
        add_ci(&g, gi, 0);
    mk_gpu_gi_find(&g, gi)->busy = true;
    spec_dev(&s, g.model, "3g.40gb", 1); /* needs its CIs replaced */
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_false(p.feasible);
    assert_non_null(strstr(p.why, "GI 2 (MIG 3g.40gb)"));
    assert_int_equal(plan(&g, &s, true, &p), 0);
    assert_true(p.feasible);
    assert_int_equal(p.reused, 1);
    assert_int_equal(p.forced, 1);
    assert_int_equal(p.nops, 4);
    check_plan(&g, &s, true, &p, NULL);
}

static void test_busy_gi_that_matches_is_kept(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s;
    (void)state;

    h100_3211(&g);
    mk_gpu_gi_find(&g, 2)->busy = true;  /* the 3g, wanted as it is */
    mk_gpu_gi_find(&g, 10)->busy = true; /* a 1g, wanted as it is */
    spec_3g_4x1g(&s, g.model);
    for (int f = 0; f < 2; f++) {
        bool force = f == 1;
        assert_int_equal(plan(&g, &s, force, &p), 0);
        assert_true(p.feasible);
        assert_int_equal(p.kept, 3);
        assert_int_equal(p.forced, 0);
        assert_int_equal(p.nops, 6);
        assert_true(mk_gpu_gi_find(&p.target, 2)->busy);
        check_plan(&g, &s, force, &p, NULL);
    }
    /* a busy 2g in the way: blocked, and the why names it */
    mk_gpu_gi_find(&g, 3)->busy = true;
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_false(p.feasible);
    assert_non_null(strstr(p.why, "GI 3 (MIG 2g.20gb)"));
    assert_null(strstr(p.why, "GI 2 "));
}

/* ---- infeasible and malformed specs ---- */

static void test_profile_over_its_max(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    spec_dev(&s, g.model, "3g.40gb", 3);
    assert_int_equal(plan(&g, &s, true, &p), 0);
    assert_false(p.feasible);
    assert_int_equal(p.nops, 0);
    if (!strstr(p.why, "3g.40gb") || !strstr(p.why, "maximum"))
        fail_msg("why: %s", p.why);

    /* the count is per profile even when the spec lists it twice */
    s.nwant = 0;
    spec_dev(&s, g.model, "3g.40gb", 1);
    spec_dev(&s, g.model, "1g.10gb", 1);
    spec_dev(&s, g.model, "3g.40gb", 2);
    assert_int_equal(plan(&g, &s, true, &p), 0);
    assert_false(p.feasible);
    assert_non_null(strstr(p.why, "3g.40gb"));
}

static void test_more_gis_than_the_gpu_holds(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    spec_dev(&s, g.model, "1g.10gb", 5); /* each profile within its max, 8 > 7 in all */
    spec_dev(&s, g.model, "1g.10gb+me", 1);
    spec_dev(&s, g.model, "1g.20gb", 2);
    assert_int_equal(plan(&g, &s, true, &p), 0);
    assert_false(p.feasible);
    if (!strstr(p.why, "maximum of 7"))
        fail_msg("why: %s", p.why);
}

/* Is some placement of these GIs valid under the geometry? Plain backtracking over each
 * profile's placements (independent of layout.c). */
static bool placeable(struct mk_gpu *g, const struct mk_gi_profile **ps, int n)
{
    if (n == 0)
        return true;
    for (int i = 0; i < ps[0]->nstarts; i++) {
        int id;
        if (mk_gpu_gi_create(g, ps[0], ps[0]->starts[i], &id) < 0)
            continue;
        bool ok = placeable(g, ps + 1, n - 1);
        assert_int_equal(mk_gpu_gi_destroy(g, id), 0);
        if (ok)
            return true;
    }
    return false;
}

static void test_unplaceable_sets(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    const struct mk_gi_profile *ps[4];
    (void)state;

    /* H100 2g x3 + 3g: the 2g placements 0, 2, 4 and the 3g ones 0, 4 always collide (it is
     * also over the slice budget: 10 of 8 memory slices, 9 of 7 compute slices) */
    gpu_on(&g, model("h100-sxm5-80gb"));
    ps[0] = ps[1] = ps[2] = prof(g.model, "2g.20gb");
    ps[3] = prof(g.model, "3g.40gb");
    assert_false(placeable(&g, ps, 4));
    spec_dev(&s, g.model, "2g.20gb", 3);
    spec_dev(&s, g.model, "3g.40gb", 1);
    assert_int_equal(plan(&g, &s, true, &p), 0);
    assert_false(p.feasible);
    if (!strstr(p.why, "no placement"))
        fail_msg("why: %s", p.why);

    /* A30 1g+me + 2g+me: 3 of 4 slices, within every max, but the two share the GPU's one
     * set of media engines (found by test_every_slice_budget_set below) */
    gpu_on(&g, model("a30-24gb"));
    ps[0] = prof(g.model, "1g.6gb+me");
    ps[1] = prof(g.model, "2g.12gb+me");
    assert_false(placeable(&g, ps, 2));
    s.nwant = 0;
    spec_dev(&s, g.model, "1g.6gb+me", 1);
    spec_dev(&s, g.model, "2g.12gb+me", 1);
    assert_int_equal(plan(&g, &s, false, &p), 0);
    assert_false(p.feasible);
    assert_non_null(strstr(p.why, "no placement"));
}

struct budget_walk {
    const struct mk_model *m;
    int count[MK_MAX_GI_PROFILES];
    int sets, unplaceable;
};

/* Checks the planner against the geometry for one multiset of GI profiles (default CIs) on
 * an empty GPU: feasible exactly when some placement exists. */
static void check_budget_set(struct budget_walk *w)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    const struct mk_gi_profile *ps[MK_MAX_GIS];
    int n = 0;

    for (int k = 0; k < w->m->nprofiles; k++) {
        if (w->count[k] > 0)
            spec_add(&s, &w->m->profiles[k], w->m->profiles[k].ci_default, w->count[k]);
        for (int c = 0; c < w->count[k]; c++)
            ps[n++] = &w->m->profiles[k];
    }
    gpu_on(&g, w->m);
    bool ok = placeable(&g, ps, n);
    assert_int_equal(plan(&g, &s, false, &p), 0);
    if (p.feasible != ok)
        fail_msg("%s: %d GIs, placeable %d, planner %d (%s)", w->m->slug, n, ok, p.feasible, p.why);
    if (ok)
        check_plan(&g, &s, false, &p, NULL);
    w->sets++;
    w->unplaceable += !ok;
}

/* Walks every multiset of profiles within each profile's max, max_gis and the memory and
 * compute slice budgets. */
static void walk_budget(struct budget_walk *w, int k, int mem, int comp, int total)
{
    const struct mk_model *m = w->m;
    if (k == m->nprofiles) {
        if (total > 0)
            check_budget_set(w);
        return;
    }
    const struct mk_gi_profile *p = &m->profiles[k];
    for (int c = 0; c <= p->max; c++) {
        int mm = mem + c * p->mem_slices, cc = comp + c * p->compute_slices;
        if (mm > m->grid || cc > m->compute_slices || total + c > m->max_gis)
            break;
        w->count[k] = c;
        walk_budget(w, k + 1, mm, cc, total + c);
    }
    w->count[k] = 0;
}

/* Every set that fits by slice arithmetic, on every model: the planner finds a placement
 * exactly when one exists. On the 8-slot grids every such set turns out placeable; the
 * unplaceable ones come from the media-engine rules (A30, RTX PRO 6000). */
static void test_every_slice_budget_set(void **state)
{
    int sets = 0, unplaceable = 0;
    (void)state;
    for (size_t i = 0; i < mk_catalog_count(cat); i++) {
        struct budget_walk w = {.m = mk_catalog_at(cat, i)};
        walk_budget(&w, 0, 0, 0, 0);
        assert_true(w.sets > 0);
        sets += w.sets;
        unplaceable += w.unplaceable;
    }
    print_message("%d sets within the slice budgets, %d of them unplaceable\n", sets, unplaceable);
    assert_true(unplaceable > 0);
}

static void test_malformed_specs(void **state)
{
    static struct mk_gpu g;
    static struct mk_layout_plan p;
    struct mk_layout_spec s = {.mig_enabled = true};
    struct mk_error err = {0};
    const struct mk_model *a100 = model("a100-sxm4-40gb");
    (void)state;

    gpu_on(&g, model("h100-sxm5-80gb"));
    spec_dev(&s, a100, "3g.20gb", 1); /* a profile of another model */
    assert_int_equal(mk_layout_plan(&g, &s, false, &p, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_false(p.feasible);
    assert_true(strlen(err.msg) > 0);

    memset(&err, 0, sizeof(err));
    s.nwant = 0;
    spec_add(&s, prof(g.model, "1g.10gb"), 1, 1); /* 2c in a 1g */
    assert_int_equal(mk_layout_plan(&g, &s, false, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "1g.10gb"));

    memset(&err, 0, sizeof(err));
    s.nwant = 0;
    spec_add(&s, prof(g.model, "1g.20gb"), 0, 1); /* 1g.20gb offers only the REV2 CI */
    assert_int_equal(mk_layout_plan(&g, &s, false, &p, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
}

/* ---- the proof by brute force ---- */

/* xorshift32 with a fixed seed: the same cases on every run. */
static uint32_t rng_state;

static int rnd_below(int n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (int)(rng_state % (uint32_t)n);
}

/* Adds up to `tries` GIs of random profiles at random placements (a quarter of them
 * automatic) to g; attempts the geometry refuses are skipped. */
static void random_gis(struct mk_gpu *g, int tries)
{
    const struct mk_model *m = g->model;
    for (int t = 0; t < tries; t++) {
        const struct mk_gi_profile *p = &m->profiles[rnd_below(m->nprofiles)];
        int start = rnd_below(4) == 0 ? -1 : p->starts[rnd_below(p->nstarts)];
        (void)mk_gpu_gi_create(g, p, start, NULL);
    }
}

/* A random valid current layout: MIG off now and then; otherwise random GIs, each with its
 * default CI, no CI, or a random set of CIs, and a fifth of them busy. */
static void random_current(struct mk_gpu *g, const struct mk_model *m)
{
    mk_gpu_init(g, m, 0);
    if (rnd_below(10) == 0)
        return;
    assert_int_equal(mk_gpu_set_mig(g, true), 0);
    random_gis(g, 1 + rnd_below(3 * m->max_gis));
    for (int i = 0; i < g->ngi; i++) {
        struct mk_gi *gi = &g->gi[i];
        int kind = rnd_below(6);
        if (kind >= 1 && kind <= 3) {
            add_ci(g, gi->id, gi->profile->ci_default);
        } else if (kind >= 4) {
            for (int n = 1 + rnd_below(4); n > 0; n--) {
                int ci = gi->profile->ci[rnd_below(gi->profile->nci)];
                if (mk_gi_ci_remaining(gi, m, ci) > 0)
                    add_ci(g, gi->id, ci);
            }
        }
        gi->busy = rnd_below(5) == 0;
    }
}

/* Adds one MIG device to s, merged with an identical want most of the time, in a want of
 * its own otherwise (the planner must treat split wants alike). */
static void spec_put(struct mk_layout_spec *s, const struct mk_gi_profile *p, int ci)
{
    if (rnd_below(4) != 0)
        for (int w = 0; w < s->nwant; w++)
            if (s->want[w].profile == p && s->want[w].ci_profile == ci) {
                s->want[w].count++;
                return;
            }
    spec_add(s, p, ci, 1);
}

/* One CI profile for a wanted device: the default mostly, any offered one otherwise. */
static int random_ci(const struct mk_gi_profile *p)
{
    return rnd_below(3) == 0 ? p->ci[rnd_below(p->nci)] : p->ci_default;
}

/*
 * A random target spec for cur, of one of four kinds: MIG off; the devices of a random valid
 * layout; the devices of a layout derived from cur (some of its GIs, with their CI profile
 * when they hold one CI, plus random new ones), which makes keeping and reusing likely; or a
 * random multiset of devices that may well be infeasible.
 */
static void random_spec(struct mk_layout_spec *s, const struct mk_gpu *cur)
{
    static struct mk_gpu t;
    const struct mk_model *m = cur->model;
    int kind = rnd_below(10), from_cur[MK_MAX_GIS];

    memset(s, 0, sizeof(*s));
    s->mig_enabled = kind != 0;
    if (kind == 0)
        return;
    if (kind >= 8) {
        for (int n = 1 + rnd_below(4); n > 0; n--) {
            const struct mk_gi_profile *p = &m->profiles[rnd_below(m->nprofiles)];
            spec_add(s, p, random_ci(p), 1 + rnd_below(3));
        }
        return;
    }
    gpu_on(&t, m);
    if (kind >= 4)
        for (int i = 0; i < cur->ngi; i++)
            if (rnd_below(4) != 0) {
                int r = mk_gpu_gi_create(&t, cur->gi[i].profile, cur->gi[i].start, NULL);
                assert_int_equal(r, 0);
                from_cur[t.ngi - 1] = i;
            }
    int ncur = t.ngi;
    random_gis(&t, rnd_below(2 * m->max_gis));
    for (int i = 0; i < t.ngi; i++) {
        const struct mk_gi_profile *p = t.gi[i].profile;
        const struct mk_gi *old = i < ncur ? &cur->gi[from_cur[i]] : NULL;
        if (old && old->nci == 1 && rnd_below(4) != 0)
            spec_put(s, p, old->ci[0].profile_id);
        else
            spec_put(s, p, random_ci(p));
    }
}

/* The oracle's state for one (current GPU, spec, force). */
struct oracle {
    const struct mk_gpu *cur;
    bool force;
    int nd; /* desired devices, identical ones adjacent */
    const struct mk_gi_profile *prof[MK_MAX_GIS];
    int ci[MK_MAX_GIS];
    int start[MK_MAX_GIS];
    long layouts; /* admissible target layouts */
    int best_kept, best_ops;
};

/* Scores the target layout in o->start[]: kept GIs and operations, or nothing when it would
 * destroy or change a busy GI without force. */
static void oracle_score(struct oracle *o)
{
    const struct mk_gpu *cur = o->cur;
    bool used[MK_MAX_GIS] = {false};
    int kept = 0, ops = cur->mig_enabled ? 0 : 1;

    for (int d = 0; d < o->nd; d++) {
        int e;
        for (e = 0; e < cur->ngi; e++)
            if (cur->gi[e].profile == o->prof[d] && cur->gi[e].start == o->start[d])
                break;
        if (e == cur->ngi) {
            ops += 2; /* create GI, create CI */
            continue;
        }
        const struct mk_gi *gi = &cur->gi[e];
        used[e] = true;
        if (gi->nci == 1 && gi->ci[0].profile_id == o->ci[d]) {
            kept++;
            continue;
        }
        if (gi->busy && !o->force)
            return;
        ops += gi->nci + 1; /* destroy its CIs, create the wanted one */
    }
    for (int e = 0; e < cur->ngi; e++) {
        if (used[e])
            continue;
        if (cur->gi[e].busy && !o->force)
            return;
        ops += cur->gi[e].nci + 1; /* destroy its CIs and the GI */
    }
    o->layouts++;
    if (kept > o->best_kept || (kept == o->best_kept && ops < o->best_ops)) {
        o->best_kept = kept;
        o->best_ops = ops;
    }
}

static bool same_device(const struct oracle *o, int a, int b)
{
    return o->prof[a] == o->prof[b] && o->ci[a] == o->ci[b];
}

/* Enumerates the placements of devices d.. on g (which holds those of 0..d-1), scoring each
 * complete layout. Identical devices take non-decreasing starts, so each set of placements
 * is seen once per assignment of distinct devices. */
static void oracle_walk(struct oracle *o, struct mk_gpu *g, int d)
{
    if (d == o->nd) {
        oracle_score(o);
        return;
    }
    const struct mk_gi_profile *p = o->prof[d];
    for (int i = 0; i < p->nstarts; i++) {
        int id;
        if (d > 0 && same_device(o, d, d - 1) && p->starts[i] < o->start[d - 1])
            continue;
        if (mk_gpu_gi_create(g, p, p->starts[i], &id) < 0)
            continue;
        o->start[d] = p->starts[i];
        oracle_walk(o, g, d + 1);
        assert_int_equal(mk_gpu_gi_destroy(g, id), 0);
    }
}

/* Runs the oracle: fills o's best_kept/best_ops, and layouts (0 when infeasible). */
static void oracle_run(struct oracle *o, const struct mk_gpu *cur, const struct mk_layout_spec *s,
                       bool force)
{
    static struct mk_gpu g;
    memset(o, 0, sizeof(*o));
    o->cur = cur;
    o->force = force;
    o->best_kept = -1;
    if (!s->mig_enabled) {
        /* everything goes; the mode changes when it is on */
        int ops = cur->mig_enabled ? 1 : 0;
        for (int e = 0; e < cur->ngi; e++) {
            if (cur->gi[e].busy && !force)
                return;
            ops += cur->gi[e].nci + 1;
        }
        o->layouts = 1;
        o->best_kept = 0;
        o->best_ops = ops;
        return;
    }
    if (spec_total(s) > MK_MAX_GIS)
        return; /* no GPU holds that many GIs */
    for (int w = 0; w < s->nwant; w++)
        for (int k = 0; k < s->want[w].count; k++) {
            /* insert keeping identical devices adjacent */
            int at = o->nd;
            for (int j = 0; j < o->nd; j++)
                if (o->prof[j] == s->want[w].profile && o->ci[j] == s->want[w].ci_profile)
                    at = j + 1;
            memmove(&o->prof[at + 1], &o->prof[at], (size_t)(o->nd - at) * sizeof(o->prof[0]));
            memmove(&o->ci[at + 1], &o->ci[at], (size_t)(o->nd - at) * sizeof(o->ci[0]));
            o->prof[at] = s->want[w].profile;
            o->ci[at] = s->want[w].ci_profile;
            o->nd++;
        }
    gpu_on(&g, cur->model);
    oracle_walk(o, &g, 0);
}

struct proof_stats {
    int cases, feasible, infeasible, blocked, kept, reused, destroyed, forced;
    long layouts;
};

/* One case: the planner against the oracle, with the plan carried out and checked. */
static void prove_case(const struct mk_gpu *cur, const struct mk_layout_spec *s, bool force,
                       struct proof_stats *st, int n)
{
    static struct mk_layout_plan p;
    struct oracle o;

    oracle_run(&o, cur, s, force);
    assert_int_equal(plan(cur, s, force, &p), 0);
    st->cases++;
    st->layouts += o.layouts;
    if (p.feasible != (o.layouts > 0))
        fail_msg("%s case %d force %d: planner feasible %d, oracle %ld layouts (%s)",
                 cur->model->slug, n, force, p.feasible, o.layouts, p.why);
    if (!p.feasible) {
        struct oracle forced;
        assert_true(strlen(p.why) > 0);
        assert_int_equal(p.nops, 0);
        st->infeasible++;
        if (!force) {
            /* blocked by busy GIs exactly when force would make it feasible */
            oracle_run(&forced, cur, s, true);
            if ((forced.layouts > 0) != (strstr(p.why, "in use") != NULL))
                fail_msg("%s case %d: why \"%s\", %ld layouts with force", cur->model->slug, n,
                         p.why, forced.layouts);
            st->blocked += forced.layouts > 0;
        }
        return;
    }
    if (p.kept != o.best_kept || p.nops != o.best_ops)
        fail_msg("%s case %d force %d: planner kept %d in %d ops, best is %d in %d",
                 cur->model->slug, n, force, p.kept, p.nops, o.best_kept, o.best_ops);
    check_plan(cur, s, force, &p, NULL);
    st->feasible++;
    st->kept += p.kept > 0;
    st->reused += p.reused > 0;
    st->destroyed += p.destroyed > 0;
    st->forced += p.forced > 0;
}

/* Random cases per model, each run with force off and on: 2000 x 13 models x 2 take about
 * a second under ASan. -DPROOF_CASES=N for longer runs. */
#ifndef PROOF_CASES
#define PROOF_CASES 2000
#endif

/* PROOF_CASES random cases per model, each with force off and on. */
static void test_brute_force_proof(void **state)
{
    static struct mk_gpu cur;
    struct mk_layout_spec s;
    struct proof_stats st = {0};
    (void)state;

    for (size_t i = 0; i < mk_catalog_count(cat); i++) {
        const struct mk_model *m = mk_catalog_at(cat, i);
        rng_state = 0x9e3779b9u + (uint32_t)i;
        for (int n = 0; n < PROOF_CASES; n++) {
            random_current(&cur, m);
            random_spec(&s, &cur);
            prove_case(&cur, &s, false, &st, n);
            prove_case(&cur, &s, true, &st, n);
        }
    }
    print_message("%d cases: %d feasible, %d infeasible (%d blocked by busy GIs); plans that "
                  "keep %d, reuse %d, destroy %d, force %d; %ld layouts enumerated\n",
                  st.cases, st.feasible, st.infeasible, st.blocked, st.kept, st.reused,
                  st.destroyed, st.forced, st.layouts);
    /* the cases must exercise every outcome */
    assert_true(st.feasible > 0 && st.infeasible > 0 && st.blocked > 0);
    assert_true(st.kept > 0 && st.reused > 0 && st.destroyed > 0 && st.forced > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h100_3211_to_3g_and_four_1g),
        cmocka_unit_test(test_noop_when_current_matches),
        cmocka_unit_test(test_mig_off_to_on),
        cmocka_unit_test(test_mig_on_to_off),
        cmocka_unit_test(test_reuse_gi_with_new_cis),
        cmocka_unit_test(test_reuse_picks_the_ci_profile_that_lets_others_stay),
        cmocka_unit_test(test_busy_gi_blocks_without_force),
        cmocka_unit_test(test_busy_gi_not_reused_without_force),
        cmocka_unit_test(test_busy_gi_that_matches_is_kept),
        cmocka_unit_test(test_profile_over_its_max),
        cmocka_unit_test(test_more_gis_than_the_gpu_holds),
        cmocka_unit_test(test_unplaceable_sets),
        cmocka_unit_test(test_every_slice_budget_set),
        cmocka_unit_test(test_malformed_specs),
        cmocka_unit_test(test_brute_force_proof),
    };
    return cmocka_run_group_tests(tests, setup_catalog, teardown_catalog);
}
