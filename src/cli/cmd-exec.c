/*
 * cmd-exec.c - `migctl exec [--no-shim] INSTANCE [--] CMD [ARGS...]`: runs CMD inside a MIG
 * device or a software instance. migctl execs CMD in its own process, so CMD's exit status is
 * migctl's (docs/soft.md).
 *
 * A software instance (migd knows the UUID): migctl registers its own process with migd
 * (POST /v1/instances/{uuid}/processes with {}: migd takes the pid from SO_PEERCRED and
 * authorises it by the caller's uid), sets LD_PRELOAD to libmigshim.so and
 * CUDA_VISIBLE_DEVICES to the instance's GPU, and execs CMD. The process stays the same, so
 * the registration is CMD's, and its children's through the parent chain. The shim learns the
 * instance's limits from migd over the lease socket; limits never travel in environment
 * variables, where a process could change them.
 *
 * A hardware MIG device (a compute instance's UUID under the sim or nvml backend): sets
 * CUDA_VISIBLE_DEVICES=MIG-<uuid> and execs CMD.
 *
 * Which is asked: --backend soft, only migd; sim or nvml, only that backend; otherwise migd
 * first when it runs, then the default backend.
 *
 * Without the shim nothing inside CMD holds it to the instance's memory quota, so a missing
 * shim is an error unless --no-shim says to go on (with a warning).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "migkit/soft.h"

#ifndef MK_SHIM_DEFAULT
#define MK_SHIM_DEFAULT "/usr/local/lib/migkit/libmigshim.so"
#endif

/* Exit statuses of a command that could not be run, as the shells give them. */
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND  127

enum { OPT_NO_SHIM = OPT__COMMON_END + 1 };

struct exec_opts {
    const char *instance;
    char **cmd; /* NULL-terminated, from argv */
    bool no_shim;
};

static void usage(void)
{
    fputs("Usage: migctl exec [--no-shim] INSTANCE [--] CMD [ARGS...]\n"
          "  Runs CMD in INSTANCE, a MIG device's or software instance's UUID (MIG-...);\n"
          "  exits with CMD's status.\n"
          "  --no-shim   run a software instance's CMD without libmigshim.so (nothing then\n"
          "              limits its GPU memory)\n"
          "  The shim: $MIGKIT_SHIM, else " MK_SHIM_DEFAULT "\n",
          stdout);
}

/* Parses options up to INSTANCE, then INSTANCE, an optional "--" and CMD. Returns 0, -1 after
 * --help, or an exit status. */
static int parse(struct cli *cli, int argc, char **argv, struct exec_opts *o)
{
    static const struct option longopts[] = {
        {"no-shim", no_argument, NULL, OPT_NO_SHIM},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    /* "+": stop at INSTANCE, so CMD's options are CMD's. */
    while ((c = getopt_long_only(argc, argv, "+:hi:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (c == 'h') {
            usage();
            return -1;
        }
        if (c == OPT_NO_SHIM) {
            o->no_shim = true;
            continue;
        }
        if (c == ':')
            return cli_usage_error("exec: option %s needs a value", argv[optind - 1]);
        return cli_usage_error("exec: unknown option \"%s\"", argv[optind - 1]);
    }
    if (optind >= argc)
        return cli_usage_error("exec: no instance given (a UUID, MIG-...)");
    o->instance = argv[optind++];
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    if (optind >= argc)
        return cli_usage_error("exec: no command given (migctl exec INSTANCE -- CMD)");
    if (strncmp(o->instance, "MIG-", 4) || strlen(o->instance) >= MK_UUID_LEN)
        return cli_usage_error("exec: expected an instance's UUID (MIG-...), got \"%s\"",
                               o->instance);
    o->cmd = &argv[optind];
    return 0;
}

/* Frees what must not reach CMD: the backend's lock and handles. stdout is flushed so nothing
 * migctl printed is lost when the process image is replaced. */
static void before_exec(struct cli *cli)
{
    mk_backend_close(cli->backend);
    cli->backend = NULL;
    fflush(stdout);
    fflush(stderr);
}

/* Execs o->cmd; returns (an exit status) only when that failed. */
static int run(const struct exec_opts *o)
{
    execvp(o->cmd[0], o->cmd);
    return cli_fail(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN, "exec: %s: %s", o->cmd[0],
                    strerror(errno));
}

/* ---- hardware MIG devices ---- */

/* The GPU holding the MIG device uuid in b, or -1. */
static int find_mig_device(const struct mk_backend *b, const char *uuid)
{
    for (int i = 0; i < mk_backend_gpu_count(b); i++) {
        const struct mk_gpu *g = mk_backend_gpu(b, i);
        for (int k = 0; k < g->ngi; k++)
            for (int c = 0; c < g->gi[k].nci; c++)
                if (!strcmp(g->gi[k].ci[c].uuid, uuid))
                    return i;
    }
    return -1;
}

/* Runs CMD on the hardware MIG device o->instance when the backend has it. Returns an exit
 * status, or -ENOENT when the backend has no such device. */
static int exec_hardware(struct cli *cli, const struct exec_opts *o)
{
    struct mk_backend *b = cli_backend(cli, false);
    if (!b)
        return cli->backend_exit;
    if (find_mig_device(b, o->instance) < 0)
        return -ENOENT;
    if (setenv("CUDA_VISIBLE_DEVICES", o->instance, 1) < 0 ||
        setenv("MIGKIT_INSTANCE", o->instance, 1) < 0)
        return cli_fail(255, "exec: %s", strerror(errno));
    before_exec(cli);
    return run(o);
}

/* ---- software instances ---- */

/* The shim's path into buf, or NULL (after saying why) when it is missing and --no-shim was
 * not given; with --no-shim, "" and a warning. */
static const char *shim_path(const struct exec_opts *o, char *buf, size_t len, int *ret_status)
{
    const char *s = getenv("MIGKIT_SHIM");
    snprintf(buf, len, "%s", s && *s ? s : MK_SHIM_DEFAULT);
    if (o->no_shim) {
        fprintf(stderr,
                "migctl: warning: --no-shim: %s runs without libmigshim.so, so nothing "
                "limits its GPU memory to the instance's quota\n",
                o->cmd[0]);
        return "";
    }
    if (access(buf, R_OK) == 0)
        return buf;
    *ret_status = cli_fail(255,
                           "exec: the shim %s is missing: without it nothing limits %s's GPU "
                           "memory to the instance's quota (install libmigshim.so, point "
                           "MIGKIT_SHIM at it, or run with --no-shim to go on without it)",
                           buf, o->cmd[0]);
    return NULL;
}

/* LD_PRELOAD with the shim first (what was preloaded already stays, after it). */
static int preload(const char *shim)
{
    const char *old = getenv("LD_PRELOAD");
    _cleanup_free_ char *v = NULL;
    size_t n;
    if (!*shim)
        return 0;
    n = strlen(shim) + (old ? strlen(old) : 0) + 2;
    if (!(v = mk__malloc(n)))
        return -ENOMEM;
    snprintf(v, n, "%s%s%s", shim, old && *old ? ":" : "", old && *old ? old : "");
    return setenv("LD_PRELOAD", v, 1) < 0 ? -errno : 0;
}

/* Undoes the registration after CMD could not be run, so migd does not keep a process that
 * never ran in the instance. Best effort: migd also drops dead processes itself. */
static void unregister(const char *uuid)
{
    struct mk_migd *m = NULL;
    char path[128];
    snprintf(path, sizeof(path), "/v1/instances/%s/processes/%d", uuid, (int)getpid());
    if (mk_migd_open(NULL, &m, NULL) == 0)
        (void)mk_migd_request(m, "DELETE", path, NULL, NULL, NULL);
    mk_migd_free(m);
}

/*
 * Registers this process in software instance o->instance (which migd has: inst is its JSON)
 * and execs CMD with the shim. Takes m and closes it before the exec (its socket must not
 * leak into CMD). Returns an exit status.
 */
static int exec_soft(struct cli *cli, const struct exec_opts *o, struct mk_migd *m, json_t *inst)
{
    const char *gpu = json_string_value(json_object_get(inst, "gpu_uuid")), *shim;
    struct mk_error err = {0};
    json_t *body = json_object();
    char path[128], buf[4096];
    int r, status = 0;
    if (!(shim = shim_path(o, buf, sizeof(buf), &status))) {
        json_decref(body);
        mk_migd_free(m);
        return status;
    }
    snprintf(path, sizeof(path), "/v1/instances/%s/processes", o->instance);
    r = body ? mk_migd_request(m, "POST", path, body, NULL, &err) : -ENOMEM;
    json_decref(body);
    mk_migd_free(m);
    if (r < 0)
        return cli_fail(mk_status_exit_code(r), "exec: cannot register with migd: %s%s",
                        mk_strerror(&err),
                        r == -EPERM ? " (requires root, group migkit, or a grant)" : "");
    /* MIGKIT_INSTANCE names the instance to the program: its CUDA device keeps the GPU's
     * UUID, which the CUDA runtime insists on (docs/shim.md, "Identity"). */
    if ((r = preload(shim)) < 0 || (gpu && setenv("CUDA_VISIBLE_DEVICES", gpu, 1) < 0) ||
        setenv("MIGKIT_INSTANCE", o->instance, 1) < 0) {
        unregister(o->instance);
        return cli_fail(255, "exec: %s", strerror(r < 0 ? -r : errno));
    }
    before_exec(cli);
    status = run(o);
    unregister(o->instance);
    return status;
}

/*
 * Asks migd for o->instance. Returns 1 with *ret_m and *ret_inst when migd has it, 0 when
 * migd does not run or has no such instance (for this uid), or an exit status (negated) when
 * migd must be asked (--backend soft) and cannot be.
 */
static int lookup_soft(const struct exec_opts *o, bool required, struct mk_migd **ret_m,
                       json_t **ret_inst)
{
    struct mk_error err = {0};
    struct mk_migd *m = NULL;
    char path[128];
    int r;
    if ((r = mk_migd_open(NULL, &m, &err)) < 0)
        return required ? -cli_fail(255, "exec: %s", mk_strerror(&err)) : 0;
    snprintf(path, sizeof(path), "/v1/instances/%s", o->instance);
    if ((r = mk_migd_request(m, "GET", path, NULL, ret_inst, &err)) < 0) {
        mk_migd_free(m);
        if (r == -ENOENT || !required)
            return 0;
        return -cli_fail(mk_status_exit_code(r), "exec: %s", mk_strerror(&err));
    }
    *ret_m = m;
    return 1;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
    struct exec_opts o = {0};
    const char *name = cli->backend_name ? cli->backend_name : getenv("MIGKIT_BACKEND");
    bool soft_only = name && !strcmp(name, "soft");
    bool hw_only = name && *name && !soft_only && strcmp(name, "auto");
    struct mk_migd *m = NULL;
    json_t *inst = NULL;
    int r;
    if ((r = parse(cli, argc, argv, &o)) != 0)
        return r < 0 ? 0 : r;
    if (!hw_only && (r = lookup_soft(&o, soft_only, &m, &inst)) != 0) {
        if (r < 0)
            return -r;
        r = exec_soft(cli, &o, m, inst);
        json_decref(inst);
        return r;
    }
    if (!soft_only && (r = exec_hardware(cli, &o)) != -ENOENT)
        return r;
    return cli_fail(mk_status_exit_code(-ENOENT), "exec: no MIG device or software instance %s%s",
                    o.instance, soft_only ? " in migd" : "");
}
