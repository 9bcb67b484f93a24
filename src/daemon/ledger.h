/*
 * ledger.h - what the lease server granted, per process, and how often it said yes and no.
 *
 * The registry keeps lease sums per instance (that is what a quota is about); the watchdog
 * needs them per process, to compare with the memory NVML sees each process hold, and
 * /metrics counts grants and denials. main.c's lease wiring feeds both from the lease
 * callbacks, which carry the peer's pid (SO_PEERCRED). A process may hold several
 * connections: its entry is their sum. Thread-safe (one mutex; every call is short).
 */
#ifndef MIGD_LEDGER_H
#define MIGD_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ledger;

struct ledger_stats {
    uint64_t grants;  /* GRANTs granted (and HELLOs that re-registered memory) */
    uint64_t denials; /* GRANTs (and re-registrations) refused for lack of room */
    size_t processes; /* processes holding a grant now */
};

/* Returns a new empty ledger, or NULL when out of memory. */
struct ledger *ledger_new(void);
/* NULL is a no-op. */
void ledger_free(struct ledger *l);

/* A grant of bytes to pid was decided: granted (added to pid's sum) or denied (counted). */
void ledger_grant(struct ledger *l, pid_t pid, uint64_t bytes, bool granted);
/* pid gave back bytes (never below zero); an entry that reaches zero is dropped. */
void ledger_release(struct ledger *l, pid_t pid, uint64_t bytes);
/* What pid holds now (0 when nothing). */
uint64_t ledger_held(struct ledger *l, pid_t pid);
void ledger_stats(struct ledger *l, struct ledger_stats *ret);

#endif /* MIGD_LEDGER_H */
