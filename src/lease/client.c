/*
 * client.c - the lease client (include/migkit/lease.h): one Unix stream connection to migd's
 * lease socket, shared by the threads of a process under one mutex, with transparent
 * reconnection and re-registration after a migd restart (docs/lease-protocol.md).
 *
 * Built for a preloaded shim: the only allocation is the client itself (mk_lease_client_new);
 * requests and replies are formatted and parsed in fixed buffers inside the client with the
 * helpers of wire.h (no stdio, no locale); sends use MSG_NOSIGNAL so a dead migd never raises
 * SIGPIPE in the application; every fd is CLOEXEC. Error paths format a message into the
 * caller's struct mk_error (fixed size, no allocation).
 *
 * Accounting rule. c->held is the truth the client re-registers with: it grows only when the
 * server acknowledged a GRANT on a live connection, and shrinks as soon as the caller
 * releases. Since every lease on the server is bound to its connection, a broken connection
 * means the server holds nothing for us any more, and a HELLO with c->held restores exactly
 * what we hold, whatever happened to the request that was in flight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "migkit/lease.h"
#include "wire.h"

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

struct mk_lease_client {
    pthread_mutex_t lock;          /* serialises every use of the fields below */
    int fd;                        /* the connection, -1 when not connected */
    bool ever_connected;           /* a HELLO succeeded once: later connections are reconnects */
    unsigned timeout_ms;           /* SO_RCVTIMEO/SO_SNDTIMEO of the connection */
    uint64_t held;                 /* what we hold: see "Accounting rule" above */
    uint64_t reconnects;           /* successful HELLOs after the first */
    struct mk_lease_limits limits; /* from the last HELLO reply */
    char path[SUN_PATH_MAX];
    char rbuf[MK_LEASE_REPLY_MAX]; /* the reply being read */
    size_t rlen;
};

/* The reply of one round trip: its first word, and a cursor over the rest. */
enum reply_kind { REPLY_OK, REPLY_NO };

struct reply {
    enum reply_kind kind;
    struct mk__lease_cursor args;
};

/* The server's error codes (the word after "ERR") and the errno each becomes for the caller. */
#define LEASE_ERR_MAP(X)                                                                           \
    X("version", EPROTONOSUPPORT)                                                                  \
    X("syntax", EPROTO)                                                                            \
    X("toolong", EMSGSIZE)                                                                         \
    X("order", EPROTO)                                                                             \
    X("member", ESRCH)                                                                             \
    X("quota", EDQUOT)                                                                             \
    X("range", ERANGE)                                                                             \
    X("busy", EBUSY)                                                                               \
    X("timeout", ETIMEDOUT)                                                                        \
    X("gone", ENOENT)                                                                              \
    X("internal", EIO)

static int err_code(struct mk__lease_tok t)
{
#define X(word, errno_value)                                                                       \
    if (mk__lease_tok_is(t, word))                                                                 \
        return -errno_value;
    LEASE_ERR_MAP(X)
#undef X
    return -EPROTO;
}

/* Errors that mean the connection broke under us (as opposed to a reply, a timeout or a
 * refusal): the server died or closed it, and one reconnection is worth trying. */
static bool broken(int r)
{
    return r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN || r == -ECONNABORTED;
}

int mk_lease_client_new(const char *path, unsigned timeout_ms, struct mk_lease_client **ret,
                        struct mk_error *err)
{
    struct mk_lease_client *c;
    size_t n;
    mk_assert_return(path && ret, -EINVAL);
    n = strlen(path);
    if (n == 0 || n >= SUN_PATH_MAX)
        return mk_error_set(err, -ENAMETOOLONG,
                            "lease socket path is %zu bytes; a Unix socket path holds 1 to %zu", n,
                            SUN_PATH_MAX - 1);
    c = mk__calloc(1, sizeof(*c));
    if (!c)
        return mk_error_set(err, -ENOMEM, "out of memory");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        mk__free(c);
        return mk_error_set(err, -ENOMEM, "cannot create the lease client's mutex");
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms ? timeout_ms : MK_LEASE_TIMEOUT_MS_DEFAULT;
    memcpy(c->path, path, n + 1);
    *ret = c;
    return 0;
}

static void conn_close(struct mk_lease_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rlen = 0;
}

void mk_lease_client_free(struct mk_lease_client *c)
{
    if (!c)
        return;
    conn_close(c);
    pthread_mutex_destroy(&c->lock);
    mk__free(c);
}

int mk_lease_default_path(char *buf, size_t n)
{
    const char *dir = getenv(MK_LEASE_RUN_DIR_ENV);
    struct mk__lease_line l;
    if (!dir || !*dir)
        dir = MK_LEASE_RUN_DIR_DEFAULT;
    mk__lease_line_init(&l, buf, n);
    mk__lease_line_put(&l, dir);
    mk__lease_line_put(&l, "/" MK_LEASE_SOCKET_NAME);
    mk__lease_line_putn(&l, "", 1);
    if (l.overflow || l.len > SUN_PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

/* Opens the connection with send and receive timeouts. Connecting to a Unix socket does not
 * wait for the server's accept(); it blocks only while the listen queue is full, for at most
 * the send timeout. */
static int conn_open(struct mk_lease_client *c, struct mk_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
                         .tv_usec = (suseconds_t)(c->timeout_ms % 1000) * 1000};
    int fd, r;
    memcpy(addr.sun_path, c->path, sizeof(c->path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mk_error_set(err, -errno, "socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        r = mk_error_set(err, -errno, "cannot set the lease socket's timeouts: %s",
                         strerror(errno));
        close(fd);
        return r;
    }
    do
        r = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EISCONN) {
        r = -errno;
        close(fd);
        if (r == -EAGAIN || r == -EINPROGRESS)
            r = -ETIMEDOUT;
        return mk_error_set(err, r, "cannot connect to migd at %s: %s", c->path, strerror(-r));
    }
    c->fd = fd;
    c->rlen = 0;
    return 0;
}

/* Sends one whole request line. */
static int send_line(struct mk_lease_client *c, const char *buf, size_t n, struct mk_error *err)
{
    while (n > 0) {
        ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            int r = errno == EAGAIN ? -ETIMEDOUT : -errno;
            if (r == -EINTR)
                continue;
            return mk_error_set(err, r, "cannot send to migd at %s: %s", c->path, strerror(-r));
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Reads one reply line into c->rbuf and returns its length without the newline. Replies come
 * one per request, so the buffer must hold exactly one line when the newline arrives; anything
 * else, an over-long line or bytes outside printable ASCII, is a protocol error.
 */
static int recv_line(struct mk_lease_client *c, size_t *ret_n, struct mk_error *err)
{
    char *nl;
    c->rlen = 0;
    while (!(nl = memchr(c->rbuf, '\n', c->rlen))) {
        ssize_t n;
        if (c->rlen == sizeof(c->rbuf))
            return mk_error_set(err, -EPROTO, "migd sent a reply longer than %d bytes",
                                MK_LEASE_REPLY_MAX);
        n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
        if (n == 0)
            return mk_error_set(err, -ECONNRESET, "migd closed the lease connection");
        if (n < 0) {
            int r = errno == EAGAIN ? -ETIMEDOUT : -errno;
            if (r == -EINTR)
                continue;
            return mk_error_set(err, r, "no reply from migd at %s: %s", c->path, strerror(-r));
        }
        c->rlen += (size_t)n;
    }
    *ret_n = (size_t)(nl - c->rbuf);
    if (*ret_n + 1 != c->rlen || !mk__lease_printable(c->rbuf, *ret_n))
        return mk_error_set(err, -EPROTO, "migd sent a malformed reply");
    return 0;
}

/*
 * One request and its reply on the open connection. "OK ..." and "NO ..." come back in *ret;
 * "ERR code text" becomes the code's errno with the server's text in err, and like every
 * failure here it closes the connection (the server closes its end after an ERR; after a
 * transport error or a timeout the state of the stream is unknown). When the send fails
 * because the server already closed, the reason it may have written first ("ERR busy" at
 * accept) is still readable, and is what the caller gets.
 */
static int roundtrip(struct mk_lease_client *c, const char *req, size_t n, struct reply *ret,
                     struct mk_error *err)
{
    struct mk__lease_tok word, code;
    size_t len = 0;
    int r = send_line(c, req, n, err);
    if (r < 0 && broken(r) && recv_line(c, &len, NULL) == 0)
        r = 0;
    else if (r == 0)
        r = recv_line(c, &len, err);
    if (r < 0)
        goto fail;
    mk__lease_cursor_init(&ret->args, c->rbuf, len);
    if (mk__lease_next(&ret->args, &word) != 1) {
        r = mk_error_set(err, -EPROTO, "migd sent an empty reply");
        goto fail;
    }
    if (mk__lease_tok_is(word, "OK") || mk__lease_tok_is(word, "NO")) {
        ret->kind = word.p[0] == 'O' ? REPLY_OK : REPLY_NO;
        return 0;
    }
    if (mk__lease_tok_is(word, "ERR") && mk__lease_next(&ret->args, &code) == 1) {
        struct mk__lease_tok text = mk__lease_rest(&ret->args);
        r = mk_error_set(err, err_code(code), "migd: %.*s: %.*s", (int)code.n, code.p, (int)text.n,
                         text.p);
        goto fail;
    }
    r = mk_error_set(err, -EPROTO, "migd sent an unknown reply");
fail:
    conn_close(c);
    return r;
}

/* Copies a token into a NUL-terminated field of cap bytes; false when it does not fit. */
static bool tok_copy(struct mk__lease_tok t, char *dst, size_t cap)
{
    if (t.n == 0 || t.n >= cap)
        return false;
    memcpy(dst, t.p, t.n);
    dst[t.n] = '\0';
    return true;
}

/* Stores a numeric field of a HELLO reply; returns its bit in the "seen" mask of parse_limits,
 * 0 for a key it does not know. */
static unsigned limits_number(struct mk_lease_limits *l, struct mk__lease_tok t, uint64_t x)
{
    if (mk__lease_tok_is(t, "held")) {
        l->held = x;
        return 2;
    }
    if (mk__lease_tok_is(t, "quota")) {
        l->quota_bytes = x;
        return 4;
    }
    if (mk__lease_tok_is(t, "sms")) {
        l->sms = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
        return 8;
    }
    if (mk__lease_tok_is(t, "chunk")) {
        l->chunk_bytes = x;
        return 16;
    }
    return 0;
}

/* Bits of the required fields of a HELLO reply: instance, held, quota, sms, chunk. */
#define LIMITS_ALL 0x1fu

/*
 * Parses the fields of a HELLO reply after "OK": "<version> held=H quota=Q sms=S chunk=C instance=I
 * name=N...", name last and running to the end of the line (it may hold spaces). Fields
 * before name come in any order, and unknown ones are skipped: a later revision of version 1
 * may add some (docs/lease-protocol.md, "Versioning").
 */
static int parse_limits(struct reply *rp, uint32_t version, struct mk_lease_limits *l)
{
    struct mk__lease_tok t, key, v;
    uint64_t x, ver;
    unsigned seen = 0;
    if (mk__lease_next(&rp->args, &t) != 1 || mk__lease_parse_u64(t, &ver) < 0)
        return -EPROTO;
    if (ver != version)
        return -EPROTONOSUPPORT;
    l->version = version;
    while (mk__lease_next(&rp->args, &t) == 1) {
        const char *eq = memchr(t.p, '=', t.n);
        if (!eq)
            return -EPROTO;
        key = (struct mk__lease_tok){t.p, (size_t)(eq - t.p)};
        v = (struct mk__lease_tok){eq + 1, t.n - key.n - 1};
        if (mk__lease_tok_is(key, "name")) {
            v.n = (size_t)(rp->args.end - v.p);
            if (!tok_copy(v, l->name, sizeof(l->name)))
                return -EPROTO;
            return seen == LIMITS_ALL ? 0 : -EPROTO;
        }
        if (mk__lease_tok_is(key, "instance")) {
            if (!tok_copy(v, l->instance, sizeof(l->instance)))
                return -EPROTO;
            seen |= 1;
        } else if (mk__lease_parse_u64(v, &x) == 0) {
            seen |= limits_number(l, key, x);
        }
    }
    return -EPROTO;
}

/* Parses "held=H" as the first field of a reply's arguments. */
static int parse_held(struct reply *rp, uint64_t *ret)
{
    struct mk__lease_tok t, v;
    if (mk__lease_next(&rp->args, &t) != 1 || !mk__lease_tok_key(t, "held", &v) ||
        mk__lease_parse_u64(v, ret) < 0)
        return -EPROTO;
    return 0;
}

/* Says HELLO in protocol version on the freshly opened connection with what we hold; stores
 * the limits. */
static int hello(struct mk_lease_client *c, uint32_t version, struct mk_error *err)
{
    char buf[MK_LEASE_REQUEST_MAX];
    struct mk__lease_line l;
    struct mk_lease_limits lim;
    struct reply rp;
    int r;
    memset(&lim, 0, sizeof(lim));
    mk__lease_line_init(&l, buf, sizeof(buf));
    mk__lease_line_put(&l, "HELLO ");
    mk__lease_line_put_u64(&l, version);
    mk__lease_line_put(&l, " held=");
    mk__lease_line_put_u64(&l, c->held);
    mk__lease_line_put(&l, "\n");
    if ((r = roundtrip(c, buf, l.len, &rp, err)) < 0)
        return r;
    if (rp.kind != REPLY_OK || (r = parse_limits(&rp, version, &lim)) < 0 || lim.held != c->held) {
        conn_close(c);
        r = r == -EPROTONOSUPPORT ? r : -EPROTO;
        return mk_error_set(err, r, "migd sent a malformed HELLO reply");
    }
    c->limits = lim;
    if (c->ever_connected)
        c->reconnects++;
    c->ever_connected = true;
    return 0;
}

/*
 * Connects and registers unless already connected. *ret_fresh tells whether it did. Every new
 * connection tries the newest version first and steps down when the server does not speak it
 * (it answers "ERR version" and closes): a migd upgraded meanwhile is spoken to in its newest
 * version again at the next reconnection. With an old migd that costs one round trip per
 * reconnection, which happens once per migd restart.
 */
static int ensure(struct mk_lease_client *c, bool *ret_fresh, struct mk_error *err)
{
    int r;
    *ret_fresh = c->fd < 0;
    if (c->fd >= 0)
        return 0;
    for (uint32_t v = MK_LEASE_VERSION;; v--) {
        if ((r = conn_open(c, err)) < 0)
            return r;
        r = hello(c, v, err);
        if (r != -EPROTONOSUPPORT || v == MK_LEASE_VERSION_MIN)
            return r;
    }
}

/*
 * Sends a request, connecting first if needed. If a connection that was already open turns
 * out broken (migd restarted since our last request), reconnects once and sends the request
 * again: the new server knows nothing of the old one's leases, and the HELLO re-registers what
 * we hold, so the retry is exact. A freshly made connection that breaks is not retried.
 */
static int request(struct mk_lease_client *c, const char *req, size_t n, struct reply *ret,
                   struct mk_error *err)
{
    bool fresh;
    int r = ensure(c, &fresh, err);
    if (r < 0)
        return r;
    r = roundtrip(c, req, n, ret, err);
    if (r < 0 && broken(r) && !fresh) {
        if ((r = ensure(c, &fresh, err)) < 0)
            return r;
        r = roundtrip(c, req, n, ret, err);
    }
    return r;
}

/* Builds "VERB n\n" in buf. */
static size_t verb_line(char *buf, size_t cap, const char *verb, uint64_t n)
{
    struct mk__lease_line l;
    mk__lease_line_init(&l, buf, cap);
    mk__lease_line_put(&l, verb);
    mk__lease_line_put_u64(&l, n);
    mk__lease_line_put(&l, "\n");
    return l.len;
}

int mk_lease_connect(struct mk_lease_client *c, struct mk_lease_limits *ret_limits,
                     struct mk_error *err)
{
    bool fresh;
    int r;
    mk_assert_return(c, -EINVAL);
    pthread_mutex_lock(&c->lock);
    r = ensure(c, &fresh, err);
    if (r == 0 && ret_limits) {
        *ret_limits = c->limits;
        ret_limits->held = c->held;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* mk_lease_grant with the lock held. */
static int grant_locked(struct mk_lease_client *c, uint64_t bytes, uint64_t *ret_free,
                        struct mk_error *err)
{
    char buf[MK_LEASE_REQUEST_MAX];
    struct mk__lease_tok t, v;
    struct reply rp;
    uint64_t held, avail;
    int r;
    if (bytes == 0 || bytes > MK_LEASE_BYTES_MAX || c->held > MK_LEASE_BYTES_MAX - bytes)
        return mk_error_set(err, -ERANGE, "cannot ask for %llu bytes more than %llu held",
                            (unsigned long long)bytes, (unsigned long long)c->held);
    if ((r = request(c, buf, verb_line(buf, sizeof(buf), "GRANT ", bytes), &rp, err)) < 0)
        return r;
    if (rp.kind == REPLY_NO) {
        if (mk__lease_next(&rp.args, &t) != 1 || !mk__lease_tok_key(t, "free", &v) ||
            mk__lease_parse_u64(v, &avail) < 0 || parse_held(&rp, &held) < 0 || held != c->held)
            goto bad;
        if (ret_free)
            *ret_free = avail;
        return -ENOSPC;
    }
    if (parse_held(&rp, &held) < 0 || held != c->held + bytes)
        goto bad;
    c->held = held;
    return 0;
bad:
    /* Dropping the connection drops the server's record too; the next HELLO re-registers
     * c->held, which did not count this grant. */
    conn_close(c);
    return mk_error_set(err, -EPROTO, "migd sent a malformed GRANT reply");
}

int mk_lease_grant(struct mk_lease_client *c, uint64_t bytes, uint64_t *ret_free,
                   struct mk_error *err)
{
    int r;
    mk_assert_return(c, -EINVAL);
    pthread_mutex_lock(&c->lock);
    r = grant_locked(c, bytes, ret_free, err);
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* mk_lease_release with the lock held. */
static int release_locked(struct mk_lease_client *c, uint64_t bytes, struct mk_error *err)
{
    char buf[MK_LEASE_REQUEST_MAX];
    struct reply rp;
    uint64_t held;
    bool fresh;
    int r;
    if (bytes == 0 || bytes > c->held)
        return mk_error_set(err, -ERANGE, "cannot release %llu bytes: %llu held",
                            (unsigned long long)bytes, (unsigned long long)c->held);
    c->held -= bytes;
    if (c->fd >= 0) {
        r = roundtrip(c, buf, verb_line(buf, sizeof(buf), "RELEASE ", bytes), &rp, err);
        if (r == 0) {
            if (rp.kind == REPLY_OK && parse_held(&rp, &held) == 0 && held == c->held)
                return 0;
            conn_close(c);
            r = mk_error_set(err, -EPROTO, "migd sent a malformed RELEASE reply");
        }
        if (!broken(r) && r != -EPROTO)
            return r;
    }
    /* No connection any more: the server's leases for us are gone. Registering again now,
     * with the lower amount, keeps what migd counts equal to what we hold. */
    return ensure(c, &fresh, err);
}

int mk_lease_release(struct mk_lease_client *c, uint64_t bytes, struct mk_error *err)
{
    int r;
    mk_assert_return(c, -EINVAL);
    pthread_mutex_lock(&c->lock);
    r = release_locked(c, bytes, err);
    pthread_mutex_unlock(&c->lock);
    return r;
}

int mk_lease_ping(struct mk_lease_client *c, uint64_t *ret_server_held, struct mk_error *err)
{
    static const char req[] = "PING\n";
    struct reply rp;
    uint64_t held;
    int r;
    mk_assert_return(c, -EINVAL);
    pthread_mutex_lock(&c->lock);
    r = request(c, req, sizeof(req) - 1, &rp, err);
    if (r == 0 && (rp.kind != REPLY_OK || parse_held(&rp, &held) < 0)) {
        conn_close(c);
        r = mk_error_set(err, -EPROTO, "migd sent a malformed PING reply");
    }
    if (r == 0 && ret_server_held)
        *ret_server_held = held;
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Parses "quota=Q granted=G" after the held of an INFO reply. */
static int parse_info(struct reply *rp, struct mk_lease_info *ret)
{
    struct mk__lease_tok t, v;
    if (parse_held(rp, &ret->held) < 0 || mk__lease_next(&rp->args, &t) != 1 ||
        !mk__lease_tok_key(t, "quota", &v) || mk__lease_parse_u64(v, &ret->quota_bytes) < 0 ||
        mk__lease_next(&rp->args, &t) != 1 || !mk__lease_tok_key(t, "granted", &v) ||
        mk__lease_parse_u64(v, &ret->granted) < 0)
        return -EPROTO;
    return 0;
}

/* mk_lease_info with the lock held. */
static int info_locked(struct mk_lease_client *c, struct mk_lease_info *ret, struct mk_error *err)
{
    static const char req[] = "INFO\n";
    struct mk_lease_info in;
    struct reply rp;
    bool fresh;
    int r;
    if ((r = ensure(c, &fresh, err)) < 0)
        return r;
    if (c->limits.version < 2)
        return mk_error_set(err, -EPROTONOSUPPORT, "migd speaks lease protocol version %u: no INFO",
                            (unsigned)c->limits.version);
    if ((r = request(c, req, sizeof(req) - 1, &rp, err)) < 0)
        return r;
    /* The retry inside request() may have reconnected to an older migd: its reply to INFO was
     * "ERR syntax", already returned above. */
    if (rp.kind != REPLY_OK || parse_info(&rp, &in) < 0 || in.held != c->held) {
        conn_close(c);
        return mk_error_set(err, -EPROTO, "migd sent a malformed INFO reply");
    }
    *ret = in;
    return 0;
}

int mk_lease_info(struct mk_lease_client *c, struct mk_lease_info *ret, struct mk_error *err)
{
    int r;
    mk_assert_return(c && ret, -EINVAL);
    pthread_mutex_lock(&c->lock);
    r = info_locked(c, ret, err);
    pthread_mutex_unlock(&c->lock);
    return r;
}

uint64_t mk_lease_held(struct mk_lease_client *c)
{
    uint64_t v;
    pthread_mutex_lock(&c->lock);
    v = c->held;
    pthread_mutex_unlock(&c->lock);
    return v;
}

uint64_t mk_lease_reconnects(struct mk_lease_client *c)
{
    uint64_t v;
    pthread_mutex_lock(&c->lock);
    v = c->reconnects;
    pthread_mutex_unlock(&c->lock);
    return v;
}

void mk_lease_client_atfork_prepare(struct mk_lease_client *c)
{
    pthread_mutex_lock(&c->lock);
}

void mk_lease_client_atfork_parent(struct mk_lease_client *c)
{
    pthread_mutex_unlock(&c->lock);
}

void mk_lease_client_atfork_child(struct mk_lease_client *c)
{
    conn_close(c); /* our copy only: the parent's connection stays open */
    c->held = 0;
    c->ever_connected = false;
    c->reconnects = 0;
    pthread_mutex_unlock(&c->lock);
}
