/*
 * registry.c - migd's state and rules (see registry.h): start-up restore and reconciliation,
 * and every change to instances, grants and process membership.
 *
 * The pattern of every change: under reg->lock, check the rules against the current state
 * and build the new state aside (a copy of the GPU's geometry, a new record); write it and
 * its event row in one store transaction; only after the commit, apply it in memory. So a
 * refused or failed change leaves memory and disk as they were, and nothing a client saw can
 * be lost by kill -9.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "migkit/uuid.h"
#include "proc.h"
#include "registry-internal.h"

/* Stored GPUs we compare against at start: the simulator builds at most 64. */
#define MAX_STORED_GPUS 64

/* Registered processes each registration checks for being alive (the sweep, prune_step).
 * More than one per added row, so the sweep outpaces the table's growth: with n rows, every
 * row is checked at least once every n/2 registrations, and a process that died is gone
 * from the table before the table can double. Two /proc reads keep a registration O(1). */
#define SWEEP_PER_ADD 2

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- lookups (reg->lock held) ---- */

struct reg_instance *reg_find(struct registry *reg, const char *uuid)
{
    for (size_t i = 0; i < reg->ninst; i++)
        if (!strcmp(reg->inst[i]->rec.uuid, uuid))
            return reg->inst[i];
    return NULL;
}

bool reg_instance_granted(const struct reg_instance *in, uid_t uid)
{
    for (int i = 0; i < in->ngrants; i++)
        if (in->grants[i] == uid)
            return true;
    return false;
}

/* ---- the store transaction around a change ---- */

/* Writes one event row; detail is printf-formatted (truncated at 512 bytes, which no detail
 * of ours reaches). */
static __attribute__((format(printf, 6, 7))) int event(struct registry *reg,
                                                       const struct registry_who *who,
                                                       const char *action, const char *subject,
                                                       struct mk_error *err, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    int64_t id;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    struct store_event e = {.at = now_s(),
                            .uid = who->uid,
                            .pid = who->pid,
                            .action = action,
                            .subject = subject,
                            .detail = detail};
    id = store_event_add(reg->store, &e, err);
    return id < 0 ? (int)id : 0;
}

/* Commits, or rolls back when r (the result of the writes) or the commit failed. */
static int finish(struct registry *reg, int r, struct mk_error *err)
{
    if (r == 0)
        r = store_commit(reg->store, err);
    if (r < 0)
        store_rollback(reg->store);
    return r;
}

/* ---- instance bookkeeping in memory (after the commit) ---- */

static int grow_instances(struct registry *reg)
{
    if (reg->ninst < reg->cap_inst)
        return 0;
    size_t cap = reg->cap_inst ? reg->cap_inst * 2 : 16;
    struct reg_instance **n = mk__realloc(reg->inst, cap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    reg->inst = n;
    reg->cap_inst = cap;
    return 0;
}

/* Adds in (owned by the registry from now on) to its GPU's totals and the list. The list has
 * room: callers reserve it with grow_instances() before they commit. */
static void attach_instance(struct registry *reg, struct reg_instance *in)
{
    struct reg_gpu *g = &reg->gpus[in->rec.gpu];
    g->allocated += in->rec.quota_bytes;
    g->ninstances++;
    reg->inst[reg->ninst++] = in;
}

static void detach_instance(struct registry *reg, struct reg_instance *in)
{
    struct reg_gpu *g = &reg->gpus[in->rec.gpu];
    size_t i = 0, k = 0;
    g->allocated -= in->rec.quota_bytes;
    g->ninstances--;
    for (; i < reg->ninst; i++)
        if (reg->inst[i] != in)
            reg->inst[k++] = reg->inst[i];
    reg->ninst = k;
    for (i = k = 0; i < reg->nprocs; i++) /* its processes went with it (ON DELETE CASCADE) */
        if (strcmp(reg->procs[i].instance, in->rec.uuid))
            reg->procs[k++] = reg->procs[i];
    reg->nprocs = k;
    reg_procs_reindex(reg);
    mk__free(in);
}

/* Writes the removal of a registered process found dead, and its event (no commit). */
static int gone_write(struct registry *reg, const struct registry_who *who,
                      const struct store_process *p, struct mk_error *err)
{
    int r = store_process_delete(reg->store, p->pid, p->start_time, err);
    if (r == 0)
        r = event(reg, who, "process.gone", p->instance, err,
                  "pid %d (start %" PRIu64 ", uid %u) exited", (int)p->pid, p->start_time,
                  (unsigned)p->uid);
    return r;
}

/* Removes registered processes that have exited, from the store and memory, each with an
 * event: those of instance uuid, or all when uuid is NULL. Called where "in use" must be
 * exact (destroy: that instance's only) and at start-up (all). It reads /proc once per
 * process it looks at. Errors from the store leave the rows for next time. */
static void prune_dead(struct registry *reg, const struct registry_who *who, const char *uuid)
{
    for (size_t i = 0; i < reg->nprocs;) {
        struct store_process *p = &reg->procs[i];
        struct mk_error err = {0};
        int r;
        if ((uuid && strcmp(p->instance, uuid)) ||
            proc_alive(reg->proc_root, p->pid, p->start_time)) {
            i++;
            continue;
        }
        if ((r = store_begin(reg->store, &err)) == 0)
            r = finish(reg, gone_write(reg, who, p, &err), &err);
        if (r < 0) {
            i++;
            continue;
        }
        reg_procs_remove_at(reg, i);
    }
}

/*
 * One step of the sweep that keeps the process table free of the dead without a scan per
 * registration: looks at the next SWEEP_PER_ADD rows after reg->sweep_next (wrapping) and
 * writes the positions of those that exited to dead[], in descending order, so that removing
 * them one after the other (each removal moves the last row) leaves the others in place.
 * Returns how many. The caller writes their removal in its own transaction.
 */
static size_t prune_step(struct registry *reg, size_t dead[SWEEP_PER_ADD])
{
    size_t n = 0, look = reg->nprocs < SWEEP_PER_ADD ? reg->nprocs : SWEEP_PER_ADD;
    for (size_t k = 0; k < look; k++) {
        size_t i = reg->sweep_next % reg->nprocs;
        const struct store_process *p = &reg->procs[i];
        reg->sweep_next = i + 1;
        if (!proc_alive(reg->proc_root, p->pid, p->start_time))
            dead[n++] = i;
    }
    /* at most two, and distinct (look <= nprocs): order them high to low */
    _Static_assert(SWEEP_PER_ADD == 2, "prune_step orders two positions");
    if (n == 2 && dead[0] < dead[1]) {
        size_t t = dead[0];
        dead[0] = dead[1];
        dead[1] = t;
    }
    return n;
}

static size_t live_processes(struct registry *reg, const char *uuid)
{
    size_t n = 0;
    for (size_t i = 0; i < reg->nprocs; i++)
        n += !strcmp(reg->procs[i].instance, uuid);
    return n;
}

/* ---- create ---- */

/* Human-readable byte counts in messages: "10.0 GiB (10737418240 bytes)". */
static const char *fmt_bytes(char *buf, size_t len, uint64_t b)
{
    snprintf(buf, len, "%.1f GiB (%" PRIu64 " bytes)", (double)b / (double)(1024 * MIB), b);
    return buf;
}

static int check_memory(const struct reg_gpu *g, uint64_t add, struct mk_error *err)
{
    char a[64], f[64];
    uint64_t free_b = g->rec.memory_bytes - g->allocated;
    if (add > free_b)
        return mk_error_set(err, -ENOSPC, "GPU %d has %s free; the instance needs %s", g->rec.idx,
                            fmt_bytes(f, sizeof(f), free_b), fmt_bytes(a, sizeof(a), add));
    return 0;
}

/* Fills in for a profile instance: the GI the driver would create, on a copy of the GPU's
 * geometry (*geo), so the live one changes only after the commit. */
static int plan_profile(struct reg_gpu *g, struct registry_create *req, struct reg_instance *in,
                        struct mk_gpu *geo, struct mk_error *err)
{
    const struct mk_gi_profile *p;
    const struct mk_gi *gi;
    int r, gi_id;
    req->bad_field = "profile";
    if (!g->model)
        return mk_error_set(err, -EINVAL, "GPU %d is not a catalog model: it has no profiles",
                            g->rec.idx);
    if (req->profile_name) {
        if (!(p = mk_model_profile_by_name(g->model, req->profile_name)))
            return mk_error_set(err, -EINVAL, "%s has no GPU instance profile \"%s\"",
                                g->model->name, req->profile_name);
    } else if (!(p = mk_model_profile_by_id(g->model, req->profile_id))) {
        return mk_error_set(err, -EINVAL, "%s has no GPU instance profile %d", g->model->name,
                            req->profile_id);
    }
    *geo = g->geo;
    req->bad_field = NULL;
    if ((r = mk_gpu_gi_create(geo, p, req->placement, &gi_id)) < 0) {
        req->bad_field = r == -EINVAL ? "placement" : NULL;
        if (r == -EINVAL)
            return mk_error_set(err, r, "%d is not a placement of profile %s (ID %d)",
                                req->placement, p->name, p->id);
        return mk_error_set(err, r, "no room for a %s instance on GPU %d%s", p->name, g->rec.idx,
                            req->placement >= 0 ? " at that placement" : "");
    }
    gi = mk_gpu_gi_find_const(geo, gi_id);
    in->rec.kind = STORE_KIND_PROFILE;
    in->rec.profile_id = p->id;
    in->rec.gi_id = gi_id;
    in->rec.placement = gi->start;
    in->rec.quota_bytes = (uint64_t)p->memory_mib * MIB;
    in->rec.sms = p->sms;
    snprintf(in->rec.name, sizeof(in->rec.name), "%s MIG %s", g->rec.name, p->name);
    return check_memory(g, in->rec.quota_bytes, err);
}

static int plan_custom(struct reg_gpu *g, struct registry_create *req, struct reg_instance *in,
                       struct mk_error *err)
{
    req->bad_field = "memory_bytes";
    if (req->quota_bytes < REGISTRY_MIN_QUOTA)
        return mk_error_set(err, -EINVAL, "memory_bytes must be at least %" PRIu64 " (64 MiB)",
                            REGISTRY_MIN_QUOTA);
    req->bad_field = "sms";
    if (req->sms < 1 || req->sms > g->rec.sms)
        return mk_error_set(err, -EINVAL, "sms must be between 1 and %d (GPU %d's SMs)", g->rec.sms,
                            g->rec.idx);
    req->bad_field = NULL;
    in->rec.kind = STORE_KIND_CUSTOM;
    in->rec.profile_id = in->rec.gi_id = in->rec.placement = -1;
    in->rec.quota_bytes = req->quota_bytes;
    in->rec.sms = req->sms;
    snprintf(in->rec.name, sizeof(in->rec.name), "%s MIG custom", g->rec.name);
    return check_memory(g, in->rec.quota_bytes, err);
}

static int persist_create(struct registry *reg, const struct registry_who *who,
                          const struct reg_instance *in, struct mk_error *err)
{
    int r = store_begin(reg->store, err);
    if (r < 0)
        return r;
    r = store_instance_insert(reg->store, &in->rec, err);
    if (r == 0)
        r = event(reg, who, "instance.create", in->rec.uuid, err,
                  "gpu=%d kind=%s profile_id=%d placement=%d quota_bytes=%" PRIu64 " sms=%d",
                  in->rec.gpu, in->rec.kind == STORE_KIND_PROFILE ? "profile" : "custom",
                  in->rec.profile_id, in->rec.placement, in->rec.quota_bytes, in->rec.sms);
    return finish(reg, r, err);
}

static int create_locked(struct registry *reg, const struct registry_who *who,
                         struct registry_create *req, json_t **ret_json, struct mk_error *err)
{
    struct reg_instance *in;
    struct mk_gpu *geo = NULL;
    struct reg_gpu *g;
    int r;
    req->bad_field = "gpu";
    if (req->gpu < 0 || req->gpu >= reg->ngpus)
        return mk_error_set(err, -ENOENT, "no GPU %d (this node has %d)", req->gpu, reg->ngpus);
    g = &reg->gpus[req->gpu];
    req->bad_field = NULL;
    if (g->ninstances >= REGISTRY_MAX_INSTANCES_PER_GPU)
        return mk_error_set(err, -ENOSPC, "GPU %d already has %d instances, the most migd keeps",
                            g->rec.idx, g->ninstances);
    if (!(in = mk__calloc(1, sizeof(*in))) ||
        (req->kind == STORE_KIND_PROFILE && !(geo = mk__malloc(sizeof(*geo)))) ||
        grow_instances(reg) < 0) {
        r = mk_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    in->rec.gpu = g->rec.idx;
    in->rec.created_at = now_s();
    r = req->kind == STORE_KIND_PROFILE ? plan_profile(g, req, in, geo, err)
                                        : plan_custom(g, req, in, err);
    if (r == 0 && (r = mk_uuid_generate("MIG-", in->rec.uuid, sizeof(in->rec.uuid))) < 0)
        mk_error_set(err, r, "cannot generate a UUID: %s", strerror(-r));
    /* The lease entry exists before the commit (so nothing can fail after it), with quota 0
     * until the instance is visible: no process can be in it yet anyway. */
    if (r == 0 && (r = lease_sums_add(reg->sums, in->rec.uuid, 0)) < 0)
        mk_error_set(err, r, "cannot add the instance's lease total: %s", strerror(-r));
    else if (r == 0 && (r = persist_create(reg, who, in, err)) < 0)
        lease_sums_remove(reg->sums, in->rec.uuid);
    if (r < 0)
        goto out;
    lease_sums_set_quota(reg->sums, in->rec.uuid, in->rec.quota_bytes, NULL);
    if (geo)
        g->geo = *geo;
    attach_instance(reg, in);
    if (ret_json)
        *ret_json = reg_instance_json(reg, in);
    in = NULL;
out:
    mk__free(in);
    mk__free(geo);
    return r;
}

int registry_instance_create(struct registry *reg, const struct registry_who *who,
                             struct registry_create *req, json_t **ret_json, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = create_locked(reg, who, req, ret_json, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* ---- destroy and resize ---- */

/* -EBUSY when the instance has leases or live processes: the hardware's rule for a GI with
 * processes on it ("In use by another client"). */
/*
 * Refuses to destroy an instance in use, and freezes an unused one: its lease quota drops to
 * 0 in the same critical section of the sums' lock that saw nothing granted, so no GRANT can
 * slip in between this check and the commit (grants take only that lock, not reg->lock). The
 * caller restores the quota if the destroy then fails.
 */
static int check_unused(struct registry *reg, const struct registry_who *who,
                        const struct reg_instance *in, struct mk_error *err)
{
    char b[64];
    uint64_t granted = 0;
    size_t n;
    prune_dead(reg, who, in->rec.uuid);
    if ((n = live_processes(reg, in->rec.uuid)) > 0)
        return mk_error_set(err, -EBUSY, "instance %s is in use by %zu registered process%s",
                            in->rec.uuid, n, n == 1 ? "" : "es");
    if (lease_sums_set_quota(reg->sums, in->rec.uuid, 0, &granted) < 0)
        return mk_error_set(err, -EBUSY, "instance %s is in use: its processes hold %s",
                            in->rec.uuid, fmt_bytes(b, sizeof(b), granted));
    return 0;
}

static int destroy_locked(struct registry *reg, const struct registry_who *who, const char *uuid,
                          struct mk_error *err)
{
    struct reg_instance *in = reg_find(reg, uuid);
    struct reg_gpu *g;
    struct mk_gpu *geo = NULL;
    int r;
    if (!in)
        return mk_error_set(err, -ENOENT, "no instance %s", uuid);
    if ((r = check_unused(reg, who, in, err)) < 0)
        return r;
    g = &reg->gpus[in->rec.gpu];
    if (in->rec.kind == STORE_KIND_PROFILE) {
        if (!(geo = mk__malloc(sizeof(*geo))))
            r = mk_error_set(err, -ENOMEM, "out of memory");
        else
            *geo = g->geo;
        if (r == 0 && (r = mk_gpu_gi_destroy(geo, in->rec.gi_id)) < 0)
            mk_error_set(err, r, "GPU instance %d of %s: %s", in->rec.gi_id, uuid,
                         mk_status_text(r));
    }
    if (r == 0 && (r = store_begin(reg->store, err)) == 0) {
        r = store_instance_delete(reg->store, uuid, err);
        if (r == 0)
            r = event(reg, who, "instance.destroy", uuid, err, "gpu=%d name=%s", in->rec.gpu,
                      in->rec.name);
        r = finish(reg, r, err);
    }
    if (r == 0) {
        if (geo)
            g->geo = *geo;
        lease_sums_remove(reg->sums, uuid);
        detach_instance(reg, in);
    } else {
        /* Unfreeze: nothing was granted while the quota was 0, so this cannot fail. */
        lease_sums_set_quota(reg->sums, uuid, in->rec.quota_bytes, NULL);
    }
    mk__free(geo);
    return r;
}

int registry_instance_destroy(struct registry *reg, const struct registry_who *who,
                              const char *uuid, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = destroy_locked(reg, who, uuid, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/*
 * Growing needs free GPU memory; shrinking below what the processes hold now is refused with
 * both numbers. A profile instance keeps its placement and name: its quota is then no longer
 * the profile's memory, which the JSON view shows (quota_bytes vs the profile).
 *
 * Running processes see the new quota at once: grants are checked against the lease sums'
 * quota. A shrink lowers it before the commit, in the critical section that checks what is
 * granted (so no grant can slip in between the check and the change), and raises it back if
 * the commit fails; a growth raises it after the commit. During the commit, grants are thus
 * checked against the smaller of the two quotas: never against one the store does not hold.
 */
static int resize_locked(struct registry *reg, const struct registry_who *who, const char *uuid,
                         uint64_t quota, json_t **ret_json, struct mk_error *err)
{
    struct reg_instance *in = reg_find(reg, uuid);
    char a[64], b[64];
    uint64_t granted = 0, old;
    int r;
    if (!in)
        return mk_error_set(err, -ENOENT, "no instance %s", uuid);
    old = in->rec.quota_bytes;
    if (quota < REGISTRY_MIN_QUOTA)
        return mk_error_set(err, -EINVAL, "quota_bytes must be at least %" PRIu64 " (64 MiB)",
                            REGISTRY_MIN_QUOTA);
    if (quota > old && (r = check_memory(&reg->gpus[in->rec.gpu], quota - old, err)) < 0)
        return r;
    if (quota < old && lease_sums_set_quota(reg->sums, uuid, quota, &granted) < 0)
        return mk_error_set(err, -EBUSY, "cannot shrink %s to %s: its processes hold %s now", uuid,
                            fmt_bytes(a, sizeof(a), quota), fmt_bytes(b, sizeof(b), granted));
    if ((r = store_begin(reg->store, err)) == 0) {
        r = store_instance_set_quota(reg->store, uuid, quota, err);
        if (r == 0)
            r = event(reg, who, "instance.resize", uuid, err,
                      "quota_bytes=%" PRIu64 " (was %" PRIu64 ")", quota, old);
        r = finish(reg, r, err);
    }
    /* Raising a lease quota never fails: what is granted fits under the lower one. */
    if (r < 0) {
        if (quota < old)
            lease_sums_set_quota(reg->sums, uuid, old, NULL);
        return r;
    }
    if (quota > old)
        lease_sums_set_quota(reg->sums, uuid, quota, NULL);
    reg->gpus[in->rec.gpu].allocated += quota;
    reg->gpus[in->rec.gpu].allocated -= in->rec.quota_bytes;
    in->rec.quota_bytes = quota;
    if (ret_json)
        *ret_json = reg_instance_json(reg, in);
    return 0;
}

int registry_instance_resize(struct registry *reg, const struct registry_who *who, const char *uuid,
                             uint64_t quota_bytes, json_t **ret_json, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = resize_locked(reg, who, uuid, quota_bytes, ret_json, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* ---- grants ---- */

static void grant_insert_sorted(struct reg_instance *in, uid_t uid)
{
    int i = in->ngrants++;
    for (; i > 0 && in->grants[i - 1] > uid; i--)
        in->grants[i] = in->grants[i - 1];
    in->grants[i] = uid;
}

static void grant_remove(struct reg_instance *in, uid_t uid)
{
    int k = 0;
    for (int i = 0; i < in->ngrants; i++)
        if (in->grants[i] != uid)
            in->grants[k++] = in->grants[i];
    in->ngrants = k;
}

static int grant_locked(struct registry *reg, const struct registry_who *who, const char *uuid,
                        uid_t uid, bool add, struct mk_error *err)
{
    struct reg_instance *in = reg_find(reg, uuid);
    bool have;
    int r;
    if (!in)
        return mk_error_set(err, -ENOENT, "no instance %s", uuid);
    have = reg_instance_granted(in, uid);
    if (add && have)
        return 0;
    if (!add && !have)
        return mk_error_set(err, -ENOENT, "uid %u has no grant on %s", (unsigned)uid, uuid);
    if (add && in->ngrants >= REGISTRY_MAX_GRANTS)
        return mk_error_set(err, -ENOSPC,
                            "instance %s has %d grants, the most it keeps; grant "
                            "a group instead",
                            uuid, in->ngrants);
    if ((r = store_begin(reg->store, err)) < 0)
        return r;
    r = add ? store_grant_insert(reg->store, uuid, uid, err)
            : store_grant_delete(reg->store, uuid, uid, err);
    if (r == 0)
        r = event(reg, who, add ? "grant.add" : "grant.remove", uuid, err, "uid=%u", (unsigned)uid);
    if ((r = finish(reg, r, err)) < 0)
        return r;
    if (add)
        grant_insert_sorted(in, uid);
    else
        grant_remove(in, uid);
    return 0;
}

int registry_grant_add(struct registry *reg, const struct registry_who *who, const char *uuid,
                       uid_t uid, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = grant_locked(reg, who, uuid, uid, true, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

int registry_grant_remove(struct registry *reg, const struct registry_who *who, const char *uuid,
                          uid_t uid, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = grant_locked(reg, who, uuid, uid, false, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

bool registry_granted(struct registry *reg, const char *uuid, uid_t uid)
{
    struct reg_instance *in;
    bool r;
    pthread_mutex_lock(&reg->lock);
    in = reg_find(reg, uuid);
    r = in && reg_instance_granted(in, uid);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* ---- process membership ---- */

static json_t *process_json(const struct store_process *p)
{
    return json_pack("{s:i, s:I, s:I, s:s}", "pid", (int)p->pid, "start_time",
                     (json_int_t)p->start_time, "uid", (json_int_t)p->uid, "instance", p->instance);
}

/*
 * Registers pid. Its cost does not grow with the number registered: the lookup is the
 * index's, and instead of checking every registered process for being alive it takes one
 * step of the sweep (prune_step): the dead it finds are removed in the same transaction as
 * the new row, so the registration still costs one commit, and the answer comes after it.
 */
static int process_add_locked(struct registry *reg, const struct registry_who *who,
                              const char *uuid, pid_t pid, uid_t require_uid, json_t **ret_json,
                              struct mk_error *err)
{
    struct store_process p = {.pid = pid};
    struct store_process *have;
    struct proc_info info;
    size_t dead[SWEEP_PER_ADD], ndead;
    int r = 0;
    if (!reg_find(reg, uuid))
        return mk_error_set(err, -ENOENT, "no instance %s", uuid);
    if ((r = proc_info_read(reg->proc_root, pid, &info)) < 0)
        return mk_error_set(err, r == -ESRCH ? -ESRCH : r, "no process %d", (int)pid);
    if (require_uid != (uid_t)-1 && info.euid != require_uid)
        return mk_error_set(err, -EPERM, "process %d runs as uid %u, not as the caller (uid %u)",
                            (int)pid, (unsigned)info.euid, (unsigned)require_uid);
    p.start_time = info.start_time;
    p.uid = info.euid;
    snprintf(p.instance, sizeof(p.instance), "%s", uuid);
    if ((have = reg_find_process(reg, pid, info.start_time))) {
        if (strcmp(have->instance, uuid))
            return mk_error_set(err, -EEXIST, "process %d is already in instance %s", (int)pid,
                                have->instance);
        if (ret_json)
            *ret_json = process_json(have);
        return 1;
    }
    if (reg_procs_reserve(reg) < 0)
        return mk_error_set(err, -ENOMEM, "out of memory");
    ndead = prune_step(reg, dead);
    if ((r = store_begin(reg->store, err)) < 0)
        return r;
    for (size_t k = 0; k < ndead && r == 0; k++)
        r = gone_write(reg, who, &reg->procs[dead[k]], err);
    if (r == 0)
        r = store_process_insert(reg->store, &p, err);
    if (r == 0)
        r = event(reg, who, "process.add", uuid, err, "pid %d (start %" PRIu64 ", uid %u)",
                  (int)pid, p.start_time, (unsigned)p.uid);
    if ((r = finish(reg, r, err)) < 0)
        return r;
    for (size_t k = 0; k < ndead; k++)
        reg_procs_remove_at(reg, dead[k]);
    reg_procs_add(reg, &p);
    if (ret_json)
        *ret_json = process_json(&p);
    return 0;
}

int registry_process_add(struct registry *reg, const struct registry_who *who, const char *uuid,
                         pid_t pid, uid_t require_uid, json_t **ret_json, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = process_add_locked(reg, who, uuid, pid, require_uid, ret_json, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

static int process_remove_locked(struct registry *reg, const struct registry_who *who,
                                 const char *uuid, pid_t pid, uid_t require_uid,
                                 struct mk_error *err)
{
    size_t i;
    int r;
    if (!reg_find(reg, uuid))
        return mk_error_set(err, -ENOENT, "no instance %s", uuid);
    for (i = 0; i < reg->nprocs; i++)
        if (reg->procs[i].pid == pid && !strcmp(reg->procs[i].instance, uuid))
            break;
    if (i == reg->nprocs)
        return mk_error_set(err, -ENOENT, "process %d is not registered in %s", (int)pid, uuid);
    if (require_uid != (uid_t)-1 && reg->procs[i].uid != require_uid)
        return mk_error_set(err, -EPERM, "process %d runs as uid %u, not as the caller (uid %u)",
                            (int)pid, (unsigned)reg->procs[i].uid, (unsigned)require_uid);
    if ((r = store_begin(reg->store, err)) < 0)
        return r;
    r = store_process_delete(reg->store, pid, reg->procs[i].start_time, err);
    if (r == 0)
        r = event(reg, who, "process.remove", uuid, err, "pid %d", (int)pid);
    if ((r = finish(reg, r, err)) < 0)
        return r;
    reg_procs_remove_at(reg, i);
    return 0;
}

int registry_process_remove(struct registry *reg, const struct registry_who *who, const char *uuid,
                            pid_t pid, uid_t require_uid, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = process_remove_locked(reg, who, uuid, pid, require_uid, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* ---- events without a change ---- */

int registry_event(struct registry *reg, const struct registry_who *who, const char *action,
                   const char *subject, const char *detail, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    if ((r = store_begin(reg->store, err)) == 0)
        r = finish(reg, event(reg, who, action, subject, err, "%s", detail), err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* ---- start-up: restore and reconcile ---- */

struct restore {
    struct registry *reg;
    int nstored;                                     /* GPU rows seen */
    char stored_model[MAX_STORED_GPUS][MK_NAME_LEN]; /* model of each stored GPU index */
    bool seen[MAX_STORED_GPUS];
};

static int restore_gpu(void *ctx, const struct store_gpu *sg, struct mk_error *err)
{
    struct restore *rs = ctx;
    struct registry *reg = rs->reg;
    (void)err;
    if (sg->idx >= MAX_STORED_GPUS)
        return 0; /* never written by this migd; instances on it are refused below */
    rs->seen[sg->idx] = true;
    snprintf(rs->stored_model[sg->idx], MK_NAME_LEN, "%s", sg->model);
    /* The same model at the same index is the same GPU: it keeps its UUID (unless the
     * driver gave it one: then the driver's wins). */
    if (sg->idx < reg->ngpus && !strcmp(sg->model, reg->gpus[sg->idx].rec.model) &&
        !reg->gpus[sg->idx].rec.uuid[0])
        snprintf(reg->gpus[sg->idx].rec.uuid, MK_UUID_LEN, "%s", sg->uuid);
    return 0;
}

/* Rebuilds a stored profile instance on its GPU's geometry: the GI must land on its stored
 * placement with its stored ID, or the database does not describe a state the rules allow. */
static int restore_profile(struct reg_gpu *g, const struct store_instance *si, struct mk_error *err)
{
    const struct mk_gi_profile *p = mk_model_profile_by_id(g->model, si->profile_id);
    int id, r;
    if (!p)
        return mk_error_set(err, -EBADMSG, "instance %s: %s has no profile %d", si->uuid,
                            g->model->name, si->profile_id);
    if ((r = mk_gpu_gi_create(&g->geo, p, si->placement, &id)) < 0 || id != si->gi_id)
        return mk_error_set(err, -EBADMSG,
                            "instance %s: profile %s at placement %d does not "
                            "fit GPU %d beside the other instances",
                            si->uuid, p->name, si->placement, g->rec.idx);
    return 0;
}

static int restore_instance(void *ctx, const struct store_instance *si, struct mk_error *err)
{
    struct restore *rs = ctx;
    struct registry *reg = rs->reg;
    struct reg_instance *in;
    struct reg_gpu *g;
    int r;
    if (si->gpu >= reg->ngpus || strcmp(rs->stored_model[si->gpu], reg->gpus[si->gpu].rec.model))
        return mk_error_set(
            err, -EBADMSG,
            "instance %s is on GPU %d, which was %s and is now %s: start migd "
            "with the GPUs it had (or move the state directory away)",
            si->uuid, si->gpu,
            si->gpu < MAX_STORED_GPUS && rs->seen[si->gpu] ? rs->stored_model[si->gpu] : "unknown",
            si->gpu < reg->ngpus ? reg->gpus[si->gpu].rec.model : "absent");
    g = &reg->gpus[si->gpu];
    if (!mk_uuid_valid("MIG-", si->uuid) || si->quota_bytes > g->rec.memory_bytes - g->allocated ||
        si->sms < 1 || si->sms > g->rec.sms || g->ninstances >= REGISTRY_MAX_INSTANCES_PER_GPU)
        return mk_error_set(err, -EBADMSG,
                            "instance %s: invalid UUID, quota or SM count, or "
                            "more than GPU %d holds",
                            si->uuid, si->gpu);
    if (si->kind == STORE_KIND_PROFILE) {
        if (!g->model)
            return mk_error_set(err, -EBADMSG, "instance %s: GPU %d has no profiles", si->uuid,
                                si->gpu);
        if ((r = restore_profile(g, si, err)) < 0)
            return r;
    }
    if (!(in = mk__calloc(1, sizeof(*in))) || grow_instances(reg) < 0 ||
        lease_sums_add(reg->sums, si->uuid, si->quota_bytes) < 0) {
        mk__free(in);
        return mk_error_set(err, -ENOMEM, "out of memory restoring instances");
    }
    in->rec = *si;
    attach_instance(reg, in);
    return 0;
}

static int restore_grant(void *ctx, const char *uuid, uid_t uid, struct mk_error *err)
{
    struct restore *rs = ctx;
    struct reg_instance *in = reg_find(rs->reg, uuid);
    if (!in || in->ngrants >= REGISTRY_MAX_GRANTS)
        return mk_error_set(err, -EBADMSG,
                            "grant of uid %u on %s: no such instance, or too "
                            "many grants",
                            (unsigned)uid, uuid);
    grant_insert_sorted(in, uid);
    return 0;
}

static int restore_process(void *ctx, const struct store_process *p, struct mk_error *err)
{
    struct restore *rs = ctx;
    if (!reg_find(rs->reg, p->instance))
        return mk_error_set(err, -EBADMSG, "process %d is in %s, which does not exist", (int)p->pid,
                            p->instance);
    if (reg_procs_reserve(rs->reg) < 0)
        return mk_error_set(err, -ENOMEM, "out of memory restoring processes");
    reg_procs_add(rs->reg, p);
    return 0;
}

/* Builds reg->gpus from the configured models (UUIDs come from the store or are new). */
static int init_gpus(struct registry *reg, const struct registry_config *cfg, struct mk_error *err)
{
    if (cfg->nmodels <= 0 || cfg->nmodels > MAX_STORED_GPUS)
        return mk_error_set(err, -EINVAL, "between 1 and %d GPUs, not %d", MAX_STORED_GPUS,
                            cfg->nmodels);
    if (!(reg->gpus = mk__calloc((size_t)cfg->nmodels, sizeof(*reg->gpus))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    reg->ngpus = cfg->nmodels;
    for (int i = 0; i < reg->ngpus; i++) {
        struct reg_gpu *g = &reg->gpus[i];
        const struct mk_model *m = cfg->models[i];
        g->model = m;
        g->rec.idx = i;
        snprintf(g->rec.model, sizeof(g->rec.model), "%s", m->slug);
        snprintf(g->rec.name, sizeof(g->rec.name), "%s", m->name);
        g->rec.memory_bytes = (uint64_t)m->memory_mib * MIB;
        g->rec.sms = m->sm_total;
        if (cfg->uuids && cfg->uuids[i])
            snprintf(g->rec.uuid, sizeof(g->rec.uuid), "%s", cfg->uuids[i]);
        mk_gpu_init(&g->geo, m, i);
        if (cfg->pci_bus_ids && cfg->pci_bus_ids[i]) /* not stored: read afresh at each start */
            snprintf(g->geo.pci_bus_id, sizeof(g->geo.pci_bus_id), "%s", cfg->pci_bus_ids[i]);
        g->geo.mig_enabled = true; /* soft instances need no mode switch */
    }
    return 0;
}

/* Writes every GPU row (new ones get fresh UUIDs; a GPU whose model changed at its index
 * is replaced: restore_instance() refused that where instances live) and the start event,
 * in one transaction. */
static int record_start(struct registry *reg, struct mk_error *err)
{
    const struct registry_who who = {0, 0};
    int r = store_begin(reg->store, err);
    if (r < 0)
        return r;
    for (int i = 0; i < reg->ngpus && r == 0; i++) {
        struct reg_gpu *g = &reg->gpus[i];
        if (!g->rec.uuid[0] && (r = mk_uuid_generate("GPU-", g->rec.uuid, MK_UUID_LEN)) < 0)
            mk_error_set(err, r, "cannot generate a UUID: %s", strerror(-r));
        if (r == 0)
            r = store_gpu_put(reg->store, &g->rec, err);
        snprintf(g->geo.uuid, sizeof(g->geo.uuid), "%s", g->rec.uuid);
    }
    if (r == 0)
        r = event(reg, &who, "daemon.start", NULL, err, "gpus=%d instances=%zu processes=%zu",
                  reg->ngpus, reg->ninst, reg->nprocs);
    return finish(reg, r, err);
}

int registry_open(const struct registry_config *cfg, struct registry **ret, struct mk_error *err)
{
    static const struct store_load_ops ops = {restore_gpu, restore_instance, restore_grant,
                                              restore_process};
    const struct registry_who who = {0, 0};
    struct registry *reg = mk__calloc(1, sizeof(*reg));
    struct restore *rs = mk__calloc(1, sizeof(*rs));
    int r;
    if (!reg || !rs) {
        mk__free(reg);
        mk__free(rs);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    pthread_mutex_init(&reg->lock, NULL);
    reg->cat = cfg->cat;
    snprintf(reg->proc_root, sizeof(reg->proc_root), "%s",
             cfg->proc_root ? cfg->proc_root : "/proc");
    rs->reg = reg;
    if ((r = lease_sums_new(&reg->sums)) < 0) {
        r = mk_error_set(err, r, "out of memory");
        goto fail;
    }
    if ((r = init_gpus(reg, cfg, err)) < 0 ||
        (r = store_open(cfg->db_path, &reg->store, err)) < 0 ||
        (r = store_load(reg->store, &ops, rs, err)) < 0 || (r = record_start(reg, err)) < 0)
        goto fail;
    mk__free(rs);
    prune_dead(reg, &who, NULL); /* reconcile: processes that are gone release their membership */
    if (reg->nprocs > 0) {
        if (!(reg->survivors = mk__malloc(reg->nprocs * sizeof(*reg->survivors)))) {
            r = mk_error_set(err, -ENOMEM, "out of memory");
            registry_close(reg);
            return r;
        }
        memcpy(reg->survivors, reg->procs, reg->nprocs * sizeof(*reg->procs));
        reg->nsurvivors = reg->nprocs;
    }
    *ret = reg;
    return 0;
fail:
    mk__free(rs);
    registry_close(reg);
    return r;
}

void registry_close(struct registry *reg)
{
    if (!reg)
        return;
    store_close(reg->store);
    for (size_t i = 0; i < reg->ninst; i++)
        mk__free(reg->inst[i]);
    mk__free(reg->inst);
    reg_procs_free(reg);
    mk__free(reg->gpus);
    lease_sums_free(reg->sums);
    mk__free(reg->survivors);
    pthread_mutex_destroy(&reg->lock);
    mk__free(reg);
}
