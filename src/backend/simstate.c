/*
 * simstate.c - the simulated machine on disk (see simstate.h): the state directory, its lock,
 * atomic file replacement, and the first-use default machine. Shared by the simulator
 * backend and the fake libnvidia-ml.so.1, so both keep one lock discipline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migkit/state.h"
#include "migkit/uuid.h"
#include "simstate.h"

/* mkdir -p with mode 0755 for each missing component. */
int mk__sim_mkdir_p(const char *path, struct mk_error *err)
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

int mk__sim_lock(const char *dir, bool exclusive, struct mk_error *err)
{
    char path[4200];
    int fd, r;
    snprintf(path, sizeof(path), "%s/" MK_SIM_LOCK_FILE, dir);
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

int mk__sim_write_file(const char *dir, const char *name, const char *text, struct mk_error *err)
{
    char path[4200], tmp[4300];
    int fd, r = 0;
    size_t len, off = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    len = strlen(text);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return mk_error_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
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

int mk__sim_read_file(const char *path, char **ret, struct mk_error *err)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f)
        return errno == ENOENT
                   ? -ENOENT
                   : mk_error_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
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

void mk__sim_pci_bus_id(int i, char *buf, size_t len)
{
    /* Bus numbers follow the order GPUs enumerate in, from 1 (bus 0 is the host bridge's);
     * domain 0, device 0, function 0, in NVML's "DDDDDDDD:BB:DD.F" form. */
    snprintf(buf, len, "00000000:%02X:00.0", (unsigned)(i + 1));
}

static void make_gpu(struct mk_gpu *g, const struct mk_model *m, int i, bool mig)
{
    mk_gpu_init(g, m, i);
    mk__sim_pci_bus_id(i, g->pci_bus_id, sizeof(g->pci_bus_id));
    g->mig_enabled = mig;
}

int mk__sim_init_locked(const char *dir, const struct mk_model *const *models, int n,
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
        r = mk__sim_save(dir, gpus, n, err);
    mk__free(gpus);
    return r;
}

int mk__sim_ensure(const char *dir, const struct mk_catalog *cat, struct mk_error *err)
{
    const struct mk_model *m;
    char path[4200];
    int fd, r = 0;
    snprintf(path, sizeof(path), "%s/" MK_SIM_STATE_FILE, dir);
    if (access(path, F_OK) == 0)
        return 0;
    if (!(m = mk_catalog_find(cat, MK_SIM_DEFAULT_MODEL)))
        return mk_error_set(err, -ENOENT, "the catalog has no %s", MK_SIM_DEFAULT_MODEL);
    if ((r = mk__sim_mkdir_p(dir, err)) < 0)
        return r;
    if ((fd = mk__sim_lock(dir, true, err)) < 0)
        return fd;
    if (access(path, F_OK) < 0)
        r = mk__sim_init_locked(dir, &m, 1, true, err);
    close(fd);
    return r;
}

int mk__sim_save(const char *dir, const struct mk_gpu *gpus, int n, struct mk_error *err)
{
    char *text = mk_state_dump(gpus, n);
    int r;
    if (!text)
        return mk_error_set(err, -ENOMEM, "out of memory writing state");
    r = mk__sim_write_file(dir, MK_SIM_STATE_FILE, text, err);
    free(text);
    return r;
}

int mk__sim_load(const char *dir, const struct mk_catalog *cat, struct mk_gpu **ret_gpus,
                 int *ret_n, struct mk_error *err)
{
    char path[4200], *text = NULL;
    int r;
    snprintf(path, sizeof(path), "%s/" MK_SIM_STATE_FILE, dir);
    if ((r = mk__sim_read_file(path, &text, err)) < 0)
        return r;
    r = mk_state_parse(text, path, cat, ret_gpus, ret_n, err);
    mk__free(text);
    return r;
}
