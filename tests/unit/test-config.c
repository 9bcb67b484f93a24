/*
 * test-config.c - unit tests of the configuration module (src/core/config.c, config-emit.c):
 * mig-parted's 81-label default file, every accepted spelling, every rejection with its exact
 * line:column message, MIG device names resolved on catalog models, entry matching and
 * selection, YAML/JSON emission and its round trip, and allocation failures.
 *
 * The default file is read from shared/reference beside the clone (MK_SHARED_REFERENCE_DIR,
 * set in tests/CMakeLists.txt); a missing file fails the tests that need it, loudly.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "migkit/config.h"

#define REFERENCE_FILE MK_SHARED_REFERENCE_DIR "/mig-parted-default-config.yaml"
#define DATA(name)     MK_TEST_DATA_DIR "/config/" name

/* The 81 labels of mig-parted's default file, in file order. */
static const char *const reference_labels[] = {
    "all-disabled",    "all-enabled",        "all-1g.5gb",     "all-1g.5gb.me",
    "all-2g.10gb",     "all-3g.20gb",        "all-4g.20gb",    "all-7g.40gb",
    "all-1g.24gb.gfx", "all-1g.24gb.me.all", "all-1g.24gb-me", "all-2g.48gb",
    "all-2g.48gb.gfx", "all-2g.48gb.me.all", "all-2g.48gb-me", "all-4g.96gb",
    "all-4g.96gb.gfx", "all-1g.10gb",        "all-1g.10gb.me", "all-1g.20gb",
    "all-2g.20gb",     "all-3g.40gb",        "all-4g.40gb",    "all-7g.80gb",
    "all-1g.6gb",      "all-1g.6gb.me",      "all-2g.12gb",    "all-2g.12gb.me",
    "all-4g.24gb",     "all-1g.12gb",        "all-1g.12gb.me", "all-1g.24gb",
    "all-2g.24gb",     "all-1g.24gb.me",     "all-1g.47gb",    "all-2g.47gb",
    "all-3g.93gb",     "all-4g.93gb",        "all-7g.186gb",   "all-3g.47gb",
    "all-4g.47gb",     "all-7g.94gb",        "all-3g.48gb",    "all-4g.48gb",
    "all-7g.96gb",     "all-balanced",       "all-1g.18gb",    "all-1g.18gb.me",
    "all-1g.23gb",     "all-1g.23gb.me",     "all-1g.35gb",    "all-2g.35gb",
    "all-3g.71gb",     "all-4g.71gb",        "all-7g.141gb",   "all-1g.34gb",
    "all-1g.34gb.me",  "all-1g.35gb.me",     "all-1g.36gb",    "all-1g.45gb",
    "all-1g.67gb",     "all-1g.70gb",        "all-2g.36gb",    "all-2g.45gb",
    "all-2g.67gb",     "all-2g.70gb",        "all-3g.72gb",    "all-3g.90gb",
    "all-3g.95gb",     "all-3g.135gb",       "all-3g.139gb",   "all-4g.72gb",
    "all-4g.90gb",     "all-4g.95gb",        "all-4g.135gb",   "all-4g.139gb",
    "all-7g.144gb",    "all-7g.180gb",       "all-7g.189gb",   "all-7g.269gb",
    "all-7g.278gb",
};

static struct mk_catalog *catalog;

static int group_setup(void **state)
{
    struct mk_error err = {0};
    (void)state;
    if (mk_catalog_new(&catalog, &err) < 0) {
        fprintf(stderr, "mk_catalog_new: %s\n", mk_strerror(&err));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mk_catalog_free(catalog);
    return 0;
}

/* Loads mig-parted's default file, failing with a clear message when it is missing. */
static struct mk_config *load_reference(void)
{
    struct mk_config *cfg = NULL;
    struct mk_error err = {0};
    if (access(REFERENCE_FILE, R_OK) != 0)
        fail_msg("%s is missing: the configuration tests need shared/reference beside the "
                 "clone (CI checks it out as ../shared)",
                 REFERENCE_FILE);
    if (mk_config_load(REFERENCE_FILE, &cfg, &err) != 0)
        fail_msg("the default file does not load: %s", mk_strerror(&err));
    return cfg;
}

static struct mk_config *parse_ok(const char *text)
{
    struct mk_config *cfg = NULL;
    struct mk_error err = {0};
    if (mk_config_parse(text, strlen(text), "t.yaml", &cfg, &err) != 0)
        fail_msg("unexpected rejection: %s", mk_strerror(&err));
    return cfg;
}

/* Parses text (origin t.yaml), which must be rejected with -EINVAL and exactly message want;
 * the out-parameter must stay untouched. */
static void expect_error(const char *text, const char *want)
{
    struct mk_config *cfg = (struct mk_config *)(uintptr_t)0x1;
    struct mk_error err = {0};
    int rc = mk_config_parse(text, strlen(text), "t.yaml", &cfg, &err);
    if (rc != -EINVAL)
        fail_msg("rc %d (%s) for:\n%s", rc, mk_strerror(&err), text);
    assert_int_equal(err.code, -EINVAL);
    assert_ptr_equal(cfg, (struct mk_config *)(uintptr_t)0x1);
    if (strcmp(err.msg, want) != 0)
        fail_msg("message\n  \"%s\"\nwanted\n  \"%s\"\nfor:\n%s", err.msg, want, text);
}

static const struct mk_model *model(const char *slug)
{
    const struct mk_model *m = mk_catalog_find(catalog, slug);
    if (!m)
        fail_msg("model %s is not in the catalog", slug);
    return m;
}

/* ---- mig-parted's default file ---- */

static void test_reference_all_labels_parse(void **state)
{
    struct mk_config *cfg = load_reference();
    (void)state;
    assert_int_equal(cfg->nlabels, 81);
    assert_int_equal(MK_ELEMENTSOF(reference_labels), 81);
    assert_string_equal(cfg->origin, REFERENCE_FILE);
    for (int i = 0; i < cfg->nlabels; i++) {
        const struct mk_config_label *l = &cfg->labels[i];
        assert_string_equal(l->name, reference_labels[i]);
        assert_ptr_equal(mk_config_find(cfg, l->name), l);
        assert_true(l->nentries >= 1);
        for (int j = 0; j < l->nentries; j++)
            assert_true(l->entries[j].all_devices);
    }
    assert_null(mk_config_find(cfg, "all-1g.11gb"));
    mk_config_free(cfg);
}

static void test_reference_spot_checks(void **state)
{
    struct mk_config *cfg = load_reference();
    const struct mk_config_label *l;
    const struct mk_config_entry *e;
    (void)state;

    l = mk_config_find(cfg, "all-disabled");
    assert_int_equal(l->pos.line, 3);
    assert_int_equal(l->pos.column, 3);
    assert_int_equal(l->nentries, 1);
    assert_false(l->entries[0].mig_enabled);
    assert_int_equal(l->entries[0].nmigdevs, 0);
    assert_int_equal(l->entries[0].nfilters, 0);
    assert_int_equal(l->entries[0].pos.line, 4);
    assert_int_equal(l->entries[0].pos.column, 7);

    l = mk_config_find(cfg, "all-enabled"); /* mig-devices: {} */
    assert_true(l->entries[0].mig_enabled);
    assert_int_equal(l->entries[0].nmigdevs, 0);

    l = mk_config_find(cfg, "all-1g.10gb");
    assert_int_equal(l->nentries, 2);
    assert_int_equal(l->entries[0].nfilters, 8);
    assert_int_equal(l->entries[0].filters[0].device, 0x233010DE);
    assert_int_equal(l->entries[0].filters[7].device, 0x232410DE);
    assert_int_equal(l->entries[1].nfilters, 4);
    assert_int_equal(l->entries[1].migdevs[0].count, 4);

    l = mk_config_find(cfg, "all-1g.24gb.me.all");
    assert_string_equal(l->entries[0].migdevs[0].name, "1g.24gb+me.all");

    l = mk_config_find(cfg, "all-balanced");
    assert_int_equal(l->nentries, 12);
    e = &l->entries[0]; /* GB200 */
    assert_int_equal(e->nfilters, 1);
    assert_int_equal(e->filters[0].device, 0x294110DE);
    assert_false(e->filters[0].has_subsystem);
    assert_true(e->mig_enabled);
    assert_int_equal(e->nmigdevs, 3);
    assert_string_equal(e->migdevs[0].name, "1g.23gb");
    assert_int_equal(e->migdevs[0].count, 2);
    assert_string_equal(e->migdevs[1].name, "2g.47gb");
    assert_int_equal(e->migdevs[1].count, 1);
    assert_string_equal(e->migdevs[2].name, "3g.93gb");
    assert_int_equal(e->migdevs[2].count, 1);
    assert_int_equal(e->migdevs[0].pos.line, 297);
    assert_int_equal(e->migdevs[0].pos.column, 9);
    e = &l->entries[10]; /* A30: the string form device-filter: "0x20B710DE" */
    assert_int_equal(e->nfilters, 1);
    assert_int_equal(e->filters[0].device, 0x20B710DE);
    assert_int_equal(e->nmigdevs, 2);
    assert_string_equal(e->migdevs[0].name, "1g.6gb");
    e = &l->entries[3]; /* B200: written [ "0x290110DE" ] with spaces */
    assert_int_equal(e->filters[0].device, 0x290110DE);
    mk_config_free(cfg);
}

/*
 * Every model of the catalog has an entry in all-balanced (by one of its PCI IDs), and every
 * MIG device of that entry exists on the model: the label means something on each GPU.
 */
static void test_reference_balanced_resolves_on_every_model(void **state)
{
    struct mk_config *cfg = load_reference();
    const struct mk_config_label *l = mk_config_find(cfg, "all-balanced");
    (void)state;
    for (size_t i = 0; i < mk_catalog_count(catalog); i++) {
        const struct mk_model *m = mk_catalog_at(catalog, i);
        int selected = 0;
        for (int p = 0; p < m->npci; p++) {
            const struct mk_config_entry *e = NULL;
            struct mk_error err = {0};
            int rc = mk_config_label_select(cfg, l, 0, m->pci_ids[p], 0, &e, &err);
            assert_true(rc >= 0);
            if (rc == 0)
                continue;
            selected++;
            for (int d = 0; d < e->nmigdevs; d++) {
                const struct mk_gi_profile *gi = NULL;
                int ci = -1;
                if (mk_config_resolve(m, e->migdevs[d].name, &gi, &ci, &err) != 0)
                    fail_msg("%s: %s", m->slug, mk_strerror(&err));
            }
        }
        if (selected == 0)
            fail_msg("all-balanced has no entry for %s", m->slug);
    }
    mk_config_free(cfg);
}

/* The same name means different profiles on different GPUs: all-1g.10gb selects 1g.10gb, a
 * 1-slice GI on H100 80GB and the double-memory REV2 GI on A100 40GB. */
static void test_reference_same_name_per_model(void **state)
{
    struct mk_config *cfg = load_reference();
    const struct mk_config_label *l = mk_config_find(cfg, "all-1g.10gb");
    const struct mk_config_entry *e = NULL;
    const struct mk_gi_profile *gi;
    int ci;
    (void)state;
    assert_int_equal(mk_config_label_select(cfg, l, 3, 0x233010DE, 0, &e, NULL), 1);
    assert_ptr_equal(e, &l->entries[0]);
    assert_int_equal(mk_config_resolve(model("h100-sxm5-80gb"), "1g.10gb", &gi, &ci, NULL), 0);
    assert_int_equal(gi->nvml, MK_GI_CONST_1_SLICE);
    assert_int_equal(ci, 0);
    assert_int_equal(mk_config_label_select(cfg, l, 3, 0x20B010DE, 0, &e, NULL), 1);
    assert_ptr_equal(e, &l->entries[1]);
    assert_int_equal(mk_config_resolve(model("a100-sxm4-40gb"), "1g.10gb", &gi, &ci, NULL), 0);
    assert_int_equal(gi->nvml, MK_GI_CONST_1_SLICE_REV2);
    assert_int_equal(ci, 7);
    /* No entry for a GPU the filters do not name: the GPU is left alone. */
    e = NULL;
    assert_int_equal(mk_config_label_select(cfg, l, 0, 0x20B710DE, 0, &e, NULL), 0);
    assert_null(e);
    mk_config_free(cfg);
}

/* ---- accepted forms ---- */

static void test_good_forms(void **state)
{
    struct mk_config *cfg = NULL;
    struct mk_error err = {0};
    const struct mk_config_label *l;
    const struct mk_config_entry *e;
    (void)state;
    if (mk_config_load(DATA("good-forms.yaml"), &cfg, &err) != 0)
        fail_msg("%s", mk_strerror(&err));
    assert_int_equal(cfg->nlabels, 3);
    l = &cfg->labels[0];
    assert_string_equal(l->name, "mixed");
    assert_int_equal(l->nentries, 4);
    e = &l->entries[0];
    assert_int_equal(e->filters[0].device, 0x20B710DE);
    assert_false(e->all_devices);
    assert_int_equal(e->ndevices, 2);
    assert_int_equal(e->devices[1], 2);
    assert_int_equal(e->nmigdevs, 3);
    assert_string_equal(e->migdevs[0].name, "1g.6gb");
    assert_int_equal(e->migdevs[1].count, 0);
    assert_string_equal(e->migdevs[2].name, "1c.2g.12gb+me");
    e = &l->entries[1];
    assert_int_equal(e->nfilters, 2);
    assert_true(e->filters[0].has_subsystem);
    assert_int_equal(e->filters[0].subsystem, 0x16C110DE);
    assert_int_equal(e->filters[1].device, 0x233110DE);
    assert_true(e->mig_enabled);
    assert_int_equal(l->entries[2].devices[0], 1);
    assert_false(l->entries[2].mig_enabled);
    assert_false(l->entries[3].mig_enabled);
    assert_int_equal(l->entries[3].nmigdevs, 0);
    assert_string_equal(cfg->labels[1].name, "quoted label: with spaces");
    assert_int_equal(cfg->labels[2].entries[0].nmigdevs, 4);
    mk_config_free(cfg);
}

/* The 22 plain spellings YAML 1.1 reads as booleans (mig-parted's reading). */
static void test_bool_spellings(void **state)
{
    static const struct {
        const char *word;
        bool value;
    } words[] = {
        {"true", true}, {"True", true},   {"TRUE", true},   {"yes", true},    {"Yes", true},
        {"YES", true},  {"y", true},      {"Y", true},      {"on", true},     {"On", true},
        {"ON", true},   {"false", false}, {"False", false}, {"FALSE", false}, {"no", false},
        {"No", false},  {"NO", false},    {"n", false},     {"N", false},     {"off", false},
        {"Off", false}, {"OFF", false},
    };
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(words); i++) {
        char text[256];
        struct mk_config *cfg;
        snprintf(text, sizeof(text),
                 "version: v1\nmig-configs:\n  a:\n    - devices: all\n      mig-enabled: %s\n"
                 "      mig-devices: {}\n",
                 words[i].word);
        cfg = parse_ok(text);
        assert_int_equal(cfg->labels[0].entries[0].mig_enabled, words[i].value);
        mk_config_free(cfg);
    }
}

/* ---- rejections, each with its exact message ---- */

#define HEAD     "version: v1\nmig-configs:\n"
#define ENTRY(x) HEAD "  a:\n    - devices: all\n" x

static const struct {
    const char *text;
    const char *want;
} bad[] = {
    /* file and document structure */
    {"", "t.yaml:1:1: found an empty file; expected a mapping with version and mig-configs"},
    {"# nothing\n\n",
     "t.yaml:1:1: found an empty file; expected a mapping with version and mig-configs"},
    {ENTRY("      mig-enabled: false\n---\nversion: v1\n"),
     "t.yaml:6:1: found a second YAML document; expected one document per file"},
    {"- a\n- b\n", "t.yaml:1:1: found a list; expected a mapping with version and mig-configs"},
    {"---\n", "t.yaml:2:1: found an empty value; expected a mapping with version and "
              "mig-configs"},
    {"version: v1\nmig-config:\n  a: []\n",
     "t.yaml:2:1: found unknown key \"mig-config\"; expected one of version, mig-configs"},
    {"version: v1\nversion: v1\n",
     "t.yaml:2:1: found duplicate key \"version\" (first at 1:1); expected each key once"},
    {"mig-configs:\n  a:\n    - devices: all\n      mig-enabled: false\n",
     "t.yaml:1:1: found no version; expected version: v1"},
    {"version: v2\n", "t.yaml:1:10: found version \"v2\"; expected v1"},
    {"version: 1\n", "t.yaml:1:10: found version \"1\"; expected v1"},
    {"version: v1\n", "t.yaml:1:1: found no mig-configs; expected mig-configs with at least one "
                      "label"},
    {HEAD "  {}\n", "t.yaml:3:3: found an empty mapping; expected a mapping of labels to lists "
                    "of entries"},
    {HEAD "  - a\n", "t.yaml:3:3: found a list; expected a mapping of labels to lists of "
                     "entries"},
    /* labels */
    {HEAD "  a:\n    - devices: all\n      mig-enabled: false\n  a:\n    - devices: all\n"
          "      mig-enabled: false\n",
     "t.yaml:6:3: found duplicate label \"a\" (first at 3:3); expected each label once"},
    {HEAD "  a: []\n",
     "t.yaml:3:6: found an empty list; expected a list of at least one entry for label a"},
    {HEAD "  a:\n  b: []\n",
     "t.yaml:3:5: found an empty value; expected a list of at least one entry for label a"},
    {HEAD "  off:\n    - devices: all\n      mig-enabled: false\n",
     "t.yaml:3:3: found label off, which YAML 1.1 reads as a boolean or number; expected it "
     "quoted: \"off\""},
    {HEAD "  1.10:\n    - devices: all\n      mig-enabled: false\n",
     "t.yaml:3:3: found label 1.10, which YAML 1.1 reads as a boolean or number; expected it "
     "quoted: \"1.10\""},
    {HEAD "  \"\":\n    - devices: all\n      mig-enabled: false\n",
     "t.yaml:3:3: found an empty label; expected a label name"},
    {HEAD "  a234567890123456789012345678901234567890123456789012345678901234:\n"
          "    - devices: all\n      mig-enabled: false\n",
     "t.yaml:3:3: found a label of 64 bytes; expected at most 63"},
    {HEAD "  [a]:\n    - devices: all\n", "t.yaml:3:3: found a list as a label; expected text"},
    /* entries and their keys */
    {HEAD "  a:\n    - all\n",
     "t.yaml:4:7: found \"all\"; expected an entry (a mapping with devices and mig-enabled)"},
    {ENTRY("      mig-enable: true\n"),
     "t.yaml:5:7: found unknown key \"mig-enable\"; expected one of devices, mig-enabled, "
     "mig-devices, device-filter"},
    {ENTRY("      devices: [0]\n"),
     "t.yaml:5:7: found duplicate key \"devices\" (first at 4:7); expected each key once"},
    {HEAD "  a:\n    - mig-enabled: false\n",
     "t.yaml:4:7: found an entry without devices; expected devices: all or a list of GPU "
     "indices"},
    {HEAD "  a:\n    - devices: all\n",
     "t.yaml:4:7: found an entry without mig-enabled; expected mig-enabled: true or false"},
    {HEAD "  a:\n    - <<: {devices: all}\n",
     "t.yaml:4:7: found merge key <<; expected a key (anchors, aliases and merge keys are not "
     "supported)"},
    /* devices */
    {HEAD "  a:\n    - devices: some\n",
     "t.yaml:4:16: found \"some\"; expected all or a list of GPU indices"},
    {HEAD "  a:\n    - devices: 0\n",
     "t.yaml:4:16: found \"0\"; expected all or a list of GPU indices"},
    {HEAD "  a:\n    - devices: []\n",
     "t.yaml:4:16: found an empty list; expected all or a list of GPU indices"},
    {HEAD "  a:\n    - devices: [0, 1, 0]\n",
     "t.yaml:4:23: found GPU index 0 again (first at 4:17); expected each index once"},
    {HEAD "  a:\n    - devices: [-1]\n",
     "t.yaml:4:17: found \"-1\"; expected a GPU index from 0 to 63"},
    {HEAD "  a:\n    - devices: [64]\n",
     "t.yaml:4:17: found \"64\"; expected a GPU index from 0 to 63"},
    {HEAD "  a:\n    - devices: [\"1\"]\n",
     "t.yaml:4:17: found quoted \"1\"; expected a GPU index from 0 to 63, unquoted"},
    {HEAD "  a:\n    - devices: [01]\n",
     "t.yaml:4:17: found \"01\"; expected a GPU index from 0 to 63 without leading zeros (YAML "
     "1.1 reads it as octal)"},
    /* mig-enabled and mig-devices */
    {ENTRY("      mig-enabled: \"true\"\n"),
     "t.yaml:5:20: found quoted \"true\"; expected true or false, unquoted"},
    {ENTRY("      mig-enabled: maybe\n"), "t.yaml:5:20: found \"maybe\"; expected true or false"},
    {ENTRY("      mig-enabled: 1\n"), "t.yaml:5:20: found \"1\"; expected true or false"},
    {ENTRY("      mig-enabled: true\n"),
     "t.yaml:4:7: found mig-enabled: true without mig-devices; expected mig-devices ({} for no "
     "MIG devices)"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n"),
     "t.yaml:6:19: found an empty value; expected a mapping of MIG device names to counts ({} "
     "for none)"},
    {ENTRY("      mig-enabled: false\n      mig-devices:\n        \"1g.10gb\": 1\n"),
     "t.yaml:7:9: found 1 MIG device name with mig-enabled: false; expected no mig-devices"},
    {ENTRY("      mig-enabled: false\n      mig-devices: {1g.5gb: 0, 2g.10gb: 0}\n"),
     "t.yaml:6:20: found 2 MIG device names with mig-enabled: false; expected no mig-devices"},
    {ENTRY("      mig-enabled: true\n      mig-devices: [1g.10gb]\n"),
     "t.yaml:6:20: found a list; expected a mapping of MIG device names to counts ({} for "
     "none)"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": -1\n"),
     "t.yaml:7:20: found \"-1\"; expected a count from 0 to 128"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 1.5\n"),
     "t.yaml:7:20: found \"1.5\"; expected a count from 0 to 128"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": \"2\"\n"),
     "t.yaml:7:20: found quoted \"2\"; expected a count from 0 to 128, unquoted"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 07\n"),
     "t.yaml:7:20: found \"07\"; expected a count from 0 to 128 without leading zeros (YAML 1.1 "
     "reads it as octal)"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 129\n"),
     "t.yaml:7:20: found \"129\"; expected a count from 0 to 128"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\":\n"),
     "t.yaml:7:19: found an empty value; expected a count from 0 to 128"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g10gb\": 1\n"),
     "t.yaml:7:9: found MIG device name \"1g10gb\"; expected <g>g.<N>gb with an optional +me, "
     "+me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        1g.10gb+foo: 1\n"),
     "t.yaml:7:9: found MIG device name \"1g.10gb+foo\"; expected <g>g.<N>gb with an optional "
     "+me, +me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        MIG 1g.10gb: 1\n"),
     "t.yaml:7:9: found MIG device name \"MIG 1g.10gb\"; expected <g>g.<N>gb with an optional "
     "+me, +me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        9g.90gb: 1\n"),
     "t.yaml:7:9: found MIG device name \"9g.90gb\"; expected <g>g.<N>gb with an optional +me, "
     "+me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"2c.2g.20gb\": 1\n"),
     "t.yaml:7:9: found MIG device name \"2c.2g.20gb\"; expected c < g in <c>c.<g>g.<N>gb "
     "(write 2g.20gb for a CI as large as its GI)"},
    {ENTRY("      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 1\n"
           "        1g.10gb: 2\n"),
     "t.yaml:8:9: found duplicate profile \"1g.10gb\" (first at 7:9); expected each profile "
     "once"},
    /* device-filter */
    {HEAD "  a:\n    - device-filter: \"0x20B710D\"\n",
     "t.yaml:4:22: found quoted \"0x20B710D\"; expected a PCI ID \"0xDDDDVVVV\" with an optional "
     "\":0xSSSSVVVV\" (8 hex digits each)"},
    {HEAD "  a:\n    - device-filter: \"0x20B710DEX\"\n",
     "t.yaml:4:22: found quoted \"0x20B710DEX\"; expected a PCI ID \"0xDDDDVVVV\" with an "
     "optional \":0xSSSSVVVV\" (8 hex digits each)"},
    {HEAD "  a:\n    - device-filter: \"20B710DE\"\n",
     "t.yaml:4:22: found quoted \"20B710DE\"; expected a PCI ID \"0xDDDDVVVV\" with an optional "
     "\":0xSSSSVVVV\" (8 hex digits each)"},
    {HEAD "  a:\n    - device-filter: \"0x20B710DE:0x1234\"\n",
     "t.yaml:4:22: found quoted \"0x20B710DE:0x1234\"; expected a PCI ID \"0xDDDDVVVV\" with an "
     "optional \":0xSSSSVVVV\" (8 hex digits each)"},
    {HEAD "  a:\n    - device-filter: \"\"\n",
     "t.yaml:4:22: found quoted \"\"; expected a PCI ID \"0xDDDDVVVV\" with an optional "
     "\":0xSSSSVVVV\" (8 hex digits each)"},
    {HEAD "  a:\n    - device-filter: []\n",
     "t.yaml:4:22: found an empty list; expected a PCI ID string or a list of them (omit "
     "device-filter to match every GPU)"},
    {HEAD "  a:\n    - device-filter: {a: b}\n",
     "t.yaml:4:22: found a mapping; expected a PCI ID string or a list of them (omit "
     "device-filter to match every GPU)"},
    {HEAD "  a:\n    - device-filter: [42]\n",
     "t.yaml:4:23: found \"42\"; expected a PCI ID \"0xDDDDVVVV\" with an optional "
     "\":0xSSSSVVVV\" (8 hex digits each)"},
    {HEAD "  a:\n    - device-filter: 0x20B710DE\n",
     "t.yaml:4:22: found unquoted 0x20B710DE; expected the quoted string \"0x20B710DE\" (YAML "
     "1.1 reads it as a number)"},
    {HEAD "  a:\n    - device-filter: [\"0x20B710DE\", \"0x20b710de\"]\n",
     "t.yaml:4:37: found PCI ID \"0x20b710de\" again (first at 4:23); expected each PCI ID "
     "once"},
    /* YAML features we refuse */
    {HEAD "  a: &x\n    - devices: all\n",
     "t.yaml:3:6: found anchor &x; expected a value without anchor (anchors, aliases and merge "
     "keys are not supported)"},
    {HEAD "  a:\n    - devices: all\n      mig-enabled: false\n  b: *a\n",
     "t.yaml:6:6: found alias *a; expected a value written out (anchors, aliases and merge keys "
     "are not supported)"},
    {"version: !!str v1\n",
     "t.yaml:1:10: found tag tag:yaml.org,2002:str; expected an untagged value (tags are not "
     "supported)"},
    {"version: \"v\\0\"\n", "t.yaml:1:10: found a NUL character in a value; expected text"},
    /* malformed YAML, reported with libyaml's own words and the context's position */
    {HEAD "  a:\n    - devices: all\n     mig-enabled: false\n",
     "t.yaml:5:6: found invalid YAML (did not find expected '-' indicator while parsing a "
     "block collection at 4:5); expected well-formed YAML"},
    {"version: \"v1\n",
     "t.yaml:2:1: found invalid YAML (found unexpected end of stream while scanning a quoted "
     "scalar at 1:10); expected well-formed YAML"},
    {HEAD "\ta:\n",
     "t.yaml:3:1: found invalid YAML (found character that cannot start any token while "
     "scanning for the next token at 3:1); expected well-formed YAML"},
    {"version: v\xff\n", "t.yaml:1:11: found invalid text (invalid leading UTF-8 octet); "
                         "expected UTF-8 YAML"},
};

static void test_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(bad); i++)
        expect_error(bad[i].text, bad[i].want);
}

/* Bounds: 33 MIG device names in an entry, 17 filters, nesting past 32 levels. */
static void test_rejections_limits(void **state)
{
    char text[4096];
    size_t n = 0;
    (void)state;
    n = (size_t)snprintf(text, sizeof(text), "%s",
                         ENTRY("      mig-enabled: true\n"
                               "      mig-devices:\n"));
    for (int i = 1; i <= 33; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "        1g.%dgb: 1\n", i);
    expect_error(text, "t.yaml:39:9: found 33 MIG device names in one entry; expected at most "
                       "32");

    /* 64 distinct indices fill the array; a 65th can only repeat one */
    n = (size_t)snprintf(text, sizeof(text), HEAD "  a:\n    - devices: [");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%d", i ? "," : "", i % 64);
    snprintf(text + n, sizeof(text) - n, "]\n");
    expect_error(text, "t.yaml:4:199: found GPU index 0 again (first at 4:17); expected each "
                       "index once");

    n = (size_t)snprintf(text, sizeof(text), HEAD "  a:\n    - device-filter: [");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"0x%04X10DE\"", i ? "," : "",
                              0x2000 + i);
    snprintf(text + n, sizeof(text) - n, "]\n");
    /* 17th ID: after "[" at column 22, sixteen 12-character IDs and their commas */
    expect_error(text, "t.yaml:4:231: found a device-filter list of 17 IDs; expected at most "
                       "16");

    n = (size_t)snprintf(text, sizeof(text), HEAD "  a: ");
    for (int i = 0; i < 40; i++)
        text[n++] = '[';
    for (int i = 0; i < 40; i++)
        text[n++] = ']';
    text[n] = '\0';
    /* the root mapping is depth 0, mig-configs 1, the list of label a 2: the 33rd "[" is the
     * first at depth 33, at column 6 + 31 */
    expect_error(text, "t.yaml:3:37: found nesting deeper than 32 levels; expected a mig-parted "
                       "v1 configuration");
}

/* Fixture files: the same rules through mk_config_load, with the path as origin. */
static void test_rejections_from_files(void **state)
{
    static const struct {
        const char *file;
        const char *want;
    } cases[] = {
        {DATA("bad-duplicate-label.yaml"),
         ":7:3: found duplicate label \"all-disabled\" (first at 3:3); expected each label once"},
        {DATA("bad-duplicate-key.yaml"),
         ":9:7: found duplicate key \"mig-devices\" (first at 6:7); expected each key once"},
        {DATA("bad-device-filter.yaml"),
         ":5:37: found quoted \"0x23310DE\"; expected a PCI ID \"0xDDDDVVVV\" with an optional "
         "\":0xSSSSVVVV\" (8 hex digits each)"},
        {DATA("bad-unknown-key.yaml"),
         ":6:7: found unknown key \"mig-device\"; expected one of devices, mig-enabled, "
         "mig-devices, device-filter"},
        {DATA("bad-disabled-with-devices.yaml"),
         ":7:9: found 1 MIG device name with mig-enabled: false; expected no mig-devices"},
    };
    (void)state;
    for (size_t i = 0; i < MK_ELEMENTSOF(cases); i++) {
        struct mk_config *cfg = NULL;
        struct mk_error err = {0};
        char want[MK_ERROR_LEN * 2];
        assert_int_equal(mk_config_load(cases[i].file, &cfg, &err), -EINVAL);
        assert_null(cfg);
        snprintf(want, sizeof(want), "%s%s", cases[i].file, cases[i].want);
        want[MK_ERROR_LEN - 1] = '\0'; /* a long checkout path truncates the message */
        assert_string_equal(err.msg, want);
    }
}

static void test_load_errors_and_stdin(void **state)
{
    struct mk_config *cfg = NULL;
    struct mk_error err = {0};
    int saved, fd;
    (void)state;
    assert_int_equal(mk_config_load("/nonexistent/migkit.yaml", &cfg, &err), -ENOENT);
    assert_string_equal(err.msg, "/nonexistent/migkit.yaml: cannot open: No such file or "
                                 "directory");
    assert_null(cfg);

    /* "-" reads standard input and names it <stdin> */
    saved = dup(0);
    fd = open(DATA("bad-unknown-key.yaml"), O_RDONLY);
    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, 0), 0);
    close(fd);
    assert_int_equal(mk_config_load("-", &cfg, &err), -EINVAL);
    dup2(saved, 0);
    close(saved);
    assert_string_equal(err.msg, "<stdin>:6:7: found unknown key \"mig-device\"; expected one "
                                 "of devices, mig-enabled, mig-devices, device-filter");
}

/* ---- resolve ---- */

static void expect_resolve(const char *slug, const char *name, const char *gi_name, int ci)
{
    const struct mk_gi_profile *gi = NULL;
    struct mk_error err = {0};
    int got = -1;
    if (mk_config_resolve(model(slug), name, &gi, &got, &err) != 0)
        fail_msg("%s on %s: %s", name, slug, mk_strerror(&err));
    assert_string_equal(gi->name, gi_name);
    assert_int_equal(got, ci);
}

static void expect_unresolved(const char *slug, const char *name, const char *want)
{
    const struct mk_gi_profile *gi = NULL;
    struct mk_error err = {0};
    int ci = -1;
    assert_int_equal(mk_config_resolve(model(slug), name, &gi, &ci, &err), -EINVAL);
    assert_null(gi);
    assert_int_equal(ci, -1);
    assert_string_equal(err.msg, want);
}

static void test_resolve(void **state)
{
    (void)state;
    /* GI forms get the default (full) CI */
    expect_resolve("a30-24gb", "1g.6gb", "1g.6gb", 0);
    expect_resolve("a30-24gb", "2g.12gb+me", "2g.12gb+me", 1);
    expect_resolve("a30-24gb", "4g.24gb", "4g.24gb", 3);
    expect_resolve("a100-sxm4-40gb", "1g.10gb", "1g.10gb", 7); /* REV2: CI profile 7 */
    expect_resolve("h100-sxm5-80gb", "7g.80gb", "7g.80gb", 4);
    expect_resolve("rtx-pro-6000-96gb", "1g.24gb+me.all", "1g.24gb+me.all", 0);
    expect_resolve("rtx-pro-6000-96gb", "1g.24gb-me", "1g.24gb-me", 0);
    expect_resolve("rtx-pro-6000-96gb", "4g.96gb+gfx", "4g.96gb+gfx", 3);
    expect_resolve("h100-nvl-94gb", "1g.24gb", "1g.24gb", 7);
    /* CI forms: the GI's CI profile of c slices */
    expect_resolve("a100-sxm4-40gb", "1c.2g.10gb", "2g.10gb", 0);
    expect_resolve("a100-sxm4-40gb", "2c.3g.20gb", "3g.20gb", 1);
    expect_resolve("a100-sxm4-40gb", "3c.7g.40gb", "7g.40gb", 2);
    expect_resolve("h100-sxm5-80gb", "4c.7g.80gb", "7g.80gb", 3);
    expect_resolve("a30-24gb", "1c.2g.12gb+me", "2g.12gb+me", 0);
    expect_resolve("rtx-pro-6000-96gb", "2c.4g.96gb+gfx", "4g.96gb+gfx", 1);
    /* early GB200 board names (names_alt) */
    expect_resolve("gb200-186gb", "7g.189gb", "7g.186gb", 4);
    expect_resolve("gb200-186gb", "3g.95gb", "3g.93gb", 2);
    expect_resolve("gb200-186gb", "1g.24gb", "1g.23gb", 0);
    expect_resolve("gb200-186gb", "1c.4g.95gb", "4g.93gb", 0);

    expect_unresolved("a30-24gb", "1g.10gb",
                      "profile 1g.10gb does not exist on NVIDIA A30 "
                      "(a30-24gb)");
    expect_unresolved("a30-24gb", "1g.6gb+gfx",
                      "profile 1g.6gb+gfx does not exist on NVIDIA "
                      "A30 (a30-24gb)");
    expect_unresolved("h100-sxm5-80gb", "7g.189gb",
                      "profile 7g.189gb does not exist on NVIDIA "
                      "H100 80GB HBM3 (h100-sxm5-80gb)");
    expect_unresolved("a100-sxm4-40gb", "3c.4g.20gb",
                      "profile 3c.4g.20gb does not exist on NVIDIA A100-SXM4-40GB "
                      "(a100-sxm4-40gb): GI profile 4g.20gb offers no 3-slice compute instance");
    expect_unresolved("a100-sxm4-40gb", "1c.1g.10gb",
                      "profile 1c.1g.10gb is not a MIG device name; expected <g>g.<N>gb with an "
                      "optional +me, +me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g");
    expect_unresolved("a100-sxm4-40gb", "MIG 1g.5gb",
                      "profile MIG 1g.5gb is not a MIG device name; expected <g>g.<N>gb with an "
                      "optional +me, +me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g");
}

/* ---- matching and selection ---- */

static void test_entry_matches(void **state)
{
    struct mk_config *cfg = parse_ok(
        HEAD "  a:\n"
             "    - devices: all\n      mig-enabled: false\n"
             "    - devices: [1, 3]\n      mig-enabled: false\n"
             "    - device-filter: \"0x20b710de\"\n      devices: all\n      mig-enabled: false\n"
             "    - device-filter: [\"0x233010DE:0x16C110DE\", \"0x20B010DE\"]\n"
             "      devices: [2]\n      mig-enabled: false\n");
    const struct mk_config_entry *e = cfg->labels[0].entries;
    (void)state;
    assert_true(mk_config_entry_matches(&e[0], 0, 0x12345678, 0));
    assert_true(mk_config_entry_matches(&e[0], 63, 0x20B710DE, 0));
    assert_true(mk_config_entry_matches(&e[1], 3, 0x20B710DE, 0));
    assert_false(mk_config_entry_matches(&e[1], 2, 0x20B710DE, 0));
    assert_true(mk_config_entry_matches(&e[2], 5, 0x20B710DE, 0x12345678));
    assert_false(mk_config_entry_matches(&e[2], 5, 0x20B110DE, 0));
    /* a filter with a subsystem needs both IDs; one without ignores the subsystem */
    assert_true(mk_config_entry_matches(&e[3], 2, 0x233010DE, 0x16C110DE));
    assert_false(mk_config_entry_matches(&e[3], 2, 0x233010DE, 0x16C210DE));
    assert_false(mk_config_entry_matches(&e[3], 2, 0x233010DE, 0));
    assert_true(mk_config_entry_matches(&e[3], 2, 0x20B010DE, 0xDEADBEEF));
    assert_false(mk_config_entry_matches(&e[3], 1, 0x20B010DE, 0));
    assert_false(mk_config_entry_matches(NULL, 0, 0, 0));
    mk_config_free(cfg);
}

static void test_label_select_rejects_overlap(void **state)
{
    struct mk_config *cfg = parse_ok(HEAD "  x:\n"
                                          "    - devices: all\n      mig-enabled: false\n"
                                          "    - devices: [1]\n      mig-enabled: true\n"
                                          "      mig-devices: {}\n");
    const struct mk_config_label *l = &cfg->labels[0];
    const struct mk_config_entry *e = NULL;
    struct mk_error err = {0};
    (void)state;
    assert_int_equal(mk_config_label_select(cfg, l, 0, 0x233010DE, 0, &e, &err), 1);
    assert_ptr_equal(e, &l->entries[0]);
    e = NULL;
    assert_int_equal(mk_config_label_select(cfg, l, 1, 0x233010DE, 0, &e, &err), -EINVAL);
    assert_null(e);
    assert_string_equal(err.msg, "t.yaml:6:7: found a second entry of label x for GPU 1 "
                                 "(0x233010DE), first at 4:7; expected one entry per GPU");
    mk_config_free(cfg);
}

/* ---- emission ---- */

static void test_emit_yaml_text(void **state)
{
    struct mk_config *cfg = NULL;
    struct mk_error err = {0};
    char *out;
    (void)state;
    assert_int_equal(mk_config_load(DATA("good-forms.yaml"), &cfg, &err), 0);
    out = mk_config_emit_yaml(cfg, NULL);
    assert_non_null(out);
    assert_string_equal(out, "version: v1\n"
                             "mig-configs:\n"
                             "  mixed:\n"
                             "    - device-filter: [\"0x20B710DE\"]\n"
                             "      devices: [0, 2]\n"
                             "      mig-enabled: true\n"
                             "      mig-devices:\n"
                             "        \"1g.6gb\": 2\n"
                             "        \"2g.12gb+me\": 0\n"
                             "        \"1c.2g.12gb+me\": 1\n"
                             "    - device-filter: [\"0x233010DE:0x16C110DE\", \"0x233110DE\"]\n"
                             "      devices: all\n"
                             "      mig-enabled: true\n"
                             "      mig-devices: {}\n"
                             "    - devices: [1]\n"
                             "      mig-enabled: false\n"
                             "    - devices: [3]\n"
                             "      mig-enabled: false\n"
                             "\n"
                             "  \"quoted label: with spaces\":\n"
                             "    - devices: all\n"
                             "      mig-enabled: false\n"
                             "\n"
                             "  rtx:\n"
                             "    - devices: all\n"
                             "      mig-enabled: true\n"
                             "      mig-devices:\n"
                             "        \"1g.24gb+gfx\": 1\n"
                             "        \"1g.24gb-me\": 1\n"
                             "        \"1g.24gb+me.all\": 1\n"
                             "        \"2c.4g.96gb+gfx\": 0\n");
    free(out);
    out = mk_config_emit_yaml(cfg, "rtx");
    assert_non_null(out);
    assert_string_equal(out, "version: v1\nmig-configs:\n  rtx:\n    - devices: all\n"
                             "      mig-enabled: true\n      mig-devices:\n"
                             "        \"1g.24gb+gfx\": 1\n        \"1g.24gb-me\": 1\n"
                             "        \"1g.24gb+me.all\": 1\n        \"2c.4g.96gb+gfx\": 0\n");
    free(out);
    errno = 0;
    assert_null(mk_config_emit_yaml(cfg, "nope"));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_null(mk_config_emit_json(cfg, "nope"));
    assert_int_equal(errno, ENOENT);
    mk_config_free(cfg);
}

static void test_emit_json_text(void **state)
{
    struct mk_config *cfg = parse_ok(HEAD "  a:\n"
                                          "    - device-filter: \"0x20B710DE\"\n"
                                          "      devices: [0, 1]\n      mig-enabled: true\n"
                                          "      mig-devices: {\"1g.6gb\": 4}\n"
                                          "  b:\n    - devices: all\n      mig-enabled: false\n");
    char *out = mk_config_emit_json(cfg, NULL);
    (void)state;
    assert_non_null(out);
    assert_string_equal(out, "{\n"
                             "  \"version\": \"v1\",\n"
                             "  \"mig-configs\": {\n"
                             "    \"a\": [\n"
                             "      {\n"
                             "        \"device-filter\": [\n"
                             "          \"0x20B710DE\"\n"
                             "        ],\n"
                             "        \"devices\": [\n"
                             "          0,\n"
                             "          1\n"
                             "        ],\n"
                             "        \"mig-enabled\": true,\n"
                             "        \"mig-devices\": {\n"
                             "          \"1g.6gb\": 4\n"
                             "        }\n"
                             "      }\n"
                             "    ],\n"
                             "    \"b\": [\n"
                             "      {\n"
                             "        \"devices\": \"all\",\n"
                             "        \"mig-enabled\": false\n"
                             "      }\n"
                             "    ]\n"
                             "  }\n"
                             "}\n");
    free(out);
    mk_config_free(cfg);
}

/* Emits cfg (or one label) as YAML or JSON, re-parses it, and checks the result is equal; and
 * that emitting the re-parsed configuration gives the same text. */
static void round_trip(const struct mk_config *cfg, const char *only, bool json)
{
    char *text = json ? mk_config_emit_json(cfg, only) : mk_config_emit_yaml(cfg, only), *again;
    struct mk_config *back = NULL;
    struct mk_error err = {0};
    assert_non_null(text);
    if (mk_config_parse(text, strlen(text), "emitted", &back, &err) != 0)
        fail_msg("emitted %s does not re-parse: %s\n%s", json ? "JSON" : "YAML", mk_strerror(&err),
                 text);
    if (!only) {
        assert_true(mk_config_equal(cfg, back));
    } else {
        assert_int_equal(back->nlabels, 1);
        assert_string_equal(back->labels[0].name, only);
    }
    again = json ? mk_config_emit_json(back, NULL) : mk_config_emit_yaml(back, NULL);
    assert_non_null(again);
    if (!only)
        assert_string_equal(text, again);
    free(again);
    free(text);
    mk_config_free(back);
}

static void test_round_trip_reference(void **state)
{
    struct mk_config *cfg = load_reference();
    (void)state;
    round_trip(cfg, NULL, false);
    round_trip(cfg, NULL, true);
    round_trip(cfg, "all-balanced", false);
    round_trip(cfg, "all-balanced", true);
    mk_config_free(cfg);
}

static void test_round_trip_forms_and_quoting(void **state)
{
    struct mk_config *cfg = NULL, *odd;
    struct mk_error err = {0};
    (void)state;
    assert_int_equal(mk_config_load(DATA("good-forms.yaml"), &cfg, &err), 0);
    round_trip(cfg, NULL, false);
    round_trip(cfg, NULL, true);
    /* labels YAML would not read back as the same string are quoted when emitted */
    odd = parse_ok(HEAD "  \"yes\":\n    - devices: all\n      mig-enabled: false\n"
                        "  \"12\":\n    - devices: all\n      mig-enabled: false\n"
                        "  \"tab\\there \\\"q\\\" \\\\ é\":\n    - devices: all\n"
                        "      mig-enabled: false\n"
                        "  \"-x\":\n    - devices: all\n      mig-enabled: false\n");
    assert_string_equal(odd->labels[2].name, "tab\there \"q\" \\ é");
    round_trip(odd, NULL, false);
    round_trip(odd, NULL, true);
    mk_config_free(odd);
    /* equality notices every field */
    odd = parse_ok(HEAD "  mixed:\n    - devices: all\n      mig-enabled: false\n");
    assert_false(mk_config_equal(cfg, odd));
    assert_true(mk_config_equal(cfg, cfg));
    assert_false(mk_config_equal(cfg, NULL));
    assert_true(mk_config_equal(NULL, NULL));
    mk_config_free(odd);
    mk_config_free(cfg);
}

/* ---- allocation failures: every one is reported and leaves nothing behind (ASan checks
 * leaks) ---- */

static void test_allocation_failures(void **state)
{
    struct mk_config *cfg = NULL, *ok = NULL;
    struct mk_error err = {0};
    char *text = NULL;
    size_t len;
    long n;
    FILE *f = fopen(DATA("good-forms.yaml"), "r");
    (void)state;
    assert_non_null(f);
    text = calloc(1, 8192);
    len = fread(text, 1, 8191, f);
    fclose(f);
    for (n = 1; n < 100000; n++) {
        int rc;
        cfg = (struct mk_config *)(uintptr_t)0x1;
        mk__alloc_fail_after(n);
        rc = mk_config_parse(text, len, "t.yaml", &cfg, &err);
        mk__alloc_fail_after(0);
        if (rc == 0) {
            ok = cfg;
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_string_equal(err.msg, "t.yaml: out of memory");
        assert_ptr_equal(cfg, (struct mk_config *)(uintptr_t)0x1);
    }
    assert_non_null(ok);
    assert_true(n > 20); /* the loop did exercise failures */
    for (n = 1; n < 100000; n++) {
        char *out;
        mk__alloc_fail_after(n);
        out = mk_config_emit_yaml(ok, NULL);
        mk__alloc_fail_after(0);
        if (out) {
            free(out);
            break;
        }
        assert_int_equal(errno, ENOMEM);
    }
    mk__alloc_fail_after(1);
    errno = 0;
    assert_null(mk_config_emit_json(ok, NULL));
    mk__alloc_fail_after(0);
    assert_int_equal(errno, ENOMEM);
    mk_config_free(ok);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_all_labels_parse),
        cmocka_unit_test(test_reference_spot_checks),
        cmocka_unit_test(test_reference_balanced_resolves_on_every_model),
        cmocka_unit_test(test_reference_same_name_per_model),
        cmocka_unit_test(test_good_forms),
        cmocka_unit_test(test_bool_spellings),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_rejections_limits),
        cmocka_unit_test(test_rejections_from_files),
        cmocka_unit_test(test_load_errors_and_stdin),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_entry_matches),
        cmocka_unit_test(test_label_select_rejects_overlap),
        cmocka_unit_test(test_emit_yaml_text),
        cmocka_unit_test(test_emit_json_text),
        cmocka_unit_test(test_round_trip_reference),
        cmocka_unit_test(test_round_trip_forms_and_quoting),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
