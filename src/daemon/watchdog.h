/*
 * watchdog.h - migd's watchdog: every interval it reads, through NVML, the GPU memory each
 * process holds, and acts on a process that
 *   - holds more than its lease grants allow (the ledger's sum for its pid) plus the slack
 *     below, while it belongs to an instance on that GPU ("over_quota"), or
 *   - uses a GPU that has software instances without belonging to one of them
 *     ("unregistered": registered nowhere, or in an instance of another GPU).
 * The action is the policy's: log (a log line and an event row) or kill (the same, then
 * SIGKILL). One offence of one process is acted on once, not at every interval.
 *
 * It runs on its own thread. GPUs are matched by index: registry GPU i is NVML GPU i (true
 * of the NVML backend, which enumerates NVML's order; with --simulate, NVML is whatever
 * libnvidia-ml.so.1 the loader finds, the test double in tests).
 */
#ifndef MIGD_WATCHDOG_H
#define MIGD_WATCHDOG_H

#include <stdint.h>

#include "ledger.h"
#include "registry.h"

/* Seconds between two scans by default. A scan costs one NVML query per GPU (about a
 * millisecond on a real driver) and a /proc read per GPU process; every 10 s keeps that
 * negligible while an offender is stopped well before a typical job has run for long. */
#define WATCHDOG_INTERVAL_DEFAULT_S 10
/* Longest interval accepted: a day. Longer is as good as off, which 0 says plainly. */
#define WATCHDOG_INTERVAL_MAX_S 86400
/*
 * What a process may hold beyond its grants: the memory the shim does not charge because no
 * allocation call makes it (docs/shim.md, "Not allocation calls, not charged"): above all
 * the CUDA context itself (its local memory, printf and heap buffers, the loaded modules'
 * code and constant banks), and module globals. NVML counts all of it as the process's
 * usedGpuMemory. Measured on an H200 (driver 580.159.04, CUDA 13.0, lazy module loading,
 * tests/gpu/README.md): a bare context 518 MiB, and a PyTorch process 518 MiB beyond what it
 * allocated. The rest of the 1 GiB is for what grows on top: modules loaded later, and the
 * driver's rounding of allocations above 1 MiB to whole 2 MiB pages, which the shim charges
 * at the size asked for. A process that allocates past its grants without the shim still goes
 * over it at its first real buffer. Per process, not per instance: every process has its own
 * context.
 */
#define WATCHDOG_SLACK_DEFAULT (1024 * MIB)

enum watchdog_policy {
    WATCHDOG_LOG,  /* a log line and an event row */
    WATCHDOG_KILL, /* the same, then SIGKILL */
};

struct watchdog_config {
    struct registry *reg;  /* borrowed; outlives the watchdog */
    struct ledger *ledger; /* borrowed; outlives the watchdog */
    unsigned interval_s;   /* > 0 */
    enum watchdog_policy policy;
    uint64_t slack_bytes;  /* 0: WATCHDOG_SLACK_DEFAULT */
    const char *proc_root; /* NULL: "/proc" */
};

/* Actions taken since the start, by reason and outcome. */
struct watchdog_stats {
    uint64_t scans;
    uint64_t over_quota;   /* processes found holding more than their grants and the slack */
    uint64_t unregistered; /* processes found on a GPU with instances, in none of them */
    uint64_t killed;       /* of those, killed (policy kill) */
    uint64_t errors;       /* NVML queries that failed */
};

struct watchdog;

/* Opens NVML (libnvidia-ml.so.1) and starts the thread; the first scan runs at once.
 * Returns 0, or -errno with err when NVML is not usable (the caller decides whether that
 * matters: migd logs it and runs without a watchdog). */
int watchdog_start(const struct watchdog_config *cfg, struct watchdog **ret, struct mk_error *err);
/* Stops the thread (joined) and closes NVML. NULL is a no-op. */
void watchdog_stop(struct watchdog *w);
/* The counters; all zero for NULL (no watchdog). Any thread. */
void watchdog_stats(struct watchdog *w, struct watchdog_stats *ret);

const char *watchdog_policy_name(enum watchdog_policy p);
/* "log" or "kill"; returns 0 or -EINVAL. */
int watchdog_policy_parse(const char *s, enum watchdog_policy *ret);

#endif /* MIGD_WATCHDOG_H */
