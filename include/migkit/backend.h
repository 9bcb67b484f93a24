/*
 * backend.h - one interface to a machine's GPUs, whatever answers: the simulator (sim), real
 * MIG hardware through NVML (nvml), or software instances held by migd (soft).
 *
 * A backend is opened for one command, holds whatever lock its machine needs for that time,
 * and exposes the current state of every GPU as struct mk_gpu values (geometry.h) that it
 * keeps up to date after each operation. Changes are made one operation at a time, exactly
 * as the driver makes them: a failed operation changes nothing, earlier ones stay made.
 * mk_backend_commit() makes them durable (a no-op where the hardware is the state).
 */
#ifndef MIGKIT_BACKEND_H
#define MIGKIT_BACKEND_H

#include "migkit/geometry.h"

struct mk_backend;

struct mk_backend_config {
    const char *name;      /* "sim" (default); others arrive with their issues */
    const char *state_dir; /* sim: state directory; NULL means mk_sim_default_dir() */
    bool writable;         /* take the lock for writing (exclusive) instead of reading */
};

/* Opens a backend on catalog cat (borrowed; must outlive the backend). On failure returns
 * -errno with detail in err and leaves *ret untouched. The simulator creates a default
 * machine (one h100-sxm5-80gb with MIG enabled) on first use. */
int mk_backend_open(const struct mk_backend_config *cfg, const struct mk_catalog *cat,
                    struct mk_backend **ret, struct mk_error *err);

/* Releases the lock and frees the backend. Uncommitted changes are dropped. NULL is a no-op. */
void mk_backend_close(struct mk_backend *b);

const char *mk_backend_name(const struct mk_backend *b);
int mk_backend_gpu_count(const struct mk_backend *b);
/* GPU i (0-based), or NULL. Borrowed; valid until the next operation or close. */
const struct mk_gpu *mk_backend_gpu(const struct mk_backend *b, int i);

/* The operations. Each returns 0 or -errno (the classes of common.h, so callers can print
 * nvidia-smi's texts) with detail in err. */
int mk_backend_set_mig(struct mk_backend *b, int gpu, bool enabled, struct mk_error *err);
int mk_backend_gi_create(struct mk_backend *b, int gpu, const struct mk_gi_profile *p, int start,
                         int *ret_gi_id, struct mk_error *err);
int mk_backend_gi_destroy(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err);
int mk_backend_ci_create(struct mk_backend *b, int gpu, int gi_id, int ci_profile_id,
                         int *ret_ci_id, struct mk_error *err);
int mk_backend_ci_destroy(struct mk_backend *b, int gpu, int gi_id, int ci_id,
                          struct mk_error *err);
/* Marks a GI as in use by processes (simulator only; -ENOTSUP elsewhere). */
int mk_backend_set_busy(struct mk_backend *b, int gpu, int gi_id, bool busy,
                        struct mk_error *err);

/* Makes the changes so far durable. Returns 0 or -errno. */
int mk_backend_commit(struct mk_backend *b, struct mk_error *err);

/* ---- simulator-specific ---- */

/* The default state directory: $MIGKIT_STATE_DIR, else $XDG_STATE_HOME/migkit/sim, else
 * $HOME/.local/state/migkit/sim. Writes into buf and returns it, or NULL if none can be
 * determined. */
char *mk_sim_default_dir(char *buf, size_t len);

/* (Re)creates a simulated machine in dir: n GPUs, models[i] for GPU i, MIG mode as given.
 * Replaces any previous machine there atomically, under the state lock. */
int mk_sim_init(const char *dir, const struct mk_catalog *cat, const struct mk_model *const *models,
                int n, bool mig_enabled, struct mk_error *err);

#endif /* MIGKIT_BACKEND_H */
