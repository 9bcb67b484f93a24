/*
 * generic.c - a MIG-like geometry for a GPU outside the catalog, from its SM count and memory
 * alone (docs/geometry.md, "Generic geometry"). Pure computation: no I/O, no allocation.
 *
 * migd offers it for software instances on GPUs that have no hardware MIG (L4, L40S, consumer
 * cards): the same verbs, profile names and placement rules as on an A100 (large GPUs) or an
 * A30 (small ones), with memory and SMs scaled to the GPU.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migkit/catalog.h"

/*
 * Memory held back per compute slice for the CUDA context of the instance's process: the
 * shim charges allocations, not the context (docs/shim.md), so a GPU cut into slices that
 * add up to all of its memory would run out once every slice has a process. 512 MiB is the
 * same allowance migd's watchdog grants a process beyond its grants (WATCHDOG_SLACK_DEFAULT).
 */
#define CONTEXT_RESERVE_MIB 512u
/* Slice memory is rounded down to this: any multiple of the driver's 2 MiB page would do;
 * 256 MiB keeps quotas and names readable and costs a slice at most 255 MiB. */
#define SLICE_ROUND_MIB 256u

/* One profile of a layout: the A100's (8 memory, 7 compute slices) and the A30's (4, 4)
 * without their media-engine and REV2 variants, which mean nothing without hardware engines.
 * IDs, starts and automatic order are the hardware's (data/gpus/a100-sxm4-40gb.json,
 * a30-24gb.json), so a plan or script made for one of those reads the same here. */
struct shape {
    int id, nvml, mem_slices, compute_slices, max;
    int nstarts, starts[8], auto_order[8];
    int nci, ci[5], ci_default;
};

static const struct shape large[] = {
    {19, MK_GI_CONST_1_SLICE, 1, 1, 7, 7, {0, 1, 2, 3, 4, 5, 6}, {6, 4, 5, 0, 1, 2, 3}, 1, {0}, 0},
    {14, MK_GI_CONST_2_SLICE, 2, 2, 3, 3, {0, 2, 4}, {4, 0, 2}, 2, {0, 1}, 1},
    {9, MK_GI_CONST_3_SLICE, 4, 3, 2, 2, {0, 4}, {4, 0}, 3, {0, 1, 2}, 2},
    {5, MK_GI_CONST_4_SLICE, 4, 4, 1, 1, {0}, {0}, 3, {0, 1, 3}, 3},
    {0, MK_GI_CONST_7_SLICE, 8, 7, 1, 1, {0}, {0}, 5, {0, 1, 2, 3, 4}, 4},
};
static const struct shape small[] = {
    {14, MK_GI_CONST_1_SLICE, 1, 1, 4, 4, {0, 1, 2, 3}, {0, 1, 2, 3}, 1, {0}, 0},
    {5, MK_GI_CONST_2_SLICE, 2, 2, 2, 2, {0, 2}, {0, 2}, 2, {0, 1}, 1},
    {0, MK_GI_CONST_4_SLICE, 4, 4, 1, 1, {0}, {0}, 3, {0, 1, 3}, 3},
};
/* CI profiles (ID, compute slices) of each layout: nvidia-smi's IDs for 1c..4c and 7c. */
static const struct mk_ci_profile large_ci[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 7}};
static const struct mk_ci_profile small_ci[] = {{0, 1}, {1, 2}, {3, 4}};

/*
 * A layout fits when every compute slice gets at least min_sms_per_slice SMs and every
 * memory slice at least min_slice_mib after the context reserve:
 *   large (8 memory, 7 compute): 8 SMs a slice (4 TPCs: half the smallest hardware MIG slice,
 *     14 SMs on an A100, still a useful GPU) and 2 GiB (a slice must hold real work besides
 *     the context); so from 56 SMs and about 19.5 GiB (L4, L40S, RTX 4090);
 *   small (4, 4): 2 SMs a slice (one TPC, the unit SMs come in) and 1 GiB (T4, RTX 4080 16 GB);
 *   anything smaller gets no profiles: custom instances only.
 */
struct layout {
    int grid, compute;
    int min_sms_per_slice;
    uint32_t min_slice_mib;
    const struct shape *shapes;
    int nshapes;
    const struct mk_ci_profile *ci;
    int nci;
};
static const struct layout layouts[] = {
    {8, 7, 8, 2048, large, MK_ELEMENTSOF(large), large_ci, MK_ELEMENTSOF(large_ci)},
    {4, 4, 2, 1024, small, MK_ELEMENTSOF(small), small_ci, MK_ELEMENTSOF(small_ci)},
};

/* Memory of one memory slice under layout l, or 0 when the reserve leaves nothing. */
static uint32_t slice_mib(const struct layout *l, uint32_t memory_mib)
{
    uint32_t reserve = (uint32_t)l->compute * CONTEXT_RESERVE_MIB;
    if (memory_mib <= reserve)
        return 0;
    return (memory_mib - reserve) / (uint32_t)l->grid / SLICE_ROUND_MIB * SLICE_ROUND_MIB;
}

static void fill_profile(struct mk_model *m, const struct shape *s, uint32_t slice, int sms)
{
    struct mk_gi_profile *p = &m->profiles[m->nprofiles++];
    memset(p, 0, sizeof(*p));
    p->id = s->id;
    p->nvml = s->nvml;
    p->mem_slices = s->mem_slices;
    p->compute_slices = s->compute_slices;
    /* SMs come in TPCs of 2: a slice share rounded down to an even number; the whole GPU
     * profile gets every SM (no hardware keeps any back here). */
    p->sms = s->compute_slices == m->compute_slices
                 ? sms
                 : (int)((long)sms * s->compute_slices / m->compute_slices) & ~1;
    p->memory_mib = slice * (uint32_t)s->mem_slices;
    p->max = s->max;
    p->nstarts = p->nauto = s->nstarts;
    memcpy(p->starts, s->starts, sizeof(s->starts));
    memcpy(p->auto_order, s->auto_order, sizeof(s->auto_order));
    p->nci = s->nci;
    memcpy(p->ci, s->ci, sizeof(int) * (size_t)s->nci);
    p->ci_default = s->ci_default;
    p->media = MK_MEDIA_PLAIN;
    /* "<g>g.<N>gb" with N the profile's memory in whole GiB, rounded down: a name never
     * promises more than the quota (the driver's rule, mk_model_profile_name, names a
     * fraction of the board's total and would overstate slices that the reserve shrank). */
    snprintf(p->name, sizeof(p->name), "%dg.%ugb", s->compute_slices, p->memory_mib / 1024);
}

int mk_model_generic(const char *name, uint32_t pci_id, uint32_t memory_mib, int sms,
                     struct mk_model *ret)
{
    const struct layout *l = NULL;
    if (!name || !ret || sms < 1 || memory_mib == 0)
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    /* The slug names the derivation's inputs, so that a stored instance is never restored
     * onto a different GPU that happens to sit at the same index. */
    snprintf(ret->slug, sizeof(ret->slug), "generic-%dsm-%umib", sms, memory_mib);
    snprintf(ret->name, sizeof(ret->name), "%s", name);
    ret->npci = pci_id ? 1 : 0;
    ret->pci_ids[0] = pci_id;
    ret->memory_mib = memory_mib;
    /* The driver's naming base (as nvml-model.c gives an unknown GPU): total GiB, rounded up. */
    ret->name_base_gib = (int)((memory_mib + 1023) / 1024);
    ret->sm_total = sms;
    ret->gi_id_unit = 1;
    for (size_t i = 0; i < MK_ELEMENTSOF(layouts) && !l; i++)
        if (sms >= layouts[i].compute * layouts[i].min_sms_per_slice &&
            slice_mib(&layouts[i], memory_mib) >= layouts[i].min_slice_mib)
            l = &layouts[i];
    snprintf(ret->notes[ret->nnotes++], sizeof(ret->notes[0]),
             "not in the catalog: generic geometry from %d SMs and %u MiB (docs/geometry.md)", sms,
             memory_mib);
    if (!l) {
        snprintf(ret->notes[ret->nnotes++], sizeof(ret->notes[0]),
                 "too small for slices: custom instances only");
        return 0;
    }
    ret->grid = l->grid;
    ret->compute_slices = l->compute;
    ret->max_gis = l->compute;
    ret->nci_profiles = l->nci;
    memcpy(ret->ci_profiles, l->ci, sizeof(*l->ci) * (size_t)l->nci);
    for (int i = 0; i < l->nshapes; i++)
        fill_profile(ret, &l->shapes[i], slice_mib(l, memory_mib), sms);
    return 0;
}
