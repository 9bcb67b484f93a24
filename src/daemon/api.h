/*
 * api.h - migd's HTTP + JSON API (docs/api.md, docs/openapi.yaml), served by libmicrohttpd on
 * the Unix socket RUN_DIR/migd.sock, and for tests only on a loopback TCP port.
 *
 * The caller's identity comes from SO_PEERCRED on the connection: root and members of the
 * admin group manage everything; any other uid sees and uses only instances granted to it.
 * Requests on the test TCP listener all run as the configured test uid (and pid 0).
 */
#ifndef MIGD_API_H
#define MIGD_API_H

#include <sys/types.h>

#include "metrics.h"
#include "registry.h"

/* Largest request body accepted, in bytes. The largest valid body is PUT /v1/desired's, whose
 * configuration text is at most 32 KiB (DESIRED_MAX_CONFIG) before JSON escaping; the others
 * are under 200 bytes. 64 KiB leaves room for the escaping and for clients that pretty-print,
 * while bounding what one connection can make migd hold (x API_MAX_CONNECTIONS: 4 MiB at
 * most). Larger bodies get 413. */
#define API_MAX_BODY (64 * 1024)
/* Concurrent connections per listener; more wait in the kernel's accept queue. */
#define API_MAX_CONNECTIONS 64
/* Seconds an idle connection is kept open. */
#define API_IDLE_TIMEOUT_S 30
/* Socket mode: owner and group read/write (connect needs write permission). */
#define API_SOCKET_MODE 0660
/* The admin group: its members manage every instance, like root. */
#define API_ADMIN_GROUP "migkit"

struct api;

struct api_config {
    struct registry *reg;    /* borrowed; outlives the API */
    const char *socket_path; /* RUN_DIR/migd.sock */
    int test_tcp_port;       /* > 0: also listen on 127.0.0.1:PORT (tests only) */
    uid_t test_uid;          /* the uid every TCP request runs as */
    /* What GET /metrics renders (borrowed; outlives the API); NULL: no /metrics. */
    const struct metrics_sources *metrics;
};

/* Creates the socket(s) and starts serving on libmicrohttpd's own thread. Call before other
 * threads create files (the socket is bound under a restrictive umask). */
int api_start(const struct api_config *cfg, struct api **ret, struct mk_error *err);
/* Stops serving, closes the sockets and removes the socket file. NULL is a no-op. */
void api_stop(struct api *api);

#endif /* MIGD_API_H */
