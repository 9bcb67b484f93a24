/*
 * sim.c - the simulator backend: a machine kept as a JSON state file (state.h) in a state
 * directory, changed with the exact geometry of the catalog models.
 *
 * Concurrency: every command holds flock() on DIR/lock for its whole life (shared to read,
 * exclusive to write), and the state file is replaced atomically (write a temporary file,
 * fsync, rename, fsync the directory), so concurrent migctl calls serialise and a crash
 * leaves either the old or the new state, never a torn file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend-internal.h"
#include "migkit/state.h"
#include "migkit/uuid.h"

#define STATE_FILE "state.json"
#define LOCK_FILE "lock"
/* The model a first use creates: the GPU the project's examples are written for. */
#define DEFAULT_MODEL "h100-sxm5-80gb"

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

/* mkdir -p with mode 0755 for each missing component. */
static int mkdir_p(const char *path, struct mk_error *err)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return mk_error_set(err, -ENAMETOOLONG, "state directory path is empty or too long");
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return mk_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return mk_error_set(err, -errno, "cannot create state directory %s: %s", tmp,
                            strerror(errno));
    return 0;
}

static int lock_dir(const char *dir, bool exclusive, struct mk_error *err)
{
    char path[4200];
    int fd, r;
    snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return mk_error_set(err, -errno, "cannot open lock %s: %s", path, strerror(errno));
    do
        r = flock(fd, exclusive ? LOCK_EX : LOCK_SH);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        r = -errno;
        close(fd);
        return mk_error_set(err, r, "cannot lock %s: %s", path, strerror(-r));
    }
    return fd;
}

static int write_state(const char *dir, const struct mk_gpu *gpus, int n, struct mk_error *err)
{
    char path[4200], tmp[4300];
    char *text = mk_state_dump(gpus, n);
    int fd, r = 0;
    size_t len, off = 0;
    if (!text)
        return mk_error_set(err, -ENOMEM, "out of memory writing state");
    snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    len = strlen(text);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        r = mk_error_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
        free(text);
        return r;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            r = mk_error_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    free(text);
    if (r == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) < 0))
        r = mk_error_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = mk_error_set(err, -errno, "cannot replace %s: %s", path, strerror(errno));
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(fd); /* best effort: the rename is already visible */
        close(fd);
    }
    return 0;
}

static int read_file(const char *path, char **ret, struct mk_error *err)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f)
        return errno == ENOENT ? -ENOENT
                               : mk_error_set(err, -errno, "cannot read %s: %s", path,
                                              strerror(errno));
    for (;;) {
        if (len + 4097 > cap) {
            char *nb = mk__realloc(buf, cap = cap * 2 + 8192);
            if (!nb) {
                mk__free(buf);
                fclose(f);
                return mk_error_set(err, -ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

static void make_gpu(struct mk_gpu *g, const struct mk_model *m, int i, bool mig)
{
    mk_gpu_init(g, m, i);
    /* Bus numbers follow the order GPUs enumerate in; domain 0, device 0, function 0. */
    snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "00000000:%02X:00.0", (unsigned)(i + 1));
    g->mig_enabled = mig;
}

/* Writes a fresh machine of n GPUs into dir. The caller holds the exclusive lock. */
static int init_locked(const char *dir, const struct mk_model *const *models, int n,
                       bool mig_enabled, struct mk_error *err)
{
    struct mk_gpu *gpus;
    int r = 0;
    if (!(gpus = mk__calloc((size_t)n, sizeof(*gpus))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    for (int i = 0; i < n && r == 0; i++) {
        make_gpu(&gpus[i], models[i], i, mig_enabled);
        if ((r = mk_uuid_generate("GPU-", gpus[i].uuid, sizeof(gpus[i].uuid))) < 0)
            mk_error_set(err, r, "cannot generate a UUID: %s", strerror(-r));
    }
    if (r == 0)
        r = write_state(dir, gpus, n, err);
    mk__free(gpus);
    return r;
}

int mk_sim_init(const char *dir, const struct mk_catalog *cat, const struct mk_model *const *models,
                int n, bool mig_enabled, struct mk_error *err)
{
    int fd, r;
    (void)cat;
    if (n <= 0 || n > 64)
        return mk_error_set(err, -EINVAL, "GPU count must be between 1 and 64, not %d", n);
    if ((r = mkdir_p(dir, err)) < 0)
        return r;
    if ((fd = lock_dir(dir, true, err)) < 0)
        return fd;
    r = init_locked(dir, models, n, mig_enabled, err);
    close(fd);
    return r;
}

/* First use of a state directory: create the default machine (one H100 SXM5 with MIG
 * enabled). Re-checked under the exclusive lock so two first uses cannot both create it. */
static int create_default(const char *dir, const struct mk_catalog *cat, const char *path,
                          struct mk_error *err)
{
    const struct mk_model *m = mk_catalog_find(cat, DEFAULT_MODEL);
    int fd, r = 0;
    if (!m)
        return mk_error_set(err, -ENOENT, "the catalog has no %s", DEFAULT_MODEL);
    if ((r = mkdir_p(dir, err)) < 0)
        return r;
    if ((fd = lock_dir(dir, true, err)) < 0)
        return fd;
    if (access(path, F_OK) < 0)
        r = init_locked(dir, &m, 1, true, err);
    close(fd);
    return r;
}

static int sim_open(struct mk_backend *b, const struct mk_backend_config *cfg,
                    struct mk_error *err)
{
    struct sim *s = mk__calloc(1, sizeof(*s));
    char path[4200], *text = NULL;
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
    snprintf(path, sizeof(path), "%s/" STATE_FILE, s->dir);
    s->writable = cfg->writable;
    if (access(path, F_OK) < 0 && (r = create_default(s->dir, b->cat, path, err)) < 0) {
        mk__free(s);
        return r;
    }
    if ((s->lock_fd = lock_dir(s->dir, cfg->writable, err)) < 0) {
        r = s->lock_fd;
        mk__free(s);
        return r;
    }
    if ((r = read_file(path, &text, err)) < 0) {
        if (r == -ENOENT)
            r = mk_error_set(err, -ENOENT, "%s: state file vanished", path);
        goto fail;
    }
    r = mk_state_parse(text, path, b->cat, &b->gpus, &b->ngpus, err);
    mk__free(text);
    if (r < 0)
        goto fail;
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
    if ((r = need_write(b, err)) < 0)
        return r;
    if ((r = mk_gpu_gi_create(&b->gpus[gpu], p, start, ret_id)) < 0)
        return mk_error_set(err, r, "%s", mk_status_text(r));
    return 0;
}

static int sim_gi_destroy(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err)
{
    int r;
    if ((r = need_write(b, err)) < 0)
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
    if ((r = need_write(b, err)) < 0)
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
    if ((r = need_write(b, err)) < 0)
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

static int sim_commit(struct mk_backend *b, struct mk_error *err)
{
    struct sim *s = b->priv;
    int r;
    if (!s->dirty)
        return 0;
    if ((r = write_state(s->dir, b->gpus, b->ngpus, err)) < 0)
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
    .commit = sim_commit,
};
