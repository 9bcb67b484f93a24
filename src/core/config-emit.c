/*
 * config-emit.c - writes a struct mk_config out again, as mig-parted v1 YAML or as JSON with
 * the same key names (migctl export), and compares two configurations.
 *
 * The YAML copies the layout of mig-parted's default file: labels two spaces in and separated
 * by a blank line, each entry's device-filter first and as a flow list of quoted strings,
 * `devices: all` or a flow list, and MIG device names quoted. Both outputs re-parse with
 * mk_config_parse() to an equal configuration (tests/unit/test-config.c checks this on the
 * 81-label default file), so anything written here must also be accepted there: labels that
 * YAML could read as something other than a string are quoted, and PCI IDs are always quoted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "migkit/config.h"

/* A growing text buffer; after an allocation failure it records `failed` and ignores writes. */
struct buf {
    char *s;
    size_t len, cap;
    bool failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    while (!b->failed) {
        size_t room = b->cap - b->len, cap;
        va_list ap;
        int n;
        char *s;
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        cap = b->cap ? 2 * b->cap : 4096;
        while (n >= 0 && cap - b->len <= (size_t)n)
            cap *= 2;
        if (n < 0 || !(s = mk__realloc(b->s, cap))) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/*
 * True when label s can be written unquoted and still read back as the same string, by us and
 * by YAML 1.1: a letter, then letters, digits, '.', '-' or '_', and not a word YAML 1.1 reads
 * as a boolean or null. Everything else is double-quoted.
 */
static bool label_is_plain(const char *s)
{
    static const char *const words[] = {"y",   "n",    "yes",   "no",  "on",
                                        "off", "true", "false", "null"};
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return false;
    }
    for (size_t i = 0; i < MK_ELEMENTSOF(words); i++)
        if (strcasecmp(s, words[i]) == 0)
            return false;
    return true;
}

/* Writes s as a YAML double-quoted scalar: \" and \\ escaped, control bytes as \xHH, other
 * bytes (UTF-8 included) as they are. */
static void put_quoted(struct buf *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            put(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7F)
            put(b, "\\x%02X", ch);
        else
            put(b, "%c", ch);
    }
    put(b, "\"");
}

/* "0xDDDDVVVV" or "0xDDDDVVVV:0xSSSSVVVV", upper-case hex as in mig-parted's default file. */
static void filter_text(const struct mk_config_filter *f, char *out, size_t len)
{
    if (f->has_subsystem)
        snprintf(out, len, "0x%08X:0x%08X", f->device, f->subsystem);
    else
        snprintf(out, len, "0x%08X", f->device);
}

static void put_entry(struct buf *b, const struct mk_config_entry *e)
{
    const char *lead = "    - ";
    char text[32];
    if (e->nfilters > 0) {
        put(b, "%sdevice-filter: [", lead);
        for (int i = 0; i < e->nfilters; i++) {
            filter_text(&e->filters[i], text, sizeof(text));
            put(b, "%s\"%s\"", i ? ", " : "", text);
        }
        put(b, "]\n");
        lead = "      ";
    }
    if (e->all_devices) {
        put(b, "%sdevices: all\n", lead);
    } else {
        put(b, "%sdevices: [", lead);
        for (int i = 0; i < e->ndevices; i++)
            put(b, "%s%d", i ? ", " : "", e->devices[i]);
        put(b, "]\n");
    }
    put(b, "      mig-enabled: %s\n", e->mig_enabled ? "true" : "false");
    if (!e->mig_enabled)
        return;
    if (e->nmigdevs == 0) {
        put(b, "      mig-devices: {}\n");
        return;
    }
    put(b, "      mig-devices:\n");
    for (int i = 0; i < e->nmigdevs; i++)
        put(b, "        \"%s\": %d\n", e->migdevs[i].name, e->migdevs[i].count);
}

/* False, with errno ENOENT, when only is set and names no label of cfg. */
static bool only_ok(const struct mk_config *cfg, const char *only)
{
    if (!only || mk_config_find(cfg, only))
        return true;
    errno = ENOENT;
    return false;
}

char *mk_config_emit_yaml(const struct mk_config *cfg, const char *only)
{
    struct buf b = {0};
    bool first = true;
    if (!cfg || !only_ok(cfg, only)) {
        if (!cfg)
            errno = EINVAL;
        return NULL;
    }
    put(&b, "version: v1\nmig-configs:\n");
    for (int i = 0; i < cfg->nlabels; i++) {
        const struct mk_config_label *l = &cfg->labels[i];
        if (only && strcmp(l->name, only) != 0)
            continue;
        put(&b, "%s  ", first ? "" : "\n");
        if (label_is_plain(l->name))
            put(&b, "%s", l->name);
        else
            put_quoted(&b, l->name);
        put(&b, ":\n");
        for (int j = 0; j < l->nentries; j++)
            put_entry(&b, &l->entries[j]);
        first = false;
    }
    if (b.failed) {
        mk__free(b.s);
        errno = ENOMEM;
        return NULL;
    }
    return b.s;
}

/* --- JSON --- */

/* Adds value under key to object o; false (and value released) on any failure. */
static bool set(json_t *o, const char *key, json_t *value)
{
    return value && json_object_set_new(o, key, value) == 0;
}

static json_t *entry_json(const struct mk_config_entry *e)
{
    json_t *o = json_object(), *a;
    bool ok = o != NULL;
    char text[32];
    if (ok && e->nfilters > 0 && (ok = set(o, "device-filter", a = json_array())))
        for (int i = 0; ok && i < e->nfilters; i++) {
            filter_text(&e->filters[i], text, sizeof(text));
            ok = json_array_append_new(a, json_string(text)) == 0;
        }
    if (ok && e->all_devices)
        ok = set(o, "devices", json_string("all"));
    else if (ok && (ok = set(o, "devices", a = json_array())))
        for (int i = 0; ok && i < e->ndevices; i++)
            ok = json_array_append_new(a, json_integer(e->devices[i])) == 0;
    ok = ok && set(o, "mig-enabled", json_boolean(e->mig_enabled));
    if (ok && e->mig_enabled && (ok = set(o, "mig-devices", a = json_object())))
        for (int i = 0; ok && i < e->nmigdevs; i++)
            ok = set(a, e->migdevs[i].name, json_integer(e->migdevs[i].count));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *config_json(const struct mk_config *cfg, const char *only)
{
    json_t *root = json_object(), *labels = json_object();
    bool ok = root && labels && set(root, "version", json_string("v1"));
    ok = ok && json_object_set(root, "mig-configs", labels) == 0; /* labels: ours until decref */
    for (int i = 0; ok && i < cfg->nlabels; i++) {
        const struct mk_config_label *l = &cfg->labels[i];
        json_t *entries;
        if (only && strcmp(l->name, only) != 0)
            continue;
        ok = set(labels, l->name, entries = json_array());
        for (int j = 0; ok && j < l->nentries; j++)
            ok = json_array_append_new(entries, entry_json(&l->entries[j])) == 0;
    }
    json_decref(labels);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The JSON text, indented by two, with a final newline like the YAML; the buffer comes from
 * mk__malloc (json_dumpb() sizes it first), so callers free both outputs the same way. */
char *mk_config_emit_json(const struct mk_config *cfg, const char *only)
{
    const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
    json_t *root;
    size_t n;
    char *s = NULL;
    if (!cfg || !only_ok(cfg, only)) {
        if (!cfg)
            errno = EINVAL;
        return NULL;
    }
    if ((root = config_json(cfg, only)) && (n = json_dumpb(root, NULL, 0, flags)) > 0 &&
        (s = mk__malloc(n + 2))) {
        json_dumpb(root, s, n, flags);
        s[n] = '\n';
        s[n + 1] = '\0';
    }
    json_decref(root);
    if (!s)
        errno = ENOMEM;
    return s;
}

/* --- comparison, to check that emitted text re-parses to what it came from --- */

static bool entry_equal(const struct mk_config_entry *a, const struct mk_config_entry *b)
{
    if (a->all_devices != b->all_devices || a->ndevices != b->ndevices ||
        a->nfilters != b->nfilters || a->mig_enabled != b->mig_enabled ||
        a->nmigdevs != b->nmigdevs)
        return false;
    for (int i = 0; i < a->ndevices; i++)
        if (a->devices[i] != b->devices[i])
            return false;
    for (int i = 0; i < a->nfilters; i++)
        if (a->filters[i].device != b->filters[i].device ||
            a->filters[i].has_subsystem != b->filters[i].has_subsystem ||
            (a->filters[i].has_subsystem && a->filters[i].subsystem != b->filters[i].subsystem))
            return false;
    for (int i = 0; i < a->nmigdevs; i++)
        if (strcmp(a->migdevs[i].name, b->migdevs[i].name) != 0 ||
            a->migdevs[i].count != b->migdevs[i].count)
            return false;
    return true;
}

bool mk_config_equal(const struct mk_config *a, const struct mk_config *b)
{
    if (!a || !b || a->nlabels != b->nlabels)
        return a == b;
    for (int i = 0; i < a->nlabels; i++) {
        const struct mk_config_label *la = &a->labels[i], *lb = &b->labels[i];
        if (strcmp(la->name, lb->name) != 0 || la->nentries != lb->nentries)
            return false;
        for (int j = 0; j < la->nentries; j++)
            if (!entry_equal(&la->entries[j], &lb->entries[j]))
                return false;
    }
    return true;
}
