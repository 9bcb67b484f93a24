/*
 * backend-internal.h - what each backend implementation provides to backend.c.
 */
#ifndef MIGKIT_BACKEND_INTERNAL_H
#define MIGKIT_BACKEND_INTERNAL_H

#include "migkit/backend.h"

struct mk_backend_ops {
    const char *name;
    int (*open)(struct mk_backend *b, const struct mk_backend_config *cfg, struct mk_error *err);
    void (*close)(struct mk_backend *b);
    int (*set_mig)(struct mk_backend *b, int gpu, bool enabled, struct mk_error *err);
    int (*gi_create)(struct mk_backend *b, int gpu, const struct mk_gi_profile *p, int start,
                     int *ret_id, struct mk_error *err);
    int (*gi_destroy)(struct mk_backend *b, int gpu, int gi_id, struct mk_error *err);
    int (*ci_create)(struct mk_backend *b, int gpu, int gi_id, int ci_profile_id, int *ret_id,
                     struct mk_error *err);
    int (*ci_destroy)(struct mk_backend *b, int gpu, int gi_id, int ci_id,
                      struct mk_error *err);
    int (*set_busy)(struct mk_backend *b, int gpu, int gi_id, bool busy, struct mk_error *err);
    int (*set_fault)(struct mk_backend *b, int gpu, int kind, int count, struct mk_error *err);
    int (*commit)(struct mk_backend *b, struct mk_error *err);
};

/* Room for hints: nvidia-smi's explanation of a pending MIG mode is the longest (about 420
 * bytes), and `-mig 1` may leave eight GPUs pending, one explanation each. */
#define MK_BACKEND_HINT_LEN 4096

struct mk_backend {
    const struct mk_backend_ops *ops;
    const struct mk_catalog *cat; /* borrowed */
    int ngpus;
    struct mk_gpu *gpus;            /* owned, mk__free */
    void *priv;                     /* backend-owned */
    char hint[MK_BACKEND_HINT_LEN]; /* see mk_backend_hint() */
};

/* Adds a line to b's hint (printf-style) unless it is there already; backends call it when a
 * failure needs more words than nvidia-smi's one-line text. */
void mk__backend_hint(struct mk_backend *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

extern const struct mk_backend_ops mk__sim_ops;
extern const struct mk_backend_ops mk__nvml_ops;
extern const struct mk_backend_ops mk__soft_ops;

#endif
