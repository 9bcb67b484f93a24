/*
 * nvml.c - the NVML backend: real MIG hardware through libnvidia-ml.so.1 (loaded with dlopen
 * by src/vendor/nvml.c; never linked).
 *
 * At open it initialises NVML and reads every GPU into the struct mk_gpu array the CLI
 * prints: identity (name, UUID, PCI bus ID), MIG mode, the model (nvml-model.c: the catalog's
 * entry checked against the driver), the GPU instances of each profile with their placements,
 * their compute instances, the MIG device UUIDs, and "busy" (a process running on one of the
 * GI's MIG devices). Each operation is one NVML call, effective at once as on the hardware;
 * afterwards the GPU is read again, so what the CLI shows is what the driver says. There is
 * nothing to commit.
 *
 * The driver does its own locking, so the config's `writable` and `state_dir` do not apply.
 * NVML is reference-counted: the backend's nvmlInit_v2 is balanced by nvmlShutdown at close.
 * docs/nvml.md lists what each verb calls.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nvml-internal.h"

/* GetGpuInstances needs a buffer of at least the profile's instanceCount (ref §6.5); the
 * catalog caps counts at 16. */
#define GI_BUF 16
/* Processes are only counted, never listed: a query with room for none says whether there
 * are any. */
#define NO_PROCESS_BUFFER 0u

struct nvml_gpu {
    nvmlDevice_t dev;
    bool mig_capable;             /* GetMigMode answered (it says NOT_SUPPORTED on an L4) */
    const struct mk_model *model; /* the catalog's, or one kept for the process (nvml-model.c) */
};

/* What identifies a GPU, as NVML reports it. */
struct ident {
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[MK_UUID_LEN];
    char bus_id[32];
    unsigned int pci_id, subsystem_id;
};

struct nvml {
    const struct mk_nvml *fn;
    struct nvml_gpu *gpus; /* b->ngpus entries */
};

static struct nvml *priv(struct mk_backend *b)
{
    return b->priv;
}

/*
 * Records NVML's answer rc for what was being done, mapped in the one place
 * (mk__nvml_error), and turns the explanations nvidia-smi does not give into the backend's
 * hint, the one that says "requires root" among them. Returns the negative errno.
 */
static int fail(struct mk_backend *b, struct mk_error *err, nvmlReturn_t rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct mk_backend *b, struct mk_error *err, nvmlReturn_t rc, const char *fmt, ...)
{
    struct mk_error local = {0};
    char what[160];
    va_list ap;
    int r;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r = mk__nvml_error(&local, rc, "%s", what);
    if (rc == NVML_ERROR_NO_PERMISSION || rc == NVML_ERROR_RESET_REQUIRED ||
        rc == NVML_ERROR_FUNCTION_NOT_FOUND)
        mk__backend_hint(b, "%s", local.msg);
    if (err)
        *err = local;
    return r;
}

/* ---- reading a GPU ---- */

/* Name, UUID and PCI identity of GPU i. */
static int read_identity(struct mk_backend *b, int i, struct ident *id, struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    nvmlDevice_t dev = priv(b)->gpus[i].dev;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    nvmlPciInfo_t pci;
    nvmlReturn_t rc;
    memset(&pci, 0, sizeof(pci));
    if ((rc = fn->nvmlDeviceGetName(dev, id->name, sizeof(id->name))) != NVML_SUCCESS)
        return fail(b, err, rc, "GPU %d: nvmlDeviceGetName", i);
    if ((rc = fn->nvmlDeviceGetUUID(dev, uuid, sizeof(uuid))) != NVML_SUCCESS)
        return fail(b, err, rc, "GPU %d: nvmlDeviceGetUUID", i);
    if ((rc = fn->nvmlDeviceGetPciInfo_v3(dev, &pci)) != NVML_SUCCESS)
        return fail(b, err, rc, "GPU %d: nvmlDeviceGetPciInfo_v3", i);
    if (strlen(uuid) >= sizeof(id->uuid) || strlen(pci.busId) >= sizeof(id->bus_id))
        return mk_error_set(err, -EBADMSG, "GPU %d: UUID or PCI bus ID longer than expected", i);
    memcpy(id->uuid, uuid, strlen(uuid) + 1);
    memcpy(id->bus_id, pci.busId, strlen(pci.busId) + 1);
    id->pci_id = pci.pciDeviceId;
    id->subsystem_id = pci.pciSubSystemId;
    return 0;
}

/* CIs of GI gi (handle h), every CI profile ID NVML knows (a GI may hold CIs of profiles the
 * model does not list as offered; they are still shown). Sorted by CI ID. */
static int read_cis(struct mk_backend *b, int i, nvmlGpuInstance_t h, struct mk_gi *gi,
                    struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    for (unsigned int cp = 0; cp < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; cp++) {
        nvmlComputeInstance_t ch[MK_MAX_CIS];
        unsigned int n = MK_MAX_CIS;
        nvmlReturn_t rc = fn->nvmlGpuInstanceGetComputeInstances(h, cp, ch, &n);
        if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_INVALID_ARGUMENT)
            continue; /* a CI profile this GI (or this driver) does not have */
        if (rc != NVML_SUCCESS)
            return fail(b, err, rc, "GPU %d GI %d: nvmlGpuInstanceGetComputeInstances", i, gi->id);
        for (unsigned int k = 0; k < n && gi->nci < MK_MAX_CIS; k++) {
            nvmlComputeInstanceInfo_t info;
            struct mk_ci *c = &gi->ci[gi->nci];
            memset(&info, 0, sizeof(info));
            if ((rc = fn->nvmlComputeInstanceGetInfo_v2(ch[k], &info)) != NVML_SUCCESS)
                return fail(b, err, rc, "GPU %d GI %d: nvmlComputeInstanceGetInfo_v2", i, gi->id);
            memset(c, 0, sizeof(*c));
            c->id = (int)info.id;
            c->profile_id = (int)info.profileId;
            c->start = (int)info.placement.start;
            c->slices = (int)info.placement.size;
            gi->nci++;
        }
    }
    for (int a = 1; a < gi->nci; a++) /* insertion sort: at most 8 */
        for (int k = a; k > 0 && gi->ci[k].id < gi->ci[k - 1].id; k--) {
            struct mk_ci t = gi->ci[k];
            gi->ci[k] = gi->ci[k - 1];
            gi->ci[k - 1] = t;
        }
    return 0;
}

/* The GIs of every profile of the model (GetGpuInstances takes one profile ID at a time). */
static int read_gis(struct mk_backend *b, int i, struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    struct mk_gpu *g = &b->gpus[i];
    const struct mk_model *m = g->model;
    for (int p = 0; p < m->nprofiles; p++) {
        nvmlGpuInstance_t h[GI_BUF];
        unsigned int n = GI_BUF;
        nvmlReturn_t rc = fn->nvmlDeviceGetGpuInstances(priv(b)->gpus[i].dev,
                                                        (unsigned int)m->profiles[p].id, h, &n);
        if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_INVALID_ARGUMENT)
            continue;
        if (rc != NVML_SUCCESS)
            return fail(b, err, rc, "GPU %d: listing GPU instances (nvmlDeviceGetGpuInstances)", i);
        for (unsigned int k = 0; k < n; k++) {
            nvmlGpuInstanceInfo_t info;
            struct mk_gi *gi;
            int r;
            memset(&info, 0, sizeof(info));
            if ((rc = fn->nvmlGpuInstanceGetInfo(h[k], &info)) != NVML_SUCCESS)
                return fail(b, err, rc, "GPU %d: nvmlGpuInstanceGetInfo", i);
            if (g->ngi >= MK_MAX_GIS)
                return mk_error_set(err, -EBADMSG, "GPU %d: more than %d GPU instances", i,
                                    MK_MAX_GIS);
            gi = &g->gi[g->ngi++];
            memset(gi, 0, sizeof(*gi));
            gi->id = (int)info.id;
            gi->profile = &m->profiles[p];
            gi->start = (int)info.placement.start;
            if ((r = read_cis(b, i, h[k], gi, err)) < 0)
                return r;
        }
    }
    return 0;
}

/* True when NVML reports a compute or graphics process on MIG device mig. A driver without
 * the _v3 queries, or one that refuses them, reports nothing (docs/nvml.md). */
static bool has_processes(const struct mk_nvml *fn, nvmlDevice_t mig)
{
    mk_nvml_nvmlDeviceGetComputeRunningProcesses_v3_fn *const queries[] = {
        fn->nvmlDeviceGetComputeRunningProcesses_v3,
        fn->nvmlDeviceGetGraphicsRunningProcesses_v3,
    };
    for (size_t q = 0; q < MK_ELEMENTSOF(queries); q++) {
        unsigned int count = NO_PROCESS_BUFFER;
        /* With a zero count NVML answers SUCCESS for none, INSUFFICIENT_SIZE for some. */
        if (queries[q] && queries[q](mig, &count, NULL) == NVML_ERROR_INSUFFICIENT_SIZE)
            return true;
    }
    return false;
}

/* MIG devices (one per CI): their UUIDs, and whether processes run on them. Index 0..max-1,
 * skipping NOT_FOUND and INVALID_ARGUMENT as go-nvlib does (ref §6.7). */
static int read_mig_devices(struct mk_backend *b, int i, struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    struct mk_gpu *g = &b->gpus[i];
    unsigned int max = 0;
    nvmlReturn_t rc = fn->nvmlDeviceGetMaxMigDeviceCount(priv(b)->gpus[i].dev, &max);
    if (rc != NVML_SUCCESS)
        return fail(b, err, rc, "GPU %d: nvmlDeviceGetMaxMigDeviceCount", i);
    for (unsigned int k = 0; k < max; k++) {
        char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
        unsigned int gid = 0, cid = 0;
        nvmlDevice_t mig;
        struct mk_gi *gi;
        rc = fn->nvmlDeviceGetMigDeviceHandleByIndex(priv(b)->gpus[i].dev, k, &mig);
        if (rc == NVML_ERROR_NOT_FOUND || rc == NVML_ERROR_INVALID_ARGUMENT)
            continue;
        if (rc == NVML_SUCCESS &&
            (rc = fn->nvmlDeviceGetGpuInstanceId(mig, &gid)) == NVML_SUCCESS &&
            (rc = fn->nvmlDeviceGetComputeInstanceId(mig, &cid)) == NVML_SUCCESS)
            rc = fn->nvmlDeviceGetUUID(mig, uuid, sizeof(uuid));
        if (rc != NVML_SUCCESS)
            return fail(b, err, rc, "GPU %d: MIG device %u", i, k);
        if (strlen(uuid) >= MK_UUID_LEN)
            return mk_error_set(err, -EBADMSG,
                                "GPU %d: MIG device UUID \"%.60s\" is longer "
                                "than expected (a driver before R470?)",
                                i, uuid);
        if (!(gi = mk_gpu_gi_find(g, (int)gid)))
            continue; /* created between our two reads: the next read shows it */
        for (int c = 0; c < gi->nci; c++)
            if (gi->ci[c].id == (int)cid)
                memcpy(gi->ci[c].uuid, uuid, strlen(uuid) + 1);
        gi->busy = gi->busy || has_processes(fn, mig);
    }
    return 0;
}

/* Reads GPU i into b->gpus[i]: identity, MIG mode, and with rebuild the model (profile
 * information is fixed for the life of a MIG mode, ref §7.9, so it is read at open and after
 * a mode change), then the instances when MIG mode is on. */
static int read_gpu(struct mk_backend *b, int i, bool rebuild, struct mk_error *err)
{
    struct nvml_gpu *ng = &priv(b)->gpus[i];
    const struct mk_nvml *fn = priv(b)->fn;
    struct mk_gpu *g = &b->gpus[i];
    unsigned int cur = 0, pend = 0;
    struct ident id;
    nvmlReturn_t rc;
    int r;
    /* The handle is fetched again every time: enabling MIG on Ampere resets the GPU, after
     * which NVML says attributes must be queried again (ref §6.3). */
    if ((rc = fn->nvmlDeviceGetHandleByIndex_v2((unsigned int)i, &ng->dev)) != NVML_SUCCESS)
        return fail(b, err, rc, "GPU %d: nvmlDeviceGetHandleByIndex_v2", i);
    if ((r = read_identity(b, i, &id, err)) < 0)
        return r;
    rc = fn->nvmlDeviceGetMigMode(ng->dev, &cur, &pend);
    if (rc != NVML_SUCCESS && rc != NVML_ERROR_NOT_SUPPORTED)
        return fail(b, err, rc, "GPU %d: nvmlDeviceGetMigMode", i);
    ng->mig_capable = rc == NVML_SUCCESS;
    if ((rebuild || !ng->model) &&
        (r = mk__nvml_model_build(fn, ng->dev, b->cat, id.name, id.pci_id, ng->mig_capable,
                                  &ng->model, err)) < 0)
        return r;
    mk_gpu_init(g, ng->model, i);
    memcpy(g->uuid, id.uuid, sizeof(g->uuid));
    memcpy(g->pci_bus_id, id.bus_id, sizeof(g->pci_bus_id));
    /* What the GPU really is, for configuration device filters, whatever model it maps to. */
    g->pci_device_id = id.pci_id;
    g->pci_subsystem_id = id.subsystem_id;
    g->mig_enabled = ng->mig_capable && cur == NVML_DEVICE_MIG_ENABLE;
    if (!g->mig_enabled)
        return 0;
    if ((r = read_gis(b, i, err)) < 0)
        return r;
    return read_mig_devices(b, i, err);
}

/* After an operation: the instances as the driver now has them. */
static int refresh(struct mk_backend *b, int gpu, struct mk_error *err)
{
    return read_gpu(b, gpu, false, err);
}

/* ---- open / close ---- */

static void nvml_close(struct mk_backend *b)
{
    struct nvml *n = priv(b);
    if (!n)
        return;
    n->fn->nvmlShutdown();
    mk__free(n->gpus);
    mk__free(n);
    b->priv = NULL;
}

static int nvml_open(struct mk_backend *b, const struct mk_backend_config *cfg,
                     struct mk_error *err)
{
    const struct mk_nvml *fn;
    struct nvml *n;
    unsigned int count = 0;
    nvmlReturn_t rc;
    int r;
    (void)cfg;
    if ((r = mk__nvml_load(&fn, err)) < 0)
        return r;
    if ((rc = fn->nvmlInit_v2()) != NVML_SUCCESS)
        return fail(b, err, rc, "Failed to initialize NVML");
    if ((rc = fn->nvmlDeviceGetCount_v2(&count)) != NVML_SUCCESS || count == 0 || count > 64) {
        fn->nvmlShutdown();
        if (rc != NVML_SUCCESS)
            return fail(b, err, rc, "nvmlDeviceGetCount_v2");
        /* 64 is the most GPUs migkit's listings hold (and far more than a server has). */
        return mk_error_set(err, -ENODEV, "NVML reports %u GPUs (expected 1 to 64)", count);
    }
    if (!(n = mk__calloc(1, sizeof(*n))) || !(n->gpus = mk__calloc(count, sizeof(*n->gpus))) ||
        !(b->gpus = mk__calloc(count, sizeof(*b->gpus)))) {
        fn->nvmlShutdown();
        if (n)
            mk__free(n->gpus);
        mk__free(n);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    n->fn = fn;
    b->priv = n;
    b->ngpus = (int)count;
    for (int i = 0; i < b->ngpus; i++)
        if ((r = read_gpu(b, i, true, err)) < 0)
            goto fail;
    return 0;
fail:
    nvml_close(b);
    mk__free(b->gpus);
    b->gpus = NULL;
    b->ngpus = 0;
    return r;
}

/* ---- operations ---- */

/*
 * MIG mode did not take effect: the driver set it pending (activationStatus, ref §6.3). Says
 * so as nvidia-smi does (shared/reference/nvidia-smi-mig-output.md §1) in the hint, with the
 * architecture's behaviour (mig-gpus §7), and returns the status as an error.
 */
static int pending(struct mk_backend *b, int gpu, bool enabled, nvmlReturn_t act,
                   struct mk_error *err)
{
    const struct mk_gpu *g = &b->gpus[gpu];
    const char *arch = g->model->arch;
    const char *bus = g->pci_bus_id, *what = enabled ? "enable" : "disable";
    const char *why = act == NVML_ERROR_IN_USE
                          ? "is currently being used by one or more other processes (e.g. "
                            "CUDA application or a monitoring application such as another "
                            "instance of nvidia-smi). Please first kill all processes using the "
                            "device and retry the command or reboot the system to make MIG "
                            "mode effective."
                          : "needs a reset: reboot the system or try nvidia-smi --gpu-reset to "
                            "make MIG mode effective.";
    const char *gen = !strcmp(arch, "Ampere")
                          ? "On Ampere the driver resets the GPU to change MIG mode."
                      : arch[0] ? "This GPU needs no reset to change MIG mode; a pending "
                                  "mode means the driver could not unbind it."
                                : "";
    mk__backend_hint(b, "Warning: MIG mode is in pending %s state for GPU %s:%s\n%s %s %s", what,
                     bus, mk__nvml_text(act), bus, why, gen);
    if (act == NVML_SUCCESS) /* pending with no reason given */
        return mk_error_set(err, -EAGAIN, "GPU %d: MIG mode is pending %s", gpu, what);
    return mk__nvml_error(err, act, "GPU %d: MIG mode is pending %s", gpu, what);
}

static int nvml_set_mig(struct mk_backend *b, int gpu, bool enabled, struct mk_error *err)
{
    unsigned int mode = enabled ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
    nvmlReturn_t act = NVML_SUCCESS, rc;
    int r;
    rc = priv(b)->fn->nvmlDeviceSetMigMode(priv(b)->gpus[gpu].dev, mode, &act);
    if (rc != NVML_SUCCESS)
        return fail(b, err, rc, "%s MIG mode on GPU %d", enabled ? "Enabling" : "Disabling", gpu);
    /* The mode, the profiles (fixed for the life of a mode) and the instances, afresh. */
    if ((r = read_gpu(b, gpu, true, err)) < 0)
        return r;
    if (act != NVML_SUCCESS || b->gpus[gpu].mig_enabled != enabled)
        return pending(b, gpu, enabled, act, err);
    return 0;
}

static int nvml_gi_create(struct mk_backend *b, int gpu, const struct mk_gi_profile *p, int start,
                          int *ret_id, struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    nvmlDevice_t dev = priv(b)->gpus[gpu].dev;
    nvmlGpuInstanceInfo_t info;
    nvmlGpuInstance_t h;
    nvmlReturn_t rc;
    int r;
    memset(&info, 0, sizeof(info));
    if (start >= 0) {
        nvmlGpuInstancePlacement_t pl = {(unsigned int)start, (unsigned int)p->mem_slices};
        rc = fn->nvmlDeviceCreateGpuInstanceWithPlacement(dev, (unsigned int)p->id, &pl, &h);
    } else {
        rc = fn->nvmlDeviceCreateGpuInstance(dev, (unsigned int)p->id, &h);
    }
    if (rc == NVML_SUCCESS)
        rc = fn->nvmlGpuInstanceGetInfo(h, &info);
    if (rc != NVML_SUCCESS)
        return fail(b, err, rc, "Creating a GPU instance of profile %d on GPU %d", p->id, gpu);
    if ((r = refresh(b, gpu, err)) < 0)
        return r;
    if (ret_id)
        *ret_id = (int)info.id;
    return 0;
}

/* The handle of GI gi_id on GPU gpu. */
static int find_gi(struct mk_backend *b, int gpu, int gi_id, nvmlGpuInstance_t *ret,
                   struct mk_error *err)
{
    nvmlReturn_t rc =
        priv(b)->fn->nvmlDeviceGetGpuInstanceById(priv(b)->gpus[gpu].dev, (unsigned int)gi_id, ret);
    return rc == NVML_SUCCESS ? 0 : fail(b, err, rc, "GPU %d GPU instance %d", gpu, gi_id);
}

static int nvml_gi_destroy(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err)
{
    nvmlGpuInstance_t h;
    nvmlReturn_t rc;
    int r;
    if ((r = find_gi(b, gpu, gi_id, &h, err)) < 0)
        return r;
    if ((rc = priv(b)->fn->nvmlGpuInstanceDestroy(h)) != NVML_SUCCESS)
        return fail(b, err, rc, "Destroying GPU instance %d on GPU %d", gi_id, gpu);
    return refresh(b, gpu, err);
}

static int nvml_ci_create(struct mk_backend *b, int gpu, int gi_id, int ci_profile_id, int *ret_id,
                          struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    nvmlComputeInstanceInfo_t info;
    nvmlComputeInstance_t ch;
    nvmlGpuInstance_t h;
    nvmlReturn_t rc;
    int r;
    memset(&info, 0, sizeof(info));
    if ((r = find_gi(b, gpu, gi_id, &h, err)) < 0)
        return r;
    rc = fn->nvmlGpuInstanceCreateComputeInstance(h, (unsigned int)ci_profile_id, &ch);
    if (rc == NVML_SUCCESS)
        rc = fn->nvmlComputeInstanceGetInfo_v2(ch, &info);
    if (rc != NVML_SUCCESS)
        return fail(b, err, rc,
                    "Creating a compute instance of profile %d in GPU %d GPU "
                    "instance %d",
                    ci_profile_id, gpu, gi_id);
    if ((r = refresh(b, gpu, err)) < 0)
        return r;
    if (ret_id)
        *ret_id = (int)info.id;
    return 0;
}

static int nvml_ci_destroy(struct mk_backend *b, int gpu, int gi_id, int ci_id,
                           struct mk_error *err)
{
    const struct mk_nvml *fn = priv(b)->fn;
    nvmlComputeInstance_t ch;
    nvmlGpuInstance_t h;
    nvmlReturn_t rc;
    int r;
    if ((r = find_gi(b, gpu, gi_id, &h, err)) < 0)
        return r;
    rc = fn->nvmlGpuInstanceGetComputeInstanceById(h, (unsigned int)ci_id, &ch);
    if (rc == NVML_SUCCESS)
        rc = fn->nvmlComputeInstanceDestroy(ch);
    if (rc != NVML_SUCCESS)
        return fail(b, err, rc, "Destroying compute instance %d of GPU %d GPU instance %d", ci_id,
                    gpu, gi_id);
    return refresh(b, gpu, err);
}

const struct mk_backend_ops mk__nvml_ops = {
    .name = "nvml",
    .open = nvml_open,
    .close = nvml_close,
    .set_mig = nvml_set_mig,
    .gi_create = nvml_gi_create,
    .gi_destroy = nvml_gi_destroy,
    .ci_create = nvml_ci_create,
    .ci_destroy = nvml_ci_destroy,
    .set_busy = NULL, /* busy is what NVML's process queries say */
    .commit = NULL,   /* each operation is effective at once */
};
