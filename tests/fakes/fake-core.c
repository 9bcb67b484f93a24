/*
 * fake-core.c - the fake libnvidia-ml.so.1's plumbing: initialisation, the per-call view of
 * the simulated machine (lock, state, script), error injection, and handles.
 *
 * Process-wide state (the catalog, the state directory, the init count, pending MIG modes)
 * sits behind one mutex, held for the whole of each call, so a threaded client sees calls
 * one at a time, as a real driver serialises MIG changes. Handles are addresses in static
 * tables: stable for the life of the process, reused when an instance with the same ID
 * comes back (NVML allows that, ref §7.8), and checked on every use.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/simstate.h"
#include "fake-nvml.h"
#include "migkit/backend.h"
#include "migkit/uuid.h"

#define CONF_FILE "nvml-fake.json"

static struct {
    pthread_mutex_t lock;
    pthread_once_t once;
    int refcount;
    struct mk_catalog *cat;
    char dir[4096];
    int pending[FAKE_MAX_GPUS]; /* -1, or the pending MIG mode */
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static struct fake_dev devs[FAKE_MAX_GPUS];
static struct fake_dev migs[FAKE_MAX_GPUS][MK_MAX_GIS][MK_MAX_CIS];
static struct fake_gi gis[FAKE_MAX_GPUS][MK_MAX_GIS];
static struct fake_ci cis[FAKE_MAX_GPUS][MK_MAX_GIS][MK_MAX_CIS];

/* Every exported function, referenced so that linking with -z defs fails when the list names
 * one the fake does not define. */
__attribute__((used)) static const void *const exports[] = {
#define X(need, since, ret, name, params) (const void *)name,
    MK_NVML_SYMBOLS(X)
#undef X
};

static void complain(const char *what)
{
    fprintf(stderr, "fake libnvidia-ml.so.1: %s\n", what);
}

/* ---- handles ---- */

static void init_tables(void)
{
    for (int g = 0; g < FAKE_MAX_GPUS; g++) {
        devs[g] = (struct fake_dev){g, -1, -1};
        fake.pending[g] = -1;
        for (int i = 0; i < MK_MAX_GIS; i++) {
            gis[g][i] = (struct fake_gi){g, i};
            for (int c = 0; c < MK_MAX_CIS; c++) {
                migs[g][i][c] = (struct fake_dev){g, i, c};
                cis[g][i][c] = (struct fake_ci){g, i, c};
            }
        }
    }
}

nvmlDevice_t fake_dev_handle(int gpu, int gi, int ci)
{
    return (nvmlDevice_t)(gi < 0 ? &devs[gpu] : &migs[gpu][gi][ci]);
}

nvmlGpuInstance_t fake_gi_handle(int gpu, int gi)
{
    return (nvmlGpuInstance_t)&gis[gpu][gi];
}

nvmlComputeInstance_t fake_ci_handle(int gpu, int gi, int ci)
{
    return (nvmlComputeInstance_t)&cis[gpu][gi][ci];
}

/* True when p points at an element of the table [base, base + size) on an element boundary:
 * a client's pointer is only trusted after this check. */
static bool in_table(const void *p, const void *base, size_t size, size_t elem)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return p && a >= b && a < b + size && (a - b) % elem == 0;
}

const struct fake_dev *fake_dev_of(nvmlDevice_t h)
{
    if (in_table(h, devs, sizeof(devs), sizeof(devs[0])) ||
        in_table(h, migs, sizeof(migs), sizeof(migs[0][0][0])))
        return (const struct fake_dev *)h;
    return NULL;
}

const struct fake_gi *fake_gi_of(nvmlGpuInstance_t h)
{
    return in_table(h, gis, sizeof(gis), sizeof(gis[0][0])) ? (const struct fake_gi *)h : NULL;
}

const struct fake_ci *fake_ci_of(nvmlComputeInstance_t h)
{
    return in_table(h, cis, sizeof(cis), sizeof(cis[0][0][0])) ? (const struct fake_ci *)h : NULL;
}

int fake_dev_gpu(nvmlDevice_t h)
{
    const struct fake_dev *d = fake_dev_of(h);
    return d ? d->gpu : -1;
}

int fake_gi_gpu(nvmlGpuInstance_t h)
{
    const struct fake_gi *d = fake_gi_of(h);
    return d ? d->gpu : -1;
}

int fake_ci_gpu(nvmlComputeInstance_t h)
{
    const struct fake_ci *d = fake_ci_of(h);
    return d ? d->gpu : -1;
}

struct mk_gpu *fake_sim_gpu(struct fake_call *c, nvmlDevice_t h)
{
    const struct fake_dev *d = fake_dev_of(h);
    return d && d->gi < 0 && d->gpu < c->ngpus ? &c->gpus[d->gpu] : NULL;
}

struct mk_gi *fake_gi(struct fake_call *c, nvmlGpuInstance_t h, struct mk_gpu **ret_gpu)
{
    const struct fake_gi *d = fake_gi_of(h);
    struct mk_gi *gi;
    if (!d || d->gpu >= c->ngpus || !c->gpus[d->gpu].mig_enabled)
        return NULL;
    if ((gi = mk_gpu_gi_find(&c->gpus[d->gpu], d->gi)) && ret_gpu)
        *ret_gpu = &c->gpus[d->gpu];
    return gi;
}

struct mk_ci *fake_ci(struct fake_call *c, nvmlComputeInstance_t h, struct mk_gpu **ret_gpu,
                      struct mk_gi **ret_gi)
{
    const struct fake_ci *d = fake_ci_of(h);
    struct mk_gi *gi;
    if (!d || d->gpu >= c->ngpus || !(gi = mk_gpu_gi_find(&c->gpus[d->gpu], d->gi)))
        return NULL;
    for (int k = 0; k < gi->nci; k++)
        if (gi->ci[k].id == d->ci) {
            if (ret_gpu)
                *ret_gpu = &c->gpus[d->gpu];
            if (ret_gi)
                *ret_gi = gi;
            return &gi->ci[k];
        }
    return NULL;
}

/* ---- initialisation ---- */

/* The catalog (built-in plus $MIGKIT_CATALOG, as migctl loads it) and the state directory.
 * Returns NULL on success, else what went wrong. */
static const char *load_environment(char *buf, size_t len)
{
    struct mk_error err = {0};
    const char *file = getenv("MIGKIT_CATALOG");
    if (!fake.cat) {
        if (mk_catalog_new(&fake.cat, &err) < 0 ||
            (file && *file && mk_catalog_load_file(fake.cat, file, &err) < 0)) {
            snprintf(buf, len, "cannot load the catalog: %s", mk_strerror(&err));
            mk_catalog_free(fake.cat);
            fake.cat = NULL;
            return buf;
        }
    }
    if (!mk_sim_default_dir(fake.dir, sizeof(fake.dir)))
        return "no state directory: set MIGKIT_STATE_DIR";
    if (mk__sim_ensure(fake.dir, fake.cat, &err) < 0) {
        snprintf(buf, len, "%s", mk_strerror(&err));
        return buf;
    }
    return NULL;
}

nvmlReturn_t fake_init(void)
{
    char buf[MK_ERROR_LEN + 64];
    const char *why;
    struct fake_call c;
    nvmlReturn_t rc;
    pthread_once(&fake.once, init_tables);
    pthread_mutex_lock(&fake.lock);
    why = load_environment(buf, sizeof(buf));
    if (why) {
        complain(why);
        pthread_mutex_unlock(&fake.lock);
        return NVML_ERROR_UNKNOWN;
    }
    fake.refcount++;
    pthread_mutex_unlock(&fake.lock);
    /* A machine the fake cannot read fails initialisation, as a driver that cannot talk to
     * its GPUs does; the reason goes to stderr. */
    if ((rc = fake_begin(&c, "nvmlInit_v2", -1)) != NVML_SUCCESS) {
        pthread_mutex_lock(&fake.lock);
        fake.refcount--;
        pthread_mutex_unlock(&fake.lock);
        return rc;
    }
    return fake_end(&c, NVML_SUCCESS);
}

nvmlReturn_t fake_shutdown(void)
{
    pthread_mutex_lock(&fake.lock);
    /* "no error is reported if nvmlShutdown() is called more times than nvmlInit()" */
    if (fake.refcount > 0)
        fake.refcount--;
    pthread_mutex_unlock(&fake.lock);
    return NVML_SUCCESS;
}

/* ---- the script (nvml-fake.json) ---- */

static bool parse_pci_id(json_t *v, unsigned int *ret)
{
    const char *s = json_string_value(v);
    char *end;
    unsigned long id;
    if (!s)
        return false;
    id = strtoul(s, &end, 16);
    if (*end || id > UINT32_MAX)
        return false;
    *ret = (unsigned int)id;
    return true;
}

/* The non-MIG GPUs of the script. Their UUIDs, when the script gives none, are derived from
 * the index so they stay the same from call to call. */
static const char *read_plain_gpus(struct fake_call *c)
{
    json_t *list = json_object_get(c->conf, "non_mig_gpus"), *e;
    size_t i;
    if (list && !json_is_array(list))
        return CONF_FILE ": \"non_mig_gpus\" must be an array";
    json_array_foreach(list, i, e)
    {
        struct fake_plain_gpu *p = &c->plain[c->nplain];
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *uuid = json_string_value(json_object_get(e, "uuid"));
        json_t *mem = json_object_get(e, "memory_mib"), *sms = json_object_get(e, "sms");
        const char *cc = json_string_value(json_object_get(e, "compute_capability"));
        if (c->ngpus + c->nplain >= FAKE_MAX_GPUS)
            return CONF_FILE ": too many GPUs";
        if (!name || !parse_pci_id(json_object_get(e, "pci_device_id"), &p->pci_id))
            return CONF_FILE
                ": a non-MIG GPU needs \"name\" and \"pci_device_id\" (\"0x27B810DE\")";
        snprintf(p->name, sizeof(p->name), "%s", name);
        if (uuid && mk_uuid_valid("GPU-", uuid))
            snprintf(p->uuid, sizeof(p->uuid), "%s", uuid);
        else
            snprintf(p->uuid, sizeof(p->uuid), "GPU-00000000-0000-4000-8000-%012d",
                     c->ngpus + c->nplain);
        p->memory_mib = json_is_integer(mem) ? (unsigned long long)json_integer_value(mem) : 1024;
        p->sms = json_is_integer(sms) ? (int)json_integer_value(sms) : 0;
        if (!cc || sscanf(cc, "%d.%d", &p->cc_major, &p->cc_minor) != 2) {
            p->cc_major = 8; /* Ada, as an L4 */
            p->cc_minor = 9;
        }
        c->nplain++;
    }
    return NULL;
}

/* Reads the script if there is one. Returns NULL, or what is wrong with it. */
static const char *read_conf(struct fake_call *c, char *buf, size_t len)
{
    char path[4200];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/" CONF_FILE, fake.dir);
    if (access(path, F_OK) < 0)
        return NULL;
    if (!(c->conf = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr))) {
        snprintf(buf, len, "%.200s:%d:%d: %.100s", path, jerr.line, jerr.column, jerr.text);
        return buf;
    }
    if (!json_is_object(c->conf))
        return CONF_FILE ": expected an object";
    return read_plain_gpus(c);
}

/* The first injection entry for function fn on gpu, used up by one when it has a count. */
static const char *apply_injection(struct fake_call *c, int gpu)
{
    json_t *list = json_object_get(c->conf, "inject"), *e;
    size_t i;
    json_array_foreach(list, i, e)
    {
        const char *fn = json_string_value(json_object_get(e, "function"));
        const char *error = json_string_value(json_object_get(e, "error"));
        const char *act = json_string_value(json_object_get(e, "activation_status"));
        json_t *on = json_object_get(e, "gpu"), *count = json_object_get(e, "count");
        if (!fn || strcmp(fn, c->fn) != 0 || (json_is_integer(on) && json_integer_value(on) != gpu))
            continue;
        if (error && mk__nvml_parse(error, &c->inject_rc) < 0)
            return CONF_FILE ": unknown \"error\" (expected an NVML code such as IN_USE)";
        if (act && mk__nvml_parse(act, &c->inject_act) < 0)
            return CONF_FILE ": unknown \"activation_status\"";
        c->has_act = act != NULL;
        if (json_is_integer(count)) {
            json_int_t left = json_integer_value(count) - 1;
            if (left > 0)
                json_object_set_new(e, "count", json_integer(left));
            else
                json_array_remove(list, i);
            c->conf_dirty = true;
        }
        return NULL;
    }
    return NULL;
}

/* ---- calls ---- */

nvmlReturn_t fake_begin(struct fake_call *c, const char *fn, int gpu)
{
    struct mk_error err = {0};
    char buf[MK_ERROR_LEN + 64];
    const char *why = NULL;
    int r;
    memset(c, 0, sizeof(*c));
    c->fn = fn;
    c->lock_fd = -1;
    pthread_mutex_lock(&fake.lock);
    if (fake.refcount == 0) {
        pthread_mutex_unlock(&fake.lock);
        return NVML_ERROR_UNINITIALIZED;
    }
    if ((c->lock_fd = mk__sim_lock(fake.dir, true, &err)) < 0 ||
        (r = mk__sim_load(fake.dir, fake.cat, &c->gpus, &c->ngpus, &err)) < 0) {
        snprintf(buf, sizeof(buf), "%s", err.msg[0] ? err.msg : "state file vanished");
        why = buf;
    } else {
        why = read_conf(c, buf, sizeof(buf));
    }
    if (!why)
        why = apply_injection(c, gpu);
    if (why) {
        complain(why);
        return fake_end(c, NVML_ERROR_UNKNOWN);
    }
    return c->inject_rc != NVML_SUCCESS ? fake_end(c, c->inject_rc) : NVML_SUCCESS;
}

nvmlReturn_t fake_end(struct fake_call *c, nvmlReturn_t rc)
{
    struct mk_error err = {0};
    char *text;
    if (c->state_dirty && mk__sim_save(fake.dir, c->gpus, c->ngpus, &err) < 0) {
        complain(mk_strerror(&err));
        rc = NVML_ERROR_UNKNOWN;
    }
    if (c->conf_dirty && (text = json_dumps(c->conf, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        if (mk__sim_write_file(fake.dir, CONF_FILE, text, &err) < 0)
            complain(mk_strerror(&err));
        free(text);
    }
    json_decref(c->conf);
    mk__free(c->gpus);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    pthread_mutex_unlock(&fake.lock);
    return rc;
}

/* ---- script overrides ---- */

/* The "gpus" entry of the script for simulated GPU i, or NULL. */
static json_t *gpu_override(struct fake_call *c, int i)
{
    json_t *list = json_object_get(c->conf, "gpus"), *e;
    size_t k;
    json_array_foreach(list, k, e)
    {
        if (json_integer_value(json_object_get(e, "index")) == i)
            return e;
    }
    return NULL;
}

const char *fake_gpu_name(struct fake_call *c, int i)
{
    const char *s = json_string_value(json_object_get(gpu_override(c, i), "name"));
    return s ? s : c->gpus[i].model->name;
}

unsigned int fake_gpu_pci_id(struct fake_call *c, int i)
{
    unsigned int id;
    if (parse_pci_id(json_object_get(gpu_override(c, i), "pci_device_id"), &id))
        return id;
    return c->gpus[i].model->npci ? c->gpus[i].model->pci_ids[0] : 0;
}

uint32_t fake_profile_memory(struct fake_call *c, int i, const struct mk_gi_profile *p)
{
    char key[16];
    json_t *v;
    snprintf(key, sizeof(key), "%d", p->id);
    v = json_object_get(json_object_get(gpu_override(c, i), "profile_memory_mib"), key);
    return json_is_integer(v) ? (uint32_t)json_integer_value(v) : p->memory_mib;
}

int fake_pending_mode(int i)
{
    return i >= 0 && i < FAKE_MAX_GPUS ? fake.pending[i] : -1;
}

void fake_set_pending_mode(int i, int mode)
{
    if (i >= 0 && i < FAKE_MAX_GPUS)
        fake.pending[i] = mode;
}

/* ---- helpers ---- */

nvmlReturn_t fake_from_errno(int r)
{
    switch (-r) {
    case 0:
        return NVML_SUCCESS;
    case EINVAL:
        return NVML_ERROR_INVALID_ARGUMENT;
    case ENOTSUP:
        return NVML_ERROR_NOT_SUPPORTED;
    case ENOENT:
        return NVML_ERROR_NOT_FOUND;
    case ENOSPC:
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    case EBUSY:
        return NVML_ERROR_IN_USE;
    case EPERM:
        return NVML_ERROR_NO_PERMISSION;
    case ENOMEM:
        return NVML_ERROR_MEMORY;
    default:
        return NVML_ERROR_UNKNOWN;
    }
}

nvmlReturn_t fake_copy_string(char *buf, unsigned int len, const char *s)
{
    if (!buf)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(s) + 1 > len)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, s, strlen(s) + 1);
    return NVML_SUCCESS;
}
