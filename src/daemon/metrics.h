/*
 * metrics.h - migd's GET /metrics: its state and counters in the Prometheus text exposition
 * format, version 0.0.4 (docs/api.md, "Metrics").
 *
 * Rendering reads the registry (instances, quotas, grants, processes), the ledger (lease
 * grants and denials) and the watchdog (its actions) through their own thread-safe
 * functions, so it may run on the API thread while the others work.
 */
#ifndef MIGD_METRICS_H
#define MIGD_METRICS_H

#include <time.h>

#include "ledger.h"
#include "registry.h"
#include "watchdog.h"

/* The Content-Type of the text format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_sources {
    struct registry *reg; /* borrowed, like the others, for the API's life */
    struct ledger *ledger;
    struct watchdog *watchdog; /* NULL: no watchdog (its counters read 0) */
    struct timespec started;   /* CLOCK_MONOTONIC at start-up, for the uptime */
};

/* Renders the metrics. Returns the text (NUL-terminated, the caller's: mk__free) and its
 * length in *ret_len, or NULL when out of memory. */
char *metrics_render(const struct metrics_sources *src, size_t *ret_len);

#endif /* MIGD_METRICS_H */
