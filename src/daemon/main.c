/*
 * main.c - migd, the node daemon behind software instances (docs/migd.md).
 *
 * Start-up, in order: options; the catalog; the GPUs (--simulate, or NVML once that backend
 * exists); the state and run directories; the single-instance locks (STATE_DIR/migd.lock and
 * RUN_DIR/migd.pid); the registry (open the store, restore, reconcile); the ledger and the
 * watchdog (when NVML is usable; never fatal); the lease server; the API socket (last, so
 * that an answering API implies a listening lease socket). Then it waits for SIGTERM/SIGINT
 * and shuts down in reverse order. Without --foreground it daemonizes, and the starting
 * process exits only once both sockets are ready (0) or start-up failed (1, with the reason
 * on stderr); under systemd, READY=1 is sent at the same point.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "backend/simstate.h"
#include "desired.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "migkit/backend.h"
#include "migkit/catalog.h"
#include "registry.h"
#include "watchdog.h"

#define DEFAULT_STATE_DIR "/var/lib/migkit"
#define DEFAULT_RUN_DIR   "/run/migkit"
/* Paths inside the directories are built in buffers of this size; a run directory must leave
 * room for "/migd.sock" inside a Unix socket path (108 bytes), which sock.c checks. */
#define PATH_LEN 4096
/* GPUs per node: the registry keeps at most 64 (as the simulator builds). */
#define MAX_GPUS 64

struct options {
    const char *state_dir;
    const char *run_dir;
    bool foreground;
    const char *simulate; /* SLUG[,SLUG...] */
    const char *catalog;
    int test_tcp;
    long long test_uid; /* -1 when not given */
    bool verbose;
    unsigned watchdog_interval; /* seconds; 0: off */
    bool watchdog_interval_set; /* given on the command line (with --simulate, the only way on) */
    enum watchdog_policy watchdog_policy;
};

static void usage(FILE *f)
{
    fputs("Usage: migd [OPTIONS]\n"
          "\n"
          "The node daemon behind migkit's software instances (docs/migd.md).\n"
          "\n"
          "  --state-dir DIR      durable state (migd.db) [" DEFAULT_STATE_DIR "]\n"
          "  --run-dir DIR        sockets and pid file [$MIGKIT_RUN_DIR or " DEFAULT_RUN_DIR "]\n"
          "  --foreground         do not daemonize; log to stderr\n"
          "  --simulate SLUG[,SLUG...]\n"
          "                       serve simulated GPUs of these catalog models\n"
          "  --catalog FILE       extra GPU models (JSON, docs/catalog.md)\n"
          "  --watchdog-interval SECONDS\n"
          "                       check per-process GPU memory every SECONDS (0: off) [10]\n"
          "  --watchdog-policy log|kill\n"
          "                       what to do with an offending process [log]\n"
          "  --test-tcp PORT      TESTS ONLY: also serve the API on 127.0.0.1:PORT, every\n"
          "                       request running as --test-uid UID (no authentication)\n"
          "  --test-uid UID       the uid of --test-tcp requests\n"
          "  -v, --verbose        debug logging\n"
          "  -h, --help           this help;  --version  the version\n",
          f);
}

/* Parses a decimal integer in [lo, hi]. */
static bool parse_num(const char *s, long long lo, long long hi, long long *ret)
{
    char *end;
    long long v;
    if (!s || !*s)
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *ret = v;
    return true;
}

enum {
    OPT_STATE = 1000,
    OPT_RUN,
    OPT_FG,
    OPT_SIM,
    OPT_CATALOG,
    OPT_TCP,
    OPT_UID,
    OPT_VERSION,
    OPT_WD_INTERVAL,
    OPT_WD_POLICY
};

/* Returns 0 to run, 1 after --help/--version, or 2 after a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"run-dir", required_argument, NULL, OPT_RUN},
        {"foreground", no_argument, NULL, OPT_FG},
        {"simulate", required_argument, NULL, OPT_SIM},
        {"catalog", required_argument, NULL, OPT_CATALOG},
        {"test-tcp", required_argument, NULL, OPT_TCP},
        {"test-uid", required_argument, NULL, OPT_UID},
        {"watchdog-interval", required_argument, NULL, OPT_WD_INTERVAL},
        {"watchdog-policy", required_argument, NULL, OPT_WD_POLICY},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    long long v;
    int c;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_STATE:
            o->state_dir = optarg;
            break;
        case OPT_RUN:
            o->run_dir = optarg;
            break;
        case OPT_FG:
            o->foreground = true;
            break;
        case OPT_SIM:
            o->simulate = optarg;
            break;
        case OPT_CATALOG:
            o->catalog = optarg;
            break;
        case 'v':
            o->verbose = true;
            break;
        case OPT_TCP:
            if (!parse_num(optarg, 1, 65535, &v)) {
                fprintf(stderr, "migd: --test-tcp: expected a port (1-65535), got \"%s\"\n",
                        optarg);
                return 2;
            }
            o->test_tcp = (int)v;
            break;
        case OPT_UID:
            if (!parse_num(optarg, 0, 4294967294LL, &o->test_uid)) {
                fprintf(stderr, "migd: --test-uid: expected a uid, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case OPT_WD_INTERVAL:
            if (!parse_num(optarg, 0, WATCHDOG_INTERVAL_MAX_S, &v)) {
                fprintf(stderr, "migd: --watchdog-interval: expected seconds (0-%d), got \"%s\"\n",
                        WATCHDOG_INTERVAL_MAX_S, optarg);
                return 2;
            }
            o->watchdog_interval = (unsigned)v;
            o->watchdog_interval_set = true;
            break;
        case OPT_WD_POLICY:
            if (watchdog_policy_parse(optarg, &o->watchdog_policy) < 0) {
                fprintf(stderr, "migd: --watchdog-policy: expected log or kill, got \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("migd %s\n", MIGKIT_VERSION);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "migd: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if ((o->test_tcp > 0) != (o->test_uid >= 0)) {
        fputs("migd: --test-tcp and --test-uid go together\n", stderr);
        return 2;
    }
    return 0;
}

/* ---- GPUs ---- */

/* Resolves --simulate's list into models (at most max). Returns the count or -errno. */
/* --catalog, else MIGKIT_CATALOG (as migctl reads it), else none. */
static const char *catalog_file(const struct options *o)
{
    const char *env = getenv("MIGKIT_CATALOG");
    return o->catalog ? o->catalog : env && *env ? env : NULL;
}

static int simulated_gpus(const struct mk_catalog *cat, const char *list,
                          const struct mk_model **models, int max, struct mk_error *err)
{
    char buf[1024], *save = NULL, *tok;
    int n = 0;
    if (strlen(list) >= sizeof(buf) || !*list || list[strlen(list) - 1] == ',' || *list == ',' ||
        strstr(list, ",,"))
        return mk_error_set(err, -EINVAL, "--simulate: expected SLUG[,SLUG...], got \"%s\"", list);
    snprintf(buf, sizeof(buf), "%s", list);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return mk_error_set(err, -EINVAL, "--simulate: at most %d GPUs", max);
        if (!(models[n] = mk_catalog_find(cat, tok)))
            return mk_error_set(err, -ENOENT,
                                "--simulate: no model \"%s\" in the catalog "
                                "(migctl gpus lists them)",
                                tok);
        n++;
    }
    return n;
}

/*
 * The GPUs of the machine, through the NVML backend (read-only: migd changes no MIG mode and
 * no hardware instance). Their models are owned by the backend, which stays open for the
 * daemon's life. Returns the count or -ENODEV with the reason.
 */
/*
 * A GPU the catalog lacks and that has no MIG (the backend's model then has no profiles: an
 * L4, an L40S, a consumer card) gets the generic geometry (docs/geometry.md), derived from
 * its SMs and memory, into *ret (allocated: the caller frees it after the registry). Without
 * an SM count from NVML it keeps the backend's model and takes custom instances only if any
 * (the registry bounds their SMs by the GPU's, 0). Returns 0 or -ENOMEM.
 */
static int generic_model(int i, const struct mk_model *m, struct mk_model **ret)
{
    struct mk_model *g;
    *ret = NULL;
    if (m->nprofiles > 0)
        return 0;
    if (m->sm_total <= 0) {
        log_msg(LOG_WARNING, "GPU %d (%s): NVML reports no SM count: no software instances", i,
                m->name);
        return 0;
    }
    if (!(g = mk__malloc(sizeof(*g))))
        return -ENOMEM;
    mk_model_generic(m->name, m->npci ? m->pci_ids[0] : 0, m->memory_mib, m->sm_total, g);
    log_msg(LOG_INFO, "GPU %d (%s): not in the catalog, generic geometry %s (%d profiles)", i,
            m->name, g->slug, g->nprofiles);
    *ret = g;
    return 0;
}

static int nvml_gpus(const struct mk_catalog *cat, struct mk_backend **ret_b,
                     const struct mk_model **models, const char **uuids, const char **buses,
                     struct mk_model **generic, int max, struct mk_error *err)
{
    struct mk_backend_config bc = {.name = "nvml", .writable = false};
    struct mk_error why = {0};
    int n;
    if (mk_backend_open(&bc, cat, ret_b, &why) < 0)
        return mk_error_set(err, -ENODEV,
                            "no GPUs: NVML backend not available (%s); use --simulate "
                            "SLUG[,SLUG...]",
                            mk_strerror(&why));
    n = mk_backend_gpu_count(*ret_b);
    if (n <= 0 || n > max)
        return mk_error_set(err, -ENODEV, "no GPUs: NVML reports %d; use --simulate", n);
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = mk_backend_gpu(*ret_b, i);
        if (generic_model(i, g->model, &generic[i]) < 0)
            return mk_error_set(err, -ENOMEM, "out of memory");
        models[i] = generic[i] ? generic[i] : g->model;
        uuids[i] = g->uuid;
        buses[i] = g->pci_bus_id;
    }
    return n;
}

/* ---- directories and locks ---- */

static int make_dir(const char *path, mode_t mode, struct mk_error *err)
{
    char tmp[PATH_LEN];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return mk_error_set(err, -ENAMETOOLONG, "directory path empty or too long: %s", path);
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return mk_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return mk_error_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

/*
 * Takes an exclusive flock on path, held for the daemon's life by the returned fd: a second
 * migd on the same directory fails here, naming the first one's pid when write_pid put it
 * there. The lock dies with the process, so kill -9 never leaves a stale lock behind.
 */
static int lock_file(const char *path, bool write_pid, struct mk_error *err)
{
    char buf[32];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ssize_t n;
    if (fd < 0)
        return mk_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        close(fd);
        return mk_error_set(err, r, "another migd%s%s%s holds %s", buf[0] ? " (pid " : "", buf,
                            buf[0] ? ")" : "", path);
    }
    if (write_pid) {
        int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
            int r = mk_error_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
            close(fd);
            return r;
        }
    }
    return fd;
}

/* ---- daemonizing and readiness ---- */

/*
 * Forks into the background. The original process waits on a pipe for the daemon's verdict:
 * "" (ready: exit 0) or an error message (printed, exit 1), so `migd && use-it` works and
 * start-up errors reach the terminal. Returns the write end of the pipe in the daemon.
 */
static int daemonize(void)
{
    int p[2];
    pid_t pid;
    if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
        return -errno;
    if (pid > 0) {
        char msg[MK_ERROR_LEN + 1];
        ssize_t n, got = 0;
        close(p[1]);
        while ((n = read(p[0], msg + got, sizeof(msg) - 1 - (size_t)got)) > 0 ||
               (n < 0 && errno == EINTR))
            got += n > 0 ? n : 0;
        msg[got] = '\0';
        if (got == 1 && msg[0] == '\n')
            _exit(0);
        fprintf(stderr, "migd: %s\n", got ? msg : "the daemon died during start-up");
        _exit(1);
    }
    close(p[0]);
    if (setsid() < 0 || (pid = fork()) < 0)
        _exit(1);
    if (pid > 0)
        _exit(0); /* the session leader goes; its child can never get a terminal */
    if (chdir("/") < 0)
        _exit(1);
    return p[1];
}

/* Tells the starting process (after daemonize) the start-up verdict: NULL for ready. */
static void report(int fd, const char *error)
{
    if (fd < 0)
        return;
    if (write(fd, error ? error : "\n", error ? strlen(error) : 1) < 0)
        log_msg(LOG_WARNING, "cannot report start-up to the parent: %s", strerror(errno));
    close(fd);
}

/* Reattaches stdin/stdout/stderr to /dev/null once the daemon is running. */
static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
}

/* systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram "READY=1" to
 * $NOTIFY_SOCKET when it is set ("@..." names an abstract socket). */
static void notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t n;
    int fd;
    if (!path || !*path || (n = strlen(path)) >= sizeof(addr.sun_path))
        return;
    memcpy(addr.sun_path, path, n);
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0';
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    (void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (const struct sockaddr *)&addr,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}

/* ---- the lease server ---- */

/* What the lease callbacks work on: the registry decides, the ledger records per process
 * (for the watchdog and /metrics). */
struct lease_ctx {
    struct registry *reg;
    struct ledger *ledger;
};

/*
 * LEASE WIRING. The lease server (src/daemon/lease.{h,c}, target migkit-lease) knows nothing
 * of instances: it calls these operations, which are the registry's. CMake defines
 * MIGD_HAVE_LEASE when that target exists; without it migd serves the HTTP API only and says
 * so in its log.
 */
#ifdef MIGD_HAVE_LEASE
#include "lease.h"

/* Re-registration grace after a restart with surviving processes: GRANTs wait this long so
 * that every survivor can re-register what it holds first (docs/lease-protocol.md). Below the
 * clients' reply timeout (MK_LEASE_TIMEOUT_MS_DEFAULT, 10 s), long enough for hundreds of
 * shims to reconnect. */
#define LEASE_GRACE_MS 3000

static int op_hello(void *ctx, pid_t pid, uid_t uid, uint64_t held, struct lease_limits *out)
{
    struct lease_ctx *lc = ctx;
    struct registry_limits lim;
    int r = registry_lease_hello(lc->reg, pid, uid, held, &lim);
    if (held > 0 && (r == 0 || r == -ENOSPC))
        ledger_grant(lc->ledger, pid, held, r == 0);
    if (r < 0)
        return r == -ENOENT ? -ESRCH : r;
    memset(out, 0, sizeof(*out));
    snprintf(out->instance, sizeof(out->instance), "%s", lim.instance);
    /* Names longer than the protocol's field are cut (no catalog product comes close). */
    memcpy(out->name, lim.name, strnlen(lim.name, sizeof(out->name) - 1));
    out->quota_bytes = lim.quota_bytes;
    out->sms = (uint32_t)lim.sms;
    out->chunk_bytes = 0; /* the client chooses (docs/lease-protocol.md) */
    return 0;
}

static int op_grant(void *ctx, const char *instance, pid_t pid, uint64_t bytes, uint64_t *ret_free)
{
    struct lease_ctx *lc = ctx;
    int r = registry_lease_grant(lc->reg, instance, bytes, ret_free);
    if (r == 0 || r == -ENOSPC)
        ledger_grant(lc->ledger, pid, bytes, r == 0);
    return r;
}

static void op_release(void *ctx, const char *instance, pid_t pid, uint64_t bytes)
{
    struct lease_ctx *lc = ctx;
    registry_lease_release(lc->reg, instance, bytes);
    ledger_release(lc->ledger, pid, bytes);
}

static int op_info(void *ctx, const char *instance, uint64_t *ret_quota, uint64_t *ret_granted)
{
    struct lease_ctx *lc = ctx;
    return registry_lease_info(lc->reg, instance, ret_quota, ret_granted);
}

/* Every survivor of the restart has re-registered or died: the grace has nothing to wait for. */
static bool op_grace_over(void *ctx)
{
    struct lease_ctx *lc = ctx;
    if (registry_survivors_pending(lc->reg) > 0)
        return false;
    log_msg(LOG_INFO, "lease: re-registration grace over: every surviving process is back");
    return true;
}

static const struct lease_ops lease_ops = {op_hello, op_grant, op_release, op_info, op_grace_over};

struct leases {
    struct lease_server *server;
};

/* ctx is borrowed until stop_leases() returns. */
static int start_leases(struct lease_ctx *ctx, const char *run_dir, struct leases *ret,
                        struct mk_error *err)
{
    char path[PATH_LEN];
    struct lease_options opts = {0};
    if (registry_process_count(ctx->reg) > 0)
        opts.grace_ms = LEASE_GRACE_MS;
    snprintf(path, sizeof(path), "%s/" MK_LEASE_SOCKET_NAME, run_dir);
    return lease_server_start(path, &lease_ops, ctx, &opts, &ret->server, err);
}

static void stop_leases(struct leases *l)
{
    lease_server_stop(l->server);
    l->server = NULL;
}
#else
struct leases {
    void *server;
};

static int start_leases(struct lease_ctx *ctx, const char *run_dir, struct leases *ret,
                        struct mk_error *err)
{
    (void)ctx;
    (void)run_dir;
    (void)err;
    ret->server = NULL;
    log_msg(LOG_WARNING, "lease server not built in: software instances can be managed, but "
                         "no process can allocate under a quota yet");
    return 0;
}

static void stop_leases(struct leases *l)
{
    (void)l;
}
#endif

/* ---- main ---- */

struct daemon {
    struct options o;
    struct mk_catalog *cat;
    struct mk_backend *nvml; /* open for the daemon's life when the GPUs come from NVML */
    struct mk_model *generic[MAX_GPUS]; /* generic models of GPUs outside the catalog */
    struct registry *reg;
    struct ledger *ledger;
    struct lease_ctx lease_ctx;
    struct api *api;
    struct leases leases;
    struct watchdog *watchdog; /* NULL when off or NVML is not usable */
    struct metrics_sources metrics;
    struct timespec started; /* CLOCK_MONOTONIC, for the uptime */
    int state_lock, pid_lock;
    char pid_path[PATH_LEN];
};

/*
 * The watchdog, when an interval is set and NVML is usable: with the NVML backend it is (an
 * NVML too old for per-process memory is logged), with --simulate it is whatever
 * libnvidia-ml.so.1 the loader finds (none on a machine without a driver; the fake in tests).
 * Never fatal: migd without a watchdog still enforces quotas through the shim.
 */
static void start_watchdog(struct daemon *d)
{
    struct watchdog_config wc = {.reg = d->reg,
                                 .ledger = d->ledger,
                                 .interval_s = d->o.watchdog_interval,
                                 .policy = d->o.watchdog_policy};
    struct mk_error err = {0};
    if (wc.interval_s == 0) {
        log_msg(LOG_INFO, "watchdog off (--watchdog-interval 0)");
        return;
    }
    /* Simulated GPUs are not NVML's: on a machine with a driver the watchdog would read the
     * real GPUs under the simulated ones' indexes, and could kill real processes. With
     * --simulate it runs only when asked for (tests drive it against the fake NVML). */
    if (d->o.simulate && !d->o.watchdog_interval_set) {
        log_msg(LOG_INFO, "watchdog off: --simulate without --watchdog-interval");
        return;
    }
    if (watchdog_start(&wc, &d->watchdog, &err) < 0) {
        log_msg(d->o.simulate ? LOG_INFO : LOG_WARNING, "watchdog off: %s", mk_strerror(&err));
        return;
    }
    log_msg(LOG_INFO, "watchdog: every %u s, policy %s", wc.interval_s,
            watchdog_policy_name(wc.policy));
}

/* Everything up to serving. On failure the error is in err; what was started is undone by
 * shutdown(). */
static int start(struct daemon *d, struct mk_error *err)
{
    const struct mk_model *models[MAX_GPUS];
    const char *uuids[MAX_GPUS] = {NULL}, *buses[MAX_GPUS] = {NULL};
    char path[PATH_LEN], sim_buses[MAX_GPUS][sizeof(((struct mk_gpu *)0)->pci_bus_id)];
    struct registry_config rc = {0};
    struct api_config ac = {0};
    int n, r;
    if ((r = mk_catalog_new(&d->cat, err)) < 0 ||
        (catalog_file(&d->o) && (r = mk_catalog_load_file(d->cat, catalog_file(&d->o), err)) < 0))
        return r;
    if (d->o.simulate)
        n = simulated_gpus(d->cat, d->o.simulate, models, MAX_GPUS, err);
    else
        n = nvml_gpus(d->cat, &d->nvml, models, uuids, buses, d->generic, MAX_GPUS, err);
    if (n < 0)
        return n;
    for (int i = 0; d->o.simulate && i < n; i++) { /* the simulator's numbering */
        mk__sim_pci_bus_id(i, sim_buses[i], sizeof(sim_buses[i]));
        buses[i] = sim_buses[i];
    }
    if ((r = make_dir(d->o.state_dir, 0700, err)) < 0 ||
        (r = make_dir(d->o.run_dir, 0755, err)) < 0)
        return r;
    snprintf(d->pid_path, sizeof(d->pid_path), "%s/migd.pid", d->o.run_dir);
    if ((d->pid_lock = lock_file(d->pid_path, true, err)) < 0)
        return d->pid_lock;
    snprintf(path, sizeof(path), "%s/migd.lock", d->o.state_dir);
    if ((d->state_lock = lock_file(path, true, err)) < 0)
        return d->state_lock;
    snprintf(path, sizeof(path), "%s/migd.db", d->o.state_dir);
    rc = (struct registry_config){.db_path = path,
                                  .cat = d->cat,
                                  .models = models,
                                  .uuids = d->nvml ? uuids : NULL,
                                  .pci_bus_ids = buses,
                                  .nmodels = n};
    if ((r = registry_open(&rc, &d->reg, err)) < 0)
        return r;
    (void)desired_report(d->reg); /* a report for the log: never fatal, changes nothing */
    if (!(d->ledger = ledger_new()))
        return mk_error_set(err, -ENOMEM, "out of memory");
    start_watchdog(d);
    d->metrics = (struct metrics_sources){
        .reg = d->reg, .ledger = d->ledger, .watchdog = d->watchdog, .started = d->started};
    /* The lease server first: once GET /v1/health answers, lease.sock accepts too, so a
     * client that waited for the API after a restart never finds the dead daemon's socket
     * file refusing connections. Readiness (the parent's exit, READY=1) follows both. */
    d->lease_ctx = (struct lease_ctx){.reg = d->reg, .ledger = d->ledger};
    if ((r = start_leases(&d->lease_ctx, d->o.run_dir, &d->leases, err)) < 0)
        return r;
    snprintf(path, sizeof(path), "%s/migd.sock", d->o.run_dir);
    ac = (struct api_config){.reg = d->reg,
                             .socket_path = path,
                             .test_tcp_port = d->o.test_tcp,
                             .test_uid = (uid_t)d->o.test_uid,
                             .metrics = &d->metrics};
    return api_start(&ac, &d->api, err);
}

static void shutdown_daemon(struct daemon *d)
{
    watchdog_stop(d->watchdog);
    api_stop(d->api);
    stop_leases(&d->leases);
    ledger_free(d->ledger);
    registry_close(d->reg);
    mk_backend_close(d->nvml);
    for (int i = 0; i < MAX_GPUS; i++)
        mk__free(d->generic[i]);
    mk_catalog_free(d->cat);
    if (d->pid_lock >= 0) {
        unlink(d->pid_path);
        close(d->pid_lock);
    }
    if (d->state_lock >= 0)
        close(d->state_lock);
}

/* Waits for SIGTERM or SIGINT (blocked in every thread, so only this one takes them). */
static void wait_for_stop(const sigset_t *set)
{
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGTERM || sig == SIGINT) {
            log_msg(LOG_INFO, "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        log_msg(LOG_INFO, "SIGHUP ignored (nothing to reload)");
    }
}

int main(int argc, char **argv)
{
    struct daemon d = {.o = {.test_uid = -1, .watchdog_interval = WATCHDOG_INTERVAL_DEFAULT_S},
                       .state_lock = -1,
                       .pid_lock = -1};
    struct mk_error err = {0};
    sigset_t set;
    int r, ready_fd = -1;
    const char *env_run = getenv("MIGKIT_RUN_DIR");

    if ((r = parse_options(argc, argv, &d.o)) != 0)
        return r == 1 ? 0 : 2;
    if (!d.o.state_dir)
        d.o.state_dir = DEFAULT_STATE_DIR;
    if (!d.o.run_dir)
        d.o.run_dir = env_run && *env_run ? env_run : DEFAULT_RUN_DIR;
    clock_gettime(CLOCK_MONOTONIC, &d.started);
    umask(022);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an EPIPE, not a dead daemon */
    if (!d.o.foreground && (ready_fd = daemonize()) < 0) {
        fprintf(stderr, "migd: cannot daemonize: %s\n", strerror(-ready_fd));
        return 1;
    }
    log_init(!d.o.foreground, d.o.verbose ? LOG_DEBUG : LOG_INFO);
    /* Block the stop signals before any thread starts, so every thread inherits the mask
     * and sigwait() below is the only place they arrive. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if ((r = start(&d, &err)) < 0) {
        log_msg(LOG_ERR, "%s", mk_strerror(&err));
        report(ready_fd, mk_strerror(&err));
        shutdown_daemon(&d);
        return 1;
    }
    log_msg(LOG_INFO, "ready (pid %ld, state %s, run %s)", (long)getpid(), d.o.state_dir,
            d.o.run_dir);
    report(ready_fd, NULL);
    if (ready_fd >= 0)
        detach_stdio();
    notify_ready();
    wait_for_stop(&set);
    shutdown_daemon(&d);
    return 0;
}
