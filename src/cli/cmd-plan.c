/*
 * cmd-plan.c - `migctl plan`: from workloads to a MIG layout for a fleet (docs/planner.md).
 *
 *   plan -f WORKLOADS [--fleet FLEET] [--headroom H] [-o CONFIG] [--label NAME] [--json]
 *        [--svg FILE]
 *
 * The fleet is --fleet FILE, else the `fleet` of the workloads file, else the machine the
 * backend sees, whose current layout the plan then changes as little as it can. The result
 * is a mig-parted v1 configuration (one label, one entry per GPU) that `migctl apply`
 * accepts: written atomically to -o FILE, or to standard output. Beside it comes a report:
 * the replica table (workload -> GPU, profile, GI, placement), every used GPU's slice map
 * (the `status` picture of the layout apply will build), the GPUs used against the lower
 * bound, and why any replica was not placed. The report goes to standard output with -o,
 * to standard error otherwise (so standard output is the configuration alone); --json puts
 * everything, the configuration included, in one JSON object on standard output.
 *
 * Exit status: 0 when every replica is placed, 1 when some are not (the plan is still
 * written), 2 for usage errors and bad input, 255 for other failures.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "migkit/planner.h"

enum { OPT_FLEET = OPT__COMMON_END + 1, OPT_HEADROOM, OPT_LABEL, OPT_SVG };

/* Exit status when the plan leaves replicas out (docs/cli.md). */
#define EXIT_UNPLACED 1
/* A heading longer than this is cut with "...". */
#define HEADING_LEN 160

struct opts {
    const char *file, *fleet, *output, *label, *svg;
    bool has_headroom;
    uint32_t headroom_ppm;
};

/* What the command works on, owned here and freed by run_free(). */
struct run {
    struct cli *cli;
    struct opts o;
    struct mk_plan_input *in, *fleet_in;
    struct mk_gpu *gpus;
    int ngpus;
    bool from_backend;
    struct mk_plan *plan;
    char *yaml; /* the configuration text, or NULL when the fleet is too large for one */
};

static void run_free(struct run *rn)
{
    mk_plan_input_free(rn->in);
    mk_plan_input_free(rn->fleet_in);
    mk__free(rn->gpus);
    mk_plan_free(rn->plan);
    free(rn->yaml);
}

/* ---- options and input ---- */

static int parse(struct cli *cli, int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'},
        {"f", required_argument, NULL, 'f'},
        {"fleet", required_argument, NULL, OPT_FLEET},
        {"headroom", required_argument, NULL, OPT_HEADROOM},
        {"output", required_argument, NULL, 'o'},
        {"o", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, OPT_LABEL},
        {"svg", required_argument, NULL, OPT_SVG},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    o->label = "plan";
    while ((c = getopt_long_only(argc, argv, ":f:o:i:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            if (c == 'i')
                return cli_usage_error("plan: -i is not supported; the plan covers the fleet");
            continue;
        }
        switch (c) {
        case 'f':
            o->file = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_FLEET:
            o->fleet = optarg;
            break;
        case OPT_LABEL:
            o->label = optarg;
            break;
        case OPT_SVG:
            o->svg = optarg;
            break;
        case OPT_HEADROOM:
            if (mk_plan_parse_headroom(optarg, &o->headroom_ppm) < 0)
                return cli_usage_error("plan: --headroom: expected a fraction from 0 to 10 "
                                       "such as 0.2, or a percentage such as 20%%, got \"%s\"",
                                       optarg);
            o->has_headroom = true;
            break;
        case ':':
            return cli_usage_error("plan: option %s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("plan: unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("plan: unexpected argument \"%s\"", argv[optind]);
    if (!o->file)
        return cli_usage_error("plan: -f WORKLOADS is required");
    if (!*o->label || strlen(o->label) >= MK_NAME_LEN)
        return cli_usage_error("plan: --label: expected 1 to %d bytes", MK_NAME_LEN - 1);
    if ((o->output && !*o->output) || (o->svg && !*o->svg))
        return cli_usage_error("plan: -o and --svg need a file name");
    return 0;
}

/* Empty GPUs with MIG on, one per fleet entry count, in the fleet's order. */
static int fleet_gpus(struct run *rn, const struct mk_plan_input *f)
{
    int n = 0;
    for (int i = 0; i < f->nfleet; i++)
        n += f->fleet[i].count;
    if (!(rn->gpus = mk__calloc((size_t)n, sizeof(*rn->gpus))))
        return cli_fail(255, "%s", mk_status_text(-ENOMEM));
    for (int i = 0; i < f->nfleet; i++)
        for (int k = 0; k < f->fleet[i].count; k++) {
            mk_gpu_init(&rn->gpus[rn->ngpus], f->fleet[i].model, rn->ngpus);
            rn->gpus[rn->ngpus++].mig_enabled = true;
        }
    return 0;
}

/* The backend's GPUs, with their current layouts. */
static int backend_gpus(struct run *rn)
{
    struct mk_backend *b = cli_backend(rn->cli, false);
    if (!b)
        return 255;
    rn->ngpus = mk_backend_gpu_count(b);
    if (rn->ngpus <= 0)
        return cli_fail(mk_status_exit_code(-ENOENT),
                        "plan: the machine has no GPUs; give "
                        "a fleet with --fleet or in %s",
                        rn->o.file);
    if (!(rn->gpus = mk__calloc((size_t)rn->ngpus, sizeof(*rn->gpus))))
        return cli_fail(255, "%s", mk_status_text(-ENOMEM));
    for (int i = 0; i < rn->ngpus; i++)
        rn->gpus[i] = *mk_backend_gpu(b, i);
    rn->from_backend = true;
    return 0;
}

static int load(struct run *rn)
{
    struct mk_error err = {0};
    struct mk_catalog *cat = cli_catalog(rn->cli);
    if (!cat)
        return CLI_EXIT_USAGE;
    if (mk_plan_input_load(rn->o.file, cat, MK_PLAN_INPUT_WORKLOADS, &rn->in, &err) < 0)
        return cli_fail(err.code == -ENOMEM ? 255 : CLI_EXIT_USAGE, "%s", mk_strerror(&err));
    if (rn->o.fleet) {
        if (mk_plan_input_load(rn->o.fleet, cat, MK_PLAN_INPUT_FLEET_ONLY, &rn->fleet_in, &err) < 0)
            return cli_fail(err.code == -ENOMEM ? 255 : CLI_EXIT_USAGE, "%s", mk_strerror(&err));
        return fleet_gpus(rn, rn->fleet_in);
    }
    if (rn->in->nfleet > 0)
        return fleet_gpus(rn, rn->in);
    return backend_gpus(rn);
}

/* ---- the configuration ---- */

/* Writes text to path through path.tmp and rename(), so readers never see a partial file.
 * Returns 0 or -errno; the temporary file is removed on failure. */
static int write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[PATH_MAX];
    FILE *f;
    int r = 0;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    if (!(f = fopen(tmp, "w")))
        return -errno;
    if (fwrite(text, 1, len, f) != len || fflush(f) != 0)
        r = errno ? -errno : -EIO;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

/* Builds the configuration text and checks that it parses back to the same configuration
 * (what apply will read). */
static int make_config(struct run *rn)
{
    struct mk_error err = {0};
    struct mk_config *cfg = NULL, *back = NULL;
    int r;
    if (rn->plan->ngpus > MK_CONFIG_MAX_DEVICES)
        return 0; /* checked before planning: only --json gets here */
    if ((r = mk_plan_to_config(rn->plan, rn->o.label, &cfg, &err)) < 0)
        return cli_fail(255, "plan: %s", mk_strerror(&err));
    rn->yaml = mk_config_emit_yaml(cfg, NULL);
    if (!rn->yaml)
        r = cli_fail(255, "%s", mk_status_text(-ENOMEM));
    else if (mk_config_parse(rn->yaml, strlen(rn->yaml), "plan", &back, &err) < 0 ||
             !mk_config_equal(cfg, back))
        r = cli_fail(255, "plan: internal error: the configuration does not read back: %s",
                     mk_strerror(&err));
    mk_config_free(cfg);
    mk_config_free(back);
    return r;
}

/* ---- the text report ---- */

static double gib(uint64_t bytes)
{
    return (double)bytes / (double)MK_PLAN_GIB;
}

/* "optimal: the lower bound", "optimal: exhaustive search" or "not proven optimal". */
static const char *proof(const struct mk_plan *p)
{
    if (p->gpus_used == p->lower_bound && !p->exact_done)
        return "optimal (equals the lower bound)";
    if (p->exact_done)
        return "optimal (proven by exhaustive search)";
    return "not proven optimal";
}

static void print_summary(FILE *f, const struct run *rn)
{
    const struct mk_plan *p = rn->plan;
    fprintf(f,
            "Plan \"%s\": %d of %d replicas of %d workloads placed on %d of %d GPUs "
            "(headroom %g%%)\n",
            rn->o.label, p->placed, p->replicas, rn->in->nworkloads, p->gpus_used, p->ngpus,
            p->headroom_ppm / 1e4);
    fprintf(f, "GPUs used %d, lower bound %d: %s\n", p->gpus_used, p->lower_bound, proof(p));
    if (rn->from_backend)
        fprintf(f,
                "Against the current layout: %d GPU instances kept, %d reused, %d "
                "created, %d destroyed; MIG mode turned on on %d GPUs\n",
                p->kept, p->reused, p->created, p->destroyed, p->mode_changes);
}

/* The replica table, columns sized to their contents. */
static void print_table(FILE *f, const struct run *rn)
{
    const struct mk_plan *p = rn->plan;
    int wn = (int)strlen("WORKLOAD"), wm = (int)strlen("MEMORY");
    for (int w = 0; w < rn->in->nworkloads; w++) {
        int n = (int)strlen(rn->in->workloads[w].name);
        int m = (int)strlen(rn->in->workloads[w].memory_text);
        wn = n > wn ? n : wn;
        wm = m > wm ? m : wm;
    }
    fprintf(f, "\n%-*s  REPLICA  PRIORITY  %-*s  NEED (+%g%%)  GPU  %-18s %-17s GI  PLACEMENT\n",
            wn, "WORKLOAD", wm, "MEMORY", p->headroom_ppm / 1e4, "MODEL", "PROFILE");
    for (int a = 0; a < p->nassign; a++) {
        const struct mk_plan_assignment *as = &p->assign[a];
        const struct mk_plan_workload *w = &rn->in->workloads[as->workload];
        char rep[32], need[32];
        snprintf(rep, sizeof(rep), "%d/%d", as->replica + 1, w->replicas);
        snprintf(need, sizeof(need), "%.2f GiB", gib(as->need_bytes));
        fprintf(f, "%-*s  %-7s  %8d  %-*s  %11s  ", wn, w->name, rep, w->priority, wm,
                w->memory_text, need);
        if (as->gpu < 0)
            fprintf(f, "  -  %-18s %-17s  -  -\n", "-", mk_plan_reason_name(as->reason));
        else
            fprintf(f, "%3d  %-18s %-17s %2d  %d:%d\n", as->gpu,
                    p->gpus[as->gpu].target.model->slug, as->profile->name, as->gi_id, as->start,
                    as->profile->mem_slices);
    }
}

static void print_unplaced(FILE *f, const struct run *rn)
{
    const struct mk_plan *p = rn->plan;
    if (p->placed == p->replicas)
        return;
    fprintf(f, "\nNot placed:\n");
    for (int a = 0; a < p->nassign; a++) {
        const struct mk_plan_assignment *as = &p->assign[a];
        const struct mk_plan_workload *w = &rn->in->workloads[as->workload];
        if (as->gpu < 0)
            fprintf(f, "  %s %d/%d (%s): %s\n", w->name, as->replica + 1, w->replicas,
                    mk_plan_reason_name(as->reason), as->why);
    }
}

/* "GPU 0: NVIDIA H100 80GB HBM3 (h100-sxm5-80gb): llama-8b, small x4", cut to fit. */
static void heading(const struct run *rn, int g, char *buf, size_t len)
{
    const struct mk_plan *p = rn->plan;
    const struct mk_gpu *t = &p->gpus[g].target;
    size_t at = (size_t)snprintf(buf, len, "GPU %d: %s (%s):", g, t->model->name, t->model->slug);
    for (int w = 0, first = 1; w < rn->in->nworkloads && at < len; w++) {
        int n = 0;
        for (int a = 0; a < p->nassign; a++)
            n += p->assign[a].workload == w && p->assign[a].gpu == g;
        if (n == 0)
            continue;
        at += (size_t)snprintf(buf + at, len - at, n > 1 ? "%s %s x%d" : "%s %s", first ? "" : ",",
                               rn->in->workloads[w].name, n);
        first = 0;
    }
    if (at >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
}

static int print_pictures(FILE *f, const struct run *rn)
{
    const struct mk_plan *p = rn->plan;
    int unused = 0;
    for (int g = 0; g < p->ngpus; g++) {
        char head[HEADING_LEN];
        if (!p->gpus[g].used) {
            unused++;
            continue;
        }
        heading(rn, g, head, sizeof(head));
        fputc('\n', f);
        if (status_print_gpu(f, rn->cli, &p->gpus[g].target, head) < 0)
            return -ENOMEM;
    }
    if (unused) {
        fprintf(f, "\nUnused GPUs (MIG enabled, no instances):");
        for (int g = 0; g < p->ngpus; g++)
            if (!p->gpus[g].used)
                fprintf(f, " %d", g);
        fputc('\n', f);
    }
    return 0;
}

static int print_report(FILE *f, const struct run *rn)
{
    print_summary(f, rn);
    print_table(f, rn);
    print_unplaced(f, rn);
    return print_pictures(f, rn);
}

/* ---- JSON (docs/json.md, "plan") ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *assignment_json(const struct run *rn, const struct mk_plan_assignment *as)
{
    const struct mk_plan_workload *w = &rn->in->workloads[as->workload];
    bool placed = as->gpu >= 0;
    json_t *o = json_object();
    json_object_set_new(o, "workload", json_string(w->name));
    json_object_set_new(o, "replica", json_integer(as->replica + 1));
    json_object_set_new(o, "priority", json_integer(w->priority));
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)w->memory_bytes));
    json_object_set_new(o, "need_bytes", json_integer((json_int_t)as->need_bytes));
    json_object_set_new(o, "gpu", placed ? json_integer(as->gpu) : json_null());
    json_object_set_new(o, "model",
                        str_or_null(placed ? rn->plan->gpus[as->gpu].target.model->slug : NULL));
    json_object_set_new(o, "profile", str_or_null(placed ? as->profile->name : NULL));
    json_object_set_new(o, "profile_id", placed ? json_integer(as->profile->id) : json_null());
    json_object_set_new(o, "gpu_instance_id", placed ? json_integer(as->gi_id) : json_null());
    json_object_set_new(o, "placement_start", placed ? json_integer(as->start) : json_null());
    json_object_set_new(o, "placement_size",
                        placed ? json_integer(as->profile->mem_slices) : json_null());
    json_object_set_new(o, "reason", json_string(mk_plan_reason_name(as->reason)));
    json_object_set_new(o, "why", str_or_null(placed ? NULL : as->why));
    return o;
}

static json_t *gpu_json(const struct mk_plan_gpu *pg, int g)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(g));
    json_object_set_new(o, "model", json_string(pg->target.model->slug));
    json_object_set_new(o, "name", json_string(pg->target.model->name));
    json_object_set_new(o, "used", json_boolean(pg->used));
    json_object_set_new(o, "replicas", json_integer(pg->replicas));
    json_object_set_new(o, "largest_free_profile",
                        str_or_null(pg->largest_free ? pg->largest_free->name : NULL));
    json_object_set_new(o, "kept", json_integer(pg->kept));
    json_object_set_new(o, "reused", json_integer(pg->reused));
    json_object_set_new(o, "created", json_integer(pg->created));
    json_object_set_new(o, "destroyed", json_integer(pg->destroyed));
    json_object_set_new(o, "mig_mode_change", json_boolean(pg->mode_change));
    json_object_set_new(o, "gpu_instances", smi_json_gis(&pg->target));
    return o;
}

static json_t *plan_json(const struct run *rn)
{
    const struct mk_plan *p = rn->plan;
    json_t *o = json_object(), *as = json_array(), *gs = json_array(), *ch = json_object();
    bool optimal = mk_plan_is_optimal(p);
    for (int a = 0; a < p->nassign; a++)
        json_array_append_new(as, assignment_json(rn, &p->assign[a]));
    for (int g = 0; g < p->ngpus; g++)
        json_array_append_new(gs, gpu_json(&p->gpus[g], g));
    json_object_set_new(ch, "kept", json_integer(p->kept));
    json_object_set_new(ch, "reused", json_integer(p->reused));
    json_object_set_new(ch, "created", json_integer(p->created));
    json_object_set_new(ch, "destroyed", json_integer(p->destroyed));
    json_object_set_new(ch, "mig_mode_changes", json_integer(p->mode_changes));
    json_object_set_new(o, "label", json_string(rn->o.label));
    json_object_set_new(o, "fleet_source", json_string(rn->from_backend ? "machine" : "file"));
    json_object_set_new(o, "headroom_ppm", json_integer(p->headroom_ppm));
    json_object_set_new(o, "gpus", json_integer(p->ngpus));
    json_object_set_new(o, "gpus_used", json_integer(p->gpus_used));
    json_object_set_new(o, "lower_bound", json_integer(p->lower_bound));
    json_object_set_new(o, "relaxation_bound", json_integer(p->relaxation_bound));
    json_object_set_new(o, "optimal", json_boolean(optimal));
    json_object_set_new(o, "proof",
                        str_or_null(!optimal        ? NULL
                                    : p->exact_done ? "exhaustive-search"
                                                    : "lower-bound"));
    json_object_set_new(o, "heuristic_gpus", json_integer(p->heuristic_gpus));
    json_object_set_new(o, "search_nodes", json_integer(p->exact_nodes));
    json_object_set_new(o, "replicas", json_integer(p->replicas));
    json_object_set_new(o, "placed", json_integer(p->placed));
    json_object_set_new(o, "unplaced", json_integer(p->replicas - p->placed));
    json_object_set_new(o, "changes", ch);
    json_object_set_new(o, "assignments", as);
    json_object_set_new(o, "devices", gs);
    json_object_set_new(o, "config", str_or_null(rn->yaml));
    json_object_set_new(o, "config_file", str_or_null(rn->o.output));
    return o;
}

/* ---- SVG: each used GPU's memory slices, each GI labelled with its replicas ---- */

/* Geometry in px: 12px monospace text, about 8px per character estimated. */
#define SVG_MARGIN  16
#define SVG_SLICE_W 72 /* one memory slice */
#define SVG_ROW_H   44 /* one GPU's row of slices */
#define SVG_TITLE_H 20 /* its title line */
#define SVG_GAP     12 /* between GPUs */
#define SVG_CHAR_W  8

/* GI fills, cycled (Tango palette, as in `status --svg`). */
static const char *const svg_fill[] = {"#729fcf", "#8ae234", "#fce94f", "#ad7fa8",
                                       "#e9b96e", "#fcaf3e", "#ef2929", "#888a85"};

static void svg_text(FILE *f, int x, int y, const char *extra, const char *s)
{
    fprintf(f, "  <text x=\"%d\" y=\"%d\"%s>", x, y, extra);
    cli_xml_escape(f, s);
    fputs("</text>\n", f);
}

/* One GI: a rectangle over its slices, its ID and profile, and the workloads it serves. */
static void svg_gi(FILE *f, const struct run *rn, int g, const struct mk_gi *gi, int k, int y)
{
    int x = SVG_MARGIN + gi->start * SVG_SLICE_W, w = gi->profile->mem_slices * SVG_SLICE_W;
    char line[MK_NAME_LEN + 32];
    fprintf(f,
            "  <rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
            "stroke=\"#2e3436\"/>\n",
            x, y, w, SVG_ROW_H, svg_fill[k % (int)MK_ELEMENTSOF(svg_fill)]);
    snprintf(line, sizeof(line), "GI %d %s", gi->id, gi->profile->name);
    svg_text(f, x + 4, y + 16, " font-size=\"11\"", line);
    for (int a = 0; a < rn->plan->nassign; a++) {
        const struct mk_plan_assignment *as = &rn->plan->assign[a];
        if (as->gpu != g || as->gi_id != gi->id)
            continue;
        snprintf(line, sizeof(line), "%s #%d", rn->in->workloads[as->workload].name,
                 as->replica + 1);
        svg_text(f, x + 4, y + 34, " font-weight=\"bold\"", line);
    }
}

static void svg_document(FILE *f, const struct run *rn)
{
    const struct mk_plan *p = rn->plan;
    int width = 0, height = SVG_MARGIN, y = SVG_MARGIN;
    for (int g = 0; g < p->ngpus; g++) {
        int w = p->gpus[g].target.model->grid * SVG_SLICE_W;
        width = w > width ? w : width;
        height += p->gpus[g].used ? SVG_TITLE_H + SVG_ROW_H + SVG_GAP : 0;
    }
    width = (width > 60 * SVG_CHAR_W ? width : 60 * SVG_CHAR_W) + 2 * SVG_MARGIN;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" font-family=\"monospace\" font-size=\"12\">\n"
            "  <rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            width, height, width, height);
    for (int g = 0; g < p->ngpus; g++) {
        const struct mk_gpu *t = &p->gpus[g].target;
        char head[sizeof(t->model->name) + MK_NAME_LEN + 32]; /* name, slug, "GPU N: ()" */
        if (!p->gpus[g].used)
            continue;
        snprintf(head, sizeof(head), "GPU %d: %s (%s)", g, t->model->name, t->model->slug);
        svg_text(f, SVG_MARGIN, y + 14, " font-weight=\"bold\"", head);
        y += SVG_TITLE_H;
        for (int s = 0; s < t->model->grid; s++)
            fprintf(f,
                    "  <rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#eeeeec\" "
                    "stroke=\"#babdb6\"/>\n",
                    SVG_MARGIN + s * SVG_SLICE_W, y, SVG_SLICE_W, SVG_ROW_H);
        for (int k = 0; k < t->ngi; k++)
            svg_gi(f, rn, g, &t->gi[k], k, y);
        y += SVG_ROW_H + SVG_GAP;
    }
    fputs("</svg>\n", f);
}

static int svg_write(const struct run *rn)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int r;
    if (!f)
        return -errno;
    svg_document(f, rn);
    if (fclose(f) != 0) {
        free(text);
        return -ENOMEM;
    }
    r = write_atomic(rn->o.svg, text, len);
    free(text);
    return r;
}

/* ---- the command ---- */

/* The plan request from the loaded input and options. */
static int plan(struct run *rn)
{
    struct mk_error err = {0};
    struct mk_plan_request req = {
        .workloads = rn->in->workloads,
        .nworkloads = rn->in->nworkloads,
        .gpus = rn->gpus,
        .ngpus = rn->ngpus,
        .headroom_ppm = rn->o.has_headroom ? rn->o.headroom_ppm : rn->in->headroom_ppm,
        .mode = MK_PLAN_AUTO,
    };
    if (rn->ngpus > MK_CONFIG_MAX_DEVICES && !rn->cli->json)
        return cli_usage_error("plan: the fleet has %d GPUs; a mig-parted configuration "
                               "describes one node of at most %d: use --json for larger "
                               "fleets",
                               rn->ngpus, MK_CONFIG_MAX_DEVICES);
    if (mk_plan_new(&req, &rn->plan, &err) < 0)
        return cli_fail(err.code == -ENOMEM ? 255 : CLI_EXIT_USAGE, "plan: %s", mk_strerror(&err));
    return make_config(rn);
}

static int output(struct run *rn)
{
    FILE *report = rn->o.output || rn->cli->json ? stdout : stderr;
    int r;
    if (rn->o.output && rn->yaml &&
        (r = write_atomic(rn->o.output, rn->yaml, strlen(rn->yaml))) < 0)
        return cli_fail(255, "plan: cannot write %s: %s", rn->o.output, strerror(-r));
    if (rn->o.svg && (r = svg_write(rn)) < 0)
        return cli_fail(255, "plan: cannot write %s: %s", rn->o.svg, strerror(-r));
    if (rn->cli->json) {
        cli_print_json(plan_json(rn));
    } else {
        if (print_report(report, rn) < 0)
            return cli_fail(255, "%s", mk_status_text(-ENOMEM));
        if (rn->o.output)
            fprintf(report,
                    "\nConfiguration written to %s (label %s): apply it with "
                    "'migctl apply -f %s'\n",
                    rn->o.output, rn->o.label, rn->o.output);
        else
            fputs(rn->yaml, stdout);
    }
    return rn->plan->placed == rn->plan->replicas ? 0 : EXIT_UNPLACED;
}

int cmd_plan(struct cli *cli, int argc, char **argv)
{
    struct run rn = {.cli = cli};
    int r;
    if ((r = parse(cli, argc, argv, &rn.o)) != 0)
        return r;
    if ((r = load(&rn)) == 0 && (r = plan(&rn)) == 0)
        r = output(&rn);
    run_free(&rn);
    return r;
}
