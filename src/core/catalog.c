/*
 * catalog.c - loading and querying the GPU catalog.
 *
 * Models are JSON objects (docs/catalog.md). The built-in ones are compiled in from
 * data/gpus/ (see cmake/embed.cmake); --catalog adds or replaces models at run time. Loading
 * is all-or-nothing: a file is parsed and validated into a scratch array first and merged only
 * when every model in it is valid.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "migkit/catalog.h"

extern const char *const mk__catalog_builtin[];

struct mk_catalog {
    size_t n;
    struct mk_model **models; /* sorted by slug; each allocated on its own so pointers handed
                                 out stay valid when later loads grow the catalog */
};

const char *mk_field_name(int bit)
{
    static const char *const names[] = {
#define X(n, s) s,
        MK_FIELD_MAP(X)
#undef X
    };
    if (bit < 0 || (size_t)bit >= MK_ELEMENTSOF(names))
        return NULL;
    return names[bit];
}

const char *mk_gi_const_name(int value)
{
    switch (value) {
#define X(n, v, s)                                                                            \
    case v:                                                                                   \
        return #n;
        MK_GI_CONST_MAP(X)
#undef X
    default:
        return NULL;
    }
}

int mk_gi_const_parse(const char *s)
{
#define X(n, v, suf)                                                                          \
    if (strcmp(s, #n) == 0)                                                                   \
        return v;
    MK_GI_CONST_MAP(X)
#undef X
    return -EINVAL;
}

static const char *gi_const_suffix(int value)
{
    switch (value) {
#define X(n, v, s)                                                                            \
    case v:                                                                                   \
        return s;
        MK_GI_CONST_MAP(X)
#undef X
    default:
        return "";
    }
}

static enum mk_media_class media_class(int nvml)
{
    switch (nvml) {
    case MK_GI_CONST_1_SLICE_REV1:
    case MK_GI_CONST_2_SLICE_REV1:
        return MK_MEDIA_ME;
    case MK_GI_CONST_1_SLICE_ALL_ME:
    case MK_GI_CONST_2_SLICE_ALL_ME:
        return MK_MEDIA_ALL_ME;
    case MK_GI_CONST_1_SLICE_NO_ME:
    case MK_GI_CONST_2_SLICE_NO_ME:
        return MK_MEDIA_NO_ME;
    default:
        return MK_MEDIA_PLAIN;
    }
}

/* --- JSON field readers. Each reports "origin: path: expected ..." on failure. --- */

struct ctx {
    const char *origin;
    struct mk_error *err;
};

static int fail(struct ctx *c, const char *path, const char *what)
{
    return mk_error_set(c->err, -EINVAL, "%s: %s: expected %s", c->origin, path, what);
}

static int get_int(struct ctx *c, json_t *obj, const char *key, const char *path, bool required,
                   int lo, int hi, int *out)
{
    char p[160];
    json_t *v = json_object_get(obj, key);
    snprintf(p, sizeof(p), "%s%s", path, key);
    if (!v) {
        if (required)
            return fail(c, p, "an integer (field is missing)");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char what[96];
        snprintf(what, sizeof(what), "an integer from %d to %d", lo, hi);
        return fail(c, p, what);
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_str(struct ctx *c, json_t *obj, const char *key, const char *path, bool required,
                   char *out, size_t len)
{
    char p[160];
    json_t *v = json_object_get(obj, key);
    snprintf(p, sizeof(p), "%s%s", path, key);
    if (!v) {
        if (required)
            return fail(c, p, "a string (field is missing)");
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= len)
        return fail(c, p, "a non-empty string of reasonable length");
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int_array(struct ctx *c, json_t *obj, const char *key, const char *path,
                         bool required, int lo, int hi, int *out, int max, int *n)
{
    char p[160];
    json_t *v = json_object_get(obj, key), *e;
    size_t i;
    snprintf(p, sizeof(p), "%s%s", path, key);
    if (!v) {
        if (required)
            return fail(c, p, "an array of integers (field is missing)");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > (size_t)max || json_array_size(v) == 0)
        return fail(c, p, "a non-empty array of integers");
    json_array_foreach(v, i, e)
    {
        if (!json_is_integer(e) || json_integer_value(e) < lo || json_integer_value(e) > hi) {
            char pe[200], what[64];
            snprintf(pe, sizeof(pe), "%s[%zu]", p, i);
            snprintf(what, sizeof(what), "an integer from %d to %d", lo, hi);
            return fail(c, pe, what);
        }
        out[i] = (int)json_integer_value(e);
    }
    *n = (int)json_array_size(v);
    return 0;
}

static int get_unverified(struct ctx *c, json_t *obj, const char *path, unsigned *out)
{
    char p[160];
    json_t *v = json_object_get(obj, "unverified"), *e;
    size_t i;
    *out = 0;
    if (!v)
        return 0;
    snprintf(p, sizeof(p), "%sunverified", path);
    if (!json_is_array(v))
        return fail(c, p, "an array of field names");
    json_array_foreach(v, i, e)
    {
        int bit = -1;
        for (int b = 0; b < MK_FIELD__COUNT; b++)
            if (json_is_string(e) && strcmp(json_string_value(e), mk_field_name(b)) == 0)
                bit = b;
        if (bit < 0) {
            char pe[200];
            snprintf(pe, sizeof(pe), "%s[%zu]", p, i);
            return fail(c, pe, "a field name (id, sms, memory_mib, engines, starts, auto_order, "
                               "max, ci, pci_device_ids, sm_total, min_driver, name, gi_ids)");
        }
        *out |= 1u << bit;
    }
    return 0;
}

/* Rejects keys that are not in the allowed list: a typo in a catalog must not be ignored. */
static int check_keys(struct ctx *c, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            ok = ok || strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char p[200];
            snprintf(p, sizeof(p), "%s%s", path, key);
            return fail(c, p, "a known field (unknown key; see docs/catalog.md)");
        }
    }
    return 0;
}

static int parse_profile(struct ctx *c, json_t *o, const struct mk_model *m, int idx,
                         struct mk_gi_profile *p)
{
    static const char *const keys[] = {
        "name", "id", "nvml", "mem_slices", "compute_slices", "sms", "memory_mib",
        "dec", "enc", "ce", "jpeg", "ofa", "max", "starts", "auto_order", "ci",
        "ci_default", "memory_mib_alt", "names_alt", "unverified", NULL};
    char path[64], nvml[32] = "", p2[200];
    int r, mem = 0;
    json_t *v, *e;
    size_t i;

    snprintf(path, sizeof(path), "gi_profiles[%d].", idx);
    if (!json_is_object(o))
        return fail(c, path, "an object");
    if ((r = check_keys(c, o, path, keys)) < 0)
        return r;
    if ((r = get_str(c, o, "name", path, true, p->name, sizeof(p->name))) < 0 ||
        (r = get_int(c, o, "id", path, true, 0, 255, &p->id)) < 0 ||
        (r = get_str(c, o, "nvml", path, true, nvml, sizeof(nvml))) < 0 ||
        (r = get_int(c, o, "mem_slices", path, true, 1, m->grid, &p->mem_slices)) < 0 ||
        (r = get_int(c, o, "compute_slices", path, true, 1, m->compute_slices,
                     &p->compute_slices)) < 0 ||
        (r = get_int(c, o, "sms", path, true, 1, 4096, &p->sms)) < 0 ||
        (r = get_int(c, o, "memory_mib", path, true, 1, 1 << 24, &mem)) < 0 ||
        (r = get_int(c, o, "dec", path, true, 0, 64, &p->dec)) < 0 ||
        (r = get_int(c, o, "enc", path, true, 0, 64, &p->enc)) < 0 ||
        (r = get_int(c, o, "ce", path, true, 0, 64, &p->ce)) < 0 ||
        (r = get_int(c, o, "jpeg", path, true, 0, 64, &p->jpeg)) < 0 ||
        (r = get_int(c, o, "ofa", path, true, 0, 64, &p->ofa)) < 0 ||
        (r = get_int(c, o, "max", path, true, 1, 16, &p->max)) < 0 ||
        (r = get_int_array(c, o, "starts", path, true, 0, m->grid - 1, p->starts, MK_MAX_STARTS,
                           &p->nstarts)) < 0 ||
        (r = get_int_array(c, o, "auto_order", path, false, 0, m->grid - 1, p->auto_order,
                           MK_MAX_STARTS, &p->nauto)) < 0 ||
        (r = get_int_array(c, o, "ci", path, true, 0, 15, p->ci, MK_MAX_CI_PROFILES, &p->nci)) <
            0 ||
        (r = get_int(c, o, "ci_default", path, true, 0, 15, &p->ci_default)) < 0 ||
        (r = get_unverified(c, o, path, &p->unverified)) < 0)
        return r;
    p->memory_mib = (uint32_t)mem;
    snprintf(p2, sizeof(p2), "%snvml", path);
    if ((p->nvml = mk_gi_const_parse(nvml)) < 0)
        return fail(c, p2, "an NVML GPU-instance profile constant such as 1_SLICE_REV2");
    p->media = media_class(p->nvml);

    if ((v = json_object_get(o, "memory_mib_alt"))) {
        snprintf(p2, sizeof(p2), "%smemory_mib_alt", path);
        if (!json_is_array(v) || json_array_size(v) > MK_MAX_ALTS)
            return fail(c, p2, "an array of at most 4 {mib, note} objects");
        json_array_foreach(v, i, e)
        {
            json_t *mib = json_object_get(e, "mib"), *note = json_object_get(e, "note");
            if (!json_is_integer(mib) || json_integer_value(mib) <= 0 ||
                (note && !json_is_string(note)))
                return fail(c, p2, "objects {\"mib\": integer, \"note\": string}");
            p->alts[i].mib = (uint32_t)json_integer_value(mib);
            snprintf(p->alts[i].note, sizeof(p->alts[i].note), "%s",
                     note ? json_string_value(note) : "");
            p->nalts++;
        }
    }
    if ((v = json_object_get(o, "names_alt"))) {
        snprintf(p2, sizeof(p2), "%snames_alt", path);
        if (!json_is_array(v) || json_array_size(v) > MK_MAX_ALTS)
            return fail(c, p2, "an array of at most 4 names");
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || json_string_length(e) >= MK_NAME_LEN)
                return fail(c, p2, "profile names");
            snprintf(p->names_alt[i], MK_NAME_LEN, "%s", json_string_value(e));
            p->nnames_alt++;
        }
    }
    if (p->nauto == 0) {
        memcpy(p->auto_order, p->starts, sizeof(p->starts));
        p->nauto = p->nstarts;
    }

    /* Geometry checks: placements inside the grid and aligned (true of every known GPU; the
     * remaining-capacity model depends on it). */
    for (int s = 0; s < p->nstarts; s++) {
        if (p->starts[s] + p->mem_slices > m->grid || p->starts[s] % p->mem_slices != 0) {
            snprintf(p2, sizeof(p2), "%sstarts[%d]", path, s);
            return fail(c, p2, "a start that is a multiple of mem_slices and fits in the grid");
        }
    }
    for (int s = 0; s < p->nauto; s++) {
        bool found = false;
        for (int t = 0; t < p->nstarts; t++)
            found = found || p->starts[t] == p->auto_order[s];
        if (!found) {
            snprintf(p2, sizeof(p2), "%sauto_order[%d]", path, s);
            return fail(c, p2, "one of the profile's starts");
        }
    }
    bool def_ok = false;
    for (int k = 0; k < p->nci; k++) {
        if (!mk_model_ci_profile(m, p->ci[k])) {
            snprintf(p2, sizeof(p2), "%sci[%d]", path, k);
            return fail(c, p2, "a CI profile ID listed in the model's ci_profiles");
        }
        const struct mk_ci_profile *cp = mk_model_ci_profile(m, p->ci[k]);
        if (cp->slices > p->compute_slices) {
            snprintf(p2, sizeof(p2), "%sci[%d]", path, k);
            return fail(c, p2, "a CI profile no larger than the GI");
        }
        def_ok = def_ok || p->ci[k] == p->ci_default;
    }
    if (!def_ok) {
        snprintf(p2, sizeof(p2), "%sci_default", path);
        return fail(c, p2, "one of the IDs in ci");
    }
    /* The name must follow the driver's naming rule (reference §2.4), so a typo in memory or
     * name_base is caught here rather than shown to users. */
    char want[MK_NAME_LEN];
    mk_model_profile_name(m, p->nvml, p->compute_slices, p->memory_mib, want, sizeof(want));
    if (strcmp(want, p->name) != 0) {
        char what[320];
        snprintf(p2, sizeof(p2), "%sname", path);
        snprintf(what, sizeof(what), "\"%s\" (the name the driver derives from memory_mib %u, "
                 "total %u MiB and name_base_gib %d), not \"%s\"",
                 want, p->memory_mib, m->memory_mib, m->name_base_gib, p->name);
        return fail(c, p2, what);
    }
    return 0;
}

static int parse_model(struct ctx *c, json_t *o, struct mk_model *m)
{
    static const char *const keys[] = {
        "slug", "name", "names_alt", "pci_device_ids", "arch", "chip", "compute_capability",
        "min_driver", "memory_mib", "name_base_gib", "sm_total", "grid", "compute_slices",
        "max_gis", "gi_id_unit", "pcie_board", "unverified", "notes", "ci_profiles",
        "gi_profiles", NULL};
    int r, mem = 0;
    json_t *v, *e;
    size_t i;

    memset(m, 0, sizeof(*m));
    if (!json_is_object(o))
        return fail(c, "(top level)", "a model object");
    if ((r = check_keys(c, o, "", keys)) < 0)
        return r;
    m->gi_id_unit = 1;
    if ((r = get_str(c, o, "slug", "", true, m->slug, sizeof(m->slug))) < 0 ||
        (r = get_str(c, o, "name", "", true, m->name, sizeof(m->name))) < 0 ||
        (r = get_str(c, o, "arch", "", false, m->arch, sizeof(m->arch))) < 0 ||
        (r = get_str(c, o, "chip", "", false, m->chip, sizeof(m->chip))) < 0 ||
        (r = get_str(c, o, "compute_capability", "", false, m->compute_capability,
                     sizeof(m->compute_capability))) < 0 ||
        (r = get_str(c, o, "min_driver", "", false, m->min_driver, sizeof(m->min_driver))) < 0 ||
        (r = get_int(c, o, "memory_mib", "", true, 1, 1 << 24, &mem)) < 0 ||
        (r = get_int(c, o, "name_base_gib", "", true, 1, 16384, &m->name_base_gib)) < 0 ||
        (r = get_int(c, o, "sm_total", "", true, 1, 4096, &m->sm_total)) < 0 ||
        (r = get_int(c, o, "grid", "", true, 1, MK_MAX_STARTS, &m->grid)) < 0 ||
        (r = get_int(c, o, "compute_slices", "", true, 1, 8, &m->compute_slices)) < 0 ||
        (r = get_int(c, o, "max_gis", "", true, 1, 15, &m->max_gis)) < 0 ||
        (r = get_int(c, o, "gi_id_unit", "", false, 1, m->grid, &m->gi_id_unit)) < 0 ||
        (r = get_unverified(c, o, "", &m->unverified)) < 0)
        return r;
    m->memory_mib = (uint32_t)mem;
    if (m->grid % m->gi_id_unit != 0)
        return fail(c, "gi_id_unit", "a divisor of grid");
    if ((uint64_t)(m->name_base_gib - 1) * 1024 >= m->memory_mib ||
        (uint64_t)m->name_base_gib * 1024 < m->memory_mib)
        return fail(c, "memory_mib", "a total in ((name_base_gib-1)*1024, name_base_gib*1024]");
    if ((v = json_object_get(o, "pcie_board"))) {
        if (!json_is_boolean(v))
            return fail(c, "pcie_board", "true or false");
        m->pcie_board = json_is_true(v);
    }
    if ((v = json_object_get(o, "names_alt"))) {
        if (!json_is_array(v) || json_array_size(v) > MK_MAX_ALTS)
            return fail(c, "names_alt", "an array of at most 4 names");
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || json_string_length(e) >= sizeof(m->names_alt[0]))
                return fail(c, "names_alt", "product names");
            snprintf(m->names_alt[i], sizeof(m->names_alt[i]), "%s", json_string_value(e));
            m->nnames_alt++;
        }
    }
    if ((v = json_object_get(o, "notes"))) {
        if (!json_is_array(v) || json_array_size(v) > MK_MAX_NOTES)
            return fail(c, "notes", "an array of at most 8 strings");
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                return fail(c, "notes", "strings");
            snprintf(m->notes[i], sizeof(m->notes[i]), "%s", json_string_value(e));
            m->nnotes++;
        }
    }
    v = json_object_get(o, "pci_device_ids");
    if (!json_is_array(v) || json_array_size(v) > MK_MAX_PCI_IDS)
        return fail(c, "pci_device_ids", "an array of PCI IDs like \"0x233010DE\"");
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        char *end;
        unsigned long id = s ? strtoul(s, &end, 16) : 0;
        if (!s || strncasecmp(s, "0x", 2) != 0 || strlen(s) != 10 || *end) {
            char p[64];
            snprintf(p, sizeof(p), "pci_device_ids[%zu]", i);
            return fail(c, p, "a PCI ID of the form 0xDDDDVVVV");
        }
        m->pci_ids[m->npci++] = (uint32_t)id;
    }
    v = json_object_get(o, "ci_profiles");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MK_MAX_CI_PROFILES)
        return fail(c, "ci_profiles", "a non-empty array of {id, slices}");
    json_array_foreach(v, i, e)
    {
        char p[64];
        snprintf(p, sizeof(p), "ci_profiles[%zu].", i);
        if ((r = get_int(c, e, "id", p, true, 0, 15, &m->ci_profiles[i].id)) < 0 ||
            (r = get_int(c, e, "slices", p, true, 1, m->compute_slices,
                         &m->ci_profiles[i].slices)) < 0)
            return r;
        m->nci_profiles++;
    }
    v = json_object_get(o, "gi_profiles");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MK_MAX_GI_PROFILES)
        return fail(c, "gi_profiles", "a non-empty array of GPU-instance profiles");
    json_array_foreach(v, i, e)
    {
        struct mk_gi_profile *p = &m->profiles[i];
        if ((r = parse_profile(c, e, m, (int)i, p)) < 0)
            return r;
        m->nprofiles++;
        for (size_t k = 0; k < i; k++) {
            if (m->profiles[k].id == p->id || strcmp(m->profiles[k].name, p->name) == 0) {
                char path[64];
                snprintf(path, sizeof(path), "gi_profiles[%zu]", i);
                return fail(c, path, "a profile ID and name not used by an earlier profile");
            }
        }
    }
    return 0;
}

static int cmp_model(const void *a, const void *b)
{
    return strcmp((*(struct mk_model *const *)a)->slug, (*(struct mk_model *const *)b)->slug);
}

/* Parses text into a new array of models; nothing is merged yet. */
static int parse_text(const char *text, const char *origin, struct mk_model **ret, size_t *ret_n,
                      struct mk_error *err)
{
    struct ctx c = {origin, err};
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    struct mk_model *models = NULL;
    size_t n;
    int r = 0;

    if (!root)
        return mk_error_set(err, -EINVAL, "%s:%d:%d: %s", origin, jerr.line, jerr.column,
                            jerr.text);
    n = json_is_array(root) ? json_array_size(root) : 1;
    models = mk__calloc(n ? n : 1, sizeof(*models));
    if (!models) {
        json_decref(root);
        return mk_error_set(err, -ENOMEM, "out of memory loading %s", origin);
    }
    for (size_t i = 0; i < n && r >= 0; i++)
        r = parse_model(&c, json_is_array(root) ? json_array_get(root, i) : root, &models[i]);
    json_decref(root);
    if (r < 0) {
        mk__free(models);
        return r;
    }
    *ret = models;
    *ret_n = n;
    return 0;
}

/* Adds the parsed models: a new slug gets its own allocation, an existing one is replaced in
 * place (so pointers to it stay valid and now show the new values). All allocations are made
 * before anything changes, so a failure leaves cat as it was. */
static int merge(struct mk_catalog *cat, struct mk_model *add, size_t n, struct mk_error *err)
{
    size_t extra = 0, k = 0;
    struct mk_model **fresh, **grown;
    for (size_t i = 0; i < n; i++)
        extra += mk_catalog_find(cat, add[i].slug) ? 0 : 1;
    if (!(fresh = mk__calloc(extra ? extra : 1, sizeof(*fresh))))
        return mk_error_set(err, -ENOMEM, "out of memory growing the catalog");
    for (k = 0; k < extra; k++)
        if (!(fresh[k] = mk__malloc(sizeof(**fresh))))
            break;
    grown = k == extra ? mk__realloc(cat->models, (cat->n + extra) * sizeof(*grown)) : NULL;
    if (!grown) {
        for (size_t i = 0; i < k; i++)
            mk__free(fresh[i]);
        mk__free(fresh);
        return mk_error_set(err, -ENOMEM, "out of memory growing the catalog");
    }
    cat->models = grown;
    k = 0;
    for (size_t i = 0; i < n; i++) {
        struct mk_model *old = (struct mk_model *)mk_catalog_find(cat, add[i].slug);
        if (old) {
            *old = add[i];
        } else {
            *fresh[k] = add[i];
            cat->models[cat->n++] = fresh[k++];
        }
    }
    mk__free(fresh);
    qsort(cat->models, cat->n, sizeof(*cat->models), cmp_model);
    return 0;
}

int mk_catalog_load_string(struct mk_catalog *cat, const char *text, const char *origin,
                           struct mk_error *err)
{
    struct mk_model *models = NULL;
    size_t n = 0;
    int r;
    mk_assert_return(cat && text && origin, -EINVAL);
    if ((r = parse_text(text, origin, &models, &n, err)) < 0)
        return r;
    r = merge(cat, models, n, err);
    mk__free(models);
    return r;
}

int mk_catalog_load_file(struct mk_catalog *cat, const char *path, struct mk_error *err)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int r;
    mk_assert_return(cat && path, -EINVAL);
    if (!(f = fopen(path, "re")))
        return mk_error_set(err, -errno, "%s: cannot open catalog: %s", path, strerror(errno));
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *nb = mk__realloc(buf, cap = cap * 2 + 8192);
            if (!nb) {
                mk__free(buf);
                fclose(f);
                return mk_error_set(err, -ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    r = mk_catalog_load_string(cat, buf, path, err);
    mk__free(buf);
    return r;
}

int mk_catalog_new(struct mk_catalog **ret_catalog, struct mk_error *err)
{
    struct mk_catalog *cat;
    int r;
    mk_assert_return(ret_catalog, -EINVAL);
    if (!(cat = mk__calloc(1, sizeof(*cat))))
        return mk_error_set(err, -ENOMEM, "out of memory creating the catalog");
    for (size_t i = 0; mk__catalog_builtin[i]; i++) {
        char origin[64];
        snprintf(origin, sizeof(origin), "built-in catalog entry %zu", i);
        if ((r = mk_catalog_load_string(cat, mk__catalog_builtin[i], origin, err)) < 0) {
            mk_catalog_free(cat);
            return r;
        }
    }
    *ret_catalog = cat;
    return 0;
}

void mk_catalog_free(struct mk_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n; i++)
        mk__free(cat->models[i]);
    mk__free(cat->models);
    mk__free(cat);
}

size_t mk_catalog_count(const struct mk_catalog *cat)
{
    return cat ? cat->n : 0;
}

const struct mk_model *mk_catalog_at(const struct mk_catalog *cat, size_t i)
{
    return cat && i < cat->n ? cat->models[i] : NULL;
}

const struct mk_model *mk_catalog_find(const struct mk_catalog *cat, const char *slug)
{
    for (size_t i = 0; cat && slug && i < cat->n; i++)
        if (strcmp(cat->models[i]->slug, slug) == 0)
            return cat->models[i];
    return NULL;
}

const struct mk_model *mk_catalog_find_pci(const struct mk_catalog *cat, uint32_t pci_id)
{
    for (size_t i = 0; cat && i < cat->n; i++)
        for (int k = 0; k < cat->models[i]->npci; k++)
            if (cat->models[i]->pci_ids[k] == pci_id)
                return cat->models[i];
    return NULL;
}

const struct mk_gi_profile *mk_model_profile_by_id(const struct mk_model *m, int id)
{
    for (int i = 0; m && i < m->nprofiles; i++)
        if (m->profiles[i].id == id)
            return &m->profiles[i];
    return NULL;
}

const struct mk_gi_profile *mk_model_profile_by_name(const struct mk_model *m, const char *name)
{
    if (!m || !name)
        return NULL;
    if (strncmp(name, "MIG ", 4) == 0)
        name += 4;
    for (int i = 0; i < m->nprofiles; i++)
        if (strcmp(m->profiles[i].name, name) == 0)
            return &m->profiles[i];
    for (int i = 0; i < m->nprofiles; i++)
        for (int k = 0; k < m->profiles[i].nnames_alt; k++)
            if (strcmp(m->profiles[i].names_alt[k], name) == 0)
                return &m->profiles[i];
    return NULL;
}

const struct mk_ci_profile *mk_model_ci_profile(const struct mk_model *m, int ci_id)
{
    for (int i = 0; m && i < m->nci_profiles; i++)
        if (m->ci_profiles[i].id == ci_id)
            return &m->ci_profiles[i];
    return NULL;
}

int mk_model_profile_index(const struct mk_model *m, const struct mk_gi_profile *p)
{
    return (int)(p - m->profiles);
}

char *mk_model_profile_name(const struct mk_model *m, int nvml_const, int g, uint32_t memory_mib,
                            char *buf, size_t len)
{
    /* frac = ceil(mem/total * 8) / 8, N = round(frac * base). Computed in integers where
     * possible: eighths = ceil(8 * mem / total). */
    uint64_t eighths = ((uint64_t)memory_mib * 8 + m->memory_mib - 1) / m->memory_mib;
    double n = round((double)eighths / 8.0 * m->name_base_gib);
    snprintf(buf, len, "%dg.%.0fgb%s", g, n, gi_const_suffix(nvml_const));
    return buf;
}

char *mk_ci_name(const struct mk_gi_profile *p, int c, char *buf, size_t len)
{
    /* The CI name never carries the GI's media suffix (reference §2.4). */
    size_t base = strcspn(p->name, "+-");
    if (c == p->compute_slices)
        snprintf(buf, len, "%.*s", (int)base, p->name);
    else
        snprintf(buf, len, "%dc.%.*s", c, (int)base, p->name);
    return buf;
}

int mk_ci_sms(const struct mk_gi_profile *p, int c, bool *ret_exact)
{
    int per, sms;
    if (c >= p->compute_slices) {
        if (ret_exact)
            *ret_exact = true;
        return p->sms;
    }
    per = p->sms / p->compute_slices;
    sms = (c * per) & ~1;
    if (ret_exact)
        *ret_exact = p->sms % p->compute_slices == 0;
    return sms;
}
