/*
 * test-catalog.c - unit tests of the GPU catalog (src/core/catalog.c): the built-in models and
 * their values against shared/reference/mig-gpus.md, the naming rule, profile lookups, the
 * loader's validation and its all-or-nothing behaviour, and the CI helpers.
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

/* The 13 models of data/gpus (docs/catalog.md), sorted by slug as mk_catalog_at() returns them. */
static const char *const builtin_slugs[] = {
    "a100-sxm4-40gb", "a100-sxm4-80gb", "a30-24gb",          "b200-180gb",     "gb200-186gb",
    "gh200-144gb",    "gh200-96gb",     "h100-nvl-94gb",     "h100-pcie-80gb", "h100-sxm5-80gb",
    "h20-96gb",       "h200-141gb",     "rtx-pro-6000-96gb",
};

/*
 * A small valid model used as the base of the loader tests: each bad catalog below is this text
 * with one substring replaced, so a rejection can only come from that one change.
 */
static const char base_model[] =
    "{\n"
    "  \"slug\": \"test-gpu-80gb\",\n"
    "  \"name\": \"Test GPU 80GB\",\n"
    "  \"pci_device_ids\": [\"0xFFF010DE\"],\n"
    "  \"memory_mib\": 81559,\n"
    "  \"name_base_gib\": 80,\n"
    "  \"sm_total\": 132,\n"
    "  \"grid\": 8,\n"
    "  \"compute_slices\": 7,\n"
    "  \"max_gis\": 7,\n"
    "  \"ci_profiles\": [{\"id\": 0, \"slices\": 1}, {\"id\": 1, \"slices\": 2},\n"
    "                  {\"id\": 2, \"slices\": 3}, {\"id\": 4, \"slices\": 7}],\n"
    "  \"gi_profiles\": [\n"
    "    {\"name\": \"1g.10gb\", \"id\": 19, \"nvml\": \"1_SLICE\", \"mem_slices\": 1,\n"
    "     \"compute_slices\": 1, \"sms\": 16, \"memory_mib\": 9984, \"dec\": 1, \"enc\": 0,\n"
    "     \"ce\": 1, \"jpeg\": 1, \"ofa\": 0, \"max\": 7, \"starts\": [0, 1, 2, 3, 4, 5, 6],\n"
    "     \"ci\": [0], \"ci_default\": 0},\n"
    "    {\"name\": \"3g.40gb\", \"id\": 9, \"nvml\": \"3_SLICE\", \"mem_slices\": 4,\n"
    "     \"compute_slices\": 3, \"sms\": 60, \"memory_mib\": 40448, \"dec\": 3, \"enc\": 0,\n"
    "     \"ce\": 3, \"jpeg\": 3, \"ofa\": 0, \"max\": 2, \"starts\": [0, 4],\n"
    "     \"ci\": [0, 1, 2], \"ci_default\": 2},\n"
    "    {\"name\": \"7g.80gb\", \"id\": 0, \"nvml\": \"7_SLICE\", \"mem_slices\": 8,\n"
    "     \"compute_slices\": 7, \"sms\": 132, \"memory_mib\": 81152, \"dec\": 7, \"enc\": 0,\n"
    "     \"ce\": 8, \"jpeg\": 7, \"ofa\": 1, \"max\": 1, \"starts\": [0],\n"
    "     \"ci\": [0, 1, 2, 4], \"ci_default\": 4}\n"
    "  ]\n"
    "}\n";

static int setup_catalog(void **state)
{
    struct mk_catalog *cat = NULL;
    struct mk_error err = {0};
    if (mk_catalog_new(&cat, &err) < 0) {
        fprintf(stderr, "mk_catalog_new: %s\n", mk_strerror(&err));
        return -1;
    }
    *state = cat;
    return 0;
}

static int teardown_catalog(void **state)
{
    mk_catalog_free(*state);
    return 0;
}

static const struct mk_model *model(void **state, const char *slug)
{
    const struct mk_model *m = mk_catalog_find(*state, slug);
    if (!m)
        fail_msg("model %s is not in the catalog", slug);
    return m;
}

static const struct mk_gi_profile *profile(const struct mk_model *m, const char *name)
{
    const struct mk_gi_profile *p = mk_model_profile_by_name(m, name);
    if (!p)
        fail_msg("%s has no profile %s", m->slug, name);
    return p;
}

/* Writes base with the first occurrence of from replaced by to into out; from must occur. */
static const char *replace_once(const char *base, const char *from, const char *to, char *out,
                                size_t len)
{
    const char *at = strstr(base, from);
    if (!at)
        fail_msg("test bug: \"%s\" is not in the base text", from);
    snprintf(out, len, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    return out;
}

/* Loads text that must be rejected with -EINVAL and a message naming the origin and must_contain,
 * and checks that the catalog did not change. */
static void expect_rejected(struct mk_catalog *cat, const char *text, const char *must_contain)
{
    struct mk_error err = {0};
    size_t before = mk_catalog_count(cat);
    int r = mk_catalog_load_string(cat, text, "bad.json", &err);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    if (!strstr(err.msg, must_contain))
        fail_msg("message \"%s\" does not mention \"%s\"", err.msg, must_contain);
    if (!strstr(err.msg, "bad.json"))
        fail_msg("message \"%s\" does not name the origin", err.msg);
    assert_int_equal(mk_catalog_count(cat), before);
    assert_null(mk_catalog_find(cat, "test-gpu-80gb"));
}

/* ---- built-in models ---- */

static void test_builtin_models_all_load(void **state)
{
    struct mk_catalog *cat = *state;
    assert_int_equal(mk_catalog_count(cat), MK_ELEMENTSOF(builtin_slugs));
    for (size_t i = 0; i < MK_ELEMENTSOF(builtin_slugs); i++) {
        const struct mk_model *m = mk_catalog_at(cat, i);
        assert_non_null(m);
        assert_string_equal(m->slug, builtin_slugs[i]); /* sorted by slug */
        assert_ptr_equal(mk_catalog_find(cat, builtin_slugs[i]), m);
        assert_true(m->nprofiles > 0);
        assert_true(m->nci_profiles > 0);
        assert_true(m->npci > 0);
    }
    assert_null(mk_catalog_at(cat, MK_ELEMENTSOF(builtin_slugs)));
    assert_null(mk_catalog_find(cat, "l40s-48gb"));
}

static void test_profile_names_follow_naming_rule(void **state)
{
    struct mk_catalog *cat = *state;
    for (size_t i = 0; i < mk_catalog_count(cat); i++) {
        const struct mk_model *m = mk_catalog_at(cat, i);
        for (int k = 0; k < m->nprofiles; k++) {
            const struct mk_gi_profile *p = &m->profiles[k];
            char buf[MK_NAME_LEN];
            mk_model_profile_name(m, p->nvml, p->compute_slices, p->memory_mib, buf, sizeof(buf));
            if (strcmp(buf, p->name) != 0)
                fail_msg("%s profile %d: computed \"%s\", stored \"%s\"", m->slug, p->id, buf,
                         p->name);
            assert_ptr_equal(mk_model_profile_by_id(m, p->id), p);
            assert_ptr_equal(mk_model_profile_by_name(m, p->name), p);
            assert_int_equal(mk_model_profile_index(m, p), k);
        }
    }
}

static void test_profile_name_rule_examples(void **state)
{
    const struct mk_model *h100 = model(state, "h100-sxm5-80gb");
    const struct mk_model *gb200 = model(state, "gb200-186gb");
    char buf[MK_NAME_LEN];
    /* The tooling's old miscomputed names (reference §2.4) must not come out of the rule. */
    assert_string_equal(
        mk_model_profile_name(h100, MK_GI_CONST_7_SLICE, 7, 81152, buf, sizeof(buf)), "7g.80gb");
    assert_string_equal(
        mk_model_profile_name(h100, MK_GI_CONST_1_SLICE_REV1, 1, 9984, buf, sizeof(buf)),
        "1g.10gb+me");
    assert_string_equal(
        mk_model_profile_name(gb200, MK_GI_CONST_1_SLICE, 1, 22528, buf, sizeof(buf)), "1g.23gb");
}

static void test_values_h100_sxm5(void **state)
{
    const struct mk_model *m = model(state, "h100-sxm5-80gb");
    const struct mk_gi_profile *p = profile(m, "1g.20gb");
    assert_string_equal(m->name, "NVIDIA H100 80GB HBM3");
    assert_int_equal(m->grid, 8);
    assert_int_equal(m->compute_slices, 7);
    assert_int_equal(m->max_gis, 7);
    assert_int_equal(p->id, 15);
    assert_int_equal(p->nvml, MK_GI_CONST_1_SLICE_REV2);
    assert_int_equal(p->sms, 26);
    assert_int_equal(p->memory_mib, 20096);
    assert_int_equal(p->mem_slices, 2);
    assert_int_equal(p->max, 4);
    assert_int_equal(p->ci_default, 7);

    p = profile(m, "1g.10gb");
    assert_int_equal(p->id, 19);
    assert_int_equal(p->sms, 16);
    assert_int_equal(p->memory_mib, 9984);
    assert_int_equal(p->nstarts, 7);
    assert_int_equal(p->starts[6], 6);
    assert_int_equal(p->media, MK_MEDIA_PLAIN);
    assert_int_equal(profile(m, "1g.10gb+me")->media, MK_MEDIA_ME);

    p = profile(m, "7g.80gb");
    assert_int_equal(p->id, 0);
    assert_int_equal(p->sms, 132);
    assert_int_equal(p->ce, 8);
}

static void test_values_a100_40gb(void **state)
{
    const struct mk_model *m = model(state, "a100-sxm4-40gb");
    const struct mk_gi_profile *p = profile(m, "7g.40gb");
    assert_int_equal(p->id, 0);
    assert_int_equal(p->memory_mib, 40192);
    assert_int_equal(p->sms, 98);
    assert_int_equal(p->mem_slices, 8);
    p = profile(m, "3g.20gb");
    assert_int_equal(p->id, 9);
    assert_int_equal(p->sms, 42);
    assert_int_equal(p->memory_mib, 19968);
    assert_int_equal(p->nstarts, 2);
    assert_int_equal(p->starts[0], 0);
    assert_int_equal(p->starts[1], 4);
}

static void test_values_rtx_pro_6000(void **state)
{
    const struct mk_model *m = model(state, "rtx-pro-6000-96gb");
    const struct mk_gi_profile *p = profile(m, "1g.24gb+me.all");
    assert_int_equal(m->grid, 12);
    assert_int_equal(m->compute_slices, 4);
    assert_int_equal(m->max_gis, 4);
    assert_int_equal(p->id, 65);
    assert_int_equal(p->nvml, MK_GI_CONST_1_SLICE_ALL_ME);
    assert_int_equal(p->media, MK_MEDIA_ALL_ME);
    assert_int_equal(p->mem_slices, 3);
    assert_int_equal(p->max, 1);
    assert_int_equal(profile(m, "1g.24gb-me")->id, 67);
    assert_int_equal(profile(m, "1g.24gb-me")->media, MK_MEDIA_NO_ME);
    assert_int_equal(profile(m, "1g.24gb+gfx")->id, 47);
    assert_int_equal(profile(m, "4g.96gb")->id, 0);
    /* -lgip row order, not sorted by ID (reference §4.13) */
    assert_string_equal(m->profiles[0].name, "1g.24gb");
    assert_string_equal(m->profiles[3].name, "1g.24gb+me.all");
    assert_string_equal(m->profiles[10].name, "4g.96gb+gfx");
}

static void test_values_a30_b200_gb200(void **state)
{
    const struct mk_model *a30 = model(state, "a30-24gb");
    const struct mk_model *b200 = model(state, "b200-180gb");
    const struct mk_model *gb200 = model(state, "gb200-186gb");
    const struct mk_gi_profile *p;
    bool found = false;

    assert_int_equal(profile(a30, "1g.6gb")->id, 14);
    assert_int_equal(profile(a30, "1g.6gb")->memory_mib, 5952);
    assert_int_equal(profile(a30, "2g.12gb+me")->id, 6);
    assert_int_equal(a30->grid, 4);

    assert_int_equal(profile(b200, "1g.45gb")->sms, 30);
    assert_int_equal(profile(b200, "1g.45gb")->id, 15);

    p = profile(gb200, "7g.186gb");
    for (int i = 0; i < p->nnames_alt; i++)
        found = found || strcmp(p->names_alt[i], "7g.189gb") == 0;
    assert_true(found);
    /* an alternative name finds the profile too */
    assert_ptr_equal(mk_model_profile_by_name(gb200, "7g.189gb"), p);
    assert_ptr_equal(mk_model_profile_by_name(gb200, "MIG 1g.24gb"), profile(gb200, "1g.23gb"));
}

static void test_unverified_bits_follow_reference(void **state)
{
    const struct mk_model *gh = model(state, "gh200-144gb");
    const struct mk_model *h100 = model(state, "h100-sxm5-80gb");
    const unsigned inf = MK_FIELD(ID) | MK_FIELD(SMS) | MK_FIELD(MEMORY);

    assert_int_equal(profile(gh, "3g.72gb")->unverified & inf, inf);
    assert_int_equal(profile(gh, "7g.144gb")->unverified & inf, inf);
    /* real rows of the same GPU carry no ID/SM/memory flags */
    assert_int_equal(profile(gh, "1g.18gb")->unverified & inf, 0);
    /* every H100 SXM5 1g.10gb value is real (§4.4) */
    assert_int_equal(profile(h100, "1g.10gb")->unverified, 0);
    assert_int_equal(profile(h100, "3g.40gb")->unverified, 0);
    /* H100 PCIe GI IDs differ from the model (§6.2): flagged at model level */
    assert_true(model(state, "h100-pcie-80gb")->unverified & MK_FIELD(GI_IDS));
    assert_string_equal(mk_field_name(MK_FIELD_BIT_MEMORY), "memory_mib");
    assert_null(mk_field_name(MK_FIELD__COUNT));
    assert_null(mk_field_name(-1));
}

static void test_profile_by_name_accepts_mig_prefix(void **state)
{
    const struct mk_model *h100 = model(state, "h100-sxm5-80gb");
    const struct mk_gi_profile *p = profile(h100, "3g.40gb");
    assert_int_equal(p->id, 9);
    assert_ptr_equal(mk_model_profile_by_name(h100, "MIG 3g.40gb"), p);
    assert_null(mk_model_profile_by_name(h100, "7g.40gb"));
    assert_null(mk_model_profile_by_name(h100, "3g.40"));
    assert_null(mk_model_profile_by_name(h100, "MIG"));
    assert_null(mk_model_profile_by_name(h100, ""));
    assert_null(mk_model_profile_by_id(h100, 1));
}

static void test_find_by_pci_id(void **state)
{
    struct mk_catalog *cat = *state;
    const struct mk_model *m = mk_catalog_find_pci(cat, 0x233010DE);
    assert_non_null(m);
    assert_string_equal(m->slug, "h100-sxm5-80gb");
    m = mk_catalog_find_pci(cat, 0x233B10DE); /* H200 NVL shares the H200 model */
    assert_non_null(m);
    assert_string_equal(m->slug, "h200-141gb");
    m = mk_catalog_find_pci(cat, 0x2BB410DE); /* RTX PRO 6000 Max-Q */
    assert_non_null(m);
    assert_string_equal(m->slug, "rtx-pro-6000-96gb");
    assert_null(mk_catalog_find_pci(cat, 0x27B810DE)); /* L4: no MIG */
}

static void test_gi_const_names_round_trip(void **state)
{
    (void)state;
    assert_string_equal(mk_gi_const_name(MK_GI_CONST_1_SLICE_REV2), "1_SLICE_REV2");
    assert_int_equal(mk_gi_const_parse("1_SLICE_ALL_ME"), 0xF);
    assert_int_equal(mk_gi_const_parse("3_SLICE_GFX"), 0x11);
    assert_int_equal(mk_gi_const_parse("9_SLICE"), -EINVAL);
    assert_null(mk_gi_const_name(0x12));
}

/* ---- the loader ---- */

static void test_load_base_model_succeeds(void **state)
{
    struct mk_catalog *cat = *state;
    struct mk_error err = {0};
    size_t before = mk_catalog_count(cat);
    const struct mk_model *m;
    int r = mk_catalog_load_string(cat, base_model, "base.json", &err);
    if (r < 0)
        fail_msg("base model rejected: %s", err.msg);
    assert_int_equal(mk_catalog_count(cat), before + 1);
    m = mk_catalog_find(cat, "test-gpu-80gb");
    assert_non_null(m);
    assert_int_equal(m->nprofiles, 3);
    assert_int_equal(m->gi_id_unit, 1); /* default */
    /* auto_order defaults to starts */
    assert_int_equal(m->profiles[1].nauto, 2);
    assert_int_equal(m->profiles[1].auto_order[0], 0);
    assert_int_equal(m->profiles[1].auto_order[1], 4);
    assert_ptr_equal(mk_catalog_find_pci(cat, 0xFFF010DE), m);
}

static void test_load_rejects_unknown_key(void **state)
{
    char buf[sizeof(base_model) + 256];
    expect_rejected(
        *state,
        replace_once(base_model, "\"grid\": 8,", "\"grid\": 8, \"gird\": 8,", buf, sizeof(buf)),
        "gird");
    expect_rejected(
        *state,
        replace_once(base_model, "\"max\": 2,", "\"max\": 2, \"maxx\": 2,", buf, sizeof(buf)),
        "gi_profiles[1].maxx");
}

static void test_load_rejects_start_out_of_grid(void **state)
{
    char buf[sizeof(base_model) + 256], buf2[sizeof(base_model) + 256];
    /* Starts past the grid end, then an aligned start whose placement runs past it (a 3-slice
     * placement at 6 on an 8-slice grid). */
    expect_rejected(
        *state,
        replace_once(base_model, "\"starts\": [0, 4]", "\"starts\": [0, 8]", buf, sizeof(buf)),
        "gi_profiles[1].starts[1]");
    expect_rejected(*state,
                    replace_once(base_model, "[0, 1, 2, 3, 4, 5, 6]", "[0, 1, 2, 3, 4, 5, 9]", buf,
                                 sizeof(buf)),
                    "gi_profiles[0].starts[6]");
    replace_once(base_model, "\"mem_slices\": 4", "\"mem_slices\": 3", buf2, sizeof(buf2));
    expect_rejected(
        *state, replace_once(buf2, "\"starts\": [0, 4]", "\"starts\": [0, 6]", buf, sizeof(buf)),
        "gi_profiles[1].starts[1]");
}

static void test_load_rejects_misaligned_start(void **state)
{
    char buf[sizeof(base_model) + 256];
    expect_rejected(
        *state,
        replace_once(base_model, "\"starts\": [0, 4]", "\"starts\": [0, 2]", buf, sizeof(buf)),
        "gi_profiles[1].starts[1]");
}

static void test_load_rejects_ci_default_not_in_ci(void **state)
{
    char buf[sizeof(base_model) + 256];
    expect_rejected(
        *state,
        replace_once(base_model, "\"ci_default\": 2", "\"ci_default\": 4", buf, sizeof(buf)),
        "gi_profiles[1].ci_default");
    /* a CI profile the model lacks */
    expect_rejected(
        *state,
        replace_once(base_model, "\"ci\": [0, 1, 2]", "\"ci\": [0, 1, 3]", buf, sizeof(buf)),
        "gi_profiles[1].ci[2]");
}

static void test_load_rejects_wrong_name(void **state)
{
    char buf[sizeof(base_model) + 256];
    expect_rejected(*state, replace_once(base_model, "7g.80gb", "7g.79gb", buf, sizeof(buf)),
                    "gi_profiles[2].name");
    expect_rejected(*state, replace_once(base_model, "3g.40gb", "3g.39gb", buf, sizeof(buf)),
                    "\"3g.40gb\"");
}

static void test_load_rejects_duplicate_profile_id(void **state)
{
    char buf[sizeof(base_model) + 256];
    expect_rejected(*state, replace_once(base_model, "\"id\": 9,", "\"id\": 19,", buf, sizeof(buf)),
                    "gi_profiles[1]");
}

static void test_load_rejects_syntax_error_with_position(void **state)
{
    struct mk_catalog *cat = *state;
    struct mk_error err = {0};
    size_t before = mk_catalog_count(cat);
    char buf[sizeof(base_model) + 256];
    unsigned line = 0, col = 0;
    char rest = 0;
    /* drop the comma after "sm_total": line 7 of the text */
    int r = mk_catalog_load_string(
        cat, replace_once(base_model, "\"sm_total\": 132,", "\"sm_total\": 132", buf, sizeof(buf)),
        "syntax.json", &err);
    assert_int_equal(r, -EINVAL);
    if (sscanf(err.msg, "syntax.json:%u:%u%c", &line, &col, &rest) != 3 || rest != ':')
        fail_msg("message \"%s\" is not origin:L:C: ...", err.msg);
    assert_int_equal(line, 8); /* the error is seen at the next token */
    assert_true(col > 0);
    assert_int_equal(mk_catalog_count(cat), before);

    r = mk_catalog_load_string(cat, "", "empty.json", &err);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(err.msg, "empty.json:"));
}

static void test_load_failure_leaves_catalog_unchanged(void **state)
{
    struct mk_catalog *cat = *state;
    struct mk_error err = {0};
    size_t before = mk_catalog_count(cat);
    char good_new[sizeof(base_model) + 64], good_repl[sizeof(base_model) + 64];
    char bad[sizeof(base_model) + 64], text[3 * sizeof(base_model) + 256];
    const struct mk_model *h100 = mk_catalog_find(cat, "h100-sxm5-80gb");
    struct mk_model saved = *h100;

    /* [valid new model, valid replacement of h100, invalid model]: nothing may be merged */
    replace_once(base_model, "test-gpu-80gb", "aaa-new-gpu", good_new, sizeof(good_new));
    replace_once(base_model, "test-gpu-80gb", "h100-sxm5-80gb", good_repl, sizeof(good_repl));
    replace_once(base_model, "\"starts\": [0, 4]", "\"starts\": [0, 2]", bad, sizeof(bad));
    snprintf(text, sizeof(text), "[%s,%s,%s]", good_new, good_repl, bad);
    assert_int_equal(mk_catalog_load_string(cat, text, "mixed.json", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "starts"));
    assert_int_equal(mk_catalog_count(cat), before);
    assert_null(mk_catalog_find(cat, "aaa-new-gpu"));
    h100 = mk_catalog_find(cat, "h100-sxm5-80gb");
    assert_non_null(h100);
    assert_memory_equal(h100, &saved, sizeof(saved));
    assert_int_equal(h100->nprofiles, 7);
}

static void test_load_same_slug_replaces_model(void **state)
{
    struct mk_catalog *cat = *state;
    struct mk_error err = {0};
    size_t before = mk_catalog_count(cat);
    char text[sizeof(base_model) + 64];
    const struct mk_model *m;

    replace_once(base_model, "test-gpu-80gb", "h100-sxm5-80gb", text, sizeof(text));
    assert_int_equal(mk_catalog_load_string(cat, text, "replace.json", &err), 0);
    assert_int_equal(mk_catalog_count(cat), before);
    m = mk_catalog_find(cat, "h100-sxm5-80gb");
    assert_non_null(m);
    assert_string_equal(m->name, "Test GPU 80GB");
    assert_int_equal(m->nprofiles, 3);
    assert_null(mk_model_profile_by_name(m, "1g.20gb"));
    assert_ptr_equal(mk_catalog_find_pci(cat, 0xFFF010DE), m);
    assert_null(mk_catalog_find_pci(cat, 0x233010DE));
    /* still sorted */
    for (size_t i = 1; i < mk_catalog_count(cat); i++)
        assert_true(strcmp(mk_catalog_at(cat, i - 1)->slug, mk_catalog_at(cat, i)->slug) < 0);
}

static void test_load_file_reports_missing_file(void **state)
{
    struct mk_error err = {0};
    size_t before = mk_catalog_count(*state);
    assert_int_equal(mk_catalog_load_file(*state, "/nonexistent/migkit.json", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/migkit.json"));
    assert_int_equal(mk_catalog_count(*state), before);
}

/* ---- CI helpers ---- */

static void test_ci_names(void **state)
{
    const struct mk_model *a100 = model(state, "a100-sxm4-40gb");
    const struct mk_model *h100 = model(state, "h100-sxm5-80gb");
    const struct mk_model *rtx = model(state, "rtx-pro-6000-96gb");
    char buf[MK_NAME_LEN];
    assert_string_equal(mk_ci_name(profile(a100, "3g.20gb"), 1, buf, sizeof(buf)), "1c.3g.20gb");
    assert_string_equal(mk_ci_name(profile(a100, "3g.20gb"), 3, buf, sizeof(buf)), "3g.20gb");
    assert_string_equal(mk_ci_name(profile(h100, "1g.10gb+me"), 1, buf, sizeof(buf)), "1g.10gb");
    assert_string_equal(mk_ci_name(profile(h100, "1g.20gb"), 1, buf, sizeof(buf)), "1g.20gb");
    assert_string_equal(mk_ci_name(profile(rtx, "2g.48gb+me.all"), 1, buf, sizeof(buf)),
                        "1c.2g.48gb");
    assert_string_equal(mk_ci_name(profile(rtx, "1g.24gb-me"), 1, buf, sizeof(buf)), "1g.24gb");
}

static void test_ci_sms(void **state)
{
    const struct mk_model *a100 = model(state, "a100-sxm4-40gb");
    const struct mk_model *h100 = model(state, "h100-sxm5-80gb");
    const struct mk_gi_profile *p = profile(a100, "3g.20gb");
    bool exact = false;
    assert_int_equal(mk_ci_sms(p, 1, &exact), 14);
    assert_true(exact);
    assert_int_equal(mk_ci_sms(p, 2, NULL), 28);
    assert_int_equal(mk_ci_sms(p, 3, &exact), 42);
    assert_true(exact);
    assert_int_equal(mk_ci_sms(profile(a100, "7g.40gb"), 4, NULL), 56);
    /* H100 3g = 60 SMs: 1c modelled as floor(60/3)=20, flagged inexact (§5.3) */
    p = profile(h100, "3g.40gb");
    assert_int_equal(mk_ci_sms(p, 1, &exact), 20);
    assert_int_equal(mk_ci_sms(p, 3, &exact), 60);
    assert_true(exact);
    /* H100 7g = 132: floor(132/7)=18 per slice, 3c = 54 */
    p = profile(h100, "7g.80gb");
    assert_int_equal(mk_ci_sms(p, 3, &exact), 54);
    assert_false(exact);
    /* H100 PCIe 3g = 46 SMs: floor(46/3)=15 per slice, rounded down to even: 1c 14, 2c 30 */
    p = profile(model(state, "h100-pcie-80gb"), "3g.40gb");
    assert_int_equal(mk_ci_sms(p, 1, &exact), 14);
    assert_false(exact);
    assert_int_equal(mk_ci_sms(p, 2, NULL), 30);
    /* H20 7g = 78 SMs (INF): floor(78/7)=11, 3c = 33 -> 32 */
    assert_int_equal(mk_ci_sms(profile(model(state, "h20-96gb"), "7g.96gb"), 3, NULL), 32);
}

int main(void)
{
    /* Each test gets a fresh catalog, so loader tests cannot affect each other. */
#define T(f) cmocka_unit_test_setup_teardown(f, setup_catalog, teardown_catalog)
    const struct CMUnitTest tests[] = {
        T(test_builtin_models_all_load),
        T(test_profile_names_follow_naming_rule),
        T(test_profile_name_rule_examples),
        T(test_values_h100_sxm5),
        T(test_values_a100_40gb),
        T(test_values_rtx_pro_6000),
        T(test_values_a30_b200_gb200),
        T(test_unverified_bits_follow_reference),
        T(test_profile_by_name_accepts_mig_prefix),
        T(test_find_by_pci_id),
        T(test_gi_const_names_round_trip),
        T(test_load_base_model_succeeds),
        T(test_load_rejects_unknown_key),
        T(test_load_rejects_start_out_of_grid),
        T(test_load_rejects_misaligned_start),
        T(test_load_rejects_ci_default_not_in_ci),
        T(test_load_rejects_wrong_name),
        T(test_load_rejects_duplicate_profile_id),
        T(test_load_rejects_syntax_error_with_position),
        T(test_load_failure_leaves_catalog_unchanged),
        T(test_load_same_slug_replaces_model),
        T(test_load_file_reports_missing_file),
        T(test_ci_names),
        T(test_ci_sms),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
