/*
 * test-state.c - unit tests of the state-file format (src/core/state.c) and of the UUID helpers
 * (src/core/uuid.c): dump/parse round trips, rejection of damaged or inconsistent files with
 * -EBADMSG, and UUID generation and validation.
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

#include "migkit/state.h"
#include "migkit/uuid.h"



static void gi_create(struct mk_gpu *g, int profile_id, int start)
{
    const struct mk_gi_profile *p = mk_model_profile_by_id(g->model, profile_id);
    assert_non_null(p);
    assert_int_equal(mk_gpu_gi_create(g, p, start, NULL), 0);
}

static void ci_create(struct mk_gpu *g, int gi_id, int ci_profile)
{
    char uuid[MK_UUID_LEN];
    assert_int_equal(mk_uuid_generate("MIG-", uuid, sizeof(uuid)), 0);
    assert_int_equal(mk_gpu_ci_create(g, gi_id, ci_profile, uuid, NULL), 0);
}

/*
 * A machine of three GPUs: an H100 with GIs (one busy) and CIs, an RTX PRO 6000 with a
 * +me.all and a -me GI, and an A30 with MIG mode off.
 */
static void make_machine(struct mk_gpu gpus[3])
{
    static const char *const slugs[] = {"h100-sxm5-80gb", "rtx-pro-6000-96gb", "a30-24gb"};
    for (int i = 0; i < 3; i++) {
        mk_gpu_init(&gpus[i], model(slugs[i]), i);
        assert_int_equal(mk_uuid_generate("GPU-", gpus[i].uuid, sizeof(gpus[i].uuid)), 0);
        snprintf(gpus[i].pci_bus_id, sizeof(gpus[i].pci_bus_id), "00000000:%02X:00.0", i + 1);
        assert_int_equal(mk_gpu_set_mig(&gpus[i], i < 2), 0);
    }
    gi_create(&gpus[0], 9, 4);  /* GI 2 */
    gi_create(&gpus[0], 19, 0); /* GI 7 */
    gi_create(&gpus[0], 15, 2); /* GI 4 */
    ci_create(&gpus[0], 2, 0);
    ci_create(&gpus[0], 2, 0);
    ci_create(&gpus[0], 2, 0);
    assert_int_equal(mk_gpu_ci_destroy(&gpus[0], 2, 1), 0); /* leaves CIs 0 and 2 */
    ci_create(&gpus[0], 7, 0);
    ci_create(&gpus[0], 4, 7);
    mk_gpu_gi_find(&gpus[0], 7)->busy = true;
    gi_create(&gpus[1], 65, -1); /* GI 3 */
    gi_create(&gpus[1], 66, 6);  /* GI 2 */
    ci_create(&gpus[1], 2, 1);
}

static void assert_gpus_equal(const struct mk_gpu *a, const struct mk_gpu *b)
{
    assert_ptr_equal(a->model, b->model);
    assert_int_equal(a->index, b->index);
    assert_string_equal(a->uuid, b->uuid);
    assert_string_equal(a->pci_bus_id, b->pci_bus_id);
    assert_int_equal(a->mig_enabled, b->mig_enabled);
    assert_int_equal(a->ngi, b->ngi);
    for (int i = 0; i < a->ngi; i++) {
        const struct mk_gi *x = &a->gi[i], *y = &b->gi[i];
        assert_int_equal(x->id, y->id);
        assert_ptr_equal(x->profile, y->profile);
        assert_int_equal(x->start, y->start);
        assert_int_equal(x->busy, y->busy);
        assert_int_equal(x->nci, y->nci);
        for (int c = 0; c < x->nci; c++) {
            assert_int_equal(x->ci[c].id, y->ci[c].id);
            assert_int_equal(x->ci[c].profile_id, y->ci[c].profile_id);
            assert_int_equal(x->ci[c].start, y->ci[c].start);
            assert_int_equal(x->ci[c].slices, y->ci[c].slices);
            assert_string_equal(x->ci[c].uuid, y->ci[c].uuid);
        }
    }
}

/* Parses text that must be rejected; checks the class, the message and that nothing is
 * returned. */
static void expect_damaged(const char *text, const char *must_contain)
{
    static struct mk_gpu sentinel;
    struct mk_error err = {0};
    struct mk_gpu *gpus = &sentinel; /* must stay untouched */
    int n = -7;
    int r = mk_state_parse(text, "state.json", cat, &gpus, &n, &err);
    assert_int_equal(r, -EBADMSG);
    assert_int_equal(err.code, -EBADMSG);
    assert_ptr_equal(gpus, &sentinel);
    assert_int_equal(n, -7);
    if (!strstr(err.msg, "state.json"))
        fail_msg("message \"%s\" does not name the file", err.msg);
    if (!strstr(err.msg, must_contain))
        fail_msg("message \"%s\" does not mention \"%s\"", err.msg, must_contain);
}

/* A one-GPU H100 state whose GI list is gis (JSON array text). */
static void h100_state(char *buf, size_t len, const char *mig, const char *gis)
{
    snprintf(buf, len,
             "{\"version\": 1, \"gpus\": [{\"model\": \"h100-sxm5-80gb\", "
             "\"uuid\": \"GPU-12345678-1234-4234-8234-123456789abc\", "
             "\"pci_bus_id\": \"00000000:01:00.0\", \"mig_enabled\": %s, \"gis\": %s}]}",
             mig, gis);
}

/* ---- round trips ---- */

static void test_dump_parse_round_trip(void **state)
{
    struct mk_gpu machine[3], *back = NULL;
    struct mk_error err = {0};
    char *text, *again;
    int n = 0;
    (void)state;

    make_machine(machine);
    text = mk_state_dump(machine, 3);
    assert_non_null(text);
    if (mk_state_parse(text, "round-trip", cat, &back, &n, &err) < 0)
        fail_msg("parse of a dump failed: %s\n%s", err.msg, text);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_gpus_equal(&machine[i], &back[i]);
    /* and the dump of the parsed state is the same text */
    again = mk_state_dump(back, n);
    assert_non_null(again);
    assert_string_equal(text, again);
    free(again);
    free(text);
    mk__free(back);
}

static void test_dump_parse_empty_machine(void **state)
{
    struct mk_gpu *back = NULL;
    struct mk_error err = {0};
    char *text = mk_state_dump(NULL, 0);
    int n = -1;
    (void)state;
    assert_non_null(text);
    assert_int_equal(mk_state_parse(text, "empty", cat, &back, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_non_null(back);
    mk__free(back);
    free(text);
}

static void test_parse_hand_written_state(void **state)
{
    char buf[1024];
    struct mk_gpu *g = NULL;
    struct mk_error err = {0};
    int n = 0;
    (void)state;
    h100_state(buf, sizeof(buf), "true",
               "[{\"id\": 2, \"profile_id\": 9, \"start\": 4, \"cis\": [{\"id\": 0, "
               "\"profile_id\": 2, \"start\": 0, "
               "\"uuid\": \"MIG-12345678-1234-4234-8234-123456789abc\"}]}]");
    if (mk_state_parse(buf, "state.json", cat, &g, &n, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 1);
    assert_string_equal(g[0].model->slug, "h100-sxm5-80gb");
    assert_true(g[0].mig_enabled);
    assert_int_equal(g[0].ngi, 1);
    assert_false(g[0].gi[0].busy); /* "busy" is optional */
    assert_int_equal(g[0].gi[0].ci[0].slices, 3);
    mk__free(g);
}

/* ---- damaged and inconsistent files ---- */

static void test_parse_rejects_truncated_json(void **state)
{
    struct mk_gpu machine[3];
    char *text;
    (void)state;
    make_machine(machine);
    text = mk_state_dump(machine, 3);
    assert_non_null(text);
    text[strlen(text) / 2] = '\0';
    expect_damaged(text, "damaged");
    free(text);
    expect_damaged("", "damaged");
    expect_damaged("[1, 2]", "damaged");
}

static void test_parse_rejects_wrong_version(void **state)
{
    (void)state;
    /* The message names the version rather than saying "damaged": see the report. */
    expect_damaged("{\"version\": 2, \"gpus\": []}", "version 2");
    expect_damaged("{\"version\": \"1\", \"gpus\": []}", "damaged");
    expect_damaged("{\"gpus\": []}", "damaged");
}

static void test_parse_rejects_unknown_model(void **state)
{
    char buf[1024], *at;
    (void)state;
    h100_state(buf, sizeof(buf), "true", "[]");
    at = strstr(buf, "h100-sxm5-80gb");
    memcpy(at, "h999-sxm5-80gb", 14);
    expect_damaged(buf, "h999-sxm5-80gb");
    expect_damaged(buf, "damaged");
}

static void test_parse_rejects_overlapping_gis(void **state)
{
    char buf[1024];
    (void)state;
    /* 3g at 0:4 (GI 1) and 2g at 2:2 (GI 4) share slices 2-3 */
    h100_state(buf, sizeof(buf), "true",
               "[{\"id\": 1, \"profile_id\": 9, \"start\": 0}, "
               "{\"id\": 4, \"profile_id\": 14, \"start\": 2}]");
    expect_damaged(buf, "inconsistent");
    expect_damaged(buf, "overlap");
}

static void test_parse_rejects_gi_id_not_matching_placement(void **state)
{
    char buf[1024];
    (void)state;
    h100_state(buf, sizeof(buf), "true", "[{\"id\": 8, \"profile_id\": 19, \"start\": 0}]");
    expect_damaged(buf, "inconsistent");
    /* a start that is not a placement of the profile */
    h100_state(buf, sizeof(buf), "true", "[{\"id\": 14, \"profile_id\": 19, \"start\": 7}]");
    expect_damaged(buf, "inconsistent");
    /* a profile the model does not have */
    h100_state(buf, sizeof(buf), "true", "[{\"id\": 7, \"profile_id\": 47, \"start\": 0}]");
    expect_damaged(buf, "damaged");
}

static void test_parse_rejects_ci_with_malformed_uuid(void **state)
{
    static const char *const bad_uuids[] = {
        "MIG-xyz",                                  /* too short */
        "MIG-12345678-1234-4234-8234-123456789ABC", /* uppercase */
        "GPU-12345678-1234-4234-8234-123456789abc", /* wrong prefix */
    };
    char buf[1024], gis[512];
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(bad_uuids); i++) {
        snprintf(gis, sizeof(gis),
                 "[{\"id\": 2, \"profile_id\": 9, \"start\": 4, \"cis\": [{\"id\": 0, "
                 "\"profile_id\": 2, \"start\": 0, \"uuid\": \"%s\"}]}]",
                 bad_uuids[i]);
        h100_state(buf, sizeof(buf), "true", gis);
        expect_damaged(buf, "damaged");
    }
}

static void test_parse_rejects_gis_with_mig_disabled(void **state)
{
    char buf[1024];
    (void)state;
    h100_state(buf, sizeof(buf), "false", "[{\"id\": 7, \"profile_id\": 19, \"start\": 0}]");
    expect_damaged(buf, "inconsistent");
    expect_damaged(buf, "MIG mode is off");
}

static void test_parse_rejects_too_many_of_a_profile(void **state)
{
    char buf[1024];
    (void)state;
    /* two +me GIs (max 1) */
    h100_state(buf, sizeof(buf), "true",
               "[{\"id\": 7, \"profile_id\": 20, \"start\": 0}, "
               "{\"id\": 8, \"profile_id\": 20, \"start\": 1}]");
    expect_damaged(buf, "inconsistent");
}

/* ---- UUIDs ---- */

static void test_uuid_generate_valid_and_distinct(void **state)
{
    char ids[64][MK_UUID_LEN];
    (void)state;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(mk_uuid_generate("MIG-", ids[i], sizeof(ids[i])), 0);
        assert_int_equal(strlen(ids[i]), 4 + 36);
        assert_true(mk_uuid_valid("MIG-", ids[i]));
        assert_false(mk_uuid_valid("GPU-", ids[i]));
        assert_int_equal(ids[i][4 + 14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", ids[i][4 + 19])); /* RFC 4122 variant */
        for (int k = 0; k < i; k++)
            assert_string_not_equal(ids[i], ids[k]);
    }
}

static void test_uuid_generate_checks_buffer(void **state)
{
    char buf[40];
    (void)state;
    assert_int_equal(mk_uuid_generate("MIG-", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(mk_uuid_generate("", buf, 37), 0);
    assert_true(mk_uuid_valid("", buf));
}

static void test_uuid_valid_rejects_malformed(void **state)
{
    (void)state;
    assert_true(mk_uuid_valid("GPU-", "GPU-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"));
    assert_false(mk_uuid_valid("GPU-", "GPU-0A1B2C3D-4E5F-4A6B-8C7D-8E9F0A1B2C3D"));
    assert_false(mk_uuid_valid("GPU-", "GPU-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3"));
    assert_false(mk_uuid_valid("GPU-", "GPU-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d0"));
    assert_false(mk_uuid_valid("GPU-", "GPU-0a1b2c3d04e5f-4a6b-8c7d-8e9f0a1b2c3d"));
    assert_false(mk_uuid_valid("GPU-", "GPU-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3g"));
    assert_false(mk_uuid_valid("GPU-", "gpu-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"));
    assert_false(mk_uuid_valid("GPU-", "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"));
    assert_false(mk_uuid_valid("GPU-", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_parse_round_trip),
        cmocka_unit_test(test_dump_parse_empty_machine),
        cmocka_unit_test(test_parse_hand_written_state),
        cmocka_unit_test(test_parse_rejects_truncated_json),
        cmocka_unit_test(test_parse_rejects_wrong_version),
        cmocka_unit_test(test_parse_rejects_unknown_model),
        cmocka_unit_test(test_parse_rejects_overlapping_gis),
        cmocka_unit_test(test_parse_rejects_gi_id_not_matching_placement),
        cmocka_unit_test(test_parse_rejects_ci_with_malformed_uuid),
        cmocka_unit_test(test_parse_rejects_gis_with_mig_disabled),
        cmocka_unit_test(test_parse_rejects_too_many_of_a_profile),
        cmocka_unit_test(test_uuid_generate_valid_and_distinct),
        cmocka_unit_test(test_uuid_generate_checks_buffer),
        cmocka_unit_test(test_uuid_valid_rejects_malformed),
    };
    return cmocka_run_group_tests(tests, setup_catalog, teardown_catalog);
}
