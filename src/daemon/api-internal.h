/*
 * api-internal.h - what api.c (server, routing) and api-routes.c (the handlers, JSON
 * validation) share: one struct call per request.
 */
#ifndef MIGD_API_INTERNAL_H
#define MIGD_API_INTERNAL_H

#include <jansson.h>

#include "metrics.h"
#include "registry.h"

struct MHD_Connection;

/* One request being answered. Handlers read the request fields and leave the reply in
 * status/out (through call_reply or call_fail). */
struct call {
    struct registry *api_reg;
    const struct metrics_sources *metrics; /* NULL: GET /metrics is 404 */
    struct MHD_Connection *conn;
    const char *url;
    const char *method;
    struct registry_who who; /* from SO_PEERCRED (or the test uid) */
    bool admin;              /* root or a member of the admin group */
    const char *uuid;        /* the {uuid} of the path, validated as a MIG- UUID, or NULL */
    const char *sub;         /* the {uid} or {pid} of the path, or NULL */
    json_t *body;            /* the parsed JSON object of a request that takes one */
    /* the reply */
    unsigned status;
    json_t *out; /* NULL for 204 */
    char *text;  /* instead of out: a text body (mk__free'd after sending) */
    size_t text_len;
    const char *content_type; /* of text */
    const char *allow;        /* the Allow header of a 405 */
    char location[128];
};

/* Replies with {"error": <formatted>, "field": field} (field omitted when NULL). */
void call_fail(struct call *c, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Replies with the status that r (-errno from the registry) maps to and err's message; field
 * is named only for 400s. */
void call_fail_err(struct call *c, int r, const struct mk_error *err, const char *field);
/* Replies with status and out (consumed; NULL only for 204, else it means out of memory). */
void call_reply(struct call *c, unsigned status, json_t *out);

/* api-routes.c: request checks. Each returns false after replying with the error. */
bool api_check_query(struct call *c, const char *allowed);
bool api_parse_body(struct call *c, const char *body, size_t len);

/* api-routes.c: the handlers, one per route and method (docs/api.md). */
void api_get_health(struct call *c);
void api_get_gpus(struct call *c);
void api_list_instances(struct call *c);
void api_create_instance(struct call *c);
void api_get_instance(struct call *c);
void api_resize_instance(struct call *c);
void api_destroy_instance(struct call *c);
void api_add_grant(struct call *c);
void api_remove_grant(struct call *c);
void api_add_process(struct call *c);
void api_remove_process(struct call *c);
void api_list_events(struct call *c);
void api_get_desired(struct call *c);
void api_put_desired(struct call *c);
void api_delete_desired(struct call *c);
void api_get_metrics(struct call *c);

#endif /* MIGD_API_INTERNAL_H */
