/*
 * soft.h - migd's HTTP API from the client side (docs/api.md), and what the soft backend
 * knows beyond struct mk_gpu: the software instances themselves, custom ones included.
 *
 * A struct mk_migd is one connection to RUN_DIR/migd.sock (libcurl over the Unix socket,
 * kept open between requests). It is not thread-safe: one thread uses it at a time. migctl's
 * soft backend (docs/soft.md), `migctl exec` and `migctl grant` are its users.
 *
 * Errors follow common.h's classes, so nvidia-smi's texts come out right for the soft
 * backend too: 400 and 413 -> -EINVAL, 403 -> -EPERM, 404 -> -ENOENT, 409 -> -EBUSY when
 * the instance is in use and -ENOSPC when something does not fit, anything else -> -EIO.
 */
#ifndef MIGKIT_SOFT_H
#define MIGKIT_SOFT_H

#include <jansson.h>

#include "migkit/backend.h"

/* Where migd keeps its sockets unless MIGKIT_RUN_DIR (or migd --run-dir) says otherwise. */
#define MK_RUN_DIR_DEFAULT "/run/migkit"
/* An instance's name as migd builds it ("<product> MIG <profile>"): product names are under
 * 96 bytes (catalog.h), profile names under 32. */
#define MK_SOFT_NAME_LEN 160

struct mk_migd;

/* The run directory clients use: $MIGKIT_RUN_DIR when set and not empty, else
 * MK_RUN_DIR_DEFAULT. Written into buf (truncated to len); returns buf. */
char *mk_migd_run_dir(char *buf, size_t len);

/* Opens a connection to migd in run_dir (NULL: mk_migd_run_dir()). Checks that the socket
 * exists (-ENOENT: migd is not running there) and that this process may connect to it
 * (-EPERM), so the messages say which; nothing is sent yet. On failure *ret is untouched. */
int mk_migd_open(const char *run_dir, struct mk_migd **ret, struct mk_error *err);
/* Closes the connection. NULL is a no-op. */
void mk_migd_free(struct mk_migd *m);
/* The socket's path. Borrowed from m. */
const char *mk_migd_socket(const struct mk_migd *m);

/*
 * Sends one request: method ("GET", "POST", "PATCH", "DELETE") on path ("/v1/gpus"), with
 * body (borrowed; NULL sends none) as JSON. On a 2xx answer returns the HTTP status and, when
 * ret_json is not NULL, the parsed body (the caller's; NULL for 204). Otherwise returns the
 * -errno class of the answer (mk_migd_errno) with migd's own message in err, or -EIO when
 * migd could not be reached or answered something that is not JSON.
 */
int mk_migd_request(struct mk_migd *m, const char *method, const char *path, json_t *body,
                    json_t **ret_json, struct mk_error *err);

/* The error class of an HTTP error status; message (migd's "error" text, may be NULL) tells
 * a 409 "in use" (-EBUSY) from a 409 "does not fit" (-ENOSPC). */
int mk_migd_errno(long status, const char *message);

/* One software instance as the soft backend read it from GET /v1/instances. */
struct mk_soft_instance {
    char uuid[MK_UUID_LEN];      /* "MIG-...": what migctl exec and grant take */
    char name[MK_SOFT_NAME_LEN]; /* "NVIDIA H100 80GB HBM3 MIG 3g.40gb", "... MIG custom" */
    int gpu;                     /* GPU index */
    bool custom;                 /* any memory and SM count, no placement and no GI */
    int gi_id;                   /* the GI it is shown as; -1 for a custom instance */
    uint64_t quota_bytes;        /* its memory quota (may differ from the profile's) */
    uint64_t leased_bytes;       /* what its processes hold now through leases */
    int sms;
    int nprocesses; /* registered processes */
    int ngrants;    /* uids granted it */
};

/* The software instances the soft backend b read at open or after its last operation, in
 * creation order, into *ret (borrowed from b, valid until the next operation or close).
 * Returns the count, or -ENOTSUP when b is not the soft backend. */
int mk_soft_instances(const struct mk_backend *b, const struct mk_soft_instance **ret);

/* migd's desired configuration (docs/migd.md "Desired configuration"): the mig-parted YAML
 * text and the label selected in it, recorded by `migctl apply` (PUT /v1/desired) and read
 * by `migctl assert` without -f (GET /v1/desired). set returns 0 or the -errno class of
 * migd's refusal (-EINVAL: a text or label migd does not accept; -EPERM: not root or group
 * migkit). get returns 0 with copies the caller frees with mk__free, or -ENOENT when migd
 * has none recorded. Both return -ENOTSUP when b is not the soft backend. */
int mk_soft_desired_set(struct mk_backend *b, const char *config, const char *label,
                        struct mk_error *err);
int mk_soft_desired_get(struct mk_backend *b, char **ret_config, char **ret_label,
                        struct mk_error *err);

#endif /* MIGKIT_SOFT_H */
