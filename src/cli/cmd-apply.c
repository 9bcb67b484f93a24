/*
 * cmd-apply.c - `migctl apply`, `migctl assert` and `migctl export`: mig-parted v1
 * configuration files applied with the least disruption (docs/config.md, docs/apply.md).
 *
 *   apply  -f FILE -c LABEL [--dry-run] [--force] [--hooks FILE]
 *   assert -f FILE -c LABEL [--valid-config]   (soft backend: without -f, migd's desired one)
 *   export [-o yaml|json] [-l LABEL]
 *
 * apply validates everything (the file, the label, every profile on every GPU's model, and a
 * feasible plan for every GPU) before the first change. It then changes only the GPUs whose
 * layout differs, each by its minimal plan (layout.h); a GPU whose operation fails is rolled
 * back to its old layout, and the others go on. The state is re-read and asserted at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "apply.h"
#include "migkit/soft.h"

/* The simulator's and NVML's largest machines (state.c bounds GPUs at 64). */
#define MAX_JOBS 64

enum { OPT_DRY_RUN = OPT__COMMON_END + 1, OPT_FORCE, OPT_HOOKS, OPT_VALID };

struct opts {
    const char *file;
    const char *label;
    const char *hooks;
    const char *export_label;
    const char *format;
    bool dry_run, force, valid_only;
};

struct job {
    int gpu;
    const struct mk_config_entry *entry;
    struct mk_layout_spec spec;
    struct mk_layout_plan plan;
    int done;   /* operations carried out */
    int result; /* 0, or the failure's -errno */
    bool rolled_back;
    char msg[MK_ERROR_LEN];
};

struct run {
    struct cli *cli;
    struct opts o;
    struct mk_config *cfg;
    const struct mk_config_label *label;
    struct mk_backend *b;
    struct hooks *hooks;
    int njobs;
    struct job *jobs;
};

/* ---- options ---- */

static int parse(struct cli *cli, int argc, char **argv, const char *cmd, struct opts *o)
{
    static const struct option longopts[] = {
        {"config-file", required_argument, NULL, 'f'},
        {"f", required_argument, NULL, 'f'},
        {"selected-config", required_argument, NULL, 'c'},
        {"c", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"force", no_argument, NULL, OPT_FORCE},
        {"hooks", required_argument, NULL, OPT_HOOKS},
        {"hooks-file", required_argument, NULL, OPT_HOOKS},
        {"valid-config", no_argument, NULL, OPT_VALID},
        {"output", required_argument, NULL, 'o'},
        {"o", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, 'l'},
        {"l", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    o->file = getenv("MIGKIT_CONFIG_FILE");
    o->label = getenv("MIGKIT_SELECTED_CONFIG");
    while ((c = getopt_long_only(argc, argv, ":f:c:o:l:i:h", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'f':
            o->file = optarg;
            break;
        case 'c':
            o->label = optarg;
            break;
        case 'o':
            o->format = optarg;
            break;
        case 'l':
            o->export_label = optarg;
            break;
        case OPT_DRY_RUN:
            o->dry_run = true;
            break;
        case OPT_FORCE:
            o->force = true;
            break;
        case OPT_HOOKS:
            o->hooks = optarg;
            break;
        case OPT_VALID:
            o->valid_only = true;
            break;
        case 'h':
            printf("Usage:\n"
                   "  migctl apply  -f FILE [-c LABEL] [--dry-run] [--force] [--hooks FILE] "
                   "[--json] [-i N]\n"
                   "  migctl assert [-f FILE] [-c LABEL] [--valid-config] [-i N]\n"
                   "  migctl export [-o yaml|json] [-l LABEL] [-i N]\n"
                   "FILE - reads standard input; MIGKIT_CONFIG_FILE and MIGKIT_SELECTED_CONFIG "
                   "stand in for -f and -c. Without -f, assert on the soft backend checks "
                   "migd's\ndesired configuration (recorded by apply). See docs/apply.md.\n");
            return -1;
        case ':':
            return cli_usage_error("%s: option %s needs a value", cmd, argv[optind - 1]);
        default:
            return cli_usage_error("%s: unknown option \"%s\"", cmd, argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("%s: unexpected argument \"%s\"", cmd, argv[optind]);
    return 0;
}

/* Loads the file and picks the label: -c, MIGKIT_SELECTED_CONFIG, or the only one (none
 * is needed to check a whole file with assert --valid-config). */
static int load_config(struct run *rn, const char *cmd)
{
    struct mk_error err = {0};
    if (!rn->o.file || !*rn->o.file)
        return cli_usage_error("%s: no configuration file (-f FILE, or MIGKIT_CONFIG_FILE)", cmd);
    if (mk_config_load(rn->o.file, &rn->cfg, &err) < 0)
        return cli_fail(CLI_EXIT_USAGE, "%s: %s", cmd, mk_strerror(&err));
    if ((!rn->o.label || !*rn->o.label) && rn->o.valid_only)
        return 0;
    if (!rn->o.label || !*rn->o.label) {
        if (rn->cfg->nlabels != 1)
            return cli_usage_error("%s: %s has %d labels; choose one with -c LABEL", cmd,
                                   rn->cfg->origin, rn->cfg->nlabels);
        rn->label = &rn->cfg->labels[0];
        return 0;
    }
    if (!(rn->label = mk_config_find(rn->cfg, rn->o.label)))
        return cli_fail(CLI_EXIT_USAGE, "%s: %s has no label \"%s\"", cmd, rn->cfg->origin,
                        rn->o.label);
    return 0;
}

/* ---- from the label to one job per GPU ---- */

/* Turns an entry's mig-devices into a layout spec for model m; errors name the entry's
 * position, the profile and the model. */
static int entry_spec(const struct run *rn, const struct mk_config_entry *e, const struct mk_gpu *g,
                      struct mk_layout_spec *spec)
{
    struct mk_error err = {0};
    int bad = 0, r = mk_layout_spec_from_entry(e, g->model, spec, &bad, &err);
    const struct mk_config_pos *pos = &e->migdevs[bad].pos;
    if (r == -E2BIG)
        return cli_fail(CLI_EXIT_USAGE, "%s:%d:%d: too many profiles", rn->cfg->origin, pos->line,
                        pos->column);
    if (r < 0)
        return cli_fail(CLI_EXIT_USAGE, "%s:%d:%d: label %s, GPU %d: %s", rn->cfg->origin,
                        pos->line, pos->column, rn->label->name, g->index, mk_strerror(&err));
    return 0;
}

/* The one entry of the label that applies to GPU g, or NULL; two is an error. */
static int entry_for(const struct run *rn, const struct mk_gpu *g,
                     const struct mk_config_entry **ret)
{
    struct mk_error err = {0};
    int r = mk_config_label_select(rn->cfg, rn->label, g->index, g->pci_device_id,
                                   g->pci_subsystem_id, ret, &err);
    if (r < 0)
        return cli_fail(CLI_EXIT_USAGE, "GPU %d (%s): %s", g->index, g->model->slug,
                        mk_strerror(&err));
    if (r == 0)
        *ret = NULL;
    return 0;
}

static int make_jobs(struct run *rn, const char *cmd)
{
    int total = mk_backend_gpu_count(rn->b), r;
    if (!(rn->jobs = mk__calloc(MAX_JOBS, sizeof(*rn->jobs))))
        return cli_fail(255, "%s: out of memory", cmd);
    for (int i = 0; i < total && i < MAX_JOBS; i++) {
        const struct mk_gpu *g = mk_backend_gpu(rn->b, i);
        const struct mk_config_entry *e;
        struct job *j = &rn->jobs[rn->njobs];
        if (rn->cli->gpu >= 0 && rn->cli->gpu != i)
            continue;
        if ((r = entry_for(rn, g, &e)) != 0)
            return r;
        if (!e)
            continue;
        j->gpu = i;
        j->entry = e;
        if ((r = entry_spec(rn, e, g, &j->spec)) != 0)
            return r;
        rn->njobs++;
    }
    if (rn->njobs == 0) {
        const struct mk_gpu *g0 = mk_backend_gpu(rn->b, rn->cli->gpu >= 0 ? rn->cli->gpu : 0);
        return cli_fail(CLI_EXIT_USAGE,
                        "%s: label %s has no entry for any GPU of this machine: no entry's "
                        "devices and device-filter match GPU %d (%s, PCI ID 0x%08X)%s",
                        cmd, rn->label->name, g0 ? g0->index : 0, g0 ? g0->model->slug : "?",
                        g0 ? g0->pci_device_id : 0, total > 1 ? " or the others" : "");
    }
    return 0;
}

/* Plans every job; any GPU that cannot reach its layout fails the whole apply. */
static int plan_jobs(struct run *rn)
{
    for (int i = 0; i < rn->njobs; i++) {
        struct job *j = &rn->jobs[i];
        const struct mk_gpu *g = mk_backend_gpu(rn->b, j->gpu);
        struct mk_error err = {0};
        if (mk_layout_plan(g, &j->spec, rn->o.force, &j->plan, &err) < 0)
            return cli_fail(CLI_EXIT_USAGE, "apply: GPU %d: %s", j->gpu, mk_strerror(&err));
        if (!j->plan.feasible) {
            bool busy = strncmp(j->plan.why, "in use", 6) == 0;
            return cli_fail(busy ? mk_status_exit_code(-EBUSY) : CLI_EXIT_USAGE,
                            "apply: %s:%d:%d: label %s cannot be applied to GPU %d (%s): %s; "
                            "nothing was changed",
                            rn->cfg->origin, j->entry->pos.line, j->entry->pos.column,
                            rn->label->name, j->gpu, g->model->slug, j->plan.why);
        }
    }
    return 0;
}

/* ---- showing a plan ---- */

static void op_text(const struct mk_gpu *g, const struct mk_op *op, char *buf, size_t len)
{
    const struct mk_ci_profile *cp = mk_model_ci_profile(g->model, op->ci_profile);
    switch (op->kind) {
    case MK_OP_DESTROY_CI:
    case MK_OP_CREATE_CI:
        snprintf(buf, len, "%s CI %d (profile %d, %dc) in GI %d", mk_op_kind_name(op->kind),
                 op->ci_id, op->ci_profile, cp ? cp->slices : 0, op->gi_id);
        break;
    case MK_OP_DESTROY_GI:
    case MK_OP_CREATE_GI:
        snprintf(buf, len, "%s GI %d (MIG %s, profile %d) at %d:%d", mk_op_kind_name(op->kind),
                 op->gi_id, op->profile->name, op->profile->id, op->start, op->profile->mem_slices);
        break;
    case MK_OP_SET_MIG:
        snprintf(buf, len, "%s %s", mk_op_kind_name(op->kind),
                 op->mig_enabled ? "Enabled" : "Disabled");
        break;
    }
}

static json_t *op_json(const struct mk_gpu *g, const struct mk_op *op)
{
    json_t *o = json_object();
    char text[160];
    op_text(g, op, text, sizeof(text));
    json_object_set_new(o, "op", json_string(mk_op_kind_name(op->kind)));
    json_object_set_new(o, "gpu", json_integer(g->index));
    if (op->kind == MK_OP_SET_MIG) {
        json_object_set_new(o, "mig_enabled", json_boolean(op->mig_enabled));
    } else {
        json_object_set_new(o, "gpu_instance_id", json_integer(op->gi_id));
    }
    if (op->kind == MK_OP_CREATE_GI || op->kind == MK_OP_DESTROY_GI) {
        char name[80];
        snprintf(name, sizeof(name), "MIG %s", op->profile->name);
        json_object_set_new(o, "profile", json_string(name));
        json_object_set_new(o, "profile_id", json_integer(op->profile->id));
        json_object_set_new(o, "placement_start", json_integer(op->start));
        json_object_set_new(o, "placement_size", json_integer(op->profile->mem_slices));
    }
    if (op->kind == MK_OP_CREATE_CI || op->kind == MK_OP_DESTROY_CI) {
        json_object_set_new(o, "compute_instance_id", json_integer(op->ci_id));
        json_object_set_new(o, "ci_profile_id", json_integer(op->ci_profile));
    }
    json_object_set_new(o, "text", json_string(text));
    return o;
}

static json_t *job_json(const struct run *rn, const struct job *j)
{
    const struct mk_gpu *g = mk_backend_gpu(rn->b, j->gpu);
    json_t *o = json_object(), *ops = json_array();
    for (int k = 0; k < j->plan.nops; k++)
        json_array_append_new(ops, op_json(g, &j->plan.ops[k]));
    json_object_set_new(o, "gpu", json_integer(j->gpu));
    json_object_set_new(o, "model", json_string(g->model->slug));
    json_object_set_new(o, "entry_line", json_integer(j->entry->pos.line));
    json_object_set_new(o, "kept", json_integer(j->plan.kept));
    json_object_set_new(o, "reused", json_integer(j->plan.reused));
    json_object_set_new(o, "destroyed", json_integer(j->plan.destroyed));
    json_object_set_new(o, "created", json_integer(j->plan.created));
    json_object_set_new(o, "forced", json_integer(j->plan.forced));
    json_object_set_new(o, "operations", ops);
    json_object_set_new(o, "result", json_string(j->result == 0 ? "ok" : "failed"));
    if (j->result)
        json_object_set_new(o, "error", json_string(j->msg));
    json_object_set_new(o, "rolled_back", json_boolean(j->rolled_back));
    return o;
}

/* The whole run as JSON: file, label, dry_run and one object per GPU (docs/json.md). */
static json_t *run_json(const struct run *rn)
{
    json_t *o = json_object(), *gpus = json_array();
    for (int i = 0; i < rn->njobs; i++)
        json_array_append_new(gpus, job_json(rn, &rn->jobs[i]));
    json_object_set_new(o, "file", json_string(rn->cfg->origin));
    json_object_set_new(o, "label", json_string(rn->label->name));
    json_object_set_new(o, "dry_run", json_boolean(rn->o.dry_run));
    json_object_set_new(o, "gpus", gpus);
    return o;
}

static void print_plan(const struct run *rn)
{
    printf("Plan for label %s from %s (dry run: nothing is changed)\n\n", rn->label->name,
           rn->cfg->origin);
    for (int i = 0; i < rn->njobs; i++) {
        const struct job *j = &rn->jobs[i];
        const struct mk_gpu *g = mk_backend_gpu(rn->b, j->gpu);
        char head[160];
        printf("GPU %d (%s): keep %d, reuse %d, destroy %d, create %d: %d operation%s%s\n", j->gpu,
               g->model->slug, j->plan.kept, j->plan.reused, j->plan.destroyed, j->plan.created,
               j->plan.nops, j->plan.nops == 1 ? "" : "s",
               j->plan.forced ? " (forced over busy instances)" : "");
        for (int k = 0; k < j->plan.nops; k++) {
            char text[160];
            op_text(g, &j->plan.ops[k], text, sizeof(text));
            printf("  %2d. %s\n", k + 1, text);
        }
        if (j->plan.nops == 0) {
            printf("  (already in the requested layout)\n\n");
            continue;
        }
        putchar('\n');
        snprintf(head, sizeof(head), "Before: GPU %d (%s)", j->gpu, g->model->slug);
        status_print_gpu(stdout, rn->cli, g, head);
        putchar('\n');
        snprintf(head, sizeof(head), "After: GPU %d (%s)", j->gpu, g->model->slug);
        status_print_gpu(stdout, rn->cli, &j->plan.target, head);
        putchar('\n');
    }
}

/* ---- carrying a plan out ---- */

/* GI IDs follow placements, so a created GI gets the ID the plan predicted; a backend that
 * answers otherwise is followed (later operations on that GI use the real ID). */
struct idmap {
    int from[MK_LAYOUT_MAX_OPS], to[MK_LAYOUT_MAX_OPS], n;
};

static int mapped(const struct idmap *m, int id)
{
    for (int i = 0; i < m->n; i++)
        if (m->from[i] == id)
            return m->to[i];
    return id;
}

static int do_op(struct mk_backend *b, int gpu, const struct mk_op *op, struct idmap *ids,
                 struct mk_error *err)
{
    int id, r;
    switch (op->kind) {
    case MK_OP_DESTROY_CI:
        return mk_backend_ci_destroy(b, gpu, op->gi_id, op->ci_id, err);
    case MK_OP_DESTROY_GI:
        return mk_backend_gi_destroy(b, gpu, op->gi_id, err);
    case MK_OP_SET_MIG:
        return mk_backend_set_mig(b, gpu, op->mig_enabled, err);
    case MK_OP_CREATE_GI:
        if ((r = mk_backend_gi_create(b, gpu, op->profile, op->start, &id, err)) < 0)
            return r;
        ids->from[ids->n] = op->gi_id;
        ids->to[ids->n++] = id;
        return 0;
    case MK_OP_CREATE_CI:
        return mk_backend_ci_create(b, gpu, mapped(ids, op->gi_id), op->ci_profile, &id, err);
    }
    return -EINVAL;
}

/* Undoes operations done..0 of a failed GPU in reverse, recreating what was destroyed at its
 * old placement (UUIDs of recreated instances are new). Returns 0 when all undid. */
static int roll_back(struct mk_backend *b, int gpu, const struct mk_op *ops, int done,
                     const struct idmap *ids)
{
    int bad = 0, id;
    for (int k = done - 1; k >= 0; k--) {
        const struct mk_op *op = &ops[k];
        struct mk_error err = {0};
        int r = 0, gi = mapped(ids, op->gi_id);
        switch (op->kind) {
        case MK_OP_CREATE_CI: {
            /* The plan gives a new or reused GI exactly one CI: remove what it holds now. */
            const struct mk_gi *g = mk_gpu_gi_find_const(mk_backend_gpu(b, gpu), gi);
            while (r == 0 && g && g->nci > 0) {
                r = mk_backend_ci_destroy(b, gpu, gi, g->ci[0].id, &err);
                g = mk_gpu_gi_find_const(mk_backend_gpu(b, gpu), gi);
            }
            break;
        }
        case MK_OP_CREATE_GI:
            r = mk_backend_gi_destroy(b, gpu, gi, &err);
            break;
        case MK_OP_SET_MIG:
            r = mk_backend_set_mig(b, gpu, !op->mig_enabled, &err);
            break;
        case MK_OP_DESTROY_GI:
            r = mk_backend_gi_create(b, gpu, op->profile, op->start, &id, &err);
            break;
        case MK_OP_DESTROY_CI:
            r = mk_backend_ci_create(b, gpu, op->gi_id, op->ci_profile, &id, &err);
            break;
        }
        bad += r < 0;
    }
    return bad ? -EIO : 0;
}

/* Shows progress on a terminal: one line rewritten in place on stderr. */
static void progress(const struct run *rn, const struct job *j, int k)
{
    char text[160];
    if (rn->cli->json || !isatty(STDERR_FILENO))
        return;
    op_text(mk_backend_gpu(rn->b, j->gpu), &j->plan.ops[k], text, sizeof(text));
    fprintf(stderr, "\r\033[K[GPU %d] %d/%d %s", j->gpu, k + 1, j->plan.nops, text);
    if (k + 1 == j->plan.nops)
        fputs("\r\033[K", stderr);
}

/* With --force, a busy GI the plan destroys or changes must first stop being busy. The
 * simulator models that by clearing its busy mark (its "processes" stop); a backend that
 * cannot do so (-ENOTSUP) leaves the GI busy, and the driver's "In use" then fails the GPU,
 * which is rolled back: migkit never kills processes on real hardware. */
static void release_busy(struct run *rn, const struct job *j, const struct mk_op *op)
{
    const struct mk_gi *gi;
    struct mk_error err = {0};
    if (!rn->o.force || (op->kind != MK_OP_DESTROY_CI && op->kind != MK_OP_DESTROY_GI))
        return;
    gi = mk_gpu_gi_find_const(mk_backend_gpu(rn->b, j->gpu), op->gi_id);
    if (gi && gi->busy)
        (void)mk_backend_set_busy(rn->b, j->gpu, op->gi_id, false, &err);
}

/* Runs ops [from, to) of job j; on failure rolls the GPU back. */
static void run_ops(struct run *rn, struct job *j, int from, int to, struct idmap *ids)
{
    for (int k = from; k < to && j->result == 0; k++) {
        struct mk_error err = {0};
        int r;
        progress(rn, j, k);
        release_busy(rn, j, &j->plan.ops[k]);
        if ((r = do_op(rn->b, j->gpu, &j->plan.ops[k], ids, &err)) < 0) {
            char text[160];
            op_text(mk_backend_gpu(rn->b, j->gpu), &j->plan.ops[k], text, sizeof(text));
            j->result = r;
            j->rolled_back = roll_back(rn->b, j->gpu, j->plan.ops, k, ids) == 0;
            snprintf(j->msg, sizeof(j->msg), "%s failed: %s; %s", text, mk_status_text(r),
                     j->rolled_back ? "the GPU's old layout was restored"
                                    : "rolling back failed too: check the GPU with migctl status");
            if (!rn->cli->json && isatty(STDERR_FILENO))
                fputs("\r\033[K", stderr);
            return;
        }
        j->done = k + 1;
    }
}

/* Index just past a plan's MIG-enable operation (the mode phase), or 0 when the plan does
 * not turn MIG on. Turning MIG off comes after the instance teardown, in the config phase. */
static int mode_phase_end(const struct job *j)
{
    for (int k = 0; k < j->plan.nops; k++)
        if (j->plan.ops[k].kind == MK_OP_SET_MIG && j->plan.ops[k].mig_enabled)
            return k + 1;
    return 0;
}

static void print_summary(const struct run *rn)
{
    printf("GPU  MODEL               KEPT  REUSED  DESTROYED  CREATED  OPS  RESULT\n");
    for (int i = 0; i < rn->njobs; i++) {
        const struct job *j = &rn->jobs[i];
        printf("%3d  %-18s %5d %7d %10d %8d %4d  %s\n", j->gpu,
               mk_backend_gpu(rn->b, j->gpu)->model->slug, j->plan.kept, j->plan.reused,
               j->plan.destroyed, j->plan.created, j->plan.nops,
               j->result      ? "FAILED"
               : j->plan.nops ? "applied"
                              : "unchanged");
        if (j->result)
            printf("     %s\n", j->msg);
    }
}

static int hook(struct run *rn, const char *event, int status)
{
    struct mk_error err = {0};
    char code[32];
    const char *env[] = {code, NULL};
    snprintf(code, sizeof(code), "MIGKIT_APPLY_EXIT_CODE=%d", status);
    if (hooks_run(rn->hooks, event, rn->cfg->origin, rn->label->name,
                  strcmp(event, "apply-exit") == 0 ? env : NULL, &err) < 0)
        return cli_fail(255, "apply: %s hook failed: %s", event, mk_strerror(&err));
    return 0;
}

/* Carries out every job: the mode phase on all GPUs, then the instance phase. */
static int execute(struct run *rn, struct idmap *ids)
{
    bool mode = false, config = false;
    int r;
    for (int i = 0; i < rn->njobs; i++) {
        int m = mode_phase_end(&rn->jobs[i]);
        mode = mode || m > 0;
        config = config || rn->jobs[i].plan.nops > m;
    }
    if ((r = hook(rn, "apply-start", 0)) != 0)
        return r;
    if (mode && (r = hook(rn, "pre-apply-mode", 0)) != 0)
        return r;
    for (int i = 0; i < rn->njobs; i++)
        run_ops(rn, &rn->jobs[i], 0, mode_phase_end(&rn->jobs[i]), &ids[i]);
    if (config && (r = hook(rn, "pre-apply-config", 0)) != 0)
        return r;
    for (int i = 0; i < rn->njobs; i++)
        if (rn->jobs[i].result == 0)
            run_ops(rn, &rn->jobs[i], mode_phase_end(&rn->jobs[i]), rn->jobs[i].plan.nops, &ids[i]);
    return 0;
}

/* Re-reads the machine and checks every job's GPU against its spec. */
static int verify(struct run *rn)
{
    struct mk_error err = {0};
    int bad = 0;
    mk_backend_close(rn->cli->backend);
    rn->cli->backend = NULL;
    if (!(rn->b = cli_backend(rn->cli, false)))
        return -EIO;
    for (int i = 0; i < rn->njobs; i++) {
        struct job *j = &rn->jobs[i];
        if (j->result == 0 && !mk_layout_matches(mk_backend_gpu(rn->b, j->gpu), &j->spec)) {
            j->result = -EIO;
            snprintf(j->msg, sizeof(j->msg),
                     "the GPU does not hold the requested layout "
                     "after applying");
            bad++;
        }
    }
    (void)err;
    return bad ? -EIO : 0;
}

/*
 * On the soft backend, after an apply to every GPU (no -i) that left each one matching, records
 * the label in migd as the desired configuration (PUT /v1/desired): the label's part of the
 * file, as mig-parted YAML (mk_config_emit_yaml re-parses to the same configuration), so
 * `migctl assert` without -f and migd's start-up can check against it. Returns 1 when
 * recorded, 0 when not for this run, or -errno after reporting why on stderr.
 */
static int record_desired(struct run *rn)
{
    struct mk_error err = {0};
    char *text;
    int r;
    if (strcmp(mk_backend_name(rn->b), "soft") != 0 || rn->cli->gpu >= 0)
        return 0;
    if (!(text = mk_config_emit_yaml(rn->cfg, rn->label->name))) {
        cli_fail(255, "apply: out of memory");
        return -ENOMEM;
    }
    r = mk_soft_desired_set(rn->b, text, rn->label->name, &err);
    free(text);
    if (r < 0) {
        cli_fail(255,
                 "apply: label %s is applied, but migd did not record it as the desired "
                 "configuration: %s",
                 rn->label->name, mk_strerror(&err));
        return r;
    }
    return 1;
}

static int finish_apply(struct run *rn)
{
    struct mk_error err = {0};
    int failed = 0, recorded = 0, r;
    struct idmap *ids = mk__calloc((size_t)rn->njobs, sizeof(*ids));
    if (!ids)
        return cli_fail(255, "apply: out of memory");
    r = execute(rn, ids);
    mk__free(ids);
    if (mk_backend_commit(rn->b, &err) < 0)
        return cli_fail(255, "apply: cannot save the new state: %s", mk_strerror(&err));
    if (r != 0)
        return r;
    verify(rn);
    for (int i = 0; i < rn->njobs; i++)
        failed += rn->jobs[i].result != 0;
    if (failed == 0)
        recorded = record_desired(rn);
    if (rn->cli->json) {
        json_t *o = run_json(rn);
        json_object_set_new(o, "asserted", json_boolean(failed == 0));
        if (strcmp(mk_backend_name(rn->b), "soft") == 0)
            json_object_set_new(o, "desired_recorded", json_boolean(recorded > 0));
        cli_print_json(o);
    } else {
        print_summary(rn);
        if (failed == 0)
            printf("Applied label %s; the machine now matches it.\n", rn->label->name);
        if (recorded > 0)
            printf("Recorded label %s in migd as the desired configuration.\n", rn->label->name);
    }
    return failed || recorded < 0 ? 255 : 0;
}

static void run_free(struct run *rn)
{
    mk__free(rn->jobs);
    mk_config_free(rn->cfg);
    hooks_free(rn->hooks);
}

static int apply_planned(struct run *rn)
{
    if (rn->o.dry_run) {
        if (rn->cli->json)
            cli_print_json(run_json(rn));
        else
            print_plan(rn);
        return 0;
    }
    return finish_apply(rn);
}

int cmd_apply(struct cli *cli, int argc, char **argv)
{
    struct run rn = {.cli = cli};
    struct mk_error err = {0};
    int r;
    if ((r = parse(cli, argc, argv, "apply", &rn.o)) != 0)
        return r < 0 ? 0 : r;
    if (rn.o.hooks && hooks_load(rn.o.hooks, &rn.hooks, &err) < 0)
        return cli_fail(CLI_EXIT_USAGE, "apply: %s", mk_strerror(&err));
    if ((r = load_config(&rn, "apply")) != 0)
        goto out;
    if (!(rn.b = cli_backend(cli, !rn.o.dry_run))) {
        r = cli->backend_exit;
        goto out;
    }
    if ((r = make_jobs(&rn, "apply")) != 0 || (r = plan_jobs(&rn)) != 0)
        goto out;
    r = apply_planned(&rn);
out:
    if (rn.hooks && rn.label && !rn.o.dry_run && hook(&rn, "apply-exit", r) != 0 && r == 0)
        r = 255;
    run_free(&rn);
    return r;
}

/* ---- assert ---- */

/* The origin named in messages about migd's desired configuration. */
#define DESIRED_ORIGIN "migd's desired configuration"

/*
 * assert without -f: on the soft backend, migd's desired configuration (recorded by apply,
 * GET /v1/desired) and its recorded label, or the label -c names if the configuration has it.
 * Elsewhere there is nothing to fall back on: the usage error of a missing -f.
 */
static int load_desired(struct run *rn)
{
    struct mk_error err = {0};
    _cleanup_free_ char *text = NULL, *label = NULL;
    const char *want;
    int r;
    if (strcmp(mk_backend_name(rn->b), "soft") != 0)
        return cli_usage_error("assert: no configuration file (-f FILE, or MIGKIT_CONFIG_FILE; "
                               "only the soft backend has a desired configuration to fall "
                               "back on)");
    if ((r = mk_soft_desired_get(rn->b, &text, &label, &err)) == -ENOENT)
        return cli_fail(CLI_EXIT_USAGE,
                        "assert: no configuration file, and migd has no desired configuration "
                        "(migctl --backend soft apply -f FILE -c LABEL records one)");
    if (r < 0)
        return cli_fail(mk_status_exit_code(r),
                        "assert: cannot read migd's desired configuration: %s", mk_strerror(&err));
    if (mk_config_parse(text, strlen(text), DESIRED_ORIGIN, &rn->cfg, &err) < 0)
        return cli_fail(255, "assert: %s", mk_strerror(&err));
    want = rn->o.label && *rn->o.label ? rn->o.label : label;
    if (!(rn->label = mk_config_find(rn->cfg, want)))
        return cli_fail(CLI_EXIT_USAGE, "assert: %s has no label \"%s\" (it records label %s)",
                        DESIRED_ORIGIN, want, label);
    return 0;
}

int cmd_assert(struct cli *cli, int argc, char **argv)
{
    struct run rn = {.cli = cli};
    bool from_migd;
    int r, bad = 0;
    if ((r = parse(cli, argc, argv, "assert", &rn.o)) != 0)
        return r < 0 ? 0 : r;
    from_migd = !rn.o.valid_only && (!rn.o.file || !*rn.o.file);
    if (!from_migd && (r = load_config(&rn, "assert")) != 0)
        goto out;
    if (rn.o.valid_only) {
        printf("Valid MIG configuration%s%s\n", rn.label ? ": label " : "",
               rn.label ? rn.label->name : "");
        goto out;
    }
    if (!(rn.b = cli_backend(cli, false))) {
        r = cli->backend_exit;
        goto out;
    }
    if (from_migd && (r = load_desired(&rn)) != 0)
        goto out;
    if ((r = make_jobs(&rn, "assert")) != 0)
        goto out;
    for (int i = 0; i < rn.njobs; i++) {
        const struct mk_gpu *g = mk_backend_gpu(rn.b, rn.jobs[i].gpu);
        if (!mk_layout_matches(g, &rn.jobs[i].spec)) {
            printf("GPU %d (%s) does not match label %s (entry at line %d)\n", g->index,
                   g->model->slug, rn.label->name, rn.jobs[i].entry->pos.line);
            bad++;
        }
    }
    if (bad == 0)
        printf("Selected MIG configuration currently applied\n");
    r = bad ? 1 : 0;
out:
    run_free(&rn);
    return r;
}

/* ---- export ---- */

/* Describes GPU g as a config entry: its mode and one mig-devices name per (GI, CI) kind.
 * mig-parted's format holds one CI per GI; a GI with none or several is exported as best it
 * can be and reported on stderr. */
static void export_entry(const struct mk_gpu *g, struct mk_config_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->mig_enabled = g->mig_enabled;
    for (int p = 0; p < g->model->nprofiles; p++) {
        const struct mk_gi_profile *prof = &g->model->profiles[p];
        for (int i = 0; i < g->ngi; i++) {
            const struct mk_gi *gi = &g->gi[i];
            if (gi->profile != prof)
                continue;
            if (gi->nci != 1)
                fprintf(stderr,
                        "migctl: export: GPU %d GI %d holds %d compute instances; the format "
                        "has one per GPU instance, so it is exported as %s\n",
                        g->index, gi->id, gi->nci,
                        gi->nci ? "one MIG device per compute instance" : "its default one");
            for (int c = 0; c < (gi->nci ? gi->nci : 1); c++) {
                const struct mk_ci_profile *cp = mk_model_ci_profile(
                    g->model, gi->nci ? gi->ci[c].profile_id : prof->ci_default);
                char name[MK_NAME_LEN + 16]; /* room for "<c>c." before a full name */
                int k;
                /* "<c>c.<GI name>" keeps the GI's media suffix so the name resolves back to
                 * the same GI profile (nvidia-smi's CI names drop it). */
                if (cp && cp->slices < prof->compute_slices)
                    snprintf(name, sizeof(name), "%dc.%s", cp->slices, prof->name);
                else
                    snprintf(name, sizeof(name), "%s", prof->name);
                for (k = 0; k < e->nmigdevs; k++)
                    if (!strcmp(e->migdevs[k].name, name))
                        break;
                if (k == e->nmigdevs && k < MK_CONFIG_MAX_MIGDEVS) {
                    size_t len = strnlen(name, MK_NAME_LEN - 1);
                    memcpy(e->migdevs[e->nmigdevs].name, name, len);
                    e->migdevs[e->nmigdevs++].name[len] = '\0';
                }
                if (k < MK_CONFIG_MAX_MIGDEVS)
                    e->migdevs[k].count++;
            }
        }
    }
}

static bool same_entry(const struct mk_config_entry *a, const struct mk_config_entry *b)
{
    if (a->mig_enabled != b->mig_enabled || a->nmigdevs != b->nmigdevs)
        return false;
    for (int k = 0; k < a->nmigdevs; k++)
        if (strcmp(a->migdevs[k].name, b->migdevs[k].name) ||
            a->migdevs[k].count != b->migdevs[k].count)
            return false;
    return true;
}

/* Groups GPUs with identical layouts into one entry each (devices: all when one entry covers
 * the whole machine). */
static int export_build(struct mk_backend *b, int only_gpu, const char *label,
                        struct mk_config *cfg, struct mk_config_label *lab)
{
    int n = mk_backend_gpu_count(b);
    memset(cfg, 0, sizeof(*cfg));
    memset(lab, 0, sizeof(*lab));
    snprintf(cfg->origin, sizeof(cfg->origin), "export");
    snprintf(lab->name, sizeof(lab->name), "%s", label);
    if (!(lab->entries = mk__calloc((size_t)(n ? n : 1), sizeof(*lab->entries))))
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct mk_config_entry e;
        int k;
        if (only_gpu >= 0 && only_gpu != i)
            continue;
        export_entry(mk_backend_gpu(b, i), &e);
        for (k = 0; k < lab->nentries; k++)
            if (same_entry(&lab->entries[k], &e))
                break;
        if (k == lab->nentries)
            lab->entries[lab->nentries++] = e;
        lab->entries[k].devices[lab->entries[k].ndevices++] = i;
    }
    if (lab->nentries == 1 && only_gpu < 0)
        lab->entries[0].all_devices = true;
    cfg->nlabels = 1;
    cfg->labels = lab;
    return 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
    struct opts o = {0};
    struct mk_config cfg;
    struct mk_config_label lab;
    struct mk_backend *b;
    char *text;
    int r;
    if ((r = parse(cli, argc, argv, "export", &o)) != 0)
        return r < 0 ? 0 : r;
    if (!o.format)
        o.format = cli->json ? "json" : "yaml";
    if (strcmp(o.format, "yaml") != 0 && strcmp(o.format, "json") != 0)
        return cli_usage_error("export: -o: expected yaml or json, got \"%s\"", o.format);
    if (o.export_label && !*o.export_label)
        return cli_usage_error("export: -l: expected a label name");
    if (!(b = cli_backend(cli, false)))
        return cli->backend_exit;
    if (cli->gpu >= mk_backend_gpu_count(b)) {
        printf("No devices were found\n");
        return mk_status_exit_code(-ENOENT);
    }
    if (export_build(b, cli->gpu, o.export_label ? o.export_label : "current", &cfg, &lab) < 0)
        return cli_fail(255, "export: out of memory");
    text = strcmp(o.format, "json") == 0 ? mk_config_emit_json(&cfg, NULL)
                                         : mk_config_emit_yaml(&cfg, NULL);
    mk__free(lab.entries);
    if (!text)
        return cli_fail(255, "export: out of memory");
    fputs(text, stdout);
    free(text);
    return 0;
}
