/*
 * cmd-mig.c - `migctl mig`: nvidia-smi's MIG verbs (-lgip, -lgipp, -cgi [-C], -lgi, -dgi,
 * -lcip, -cci, -lci, -dci), with its messages, row orders and exit statuses.
 *
 * Operations run one at a time in the order given, as the driver runs them: the first failed
 * creation stops the command, earlier ones stay made (and are saved). Destroys go on past a
 * failure and report it at the end. With --json every listing is a JSON array and every
 * create/destroy prints one JSON array of events (docs/json.md).
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

enum action {
    ACT_NONE,
    ACT_LGIP,
    ACT_LGIPP,
    ACT_CGI,
    ACT_LGI,
    ACT_DGI,
    ACT_LCIP,
    ACT_CCI,
    ACT_LCI,
    ACT_DCI,
};

enum {
    OPT_LGIP = OPT__COMMON_END + 1,
    OPT_LGIPP,
    OPT_CGI,
    OPT_LGI,
    OPT_DGI,
    OPT_GI,
    OPT_LCIP,
    OPT_CCI,
    OPT_LCI,
    OPT_DCI,
    OPT_CI,
};

/* Bounds of the ID lists users may pass: GI IDs are 0-14, CI IDs 0-7, and no command
 * needs more than 64 items. */
#define MAX_ITEMS 64

struct mig_opts {
    enum action action;
    const char *list; /* -cgi LIST or -cci LIST */
    bool default_ci;  /* -C */
    int gi[MAX_ITEMS];
    int ngi; /* 0: no -gi given */
    int ci[MAX_ITEMS];
    int nci; /* 0: no -ci given */
};

/* Output sink: nvidia-smi's lines, or JSON events collected into one array. */
struct out {
    struct cli *cli;
    json_t *events;
};

static void event(struct out *o, const char *kind, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void event(struct out *o, const char *kind, json_t *fields, const char *fmt, ...)
{
    va_list ap;
    if (o->cli->json) {
        json_t *e = fields ? fields : json_object();
        char msg[512];
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object_set_new(e, "event", json_string(kind));
        json_object_set_new(e, "message", json_string(msg));
        json_array_append_new(o->events, e);
        return;
    }
    json_decref(fields);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- GPU selection ---- */

/* Collects the GPUs the command acts on (-i, or all). mig_only drops GPUs with MIG mode
 * off. Returns the count, or -1 after printing nvidia-smi's message. */
static int select_gpus(struct cli *cli, struct mk_backend *b, bool mig_only,
                       const struct mk_gpu **out)
{
    int n = 0, total = mk_backend_gpu_count(b);
    if (cli->gpu >= total) {
        printf("No devices were found\n");
        return -1;
    }
    for (int i = 0; i < total; i++) {
        const struct mk_gpu *g = mk_backend_gpu(b, i);
        /* A GPU without MIG (an L4 through NVML) has no profiles at all. */
        if ((cli->gpu < 0 || cli->gpu == i) && g->model->nprofiles > 0 &&
            (!mig_only || g->mig_enabled))
            out[n++] = g;
    }
    if (n == 0) {
        bool capable = false;
        for (int i = 0; i < total; i++)
            capable = capable || ((cli->gpu < 0 || cli->gpu == i) &&
                                  mk_backend_gpu(b, i)->model->nprofiles > 0);
        printf("%s\n", !capable   ? "No MIG-supported devices found."
                        : mig_only ? "No MIG-enabled devices found."
                                   : "No devices were found");
        return -1;
    }
    return n;
}

/* ---- listings ---- */

static bool any_gi(const struct mk_gpu *const *gpus, int n, const int *filter, int nfilter)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < gpus[i]->ngi; k++) {
            bool match = !filter;
            for (int f = 0; filter && f < nfilter; f++)
                match = match || filter[f] == gpus[i]->gi[k].id;
            if (match)
                return true;
        }
    return false;
}

static bool any_ci(const struct mk_gpu *const *gpus, int n, const int *filter, int nfilter)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < gpus[i]->ngi; k++) {
            bool match = !filter;
            for (int f = 0; filter && f < nfilter; f++)
                match = match || filter[f] == gpus[i]->gi[k].id;
            if (match && gpus[i]->gi[k].nci > 0)
                return true;
        }
    return false;
}

static int list_json(const struct mk_gpu *const *gpus, int n, enum action a, const int *filter,
                     int nfilter)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *part = NULL;
        switch (a) {
        case ACT_LGIP:
        case ACT_LGIPP:
            part = smi_json_profiles(gpus[i]);
            break;
        case ACT_LGI:
            part = smi_json_gis(gpus[i]);
            break;
        case ACT_LCIP:
            part = smi_json_ci_profiles(gpus[i], filter, nfilter);
            break;
        default:
            part = smi_json_cis(gpus[i], filter, nfilter);
            break;
        }
        json_array_extend(arr, part);
        json_decref(part);
    }
    cli_print_json(arr);
    return 0;
}

static int do_list(struct cli *cli, struct mig_opts *o)
{
    const struct mk_gpu *gpus[64];
    struct mk_backend *b = cli_backend(cli, false);
    const int *filter = o->ngi ? o->gi : NULL;
    bool profiles = o->action == ACT_LGIP || o->action == ACT_LGIPP;
    int n;
    if (!b)
        return cli->backend_exit;
    /* Profiles and placements exist whatever the MIG mode (NVML answers "regardless of
     * whether MIG is enabled"); instances need MIG mode. */
    if ((n = select_gpus(cli, b, !profiles, gpus)) < 0)
        return 6;
    if (cli->json)
        return list_json(gpus, n, o->action, filter, o->ngi);
    switch (o->action) {
    case ACT_LGIP:
        smi_print_lgip(stdout, gpus, n);
        return 0;
    case ACT_LGIPP:
        smi_print_lgipp(stdout, gpus, n);
        return 0;
    case ACT_LGI:
    case ACT_LCIP:
        if (!any_gi(gpus, n, filter, o->ngi)) {
            printf("No GPU instances found: Not Found\n");
            return 6;
        }
        if (o->action == ACT_LGI)
            smi_print_lgi(stdout, gpus, n);
        else
            smi_print_lcip(stdout, gpus, n, filter, o->ngi);
        return 0;
    default:
        if (!any_ci(gpus, n, filter, o->ngi)) {
            printf("No compute instances found: Not Found\n");
            return 6;
        }
        smi_print_lci(stdout, gpus, n, filter, o->ngi);
        return 0;
    }
}

/* ---- creation ---- */

/* Splits a -cgi item "PROFILE[:START]" and resolves it on model m. Returns the profile or
 * NULL (Invalid Argument); *start is -1 when no placement was given. */
static const struct mk_gi_profile *parse_gi_item(const struct mk_model *m, const char *item,
                                                 int *start)
{
    char buf[128];
    char *colon;
    int id;
    if (strlen(item) >= sizeof(buf) || !*item)
        return NULL;
    memcpy(buf, item, strlen(item) + 1);
    *start = -1;
    if ((colon = strrchr(buf, ':'))) {
        *colon = '\0';
        if (!cli_parse_uint(colon + 1, MK_MAX_STARTS, start))
            return NULL;
    }
    if (cli_parse_uint(buf, 255, &id))
        return mk_model_profile_by_id(m, id);
    return mk_model_profile_by_name(m, buf);
}

/* Splits a comma-separated list into items (in place in buf). */
static int split_list(char *buf, char **items, int max)
{
    int n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (n >= max)
            return -1;
        items[n++] = p;
        if (!comma)
            return n;
        *comma = '\0';
        p = comma + 1;
    }
}

static json_t *ids(int gpu, int gi, int ci)
{
    json_t *o = json_object();
    json_object_set_new(o, "gpu", json_integer(gpu));
    if (gi >= 0)
        json_object_set_new(o, "gpu_instance_id", json_integer(gi));
    if (ci >= 0)
        json_object_set_new(o, "compute_instance_id", json_integer(ci));
    return o;
}

/* Creates the default CI of a new GI (-C) and reports it. */
static int create_default_ci(struct out *out, struct mk_backend *b, int gpu, int gi_id)
{
    const struct mk_gpu *g = mk_backend_gpu(b, gpu);
    const struct mk_gi *gi = mk_gpu_gi_find_const(g, gi_id);
    struct mk_error err = {0};
    char name[80];
    int ci_id, r, prof = gi->profile->ci_default;
    smi_ci_name(g, gi, prof, name, sizeof(name));
    if ((r = mk_backend_ci_create(b, gpu, gi_id, prof, &ci_id, &err)) < 0) {
        event(out, "error", ids(gpu, gi_id, -1),
              "Unable to create a compute instance on GPU %2d GPU instance ID %2d using "
              "profile %d: %s",
              gpu, gi_id, prof, mk_status_text(r));
        event(out, "error", NULL, "Failed to create compute instances: %s", mk_status_text(r));
        return r;
    }
    event(out, "created_compute_instance", ids(gpu, gi_id, ci_id),
          "Successfully created compute instance ID %2d on GPU %2d GPU instance ID %2d using "
          "profile %s (ID %2d)",
          ci_id, gpu, gi_id, name, prof);
    return 0;
}

static int create_gis_on(struct out *out, struct mk_backend *b, int gpu, char **items, int n,
                         bool default_ci)
{
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = mk_backend_gpu(b, gpu);
        struct mk_error err = {0};
        int start, gi_id, r;
        const struct mk_gi_profile *p = parse_gi_item(g->model, items[i], &start);
        r = p ? mk_backend_gi_create(b, gpu, p, start, &gi_id, &err) : -EINVAL;
        if (r < 0) {
            event(out, "error", ids(gpu, -1, -1),
                  "Unable to create a GPU instance on GPU %2d using profile %s: %s", gpu,
                  items[i], mk_status_text(r));
            event(out, "error", NULL, "Failed to create GPU instances: %s", mk_status_text(r));
            return r;
        }
        event(out, "created_gpu_instance", ids(gpu, gi_id, -1),
              "Successfully created GPU instance ID %2d on GPU %2d using profile MIG %s (ID %2d)",
              gi_id, gpu, p->name, p->id);
        if (default_ci && (r = create_default_ci(out, b, gpu, gi_id)) < 0)
            return r;
    }
    return 0;
}

/* Resolves a -cci item on GI gi: a CI profile ID the GI offers, or its name. */
static int parse_ci_item(const struct mk_gpu *g, const struct mk_gi *gi, const char *item)
{
    int id;
    if (cli_parse_uint(item, 255, &id))
        return id;
    for (int k = 0; k < gi->profile->nci; k++) {
        char name[80];
        smi_ci_name(g, gi, gi->profile->ci[k], name, sizeof(name));
        if (!strcmp(item, name) || !strcmp(item, name + 4))
            return gi->profile->ci[k];
    }
    return -1;
}

static int create_ci_in(struct out *out, struct mk_backend *b, int gpu, int gi_id,
                        const char *item)
{
    const struct mk_gpu *g = mk_backend_gpu(b, gpu);
    const struct mk_gi *gi = mk_gpu_gi_find_const(g, gi_id);
    struct mk_error err = {0};
    char name[80], shown[80];
    int prof, ci_id, r;
    if (!gi) {
        r = -ENOENT;
        snprintf(shown, sizeof(shown), "%s", item ? item : "default");
    } else {
        prof = item ? parse_ci_item(g, gi, item) : gi->profile->ci_default;
        snprintf(shown, sizeof(shown), "%s", item ? item : "");
        if (!item)
            snprintf(shown, sizeof(shown), "%d", prof);
        r = prof < 0 ? -EINVAL : mk_backend_ci_create(b, gpu, gi_id, prof, &ci_id, &err);
    }
    if (r < 0) {
        event(out, "error", ids(gpu, gi_id, -1),
              "Unable to create a compute instance on GPU %2d GPU instance ID %2d using "
              "profile %s: %s",
              gpu, gi_id, shown, mk_status_text(r));
        event(out, "error", NULL, "Failed to create compute instances: %s", mk_status_text(r));
        return r;
    }
    smi_ci_name(g, gi, prof, name, sizeof(name));
    event(out, "created_compute_instance", ids(gpu, gi_id, ci_id),
          "Successfully created compute instance ID %2d on GPU %2d GPU instance ID %2d using "
          "profile %s (ID %2d)",
          ci_id, gpu, gi_id, name, prof);
    return 0;
}

/* Without -gi the driver picks a GPU instance: the first (by ID) where the CI fits. */
static int pick_gi(const struct mk_gpu *g, const char *item)
{
    for (int id = 0; id < MK_MAX_GIS; id++) {
        const struct mk_gi *gi = mk_gpu_gi_find_const(g, id);
        int prof;
        if (!gi)
            continue;
        prof = item ? parse_ci_item(g, gi, item) : gi->profile->ci_default;
        if (prof >= 0 && mk_gi_ci_remaining(gi, g->model, prof) > 0)
            return id;
    }
    for (int id = 0; id < MK_MAX_GIS; id++)
        if (mk_gpu_gi_find_const(g, id))
            return id; /* nothing fits: report on the first GI */
    return -1;
}

static int create_cis_on(struct out *out, struct mk_backend *b, int gpu, struct mig_opts *o,
                         char **items, int n)
{
    int r;
    if (o->ngi == 0 && mk_backend_gpu(b, gpu)->ngi == 0) {
        event(out, "error", ids(gpu, -1, -1), "No GPU instances found: Not Found");
        return -ENOENT;
    }
    for (int k = 0; k < (o->ngi ? o->ngi : 1); k++) {
        for (int i = 0; i < (n ? n : 1); i++) {
            const char *item = n ? items[i] : NULL;
            int gi = o->ngi ? o->gi[k] : pick_gi(mk_backend_gpu(b, gpu), item);
            if ((r = create_ci_in(out, b, gpu, gi, item)) < 0)
                return r;
        }
    }
    return 0;
}

/* ---- destruction ---- */

static int destroy_gis_on(struct out *out, struct mk_backend *b, int gpu, struct mig_opts *o,
                          int *last_err)
{
    int targets[MK_MAX_GIS + MAX_ITEMS], n = 0;
    const struct mk_gpu *g = mk_backend_gpu(b, gpu);
    if (o->ngi) {
        memcpy(targets, o->gi, (size_t)o->ngi * sizeof(int));
        n = o->ngi;
    } else {
        for (int id = 0; id < MK_MAX_GIS; id++)
            if (mk_gpu_gi_find_const(g, id))
                targets[n++] = id;
    }
    for (int i = 0; i < n; i++) {
        struct mk_error err = {0};
        int r = mk_backend_gi_destroy(b, gpu, targets[i], &err);
        if (r < 0) {
            event(out, "error", ids(gpu, targets[i], -1),
                  "Unable to destroy GPU instance ID %2d from GPU %2d: %s", targets[i], gpu,
                  mk_status_text(r));
            *last_err = r;
            continue;
        }
        event(out, "destroyed_gpu_instance", ids(gpu, targets[i], -1),
              "Successfully destroyed GPU instance ID %2d from GPU %2d", targets[i], gpu);
    }
    return n;
}

static bool listed(const int *list, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

static int destroy_cis_on(struct out *out, struct mk_backend *b, int gpu, struct mig_opts *o,
                          int *last_err)
{
    int done = 0;
    /* GIs by ascending ID; explicit -gi/-ci IDs that do not exist are reported. */
    for (int id = 0; id < MK_MAX_GIS; id++) {
        const struct mk_gi *gi = mk_gpu_gi_find_const(mk_backend_gpu(b, gpu), id);
        if (!gi || (o->ngi && !listed(o->gi, o->ngi, id)))
            continue;
        for (int cid = 0; cid < MK_MAX_CIS; cid++) {
            struct mk_error err = {0};
            bool exists = false;
            int r;
            gi = mk_gpu_gi_find_const(mk_backend_gpu(b, gpu), id);
            for (int c = 0; c < gi->nci; c++)
                exists = exists || gi->ci[c].id == cid;
            if (!exists || (o->nci && !listed(o->ci, o->nci, cid)))
                continue;
            done++;
            if ((r = mk_backend_ci_destroy(b, gpu, id, cid, &err)) < 0) {
                event(out, "error", ids(gpu, id, cid),
                      "Unable to destroy compute instance ID %2d from GPU %2d GPU instance ID "
                      "%2d: %s",
                      cid, gpu, id, mk_status_text(r));
                *last_err = r;
                continue;
            }
            event(out, "destroyed_compute_instance", ids(gpu, id, cid),
                  "Successfully destroyed compute instance ID %2d from GPU %2d GPU instance ID "
                  "%2d",
                  cid, gpu, id);
        }
    }
    return done;
}

/* ---- the changing actions ---- */

/* Bad input changes nothing: every -cgi item must name a profile (and a possible placement)
 * of each GPU it is for, and every -cci item a CI profile of each GI named by -gi, before the
 * first operation runs. Running out of room midway is not bad input: the driver keeps what it
 * made, and so does migctl. Returns 0, or the failure after printing it. */
static int ci_item_check(const struct mk_gpu *g, const struct mk_gi *gi, const char *item)
{
    int prof;
    if (!gi)
        return -ENOENT;
    if (!item)
        return 0;
    prof = parse_ci_item(g, gi, item);
    return prof < 0 || mk_gi_ci_remaining(gi, g->model, prof) < 0 ? -EINVAL : 0;
}

static int validate(struct out *out, const struct mk_gpu **gpus, int n, struct mig_opts *o,
                    char **items, int nitems)
{
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        for (int k = 0; k < nitems && o->action == ACT_CGI; k++) {
            int start;
            const struct mk_gi_profile *p = parse_gi_item(g->model, items[k], &start);
            if (!p || (start >= 0 && mk_gpu_gi_check(g, p, start) == -EINVAL)) {
                event(out, "error", ids(g->index, -1, -1),
                      "Unable to create a GPU instance on GPU %2d using profile %s: %s",
                      g->index, items[k], mk_status_text(-EINVAL));
                event(out, "error", NULL, "Failed to create GPU instances: %s",
                      mk_status_text(-EINVAL));
                return -EINVAL;
            }
        }
        for (int j = 0; j < nitems && o->action == ACT_CCI && o->ngi == 0; j++) {
            /* Without -gi the driver picks the GI; the item must suit one of them. */
            bool ok = false;
            for (int k = 0; k < g->ngi && !ok; k++)
                ok = ci_item_check(g, &g->gi[k], items[j]) == 0;
            if (!ok && g->ngi > 0) {
                event(out, "error", ids(g->index, -1, -1),
                      "Unable to create a compute instance on GPU %2d using profile %s: %s",
                      g->index, items[j], mk_status_text(-EINVAL));
                event(out, "error", NULL, "Failed to create compute instances: %s",
                      mk_status_text(-EINVAL));
                return -EINVAL;
            }
        }
        for (int k = 0; k < o->ngi && o->action == ACT_CCI; k++) {
            const struct mk_gi *gi = mk_gpu_gi_find_const(g, o->gi[k]);
            for (int j = 0; j < (nitems ? nitems : 1); j++) {
                int r = ci_item_check(g, gi, nitems ? items[j] : NULL);
                if (r < 0) {
                    event(out, "error", ids(g->index, o->gi[k], -1),
                          "Unable to create a compute instance on GPU %2d GPU instance ID %2d "
                          "using profile %s: %s",
                          g->index, o->gi[k], nitems ? items[j] : "default", mk_status_text(r));
                    event(out, "error", NULL, "Failed to create compute instances: %s",
                          mk_status_text(r));
                    return r;
                }
            }
        }
    }
    return 0;
}

static int finish(struct cli *cli, struct out *out, struct mk_backend *b, int r)
{
    struct mk_error err = {0};
    int c = mk_backend_commit(b, &err);
    if (cli->json)
        cli_print_json(out->events);
    else
        json_decref(out->events);
    if (c < 0)
        return cli_fail(255, "cannot save the new state: %s", mk_strerror(&err));
    return r < 0 ? mk_status_exit_code(r) : 0;
}

static int do_change(struct cli *cli, struct mig_opts *o)
{
    const struct mk_gpu *gpus[64];
    struct out out = {cli, json_array()};
    struct mk_backend *b = cli_backend(cli, true);
    char buf[1024], *items[MAX_ITEMS];
    int n, nitems = 0, r = 0, done = 0;
    if (!b) {
        json_decref(out.events);
        return cli->backend_exit;
    }
    if ((n = select_gpus(cli, b, true, gpus)) < 0) {
        json_decref(out.events);
        return 6;
    }
    if (o->list) {
        if (strlen(o->list) >= sizeof(buf) ||
            (nitems = split_list(memcpy(buf, o->list, strlen(o->list) + 1), items,
                                 MAX_ITEMS)) < 0) {
            json_decref(out.events);
            return cli_usage_error("too many items in \"%s\"", o->list);
        }
    }
    if (o->action == ACT_CGI || o->action == ACT_CCI)
        r = validate(&out, gpus, n, o, items, nitems);
    for (int i = 0; i < n && r >= 0; i++) {
        int gpu = gpus[i]->index;
        if (o->action == ACT_CGI)
            r = create_gis_on(&out, b, gpu, items, nitems, o->default_ci);
        else if (o->action == ACT_CCI)
            r = create_cis_on(&out, b, gpu, o, items, nitems);
        else if (o->action == ACT_DGI)
            done += destroy_gis_on(&out, b, gpu, o, &r);
        else
            done += destroy_cis_on(&out, b, gpu, o, &r);
    }
    if ((o->action == ACT_DGI || o->action == ACT_DCI) && done == 0 && r == 0) {
        event(&out, "error", NULL,
              o->action == ACT_DGI ? "No GPU instances found: Not Found"
                                   : "No compute instances found: Not Found");
        r = -ENOENT;
    } else if (o->action == ACT_DGI && r < 0) {
        event(&out, "error", NULL, "Failed to destroy GPU instances: %s", mk_status_text(r));
    } else if (o->action == ACT_DCI && r < 0) {
        event(&out, "error", NULL, "Failed to destroy compute instances: %s",
              mk_status_text(r));
    }
    return finish(cli, &out, b, r);
}

/* ---- options ---- */

static void usage(void)
{
    fputs("Usage: migctl mig [-i N] ACTION [OPTIONS]\n"
          "  -lgip,  --list-gpu-instance-profiles\n"
          "  -lgipp, --list-gpu-instance-possible-placements\n"
          "  -cgi,   --create-gpu-instance LIST   IDs, 3g.40gb, \"MIG 3g.40gb\", ID:START\n"
          "  -C,     --default-compute-instance   with -cgi: also create the default CI\n"
          "  -lgi,   --list-gpu-instances\n"
          "  -dgi,   --destroy-gpu-instance       [-gi IDS]\n"
          "  -lcip,  --list-compute-instance-profiles [-gi IDS]\n"
          "  -cci,   --create-compute-instance [LIST] [-gi IDS]\n"
          "  -lci,   --list-compute-instances     [-gi IDS]\n"
          "  -dci,   --destroy-compute-instance   [-ci IDS] [-gi IDS]\n"
          "  -gi,    --gpu-instance-id IDS;  -ci, --compute-instance-id IDS\n"
          "  --json  machine-readable output\n",
          stdout);
}

static int set_action(struct mig_opts *o, enum action a, const char *name)
{
    if (o->action != ACT_NONE && o->action != a)
        return cli_usage_error("mig: %s cannot be combined with another action", name);
    o->action = a;
    return 0;
}

static int parse(struct cli *cli, int argc, char **argv, struct mig_opts *o)
{
    static const struct option longopts[] = {
        {"lgip", no_argument, NULL, OPT_LGIP},
        {"list-gpu-instance-profiles", no_argument, NULL, OPT_LGIP},
        {"lgipp", no_argument, NULL, OPT_LGIPP},
        {"list-gpu-instance-possible-placements", no_argument, NULL, OPT_LGIPP},
        {"cgi", required_argument, NULL, OPT_CGI},
        {"create-gpu-instance", required_argument, NULL, OPT_CGI},
        {"C", no_argument, NULL, 'C'},
        {"default-compute-instance", no_argument, NULL, 'C'},
        {"lgi", no_argument, NULL, OPT_LGI},
        {"list-gpu-instances", no_argument, NULL, OPT_LGI},
        {"dgi", no_argument, NULL, OPT_DGI},
        {"destroy-gpu-instance", no_argument, NULL, OPT_DGI},
        {"gi", required_argument, NULL, OPT_GI},
        {"gpu-instance-id", required_argument, NULL, OPT_GI},
        {"lcip", no_argument, NULL, OPT_LCIP},
        {"list-compute-instance-profiles", no_argument, NULL, OPT_LCIP},
        {"cci", optional_argument, NULL, OPT_CCI},
        {"create-compute-instance", optional_argument, NULL, OPT_CCI},
        {"lci", no_argument, NULL, OPT_LCI},
        {"list-compute-instances", no_argument, NULL, OPT_LCI},
        {"dci", no_argument, NULL, OPT_DCI},
        {"destroy-compute-instance", no_argument, NULL, OPT_DCI},
        {"ci", required_argument, NULL, OPT_CI},
        {"compute-instance-id", required_argument, NULL, OPT_CI},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long_only(argc, argv, "+:hCi:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'h':
            usage();
            return -1;
        case 'C':
            o->default_ci = true;
            break;
        case OPT_LGIP:
            r = set_action(o, ACT_LGIP, "-lgip");
            break;
        case OPT_LGIPP:
            r = set_action(o, ACT_LGIPP, "-lgipp");
            break;
        case OPT_CGI:
            r = set_action(o, ACT_CGI, "-cgi");
            o->list = optarg;
            break;
        case OPT_LGI:
            r = set_action(o, ACT_LGI, "-lgi");
            break;
        case OPT_DGI:
            r = set_action(o, ACT_DGI, "-dgi");
            break;
        case OPT_LCIP:
            r = set_action(o, ACT_LCIP, "-lcip");
            break;
        case OPT_CCI:
            r = set_action(o, ACT_CCI, "-cci");
            /* nvidia-smi's list after -cci is optional and separate: take the next word
             * when it is not an option. */
            o->list = optarg;
            if (!optarg && optind < argc && argv[optind][0] != '-')
                o->list = argv[optind++];
            break;
        case OPT_LCI:
            r = set_action(o, ACT_LCI, "-lci");
            break;
        case OPT_DCI:
            r = set_action(o, ACT_DCI, "-dci");
            break;
        case OPT_GI:
            if (!cli_parse_uint_list(optarg, MK_MAX_GIS - 1, o->gi, MAX_ITEMS, &o->ngi))
                return cli_usage_error("-gi: expected GPU instance IDs (0-14), got \"%s\"",
                                       optarg);
            break;
        case OPT_CI:
            if (!cli_parse_uint_list(optarg, MK_MAX_CIS - 1, o->ci, MAX_ITEMS, &o->nci))
                return cli_usage_error("-ci: expected compute instance IDs (0-7), got \"%s\"",
                                       optarg);
            break;
        case ':':
            return cli_usage_error("mig: option %s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("mig: unknown option \"%s\"", argv[optind - 1]);
        }
        if (r)
            return r;
    }
    if (optind < argc)
        return cli_usage_error("mig: unexpected argument \"%s\"", argv[optind]);
    if (o->action == ACT_NONE)
        return cli_usage_error("mig: no action given (for example -lgip or -cgi)");
    if (o->default_ci && o->action != ACT_CGI)
        return cli_usage_error("mig: -C only goes with -cgi");
    if (o->nci && o->action != ACT_DCI)
        return cli_usage_error("mig: -ci only goes with -dci");
    if (o->ngi && (o->action == ACT_LGIP || o->action == ACT_LGIPP || o->action == ACT_CGI ||
                   o->action == ACT_LGI))
        return cli_usage_error("mig: -gi does not go with this action");
    return 0;
}

int cmd_mig(struct cli *cli, int argc, char **argv)
{
    struct mig_opts o = {0};
    int r = parse(cli, argc, argv, &o);
    if (r)
        return r < 0 ? 0 : r;
    switch (o.action) {
    case ACT_LGIP:
    case ACT_LGIPP:
    case ACT_LGI:
    case ACT_LCIP:
    case ACT_LCI:
        return do_list(cli, &o);
    default:
        return do_change(cli, &o);
    }
}
