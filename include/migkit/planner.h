/*
 * planner.h - the fleet planner: from a list of workloads (memory, replicas, priority,
 * compute, allowed models) and a fleet of GPUs to one MIG layout per GPU (docs/planner.md).
 *
 * Every replica of a workload gets one GPU instance (GI) of its own, with the GI's default
 * compute instance. On each GPU model a replica takes the smallest plain profile whose memory
 * covers memory x (1 + headroom) and whose compute covers the workload's minimum (ties: fewer
 * compute slices). Which profiles fit together on one GPU is decided by the exact geometry
 * (geometry.h: placements, max counts, GI limits), never by adding up slices.
 *
 * Plans are compared, in order, by:
 *   1. replicas placed, priority level by priority level, highest first (a replica is never
 *      left out so that one of lower priority can be placed);
 *   2. fewest GPUs used;
 *   3. least fragmentation: the GPUs' largest still-creatable profiles, largest first;
 *   4. fewest changes to the GPUs' current layouts (existing GIs of the right profile kept).
 * Every plan carries a lower bound on the GPUs any plan needs for the replicas it placed
 * (the configuration LP, strengthened by a branch and bound on it, the configuration search,
 * which also finds better plans); fleets of at most MK_PLAN_EXACT_MAX_GPUS GPUs are also
 * solved by exhaustive search, which proves the GPU count optimal.
 *
 * Pure computation (parsing works on text; mk_plan_input_load() is the one function that
 * reads a file). Structs are plain records owned by the object they came from. Not
 * thread-safe per object; distinct objects may be used from distinct threads.
 */
#ifndef MIGKIT_PLANNER_H
#define MIGKIT_PLANNER_H

#include "migkit/config.h"
#include "migkit/geometry.h"

/* A workload may restrict itself to this many models (the catalog has 13). */
#define MK_PLAN_MAX_ALLOWED 16
/* The default headroom, 20%, in parts per million (the MIG sizing rule of thumb). */
#define MK_PLAN_PPM                  1000000u
#define MK_PLAN_DEFAULT_HEADROOM_PPM 200000u
/* Fleets up to this many GPUs are solved to proven optimality (when the search finishes
 * within its node budget). */
#define MK_PLAN_EXACT_MAX_GPUS 8

/* Units of memory sizes. GB and MB are decimal (10^9, 10^6 bytes), GiB and MiB binary. */
#define MK_PLAN_GIB (1ull << 30)
#define MK_PLAN_MIB (1ull << 20)
#define MK_PLAN_GB  1000000000ull
#define MK_PLAN_MB  1000000ull

struct mk_plan_workload {
    char name[MK_NAME_LEN];
    char memory_text[32];  /* as written, for reports ("18GiB") */
    uint64_t memory_bytes; /* > 0 */
    int replicas;          /* >= 1 */
    int priority;          /* higher is placed first; default 0 */
    int compute_slices;    /* minimum compute slices ("2g"), 0 when not given */
    int compute_sms;       /* minimum SMs (an integer compute), 0 when not given */
    int nallowed;          /* 0: every model */
    const struct mk_model *allowed[MK_PLAN_MAX_ALLOWED];
    struct mk_config_pos pos;
};

struct mk_plan_fleet_entry {
    const struct mk_model *model; /* borrowed from the catalog */
    int count;
    struct mk_config_pos pos;
};

/* A parsed workloads or fleet file. */
struct mk_plan_input {
    char origin[256];
    bool has_headroom;
    uint32_t headroom_ppm;
    int nfleet; /* 0 when the file has no fleet */
    struct mk_plan_fleet_entry *fleet;
    int nworkloads; /* 0 when the file has no workloads */
    struct mk_plan_workload *workloads;
};

/* Flags of mk_plan_input_parse(). */
#define MK_PLAN_INPUT_WORKLOADS  1u /* workloads are required */
#define MK_PLAN_INPUT_FLEET_ONLY 2u /* a fleet file: fleet required, nothing else allowed */

/* Parses YAML or JSON (JSON when the text starts with '{' or '[', or origin ends in ".json")
 * into a new input. Models are looked up in cat, which must outlive the result. On error
 * returns -EINVAL with "origin:line:column: found ...; expected ..." in err (or -ENOMEM) and
 * sets nothing. */
int mk_plan_input_parse(const char *text, size_t len, const char *origin,
                        const struct mk_catalog *cat, unsigned flags, struct mk_plan_input **ret,
                        struct mk_error *err);
/* Reads and parses a file ("-" is standard input, named <stdin>). */
int mk_plan_input_load(const char *path, const struct mk_catalog *cat, unsigned flags,
                       struct mk_plan_input **ret, struct mk_error *err);
void mk_plan_input_free(struct mk_plan_input *in);

/* Parses a size such as "18GiB", "7.5 GB", "512MiB" (units GiB, GB, MiB, MB; up to 9
 * decimals; at most 1 TiB) into bytes, rounding a fraction of a byte up. Returns 0, -ERANGE
 * for a negative size, -EOVERFLOW above 1 TiB, or -EINVAL for anything else. */
int mk_plan_parse_size(const char *s, uint64_t *ret_bytes);
/* Parses a headroom: a decimal fraction ("0.2", up to 6 decimals) or a percentage ("20%"),
 * from 0 to 10 (1000%). Returns 0 with parts per million, or -EINVAL. */
int mk_plan_parse_headroom(const char *s, uint32_t *ret_ppm);

/* Bytes a replica of w must find in its GI: memory x (1 + headroom), rounded up. */
uint64_t mk_plan_need_bytes(const struct mk_plan_workload *w, uint32_t headroom_ppm);

/* True for the profiles the planner uses: no media-engine (+me, +me.all, -me) or graphics
 * (+gfx) variant. Those are scarce (+me: one per GPU) and for special uses, so a plan never
 * spends them on ordinary workloads. */
bool mk_plan_profile_is_plain(const struct mk_gi_profile *p);

/* The profile a replica of w gets on model m: the plain profile with the least memory that
 * covers mk_plan_need_bytes() and w's compute minimum; ties go to fewer compute slices, then
 * fewer memory slices. NULL when none covers it, or when w may not use m. Borrowed from m. */
const struct mk_gi_profile *mk_plan_profile_for(const struct mk_model *m,
                                                const struct mk_plan_workload *w,
                                                uint32_t headroom_ppm);

#define MK_PLAN_REASON_MAP(X)                                                                      \
    X(NONE, "placed")                                                                              \
    X(TOO_BIG, "too-big")                                                                          \
    X(MODEL, "model-restriction")                                                                  \
    X(CAPACITY, "capacity")

enum mk_plan_reason {
#define X(n, s) MK_PLAN_REASON_##n,
    MK_PLAN_REASON_MAP(X)
#undef X
};

/* "too-big", "capacity", ... */
const char *mk_plan_reason_name(enum mk_plan_reason r);

enum mk_plan_mode {
    MK_PLAN_AUTO,      /* heuristic, then the configuration search (any fleet, about 45 ms
                          at most) and the exhaustive search (<= 8 GPUs) where the bound does
                          not prove it optimal */
    MK_PLAN_HEURISTIC, /* heuristic only */
    MK_PLAN_EXACT,     /* exhaustive search (any fleet size; may hit the node budget) */
};

struct mk_plan_request {
    const struct mk_plan_workload *workloads;
    int nworkloads;
    /* The fleet in order; each GPU's index is its position here. Current layouts count for
     * objective 4: GIs of the profile a replica needs are kept where that costs nothing
     * above. Copied; the model pointers must outlive the plan. */
    const struct mk_gpu *gpus;
    int ngpus;
    uint32_t headroom_ppm;
    enum mk_plan_mode mode;
    long exact_node_limit; /* search nodes before the exact search gives up; 0: default */
};

/* One replica. */
struct mk_plan_assignment {
    int workload;                        /* index into the request's workloads */
    int replica;                         /* 0-based */
    uint64_t need_bytes;                 /* memory x (1 + headroom) */
    int gpu;                             /* fleet index, -1 when not placed */
    const struct mk_gi_profile *profile; /* NULL when not placed */
    int gi_id;                           /* in the target layout */
    int start;                           /* placement start */
    enum mk_plan_reason reason;          /* MK_PLAN_REASON_NONE when placed */
    char why[160];                       /* the reason in words, "" when placed */
};

struct mk_plan_gpu {
    bool used;                                /* holds at least one replica */
    int replicas;                             /* replicas placed here */
    struct mk_gpu target;                     /* the layout apply builds (layout.h) */
    int kept, reused, created, destroyed;     /* GIs, against the current layout */
    bool mode_change;                         /* MIG mode must be turned on */
    const struct mk_gi_profile *largest_free; /* largest plain profile creatable after */
};

struct mk_plan {
    uint32_t headroom_ppm;
    int nassign; /* every replica, in workload order, then replica order */
    struct mk_plan_assignment *assign;
    int ngpus;
    struct mk_plan_gpu *gpus;
    int replicas, placed;
    int gpus_used;
    int lower_bound;      /* GPUs any plan needs for the replicas this one placed: the best
                             of relaxation_bound and config_bound, raised to gpus_used when
                             exact_done */
    int relaxation_bound; /* the LP relaxation (or weight) bound alone */
    int config_bound;     /* the configuration search's bound (0 when it did not run) */
    long config_lps;      /* the LPs the configuration search solved (0: it did not run) */
    int heuristic_gpus;   /* what the heuristic alone used */
    bool exact_done;      /* the exhaustive search finished: gpus_used is optimal */
    long exact_nodes;     /* its search nodes (0 when it did not run) */
    int kept, reused, created, destroyed, mode_changes; /* fleet totals */
};

/* Plans the request. Returns 0 and a new plan, or -EINVAL (a malformed request: no GPUs,
 * a model the planner cannot tabulate) / -ENOMEM with detail in err. Replicas that cannot be
 * placed are not an error: they are in the plan with their reason. */
int mk_plan_new(const struct mk_plan_request *req, struct mk_plan **ret, struct mk_error *err);
void mk_plan_free(struct mk_plan *plan);

/* True when the plan's GPU count is proven optimal: it equals the lower bound, or the
 * exhaustive search finished. */
bool mk_plan_is_optimal(const struct mk_plan *plan);

/* A lower bound on the GPUs of the given fleet needed to place, for each workload i,
 * counts[i] replicas (every replica when counts is NULL): the best of the weight bounds, the
 * configuration LP and the configuration search (bound only; it takes up to about 45 ms).
 * Replicas no fleet GPU can hold are not counted; when the fleet cannot hold the rest the
 * bound may exceed its GPUs. Returns the bound (>= 0) or -errno. */
int mk_plan_lower_bound(const struct mk_plan_request *req, const int *counts, struct mk_error *err);

/* A mig-parted v1 configuration with one label holding one entry per fleet GPU (devices:
 * [i], MIG enabled, the GPU's planned MIG devices; unused GPUs get none). Fleets of more than
 * MK_CONFIG_MAX_DEVICES GPUs do not fit one configuration: -E2BIG. Free with
 * mk_config_free(). */
int mk_plan_to_config(const struct mk_plan *plan, const char *label, struct mk_config **ret,
                      struct mk_error *err);

#endif /* MIGKIT_PLANNER_H */
