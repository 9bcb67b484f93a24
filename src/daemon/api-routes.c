/*
 * api-routes.c - the API's handlers and its strict request checks (docs/api.md).
 *
 * Every handler validates fully before it asks the registry for anything: unknown fields,
 * wrong JSON types and out-of-range values are 400s naming the field; a request from a uid
 * that may not do it is a 403 (or a 404 where the instance is not visible to that uid), so a
 * bad request never reaches the state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "api-internal.h"
#include "api.h"
#include "desired.h"

/* Bounds of request values, from the hardware and the kernel: GPU indexes as the registry
 * keeps them (64); GI profile IDs and placements fit the catalog's tables (IDs < 256, at most
 * 16 slots); PID_MAX_LIMIT is 4194304 on 64-bit Linux; uid (uid_t)-1 means "none" to the
 * kernel, so the largest uid is 2^32 - 2; SM counts of any GPU are far below 100000; byte
 * counts stay below 2^62 (a 4 EiB GPU), well inside JSON's and SQLite's integers. */
#define MAX_GPU          63
#define MAX_PROFILE_ID   255
#define MAX_PLACEMENT    63
#define MAX_PID          4194304
#define MAX_UID          4294967294LL
#define MAX_SMS          100000
#define MAX_BYTES        (1LL << 62)
#define MAX_PROFILE_NAME 64
/* GET /v1/events: default and largest page. */
#define EVENTS_DEFAULT 100
#define EVENTS_MAX     1000

enum ftype { F_INT, F_INT_OR_STRING };

struct field {
    const char *name;
    enum ftype type;
    json_int_t min, max;
};

/* ---- request checks ---- */

struct query_check {
    struct call *c;
    const char *allowed;
    bool ok;
};

static enum MHD_Result query_key(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct query_check *q = cls;
    const char *p = q->allowed;
    size_t n = strlen(key);
    (void)kind;
    if (n == 0 || !value) {
        call_fail(q->c, MHD_HTTP_BAD_REQUEST, n ? key : NULL,
                  "query parameters are name=value pairs");
        q->ok = false;
        return MHD_NO;
    }
    while ((p = strstr(p, key))) {
        if ((p == q->allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return MHD_YES;
        p += n;
    }
    call_fail(q->c, MHD_HTTP_BAD_REQUEST, key, "unknown query parameter \"%s\"", key);
    q->ok = false;
    return MHD_NO;
}

bool api_check_query(struct call *c, const char *allowed)
{
    struct query_check q = {c, allowed, true};
    MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, query_key, &q);
    return q.ok;
}

bool api_parse_body(struct call *c, const char *body, size_t len)
{
    json_error_t jerr;
    if (len == 0) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, NULL, "a JSON object body is required");
        return false;
    }
    if (!(c->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr))) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, NULL, "malformed JSON at line %d, column %d: %s",
                  jerr.line, jerr.column, jerr.text);
        return false;
    }
    if (!json_is_object(c->body)) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, NULL, "the body must be a JSON object");
        return false;
    }
    return true;
}

/* Checks the body against the fields a request takes: no unknown fields, each of the right
 * type and range. Presence rules are the handler's. */
static bool check_fields(struct call *c, const struct field *f, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(c->body, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(f[i].name, key))
            i++;
        if (i == n) {
            call_fail(c, MHD_HTTP_BAD_REQUEST, key, "unknown field \"%s\"", key);
            return false;
        }
        if (f[i].type == F_INT_OR_STRING && json_is_string(v)) {
            if (json_string_length(v) == 0 || json_string_length(v) > MAX_PROFILE_NAME) {
                call_fail(c, MHD_HTTP_BAD_REQUEST, key, "\"%s\" must be 1 to %d characters", key,
                          MAX_PROFILE_NAME);
                return false;
            }
            continue;
        }
        if (!json_is_integer(v)) {
            call_fail(c, MHD_HTTP_BAD_REQUEST, key, "\"%s\" must be an integer%s", key,
                      f[i].type == F_INT_OR_STRING ? " or a string" : "");
            return false;
        }
        if (json_integer_value(v) < f[i].min || json_integer_value(v) > f[i].max) {
            call_fail(c, MHD_HTTP_BAD_REQUEST, key, "\"%s\" must be between %lld and %lld", key,
                      (long long)f[i].min, (long long)f[i].max);
            return false;
        }
    }
    return true;
}

static bool has(const struct call *c, const char *key)
{
    return json_object_get(c->body, key) != NULL;
}

static json_int_t int_of(const struct call *c, const char *key, json_int_t dflt)
{
    json_t *v = json_object_get(c->body, key);
    return v ? json_integer_value(v) : dflt;
}

/* Root and the admin group only; false after a 403. */
static bool need_admin(struct call *c, const char *what)
{
    if (c->admin)
        return true;
    call_fail(c, MHD_HTTP_FORBIDDEN, NULL,
              "uid %u may not %s: only root and members of group migkit may", (unsigned)c->who.uid,
              what);
    return false;
}

/* The uid filter of views: none for admins, the caller's own for everyone else. */
static uid_t view_uid(const struct call *c)
{
    return c->admin ? (uid_t)-1 : c->who.uid;
}

/* Parses a decimal path parameter in [1, max] (0 allowed when zero_ok). */
static bool path_number(const char *s, long long max, bool zero_ok, long long *ret)
{
    char *end;
    long long v;
    if (!s || !*s || *s < '0' || *s > '9' || (s[0] == '0' && s[1]))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v > max || (v == 0 && !zero_ok))
        return false;
    *ret = v;
    return true;
}

/* ---- handlers ---- */

void api_get_health(struct call *c)
{
    call_reply(c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "status", "ok", "version", MIGKIT_VERSION));
}

/* GET /metrics: admins only, as the metrics name every instance of every user. */
void api_get_metrics(struct call *c)
{
    if (!c->admin) {
        call_fail(c, MHD_HTTP_FORBIDDEN, NULL,
                  "only root and members of group " API_ADMIN_GROUP " may read /metrics");
        return;
    }
    if (!(c->text = metrics_render(c->metrics, &c->text_len))) {
        call_fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        return;
    }
    c->status = MHD_HTTP_OK;
    c->content_type = METRICS_CONTENT_TYPE;
}

void api_get_gpus(struct call *c)
{
    struct mk_error err = {0};
    json_t *a;
    int r = registry_gpus_json(c->api_reg, &a, &err);
    if (r < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_OK, json_pack("{s:o}", "gpus", a));
}

void api_list_instances(struct call *c)
{
    struct mk_error err = {0};
    json_t *a;
    int r = registry_instances_json(c->api_reg, view_uid(c), &a, &err);
    if (r < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_OK, json_pack("{s:o}", "instances", a));
}

/* The presence rules of a create: a profile, or memory_bytes with sms; never both. */
static bool create_shape(struct call *c, struct registry_create *req)
{
    json_t *profile = json_object_get(c->body, "profile");
    if (profile && (has(c, "memory_bytes") || has(c, "sms"))) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, has(c, "sms") ? "sms" : "memory_bytes",
                  "a profile instance takes no memory_bytes or sms (the profile sets them)");
        return false;
    }
    if (!profile && (!has(c, "memory_bytes") || !has(c, "sms"))) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, has(c, "memory_bytes") ? "sms" : "profile",
                  "give a profile, or memory_bytes and sms for a custom instance");
        return false;
    }
    if (!profile && has(c, "placement")) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, "placement", "a custom instance takes no placement");
        return false;
    }
    req->gpu = (int)int_of(c, "gpu", 0);
    req->kind = profile ? STORE_KIND_PROFILE : STORE_KIND_CUSTOM;
    req->profile_name = json_is_string(profile) ? json_string_value(profile) : NULL;
    req->profile_id = (int)int_of(c, "profile", -1);
    req->placement = (int)int_of(c, "placement", -1);
    req->quota_bytes = (uint64_t)int_of(c, "memory_bytes", 0);
    req->sms = (int)int_of(c, "sms", 0);
    return true;
}

void api_create_instance(struct call *c)
{
    static const struct field f[] = {
        {"gpu", F_INT, 0, MAX_GPU},
        {"profile", F_INT_OR_STRING, 0, MAX_PROFILE_ID},
        {"placement", F_INT, 0, MAX_PLACEMENT},
        {"memory_bytes", F_INT, 1, MAX_BYTES},
        {"sms", F_INT, 1, MAX_SMS},
    };
    struct registry_create req = {0};
    struct mk_error err = {0};
    json_t *o = NULL;
    int r;
    if (!need_admin(c, "create instances") || !check_fields(c, f, MK_ELEMENTSOF(f)) ||
        !create_shape(c, &req))
        return;
    if ((r = registry_instance_create(c->api_reg, &c->who, &req, &o, &err)) < 0) {
        /* A missing GPU is a bad value in the body, not a missing resource. */
        call_fail_err(c, r == -ENOENT ? -EINVAL : r, &err, req.bad_field);
        return;
    }
    snprintf(c->location, sizeof(c->location), "/v1/instances/%s",
             json_string_value(json_object_get(o, "uuid")));
    call_reply(c, MHD_HTTP_CREATED, o);
}

void api_get_instance(struct call *c)
{
    struct mk_error err = {0};
    json_t *o;
    int r = registry_instance_json(c->api_reg, c->uuid, view_uid(c), &o, &err);
    if (r < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_OK, o);
}

void api_resize_instance(struct call *c)
{
    static const struct field f[] = {{"quota_bytes", F_INT, 1, MAX_BYTES}};
    struct mk_error err = {0};
    json_t *o = NULL;
    int r;
    if (!need_admin(c, "resize instances") || !check_fields(c, f, MK_ELEMENTSOF(f)))
        return;
    if (!has(c, "quota_bytes")) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, "quota_bytes", "\"quota_bytes\" is required");
        return;
    }
    r = registry_instance_resize(c->api_reg, &c->who, c->uuid,
                                 (uint64_t)int_of(c, "quota_bytes", 0), &o, &err);
    if (r < 0)
        call_fail_err(c, r, &err, "quota_bytes");
    else
        call_reply(c, MHD_HTTP_OK, o);
}

void api_destroy_instance(struct call *c)
{
    struct mk_error err = {0};
    int r;
    if (!need_admin(c, "destroy instances"))
        return;
    if ((r = registry_instance_destroy(c->api_reg, &c->who, c->uuid, &err)) < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_NO_CONTENT, NULL);
}

void api_add_grant(struct call *c)
{
    static const struct field f[] = {{"uid", F_INT, 0, MAX_UID}};
    struct mk_error err = {0};
    json_t *o = NULL;
    int r;
    if (!need_admin(c, "grant instances") || !check_fields(c, f, MK_ELEMENTSOF(f)))
        return;
    if (!has(c, "uid")) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, "uid", "\"uid\" is required");
        return;
    }
    r = registry_grant_add(c->api_reg, &c->who, c->uuid, (uid_t)int_of(c, "uid", 0), &err);
    if (r == 0)
        r = registry_instance_json(c->api_reg, c->uuid, (uid_t)-1, &o, &err);
    if (r < 0)
        call_fail_err(c, r, &err, "uid");
    else
        call_reply(c, MHD_HTTP_OK, o);
}

void api_remove_grant(struct call *c)
{
    struct mk_error err = {0};
    long long uid;
    int r;
    if (!need_admin(c, "revoke grants"))
        return;
    if (!path_number(c->sub, MAX_UID, true, &uid)) {
        call_fail(c, MHD_HTTP_NOT_FOUND, NULL, "no grant %s: not a uid", c->sub);
        return;
    }
    if ((r = registry_grant_remove(c->api_reg, &c->who, c->uuid, (uid_t)uid, &err)) < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_NO_CONTENT, NULL);
}

/* Processes: admins, and uids granted the instance (others do not see it: 404). */
static bool may_use(struct call *c)
{
    if (c->admin || registry_granted(c->api_reg, c->uuid, c->who.uid))
        return true;
    call_fail(c, MHD_HTTP_NOT_FOUND, NULL, "no instance %s", c->uuid);
    return false;
}

void api_add_process(struct call *c)
{
    static const struct field f[] = {{"pid", F_INT, 1, MAX_PID}};
    struct mk_error err = {0};
    json_t *o = NULL;
    pid_t pid;
    int r;
    if (!check_fields(c, f, MK_ELEMENTSOF(f)) || !may_use(c))
        return;
    pid = (pid_t)int_of(c, "pid", c->who.pid);
    if (pid <= 0) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, "pid",
                  "\"pid\" is required here: this listener "
                  "has no peer process");
        return;
    }
    r = registry_process_add(c->api_reg, &c->who, c->uuid, pid, c->admin ? (uid_t)-1 : c->who.uid,
                             &o, &err);
    if (r < 0)
        call_fail_err(c, r, &err, "pid");
    else
        call_reply(c, r == 1 ? MHD_HTTP_OK : MHD_HTTP_CREATED, o);
}

void api_remove_process(struct call *c)
{
    struct mk_error err = {0};
    long long pid;
    int r;
    if (!may_use(c))
        return;
    if (!path_number(c->sub, MAX_PID, false, &pid)) {
        call_fail(c, MHD_HTTP_NOT_FOUND, NULL, "no process %s: not a pid", c->sub);
        return;
    }
    r = registry_process_remove(c->api_reg, &c->who, c->uuid, (pid_t)pid,
                                c->admin ? (uid_t)-1 : c->who.uid, &err);
    if (r < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_NO_CONTENT, NULL);
}

/* A query parameter as an integer in [lo, hi]; absent gives dflt. false after a 400. */
static bool query_int(struct call *c, const char *key, long long lo, long long hi, long long dflt,
                      long long *ret)
{
    const char *s = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, key);
    if (!s) {
        *ret = dflt;
        return true;
    }
    if (!path_number(s, hi, true, ret) || *ret < lo) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, key,
                  "query parameter \"%s\" must be an integer "
                  "between %lld and %lld",
                  key, lo, hi);
        return false;
    }
    return true;
}

void api_list_events(struct call *c)
{
    struct mk_error err = {0};
    long long since, limit;
    json_t *a;
    int r;
    if (!query_int(c, "since", 0, INT64_MAX, 0, &since) ||
        !query_int(c, "limit", 1, EVENTS_MAX, EVENTS_DEFAULT, &limit))
        return;
    r = registry_events_json(c->api_reg, since, (int)limit, view_uid(c), &a, &err);
    if (r < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_OK, json_pack("{s:o}", "events", a));
}

/* ---- the desired configuration (desired.h) ---- */

/* GET /v1/desired: for every caller, like GET /v1/gpus (it names no user and no instance). */
void api_get_desired(struct call *c)
{
    struct mk_error err = {0};
    char *config = NULL, *label = NULL;
    int r = desired_get(c->api_reg, &config, &label, &err);
    if (r < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "config", config, "label", label));
    mk__free(config);
    mk__free(label);
}

/* A string field of the body: required, of 1 to max bytes. false after a 400. */
static bool string_field(struct call *c, const char *key, size_t max, const char **ret)
{
    json_t *v = json_object_get(c->body, key);
    if (!v) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, key, "\"%s\" is required", key);
        return false;
    }
    if (!json_is_string(v)) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, key, "\"%s\" must be a string", key);
        return false;
    }
    if (json_string_length(v) == 0 || json_string_length(v) > max) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, key, "\"%s\" must be 1 to %zu bytes", key, max);
        return false;
    }
    *ret = json_string_value(v);
    return true;
}

/* PUT /v1/desired: admins only; the whole candidate is checked before anything is written. */
void api_put_desired(struct call *c)
{
    struct mk_error err = {0};
    const char *key, *config, *label;
    json_t *v;
    int r;
    if (!need_admin(c, "set the desired configuration"))
        return;
    json_object_foreach(c->body, key, v)
    {
        if (strcmp(key, "config") && strcmp(key, "label")) {
            call_fail(c, MHD_HTTP_BAD_REQUEST, key, "unknown field \"%s\"", key);
            return;
        }
    }
    if (!string_field(c, "config", DESIRED_MAX_CONFIG, &config) ||
        !string_field(c, "label", DESIRED_MAX_LABEL, &label))
        return;
    /* A text that does not parse is the config's fault; a label it lacks, the label's. */
    if ((r = desired_check(config, strlen(config), label, &err)) < 0) {
        call_fail(c, MHD_HTTP_BAD_REQUEST, r == -ENOENT ? "label" : "config", "%s",
                  mk_strerror(&err));
        return;
    }
    if ((r = desired_set(c->api_reg, &c->who, config, label, &err)) < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "config", config, "label", label));
}

/* DELETE /v1/desired: admins only; 404 when nothing is recorded, as GET answers then. */
void api_delete_desired(struct call *c)
{
    struct mk_error err = {0};
    int r;
    if (!need_admin(c, "clear the desired configuration"))
        return;
    if ((r = desired_clear(c->api_reg, &c->who, &err)) < 0)
        call_fail_err(c, r, &err, NULL);
    else
        call_reply(c, MHD_HTTP_NO_CONTENT, NULL);
}
