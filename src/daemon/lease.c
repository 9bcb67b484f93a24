/*
 * lease.c - the lease socket server (lease.h, docs/lease-protocol.md).
 *
 * One thread runs a level-triggered epoll loop over the listening socket, an eventfd (stop and
 * end-of-grace requests from other threads) and every connection. Sockets are non-blocking
 * and each connection has two fixed buffers: its input (one request line at most,
 * MK_LEASE_REQUEST_MAX) and its output (CONN_OUT_MAX). A slow or hostile client therefore
 * cannot block anyone: reading from a connection stops while its output is full (it must read
 * its replies first), a line that does not fit is an error, and each wake-up of a connection
 * reads once and serves at most the lines that read brought, so no connection can starve the
 * others. Connections live in a table allocated at start and touched only as it fills up.
 *
 * Leases are connection-bound: conn.held is what the connection was granted minus what it
 * released, and closing a connection for any reason gives conn.held back through
 * ops->release. That is the whole crash-safety story: a process that dies releases by dying,
 * and a migd that dies loses nothing that the clients do not re-register.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/lease.h"
#include "daemon/sock.h"
#include "lease/wire.h"

/* Output buffer of a connection: room for two of the longest replies, so a client that
 * pipelines requests gets several answers per write; lines are served only while a whole
 * longest reply still fits. */
#define CONN_OUT_MAX (2 * MK_LEASE_REPLY_MAX + 256)

/* Events taken per epoll_wait: enough to amortise the call under load, small on the stack. */
#define EVENTS_MAX 64

/* New connections accepted per wake-up of the listening socket, so a connection storm
 * cannot starve the requests of existing clients. */
#define ACCEPT_BURST 64

/* How often connections that have not said HELLO are checked against their deadline. */
#define SWEEP_MS 100

/* epoll tags of the two fds that are not connections; connections are tagged by slot index. */
#define TAG_LISTEN UINT64_MAX
#define TAG_WAKE   (UINT64_MAX - 1)

struct conn {
    int fd;    /* -1 when the slot is free */
    pid_t pid; /* from SO_PEERCRED at accept */
    uid_t uid;
    bool hello;           /* HELLO accepted: instance and held are valid */
    bool paused;          /* a GRANT waits for the end of the grace period */
    bool closing;         /* an ERR was queued: one write attempt, then drop */
    uint8_t version;      /* protocol version of its HELLO (MK_LEASE_VERSION_MIN..) */
    uint32_t events;      /* epoll interest registered now */
    uint64_t held;        /* granted minus released through this connection */
    uint64_t deadline_ms; /* HELLO deadline (monotonic), while !hello */
    int next_free;        /* free list link */
    size_t in_len, out_off, out_len;
    char instance[MK_LEASE_INSTANCE_MAX];
    char in[MK_LEASE_REQUEST_MAX];
    char out[CONN_OUT_MAX];
};

struct lease_server {
    const struct lease_ops *ops;
    void *ctx;
    struct lease_options opt;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev; /* identity of our socket file, so stop never unlinks someone else's */
    ino_t ino;
    int lfd, epfd, wakefd;
    int reservefd; /* an fd kept open to be given up when accept() hits EMFILE */
    pthread_t thread;
    struct conn *conns; /* opt.max_conns slots */
    unsigned used;      /* slots [0, used) have been handed out at least once */
    int free_head;      /* first free slot below used, -1 if none */
    unsigned nconns;    /* open connections */
    unsigned pending;   /* open connections that have not said HELLO */
    bool grace;
    bool grace_check; /* a HELLO was accepted: ask ops->grace_over at the next housekeeping */
    uint64_t grace_until_ms, next_sweep_ms, next_grace_check_ms;
    atomic_bool stop, end_grace, in_grace;
    _Atomic uint64_t accepted, dropped, refused, requests, errors;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------------------------
 * Connections: slots, output, interest, closing
 * ------------------------------------------------------------------------------------------- */

static uint64_t tag_of(struct lease_server *s, struct conn *c)
{
    return (uint64_t)(c - s->conns);
}

/* Writes what the output buffer holds, as far as the socket takes it. Returns 0, or -errno
 * when the peer is gone. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -errno;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return 0;
}

/* Room left for replies, after moving unsent output to the front of the buffer. */
static size_t conn_room(struct conn *c)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return sizeof(c->out) - c->out_len;
}

/* Sets the epoll interest the connection's state calls for: input while it may serve more
 * lines, output while replies wait. */
static void conn_interest(struct lease_server *s, struct conn *c)
{
    uint32_t ev = 0;
    if (!c->closing && !c->paused && c->in_len < sizeof(c->in) &&
        sizeof(c->out) - (c->out_len - c->out_off) >= MK_LEASE_REPLY_MAX)
        ev |= EPOLLIN;
    if (c->out_len > c->out_off)
        ev |= EPOLLOUT;
    if (ev != c->events) {
        struct epoll_event e = {.events = ev, .data.u64 = tag_of(s, c)};
        if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
            c->events = ev;
    }
}

/* Closes a connection and gives back everything it held. The fd leaves the epoll set before
 * it is closed: a copy inherited by a forked child would otherwise keep it registered. */
static void conn_drop(struct lease_server *s, struct conn *c)
{
    if (c->hello && c->held > 0)
        s->ops->release(s->ctx, c->instance, c->pid, c->held);
    if (!c->hello)
        s->pending--;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    count(&s->dropped);
    c->next_free = s->free_head;
    s->free_head = (int)tag_of(s, c);
    s->nconns--;
}

/* Appends a reply line (the caller made sure a longest reply fits). */
static void reply(struct conn *c, const struct mk__lease_line *l)
{
    memcpy(c->out + c->out_len, l->p, l->len);
    c->out_len += l->len;
}

/* Queues "ERR code text" and marks the connection for closing (conn_service drops it after
 * one write attempt). Bytes outside printable ASCII in the text become '?'. */
static void conn_error(struct lease_server *s, struct conn *c, const char *code, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
static void conn_error(struct lease_server *s, struct conn *c, const char *code, const char *fmt,
                       ...)
{
    char text[MK_LEASE_REPLY_MAX / 2], buf[MK_LEASE_REPLY_MAX];
    struct mk__lease_line l;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if (!mk__lease_printable(p, 1))
            *p = '?';
    mk__lease_line_init(&l, buf, sizeof(buf));
    mk__lease_line_put(&l, "ERR ");
    mk__lease_line_put(&l, code);
    mk__lease_line_put(&l, " ");
    mk__lease_line_put(&l, text);
    mk__lease_line_put(&l, "\n");
    if (!l.overflow && conn_room(c) >= l.len)
        reply(c, &l);
    c->closing = true;
    count(&s->errors);
}

/* ---------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------- */

/* Copies src into dst (cap bytes) for a reply: bytes outside printable ASCII, and spaces when
 * !spaces, become '?'. */
static void sanitize(char *dst, const char *src, size_t cap, bool spaces)
{
    size_t i = 0;
    for (; i + 1 < cap && src[i]; i++) {
        bool ok = mk__lease_printable(&src[i], 1) && (spaces || src[i] != ' ');
        dst[i] = ok ? src[i] : '?';
    }
    dst[i] = '\0';
}

/* Reads the one numeric argument of "GRANT n" / "RELEASE n" and checks the end of the line.
 * Returns 0, or queues "ERR syntax" and returns -EINVAL. */
static int one_number(struct lease_server *s, struct conn *c, struct mk__lease_cursor *cur,
                      uint64_t *ret)
{
    struct mk__lease_tok t, extra;
    if (mk__lease_next(cur, &t) != 1 || mk__lease_parse_u64(t, ret) < 0 ||
        mk__lease_next(cur, &extra) != 0) {
        conn_error(s, c, "syntax", "expected one decimal byte count");
        return -EINVAL;
    }
    return 0;
}

/* Appends "OK held=H" or, for a denial, "NO free=F held=H". */
static void reply_held(struct conn *c, bool denied, uint64_t avail)
{
    char buf[MK_LEASE_REPLY_MAX];
    struct mk__lease_line l;
    mk__lease_line_init(&l, buf, sizeof(buf));
    if (denied) {
        mk__lease_line_put(&l, "NO free=");
        mk__lease_line_put_u64(&l, avail);
        mk__lease_line_put(&l, " held=");
    } else {
        mk__lease_line_put(&l, "OK held=");
    }
    mk__lease_line_put_u64(&l, c->held);
    mk__lease_line_put(&l, "\n");
    reply(c, &l);
}

/* Appends the HELLO reply: "OK <version> held=H quota=Q sms=S chunk=C instance=I name=N",
 * the same in versions 1 and 2 but for the version echoed. */
static void reply_hello(struct conn *c, const struct lease_limits *lim)
{
    char buf[MK_LEASE_REPLY_MAX], name[MK_LEASE_NAME_MAX];
    struct mk__lease_line l;
    sanitize(name, lim->name, sizeof(name), true);
    mk__lease_line_init(&l, buf, sizeof(buf));
    mk__lease_line_put(&l, "OK ");
    mk__lease_line_put_u64(&l, c->version);
    mk__lease_line_put(&l, " held=");
    mk__lease_line_put_u64(&l, c->held);
    mk__lease_line_put(&l, " quota=");
    mk__lease_line_put_u64(&l, lim->quota_bytes);
    mk__lease_line_put(&l, " sms=");
    mk__lease_line_put_u64(&l, lim->sms);
    mk__lease_line_put(&l, " chunk=");
    mk__lease_line_put_u64(&l, lim->chunk_bytes);
    mk__lease_line_put(&l, " instance=");
    mk__lease_line_put(&l, c->instance);
    mk__lease_line_put(&l, " name=");
    mk__lease_line_put(&l, name[0] ? name : "?");
    mk__lease_line_put(&l, "\n");
    reply(c, &l);
}

/*
 * "HELLO <version> held=<n>". The version is checked before anything else on the line, so a
 * client of another version always gets "ERR version", whatever the rest of its HELLO says.
 */
static void do_hello(struct lease_server *s, struct conn *c, struct mk__lease_cursor *cur)
{
    struct mk__lease_tok t, v;
    struct lease_limits lim;
    uint64_t ver, held;
    int r;
    if (c->hello)
        return conn_error(s, c, "order", "HELLO was already said on this connection");
    if (mk__lease_next(cur, &t) != 1 || mk__lease_parse_u64(t, &ver) < 0)
        return conn_error(s, c, "syntax", "expected HELLO <version> held=<bytes>");
    if (ver < MK_LEASE_VERSION_MIN || ver > MK_LEASE_VERSION)
        return conn_error(s, c, "version", "this migd speaks lease protocol versions %d to %d",
                          MK_LEASE_VERSION_MIN, MK_LEASE_VERSION);
    if (mk__lease_next(cur, &t) != 1 || !mk__lease_tok_key(t, "held", &v) ||
        mk__lease_parse_u64(v, &held) < 0 || mk__lease_next(cur, &t) != 0)
        return conn_error(s, c, "syntax", "expected HELLO <version> held=<bytes>");
    if (held > MK_LEASE_BYTES_MAX)
        return conn_error(s, c, "range", "held is above %llu",
                          (unsigned long long)MK_LEASE_BYTES_MAX);
    memset(&lim, 0, sizeof(lim));
    r = s->ops->hello(s->ctx, c->pid, c->uid, held, &lim);
    if (r == -ESRCH)
        return conn_error(s, c, "member", "process %d is in no software instance", (int)c->pid);
    if (r == -ENOSPC)
        return conn_error(s, c, "quota",
                          "cannot re-register %llu bytes: the instance has less free",
                          (unsigned long long)held);
    if (r < 0)
        return conn_error(s, c, "internal", "registration failed (%s)", strerror(-r));
    if (!lim.instance[0]) /* a bug of the callback: there is nothing to hold leases on */
        return conn_error(s, c, "internal", "registration gave no instance");
    sanitize(c->instance, lim.instance, sizeof(c->instance), false);
    c->hello = true;
    c->version = (uint8_t)ver;
    c->held = held;
    s->pending--;
    s->grace_check = s->grace;
    reply_hello(c, &lim);
}

/* "INFO" (version 2): "OK held=H quota=Q granted=G", the instance's quota and sum now. */
static void do_info(struct lease_server *s, struct conn *c, struct mk__lease_cursor *cur)
{
    char buf[MK_LEASE_REPLY_MAX];
    struct mk__lease_line l;
    struct mk__lease_tok extra;
    uint64_t quota = 0, granted = 0;
    int r;
    if (mk__lease_next(cur, &extra) != 0)
        return conn_error(s, c, "syntax", "INFO takes no argument");
    if ((r = s->ops->info(s->ctx, c->instance, &quota, &granted)) == -ENOENT)
        return conn_error(s, c, "gone", "instance %s no longer exists", c->instance);
    if (r < 0)
        return conn_error(s, c, "internal", "info failed (%s)", strerror(-r));
    mk__lease_line_init(&l, buf, sizeof(buf));
    mk__lease_line_put(&l, "OK held=");
    mk__lease_line_put_u64(&l, c->held);
    mk__lease_line_put(&l, " quota=");
    mk__lease_line_put_u64(&l, quota);
    mk__lease_line_put(&l, " granted=");
    mk__lease_line_put_u64(&l, granted);
    mk__lease_line_put(&l, "\n");
    reply(c, &l);
}

static void do_grant(struct lease_server *s, struct conn *c, struct mk__lease_cursor *cur)
{
    uint64_t n, avail = 0;
    int r;
    if (one_number(s, c, cur, &n) < 0)
        return;
    if (n == 0 || n > MK_LEASE_BYTES_MAX || c->held > MK_LEASE_BYTES_MAX - n)
        return conn_error(s, c, "range", "GRANT must be 1 to %llu bytes, held included",
                          (unsigned long long)MK_LEASE_BYTES_MAX);
    r = s->ops->grant(s->ctx, c->instance, c->pid, n, &avail);
    if (r == 0) {
        c->held += n;
        return reply_held(c, false, 0);
    }
    if (r == -ENOSPC)
        return reply_held(c, true, avail);
    if (r == -ENOENT)
        return conn_error(s, c, "gone", "instance %s no longer exists", c->instance);
    conn_error(s, c, "internal", "grant failed (%s)", strerror(-r));
}

static void do_release(struct lease_server *s, struct conn *c, struct mk__lease_cursor *cur)
{
    uint64_t n;
    if (one_number(s, c, cur, &n) < 0)
        return;
    if (n == 0 || n > c->held)
        return conn_error(s, c, "range", "RELEASE must be 1 to %llu bytes (what is held)",
                          (unsigned long long)c->held);
    s->ops->release(s->ctx, c->instance, c->pid, n);
    c->held -= n;
    reply_held(c, false, 0);
}

/* Serves one request line (without its newline). */
static void handle_line(struct lease_server *s, struct conn *c, const char *line, size_t n)
{
    struct mk__lease_cursor cur;
    struct mk__lease_tok verb, extra;
    count(&s->requests);
    mk__lease_cursor_init(&cur, line, n);
    if (!mk__lease_printable(line, n) || mk__lease_next(&cur, &verb) != 1)
        return conn_error(s, c, "syntax", "a request is a line of printable ASCII words");
    if (mk__lease_tok_is(verb, "HELLO"))
        return do_hello(s, c, &cur);
    /* INFO is a version-2 request: on a version-1 connection it is unknown, as it was. */
    if (!mk__lease_tok_is(verb, "GRANT") && !mk__lease_tok_is(verb, "RELEASE") &&
        !mk__lease_tok_is(verb, "PING") &&
        !(mk__lease_tok_is(verb, "INFO") && (!c->hello || c->version >= 2)))
        return conn_error(s, c, "syntax", "unknown request %.*s", (int)verb.n, verb.p);
    if (!c->hello)
        return conn_error(s, c, "order", "HELLO must come first");
    if (verb.p[0] == 'I')
        return do_info(s, c, &cur);
    if (verb.p[0] == 'G')
        return do_grant(s, c, &cur);
    if (verb.p[0] == 'R')
        return do_release(s, c, &cur);
    if (mk__lease_next(&cur, &extra) != 0)
        return conn_error(s, c, "syntax", "PING takes no argument");
    reply_held(c, false, 0);
}

/*
 * Serves the complete lines in the input buffer while a longest reply still fits in the
 * output, then flushes and updates the epoll interest. Drops the connection after an ERR
 * (once its reply had one write attempt) or when the peer is gone. During the grace period a
 * GRANT stops the loop and pauses the connection until the grace ends.
 */
static void conn_service(struct lease_server *s, struct conn *c)
{
    while (!c->closing) {
        char *nl = memchr(c->in, '\n', c->in_len);
        size_t n;
        if (!nl) {
            if (c->in_len == sizeof(c->in))
                conn_error(s, c, "toolong", "a request line is at most %d bytes",
                           MK_LEASE_REQUEST_MAX);
            break;
        }
        if (conn_room(c) < MK_LEASE_REPLY_MAX)
            break;
        n = (size_t)(nl - c->in);
        if (s->grace && c->hello && n >= 6 && memcmp(c->in, "GRANT ", 6) == 0) {
            c->paused = true;
            break;
        }
        handle_line(s, c, c->in, n);
        c->in_len -= n + 1;
        memmove(c->in, nl + 1, c->in_len);
    }
    /* After an ERR the reply gets one write attempt: the connection is dropped either way,
     * so a client that does not read cannot keep a failed connection (and its leases). */
    if (conn_flush(c) < 0 || c->closing)
        return conn_drop(s, c);
    conn_interest(s, c);
}

/* Reads what fits in the input buffer. Returns 0, or -errno (EOF: -ECONNRESET) when the
 * connection is over. */
static int conn_read(struct conn *c)
{
    ssize_t n;
    do
        n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return -ECONNRESET;
    if (n < 0)
        return errno == EAGAIN ? 0 : -errno;
    c->in_len += (size_t)n;
    return 0;
}

/* One epoll event of a connection. A hang-up means the peer is gone for good: whatever it
 * still had in flight is moot, since dropping releases everything anyway. */
static void conn_event(struct lease_server *s, struct conn *c, uint32_t events)
{
    if ((events & (EPOLLHUP | EPOLLERR)) || ((events & EPOLLIN) && conn_read(c) < 0))
        return conn_drop(s, c);
    conn_service(s, c);
}

/* ---------------------------------------------------------------------------------------------
 * Accepting
 * ------------------------------------------------------------------------------------------- */

/* Turns a new connection away with "ERR code why": one best-effort write, then close. */
static void refuse(struct lease_server *s, int fd, const char *code, const char *why)
{
    char buf[MK_LEASE_REPLY_MAX];
    struct mk__lease_line l;
    mk__lease_line_init(&l, buf, sizeof(buf));
    mk__lease_line_put(&l, "ERR ");
    mk__lease_line_put(&l, code);
    mk__lease_line_put(&l, " ");
    mk__lease_line_put(&l, why);
    mk__lease_line_put(&l, "\n");
    (void)!send(fd, l.p, l.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    count(&s->refused);
}

static unsigned conns_of_uid(struct lease_server *s, uid_t uid)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->used; i++)
        n += s->conns[i].fd >= 0 && s->conns[i].uid == uid;
    return n;
}

/* Takes a new connection into a slot, or refuses it when a limit is reached. */
static void admit(struct lease_server *s, int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct epoll_event e = {.events = EPOLLIN};
    struct conn *c;
    /* A peer in a pid namespace that migd cannot see has pid 0: it cannot be placed. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0)
        return refuse(s, fd, "member", "the peer's pid is not visible to migd");
    if (s->nconns >= s->opt.max_conns)
        return refuse(s, fd, "busy", "too many connections");
    if (cred.uid != 0 && conns_of_uid(s, cred.uid) >= s->opt.max_conns_per_uid)
        return refuse(s, fd, "busy", "too many connections of this user");
    if (s->free_head >= 0) {
        c = &s->conns[s->free_head];
        s->free_head = c->next_free;
    } else {
        c = &s->conns[s->used++];
    }
    memset(c, 0, offsetof(struct conn, instance)); /* the buffers need no clearing */
    c->instance[0] = '\0';
    c->fd = fd;
    c->pid = cred.pid;
    c->uid = cred.uid;
    c->events = EPOLLIN;
    c->deadline_ms = now_ms() + s->opt.hello_timeout_ms;
    e.data.u64 = tag_of(s, c);
    s->nconns++;
    s->pending++;
    count(&s->accepted);
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
        conn_drop(s, c);
}

/*
 * Accepts up to ACCEPT_BURST connections. When the process is out of fds, accept() fails
 * with EMFILE while the connection stays queued, and level-triggered epoll would report the
 * listening socket forever: the reserve fd is closed to accept and refuse that connection,
 * then taken again.
 */
static void accept_burst(struct lease_server *s)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(s, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && s->reservefd >= 0) {
            close(s->reservefd);
            fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                refuse(s, fd, "busy", "migd is out of file descriptors");
            s->reservefd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        return;
    }
}

/* ---------------------------------------------------------------------------------------------
 * The loop
 * ------------------------------------------------------------------------------------------- */

/* Ends the grace period (when asked to, or when it ran out) and serves the GRANTs that
 * waited; closes connections past their HELLO deadline. */
static void housekeeping(struct lease_server *s)
{
    uint64_t now = now_ms();
    if (s->grace && !atomic_load(&s->end_grace) && s->ops->grace_over &&
        (s->grace_check || now >= s->next_grace_check_ms)) {
        s->grace_check = false;
        s->next_grace_check_ms = now + SWEEP_MS;
        if (s->ops->grace_over(s->ctx))
            atomic_store(&s->end_grace, true);
    }
    if (s->grace && (atomic_load(&s->end_grace) || now >= s->grace_until_ms)) {
        s->grace = false;
        atomic_store(&s->in_grace, false);
        for (unsigned i = 0; i < s->used; i++) {
            struct conn *c = &s->conns[i];
            if (c->fd >= 0 && c->paused) {
                c->paused = false;
                conn_service(s, c);
            }
        }
    }
    if (s->pending == 0 || now < s->next_sweep_ms)
        return;
    s->next_sweep_ms = now + SWEEP_MS;
    for (unsigned i = 0; i < s->used; i++) {
        struct conn *c = &s->conns[i];
        if (c->fd >= 0 && !c->hello && !c->closing && now >= c->deadline_ms) {
            conn_error(s, c, "timeout", "no HELLO within %u ms", s->opt.hello_timeout_ms);
            conn_service(s, c);
        }
    }
}

/* How long epoll_wait may sleep: until the grace ends or the next HELLO sweep, else for
 * ever (the eventfd wakes it for stop and end_grace). */
static int next_timeout(struct lease_server *s)
{
    uint64_t now = now_ms(), t = UINT64_MAX;
    if (s->pending > 0)
        t = s->next_sweep_ms > now ? s->next_sweep_ms - now : 0;
    if (s->grace) {
        uint64_t g = s->grace_until_ms > now ? s->grace_until_ms - now : 0;
        t = g < t ? g : t;
    }
    return t == UINT64_MAX ? -1 : (int)(t < SWEEP_MS ? t : SWEEP_MS);
}

static void *server_main(void *arg)
{
    struct lease_server *s = arg;
    struct epoll_event ev[EVENTS_MAX];
    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(s->epfd, ev, EVENTS_MAX, next_timeout(s));
        if (n < 0 && errno != EINTR)
            break; /* only EBADF/EINVAL: a bug; stop serving rather than spin */
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == TAG_LISTEN) {
                accept_burst(s);
            } else if (ev[i].data.u64 == TAG_WAKE) {
                uint64_t v;
                (void)!read(s->wakefd, &v, sizeof(v));
            } else {
                conn_event(s, &s->conns[ev[i].data.u64], ev[i].events);
            }
        }
        housekeeping(s);
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------------------------- */

/*
 * Creates the listening socket (non-blocking, CLOEXEC) with the configured mode, through the
 * daemon's one implementation (sock.c: stale files, bind under a tight umask, mode), and
 * records the socket file's identity so that stopping never unlinks a file that replaced it.
 */
static int listen_at(struct lease_server *s, struct mk_error *err)
{
    struct stat st;
    int fd = sock_unix_listen(s->path, (mode_t)s->opt.mode, NULL, true, NULL, err);
    if (fd < 0)
        return fd;
    if (stat(s->path, &st) < 0) {
        int r = mk_error_set(err, -errno, "cannot stat %s: %s", s->path, strerror(errno));
        unlink(s->path);
        close(fd);
        return r;
    }
    s->lfd = fd;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    return 0;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

static void apply_defaults(struct lease_options *o)
{
    if (!o->max_conns)
        o->max_conns = LEASE_MAX_CONNS_DEFAULT;
    if (!o->max_conns_per_uid)
        o->max_conns_per_uid = LEASE_MAX_CONNS_PER_UID_DEFAULT;
    if (!o->hello_timeout_ms)
        o->hello_timeout_ms = LEASE_HELLO_TIMEOUT_MS_DEFAULT;
    if (!o->mode)
        o->mode = LEASE_SOCKET_MODE_DEFAULT;
}

/* Closes the fds of a server whose thread is not running, removes its socket file if it is
 * still ours, and frees it. Connections must already be closed. */
static void server_free(struct lease_server *s)
{
    struct stat st;
    if (s->lfd >= 0) {
        if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
            unlink(s->path);
        close(s->lfd);
    }
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wakefd >= 0)
        close(s->wakefd);
    if (s->reservefd >= 0)
        close(s->reservefd);
    mk__free(s->conns);
    mk__free(s);
}

/* Allocates the server and its (untouched until used) connection table. */
static int server_new(const char *socket_path, const struct lease_options *opts,
                      struct lease_server **ret, struct mk_error *err)
{
    struct lease_server *s;
    size_t n = strlen(socket_path);
    if (n == 0 || n >= sizeof(s->path))
        return mk_error_set(err, -ENAMETOOLONG,
                            "socket path %s is %zu bytes; a Unix socket path holds 1 to %zu",
                            socket_path, n, sizeof(s->path) - 1);
    if (!(s = mk__calloc(1, sizeof(*s))))
        return mk_error_set(err, -ENOMEM, "out of memory");
    s->lfd = s->epfd = s->wakefd = s->reservefd = -1;
    s->free_head = -1;
    if (opts)
        s->opt = *opts;
    apply_defaults(&s->opt);
    memcpy(s->path, socket_path, n + 1);
    if (!(s->conns = mk__calloc(s->opt.max_conns, sizeof(*s->conns)))) {
        server_free(s);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    *ret = s;
    return 0;
}

int lease_server_start(const char *socket_path, const struct lease_ops *ops, void *ctx,
                       const struct lease_options *opts, struct lease_server **ret,
                       struct mk_error *err)
{
    struct lease_server *s = NULL;
    int r;
    mk_assert_return(socket_path && ops && ops->hello && ops->grant && ops->release && ops->info &&
                         ret,
                     -EINVAL);
    if ((r = server_new(socket_path, opts, &s, err)) < 0)
        return r;
    s->ops = ops;
    s->ctx = ctx;
    if ((r = listen_at(s, err)) < 0)
        goto fail;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->reservefd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->epfd < 0 || s->wakefd < 0 || epoll_add(s->epfd, s->lfd, TAG_LISTEN) < 0 ||
        epoll_add(s->epfd, s->wakefd, TAG_WAKE) < 0) {
        r = mk_error_set(err, -errno, "cannot set up the lease server: %s", strerror(errno));
        goto fail;
    }
    s->grace = s->opt.grace_ms > 0;
    atomic_store(&s->in_grace, s->grace);
    s->grace_until_ms = now_ms() + s->opt.grace_ms;
    s->grace_check = s->grace; /* perhaps every survivor is gone already */
    if ((r = pthread_create(&s->thread, NULL, server_main, s)) != 0) {
        r = mk_error_set(err, -r, "cannot start the lease server thread: %s", strerror(r));
        goto fail;
    }
    *ret = s;
    return 0;
fail:
    server_free(s);
    return r;
}

static void wake(struct lease_server *s)
{
    uint64_t one = 1;
    (void)!write(s->wakefd, &one, sizeof(one));
}

void lease_server_end_grace(struct lease_server *s)
{
    if (!s)
        return;
    atomic_store(&s->end_grace, true);
    wake(s);
}

void lease_server_stop(struct lease_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    wake(s);
    pthread_join(s->thread, NULL);
    for (unsigned i = 0; i < s->used; i++)
        if (s->conns[i].fd >= 0)
            conn_drop(s, &s->conns[i]);
    server_free(s);
}

void lease_server_stats(struct lease_server *s, struct lease_stats *ret)
{
    ret->accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    ret->refused = atomic_load_explicit(&s->refused, memory_order_relaxed);
    ret->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    ret->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
    ret->conns = ret->accepted - atomic_load_explicit(&s->dropped, memory_order_relaxed);
    ret->grace = atomic_load_explicit(&s->in_grace, memory_order_relaxed);
}
