/*
 * planner-input.c - the planner's input files: workloads and fleets in YAML or JSON, sizes
 * with units, headroom (docs/planner.md, "Input").
 *
 * Both formats are read through libyaml's document API, which keeps the line and column of
 * every value, so every semantic error names its place:
 *
 *     origin:line:column: found <what was there>; expected <what is allowed>
 *
 * JSON is a subset of YAML's flow syntax, but YAML accepts things JSON does not, so JSON text
 * (it starts with '{' or '[', or the file name ends in .json) is first checked by jansson,
 * whose syntax errors carry their own line and column. Numbers (replicas, priority, count)
 * must be unquoted, as JSON writes them; sizes and compute may be either.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "migkit/planner.h"

/* Scalar text longer than this is cut in messages so they fit MK_ERROR_LEN. */
#define SHOW_LEN 40
/* mk_plan_input_load() refuses larger files: 7,000 workloads take about 1 MiB. */
#define MAX_FILE_SIZE (64u << 20)
/* Bounds that catch typos long before they could overflow anything: a workload of more
 * replicas than 10,000 GPUs hold, a fleet entry of more GPUs than a large data centre. */
#define MAX_REPLICAS 70000
#define MAX_COUNT    100000
#define MAX_PRIORITY 1000000
/* The largest GPU has 192 SMs per GI and 8 compute slices (catalog); larger minimums are
 * accepted up to these bounds and simply fit no profile. */
#define MAX_SMS    100000
#define MAX_SLICES 64
/* Headroom above 1000% is certainly a mistake (and keeps need_bytes within 64 bits). */
#define MAX_HEADROOM_PPM (10u * MK_PLAN_PPM)
/* 1 TiB: no GPU comes near it, and it keeps memory x (1 + headroom) within 64 bits. */
#define MAX_MEMORY (1ull << 40)

struct ctx {
    const char *origin;
    struct mk_error *err;
    yaml_document_t *doc;
    const struct mk_catalog *cat;
};

static int fail(const struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char what[MK_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mk_error_set(c->err, -EINVAL, "%s:%zu:%zu: %s", c->origin, n->start_mark.line + 1,
                        n->start_mark.column + 1, what);
}

static const char *text_of(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Describes node n for "found ..." messages: a list, a mapping, "text" or quoted "7". */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return n->data.sequence.items.top == n->data.sequence.items.start ? "an empty list"
                                                                          : "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->data.scalar.length == 0 && is_plain(n))
        return "an empty value";
    snprintf(buf, len, "%s\"%.*s%s\"", is_plain(n) ? "" : "quoted ", SHOW_LEN, text_of(n),
             n->data.scalar.length > SHOW_LEN ? "..." : "");
    return buf;
}
#define DESC(n) describe((n), (char[SHOW_LEN + 16]){0}, SHOW_LEN + 16)

static yaml_node_t *node(const struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

/*
 * Checks that mapping n has only keys from allowed (a NULL-terminated list) and none twice.
 * keys_text is the list as the message prints it. Keys must be scalars.
 */
static int check_keys(const struct ctx *c, const yaml_node_t *n, const char *const *allowed,
                      const char *keys_text)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node(c, p->key);
        bool known = false;
        if (k->type != YAML_SCALAR_NODE)
            return fail(c, k, "found %s as a key; expected one of %s", DESC(k), keys_text);
        for (int i = 0; allowed[i]; i++)
            known = known || strcmp(text_of(k), allowed[i]) == 0;
        if (!known)
            return fail(c, k, "found unknown key %s; expected one of %s", DESC(k), keys_text);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k0 = node(c, q->key);
            if (strcmp(text_of(k0), text_of(k)) == 0)
                return fail(c, k,
                            "found duplicate key %s (first at %zu:%zu); expected each "
                            "key once",
                            DESC(k), k0->start_mark.line + 1, k0->start_mark.column + 1);
        }
    }
    return 0;
}

/* The value of key in mapping n, or NULL. Keys were checked to be scalars. */
static yaml_node_t *lookup(const struct ctx *c, const yaml_node_t *n, const char *key)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        if (strcmp(text_of(node(c, p->key)), key) == 0)
            return node(c, p->value);
    return NULL;
}

/* Parses an unquoted decimal integer in [lo, hi] (an optional '-', no leading zeros). */
static int get_int(const struct ctx *c, const yaml_node_t *n, long lo, long hi, const char *what,
                   int *out)
{
    const char *s, *d;
    long v = 0;
    bool neg;
    if (!is_plain(n))
        return fail(c, n, "found %s; expected %s (an unquoted integer from %ld to %ld)", DESC(n),
                    what, lo, hi);
    s = text_of(n);
    neg = *s == '-';
    d = s + neg;
    if (!*d || (d[0] == '0' && d[1]))
        goto bad;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > hi + 1L)
            goto bad;
        v = v * 10 + (*d - '0');
    }
    v = neg ? -v : v;
    if (v < lo || v > hi)
        goto bad;
    *out = (int)v;
    return 0;
bad:
    return fail(c, n, "found %s; expected %s (an integer from %ld to %ld)", DESC(n), what, lo, hi);
}

/* Parses "<digits>[.<digits>]" at *s, advancing it: the value as mantissa / 10^decimals.
 * Returns false when there are no digits or more decimals than max_dec. */
static bool decimal(const char **s, uint64_t *ret_mant, int *ret_dec, int max_dec)
{
    const char *p = *s;
    uint64_t mant = 0;
    int dec = -1, digits = 0;
    for (; (*p >= '0' && *p <= '9') || (*p == '.' && dec < 0); p++) {
        if (*p == '.') {
            dec = 0;
            continue;
        }
        if (mant > (UINT64_MAX - 9) / 10)
            return false;
        mant = mant * 10 + (uint64_t)(*p - '0');
        digits++;
        dec += dec >= 0;
    }
    if (digits == 0 || dec > max_dec || p[-1] == '.')
        return false;
    *ret_mant = mant;
    *ret_dec = dec < 0 ? 0 : dec;
    *s = p;
    return true;
}

int mk_plan_parse_size(const char *s, uint64_t *ret_bytes)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {
        {"GiB", MK_PLAN_GIB}, {"GB", MK_PLAN_GB}, {"MiB", MK_PLAN_MIB}, {"MB", MK_PLAN_MB}};
    uint64_t mant, scale = 1, bytes;
    int dec;
    mk_assert_return(s && ret_bytes, -EINVAL);
    while (*s == ' ')
        s++;
    if (*s == '-') /* a negative size is its own error, when the rest is a size */
        return s[1] != '-' && mk_plan_parse_size(s + 1, &bytes) == 0 ? -ERANGE : -EINVAL;
    if (!decimal(&s, &mant, &dec, 9))
        return -EINVAL;
    while (*s == ' ')
        s++;
    for (size_t u = 0; u < MK_ELEMENTSOF(units); u++) {
        if (strcmp(s, units[u].name) != 0)
            continue;
        for (int i = 0; i < dec; i++)
            scale *= 10;
        /* mant / scale * unit, rounded up; mant <= 2^40 * 10^9 / unit keeps it exact. */
        if (mant / scale > MAX_MEMORY / units[u].bytes + 1 || mant > UINT64_MAX / units[u].bytes)
            return -EOVERFLOW;
        bytes = (mant * units[u].bytes + scale - 1) / scale;
        if (bytes > MAX_MEMORY)
            return -EOVERFLOW;
        *ret_bytes = bytes;
        return 0;
    }
    return -EINVAL;
}

int mk_plan_parse_headroom(const char *s, uint32_t *ret_ppm)
{
    uint64_t mant, ppm;
    int dec;
    bool percent;
    mk_assert_return(s && ret_ppm, -EINVAL);
    if (!decimal(&s, &mant, &dec, 6))
        return -EINVAL;
    percent = *s == '%';
    if (s[percent] != '\0' || (percent && dec > 4))
        return -EINVAL;
    /* ppm = value * 10^6 (or value * 10^4 for a percentage), exact for <= 6 (4) decimals */
    ppm = mant;
    for (int i = dec; i < (percent ? 4 : 6); i++) {
        if (ppm > MAX_HEADROOM_PPM)
            return -EINVAL;
        ppm *= 10;
    }
    if (ppm > MAX_HEADROOM_PPM)
        return -EINVAL;
    *ret_ppm = (uint32_t)ppm;
    return 0;
}

/* memory: a size with a unit. */
static int get_memory(const struct ctx *c, const yaml_node_t *n, struct mk_plan_workload *w)
{
    int r =
        n->type == YAML_SCALAR_NODE ? mk_plan_parse_size(text_of(n), &w->memory_bytes) : -EINVAL;
    if (r == -ERANGE)
        return fail(c, n, "found negative memory %s; expected a size of at least 1 byte", DESC(n));
    if (r == -EOVERFLOW)
        return fail(c, n, "found memory %s; expected at most 1 TiB", DESC(n));
    if (r < 0 || w->memory_bytes == 0)
        return fail(c, n,
                    "found %s; expected a memory size such as 18GiB, 7.5GB or 512MiB (units "
                    "GiB, GB, MiB, MB)",
                    DESC(n));
    snprintf(w->memory_text, sizeof(w->memory_text), "%.*s", (int)sizeof(w->memory_text) - 1,
             text_of(n));
    return 0;
}

/* compute: "<g>g" (compute slices) or an integer (SMs). */
static int get_compute(const struct ctx *c, const yaml_node_t *n, struct mk_plan_workload *w)
{
    const char *s = n->type == YAML_SCALAR_NODE ? text_of(n) : "";
    size_t len = strlen(s);
    long v = 0;
    bool slices = len > 1 && s[len - 1] == 'g';
    size_t digits = len - slices;
    for (size_t i = 0; i < digits && v <= MAX_SMS; i++) {
        if (s[i] < '0' || s[i] > '9' || (i == 0 && s[i] == '0')) {
            v = -1;
            break;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (digits == 0 || v <= 0 || v > (slices ? MAX_SLICES : MAX_SMS))
        return fail(c, n,
                    "found %s; expected a compute minimum: compute slices such as 2g (1-%d), "
                    "or an SM count (1-%d)",
                    DESC(n), MAX_SLICES, MAX_SMS);
    if (slices)
        w->compute_slices = (int)v;
    else
        w->compute_sms = (int)v;
    return 0;
}

/* A model slug from the catalog. */
static int get_model(const struct ctx *c, const yaml_node_t *n, const struct mk_model **ret)
{
    const struct mk_model *m = NULL;
    if (n->type == YAML_SCALAR_NODE)
        m = mk_catalog_find(c->cat, text_of(n));
    if (!m)
        return fail(c, n,
                    "found unknown GPU model %s; expected a catalog slug such as "
                    "h100-sxm5-80gb ('migctl gpus' lists them)",
                    DESC(n));
    *ret = m;
    return 0;
}

/* models: a slug or a list of slugs, each once. */
static int get_allowed(const struct ctx *c, const yaml_node_t *n, struct mk_plan_workload *w)
{
    if (n->type == YAML_SCALAR_NODE) {
        w->nallowed = 1;
        return get_model(c, n, &w->allowed[0]);
    }
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top == n->data.sequence.items.start)
        return fail(c, n,
                    "found %s; expected a list of GPU model slugs (leave models out to "
                    "allow every model)",
                    DESC(n));
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        const yaml_node_t *s = node(c, *i);
        const struct mk_model *m = NULL; /* set by get_model; -O3 cannot see that */
        int r;
        if (w->nallowed == MK_PLAN_MAX_ALLOWED)
            return fail(c, s, "found more than %d models; expected at most %d", MK_PLAN_MAX_ALLOWED,
                        MK_PLAN_MAX_ALLOWED);
        if ((r = get_model(c, s, &m)) < 0)
            return r;
        for (int k = 0; k < w->nallowed; k++)
            if (w->allowed[k] == m)
                return fail(c, s, "found model %s twice; expected each model once", m->slug);
        w->allowed[w->nallowed++] = m;
    }
    return 0;
}

static int get_name(const struct ctx *c, const yaml_node_t *n, char *out)
{
    size_t len = n->type == YAML_SCALAR_NODE ? n->data.scalar.length : 0;
    bool ok = len > 0 && len < MK_NAME_LEN && strlen(text_of(n)) == len;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)text_of(n)[i] >= ' ' && text_of(n)[i] != 0x7f;
    if (!ok)
        return fail(c, n,
                    "found %s; expected a workload name (1-%d characters, no control "
                    "characters)",
                    DESC(n), MK_NAME_LEN - 1);
    memcpy(out, text_of(n), len + 1);
    return 0;
}

/* One workload mapping. Defaults: replicas 1, priority 0, no compute minimum, any model. */
static int get_workload(const struct ctx *c, const yaml_node_t *n, struct mk_plan_workload *w)
{
    static const char *const keys[] = {"name",    "memory", "replicas", "priority",
                                       "compute", "models", NULL};
    const char *keys_text = "name, memory, replicas, priority, compute, models";
    const yaml_node_t *v;
    int r;
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "found %s; expected a workload (a mapping with name and memory)",
                    DESC(n));
    if ((r = check_keys(c, n, keys, keys_text)) < 0)
        return r;
    memset(w, 0, sizeof(*w));
    w->pos = (struct mk_config_pos){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    w->replicas = 1;
    if (!(v = lookup(c, n, "name")))
        return fail(c, n, "found a workload without name; expected name and memory");
    if ((r = get_name(c, v, w->name)) < 0)
        return r;
    if (!(v = lookup(c, n, "memory")))
        return fail(c, n, "found workload %s without memory; expected memory such as 18GiB",
                    w->name);
    if ((r = get_memory(c, v, w)) < 0)
        return r;
    if ((v = lookup(c, n, "replicas")) &&
        (r = get_int(c, v, 1, MAX_REPLICAS, "a replica count", &w->replicas)) < 0)
        return r;
    if ((v = lookup(c, n, "priority")) &&
        (r = get_int(c, v, -MAX_PRIORITY, MAX_PRIORITY, "a priority", &w->priority)) < 0)
        return r;
    if ((v = lookup(c, n, "compute")) && (r = get_compute(c, v, w)) < 0)
        return r;
    if ((v = lookup(c, n, "models")) && (r = get_allowed(c, v, w)) < 0)
        return r;
    return 0;
}

static int get_workloads(const struct ctx *c, const yaml_node_t *n, struct mk_plan_input *in)
{
    size_t count;
    long total = 0;
    int r;
    if (n->type != YAML_SEQUENCE_NODE ||
        (count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)) == 0)
        return fail(c, n, "found %s; expected a list of at least one workload", DESC(n));
    if (!(in->workloads = mk__calloc(count, sizeof(*in->workloads))))
        return mk_error_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node(c, n->data.sequence.items.start[i]);
        struct mk_plan_workload *w = &in->workloads[i];
        if ((r = get_workload(c, item, w)) < 0)
            return r;
        for (size_t k = 0; k < i; k++)
            if (strcmp(in->workloads[k].name, w->name) == 0)
                return fail(c, item,
                            "found workload name \"%s\" again (first at %d:%d); "
                            "expected each name once",
                            w->name, in->workloads[k].pos.line, in->workloads[k].pos.column);
        total += w->replicas;
        if (total > MAX_REPLICAS)
            return fail(c, item, "found more than %d replicas in all; expected at most %d",
                        MAX_REPLICAS, MAX_REPLICAS);
        in->nworkloads++;
    }
    return 0;
}

/* fleet: [{model, count}], count default 1. */
static int get_fleet(const struct ctx *c, const yaml_node_t *n, struct mk_plan_input *in)
{
    static const char *const keys[] = {"model", "count", NULL};
    size_t count;
    long total = 0;
    int r;
    if (n->type != YAML_SEQUENCE_NODE ||
        (count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)) == 0)
        return fail(c, n, "found %s; expected a list of at least one {model, count}", DESC(n));
    if (!(in->fleet = mk__calloc(count, sizeof(*in->fleet))))
        return mk_error_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *e = node(c, n->data.sequence.items.start[i]), *v;
        struct mk_plan_fleet_entry *f = &in->fleet[i];
        if (e->type != YAML_MAPPING_NODE)
            return fail(c, e, "found %s; expected a fleet entry {model: SLUG, count: N}", DESC(e));
        if ((r = check_keys(c, e, keys, "model, count")) < 0)
            return r;
        f->pos = (struct mk_config_pos){(int)e->start_mark.line + 1, (int)e->start_mark.column + 1};
        f->count = 1;
        if (!(v = lookup(c, e, "model")))
            return fail(c, e, "found a fleet entry without model; expected model: SLUG");
        if ((r = get_model(c, v, &f->model)) < 0)
            return r;
        if ((v = lookup(c, e, "count")) &&
            (r = get_int(c, v, 1, MAX_COUNT, "a GPU count", &f->count)) < 0)
            return r;
        total += f->count;
        if (total > MAX_COUNT)
            return fail(c, e, "found more than %d GPUs in all; expected at most %d", MAX_COUNT,
                        MAX_COUNT);
        in->nfleet++;
    }
    return 0;
}

static int get_root(const struct ctx *c, const yaml_node_t *root, unsigned flags,
                    struct mk_plan_input *in)
{
    static const char *const all_keys[] = {"fleet", "workloads", "headroom", NULL};
    static const char *const fleet_keys[] = {"fleet", NULL};
    bool fleet_only = flags & MK_PLAN_INPUT_FLEET_ONLY;
    const yaml_node_t *v;
    int r;
    if (root->type != YAML_MAPPING_NODE)
        return fail(c, root, "found %s; expected a mapping with %s", DESC(root),
                    fleet_only ? "fleet" : "workloads (and optionally fleet and headroom)");
    if ((r = check_keys(c, root, fleet_only ? fleet_keys : all_keys,
                        fleet_only ? "fleet (this is a fleet file)"
                                   : "fleet, workloads, headroom")) < 0)
        return r;
    if ((v = lookup(c, root, "headroom"))) {
        if (v->type != YAML_SCALAR_NODE || mk_plan_parse_headroom(text_of(v), &in->headroom_ppm))
            return fail(c, v, "found %s; expected a headroom from 0 to 10 such as 0.2 or 20%%",
                        DESC(v));
        in->has_headroom = true;
    }
    if ((v = lookup(c, root, "fleet")) && (r = get_fleet(c, v, in)) < 0)
        return r;
    if ((v = lookup(c, root, "workloads")) && (r = get_workloads(c, v, in)) < 0)
        return r;
    if ((flags & MK_PLAN_INPUT_WORKLOADS) && in->nworkloads == 0)
        return fail(c, root, "found no workloads; expected workloads: a list of {name, memory}");
    if (fleet_only && in->nfleet == 0)
        return fail(c, root, "found no fleet; expected fleet: a list of {model, count}");
    return 0;
}

/* True when text is meant as JSON: it starts with '{' or '[', or origin ends in .json. */
static bool looks_json(const char *text, size_t len, const char *origin)
{
    size_t ol = strlen(origin), i = 0;
    if (ol > 5 && strcmp(origin + ol - 5, ".json") == 0)
        return true;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    return i < len && (text[i] == '{' || text[i] == '[');
}

static int json_check(const char *text, size_t len, const char *origin, struct mk_error *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return mk_error_set(err, -EINVAL,
                            "%s:%d:%d: found invalid JSON (%s); expected "
                            "well-formed JSON",
                            origin, je.line, je.column, je.text);
    json_decref(v);
    return 0;
}

/* Loads the one YAML document of text into doc. Returns 0 or -EINVAL/-ENOMEM. */
static int load_doc(const char *text, size_t len, const char *origin, yaml_document_t *doc,
                    struct mk_error *err)
{
    yaml_parser_t yp;
    yaml_document_t extra;
    int r = 0;
    if (memchr(text, '\0', len))
        return mk_error_set(err, -EINVAL, "%s: found a NUL byte; expected text", origin);
    if (!yaml_parser_initialize(&yp))
        return mk_error_set(err, -ENOMEM, "%s: out of memory", origin);
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    if (!yaml_parser_load(&yp, doc)) {
        r = mk_error_set(err, yp.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL,
                         "%s:%zu:%zu: found invalid YAML (%s); expected well-formed YAML", origin,
                         yp.problem_mark.line + 1, yp.problem_mark.column + 1,
                         yp.problem ? yp.problem : "malformed input");
        yaml_parser_delete(&yp);
        return r;
    }
    if (!yaml_document_get_root_node(doc)) {
        r = mk_error_set(err, -EINVAL,
                         "%s:1:1: found an empty file; expected a mapping with "
                         "workloads or fleet",
                         origin);
    } else if (!yaml_parser_load(&yp, &extra)) {
        r = mk_error_set(err, -EINVAL,
                         "%s:%zu:%zu: found invalid YAML (%s); expected one "
                         "document",
                         origin, yp.problem_mark.line + 1, yp.problem_mark.column + 1,
                         yp.problem ? yp.problem : "malformed");
    } else {
        if (yaml_document_get_root_node(&extra))
            r = mk_error_set(err, -EINVAL,
                             "%s:%zu:%zu: found a second YAML document; "
                             "expected one document per file",
                             origin, extra.start_mark.line + 1, extra.start_mark.column + 1);
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&yp);
    if (r < 0)
        yaml_document_delete(doc);
    return r;
}

void mk_plan_input_free(struct mk_plan_input *in)
{
    if (!in)
        return;
    mk__free(in->fleet);
    mk__free(in->workloads);
    mk__free(in);
}

int mk_plan_input_parse(const char *text, size_t len, const char *origin,
                        const struct mk_catalog *cat, unsigned flags, struct mk_plan_input **ret,
                        struct mk_error *err)
{
    yaml_document_t doc;
    struct mk_plan_input *in;
    struct ctx c = {.origin = origin, .err = err, .doc = &doc, .cat = cat};
    int r;
    mk_assert_return(text && origin && cat && ret, -EINVAL);
    if (looks_json(text, len, origin) && (r = json_check(text, len, origin, err)) < 0)
        return r;
    if ((r = load_doc(text, len, origin, &doc, err)) < 0)
        return r;
    if (!(in = mk__calloc(1, sizeof(*in)))) {
        yaml_document_delete(&doc);
        return mk_error_set(err, -ENOMEM, "%s: out of memory", origin);
    }
    snprintf(in->origin, sizeof(in->origin), "%s", origin);
    in->headroom_ppm = MK_PLAN_DEFAULT_HEADROOM_PPM;
    r = get_root(&c, yaml_document_get_root_node(&doc), flags, in);
    yaml_document_delete(&doc);
    if (r < 0) {
        mk_plan_input_free(in);
        return r;
    }
    *ret = in;
    return 0;
}

/* Reads all of f (at most MAX_FILE_SIZE bytes) into a new buffer. */
static int read_all(FILE *f, const char *origin, char **ret, size_t *ret_len, struct mk_error *err)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        size_t n;
        if (cap - len < 4096) {
            char *b;
            cap = cap ? 2 * cap : 65536;
            if (cap > MAX_FILE_SIZE + 65536) {
                mk__free(buf);
                return mk_error_set(err, -EFBIG,
                                    "%s: found a file over %u MiB; expected a "
                                    "workloads file",
                                    origin, MAX_FILE_SIZE >> 20);
            }
            if (!(b = mk__realloc(buf, cap))) {
                mk__free(buf);
                return mk_error_set(err, -ENOMEM, "%s: out of memory", origin);
            }
            buf = b;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        mk__free(buf);
        return mk_error_set(err, -EIO, "%s: read error", origin);
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

int mk_plan_input_load(const char *path, const struct mk_catalog *cat, unsigned flags,
                       struct mk_plan_input **ret, struct mk_error *err)
{
    bool std = strcmp(path, "-") == 0;
    const char *origin = std ? "<stdin>" : path;
    FILE *f = std ? stdin : fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    int r;
    if (!f)
        return mk_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    r = read_all(f, origin, &text, &len, err);
    if (!std)
        fclose(f);
    if (r < 0)
        return r;
    r = mk_plan_input_parse(text, len, origin, cat, flags, ret, err);
    mk__free(text);
    return r;
}
