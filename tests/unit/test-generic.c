/*
 * test-generic.c - unit tests of the generic geometry for GPUs outside the catalog
 * (src/core/generic.c, docs/geometry.md "Generic geometry"): the layout each real GPU gets
 * from its SM count and memory (the figures NVML reports for an L4, L40S, RTX 4090, T4), the
 * profile names, memory and SMs, that the slices never promise more than the GPU has, and
 * that the geometry functions place instances on the result as on hardware.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "migkit/catalog.h"
#include "migkit/geometry.h"

/* A model is ~50 KiB: static, not on cmocka's stack. */
static struct mk_model model;

struct expect {
    const char *name;
    int id, sms;
    uint32_t memory_mib;
};

static void check_profiles(const struct mk_model *m, const struct expect *e, int n)
{
    assert_int_equal(m->nprofiles, n);
    for (int i = 0; i < n; i++) {
        const struct mk_gi_profile *p = mk_model_profile_by_name(m, e[i].name);
        if (!p)
            fail_msg("%s has no profile %s", m->slug, e[i].name);
        assert_int_equal(p->id, e[i].id);
        assert_int_equal(p->sms, e[i].sms);
        assert_int_equal(p->memory_mib, e[i].memory_mib);
    }
}

/* What the slices promise, every 1g instance at once and the full GPU profile, fits the GPU
 * with the context reserve (512 MiB per compute slice) left over. */
static void check_fits(const struct mk_model *m)
{
    for (int i = 0; i < m->nprofiles; i++) {
        const struct mk_gi_profile *p = &m->profiles[i];
        assert_true((uint64_t)p->memory_mib * (uint64_t)(m->grid / p->mem_slices) +
                        512u * (uint64_t)m->compute_slices <=
                    m->memory_mib);
        assert_true(p->sms <= m->sm_total);
        assert_int_equal(p->sms % 2 == 0 || p->compute_slices == m->compute_slices, 1);
    }
}

static void l4(void **state)
{
    /* NVIDIA L4: 58 SMs, 23034 MiB. (23034 - 7 x 512) / 8 = 2431 -> 2304 MiB a slice. */
    static const struct expect e[] = {{"1g.2gb", 19, 8, 2304},
                                      {"2g.4gb", 14, 16, 4608},
                                      {"3g.9gb", 9, 24, 9216},
                                      {"4g.9gb", 5, 32, 9216},
                                      {"7g.18gb", 0, 58, 18432}};
    (void)state;
    assert_int_equal(mk_model_generic("NVIDIA L4", 0x27B810DE, 23034, 58, &model), 0);
    assert_string_equal(model.slug, "generic-58sm-23034mib");
    assert_string_equal(model.name, "NVIDIA L4");
    assert_int_equal(model.grid, 8);
    assert_int_equal(model.compute_slices, 7);
    check_profiles(&model, e, 5);
    check_fits(&model);
}

static void l40s(void **state)
{
    /* NVIDIA L40S: 142 SMs, 46068 MiB. (46068 - 3584) / 8 = 5310 -> 5120 MiB a slice. */
    static const struct expect e[] = {{"1g.5gb", 19, 20, 5120},
                                      {"2g.10gb", 14, 40, 10240},
                                      {"3g.20gb", 9, 60, 20480},
                                      {"4g.20gb", 5, 80, 20480},
                                      {"7g.40gb", 0, 142, 40960}};
    (void)state;
    assert_int_equal(mk_model_generic("NVIDIA L40S", 0, 46068, 142, &model), 0);
    assert_int_equal(model.grid, 8);
    check_profiles(&model, e, 5);
    check_fits(&model);
}

static void rtx4090(void **state)
{
    /* GeForce RTX 4090: 128 SMs, 24564 MiB. (24564 - 3584) / 8 = 2622 -> 2560 MiB. */
    static const struct expect e[] = {{"1g.2gb", 19, 18, 2560},
                                      {"2g.5gb", 14, 36, 5120},
                                      {"3g.10gb", 9, 54, 10240},
                                      {"4g.10gb", 5, 72, 10240},
                                      {"7g.20gb", 0, 128, 20480}};
    (void)state;
    assert_int_equal(mk_model_generic("NVIDIA GeForce RTX 4090", 0, 24564, 128, &model), 0);
    check_profiles(&model, e, 5);
    check_fits(&model);
}

static void t4(void **state)
{
    /* Tesla T4: 40 SMs (< 56: the small layout), 15360 MiB. (15360 - 4 x 512) / 4 = 3328. */
    static const struct expect e[] = {
        {"1g.3gb", 14, 10, 3328}, {"2g.6gb", 5, 20, 6656}, {"4g.13gb", 0, 40, 13312}};
    (void)state;
    assert_int_equal(mk_model_generic("Tesla T4", 0, 15360, 40, &model), 0);
    assert_int_equal(model.grid, 4);
    assert_int_equal(model.compute_slices, 4);
    check_profiles(&model, e, 3);
    check_fits(&model);
}

static void thresholds(void **state)
{
    (void)state;
    /* many SMs but 16 GiB: a 2 GiB slice does not fit beside the reserve: small layout */
    assert_int_equal(mk_model_generic("16 GB card", 0, 16376, 76, &model), 0);
    assert_int_equal(model.grid, 4);
    /* 56 SMs and 20 GiB: large; 55 SMs: small */
    assert_int_equal(mk_model_generic("x", 0, 20480, 56, &model), 0);
    assert_int_equal(model.grid, 8);
    assert_int_equal(mk_model_generic("x", 0, 20480, 55, &model), 0);
    assert_int_equal(model.grid, 4);
    /* too small for slices: no profiles, custom instances only */
    assert_int_equal(mk_model_generic("tiny", 0, 4096, 6, &model), 0);
    assert_int_equal(model.nprofiles, 0);
    assert_int_equal(model.sm_total, 6);
    assert_int_equal(mk_model_generic("tiny", 0, 2048, 40, &model), 0);
    assert_int_equal(model.nprofiles, 0);
    assert_int_equal(mk_model_generic("x", 0, 4096, 0, &model), -EINVAL);
    assert_int_equal(mk_model_generic("x", 0, 0, 8, &model), -EINVAL);
    assert_int_equal(mk_model_generic(NULL, 0, 4096, 8, &model), -EINVAL);
}

/* The geometry places generic profiles as on an A100: seven 1g, then nothing more; a 3g and
 * a 4g side by side; the driver's automatic order. */
static void placements(void **state)
{
    static struct mk_gpu g;
    const struct mk_gi_profile *one, *three, *four;
    int id, r;
    (void)state;
    assert_int_equal(mk_model_generic("NVIDIA L4", 0, 23034, 58, &model), 0);
    one = mk_model_profile_by_name(&model, "1g.2gb");
    three = mk_model_profile_by_name(&model, "3g.9gb");
    four = mk_model_profile_by_name(&model, "4g.9gb");
    assert_non_null(one);
    mk_gpu_init(&g, &model, 0);
    assert_int_equal(mk_gpu_set_mig(&g, true), 0);
    assert_int_equal(mk_gpu_gi_remaining(&g, one), 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(mk_gpu_gi_create(&g, one, -1, &id), 0);
    assert_int_equal(g.gi[0].start, 6); /* the A100's automatic order starts at slot 6 */
    r = mk_gpu_gi_create(&g, one, -1, &id);
    assert_true(r < 0);
    mk_gpu_init(&g, &model, 0);
    assert_int_equal(mk_gpu_set_mig(&g, true), 0);
    assert_int_equal(mk_gpu_gi_create(&g, four, 0, &id), 0);
    assert_int_equal(mk_gpu_gi_create(&g, three, 4, &id), 0);
    assert_int_equal(mk_gpu_validate(&g, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(l4), cmocka_unit_test(l40s),       cmocka_unit_test(rtx4090),
        cmocka_unit_test(t4), cmocka_unit_test(thresholds), cmocka_unit_test(placements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
