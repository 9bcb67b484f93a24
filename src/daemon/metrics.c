/*
 * metrics.c - the Prometheus text format of migd's state and counters (metrics.h).
 *
 * Every family has its # HELP and # TYPE lines, even when it has no sample (an empty node
 * still says what it would export). Label values are escaped as the format requires
 * (backslash, double quote, newline).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

/* A growing text buffer; failed stays set once an allocation failed. */
struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static __attribute__((format(printf, 2, 3))) void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        /* double, and at least what this line needs: a few KiB for a node's metrics */
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *np = mk__realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped, into out (cut to fit: names are short). */
static const char *esc(const char *s, char *out, size_t len)
{
    size_t k = 0;
    for (; *s && k + 3 < len; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            out[k++] = '\\';
        out[k++] = *s == '\n' ? 'n' : *s;
    }
    out[k] = '\0';
    return out;
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- per instance ---- */

struct inst_pass {
    struct buf *b;
    int which; /* 0 quota, 1 granted, 2 processes */
    size_t count, processes;
};

static void inst_line(void *ctx, const struct registry_instance_stat *s)
{
    struct inst_pass *p = ctx;
    char name[2 * STORE_NAME_LEN];
    static const char *const family_of[] = {
        "migd_instance_quota_bytes", "migd_instance_granted_bytes", "migd_instance_processes"};
    uint64_t v = p->which == 0 ? s->quota_bytes : p->which == 1 ? s->leased_bytes : s->processes;
    p->count++;
    p->processes += s->processes;
    put(p->b, "%s{instance=\"%s\",gpu=\"%d\",name=\"%s\"} %" PRIu64 "\n", family_of[p->which],
        s->uuid, s->gpu, esc(s->name, name, sizeof(name)), v);
}

/* The three per-instance families; returns the instance and process counts of the pass. */
static void instances(struct buf *b, const struct metrics_sources *src, size_t *ret_instances,
                      size_t *ret_processes)
{
    static const char *const help[][2] = {
        {"migd_instance_quota_bytes", "Memory quota of the software instance, in bytes."},
        {"migd_instance_granted_bytes",
         "Memory the lease server has granted to the instance's processes now, in bytes."},
        {"migd_instance_processes", "Processes registered in the instance."},
    };
    struct inst_pass p = {.b = b};
    for (p.which = 0; p.which < 3; p.which++) {
        family(b, help[p.which][0], "gauge", help[p.which][1]);
        p.count = p.processes = 0;
        registry_foreach_instance(src->reg, inst_line, &p);
    }
    *ret_instances = p.count;
    *ret_processes = p.processes;
}

char *metrics_render(const struct metrics_sources *src, size_t *ret_len)
{
    struct buf b = {0};
    struct ledger_stats ls;
    struct watchdog_stats ws;
    struct timespec now;
    size_t ninst, nprocs;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ledger_stats(src->ledger, &ls);
    watchdog_stats(src->watchdog, &ws);
    family(&b, "migd_uptime_seconds", "gauge", "Seconds since migd started.");
    put(&b, "migd_uptime_seconds %lld\n", (long long)(now.tv_sec - src->started.tv_sec));
    family(&b, "migd_gpus", "gauge", "GPUs migd serves.");
    put(&b, "migd_gpus %d\n", registry_gpu_count(src->reg));
    instances(&b, src, &ninst, &nprocs);
    family(&b, "migd_instances", "gauge", "Software instances.");
    put(&b, "migd_instances %zu\n", ninst);
    family(&b, "migd_registered_processes", "gauge",
           "Processes registered in software instances (their children are not counted).");
    put(&b, "migd_registered_processes %zu\n", nprocs);
    family(&b, "migd_lease_holders", "gauge", "Processes holding a lease grant now.");
    put(&b, "migd_lease_holders %zu\n", ls.processes);
    family(&b, "migd_lease_grants_total", "counter", "Lease grants (GRANT and re-registration).");
    put(&b, "migd_lease_grants_total %" PRIu64 "\n", ls.grants);
    family(&b, "migd_lease_denials_total", "counter",
           "Lease requests denied because the instance's quota was reached.");
    put(&b, "migd_lease_denials_total %" PRIu64 "\n", ls.denials);
    family(&b, "migd_watchdog_scans_total", "counter", "Watchdog scans of the GPUs' processes.");
    put(&b, "migd_watchdog_scans_total %" PRIu64 "\n", ws.scans);
    family(&b, "migd_watchdog_actions_total", "counter",
           "Processes the watchdog acted on, by reason (each offence once).");
    put(&b, "migd_watchdog_actions_total{reason=\"over_quota\"} %" PRIu64 "\n", ws.over_quota);
    put(&b, "migd_watchdog_actions_total{reason=\"unregistered\"} %" PRIu64 "\n", ws.unregistered);
    family(&b, "migd_watchdog_kills_total", "counter", "Processes the watchdog killed.");
    put(&b, "migd_watchdog_kills_total %" PRIu64 "\n", ws.killed);
    family(&b, "migd_watchdog_errors_total", "counter",
           "NVML queries of the watchdog that failed.");
    put(&b, "migd_watchdog_errors_total %" PRIu64 "\n", ws.errors);
    if (b.failed || !b.p) {
        mk__free(b.p);
        return NULL;
    }
    *ret_len = b.len;
    return b.p;
}
