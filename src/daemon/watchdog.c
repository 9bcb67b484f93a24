/*
 * watchdog.c - per-process GPU memory checks (watchdog.h).
 *
 * One thread sleeps on a condition variable (CLOCK_MONOTONIC, so a clock change neither
 * hurries nor stalls it) and scans every interval: for each GPU, NVML's compute processes;
 * for each process, its instance (the registry, through the parent chain as the lease server
 * finds it) and its grants (the ledger). What a scan finds is compared with what the scan
 * before found, so that a process that stays over its grants is reported once, not every
 * interval (the events table is bounded; a log that repeats itself hides what is new).
 *
 * Killing is done through a pidfd: the pid is opened, its start time checked against the one
 * read when the decision was made, and the signal sent to that pidfd, so a pid recycled in
 * between is never the one killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "vendor/nvml-procs.h"
#include "watchdog.h"

/* Processes per GPU we make room for at first; the buffer grows to what NVML reports. */
#define PROCS_INITIAL 64

enum reason { REASON_OVER, REASON_UNREGISTERED };

/* One offence found by a scan. */
struct offence {
    pid_t pid;
    uint64_t start_time;
    enum reason reason;
};

struct watchdog {
    struct watchdog_config cfg;
    char proc_root[64];
    pthread_t thread;
    pthread_mutex_t lock; /* stop, stats */
    pthread_cond_t wake;
    bool stop;
    struct watchdog_stats stats;
    /* the thread's own (no lock): the process buffer and the offences of the last scan */
    struct mk_gpu_proc *procs;
    size_t cap_procs;
    struct offence *seen, *now;
    size_t nseen, nnow, cap_seen, cap_now;
};

const char *watchdog_policy_name(enum watchdog_policy p)
{
    return p == WATCHDOG_KILL ? "kill" : "log";
}

int watchdog_policy_parse(const char *s, enum watchdog_policy *ret)
{
    if (!strcmp(s, "log"))
        *ret = WATCHDOG_LOG;
    else if (!strcmp(s, "kill"))
        *ret = WATCHDOG_KILL;
    else
        return -EINVAL;
    return 0;
}

static void count(struct watchdog *w, uint64_t *field)
{
    pthread_mutex_lock(&w->lock);
    (*field)++;
    pthread_mutex_unlock(&w->lock);
}

/* ---- offences: what the last scan saw ---- */

static bool was_seen(const struct watchdog *w, const struct offence *o)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].pid == o->pid && w->seen[i].start_time == o->start_time &&
            w->seen[i].reason == o->reason)
            return true;
    return false;
}

/* Remembers o for the next scan. Out of memory only means o may be reported again. */
static void remember(struct watchdog *w, const struct offence *o)
{
    if (w->nnow == w->cap_now) {
        size_t cap = w->cap_now ? w->cap_now * 2 : 16;
        struct offence *n = mk__realloc(w->now, cap * sizeof(*n));
        if (!n)
            return;
        w->now = n;
        w->cap_now = cap;
    }
    w->now[w->nnow++] = *o;
}

/* The scan is over: what it found becomes what was seen. */
static void end_scan(struct watchdog *w)
{
    struct offence *t = w->seen;
    size_t cap = w->cap_seen;
    w->seen = w->now;
    w->cap_seen = w->cap_now;
    w->nseen = w->nnow;
    w->now = t;
    w->cap_now = cap;
    w->nnow = 0;
}

/* ---- acting ---- */

/* SIGKILL to (pid, start_time) and to no other process. Returns 0 or -errno. */
static int kill_exactly(const char *proc_root, pid_t pid, uint64_t start_time)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    int r = 0;
    if (fd < 0) {
        if (errno != ENOSYS)
            return -errno;
        /* kernels before 5.3: the start time was checked just before; the window left is
         * the few microseconds to kill() */
        return proc_alive(proc_root, pid, start_time) ? (kill(pid, SIGKILL) < 0 ? -errno : 0)
                                                      : -ESRCH;
    }
    /* the pidfd pins the process: if it is still the one we judged, it is the one we kill */
    if (!proc_alive(proc_root, pid, start_time))
        r = -ESRCH;
    else if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* "1.5 GiB (1610612736 bytes)" */
static const char *gib(char *buf, size_t len, uint64_t b)
{
    snprintf(buf, len, "%.2f GiB (%" PRIu64 " bytes)", (double)b / (double)(1024 * MIB), b);
    return buf;
}

/* Logs o, records it in the events table, and kills under the kill policy. what describes
 * the offence; instance is the process's instance (NULL when it has none). */
static void act(struct watchdog *w, const struct offence *o, const struct proc_info *info,
                const char *instance, const char *what)
{
    static const struct registry_who daemon = {0, 0};
    const char *action = o->reason == REASON_OVER ? "watchdog.over_quota" : "watchdog.unregistered";
    char detail[512], outcome[128] = "logged";
    struct mk_error err = {0};
    int r;
    count(w, o->reason == REASON_OVER ? &w->stats.over_quota : &w->stats.unregistered);
    if (w->cfg.policy == WATCHDOG_KILL) {
        if ((r = kill_exactly(w->proc_root, o->pid, o->start_time)) == 0) {
            snprintf(outcome, sizeof(outcome), "killed (SIGKILL)");
            count(w, &w->stats.killed);
        } else {
            snprintf(outcome, sizeof(outcome), "kill failed: %s", strerror(-r));
        }
    }
    snprintf(detail, sizeof(detail), "pid %d (uid %u): %s; %s", (int)o->pid, (unsigned)info->euid,
             what, outcome);
    log_msg(LOG_WARNING, "watchdog: %s", detail);
    if (registry_event(w->cfg.reg, &daemon, action, instance, detail, &err) < 0)
        log_msg(LOG_ERR, "watchdog: cannot record the event: %s", mk_strerror(&err));
}

/* ---- scanning ---- */

/* Checks one process NVML reports on GPU gpu. */
static void check(struct watchdog *w, int gpu, const struct mk_gpu_proc *p)
{
    char instance[MK_UUID_LEN], what[384], a[64], b[64], c[64];
    struct offence o = {.pid = p->pid};
    struct proc_info info;
    int member_gpu = -1;
    bool member;
    if (p->pid <= 1 || p->pid == getpid())
        return;
    /* gone since NVML looked, or a pid of another pid namespace (NVML in a container sees
     * the host's pids): nothing here to judge */
    if (proc_info_read(w->proc_root, p->pid, &info) < 0)
        return;
    o.start_time = info.start_time;
    member = registry_process_instance(w->cfg.reg, p->pid, instance, &member_gpu) == 0 &&
             member_gpu == gpu;
    if (!member) {
        if (registry_gpu_instances(w->cfg.reg, gpu) == 0)
            return; /* a GPU without software instances is not migd's to police */
        o.reason = REASON_UNREGISTERED;
        if (member_gpu >= 0)
            snprintf(what, sizeof(what), "uses GPU %d but belongs to instance %s on GPU %d", gpu,
                     instance, member_gpu);
        else
            snprintf(what, sizeof(what),
                     "uses GPU %d, which has software instances, in none of them", gpu);
    } else {
        uint64_t granted = ledger_held(w->cfg.ledger, p->pid);
        if (p->used_bytes == MK_GPU_PROC_USED_UNKNOWN || p->used_bytes <= granted ||
            p->used_bytes - granted <= w->cfg.slack_bytes)
            return;
        o.reason = REASON_OVER;
        snprintf(what, sizeof(what), "holds %s on GPU %d, more than its grants %s plus %s",
                 gib(a, sizeof(a), p->used_bytes), gpu, gib(b, sizeof(b), granted),
                 gib(c, sizeof(c), w->cfg.slack_bytes));
    }
    if (!was_seen(w, &o))
        act(w, &o, &info, member || member_gpu >= 0 ? instance : NULL, what);
    remember(w, &o);
}

/* Reads GPU gpu's processes into w->procs, growing it to what NVML reports. Returns the
 * count or -errno. */
static int read_gpu(struct watchdog *w, int gpu, struct mk_error *err)
{
    for (int tries = 0; tries < 3; tries++) {
        int n = mk__gpu_procs_read((unsigned)gpu, w->procs, w->cap_procs, err);
        struct mk_gpu_proc *np;
        if (n < 0 || (size_t)n <= w->cap_procs)
            return n;
        if (!(np = mk__realloc(w->procs, (size_t)n * sizeof(*np))))
            return mk_error_set(err, -ENOMEM, "out of memory");
        w->procs = np;
        w->cap_procs = (size_t)n;
    }
    return mk_error_set(err, -EAGAIN, "GPU %d: the process list keeps growing", gpu);
}

static void scan(struct watchdog *w)
{
    int ngpus = registry_gpu_count(w->cfg.reg);
    for (int gpu = 0; gpu < ngpus; gpu++) {
        struct mk_error err = {0};
        int n = read_gpu(w, gpu, &err);
        if (n < 0) {
            count(w, &w->stats.errors);
            log_msg(LOG_DEBUG, "watchdog: %s", mk_strerror(&err));
            continue;
        }
        for (int i = 0; i < n; i++)
            check(w, gpu, &w->procs[i]);
    }
    end_scan(w);
    count(w, &w->stats.scans);
}

static void *run(void *arg)
{
    struct watchdog *w = arg;
    struct timespec until;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        pthread_mutex_unlock(&w->lock);
        scan(w);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)w->cfg.interval_s;
        pthread_mutex_lock(&w->lock);
        while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- life cycle ---- */

static void free_watchdog(struct watchdog *w)
{
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    mk__free(w->procs);
    mk__free(w->seen);
    mk__free(w->now);
    mk__free(w);
}

int watchdog_start(const struct watchdog_config *cfg, struct watchdog **ret, struct mk_error *err)
{
    struct watchdog *w;
    pthread_condattr_t ca;
    int r;
    if (!cfg->reg || !cfg->ledger || cfg->interval_s == 0)
        return mk_error_set(err, -EINVAL, "watchdog: registry, ledger and interval needed");
    if ((r = mk__gpu_procs_open(err)) < 0)
        return r;
    if (!(w = mk__calloc(1, sizeof(*w)))) {
        mk__gpu_procs_close();
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    w->cfg = *cfg;
    if (!w->cfg.slack_bytes)
        w->cfg.slack_bytes = WATCHDOG_SLACK_DEFAULT;
    snprintf(w->proc_root, sizeof(w->proc_root), "%s", cfg->proc_root ? cfg->proc_root : "/proc");
    w->cfg.proc_root = w->proc_root;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    if ((w->procs = mk__calloc(PROCS_INITIAL, sizeof(*w->procs))))
        w->cap_procs = PROCS_INITIAL;
    if ((r = pthread_create(&w->thread, NULL, run, w)) != 0) {
        free_watchdog(w);
        mk__gpu_procs_close();
        return mk_error_set(err, -r, "cannot start the watchdog thread: %s", strerror(r));
    }
    *ret = w;
    return 0;
}

void watchdog_stop(struct watchdog *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    free_watchdog(w);
    mk__gpu_procs_close();
}

void watchdog_stats(struct watchdog *w, struct watchdog_stats *ret)
{
    if (!w) {
        memset(ret, 0, sizeof(*ret));
        return;
    }
    pthread_mutex_lock(&w->lock);
    *ret = w->stats;
    pthread_mutex_unlock(&w->lock);
}
