/*
 * fake-device.c - the fake libnvidia-ml.so.1's library and device functions: init, GPU
 * enumeration and identity, memory, MIG mode, GPU-instance profile information, possible
 * placements, remaining capacity and running processes (nvml-mig-api.md §6.1-6.4, §6.8).
 *
 * Device handles name a simulated GPU, a non-MIG GPU of the script, or a MIG device (one per
 * compute instance). Each function follows the same shape: fake_begin() (lock, read, inject),
 * resolve the handles against this call's state, answer, fake_end().
 */
#include <stdio.h>
#include <string.h>

#include "fake-nvml.h"

#define MIB (1024ull * 1024ull)
/* The version the fake reports: recognisably not a real driver. */
#define FAKE_DRIVER_VERSION "999.99.99-migkit-fake"

/* What a device handle names in the current call. */
struct target {
    int gpu;
    struct mk_gpu *sim;                 /* a simulated GPU (for a MIG device: its parent) */
    const struct fake_plain_gpu *plain; /* or a non-MIG GPU of the script */
    struct mk_gi *gi;                   /* a MIG device: its GI and CI */
    struct mk_ci *ci;
};

/* Resolves h; false for a pointer that is no handle, a GPU that is gone, or a MIG device
 * whose compute instance was destroyed (a stale handle, ref §7.8). */
static bool target_of(struct fake_call *c, nvmlDevice_t h, struct target *t)
{
    const struct fake_dev *d = fake_dev_of(h);
    memset(t, 0, sizeof(*t));
    if (!d)
        return false;
    t->gpu = d->gpu;
    if (d->gpu >= c->ngpus) {
        if (d->gi >= 0 || d->gpu >= c->ngpus + c->nplain)
            return false;
        t->plain = &c->plain[d->gpu - c->ngpus];
        return true;
    }
    t->sim = &c->gpus[d->gpu];
    if (d->gi < 0)
        return true;
    t->ci = fake_ci(c, fake_ci_handle(d->gpu, d->gi, d->ci), NULL, &t->gi);
    return t->ci != NULL;
}

/* A MIG-capable physical GPU with MIG mode on; the answers for anything else. */
static nvmlReturn_t mig_gpu(struct fake_call *c, nvmlDevice_t h, struct mk_gpu **ret)
{
    struct target t;
    if (!target_of(c, h, &t) || t.gi)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (t.plain || !t.sim->mig_enabled)
        return NVML_ERROR_NOT_SUPPORTED;
    *ret = t.sim;
    return NVML_SUCCESS;
}

/* ---- library ---- */

nvmlReturn_t nvmlInit_v2(void)
{
    return fake_init();
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags; /* NO_GPUS and NO_ATTACH change nothing for a machine that always has GPUs */
    return fake_init();
}

nvmlReturn_t nvmlShutdown(void)
{
    return fake_shutdown();
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    return mk__nvml_text(result);
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, -1);
    if (rc != NVML_SUCCESS)
        return rc;
    return fake_end(&c, fake_copy_string(version, length, FAKE_DRIVER_VERSION));
}

/* ---- enumeration and identity ---- */

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, -1);
    if (rc != NVML_SUCCESS)
        return rc;
    if (!deviceCount)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    *deviceCount = (unsigned int)(c.ngpus + c.nplain);
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, (int)index);
    if (rc != NVML_SUCCESS)
        return rc;
    if (!device || index >= (unsigned int)(c.ngpus + c.nplain))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    *device = fake_dev_handle((int)index, -1, -1);
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, -1);
    if (rc != NVML_SUCCESS)
        return rc;
    if (!uuid || !device)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    for (int i = 0; i < c.nplain; i++)
        if (!strcmp(c.plain[i].uuid, uuid)) {
            *device = fake_dev_handle(c.ngpus + i, -1, -1);
            return fake_end(&c, NVML_SUCCESS);
        }
    for (int i = 0; i < c.ngpus; i++) {
        const struct mk_gpu *g = &c.gpus[i];
        if (!strcmp(g->uuid, uuid)) {
            *device = fake_dev_handle(i, -1, -1);
            return fake_end(&c, NVML_SUCCESS);
        }
        for (int k = 0; k < g->ngi; k++)
            for (int j = 0; j < g->gi[k].nci; j++)
                if (!strcmp(g->gi[k].ci[j].uuid, uuid)) {
                    *device = fake_dev_handle(i, g->gi[k].id, g->gi[k].ci[j].id);
                    return fake_end(&c, NVML_SUCCESS);
                }
    }
    return fake_end(&c, NVML_ERROR_NOT_FOUND);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE + MK_NAME_LEN];
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (t.plain) {
        snprintf(buf, sizeof(buf), "%s", t.plain->name);
    } else if (t.gi) {
        /* A MIG device is named after its GPU and its compute instance's profile. */
        const struct mk_ci_profile *cp = mk_model_ci_profile(t.sim->model, t.ci->profile_id);
        char ci[MK_NAME_LEN];
        mk_ci_name(t.gi->profile, cp ? cp->slices : t.ci->slices, ci, sizeof(ci));
        snprintf(buf, sizeof(buf), "%s MIG %s", fake_gpu_name(&c, t.gpu), ci);
    } else {
        snprintf(buf, sizeof(buf), "%s", fake_gpu_name(&c, t.gpu));
    }
    return fake_end(&c, fake_copy_string(name, length, buf));
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    rc = fake_copy_string(uuid, length, t.plain ? t.plain->uuid : t.ci ? t.ci->uuid : t.sim->uuid);
    return fake_end(&c, rc);
}

/* Fills pci for GPU index i with bus ID "00000000:BB:00.0" (the simulator's numbering). */
static void fill_pci(nvmlPciInfo_t *pci, const char *bus_id, unsigned int pci_id)
{
    unsigned int domain = 0, bus = 0, dev = 0;
    memset(pci, 0, sizeof(*pci));
    if (sscanf(bus_id, "%x:%x:%x", &domain, &bus, &dev) != 3)
        domain = bus = dev = 0;
    pci->domain = domain;
    pci->bus = bus;
    pci->device = dev;
    pci->pciDeviceId = pci_id;
    snprintf(pci->busId, sizeof(pci->busId), "%s", bus_id);
    /* The legacy field has room for the short form only: "0000:BB:00.0". */
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04x:%02x:%02x.0", domain & 0xffffu,
             bus & 0xffu, dev & 0xffu);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    char bus_id[32];
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!pci || !target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (t.plain) {
        /* After the simulated GPUs, on the next bus numbers (the simulator's rule). */
        snprintf(bus_id, sizeof(bus_id), "00000000:%02X:00.0", (unsigned int)(t.gpu + 1));
        fill_pci(pci, bus_id, t.plain->pci_id);
    } else {
        fill_pci(pci, t.sim->pci_bus_id, fake_gpu_pci_id(&c, t.gpu));
    }
    return fake_end(&c, NVML_SUCCESS);
}

/* ---- memory and attributes ---- */

/* Total bytes of what h names: a GPU's memory, or a MIG device's GI memory. Nothing is ever
 * allocated on the fake, so all of it is free. */
static unsigned long long total_bytes(struct fake_call *c, const struct target *t)
{
    if (t->plain)
        return t->plain->memory_mib * MIB;
    if (t->gi)
        return fake_profile_memory(c, t->gpu, t->gi->profile) * MIB;
    return t->sim->model->memory_mib * MIB;
}

/* ---- compute capability and cores (a GPU's SMs, for GPUs without MIG) ---- */

/* The compute capability and SM count of what t names; false when the script gives no SM
 * count for a non-MIG GPU (a driver that cannot tell). MIG devices are not asked. */
static bool gpu_sms(const struct target *t, int *major, int *minor, int *sms)
{
    if (t->plain) {
        *major = t->plain->cc_major;
        *minor = t->plain->cc_minor;
        *sms = t->plain->sms;
        return *sms > 0;
    }
    if (sscanf(t->sim->model->compute_capability, "%d.%d", major, minor) != 2)
        return false;
    *sms = t->sim->model->sm_total;
    return true;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    struct fake_call c;
    struct target t;
    int sms;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!major || !minor || !target_of(&c, device, &t) || t.gi)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    gpu_sms(&t, major, minor, &sms);
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t device, unsigned int *numCores)
{
    struct fake_call c;
    struct target t;
    int major, minor, sms;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!numCores || !target_of(&c, device, &t) || t.gi)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (!gpu_sms(&t, &major, &minor, &sms))
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    *numCores = (unsigned int)(sms * mk__nvml_cores_per_sm(major, minor));
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!memory || !target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    memory->total = memory->free = total_bytes(&c, &t);
    memory->used = 0;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    /* A wrong version word is an invalid argument (ref §7.7). */
    if (!memory || memory->version != nvmlMemory_v2 || !target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    memory->total = memory->free = total_bytes(&c, &t);
    memory->reserved = memory->used = 0;
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    struct fake_call c;
    struct target t;
    const struct mk_gi_profile *p;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!attributes || !target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (!t.gi) /* "This API currently only supports MIG device handles." */
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    p = t.gi->profile;
    attributes->multiprocessorCount = (unsigned int)mk_ci_sms(p, t.ci->slices, NULL);
    attributes->sharedCopyEngineCount = (unsigned int)p->ce;
    attributes->sharedDecoderCount = (unsigned int)p->dec;
    attributes->sharedEncoderCount = (unsigned int)p->enc;
    attributes->sharedJpegCount = (unsigned int)p->jpeg;
    attributes->sharedOfaCount = (unsigned int)p->ofa;
    attributes->gpuInstanceSliceCount = (unsigned int)p->compute_slices;
    attributes->computeInstanceSliceCount = (unsigned int)t.ci->slices;
    attributes->memorySizeMB = fake_profile_memory(&c, t.gpu, p);
    return fake_end(&c, NVML_SUCCESS);
}

/* ---- MIG mode ---- */

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                  unsigned int *pendingMode)
{
    struct fake_call c;
    struct target t;
    int pend;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!currentMode || !pendingMode || !target_of(&c, device, &t) || t.gi)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (t.plain)
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    *currentMode = t.sim->mig_enabled ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
    pend = fake_pending_mode(t.gpu);
    *pendingMode = pend >= 0 ? (unsigned int)pend : *currentMode;
    return fake_end(&c, NVML_SUCCESS);
}

/*
 * Sets MIG mode through the simulator's rule (disabling with GPU instances present is "In
 * use"). An injected activation status (IN_USE, RESET_REQUIRED) models a GPU the driver
 * could not reset or unbind: the call succeeds, the mode stays as it was, and the requested
 * one is pending for the rest of the process.
 */
nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t device, unsigned int mode,
                                  nvmlReturn_t *activationStatus)
{
    struct fake_call c;
    struct target t;
    int r;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!activationStatus || mode > NVML_DEVICE_MIG_ENABLE || !target_of(&c, device, &t) || t.gi)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (t.plain)
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    if (c.has_act && c.inject_act != NVML_SUCCESS) {
        *activationStatus = c.inject_act;
        fake_set_pending_mode(t.gpu, (int)mode);
        return fake_end(&c, NVML_SUCCESS);
    }
    if ((r = mk_gpu_set_mig(t.sim, mode == NVML_DEVICE_MIG_ENABLE)) < 0)
        return fake_end(&c, fake_from_errno(r));
    fake_set_pending_mode(t.gpu, -1);
    *activationStatus = NVML_SUCCESS;
    c.state_dirty = true;
    return fake_end(&c, NVML_SUCCESS);
}

/* ---- GPU-instance profiles ---- */

/* The profile answering to NVML constant konst, or NULL. */
static const struct mk_gi_profile *by_const(const struct mk_model *m, unsigned int konst)
{
    for (int i = 0; i < m->nprofiles; i++)
        if (m->profiles[i].nvml == (int)konst)
            return &m->profiles[i];
    return NULL;
}

/* The answer for a profile lookup that found nothing: constants past the list are invalid,
 * known ones unsupported on this GPU (ref §7.2 relies on both). */
static nvmlReturn_t no_profile(unsigned int konst)
{
    return konst >= NVML_GPU_INSTANCE_PROFILE_COUNT ? NVML_ERROR_INVALID_ARGUMENT
                                                    : NVML_ERROR_NOT_SUPPORTED;
}

/* Fills the v2 or v3 struct behind info (by its version word) from profile p. */
static nvmlReturn_t fill_profile_v(struct fake_call *c, int gpu, const struct mk_gi_profile *p,
                                   nvmlGpuInstanceProfileInfo_v2_t *info)
{
    unsigned long long mem = fake_profile_memory(c, gpu, p);
    if (info->version == nvmlGpuInstanceProfileInfo_v3) {
        nvmlGpuInstanceProfileInfo_v3_t v3 = {.version = nvmlGpuInstanceProfileInfo_v3};
        v3.id = (unsigned int)p->id;
        v3.sliceCount = (unsigned int)p->compute_slices; /* modelled as the "g" (ref §2.3) */
        v3.instanceCount = (unsigned int)p->max;
        v3.multiprocessorCount = (unsigned int)p->sms;
        v3.copyEngineCount = (unsigned int)p->ce;
        v3.decoderCount = (unsigned int)p->dec;
        v3.encoderCount = (unsigned int)p->enc;
        v3.jpegCount = (unsigned int)p->jpeg;
        v3.ofaCount = (unsigned int)p->ofa;
        v3.memorySizeMB = mem;
        snprintf(v3.name, sizeof(v3.name), "MIG %s", p->name);
        memcpy(info, &v3, sizeof(v3));
        return NVML_SUCCESS;
    }
    if (info->version != nvmlGpuInstanceProfileInfo_v2) /* ref §7.7 */
        return NVML_ERROR_INVALID_ARGUMENT;
    info->id = (unsigned int)p->id;
    info->isP2pSupported = 0;
    info->sliceCount = (unsigned int)p->compute_slices;
    info->instanceCount = (unsigned int)p->max;
    info->multiprocessorCount = (unsigned int)p->sms;
    info->copyEngineCount = (unsigned int)p->ce;
    info->decoderCount = (unsigned int)p->dec;
    info->encoderCount = (unsigned int)p->enc;
    info->jpegCount = (unsigned int)p->jpeg;
    info->ofaCount = (unsigned int)p->ofa;
    info->memorySizeMB = mem;
    snprintf(info->name, sizeof(info->name), "MIG %s", p->name);
    return NVML_SUCCESS;
}

/* The unversioned query answers whatever the MIG mode: the header documents NOT_SUPPORTED
 * only for "doesn't support MIG or profile isn't supported" (ref §7.4). */
nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                                 nvmlGpuInstanceProfileInfo_t *info)
{
    const struct mk_gi_profile *p;
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!info || !target_of(&c, device, &t) || t.gi)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (t.plain)
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    if (!(p = by_const(t.sim->model, profile)))
        return fake_end(&c, no_profile(profile));
    memset(info, 0, sizeof(*info));
    info->id = (unsigned int)p->id;
    info->sliceCount = (unsigned int)p->compute_slices;
    info->instanceCount = (unsigned int)p->max;
    info->multiprocessorCount = (unsigned int)p->sms;
    info->copyEngineCount = (unsigned int)p->ce;
    info->decoderCount = (unsigned int)p->dec;
    info->encoderCount = (unsigned int)p->enc;
    info->jpegCount = (unsigned int)p->jpeg;
    info->ofaCount = (unsigned int)p->ofa;
    info->memorySizeMB = fake_profile_memory(&c, t.gpu, p);
    return fake_end(&c, NVML_SUCCESS);
}

/* The versioned queries want MIG mode on (ref §7.4) and a known version word (§7.7). */
static nvmlReturn_t profile_v(const char *fn, nvmlDevice_t device, unsigned int key, bool by_id,
                              nvmlGpuInstanceProfileInfo_v2_t *info)
{
    const struct mk_gi_profile *p;
    struct mk_gpu *g = NULL;
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, fn, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!info)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = mig_gpu(&c, device, &g)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    p = by_id ? mk_model_profile_by_id(g->model, (int)key) : by_const(g->model, key);
    if (!p)
        return fake_end(&c, by_id ? NVML_ERROR_NOT_SUPPORTED : no_profile(key));
    return fake_end(&c, fill_profile_v(&c, fake_dev_gpu(device), p, info));
}

nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                                  nvmlGpuInstanceProfileInfo_v2_t *info)
{
    return profile_v(__func__, device, profile, false, info);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoByIdV(nvmlDevice_t device, unsigned int profileId,
                                                      nvmlGpuInstanceProfileInfo_v2_t *info)
{
    return profile_v(__func__, device, profileId, true, info);
}

/* Possible placements answer "regardless of whether MIG is enabled or not" (ref §6.4), and
 * take the usual two steps: NULL for the count, then an array that must hold them all. */
nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t device,
                                                           unsigned int profileId,
                                                           nvmlGpuInstancePlacement_t *placements,
                                                           unsigned int *count)
{
    const struct mk_gi_profile *p;
    struct fake_call c;
    struct target t;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!count || !target_of(&c, device, &t) || t.gi)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if (t.plain || !(p = mk_model_profile_by_id(t.sim->model, (int)profileId)))
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    if (placements && *count < (unsigned int)p->nstarts)
        rc = NVML_ERROR_INSUFFICIENT_SIZE;
    for (int i = 0; placements && rc == NVML_SUCCESS && i < p->nstarts; i++)
        placements[i] =
            (nvmlGpuInstancePlacement_t){(unsigned int)p->starts[i], (unsigned int)p->mem_slices};
    *count = (unsigned int)p->nstarts;
    return fake_end(&c, rc);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device, unsigned int profileId,
                                                       unsigned int *count)
{
    const struct mk_gi_profile *p;
    struct mk_gpu *g = NULL;
    struct fake_call c;
    nvmlReturn_t rc = fake_begin(&c, __func__, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!count)
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    if ((rc = mig_gpu(&c, device, &g)) != NVML_SUCCESS)
        return fake_end(&c, rc);
    if (!(p = mk_model_profile_by_id(g->model, (int)profileId)))
        return fake_end(&c, NVML_ERROR_NOT_SUPPORTED);
    *count = (unsigned int)mk_gpu_gi_remaining(g, p);
    return fake_end(&c, NVML_SUCCESS);
}

/* ---- running processes ---- */

/* The processes on what t names: one per busy GI (and per compute instance of it), which is
 * how the simulator's "sim busy" looks to NVML. Returns how many, filling out[] up to max. */
static unsigned int busy_processes(const struct target *t, nvmlProcessInfo_t *out, unsigned int max)
{
    unsigned int n = 0;
    const struct mk_gpu *g = t->sim;
    for (int k = 0; g && g->mig_enabled && k < g->ngi; k++) {
        const struct mk_gi *gi = &g->gi[k];
        if (!gi->busy || (t->gi && t->gi != gi))
            continue;
        for (int j = 0; j < (gi->nci ? gi->nci : 1); j++) {
            int ci = gi->nci ? gi->ci[j].id : -1;
            if (t->ci && t->ci->id != ci)
                continue;
            if (out && n < max)
                out[n] = (nvmlProcessInfo_t){
                    .pid = FAKE_PID_BASE + (unsigned int)(t->gpu * 1000 + gi->id * 10 + j),
                    .usedGpuMemory = NVML_VALUE_NOT_AVAILABLE_ULL,
                    .gpuInstanceId = (unsigned int)gi->id,
                    .computeInstanceId = ci < 0 ? 0xFFFFFFFFu : (unsigned int)ci};
            n++;
        }
    }
    return n;
}

/* The processes the script declares on a physical GPU ("processes" of nvml-fake.json, each
 * {"gpu": INDEX, "pid": PID, "used_memory_bytes": BYTES}; without used_memory_bytes the
 * driver's "not available"): what a watchdog test needs, real pids of real test processes
 * with the memory NVML would see them hold. Appended after n entries; returns the new count. */
static unsigned int script_processes(struct fake_call *c, const struct target *t,
                                     nvmlProcessInfo_t *out, unsigned int max, unsigned int n)
{
    json_t *list = json_object_get(c->conf, "processes"), *e;
    size_t i;
    if (t->gi) /* declared on whole GPUs only: MIG devices show the simulator's busy GIs */
        return n;
    json_array_foreach(list, i, e)
    {
        json_t *gpu = json_object_get(e, "gpu"), *pid = json_object_get(e, "pid");
        json_t *used = json_object_get(e, "used_memory_bytes");
        if (!json_is_integer(gpu) || json_integer_value(gpu) != t->gpu || !json_is_integer(pid))
            continue;
        if (out && n < max)
            out[n] = (nvmlProcessInfo_t){.pid = (unsigned int)json_integer_value(pid),
                                         .usedGpuMemory =
                                             json_is_integer(used)
                                                 ? (unsigned long long)json_integer_value(used)
                                                 : NVML_VALUE_NOT_AVAILABLE_ULL,
                                         .gpuInstanceId = 0xFFFFFFFFu,
                                         .computeInstanceId = 0xFFFFFFFFu};
        n++;
    }
    return n;
}

/* Counting protocol of the _v3 queries (ref §6.8): with too small a count, INSUFFICIENT_SIZE
 * and the count needed; with none running, SUCCESS and 0. */
static nvmlReturn_t processes(const char *fn, nvmlDevice_t device, unsigned int *infoCount,
                              nvmlProcessInfo_t *infos, bool compute)
{
    struct fake_call c;
    struct target t;
    unsigned int n;
    nvmlReturn_t rc = fake_begin(&c, fn, fake_dev_gpu(device));
    if (rc != NVML_SUCCESS)
        return rc;
    if (!infoCount || (!infos && *infoCount > 0) || !target_of(&c, device, &t))
        return fake_end(&c, NVML_ERROR_INVALID_ARGUMENT);
    n = 0; /* no graphics work, ever */
    if (compute)
        n = script_processes(&c, &t, infos, *infoCount, busy_processes(&t, infos, *infoCount));
    rc = n > *infoCount ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
    *infoCount = n;
    return fake_end(&c, rc);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos)
{
    return processes(__func__, device, infoCount, infos, true);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                      nvmlProcessInfo_t *infos)
{
    return processes(__func__, device, infoCount, infos, false);
}
