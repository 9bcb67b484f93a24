/*
 * config.c - mig-parted v1 configuration files: strict parsing with positioned errors, MIG
 * device name syntax and resolution against a GPU model, and entry selection.
 *
 * Parsing runs in two passes. The first reads libyaml's event stream into a small tree of
 * scalars, sequences and mappings, each with its 1-based line:column. We use the event API
 * rather than the document API because only events tell us about anchors and aliases (which
 * we reject; the document loader silently expands them) and let us cap the nesting depth. The
 * second pass walks the tree and fills a struct mk_config, checking every rule listed in
 * docs/config.md. Both passes stop at the first problem with
 *
 *     origin:line:column: found <what was there>; expected <what is allowed>
 *
 * in the caller's struct mk_error, and free everything they built: a failed parse leaves no
 * allocation behind and sets no out-parameter. Emitting (YAML and JSON) is in config-emit.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "migkit/config.h"

/* The deepest real configuration nests 5 levels (root, mig-configs, entry list, entry,
 * mig-devices); anything past 32 is not a configuration, and the cap keeps the recursive
 * tree builder's stack use bounded on hostile input. */
#define MAX_DEPTH 32

/* No GPU holds more than 120 MIG devices (the catalog allows at most 15 GIs, each with at most
 * 8 compute slices), so a larger count is a typo. Checking the bound here also keeps every
 * count far from integer overflow when later code sums counts. */
#define MAX_COUNT 128

/* GPU indices: a node holds at most MK_CONFIG_MAX_DEVICES GPUs (as the simulator). */
#define MAX_INDEX (MK_CONFIG_MAX_DEVICES - 1)

/* mk_config_load() refuses larger files: the default file is 13 KiB. */
#define MAX_FILE_SIZE (16u << 20)

/* Scalar text longer than this is cut in error messages so they fit MK_ERROR_LEN. */
#define SHOW_LEN 40

/* --- the YAML tree --- */

enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP };

struct node {
    enum node_kind kind;
    struct mk_config_pos pos;
    bool plain;    /* scalar written without quotes (YAML 1.1 may read it as a number) */
    char *text;    /* scalar text, NUL-terminated */
    size_t n, cap; /* children; a mapping stores key, value, key, value, ... */
    struct node **kids;
};

struct ctx {
    const char *origin;
    struct mk_error *err;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    mk__free(n->kids);
    mk__free(n->text);
    mk__free(n);
}

/* Records "origin:line:column: <fmt>" as an -EINVAL error and returns -EINVAL. */
static int fail(const struct ctx *c, struct mk_config_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct ctx *c, struct mk_config_pos pos, const char *fmt, ...)
{
    char what[MK_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mk_error_set(c->err, -EINVAL, "%s:%d:%d: %s", c->origin, pos.line, pos.column, what);
}

static int oom(const struct ctx *c)
{
    return mk_error_set(c->err, -ENOMEM, "%s: out of memory", c->origin);
}

static struct mk_config_pos mark_pos(yaml_mark_t m)
{
    struct mk_config_pos p = {(int)m.line + 1, (int)m.column + 1};
    return p;
}

/* Line and column of byte offset off in text, counting UTF-8 characters as libyaml does
 * (reader errors carry only an offset). */
static struct mk_config_pos offset_pos(const char *text, size_t len, size_t off)
{
    struct mk_config_pos p = {1, 1};
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            p.line++;
            p.column = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            p.column++;
        }
    }
    return p;
}

/* Turns libyaml's error state into our message: its problem text, and the context it was
 * parsing with that context's position, which usually points at the real mistake. */
static int yaml_fail(const struct ctx *c, const yaml_parser_t *yp, const char *text, size_t len)
{
    const char *problem = yp->problem ? yp->problem : "malformed input";
    if (yp->error == YAML_MEMORY_ERROR)
        return oom(c);
    if (yp->error == YAML_READER_ERROR)
        return fail(c, offset_pos(text, len, yp->problem_offset),
                    "found invalid text (%s); expected UTF-8 YAML", problem);
    if (yp->context) {
        struct mk_config_pos cp = mark_pos(yp->context_mark);
        return fail(c, mark_pos(yp->problem_mark),
                    "found invalid YAML (%s %s at %d:%d); expected well-formed YAML", problem,
                    yp->context, cp.line, cp.column);
    }
    return fail(c, mark_pos(yp->problem_mark), "found invalid YAML (%s); expected well-formed YAML",
                problem);
}

/* --- pass 1: events to tree --- */

struct reader {
    struct ctx c;
    yaml_parser_t yp;
    const char *text;
    size_t len;
};

static int next_event(struct reader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->yp, ev))
        return yaml_fail(&r->c, &r->yp, r->text, r->len);
    return 0;
}

/* Rejects the YAML features we do not support, at their position: aliases, anchors and tags.
 * Without them, every value in the file means exactly what it says where it says it. */
static int check_plain_event(struct reader *r, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    struct mk_config_pos pos = mark_pos(ev->start_mark);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fail(&r->c, pos,
                    "found alias *%.*s; expected a value written out (anchors, aliases and merge "
                    "keys are not supported)",
                    SHOW_LEN, (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        return fail(&r->c, pos, "found unexpected YAML structure; expected a value");
    }
    if (anchor)
        return fail(&r->c, pos,
                    "found anchor &%.*s; expected a value without anchor (anchors, aliases and "
                    "merge keys are not supported)",
                    SHOW_LEN, (const char *)anchor);
    if (tag)
        return fail(&r->c, pos,
                    "found tag %.*s; expected an untagged value (tags are not supported)", SHOW_LEN,
                    (const char *)tag);
    return 0;
}

static int node_new(struct reader *r, enum node_kind kind, struct mk_config_pos pos,
                    struct node **ret)
{
    struct node *n = mk__calloc(1, sizeof(*n));
    if (!n)
        return oom(&r->c);
    n->kind = kind;
    n->pos = pos;
    *ret = n;
    return 0;
}

/* Appends kid to n; on failure frees kid. */
static int node_add(struct reader *r, struct node *n, struct node *kid)
{
    if (n->n == n->cap) {
        size_t cap = n->cap ? 2 * n->cap : 8;
        struct node **k = mk__realloc(n->kids, cap * sizeof(*k));
        if (!k) {
            node_free(kid);
            return oom(&r->c);
        }
        n->kids = k;
        n->cap = cap;
    }
    n->kids[n->n++] = kid;
    return 0;
}

static int build_scalar(struct reader *r, const yaml_event_t *ev, struct node **ret)
{
    struct node *n = NULL;
    size_t len = ev->data.scalar.length;
    const char *value = (const char *)ev->data.scalar.value;
    int rc;
    if (strlen(value) != len)
        return fail(&r->c, mark_pos(ev->start_mark),
                    "found a NUL character in a value; expected text");
    if ((rc = node_new(r, NODE_SCALAR, mark_pos(ev->start_mark), &n)) < 0)
        return rc;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!(n->text = mk__strdup(value))) {
        node_free(n);
        return oom(&r->c);
    }
    *ret = n;
    return 0;
}

static int build(struct reader *r, yaml_event_t *ev, int depth, struct node **ret);

/* Builds a sequence or mapping whose start event (already consumed) was at pos, reading the
 * events of its children up to its end event. */
static int build_collection(struct reader *r, enum node_kind kind, struct mk_config_pos pos,
                            int depth, struct node **ret)
{
    yaml_event_type_t end = kind == NODE_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    struct node *n = NULL;
    int rc = node_new(r, kind, pos, &n);
    while (rc == 0) {
        yaml_event_t ev;
        struct node *kid = NULL;
        if ((rc = next_event(r, &ev)) < 0)
            break;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            *ret = n;
            return 0;
        }
        if ((rc = build(r, &ev, depth + 1, &kid)) == 0)
            rc = node_add(r, n, kid);
    }
    node_free(n);
    return rc;
}

/*
 * Builds the node that starts with event ev, reading the events of its children. Takes
 * ownership of ev: it is deleted on every path. depth counts enclosing collections.
 */
static int build(struct reader *r, yaml_event_t *ev, int depth, struct node **ret)
{
    struct mk_config_pos pos = mark_pos(ev->start_mark);
    enum node_kind kind = ev->type == YAML_MAPPING_START_EVENT ? NODE_MAP : NODE_SEQ;
    int rc = check_plain_event(r, ev);
    if (rc == 0 && depth > MAX_DEPTH)
        rc = fail(&r->c, pos,
                  "found nesting deeper than %d levels; expected a mig-parted v1 "
                  "configuration",
                  MAX_DEPTH);
    if (rc == 0 && ev->type == YAML_SCALAR_EVENT) {
        rc = build_scalar(r, ev, ret);
        yaml_event_delete(ev);
        return rc;
    }
    yaml_event_delete(ev);
    if (rc < 0)
        return rc;
    return build_collection(r, kind, pos, depth, ret);
}

/* Reads the next event, which must be of type want (libyaml guarantees the stream's
 * structure, so anything else is an internal surprise, still reported with a position). */
static int expect_event(struct reader *r, yaml_event_type_t want, yaml_event_t *ev)
{
    int rc = next_event(r, ev);
    if (rc == 0 && ev->type != want) {
        struct mk_config_pos pos = mark_pos(ev->start_mark);
        yaml_event_delete(ev);
        return fail(&r->c, pos, "found unexpected YAML structure; expected one document");
    }
    return rc;
}

/*
 * Reads the whole stream into a tree. Exactly one document is allowed: an empty stream (an
 * empty file, or only comments) and a second document are errors.
 */
static int read_tree(struct reader *r, struct node **ret)
{
    struct mk_config_pos first = {1, 1};
    struct node *root = NULL;
    yaml_event_t ev;
    int rc;

    if ((rc = expect_event(r, YAML_STREAM_START_EVENT, &ev)) < 0)
        return rc;
    yaml_event_delete(&ev);
    if ((rc = next_event(r, &ev)) < 0)
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return fail(&r->c, first,
                    "found an empty file; expected a mapping with version and "
                    "mig-configs");
    }
    yaml_event_delete(&ev); /* DOCUMENT_START: the only other event libyaml sends here */
    if ((rc = next_event(r, &ev)) < 0 || (rc = build(r, &ev, 0, &root)) < 0)
        return rc;
    if ((rc = expect_event(r, YAML_DOCUMENT_END_EVENT, &ev)) == 0) {
        yaml_event_delete(&ev);
        if ((rc = next_event(r, &ev)) == 0) {
            if (ev.type != YAML_STREAM_END_EVENT)
                rc = fail(&r->c, mark_pos(ev.start_mark),
                          "found a second YAML document; expected one document per file");
            yaml_event_delete(&ev);
        }
    }
    if (rc < 0) {
        node_free(root);
        return rc;
    }
    *ret = root;
    return 0;
}

/* --- pass 2 helpers --- */

/* A plain empty value, ~ or null: what YAML reads as null. */
static bool is_null(const struct node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->kind != NODE_SCALAR || !n->plain)
        return false;
    for (size_t i = 0; i < MK_ELEMENTSOF(nulls); i++)
        if (strcmp(n->text, nulls[i]) == 0)
            return true;
    return false;
}

/* Describes node n for "found ..." ("a list", "\"abc\"", "quoted \"7\""); may use buf. */
static const char *describe(const struct node *n, char *buf, size_t len)
{
    if (n->kind == NODE_MAP)
        return n->n ? "a mapping" : "an empty mapping";
    if (n->kind == NODE_SEQ)
        return n->n ? "a list" : "an empty list";
    if (is_null(n))
        return "an empty value";
    snprintf(buf, len, "%s\"%.*s%s\"", n->plain ? "" : "quoted ", SHOW_LEN, n->text,
             strlen(n->text) > SHOW_LEN ? "..." : "");
    return buf;
}

#define DESC(n) describe((n), (char[SHOW_LEN + 16]){0}, SHOW_LEN + 16)

static const struct node *map_get(const struct node *m, const char *key)
{
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (strcmp(m->kids[i]->text, key) == 0)
            return m->kids[i + 1];
    return NULL;
}

/*
 * Checks the keys of mapping m: each a scalar, none a merge key, none twice (libyaml reports
 * duplicates as two pairs; mig-parted's loader keeps the last one, we refuse), and each one of
 * allowed when allowed is not NULL (listed as allowed_text in the message). noun names a key
 * in messages ("key", "label", "profile").
 */
static int check_keys(const struct ctx *c, const struct node *m, const char *const *allowed,
                      const char *allowed_text, const char *noun)
{
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const struct node *k = m->kids[i];
        bool ok = !allowed;
        if (k->kind != NODE_SCALAR)
            return fail(c, k->pos, "found %s as a %s; expected text", DESC(k), noun);
        if (k->plain && strcmp(k->text, "<<") == 0)
            return fail(c, k->pos,
                        "found merge key <<; expected a %s (anchors, aliases and "
                        "merge keys are not supported)",
                        noun);
        for (size_t j = 0; j < i; j += 2)
            if (strcmp(m->kids[j]->text, k->text) == 0)
                return fail(c, k->pos,
                            "found duplicate %s \"%.*s\" (first at %d:%d); "
                            "expected each %s once",
                            noun, SHOW_LEN, k->text, m->kids[j]->pos.line, m->kids[j]->pos.column,
                            noun);
        for (size_t j = 0; allowed && allowed[j]; j++)
            ok = ok || strcmp(allowed[j], k->text) == 0;
        if (!ok)
            return fail(c, k->pos, "found unknown key \"%.*s\"; expected one of %s", SHOW_LEN,
                        k->text, allowed_text);
    }
    return 0;
}

/*
 * Reads an unquoted decimal integer from 0 to max. Only [0-9]+ without leading zeros: YAML
 * 1.1 (mig-parted's reading) takes 07 as octal, 0x7 as hex and 1_0 as 10, so we refuse those
 * spellings rather than guess. what names the value ("a count from 0 to 128").
 */
static int read_uint(const struct ctx *c, const struct node *n, int max, const char *what, int *out)
{
    const char *s = n->text;
    long v = 0;
    if (n->kind != NODE_SCALAR || is_null(n))
        return fail(c, n->pos, "found %s; expected %s", DESC(n), what);
    if (!n->plain)
        return fail(c, n->pos, "found %s; expected %s, unquoted", DESC(n), what);
    if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
        return fail(c, n->pos,
                    "found %s; expected %s without leading zeros (YAML 1.1 reads it "
                    "as octal)",
                    DESC(n), what);
    for (; *s >= '0' && *s <= '9' && v <= max; s++)
        v = v * 10 + (*s - '0');
    if (*s || s == n->text || v > max)
        return fail(c, n->pos, "found %s; expected %s", DESC(n), what);
    *out = (int)v;
    return 0;
}

/* The plain spellings YAML 1.1 reads as booleans, as mig-parted's Go YAML library (yaml.v2,
 * through sigs.k8s.io/yaml) does. Quoted, they are strings, and mig-parted rejects them. */
static const char *const true_words[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                         "y",    "Y",    "on",   "On",  "ON"};
static const char *const false_words[] = {"false", "False", "FALSE", "no",  "No", "NO",
                                          "n",     "N",     "off",   "Off", "OFF"};

static int read_bool(const struct ctx *c, const struct node *n, bool *out)
{
    for (size_t i = 0; n->kind == NODE_SCALAR && n->plain && i < MK_ELEMENTSOF(true_words); i++) {
        if (strcmp(n->text, true_words[i]) == 0 || strcmp(n->text, false_words[i]) == 0) {
            *out = strcmp(n->text, true_words[i]) == 0;
            return 0;
        }
    }
    if (n->kind == NODE_SCALAR && !n->plain)
        return fail(c, n->pos, "found %s; expected true or false, unquoted", DESC(n));
    return fail(c, n->pos, "found %s; expected true or false", DESC(n));
}

/* --- MIG device names --- */

struct pname {
    int c;                /* compute slices of the CI form, 0 for the GI form */
    int g;                /* compute slices of the GI */
    char gi[MK_NAME_LEN]; /* the GI profile name: the text after "<c>c." */
};

enum { PNAME_OK, PNAME_BAD, PNAME_C_NOT_SMALLER };

/* Reads [1-9][0-9]* up to max; returns it, or -1. */
static int read_num(const char **s, int max)
{
    int v = 0;
    if (**s < '1' || **s > '9')
        return -1;
    for (; **s >= '0' && **s <= '9'; (*s)++) {
        v = v * 10 + (**s - '0');
        if (v > max)
            return -1;
    }
    return v;
}

/*
 * Checks the syntax of a mig-devices name: "<g>g.<N>gb" with an optional suffix +me, +me.all,
 * +gfx or -me (reference §2.4), or "<c>c.<g>g.<N>gb[suffix]" with 1 <= c < g. g is at most 8
 * (NVML's largest slice constant) and N at most 9999. The suffix is allowed on the CI form as
 * go-nvlib allows it ("1c.2g.12gb+me": a 1c CI in a 2g+me GI). c == g is refused: that MIG
 * device is spelled "<g>g.<N>gb", and one spelling per device keeps mig-devices keys unique.
 */
static int pname_parse(const char *name, struct pname *pn)
{
    static const char *const suffixes[] = {"", "+me", "+me.all", "+gfx", "-me"};
    const char *s = name, *gi = name;
    int a = read_num(&s, 9999), c = 0, g;
    bool suffix_ok = false;
    if (a > 0 && s[0] == 'c' && s[1] == '.') {
        c = a;
        gi = s += 2;
        a = read_num(&s, 9999);
    }
    if (a < 1 || a > 8 || s[0] != 'g' || s[1] != '.')
        return PNAME_BAD;
    g = a;
    s += 2;
    if (read_num(&s, 9999) < 0 || s[0] != 'g' || s[1] != 'b')
        return PNAME_BAD;
    s += 2;
    for (size_t i = 0; i < MK_ELEMENTSOF(suffixes); i++)
        suffix_ok = suffix_ok || strcmp(s, suffixes[i]) == 0;
    if (!suffix_ok)
        return PNAME_BAD;
    pn->c = c;
    pn->g = g;
    snprintf(pn->gi, sizeof(pn->gi), "%s", gi); /* fits: every part is bounded above */
    return c >= g ? PNAME_C_NOT_SMALLER : PNAME_OK;
}

#define PNAME_EXPECTED                                                                             \
    "<g>g.<N>gb with an optional +me, +me.all, +gfx or -me, or <c>c.<g>g.<N>gb with c < g"

/* --- pass 2: tree to config --- */

/* Parses "0x" + 8 hex digits (either case) at s into *out; returns the end or NULL. */
static const char *read_hex8(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return NULL;
    for (int i = 2; i < 10; i++) {
        char ch = s[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
            d = (unsigned)((ch | 0x20) - 'a' + 10);
        else
            return NULL;
        v = v << 4 | d;
    }
    *out = v;
    return s + 10;
}

/*
 * One device-filter: "0xDDDDVVVV" or "0xDDDDVVVV:0xSSSSVVVV", exactly 8 hex digits each.
 * mig-parted parses filters with Go's strconv (base 0) and ignores a parse error, so a typo
 * becomes a filter that matches no GPU and the entry silently does nothing; here it is an error.
 * An unquoted 0x20B710DE is refused as well: YAML 1.1 reads it as an integer, which mig-parted
 * rejects, so accepting it would let a file pass here and fail there.
 */
static int read_filter(const struct ctx *c, const struct node *n, struct mk_config_filter *f)
{
    const char *s = n->kind == NODE_SCALAR ? n->text : "";
    struct mk_config_filter v = {0};
    if (n->kind == NODE_SCALAR && (s = read_hex8(s, &v.device)) && *s == ':') {
        v.has_subsystem = true;
        s = read_hex8(s + 1, &v.subsystem);
    }
    if (n->kind != NODE_SCALAR || !s || *s)
        return fail(c, n->pos,
                    "found %s; expected a PCI ID \"0xDDDDVVVV\" with an optional "
                    "\":0xSSSSVVVV\" (8 hex digits each)",
                    DESC(n));
    if (n->plain && !v.has_subsystem)
        return fail(c, n->pos,
                    "found unquoted %s; expected the quoted string \"%s\" (YAML 1.1 "
                    "reads it as a number)",
                    n->text, n->text);
    *f = v;
    return 0;
}

static int conv_filters(const struct ctx *c, const struct node *n, struct mk_config_entry *e)
{
    if (n->kind == NODE_SCALAR) {
        int rc = read_filter(c, n, &e->filters[0]);
        e->nfilters = rc < 0 ? 0 : 1;
        return rc;
    }
    if (n->kind != NODE_SEQ || n->n == 0)
        return fail(c, n->pos,
                    "found %s; expected a PCI ID string or a list of them (omit "
                    "device-filter to match every GPU)",
                    DESC(n));
    for (size_t i = 0; i < n->n; i++) {
        struct mk_config_filter *f = &e->filters[i];
        int rc;
        if (i == MK_CONFIG_MAX_FILTERS)
            return fail(c, n->kids[i]->pos,
                        "found a device-filter list of %zu IDs; expected "
                        "at most %d",
                        n->n, MK_CONFIG_MAX_FILTERS);
        if ((rc = read_filter(c, n->kids[i], f)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++) {
            const struct mk_config_filter *g = &e->filters[j];
            if (g->device == f->device && g->has_subsystem == f->has_subsystem &&
                g->subsystem == f->subsystem)
                return fail(c, n->kids[i]->pos,
                            "found PCI ID \"%s\" again (first at %d:%d); "
                            "expected each PCI ID once",
                            n->kids[i]->text, n->kids[j]->pos.line, n->kids[j]->pos.column);
        }
        e->nfilters = (int)i + 1;
    }
    return 0;
}

/* devices: the word all, or a non-empty list of distinct GPU indices from 0 to 63. An empty
 * list (which mig-parted accepts, matching no GPU) is refused: it can only be a mistake. */
static int conv_devices(const struct ctx *c, const struct node *n, struct mk_config_entry *e)
{
    if (n->kind == NODE_SCALAR && strcmp(n->text, "all") == 0) {
        e->all_devices = true;
        return 0;
    }
    if (n->kind != NODE_SEQ || n->n == 0)
        return fail(c, n->pos, "found %s; expected all or a list of GPU indices", DESC(n));
    for (size_t i = 0; i < n->n; i++) {
        int v, rc = read_uint(c, n->kids[i], MAX_INDEX, "a GPU index from 0 to 63", &v);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (e->devices[j] == v)
                return fail(c, n->kids[i]->pos,
                            "found GPU index %d again (first at %d:%d); "
                            "expected each index once",
                            v, n->kids[j]->pos.line, n->kids[j]->pos.column);
        e->devices[i] = v; /* distinct indices <= 63, so i < MK_CONFIG_MAX_DEVICES here */
        e->ndevices = (int)i + 1;
    }
    return 0;
}

/* mig-devices: a mapping of MIG device names to counts from 0 to MAX_COUNT. */
static int conv_migdevs(const struct ctx *c, const struct node *n, struct mk_config_entry *e)
{
    int rc;
    if (n->kind != NODE_MAP)
        return fail(c, n->pos,
                    "found %s; expected a mapping of MIG device names to counts "
                    "({} for none)",
                    DESC(n));
    if ((rc = check_keys(c, n, NULL, NULL, "profile")) < 0)
        return rc;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct node *k = n->kids[i];
        struct mk_config_migdev *d = &e->migdevs[i / 2];
        struct pname pn;
        if (i / 2 == MK_CONFIG_MAX_MIGDEVS)
            return fail(c, k->pos, "found %zu MIG device names in one entry; expected at most %d",
                        n->n / 2, MK_CONFIG_MAX_MIGDEVS);
        switch (pname_parse(k->text, &pn)) {
        case PNAME_OK:
            break;
        case PNAME_C_NOT_SMALLER:
            return fail(c, k->pos,
                        "found MIG device name \"%s\"; expected c < g in "
                        "<c>c.<g>g.<N>gb (write %s for a CI as large as its GI)",
                        k->text, pn.gi);
        default:
            return fail(c, k->pos, "found MIG device name \"%.*s\"; expected " PNAME_EXPECTED,
                        SHOW_LEN, k->text);
        }
        if ((rc = read_uint(c, n->kids[i + 1], MAX_COUNT, "a count from 0 to 128", &d->count)) < 0)
            return rc;
        snprintf(d->name, sizeof(d->name), "%s", k->text); /* fits: pname_parse bounds it */
        d->pos = k->pos;
        e->nmigdevs = (int)i / 2 + 1;
    }
    return 0;
}

/*
 * Checks mig-enabled against mig-devices, after both were read. As in mig-parted: MIG on needs
 * mig-devices ({} meaning no MIG devices); MIG off allows none, or an empty mapping or value.
 */
static int check_mig(const struct ctx *c, const struct node *entry, const struct node *md,
                     const struct mk_config_entry *e)
{
    if (e->mig_enabled && !md)
        return fail(c, entry->pos,
                    "found mig-enabled: true without mig-devices; expected "
                    "mig-devices ({} for no MIG devices)");
    if (e->mig_enabled && is_null(md))
        return fail(c, md->pos,
                    "found an empty value; expected a mapping of MIG device names "
                    "to counts ({} for none)");
    if (!e->mig_enabled && e->nmigdevs > 0)
        return fail(c, md->pos,
                    "found %d MIG device name%s with mig-enabled: false; expected "
                    "no mig-devices",
                    e->nmigdevs, e->nmigdevs > 1 ? "s" : "");
    return 0;
}

static int conv_entry(const struct ctx *c, const struct node *n, struct mk_config_entry *e)
{
    static const char *const keys[] = {"devices", "mig-enabled", "mig-devices", "device-filter",
                                       NULL};
    const char *keys_text = "devices, mig-enabled, mig-devices, device-filter";
    const struct node *md = NULL;
    int rc;
    if (n->kind != NODE_MAP)
        return fail(c, n->pos,
                    "found %s; expected an entry (a mapping with devices and "
                    "mig-enabled)",
                    DESC(n));
    if ((rc = check_keys(c, n, keys, keys_text, "key")) < 0)
        return rc;
    e->pos = n->pos;
    /* Keys were checked above; values are checked in file order. */
    for (size_t i = 0; i + 1 < n->n && rc == 0; i += 2) {
        const char *k = n->kids[i]->text;
        const struct node *v = n->kids[i + 1];
        if (strcmp(k, "devices") == 0)
            rc = conv_devices(c, v, e);
        else if (strcmp(k, "mig-enabled") == 0)
            rc = read_bool(c, v, &e->mig_enabled);
        else if (strcmp(k, "device-filter") == 0)
            rc = conv_filters(c, v, e);
        else { /* mig-devices; an empty value is judged by check_mig() */
            md = v;
            if (!is_null(v))
                rc = conv_migdevs(c, v, e);
        }
    }
    if (rc < 0)
        return rc;
    if (!map_get(n, "devices"))
        return fail(c, n->pos,
                    "found an entry without devices; expected devices: all or a "
                    "list of GPU indices");
    if (!map_get(n, "mig-enabled"))
        return fail(c, n->pos,
                    "found an entry without mig-enabled; expected mig-enabled: true "
                    "or false");
    return check_mig(c, n, md, e);
}

/*
 * True when plain scalar text s is one YAML 1.1 reads as a boolean or a number: mig-parted's
 * loader turns such a label into other text (off becomes "false", 1.10 becomes "1.1"), so the
 * label the user selects would not exist there. Numbers are approximated as text made of
 * digits, '.', '_', '+', '-' that starts with a digit, sign or dot.
 */
static bool yaml11_non_string(const char *s)
{
    for (size_t i = 0; i < MK_ELEMENTSOF(true_words); i++)
        if (strcmp(s, true_words[i]) == 0 || strcmp(s, false_words[i]) == 0)
            return true;
    if (!strchr("0123456789+-.", s[0]))
        return false;
    return s[strspn(s, "0123456789._+-")] == '\0';
}

static int conv_label(const struct ctx *c, const struct node *k, const struct node *v,
                      struct mk_config_label *l)
{
    if (is_null(k) || k->text[0] == '\0')
        return fail(c, k->pos, "found an empty label; expected a label name");
    if (k->plain && yaml11_non_string(k->text))
        return fail(c, k->pos,
                    "found label %.*s, which YAML 1.1 reads as a boolean or number; "
                    "expected it quoted: \"%.*s\"",
                    SHOW_LEN, k->text, SHOW_LEN, k->text);
    if (strlen(k->text) >= MK_NAME_LEN)
        return fail(c, k->pos, "found a label of %zu bytes; expected at most %d", strlen(k->text),
                    MK_NAME_LEN - 1);
    snprintf(l->name, sizeof(l->name), "%s", k->text);
    l->pos = k->pos;
    if (v->kind != NODE_SEQ || v->n == 0)
        return fail(c, v->pos, "found %s; expected a list of at least one entry for label %s",
                    DESC(v), l->name);
    if (!(l->entries = mk__calloc(v->n, sizeof(*l->entries))))
        return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        int rc = conv_entry(c, v->kids[i], &l->entries[i]);
        if (rc < 0)
            return rc;
        l->nentries = (int)i + 1;
    }
    return 0;
}

/* The root: a mapping with exactly version (the string v1) and mig-configs (at least one
 * label). cfg was zeroed by the caller; on failure it may hold part of the labels. */
static int conv_root(const struct ctx *c, const struct node *root, struct mk_config *cfg)
{
    static const char *const keys[] = {"version", "mig-configs", NULL};
    const struct node *v, *mc;
    int rc;
    if (root->kind != NODE_MAP)
        return fail(c, root->pos, "found %s; expected a mapping with version and mig-configs",
                    DESC(root));
    if ((rc = check_keys(c, root, keys, "version, mig-configs", "key")) < 0)
        return rc;
    if (!(v = map_get(root, "version")))
        return fail(c, root->pos, "found no version; expected version: v1");
    if (v->kind != NODE_SCALAR || strcmp(v->text, "v1") != 0)
        return fail(c, v->pos, "found version %s; expected v1", DESC(v));
    if (!(mc = map_get(root, "mig-configs")))
        return fail(c, root->pos,
                    "found no mig-configs; expected mig-configs with at least one "
                    "label");
    if (mc->kind != NODE_MAP || mc->n == 0)
        return fail(c, mc->pos, "found %s; expected a mapping of labels to lists of entries",
                    DESC(mc));
    if ((rc = check_keys(c, mc, NULL, NULL, "label")) < 0)
        return rc;
    if (!(cfg->labels = mk__calloc(mc->n / 2, sizeof(*cfg->labels))))
        return oom(c);
    cfg->nlabels = (int)(mc->n / 2); /* entries stay NULL until filled; free handles that */
    for (size_t i = 0; i + 1 < mc->n; i += 2)
        if ((rc = conv_label(c, mc->kids[i], mc->kids[i + 1], &cfg->labels[i / 2])) < 0)
            return rc;
    return 0;
}

/* --- public API --- */

int mk_config_parse(const char *text, size_t len, const char *origin, struct mk_config **ret,
                    struct mk_error *err)
{
    struct reader r = {.c = {origin ? origin : "<input>", err}, .text = text, .len = len};
    struct node *root = NULL;
    struct mk_config *cfg;
    int rc;

    mk_assert_return(ret, -EINVAL);
    mk_assert_return(text || len == 0, -EINVAL);
    if (!yaml_parser_initialize(&r.yp))
        return oom(&r.c);
    yaml_parser_set_input_string(&r.yp, (const unsigned char *)(text ? text : ""), len);
    rc = read_tree(&r, &root);
    yaml_parser_delete(&r.yp);
    if (rc < 0)
        return rc;
    if (!(cfg = mk__calloc(1, sizeof(*cfg)))) {
        node_free(root);
        return oom(&r.c);
    }
    snprintf(cfg->origin, sizeof(cfg->origin), "%s", r.c.origin);
    rc = conv_root(&r.c, root, cfg);
    node_free(root);
    if (rc < 0) {
        mk_config_free(cfg);
        return rc;
    }
    *ret = cfg;
    return 0;
}

/* Reads all of f into a new NUL-terminated buffer. */
static int read_all(FILE *f, const char *origin, char **ret, size_t *ret_len, struct mk_error *err)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        if (cap - len < 4096) {
            char *b;
            cap = cap ? 2 * cap : 16384;
            if (cap > MAX_FILE_SIZE + 4096) {
                mk__free(buf);
                return mk_error_set(err, -EFBIG,
                                    "%s: found a file over %u MiB; expected a "
                                    "configuration file",
                                    origin, MAX_FILE_SIZE >> 20);
            }
            if (!(b = mk__realloc(buf, cap))) {
                mk__free(buf);
                return mk_error_set(err, -ENOMEM, "%s: out of memory", origin);
            }
            buf = b;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        mk__free(buf);
        return mk_error_set(err, -e, "%s: cannot read: %s", origin, strerror(e));
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

int mk_config_load(const char *path, struct mk_config **ret, struct mk_error *err)
{
    bool use_stdin;
    const char *origin;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc;

    mk_assert_return(path && ret, -EINVAL);
    use_stdin = strcmp(path, "-") == 0;
    origin = use_stdin ? "<stdin>" : path;
    f = use_stdin ? stdin : fopen(path, "re");
    if (!f) {
        int e = errno;
        return mk_error_set(err, -e, "%s: cannot open: %s", path, strerror(e));
    }
    if (use_stdin)
        clearerr(f); /* a second "-" in one process reads on after an earlier end of file */
    errno = 0;
    rc = read_all(f, origin, &text, &len, err);
    if (!use_stdin)
        fclose(f);
    if (rc < 0)
        return rc;
    rc = mk_config_parse(text, len, origin, ret, err);
    mk__free(text);
    return rc;
}

void mk_config_free(struct mk_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nlabels; i++)
        mk__free(cfg->labels[i].entries);
    mk__free(cfg->labels);
    mk__free(cfg);
}

const struct mk_config_label *mk_config_find(const struct mk_config *cfg, const char *name)
{
    for (int i = 0; cfg && name && i < cfg->nlabels; i++)
        if (strcmp(cfg->labels[i].name, name) == 0)
            return &cfg->labels[i];
    return NULL;
}

/*
 * "1g.10gb" names a GI profile and means that GI with its default (full) CI; "1c.2g.20gb"
 * names GI "2g.20gb" with the CI profile of 1 compute slice that this GI offers. A name is
 * looked up among the model's profile names first, then among their names_alt: the mig-parted
 * default file still carries the early GB200 board names (3g.95gb, 4g.95gb, 7g.189gb, and
 * 1g.24gb on GB200), which NVIDIA's tooling used before production boards renamed them
 * (reference §4.12); the catalog lists them as names_alt of the production profiles, so
 * those labels keep working on the GPUs they were written for.
 */
int mk_config_resolve(const struct mk_model *m, const char *name,
                      const struct mk_gi_profile **ret_gi, int *ret_ci_profile,
                      struct mk_error *err)
{
    const struct mk_gi_profile *gi;
    struct pname pn;

    mk_assert_return(m && name && ret_gi && ret_ci_profile, -EINVAL);
    if (pname_parse(name, &pn) != PNAME_OK)
        return mk_error_set(err, -EINVAL,
                            "profile %.*s is not a MIG device name; expected " PNAME_EXPECTED,
                            SHOW_LEN, name);
    if (!(gi = mk_model_profile_by_name(m, pn.gi)))
        return mk_error_set(err, -EINVAL, "profile %s does not exist on %s (%s)", name, m->name,
                            m->slug);
    if (pn.c == 0) {
        *ret_gi = gi;
        *ret_ci_profile = gi->ci_default;
        return 0;
    }
    for (int k = 0; k < gi->nci; k++) {
        const struct mk_ci_profile *cp = mk_model_ci_profile(m, gi->ci[k]);
        if (cp && cp->slices == pn.c) {
            *ret_gi = gi;
            *ret_ci_profile = cp->id;
            return 0;
        }
    }
    return mk_error_set(err, -EINVAL,
                        "profile %s does not exist on %s (%s): GI profile %s "
                        "offers no %d-slice compute instance",
                        name, m->name, m->slug, gi->name, pn.c);
}

bool mk_config_entry_matches(const struct mk_config_entry *e, int index, uint32_t pci,
                             uint32_t subsys)
{
    bool dev = false;
    if (!e)
        return false;
    dev = e->all_devices;
    for (int i = 0; !dev && i < e->ndevices; i++)
        dev = e->devices[i] == index;
    if (!dev)
        return false;
    if (e->nfilters == 0)
        return true;
    for (int i = 0; i < e->nfilters; i++) {
        const struct mk_config_filter *f = &e->filters[i];
        if (f->device == pci && (!f->has_subsystem || f->subsystem == subsys))
            return true;
    }
    return false;
}

int mk_config_label_select(const struct mk_config *cfg, const struct mk_config_label *l, int index,
                           uint32_t pci, uint32_t subsys, const struct mk_config_entry **ret_entry,
                           struct mk_error *err)
{
    const struct mk_config_entry *found = NULL;
    mk_assert_return(cfg && l && ret_entry, -EINVAL);
    for (int i = 0; i < l->nentries; i++) {
        const struct mk_config_entry *e = &l->entries[i];
        if (!mk_config_entry_matches(e, index, pci, subsys))
            continue;
        if (found)
            return mk_error_set(err, -EINVAL,
                                "%s:%d:%d: found a second entry of label %s for "
                                "GPU %d (0x%08X), first at %d:%d; expected one entry per GPU",
                                cfg->origin, e->pos.line, e->pos.column, l->name, index, pci,
                                found->pos.line, found->pos.column);
        found = e;
    }
    if (!found)
        return 0;
    *ret_entry = found;
    return 1;
}
