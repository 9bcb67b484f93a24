/*
 * soft-view.c - what `migctl -L` and `migctl status` show of software instances beyond the
 * GPU instances every backend has (docs/soft.md).
 *
 * Profile instances are GIs with one CI, so the shared listings already show them. Custom
 * instances (any memory and SM count, no placement) are no GI: -L lists them after the GPU's
 * MIG devices as "MIG custom" devices, numbered on, and status adds a table of every software
 * instance of the GPU (quota, SMs, processes, leased memory) with the guarantees software
 * instances give and do not give. For any other backend these functions print nothing.
 */
#include <jansson.h>

#include "cli.h"
#include "migkit/soft.h"

#define MIB (1024.0 * 1024.0)

/* The software instances of b, or 0 when b is not the soft backend. */
static int instances(const struct mk_backend *b, const struct mk_soft_instance **ret)
{
    int n = b ? mk_soft_instances(b, ret) : -1;
    return n > 0 ? n : 0;
}

/* MIG devices g shows already (one per CI), where -L's numbering of custom ones goes on. */
static int mig_devices(const struct mk_gpu *g)
{
    int n = 0;
    for (int k = 0; k < g->ngi; k++)
        n += g->gi[k].nci;
    return n;
}

void soft_print_list(FILE *f, const struct mk_backend *b, const struct mk_gpu *g)
{
    const struct mk_soft_instance *in;
    int n = instances(b, &in), dev = mig_devices(g);
    for (int i = 0; i < n; i++)
        if (in[i].custom && in[i].gpu == g->index)
            fprintf(f, "  %-15s Device %2d: (UUID: %s)\n", "MIG custom", dev++, in[i].uuid);
}

void soft_json_list(const struct mk_backend *b, const struct mk_gpu *g, json_t *devs)
{
    const struct mk_soft_instance *in;
    int n = instances(b, &in);
    for (int i = 0; i < n; i++) {
        if (!in[i].custom || in[i].gpu != g->index)
            continue;
        json_array_append_new(devs, json_pack("{s:i, s:s, s:b, s:I, s:i, s:s}", "gpu", g->index,
                                              "name", "MIG custom", "custom", 1, "memory_bytes",
                                              (json_int_t)in[i].quota_bytes, "sm", in[i].sms,
                                              "uuid", in[i].uuid));
    }
}

/* "GI 2" or "custom": where an instance sits. */
static const char *where(const struct mk_soft_instance *in, char *buf, size_t len)
{
    if (in->custom)
        return "custom";
    snprintf(buf, len, "GI %d", in->gi_id);
    return buf;
}

/*
 * The software instances of GPU g in the order status shows them: profile instances in the
 * legend's order (nvidia-smi's), then custom ones in creation order. Fills idx[] (room for n)
 * with indexes into in[]; returns the count.
 */
static int status_order(const struct mk_gpu *g, const struct mk_soft_instance *in, int n, int *idx)
{
    int order[MK_MAX_GIS], cnt = mk_gpu_gi_order(g, order), k = 0;
    for (int o = 0; o < cnt; o++)
        for (int i = 0; i < n; i++)
            if (!in[i].custom && in[i].gpu == g->index && in[i].gi_id == g->gi[order[o]].id)
                idx[k++] = i;
    for (int i = 0; i < n; i++)
        if (in[i].custom && in[i].gpu == g->index)
            idx[k++] = i;
    return k;
}

void soft_print_status(FILE *f, const struct mk_backend *b, const struct mk_gpu *g)
{
    const struct mk_soft_instance *in;
    int n = instances(b, &in), shown;
    _cleanup_free_ int *idx = n ? mk__calloc((size_t)n, sizeof(int)) : NULL;
    if (!idx || (shown = status_order(g, in, n, idx)) == 0)
        return;
    fprintf(f, "\n   %-40s  %-7s %12s %5s %10s %12s\n", "SOFTWARE INSTANCE (migd)", "AS", "QUOTA",
            "SMS", "PROCESSES", "LEASED");
    for (int k = 0; k < shown; k++) {
        const struct mk_soft_instance *s = &in[idx[k]];
        char at[16];
        fprintf(f, "   %-40s  %-7s %8.0f MiB %5d %10d %8.0f MiB\n", s->uuid,
                where(s, at, sizeof(at)), (double)s->quota_bytes / MIB, s->sms, s->nprocesses,
                (double)s->leased_bytes / MIB);
    }
    fputs("   Guaranteed: the memory quota of each instance across its processes, and device\n"
          "   identity, in processes started with migctl exec (libmigshim.so). Not\n"
          "   guaranteed: SM confinement (not yet), hardware fault isolation, memory\n"
          "   bandwidth isolation.\n",
          f);
}

void soft_json_status(const struct mk_backend *b, const struct mk_gpu *g, json_t *o)
{
    const struct mk_soft_instance *in;
    int n = instances(b, &in), shown;
    _cleanup_free_ int *idx = NULL;
    json_t *a;
    if (!b || mk_soft_instances(b, &in) < 0)
        return;
    idx = mk__calloc((size_t)n, sizeof(int));
    shown = idx ? status_order(g, in, n, idx) : 0;
    a = json_array();
    for (int k = 0; k < shown; k++) {
        const struct mk_soft_instance *s = &in[idx[k]];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:I, s:i, s:I, s:i, s:i}", "uuid",
                                           s->uuid, "name", s->name, "kind",
                                           s->custom ? "custom" : "profile", "gpu_instance_id",
                                           s->custom ? json_null() : json_integer(s->gi_id),
                                           "quota_bytes", (json_int_t)s->quota_bytes, "sms", s->sms,
                                           "leased_bytes", (json_int_t)s->leased_bytes, "processes",
                                           s->nprocesses, "grants", s->ngrants));
    }
    json_object_set_new(o, "software_instances", a);
    json_object_set_new(o, "guarantees",
                        json_pack("{s:b, s:b, s:b, s:b, s:b}", "memory_quota", 1, "device_identity",
                                  1, "sm_confinement", 0, "fault_isolation", 0,
                                  "memory_bandwidth_isolation", 0));
}
