/*
 * soft-client.c - migd's HTTP API from the client side: libcurl over RUN_DIR/migd.sock
 * (CURLOPT_UNIX_SOCKET_PATH), JSON in and out with jansson, and HTTP statuses mapped to
 * common.h's error classes (soft.h).
 *
 * One curl easy handle per struct mk_migd, so the connection is reused between requests
 * (migd keeps HTTP/1.1 connections open). curl_global_init/cleanup are reference-counted by
 * libcurl itself, so each open and free pairs them; that also leaves nothing behind for the
 * leak checker.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "migkit/soft.h"

/* sun_path holds 108 bytes on Linux, the terminating NUL included. */
#define SOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))
/* migd answers from memory in well under a millisecond; 5 s to connect and 60 s per request
 * leave room for a loaded machine (or an ASan build) without hanging a script forever. */
#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 60000L
/* The largest answer kept: GET /v1/instances with 64 GPUs x 64 instances is about 2 MiB. */
#define MAX_ANSWER (16u << 20)

struct mk_migd {
    CURL *curl;
    char sock[SOCK_PATH_MAX];
    char curl_err[CURL_ERROR_SIZE];
};

/* A growing buffer for the answer's body. */
struct answer {
    char *data;
    size_t len, cap;
    bool too_big;
};

char *mk_migd_run_dir(char *buf, size_t len)
{
    const char *s = getenv("MIGKIT_RUN_DIR");
    snprintf(buf, len, "%s", s && *s ? s : MK_RUN_DIR_DEFAULT);
    return buf;
}

/* Why the socket at path cannot be used, before any request: it is missing (migd is not
 * running there), not a socket, or this process may not connect (the socket is mode 0660,
 * root and group migkit). */
static int check_socket(const char *path, struct mk_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return mk_error_set(err, -ENOENT,
                                "migd is not running: no socket %s (start migd, or point "
                                "MIGKIT_RUN_DIR or --run-dir at its run directory)",
                                path);
        if (errno == EACCES)
            return mk_error_set(err, -EPERM, "cannot reach %s: permission denied", path);
        return mk_error_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return mk_error_set(err, -ENOENT, "%s is not a socket: is it migd's run directory?", path);
    if (access(path, R_OK | W_OK) < 0)
        return mk_error_set(err, -EPERM,
                            "cannot connect to %s: permission denied (migd's socket is for "
                            "root and members of group migkit)",
                            path);
    return 0;
}

int mk_migd_open(const char *run_dir, struct mk_migd **ret, struct mk_error *err)
{
    char dir[4096];
    struct mk_migd *m;
    int r;
    mk_assert_return(ret, -EINVAL);
    if (!run_dir)
        run_dir = mk_migd_run_dir(dir, sizeof(dir));
    if (!(m = mk__calloc(1, sizeof(*m))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    if ((size_t)snprintf(m->sock, sizeof(m->sock), "%s/migd.sock", run_dir) >= sizeof(m->sock)) {
        mk__free(m);
        return mk_error_set(err, -ENAMETOOLONG,
                            "%s/migd.sock: longer than a Unix socket path may be (%zu bytes)",
                            run_dir, SOCK_PATH_MAX - 1);
    }
    if ((r = check_socket(m->sock, err)) < 0) {
        mk__free(m);
        return r;
    }
    /* No TLS or anything else global: HTTP over a local socket needs none of it. */
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK || !(m->curl = curl_easy_init())) {
        mk__free(m);
        return mk_error_set(err, -ENOMEM, "cannot initialise libcurl");
    }
    *ret = m;
    return 0;
}

void mk_migd_free(struct mk_migd *m)
{
    if (!m)
        return;
    curl_easy_cleanup(m->curl);
    curl_global_cleanup();
    mk__free(m);
}

const char *mk_migd_socket(const struct mk_migd *m)
{
    return m->sock;
}

int mk_migd_errno(long status, const char *message)
{
    switch (status) {
    case 400:
    case 405:
    case 413:
        return -EINVAL;
    case 401:
    case 403:
        return -EPERM;
    case 404:
        return -ENOENT;
    case 409:
        /* migd says "in use" for instances with processes or leases (registry.c), and names
         * what does not fit otherwise: GPU memory, placements, counts. */
        return message && strstr(message, "in use") ? -EBUSY : -ENOSPC;
    default:
        return -EIO;
    }
}

/* curl's write callback: appends to the answer, up to MAX_ANSWER. */
static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    struct answer *a = ctx;
    size_t add = size * n;
    if (a->len + add + 1 > MAX_ANSWER) {
        a->too_big = true;
        return 0; /* makes curl fail the transfer */
    }
    if (a->len + add + 1 > a->cap) {
        size_t cap = (a->len + add + 1) * 2;
        char *d = mk__realloc(a->data, cap);
        if (!d)
            return 0;
        a->data = d;
        a->cap = cap;
    }
    memcpy(a->data + a->len, p, add);
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

/* Sets up and runs the transfer; returns the HTTP status, or -EIO with the reason in err. */
static long transfer(struct mk_migd *m, const char *method, const char *url, const char *body,
                     struct answer *a, struct mk_error *err)
{
    struct curl_slist *hdrs = NULL, *h;
    CURL *c = m->curl;
    long status = 0;
    CURLcode rc;
    curl_easy_reset(c);
    /* Expect: 100-continue would make curl wait before sending a body; migd needs no such
     * dance for bodies this small. */
    if (!(h = curl_slist_append(hdrs, "Expect:")) ||
        !(hdrs = curl_slist_append(h, "Content-Type: application/json"))) {
        curl_slist_free_all(h);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    m->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, m->sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, m->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK)
        return mk_error_set(err, -EIO, "cannot talk to migd on %s: %s", m->sock,
                            a->too_big       ? "its answer is too large"
                            : m->curl_err[0] ? m->curl_err
                                             : curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* An error answer: its class, with migd's "error" text (or the bare status) in err. */
static int answer_error(long status, const struct answer *a, struct mk_error *err)
{
    json_t *o = a->data ? json_loads(a->data, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(o, "error"));
    int r = mk_migd_errno(status, msg);
    if (msg)
        mk_error_set(err, r, "%s", msg);
    else
        mk_error_set(err, r, "migd answered HTTP %ld", status);
    json_decref(o);
    return r;
}

int mk_migd_request(struct mk_migd *m, const char *method, const char *path, json_t *body,
                    json_t **ret_json, struct mk_error *err)
{
    struct answer a = {0};
    _cleanup_free_ char *text = NULL;
    char url[1024];
    json_t *out = NULL;
    long status;
    mk_assert_return(m && method && path, -EINVAL);
    if (body && !(text = json_dumps(body, JSON_COMPACT)))
        return mk_error_set(err, -ENOMEM, "out of memory");
    snprintf(url, sizeof(url), "http://localhost%s", path);
    status = transfer(m, method, url, text, &a, err);
    if (status < 0)
        goto out;
    if (status < 200 || status > 299) {
        status = answer_error(status, &a, err);
        goto out;
    }
    if (ret_json && a.len > 0 && !(out = json_loadb(a.data, a.len, 0, NULL))) {
        status = mk_error_set(err, -EIO, "%s %s: migd's answer is not JSON", method, path);
        goto out;
    }
    if (ret_json)
        *ret_json = out;
out:
    mk__free(a.data);
    return (int)status;
}
