/*
 * registry.h - migd's authoritative state and every rule on it: GPUs, software instances
 * (profile and custom), grants, process membership and lease totals.
 *
 * One mutex guards everything; every function below takes it, so callers (the HTTP API's
 * thread and the lease server's thread) never lock. A change is checked against the rules,
 * written to the store in one transaction with its event row, and only after the commit
 * applied in memory: what a reader sees is always on disk, and a failed change changes
 * nothing. Functions return 0 (or a count) or -errno with the reason in err:
 *   -EINVAL   a bad value (err names it)        -ENOENT  no such instance/process/GPU
 *   -ENOSPC   it does not fit (geometry, memory) -EBUSY   in use (processes, leases)
 *   -EEXIST   already registered elsewhere        -EPERM   not allowed (process of another uid)
 *   -ESRCH    no such process                     -EIO etc. the store failed
 */
#ifndef MIGD_REGISTRY_H
#define MIGD_REGISTRY_H

#include <sys/types.h>

#include <jansson.h>

#include "migkit/catalog.h"
#include "store.h"

#define MIB (UINT64_C(1) << 20)
/* Smallest quota of an instance: below 64 MiB not even a CUDA context fits. */
#define REGISTRY_MIN_QUOTA (64 * MIB)
/* Instances per GPU: profile instances are bounded by the geometry (at most 15 GIs);
 * custom ones by memory only, so this caps them at a number no real node needs, which keeps
 * every scan of a GPU's instances short. */
#define REGISTRY_MAX_INSTANCES_PER_GPU 64
/* Grants per instance: more uids than this belong in a group (the migkit group) instead. */
#define REGISTRY_MAX_GRANTS 256
/* Parent-chain walk limit when resolving membership: deeper process trees than this are
 * not launched under `migctl exec`, and the bound keeps a hostile chain from costing much. */
#define REGISTRY_MAX_DEPTH 64

struct registry;

/* Who asked for a change: recorded in the events table. pid 0 means no process (TCP test
 * listener, start-up reconciliation). */
struct registry_who {
    uid_t uid;
    pid_t pid;
};

struct registry_config {
    const char *db_path;                  /* STATE_DIR/migd.db */
    const struct mk_catalog *cat;         /* borrowed; outlives the registry */
    const struct mk_model *const *models; /* the GPUs' models, one each (borrowed) */
    const char *const *uuids;             /* their UUIDs (NVML); NULL: kept in the store */
    const char *const *pci_bus_ids;       /* their PCI bus IDs (NVML or the simulator's) */
    int nmodels;
    const char *proc_root; /* "/proc"; NULL means "/proc" */
};

/* A create request. kind PROFILE takes a profile (name or ID) and placement (-1: the driver's
 * automatic choice); kind CUSTOM takes quota_bytes and sms. */
struct registry_create {
    int gpu;
    enum store_kind kind;
    const char *profile_name; /* "1g.10gb" (or "MIG 1g.10gb"); NULL: use profile_id */
    int profile_id;
    int placement;
    uint64_t quota_bytes;
    int sms;
    const char *bad_field; /* out: the request field a -EINVAL/-ENOENT refers to, or NULL */
};

/* What a registered process (or a descendant) gets on the lease socket's HELLO. */
struct registry_limits {
    char instance[MK_UUID_LEN];
    char name[STORE_NAME_LEN];
    char gpu_uuid[MK_UUID_LEN];
    int gpu;
    uint64_t quota_bytes;
    int sms;
    uint64_t leased_bytes; /* sum of the instance's grants after this HELLO */
};

/* Opens the store, restores GPUs, instances, grants and processes, and reconciles: the GPUs
 * must match what was stored (same model at each index) wherever instances exist; processes
 * that are gone are removed (with an event). Returns 0 and the registry, or -errno. */
int registry_open(const struct registry_config *cfg, struct registry **ret, struct mk_error *err);
void registry_close(struct registry *reg);

/* Instances. create writes the new instance's JSON (as GET returns it) to *ret_json. */
int registry_instance_create(struct registry *reg, const struct registry_who *who,
                             struct registry_create *req, json_t **ret_json, struct mk_error *err);
int registry_instance_destroy(struct registry *reg, const struct registry_who *who,
                              const char *uuid, struct mk_error *err);
int registry_instance_resize(struct registry *reg, const struct registry_who *who, const char *uuid,
                             uint64_t quota_bytes, json_t **ret_json, struct mk_error *err);

/* Grants of uid on an instance. Adding one that exists, or removing one that does not, is
 * not an error for add (idempotent) and -ENOENT for remove. */
int registry_grant_add(struct registry *reg, const struct registry_who *who, const char *uuid,
                       uid_t uid, struct mk_error *err);
int registry_grant_remove(struct registry *reg, const struct registry_who *who, const char *uuid,
                          uid_t uid, struct mk_error *err);
/* True when uid holds a grant on the instance (false when there is no such instance). */
bool registry_granted(struct registry *reg, const char *uuid, uid_t uid);

/* Registers pid (identified with its start time) in an instance. When require_uid is not
 * (uid_t)-1 the process must run as that effective uid (-EPERM otherwise). Registering a
 * process that is already in this instance returns 1 and changes nothing; in another
 * instance, -EEXIST. Writes the membership's JSON to *ret_json. The new row is committed
 * before this returns. It costs O(1) in the number registered: it also checks the next two
 * registered processes in turn and removes those that exited, in the same transaction. */
int registry_process_add(struct registry *reg, const struct registry_who *who, const char *uuid,
                         pid_t pid, uid_t require_uid, json_t **ret_json, struct mk_error *err);
/* Unregisters pid from an instance; when require_uid is not (uid_t)-1 the registration must
 * be of that uid (-EPERM otherwise). */
int registry_process_remove(struct registry *reg, const struct registry_who *who, const char *uuid,
                            pid_t pid, uid_t require_uid, struct mk_error *err);

/* Views, as the API returns them (docs/api.md). uid (uid_t)-1 sees everything; another uid
 * sees only instances granted to it (-ENOENT for the others). New references. */
int registry_gpus_json(struct registry *reg, json_t **ret, struct mk_error *err);
int registry_instances_json(struct registry *reg, uid_t uid, json_t **ret, struct mk_error *err);
int registry_instance_json(struct registry *reg, const char *uuid, uid_t uid, json_t **ret,
                           struct mk_error *err);
int registry_events_json(struct registry *reg, int64_t since, int limit, uid_t uid, json_t **ret,
                         struct mk_error *err);

/* Registered processes now (after start-up reconciliation: those that survived). */
size_t registry_process_count(struct registry *reg);

/*
 * Survivors of the restart that have not re-registered: processes registered before migd
 * started that are alive, and have not said HELLO on the lease socket since (a HELLO from the
 * process itself, with the same start time, counts; one from a child does not). Those found
 * dead are forgotten on the way. When it reaches 0, the lease server's re-registration grace
 * has nothing left to wait for. Reads /proc once per survivor still waited for.
 */
size_t registry_survivors_pending(struct registry *reg);

/* The lease server's operations (docs/lease-protocol.md).
 *
 * hello: finds the instance of pid (registered itself, or through its parent chain) and
 * fills *ret with its limits. held > 0 re-registers memory a process still holds after a
 * migd restart: granted when the instance's sum stays within its quota, else -ENOSPC.
 * -ENOENT when pid belongs to no instance. uid is the peer's (SO_PEERCRED); membership was
 * authorized when the process (or its ancestor) was registered, so it is not checked again.
 *
 * grant: adds bytes to the instance's sum when it stays within the quota (0), else -ENOSPC;
 * *ret_free is what is left either way. release: subtracts (never below zero). */
int registry_lease_hello(struct registry *reg, pid_t pid, uid_t uid, uint64_t held,
                         struct registry_limits *ret);
int registry_lease_grant(struct registry *reg, const char *instance, uint64_t bytes,
                         uint64_t *ret_free);
void registry_lease_release(struct registry *reg, const char *instance, uint64_t bytes);
/* info: the instance's quota now and the sum of its grants; -ENOENT when it is gone. */
int registry_lease_info(struct registry *reg, const char *instance, uint64_t *ret_quota,
                        uint64_t *ret_granted);

/* ---- for the watchdog and /metrics (read-only, except registry_event) ---- */

/* The instance of pid (registered itself, or its closest registered ancestor) and that
 * instance's GPU index. Returns 0, or -ENOENT when pid belongs to no instance. */
int registry_process_instance(struct registry *reg, pid_t pid, char ret_instance[MK_UUID_LEN],
                              int *ret_gpu);
/* GPUs of the registry, and the instances on GPU gpu now (0 for an index it lacks). */
int registry_gpu_count(struct registry *reg);
int registry_gpu_instances(struct registry *reg, int gpu);
/* Writes one event row that goes with no change of state (the watchdog's actions). */
int registry_event(struct registry *reg, const struct registry_who *who, const char *action,
                   const char *subject, const char *detail, struct mk_error *err);

/* One instance as /metrics shows it; strings valid during the callback only. */
struct registry_instance_stat {
    const char *uuid;
    const char *name;
    int gpu;
    uint64_t quota_bytes;
    uint64_t leased_bytes; /* sum of its processes' lease grants now */
    size_t processes;      /* registered processes (descendants are not registered) */
};
/* Calls cb for every instance, in creation order, with the registry locked: cb must not
 * call the registry. */
void registry_foreach_instance(struct registry *reg,
                               void (*cb)(void *ctx, const struct registry_instance_stat *s),
                               void *ctx);

#endif /* MIGD_REGISTRY_H */
