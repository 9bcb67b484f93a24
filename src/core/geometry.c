/*
 * geometry.c - the MIG partition rules of one GPU (see geometry.h and docs/geometry.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migkit/geometry.h"

const char *mk_fault_name(int f)
{
    static const char *const names[] = {
#define X(n, s) s,
        MK_FAULT_MAP(X)
#undef X
    };
    return f >= 0 && f < MK_FAULT__COUNT ? names[f] : NULL;
}

void mk_gpu_init(struct mk_gpu *g, const struct mk_model *m, int index)
{
    memset(g, 0, sizeof(*g));
    g->model = m;
    g->index = index;
    g->pci_device_id = m->npci ? m->pci_ids[0] : 0;
}

int mk_gi_id_for(const struct mk_model *m, const struct mk_gi_profile *p, int start)
{
    /* Binary-tree numbering in units of gi_id_unit: the whole GPU is node 0, its halves 1-2,
     * quarters 3-6, eighths 7-14. Observed on A100/H100 (7 + slot for 1g, 3 + slot/2 for
     * 2g, 1 + slot/4 for 3g/4g) and RTX PRO 6000 (quarters 3..6 at 0:3, 3:3, 6:3, 9:3). */
    int units = m->grid / m->gi_id_unit;
    int size = p->mem_slices / m->gi_id_unit;
    int pos = start / m->gi_id_unit;
    if (size <= 0)
        size = 1;
    return units / size - 1 + pos / size;
}

bool mk_gpu_range_free(const struct mk_gpu *g, int start, int size)
{
    for (int i = 0; i < g->ngi; i++) {
        const struct mk_gi *gi = &g->gi[i];
        int s = gi->start, e = gi->start + gi->profile->mem_slices;
        if (start < e && s < start + size)
            return false;
    }
    return true;
}

static int count_profile(const struct mk_gpu *g, const struct mk_gi_profile *p)
{
    int n = 0;
    for (int i = 0; i < g->ngi; i++)
        n += g->gi[i].profile == p;
    return n;
}

/* The media-engine rules: at most one "+me" GI on the GPU (on A30 its two +me profiles share
 * the one JPEG/OFA, so they exclude each other too); a "+me.all" GI takes every media engine,
 * so it coexists only with "-me" GIs (nvml.h: "prevents allocation of all but _NO_ME
 * profiles"). */
static bool media_allows(const struct mk_gpu *g, const struct mk_gi_profile *p)
{
    for (int i = 0; i < g->ngi; i++) {
        enum mk_media_class have = g->gi[i].profile->media;
        if (have == MK_MEDIA_ALL_ME && p->media != MK_MEDIA_NO_ME)
            return false;
        if (p->media == MK_MEDIA_ALL_ME && have != MK_MEDIA_NO_ME)
            return false;
        if (have == MK_MEDIA_ME && p->media == MK_MEDIA_ME)
            return false;
    }
    return true;
}

static bool is_start(const struct mk_gi_profile *p, int start)
{
    for (int i = 0; i < p->nstarts; i++)
        if (p->starts[i] == start)
            return true;
    return false;
}

int mk_gpu_gi_check(const struct mk_gpu *g, const struct mk_gi_profile *p, int start)
{
    if (start >= 0 && !is_start(p, start))
        return -EINVAL;
    if (g->ngi >= g->model->max_gis || g->ngi >= MK_MAX_GIS)
        return -ENOSPC;
    if (count_profile(g, p) >= p->max || !media_allows(g, p))
        return -ENOSPC;
    if (start >= 0)
        return mk_gpu_range_free(g, start, p->mem_slices) ? 0 : -ENOSPC;
    for (int i = 0; i < p->nauto; i++)
        if (mk_gpu_range_free(g, p->auto_order[i], p->mem_slices))
            return 0;
    return -ENOSPC;
}

/* left, capped by how many GIs of p the memory neither GIs nor g->outside_bytes hold can take
 * (a software GPU whose custom instances hold memory outside the slices). */
static int memory_cap(const struct mk_gpu *g, const struct mk_gi_profile *p, int left)
{
    uint64_t total = (uint64_t)g->model->memory_mib << 20, used = g->outside_bytes;
    uint64_t each = (uint64_t)p->memory_mib << 20;
    for (int i = 0; i < g->ngi; i++)
        used += (uint64_t)g->gi[i].profile->memory_mib << 20;
    if (each == 0)
        return left;
    if (used >= total)
        return 0;
    return (total - used) / each < (uint64_t)left ? (int)((total - used) / each) : left;
}

int mk_gpu_gi_remaining(const struct mk_gpu *g, const struct mk_gi_profile *p)
{
    int free_places = 0, left;
    /* With MIG off there are no instances and the count is the empty GPU's: a real H200
     * (driver 580.159.04, MIG disabled) lists every profile as 7/7, 1/1, ... in -lgip. */
    if (!media_allows(g, p))
        return 0;
    /* Placements of one profile are aligned and equal-sized, so they never overlap each
     * other: the number that fit at once is the number that are entirely free. */
    for (int i = 0; i < p->nstarts; i++)
        free_places += mk_gpu_range_free(g, p->starts[i], p->mem_slices);
    left = p->max - count_profile(g, p);
    if (g->model->max_gis - g->ngi < left)
        left = g->model->max_gis - g->ngi;
    if (g->outside_bytes > 0)
        left = memory_cap(g, p, left);
    return free_places < left ? free_places : left;
}

int mk_gpu_gi_create(struct mk_gpu *g, const struct mk_gi_profile *p, int start, int *ret_id)
{
    int r, chosen = start;
    struct mk_gi *gi;
    if (!g->mig_enabled)
        return -ENOTSUP;
    if ((r = mk_gpu_gi_check(g, p, start)) < 0)
        return r;
    if (chosen < 0) {
        for (int i = 0; i < p->nauto && chosen < 0; i++)
            if (mk_gpu_range_free(g, p->auto_order[i], p->mem_slices))
                chosen = p->auto_order[i];
    }
    gi = &g->gi[g->ngi++];
    memset(gi, 0, sizeof(*gi));
    gi->id = mk_gi_id_for(g->model, p, chosen);
    gi->profile = p;
    gi->start = chosen;
    if (ret_id)
        *ret_id = gi->id;
    return 0;
}

struct mk_gi *mk_gpu_gi_find(struct mk_gpu *g, int id)
{
    for (int i = 0; i < g->ngi; i++)
        if (g->gi[i].id == id)
            return &g->gi[i];
    return NULL;
}

const struct mk_gi *mk_gpu_gi_find_const(const struct mk_gpu *g, int id)
{
    return mk_gpu_gi_find((struct mk_gpu *)g, id);
}

int mk_gpu_gi_destroy(struct mk_gpu *g, int id)
{
    struct mk_gi *gi = mk_gpu_gi_find(g, id);
    if (!gi)
        return -ENOENT;
    if (gi->nci > 0 || gi->busy)
        return -EBUSY;
    size_t idx = (size_t)(gi - g->gi);
    memmove(gi, gi + 1, (size_t)(g->ngi - 1 - (int)idx) * sizeof(*gi));
    g->ngi--;
    return 0;
}

static bool gi_offers(const struct mk_gi *gi, int ci_id)
{
    for (int i = 0; i < gi->profile->nci; i++)
        if (gi->profile->ci[i] == ci_id)
            return true;
    return false;
}

static bool ci_range_free(const struct mk_gi *gi, int start, int size)
{
    for (int i = 0; i < gi->nci; i++) {
        const struct mk_ci *c = &gi->ci[i];
        if (start < c->start + c->slices && c->start < start + size)
            return false;
    }
    return true;
}

/* First free aligned CI placement of the given size, or -1. CI placements are aligned to
 * their size (three 1c at 0:1, 1:1, 2:1 in a 3g; the full CI at 0:g), which reproduces every
 * CI max count of the reference (2c x3 and 3c x2 in a 7g, 2c x1 in a 3g). */
static int ci_first_free(const struct mk_gi *gi, int size)
{
    for (int s = 0; s + size <= gi->profile->compute_slices; s += size)
        if (ci_range_free(gi, s, size))
            return s;
    return -1;
}

int mk_gi_ci_remaining(const struct mk_gi *gi, const struct mk_model *m, int ci_id)
{
    const struct mk_ci_profile *cp = mk_model_ci_profile(m, ci_id);
    int n = 0;
    if (!cp || !gi_offers(gi, ci_id))
        return -EINVAL;
    for (int s = 0; s + cp->slices <= gi->profile->compute_slices; s += cp->slices)
        n += ci_range_free(gi, s, cp->slices);
    if (n > MK_MAX_CIS - gi->nci)
        n = MK_MAX_CIS - gi->nci;
    return n;
}

int mk_gpu_ci_create(struct mk_gpu *g, int gi_id, int ci_id, const char *uuid, int *ret_id)
{
    struct mk_gi *gi = mk_gpu_gi_find(g, gi_id);
    const struct mk_ci_profile *cp;
    struct mk_ci *c;
    int start, id;
    if (!gi)
        return -ENOENT;
    cp = mk_model_ci_profile(g->model, ci_id);
    if (!cp || !gi_offers(gi, ci_id))
        return -EINVAL;
    if (gi->nci >= MK_MAX_CIS || (start = ci_first_free(gi, cp->slices)) < 0)
        return -ENOSPC;
    for (id = 0; id < MK_MAX_CIS; id++) {
        bool used = false;
        for (int i = 0; i < gi->nci; i++)
            used = used || gi->ci[i].id == id;
        if (!used)
            break;
    }
    c = &gi->ci[gi->nci++];
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->profile_id = ci_id;
    c->start = start;
    c->slices = cp->slices;
    snprintf(c->uuid, sizeof(c->uuid), "%s", uuid ? uuid : "");
    if (ret_id)
        *ret_id = id;
    return 0;
}

int mk_gpu_ci_destroy(struct mk_gpu *g, int gi_id, int ci_id)
{
    struct mk_gi *gi = mk_gpu_gi_find(g, gi_id);
    if (!gi)
        return -ENOENT;
    for (int i = 0; i < gi->nci; i++) {
        if (gi->ci[i].id != ci_id)
            continue;
        if (gi->busy)
            return -EBUSY;
        memmove(&gi->ci[i], &gi->ci[i + 1], (size_t)(gi->nci - 1 - i) * sizeof(gi->ci[0]));
        gi->nci--;
        return 0;
    }
    return -ENOENT;
}

int mk_gpu_set_mig(struct mk_gpu *g, bool enabled)
{
    if (!enabled && g->ngi > 0)
        return -EBUSY;
    g->mig_enabled = enabled;
    return 0;
}

int mk_gpu_gi_order(const struct mk_gpu *g, int order[MK_MAX_GIS])
{
    int n = 0;
    for (int p = 0; p < g->model->nprofiles; p++) {
        int first = n;
        for (int i = 0; i < g->ngi; i++)
            if (g->gi[i].profile == &g->model->profiles[p])
                order[n++] = i;
        /* insertion sort by GI ID inside the profile group: at most 15 entries */
        for (int a = first + 1; a < n; a++)
            for (int b = a; b > first && g->gi[order[b]].id < g->gi[order[b - 1]].id; b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
    }
    return n;
}

void mk_gi_compute_span(const struct mk_model *m, const struct mk_gi *gi, int *ret_start)
{
    /* When the grid is a whole multiple of the compute slices (A30 4/4, RTX PRO 6000 12/4)
     * the mapping is exact: start / (grid / compute). On 8-slot grids with 7 compute slices
     * slot 7 has no compute slice of its own, so a GI is drawn from its start, pulled left
     * where it would run past slice 6 (3g at 4:4 covers compute 4-6). */
    int g = gi->profile->compute_slices, s;
    if (m->grid % m->compute_slices == 0)
        s = gi->start / (m->grid / m->compute_slices);
    else
        s = gi->start < m->compute_slices - g ? gi->start : m->compute_slices - g;
    *ret_start = s;
}

int mk_gpu_mem_used(const struct mk_gpu *g)
{
    int n = 0;
    for (int i = 0; i < g->ngi; i++)
        n += g->gi[i].profile->mem_slices;
    return n;
}

int mk_gpu_compute_used(const struct mk_gpu *g)
{
    int n = 0;
    for (int i = 0; i < g->ngi; i++)
        n += g->gi[i].profile->compute_slices;
    return n;
}

int mk_gpu_validate(const struct mk_gpu *g, struct mk_error *err)
{
    const struct mk_model *m = g->model;
    if (!g->mig_enabled && g->ngi > 0)
        return mk_error_set(err, -EBADMSG, "GPU %d has GPU instances but MIG mode is off",
                            g->index);
    if (g->ngi > m->max_gis)
        return mk_error_set(err, -EBADMSG, "GPU %d has %d GPU instances (max %d)", g->index,
                            g->ngi, m->max_gis);
    for (int i = 0; i < g->ngi; i++) {
        const struct mk_gi *a = &g->gi[i];
        const struct mk_gi_profile *p = a->profile;
        if (!is_start(p, a->start))
            return mk_error_set(err, -EBADMSG, "GPU %d GI %d: %d is not a placement of %s",
                                g->index, a->id, a->start, p->name);
        if (a->id != mk_gi_id_for(m, p, a->start))
            return mk_error_set(err, -EBADMSG, "GPU %d GI %d: ID does not match placement %d:%d",
                                g->index, a->id, a->start, p->mem_slices);
        if (count_profile(g, p) > p->max)
            return mk_error_set(err, -EBADMSG, "GPU %d: more than %d GIs of %s", g->index,
                                p->max, p->name);
        for (int k = i + 1; k < g->ngi; k++) {
            const struct mk_gi *b = &g->gi[k];
            if (a->start < b->start + b->profile->mem_slices &&
                b->start < a->start + p->mem_slices)
                return mk_error_set(err, -EBADMSG, "GPU %d: GIs %d and %d overlap", g->index,
                                    a->id, b->id);
            if (a->id == b->id)
                return mk_error_set(err, -EBADMSG, "GPU %d: GI ID %d used twice", g->index,
                                    a->id);
        }
        for (int c = 0; c < a->nci; c++) {
            const struct mk_ci *x = &a->ci[c];
            if (x->id < 0 || x->id >= MK_MAX_CIS || x->start < 0 ||
                x->start + x->slices > p->compute_slices || !gi_offers(a, x->profile_id))
                return mk_error_set(err, -EBADMSG, "GPU %d GI %d: CI %d is invalid", g->index,
                                    a->id, x->id);
            for (int d = c + 1; d < a->nci; d++) {
                const struct mk_ci *y = &a->ci[d];
                if (x->id == y->id ||
                    (x->start < y->start + y->slices && y->start < x->start + x->slices))
                    return mk_error_set(err, -EBADMSG, "GPU %d GI %d: CIs %d and %d collide",
                                        g->index, a->id, x->id, y->id);
            }
        }
    }
    /* The media-engine rules, checked pairwise by re-adding each GI to the others. */
    for (int i = 0; i < g->ngi; i++) {
        struct mk_gpu rest = *g;
        memmove(&rest.gi[i], &rest.gi[i + 1], (size_t)(rest.ngi - 1 - i) * sizeof(rest.gi[0]));
        rest.ngi--;
        if (!media_allows(&rest, g->gi[i].profile))
            return mk_error_set(err, -EBADMSG, "GPU %d: GI %d breaks the media-engine rules",
                                g->index, g->gi[i].id);
    }
    return 0;
}
