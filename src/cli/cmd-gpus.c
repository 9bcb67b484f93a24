/*
 * cmd-gpus.c - `migctl gpus [--model SLUG] [--json]`: the GPU catalog as the user sees it.
 *
 * Without --model: one row per model (slug, product name, grid, compute slices, max GIs,
 * memory, profile count) with a `?` where anything in the model is unverified. With --model:
 * the model's facts, its profile tables, every unverified value marked with a trailing `?`,
 * an "Unverified:" section naming the fields per profile, and the model's notes. Only the
 * catalog is needed; no backend is opened.
 *
 * JSON (for docs/json.md). Field names follow the catalog file format (docs/catalog.md).
 *
 *   `migctl gpus --json`: an array of model summaries:
 *     slug, name, arch, chip, grid, compute_slices, max_gis, memory_mib, sm_total,
 *     gi_profile_count (number of GI profiles), unverified (model-level field names),
 *     has_unverified (true when any value of the model or its profiles is unverified,
 *     GI IDs of a pcie_board included)
 *
 *   `migctl gpus --model SLUG --json`: one object, the full model:
 *     slug, name, names_alt [], pci_device_ids ["0x233010DE"], arch, chip,
 *     compute_capability, min_driver, memory_mib, name_base_gib, sm_total, grid,
 *     compute_slices, max_gis, gi_id_unit, pcie_board,
 *     gi_ids_unverified (pcie_board, or "gi_ids" in unverified),
 *     unverified [field names], notes [strings],
 *     ci_profiles [{id, slices}],
 *     gi_profiles [{name, id, nvml ("1_SLICE_REV2"), media ("plain" | "me" | "all_me" |
 *       "no_me"), mem_slices, compute_slices, sms, memory_mib, dec, enc, ce, jpeg, ofa, max,
 *       starts [], auto_order [], ci [], ci_default, memory_mib_alt [{mib, note}],
 *       names_alt [], unverified [field names]}]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

/* The legend of the `?` marker, printed under every table that uses it. */
#define UNVERIFIED_LEGEND "? = inferred, not observed on hardware (unverified)"

/* Long-option value of --model, above the common options' range. */
enum { OPT_MODEL = OPT__COMMON_END + 1 };

/* ---- a small text table ---- */

/* The widest cell: the memory-alternatives column joins up to MK_MAX_ALTS notes of 96
 * characters each, plus their MiB values and separators. */
#define TABLE_CELL     512
#define TABLE_MAX_COLS 16

/*
 * A table built cell by cell and printed with each column as wide as its widest cell. Row 0
 * is the header. Cells live in one heap block of nrows * ncols fixed-size strings, so a
 * table of any number of models (a --catalog may add many) costs one allocation.
 */
struct table {
    int nrows, ncols;
    bool right[TABLE_MAX_COLS]; /* right-aligned column (numbers) */
    char *cells;
};

static bool table_init(struct table *t, int nrows, int ncols)
{
    memset(t, 0, sizeof(*t));
    t->nrows = nrows;
    t->ncols = ncols;
    t->cells = mk__calloc((size_t)nrows * (size_t)ncols, TABLE_CELL);
    return t->cells != NULL;
}

static void table_free(struct table *t)
{
    mk__free(t->cells);
    t->cells = NULL;
}

static char *cell(struct table *t, int row, int col)
{
    return t->cells + ((size_t)row * (size_t)t->ncols + (size_t)col) * TABLE_CELL;
}

/* Formats into cell (row, col) and appends the `?` marker when the value is unverified. */
static void __attribute__((format(printf, 5, 6)))
cellf(struct table *t, int row, int col, bool unverified, const char *fmt, ...)
{
    char *c = cell(t, row, col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c, TABLE_CELL, fmt, ap);
    va_end(ap);
    if (unverified) {
        size_t n = strlen(c);
        if (n + 1 < TABLE_CELL) {
            c[n] = '?';
            c[n + 1] = '\0';
        }
    }
}

static bool ends_with_mark(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '?';
}

/*
 * Prints t with a two-space indent and two spaces between columns. In a right-aligned
 * column that holds any `?`, unmarked cells get a blank in the marker's place so the digits
 * stay aligned. Trailing blanks are never printed.
 */
static void table_print(FILE *f, struct table *t)
{
    int width[TABLE_MAX_COLS] = {0};
    bool marked[TABLE_MAX_COLS] = {false};
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            int n = (int)strlen(cell(t, r, c));
            width[c] = n > width[c] ? n : width[c];
            marked[c] = marked[c] || (r > 0 && ends_with_mark(cell(t, r, c)));
        }
    for (int r = 0; r < t->nrows; r++) {
        char line[TABLE_MAX_COLS * (TABLE_CELL + 3)];
        size_t at = 0;
        for (int c = 0; c < t->ncols; c++) {
            const char *s = cell(t, r, c);
            const char *pad = t->right[c] && marked[c] && !ends_with_mark(s) && r > 0 ? " " : "";
            char v[TABLE_CELL + 1];
            snprintf(v, sizeof(v), "%s%s", s, pad);
            at += (size_t)snprintf(line + at, sizeof(line) - at, t->right[c] ? "  %*s" : "  %-*s",
                                   width[c], v);
        }
        while (at > 0 && line[at - 1] == ' ')
            at--;
        line[at] = '\0';
        fprintf(f, "%s\n", line);
    }
}

/* ---- facts shared by text and JSON ---- */

/* GI IDs are the binary-tree model's; PCIe boards number them differently (docs). */
static bool gi_ids_unverified(const struct mk_model *m)
{
    return m->pcie_board || (m->unverified & MK_FIELD(GI_IDS));
}

static bool model_has_unverified(const struct mk_model *m)
{
    if (m->unverified || gi_ids_unverified(m))
        return true;
    for (int k = 0; k < m->nprofiles; k++)
        if (m->profiles[k].unverified)
            return true;
    return false;
}

static const char *media_name(enum mk_media_class c)
{
    switch (c) {
    case MK_MEDIA_ME:
        return "me";
    case MK_MEDIA_ALL_ME:
        return "all_me";
    case MK_MEDIA_NO_ME:
        return "no_me";
    case MK_MEDIA_PLAIN:
        break;
    }
    return "plain";
}

/* Writes "a, b, c" of the field names in mask into buf (empty when mask is 0). */
static char *field_list(unsigned mask, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int b = 0; b < MK_FIELD__COUNT && at < len; b++)
        if (mask & (1u << b))
            at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", mk_field_name(b));
    return buf;
}

/* Writes "a,b,c" of n integers into buf; the entry equal to star (if any) gets a '*'. */
static char *int_list(const int *v, int n, int star, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%d%s", i ? "," : "", v[i],
                               v[i] == star ? "*" : "");
    return buf;
}

/* ---- the model list ---- */

/*
 * `migctl gpus`: one row per model, sorted by slug (the catalog's order). The last column
 * holds `?` when anything in the model is unverified.
 */
static int print_models(const struct mk_catalog *cat)
{
    static const char *const head[] = {"SLUG",    "NAME",       "GRID",     "COMPUTE",
                                       "MAX GIS", "MEMORY GIB", "PROFILES", "UNVERIFIED"};
    const int ncols = (int)MK_ELEMENTSOF(head);
    int n = (int)mk_catalog_count(cat);
    struct table t;
    if (!table_init(&t, n + 1, ncols))
        return cli_fail(255, "%s", mk_status_text(-ENOMEM));
    for (int c = 0; c < ncols; c++) {
        cellf(&t, 0, c, false, "%s", head[c]);
        t.right[c] = c >= 2 && c <= 6;
    }
    for (int i = 0; i < n; i++) {
        const struct mk_model *m = mk_catalog_at(cat, (size_t)i);
        cellf(&t, i + 1, 0, false, "%s", m->slug);
        cellf(&t, i + 1, 1, m->unverified & MK_FIELD(NAME), "%s", m->name);
        cellf(&t, i + 1, 2, false, "%d", m->grid);
        cellf(&t, i + 1, 3, false, "%d", m->compute_slices);
        cellf(&t, i + 1, 4, false, "%d", m->max_gis);
        cellf(&t, i + 1, 5, m->unverified & MK_FIELD(MEMORY), "%.2f",
              (double)m->memory_mib / 1024.0);
        cellf(&t, i + 1, 6, false, "%d", m->nprofiles);
        cellf(&t, i + 1, 7, false, "%s", model_has_unverified(m) ? "?" : "");
    }
    table_print(stdout, &t);
    table_free(&t);
    printf("\nGRID = memory slices, COMPUTE = compute slices.\n"
           "%s; 'migctl gpus --model SLUG' shows which values.\n",
           UNVERIFIED_LEGEND);
    return 0;
}

/* ---- one model ---- */

/* One "Label:  value" line of the facts block, with a `?` when the value is unverified. */
static void fact(const char *label, bool unverified, const char *value)
{
    printf("%-20s %s%s\n", label, value, unverified ? "?" : "");
}

/* The model's facts: identity, memory, SMs and the slice geometry. */
static void print_facts(const struct mk_model *m)
{
    char buf[MK_MAX_ALTS * 100]; /* the longest value: up to 4 other names of 96 characters */
    size_t at = 0;
    fact("Model:", false, m->slug);
    fact("Name:", m->unverified & MK_FIELD(NAME), m->name);
    buf[0] = '\0';
    for (int i = 0; i < m->nnames_alt && at < sizeof(buf); i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", i ? "; " : "", m->names_alt[i]);
    fact("Also reported as:", false, at ? buf : "-");
    at = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->npci && at < sizeof(buf); i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s0x%08X", i ? ", " : "",
                               (unsigned)m->pci_ids[i]);
    fact("PCI IDs:", m->unverified & MK_FIELD(PCI), at ? buf : "-");
    snprintf(buf, sizeof(buf), "%s (%s), compute capability %s", m->arch[0] ? m->arch : "-",
             m->chip[0] ? m->chip : "-", m->compute_capability[0] ? m->compute_capability : "-");
    fact("Architecture:", false, buf);
    fact("Minimum driver:", m->unverified & MK_FIELD(MIN_DRIVER),
         m->min_driver[0] ? m->min_driver : "-");
    snprintf(buf, sizeof(buf), "%u MiB (%.2f GiB)", m->memory_mib, (double)m->memory_mib / 1024.0);
    fact("Total memory:", m->unverified & MK_FIELD(MEMORY), buf);
    snprintf(buf, sizeof(buf), "%d GiB (the base of the profile names)", m->name_base_gib);
    fact("Name base:", false, buf);
    snprintf(buf, sizeof(buf), "%d", m->sm_total);
    fact("SMs:", m->unverified & MK_FIELD(SM_TOTAL), buf);
    snprintf(buf, sizeof(buf), "%d memory slices (placement grid), %d compute slices", m->grid,
             m->compute_slices);
    fact("Slices:", false, buf);
    snprintf(buf, sizeof(buf), "%d", m->max_gis);
    fact("Max GPU instances:", false, buf);
    snprintf(buf, sizeof(buf), "%s%s",
             gi_ids_unverified(m) ? "unverified" : "verified (binary-tree numbering)",
             m->pcie_board ? " (PCIe board: the driver numbers GIs differently)" : "");
    fact("GPU instance IDs:", gi_ids_unverified(m), buf);
    at = 0;
    for (int i = 0; i < m->nci_profiles && at < sizeof(buf); i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%d=%dc", i ? ", " : "",
                               m->ci_profiles[i].id, m->ci_profiles[i].slices);
    fact("CI profiles:", false, buf);
}

/* First profile table: resources, one row per GI profile in -lgip order. */
static int print_resources(const struct mk_model *m)
{
    static const char *const head[] = {"NAME", "ID",  "NVML", "MSL", "CSL",  "SM",  "MIB",
                                       "GIB",  "DEC", "ENC",  "CE",  "JPEG", "OFA", "MAX"};
    const int ncols = (int)MK_ELEMENTSOF(head);
    struct table t;
    if (!table_init(&t, m->nprofiles + 1, ncols))
        return -ENOMEM;
    for (int c = 0; c < ncols; c++) {
        cellf(&t, 0, c, false, "%s", head[c]);
        t.right[c] = c != 0 && c != 2;
    }
    for (int k = 0; k < m->nprofiles; k++) {
        const struct mk_gi_profile *p = &m->profiles[k];
        unsigned u = p->unverified;
        bool eng = u & MK_FIELD(ENGINES), mem = u & MK_FIELD(MEMORY);
        int r = k + 1;
        cellf(&t, r, 0, u & MK_FIELD(NAME), "%s", p->name);
        cellf(&t, r, 1, u & MK_FIELD(ID), "%d", p->id);
        cellf(&t, r, 2, false, "%s", mk_gi_const_name(p->nvml));
        cellf(&t, r, 3, false, "%d", p->mem_slices);
        cellf(&t, r, 4, false, "%d", p->compute_slices);
        cellf(&t, r, 5, u & MK_FIELD(SMS), "%d", p->sms);
        cellf(&t, r, 6, mem, "%u", p->memory_mib);
        cellf(&t, r, 7, mem, "%.2f", (double)p->memory_mib / 1024.0);
        cellf(&t, r, 8, eng, "%d", p->dec);
        cellf(&t, r, 9, eng, "%d", p->enc);
        cellf(&t, r, 10, eng, "%d", p->ce);
        cellf(&t, r, 11, eng, "%d", p->jpeg);
        cellf(&t, r, 12, eng, "%d", p->ofa);
        cellf(&t, r, 13, u & MK_FIELD(MAX), "%d", p->max);
    }
    printf("\nGPU instance profiles:\n");
    table_print(stdout, &t);
    table_free(&t);
    return 0;
}

/* The memory alternatives of p as "9856 MiB (note); ..." into buf. */
static char *alts_text(const struct mk_gi_profile *p, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->nalts && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%u MiB%s%s%s", i ? "; " : "", p->alts[i].mib,
                               p->alts[i].note[0] ? " (" : "", p->alts[i].note,
                               p->alts[i].note[0] ? ")" : "");
    if (!at)
        snprintf(buf, len, "-");
    return buf;
}

/* Second profile table: placements, automatic order, CI profiles and other names/sizes. */
static int print_placements(const struct mk_model *m)
{
    static const char *const head[] = {"NAME", "ID",          "PLACEMENTS",         "AUTO ORDER",
                                       "CI",   "OTHER NAMES", "MEMORY ALTERNATIVES"};
    const int ncols = (int)MK_ELEMENTSOF(head);
    struct table t;
    if (!table_init(&t, m->nprofiles + 1, ncols))
        return -ENOMEM;
    for (int c = 0; c < ncols; c++)
        cellf(&t, 0, c, false, "%s", head[c]);
    t.right[1] = true;
    for (int k = 0; k < m->nprofiles; k++) {
        const struct mk_gi_profile *p = &m->profiles[k];
        unsigned u = p->unverified;
        char a[TABLE_CELL], b[TABLE_CELL];
        size_t at = 0;
        int r = k + 1;
        cellf(&t, r, 0, u & MK_FIELD(NAME), "%s", p->name);
        cellf(&t, r, 1, u & MK_FIELD(ID), "%d", p->id);
        cellf(&t, r, 2, u & MK_FIELD(STARTS), "{%s}:%d",
              int_list(p->starts, p->nstarts, -1, a, sizeof(a)), p->mem_slices);
        cellf(&t, r, 3, u & MK_FIELD(AUTO_ORDER), "%s",
              int_list(p->auto_order, p->nauto, -1, a, sizeof(a)));
        cellf(&t, r, 4, u & MK_FIELD(CI), "%s",
              int_list(p->ci, p->nci, p->ci_default, a, sizeof(a)));
        b[0] = '\0';
        for (int i = 0; i < p->nnames_alt && at < sizeof(b); i++)
            at += (size_t)snprintf(b + at, sizeof(b) - at, "%s%s", i ? ", " : "", p->names_alt[i]);
        cellf(&t, r, 5, false, "%s", at ? b : "-");
        cellf(&t, r, 6, false, "%s", alts_text(p, a, sizeof(a)));
    }
    printf("\nPlacements and compute instances:\n");
    table_print(stdout, &t);
    table_free(&t);
    printf("\nMSL/CSL = memory/compute slices; PLACEMENTS = {starts}:size; CI = CI profile IDs "
           "offered, * = default (-C).\n%s\n",
           UNVERIFIED_LEGEND);
    return 0;
}

/* The "Unverified:" section (field names per profile) and the notes. */
static void print_unverified_and_notes(const struct mk_model *m)
{
    char buf[MK_FIELD__COUNT * 20]; /* every field name (at most 14 characters) and ", " */
    printf("\nUnverified:\n");
    if (!model_has_unverified(m))
        printf("  nothing: every value was observed on hardware\n");
    if (m->unverified)
        printf("  model: %s\n", field_list(m->unverified, buf, sizeof(buf)));
    if (m->pcie_board && !(m->unverified & MK_FIELD(GI_IDS)))
        printf("  model: %s (PCIe board)\n", mk_field_name(MK_FIELD_BIT_GI_IDS));
    for (int k = 0; k < m->nprofiles; k++)
        if (m->profiles[k].unverified)
            printf("  %s: %s\n", m->profiles[k].name,
                   field_list(m->profiles[k].unverified, buf, sizeof(buf)));
    if (m->nnotes > 0)
        printf("\nNotes:\n");
    for (int i = 0; i < m->nnotes; i++)
        printf("  - %s\n", m->notes[i]);
}

static int print_model(const struct mk_model *m)
{
    print_facts(m);
    if (print_resources(m) < 0 || print_placements(m) < 0)
        return cli_fail(255, "%s", mk_status_text(-ENOMEM));
    print_unverified_and_notes(m);
    return 0;
}

/* ---- JSON ---- */

static json_t *unverified_json(unsigned mask)
{
    json_t *a = json_array();
    for (int b = 0; b < MK_FIELD__COUNT; b++)
        if (mask & (1u << b))
            json_array_append_new(a, json_string(mk_field_name(b)));
    return a;
}

static json_t *int_array_json(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *summary_json(const struct mk_model *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "slug", json_string(m->slug));
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "arch", json_string(m->arch));
    json_object_set_new(o, "chip", json_string(m->chip));
    json_object_set_new(o, "grid", json_integer(m->grid));
    json_object_set_new(o, "compute_slices", json_integer(m->compute_slices));
    json_object_set_new(o, "max_gis", json_integer(m->max_gis));
    json_object_set_new(o, "memory_mib", json_integer(m->memory_mib));
    json_object_set_new(o, "sm_total", json_integer(m->sm_total));
    json_object_set_new(o, "gi_profile_count", json_integer(m->nprofiles));
    json_object_set_new(o, "unverified", unverified_json(m->unverified));
    json_object_set_new(o, "has_unverified", json_boolean(model_has_unverified(m)));
    return o;
}

/* One GI profile with every field of struct mk_gi_profile, in catalog-file order. */
static json_t *profile_json(const struct mk_gi_profile *p)
{
    json_t *o = json_object(), *alts = json_array(), *names = json_array();
    for (int i = 0; i < p->nalts; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "mib", json_integer(p->alts[i].mib));
        json_object_set_new(a, "note", json_string(p->alts[i].note));
        json_array_append_new(alts, a);
    }
    for (int i = 0; i < p->nnames_alt; i++)
        json_array_append_new(names, json_string(p->names_alt[i]));
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "id", json_integer(p->id));
    json_object_set_new(o, "nvml", json_string(mk_gi_const_name(p->nvml)));
    json_object_set_new(o, "media", json_string(media_name(p->media)));
    json_object_set_new(o, "mem_slices", json_integer(p->mem_slices));
    json_object_set_new(o, "compute_slices", json_integer(p->compute_slices));
    json_object_set_new(o, "sms", json_integer(p->sms));
    json_object_set_new(o, "memory_mib", json_integer(p->memory_mib));
    json_object_set_new(o, "dec", json_integer(p->dec));
    json_object_set_new(o, "enc", json_integer(p->enc));
    json_object_set_new(o, "ce", json_integer(p->ce));
    json_object_set_new(o, "jpeg", json_integer(p->jpeg));
    json_object_set_new(o, "ofa", json_integer(p->ofa));
    json_object_set_new(o, "max", json_integer(p->max));
    json_object_set_new(o, "starts", int_array_json(p->starts, p->nstarts));
    json_object_set_new(o, "auto_order", int_array_json(p->auto_order, p->nauto));
    json_object_set_new(o, "ci", int_array_json(p->ci, p->nci));
    json_object_set_new(o, "ci_default", json_integer(p->ci_default));
    json_object_set_new(o, "memory_mib_alt", alts);
    json_object_set_new(o, "names_alt", names);
    json_object_set_new(o, "unverified", unverified_json(p->unverified));
    return o;
}

/* The model-level fields of struct mk_model, in catalog-file order. */
static void model_fields_json(json_t *o, const struct mk_model *m)
{
    json_t *names = json_array(), *pci = json_array(), *notes = json_array();
    char id[16]; /* "0x" + 8 hex digits + NUL */
    for (int i = 0; i < m->nnames_alt; i++)
        json_array_append_new(names, json_string(m->names_alt[i]));
    for (int i = 0; i < m->npci; i++) {
        snprintf(id, sizeof(id), "0x%08X", (unsigned)m->pci_ids[i]);
        json_array_append_new(pci, json_string(id));
    }
    for (int i = 0; i < m->nnotes; i++)
        json_array_append_new(notes, json_string(m->notes[i]));
    json_object_set_new(o, "slug", json_string(m->slug));
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "names_alt", names);
    json_object_set_new(o, "pci_device_ids", pci);
    json_object_set_new(o, "arch", json_string(m->arch));
    json_object_set_new(o, "chip", json_string(m->chip));
    json_object_set_new(o, "compute_capability", json_string(m->compute_capability));
    json_object_set_new(o, "min_driver", json_string(m->min_driver));
    json_object_set_new(o, "memory_mib", json_integer(m->memory_mib));
    json_object_set_new(o, "name_base_gib", json_integer(m->name_base_gib));
    json_object_set_new(o, "sm_total", json_integer(m->sm_total));
    json_object_set_new(o, "grid", json_integer(m->grid));
    json_object_set_new(o, "compute_slices", json_integer(m->compute_slices));
    json_object_set_new(o, "max_gis", json_integer(m->max_gis));
    json_object_set_new(o, "gi_id_unit", json_integer(m->gi_id_unit));
    json_object_set_new(o, "pcie_board", json_boolean(m->pcie_board));
    json_object_set_new(o, "gi_ids_unverified", json_boolean(gi_ids_unverified(m)));
    json_object_set_new(o, "unverified", unverified_json(m->unverified));
    json_object_set_new(o, "notes", notes);
}

static json_t *model_json(const struct mk_model *m)
{
    json_t *o = json_object(), *cis = json_array(), *gis = json_array();
    model_fields_json(o, m);
    for (int i = 0; i < m->nci_profiles; i++) {
        json_t *c = json_object();
        json_object_set_new(c, "id", json_integer(m->ci_profiles[i].id));
        json_object_set_new(c, "slices", json_integer(m->ci_profiles[i].slices));
        json_array_append_new(cis, c);
    }
    for (int k = 0; k < m->nprofiles; k++)
        json_array_append_new(gis, profile_json(&m->profiles[k]));
    json_object_set_new(o, "ci_profiles", cis);
    json_object_set_new(o, "gi_profiles", gis);
    return o;
}

/* ---- the command ---- */

/*
 * cli_catalog() prints its error but returns only NULL: its exit status is 2 when an extra
 * catalog file (--catalog or MIGKIT_CATALOG) was rejected, 255 when the built-in one failed.
 */
static int catalog_fail_status(const struct cli *cli)
{
    const char *env = getenv("MIGKIT_CATALOG");
    return cli->catalog_file || (env && *env) ? CLI_EXIT_USAGE : 255;
}

int cmd_gpus(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, OPT_MODEL}, CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    const char *slug = NULL;
    const struct mk_catalog *cat;
    int c;

    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_MODEL) {
            slug = optarg;
            continue;
        }
        int r = cli_common_option(cli, c, optarg);
        if (r < 0 || c == '?')
            return CLI_EXIT_USAGE;
        if (r == 0)
            return cli_usage_error("gpus: unexpected option");
    }
    if (optind < argc)
        return cli_usage_error("gpus: unexpected argument \"%s\"", argv[optind]);
    if (!(cat = cli_catalog(cli)))
        return catalog_fail_status(cli);

    if (!slug) {
        if (cli->json) {
            json_t *a = json_array();
            for (size_t i = 0; i < mk_catalog_count(cat); i++)
                json_array_append_new(a, summary_json(mk_catalog_at(cat, i)));
            cli_print_json(a);
            return 0;
        }
        return print_models(cat);
    }
    const struct mk_model *m = mk_catalog_find(cat, slug);
    if (!m)
        return cli_fail(CLI_EXIT_USAGE, "unknown GPU model \"%s\" (see 'migctl gpus')", slug);
    if (cli->json) {
        cli_print_json(model_json(m));
        return 0;
    }
    return print_model(m);
}
