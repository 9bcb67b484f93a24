/*
 * state.c - JSON (de)serialisation of the machine state; see state.h for the format.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "migkit/state.h"
#include "migkit/uuid.h"

static int bad(struct mk_error *err, const char *origin, const char *what, int gpu)
{
    if (gpu >= 0)
        return mk_error_set(err, -EBADMSG, "%s: damaged state file: gpus[%d]: %s", origin, gpu,
                            what);
    return mk_error_set(err, -EBADMSG, "%s: damaged state file: %s", origin, what);
}

static bool get_int(json_t *o, const char *k, int lo, int hi, int *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = (int)json_integer_value(v);
    return true;
}

static int parse_gi(json_t *o, struct mk_gpu *g, struct mk_gi *gi, const char *origin, int gidx,
                    struct mk_error *err)
{
    int pid;
    json_t *cis, *c;
    size_t i;
    if (!json_is_object(o) || !get_int(o, "id", 0, MK_MAX_GIS - 1, &gi->id) ||
        !get_int(o, "profile_id", 0, 255, &pid) || !get_int(o, "start", 0, 63, &gi->start))
        return bad(err, origin, "a GPU instance lacks a valid id, profile_id or start", gidx);
    if (!(gi->profile = mk_model_profile_by_id(g->model, pid)))
        return bad(err, origin, "a GPU instance names a profile the model does not have", gidx);
    gi->busy = json_is_true(json_object_get(o, "busy"));
    cis = json_object_get(o, "cis");
    if (cis && (!json_is_array(cis) || json_array_size(cis) > MK_MAX_CIS))
        return bad(err, origin, "\"cis\" must be an array of at most 8 compute instances", gidx);
    json_array_foreach(cis, i, c)
    {
        struct mk_ci *ci = &gi->ci[gi->nci];
        const struct mk_ci_profile *cp;
        const char *uuid = json_string_value(json_object_get(c, "uuid"));
        if (!get_int(c, "id", 0, MK_MAX_CIS - 1, &ci->id) ||
            !get_int(c, "profile_id", 0, 15, &ci->profile_id) ||
            !get_int(c, "start", 0, 15, &ci->start) || !uuid || !mk_uuid_valid("MIG-", uuid))
            return bad(err, origin, "a compute instance lacks a valid id, profile_id, start or "
                                    "uuid", gidx);
        if (!(cp = mk_model_ci_profile(g->model, ci->profile_id)))
            return bad(err, origin, "a compute instance names an unknown CI profile", gidx);
        ci->slices = cp->slices;
        snprintf(ci->uuid, sizeof(ci->uuid), "%s", uuid);
        gi->nci++;
    }
    return 0;
}

/* "faults": {"create-gi": N, ...}, the simulator's pending injected failures (optional). */
static int parse_faults(json_t *f, struct mk_gpu *g, const char *origin, int idx,
                        struct mk_error *err)
{
    const char *key;
    json_t *v;
    if (!f)
        return 0;
    if (!json_is_object(f))
        return bad(err, origin, "\"faults\" must be an object", idx);
    json_object_foreach(f, key, v)
    {
        int k;
        for (k = 0; k < MK_FAULT__COUNT && strcmp(key, mk_fault_name(k)); k++)
            ;
        if (k == MK_FAULT__COUNT || !json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 1000)
            return bad(err, origin, "\"faults\" holds an unknown kind or a bad count", idx);
        g->faults[k] = (int)json_integer_value(v);
    }
    return 0;
}

static int parse_gpu(json_t *o, const struct mk_catalog *cat, struct mk_gpu *g, int idx,
                     const char *origin, struct mk_error *err)
{
    const char *slug = json_string_value(json_object_get(o, "model"));
    const char *uuid = json_string_value(json_object_get(o, "uuid"));
    const char *bus = json_string_value(json_object_get(o, "pci_bus_id"));
    const struct mk_model *m;
    json_t *gis, *e;
    size_t i;
    int r;
    if (!json_is_object(o) || !slug || !uuid || !bus)
        return bad(err, origin, "expected an object with model, uuid and pci_bus_id", idx);
    if (!(m = mk_catalog_find(cat, slug))) {
        char what[128];
        snprintf(what, sizeof(what), "unknown GPU model \"%.60s\" (not in the catalog)", slug);
        return bad(err, origin, what, idx);
    }
    if (!mk_uuid_valid("GPU-", uuid) || strlen(bus) >= sizeof(g->pci_bus_id))
        return bad(err, origin, "malformed uuid or pci_bus_id", idx);
    mk_gpu_init(g, m, idx);
    snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
    snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "%s", bus);
    g->mig_enabled = json_is_true(json_object_get(o, "mig_enabled"));
    if ((r = parse_faults(json_object_get(o, "faults"), g, origin, idx, err)) < 0)
        return r;
    gis = json_object_get(o, "gis");
    if (gis && (!json_is_array(gis) || json_array_size(gis) > MK_MAX_GIS))
        return bad(err, origin, "\"gis\" must be an array of at most 15 GPU instances", idx);
    json_array_foreach(gis, i, e)
    {
        if ((r = parse_gi(e, g, &g->gi[g->ngi], origin, idx, err)) < 0)
            return r;
        g->ngi++;
    }
    if ((r = mk_gpu_validate(g, err)) < 0) {
        char why[MK_ERROR_LEN];
        snprintf(why, sizeof(why), "%s", err ? err->msg : "");
        return mk_error_set(err, -EBADMSG, "%s: inconsistent state: %s", origin, why);
    }
    return 0;
}

int mk_state_parse(const char *text, const char *origin, const struct mk_catalog *cat,
                   struct mk_gpu **ret_gpus, int *ret_n, struct mk_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *gpus, *e;
    struct mk_gpu *out = NULL;
    int version = 0, r = 0;
    size_t i, n;

    if (!root)
        return mk_error_set(err, -EBADMSG, "%s:%d:%d: damaged state file: %s", origin,
                            jerr.line, jerr.column, jerr.text);
    gpus = json_object_get(root, "gpus");
    if (!json_is_object(root) || !get_int(root, "version", 0, 1000, &version) ||
        !json_is_array(gpus)) {
        json_decref(root);
        return bad(err, origin, "expected {\"version\": 1, \"gpus\": [...]}", -1);
    }
    if (version != MK_STATE_VERSION) {
        json_decref(root);
        return mk_error_set(err, -EBADMSG,
                            "%s: damaged state file: version %d is not supported (expected %d)",
                            origin, version, MK_STATE_VERSION);
    }
    /* 64 GPUs is far more than any server holds; the bound keeps a damaged file from asking
     * for a huge allocation. */
    n = json_array_size(gpus);
    if (n > 64) {
        json_decref(root);
        return bad(err, origin, "more than 64 GPUs", -1);
    }
    if (!(out = mk__calloc(n ? n : 1, sizeof(*out)))) {
        json_decref(root);
        return mk_error_set(err, -ENOMEM, "out of memory reading %s", origin);
    }
    json_array_foreach(gpus, i, e)
    {
        if ((r = parse_gpu(e, cat, &out[i], (int)i, origin, err)) < 0)
            break;
    }
    json_decref(root);
    if (r < 0) {
        mk__free(out);
        return r;
    }
    *ret_gpus = out;
    *ret_n = (int)n;
    return 0;
}

char *mk_state_dump(const struct mk_gpu *gpus, int n)
{
    json_t *root = json_object(), *arr = json_array();
    char *text;
    json_object_set_new(root, "version", json_integer(MK_STATE_VERSION));
    json_object_set_new(root, "gpus", arr);
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = &gpus[i];
        json_t *o = json_object(), *gis = json_array();
        json_object_set_new(o, "model", json_string(g->model->slug));
        json_object_set_new(o, "uuid", json_string(g->uuid));
        json_object_set_new(o, "pci_bus_id", json_string(g->pci_bus_id));
        json_object_set_new(o, "mig_enabled", json_boolean(g->mig_enabled));
        for (int f = 0; f < MK_FAULT__COUNT; f++) {
            if (!g->faults[f])
                continue;
            if (!json_object_get(o, "faults"))
                json_object_set_new(o, "faults", json_object());
            json_object_set_new(json_object_get(o, "faults"), mk_fault_name(f),
                                json_integer(g->faults[f]));
        }
        for (int k = 0; k < g->ngi; k++) {
            const struct mk_gi *gi = &g->gi[k];
            json_t *go = json_object(), *cis = json_array();
            json_object_set_new(go, "id", json_integer(gi->id));
            json_object_set_new(go, "profile_id", json_integer(gi->profile->id));
            json_object_set_new(go, "start", json_integer(gi->start));
            json_object_set_new(go, "busy", json_boolean(gi->busy));
            for (int c = 0; c < gi->nci; c++) {
                json_t *co = json_object();
                json_object_set_new(co, "id", json_integer(gi->ci[c].id));
                json_object_set_new(co, "profile_id", json_integer(gi->ci[c].profile_id));
                json_object_set_new(co, "start", json_integer(gi->ci[c].start));
                json_object_set_new(co, "uuid", json_string(gi->ci[c].uuid));
                json_array_append_new(cis, co);
            }
            json_object_set_new(go, "cis", cis);
            json_array_append_new(gis, go);
        }
        json_object_set_new(o, "gis", gis);
        json_array_append_new(arr, o);
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
