/*
 * smi.c - nvidia-smi's MIG tables and their JSON forms.
 *
 * The layouts are those of current drivers (570 and later), column for column:
 * -lgip 81 columns, -lgi 59, -lcip 88, -lci 70 (shared/reference/nvidia-smi-mig-output.md).
 * Row order follows the driver: profiles in the -lgip row order of the model, GIs grouped by
 * profile then by ascending ID, CIs by GI then ID.
 */
#include <string.h>

#include <jansson.h>

#include "cli.h"

/* The memory column: MiB / 1024 with "%.2f", exactly as nvidia-smi prints it (glibc rounds
 * binary halves to even: 21.625 -> "21.62"). */
static void gib(char *buf, size_t len, uint32_t mib)
{
    snprintf(buf, len, "%.2f", (double)mib / 1024.0);
}

static void full_name(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "MIG %s", name);
}

#define LGIP_RULE "+-------------------------------------------------------------------------------+\n"

void smi_print_lgip(FILE *f, const struct mk_gpu *const *gpus, int n)
{
    fputs(LGIP_RULE, f);
    fputs("| GPU instance profiles:                                                        |\n"
          "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |\n"
          "|                                Free/Total   GiB              CE    JPEG  OFA  |\n"
          "|===============================================================================|\n",
          f);
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        for (int k = 0; k < g->model->nprofiles; k++) {
            const struct mk_gi_profile *p = &g->model->profiles[k];
            char name[80], mem[32];
            full_name(name, sizeof(name), p->name);
            gib(mem, sizeof(mem), p->memory_mib);
            fprintf(f, "|%4d  %-18s%4d     %d/%d        %-11s%-7s%-3d%5d%6d   |\n", g->index,
                    name, p->id, mk_gpu_gi_remaining(g, p), p->max, mem, "No", p->sms, p->dec,
                    p->enc);
            fprintf(f, "|%62s%2d%6d%6d   |\n", "", p->ce, p->jpeg, p->ofa);
            fputs(LGIP_RULE, f);
        }
    }
}

void smi_print_lgipp(FILE *f, const struct mk_gpu *const *gpus, int n)
{
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        for (int k = 0; k < g->model->nprofiles; k++) {
            const struct mk_gi_profile *p = &g->model->profiles[k];
            /* Singular "Placement :" (with the space) when there is one placement. */
            fprintf(f, "GPU %2d Profile ID %2d %s {", g->index, p->id,
                    p->nstarts == 1 ? "Placement :" : "Placements:");
            for (int s = 0; s < p->nstarts; s++)
                fprintf(f, "%s%d", s ? "," : "", p->starts[s]);
            fprintf(f, "}:%d\n", p->mem_slices);
        }
    }
}

#define LGI_RULE "+---------------------------------------------------------+\n"

void smi_print_lgi(FILE *f, const struct mk_gpu *const *gpus, int n)
{
    fputs(LGI_RULE, f);
    fputs("| GPU instances:                                          |\n"
          "| GPU   Name               Profile  Instance   Placement  |\n"
          "|                            ID       ID       Start:Size |\n"
          "|=========================================================|\n",
          f);
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order);
        for (int k = 0; k < cnt; k++) {
            const struct mk_gi *gi = &g->gi[order[k]];
            char name[80];
            full_name(name, sizeof(name), gi->profile->name);
            fprintf(f, "|%4d  %-18s%6d%9d%11d:%-6d|\n", g->index, name, gi->profile->id, gi->id,
                    gi->start, gi->profile->mem_slices);
            fputs(LGI_RULE, f);
        }
    }
}

static bool in_filter(int id, const int *filter, int n)
{
    if (!filter)
        return true;
    for (int i = 0; i < n; i++)
        if (filter[i] == id)
            return true;
    return false;
}

char *smi_ci_name(const struct mk_gpu *g, const struct mk_gi *gi, int ci_id, char *buf,
                  size_t len)
{
    const struct mk_ci_profile *cp = mk_model_ci_profile(g->model, ci_id);
    char shortname[MK_NAME_LEN];
    mk_ci_name(gi->profile, cp ? cp->slices : 1, shortname, sizeof(shortname));
    snprintf(buf, len, "MIG %s", shortname);
    return buf;
}

#define LCIP_RULE                                                                             \
    "+--------------------------------------------------------------------------------------+\n"

void smi_print_lcip(FILE *f, const struct mk_gpu *const *gpus, int n, const int *gi_filter,
                    int nfilter)
{
    fputs(LCIP_RULE, f);
    fputs("| Compute instance profiles:                                                           |\n"
          "| GPU     GPU       Name             Profile  Instances   Exclusive       Shared       |\n"
          "|       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  |\n"
          "|         ID                                                          CE    JPEG       |\n"
          "|======================================================================================|\n",
          f);
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order);
        for (int k = 0; k < cnt; k++) {
            const struct mk_gi *gi = &g->gi[order[k]];
            const struct mk_gi_profile *p = gi->profile;
            if (!in_filter(gi->id, gi_filter, nfilter))
                continue;
            for (int c = 0; c < p->nci; c++) {
                const struct mk_ci_profile *cp = mk_model_ci_profile(g->model, p->ci[c]);
                char name[80];
                int total = p->compute_slices / cp->slices;
                smi_ci_name(g, gi, p->ci[c], name, sizeof(name));
                fprintf(f, "|%4d%7d       %-18s%4d%c     %d/%d%11s%-3d%8d%6d%6d   |\n", g->index,
                        gi->id, name, cp->id, cp->id == p->ci_default ? '*' : ' ',
                        mk_gi_ci_remaining(gi, g->model, cp->id), total, "",
                        mk_ci_sms(p, cp->slices, NULL), p->dec, p->enc, p->ofa);
                fprintf(f, "|%71d%6d         |\n", p->ce, p->jpeg);
                fputs(LCIP_RULE, f);
            }
        }
    }
}

#define LCI_RULE "+--------------------------------------------------------------------+\n"

void smi_print_lci(FILE *f, const struct mk_gpu *const *gpus, int n, const int *gi_filter,
                   int nfilter)
{
    fputs(LCI_RULE, f);
    fputs("| Compute instances:                                                 |\n"
          "| GPU     GPU       Name             Profile   Instance   Placement  |\n"
          "|       Instance                       ID        ID       Start:Size |\n"
          "|         ID                                                         |\n"
          "|====================================================================|\n",
          f);
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order);
        for (int k = 0; k < cnt; k++) {
            const struct mk_gi *gi = &g->gi[order[k]];
            int corder[MK_MAX_CIS];
            if (!in_filter(gi->id, gi_filter, nfilter))
                continue;
            /* CIs by ascending ID */
            for (int c = 0; c < gi->nci; c++)
                corder[c] = c;
            for (int a = 1; a < gi->nci; a++)
                for (int b = a; b > 0 && gi->ci[corder[b]].id < gi->ci[corder[b - 1]].id; b--) {
                    int t = corder[b];
                    corder[b] = corder[b - 1];
                    corder[b - 1] = t;
                }
            for (int c = 0; c < gi->nci; c++) {
                const struct mk_ci *ci = &gi->ci[corder[c]];
                char name[80];
                smi_ci_name(g, gi, ci->profile_id, name, sizeof(name));
                fprintf(f, "|%4d%7d       %-18s%4d%10d%11d:%-6d|\n", g->index, gi->id, name,
                        ci->profile_id, ci->id, ci->start, ci->slices);
                fputs(LCI_RULE, f);
            }
        }
    }
}

/* -L: each GPU, then its MIG devices (one per CI) in GI-ID order, CI-ID order. */
void smi_print_list(FILE *f, const struct mk_gpu *const *gpus, int n)
{
    for (int i = 0; i < n; i++) {
        const struct mk_gpu *g = gpus[i];
        int dev = 0;
        fprintf(f, "GPU %d: %s (UUID: %s)\n", g->index, g->model->name, g->uuid);
        for (int id = 0; id < MK_MAX_GIS; id++) {
            const struct mk_gi *gi = mk_gpu_gi_find_const(g, id);
            if (!gi)
                continue;
            for (int cid = 0; cid < MK_MAX_CIS; cid++) {
                for (int c = 0; c < gi->nci; c++) {
                    char name[80];
                    if (gi->ci[c].id != cid)
                        continue;
                    smi_ci_name(g, gi, gi->ci[c].profile_id, name, sizeof(name));
                    fprintf(f, "  %-15s Device %2d: (UUID: %s)\n", name, dev++, gi->ci[c].uuid);
                }
            }
        }
    }
}

/* ---- JSON (docs/json.md) ---- */

static json_t *unverified_json(unsigned mask)
{
    json_t *a = json_array();
    for (int b = 0; b < MK_FIELD__COUNT; b++)
        if (mask & (1u << b))
            json_array_append_new(a, json_string(mk_field_name(b)));
    return a;
}

json_t *smi_json_gpu(const struct mk_gpu *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(g->index));
    json_object_set_new(o, "name", json_string(g->model->name));
    json_object_set_new(o, "model", json_string(g->model->slug));
    json_object_set_new(o, "uuid", json_string(g->uuid));
    json_object_set_new(o, "pci_bus_id", json_string(g->pci_bus_id));
    json_object_set_new(o, "mig_enabled", json_boolean(g->mig_enabled));
    json_object_set_new(o, "memory_mib", json_integer(g->model->memory_mib));
    return o;
}

json_t *smi_json_profiles(const struct mk_gpu *g)
{
    json_t *a = json_array();
    for (int k = 0; k < g->model->nprofiles; k++) {
        const struct mk_gi_profile *p = &g->model->profiles[k];
        json_t *o = json_object(), *starts = json_array();
        char name[80];
        full_name(name, sizeof(name), p->name);
        for (int s = 0; s < p->nstarts; s++)
            json_array_append_new(starts, json_integer(p->starts[s]));
        json_object_set_new(o, "gpu", json_integer(g->index));
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "id", json_integer(p->id));
        json_object_set_new(o, "nvml_profile", json_string(mk_gi_const_name(p->nvml)));
        json_object_set_new(o, "free", json_integer(mk_gpu_gi_remaining(g, p)));
        json_object_set_new(o, "total", json_integer(p->max));
        json_object_set_new(o, "memory_mib", json_integer(p->memory_mib));
        json_object_set_new(o, "memory_slices", json_integer(p->mem_slices));
        json_object_set_new(o, "compute_slices", json_integer(p->compute_slices));
        json_object_set_new(o, "p2p", json_false());
        json_object_set_new(o, "sm", json_integer(p->sms));
        json_object_set_new(o, "dec", json_integer(p->dec));
        json_object_set_new(o, "enc", json_integer(p->enc));
        json_object_set_new(o, "ce", json_integer(p->ce));
        json_object_set_new(o, "jpeg", json_integer(p->jpeg));
        json_object_set_new(o, "ofa", json_integer(p->ofa));
        json_object_set_new(o, "placement_starts", starts);
        json_object_set_new(o, "placement_size", json_integer(p->mem_slices));
        json_object_set_new(o, "unverified", unverified_json(p->unverified));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *ci_json(const struct mk_gpu *g, const struct mk_gi *gi, const struct mk_ci *ci)
{
    json_t *o = json_object();
    char name[80];
    const struct mk_ci_profile *cp = mk_model_ci_profile(g->model, ci->profile_id);
    smi_ci_name(g, gi, ci->profile_id, name, sizeof(name));
    json_object_set_new(o, "gpu", json_integer(g->index));
    json_object_set_new(o, "gpu_instance_id", json_integer(gi->id));
    json_object_set_new(o, "id", json_integer(ci->id));
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "profile_id", json_integer(ci->profile_id));
    json_object_set_new(o, "placement_start", json_integer(ci->start));
    json_object_set_new(o, "placement_size", json_integer(ci->slices));
    json_object_set_new(o, "sm", json_integer(mk_ci_sms(gi->profile, cp ? cp->slices : 1, NULL)));
    json_object_set_new(o, "uuid", json_string(ci->uuid));
    return o;
}

json_t *smi_json_gis(const struct mk_gpu *g)
{
    json_t *a = json_array();
    int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order);
    for (int k = 0; k < cnt; k++) {
        const struct mk_gi *gi = &g->gi[order[k]];
        json_t *o = json_object(), *cis = json_array();
        char name[80];
        full_name(name, sizeof(name), gi->profile->name);
        for (int c = 0; c < gi->nci; c++)
            json_array_append_new(cis, ci_json(g, gi, &gi->ci[c]));
        json_object_set_new(o, "gpu", json_integer(g->index));
        json_object_set_new(o, "id", json_integer(gi->id));
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "profile_id", json_integer(gi->profile->id));
        json_object_set_new(o, "placement_start", json_integer(gi->start));
        json_object_set_new(o, "placement_size", json_integer(gi->profile->mem_slices));
        json_object_set_new(o, "memory_mib", json_integer(gi->profile->memory_mib));
        json_object_set_new(o, "sm", json_integer(gi->profile->sms));
        json_object_set_new(o, "busy", json_boolean(gi->busy));
        json_object_set_new(o, "compute_instances", cis);
        json_array_append_new(a, o);
    }
    return a;
}

json_t *smi_json_ci_profiles(const struct mk_gpu *g, const int *gi_filter, int nfilter)
{
    json_t *a = json_array();
    int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order);
    for (int k = 0; k < cnt; k++) {
        const struct mk_gi *gi = &g->gi[order[k]];
        const struct mk_gi_profile *p = gi->profile;
        if (!in_filter(gi->id, gi_filter, nfilter))
            continue;
        for (int c = 0; c < p->nci; c++) {
            const struct mk_ci_profile *cp = mk_model_ci_profile(g->model, p->ci[c]);
            json_t *o = json_object();
            char name[80];
            bool exact;
            int sms = mk_ci_sms(p, cp->slices, &exact);
            smi_ci_name(g, gi, cp->id, name, sizeof(name));
            json_object_set_new(o, "gpu", json_integer(g->index));
            json_object_set_new(o, "gpu_instance_id", json_integer(gi->id));
            json_object_set_new(o, "name", json_string(name));
            json_object_set_new(o, "id", json_integer(cp->id));
            json_object_set_new(o, "default", json_boolean(cp->id == p->ci_default));
            json_object_set_new(o, "free",
                                json_integer(mk_gi_ci_remaining(gi, g->model, cp->id)));
            json_object_set_new(o, "total", json_integer(p->compute_slices / cp->slices));
            json_object_set_new(o, "sm", json_integer(sms));
            json_object_set_new(o, "sm_unverified", json_boolean(!exact));
            json_object_set_new(o, "dec", json_integer(p->dec));
            json_object_set_new(o, "enc", json_integer(p->enc));
            json_object_set_new(o, "ofa", json_integer(p->ofa));
            json_object_set_new(o, "ce", json_integer(p->ce));
            json_object_set_new(o, "jpeg", json_integer(p->jpeg));
            json_array_append_new(a, o);
        }
    }
    return a;
}

json_t *smi_json_cis(const struct mk_gpu *g, const int *gi_filter, int nfilter)
{
    json_t *a = json_array();
    int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order);
    for (int k = 0; k < cnt; k++) {
        const struct mk_gi *gi = &g->gi[order[k]];
        if (!in_filter(gi->id, gi_filter, nfilter))
            continue;
        for (int c = 0; c < gi->nci; c++)
            json_array_append_new(a, ci_json(g, gi, &gi->ci[c]));
    }
    return a;
}
