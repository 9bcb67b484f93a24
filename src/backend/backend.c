/*
 * backend.c - backend selection and the argument checks every backend shares.
 */
#include <errno.h>
#include <string.h>

#include "backend-internal.h"

static const struct mk_backend_ops *const backends[] = {&mk__sim_ops};

int mk_backend_open(const struct mk_backend_config *cfg, const struct mk_catalog *cat,
                    struct mk_backend **ret, struct mk_error *err)
{
    const char *name = cfg && cfg->name ? cfg->name : "sim";
    const struct mk_backend_ops *ops = NULL;
    struct mk_backend *b;
    int r;
    mk_assert_return(cfg && cat && ret, -EINVAL);
    for (size_t i = 0; i < MK_ELEMENTSOF(backends); i++)
        if (strcmp(backends[i]->name, name) == 0)
            ops = backends[i];
    if (!ops)
        return mk_error_set(err, -EINVAL, "unknown backend \"%s\" (expected: sim)", name);
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

int mk_backend_commit(struct mk_backend *b, struct mk_error *err)
{
    return b->ops->commit ? b->ops->commit(b, err) : 0;
}
