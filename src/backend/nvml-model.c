/*
 * nvml-model.c - the model of one real GPU: the catalog's entry for it, checked against and
 * completed by what the driver reports through NVML (see nvml-internal.h for the contract).
 *
 * Why overlay rather than trust the catalog: the same profile shows different memory under
 * different drivers (shared/reference/mig-gpus.md §9 D4), and a driver may lack profiles the
 * catalog lists (the +gfx and -me profiles arrived in 12.8 and 12.9). The catalog supplies
 * what NVML does not expose: the driver's automatic placement order, GI ID numbering, the CI
 * sizes each GI offers, and which values are unverified.
 *
 * NVML calls used: nvmlDeviceGetGpuInstanceProfileInfoV (v3 struct, then v2; ref §5.3-5.4),
 * nvmlDeviceGetGpuInstanceProfileInfo (v1, for drivers before 11.6 and for MIG mode off),
 * nvmlDeviceGetGpuInstancePossiblePlacements_v2 (count query, then the list; ref §7.3) and
 * nvmlDeviceGetMemoryInfo (the total, for names and the model of an unknown GPU).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml-internal.h"

#define MIB (1024ull * 1024ull)

/* One GPU-instance profile as the driver reports it. */
struct drv_profile {
    int konst; /* the NVML_GPU_INSTANCE_PROFILE_* constant it answered to */
    int id;    /* the device-specific profile ID */
    int count, sms, ce, dec, enc, jpeg, ofa;
    uint32_t memory_mib;
    char name[MK_NAME_LEN]; /* without "MIG ", empty when the v1 struct (no name) answered */
    int nstarts, size;      /* possible placements; nstarts 0 when unreadable */
    int starts[MK_MAX_STARTS];
    bool used; /* matched to a catalog profile */
};

/* ---- NVML profile constants ---- */

/* The "g" of a GI profile constant (ref §2.4: g comes from the constant, never from memory). */
static int const_slices(int konst)
{
    switch (konst) {
    case MK_GI_CONST_2_SLICE:
    case MK_GI_CONST_2_SLICE_REV1:
    case MK_GI_CONST_2_SLICE_GFX:
    case MK_GI_CONST_2_SLICE_NO_ME:
    case MK_GI_CONST_2_SLICE_ALL_ME:
        return 2;
    case MK_GI_CONST_3_SLICE:
    case MK_GI_CONST_3_SLICE_GFX:
        return 3;
    case MK_GI_CONST_4_SLICE:
    case MK_GI_CONST_4_SLICE_GFX:
        return 4;
    case MK_GI_CONST_6_SLICE:
        return 6;
    case MK_GI_CONST_7_SLICE:
        return 7;
    case MK_GI_CONST_8_SLICE:
        return 8;
    default: /* every 1_SLICE variant */
        return 1;
    }
}

/* The media-engine class of a constant (the same rule the catalog applies to its data). */
static enum mk_media_class const_media(int konst)
{
    switch (konst) {
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

/* The -lgip row order among profiles of one size and memory: plain, +me, +gfx, +me.all, -me
 * (every catalog table is in this order; the order of the 1_SLICE variants on RTX PRO 6000
 * was observed). */
static int const_rank(int konst)
{
    switch (konst) {
    case MK_GI_CONST_1_SLICE_REV1:
    case MK_GI_CONST_2_SLICE_REV1:
        return 1;
    case MK_GI_CONST_1_SLICE_GFX:
    case MK_GI_CONST_2_SLICE_GFX:
    case MK_GI_CONST_3_SLICE_GFX:
    case MK_GI_CONST_4_SLICE_GFX:
        return 2;
    case MK_GI_CONST_1_SLICE_ALL_ME:
    case MK_GI_CONST_2_SLICE_ALL_ME:
        return 3;
    case MK_GI_CONST_1_SLICE_NO_ME:
    case MK_GI_CONST_2_SLICE_NO_ME:
        return 4;
    default:
        return 0;
    }
}

/* The CI profile ID of a CI of c compute slices: the NVML_COMPUTE_INSTANCE_PROFILE_*
 * constant, which equals the ID on every GPU observed (ref §7.1); -1 for no such size. */
static int ci_id_for(int c)
{
    static const int ids[] = {
        -1,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE,
        -1,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE,
        (int)NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE,
    };
    return c > 0 && (size_t)c < MK_ELEMENTSOF(ids) ? ids[c] : -1;
}

/* ---- reading the driver's profiles ---- */

static void from_info_fields(struct drv_profile *d, unsigned int id, unsigned int count,
                             unsigned int sms, unsigned int ce, unsigned int dec, unsigned int enc,
                             unsigned int jpeg, unsigned int ofa, unsigned long long mem,
                             const char *name)
{
    d->id = (int)id;
    d->count = (int)count;
    d->sms = (int)sms;
    d->ce = (int)ce;
    d->dec = (int)dec;
    d->enc = (int)enc;
    d->jpeg = (int)jpeg;
    d->ofa = (int)ofa;
    d->memory_mib = (uint32_t)mem;
    d->name[0] = '\0';
    if (name) /* "MIG 1g.10gb" -> "1g.10gb"; longer names than migkit holds are cut */
        snprintf(d->name, sizeof(d->name), "%.*s", (int)sizeof(d->name) - 1,
                 strncmp(name, "MIG ", 4) ? name : name + 4);
}

/*
 * Asks the driver about GI profile constant konst: the versioned query with the v3 struct,
 * then the v2 struct (a driver older than 12.3 rejects the v3 version word), then the
 * unversioned v1 query (drivers before 11.6 have no ...V; and the V query wants MIG mode on,
 * ref §7.4). Returns the last NVML answer; on NVML_SUCCESS *d holds the profile.
 */
static nvmlReturn_t query_profile(const struct mk_nvml *fn, nvmlDevice_t dev, int konst,
                                  struct drv_profile *d)
{
    nvmlReturn_t rc = NVML_ERROR_FUNCTION_NOT_FOUND;
    unsigned int k = (unsigned int)konst;
    if (fn->nvmlDeviceGetGpuInstanceProfileInfoV) {
        nvmlGpuInstanceProfileInfo_v3_t v3 = {.version = nvmlGpuInstanceProfileInfo_v3};
        nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = nvmlGpuInstanceProfileInfo_v2};
        rc = fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, k,
                                                      (nvmlGpuInstanceProfileInfo_v2_t *)&v3);
        if (rc == NVML_SUCCESS) {
            from_info_fields(d, v3.id, v3.instanceCount, v3.multiprocessorCount, v3.copyEngineCount,
                             v3.decoderCount, v3.encoderCount, v3.jpegCount, v3.ofaCount,
                             v3.memorySizeMB, v3.name);
            return rc;
        }
        if (rc == NVML_ERROR_INVALID_ARGUMENT || rc == NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
            rc = fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, k, &v2);
        if (rc == NVML_SUCCESS) {
            from_info_fields(d, v2.id, v2.instanceCount, v2.multiprocessorCount, v2.copyEngineCount,
                             v2.decoderCount, v2.encoderCount, v2.jpegCount, v2.ofaCount,
                             v2.memorySizeMB, v2.name);
            return rc;
        }
    }
    if (rc != NVML_ERROR_NO_PERMISSION) {
        nvmlGpuInstanceProfileInfo_t v1 = {0};
        rc = fn->nvmlDeviceGetGpuInstanceProfileInfo(dev, k, &v1);
        if (rc == NVML_SUCCESS)
            from_info_fields(d, v1.id, v1.instanceCount, v1.multiprocessorCount, v1.copyEngineCount,
                             v1.decoderCount, v1.encoderCount, v1.jpegCount, v1.ofaCount,
                             v1.memorySizeMB, NULL);
    }
    return rc;
}

/* The possible placements of profile ID d->id: count first, then the list (ref §7.3). Leaves
 * d->nstarts 0 when the driver does not answer (it "requires privileged user"). */
static void query_placements(const struct mk_nvml *fn, nvmlDevice_t dev, struct drv_profile *d)
{
    nvmlGpuInstancePlacement_t pl[MK_MAX_STARTS];
    unsigned int n = 0;
    d->nstarts = 0;
    if (fn->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, (unsigned int)d->id, NULL, &n) !=
            NVML_SUCCESS ||
        n == 0 || n > MK_MAX_STARTS)
        return;
    if (fn->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, (unsigned int)d->id, pl, &n) !=
            NVML_SUCCESS ||
        n > MK_MAX_STARTS)
        return;
    for (unsigned int i = 0; i < n; i++) {
        if (pl[i].size == 0 || pl[i].size > MK_MAX_STARTS || pl[i].start >= MK_MAX_STARTS)
            return; /* nothing migkit's geometry can hold: treat as unreadable */
        d->starts[i] = (int)pl[i].start;
        d->size = (int)pl[i].size;
    }
    d->nstarts = (int)n;
}

/* Every profile the driver reports, constants 0 .. COUNT-1, skipping NOT_SUPPORTED and
 * INVALID_ARGUMENT (ref §7.2). Returns how many were read into d[]. */
static int query_profiles(const struct mk_nvml *fn, nvmlDevice_t dev, struct drv_profile *d)
{
    int n = 0;
    for (int k = 0; k < (int)NVML_GPU_INSTANCE_PROFILE_COUNT; k++) {
        memset(&d[n], 0, sizeof(d[n]));
        if (query_profile(fn, dev, k, &d[n]) != NVML_SUCCESS || d[n].count <= 0)
            continue;
        d[n].konst = k;
        query_placements(fn, dev, &d[n]);
        n++;
    }
    return n;
}

/* ---- building the model ---- */

static void add_note(struct mk_model *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_note(struct mk_model *m, const char *fmt, ...)
{
    va_list ap;
    if (m->nnotes >= MK_MAX_NOTES)
        return; /* the first notes say the most; later ones are dropped */
    va_start(ap, fmt);
    vsnprintf(m->notes[m->nnotes++], sizeof(m->notes[0]), fmt, ap);
    va_end(ap);
}

/* The catalog model for (pci_id, name): the PCI ID match whose name or alternative name is
 * the driver's, else the first PCI ID match, else a name match. NULL when none. */
static const struct mk_model *find_model(const struct mk_catalog *cat, unsigned int pci_id,
                                         const char *name)
{
    const struct mk_model *by_pci = NULL, *by_name = NULL;
    for (size_t i = 0; i < mk_catalog_count(cat); i++) {
        const struct mk_model *m = mk_catalog_at(cat, i);
        bool pci = false, named = strcmp(m->name, name) == 0;
        for (int k = 0; k < m->npci; k++)
            pci = pci || m->pci_ids[k] == pci_id;
        for (int k = 0; k < m->nnames_alt; k++)
            named = named || strcmp(m->names_alt[k], name) == 0;
        if (pci && named)
            return m;
        if (pci && !by_pci)
            by_pci = m;
        if (named && !by_name)
            by_name = m;
    }
    return by_pci ? by_pci : by_name;
}

/* Adds CI profile (id, slices) to the model's table unless present. */
static void add_ci_profile(struct mk_model *m, int id, int slices)
{
    if (mk_model_ci_profile(m, id) || m->nci_profiles >= MK_MAX_CI_PROFILES)
        return;
    m->ci_profiles[m->nci_profiles].id = id;
    m->ci_profiles[m->nci_profiles].slices = slices;
    m->nci_profiles++;
}

/* The CI sizes a GI of g slices offers: c == g, or 2c <= g + 1 (go-nvlib's rule, which
 * matches every real -lcip; ref mig-gpus §5.2). A double-memory 1g (REV2) offers only CI
 * profile 7 (1_SLICE_REV1). The default CI is the one that covers the GI. */
static void set_ci_sizes(struct mk_model *m, struct mk_gi_profile *p)
{
    p->nci = 0;
    if (p->nvml == MK_GI_CONST_1_SLICE_REV2) {
        p->ci[p->nci++] = p->ci_default = (int)NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1;
        add_ci_profile(m, p->ci_default, 1);
        return;
    }
    for (int c = 1; c <= p->compute_slices && p->nci < MK_MAX_CI_PROFILES; c++) {
        int id = ci_id_for(c);
        if (id < 0 || (c != p->compute_slices && 2 * c > p->compute_slices + 1))
            continue;
        p->ci[p->nci++] = id;
        add_ci_profile(m, id, c);
        if (c == p->compute_slices)
            p->ci_default = id;
    }
}

/* The media and copy engines of profile p, as the driver counts them. */
static void copy_engines(struct mk_gi_profile *p, const struct drv_profile *d)
{
    p->dec = d->dec;
    p->enc = d->enc;
    p->ce = d->ce;
    p->jpeg = d->jpeg;
    p->ofa = d->ofa;
}

/* A profile the catalog does not have, from the driver's record d. Returns false when the
 * driver gave no placements (migkit cannot place what it cannot locate). */
static bool profile_from_driver(struct mk_model *m, const struct drv_profile *d,
                                struct mk_gi_profile *p)
{
    if (d->nstarts == 0)
        return false;
    memset(p, 0, sizeof(*p));
    p->id = d->id;
    p->nvml = d->konst;
    p->compute_slices = const_slices(d->konst);
    p->mem_slices = d->size;
    p->sms = d->sms;
    p->memory_mib = d->memory_mib;
    copy_engines(p, d);
    p->max = d->count;
    p->nstarts = p->nauto = d->nstarts;
    memcpy(p->starts, d->starts, sizeof(p->starts));
    /* The driver's automatic order is unknown: model lowest start first (ref §6.3, as on
     * RTX PRO 6000 and A30). */
    memcpy(p->auto_order, d->starts, sizeof(p->auto_order));
    p->media = const_media(d->konst);
    if (d->name[0])
        snprintf(p->name, sizeof(p->name), "%s", d->name);
    else
        mk_model_profile_name(m, p->nvml, p->compute_slices, p->memory_mib, p->name,
                              sizeof(p->name));
    set_ci_sizes(m, p);
    p->unverified = MK_FIELD(AUTO_ORDER) | MK_FIELD(CI) | MK_FIELD(GI_IDS);
    return true;
}

/* Overlays the driver's record d on catalog profile p; notes what differed. */
static void overlay_profile(struct mk_model *m, struct mk_gi_profile *p,
                            const struct drv_profile *d)
{
    if (d->name[0] && strcmp(d->name, p->name) != 0) {
        add_note(m, "%s: the driver names it %s", p->name, d->name);
        if (p->nnames_alt < MK_MAX_ALTS)
            memcpy(p->names_alt[p->nnames_alt++], p->name, MK_NAME_LEN);
        snprintf(p->name, sizeof(p->name), "%s", d->name);
    }
    if (d->memory_mib != p->memory_mib) {
        add_note(m, "%s: the driver reports %u MiB (catalog %u)", p->name, d->memory_mib,
                 p->memory_mib);
        p->memory_mib = d->memory_mib;
        p->unverified &= ~MK_FIELD(MEMORY);
    }
    if (d->sms != p->sms || d->count != p->max) {
        add_note(m, "%s: the driver reports %d SMs, max %d (catalog %d, %d)", p->name, d->sms,
                 d->count, p->sms, p->max);
        p->sms = d->sms;
        p->max = d->count;
    }
    copy_engines(p, d);
    if (d->nstarts > 0 && (d->nstarts != p->nstarts || d->size != p->mem_slices ||
                           memcmp(d->starts, p->starts, (size_t)d->nstarts * sizeof(int)) != 0)) {
        int n = 0;
        add_note(m, "%s: the driver reports other placements than the catalog", p->name);
        /* keep the catalog's automatic order for the starts that remain possible */
        for (int i = 0; i < p->nauto; i++)
            for (int k = 0; k < d->nstarts; k++)
                if (d->starts[k] == p->auto_order[i])
                    p->auto_order[n++] = p->auto_order[i];
        if (n == 0) {
            memcpy(p->auto_order, d->starts, sizeof(p->auto_order));
            n = d->nstarts;
        }
        p->nauto = n;
        p->nstarts = d->nstarts;
        memcpy(p->starts, d->starts, sizeof(p->starts));
        p->mem_slices = d->size;
    }
}

/* A catalog model checked against the driver's n profiles d[]: matched profiles overlaid,
 * unmatched catalog profiles dropped, driver-only profiles appended. Profiles are copied
 * into a scratch model so the catalog's order is kept. */
static int overlay_model(struct mk_model *m, struct drv_profile *d, int n, struct mk_error *err)
{
    struct mk_model *out = mk__malloc(sizeof(*out));
    if (!out)
        return mk_error_set(err, -ENOMEM, "out of memory");
    /* memcpy, not assignment, here and below: padding is copied too, so that an overlay that
     * changed nothing compares equal byte for byte (mk__nvml_model_build). */
    memcpy(out, m, sizeof(*out));
    out->nprofiles = 0;
    for (int i = 0; i < m->nprofiles; i++) {
        struct mk_gi_profile p;
        struct drv_profile *match = NULL;
        memcpy(&p, &m->profiles[i], sizeof(p));
        for (int k = 0; k < n && !match; k++)
            if (d[k].id == p.id)
                match = &d[k];
        if (!match) {
            add_note(out, "%s (ID %d): not offered by this driver", p.name, p.id);
            continue;
        }
        match->used = true;
        overlay_profile(out, &p, match);
        memcpy(&out->profiles[out->nprofiles++], &p, sizeof(p));
    }
    for (int k = 0; k < n && out->nprofiles < MK_MAX_GI_PROFILES; k++)
        if (!d[k].used && profile_from_driver(out, &d[k], &out->profiles[out->nprofiles])) {
            add_note(out, "%s (ID %d): offered by the driver, not in the catalog",
                     out->profiles[out->nprofiles].name, d[k].id);
            out->nprofiles++;
        }
    memcpy(m, out, sizeof(*m));
    mk__free(out);
    return 0;
}

static int cmp_profile(const void *a, const void *b)
{
    const struct mk_gi_profile *x = a, *y = b;
    if (x->compute_slices != y->compute_slices)
        return x->compute_slices - y->compute_slices;
    if (x->memory_mib != y->memory_mib)
        return x->memory_mib < y->memory_mib ? -1 : 1;
    return const_rank(x->nvml) - const_rank(y->nvml);
}

/* A model for a GPU the catalog does not know, from the driver's n profiles d[]. */
static void driver_model(struct mk_model *m, const struct drv_profile *d, int n)
{
    int min_size = MK_MAX_STARTS, top = 0;
    for (int k = 0; k < n && m->nprofiles < MK_MAX_GI_PROFILES; k++) {
        struct mk_gi_profile *p = &m->profiles[m->nprofiles];
        if (!profile_from_driver(m, &d[k], p)) {
            add_note(m, "profile ID %d: the driver gave no placements; left out", d[k].id);
            continue;
        }
        m->nprofiles++;
        for (int s = 0; s < p->nstarts; s++)
            m->grid =
                p->starts[s] + p->mem_slices > m->grid ? p->starts[s] + p->mem_slices : m->grid;
        min_size = p->mem_slices < min_size ? p->mem_slices : min_size;
        m->compute_slices =
            p->compute_slices > m->compute_slices ? p->compute_slices : m->compute_slices;
        m->max_gis = p->max > m->max_gis ? p->max : m->max_gis;
        if (p->compute_slices >= top) {
            top = p->compute_slices;
            m->sm_total = p->sms; /* SMs the full GPU profile has: a lower bound */
        }
    }
    /* The smallest placement is the unit of the GI ID tree (ref §6.3: 1 on 8- and 4-slot
     * grids, 3 on RTX PRO 6000's 12). */
    m->gi_id_unit = m->nprofiles ? min_size : 1;
    if (m->max_gis > MK_MAX_GIS)
        m->max_gis = MK_MAX_GIS;
    qsort(m->profiles, (size_t)m->nprofiles, sizeof(m->profiles[0]), cmp_profile);
}

/* Total memory in MiB (at least 1, so names can be computed). */
static uint32_t total_mib(const struct mk_nvml *fn, nvmlDevice_t dev)
{
    nvmlMemory_t mem = {0};
    if (fn->nvmlDeviceGetMemoryInfo(dev, &mem) != NVML_SUCCESS || mem.total < MIB)
        return 1;
    return (uint32_t)(mem.total / MIB);
}

/* SMs of the whole GPU: NVML has no query for them on a GPU without MIG, so cores divided
 * by the cores per SM of its compute capability (vendor/nvml.c). 0 when NVML cannot tell. */
static int driver_sms(const struct mk_nvml *fn, nvmlDevice_t dev)
{
    unsigned int cores = 0;
    int major = 0, minor = 0, per;
    if (!fn->nvmlDeviceGetNumGpuCores || !fn->nvmlDeviceGetCudaComputeCapability ||
        fn->nvmlDeviceGetNumGpuCores(dev, &cores) != NVML_SUCCESS ||
        fn->nvmlDeviceGetCudaComputeCapability(dev, &major, &minor) != NVML_SUCCESS ||
        (per = mk__nvml_cores_per_sm(major, minor)) == 0 || cores > INT32_MAX)
        return 0;
    return (int)cores / per;
}

/* ---- the models the backend made ---- */

/* Models that are not the catalog's (the driver differs from it, or it lacks the GPU) are
 * kept here for the rest of the process, one copy of each: a mk_gpu's model and profile
 * pointers must outlive the backend that read them, as a catalog's do (migctl apply opens
 * the backend again to verify its work and compares profile pointers). The list only grows
 * by the distinct models one process meets; it is never freed (reachable, so not a leak). */
static struct interned {
    struct interned *next;
    struct mk_model model;
} * interned;
static pthread_mutex_t interned_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct mk_model *intern(const struct mk_model *m)
{
    struct interned *e;
    pthread_mutex_lock(&interned_lock);
    for (e = interned; e; e = e->next)
        if (memcmp(&e->model, m, sizeof(*m)) == 0)
            break;
    if (!e && (e = mk__malloc(sizeof(*e)))) {
        memcpy(&e->model, m, sizeof(*m));
        e->next = interned;
        interned = e;
    }
    pthread_mutex_unlock(&interned_lock);
    return e ? &e->model : NULL;
}

/* Fills m: the catalog's cm (with the driver's product name), or an empty model of slug
 * MK_NVML_DRIVER_SLUG for a GPU the catalog lacks. */
static void start_model(const struct mk_nvml *fn, nvmlDevice_t dev, const struct mk_model *cm,
                        const char *name, unsigned int pci_id, struct mk_model *m)
{
    if (cm) {
        memcpy(m, cm, sizeof(*m));
        if (strcmp(cm->name, name) != 0 && m->nnames_alt < MK_MAX_ALTS)
            snprintf(m->names_alt[m->nnames_alt++], sizeof(m->names_alt[0]), "%s", cm->name);
    } else {
        memset(m, 0, sizeof(*m));
        snprintf(m->slug, sizeof(m->slug), "%s", MK_NVML_DRIVER_SLUG);
        m->memory_mib = total_mib(fn, dev);
        m->sm_total = driver_sms(fn, dev); /* profiles, when there are any, replace it */
        m->name_base_gib = (int)((m->memory_mib + 1023) / 1024);
        m->npci = 1;
        m->pci_ids[0] = pci_id;
        m->unverified = MK_FIELD(SM_TOTAL) | MK_FIELD(GI_IDS) | MK_FIELD(MIN_DRIVER);
        add_note(m,
                 "not in the catalog: profiles as the driver reports them (PCI device ID "
                 "0x%08X)",
                 pci_id);
    }
    if (strcmp(m->name, name) != 0)
        snprintf(m->name, sizeof(m->name), "%s", name);
}

/* The driver's view applied to m (started by start_model). */
static int fill_model(const struct mk_nvml *fn, nvmlDevice_t dev, bool from_catalog,
                      bool mig_capable, struct mk_model *m, struct mk_error *err)
{
    struct drv_profile d[NVML_GPU_INSTANCE_PROFILE_COUNT];
    int n;
    if (!mig_capable) {
        m->nprofiles = 0;
        add_note(m, "MIG is not supported on this GPU (NVML: Not Supported)");
        return 0;
    }
    if ((n = query_profiles(fn, dev, d)) == 0) {
        if (!from_catalog)
            add_note(m, "the driver reported no GPU-instance profiles");
        return 0;
    }
    if (from_catalog)
        return overlay_model(m, d, n, err);
    driver_model(m, d, n);
    return 0;
}

int mk__nvml_model_build(const struct mk_nvml *fn, nvmlDevice_t dev, const struct mk_catalog *cat,
                         const char *name, unsigned int pci_id, bool mig_capable,
                         const struct mk_model **ret, struct mk_error *err)
{
    const struct mk_model *cm = find_model(cat, pci_id, name), *out;
    struct mk_model *m = mk__malloc(sizeof(*m));
    int r;
    if (!m)
        return mk_error_set(err, -ENOMEM, "out of memory");
    start_model(fn, dev, cm, name, pci_id, m);
    if ((r = fill_model(fn, dev, cm != NULL, mig_capable, m, err)) < 0) {
        mk__free(m);
        return r;
    }
    /* The catalog's own model when the driver agrees with it in every byte. */
    out = cm && memcmp(m, cm, sizeof(*m)) == 0 ? cm : intern(m);
    mk__free(m);
    if (!out)
        return mk_error_set(err, -ENOMEM, "out of memory");
    *ret = out;
    return 0;
}
