/*
 * backend.c - backend selection ("auto" included) and the argument checks every backend
 * shares.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend-internal.h"

/* "soft" (software instances held by migd, docs/soft.md) is explicit only: "auto" never
 * picks it, since a machine may have hardware MIG and migd at once. */
static const struct mk_backend_ops *const backends[] = {&mk__sim_ops, &mk__nvml_ops,
                                                        &mk__soft_ops};

/* Opens backend ops into a new struct mk_backend. */
static int open_one(const struct mk_backend_ops *ops, const struct mk_backend_config *cfg,
                    const struct mk_catalog *cat, struct mk_backend **ret, struct mk_error *err)
{
    struct mk_backend *b;
    int r;
    if (!(b = mk__calloc(1, sizeof(*b))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    b->ops = ops;
    b->cat = cat;
    if ((r = ops->open(b, cfg, err)) < 0) {
        mk__free(b);
        return r;
    }
    *ret = b;
    return 0;
}

/* "auto": the NVML backend when libnvidia-ml.so.1 loads, initialises and reports at least one
 * GPU (its open fails otherwise), else the simulator. Why NVML said no is not an error here:
 * a machine without the driver is the simulator's home. */
static int open_auto(const struct mk_backend_config *cfg, const struct mk_catalog *cat,
                     struct mk_backend **ret, struct mk_error *err)
{
    struct mk_error ignored = {0};
    if (open_one(&mk__nvml_ops, cfg, cat, ret, &ignored) == 0)
        return 0;
    return open_one(&mk__sim_ops, cfg, cat, ret, err);
}

static const struct mk_backend_ops *find_ops(const char *name)
{
    for (size_t i = 0; i < MK_ELEMENTSOF(backends); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

bool mk_backend_known(const char *name)
{
    return name && (strcmp(name, "auto") == 0 || find_ops(name));
}

char *mk_backend_names(char *buf, size_t len)
{
    size_t used;
    snprintf(buf, len, "auto");
    for (size_t i = 0; i < MK_ELEMENTSOF(backends) && (used = strlen(buf)) < len; i++)
        snprintf(buf + used, len - used, ", %s", backends[i]->name);
    return buf;
}

int mk_backend_open(const struct mk_backend_config *cfg, const struct mk_catalog *cat,
                    struct mk_backend **ret, struct mk_error *err)
{
    const char *name = cfg && cfg->name ? cfg->name : "sim";
    const struct mk_backend_ops *ops;
    char names[64];
    mk_assert_return(cfg && cat && ret, -EINVAL);
    if (strcmp(name, "auto") == 0)
        return open_auto(cfg, cat, ret, err);
    if (!(ops = find_ops(name)))
        return mk_error_set(err, -EINVAL, "unknown backend \"%s\" (expected: %s)", name,
                            mk_backend_names(names, sizeof(names)));
    return open_one(ops, cfg, cat, ret, err);
}

void mk_backend_close(struct mk_backend *b)
{
    if (!b)
        return;
    b->ops->close(b);
    mk__free(b->gpus);
    mk__free(b);
}

const char *mk_backend_name(const struct mk_backend *b)
{
    return b->ops->name;
}

const char *mk_backend_hint(const struct mk_backend *b)
{
    return b && b->hint[0] ? b->hint : NULL;
}

void mk__backend_hint(struct mk_backend *b, const char *fmt, ...)
{
    char text[MK_BACKEND_HINT_LEN];
    size_t used = strlen(b->hint);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* One line per distinct explanation: -mig 1 on eight busy GPUs says it once per GPU,
     * -cgi 19,19 without root says it once. Text that does not fit is dropped whole. */
    if (strstr(b->hint, text) || used + strlen(text) + 2 > sizeof(b->hint))
        return;
    snprintf(b->hint + used, sizeof(b->hint) - used, "%s%s", used ? "\n" : "", text);
}

int mk_backend_gpu_count(const struct mk_backend *b)
{
    return b->ngpus;
}

const struct mk_gpu *mk_backend_gpu(const struct mk_backend *b, int i)
{
    return i >= 0 && i < b->ngpus ? &b->gpus[i] : NULL;
}

static int check_gpu(const struct mk_backend *b, int gpu, struct mk_error *err)
{
    if (gpu < 0 || gpu >= b->ngpus)
        return mk_error_set(err, -EINVAL, "GPU %d does not exist (this machine has %d)", gpu,
                            b->ngpus);
    return 0;
}

int mk_backend_set_mig(struct mk_backend *b, int gpu, bool enabled, struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    return r < 0 ? r : b->ops->set_mig(b, gpu, enabled, err);
}

int mk_backend_gi_create(struct mk_backend *b, int gpu, const struct mk_gi_profile *p, int start,
                         int *ret_gi_id, struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    return r < 0 ? r : b->ops->gi_create(b, gpu, p, start, ret_gi_id, err);
}

int mk_backend_gi_destroy(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    return r < 0 ? r : b->ops->gi_destroy(b, gpu, gi_id, err);
}

int mk_backend_ci_create(struct mk_backend *b, int gpu, int gi_id, int ci_profile_id,
                         int *ret_ci_id, struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    return r < 0 ? r : b->ops->ci_create(b, gpu, gi_id, ci_profile_id, ret_ci_id, err);
}

int mk_backend_ci_destroy(struct mk_backend *b, int gpu, int gi_id, int ci_id,
                          struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    return r < 0 ? r : b->ops->ci_destroy(b, gpu, gi_id, ci_id, err);
}

int mk_backend_set_busy(struct mk_backend *b, int gpu, int gi_id, bool busy,
                        struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    if (r < 0)
        return r;
    if (!b->ops->set_busy)
        return mk_error_set(err, -ENOTSUP, "the %s backend cannot mark instances busy",
                            b->ops->name);
    return b->ops->set_busy(b, gpu, gi_id, busy, err);
}

int mk_backend_set_fault(struct mk_backend *b, int gpu, int kind, int count,
                         struct mk_error *err)
{
    int r = check_gpu(b, gpu, err);
    if (r < 0)
        return r;
    if (kind < 0 || kind >= MK_FAULT__COUNT || count < 0)
        return mk_error_set(err, -EINVAL, "unknown fault kind %d or negative count", kind);
    if (!b->ops->set_fault)
        return mk_error_set(err, -ENOTSUP, "the %s backend cannot inject faults", b->ops->name);
    return b->ops->set_fault(b, gpu, kind, count, err);
}

int mk_backend_commit(struct mk_backend *b, struct mk_error *err)
{
    return b->ops->commit ? b->ops->commit(b, err) : 0;
}
