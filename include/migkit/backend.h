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
    /* "sim" (the default when NULL), "nvml" (real MIG through libnvidia-ml.so.1), "soft"
     * (migd's software instances, docs/soft.md; never chosen by "auto"), or "auto": nvml
     * when the library loads and reports at least one GPU, else sim. */
    const char *name;
    const char *state_dir; /* sim: state directory; NULL means mk_sim_default_dir() */
    bool writable;         /* take the lock for writing (exclusive) instead of reading */
};

/* Opens a backend on catalog cat (borrowed; must outlive the backend). On failure returns
 * -errno with detail in err and leaves *ret untouched. The simulator creates a default
 * machine (one h100-sxm5-80gb with MIG enabled) on first use. Under nvml, each GPU's model
 * is the catalog's checked against the driver (or built from the driver for a GPU the
 * catalog lacks, slug "from-driver"): the catalog's own when they agree, else a model kept
 * for the rest of the process. Either way mk_gpu.model outlives the backend. */
int mk_backend_open(const struct mk_backend_config *cfg, const struct mk_catalog *cat,
                    struct mk_backend **ret, struct mk_error *err);

/* True when mk_backend_open() knows a backend called name ("auto" included). */
bool mk_backend_known(const char *name);
/* The names mk_backend_open() knows, "auto, sim, nvml, soft", into buf (truncated to len);
 * returns buf. For messages. */
char *mk_backend_names(char *buf, size_t len);

/* Releases the lock and frees the backend. Uncommitted changes are dropped. NULL is a no-op. */
void mk_backend_close(struct mk_backend *b);

/* The backend that answered: "sim", "nvml" or "soft" (never "auto"). */
const char *mk_backend_name(const struct mk_backend *b);
/* What the failed operations since open need said beyond nvidia-smi's one-line text (that
 * they require root, why MIG mode is only pending), one line each, or NULL. Borrowed from b. */
const char *mk_backend_hint(const struct mk_backend *b);
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
/* Marks a GI as in use by processes (simulator only; -ENOTSUP elsewhere: under nvml a GI is
 * busy when NVML reports processes running on one of its MIG devices). */
int mk_backend_set_busy(struct mk_backend *b, int gpu, int gi_id, bool busy,
                        struct mk_error *err);

/* Makes the next `count` operations of kind `kind` (enum mk_fault) on GPU gpu fail with "In
 * use by another client" (simulator only; -ENOTSUP elsewhere). For testing failure handling. */
int mk_backend_set_fault(struct mk_backend *b, int gpu, int kind, int count,
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
