/*
 * cmd-status.c - `migctl status [--svg FILE] [--json]`: a picture of each GPU's slices.
 *
 * For every GPU shown (-i N, or all) it draws two rows of cells: MEMORY, one cell per memory
 * slice of the placement grid, and COMPUTE, one cell per compute slice. Each cell names the
 * GPU instance (GI) holding it ("GI 7") and, in the compute row, the compute instance (CI)
 * ("7/0" is CI 0 of GI 7); a legend lists the GIs in nvidia-smi's order with their CIs, and a
 * summary gives the slices used and -lgip's Free/Total per profile.
 *
 * Three renderings share one slice map (struct slice_map) and one legend (struct legend):
 *   - plain ASCII (+-|:) without escape codes when stdout is not a terminal, deterministic
 *     so tests can compare it (only the random MIG UUIDs vary);
 *   - Unicode box drawing on a terminal, with an ANSI background colour per GI unless
 *     colour is off (NO_COLOR);
 *   - --svg FILE: a standalone SVG 1.1 picture in the same colours, written atomically.
 *
 * Where compute slices sit is not exposed by the hardware; mk_gi_compute_span() gives the
 * layout consistent with the memory placement, and this file only draws it.
 *
 * JSON (for docs/json.md): an array, one object per GPU: the fields of smi_json_gpu()
 * (index, name, model, uuid, pci_bus_id, mig_enabled, memory_mib), then
 *   backend: "sim" | ...
 *   memory_slices: [{slice, gpu_instance_id (null when free)}]
 *   compute_slices: [{slice, gpu_instance_id, compute_instance_id (each null when none)}]
 *   gpu_instances: smi_json_gis() (as `migctl mig -lgi --json`)
 *   software_instances, guarantees: the soft backend only (soft-view.c, docs/soft.md)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

/* Long-option value of --svg, above the common options' range. */
enum { OPT_SVG = OPT__COMMON_END + 1 };

/* The largest machine the simulator builds (cli_common_option accepts -i 0-63). */
#define MAX_GPUS 64

/* Text cell width: " GI 14" (GI IDs stop at 14) plus one trailing blank. */
#define CELL_W 7
/* Width of the row-label column ("COMPUTE" plus blanks). */
#define LABEL_W 9
/* The Free/Total list wraps before this column. */
#define WRAP_COL 96

/* ---- colours ---- */

/*
 * GI colours, given in legend order and cycled: 8 covers every GI of every catalog GPU (7 at
 * most). sgr is the ANSI background;foreground pair; fill and text are the same colours for
 * the SVG (Tango palette values, which terminals' defaults approximate).
 */
struct colour {
    const char *sgr, *fill, *text;
};
static const struct colour palette[] = {
    {"44;97", "#3465a4", "#ffffff"},  /* blue */
    {"42;30", "#73d216", "#000000"},  /* green */
    {"43;30", "#edd400", "#000000"},  /* yellow */
    {"45;97", "#75507b", "#ffffff"},  /* magenta */
    {"46;30", "#34e2e2", "#000000"},  /* cyan */
    {"41;97", "#cc0000", "#ffffff"},  /* red */
    {"104;30", "#729fcf", "#000000"}, /* bright blue */
    {"105;30", "#ad7fa8", "#000000"}, /* bright magenta */
};
#define NPALETTE ((int)MK_ELEMENTSOF(palette))
/* Free cells in the SVG: light grey with grey text. */
#define FREE_FILL "#eeeeec"
#define FREE_TEXT "#888a85"

/* ---- the slice map ---- */

/* Who holds a slice: an index into g->gi and, in the compute row, into that GI's ci[]; -1
 * where nothing does. */
struct owner {
    int gi, ci;
};

/* One GPU's slices resolved once, for every renderer. */
struct slice_map {
    const struct mk_gpu *g;
    int nmem, ncomp;
    struct owner mem[MK_MAX_STARTS];  /* grid <= MK_MAX_STARTS (catalog loader) */
    struct owner comp[MK_MAX_STARTS]; /* compute_slices <= 8 (catalog loader) */
    int norder, order[MK_MAX_GIS];    /* g->gi indices in nvidia-smi order */
    int colour[MK_MAX_GIS];           /* palette index per g->gi index */
};

/* Marks compute slice x as held by GI gi (CI ci). Slices outside the row are ignored, and a
 * slice already held by another GI keeps its first holder: spans never overlap in a valid
 * state (mk_gpu_validate), so neither case is expected. */
static void claim(struct slice_map *sm, int x, int gi, int ci)
{
    if (x < 0 || x >= sm->ncomp || (sm->comp[x].gi >= 0 && sm->comp[x].gi != gi))
        return;
    sm->comp[x].gi = gi;
    sm->comp[x].ci = ci;
}

static void map_build(const struct mk_gpu *g, struct slice_map *sm)
{
    const struct mk_model *m = g->model;
    memset(sm, 0, sizeof(*sm));
    sm->g = g;
    sm->nmem = m->grid;
    sm->ncomp = m->compute_slices;
    for (int i = 0; i < MK_MAX_STARTS; i++)
        sm->mem[i] = sm->comp[i] = (struct owner){-1, -1};
    sm->norder = mk_gpu_gi_order(g, sm->order);
    for (int k = 0; k < sm->norder; k++)
        sm->colour[sm->order[k]] = k % NPALETTE;
    for (int i = 0; i < g->ngi; i++) {
        const struct mk_gi *gi = &g->gi[i];
        int span;
        for (int s = gi->start; s < gi->start + gi->profile->mem_slices && s < sm->nmem; s++)
            sm->mem[s].gi = i;
        mk_gi_compute_span(m, gi, &span);
        for (int s = 0; s < gi->profile->compute_slices; s++)
            claim(sm, span + s, i, -1);
        for (int c = 0; c < gi->nci; c++)
            for (int s = 0; s < gi->ci[c].slices; s++)
                claim(sm, span + gi->ci[c].start + s, i, c);
    }
}

/* The label of a cell: "GI 7", "7/0" (a CI, compute row only), "free", or "-" when MIG mode
 * is off and there are no slices to speak of. */
static char *cell_label(const struct slice_map *sm, const struct owner *o, bool compute, char *buf,
                        size_t len)
{
    const struct mk_gi *gi = o->gi >= 0 ? &sm->g->gi[o->gi] : NULL;
    if (!gi)
        snprintf(buf, len, "%s", sm->g->mig_enabled ? "free" : "-");
    else if (compute && o->ci >= 0)
        snprintf(buf, len, "%d/%d", gi->id, gi->ci[o->ci].id);
    else
        snprintf(buf, len, "GI %d", gi->id);
    return buf;
}

/* ---- the legend (text and SVG) ---- */

/* A cell label: "GI 14", "14/7", "free". */
#define LABEL_LEN 16
/* The title: a product name (96), a slug (64), the backend name and the fixed text. */
#define TITLE_LEN 256

/* "MIG " plus a profile or CI name ("MIG 1c.2g.48gb"). */
#define NAME_BUF (MK_NAME_LEN + 8)

/* Lines: per GI one line plus one per CI (at least one), the used-slices line, and the
 * Free/Total list, which wraps into at most one line per profile. */
#define LEGEND_LINES (MK_MAX_GIS * (1 + MK_MAX_CIS) + 2 + MK_MAX_GI_PROFILES)
#define LINE_LEN     160

/* The text under a GPU's picture; a line that describes a GI carries that GI's colour
 * (palette index), other lines -1. */
struct legend {
    int n;
    char line[LEGEND_LINES][LINE_LEN];
    int colour[LEGEND_LINES];
};

static char *legend_add(struct legend *lg, int colour)
{
    if (lg->n >= LEGEND_LINES) /* cannot happen: LEGEND_LINES is the worst case */
        lg->n = LEGEND_LINES - 1;
    lg->colour[lg->n] = colour;
    return lg->line[lg->n++];
}

/*
 * One GI and its CIs (by ascending CI ID, as -lci lists them). Column widths: "GI 14" is 5
 * characters (GI IDs stop at 14), names are padded to 18 as in -lgi ("MIG 1g.24gb+me.all"),
 * and memory and SMs to the widest catalog values (6 and 3 digits).
 */
static void legend_gi(struct legend *lg, const struct slice_map *sm, int idx)
{
    const struct mk_gi *gi = &sm->g->gi[idx];
    char name[NAME_BUF], label[sizeof("GI 2147483647")];
    int corder[MK_MAX_CIS];
    snprintf(name, sizeof(name), "MIG %s", gi->profile->name);
    snprintf(label, sizeof(label), "GI %d", gi->id);
    snprintf(legend_add(lg, sm->colour[idx]), LINE_LEN,
             "%-5s  %-18s  placement %d:%d  %6u MiB  %3d SMs%s", label, name, gi->start,
             gi->profile->mem_slices, gi->profile->memory_mib, gi->profile->sms,
             gi->busy ? "  [busy]" : "");
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
        smi_ci_name(sm->g, gi, ci->profile_id, name, sizeof(name));
        snprintf(legend_add(lg, -1), LINE_LEN, "       CI %d   %-18s  compute %d:%d  %s", ci->id,
                 name, ci->start, ci->slices, ci->uuid);
    }
    if (gi->nci == 0)
        snprintf(legend_add(lg, -1), LINE_LEN, "       no compute instances");
}

/* The used-slices line and -lgip's Free/Total per profile, wrapped before WRAP_COL. */
static void legend_summary(struct legend *lg, const struct slice_map *sm)
{
    const struct mk_gpu *g = sm->g;
    const char *lead = "Free/Total now: ";
    char *line;
    snprintf(legend_add(lg, -1), LINE_LEN, "Memory slices used %d/%d, compute slices used %d/%d",
             mk_gpu_mem_used(g), sm->nmem, mk_gpu_compute_used(g), sm->ncomp);
    if (!g->mig_enabled) {
        snprintf(legend_add(lg, -1), LINE_LEN,
                 "MIG mode is disabled: enable it with 'migctl -i %d -mig 1'", g->index);
        return;
    }
    line = legend_add(lg, -1);
    snprintf(line, LINE_LEN, "%s", lead);
    for (int k = 0; k < g->model->nprofiles; k++) {
        const struct mk_gi_profile *p = &g->model->profiles[k];
        char item[NAME_BUF + 32]; /* ", " name " free/max" */
        size_t used = strlen(line);
        snprintf(item, sizeof(item), "%s%s %d/%d", k ? ", " : "", p->name,
                 mk_gpu_gi_remaining(g, p), p->max);
        if (k && used + strlen(item) > WRAP_COL) {
            strcat(line, ",");
            line = legend_add(lg, -1);
            snprintf(line, LINE_LEN, "%*s%s", (int)strlen(lead), "", item + 2); /* drop ", " */
        } else {
            snprintf(line + used, LINE_LEN - used, "%s", item);
        }
    }
}

static void legend_build(struct legend *lg, const struct slice_map *sm)
{
    lg->n = 0;
    for (int k = 0; k < sm->norder; k++)
        legend_gi(lg, sm, sm->order[k]);
    if (sm->norder == 0)
        snprintf(legend_add(lg, -1), LINE_LEN, "No GPU instances");
    legend_summary(lg, sm);
}

static char *title(const struct mk_gpu *g, const struct mk_backend *b, char *buf, size_t len)
{
    snprintf(buf, len, "GPU %d: %s (%s), MIG %s, backend %s", g->index, g->model->name,
             g->model->slug, g->mig_enabled ? "Enabled" : "Disabled", mk_backend_name(b));
    return buf;
}

/* ---- text rendering ---- */

struct style {
    bool unicode; /* box drawing instead of +-| */
    bool colour;  /* ANSI escape codes */
};

/* A row of n cells, each w characters wide, as the text renderers draw it. Boundary i
 * (0..n) sits at column i * (w + 1). */
struct row {
    const struct owner *cells;
    int n, w;
};

enum sep { SEP_NONE, SEP_CI, SEP_GI };

/* What separates the cells at boundary i: the outer edges, a change of GI and any free slice
 * get a full line; a change of CI inside one GI a dashed one; slices of one CI nothing. */
static enum sep sep_at(const struct row *r, int i)
{
    const struct owner *a, *b;
    if (i <= 0 || i >= r->n)
        return SEP_GI;
    a = &r->cells[i - 1];
    b = &r->cells[i];
    if (a->gi < 0 || a->gi != b->gi)
        return SEP_GI;
    return a->ci != b->ci ? SEP_CI : SEP_NONE;
}

/* True when row r (may be NULL) has a vertical line at column x. */
static bool line_at(const struct row *r, int x)
{
    if (!r || x % (r->w + 1) != 0 || x / (r->w + 1) > r->n)
        return false;
    return sep_at(r, x / (r->w + 1)) != SEP_NONE;
}

static int extent(const struct row *r)
{
    return r ? r->n * (r->w + 1) : 0;
}

/*
 * The horizontal border between row above and row below (either may be NULL): a junction
 * wherever a vertical line meets it. Unicode box characters are indexed by the lines that
 * leave the junction: up 8, down 4, left 2, right 1.
 */
static void print_border(FILE *f, const struct style *st, const struct row *above,
                         const struct row *below)
{
    static const char *const box[16] = {" ", "─", "─", "─", "╷", "┌", "┐", "┬",
                                        "╵", "└", "┘", "┴", "│", "├", "┤", "┼"};
    int w = extent(above) > extent(below) ? extent(above) : extent(below);
    fprintf(f, "%*s", LABEL_W, "");
    for (int x = 0; x <= w; x++) {
        bool up = line_at(above, x), down = line_at(below, x);
        int k = (up ? 8 : 0) | (down ? 4 : 0) | (x > 0 ? 2 : 0) | (x < w ? 1 : 0);
        fputs(st->unicode ? box[k] : (up || down ? "+" : "-"), f);
    }
    fputc('\n', f);
}

/* The separator at boundary i of row r, in the colour of the GI when it lies inside one. */
static void print_sep(FILE *f, const struct style *st, const struct slice_map *sm,
                      const struct row *r, int i)
{
    static const char *const uni[] = {" ", "┊", "│"}, *const ascii[] = {" ", ":", "|"};
    enum sep s = sep_at(r, i);
    bool inside = s != SEP_GI && st->colour;
    if (inside)
        fprintf(f, "\033[%sm", palette[sm->colour[r->cells[i].gi]].sgr);
    fputs(st->unicode ? uni[s] : ascii[s], f);
    if (inside)
        fputs("\033[0m", f);
}

/* One row of cells behind its label ("MEMORY", "COMPUTE"). */
static void print_cells(FILE *f, const struct style *st, const struct slice_map *sm,
                        const char *label, const struct row *r, bool compute)
{
    fprintf(f, "%-*s", LABEL_W, label);
    for (int i = 0; i < r->n; i++) {
        const struct owner *o = &r->cells[i];
        char text[LABEL_LEN];
        print_sep(f, st, sm, r, i);
        cell_label(sm, o, compute, text, sizeof(text));
        if (st->colour)
            fprintf(f, "\033[%sm", o->gi >= 0 ? palette[sm->colour[o->gi]].sgr : "2");
        fprintf(f, " %-*s", r->w - 1, text);
        if (st->colour)
            fputs("\033[0m", f);
    }
    print_sep(f, st, sm, r, r->n);
    fputc('\n', f);
}

/* Slice numbers under the first character of each cell's label. A row is at most
 * grid * (CELL_W + 1) <= MK_MAX_STARTS * (CELL_W + 1) columns wide (compute cells only span
 * memory cells), plus room for the last number and the NUL. */
static void print_indices(FILE *f, const struct row *r)
{
    char line[LABEL_W + MK_MAX_STARTS * (CELL_W + 1) + 16];
    int at = snprintf(line, sizeof(line), "%*s", LABEL_W, "");
    for (int i = 0; i < r->n && at < (int)sizeof(line); i++)
        at += snprintf(line + at, sizeof(line) - (size_t)at, "  %-*d", r->w - 1, i);
    while (at > 0 && line[at - 1] == ' ')
        at--;
    line[at] = '\0';
    fprintf(f, "%s\n", line);
}

/* The text width of a compute cell: on grids that are a whole multiple of the compute
 * slices (A30 4/4, RTX PRO 6000 12/4) a compute cell spans the memory cells it sits over,
 * so the two rows line up; elsewhere (8/7) both rows use CELL_W. */
static int comp_cell_w(const struct slice_map *sm)
{
    if (sm->nmem % sm->ncomp != 0)
        return CELL_W;
    return (sm->nmem / sm->ncomp) * (CELL_W + 1) - 1;
}

/* One GPU: title, the two rows of cells between their slice numbers, then the legend (built
 * into lg, scratch space owned by the caller). */
static void print_gpu(FILE *f, const struct style *st, const struct slice_map *sm,
                      const char *heading, struct legend *lg)
{
    struct row mem = {sm->mem, sm->nmem, CELL_W}, comp = {sm->comp, sm->ncomp, comp_cell_w(sm)};
    fprintf(f, st->colour ? "\033[1m%s\033[0m\n" : "%s\n", heading);
    print_indices(f, &mem);
    print_border(f, st, NULL, &mem);
    print_cells(f, st, sm, "MEMORY", &mem, false);
    print_border(f, st, &mem, &comp);
    print_cells(f, st, sm, "COMPUTE", &comp, true);
    print_border(f, st, &comp, NULL);
    print_indices(f, &comp);
    fputc('\n', f);
    legend_build(lg, sm);
    for (int i = 0; i < lg->n; i++) {
        if (st->colour && lg->colour[i] >= 0)
            fprintf(f, "\033[%sm  \033[0m %s\n", palette[lg->colour[i]].sgr, lg->line[i]);
        else
            fprintf(f, "   %s\n", lg->line[i]);
    }
}

/* ---- SVG ---- */

/* Geometry in px. Text is 12px monospace, about 7.2px (0.6em) per character; widths are
 * estimated at 8px per character (9 for the 14px bold title) so nothing is clipped. */
#define SVG_MARGIN       16 /* blank border round the picture */
#define SVG_LABEL_W      72 /* the "MEMORY"/"COMPUTE" column */
#define SVG_CELL_W       64 /* one memory slice */
#define SVG_CELL_H       32 /* one row of cells */
#define SVG_ROW_GAP      4  /* between the memory and compute rows */
#define SVG_LINE_H       16 /* one line of legend text */
#define SVG_CHAR_W       8  /* estimated width of a 12px character */
#define SVG_TITLE_CHAR_W 9  /* the same for the 14px title */
#define SVG_TITLE_H      22 /* title baseline (14px bold) plus a gap */
#define SVG_INDEX_H      14 /* the slice numbers (9px) over and under the rows */
#define SVG_GPU_GAP      24 /* between two GPUs */
#define SVG_SWATCH       10 /* the colour square in front of a GI's legend line */


static int svg_comp_w(const struct slice_map *sm)
{
    return sm->nmem % sm->ncomp == 0 ? SVG_CELL_W * (sm->nmem / sm->ncomp) : SVG_CELL_W;
}

/* Height of one GPU's block (without the gap to the next one). */
static int svg_height(const struct legend *lg)
{
    return SVG_TITLE_H + 2 * SVG_INDEX_H + 2 * SVG_CELL_H + SVG_ROW_GAP + SVG_LINE_H / 2 +
           lg->n * SVG_LINE_H;
}

/* Width one GPU's block needs: its cells, its title or its longest legend line. */
static int svg_width(const struct slice_map *sm, const struct legend *lg, const char *head)
{
    int w = SVG_LABEL_W + sm->nmem * SVG_CELL_W, c = SVG_LABEL_W + sm->ncomp * svg_comp_w(sm);
    int t = (int)strlen(head) * SVG_TITLE_CHAR_W;
    w = c > w ? c : w;
    w = t > w ? t : w;
    for (int i = 0; i < lg->n; i++) {
        int l = SVG_SWATCH + SVG_CHAR_W + (int)strlen(lg->line[i]) * SVG_CHAR_W;
        w = l > w ? l : w;
    }
    return w;
}

/* One row of cells at y: a rectangle and a centred label per slice, the slice number over
 * (memory) or under (compute) it. */
static void svg_row(FILE *f, const struct slice_map *sm, bool compute, int y)
{
    const struct owner *cells = compute ? sm->comp : sm->mem;
    int n = compute ? sm->ncomp : sm->nmem, w = compute ? svg_comp_w(sm) : SVG_CELL_W;
    /* Baselines: 12px labels sit 4px below the centre; slice numbers 3px off the row. */
    int ty = y + SVG_CELL_H / 2 + 4, iy = compute ? y + SVG_CELL_H + SVG_INDEX_H - 4 : y - 3;
    fprintf(f, "    <text x=\"0\" y=\"%d\">%s</text>\n", ty, compute ? "COMPUTE" : "MEMORY");
    for (int i = 0; i < n; i++) {
        const struct owner *o = &cells[i];
        int x = SVG_LABEL_W + i * w;
        char text[LABEL_LEN];
        cell_label(sm, o, compute, text, sizeof(text));
        fprintf(f,
                "    <rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                "stroke=\"#2e3436\"/>\n",
                x, y, w, SVG_CELL_H, o->gi >= 0 ? palette[sm->colour[o->gi]].fill : FREE_FILL);
        fprintf(f, "    <text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">", x + w / 2, ty,
                o->gi >= 0 ? palette[sm->colour[o->gi]].text : FREE_TEXT);
        cli_xml_escape(f, text);
        fprintf(f,
                "</text>\n    <text x=\"%d\" y=\"%d\" font-size=\"9\" fill=\"#555753\">%d"
                "</text>\n",
                x + 3, iy, i);
    }
}

/* One GPU as a group translated to y: title, the two rows, the legend. */
static void svg_gpu(FILE *f, const struct slice_map *sm, const struct legend *lg, const char *head,
                    int y)
{
    int mem_y = SVG_TITLE_H + SVG_INDEX_H, comp_y = mem_y + SVG_CELL_H + SVG_ROW_GAP;
    int ly = comp_y + SVG_CELL_H + SVG_INDEX_H + SVG_LINE_H;
    fprintf(f, "  <g id=\"gpu%d\" transform=\"translate(%d,%d)\">\n    <title>", sm->g->index,
            SVG_MARGIN, y);
    cli_xml_escape(f, head);
    fputs("</title>\n    <text x=\"0\" y=\"14\" font-size=\"14\" font-weight=\"bold\">", f);
    cli_xml_escape(f, head);
    fputs("</text>\n", f);
    svg_row(f, sm, false, mem_y);
    svg_row(f, sm, true, comp_y);
    for (int i = 0; i < lg->n; i++, ly += SVG_LINE_H) {
        if (lg->colour[i] >= 0)
            fprintf(f,
                    "    <rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                    "stroke=\"#2e3436\"/>\n",
                    ly - SVG_SWATCH, SVG_SWATCH, SVG_SWATCH, palette[lg->colour[i]].fill);
        fprintf(f, "    <text x=\"%d\" y=\"%d\" xml:space=\"preserve\">", SVG_SWATCH + SVG_CHAR_W,
                ly);
        cli_xml_escape(f, lg->line[i]);
        fputs("</text>\n", f);
    }
    fputs("  </g>\n", f);
}

/* The whole document: a measuring pass for width/height, then one group per GPU. */
static void svg_document(FILE *f, struct legend *lg, const struct slice_map *maps, int n,
                         const struct mk_backend *b)
{
    int width = 0, height = SVG_MARGIN, y = SVG_MARGIN;
    char head[TITLE_LEN];
    for (int i = 0; i < n; i++) {
        int w;
        legend_build(lg, &maps[i]);
        w = svg_width(&maps[i], lg, title(maps[i].g, b, head, sizeof(head)));
        width = w > width ? w : width;
        height += svg_height(lg) + (i + 1 < n ? SVG_GPU_GAP : 0);
    }
    width += 2 * SVG_MARGIN;
    height += SVG_MARGIN;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"monospace\" font-size=\"12\">\n"
            "  <rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            width, height, width, height, width, height);
    for (int i = 0; i < n; i++) {
        legend_build(lg, &maps[i]);
        svg_gpu(f, &maps[i], lg, title(maps[i].g, b, head, sizeof(head)), y);
        y += svg_height(lg) + SVG_GPU_GAP;
    }
    fputs("</svg>\n", f);
}

/* Writes the SVG to path through path.tmp and rename(), so readers never see a partial
 * file. Returns 0 or -errno; path.tmp is removed on failure. */
static int svg_write(const char *path, const struct slice_map *maps, int n,
                     const struct mk_backend *b)
{
    char tmp[PATH_MAX];
    struct legend *lg;
    FILE *f;
    int r = 0;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    if (!(lg = mk__malloc(sizeof(*lg))))
        return -ENOMEM;
    if (!(f = fopen(tmp, "w"))) {
        r = -errno;
        mk__free(lg);
        return r;
    }
    svg_document(f, lg, maps, n, b);
    mk__free(lg);
    if (fflush(f) != 0)
        r = -errno;
    else if (ferror(f))
        r = -EIO;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

/* ---- JSON ---- */

static json_t *id_or_null(int id)
{
    return id >= 0 ? json_integer(id) : json_null();
}

static json_t *gpu_json(const struct slice_map *sm, const struct mk_backend *b)
{
    const struct mk_gpu *g = sm->g;
    json_t *o = smi_json_gpu(g), *mem = json_array(), *comp = json_array();
    for (int i = 0; i < sm->nmem; i++) {
        json_t *s = json_object();
        int gi = sm->mem[i].gi;
        json_object_set_new(s, "slice", json_integer(i));
        json_object_set_new(s, "gpu_instance_id", id_or_null(gi >= 0 ? g->gi[gi].id : -1));
        json_array_append_new(mem, s);
    }
    for (int i = 0; i < sm->ncomp; i++) {
        json_t *s = json_object();
        int gi = sm->comp[i].gi, ci = sm->comp[i].ci;
        json_object_set_new(s, "slice", json_integer(i));
        json_object_set_new(s, "gpu_instance_id", id_or_null(gi >= 0 ? g->gi[gi].id : -1));
        json_object_set_new(s, "compute_instance_id",
                            id_or_null(gi >= 0 && ci >= 0 ? g->gi[gi].ci[ci].id : -1));
        json_array_append_new(comp, s);
    }
    json_object_set_new(o, "backend", json_string(mk_backend_name(b)));
    json_object_set_new(o, "memory_slices", mem);
    json_object_set_new(o, "compute_slices", comp);
    json_object_set_new(o, "gpu_instances", smi_json_gis(g));
    soft_json_status(b, g, o);
    return o;
}

/* ---- the command ---- */

/* Parses status's options into cli and *ret_svg. Returns 0, or an exit status. */
static int parse(struct cli *cli, int argc, char **argv, const char **ret_svg)
{
    static const struct option opts[] = {
        {"svg", required_argument, NULL, OPT_SVG}, CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        int r;
        if (c == OPT_SVG) {
            if (!*optarg)
                return cli_usage_error("status: --svg needs a file name");
            *ret_svg = optarg;
            continue;
        }
        r = cli_common_option(cli, c, optarg);
        if (r < 0 || c == '?')
            return CLI_EXIT_USAGE;
        if (r == 0)
            return cli_usage_error("status: unexpected option");
    }
    if (optind < argc)
        return cli_usage_error("status: unexpected argument \"%s\"", argv[optind]);
    return 0;
}

/* Prints the maps as JSON or text, as stdout calls for. Returns 0 or -ENOMEM. */
static int print_all(struct cli *cli, const struct slice_map *maps, int n,
                     const struct mk_backend *b)
{
    struct style st = {.unicode = cli->tty, .colour = cli->tty && cli->color};
    struct legend *lg;
    if (cli->json) {
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a, gpu_json(&maps[i], b));
        cli_print_json(a);
        return 0;
    }
    if (!(lg = mk__malloc(sizeof(*lg))))
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        char buf[TITLE_LEN];
        if (i)
            fputc('\n', stdout);
        print_gpu(stdout, &st, &maps[i], title(maps[i].g, b, buf, sizeof(buf)), lg);
        soft_print_status(stdout, b, maps[i].g);
    }
    mk__free(lg);
    return 0;
}

int status_print_gpu(FILE *f, const struct cli *cli, const struct mk_gpu *g, const char *heading)
{
    struct style st = {.unicode = cli->tty, .colour = cli->tty && cli->color};
    struct slice_map *sm = mk__calloc(1, sizeof(*sm));
    struct legend *lg = mk__malloc(sizeof(*lg));
    if (!sm || !lg) {
        mk__free(sm);
        mk__free(lg);
        return -ENOMEM;
    }
    map_build(g, sm);
    print_gpu(f, &st, sm, heading, lg);
    mk__free(lg);
    mk__free(sm);
    return 0;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    const char *svg = NULL;
    struct slice_map *maps;
    struct mk_backend *b;
    int r, n = 0, total;

    if ((r = parse(cli, argc, argv, &svg)) != 0)
        return r;
    if (!(b = cli_backend(cli, false)))
        return cli->backend_exit;
    total = mk_backend_gpu_count(b);
    if (cli->gpu >= total) {
        printf("No devices were found\n");
        return mk_status_exit_code(-ENOENT);
    }
    if (!(maps = mk__calloc(MAX_GPUS, sizeof(*maps))))
        return cli_fail(255, "%s", mk_status_text(-ENOMEM));
    for (int i = 0; i < total && n < MAX_GPUS; i++)
        if (cli->gpu < 0 || cli->gpu == i)
            map_build(mk_backend_gpu(b, i), &maps[n++]);
    if (n == 0) {
        mk__free(maps);
        printf("No devices were found\n");
        return mk_status_exit_code(-ENOENT);
    }
    if ((r = print_all(cli, maps, n, b)) < 0)
        r = cli_fail(255, "%s", mk_status_text(r));
    else if (svg && (r = svg_write(svg, maps, n, b)) < 0)
        r = cli_fail(255, "cannot write %s: %s", svg, strerror(-r));
    mk__free(maps);
    return r;
}
