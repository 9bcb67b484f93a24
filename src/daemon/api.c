/*
 * api.c - migd's HTTP API on libmicrohttpd (see api.h; contract in docs/api.md and
 * docs/openapi.yaml).
 *
 * libmicrohttpd calls handle() several times per request: once when the headers are in
 * (identity, size limit), once per piece of body (collected, at most API_MAX_BODY bytes), and
 * once at the end, when the request is routed, validated, authorized and answered. Every
 * answer is JSON; every error is {"error": "...", "field": "..."} with a 4xx status (5xx only
 * for failures of migd itself: out of memory, a store that cannot write). Validation is
 * strict and happens before any change, so a bad request changes nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "api-internal.h"
#include "log.h"
#include "migkit/uuid.h"
#include "sock.h"

/* Path segments of the longest route: /v1/instances/{uuid}/processes/{pid}. */
#define MAX_SEGMENTS 5

struct listener {
    struct api *api;
    struct MHD_Daemon *mhd;
    int fd;
    bool tcp;
};

struct api {
    struct registry *reg;
    const struct metrics_sources *metrics;
    struct listener unix_l, tcp_l;
    char socket_path[256];
    bool bound; /* the socket file is ours to remove */
    bool have_admin_gid;
    gid_t admin_gid;
    uid_t test_uid;
};

/* Per-request state, from the first call of handle() to the completion callback. */
struct request {
    char *body;
    size_t len;
    bool too_big;
};

/* ---- replies ---- */

void call_fail(struct call *c, unsigned status, const char *field, const char *fmt, ...)
{
    char msg[MK_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_decref(c->out);
    c->status = status;
    c->out = json_pack("{s:s}", "error", msg);
    if (c->out && field)
        json_object_set_new(c->out, "field", json_string(field));
}

/* The HTTP status of a registry or store error. */
static unsigned status_of(int r)
{
    switch (-r) {
    case EINVAL:
    case ESRCH:
        return MHD_HTTP_BAD_REQUEST;
    case EPERM:
    case EACCES:
        return MHD_HTTP_FORBIDDEN;
    case ENOENT:
        return MHD_HTTP_NOT_FOUND;
    case EEXIST:
    case EBUSY:
    case ENOSPC:
        return MHD_HTTP_CONFLICT;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

void call_fail_err(struct call *c, int r, const struct mk_error *err, const char *field)
{
    unsigned st = status_of(r);
    if (st >= 500)
        log_msg(LOG_ERR, "%s %s: %s", c->method, c->url, mk_strerror(err));
    call_fail(c, st, st == MHD_HTTP_BAD_REQUEST ? field : NULL, "%s", mk_strerror(err));
}

void call_reply(struct call *c, unsigned status, json_t *out)
{
    json_decref(c->out);
    c->status = status;
    c->out = out;
    if (!out && status != MHD_HTTP_NO_CONTENT)
        call_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
}

/* Sends c's reply. A body that cannot be serialised becomes a bare 500. */
static enum MHD_Result send_reply(struct MHD_Connection *conn, struct call *c)
{
    struct MHD_Response *resp;
    char *text = NULL;
    enum MHD_Result ok;
    if (c->text) {
        /* copied: the text is mk__malloc'd, and libmicrohttpd would free() it */
        resp = MHD_create_response_from_buffer(c->text_len, c->text, MHD_RESPMEM_MUST_COPY);
        mk__free(c->text);
        c->text = NULL;
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, c->content_type);
        ok = MHD_queue_response(conn, c->status, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    if (c->out && !(text = json_dumps(c->out, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        c->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\0';
        resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (c->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, c->allow);
    if (c->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, c->location);
    ok = MHD_queue_response(conn, c->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- identity ---- */

/* Fills c->who from the connection: SO_PEERCRED on the Unix socket, the test uid on TCP. */
static int identify(struct listener *l, struct MHD_Connection *conn, struct call *c)
{
    const union MHD_ConnectionInfo *ci;
    struct sock_peer peer;
    struct mk_error err = {0};
    if (l->tcp) {
        c->who.uid = l->api->test_uid;
        c->who.pid = 0;
        c->admin = l->api->test_uid == 0;
        return 0;
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || sock_peer(ci->connect_fd, &peer, &err) < 0)
        return -EACCES;
    c->who.uid = peer.uid;
    c->who.pid = peer.pid;
    c->admin =
        peer.uid == 0 || (l->api->have_admin_gid && sock_peer_in_group(&peer, l->api->admin_gid));
    return 0;
}

/* ---- routing ---- */

struct method {
    const char *name;
    void (*fn)(struct call *c);
    bool body; /* takes a JSON body */
};

struct route {
    const char *shape; /* segments after /v1/, with "*" for a parameter */
    const char *allow;
    struct method methods[3];
    const char *query; /* query parameters it takes, space-separated */
};

static const struct route routes[] = {
    {"health", "GET", {{"GET", api_get_health, false}}, ""},
    {"gpus", "GET", {{"GET", api_get_gpus, false}}, ""},
    {"instances",
     "GET, POST",
     {{"GET", api_list_instances, false}, {"POST", api_create_instance, true}},
     ""},
    {"instances/*",
     "GET, PATCH, DELETE",
     {{"GET", api_get_instance, false},
      {"PATCH", api_resize_instance, true},
      {"DELETE", api_destroy_instance, false}},
     ""},
    {"instances/*/grants", "POST", {{"POST", api_add_grant, true}}, ""},
    {"instances/*/grants/*", "DELETE", {{"DELETE", api_remove_grant, false}}, ""},
    {"instances/*/processes", "POST", {{"POST", api_add_process, true}}, ""},
    {"instances/*/processes/*", "DELETE", {{"DELETE", api_remove_process, false}}, ""},
    {"events", "GET", {{"GET", api_list_events, false}}, "since limit"},
    {"desired",
     "GET, PUT, DELETE",
     {{"GET", api_get_desired, false},
      {"PUT", api_put_desired, true},
      {"DELETE", api_delete_desired, false}},
     ""},
};

/* Splits url ("/v1/a/b") into at most MAX_SEGMENTS segments after "/v1/", in buf. Returns
 * the count, or -1 when the URL is not of that form (empty segments included). */
static int split(const char *url, char *buf, size_t len, char *seg[MAX_SEGMENTS])
{
    char *save = NULL, *tok;
    int n = 0;
    if (strncmp(url, "/v1/", 4) || strlen(url) >= len)
        return -1;
    snprintf(buf, len, "%s", url + 4);
    if (!buf[0] || buf[strlen(buf) - 1] == '/' || strstr(buf, "//"))
        return -1;
    for (tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS)
            return -1;
        seg[n++] = tok;
    }
    return n;
}

/* Matches segments against a route shape; parameters go to c->uuid and c->sub. */
static bool match(const char *shape, char *seg[], int n, struct call *c)
{
    char buf[64], *save = NULL, *tok;
    int i = 0;
    const char *params[2] = {NULL, NULL};
    int np = 0;
    snprintf(buf, sizeof(buf), "%s", shape);
    for (tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save), i++) {
        if (i >= n)
            return false;
        if (!strcmp(tok, "*"))
            params[np++] = seg[i];
        else if (strcmp(tok, seg[i]))
            return false;
    }
    if (i != n)
        return false;
    c->uuid = params[0];
    c->sub = params[1];
    return true;
}

static const struct route *route_for(const char *url, char *buf, size_t len, struct call *c)
{
    char *seg[MAX_SEGMENTS];
    int n = split(url, buf, len, seg);
    for (size_t i = 0; n > 0 && i < MK_ELEMENTSOF(routes); i++)
        if (match(routes[i].shape, seg, n, c))
            return &routes[i];
    return NULL;
}

/* Routes, parses the body and runs the handler; the reply is left in c. */
static void dispatch(struct call *c, const struct request *req)
{
    char buf[512];
    const struct route *rt;
    const struct method *m = NULL;
    if (!strcmp(c->url, "/metrics") && c->metrics) {
        /* outside /v1: the path every Prometheus scraper asks for by default */
        if (strcmp(c->method, "GET") != 0) {
            c->allow = "GET";
            call_fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL,
                      "%s is not allowed on /metrics (allowed: GET)", c->method);
        } else if (api_check_query(c, "")) {
            if (req->len > 0)
                call_fail(c, MHD_HTTP_BAD_REQUEST, NULL, "GET /metrics takes no request body");
            else
                api_get_metrics(c);
        }
        return;
    }
    rt = route_for(c->url, buf, sizeof(buf), c);
    if (!rt) {
        call_fail(c, MHD_HTTP_NOT_FOUND, NULL, "no such resource: %s", c->url);
        return;
    }
    for (int i = 0; i < 3 && rt->methods[i].name; i++)
        if (!strcmp(rt->methods[i].name, c->method))
            m = &rt->methods[i];
    if (!m) {
        c->allow = rt->allow;
        call_fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, "%s is not allowed on %s (allowed: %s)",
                  c->method, c->url, rt->allow);
        return;
    }
    if (c->uuid && !mk_uuid_valid("MIG-", c->uuid)) {
        call_fail(c, MHD_HTTP_NOT_FOUND, NULL, "no instance %s (not a MIG- UUID)", c->uuid);
        return;
    }
    if (!api_check_query(c, rt->query))
        return;
    if (!m->body && req->len > 0) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, NULL, "%s %s takes no request body", c->method,
                  rt->shape);
        return;
    }
    if (m->body && !api_parse_body(c, req->body, req->len))
        return;
    m->fn(c);
}

/* ---- libmicrohttpd callbacks ---- */

/* First call of a request: size limit from Content-Length, before reading any body. */
static bool too_long(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    unsigned long long n;
    if (!cl)
        return false;
    errno = 0;
    n = strtoull(cl, &end, 10);
    return errno != 0 || *end || n > API_MAX_BODY;
}

/* Collects a piece of body; beyond API_MAX_BODY the rest is read and dropped, and the
 * request is answered 413 at its end. */
static void collect(struct request *req, const char *data, size_t n)
{
    char *nb;
    if (req->too_big || req->len + n > API_MAX_BODY) {
        req->too_big = true;
        return;
    }
    if (!(nb = mk__realloc(req->body, req->len + n + 1))) {
        req->too_big = true; /* cannot hold it: answered like an oversized body */
        return;
    }
    memcpy(nb + req->len, data, n);
    req->len += n;
    nb[req->len] = '\0';
    req->body = nb;
}

static enum MHD_Result reply_now(struct MHD_Connection *conn, struct call *c)
{
    enum MHD_Result r = send_reply(conn, c);
    json_decref(c->out);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct listener *l = cls;
    struct request *req = *req_cls;
    struct call c = {.api_reg = l->api->reg,
                     .metrics = l->api->metrics,
                     .conn = conn,
                     .url = url,
                     .method = method};
    (void)version;
    if (!req) {
        if (!(req = mk__calloc(1, sizeof(*req))))
            return MHD_NO;
        *req_cls = req;
        if (too_long(conn)) {
            call_fail(&c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                      "request body over %d bytes (the limit; see docs/api.md)", API_MAX_BODY);
            return reply_now(conn, &c);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        collect(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_big)
        call_fail(&c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                  "request body over %d bytes (the limit; see docs/api.md)", API_MAX_BODY);
    else if (identify(l, conn, &c) < 0)
        call_fail(&c, MHD_HTTP_FORBIDDEN, NULL, "cannot read the caller's credentials");
    else
        dispatch(&c, req);
    json_decref(c.body);
    return reply_now(conn, &c);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct request *req = *req_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (req) {
        mk__free(req->body);
        mk__free(req);
        *req_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_msg(LOG_WARNING, "http: %s", line);
}

/* Starts libmicrohttpd on an already listening socket, on its own thread. */
static int serve(struct listener *l, struct mk_error *err)
{
    l->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
        l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)l->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)API_IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!l->mhd)
        return mk_error_set(err, -EIO, "cannot start the HTTP server on %s",
                            l->tcp ? "the TCP test port" : l->api->socket_path);
    l->fd = -1; /* libmicrohttpd owns the socket now and closes it in MHD_stop_daemon() */
    return 0;
}

/* Looks up the admin group once: group membership is then a comparison per request. */
static void find_admin_group(struct api *api)
{
    char buf[16384];
    struct group gr, *found = NULL;
    if (getgrnam_r(API_ADMIN_GROUP, &gr, buf, sizeof(buf), &found) == 0 && found) {
        api->have_admin_gid = true;
        api->admin_gid = gr.gr_gid;
    }
}

int api_start(const struct api_config *cfg, struct api **ret, struct mk_error *err)
{
    struct api *api = mk__calloc(1, sizeof(*api));
    bool grouped = false;
    int r;
    if (!api)
        return mk_error_set(err, -ENOMEM, "out of memory");
    api->reg = cfg->reg;
    api->metrics = cfg->metrics;
    api->test_uid = cfg->test_uid;
    api->unix_l = (struct listener){.api = api, .fd = -1};
    api->tcp_l = (struct listener){.api = api, .fd = -1, .tcp = true};
    snprintf(api->socket_path, sizeof(api->socket_path), "%s", cfg->socket_path);
    find_admin_group(api);
    r = sock_unix_listen(cfg->socket_path, API_SOCKET_MODE, API_ADMIN_GROUP, true, &grouped, err);
    if (r < 0)
        goto fail;
    api->unix_l.fd = r;
    api->bound = true;
    if ((r = serve(&api->unix_l, err)) < 0)
        goto fail;
    if (cfg->test_tcp_port > 0) {
        if ((r = sock_tcp_loopback_listen(cfg->test_tcp_port, true, err)) < 0)
            goto fail;
        api->tcp_l.fd = r;
        if ((r = serve(&api->tcp_l, err)) < 0)
            goto fail;
        log_msg(LOG_WARNING, "TEST MODE: 127.0.0.1:%d serves the API as uid %u", cfg->test_tcp_port,
                (unsigned)cfg->test_uid);
    }
    log_msg(LOG_INFO, "API on %s (mode %04o%s)", cfg->socket_path, API_SOCKET_MODE,
            grouped ? ", group " API_ADMIN_GROUP : "; no group " API_ADMIN_GROUP);
    *ret = api;
    return 0;
fail:
    api_stop(api);
    return r;
}

static void stop_listener(struct listener *l)
{
    if (l->mhd)
        MHD_stop_daemon(l->mhd);
    if (l->fd >= 0)
        close(l->fd);
    l->mhd = NULL;
    l->fd = -1;
}

void api_stop(struct api *api)
{
    if (!api)
        return;
    stop_listener(&api->tcp_l);
    stop_listener(&api->unix_l);
    if (api->bound)
        unlink(api->socket_path);
    mk__free(api);
}
