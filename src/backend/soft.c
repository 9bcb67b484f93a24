/*
 * soft.c - the soft backend: software instances held by migd (docs/soft.md), driven with
 * nvidia-smi's verbs through migd's HTTP API (soft-client.c).
 *
 * The picture. migd is the state; this backend reads it (GET /v1/gpus, GET /v1/instances) at
 * open and again after every operation, as the NVML backend re-reads the driver, and shows it
 * as struct mk_gpu values so every listing works unchanged:
 *   - every GPU migd serves is a catalog model with MIG mode Enabled (software instances need
 *     no mode: migd serves them whenever it runs);
 *   - a profile instance is a GPU instance (GI) at its placement and GI ID, holding one
 *     compute instance (CI 0, the profile's default CI) whose UUID is the instance's UUID;
 *     it is busy while it has registered processes or leased memory;
 *   - a custom instance has no placement, so it is no GI: mk_soft_instances() lists it with
 *     the others, for -L and status.
 *
 * The operations. -cgi is POST /v1/instances and -dgi DELETE /v1/instances/{uuid}; the
 * instance's CI comes and goes with it. Creating the default CI on a GI that has it is
 * accepted and changes nothing (so `-cgi ... -C` and separate `-cci` calls of nvidia-smi
 * scripts work); another CI profile is Not Supported. Destroying the CI is accepted and
 * changes nothing in migd: the CI leaves this command's view only (so apply's destroy-ci
 * then destroy-gi sequence works), and a hint says so. MIG mode cannot be turned off.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backend-internal.h"
#include "migkit/soft.h"

/* GPUs per node, as migd and the other backends keep them. */
#define MAX_GPUS 64

struct soft {
    struct mk_migd *migd;
    struct mk_soft_instance *inst; /* ninst, creation order */
    int ninst;
    /* UUIDs of instances whose CI this command destroyed (-dci): left out of the view until
     * the command ends or the instance goes. */
    char (*hidden)[MK_UUID_LEN];
    int nhidden;
};

static struct soft *priv(const struct mk_backend *b)
{
    return b->priv;
}

/* ---- the hidden-CI set ---- */

static int hidden_find(const struct soft *s, const char *uuid)
{
    for (int i = 0; i < s->nhidden; i++)
        if (!strcmp(s->hidden[i], uuid))
            return i;
    return -1;
}

static int hidden_add(struct soft *s, const char *uuid, struct mk_error *err)
{
    char(*h)[MK_UUID_LEN];
    if (hidden_find(s, uuid) >= 0)
        return 0;
    if (!(h = mk__realloc(s->hidden, (size_t)(s->nhidden + 1) * sizeof(*h))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    s->hidden = h;
    snprintf(s->hidden[s->nhidden++], MK_UUID_LEN, "%s", uuid);
    return 0;
}

static void hidden_remove(struct soft *s, const char *uuid)
{
    int i = hidden_find(s, uuid);
    if (i < 0)
        return;
    memmove(&s->hidden[i], &s->hidden[i + 1], (size_t)(s->nhidden - i - 1) * sizeof(*s->hidden));
    s->nhidden--;
}

/* ---- requests ---- */

/*
 * One request to migd. A refusal whose reason nvidia-smi's one-line text does not carry
 * (anything but "Not Found") goes into the hint in migd's words; a 403 adds who may.
 */
static int request(struct mk_backend *b, const char *method, const char *path, json_t *body,
                   json_t **ret, struct mk_error *err)
{
    struct mk_error local = {0};
    int r = mk_migd_request(priv(b)->migd, method, path, body, ret, &local);
    if (r >= 0)
        return r;
    if (r == -EPERM)
        mk__backend_hint(b,
                         "migd: %s (software instances: changing them requires root or group "
                         "migkit; using one requires a grant, migctl grant)",
                         local.msg);
    else if (r != -ENOENT)
        mk__backend_hint(b, "migd: %s", local.msg);
    if (err)
        *err = local;
    return r;
}

/* ---- reading migd's state ---- */

/*
 * Generic models (docs/geometry.md) of migd's GPUs outside the catalog, derived here from the
 * SMs and memory migd reports, exactly as migd derived them. Kept for the rest of the process,
 * one per distinct GPU, never freed (reachable): a mk_gpu's model and profile pointers must
 * outlive the backend that read them, as a catalog's do, and stay the same from one read of
 * migd's state to the next (nvml-model.c keeps its models the same way).
 */
static struct generic {
    struct generic *next;
    struct mk_model model;
} * generics;
static pthread_mutex_t generics_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct mk_model *generic_model(const char *slug, const char *name, json_int_t memory,
                                            int sms)
{
    struct generic *e;
    pthread_mutex_lock(&generics_lock);
    for (e = generics; e; e = e->next)
        if (!strcmp(e->model.slug, slug) && !strcmp(e->model.name, name))
            break;
    if (!e && memory > 0 && (e = mk__malloc(sizeof(*e)))) {
        /* migd's slug names the inputs: the derivation must give the same slug back */
        if (mk_model_generic(name, 0, (uint32_t)(memory >> 20), sms, &e->model) < 0 ||
            strcmp(e->model.slug, slug) != 0) {
            mk__free(e);
            e = NULL;
        } else {
            e->next = generics;
            generics = e;
        }
    }
    pthread_mutex_unlock(&generics_lock);
    return e ? &e->model : NULL;
}

/* GPU o of GET /v1/gpus into g: a catalog model (or a generic one), MIG mode Enabled, no
 * instances yet. */
static int read_gpu(const struct mk_backend *b, json_t *o, int i, struct mk_gpu *g,
                    struct mk_error *err)
{
    const char *uuid, *slug, *name, *bus = "";
    const struct mk_model *m;
    json_int_t memory = 0;
    int index, sms = 0;
    /* pci_bus_id is optional: a migd before it answers without one */
    if (json_unpack(o, "{s:i, s:s, s:s, s:s, s?I, s?i, s?s}", "index", &index, "uuid", &uuid,
                    "model", &slug, "name", &name, "memory_bytes", &memory, "sms", &sms,
                    "pci_bus_id", &bus) < 0 ||
        index != i || strlen(uuid) >= sizeof(g->uuid) || strlen(bus) >= sizeof(g->pci_bus_id))
        return mk_error_set(err, -EBADMSG, "migd's GPU %d is not what migctl expects", i);
    if (!(m = mk_catalog_find(b->cat, slug)) && !strncmp(slug, "generic-", 8))
        m = generic_model(slug, name, memory, sms);
    if (!m)
        return mk_error_set(err, -ENOTSUP,
                            "migd's GPU %d (%s, model \"%s\") is not in migctl's catalog "
                            "(add it with --catalog)",
                            i, name, slug);
    mk_gpu_init(g, m, i);
    memcpy(g->uuid, uuid, strlen(uuid) + 1);
    memcpy(g->pci_bus_id, bus, strlen(bus) + 1);
    g->mig_enabled = true;
    return 0;
}

/* The common fields of instance o. */
static int read_instance(json_t *o, int ngpus, struct mk_soft_instance *in, int *ret_profile,
                         int *ret_placement, struct mk_error *err)
{
    const char *uuid, *name, *kind;
    json_int_t quota, leased;
    json_t *grants, *procs;
    int profile = -1, gi_id = -1, placement = -1;
    memset(in, 0, sizeof(*in));
    if (json_unpack(o, "{s:s, s:s, s:i, s:s, s:I, s:i, s:I, s:o, s:o, s?i, s?i, s?i}", "uuid",
                    &uuid, "name", &name, "gpu", &in->gpu, "kind", &kind, "quota_bytes", &quota,
                    "sms", &in->sms, "leased_bytes", &leased, "grants", &grants, "processes",
                    &procs, "profile_id", &profile, "gi_id", &gi_id, "placement", &placement) < 0 ||
        strlen(uuid) >= sizeof(in->uuid) || in->gpu < 0 || in->gpu >= ngpus || quota < 0 ||
        leased < 0)
        return mk_error_set(err, -EBADMSG, "an instance from migd is not what migctl expects");
    snprintf(in->uuid, sizeof(in->uuid), "%s", uuid);
    snprintf(in->name, sizeof(in->name), "%s", name);
    in->custom = strcmp(kind, "profile") != 0;
    in->gi_id = in->custom ? -1 : gi_id;
    in->quota_bytes = (uint64_t)quota;
    in->leased_bytes = (uint64_t)leased;
    in->nprocesses = (int)json_array_size(procs);
    in->ngrants = (int)json_array_size(grants);
    *ret_profile = profile;
    *ret_placement = placement;
    return 0;
}

/* Puts profile instance in on its GPU as a GI at its placement, with its CI unless this
 * command destroyed that. The GI ID must be the one the geometry gives the placement. */
static int place(struct soft *s, struct mk_gpu *g, const struct mk_soft_instance *in, int profile,
                 int placement, struct mk_error *err)
{
    const struct mk_gi_profile *p = mk_model_profile_by_id(g->model, profile);
    struct mk_gi *gi;
    int id;
    if (!p || mk_gpu_gi_create(g, p, placement, &id) < 0 || id != in->gi_id)
        return mk_error_set(err, -EBADMSG,
                            "migd's instance %s (profile %d at %d, GI %d) does not fit GPU "
                            "%d's geometry",
                            in->uuid, profile, placement, in->gi_id, g->index);
    gi = mk_gpu_gi_find(g, id);
    gi->busy = in->nprocesses > 0 || in->leased_bytes > 0;
    if (hidden_find(s, in->uuid) >= 0)
        return 0;
    if (mk_gpu_ci_create(g, id, p->ci_default, in->uuid, NULL) < 0)
        return mk_error_set(err, -EBADMSG, "GPU %d GI %d: no room for its default CI", g->index,
                            id);
    return 0;
}

/* The memory g's instances hold beyond what its GIs' profiles account for, given the sum of
 * every instance's quota in g->outside_bytes: custom instances' quotas, and resized profile
 * instances' growth. The geometry caps -lgip's Free by it, so Free is the count migd's
 * GET /v1/gpus gives (which counts quotas against the GPU's memory). */
static uint64_t outside_memory(const struct mk_gpu *g)
{
    uint64_t in_gis = 0;
    for (int i = 0; i < g->ngi; i++)
        in_gis += (uint64_t)g->gi[i].profile->memory_mib << 20;
    return g->outside_bytes > in_gis ? g->outside_bytes - in_gis : 0;
}

/* Builds the instances of list (GET /v1/instances) on gpus, into *ret_inst. */
static int read_instances(struct soft *s, json_t *list, struct mk_gpu *gpus, int ngpus,
                          struct mk_soft_instance **ret_inst, int *ret_n, struct mk_error *err)
{
    size_t n = json_array_size(list);
    struct mk_soft_instance *inst = mk__calloc(n, sizeof(*inst));
    int r = 0;
    if (!inst)
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k < n && r == 0; k++) {
        int profile = -1, placement = -1;
        r = read_instance(json_array_get(list, k), ngpus, &inst[k], &profile, &placement, err);
        if (r == 0 && !inst[k].custom)
            r = place(s, &gpus[inst[k].gpu], &inst[k], profile, placement, err);
        /* Every quota, summed here; what the GIs' profiles account for is taken out below. */
        if (r == 0)
            gpus[inst[k].gpu].outside_bytes += inst[k].quota_bytes;
    }
    for (int g = 0; g < ngpus && r == 0; g++)
        gpus[g].outside_bytes = outside_memory(&gpus[g]);
    if (r < 0) {
        mk__free(inst);
        return r;
    }
    *ret_inst = inst;
    *ret_n = (int)n;
    return 0;
}

/*
 * Reads migd's GPUs and instances and replaces b's view with them, or leaves it as it was
 * on failure. The GPUs must stay those of the first read (migd serves a fixed set).
 */
static int refresh(struct mk_backend *b, struct mk_error *err)
{
    struct soft *s = priv(b);
    json_t *gj = NULL, *ij = NULL, *gl, *il;
    struct mk_soft_instance *inst = NULL;
    struct mk_gpu *gpus = NULL;
    int r, n, ninst = 0;
    if ((r = request(b, "GET", "/v1/gpus", NULL, &gj, err)) < 0 ||
        (r = request(b, "GET", "/v1/instances", NULL, &ij, err)) < 0)
        goto out;
    gl = json_object_get(gj, "gpus");
    il = json_object_get(ij, "instances");
    n = (int)json_array_size(gl);
    if (!json_is_array(gl) || !json_is_array(il) || n > MAX_GPUS || (b->gpus && n != b->ngpus)) {
        r = mk_error_set(err, -EBADMSG, "migd's answer is not what migctl expects (%d GPUs)", n);
        goto out;
    }
    if (!(gpus = mk__calloc((size_t)n, sizeof(*gpus)))) {
        r = mk_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n && r >= 0; i++)
        r = read_gpu(b, json_array_get(gl, (size_t)i), i, &gpus[i], err);
    if (r >= 0 && (r = read_instances(s, il, gpus, n, &inst, &ninst, err)) >= 0) {
        /* In place after the first read: callers hold pointers to b->gpus[i] across
         * operations (cmd-mig.c walks its GPU list while it changes them). */
        if (b->gpus) {
            memcpy(b->gpus, gpus, (size_t)n * sizeof(*gpus));
        } else {
            b->gpus = gpus;
            gpus = NULL;
        }
        b->ngpus = n;
        mk__free(s->inst);
        s->inst = inst;
        s->ninst = ninst;
        r = 0;
    }
out:
    mk__free(gpus);
    json_decref(gj);
    json_decref(ij);
    return r;
}

/* The profile instance shown as GI gi_id on GPU gpu, or NULL. */
static const struct mk_soft_instance *find_gi(const struct mk_backend *b, int gpu, int gi_id)
{
    const struct soft *s = priv(b);
    for (int i = 0; i < s->ninst; i++)
        if (!s->inst[i].custom && s->inst[i].gpu == gpu && s->inst[i].gi_id == gi_id)
            return &s->inst[i];
    return NULL;
}

int mk_soft_instances(const struct mk_backend *b, const struct mk_soft_instance **ret)
{
    mk_assert_return(b && ret, -EINVAL);
    if (b->ops != &mk__soft_ops)
        return -ENOTSUP;
    *ret = priv(b)->inst;
    return priv(b)->ninst;
}

/* ---- the desired configuration (migd's /v1/desired) ---- */

int mk_soft_desired_set(struct mk_backend *b, const char *config, const char *label,
                        struct mk_error *err)
{
    json_t *body;
    int r;
    mk_assert_return(b && config && label, -EINVAL);
    if (b->ops != &mk__soft_ops)
        return mk_error_set(err, -ENOTSUP, "only migd records a desired configuration");
    if (!(body = json_pack("{s:s, s:s}", "config", config, "label", label)))
        return mk_error_set(err, -ENOMEM, "out of memory");
    r = mk_migd_request(priv(b)->migd, "PUT", "/v1/desired", body, NULL, err);
    json_decref(body);
    return r < 0 ? r : 0;
}

int mk_soft_desired_get(struct mk_backend *b, char **ret_config, char **ret_label,
                        struct mk_error *err)
{
    const char *config, *label;
    char *c = NULL, *l = NULL;
    json_t *o = NULL;
    int r;
    mk_assert_return(b && ret_config && ret_label, -EINVAL);
    if (b->ops != &mk__soft_ops)
        return mk_error_set(err, -ENOTSUP, "only migd records a desired configuration");
    if ((r = mk_migd_request(priv(b)->migd, "GET", "/v1/desired", NULL, &o, err)) < 0)
        return r;
    if (json_unpack(o, "{s:s, s:s}", "config", &config, "label", &label) < 0) {
        json_decref(o);
        return mk_error_set(err, -EBADMSG,
                            "migd's desired configuration is not what migctl "
                            "expects");
    }
    if (!(c = mk__strdup(config)) || !(l = mk__strdup(label))) {
        mk__free(c);
        json_decref(o);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    json_decref(o);
    *ret_config = c;
    *ret_label = l;
    return 0;
}

/* ---- open / close ---- */

static void soft_close(struct mk_backend *b)
{
    struct soft *s = priv(b);
    if (!s)
        return;
    mk_migd_free(s->migd);
    mk__free(s->inst);
    mk__free(s->hidden);
    mk__free(s);
    b->priv = NULL;
}

static int soft_open(struct mk_backend *b, const struct mk_backend_config *cfg,
                     struct mk_error *err)
{
    struct soft *s;
    int r;
    (void)cfg; /* migd serialises changes itself: no lock, no state directory */
    if (!(s = mk__calloc(1, sizeof(*s))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    b->priv = s;
    if ((r = mk_migd_open(NULL, &s->migd, err)) < 0 || (r = refresh(b, err)) < 0) {
        soft_close(b);
        mk__free(b->gpus);
        b->gpus = NULL;
        b->ngpus = 0;
        return r;
    }
    return 0;
}

/* ---- operations ---- */

static int soft_set_mig(struct mk_backend *b, int gpu, bool enabled, struct mk_error *err)
{
    if (enabled)
        return 0; /* software instances are always available: nothing to enable */
    mk__backend_hint(b, "the soft backend has no MIG mode to turn off: migd serves software "
                        "instances whenever it runs (destroy them with mig -dgi)");
    return mk_error_set(err, -ENOTSUP, "GPU %d: software instances have no MIG mode", gpu);
}

static int soft_gi_create(struct mk_backend *b, int gpu, const struct mk_gi_profile *p, int start,
                          int *ret_id, struct mk_error *err)
{
    json_t *body = json_pack("{s:i, s:i}", "gpu", gpu, "profile", p->id), *out = NULL;
    json_t *id;
    int r;
    if (!body || (start >= 0 && json_object_set_new(body, "placement", json_integer(start)) < 0)) {
        json_decref(body);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    r = request(b, "POST", "/v1/instances", body, &out, err);
    json_decref(body);
    if (r < 0)
        return r;
    id = json_object_get(out, "gi_id");
    r = json_is_integer(id) ? (int)json_integer_value(id) : -1;
    json_decref(out);
    if (r < 0)
        return mk_error_set(err, -EBADMSG, "migd created an instance without a GI ID");
    if (ret_id)
        *ret_id = r;
    return refresh(b, err);
}

static int soft_gi_destroy(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err)
{
    const struct mk_soft_instance *in = find_gi(b, gpu, gi_id);
    char path[128], uuid[MK_UUID_LEN];
    int r;
    if (!in)
        return mk_error_set(err, -ENOENT, "GPU %d has no GPU instance %d", gpu, gi_id);
    memcpy(uuid, in->uuid, sizeof(uuid));
    snprintf(path, sizeof(path), "/v1/instances/%s", uuid);
    if ((r = request(b, "DELETE", path, NULL, NULL, err)) < 0)
        return r;
    hidden_remove(priv(b), uuid);
    return refresh(b, err);
}

/* The GI's one CI is the default of its profile: creating that one is accepted whether or not
 * it is shown (it exists as long as the instance does), any other is Not Supported. */
static int soft_ci_create(struct mk_backend *b, int gpu, int gi_id, int ci_profile_id, int *ret_id,
                          struct mk_error *err)
{
    struct mk_gpu *g = &b->gpus[gpu];
    struct mk_gi *gi = mk_gpu_gi_find(g, gi_id);
    const struct mk_soft_instance *in = find_gi(b, gpu, gi_id);
    if (!gi || !in)
        return mk_error_set(err, -ENOENT, "GPU %d has no GPU instance %d", gpu, gi_id);
    if (ci_profile_id != gi->profile->ci_default) {
        if (mk_gi_ci_remaining(gi, g->model, ci_profile_id) < 0)
            return mk_error_set(err, -EINVAL, "GPU instance %d offers no CI profile %d", gi_id,
                                ci_profile_id);
        mk__backend_hint(b,
                         "the soft backend: a software instance has one compute instance, its "
                         "profile's default (CI profile %d for MIG %s)",
                         gi->profile->ci_default, gi->profile->name);
        return mk_error_set(err, -ENOTSUP, "software instances have only their default CI");
    }
    if (gi->nci == 0) {
        int r;
        hidden_remove(priv(b), in->uuid);
        if ((r = mk_gpu_ci_create(g, gi_id, ci_profile_id, in->uuid, ret_id)) < 0)
            return mk_error_set(err, r, "%s", mk_status_text(r));
        return 0;
    }
    if (ret_id)
        *ret_id = gi->ci[0].id;
    return 0;
}

static int soft_ci_destroy(struct mk_backend *b, int gpu, int gi_id, int ci_id,
                           struct mk_error *err)
{
    struct mk_gpu *g = &b->gpus[gpu];
    const struct mk_soft_instance *in = find_gi(b, gpu, gi_id);
    const struct mk_gi *gi = mk_gpu_gi_find_const(g, gi_id);
    int r;
    if (!gi || !in || gi->nci == 0 || gi->ci[0].id != ci_id)
        return mk_error_set(err, -ENOENT, "GPU %d GPU instance %d has no compute instance %d", gpu,
                            gi_id, ci_id);
    if (gi->busy) {
        mk__backend_hint(b,
                         "migd: instance %s is in use: %d registered process%s, %llu bytes "
                         "leased",
                         in->uuid, in->nprocesses, in->nprocesses == 1 ? "" : "es",
                         (unsigned long long)in->leased_bytes);
        return mk_error_set(err, -EBUSY, "%s is in use", in->uuid);
    }
    if ((r = hidden_add(priv(b), in->uuid, err)) < 0)
        return r;
    mk__backend_hint(b, "the soft backend: a software instance's compute instance comes and goes "
                        "with the instance; -dci changes nothing in migd (destroy the instance "
                        "with -dgi)");
    r = mk_gpu_ci_destroy(g, gi_id, ci_id);
    return r < 0 ? mk_error_set(err, r, "%s", mk_status_text(r)) : 0;
}

const struct mk_backend_ops mk__soft_ops = {
    .name = "soft",
    .open = soft_open,
    .close = soft_close,
    .set_mig = soft_set_mig,
    .gi_create = soft_gi_create,
    .gi_destroy = soft_gi_destroy,
    .ci_create = soft_ci_create,
    .ci_destroy = soft_ci_destroy,
    .set_busy = NULL,  /* busy is what migd says: registered processes or leases */
    .set_fault = NULL, /* the simulator's */
    .commit = NULL,    /* every operation is in migd (and its database) at once */
};
