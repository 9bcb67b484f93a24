/*
 * crash.h - memory shared by the crash test (test-crash.c), its client processes and every
 * generation of lease-mini-migd (mini-migd.c): a file mapped MAP_SHARED by all of them. The
 * test registry inside it holds the sums of the server that is running now; each mini-migd
 * resets them at start, as a restarted migd starts with no lease.
 */
#ifndef MK_TEST_LEASE_CRASH_H
#define MK_TEST_LEASE_CRASH_H

#include <stdatomic.h>
#include <stdint.h>

#include "quota.h"

#define CRASH_CLIENTS_MAX 16

/* Re-registration grace of mini-migd: ended early once every client has said HELLO, so this
 * is only the backstop. Below the clients' reply timeout (CRASH_CLIENT_TIMEOUT_MS). */
#define CRASH_GRACE_MS          3000
#define CRASH_CLIENT_TIMEOUT_MS 8000

struct crash_client {
    _Atomic uint64_t held; /* what the client held at the last check */
    _Atomic int acked;     /* last round it checked in */
    _Atomic int parked;    /* its threads parked now */
    _Atomic uint64_t grants, denials, refused, errors, mismatches, reconnects;
};

struct crash_shared {
    struct tq tq;                 /* the running server's registry */
    _Atomic int server_gen;       /* generation of mini-migd serving now (set once listening) */
    _Atomic int round;            /* the harness's round, for the checks */
    _Atomic int pause;            /* harness -> clients: park your threads and check in */
    _Atomic int stop;             /* harness -> clients: finish */
    _Atomic int64_t client_total; /* what all clients believe they hold */
    _Atomic uint64_t client_violations;
    int nclients;
    struct crash_client client[CRASH_CLIENTS_MAX];
};

#endif /* MK_TEST_LEASE_CRASH_H */
