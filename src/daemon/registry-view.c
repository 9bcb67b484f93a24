/*
 * registry-view.c - the registry's read side: the JSON views the API serves, and the lease
 * server's operations (membership lookup through the parent chain, exact grant sums).
 *
 * Views are built under reg->lock from the in-memory state, so a response is one consistent
 * snapshot. Lease operations hold the lock only for the arithmetic; /proc is read outside it.
 */
#include <errno.h>
#include <string.h>

#include "proc.h"
#include "registry-internal.h"

static const char *kind_name(enum store_kind k)
{
    return k == STORE_KIND_PROFILE ? "profile" : "custom";
}

/* Adds key: value to o, consuming value; false when either allocation failed. */
static bool put(json_t *o, const char *key, json_t *value)
{
    return value && json_object_set_new(o, key, value) == 0;
}

static json_t *grants_json(const struct reg_instance *in)
{
    json_t *a = json_array();
    for (int i = 0; a && i < in->ngrants; i++)
        if (json_array_append_new(a, json_integer(in->grants[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *processes_json(struct registry *reg, const struct reg_instance *in)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < reg->nprocs; i++) {
        const struct store_process *p = &reg->procs[i];
        if (strcmp(p->instance, in->rec.uuid))
            continue;
        if (json_array_append_new(a, json_pack("{s:i, s:I, s:I}", "pid", (int)p->pid, "start_time",
                                               (json_int_t)p->start_time, "uid",
                                               (json_int_t)p->uid)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The profile fields of a profile instance: its name and ID, its GI ID and placement. */
static bool put_profile(json_t *o, const struct reg_gpu *g, const struct reg_instance *in)
{
    const struct mk_gi_profile *p = mk_model_profile_by_id(g->model, in->rec.profile_id);
    return put(o, "profile", json_string(p ? p->name : "")) &&
           put(o, "profile_id", json_integer(in->rec.profile_id)) &&
           put(o, "gi_id", json_integer(in->rec.gi_id)) &&
           put(o, "placement", json_integer(in->rec.placement)) &&
           put(o, "placement_size", json_integer(p ? p->mem_slices : 0));
}

json_t *reg_instance_json(struct registry *reg, const struct reg_instance *in)
{
    const struct reg_gpu *g = &reg->gpus[in->rec.gpu];
    uint64_t quota, leased = 0;
    json_t *o;
    lease_sums_info(reg->sums, in->rec.uuid, &quota, &leased);
    o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:i, s:I, s:I}", "uuid", in->rec.uuid, "name",
                  in->rec.name, "gpu", in->rec.gpu, "gpu_uuid", g->rec.uuid, "kind",
                  kind_name(in->rec.kind), "quota_bytes", (json_int_t)in->rec.quota_bytes, "sms",
                  in->rec.sms, "leased_bytes", (json_int_t)leased, "created_at",
                  (json_int_t)in->rec.created_at);
    if (!o)
        return NULL;
    if ((in->rec.kind == STORE_KIND_PROFILE && !put_profile(o, g, in)) ||
        !put(o, "grants", grants_json(in)) || !put(o, "processes", processes_json(reg, in))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One profile row of a GPU: what it is and how many more fit now (geometry and memory). */
static json_t *profile_json(const struct reg_gpu *g, const struct mk_gi_profile *p)
{
    uint64_t mem = (uint64_t)p->memory_mib * MIB;
    int free_n = mk_gpu_gi_remaining(&g->geo, p);
    json_t *starts = json_array();
    for (int i = 0; starts && i < p->nstarts; i++)
        json_array_append_new(starts, json_integer(p->starts[i]));
    /* Custom instances hold memory outside the placement grid: as many as fit in both. */
    if (mem > 0 && (uint64_t)free_n > (g->rec.memory_bytes - g->allocated) / mem)
        free_n = (int)((g->rec.memory_bytes - g->allocated) / mem);
    return json_pack("{s:i, s:s, s:I, s:i, s:i, s:o*, s:i}", "id", p->id, "name", p->name,
                     "memory_bytes", (json_int_t)mem, "sms", p->sms, "placement_size",
                     p->mem_slices, "placements", starts, "free", free_n);
}

static json_t *gpu_json(const struct reg_gpu *g)
{
    json_t *profiles = json_array();
    for (int i = 0; g->model && profiles && i < g->model->nprofiles; i++)
        if (json_array_append_new(profiles, profile_json(g, &g->model->profiles[i])) < 0) {
            json_decref(profiles);
            profiles = NULL;
        }
    if (!profiles)
        return NULL;
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:I, s:i, s:o}", "index", g->rec.idx,
                     "uuid", g->rec.uuid, "pci_bus_id", g->geo.pci_bus_id, "model", g->rec.model,
                     "name", g->rec.name, "memory_bytes", (json_int_t)g->rec.memory_bytes, "sms",
                     g->rec.sms, "allocated_bytes", (json_int_t)g->allocated, "free_bytes",
                     (json_int_t)(g->rec.memory_bytes - g->allocated), "instances", g->ninstances,
                     "profiles", profiles);
}

int registry_gpus_json(struct registry *reg, json_t **ret, struct mk_error *err)
{
    json_t *a = json_array();
    pthread_mutex_lock(&reg->lock);
    for (int i = 0; a && i < reg->ngpus; i++)
        if (json_array_append_new(a, gpu_json(&reg->gpus[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    pthread_mutex_unlock(&reg->lock);
    if (!a)
        return mk_error_set(err, -ENOMEM, "out of memory");
    *ret = a;
    return 0;
}

static bool visible(const struct reg_instance *in, uid_t uid)
{
    return uid == (uid_t)-1 || reg_instance_granted(in, uid);
}

int registry_instances_json(struct registry *reg, uid_t uid, json_t **ret, struct mk_error *err)
{
    json_t *a = json_array();
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; a && i < reg->ninst; i++) {
        if (!visible(reg->inst[i], uid))
            continue;
        if (json_array_append_new(a, reg_instance_json(reg, reg->inst[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    if (!a)
        return mk_error_set(err, -ENOMEM, "out of memory");
    *ret = a;
    return 0;
}

int registry_instance_json(struct registry *reg, const char *uuid, uid_t uid, json_t **ret,
                           struct mk_error *err)
{
    struct reg_instance *in;
    json_t *o = NULL;
    int r = 0;
    pthread_mutex_lock(&reg->lock);
    in = reg_find(reg, uuid);
    if (!in || !visible(in, uid))
        r = mk_error_set(err, -ENOENT, "no instance %s", uuid);
    else if (!(o = reg_instance_json(reg, in)))
        r = mk_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_unlock(&reg->lock);
    if (r == 0)
        *ret = o;
    return r;
}

static int event_json(void *ctx, const struct store_event *e)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:i, s:s, s:s?, s:s?}", "id", (json_int_t)e->id, "at",
                          (json_int_t)e->at, "uid", (json_int_t)e->uid, "pid", (int)e->pid,
                          "action", e->action, "subject", e->subject, "detail", e->detail);
    return json_array_append_new(ctx, o) < 0 ? -ENOMEM : 0;
}

int registry_events_json(struct registry *reg, int64_t since, int limit, uid_t uid, json_t **ret,
                         struct mk_error *err)
{
    json_t *a = json_array();
    int r;
    if (!a)
        return mk_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_lock(&reg->lock);
    r = store_events(reg->store, since, limit, uid, event_json, a, err);
    pthread_mutex_unlock(&reg->lock);
    if (r < 0) {
        json_decref(a);
        return r;
    }
    *ret = a;
    return 0;
}

size_t registry_process_count(struct registry *reg)
{
    size_t n;
    pthread_mutex_lock(&reg->lock);
    n = reg->nprocs;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

/* ---- lease operations ---- */

/* Finds the instance of pid: registered itself, else the nearest registered ancestor. /proc is
 * read without the lock; each level's lookup takes it briefly. Returns 0 with the instance's
 * UUID in uuid, -ENOENT when no ancestor is registered. */
static int membership(struct registry *reg, pid_t pid, char uuid[MK_UUID_LEN])
{
    for (int depth = 0; pid > 1 && depth < REGISTRY_MAX_DEPTH; depth++) {
        struct proc_info info;
        struct store_process *p;
        bool found = false;
        if (proc_info_read(reg->proc_root, pid, &info) < 0)
            return -ENOENT;
        pthread_mutex_lock(&reg->lock);
        if ((p = reg_find_process(reg, pid, info.start_time))) {
            memcpy(uuid, p->instance, MK_UUID_LEN);
            found = true;
        }
        pthread_mutex_unlock(&reg->lock);
        if (found)
            return 0;
        pid = info.ppid;
    }
    return -ENOENT;
}

/* A survivor of the restart said HELLO: it is no longer waited for. Matching the start time
 * keeps a recycled pid from counting for the process that had it. reg->lock held. */
static void survivor_back(struct registry *reg, pid_t pid)
{
    struct proc_info info;
    for (size_t i = 0; i < reg->nsurvivors; i++) {
        if (reg->survivors[i].pid != pid)
            continue;
        if (proc_info_read(reg->proc_root, pid, &info) == 0 &&
            info.start_time == reg->survivors[i].start_time)
            reg->survivors[i] = reg->survivors[--reg->nsurvivors];
        return;
    }
}

/*
 * The HELLO of pid: its instance's limits from the registry (under reg->lock), and held added
 * to the instance's lease total (under the sums' lock, taken inside: the lock order).
 */
int registry_lease_hello(struct registry *reg, pid_t pid, uid_t uid, uint64_t held,
                         struct registry_limits *ret)
{
    char uuid[MK_UUID_LEN];
    struct reg_instance *in;
    uint64_t ignored_free;
    int r;
    (void)uid; /* authorization happened when the process (or its ancestor) was registered */
    if ((r = membership(reg, pid, uuid)) < 0)
        return r;
    pthread_mutex_lock(&reg->lock);
    if (!(in = reg_find(reg, uuid)))
        r = -ENOENT; /* destroyed between the lookup and now */
    else if (held > 0 && lease_sums_grant(reg->sums, uuid, held, &ignored_free) < 0)
        r = -ENOSPC;
    else {
        const struct reg_gpu *g = &reg->gpus[in->rec.gpu];
        uint64_t quota;
        memset(ret, 0, sizeof(*ret));
        memcpy(ret->instance, in->rec.uuid, sizeof(ret->instance));
        memcpy(ret->name, in->rec.name, sizeof(ret->name));
        memcpy(ret->gpu_uuid, g->rec.uuid, sizeof(ret->gpu_uuid));
        ret->gpu = in->rec.gpu;
        ret->quota_bytes = in->rec.quota_bytes;
        ret->sms = in->rec.sms;
        lease_sums_info(reg->sums, uuid, &quota, &ret->leased_bytes);
        survivor_back(reg, pid);
    }
    pthread_mutex_unlock(&reg->lock);
    return r;
}

size_t registry_survivors_pending(struct registry *reg)
{
    size_t n;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->nsurvivors;) {
        const struct store_process *p = &reg->survivors[i];
        if (proc_alive(reg->proc_root, p->pid, p->start_time))
            i++;
        else
            reg->survivors[i] = reg->survivors[--reg->nsurvivors];
    }
    n = reg->nsurvivors;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

/* GRANT, RELEASE and INFO take only the sums' lock: never the registry's, which a commit may
 * hold for milliseconds. */
int registry_lease_grant(struct registry *reg, const char *instance, uint64_t bytes,
                         uint64_t *ret_free)
{
    return lease_sums_grant(reg->sums, instance, bytes, ret_free);
}

void registry_lease_release(struct registry *reg, const char *instance, uint64_t bytes)
{
    lease_sums_release(reg->sums, instance, bytes);
}

int registry_lease_info(struct registry *reg, const char *instance, uint64_t *ret_quota,
                        uint64_t *ret_granted)
{
    return lease_sums_info(reg->sums, instance, ret_quota, ret_granted);
}

/* ---- for the watchdog and /metrics ---- */

int registry_process_instance(struct registry *reg, pid_t pid, char ret_instance[MK_UUID_LEN],
                              int *ret_gpu)
{
    char uuid[MK_UUID_LEN];
    struct reg_instance *in;
    int r;
    if ((r = membership(reg, pid, uuid)) < 0)
        return r;
    pthread_mutex_lock(&reg->lock);
    if ((in = reg_find(reg, uuid))) {
        memcpy(ret_instance, uuid, MK_UUID_LEN);
        *ret_gpu = in->rec.gpu;
    }
    pthread_mutex_unlock(&reg->lock);
    return in ? 0 : -ENOENT; /* destroyed between the lookup and now */
}

int registry_gpu_count(struct registry *reg)
{
    return reg->ngpus; /* fixed after registry_open */
}

int registry_gpu_instances(struct registry *reg, int gpu)
{
    int n = 0;
    pthread_mutex_lock(&reg->lock);
    if (gpu >= 0 && gpu < reg->ngpus)
        n = reg->gpus[gpu].ninstances;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

void registry_foreach_instance(struct registry *reg,
                               void (*cb)(void *ctx, const struct registry_instance_stat *s),
                               void *ctx)
{
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->ninst; i++) {
        const struct reg_instance *in = reg->inst[i];
        struct registry_instance_stat s = {.uuid = in->rec.uuid,
                                           .name = in->rec.name,
                                           .gpu = in->rec.gpu,
                                           .quota_bytes = in->rec.quota_bytes};
        uint64_t quota;
        /* The grants live in the lease sums (lock order: registry, then sums). */
        lease_sums_info(reg->sums, in->rec.uuid, &quota, &s.leased_bytes);
        for (size_t k = 0; k < reg->nprocs; k++)
            s.processes += !strcmp(reg->procs[k].instance, in->rec.uuid);
        cb(ctx, &s);
    }
    pthread_mutex_unlock(&reg->lock);
}
