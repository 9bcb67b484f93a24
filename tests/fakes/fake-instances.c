/*
 * fake-instances.c - the fake libnvidia-ml.so.1's GPU instances, compute instances and MIG
 * device handles (nvml-mig-api.md §6.5-6.7), changed with migkit's geometry so the fake and
 * the simulator obey the same rules: automatic placement order, GI IDs from placements,
 * media-engine exclusivity, CI IDs and placements, and "in use" for instances with CIs or
 * processes.
 */
#include <stdio.h>
#include <string.h>

#include "fake-nvml.h"
#include "migkit/uuid.h"

/* ---- GPU instances ---- */

/* The simulator's injected failures (`migctl sim fault`, kept in the state file): the fake
 * honours them as the simulator backend does, so the next operation of that kind on the GPU
 * is "In use by another client", as when another process holds the device node. */
static bool take_fault(struct fake_call *c, struct mk_gpu *g, enum mk_fault f)
{
    if (g->faults[f] <= 0)
        return false;
    g->faults[f]--;
    c->state_dirty = true;
    return true;
}

/* The GPU behind a physical handle with MIG mode on (NOT_SUPPORTED otherwise, ref §7.4). */
static nvmlReturn_t mig_gpu(struct fake_call *c, nvmlDevice_t device, struct mk_gpu **ret)
{
    const struct fake_dev *d = fake_dev_of(device);
    if (!d || d->gi >= 0 || d->gpu >= c->ngpus + c->nplain)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (d->gpu >= c->ngpus || !c->gpus[d->gpu].mig_enabled)
        return NVML_ERROR_NOT_SUPPORTED;
    *ret = &c->gpus[d->gpu];
    return NVML_SUCCESS;
}

/* Creates a GI of profileId at start (-1: the driver's automatic choice). */
static nvmlReturn_t create_gi(const char *fn, nvmlDevice_t device, unsigned int profileId,
                              const nvmlGpuInstancePlacement_t *placement,
                              nvmlGpuInstance_t *gpuInstance)
{
    const struct mk_gi_profile *p;
    struct mk_gpu *g = NULL;
    struct fake_call c;
    int id, r, start = -1;
    nvmlReturn_t rc = fake_begin(&c, fn, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!gpuInstance)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = mig_gpu(&c, device, &g)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    if (take_fault(&c, g, MK_FAULT_CREATE_GI))
        return fake_end(&c, NVML_ERROR_IN_USE);
    if (!(p = mk_model_profile_by_id(g->model, (int)profileId)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (placement) {
        /* A placement not in the possible list is an invalid argument; a possible one that
         * overlaps is insufficient resources (ref §6.5). */
        if (placement->size != (unsigned int)p->mem_slices || placement->start >= MK_MAX_STARTS)
            return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
        start = (int)placement->start;
    }
    if ((r = mk_gpu_gi_create(g, p, start, &id)) < 0)
        return fake_end(&c, fake_from_errno(r));
    *gpuInstance = fake_gi_handle(fake_dev_gpu(device), id);
    c.state_dirty = true;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t device, unsigned int profileId,
                                         nvmlGpuInstance_t *gpuInstance)
{
    return create_gi(__func__, device, profileId, NULL, gpuInstance);
}

nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(nvmlDevice_t device, unsigned int profileId,
                                                      const nvmlGpuInstancePlacement_t *placement,
                                                      nvmlGpuInstance_t *gpuInstance)
{
    if (!placement) { /* still a call: uninitialised and injected answers come first */
        struct fake_call c;
        nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
        return rc != NVML_SUCCESS ? rc : fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    }
    return create_gi(__func__, device, profileId, placement, gpuInstance);
}

nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gpuInstance)
{
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    int r;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT); /* stale: already destroyed */
    if (take_fault(&c, g, MK_FAULT_DESTROY_GI))
        return fake_end(&c, NVML_ERROR_IN_USE);
    /* IN_USE "if processes ... or compute instances are active on the GPU instance" */
    if ((r = mk_gpu_gi_destroy(g, gi->id)) < 0)
        return fake_end(&c, fake_from_errno(r));
    c.state_dirty = true;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                       nvmlGpuInstance_t *gpuInstances, unsigned int *count)
{
    const struct mk_gi_profile *p;
    struct mk_gpu *g = NULL;
    struct fake_call c;
    unsigned int n = 0;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!count || !gpuInstances)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = mig_gpu(&c, device, &g)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    if (!(p = mk_model_profile_by_id(g->model, (int)profileId)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    /* The buffer "must be large enough to accommodate the instances supported by the
     * profile": held to that, so a caller that sizes it by what exists today fails here. */
    if (*count < (unsigned int)p->max)
        return fake_end(&c, NVML_ERROR_INSUFFICIENT_SIZE);
    for (int k = 0; k < g->ngi; k++)
        if (g->gi[k].profile == p)
            gpuInstances[n++] = fake_gi_handle(fake_dev_gpu(device), g->gi[k].id);
    *count = n;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                          nvmlGpuInstance_t *gpuInstance)
{
    struct mk_gpu *g = NULL;
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!gpuInstance)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = mig_gpu(&c, device, &g)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    if (id >= MK_MAX_GIS || !mk_gpu_gi_find(g, (int)id))
        return fake_end(&c, NVML_ERROR_NOT_FOUND);
    *gpuInstance = fake_gi_handle(fake_dev_gpu(device), (int)id);
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!info || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    info->device = fake_dev_handle(fake_gi_gpu(gpuInstance), -1, -1);
    info->id = (unsigned int)gi->id;
    info->profileId = (unsigned int)gi->profile->id;
    info->placement.start = (unsigned int)gi->start;
    info->placement.size = (unsigned int)gi->profile->mem_slices;
    return fake_end(&c, NVML_SUCCESS);
}

/* ---- compute-instance profiles ---- */

/* The CI profile of constant konst (the ID equals the constant, ref §7.1) if GI gi offers it;
 * else the answer: INVALID_ARGUMENT past the list, NOT_SUPPORTED for a size the GI lacks. */
static nvmlReturn_t ci_profile(const struct mk_gpu *g, const struct mk_gi *gi, unsigned int konst,
                               unsigned int eng, const struct mk_ci_profile **ret)
{
    if (konst >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT ||
        eng != NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int k = 0; k < gi->profile->nci; k++)
        if (gi->profile->ci[k] == (int)konst) {
            *ret = mk_model_ci_profile(g->model, (int)konst);
            return *ret ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
        }
    return NVML_ERROR_NOT_SUPPORTED;
}

/* The fields every CI profile struct version shares, in the v1 layout. */
static void ci_profile_fields(const struct mk_gi *gi, const struct mk_ci_profile *cp,
                              nvmlComputeInstanceProfileInfo_t *v1)
{
    const struct mk_gi_profile *p = gi->profile;
    v1->id = (unsigned int)cp->id;
    v1->sliceCount = (unsigned int)cp->slices;
    v1->instanceCount = (unsigned int)(p->compute_slices / cp->slices); /* -lcip's Total */
    v1->multiprocessorCount = (unsigned int)mk_ci_sms(p, cp->slices, NULL);
    v1->sharedCopyEngineCount = (unsigned int)p->ce;
    v1->sharedDecoderCount = (unsigned int)p->dec;
    v1->sharedEncoderCount = (unsigned int)p->enc;
    v1->sharedJpegCount = (unsigned int)p->jpeg;
    v1->sharedOfaCount = (unsigned int)p->ofa;
}

/* The v1 query, or (version != 0) the versioned one with a v2 or v3 struct. */
static nvmlReturn_t ci_profile_info(const char *fn, nvmlGpuInstance_t gpuInstance,
                                    unsigned int profile, unsigned int engProfile, void *info,
                                    bool versioned)
{
    const struct mk_ci_profile *cp = NULL;
    nvmlComputeInstanceProfileInfo_t v1;
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    char name[MK_NAME_LEN];
    unsigned int version;
    nvmlReturn_t rc = fake_begin(&c, fn, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!info || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = ci_profile(g, gi, profile, engProfile, &cp)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    memset(&v1, 0, sizeof(v1));
    ci_profile_fields(gi, cp, &v1);
    if (!versioned) {
        memcpy(info, &v1, sizeof(v1));
        return fake_end(&c, NVML_SUCCESS);
    }
    memcpy(&version, info, sizeof(version));
    if (version != nvmlComputeInstanceProfileInfo_v2 &&
        version != nvmlComputeInstanceProfileInfo_v3) /* ref §7.7 */
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    mk_ci_name(gi->profile, cp->slices, name, sizeof(name));
    {
        /* v3 is v2 plus a trailing capabilities word (ref §5.9), so one struct fills both. */
        nvmlComputeInstanceProfileInfo_v3_t v3 = {.version = version};
        memcpy(&v3.id, &v1, sizeof(v1));
        snprintf(v3.name, sizeof(v3.name), "MIG %s", name);
        memcpy(info, &v3,
               version == nvmlComputeInstanceProfileInfo_v3
                   ? sizeof(nvmlComputeInstanceProfileInfo_v3_t)
                   : sizeof(nvmlComputeInstanceProfileInfo_v2_t));
    }
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(nvmlGpuInstance_t gpuInstance,
                                                          unsigned int profile,
                                                          unsigned int engProfile,
                                                          nvmlComputeInstanceProfileInfo_t *info)
{
    return ci_profile_info(__func__, gpuInstance, profile, engProfile, info, false);
}

nvmlReturn_t
nvmlGpuInstanceGetComputeInstanceProfileInfoV(nvmlGpuInstance_t gpuInstance, unsigned int profile,
                                              unsigned int engProfile,
                                              nvmlComputeInstanceProfileInfo_v2_t *info)
{
    return ci_profile_info(__func__, gpuInstance, profile, engProfile, info, true);
}

nvmlReturn_t nvmlGpuInstanceGetComputeInstanceRemainingCapacity(nvmlGpuInstance_t gpuInstance,
                                                                unsigned int profileId,
                                                                unsigned int *count)
{
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    int n;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!count || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((n = mk_gi_ci_remaining(gi, g->model, (int)profileId)) < 0)
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    *count = (unsigned int)n;
    return fake_end(&c, NVML_SUCCESS);
}

/* CI placements are aligned to their size inside the GI's compute slices (mig-gpus §5.3). */
nvmlReturn_t nvmlGpuInstanceGetComputeInstancePossiblePlacements(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId,
    nvmlComputeInstancePlacement_t *placements, unsigned int *count)
{
    const struct mk_ci_profile *cp = NULL;
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    unsigned int n = 0;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!count || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = ci_profile(g, gi, profileId, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &cp)) !=
        NVML_SUCCESS)
        return fake_end(&c, rc);
    for (int s = 0; s + cp->slices <= gi->profile->compute_slices; s += cp->slices) {
        if (placements && n < *count)
            placements[n] =
                (nvmlComputeInstancePlacement_t){(unsigned int)s, (unsigned int)cp->slices};
        n++;
    }
    rc = placements && *count < n ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
    *count = n;
    return fake_end(&c, rc);
}

/* ---- compute instances ---- */

/* True when compute slices [start, start+size) of gi are free. */
static bool ci_range_free(const struct mk_gi *gi, int start, int size)
{
    for (int k = 0; k < gi->nci; k++)
        if (start < gi->ci[k].start + gi->ci[k].slices && gi->ci[k].start < start + size)
            return false;
    return true;
}

/* Creates a CI of profileId in the GI; at placement when one is given (it must be aligned,
 * inside the GI and free: INVALID_ARGUMENT / INSUFFICIENT_RESOURCES). */
static nvmlReturn_t create_ci(const char *fn, nvmlGpuInstance_t gpuInstance, unsigned int profileId,
                              const nvmlComputeInstancePlacement_t *pl,
                              nvmlComputeInstance_t *computeInstance)
{
    const struct mk_ci_profile *cp;
    char uuid[MK_UUID_LEN];
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    int id, r;
    nvmlReturn_t rc = fake_begin(&c, fn, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!computeInstance || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (take_fault(&c, g, MK_FAULT_CREATE_CI))
        return fake_end(&c, NVML_ERROR_IN_USE);
    cp = mk_model_ci_profile(g->model, (int)profileId);
    if (pl && (!cp || pl->size != (unsigned int)cp->slices || pl->start % pl->size != 0 ||
               pl->start + pl->size > (unsigned int)gi->profile->compute_slices))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (pl && !ci_range_free(gi, (int)pl->start, (int)pl->size))
        return fake_end(&c, NVML_ERROR_INSUFFICIENT_RESOURCES);
    if (mk_uuid_generate("MIG-", uuid, sizeof(uuid)) < 0)
        return fake_end(&c, NVML_ERROR_UNKNOWN);
    if ((r = mk_gpu_ci_create(g, gi->id, (int)profileId, uuid, &id)) < 0)
        return fake_end(&c, fake_from_errno(r));
    if (pl) /* the geometry took the first free range; move it where it was asked to be */
        for (int k = 0; k < gi->nci; k++)
            if (gi->ci[k].id == id)
                gi->ci[k].start = (int)pl->start;
    *computeInstance = fake_ci_handle(fake_gi_gpu(gpuInstance), gi->id, id);
    c.state_dirty = true;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t gpuInstance,
                                                  unsigned int profileId,
                                                  nvmlComputeInstance_t *computeInstance)
{
    return create_ci(__func__, gpuInstance, profileId, NULL, computeInstance);
}

nvmlReturn_t nvmlGpuInstanceCreateComputeInstanceWithPlacement(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId,
    const nvmlComputeInstancePlacement_t *placement, nvmlComputeInstance_t *computeInstance)
{
    static const nvmlComputeInstancePlacement_t invalid = {1, 0}; /* size 0: never valid */
    return create_ci(__func__, gpuInstance, profileId, placement ? placement : &invalid,
                     computeInstance);
}

nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t computeInstance)
{
    struct mk_gpu *g = NULL;
    struct mk_gi *gi = NULL;
    struct mk_ci *ci;
    struct fake_call c;
    int r;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_ci_gpu(computeInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!(ci = fake_ci(&c, computeInstance, &g, &gi)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (take_fault(&c, g, MK_FAULT_DESTROY_CI))
        return fake_end(&c, NVML_ERROR_IN_USE);
    /* IN_USE "if processes (e.g. CUDA application) are active on the compute instance" */
    if ((r = mk_gpu_ci_destroy(g, gi->id, ci->id)) < 0)
        return fake_end(&c, fake_from_errno(r));
    c.state_dirty = true;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance,
                                                unsigned int profileId,
                                                nvmlComputeInstance_t *computeInstances,
                                                unsigned int *count)
{
    const struct mk_ci_profile *cp = NULL;
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    unsigned int n = 0;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!count || !computeInstances || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = ci_profile(g, gi, profileId, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &cp)) !=
        NVML_SUCCESS)
        return fake_end(&c, rc);
    if (*count < (unsigned int)(gi->profile->compute_slices / cp->slices))
        return fake_end(&c, NVML_ERROR_INSUFFICIENT_SIZE); /* must hold instanceCount */
    for (int k = 0; k < gi->nci; k++)
        if (gi->ci[k].profile_id == cp->id)
            computeInstances[n++] = fake_ci_handle(fake_gi_gpu(gpuInstance), gi->id, gi->ci[k].id);
    *count = n;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(nvmlGpuInstance_t gpuInstance, unsigned int id,
                                                   nvmlComputeInstance_t *computeInstance)
{
    struct mk_gpu *g = NULL;
    struct mk_gi *gi;
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_gi_gpu(gpuInstance));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!computeInstance || !(gi = fake_gi(&c, gpuInstance, &g)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    for (int k = 0; k < gi->nci; k++)
        if (gi->ci[k].id == (int)id) {
            *computeInstance = fake_ci_handle(fake_gi_gpu(gpuInstance), gi->id, (int)id);
            return fake_end(&c, NVML_SUCCESS);
        }
    return fake_end(&c, NVML_ERROR_NOT_FOUND);
}

nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                                           nvmlComputeInstanceInfo_t *info)
{
    struct mk_gpu *g = NULL;
    struct mk_gi *gi = NULL;
    struct mk_ci *ci;
    struct fake_call c;
    int gpu = fake_ci_gpu(computeInstance);
    nvmlReturn_t rc = fake_begin(&c, __func__, gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    if (!info || !(ci = fake_ci(&c, computeInstance, &g, &gi)))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    info->device = fake_dev_handle(gpu, -1, -1);
    info->gpuInstance = fake_gi_handle(gpu, gi->id);
    info->id = (unsigned int)ci->id;
    info->profileId = (unsigned int)ci->profile_id;
    info->placement.start = (unsigned int)ci->start;
    info->placement.size = (unsigned int)ci->slices;
    return fake_end(&c, NVML_SUCCESS);
}

/* ---- MIG device handles ---- */

/* A MIG device handle's GI and CI IDs and parent, into whichever of the three the caller
 * asked for (none: INVALID_ARGUMENT); NOT_SUPPORTED for a physical GPU. */
static nvmlReturn_t mig_ids(const char *fn, nvmlDevice_t device, unsigned int *gi_id,
                            unsigned int *ci_id, nvmlDevice_t *parent)
{
    const struct fake_dev *d = fake_dev_of(device);
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, fn, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!d || (!gi_id && !ci_id && !parent))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (d->gi < 0)
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    if (!fake_ci(&c, fake_ci_handle(d->gpu, d->gi, d->ci), NULL, NULL))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT); /* stale */
    if (gi_id)
        *gi_id = (unsigned int)d->gi;
    if (ci_id)
        *ci_id = (unsigned int)d->ci;
    if (parent)
        *parent = fake_dev_handle(d->gpu, -1, -1);
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    const struct fake_dev *d = fake_dev_of(device);
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!d || !isMigDevice)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    *isMigDevice = d->gi >= 0;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_ids(__func__, device, id, NULL, NULL);
}

nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return mig_ids(__func__, device, NULL, id, NULL);
}

nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
                                                          nvmlDevice_t *device)
{
    return mig_ids(__func__, migDevice, NULL, NULL, device);
}

/* A CI uses at least one compute slice, so a GPU never has more MIG devices than compute
 * slices; 0 with MIG mode off or unsupported (ref §6.7). */
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    const struct fake_dev *d = fake_dev_of(device);
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!d || d->gi >= 0 || !count || d->gpu >= c.ngpus + c.nplain)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    *count = d->gpu < c.ngpus && c.gpus[d->gpu].mig_enabled
                 ? (unsigned int)c.gpus[d->gpu].model->compute_slices
                 : 0;
    return fake_end(&c, NVML_SUCCESS);
}

/* MIG devices are numbered by ascending GI ID, then CI ID. */
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t *migDevice)
{
    struct mk_gpu *g = NULL;
    struct fake_call c;
    unsigned int k = 0;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!migDevice)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = mig_gpu(&c, device, &g)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    for (int gi = 0; gi < MK_MAX_GIS; gi++) {
        const struct mk_gi *x = mk_gpu_gi_find(g, gi);
        for (int ci = 0; x && ci < MK_MAX_CIS; ci++)
            for (int j = 0; j < x->nci; j++)
                if (x->ci[j].id == ci && k++ == index) {
                    *migDevice = fake_dev_handle(fake_dev_gpu(device), gi, ci);
                    return fake_end(&c, NVML_SUCCESS);
                }
    }
    return fake_end(&c, NVML_ERROR_NOT_FOUND);
}
