/*
 * sim.c - the simulator backend: a machine kept as a JSON state file (state.h) in a state
 * directory, changed with the exact geometry of the catalog models.
 *
 * Concurrency: every command holds flock() on DIR/lock for its whole life (shared to read,
 * exclusive to write), and the state file is replaced atomically (write a temporary file,
 * fsync, rename, fsync the directory), so concurrent migctl calls serialise and a crash
 * leaves either the old or the new state, never a torn file. The on-disk side lives in
 * simstate.c, shared with the fake libnvidia-ml.so.1 of tests/fakes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend-internal.h"
#include "migkit/state.h"
#include "migkit/uuid.h"
#include "simstate.h"

struct sim {
    char dir[4096];
    int lock_fd;
    bool writable;
    bool dirty;
};

char *mk_sim_default_dir(char *buf, size_t len)
{
    const char *s = getenv("MIGKIT_STATE_DIR");
    if (s && *s) {
        snprintf(buf, len, "%s", s);
        return buf;
    }
    if ((s = getenv("XDG_STATE_HOME")) && *s) {
        snprintf(buf, len, "%s/migkit/sim", s);
        return buf;
    }
    if ((s = getenv("HOME")) && *s) {
        snprintf(buf, len, "%s/.local/state/migkit/sim", s);
        return buf;
    }
    return NULL;
}

int mk_sim_init(const char *dir, const struct mk_catalog *cat, const struct mk_model *const *models,
                int n, bool mig_enabled, struct mk_error *err)
{
    int fd, r;
    (void)cat;
    if (n <= 0 || n > 64)
        return mk_error_set(err, -EINVAL, "GPU count must be between 1 and 64, not %d", n);
    if ((r = mk__sim_mkdir_p(dir, err)) < 0)
        return r;
    if ((fd = mk__sim_lock(dir, true, err)) < 0)
        return fd;
    r = mk__sim_init_locked(dir, models, n, mig_enabled, err);
    close(fd);
    return r;
}

static int sim_open(struct mk_backend *b, const struct mk_backend_config *cfg,
                    struct mk_error *err)
{
    struct sim *s = mk__calloc(1, sizeof(*s));
    int r;
    if (!s)
        return mk_error_set(err, -ENOMEM, "out of memory");
    s->lock_fd = -1;
    if (cfg->state_dir)
        snprintf(s->dir, sizeof(s->dir), "%s", cfg->state_dir);
    else if (!mk_sim_default_dir(s->dir, sizeof(s->dir))) {
        mk__free(s);
        return mk_error_set(err, -EINVAL, "no state directory: set --state, MIGKIT_STATE_DIR "
                                          "or HOME");
    }
    s->writable = cfg->writable;
    if ((r = mk__sim_ensure(s->dir, b->cat, err)) < 0) {
        mk__free(s);
        return r;
    }
    if ((s->lock_fd = mk__sim_lock(s->dir, cfg->writable, err)) < 0) {
        r = s->lock_fd;
        mk__free(s);
        return r;
    }
    if ((r = mk__sim_load(s->dir, b->cat, &b->gpus, &b->ngpus, err)) < 0) {
        if (r == -ENOENT)
            r = mk_error_set(err, -ENOENT, "%s/" MK_SIM_STATE_FILE ": state file vanished",
                             s->dir);
        goto fail;
    }
    b->priv = s;
    return 0;
fail:
    close(s->lock_fd);
    mk__free(s);
    return r;
}

static void sim_close(struct mk_backend *b)
{
    struct sim *s = b->priv;
    if (!s)
        return;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    mk__free(s);
}

static int need_write(struct mk_backend *b, struct mk_error *err)
{
    struct sim *s = b->priv;
    if (!s->writable)
        return mk_error_set(err, -EPERM, "internal error: state opened read-only");
    s->dirty = true;
    return 0;
}

/* Applies a pending injected failure of kind f on GPU gpu: the operation fails with "In use
 * by another client" and the count goes down (and is saved with the state). */
static int injected(struct mk_backend *b, int gpu, enum mk_fault f, struct mk_error *err)
{
    if (b->gpus[gpu].faults[f] <= 0)
        return 0;
    b->gpus[gpu].faults[f]--;
    return mk_error_set(err, -EBUSY, "%s (injected with migctl sim fault %s)",
                        mk_status_text(-EBUSY), mk_fault_name(f));
}

static int sim_set_mig(struct mk_backend *b, int gpu, bool enabled, struct mk_error *err)
{
    int r;
    if ((r = need_write(b, err)) < 0)
        return r;
    if ((r = mk_gpu_set_mig(&b->gpus[gpu], enabled)) < 0)
        return mk_error_set(err, r, "%s", mk_status_text(r));
    return 0;
}

static int sim_gi_create(struct mk_backend *b, int gpu, const struct mk_gi_profile *p, int start,
                         int *ret_id, struct mk_error *err)
{
    int r;
    if ((r = need_write(b, err)) < 0 || (r = injected(b, gpu, MK_FAULT_CREATE_GI, err)) < 0)
        return r;
    if ((r = mk_gpu_gi_create(&b->gpus[gpu], p, start, ret_id)) < 0)
        return mk_error_set(err, r, "%s", mk_status_text(r));
    return 0;
}

static int sim_gi_destroy(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err)
{
    int r;
    if ((r = need_write(b, err)) < 0 || (r = injected(b, gpu, MK_FAULT_DESTROY_GI, err)) < 0)
        return r;
    if ((r = mk_gpu_gi_destroy(&b->gpus[gpu], gi_id)) < 0)
        return mk_error_set(err, r, "%s", mk_status_text(r));
    return 0;
}

static int sim_ci_create(struct mk_backend *b, int gpu, int gi_id, int ci_profile_id, int *ret_id,
                         struct mk_error *err)
{
    char uuid[MK_UUID_LEN];
    int r;
    if ((r = need_write(b, err)) < 0 || (r = injected(b, gpu, MK_FAULT_CREATE_CI, err)) < 0)
        return r;
    if ((r = mk_uuid_generate("MIG-", uuid, sizeof(uuid))) < 0)
        return mk_error_set(err, r, "cannot generate a UUID: %s", strerror(-r));
    if ((r = mk_gpu_ci_create(&b->gpus[gpu], gi_id, ci_profile_id, uuid, ret_id)) < 0)
        return mk_error_set(err, r, "%s", mk_status_text(r));
    return 0;
}

static int sim_ci_destroy(struct mk_backend *b, int gpu, int gi_id, int ci_id,
                          struct mk_error *err)
{
    int r;
    if ((r = need_write(b, err)) < 0 || (r = injected(b, gpu, MK_FAULT_DESTROY_CI, err)) < 0)
        return r;
    if ((r = mk_gpu_ci_destroy(&b->gpus[gpu], gi_id, ci_id)) < 0)
        return mk_error_set(err, r, "%s", mk_status_text(r));
    return 0;
}

static int sim_set_busy(struct mk_backend *b, int gpu, int gi_id, bool busy,
                        struct mk_error *err)
{
    struct mk_gi *gi;
    int r;
    if ((r = need_write(b, err)) < 0)
        return r;
    if (!(gi = mk_gpu_gi_find(&b->gpus[gpu], gi_id)))
        return mk_error_set(err, -ENOENT, "GPU %d has no GPU instance %d", gpu, gi_id);
    gi->busy = busy;
    return 0;
}

static int sim_set_fault(struct mk_backend *b, int gpu, int kind, int count,
                         struct mk_error *err)
{
    int r;
    if ((r = need_write(b, err)) < 0)
        return r;
    b->gpus[gpu].faults[kind] = count;
    return 0;
}

static int sim_commit(struct mk_backend *b, struct mk_error *err)
{
    struct sim *s = b->priv;
    int r;
    if (!s->dirty)
        return 0;
    if ((r = mk__sim_save(s->dir, b->gpus, b->ngpus, err)) < 0)
        return r;
    s->dirty = false;
    return 0;
}

const struct mk_backend_ops mk__sim_ops = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .set_mig = sim_set_mig,
    .gi_create = sim_gi_create,
    .gi_destroy = sim_gi_destroy,
    .ci_create = sim_ci_create,
    .ci_destroy = sim_ci_destroy,
    .set_busy = sim_set_busy,
    .set_fault = sim_set_fault,
    .commit = sim_commit,
};
